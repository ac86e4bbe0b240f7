"""The Motion clip: a robot-side reference trajectory at a fixed frame rate, saved as ``.npz``.

Every array is indexed ``[frame, ...]``; bodies and joints by name (``body_names``,
``joint_names``), never by simulator order. Quaternions are ``wxyz``, positions in
metres, velocities in the world frame (``_w``).
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from humimic.errors import MotionError
from humimic.io import atomic_path
from humimic.rotations import (
    angular_velocity_w,
    linear_velocity,
    quat_normalize,
    quat_slerp,
)

SCHEMA_VERSION = 1

# array field → (trailing shape, where "J"/"B"/"F" are the joint/body/foot counts)
_ARRAY_FIELDS: dict[str, tuple[str | int, ...]] = {
    "joint_pos": ("J",),
    "joint_vel": ("J",),
    "root_pos_w": (3,),
    "root_quat_w": (4,),
    "root_lin_vel_w": (3,),
    "root_ang_vel_w": (3,),
    "body_pos_w": ("B", 3),
    "body_quat_w": ("B", 4),
    "body_lin_vel_w": ("B", 3),
    "body_ang_vel_w": ("B", 3),
    "foot_contact": ("F",),
}
_NAME_FIELDS = ("joint_names", "body_names", "foot_names")
_QUAT_FIELDS = ("root_quat_w", "body_quat_w")


@dataclass(frozen=True)
class MotionMeta:
    """Where a clip comes from: robot name, source file, the settings that made it."""

    robot: str
    source: str = ""
    settings: dict[str, Any] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class MotionFrame:
    """A reference sampled at ``N`` times (leading axis ``N``); fields as in :class:`Motion`."""

    joint_pos: np.ndarray  # [N, J]
    joint_vel: np.ndarray  # [N, J]
    root_pos_w: np.ndarray  # [N, 3]
    root_quat_w: np.ndarray  # [N, 4]
    root_lin_vel_w: np.ndarray  # [N, 3]
    root_ang_vel_w: np.ndarray  # [N, 3]
    body_pos_w: np.ndarray  # [N, B, 3]
    body_quat_w: np.ndarray  # [N, B, 4]
    body_lin_vel_w: np.ndarray  # [N, B, 3]
    body_ang_vel_w: np.ndarray  # [N, B, 3]
    foot_contact: np.ndarray  # [N, F] bool (nearest frame)


@dataclass(frozen=True, eq=False)
class Motion:
    """A robot motion clip (see module docstring). Construct through :meth:`from_kinematics` or
    :meth:`load`; the constructor validates shapes, finiteness and quaternion norms."""

    fps: float
    joint_names: tuple[str, ...]
    body_names: tuple[str, ...]
    foot_names: tuple[str, ...]
    joint_pos: np.ndarray  # [T, J] rad
    joint_vel: np.ndarray  # [T, J] rad/s
    root_pos_w: np.ndarray  # [T, 3] m
    root_quat_w: np.ndarray  # [T, 4] wxyz
    root_lin_vel_w: np.ndarray  # [T, 3] m/s
    root_ang_vel_w: np.ndarray  # [T, 3] rad/s
    body_pos_w: np.ndarray  # [T, B, 3] m
    body_quat_w: np.ndarray  # [T, B, 4] wxyz
    body_lin_vel_w: np.ndarray  # [T, B, 3] m/s
    body_ang_vel_w: np.ndarray  # [T, B, 3] rad/s
    foot_contact: np.ndarray  # [T, F] bool
    meta: MotionMeta

    def __post_init__(self) -> None:
        self._validate("<in memory>")

    # -- properties -----------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.joint_pos.shape[0])

    @property
    def dt_s(self) -> float:
        return 1.0 / self.fps

    @property
    def duration_s(self) -> float:
        """Time of the last frame (the first is at 0)."""
        return (self.num_frames - 1) / self.fps

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Motion):
            return NotImplemented
        return (
            self.fps == other.fps
            and all(getattr(self, n) == getattr(other, n) for n in _NAME_FIELDS)
            and self.meta == other.meta
            and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in _ARRAY_FIELDS)
        )

    __hash__ = object.__hash__

    # -- validation -------------------------------------------------------------------------
    def _validate(self, where: str) -> None:
        def fail(field_name: str, msg: str) -> MotionError:
            return MotionError(f"{where}: field {field_name!r}: {msg}")

        if not (np.isfinite(self.fps) and self.fps > 0):
            raise fail("fps", f"expected a positive frame rate, got {self.fps}")
        if self.meta.schema_version != SCHEMA_VERSION:
            raise fail(
                "schema_version",
                f"expected {SCHEMA_VERSION}, got {self.meta.schema_version} "
                "(re-create the clip with this version of humimic)",
            )
        sizes = {"J": len(self.joint_names), "B": len(self.body_names), "F": len(self.foot_names)}
        for names_field in _NAME_FIELDS:
            names = getattr(self, names_field)
            if len(set(names)) != len(names):
                raise fail(names_field, f"duplicate names in {list(names)}")
        num_frames = self.joint_pos.shape[0] if self.joint_pos.ndim >= 1 else -1
        if num_frames < 1:
            raise fail("joint_pos", "expected at least one frame")
        for name, trailing in _ARRAY_FIELDS.items():
            arr = getattr(self, name)
            expected = (num_frames, *(sizes[d] if isinstance(d, str) else d for d in trailing))
            if arr.shape != expected:
                dims = ", ".join(["T", *map(str, trailing)])
                raise fail(name, f"expected shape {expected} [{dims}], got {arr.shape}")
            if arr.dtype != bool and not np.all(np.isfinite(arr)):
                bad = np.argwhere(~np.isfinite(arr))[0]
                raise fail(name, f"non-finite value {arr[tuple(bad)]} at frame {bad[0]}")
        for name in _QUAT_FIELDS:
            norm = np.linalg.norm(getattr(self, name), axis=-1)
            if np.any(np.abs(norm - 1.0) > 1e-3):
                frame = int(np.argwhere(np.abs(norm - 1.0) > 1e-3)[0][0])
                raise fail(name, f"quaternion not unit at frame {frame} (|q| = {norm.flat[0]:.4f})")

    def check_robot(self, robot: Any, where: str = "<in memory>") -> None:
        """Refuse a clip whose names do not match ``robot`` (a :class:`RobotSpec`)."""
        if self.meta.robot != robot.name:
            raise MotionError(
                f"{where}: field 'robot': clip is for {self.meta.robot!r}, expected {robot.name!r}"
            )
        if tuple(self.joint_names) != tuple(robot.joint_names):
            unknown = [n for n in self.joint_names if n not in robot.joint_names]
            detail = f"unknown joints {unknown}" if unknown else "different order or count"
            raise MotionError(
                f"{where}: field 'joint_names': {detail}; expected the {robot.name} joints in "
                f"policy order: {list(robot.joint_names)}"
            )
        valid_bodies = set(robot.tracked_bodies)
        unknown_bodies = [b for b in self.body_names if b not in valid_bodies]
        if unknown_bodies:
            raise MotionError(
                f"{where}: field 'body_names': unknown bodies {unknown_bodies}; "
                f"valid: {sorted(valid_bodies)}"
            )
        feet = [f.name for f in robot.feet]
        if list(self.foot_names) != feet:
            raise MotionError(
                f"{where}: field 'foot_names': expected {feet}, got {list(self.foot_names)}"
            )

    # -- I/O ---------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the clip to ``path`` (``.npz``) atomically: whole file or nothing."""
        path = Path(path)
        if path.suffix != ".npz":
            raise MotionError(f"{path}: a motion clip must be saved as .npz")
        arrays: dict[str, np.ndarray] = {n: getattr(self, n) for n in _ARRAY_FIELDS}
        for n in _NAME_FIELDS:
            arrays[n] = np.array(getattr(self, n), dtype=np.str_)
        arrays["fps"] = np.array(self.fps, dtype=np.float64)
        meta = {
            "robot": self.meta.robot,
            "source": self.meta.source,
            "settings": self.meta.settings,
            "schema_version": self.meta.schema_version,
        }
        arrays["meta_json"] = np.array(json.dumps(meta, sort_keys=True, default=str))
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str], robot: Any | None = None) -> Motion:
        """Read and validate a clip; with ``robot``, also check names against it.

        Raises:
            MotionError: naming the file and the field that is wrong.
        """
        path = Path(path)
        if not path.is_file():
            raise MotionError(f"{path}: no such motion file")
        try:
            with np.load(path, allow_pickle=False) as npz:
                data = {k: npz[k] for k in npz.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise MotionError(f"{path}: not a readable .npz motion clip ({exc})") from None
        missing = [k for k in (*_ARRAY_FIELDS, *_NAME_FIELDS, "fps", "meta_json") if k not in data]
        if missing:
            raise MotionError(f"{path}: missing fields {missing}")
        try:
            meta_raw = json.loads(str(data["meta_json"]))
            meta = MotionMeta(
                robot=str(meta_raw["robot"]),
                source=str(meta_raw.get("source", "")),
                settings=dict(meta_raw.get("settings", {})),
                schema_version=int(meta_raw["schema_version"]),
            )
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise MotionError(f"{path}: field 'meta_json': malformed ({exc})") from None
        kwargs: dict[str, Any] = {
            n: tuple(str(x) for x in data[n].reshape(-1)) for n in _NAME_FIELDS
        }
        for n in _ARRAY_FIELDS:
            kwargs[n] = data[n].astype(bool if n == "foot_contact" else np.float64)
        try:
            motion = cls(fps=float(data["fps"]), meta=meta, **kwargs)
        except MotionError as exc:
            raise MotionError(str(exc).replace("<in memory>", str(path), 1)) from None
        if robot is not None:
            motion.check_robot(robot, str(path))
        return motion

    # -- sampling ----------------------------------------------------------------------------
    def sample(self, t_s: np.ndarray | float) -> MotionFrame:
        """The reference at times ``t_s`` (s, clipped to ``[0, duration_s]``), shape ``[N]``.

        Positions, velocities and joint angles are interpolated linearly, quaternions by slerp,
        contacts taken from the nearest frame. At frame times the frames come back exactly.
        """
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        u = np.clip(t * self.fps, 0.0, self.num_frames - 1)
        i0 = np.floor(u).astype(np.int64)
        i1 = np.minimum(i0 + 1, self.num_frames - 1)
        a = u - i0

        def lerp(x: np.ndarray) -> np.ndarray:
            w = a.reshape(-1, *([1] * (x.ndim - 1)))
            return (1.0 - w) * x[i0] + w * x[i1]

        def slerp(q: np.ndarray) -> np.ndarray:
            w = a.reshape(-1, *([1] * (q.ndim - 2)))
            return quat_slerp(q[i0], q[i1], np.broadcast_to(w, q[i0].shape[:-1]))

        nearest = np.where(a < 0.5, i0, i1)
        return MotionFrame(
            joint_pos=lerp(self.joint_pos),
            joint_vel=lerp(self.joint_vel),
            root_pos_w=lerp(self.root_pos_w),
            root_quat_w=slerp(self.root_quat_w),
            root_lin_vel_w=lerp(self.root_lin_vel_w),
            root_ang_vel_w=lerp(self.root_ang_vel_w),
            body_pos_w=lerp(self.body_pos_w),
            body_quat_w=slerp(self.body_quat_w),
            body_lin_vel_w=lerp(self.body_lin_vel_w),
            body_ang_vel_w=lerp(self.body_ang_vel_w),
            foot_contact=self.foot_contact[nearest],
        )

    def resample(self, fps: float) -> Motion:
        """The same motion at another frame rate (frames at ``k / fps`` up to ``duration_s``)."""
        if not fps > 0:
            raise MotionError(f"field 'fps': expected a positive frame rate, got {fps}")
        n = int(np.floor(self.duration_s * fps + 1e-9)) + 1
        frame = self.sample(np.arange(n) / fps)
        values = {f.name: getattr(frame, f.name) for f in fields(MotionFrame)}
        settings = {**self.meta.settings, "resampled_from_fps": self.fps}
        return replace(self, fps=float(fps), meta=replace(self.meta, settings=settings), **values)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_kinematics(
        cls,
        robot: Any,
        fps: float,
        root_pos_w: np.ndarray,
        root_quat_w: np.ndarray,
        joint_pos: np.ndarray,
        *,
        source: str = "",
        settings: dict[str, Any] | None = None,
        foot_contact: np.ndarray | None = None,
    ) -> Motion:
        """Build a clip from root poses and joint angles by Pinocchio forward kinematics.

        Args:
            robot: the :class:`~humimic.robots.spec.RobotSpec`.
            fps: frame rate of the inputs (Hz).
            root_pos_w: ``[T, 3]`` m. root_quat_w: ``[T, 4]`` wxyz. joint_pos: ``[T, J]`` rad,
                policy order.
            foot_contact: ``[T, F]``; if omitted, a foot is in contact when its lowest sole
                corner is below 2 cm and the sole moves slower than 0.25 m/s.

        Velocities come from finite differences (central inside, one-sided at the ends);
        angular velocities on SO(3) (see :func:`humimic.rotations.angular_velocity_w`).
        """
        from humimic.robots.kinematics import ForwardKinematics

        root_pos_w = np.asarray(root_pos_w, dtype=np.float64)
        root_quat_w = quat_normalize(root_quat_w)
        joint_pos = np.asarray(joint_pos, dtype=np.float64)
        fk = ForwardKinematics(robot, robot.tracked_bodies)
        body_pos_w, body_quat_w = fk(root_pos_w, root_quat_w, joint_pos)
        dt = 1.0 / fps
        if foot_contact is None:
            foot_contact = _contacts_from_soles(robot, fk, root_pos_w, root_quat_w, joint_pos, dt)
        return cls(
            fps=float(fps),
            joint_names=tuple(robot.joint_names),
            body_names=tuple(robot.tracked_bodies),
            foot_names=tuple(f.name for f in robot.feet),
            joint_pos=joint_pos,
            joint_vel=linear_velocity(joint_pos, dt),
            root_pos_w=root_pos_w,
            root_quat_w=root_quat_w,
            root_lin_vel_w=linear_velocity(root_pos_w, dt),
            root_ang_vel_w=angular_velocity_w(root_quat_w, dt),
            body_pos_w=body_pos_w,
            body_quat_w=body_quat_w,
            body_lin_vel_w=linear_velocity(body_pos_w, dt),
            body_ang_vel_w=angular_velocity_w(body_quat_w, dt),
            foot_contact=np.asarray(foot_contact, dtype=bool),
            meta=MotionMeta(robot=robot.name, source=source, settings=dict(settings or {})),
        )


CONTACT_HEIGHT_M = 0.02
CONTACT_SPEED_M_S = 0.25


def _contacts_from_soles(
    robot: Any,
    fk: Any,
    root_pos_w: np.ndarray,
    root_quat_w: np.ndarray,
    joint_pos: np.ndarray,
    dt: float,
) -> np.ndarray:
    corners = fk.sole_corners_w(root_pos_w, root_quat_w, joint_pos)  # [T, F, 4, 3]
    lowest = corners[..., 2].min(axis=-1)  # [T, F]
    speed = np.linalg.norm(linear_velocity(corners.mean(axis=2), dt), axis=-1)
    return (lowest < CONTACT_HEIGHT_M) & (speed < CONTACT_SPEED_M_S)


__all__ = ["SCHEMA_VERSION", "Motion", "MotionFrame", "MotionMeta"]
