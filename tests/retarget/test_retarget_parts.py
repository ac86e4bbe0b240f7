"""Pieces of the retargeting pipeline with hand-computed values: stance detection, stance locks
on the foot targets, calibration helpers, robot proportions, target scaling, spike removal."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from humimic.errors import ConfigError
from humimic.retarget.contacts import StanceConfig, detect_stance, segments
from humimic.retarget.human import HumanMotion
from humimic.retarget.pipeline import _apply_stance, _median3
from humimic.retarget.skeleton_map import SkeletonMapping
from humimic.retarget.targets import (
    RobotProportions,
    Targets,
    build_targets,
    frame_from_axes,
    rolling_min,
    rot_y,
    rot_z,
    smooth,
)
from humimic.robots.pinocchio_model import build_pinocchio

# --- stance detection ------------------------------------------------------------------------


def test_segments_by_hand() -> None:
    flags = np.array([1, 1, 0, 0, 1, 0, 1, 1, 1], dtype=bool)
    assert segments(flags) == [(0, 2), (4, 5), (6, 9)]
    assert segments(np.zeros(4, dtype=bool)) == []
    assert segments(np.ones(3, dtype=bool)) == [(0, 3)]
    assert segments(np.zeros(0, dtype=bool)) == []


def test_detect_stance_hysteresis_and_min_length() -> None:
    # defaults: enter below h 0.05 m and v 0.5 m/s, leave above h 0.07 m or v 0.7 m/s;
    # at 50 fps the shortest kept segment is round(0.06 · 50) = 3 frames
    cfg = StanceConfig()
    #            t:  0     1     2      3     4     5     6     7     8     9    10    11    12  13
    h = np.array([0.10, 0.04, 0.06, 0.065, 0.08, 0.06, 0.04, 0.04, 0.04, 0.04, 0.03, 0.03, 0.03, 0])
    v = np.array([0.00, 0.00, 0.00, 0.600, 0.00, 0.00, 0.60, 0.40, 0.40, 0.80, 0.10, 0.10, 0.10, 0])
    # 0: off (h > on)          1: on (both below on)   2: stays (0.06 <= off 0.07)
    # 3: stays (v 0.6 <= 0.7)  4: off (h 0.08 > 0.07)  5: stays off (0.06 not < 0.05)
    # 6: stays off (v 0.6 not < 0.5)  7, 8: on  9: off (v 0.8 > 0.7)  10..13: on
    # raw segments [1, 4) (3 frames, kept), [7, 9) (2 frames, dropped), [10, 14) (kept)
    expected = np.array([0, 1, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    # second foot: flat and still the whole time → stance throughout; feet are independent
    heights = np.stack([h, np.zeros_like(h)], axis=1)
    speeds = np.stack([v, np.zeros_like(v)], axis=1)
    stance = detect_stance(heights, speeds, 50.0, cfg)
    assert stance.shape == (14, 2) and stance.dtype == bool
    np.testing.assert_array_equal(stance[:, 0], expected)
    assert stance[:, 1].all()
    # at 25 fps the minimum is round(0.06 · 25) = round(1.5) = 2 frames: [7, 9) survives
    stance_25 = detect_stance(heights, speeds, 25.0, cfg)
    np.testing.assert_array_equal(stance_25[7:9, 0], [True, True])


def test_stance_config_checks_itself() -> None:
    with pytest.raises(ConfigError, match="height_on_m"):
        StanceConfig(height_on_m=0.08, height_off_m=0.07)
    with pytest.raises(ConfigError, match="speed_on_m_s"):
        StanceConfig(speed_on_m_s=0.0)


# --- stance locks on the foot targets ---------------------------------------------------------

FPS = 50.0
BLEND_S = 0.12  # → n_blend = round(0.12 · 50) = 6 frames after lift-off


def _targets(g1, left: np.ndarray, right: np.ndarray, yaw: np.ndarray, pitch: np.ndarray):
    T = left.shape[0]
    return Targets(
        pos_w={g1.human_map["left_ankle"]: left, g1.human_map["right_ankle"]: right},
        rot_w={},
        foot_yaw=yaw,
        foot_pitch=pitch,
        foot_height_h=np.zeros((T, 2)),
        foot_speed_h=np.zeros((T, 2)),
        scale=1.0,
        human_ground_m=0.0,
    )


def _lowest_corner_z(g1, pos: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """Lowest sole corner ``[T, F]`` (world z) of the foot poses."""
    corners_b = np.array([f.sole_corners_b() for f in g1.feet])  # [F, 4, 3]
    return (pos[:, :, None, 2] + np.einsum("tfij,fkj->tfki", rot, corners_b)[..., 2]).min(-1)


def test_apply_stance_locks_then_blends_back(g1) -> None:
    T = 14
    t = np.arange(T)
    # left foot: free target walks along x (0.1 m/frame) at y = 0.2, 0.3 m up, yaw 0.1·t,
    # pitch 0.2; stance on frames 2..5, i.e. segment [2, 6)
    left = np.stack([0.1 * t, np.full(T, 0.2), np.full(T, 0.3)], axis=1)
    right = np.tile([0.0, -0.2, 0.5], (T, 1))  # right foot: high swing throughout
    yaw = np.stack([0.1 * t, np.zeros(T)], axis=1)
    pitch = np.stack([np.full(T, 0.2), np.zeros(T)], axis=1)
    stance = np.zeros((T, 2), dtype=bool)
    stance[2:6, 0] = True
    pos, rot = _apply_stance(_targets(g1, left, right, yaw, pitch), stance, g1, FPS, BLEND_S)
    assert pos.shape == (T, 2, 3) and rot.shape == (T, 2, 3, 3)

    # before touchdown: untouched
    np.testing.assert_allclose(pos[:2, 0], left[:2])
    # stance: x, y of touchdown frame 2 = (0.2, 0.2); z = -sole_z_b = 0.035; flat, yaw 0.2
    assert -g1.feet[0].sole_z_b == pytest.approx(0.035)
    np.testing.assert_allclose(pos[2:6, 0], np.tile([0.2, 0.2, 0.035], (4, 1)), atol=1e-12)
    np.testing.assert_allclose(rot[2:6, 0], np.tile(rot_z(np.array(0.2)), (4, 1, 1)), atol=1e-12)
    # after lift-off t = 6 + k, a = (k + 1) / 7:  x = (1 - a)·0.2 + a·0.1·t,
    # z = (1 - a)·0.035 + a·0.3, yaw = 0.2 + a·(0.1·t - 0.2), pitch = a·0.2
    # e.g. t = 6: a = 1/7, x = 6/7·0.2 + 1/7·0.6 = 1.8/7 ≈ 0.25714, z = 0.035 + 0.265/7 ≈ 0.07286
    np.testing.assert_allclose(pos[6, 0], [1.8 / 7, 0.2, 0.035 + 0.265 / 7], atol=1e-12)
    for k in range(6):
        tt, a = 6 + k, (k + 1) / 7
        expect_pos = [(1 - a) * 0.2 + a * 0.1 * tt, 0.2, (1 - a) * 0.035 + a * 0.3]
        np.testing.assert_allclose(pos[tt, 0], expect_pos, atol=1e-12)
        expect_rot = rot_z(np.array(0.2 + a * (0.1 * tt - 0.2))) @ rot_y(np.array(a * 0.2))
        np.testing.assert_allclose(rot[tt, 0], expect_rot, atol=1e-12)
    # monotone: the height gap to the free target (0.265 in stance) shrinks to (1 - a)·0.265:
    # 6/7, 5/7, ..., 1/7 of it over frames 6..11, then 0 at frame 12
    gap = np.abs(pos[5:13, 0, 2] - left[5:13, 2])
    np.testing.assert_allclose(gap, 0.265 * np.arange(7, -1, -1) / 7, atol=1e-12)
    assert np.all(np.diff(gap) < 0)
    np.testing.assert_allclose(pos[12:, 0], left[12:])  # blend over after 6 frames
    # right foot never in stance and well above the floor: untouched, yaw 0 pitch 0
    np.testing.assert_allclose(pos[:, 1], right)
    np.testing.assert_allclose(rot[:, 1], np.tile(np.eye(3), (T, 1, 1)), atol=1e-15)


def test_apply_stance_lifts_swing_soles_above_the_floor(g1) -> None:
    T = 3
    # left foot flat with its ankle at z = 0: lowest corner at 0 - 0.035 → lifted to z = 0.035.
    # right foot pitched 0.3 (toe down) with its ankle at z = 0.02: the toe corners (x = 0.12)
    # are at 0.02 - sin(0.3)·0.12 + cos(0.3)·(-0.035)
    #      = 0.02 - 0.29552·0.12 - 0.95534·0.035 = 0.02 - 0.035462 - 0.033437 = -0.048899,
    # so the ankle rises by 0.048899 to z = 0.068899.
    # frame 2: both ankles at z = 0.5, nothing to do.
    left = np.array([[0.0, 0.1, 0.0], [0.0, 0.1, 0.0], [0.0, 0.1, 0.5]])
    right = np.array([[0.0, -0.1, 0.02], [0.0, -0.1, 0.02], [0.0, -0.1, 0.5]])
    yaw = np.zeros((T, 2))
    pitch = np.array([[0.0, 0.3], [0.0, 0.3], [0.0, 0.3]])
    stance = np.zeros((T, 2), dtype=bool)
    pos, rot = _apply_stance(_targets(g1, left, right, yaw, pitch), stance, g1, FPS, BLEND_S)
    toe_z = 0.02 - np.sin(0.3) * 0.12 + np.cos(0.3) * -0.035
    assert toe_z == pytest.approx(-0.048899, abs=1e-6)
    np.testing.assert_allclose(pos[:2, 0, 2], 0.035, atol=1e-12)
    np.testing.assert_allclose(pos[:2, 1, 2], 0.02 - toe_z, atol=1e-12)
    np.testing.assert_allclose(pos[2, :, 2], 0.5)
    np.testing.assert_allclose(pos[..., :2], np.stack([left, right], 1)[..., :2])
    lowest = _lowest_corner_z(g1, pos, rot)
    np.testing.assert_allclose(lowest[:2], 0.0, atol=1e-12)
    assert np.all(lowest >= -1e-12)


# --- calibration helpers ----------------------------------------------------------------------


def test_frame_from_axes_by_hand() -> None:
    # y = (0, 2, 0) → (0, 1, 0); z_hint (0, 1, 1) minus its y part → (0, 0, 1); x = y × z = e_x
    R = frame_from_axes(np.array([[0.0, 2.0, 0.0]]), np.array([[0.0, 1.0, 1.0]]))
    np.testing.assert_allclose(R[0], np.eye(3), atol=1e-15)


def test_frame_from_axes_returns_rotations() -> None:
    rng = np.random.default_rng(7)
    y, z_hint = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    R = frame_from_axes(y, z_hint)
    RtR = np.einsum("tji,tjk->tik", R, R)
    np.testing.assert_allclose(RtR, np.tile(np.eye(3), (50, 1, 1)), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    np.testing.assert_allclose(R[:, :, 1], y / np.linalg.norm(y, axis=1, keepdims=True), atol=1e-12)
    # z is the hint made orthogonal to y: same side as the hint, in the plane of (y, hint)
    assert np.all(np.sum(R[:, :, 2] * z_hint, axis=1) > 0)
    np.testing.assert_allclose(np.sum(np.cross(y, z_hint) * R[:, :, 2], axis=1), 0, atol=1e-12)


def test_rot_z_rot_y_by_hand() -> None:
    # yaw 90°: x → y;  pitch 90° about y: x → -z, z → x
    np.testing.assert_allclose(rot_z(np.array(np.pi / 2)) @ [1, 0, 0], [0, 1, 0], atol=1e-15)
    np.testing.assert_allclose(rot_y(np.array(np.pi / 2)) @ [1, 0, 0], [0, 0, -1], atol=1e-15)
    np.testing.assert_allclose(rot_y(np.array(np.pi / 2)) @ [0, 0, 1], [1, 0, 0], atol=1e-15)
    assert rot_z(np.zeros((4, 2))).shape == (4, 2, 3, 3)


def test_rolling_min_by_hand() -> None:
    x = np.array([5.0, 3.0, 4.0, 1.0, 6.0, 2.0])
    # half window 1: min of (-, 5, 3), (5, 3, 4), (3, 4, 1), (4, 1, 6), (1, 6, 2), (6, 2, -)
    np.testing.assert_array_equal(rolling_min(x, 1), [3, 3, 1, 1, 1, 2])
    # half window 2: (5,3,4), (5,3,4,1), (5,3,4,1,6), (3,4,1,6,2), (4,1,6,2), (1,6,2)
    np.testing.assert_array_equal(rolling_min(x, 2), [3, 1, 1, 1, 1, 1])
    np.testing.assert_array_equal(rolling_min(x, 0), x)


def test_smooth_by_hand() -> None:
    # padded (0) 0 0 3 0 0 (0): means of 3 → 0, 1, 1, 1, 0
    np.testing.assert_allclose(smooth(np.array([0.0, 0, 3, 0, 0]), 1), [0, 1, 1, 1, 0])
    # edges repeat: padded 1 1 2 3 3 → 4/3, 2, 8/3
    np.testing.assert_allclose(smooth(np.array([1.0, 2, 3]), 1), [4 / 3, 2, 8 / 3])
    x = np.array([1.0, 5.0])
    assert smooth(x, 0) is x


# --- robot proportions ------------------------------------------------------------------------


def test_robot_proportions_match_pinocchio_fk(g1) -> None:
    """Limb lengths = distances between the mapped frames at q = 0 (root at the origin).

    At q = 0 (Pinocchio FK, numbers printed once): left_hip_roll_link (0, 0.116452, -0.133165),
    left_knee_link (-2.3e-6, 0.118601, -0.439296), so the thigh is
    √(0.0021489² + 0.3061310²) ≈ 0.306138 m; ankle_roll at z = -0.756864 gives the shin
    ≈ 0.317568 m. The right side mirrors the left (y ↦ -y), so the side mean is the same.
    """
    robot = build_pinocchio(g1)
    data = robot.model.createData()
    pin.framesForwardKinematics(robot.model, data, pin.neutral(robot.model))

    def p(name: str) -> np.ndarray:
        return data.oMf[robot.frame_id(g1.human_map[name])].translation.copy()

    def length(a: str, b: str) -> float:
        sides = ("left", "right")
        return float(np.mean([np.linalg.norm(p(f"{s}_{a}") - p(f"{s}_{b}")) for s in sides]))

    prop = RobotProportions.measure(g1)
    assert prop.thigh_m == pytest.approx(length("hip", "knee"), abs=1e-12)
    assert prop.shin_m == pytest.approx(length("knee", "ankle"), abs=1e-12)
    assert prop.upper_arm_m == pytest.approx(length("shoulder", "elbow"), abs=1e-12)
    assert prop.forearm_m == pytest.approx(length("elbow", "wrist"), abs=1e-12)
    assert prop.thigh_m == pytest.approx(0.306138, abs=1e-6)
    assert prop.shin_m == pytest.approx(0.317568, abs=1e-6)
    assert prop.leg_m == pytest.approx(0.306138 + 0.317568, abs=2e-6)
    np.testing.assert_allclose(prop.hip_b["left"], [0.0, 0.116452, -0.133165], atol=1e-6)
    np.testing.assert_allclose(prop.hip_b["right"], [0.0, -0.116452, -0.133165], atol=1e-6)
    assert prop.ankle_height_m == pytest.approx(0.035)
    # torso offsets are expressed in the torso frame: at q = 0 torso is not rotated
    torso = data.oMf[robot.frame_id(g1.anchor_body)]
    np.testing.assert_allclose(
        prop.shoulder_b["left"], torso.actInv(p("left_shoulder")), atol=1e-12
    )


# --- build_targets: scale and ground ----------------------------------------------------------

NAMES = (
    "pelvis",
    "left_hip",
    "left_knee",
    "left_ankle",
    "right_hip",
    "right_knee",
    "right_ankle",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
)


def _standing_human(prop: RobotProportions, T: int, ground_z: float) -> HumanMotion:
    """A straight-legged human with thigh and shin twice the robot's, ankles at ``ground_z``,
    facing +x, arms hanging; it drifts 0.01 m/frame along x."""
    thigh, shin = 2 * prop.thigh_m, 2 * prop.shin_m
    hip_z = ground_z + thigh + shin
    pts = {
        "pelvis": (0.0, 0.0, hip_z + 0.1),
        "left_hip": (0.0, 0.2, hip_z),
        "left_knee": (0.0, 0.2, hip_z - thigh),
        "left_ankle": (0.0, 0.2, ground_z),
        "right_hip": (0.0, -0.2, hip_z),
        "right_knee": (0.0, -0.2, hip_z - thigh),
        "right_ankle": (0.0, -0.2, ground_z),
        "left_shoulder": (0.0, 0.4, hip_z + 1.0),
        "left_elbow": (0.0, 0.4, hip_z + 0.6),
        "left_wrist": (0.0, 0.4, hip_z + 0.2),
        "right_shoulder": (0.0, -0.4, hip_z + 1.0),
        "right_elbow": (0.0, -0.4, hip_z + 0.6),
        "right_wrist": (0.0, -0.4, hip_z + 0.2),
    }
    frame = np.array([pts[n] for n in NAMES])
    pos_w = np.repeat(frame[None], T, axis=0)
    pos_w[:, :, 0] += 0.01 * np.arange(T)[:, None]
    mapping = SkeletonMapping(
        {n: i for i, n in enumerate(NAMES)}, {n: n for n in NAMES}, "test", ()
    )
    return HumanMotion("synthetic", FPS, NAMES, pos_w, frame - frame[0], mapping)


def test_build_targets_scale_and_ground(g1) -> None:
    """Human legs 2× the robot's → s = leg_robot / leg_human = 0.5.

    Heights: the human ground is its lowest ankle (0.3 m, a raised capture floor), which maps to
    the robot ankle height 0.035. The hip centre is at 0.3 + 2·leg above that ground, so its
    target is at 0.035 + 0.5·2·leg = 0.035 + leg; the pelvis sits 0.133165 above its hip centre
    (hip_b z = -0.133165, pelvis frame level since hips are along y and the trunk is up), and the
    ankles are a robot leg below the hips: z = 0.035 + leg - leg = 0.035. Horizontally the hip
    centre scales by 0.5 (x = 0.5·0.01·t) and the feet take the robot's hip spacing ±0.116452.
    """
    prop = RobotProportions.measure(g1)
    T = 10
    human = _standing_human(prop, T, ground_z=0.3)
    tg = build_targets(human, human.pos_w, FPS, g1)
    assert tg.scale == pytest.approx(0.5, abs=1e-12)
    assert tg.human_ground_m == pytest.approx(0.3, abs=1e-12)
    hm = g1.human_map
    t = np.arange(T)
    for side, y in (("left", 0.116452), ("right", -0.116452)):
        ankle = tg.pos_w[hm[f"{side}_ankle"]]
        np.testing.assert_allclose(ankle[:, 2], prop.ankle_height_m, atol=1e-9)
        np.testing.assert_allclose(ankle[:, 1], y, atol=1e-6)
        np.testing.assert_allclose(ankle[:, 0], 0.5 * 0.01 * t, atol=1e-9)
        knee = tg.pos_w[hm[f"{side}_knee"]]
        np.testing.assert_allclose(knee[:, 2], 0.035 + prop.shin_m, atol=1e-9)
    pelvis = tg.pos_w[g1.root_body]
    np.testing.assert_allclose(pelvis[:, 2], 0.035 + prop.leg_m + 0.133165, atol=1e-6)
    np.testing.assert_allclose(tg.rot_w[g1.root_body], np.tile(np.eye(3), (T, 1, 1)), atol=1e-12)
    # stance inputs: the human ankles are on the ground (height 0) and move at 0.01 · 50 = 0.5 m/s
    np.testing.assert_allclose(tg.foot_height_h, 0.0, atol=1e-12)
    np.testing.assert_allclose(tg.foot_speed_h, 0.5, atol=1e-9)
    # standing flat: feet level and facing +x
    np.testing.assert_allclose(tg.foot_yaw, 0.0, atol=1e-12)
    np.testing.assert_allclose(tg.foot_pitch, 0.0, atol=1e-12)


# --- spike removal ----------------------------------------------------------------------------


def test_median3_removes_a_spike_and_keeps_a_ramp() -> None:
    spike = np.array([0.0, 0.0, 5.0, 0.0, 0.0])
    # frame 2: median(0, 5, 0) = 0; frames 1, 3: median(0, 0, 5) = 0
    np.testing.assert_array_equal(_median3(spike), np.zeros(5))
    ramp = np.arange(6.0)  # median of 3 consecutive ramp samples is the middle one
    np.testing.assert_array_equal(_median3(ramp), ramp)
    # on a ramp a spike becomes its later neighbour: (1, 12, 3) → 3, (12, 3, 4) → 4
    spiked_ramp = np.arange(5.0)
    spiked_ramp[2] += 10.0
    np.testing.assert_array_equal(_median3(spiked_ramp), [0, 1, 3, 4, 4])
    # keypoint arrays [T, K, 3] (a still pose): only the spiking channel changes, and back
    kp = np.repeat(np.arange(6.0).reshape(1, 2, 3), 5, axis=0)
    kp_spiked = kp.copy()
    kp_spiked[2, 1, 2] += 10.0
    np.testing.assert_array_equal(_median3(kp_spiked), kp)
    # the input is not modified; fewer than 3 frames pass through
    assert kp_spiked[2, 1, 2] == 15.0
    short = np.array([1.0, 9.0])
    np.testing.assert_array_equal(_median3(short), short)
