"""Retarget metrics on hand-made clips with hand-derived numbers."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest

from humimic.errors import RetargetError
from humimic.motion import Motion
from humimic.retarget.metrics import compute_metrics, format_table, targets_met
from humimic.robots.kinematics import ForwardKinematics

FPS = 30.0
T = 31  # 1 s


def _standing(g1, root_z: float = 0.0, vx: float = 0.0, joint_pos=None) -> Motion:
    """Default pose, root at ``(vx·t, 0, default height + root_z)``, both feet in stance."""
    t = np.arange(T) / FPS
    root = np.stack([vx * t, np.zeros(T), np.full(T, g1.default_root_height_m + root_z)], 1)
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (T, 1))
    q = np.tile(g1.default_joint_pos_rad, (T, 1)) if joint_pos is None else joint_pos
    return Motion.from_kinematics(g1, FPS, root, quat, q, foot_contact=np.ones((T, 2), bool))


def _metrics(g1, motion: Motion, names=("pelvis", "left_toe", "right_wrist_yaw_link")):
    fk = ForwardKinematics(g1, names)
    targets, _ = fk(motion.root_pos_w, motion.root_quat_w, motion.joint_pos)
    stance = np.ones((motion.num_frames, 2), bool)
    return compute_metrics(motion, g1, targets, names, stance, 0.001, motion.duration_s)


def test_standing_still_is_clean(g1) -> None:
    m = _metrics(g1, _standing(g1))
    assert m.frames == T and m.duration_s == pytest.approx(1.0)
    assert m.keybody_err_mean_mm == pytest.approx(0.0, abs=1e-9)
    assert m.keybody_err_max_mm == pytest.approx(0.0, abs=1e-9)
    assert m.skate_speed_mean_cm_s == pytest.approx(0.0, abs=1e-9)
    assert m.skate_slip_pct == 0.0
    assert abs(m.lowest_sole_mm) < 2.0  # default height puts the soles on the floor
    assert m.frames_below_5mm_pct == 0.0 and m.stance_floating_pct == 0.0
    assert m.joint_limit_violations == 0 and m.joint_limit_worst_excess_rad == 0.0
    assert m.joint_jumps == 0 and m.max_joint_step_rad == pytest.approx(0.0, abs=1e-12)
    assert m.joint_vel_limit_violations == 0
    assert m.self_collision_pct == 0.0 and m.self_collision_max_depth_mm == 0.0
    # 1 s of 30-fps input in 1 ms → 30 / 0.001 = 30 000 frames/s
    assert m.fps_input30 == pytest.approx(30000.0)
    assert all(targets_met(m).values())
    json.dumps(asdict(m))  # serializable


def test_sliding_root_skates(g1) -> None:
    # root slides +x at 0.1 m/s with stance marked: each sole centre moves 0.1/30 m per frame,
    # i.e. (0.1/30 m) / (1/30 s) = 0.1 m/s = 10 cm/s
    m = _metrics(g1, _standing(g1, vx=0.1))
    assert m.skate_speed_mean_cm_s == pytest.approx(10.0, rel=1e-6)
    assert not targets_met(m)["skate_le_2cm_s"]
    # at 0.08 m/s frame k has moved k·0.08/30 m, > 1 cm from k = 4 (3.75 rounded up), so
    # frames 4..30 of each 31-frame stance segment slip: 27/31 = 87.1 %
    m = _metrics(g1, _standing(g1, vx=0.08))
    assert m.skate_speed_mean_cm_s == pytest.approx(8.0, rel=1e-6)
    assert m.skate_slip_pct == pytest.approx(100.0 * 27 / 31)


def test_skating_only_within_stance_segments(g1) -> None:
    # 0.08 m/s slide, stance only on frames 0..9 and 20..30 of the left foot: speeds come from
    # the 9 + 10 differences inside the segments (none across the gap) → 8 cm/s
    motion = _standing(g1, vx=0.08)
    stance = np.zeros((T, 2), bool)
    stance[0:10, 0] = stance[20:31, 0] = True
    targets = np.zeros((T, 1, 3))
    targets[:] = motion.root_pos_w[:, None]
    m = compute_metrics(motion, g1, targets, ("pelvis",), stance, 1.0, 1.0)
    assert m.skate_speed_mean_cm_s == pytest.approx(8.0, rel=1e-6)
    # offset k from the segment start has moved k·0.08/30 m, > 1 cm for k ≥ 4, counted from
    # each segment's own start: 6 (k = 4..9) + 7 (k = 4..10) of 10 + 11 entries
    assert m.skate_slip_pct == pytest.approx(100.0 * 13 / 21)


def test_lowered_root_goes_below_floor(g1) -> None:
    base = _metrics(g1, _standing(g1)).lowest_sole_mm
    m = _metrics(g1, _standing(g1, root_z=-0.01))
    # every corner moves down 10 mm with the root
    assert m.lowest_sole_mm == pytest.approx(base - 10.0, abs=1e-6)
    assert m.lowest_sole_mm == pytest.approx(-10.0, abs=2.0)
    assert m.frames_below_5mm_pct == 100.0
    assert not targets_met(m)["lowest_sole_ge_-5mm"]


def test_raised_root_floats_in_stance(g1) -> None:
    m = _metrics(g1, _standing(g1, root_z=0.05))
    assert m.stance_floating_pct == 100.0 and m.frames_below_5mm_pct == 0.0


def test_joint_beyond_limit_counted(g1) -> None:
    q = np.tile(g1.default_joint_pos_rad, (T, 1))
    k = g1.joint_index("left_knee_joint")
    q[10:15, k] = g1.joint_upper_rad[k] + 0.05  # 5 frames, 0.05 rad past the upper limit
    m = _metrics(g1, _standing(g1, joint_pos=q))
    assert m.joint_limit_violations == 5
    assert m.joint_limit_worst_excess_rad == pytest.approx(0.05)
    # the knee steps 2.8798 + 0.05 - 0.669 = 2.2608 rad between 30-fps frames 9 and 10
    # (t = 0.3 → 0.3333 s). At 50 fps the samples 0.30, 0.32, 0.34 s split it into
    # 0.6·2.2608 = 1.356 and 0.4·2.2608 = 0.904 rad, both > 0.3; the same on the way back → 4
    step = g1.joint_upper_rad[k] + 0.05 - g1.default_joint_pos_rad[k]
    assert m.joint_jumps == 4
    assert m.max_joint_step_rad == pytest.approx(0.6 * step)
    assert m.joint_vel_limit_violations >= 2  # 2.26 rad · 30 fps = 68 rad/s > 20 rad/s
    met = targets_met(m)
    assert not met["joint_limits"] and not met["no_jumps_gt_0.3rad"]


def test_keybody_error_offset(g1) -> None:
    motion = _standing(g1)
    names = ("pelvis", "head")
    targets, _ = ForwardKinematics(g1, names)(
        motion.root_pos_w, motion.root_quat_w, motion.joint_pos
    )
    targets[:, 1, 0] += 0.03  # head target 30 mm ahead; pelvis exact → mean 15, max 30
    stance = np.ones((T, 2), bool)
    m = compute_metrics(motion, g1, targets, names, stance, 1.0, 1.0)
    assert m.keybody_err_mean_mm == pytest.approx(15.0)
    assert m.keybody_err_max_mm == pytest.approx(30.0)
    assert m.fps_input30 == pytest.approx(30.0)
    assert not targets_met(m)["fps_input30_ge_1000"]


def test_self_collision_counted(g1) -> None:
    q = np.tile(g1.default_joint_pos_rad, (T, 1))
    q[:10, g1.joint_index("left_shoulder_yaw_joint")] = -1.5  # hand into the torso, 10 frames
    q[:10, g1.joint_index("left_elbow_joint")] = -0.95
    m = _metrics(g1, _standing(g1, joint_pos=q))
    assert m.self_collision_pct == pytest.approx(100.0 * 10 / 31)
    assert m.self_collision_max_depth_mm > 50.0


def test_shape_errors(g1) -> None:
    motion = _standing(g1)
    with pytest.raises(RetargetError, match="targets_w"):
        compute_metrics(motion, g1, np.zeros((T, 2, 3)), ("pelvis",), np.ones((T, 2)), 1, 1)
    with pytest.raises(RetargetError, match="stance"):
        compute_metrics(motion, g1, np.zeros((T, 1, 3)), ("pelvis",), np.ones((T, 3)), 1, 1)


def test_format_table(g1) -> None:
    m = _metrics(g1, _standing(g1))
    table = format_table({"walk_01": m, "run": m})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].startswith("clip")
    assert lines[2].startswith("walk_01") and "7/7" in lines[2]
