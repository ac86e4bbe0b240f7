"""Observation terms of the tracking task: small named functions ``(TermInput) -> [N, D]``.

Each term declares the :class:`~humimic.envs.tracking.state.TermInput` fields it reads
(:func:`~humimic.envs.tracking.state.needs`), so deploy can refuse a policy whose terms need
fields a real robot cannot measure. Sizes are never typed by hand: an
:class:`ObservationGroup` calls its terms once on a sample input and reports ``(name, size)``.

Frames: ``_b`` terms are expressed in the robot's own frame: the anchor body (torso) frame for
the ``ref_anchor_*`` and ``body_*`` terms, the root (IMU) frame for ``base_*`` and gravity.
Privileged terms (critic only, they need simulator-only fields): ``base_lin_vel_b``,
``body_pos_b``, ``body_ori_b``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from humimic.errors import ConfigError

from .math import (
    projected_gravity,
    quat_apply_inverse,
    quat_conj,
    quat_mul,
    quat_to_rot6d,
    yaw_quat,
)
from .state import TermInput, anchor_pos_w, anchor_quat_w, needs, require, required_fields

__all__ = [
    "ObsFn",
    "ObservationGroup",
    "base_ang_vel_b",
    "OBSERVATION_TERMS",
    "base_lin_vel_b",
    "body_ori_b",
    "clip_one_hot",
    "body_pos_b",
    "joint_pos_rel",
    "joint_vel",
    "last_action",
    "motion_phase",
    "projected_gravity_b",
    "ref_anchor_ori_b",
    "ref_anchor_pos_b",
    "ref_joint_pos",
    "ref_joint_vel",
]

ObsFn = Callable[[TermInput], torch.Tensor]


@needs("ref.joint_pos")
def ref_joint_pos(inp: TermInput) -> torch.Tensor:
    """``[N, J]`` reference joint positions (rad)."""
    return inp.ref.joint_pos


@needs("ref.joint_vel")
def ref_joint_vel(inp: TermInput) -> torch.Tensor:
    """``[N, J]`` reference joint velocities (rad/s)."""
    return inp.ref.joint_vel


@needs("robot.body_pos_w", "robot.body_quat_w", "ref.body_pos_w")
def ref_anchor_pos_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3]`` reference anchor position in the robot anchor frame: ``R_aᵀ (p̂_a − p_a)`` (m)."""
    p = anchor_pos_w(inp, "robot", "ref_anchor_pos_b")
    q = anchor_quat_w(inp, "robot", "ref_anchor_pos_b")
    p_ref = anchor_pos_w(inp, "ref", "ref_anchor_pos_b")
    return quat_apply_inverse(q, p_ref - p)


@needs("robot.body_quat_w", "ref.body_quat_w")
def ref_anchor_ori_b(inp: TermInput) -> torch.Tensor:
    """``[N, 6]`` rot6d of the reference anchor orientation in the robot anchor frame.

    ``rot6d(q_a⁻¹ ⊗ q̂_a)``; perfect tracking → ``(1, 0, 0, 1, 0, 0)``.
    """
    q = anchor_quat_w(inp, "robot", "ref_anchor_ori_b")
    q_ref = anchor_quat_w(inp, "ref", "ref_anchor_ori_b")
    return quat_to_rot6d(quat_mul(quat_conj(q), q_ref))


@needs("robot.root_quat_w", "robot.root_ang_vel_w")
def base_ang_vel_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3]`` root angular velocity in the root frame (rad/s): what a gyro measures."""
    return quat_apply_inverse(inp.robot.root_quat_w, inp.robot.root_ang_vel_w)


@needs("robot.root_quat_w")
def projected_gravity_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3]`` unit gravity direction in the root frame; upright → ``(0, 0, −1)``."""
    return projected_gravity(inp.robot.root_quat_w)


@needs("robot.joint_pos", "default_joint_pos")
def joint_pos_rel(inp: TermInput) -> torch.Tensor:
    """``[N, J]`` joint positions minus the default pose (rad)."""
    return inp.robot.joint_pos - inp.default_joint_pos


@needs("robot.joint_vel")
def joint_vel(inp: TermInput) -> torch.Tensor:
    """``[N, J]`` joint velocities (rad/s)."""
    return inp.robot.joint_vel


@needs("last_action")
def last_action(inp: TermInput) -> torch.Tensor:
    """``[N, J]`` the previous policy output."""
    return inp.last_action


@needs("robot.root_quat_w", "robot.root_lin_vel_w")
def base_lin_vel_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3]`` root linear velocity in the root frame (m/s). Privileged."""
    v = require(inp, "robot.root_lin_vel_w", "base_lin_vel_b")
    return quat_apply_inverse(inp.robot.root_quat_w, v)


@needs("robot.body_pos_w", "robot.body_quat_w")
def body_pos_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3B]`` tracked body positions relative to the anchor, anchor frame (m). Privileged.

    Flattened body-major: ``(x_0, y_0, z_0, x_1, ...)``; the anchor's own entry is zero.
    """
    pos = require(inp, "robot.body_pos_w", "body_pos_b")
    p_a = anchor_pos_w(inp, "robot", "body_pos_b")
    q_a = anchor_quat_w(inp, "robot", "body_pos_b")
    rel = quat_apply_inverse(q_a[:, None, :], pos - p_a[:, None, :])
    return rel.reshape(rel.shape[0], -1)


@needs("robot.body_quat_w")
def body_ori_b(inp: TermInput) -> torch.Tensor:
    """``[N, 6B]`` rot6d of each tracked body's orientation in the anchor frame. Privileged."""
    quat = require(inp, "robot.body_quat_w", "body_ori_b")
    q_a = anchor_quat_w(inp, "robot", "body_ori_b")
    rel = quat_to_rot6d(quat_mul(quat_conj(q_a)[:, None, :], quat))
    return rel.reshape(rel.shape[0], -1)


@needs("motion_time_s", "motion_length_s")
def motion_phase(inp: TermInput) -> torch.Tensor:
    """``[N, 1]`` DeepMimic's phase ``φ = t / T`` of the reference in its clip, in ``[0, 1]``."""
    t = require(inp, "motion_time_s", "motion_phase")
    length = require(inp, "motion_length_s", "motion_phase").clamp(min=1e-6)
    return (t / length).clamp(0.0, 1.0)[:, None]


@needs("clip_one_hot")
def clip_one_hot(inp: TermInput) -> torch.Tensor:
    """``[N, C]`` one-hot of each env's clip (multi-clip conditioning)."""
    return require(inp, "clip_one_hot", "clip_one_hot")


@needs("robot.root_quat_w", "target_heading_w", "target_speed")
def target_heading_b(inp: TermInput) -> torch.Tensor:
    """``[N, 3]`` the task goal (DeepMimic's heading task) as the robot sees it: the target
    direction in the root's heading (yaw) frame, ``(cos θ, sin θ)``, and the target speed
    (m/s)."""
    d_w = require(inp, "target_heading_w", "target_heading_b")
    speed = require(inp, "target_speed", "target_heading_b")
    d_b = quat_apply_inverse(yaw_quat(inp.robot.root_quat_w), d_w)
    return torch.cat([d_b[:, :2], speed[:, None]], dim=-1)


OBSERVATION_TERMS: dict[str, ObsFn] = {
    fn.__name__: fn
    for fn in (
        ref_joint_pos,
        ref_joint_vel,
        ref_anchor_pos_b,
        ref_anchor_ori_b,
        base_ang_vel_b,
        projected_gravity_b,
        joint_pos_rel,
        joint_vel,
        last_action,
        base_lin_vel_b,
        body_pos_b,
        body_ori_b,
        motion_phase,
        clip_one_hot,
        target_heading_b,
    )
}
"""Every observation term by name (configs and policy artifacts refer to terms by name)."""


class ObservationGroup:
    """Named observation terms concatenated in order into one ``[N, D]`` vector.

    Sizes are derived: :meth:`resolve` calls every term once on a sample input and records
    ``(name, size)``; later calls check each term still returns that size.

    Args:
        terms: ``(name, fn)`` pairs, in the order of the concatenation. Names must be unique.
    """

    def __init__(self, terms: Sequence[tuple[str, ObsFn]]) -> None:
        names = [name for name, _ in terms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"observation term names must be unique; repeated: {dup}")
        if not terms:
            raise ConfigError("an ObservationGroup needs at least one term")
        self.terms: tuple[tuple[str, ObsFn], ...] = tuple(terms)
        self._sizes: list[tuple[str, int]] | None = None

    @property
    def required_fields(self) -> frozenset[str]:
        """Union of the :class:`TermInput` fields the terms read (dotted names)."""
        out: frozenset[str] = frozenset()
        for _, fn in self.terms:
            out |= required_fields(fn)
        return out

    def resolve(self, sample: TermInput) -> list[tuple[str, int]]:
        """``[(name, size)]`` from one call of each term on ``sample`` (cached)."""
        if self._sizes is None:
            self._sizes = [(name, self._check(name, fn(sample), sample)) for name, fn in self.terms]
        return list(self._sizes)

    @property
    def term_sizes(self) -> list[tuple[str, int]]:
        """``[(name, size)]``; needs :meth:`resolve` first."""
        if self._sizes is None:
            raise ConfigError("call ObservationGroup.resolve(sample) before reading its sizes")
        return list(self._sizes)

    @property
    def dim(self) -> int:
        """Total observation size ``D``; needs :meth:`resolve` first."""
        return sum(size for _, size in self.term_sizes)

    def __call__(self, inp: TermInput) -> torch.Tensor:
        """``[N, D]`` the concatenated terms (resolves sizes on the first call)."""
        sizes = self.resolve(inp)
        parts = []
        for (name, fn), (_, size) in zip(self.terms, sizes, strict=True):
            out = fn(inp)
            got = self._check(name, out, inp)
            if got != size:
                raise ConfigError(f"observation term {name!r} changed size: {got}, expected {size}")
            parts.append(out)
        return torch.cat(parts, dim=-1)

    def table(self, sample: TermInput | None = None) -> str:
        """A printable table of the terms, their sizes and slices, and the total."""
        sizes = self.resolve(sample) if sample is not None else self.term_sizes
        width = max(len("term"), *(len(n) for n, _ in sizes))
        lines = [f"{'term':<{width}}  size  slice", "-" * (width + 20)]
        start = 0
        for name, size in sizes:
            lines.append(f"{name:<{width}}  {size:>4}  [{start}:{start + size}]")
            start += size
        lines.append(f"{'total':<{width}}  {start:>4}")
        return "\n".join(lines)

    @staticmethod
    def _check(name: str, out: torch.Tensor, inp: TermInput) -> int:
        if out.ndim != 2 or out.shape[0] != inp.num_envs:
            raise ConfigError(
                f"observation term {name!r} must return [N={inp.num_envs}, D], "
                f"got {tuple(out.shape)}"
            )
        return int(out.shape[1])
