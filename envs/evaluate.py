"""Evaluate and play an exported policy in MuJoCo (the same ONNX file deploy runs).

An evaluation runs ``K`` episodes in parallel, each from the first frame of a clip (clip
``i mod C`` for episode ``i``) with no start noise, until the clip ends or the episode fails.
An episode **succeeds** when it reaches the end of its clip without a termination. Errors
(:func:`~humimic.envs.tracking.env.tracking_errors`) are averaged over the steps each episode
lived. With ``domain_rand=True`` every randomization of the default
:class:`~humimic.domain_rand.DomainRandConfig` is on (pushes, frictions, masses, gains, noise,
delay; pass ``base`` to :func:`policy_env` for another); without, the nominal robot.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from humimic.domain_rand import DomainRandConfig
from humimic.envs.tracking.config import RsiNoise, TrackingConfig
from humimic.envs.tracking.env import TrackingEnv
from humimic.envs.train import build_env
from humimic.errors import DeployError
from humimic.io import atomic_path, write_text_atomic
from humimic.motion import Motion
from humimic.policy import OnnxPolicy, PolicyMetadata, load_policy
from humimic.robots import get_robot

__all__ = ["EvalResult", "Rollout", "evaluate", "policy_env", "rollout"]


@dataclass
class Rollout:
    """Per-episode outcome and per-step traces of a batch of episodes.

    Attributes:
        clip_ids: ``[K]``. success: ``[K]`` bool. length_s: ``[K]`` time lived (s).
        errors: ``{name: [T, K]}`` per-step errors (NaN after an episode ended).
        robot_qpos: ``[T, 7 + J]`` root pos, quat (wxyz), joints of episode 0 (for videos).
        ref_qpos: ``[T, 7 + J]`` the reference of episode 0.
    """

    clip_ids: np.ndarray
    success: np.ndarray
    length_s: np.ndarray
    errors: dict[str, np.ndarray]
    robot_qpos: np.ndarray
    ref_qpos: np.ndarray
    dt_s: float


@dataclass
class EvalResult:
    """Summary numbers (``summary``) and the rollouts behind them."""

    summary: dict[str, Any]
    rollouts: dict[str, Rollout] = field(default_factory=dict)


def policy_env(
    meta: PolicyMetadata,
    folder: Path,
    num_envs: int,
    domain_rand: bool,
    base: TrackingConfig | None = None,
    seed: int = 0,
) -> TrackingEnv:
    """A :class:`TrackingEnv` whose actor observation is exactly the policy's."""
    spec = get_robot(meta.robot)
    meta.check_robot(spec)
    motions = [Motion.load(folder / "clips" / f, spec) for f in meta.clip_files]
    names = [n for n, _ in meta.observation_terms]
    conditioned = "clip_one_hot" in names
    base = base or TrackingConfig()
    dr = base.domain_rand if domain_rand else DomainRandConfig(enabled=False)
    longest = max(m.duration_s for m in motions)
    cfg = replace(
        base,
        num_envs=num_envs,
        actor_terms=tuple(n for n in names if n != "clip_one_hot"),
        clip_conditioning="on" if conditioned else "off",
        rsi=RsiNoise.off(),
        adaptive_sampling=False,
        start_at_clip_begin=True,
        episode_length_s=longest + 1.0,
        domain_rand=dr,
        seed=seed,
    )
    env = build_env(spec, motions, cfg, clip_names=meta.clip_names)
    if env.library.motion_hash != meta.motion_hash:
        raise DeployError(
            f"{folder}/clips: clip hash {env.library.motion_hash[:12]} differs from the "
            f"policy's {meta.motion_hash[:12]}"
        )
    got = [(n, s) for n, s in env.actor_obs.term_sizes]
    if got != [tuple(t) for t in meta.observation_terms]:
        raise DeployError(f"observation terms differ: env {got}, policy {meta.observation_terms}")
    return env


def _qpos(root_pos: torch.Tensor, root_quat: torch.Tensor, joints: torch.Tensor) -> np.ndarray:
    return torch.cat([root_pos, root_quat, joints], -1).numpy().astype(np.float64)


def rollout(
    env: TrackingEnv,
    policy: OnnxPolicy,
    num_episodes: int,
    progress: bool = True,
    clip_ids: torch.Tensor | None = None,
) -> Rollout:
    """Run one episode per env from frame 0 of clip ``clip_ids[i]`` (default ``i mod C``);
    see the module docstring."""
    n = env.num_envs
    if num_episodes != n:
        raise DeployError(f"rollout needs num_envs == num_episodes ({n} != {num_episodes})")
    ids = torch.arange(n)
    clips = ids % env.library.num_clips if clip_ids is None else clip_ids.to(torch.long)
    env.reset_envs(ids, clips, torch.zeros(n))
    obs = env.refresh_observations()
    durations = env.library.duration_s[clips]
    steps = int(np.ceil(float(durations.max()) / env.step_dt_s)) + 1
    alive = torch.ones(n, dtype=torch.bool)
    success = torch.zeros(n, dtype=torch.bool)
    length = torch.zeros(n)
    traces: dict[str, list[np.ndarray]] = {}
    robot_q, ref_q = [], []
    for _ in tqdm(range(steps), desc="rollout", unit="step", disable=not progress):
        if not bool(alive.any()):
            break
        b = env.backend
        robot_q.append(_qpos(b.root_pos_w[0], b.root_quat_w[0], b.joint_pos[0]))
        m = env.library.sample(env.clip_ids[:1], env.motion_time_s[:1])
        ref_q.append(_qpos(m.root_pos_w[0], m.root_quat_w[0], m.joint_pos[0]))
        action = torch.from_numpy(policy(obs["actor"].numpy()))
        res = env.step(action)
        obs = res.obs
        for key, value in res.errors.items():
            traces.setdefault(key, []).append(
                np.where(alive.numpy(), value.numpy(), np.nan).astype(np.float64)
            )
        length += alive.float() * env.step_dt_s
        success |= alive & res.truncated
        alive &= ~res.done
    return Rollout(
        clip_ids=clips.numpy(),
        success=success.numpy(),
        length_s=length.numpy(),
        errors={k: np.stack(v) for k, v in traces.items()},
        robot_qpos=np.stack(robot_q),
        ref_qpos=np.stack(ref_q),
        dt_s=env.step_dt_s,
    )


def summarize(r: Rollout, clip_names: tuple[str, ...]) -> dict[str, Any]:
    """Success rate and mean errors (over every lived step of every episode)."""
    out: dict[str, Any] = {
        "episodes": int(r.success.size),
        "success_rate": float(r.success.mean()),
        "mean_length_s": float(r.length_s.mean()),
    }
    for key, trace in r.errors.items():
        out[f"mean_{key}"] = float(np.nanmean(trace))
    per_clip = {}
    for c, name in enumerate(clip_names):
        sel = r.clip_ids == c
        if sel.any():
            per_clip[name] = {
                "episodes": int(sel.sum()),
                "success_rate": float(r.success[sel].mean()),
                "mean_body_pos_root_rel_mm": float(
                    np.nanmean(r.errors["body_pos_root_rel_mm"][:, sel])
                ),
            }
    out["per_clip"] = per_clip
    return out


def evaluate(
    policy_path: str | os.PathLike[str],
    num_episodes: int = 32,
    out_dir: str | os.PathLike[str] | None = None,
    modes: tuple[str, ...] = ("domain_rand", "nominal"),
    seed: int = 0,
    progress: bool = True,
) -> EvalResult:
    """Evaluate a policy folder with and without randomization; write ``eval.json`` and
    ``eval_errors.png`` into ``out_dir`` (default: the policy folder's parent)."""
    policy, meta, folder = load_policy(policy_path)
    out = Path(out_dir) if out_dir else folder.parent
    result = EvalResult(summary={"policy": str(folder), "clips": list(meta.clip_names)})
    for mode in modes:
        env = policy_env(meta, folder, num_episodes, mode == "domain_rand", seed=seed)
        try:
            r = rollout(env, policy, num_episodes, progress)
        finally:
            env.close()
        result.rollouts[mode] = r
        result.summary[mode] = summarize(r, meta.clip_names)
    write_text_atomic(out / "eval.json", json.dumps(result.summary, indent=2))
    plot_errors(result, out / "eval_errors.png")
    return result


def plot_errors(result: EvalResult, path: Path) -> Path:
    """Error vs clip time (mean over episodes, band = 10–90 %), one line per mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for mode, r in result.rollouts.items():
        t = np.arange(r.errors["body_pos_root_rel_mm"].shape[0]) * r.dt_s
        for ax, key in zip(axes, ("body_pos_root_rel_mm", "body_pos_global_mm"), strict=True):
            trace = r.errors[key]
            with np.errstate(all="ignore"):
                mean = np.nanmean(trace, axis=1)
                lo, hi = np.nanpercentile(trace, 10, axis=1), np.nanpercentile(trace, 90, axis=1)
            label = f"{mode} (success {100 * r.success.mean():.0f} %)"
            ax.plot(t, mean, label=label)
            ax.fill_between(t, lo, hi, alpha=0.2)
            ax.set_xlabel("clip time (s)")
            ax.set_ylabel(key.replace("_mm", " (mm)").replace("_", " "))
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("tracking error of the policy against its reference")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def play(
    policy_path: str | os.PathLike[str],
    out_video: str | os.PathLike[str],
    clip: int = 0,
    domain_rand: bool = False,
    width: int = 640,
    height: int = 480,
    progress: bool = True,
) -> tuple[Path, Rollout]:
    """Video of the policy (solid) over its reference (translucent ghost), one episode."""
    from humimic.render import ClipRenderer, check_video_args, write_video
    from humimic.robots.mujoco_model import build_mujoco

    out = Path(out_video)
    check_video_args(out, width, height)
    policy, meta, folder = load_policy(policy_path)
    if not 0 <= clip < len(meta.clip_names):
        raise DeployError(f"--clip {clip}: the policy has clips 0..{len(meta.clip_names) - 1}")
    env = policy_env(meta, folder, 1, domain_rand)
    try:
        r = rollout(env, policy, 1, progress, clip_ids=torch.tensor([clip]))
    finally:
        env.close()
    spec = get_robot(meta.robot)
    renderer = ClipRenderer(build_mujoco(spec), width, height)
    fps = 1.0 / r.dt_s
    try:
        images = (
            renderer.render(q[0:3], q[3:7], q[7:], ghost=(g[0:3], g[3:7], g[7:]))
            for q, g in zip(r.robot_qpos, r.ref_qpos, strict=True)
        )
        write_video(out, images, len(r.robot_qpos), fps, progress=progress)
    finally:
        renderer.close()
    return out, r
