"""Export a training run's actor as a self-describing policy folder (see :mod:`humimic.policy`).

The actor (with its observation normalizer) goes through rsl-rl's ONNX wrapper and
``torch.onnx.export`` (opset 18); the metadata is embedded in the model and written beside it;
the run's clips are copied into ``clips/``. Before the folder is moved into place, the export
checks that onnxruntime and torch give the same actions on the same inputs (random
observations and real ones from the env); it refuses to write a folder that fails.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from humimic.envs.tracking.config import TrackingConfig
from humimic.envs.tracking.observations import OBSERVATION_TERMS, ObservationGroup
from humimic.envs.train import PpoConfig, RunFiles, load_checkpoint
from humimic.errors import ConfigError, DeployError
from humimic.motion import Motion
from humimic.policy import METADATA_KEY, OnnxPolicy, PolicyMetadata
from humimic.robots import get_robot

__all__ = ["ExportResult", "build_actor", "export_run"]

log = logging.getLogger(__name__)

ATOL = 1e-4  # max |a_onnx − a_torch| accepted (actions are O(1))


class ExportResult:
    """Where the folder went and how close onnxruntime came to torch."""

    def __init__(self, folder: Path, max_abs_diff: float, metadata: PolicyMetadata) -> None:
        self.folder, self.max_abs_diff, self.metadata = folder, max_abs_diff, metadata


def build_actor(obs_dim: int, num_actions: int, ppo: PpoConfig) -> torch.nn.Module:
    """An rsl-rl ``MLPModel`` actor shaped like the one PPO trained."""
    from rsl_rl.models import MLPModel
    from tensordict import TensorDict

    sample = TensorDict({"actor": torch.zeros(1, obs_dim)}, batch_size=[1])
    cfg = ppo.rsl_rl_cfg()["actor"]
    cfg.pop("class_name")
    return MLPModel(sample, {"actor": ["actor"]}, "actor", num_actions, **cfg)


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Write ``policy.onnx``, ``policy.json`` and ``clips/`` for a run (default: ``RUN/policy``)."""
    files = RunFiles(Path(run_dir))
    saved = files.read_config()
    tracking = TrackingConfig.from_dict(saved["tracking"])
    ppo = PpoConfig.from_dict(saved["ppo"])
    spec = get_robot(saved["robot"])
    ckpt = Path(checkpoint) if checkpoint else files.latest_checkpoint()
    if ckpt is None:
        raise ConfigError(f"{files.root}: no checkpoint to export")
    data = load_checkpoint(ckpt)
    terms = [(str(n), int(s)) for n, s in saved["observations"]["actor_terms"]]
    obs_dim = sum(s for _, s in terms)
    actor = build_actor(obs_dim, spec.num_joints, ppo)
    actor.load_state_dict(data["actor_state_dict"])
    actor.eval()

    group = ObservationGroup([(n, OBSERVATION_TERMS[n]) for n, _ in terms])
    clip_paths = [Path(p) for p in saved["motions"]]
    clip_files = tuple(f"{i:02d}_{p.stem}.npz" for i, p in enumerate(clip_paths))
    meta = PolicyMetadata(
        robot=spec.name,
        joint_names=tuple(spec.joint_names),
        default_joint_pos_rad=tuple(spec.default_joint_pos_rad),
        action_scale_rad=tuple(spec.action_scale_rad),
        kp_nm_per_rad=tuple(spec.kp_nm_per_rad),
        kd_nm_s_per_rad=tuple(spec.kd_nm_s_per_rad),
        effort_limit_nm=tuple(j.effort_limit_nm for j in spec.joints),
        control_dt_s=float(saved["observations"]["control_dt_s"]),
        physics_dt_s=float(saved["observations"]["control_dt_s"]) / tracking.decimation,
        observation_terms=tuple(terms),
        required_fields=tuple(sorted(group.required_fields)),
        anchor_body=spec.anchor_body,
        root_body=spec.root_body,
        clip_names=tuple(saved["clip_names"]),
        motion_hash=str(saved["motion_hash"]),
        clip_files=clip_files,
        trained_iterations=int(data["iter"]),
        run=str(files.root.resolve()),
    )

    final = Path(out_dir) if out_dir else files.root / "policy"
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        onnx_path = tmp / "policy.onnx"
        _export_onnx(actor, onnx_path, meta)
        (tmp / "policy.json").write_text(meta.to_json())
        (tmp / "clips").mkdir()
        for src, name in zip(clip_paths, clip_files, strict=True):
            Motion.load(src, spec)  # still a valid clip for this robot
            shutil.copyfile(src, tmp / "clips" / name)
        diff = _compare(actor, OnnxPolicy(onnx_path, meta), obs_dim)
        if diff > ATOL:
            raise DeployError(
                f"export check failed: onnxruntime and torch actions differ by {diff:.2e} "
                f"(> {ATOL:.0e})"
            )
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    (final.parent / f"{final.name}.export.json").write_text(
        json.dumps({"checkpoint": str(ckpt), "max_abs_diff": diff, "ppo": asdict(ppo)}, indent=2)
    )
    return ExportResult(final, diff, meta)


def _export_onnx(actor: torch.nn.Module, path: Path, meta: PolicyMetadata) -> None:
    import onnx

    wrapped = actor.as_onnx(verbose=False)  # type: ignore[operator]
    wrapped.eval()
    torch.onnx.export(
        wrapped,
        (torch.zeros(1, meta.obs_dim),),
        str(path),
        export_params=True,
        opset_version=18,
        input_names=["obs"],
        output_names=["actions"],
        dynamic_axes={"obs": {0: "batch"}, "actions": {0: "batch"}},
        dynamo=False,
    )
    model = onnx.load(str(path))
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, meta.to_json()
    onnx.save(model, str(path))


def _compare(actor: torch.nn.Module, policy: OnnxPolicy, obs_dim: int) -> float:
    """Max |onnxruntime − torch| over 256 random observations (scaled like real ones)."""
    gen = torch.Generator().manual_seed(0)
    obs = torch.randn(256, obs_dim, generator=gen) * 2.0
    from tensordict import TensorDict

    with torch.inference_mode():
        ref = actor(TensorDict({"actor": obs}, batch_size=[256])).numpy()
    got = policy(obs.numpy())
    return float(np.max(np.abs(got - ref)))
