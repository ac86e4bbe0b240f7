"""DeepMimic reader: a character file plus a reference-motion file.

Two JSON files (``xbpeng/DeepMimic``, ``data/characters`` and ``data/motions``):

* The **character** (``humanoid3d.txt``) lists ``Skeleton.Joints`` in order, each with a
  ``Name``, a ``Type`` (``none`` for the root, ``spherical``, ``revolute``, ``fixed``), a
  ``Parent`` index and an ``AttachX/Y/Z`` offset from its parent in metres.
* The **motion** (``humanoid3d_walk.txt``) is ``{"Loop": "wrap", "Frames": [[...], ...]}``.
  Each frame is ``dt`` (seconds to the next frame; 0 on the last one), then the joints'
  parameters in joint order: the root's position ``x y z`` (m) and rotation ``w x y z``;
  a spherical joint's quaternion ``w x y z``; a revolute joint's angle (rad) about its local
  Z axis; nothing for a fixed joint. The number of values per frame is derived from the
  character (44 for ``humanoid3d``), never assumed.

Conventions of the result (:class:`DeepMimicClip`) follow :mod:`humimic.retarget.bvh`: local
rotations ``[T, J, 4]`` (wxyz, normalised) and local translations ``[T, J, 3]`` (the Attach
offset; the root's is its position), in the **file's axes** (Y up, metres), with
``global = parent_global · [R | t]`` (:func:`humimic.retarget.bvh.forward_kinematics`).

Axes. A DeepMimic character stands with Y up and faces **+X**; its right hip is attached at
``+Z``, so its left is ``-Z``. humimic's world is Z up, X forward, Y left. :func:`to_z_up` maps
file ``+X`` (forward) → ``+X``, file ``-Z`` (left) → ``+Y``, file ``+Y`` (up) → ``+Z``:
``(x, y, z) → (x, -z, y)``, a +90° rotation about X. Walking along file +X is walking along
humimic +X, and the identity rotation still means "facing +X", as for the robot. This is the
same kind of change of basis as the BVH one (``p → M p``, ``R → M R Mᵀ``) with a different
``M``, because a BVH character faces +Z instead of +X.

Every malformed input raises :class:`~humimic.errors.RetargetError` naming the file, the
frame (motion) or joint (character), and the field.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np
from numpy.typing import ArrayLike, NDArray

from humimic.errors import RetargetError, unknown_name
from humimic.retarget.bvh import forward_kinematics
from humimic.rotations import quat_change_basis

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Values per frame of each joint type; the root (parent -1) always has 7 (position + quaternion).
JOINT_TYPE_SIZES: dict[str, int] = {"none": 0, "fixed": 0, "revolute": 1, "spherical": 4}
ROOT_SIZE = 7
_ROOT_LABELS: tuple[str, ...] = ("pos_x", "pos_y", "pos_z", "rot_w", "rot_x", "rot_y", "rot_z")
#: |q| may differ from 1 by this much before a warning (the backflip's differs by up to 0.118).
QUAT_NORM_WARN_TOL = 1e-3
_ZERO_NORM = 1e-9

#: ``v_z_up = Z_UP_FROM_DEEPMIMIC @ v_file``: rows new x = old x, new y = -old z, new z = old y.
#: A +90° rotation about X (det = +1).
Z_UP_FROM_DEEPMIMIC: FloatArray = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [0.0, 1.0, 0.0]])
_Q_Z_UP_FROM_DEEPMIMIC: FloatArray = np.array([math.sqrt(0.5), math.sqrt(0.5), 0.0, 0.0])


def _readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


# --------------------------------------------------------------------------------------------
# Data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class DeepMimicSkeleton:
    """The character's ``Skeleton.Joints`` (parents always before children).

    Attributes:
        source: the character file name used in messages.
        joint_names: ``J`` names in file order.
        parents: ``[J]`` parent index, ``-1`` for the root (joint 0).
        offsets: ``[J, 3]`` Attach offset from the parent, metres, file axes (Y up).
        joint_types: ``J`` types, keys of :data:`JOINT_TYPE_SIZES`.
    """

    source: str
    joint_names: tuple[str, ...]
    parents: IntArray
    offsets: FloatArray
    joint_types: tuple[str, ...]

    @property
    def num_joints(self) -> int:
        """Number of joints ``J`` (fixed ones included)."""
        return len(self.joint_names)

    def joint_size(self, j: int) -> int:
        """Number of motion values of joint ``j``."""
        return ROOT_SIZE if self.parents[j] < 0 else JOINT_TYPE_SIZES[self.joint_types[j]]

    @property
    def num_values(self) -> int:
        """Values per frame ``V``: ``dt`` plus every joint's parameters (44 for humanoid3d)."""
        return 1 + sum(self.joint_size(j) for j in range(self.num_joints))

    @property
    def value_labels(self) -> tuple[str, ...]:
        """``V`` labels of a frame's values, e.g. ``"dt"``, ``"root.pos_x"``, ``"chest.w"``,
        ``"right_knee.angle"``."""
        labels = ["dt"]
        for j, name in enumerate(self.joint_names):
            if self.parents[j] < 0:
                parts = _ROOT_LABELS
            else:
                parts = {0: (), 1: ("angle",), 4: ("w", "x", "y", "z")}[self.joint_size(j)]
            labels += [f"{name}.{p}" for p in parts]
        return tuple(labels)

    def describe_values(self) -> str:
        """``"dt + root 7 + chest 4 + ..."``: the layout of a frame, for error messages."""
        sizes = [f"{n} {self.joint_size(j)}" for j, n in enumerate(self.joint_names)]
        return " + ".join(["dt 1", *(s for s in sizes if not s.endswith(" 0"))])

    def joint_index(self, name: str) -> int:
        """Index of joint ``name``; the error lists the valid names."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise RetargetError(unknown_name("DeepMimic joint", name, self.joint_names)) from None


@dataclass(frozen=True, eq=False)
class DeepMimicClip:
    """A DeepMimic motion on its character.

    Attributes:
        source: the motion file name used in messages.
        skeleton: the character.
        loop: the file's ``Loop`` value (``"wrap"``, ``"none"``, ...).
        dt_s: ``[T]`` seconds from each frame to the next (the last is 0 in DeepMimic files).
        values: ``[T, V]`` raw frame values as in the file (quaternions not normalised).
        local_rot: ``[T, J, 4]`` wxyz unit local rotations, file axes (identity for fixed joints;
            revolute ``θ`` → rotation by ``θ`` about local Z).
        local_pos: ``[T, J, 3]`` local translations, metres, file axes: the Attach offset, or
            for the root its position.
    """

    source: str
    skeleton: DeepMimicSkeleton
    loop: str
    dt_s: FloatArray
    values: FloatArray
    local_rot: FloatArray
    local_pos: FloatArray

    @property
    def num_frames(self) -> int:
        """Number of frames ``T``."""
        return int(self.values.shape[0])

    @property
    def times_s(self) -> FloatArray:
        """``[T]`` time of each frame (s), the first at 0: ``t_k = Σ_{i<k} dt_i``."""
        return np.concatenate([[0.0], np.cumsum(self.dt_s[:-1])])

    @property
    def duration_s(self) -> float:
        """Time of the last frame (s)."""
        return float(self.times_s[-1])

    @property
    def fps(self) -> float:
        """Mean frame rate ``(T - 1) / duration_s`` (DeepMimic clips have a uniform ``dt``)."""
        return (self.num_frames - 1) / self.duration_s if self.num_frames > 1 else math.inf

    def global_transforms(self) -> tuple[FloatArray, FloatArray]:
        """Forward kinematics in the file's frame (Y up): ``(pos [T, J, 3] m, quat [T, J, 4])``."""
        return forward_kinematics(self.skeleton.parents, self.local_rot, self.local_pos)

    def global_transforms_z_up(self) -> tuple[FloatArray, FloatArray]:
        """Forward kinematics in humimic's world (Z up, X forward, Y left); see :func:`to_z_up`."""
        return to_z_up(*self.global_transforms())


# --------------------------------------------------------------------------------------------
# Axes
# --------------------------------------------------------------------------------------------


def to_z_up_pos(pos_y_up: ArrayLike) -> FloatArray:
    """Points or vectors ``[..., 3]`` from DeepMimic axes to humimic's: ``(x, y, z) → (x, -z, y)``.

    DeepMimic: Y up, the character faces +X, its left is -Z. humimic: X forward, Y left, Z up.
    """
    return np.asarray(pos_y_up, dtype=np.float64) @ Z_UP_FROM_DEEPMIMIC.T


def to_z_up_quat(quat_y_up: ArrayLike) -> FloatArray:
    """Rotations ``[..., 4]`` (wxyz) re-expressed in humimic axes: ``M R Mᵀ``.

    As in :func:`humimic.retarget.bvh.to_z_up_quat`, body frames change basis too: the
    identity stays the identity, and body-frame vectors are mapped with :func:`to_z_up_pos`.
    """
    q = np.asarray(quat_y_up, dtype=np.float64)
    return quat_change_basis(q, _Q_Z_UP_FROM_DEEPMIMIC)


def to_z_up(pos_y_up: ArrayLike, quat_y_up: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """``(pos [..., 3], quat [..., 4])`` from DeepMimic Y-up to humimic Z-up (module docstring)."""
    return to_z_up_pos(pos_y_up), to_z_up_quat(quat_y_up)


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _load_json(path: str | os.PathLike[str], what: str) -> tuple[Any, str]:
    path = Path(path)
    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RetargetError(f"DeepMimic {what} file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RetargetError(f"cannot read DeepMimic {what} file {path}: {e}") from None
    try:
        return json.loads(text), source
    except json.JSONDecodeError as e:
        raise RetargetError(
            f"{source}: line {e.lineno}: not valid JSON ({e.msg}); expected a DeepMimic {what} file"
        ) from None


def _is_number(x: object) -> TypeGuard[int | float]:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def read_deepmimic_character(path: str | os.PathLike[str]) -> DeepMimicSkeleton:
    """Read ``Skeleton.Joints`` of a DeepMimic character file (``BodyDefs`` etc. are ignored).

    Raises:
        RetargetError: missing file, not JSON, or a joint with a missing/bad field, an unknown
            type, a parent after it, or a non-zero ``AttachTheta`` (not supported); the message
            names the file, the joint and the field.
    """
    data, source = _load_json(path, "character")
    joints = data.get("Skeleton", {}).get("Joints") if isinstance(data, dict) else None
    if not isinstance(joints, list) or not joints:
        raise RetargetError(f"{source}: expected a non-empty list 'Skeleton.Joints'")
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    types: list[str] = []
    for j, joint in enumerate(joints):
        where = f"{source}: joint {j}"
        if not isinstance(joint, dict):
            raise RetargetError(f"{where}: expected an object, got {type(joint).__name__}")
        name = joint.get("Name")
        if not isinstance(name, str) or not name or name in names:
            raise RetargetError(f"{where}: field 'Name': expected a unique name, got {name!r}")
        where = f"{source}: joint {j} ({name!r})"
        if "ID" in joint and joint["ID"] != j:
            raise RetargetError(
                f"{where}: field 'ID': expected {j} (file order), got {joint['ID']}"
            )
        parent = joint.get("Parent")
        if not (isinstance(parent, int) and not isinstance(parent, bool) and -1 <= parent < j):
            raise RetargetError(
                f"{where}: field 'Parent': expected -1 or the index of an earlier joint, "
                f"got {parent!r}"
            )
        if (parent == -1) != (j == 0):
            raise RetargetError(
                f"{where}: field 'Parent': expected exactly one root, joint 0 (Parent -1), "
                f"got {parent}"
            )
        jtype = joint.get("Type")
        if jtype not in JOINT_TYPE_SIZES:
            valid = ", ".join(JOINT_TYPE_SIZES)
            raise RetargetError(
                f"{where}: field 'Type': unknown joint type {jtype!r}; valid: {valid}"
            )
        if j == 0 and jtype != "none":
            raise RetargetError(
                f"{where}: field 'Type': expected 'none' for the root, got {jtype!r}"
            )
        offset = []
        for key in (
            "AttachX",
            "AttachY",
            "AttachZ",
            "AttachThetaX",
            "AttachThetaY",
            "AttachThetaZ",
        ):
            v = joint.get(key, 0.0 if "Theta" in key else None)
            if not (_is_number(v) and math.isfinite(v)):
                raise RetargetError(f"{where}: field {key!r}: expected a finite number, got {v!r}")
            if "Theta" in key and v != 0:
                raise RetargetError(f"{where}: field {key!r}: {v}; only AttachTheta 0 is supported")
            offset.append(float(v))
        names.append(name)
        parents.append(parent)
        offsets.append(offset[:3])
        types.append(jtype)
    return DeepMimicSkeleton(
        source=source,
        joint_names=tuple(names),
        parents=_readonly(np.array(parents, dtype=np.int64)),
        offsets=_readonly(np.array(offsets, dtype=np.float64)),
        joint_types=tuple(types),
    )


def read_deepmimic(
    motion_path: str | os.PathLike[str], character_path: str | os.PathLike[str]
) -> DeepMimicClip:
    """Read a DeepMimic motion on its character; quaternions are normalised.

    A warning is logged when some ``|q|`` differs from 1 by more than
    :data:`QUAT_NORM_WARN_TOL` (DeepMimic normalises them on load too).

    Raises:
        RetargetError: the message names the file, the frame and the field: not JSON, no
            ``Frames`` list, a frame with the wrong number of values (the character's
            :attr:`~DeepMimicSkeleton.num_values`), a non-number or non-finite value, a negative
            ``dt`` (or 0 before the last frame), a zero-norm quaternion.
    """
    skeleton = read_deepmimic_character(character_path)
    data, source = _load_json(motion_path, "motion")
    if not isinstance(data, dict) or "Frames" not in data:
        raise RetargetError(
            f"{source}: field 'Frames': missing; expected an object "
            '{"Loop": ..., "Frames": [[...], ...]}'
        )
    frames = data["Frames"]
    if not isinstance(frames, list) or not frames:
        raise RetargetError(f"{source}: field 'Frames': expected a non-empty list of frames")
    values = _frame_values(frames, skeleton, source)
    dt_s = values[:, 0]
    bad = np.flatnonzero((dt_s < 0.0) | ((dt_s == 0.0) & (np.arange(len(dt_s)) < len(dt_s) - 1)))
    if bad.size:
        f = int(bad[0])
        raise RetargetError(
            f"{source}: frame {f}: field 'dt' (value 1 of {skeleton.num_values}) is {dt_s[f]}; "
            "expected > 0 (only the last frame may have dt 0)"
        )
    local_rot, local_pos = _local_transforms(skeleton, values, source)
    clip = DeepMimicClip(
        source=source,
        skeleton=skeleton,
        loop=str(data.get("Loop", "none")),
        dt_s=_readonly(dt_s.copy()),
        values=_readonly(values),
        local_rot=_readonly(local_rot),
        local_pos=_readonly(local_pos),
    )
    logger.debug(
        "parsed %s: %d joints, %d values, %d frames, %.3f s",
        source,
        skeleton.num_joints,
        skeleton.num_values,
        clip.num_frames,
        clip.duration_s,
    )
    return clip


def _frame_values(frames: list[Any], skeleton: DeepMimicSkeleton, source: str) -> FloatArray:
    """``[T, V]`` float array of the frames, checked for count, type and finiteness."""
    num_values = skeleton.num_values
    labels = skeleton.value_labels
    out = np.empty((len(frames), num_values))
    for f, frame in enumerate(frames):
        if not isinstance(frame, list) or len(frame) != num_values:
            got = len(frame) if isinstance(frame, list) else type(frame).__name__
            raise RetargetError(
                f"{source}: frame {f}: expected {num_values} values "
                f"({skeleton.describe_values()}), got {got}"
            )
        for c, v in enumerate(frame):
            if not _is_number(v) or not math.isfinite(v):
                raise RetargetError(
                    f"{source}: frame {f}: field {labels[c]!r} (value {c + 1} of {num_values}) "
                    f"is {v!r}; expected a finite number"
                )
        out[f] = frame
    return out


def _local_transforms(
    skeleton: DeepMimicSkeleton, values: FloatArray, source: str
) -> tuple[FloatArray, FloatArray]:
    """Local rotations ``[T, J, 4]`` and translations ``[T, J, 3]`` from frame values ``[T, V]``."""
    num_frames, num_joints = values.shape[0], skeleton.num_joints
    local_rot = np.zeros((num_frames, num_joints, 4))
    local_rot[..., 0] = 1.0
    local_pos = np.broadcast_to(skeleton.offsets, (num_frames, num_joints, 3)).copy()
    worst: tuple[float, int, str] = (0.0, -1, "")  # (|1 - |q||, frame, joint)
    num_off = 0
    column = 1
    for j, name in enumerate(skeleton.joint_names):
        size = skeleton.joint_size(j)
        block = values[:, column : column + size]
        if skeleton.parents[j] < 0:
            local_pos[:, j] = block[:, :3]
            quat_column, q = column + 3, block[:, 3:]
        elif size == 4:
            quat_column, q = column, block
        elif size == 1:  # revolute: θ about local Z
            half = 0.5 * block[:, 0]
            local_rot[:, j, 0] = np.cos(half)
            local_rot[:, j, 3] = np.sin(half)
            q = None
        else:
            q = None
        if q is not None:
            norm = np.linalg.norm(q, axis=-1)
            zero = np.flatnonzero(norm < _ZERO_NORM)
            if zero.size:
                raise RetargetError(
                    f"{source}: frame {int(zero[0])}: field {name!r} (values {quat_column + 1}–"
                    f"{quat_column + 4} of {skeleton.num_values}): quaternion has zero norm; "
                    "expected a rotation"
                )
            dev = np.abs(norm - 1.0)
            num_off += int(np.count_nonzero(dev > QUAT_NORM_WARN_TOL))
            f = int(np.argmax(dev))
            if dev[f] > worst[0]:
                worst = (float(dev[f]), f, name)
            local_rot[:, j] = q / norm[:, None]
        column += size
    if num_off:
        logger.warning(
            "%s: %d quaternions have |q| off 1 by more than %g (worst: %s, frame %d, by %.4f); "
            "normalised",
            source,
            num_off,
            QUAT_NORM_WARN_TOL,
            worst[2],
            worst[1],
            worst[0],
        )
    return local_rot, local_pos


__all__ = [
    "JOINT_TYPE_SIZES",
    "Z_UP_FROM_DEEPMIMIC",
    "DeepMimicClip",
    "DeepMimicSkeleton",
    "read_deepmimic",
    "read_deepmimic_character",
    "to_z_up",
    "to_z_up_pos",
    "to_z_up_quat",
]
