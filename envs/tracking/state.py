"""The state record every tracking-task term reads: :class:`RobotFrame` and :class:`TermInput`.

Terms (observations, rewards, terminations) are pure functions of a :class:`TermInput`. The
training env builds it from a :class:`~humimic.envs.backends.base.Backend` and the
MotionLibrary; the deploy runtime builds the same record from a real robot's state.

Tensors are torch ``float32``, ``num_envs`` (``N``) first, world quantities in the world frame
(``_w``), quaternions wxyz. ``J`` joints in policy order, ``B`` tracked bodies in
``spec.tracked_bodies`` order.

**Which fields a real robot can fill.** A real robot measures joints (``joint_pos``,
``joint_vel``) and an IMU on the root (``root_quat_w``, ``root_ang_vel_w``). It does not measure
``root_pos_w``, ``root_lin_vel_w`` (without a state estimator) nor any ``body_*`` field, so those
are optional (``None``). Each term declares the fields it reads with :func:`needs` (read
them back with :func:`required_fields`); a term that reads a missing field raises
:class:`~humimic.errors.ConfigError` naming the field, and deploy refuses a policy whose terms
need fields it cannot measure by checking :func:`missing_fields` up front.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Any, TypeVar

import torch

from humimic.errors import ConfigError

__all__ = [
    "ROBOT_FIELDS",
    "RobotFrame",
    "TermInput",
    "anchor_pos_w",
    "anchor_quat_w",
    "missing_fields",
    "needs",
    "reference_frame",
    "require",
    "required_fields",
]

F = TypeVar("F", bound=Callable[..., Any])
_REQUIRED: dict[Callable[..., Any], frozenset[str]] = {}


@dataclass(frozen=True, kw_only=True)
class RobotFrame:
    """The state of ``N`` robots (measured, or the reference from the MotionLibrary).

    Attributes:
        root_quat_w: ``[N, 4]`` root (pelvis / IMU body) orientation, wxyz, body → world.
        root_ang_vel_w: ``[N, 3]`` root angular velocity, world frame (rad/s).
        joint_pos: ``[N, J]`` joint positions, policy order (rad).
        joint_vel: ``[N, J]`` joint velocities (rad/s).
        root_pos_w: ``[N, 3]`` root origin (m); ``None`` when not measured.
        root_lin_vel_w: ``[N, 3]`` root linear velocity, world frame (m/s); ``None`` if unknown.
        body_pos_w: ``[N, B, 3]`` tracked body origins (m); ``None`` on a real robot.
        body_quat_w: ``[N, B, 4]`` tracked body orientations, wxyz; ``None`` on a real robot.
        body_lin_vel_w: ``[N, B, 3]`` (m/s); ``None`` on a real robot.
        body_ang_vel_w: ``[N, B, 3]`` (rad/s); ``None`` on a real robot.
    """

    root_quat_w: torch.Tensor
    root_ang_vel_w: torch.Tensor
    joint_pos: torch.Tensor
    joint_vel: torch.Tensor
    root_pos_w: torch.Tensor | None = None
    root_lin_vel_w: torch.Tensor | None = None
    body_pos_w: torch.Tensor | None = None
    body_quat_w: torch.Tensor | None = None
    body_lin_vel_w: torch.Tensor | None = None
    body_ang_vel_w: torch.Tensor | None = None

    @property
    def available(self) -> frozenset[str]:
        """Names of the fields that are set (not ``None``)."""
        return frozenset(f.name for f in fields(self) if getattr(self, f.name) is not None)


ROBOT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RobotFrame))
"""Field names of :class:`RobotFrame`."""


@dataclass(frozen=True, kw_only=True)
class TermInput:
    """Everything a tracking term reads for one policy step.

    Attributes:
        robot: measured state of the ``N`` robots.
        ref: the reference frame from the MotionLibrary (all fields set).
        last_action: ``[N, J]`` the latest policy output (unscaled): the observation input, and
            at reward time the action just applied.
        prev_action: ``[N, J]`` the action before ``last_action`` (for the action rate), or
            ``None``.
        default_joint_pos: ``[J]`` default pose (rad); actions and ``joint_pos_rel`` are
            offsets from it.
        anchor_index: index of the anchor body (torso) in the ``body_*`` arrays.
        ee_indices: indices of the end effectors (hands, feet) in the ``body_*`` arrays.
        foot_indices: indices of the feet in the ``body_*`` arrays (contacts allowed there).
        soft_joint_pos_limits: ``[J, 2]`` (lower, upper) soft position limits (rad), or ``None``.
        contact_force_w: ``[N, B, 3]`` net contact force on each tracked body (N), or ``None``.
        episode_time_s: ``[N]`` time since the episode started (s), or ``None``.
        motion_time_s: ``[N]`` time of ``ref`` in its clip (s), or ``None``.
        motion_length_s: ``[N]`` length of each env's clip (s), or ``None``.
        target_heading_w: ``[N, 3]`` unit horizontal target direction (task goal), or ``None``.
        target_speed: ``[N]`` target speed along ``target_heading_w`` (m/s), or ``None``.
        clip_one_hot: ``[N, C]`` one-hot of each env's clip (multi-clip conditioning), or
            ``None``.
    """

    robot: RobotFrame
    ref: RobotFrame
    last_action: torch.Tensor
    default_joint_pos: torch.Tensor
    prev_action: torch.Tensor | None = None
    anchor_index: int = 0
    ee_indices: tuple[int, ...] = ()
    foot_indices: tuple[int, ...] = ()
    soft_joint_pos_limits: torch.Tensor | None = None
    contact_force_w: torch.Tensor | None = None
    episode_time_s: torch.Tensor | None = None
    motion_time_s: torch.Tensor | None = None
    motion_length_s: torch.Tensor | None = None
    target_heading_w: torch.Tensor | None = None
    target_speed: torch.Tensor | None = None
    clip_one_hot: torch.Tensor | None = None

    @property
    def num_envs(self) -> int:
        """``N``."""
        return int(self.robot.joint_pos.shape[0])

    @property
    def available(self) -> frozenset[str]:
        """Dotted names of the set fields: ``robot.joint_pos``, ``ref.body_pos_w``, ..."""
        names = {f"robot.{n}" for n in self.robot.available}
        names |= {f"ref.{n}" for n in self.ref.available}
        for f in fields(self):
            if f.name not in ("robot", "ref") and getattr(self, f.name) is not None:
                names.add(f.name)
        return frozenset(names)


def missing_fields(needed: Iterable[str], inp: TermInput) -> list[str]:
    """The dotted field names in ``needed`` that ``inp`` does not have, sorted."""
    have = inp.available
    return sorted(n for n in needed if n not in have)


def require(inp: TermInput, field: str, term: str) -> torch.Tensor:
    """The tensor at dotted ``field`` (``"robot.body_pos_w"``), or :class:`ConfigError`.

    The message names the term and the field so a deploy refusal is actionable.
    """
    obj: object = inp
    for part in field.split("."):
        obj = getattr(obj, part)
    if obj is None:
        raise ConfigError(
            f"term {term!r} needs field {field!r}, which this TermInput does not have "
            f"(available: {', '.join(sorted(inp.available))})"
        )
    assert isinstance(obj, torch.Tensor)
    return obj


def needs(*field_names: str) -> Callable[[F], F]:
    """Decorator: record the dotted :class:`TermInput` fields a term reads; returns it unchanged."""

    def mark(fn: F) -> F:
        _REQUIRED[fn] = frozenset(field_names)
        return fn

    return mark


def required_fields(fn: Callable[..., Any]) -> frozenset[str]:
    """The fields a term declared with :func:`needs` (looks through ``functools.partial``).

    Raises:
        ConfigError: the function was never declared as a term.
    """
    while isinstance(fn, functools.partial):
        fn = fn.func
    try:
        return _REQUIRED[fn]
    except KeyError:
        name = getattr(fn, "__name__", repr(fn))
        raise ConfigError(f"{name} is not a declared term (decorate it with @needs)") from None


def anchor_pos_w(inp: TermInput, which: str, term: str) -> torch.Tensor:
    """``[N, 3]`` anchor body position of ``which`` (``"robot"`` or ``"ref"``), world (m)."""
    return require(inp, f"{which}.body_pos_w", term)[:, inp.anchor_index]


def anchor_quat_w(inp: TermInput, which: str, term: str) -> torch.Tensor:
    """``[N, 4]`` anchor body orientation of ``which`` (``"robot"`` or ``"ref"``), wxyz."""
    return require(inp, f"{which}.body_quat_w", term)[:, inp.anchor_index]


def reference_frame(m: Any) -> RobotFrame:
    """A :class:`RobotFrame` with every field of a sampled reference
    (:class:`~humimic.envs.motion_library.MotionState`); training and deploy both use it."""
    return RobotFrame(
        root_quat_w=m.root_quat_w,
        root_ang_vel_w=m.root_ang_vel_w,
        joint_pos=m.joint_pos,
        joint_vel=m.joint_vel,
        root_pos_w=m.root_pos_w,
        root_lin_vel_w=m.root_lin_vel_w,
        body_pos_w=m.body_pos_w,
        body_quat_w=m.body_quat_w,
        body_lin_vel_w=m.body_lin_vel_w,
        body_ang_vel_w=m.body_ang_vel_w,
    )
