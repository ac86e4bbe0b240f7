"""Capsule self-collision: segment distances by hand and by brute force, the pair rule, poses."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from humimic.retarget.collision import CapsuleChecker, collision_pairs, segment_closest_points


def _seg(*pts: tuple[float, float, float]) -> list[np.ndarray]:
    return [np.array([p], dtype=float) for p in pts]


def test_parallel_segments_one_metre_apart() -> None:
    # x-axis segments [0,2] and [1,3], offset 1 m in y: overlapping parallel → dist 1
    c1, c2, d = segment_closest_points(*_seg((0, 0, 0), (2, 0, 0), (1, 1, 0), (3, 1, 0)))
    assert d[0] == pytest.approx(1.0)
    assert np.linalg.norm(c1 - c2) == pytest.approx(1.0)
    assert 1.0 <= c1[0, 0] <= 2.0 and c1[0, 1] == 0.0 and c2[0, 1] == 1.0


def test_parallel_segments_end_to_end() -> None:
    # [0,1] and [3,4] on the same line → closest endpoints 1 and 3, dist 2
    c1, c2, d = segment_closest_points(*_seg((0, 0, 0), (1, 0, 0), (3, 0, 0), (4, 0, 0)))
    assert d[0] == pytest.approx(2.0)
    np.testing.assert_allclose(c1[0], [1, 0, 0])
    np.testing.assert_allclose(c2[0], [3, 0, 0])


def test_crossing_perpendicular_segments() -> None:
    # x-axis segment at z=0 and y-axis segment at z=0.5 crossing above the origin
    c1, c2, d = segment_closest_points(*_seg((-1, 0, 0), (1, 0, 0), (0, -1, 0.5), (0, 1, 0.5)))
    assert d[0] == pytest.approx(0.5)
    np.testing.assert_allclose(c1[0], [0, 0, 0], atol=1e-12)
    np.testing.assert_allclose(c2[0], [0, 0, 0.5], atol=1e-12)


def test_endpoint_to_interior() -> None:
    # segment 2 ends at (0.3, 0.2, 0) pointing away from segment 1 along +y:
    # closest pair is that endpoint and (0.3, 0, 0) on segment 1, dist 0.2
    c1, c2, d = segment_closest_points(*_seg((0, 0, 0), (1, 0, 0), (0.3, 0.2, 0), (0.3, 2, 0)))
    assert d[0] == pytest.approx(0.2)
    np.testing.assert_allclose(c1[0], [0.3, 0, 0], atol=1e-12)
    np.testing.assert_allclose(c2[0], [0.3, 0.2, 0], atol=1e-12)


def test_degenerate_point_segments() -> None:
    # point-point: 3-4-5 triangle
    _, _, d = segment_closest_points(*_seg((0, 0, 0), (0, 0, 0), (3, 4, 0), (3, 4, 0)))
    assert d[0] == pytest.approx(5.0)
    # point vs segment (both orders): point (0.5, 1, 0) above segment [0,1] on x → 1
    _, c2, d = segment_closest_points(*_seg((0.5, 1, 0), (0.5, 1, 0), (0, 0, 0), (1, 0, 0)))
    assert d[0] == pytest.approx(1.0)
    np.testing.assert_allclose(c2[0], [0.5, 0, 0])
    c1, _, d = segment_closest_points(*_seg((0, 0, 0), (1, 0, 0), (2, 1, 0), (2, 1, 0)))
    assert d[0] == pytest.approx(np.sqrt(2.0))
    np.testing.assert_allclose(c1[0], [1, 0, 0])


def test_batched_shapes() -> None:
    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 7, 3))
    c1, c2, d = segment_closest_points(p[0], p[1], p[2], p[3])
    assert c1.shape == c2.shape == (7, 3) and d.shape == (7,)


_coord = st.floats(-2.0, 2.0, allow_nan=False, allow_infinity=False)


@settings(max_examples=150, deadline=None)
@example(np.array([[0.0, 1.1920929e-07, 1.1920929e-07]] + [[1.1920929e-07] * 3] * 3), False)
@given(arrays(np.float64, (4, 3), elements=_coord), st.booleans())
def test_matches_dense_sampling(pts: np.ndarray, parallel: bool) -> None:
    p1, q1, p2, q2 = pts
    if parallel:  # make segment 2 parallel to segment 1 (a case the formula special-cases)
        q2 = p2 + 0.7 * (q1 - p1)
    c1, c2, d = segment_closest_points(p1, q1, p2, q2)
    s = np.linspace(0.0, 1.0, 401)
    a = p1 + s[:, None] * (q1 - p1)
    b = p2 + s[:, None] * (q2 - p2)
    brute = np.linalg.norm(a[:, None] - b[None], axis=-1).min()
    # grid step ≤ 1/400 of a segment of length ≤ 4√3 → ≤ 0.035 m error on the brute force;
    # a segment shorter than 1 µm (squared length < 1e-12) is taken as its first end point, so
    # the exact distance may exceed the true one by up to 1e-6 m (found by hypothesis in CI)
    assert float(d) <= brute + 1e-6
    assert float(d) >= brute - 0.035
    assert float(d) == pytest.approx(float(np.linalg.norm(c1 - c2)), abs=1e-9)


def _names(g1, pairs):
    return {(g1.capsules[i].name, g1.capsules[j].name) for i, j in pairs}


def test_pair_rule(g1) -> None:
    pairs = collision_pairs(g1)
    names = _names(g1, pairs)
    both = names | {(b, a) for a, b in names}
    assert ("torso", "left_hand") in both and ("pelvis", "left_forearm") in both
    assert ("left_hand", "right_hand") in both and ("left_thigh", "right_thigh") in both
    assert ("left_hand", "left_thigh") in both and ("right_forearm", "left_shin") in both
    assert ("head", "right_upper_arm") in both
    assert ("torso", "left_upper_arm") not in both  # shoulder: overlap by construction
    assert ("pelvis", "left_thigh") not in both  # hip
    assert ("left_thigh", "left_shin") not in both  # same limb
    assert ("left_upper_arm", "left_forearm") not in both
    assert all(i < j for i, j in pairs) and len(set(pairs)) == len(pairs)
    # 3 trunk × 3 arm - 1, twice; 2 arms × 2 legs × 3 × 4; 3 × 3 arm-arm; 4 × 4 leg-leg
    assert len(pairs) == 2 * 8 + 4 * 12 + 9 + 16


def _checker_data(g1, joint_pos, root_z=None):
    checker = CapsuleChecker(g1)
    model = checker.robot.model
    data = model.createData()
    z = g1.default_root_height_m if root_z is None else root_z
    q = checker.robot.q_from(np.array([0, 0, z]), np.array([1.0, 0, 0, 0]), joint_pos)
    pin.framesForwardKinematics(model, data, q)
    return checker, data


def test_default_pose_clear(g1) -> None:
    checker, data = _checker_data(g1, np.array(g1.default_joint_pos_rad))
    res = checker.check(data)
    assert res.dist.min() > 0.04  # closest: pelvis vs forearm, +56 mm
    n = len(checker.pairs)
    assert res.pair_ids.shape == (n, 2) and res.c1_w.shape == res.normal_w.shape == (n, 3)
    np.testing.assert_allclose(np.linalg.norm(res.normal_w, axis=1), 1.0)
    # dist = (c1 - c2)·n - r1 - r2
    radii = np.array([c.radius_m for c in g1.capsules])
    proj = np.einsum("pi,pi->p", res.c1_w - res.c2_w, res.normal_w)
    expected = proj - radii[res.pair_ids[:, 0]] - radii[res.pair_ids[:, 1]]
    np.testing.assert_allclose(res.dist, expected, atol=1e-12)
    fid = checker.robot.frame_id(g1.capsules[int(res.pair_ids[0, 0])].body)
    assert res.frame_id1[0] == fid
    # clip_depths agrees with check
    depths = checker.clip_depths(
        np.array([[0, 0, g1.default_root_height_m]]),
        np.array([[1.0, 0, 0, 0]]),
        np.array([g1.default_joint_pos_rad]),
    )
    np.testing.assert_allclose(depths[0], res.dist)


def test_world_segments_match_body_pose(g1) -> None:
    checker, data = _checker_data(g1, np.array(g1.default_joint_pos_rad))
    a_w, b_w = checker.world_segments(data)
    k = [c.name for c in g1.capsules].index("left_hand")
    oMf = data.oMf[checker.robot.frame_id("left_rubber_hand")]
    np.testing.assert_allclose(a_w[k], oMf.act(np.array(g1.capsules[k].a_b)))
    np.testing.assert_allclose(b_w[k], oMf.act(np.array(g1.capsules[k].b_b)))


def test_left_hand_into_torso_detected(g1) -> None:
    # shoulder yaw strongly inward with the elbow folded swings the left hand into the chest
    q = np.array(g1.default_joint_pos_rad)
    q[g1.joint_index("left_shoulder_yaw_joint")] = -1.5
    q[g1.joint_index("left_elbow_joint")] = -0.95
    checker, data = _checker_data(g1, q)
    res = checker.check(data)
    names = [(g1.capsules[i].name, g1.capsules[j].name) for i, j in res.pair_ids]
    k = names.index(("torso", "left_hand"))
    assert res.dist[k] < -0.05  # measured -97 mm
    # normal points from the hand (capsule 2) toward the torso (capsule 1)
    assert np.dot(res.normal_w[k], res.c1_w[k] - res.c2_w[k]) >= 0
    # the right arm is untouched and stays clear
    right = [d for (a, b), d in zip(names, res.dist, strict=True) if "right" in a + b]
    assert min(right) > 0.04
