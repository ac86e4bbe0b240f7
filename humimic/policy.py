"""The policy artifact: an ONNX network plus everything needed to run it on a robot.

A policy folder (what ``humimic export`` writes and ``humimic deploy`` reads)::

    policy.onnx     input "obs" [N, D] float32 → output "actions" [N, J] float32;
                    the metadata below embedded as ONNX metadata_props ("humimic" key)
    policy.json     the same metadata, for people and tools
    clips/*.npz     the reference clips the policy tracks (hash-checked)

The metadata is a :class:`PolicyMetadata`. Loading checks that the embedded and sidecar copies
agree, that the network's input and output sizes match the declared observation terms and
joints, and (:meth:`PolicyMetadata.check_robot`) that the robot is the one it was trained on.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from humimic.errors import DeployError

__all__ = ["FORMAT_VERSION", "OnnxPolicy", "PolicyMetadata", "load_policy"]

FORMAT_VERSION = 1
METADATA_KEY = "humimic"


@dataclass(frozen=True)
class PolicyMetadata:
    """What a policy needs from the world, and what it promises.

    Attributes:
        format_version: of this record.
        robot: robot name (``humimic.robots.get_robot``).
        joint_names: actions and joint observations, in this order.
        default_joint_pos_rad: ``q_default``; targets are ``q_default + action_scale · a``.
        action_scale_rad: per joint.
        kp_nm_per_rad, kd_nm_s_per_rad: PD gains the policy was trained with.
        effort_limit_nm: per joint.
        control_dt_s: policy period (s). physics_dt_s: simulation step it was trained at.
        observation_terms: ``(name, size)`` of the actor observation, in order.
        required_fields: state fields the terms read (dotted ``TermInput`` names).
        anchor_body, root_body: anchor (torso) and root (pelvis) body names.
        clip_names: reference clips, in clip-id order. motion_hash: their hash.
        clip_files: file names of the clips inside ``clips/``.
        trained_iterations: PPO iterations of the checkpoint.
        run: where it was trained (free text).
    """

    robot: str
    joint_names: tuple[str, ...]
    default_joint_pos_rad: tuple[float, ...]
    action_scale_rad: tuple[float, ...]
    kp_nm_per_rad: tuple[float, ...]
    kd_nm_s_per_rad: tuple[float, ...]
    effort_limit_nm: tuple[float, ...]
    control_dt_s: float
    physics_dt_s: float
    observation_terms: tuple[tuple[str, int], ...]
    required_fields: tuple[str, ...]
    anchor_body: str
    root_body: str
    clip_names: tuple[str, ...]
    motion_hash: str
    clip_files: tuple[str, ...]
    trained_iterations: int = 0
    run: str = ""
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        j = len(self.joint_names)
        if j == 0:
            raise DeployError("policy metadata: field 'joint_names' is empty")
        for name in (
            "default_joint_pos_rad",
            "action_scale_rad",
            "kp_nm_per_rad",
            "kd_nm_s_per_rad",
            "effort_limit_nm",
        ):
            values = getattr(self, name)
            if len(values) != j or not all(math.isfinite(v) for v in values):
                raise DeployError(
                    f"policy metadata: field {name!r}: expected {j} finite numbers (one per "
                    f"joint), got {list(values)}"
                )
        if not (self.control_dt_s > 0 and self.physics_dt_s > 0):
            raise DeployError(
                f"policy metadata: control_dt_s and physics_dt_s must be > 0, got "
                f"{self.control_dt_s}, {self.physics_dt_s}"
            )
        if not self.observation_terms:
            raise DeployError("policy metadata: field 'observation_terms' is empty")
        if len(self.clip_files) != len(self.clip_names):
            raise DeployError(
                f"policy metadata: {len(self.clip_names)} clip names but "
                f"{len(self.clip_files)} clip files"
            )
        if self.format_version != FORMAT_VERSION:
            raise DeployError(
                f"policy metadata: format_version {self.format_version}, this humimic reads "
                f"{FORMAT_VERSION}"
            )

    @property
    def obs_dim(self) -> int:
        """``D``: total actor observation size."""
        return sum(size for _, size in self.observation_terms)

    @property
    def num_actions(self) -> int:
        """``J``."""
        return len(self.joint_names)

    def to_json(self) -> str:
        """Stable JSON text."""
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> PolicyMetadata:
        """Build from parsed JSON; ``where`` names the source in errors."""
        if not isinstance(data, dict):
            raise DeployError(f"{where}: policy metadata must be a JSON object")
        known = {f.name for f in fields(cls)}
        missing = sorted(f.name for f in fields(cls) if f.name not in data and f.default is MISSING)
        if missing:
            raise DeployError(f"{where}: policy metadata fields missing: {missing}")
        extra = sorted(set(data) - known)
        if extra:
            raise DeployError(f"{where}: unknown policy metadata fields {extra}")
        conv: dict[str, Any] = {}
        for key, value in data.items():
            if key == "observation_terms":
                conv[key] = tuple((str(n), int(s)) for n, s in value)
            elif isinstance(value, list):
                conv[key] = tuple(value)
            else:
                conv[key] = value
        try:
            return cls(**conv)
        except DeployError as exc:
            raise DeployError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise DeployError(f"{where}: malformed policy metadata ({exc})") from None

    def check_robot(self, spec: Any) -> None:
        """Refuse to run on a robot that differs from the training one.

        Compares the robot name, joint names and order, and the default pose; the message
        lists what differs.
        """
        problems = []
        if spec.name != self.robot:
            problems.append(f"robot: policy {self.robot!r}, runtime {spec.name!r}")
        if tuple(spec.joint_names) != tuple(self.joint_names):
            diff = [
                f"#{i}: policy {a!r} vs robot {b!r}"
                for i, (a, b) in enumerate(zip(self.joint_names, spec.joint_names, strict=False))
                if a != b
            ]
            if len(spec.joint_names) != len(self.joint_names):
                diff.append(f"count: policy {len(self.joint_names)}, robot {len(spec.joint_names)}")
            problems.append("joint order differs: " + "; ".join(diff[:6]))
        elif not np.allclose(spec.default_joint_pos_rad, self.default_joint_pos_rad, atol=1e-6):
            problems.append("default pose differs from the robot's")
        if problems:
            raise DeployError("policy does not match the robot: " + " | ".join(problems))


class OnnxPolicy:
    """onnxruntime inference of a policy folder's ``policy.onnx`` (CPU, one thread)."""

    def __init__(self, onnx_path: Path, metadata: PolicyMetadata) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(onnx_path), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            raise DeployError(f"{onnx_path}: onnxruntime cannot load it ({exc})") from None
        self.metadata = metadata
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise DeployError(f"{onnx_path}: expected one input and one output")
        self.input_name, self.output_name = inputs[0].name, outputs[0].name
        d_in, d_out = inputs[0].shape[-1], outputs[0].shape[-1]
        if d_in != metadata.obs_dim:
            raise DeployError(
                f"{onnx_path}: network input has {d_in} values, the metadata's observation "
                f"terms sum to {metadata.obs_dim}"
            )
        if d_out != metadata.num_actions:
            raise DeployError(
                f"{onnx_path}: network output has {d_out} values, expected one per joint "
                f"({metadata.num_actions})"
            )

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """``actions [N, J]`` float32 for ``obs [N, D]``."""
        x = np.ascontiguousarray(obs, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return np.asarray(out, dtype=np.float32)


def _read_sidecar(folder: Path) -> PolicyMetadata:
    path = folder / "policy.json"
    if not path.is_file():
        raise DeployError(f"{folder}: no policy.json (expected a folder written by humimic export)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DeployError(f"{path}: invalid JSON ({exc})") from None
    return PolicyMetadata.from_dict(data, str(path))


def load_policy(path: str | os.PathLike[str]) -> tuple[OnnxPolicy, PolicyMetadata, Path]:
    """Load a policy folder (or its ``policy.onnx``): ``(policy, metadata, folder)``.

    Raises:
        DeployError: missing files, metadata that disagrees between ONNX and JSON, or sizes
            that do not match the network.
    """
    import onnx

    p = Path(path)
    folder = p.parent if p.suffix == ".onnx" else p
    onnx_path = folder / "policy.onnx"
    if not onnx_path.is_file():
        raise DeployError(f"{folder}: no policy.onnx")
    meta = _read_sidecar(folder)
    try:
        model = onnx.load(str(onnx_path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and others
        raise DeployError(f"{onnx_path}: not a readable ONNX file ({exc})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise DeployError(f"{onnx_path}: no embedded '{METADATA_KEY}' metadata")
    embedded = PolicyMetadata.from_dict(json.loads(props[METADATA_KEY]), f"{onnx_path} (embedded)")
    if embedded != meta:
        raise DeployError(
            f"{folder}: policy.json differs from the metadata embedded in policy.onnx "
            "(edited by hand?); re-export the policy"
        )
    return OnnxPolicy(onnx_path, meta), meta, folder
