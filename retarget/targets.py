"""Automatic calibration: human keypoints → robot-proportioned targets.

Nothing is tuned per clip or per data source. From the robot (its zero configuration) we take
limb lengths and the fixed offsets of hips, shoulders and head in the pelvis/torso frames; from
the human we take *directions* of limb segments, trunk and foot orientation, and positions of the
hip centre scaled by ``s = robot leg length / human leg length`` (legs measured in the rest pose).
Every limb is rebuilt from its parent with the human's direction and the robot's length, so the
targets are always reachable in length and the proportions are the robot's.

Heights are measured from the ground, which comes from the clip, not a constant: at each frame
the human's ground level is the lowest ankle height within ±``GROUND_WINDOW_S`` (both feet), so a
capture floor that is not level (CMU 08_09 drifts by ~6 cm over 4 m) still maps onto a flat floor.
That level maps onto the robot's ankle height with a flat sole on the floor.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from humimic.errors import RetargetError
from humimic.retarget.human import HumanMotion
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.spec import RobotSpec
from humimic.rotations import quat_to_matrix

SIDES = ("left", "right")
GROUND_WINDOW_S = 0.75
MAX_TOE_OUT_RAD = 0.6  # a foot's heading may differ from the pelvis's by at most this


def rolling_min(x: np.ndarray, half_window: int) -> np.ndarray:
    """Minimum of ``x [T]`` over ``[t - h, t + h]`` (clipped at the ends)."""
    T = x.shape[0]
    padded = np.concatenate([np.full(half_window, np.inf), x, np.full(half_window, np.inf)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half_window + 1)
    return windows.min(axis=1)[:T]


def smooth(x: np.ndarray, half_window: int) -> np.ndarray:
    """Moving average of ``x [T]`` (edge values repeated)."""
    if half_window < 1:
        return x
    padded = np.concatenate([np.full(half_window, x[0]), x, np.full(half_window, x[-1])])
    kernel = np.ones(2 * half_window + 1) / (2 * half_window + 1)
    return np.convolve(padded, kernel, mode="valid")


def _unit(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.maximum(n, eps)


def _wrap(a: np.ndarray) -> np.ndarray:
    """Angles wrapped to ``[-π, π)``."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def frame_from_axes(y: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Rotation matrices ``[T, 3, 3]`` with columns x, y, z: ``y`` kept, ``z`` made orthogonal."""
    y = _unit(y)
    z = _unit(z_hint - np.sum(z_hint * y, -1, keepdims=True) * y)
    x = np.cross(y, z)
    return np.stack([x, y, z], axis=-1)


def rot_z(yaw: np.ndarray) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    o, z = np.ones_like(yaw), np.zeros_like(yaw)
    return np.stack(
        [np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2
    )


def rot_y(pitch: np.ndarray) -> np.ndarray:
    c, s = np.cos(pitch), np.sin(pitch)
    o, z = np.ones_like(pitch), np.zeros_like(pitch)
    return np.stack(
        [np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2
    )


@dataclass(frozen=True)
class RobotProportions:
    """Lengths and offsets measured on the robot at its zero configuration."""

    thigh_m: float
    shin_m: float
    upper_arm_m: float
    forearm_m: float
    hip_b: dict[str, np.ndarray]  # side → hip position in the pelvis frame
    shoulder_b: dict[str, np.ndarray]  # side → shoulder position in the torso frame
    torso_in_pelvis_b: np.ndarray
    head_b: np.ndarray  # head position in the torso frame
    ankle_height_m: float  # ankle frame above the floor with the sole flat on it

    @property
    def leg_m(self) -> float:
        return self.thigh_m + self.shin_m

    @classmethod
    def measure(cls, spec: RobotSpec) -> RobotProportions:
        """Measured once per robot (cached)."""
        return _measure(spec)


@functools.cache
def _measure(spec: RobotSpec) -> RobotProportions:
    hm = spec.human_map
    names = [hm[f"{s}_{p}"] for s in SIDES for p in ("hip", "knee", "ankle")]
    names += [hm[f"{s}_{p}"] for s in SIDES for p in ("shoulder", "elbow", "wrist")]
    names += [spec.root_body, spec.anchor_body, hm["head"]]
    fk = ForwardKinematics(spec, names)
    pos, quat = fk(np.zeros(3), np.array([1.0, 0, 0, 0]), np.zeros(spec.num_joints))
    p = dict(zip(names, pos[0], strict=True))
    R_torso = quat_to_matrix(quat[0, names.index(spec.anchor_body)])
    torso = p[spec.anchor_body]

    def dist(a: str, b: str) -> float:
        return float(
            np.mean([np.linalg.norm(p[hm[f"{s}_{b}"]] - p[hm[f"{s}_{a}"]]) for s in SIDES])
        )

    foot = spec.feet[0]
    return RobotProportions(
        thigh_m=dist("hip", "knee"),
        shin_m=dist("knee", "ankle"),
        upper_arm_m=dist("shoulder", "elbow"),
        forearm_m=dist("elbow", "wrist"),
        hip_b={s: p[hm[f"{s}_hip"]] - p[spec.root_body] for s in SIDES},
        shoulder_b={s: R_torso.T @ (p[hm[f"{s}_shoulder"]] - torso) for s in SIDES},
        torso_in_pelvis_b=torso - p[spec.root_body],
        head_b=R_torso.T @ (p[hm["head"]] - torso),
        ankle_height_m=-foot.sole_z_b,
    )


@dataclass(frozen=True)
class Targets:
    """Robot-proportioned targets at the output frame times (world frame, metres).

    ``pos_w[name]`` is ``[T, 3]`` for robot frames (keys are robot frame names);
    ``rot_w[name]`` is ``[T, 3, 3]``; ``foot_yaw``/``foot_pitch`` are ``[T, F]`` for the feet;
    ``foot_height_h``/``foot_speed_h`` ``[T, F]`` are the human feet's height above the ground
    and horizontal speed (for stance detection); ``scale`` is ``s``.
    """

    pos_w: dict[str, np.ndarray]
    rot_w: dict[str, np.ndarray]
    foot_yaw: np.ndarray
    foot_pitch: np.ndarray
    foot_height_h: np.ndarray
    foot_speed_h: np.ndarray
    scale: float
    human_ground_m: float


def _need(human: HumanMotion, names: list[str]) -> None:
    missing = [n for n in names if not human.has(n)]
    if missing:
        raise RetargetError(f"{human.source}: retargeting needs the canonical joints {missing}")


def build_targets(human: HumanMotion, kp: np.ndarray, fps: float, spec: RobotSpec) -> Targets:
    """Targets from human keypoints ``kp [T, K, 3]`` (already at the output ``fps``)."""
    hm = spec.human_map
    prop = RobotProportions.measure(spec)
    need = ["pelvis"] + [
        f"{s}_{p}" for s in SIDES for p in ("hip", "knee", "ankle", "shoulder", "elbow", "wrist")
    ]
    _need(human, need)
    H = {n: kp[:, human.index(n)] for n in human.names}
    R = {n: human.rest_pos_w[human.index(n)] for n in human.names}

    leg_h = np.mean(
        [
            np.linalg.norm(R[f"{s}_knee"] - R[f"{s}_hip"])
            + np.linalg.norm(R[f"{s}_ankle"] - R[f"{s}_knee"])
            for s in SIDES
        ]
    )
    s_scale = prop.leg_m / float(leg_h)
    lowest_ankle = np.minimum(H["left_ankle"][:, 2], H["right_ankle"][:, 2])
    half = max(1, int(round(GROUND_WINDOW_S * fps)))
    ground = smooth(rolling_min(lowest_ankle, half), half // 2)  # [T]

    def to_robot(p: np.ndarray) -> np.ndarray:
        out = s_scale * p
        out[..., 2] = prop.ankle_height_m + s_scale * (p[..., 2] - ground)
        return out

    hip_c = 0.5 * (H["left_hip"] + H["right_hip"])
    sh_c = 0.5 * (H["left_shoulder"] + H["right_shoulder"])
    trunk_up = sh_c - hip_c
    R_pelvis = frame_from_axes(H["left_hip"] - H["right_hip"], trunk_up)
    R_torso = frame_from_axes(H["left_shoulder"] - H["right_shoulder"], trunk_up)

    pos: dict[str, np.ndarray] = {}
    rot: dict[str, np.ndarray] = {spec.root_body: R_pelvis, spec.anchor_body: R_torso}
    hip_center_b = 0.5 * (prop.hip_b["left"] + prop.hip_b["right"])
    pelvis = to_robot(hip_c) - R_pelvis @ hip_center_b
    pos[spec.root_body] = pelvis
    torso = pelvis + R_pelvis @ prop.torso_in_pelvis_b
    for side in SIDES:
        hip = pelvis + R_pelvis @ prop.hip_b[side]
        knee = hip + _unit(H[f"{side}_knee"] - H[f"{side}_hip"]) * prop.thigh_m
        ankle = knee + _unit(H[f"{side}_ankle"] - H[f"{side}_knee"]) * prop.shin_m
        pos[hm[f"{side}_hip"]] = hip
        pos[hm[f"{side}_knee"]] = knee
        pos[hm[f"{side}_ankle"]] = ankle
        sh = torso + R_torso @ prop.shoulder_b[side]
        elbow = sh + _unit(H[f"{side}_elbow"] - H[f"{side}_shoulder"]) * prop.upper_arm_m
        wrist = elbow + _unit(H[f"{side}_wrist"] - H[f"{side}_elbow"]) * prop.forearm_m
        pos[hm[f"{side}_shoulder"]] = sh
        pos[hm[f"{side}_elbow"]] = elbow
        pos[hm[f"{side}_wrist"]] = wrist
    pos[hm["head"]] = torso + R_torso @ prop.head_b

    # Feet: heading from ankle→toe (or the pelvis heading). Pitch is built on the shin: the
    # human's ankle angle (foot pitch relative to the rest pose, minus the shin's pitch) is
    # clipped to the robot's ankle range and added to the target shin's pitch, so a foot target
    # is always one the robot's ankle can take (a runner's toe-off exceeds it by ~0.7 rad, and a
    # world-frame target would twist the hip instead).
    T = kp.shape[0]
    yaw = np.zeros((T, len(SIDES)))
    pitch = np.zeros((T, len(SIDES)))
    heading = R_pelvis[:, :, 0]
    pelvis_yaw = np.arctan2(heading[:, 1], heading[:, 0])
    for f, side in enumerate(SIDES):
        ankle_lim = spec.joints[spec.joint_index(f"{side}_ankle_pitch_joint")]
        yaw[:, f] = pelvis_yaw
        foot_pitch = np.zeros(T)
        if human.has(f"{side}_toe"):
            d = H[f"{side}_toe"] - H[f"{side}_ankle"]
            horiz = np.linalg.norm(d[:, :2], axis=-1)
            toe_yaw = np.arctan2(d[:, 1], d[:, 0])
            rel_yaw = np.clip(_wrap(toe_yaw - pelvis_yaw), -MAX_TOE_OUT_RAD, MAX_TOE_OUT_RAD)
            yaw[:, f] += np.where(horiz > 0.5 * np.linalg.norm(d, axis=-1), rel_yaw, 0.0)
            d_rest = R[f"{side}_toe"] - R[f"{side}_ankle"]
            rest_pitch = np.arctan2(-d_rest[2], np.linalg.norm(d_rest[:2]))
            fwd = np.stack([np.cos(yaw[:, f]), np.sin(yaw[:, f])], axis=-1)
            foot_pitch = np.arctan2(-d[:, 2], np.sum(d[:, :2] * fwd, -1)) - rest_pitch
        fwd = np.stack([np.cos(yaw[:, f]), np.sin(yaw[:, f])], axis=-1)
        shin = pos[hm[f"{side}_ankle"]] - pos[hm[f"{side}_knee"]]
        shin_pitch = np.arctan2(-np.sum(shin[:, :2] * fwd, -1), -shin[:, 2])
        ankle = np.clip(_wrap(foot_pitch - shin_pitch), ankle_lim.lower_rad, ankle_lim.upper_rad)
        pitch[:, f] = shin_pitch + ankle
        rot[spec.feet[f].body] = rot_z(yaw[:, f]) @ rot_y(pitch[:, f])

    heights = np.stack([H[f"{s}_ankle"][:, 2] - ground for s in SIDES], axis=1)
    speeds = np.stack(
        [
            np.linalg.norm(np.gradient(H[f"{s}_ankle"][:, :2], 1.0 / fps, axis=0), axis=-1)
            for s in SIDES
        ],
        axis=1,
    )
    return Targets(pos, rot, yaw, pitch, heights, speeds, s_scale, float(ground.mean()))
