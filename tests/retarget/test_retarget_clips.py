"""Every real clip retargets and meets the issue's quality targets.

The checks are computed here from the output clip with the robot module and Pinocchio FK,
not taken from the retargeter's own report (speed is a benchmark, not a test).
"""

from __future__ import annotations

import numpy as np
import pytest

from humimic.retarget.collision import CapsuleChecker
from humimic.retarget.contacts import segments
from humimic.retarget.human import load_human
from humimic.retarget.pipeline import retarget
from humimic.robots.kinematics import ForwardKinematics

CMU = [
    "cmu_08_09_walk.bvh",
    "cmu_09_04_run.bvh",
    "cmu_16_49_run_veer_right.bvh",
    "cmu_75_10_jump.bvh",
    "cmu_115_06_pickup.bvh",
]


@pytest.fixture(scope="module", params=CMU)
def cmu_result(request, shared_data, g1):
    human = load_human(shared_data / "mocap" / request.param)
    return request.param, retarget(human, g1)


def test_cmu_clip_meets_targets(cmu_result, g1):
    name, result = cmu_result
    m = result.motion
    m.check_robot(g1)
    assert m.fps == 50.0

    # joint limits (robot module), hard: 0 violations
    lower, upper = np.array(g1.joint_lower_rad), np.array(g1.joint_upper_rad)
    assert np.all(m.joint_pos >= lower - 1e-9) and np.all(m.joint_pos <= upper + 1e-9), name

    # smoothness: no |Δq| > 0.3 rad between 50-fps frames; velocities within limits
    assert np.abs(np.diff(m.joint_pos, axis=0)).max() <= 0.3, name
    assert np.all(
        np.abs(np.diff(m.joint_pos, axis=0)) * m.fps <= np.array(g1.velocity_limit_rad_s) + 1e-6
    )

    # ground: the lowest sole corner (Pinocchio FK of the output) is never below -5 mm
    corners = ForwardKinematics(g1, ()).sole_corners_w(m.root_pos_w, m.root_quat_w, m.joint_pos)
    assert corners[..., 2].min() >= -0.005, name

    # stance feet: not floating (> 2 cm) and not skating (mean horizontal speed <= 2 cm/s)
    centre = corners.mean(axis=2)  # [T, F, 3]
    speeds = []
    for f in range(len(g1.feet)):
        lowest = corners[:, f, :, 2].min(axis=-1)
        assert np.all(lowest[result.stance[:, f]] <= 0.02), name
        for a, b in segments(result.stance[:, f]):
            speeds.extend(np.linalg.norm(np.diff(centre[a:b, f, :2], axis=0), axis=-1) * m.fps)
    assert len(speeds) > 0, f"{name}: no stance detected"
    assert np.mean(speeds) <= 0.02, name

    # self-collision: no capsule pair penetrates
    depths = CapsuleChecker(g1).clip_depths(m.root_pos_w, m.root_quat_w, m.joint_pos)
    assert depths.min() > -0.001, name

    # key bodies follow the scaled human keypoints: mean error <= 50 mm
    pos, _ = ForwardKinematics(g1, result.target_names)(m.root_pos_w, m.root_quat_w, m.joint_pos)
    err = np.linalg.norm(pos - result.targets_w, axis=-1)
    assert err.mean() <= 0.050, f"{name}: {err.mean() * 1000:.1f} mm"


def test_walk_moves_forward_with_alternating_stance(shared_data, g1):
    # 08_09 walks ≈ 4.24 m along +Z in the file (= +X in humimic); the robot's legs are
    # shorter (scale ≈ 0.78), so it covers ≈ 0.78 · 4.24 ≈ 3.3 m forward and little sideways
    result = retarget(load_human(shared_data / "mocap" / "cmu_08_09_walk.bvh"), g1)
    travel = result.motion.root_pos_w[-1] - result.motion.root_pos_w[0]
    assert 2.8 < travel[0] < 3.8
    assert abs(travel[1]) < 0.3
    assert 0.7 < result.scale < 0.85
    left, right = result.stance[:, 0], result.stance[:, 1]
    assert left.any() and right.any() and not np.all(left & right)


@pytest.mark.parametrize("clip", ["walk", "run", "backflip"])
def test_deepmimic_clips_retarget_within_limits(clip, shared_data, g1):
    human = load_human(shared_data / "deepmimic" / f"humanoid3d_{clip}.txt")
    m = retarget(human, g1).motion
    # 1.27 s / 0.80 s / 1.75 s at 50 fps → floor(d·50) + 1 frames
    assert m.num_frames == int(np.floor(human.duration_s * 50 + 1e-9)) + 1
    assert np.all(m.joint_pos >= np.array(g1.joint_lower_rad) - 1e-9)
    assert np.all(m.joint_pos <= np.array(g1.joint_upper_rad) + 1e-9)
    corners = ForwardKinematics(g1, ()).sole_corners_w(m.root_pos_w, m.root_quat_w, m.joint_pos)
    assert corners[..., 2].min() >= -0.005
