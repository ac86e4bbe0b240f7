"""Robot-side motion CSV, the layout of Unitree's LAFAN1 retarget (``LAFAN1_Retargeting_Dataset``).

One row per frame, comma-separated, no header::

    x, y, z, qx, qy, qz, qw, q_0, ..., q_{J-1}

root position (m, world, Z up), root orientation as a quaternion in **xyzw** order (the file's
order; humimic stores wxyz, converted here with :func:`humimic.rotations.xyzw_to_wxyz`), then
the ``J`` joint angles (rad) in the robot's policy order (29 for the G1). Frames are evenly
spaced at ``fps`` (30 for the Unitree files).

Every malformed input raises :class:`~humimic.errors.RetargetError` naming the file and the
1-based line.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from humimic.errors import RetargetError
from humimic.io import atomic_path
from humimic.motion import Motion
from humimic.robots.spec import RobotSpec
from humimic.rotations import wxyz_to_xyzw, xyzw_to_wxyz

logger = logging.getLogger(__name__)

FloatArray = NDArray[np.float64]

DEFAULT_FPS = 30.0
#: Largest accepted ``| |q| - 1 |`` of a root quaternion (files store ~6 significant digits).
QUAT_NORM_TOL = 1e-3
#: A joint angle may exceed the robot's limits by this much (rad) before it is an error.
JOINT_LIMIT_TOL_RAD = 0.01


def _layout(num_joints: int) -> str:
    return (
        f"{7 + num_joints} values (3 root position + 4 root quaternion xyzw + {num_joints} joints)"
    )


def read_robot_csv(
    path: str | os.PathLike[str], robot: RobotSpec, fps: float = DEFAULT_FPS
) -> Motion:
    """Read a robot motion CSV into a :class:`~humimic.motion.Motion` (forward kinematics by
    :meth:`Motion.from_kinematics`; root quaternions normalised).

    Args:
        path: the CSV file.
        robot: the robot whose joint order and limits the columns follow.
        fps: frame rate of the rows (Hz).

    Raises:
        RetargetError: missing or empty file, a row with the wrong number of values, a value
            that is not a finite number, a root quaternion whose norm is off 1 by more than
            :data:`QUAT_NORM_TOL`, or a joint angle beyond the robot's limits by more than
            :data:`JOINT_LIMIT_TOL_RAD`; the message names the file and the line.
    """
    path = Path(path)
    source = str(path)
    if not (math.isfinite(fps) and fps > 0.0):
        raise RetargetError(f"{source}: fps: expected a finite frame rate > 0, got {fps}")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RetargetError(f"robot CSV file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise RetargetError(f"cannot read robot CSV file {path}: {e}") from None

    num_joints = robot.num_joints
    width = 7 + num_joints
    labels = ["root x", "root y", "root z", "root qx", "root qy", "root qz", "root qw"]
    labels += list(robot.joint_names)
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for line_no, line in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(",")
        if len(parts) != width:
            raise RetargetError(
                f"{source}: line {line_no}: expected {_layout(num_joints)}, got {len(parts)}"
            )
        row: list[float] = []
        for c, tok in enumerate(parts):
            try:
                v = float(tok)
            except ValueError:
                v = math.nan
            if not math.isfinite(v):
                raise RetargetError(
                    f"{source}: line {line_no}: column {c + 1} ({labels[c]}) is "
                    f"{tok.strip()!r}; expected a finite number"
                )
            row.append(v)
        rows.append(row)
        line_numbers.append(line_no)
    if not rows:
        raise RetargetError(
            f"{source}: empty file; expected one row per frame of {_layout(num_joints)}"
        )
    values = np.array(rows, dtype=np.float64)  # [T, 7 + J]
    quat_xyzw = values[:, 3:7]
    joint_pos = values[:, 7:]

    norm = np.linalg.norm(quat_xyzw, axis=-1)
    bad = np.flatnonzero(np.abs(norm - 1.0) > QUAT_NORM_TOL)
    if bad.size:
        f = int(bad[0])
        raise RetargetError(
            f"{source}: line {line_numbers[f]}: root quaternion (columns 4-7, xyzw) has norm "
            f"{norm[f]:.6g}; expected a unit quaternion (within {QUAT_NORM_TOL})"
        )

    lower = np.asarray(robot.joint_lower_rad) - JOINT_LIMIT_TOL_RAD
    upper = np.asarray(robot.joint_upper_rad) + JOINT_LIMIT_TOL_RAD
    outside = (joint_pos < lower) | (joint_pos > upper)
    if outside.any():
        f, j = (int(i) for i in np.argwhere(outside)[0])
        raise RetargetError(
            f"{source}: line {line_numbers[f]}: joint {robot.joint_names[j]} (column {8 + j}) = "
            f"{joint_pos[f, j]:.6g} rad; expected within its limits "
            f"[{robot.joint_lower_rad[j]:.6g}, {robot.joint_upper_rad[j]:.6g}] "
            f"(± {JOINT_LIMIT_TOL_RAD})"
        )

    logger.debug("read %s: %d frames at %g fps", source, len(rows), fps)
    return Motion.from_kinematics(
        robot,
        fps,
        root_pos_w=values[:, 0:3],
        root_quat_w=xyzw_to_wxyz(quat_xyzw),
        joint_pos=joint_pos,
        source=source,
        settings={"reader": "robot_csv", "fps": float(fps)},
    )


def write_robot_csv(motion: Motion, path: str | os.PathLike[str]) -> Path:
    """Write ``motion`` as a robot CSV (root position, root quaternion xyzw, joint angles).

    Values are written with ``repr`` (shortest round-tripping float text), so
    :func:`read_robot_csv` gives back the same numbers. The write is atomic: the file appears
    whole or not at all. The frame rate is not stored; pass it to :func:`read_robot_csv`.
    """
    path = Path(path)
    table = np.concatenate(
        [motion.root_pos_w, wxyz_to_xyzw(motion.root_quat_w), motion.joint_pos], axis=1
    )
    text = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in table)
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    logger.debug("wrote %s: %d frames", path, motion.num_frames)
    return path


__all__ = ["DEFAULT_FPS", "read_robot_csv", "write_robot_csv"]
