"""Keyframed robot motions: a small YAML of key poses at times, interpolated into a clip.

DeepMimic animated characters from artist keyframes; this is the robot-joint version.
Format (every field but ``keyframes`` optional)::

    name: wave_squat
    robot: g1
    fps: 50
    feet_on_ground: true        # shift the root vertically so the lowest sole corner is at z = 0
    keyframes:
      - t: 0.0                  # seconds, strictly increasing
        root_xy: [0.0, 0.0]     # m (default: previous key, or 0 0)
        root_yaw_deg: 0.0       # heading (default: previous key, or 0)
        joints: {}              # joint → rad; others keep the previous key (first: default)

Between keys every channel follows a cubic Hermite spline with Catmull–Rom tangents
(C¹: no velocity jumps), clamped to zero velocity at the first and last key.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from humimic.errors import RetargetError
from humimic.motion import Motion
from humimic.robots import get_robot
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.spec import RobotSpec


def hermite_catmull_rom(t_keys: np.ndarray, values: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Interpolate ``values [K, D]`` given at increasing ``t_keys [K]`` at times ``t [N]``.

    Tangents are Catmull–Rom ``(v[k+1] − v[k−1]) / (t[k+1] − t[k−1])`` inside and 0 at the ends,
    so the curve passes through every key with a continuous first derivative.
    """
    K = len(t_keys)
    if K == 1:
        return np.repeat(values[:1], len(t), axis=0)
    m = np.zeros_like(values)
    m[1:-1] = (values[2:] - values[:-2]) / (t_keys[2:] - t_keys[:-2])[:, None]
    t = np.clip(t, t_keys[0], t_keys[-1])
    k = np.clip(np.searchsorted(t_keys, t, side="right") - 1, 0, K - 2)
    h = (t_keys[k + 1] - t_keys[k])[:, None]
    s = ((t - t_keys[k]) / h[:, 0])[:, None]
    h00 = 2 * s**3 - 3 * s**2 + 1
    h10 = s**3 - 2 * s**2 + s
    h01 = -2 * s**3 + 3 * s**2
    h11 = s**3 - s**2
    return h00 * values[k] + h10 * h * m[k] + h01 * values[k + 1] + h11 * h * m[k + 1]


def _fail(path: str, where: str, msg: str) -> RetargetError:
    return RetargetError(f"{path}: {where}: {msg}")


def load_keyframes(path: str | os.PathLike[str], robot: RobotSpec | None = None) -> Motion:
    """Read a keyframe YAML and return the interpolated clip (see module docstring)."""
    path_s = str(path)
    try:
        doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RetargetError(f"{path_s}: no such keyframe file") from None
    except yaml.YAMLError as exc:
        raise RetargetError(f"{path_s}: not valid YAML ({exc})") from None
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("keyframes"), list)
        or not doc["keyframes"]
    ):
        raise _fail(path_s, "field 'keyframes'", "expected a non-empty list of key poses")
    robot = robot or get_robot(str(doc.get("robot", "g1")))
    fps = float(doc.get("fps", 50))
    if not (math.isfinite(fps) and fps > 0):
        raise _fail(path_s, "field 'fps'", f"expected a positive frame rate, got {fps}")

    times: list[float] = []
    joints: list[np.ndarray] = []
    roots: list[np.ndarray] = []
    q = np.array(robot.default_joint_pos_rad)
    root = np.zeros(3)  # x, y, yaw (rad)
    for i, key in enumerate(doc["keyframes"]):
        where = f"keyframe {i}"
        if not isinstance(key, dict) or "t" not in key:
            raise _fail(path_s, where, "expected a mapping with a time 't' (s)")
        t = _number(key["t"], path_s, f"{where} field 't'")
        if times and t <= times[-1]:
            raise _fail(
                path_s, f"{where} field 't'", f"times must increase, got {t} after {times[-1]}"
            )
        q = q.copy()
        for name, value in (key.get("joints") or {}).items():
            j = robot.joint_index(str(name)) if name in robot.joint_names else None
            if j is None:
                raise _fail(
                    path_s,
                    f"{where} field 'joints'",
                    f"unknown joint {name!r}; valid: {', '.join(robot.joint_names)}",
                )
            v = _number(value, path_s, f"{where} joint {name}")
            spec = robot.joints[j]
            if not spec.lower_rad <= v <= spec.upper_rad:
                raise _fail(
                    path_s,
                    f"{where} joint {name}",
                    f"{v} rad outside the limits [{spec.lower_rad}, {spec.upper_rad}]",
                )
            q[j] = v
        root = root.copy()
        if "root_xy" in key:
            xy = key["root_xy"]
            if not (isinstance(xy, list) and len(xy) == 2):
                raise _fail(path_s, f"{where} field 'root_xy'", "expected [x, y] in metres")
            root[:2] = [_number(v, path_s, f"{where} field 'root_xy'") for v in xy]
        if "root_yaw_deg" in key:
            root[2] = math.radians(
                _number(key["root_yaw_deg"], path_s, f"{where} field 'root_yaw_deg'")
            )
        times.append(t)
        joints.append(q)
        roots.append(root)

    t_keys = np.array(times)
    n = int(math.floor((t_keys[-1] - t_keys[0]) * fps + 1e-9)) + 1
    t = t_keys[0] + np.arange(n) / fps
    joint_pos = hermite_catmull_rom(t_keys, np.array(joints), t)
    joint_pos = np.clip(joint_pos, robot.joint_lower_rad, robot.joint_upper_rad)  # spline overshoot
    root_xyyaw = hermite_catmull_rom(t_keys, np.array(roots), t)
    yaw = root_xyyaw[:, 2]
    root_quat_w = np.stack([np.cos(yaw / 2), 0 * yaw, 0 * yaw, np.sin(yaw / 2)], axis=1)
    root_pos_w = np.column_stack([root_xyyaw[:, :2], np.full(n, robot.default_root_height_m)])
    if doc.get("feet_on_ground", True):
        corners = ForwardKinematics(robot, ()).sole_corners_w(root_pos_w, root_quat_w, joint_pos)
        root_pos_w[:, 2] -= corners[..., 2].reshape(n, -1).min(axis=1)
    settings: dict[str, Any] = {
        "keyframes": len(times),
        "name": str(doc.get("name", Path(path).stem)),
    }
    return Motion.from_kinematics(
        robot, fps, root_pos_w, root_quat_w, joint_pos, source=path_s, settings=settings
    )


def _number(value: Any, path: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _fail(path, where, f"expected a finite number, got {value!r}")
    return float(value)
