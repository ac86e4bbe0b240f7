"""Training: rsl-rl PPO on the tracking env, with a run folder that survives being killed.

A run folder holds::

    config.json           the resolved TrackingConfig + PpoConfig + clip paths and hash
    checkpoints/model_<it>.pt   atomic (temp file + rename); loaded with weights_only=True
    progress.csv          one row per iteration (reward, episode length, errors, steps/s)
    tb/                   TensorBoard events (reward terms, tracking errors, losses)
    learning_curve.png    written at the end of ``humimic train``

The loop is rsl-rl's (``PPO.act`` / ``process_env_step`` / ``compute_returns`` /
``update``), written out here so that checkpoints are atomic, loading is safe, progress shows
as a bar and ``--resume`` continues from the last checkpoint with the same iteration count.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from rsl_rl.algorithms import PPO
from tqdm import tqdm

from humimic.envs.backends.mujoco_backend import MujocoBackend
from humimic.envs.motion_library import MotionLibrary
from humimic.envs.tracking.config import TrackingConfig
from humimic.envs.tracking.env import TrackingEnv
from humimic.envs.vecenv import RslRlVecEnv
from humimic.errors import ConfigError, HumimicError
from humimic.io import atomic_path, write_text_atomic
from humimic.motion import Motion
from humimic.robots import get_robot
from humimic.robots.spec import RobotSpec

__all__ = ["PpoConfig", "RunFiles", "Trainer", "build_env", "load_checkpoint"]

log = logging.getLogger(__name__)

_EPISODE_KEYS = ("Episode/failure_rate", "Episode/length_s")
_CKPT = re.compile(r"model_(\d+)\.pt$")


@dataclass(frozen=True)
class PpoConfig:
    """PPO and network settings (rsl-rl names).

    Defaults are BeyondMimic's PPO settings except the network and the epochs: on a 2-core
    CPU, an update with 512-256-128 networks and 5 epochs costs more than the physics, so the
    default is 256-128-128 with 5 epochs of 4 minibatches (see ``benchmarks/train_speed.py``).

    Attributes:
        num_steps_per_env: rollout length per iteration.
        max_iterations: iterations of a run.
        save_interval: checkpoint every this many iterations (and at the end).
        actor_hidden_dims, critic_hidden_dims: MLP widths. activation: rsl-rl name.
        init_noise_std: initial action std. obs_normalization: running mean/std in the model.
        num_learning_epochs, num_mini_batches, clip_param, gamma, lam, value_loss_coef,
        entropy_coef, learning_rate, max_grad_norm, schedule, desired_kl: PPO.
    """

    num_steps_per_env: int = 24
    max_iterations: int = 1000
    save_interval: int = 50
    actor_hidden_dims: tuple[int, ...] = (256, 128, 128)
    critic_hidden_dims: tuple[int, ...] = (256, 128, 128)
    activation: str = "elu"
    init_noise_std: float = 0.5
    obs_normalization: bool = True
    num_learning_epochs: int = 5
    num_mini_batches: int = 4
    clip_param: float = 0.2
    gamma: float = 0.99
    lam: float = 0.95
    value_loss_coef: float = 1.0
    entropy_coef: float = 0.005
    learning_rate: float = 1e-3
    max_grad_norm: float = 1.0
    schedule: str = "adaptive"
    desired_kl: float = 0.01

    def __post_init__(self) -> None:
        for name in ("num_steps_per_env", "max_iterations", "save_interval"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"PpoConfig.{name}: expected >= 1, got {getattr(self, name)}")
        for name in ("num_learning_epochs", "num_mini_batches"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"PpoConfig.{name}: expected >= 1, got {getattr(self, name)}")
        if not self.actor_hidden_dims or not self.critic_hidden_dims:
            raise ConfigError("PpoConfig: hidden dims must not be empty")
        for name in ("init_noise_std", "learning_rate", "gamma", "lam", "clip_param"):
            value = float(getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"PpoConfig.{name}: expected a positive number, got {value}")
        if self.schedule not in ("adaptive", "fixed"):
            raise ConfigError(
                f"PpoConfig.schedule: expected 'adaptive' or 'fixed', got {self.schedule!r}"
            )

    def rsl_rl_cfg(self) -> dict[str, Any]:
        """The ``train_cfg`` dict rsl-rl's ``PPO.construct_algorithm`` reads."""
        dist = {"class_name": "GaussianDistribution", "init_std": self.init_noise_std}
        return {
            "num_steps_per_env": self.num_steps_per_env,
            "obs_groups": {"actor": ["actor"], "critic": ["critic"]},
            "multi_gpu": None,
            "actor": {
                "class_name": "rsl_rl.models.MLPModel",
                "hidden_dims": list(self.actor_hidden_dims),
                "activation": self.activation,
                "obs_normalization": self.obs_normalization,
                "distribution_cfg": dist,
            },
            "critic": {
                "class_name": "rsl_rl.models.MLPModel",
                "hidden_dims": list(self.critic_hidden_dims),
                "activation": self.activation,
                "obs_normalization": self.obs_normalization,
            },
            "algorithm": {
                "class_name": "rsl_rl.algorithms.PPO",
                "num_learning_epochs": self.num_learning_epochs,
                "num_mini_batches": self.num_mini_batches,
                "clip_param": self.clip_param,
                "gamma": self.gamma,
                "lam": self.lam,
                "value_loss_coef": self.value_loss_coef,
                "entropy_coef": self.entropy_coef,
                "learning_rate": self.learning_rate,
                "max_grad_norm": self.max_grad_norm,
                "schedule": self.schedule,
                "desired_kl": self.desired_kl,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PpoConfig:
        """Inverse of ``asdict`` (validates again)."""
        data = dict(data)
        for key in ("actor_hidden_dims", "critic_hidden_dims"):
            if key in data:
                data[key] = tuple(int(x) for x in data[key])
        extra = sorted(set(data) - set(cls.__dataclass_fields__))
        if extra:
            raise ConfigError(f"PpoConfig: unknown fields {extra}")
        return cls(**data)


def load_motions(paths: Sequence[str | os.PathLike[str]], spec: RobotSpec) -> list[Motion]:
    """Load and validate clips against ``spec`` (errors name the file)."""
    if not paths:
        raise ConfigError("no motion clips given (expected at least one .npz)")
    return [Motion.load(p, spec) for p in paths]


def build_env(
    spec: RobotSpec,
    motions: Sequence[Motion],
    cfg: TrackingConfig,
    clip_names: Sequence[str] | None = None,
) -> TrackingEnv:
    """The MuJoCo backend + library + task for ``cfg``."""
    library = MotionLibrary(motions, spec, clip_names=clip_names)
    backend = MujocoBackend(spec, cfg.num_envs, cfg.decimation, cfg.num_threads)
    return TrackingEnv(spec, library, cfg, backend)


@dataclass(frozen=True)
class RunFiles:
    """Paths inside a run folder."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def progress(self) -> Path:
        return self.root / "progress.csv"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tb"

    @property
    def learning_curve(self) -> Path:
        return self.root / "learning_curve.png"

    def latest_checkpoint(self) -> Path | None:
        """The checkpoint with the highest iteration, or ``None``."""
        if not self.checkpoints.is_dir():
            return None
        found = [
            (int(m.group(1)), p) for p in self.checkpoints.iterdir() if (m := _CKPT.search(p.name))
        ]
        return max(found)[1] if found else None

    def read_config(self) -> dict[str, Any]:
        """The saved run config (``config.json``)."""
        if not self.config.is_file():
            raise ConfigError(f"{self.root}: not a training run (no config.json)")
        try:
            data = json.loads(self.config.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{self.config}: invalid JSON ({exc})") from exc
        if not isinstance(data, dict) or "tracking" not in data or "ppo" not in data:
            raise ConfigError(f"{self.config}: expected keys 'tracking' and 'ppo'")
        return data


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint dict, loaded with ``weights_only=True`` (never unpickles code)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for corrupt files
        raise ConfigError(f"{path}: cannot load checkpoint ({exc})") from exc
    for key in ("actor_state_dict", "critic_state_dict", "optimizer_state_dict", "iter"):
        if key not in data:
            raise ConfigError(f"{path}: checkpoint field {key!r} is missing")
    return dict(data)


class Trainer:
    """PPO on a :class:`TrackingEnv`, writing a run folder (see the module docstring).

    Args:
        run_dir: the run folder (created; an existing run needs ``resume=True``).
        motion_paths: clip files (``.npz``).
        tracking: the task config. ppo: the PPO config.
        robot: robot name.
        resume: continue from the folder's last checkpoint and its saved config.
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        motion_paths: Sequence[str | os.PathLike[str]] = (),
        tracking: TrackingConfig | None = None,
        ppo: PpoConfig | None = None,
        robot: str = "g1",
        resume: bool = False,
    ) -> None:
        self.files = RunFiles(Path(run_dir))
        if resume:
            saved = self.files.read_config()
            tracking = TrackingConfig.from_dict(saved["tracking"])
            saved_ppo = PpoConfig.from_dict(saved["ppo"])
            if ppo is not None:  # allow extending max_iterations on resume
                saved_ppo = PpoConfig.from_dict(
                    {**asdict(saved_ppo), "max_iterations": ppo.max_iterations}
                )
            ppo = saved_ppo
            motion_paths = saved["motions"]
            robot = saved["robot"]
        elif self.files.config.exists():
            raise ConfigError(
                f"{self.files.root}: a run already exists there; pass --resume or a new folder"
            )
        self.tracking = tracking or TrackingConfig()
        self.ppo = ppo or PpoConfig()
        self.spec = get_robot(robot)
        self.motion_paths = [str(Path(p).resolve()) for p in motion_paths]
        torch.manual_seed(self.tracking.seed)
        motions = load_motions(self.motion_paths, self.spec)
        self.env = build_env(self.spec, motions, self.tracking)
        self.venv = RslRlVecEnv(self.env, {"tracking": self.tracking.to_dict()})
        self.alg: PPO = PPO.construct_algorithm(
            self.venv.get_observations(), self.venv, self.ppo.rsl_rl_cfg(), "cpu"
        )
        self.iteration = 0
        if resume:
            ckpt = self.files.latest_checkpoint()
            if ckpt is None:
                raise ConfigError(
                    f"{self.files.root}: --resume but no checkpoint in {self.files.checkpoints}"
                )
            self.load(ckpt)
        else:
            self.files.checkpoints.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.files.config, json.dumps(self.config_dict(), indent=2))

    def config_dict(self) -> dict[str, Any]:
        """What ``config.json`` holds."""
        return {
            "robot": self.spec.name,
            "motions": self.motion_paths,
            "clip_names": list(self.env.library.clip_names),
            "motion_hash": self.env.library.motion_hash,
            "tracking": self.tracking.to_dict(),
            "ppo": asdict(self.ppo),
            "observations": self.env.describe(),
        }

    # -- checkpoints ------------------------------------------------------------------------
    def save(self) -> Path:
        """Write ``checkpoints/model_<iteration>.pt`` atomically; returns its path."""
        data = self.alg.save()
        data["iter"] = self.iteration
        data["sampler_failure_rate"] = (
            self.env.sampler.failure_rate.clone()
            if self.env.sampler is not None
            else torch.zeros(0)
        )
        path = self.files.checkpoints / f"model_{self.iteration:06d}.pt"
        with atomic_path(path) as tmp:
            torch.save(data, tmp)
        return path

    def load(self, path: Path) -> None:
        """Restore networks, optimizer, iteration and the adaptive sampler from ``path``."""
        data = load_checkpoint(path)
        self.alg.load(data, None, strict=True)
        self.iteration = int(data["iter"])
        rates = data.get("sampler_failure_rate")
        if (
            self.env.sampler is not None
            and rates is not None
            and rates.numel() == self.env.sampler.num_bins
        ):
            self.env.sampler.failure_rate = rates.clone()

    # -- the loop ---------------------------------------------------------------------------
    def learn(self, show_progress: bool = True) -> list[dict[str, float]]:
        """Run until ``ppo.max_iterations`` iterations are done; returns the progress rows."""
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self.files.tensorboard), flush_secs=10)
        rows: list[dict[str, float]] = []
        obs = self.venv.get_observations()
        self.alg.train_mode()
        ep_return = torch.zeros(self.env.num_envs)
        ep_returns: list[float] = []
        ep_lengths: list[float] = []
        total = self.ppo.max_iterations
        bar = tqdm(
            total=total, initial=self.iteration, desc="train", unit="it", disable=not show_progress
        )
        steps_per_it = self.ppo.num_steps_per_env * self.env.num_envs
        try:
            while self.iteration < total:
                t0 = time.perf_counter()
                sums: dict[str, float] = {}
                counts: dict[str, int] = {}
                with torch.inference_mode():
                    for _ in range(self.ppo.num_steps_per_env):
                        actions = self.alg.act(obs)
                        obs, rewards, dones, extras = self.venv.step(actions)
                        self.alg.process_env_step(obs, rewards, dones, extras)
                        ep_return += rewards
                        done = dones.bool()
                        if bool(done.any()):
                            ep_returns.extend(ep_return[done].tolist())
                            res = self.venv.last_result
                            assert res is not None
                            ep_lengths.extend(
                                (res.episode_length[done].float() * self.env.step_dt_s).tolist()
                            )
                            ep_return[done] = 0.0
                        for key, value in extras["log"].items():
                            sums[key] = sums.get(key, 0.0) + float(value)
                            counts[key] = counts.get(key, 0) + 1
                    self.alg.compute_returns(obs)
                t1 = time.perf_counter()
                losses = self.alg.update()
                t2 = time.perf_counter()
                self.iteration += 1
                row = {
                    "iteration": float(self.iteration),
                    "env_steps": float(self.iteration * steps_per_it),
                    "mean_episode_return": _mean_last(ep_returns),
                    "mean_episode_length_s": _mean_last(ep_lengths),
                    "collect_s": t1 - t0,
                    "update_s": t2 - t1,
                    "steps_per_s": steps_per_it / (t2 - t0),
                    "action_std": float(self.alg.get_policy().output_std.detach().mean()),
                }
                row.update({k: float("nan") for k in _EPISODE_KEYS})
                row.update({k: v / counts[k] for k, v in sums.items()})
                row.update({f"Loss/{k}": float(v) for k, v in losses.items()})
                rows.append(row)
                self._log(writer, row)
                bar.update(1)
                bar.set_postfix(
                    ret=f"{row['mean_episode_return']:.1f}",
                    len_s=f"{row['mean_episode_length_s']:.2f}",
                    err_mm=f"{row.get('Error/body_pos_root_rel_mm', float('nan')):.0f}",
                    sps=f"{row['steps_per_s']:.0f}",
                )
                if self.iteration % self.ppo.save_interval == 0 or self.iteration == total:
                    self.save()
        finally:
            bar.close()
            writer.close()
        return rows

    def _log(self, writer: Any, row: dict[str, float]) -> None:
        it = int(row["iteration"])
        for key, value in row.items():
            if key == "iteration" or not math.isfinite(value):
                continue
            writer.add_scalar(key if "/" in key else f"Train/{key}", value, it)
        new = not self.files.progress.exists()
        with self.files.progress.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(row), extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def close(self) -> None:
        """Release the env's threads."""
        self.venv.close()


def _mean_last(values: list[float], n: int = 100) -> float:
    tail = values[-n:]
    return float(sum(tail) / len(tail)) if tail else float("nan")


def read_progress(path: Path) -> list[dict[str, float]]:
    """Rows of a ``progress.csv`` (floats; empty cells → NaN)."""
    if not path.is_file():
        raise HumimicError(f"{path}: no progress file")
    with path.open(newline="") as fh:
        return [
            {k: float(v) if v not in ("", None) else float("nan") for k, v in r.items()}
            for r in csv.DictReader(fh)
        ]
