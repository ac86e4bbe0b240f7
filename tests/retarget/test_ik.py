"""Per-frame IK (:mod:`humimic.retarget.ik`): Jacobians against finite differences, solves
from forward-kinematics targets, hard joint/velocity limits, and the self-collision rows."""

from __future__ import annotations

import numpy as np
import pinocchio as pin
import pytest

from humimic.retarget.collision import CapsuleChecker
from humimic.retarget.ik import FrameIK, IkSettings, skew

# the frames the retargeting pipeline uses (robots/g1.py HUMAN_MAP)
POS_FRAMES = (
    "pelvis",
    "left_knee_link",
    "right_knee_link",
    "left_ankle_roll_link",
    "right_ankle_roll_link",
    "left_elbow_link",
    "left_wrist_yaw_link",
    "right_elbow_link",
    "right_wrist_yaw_link",
    "head",  # an extra (operational) frame on head_link
)
ROT_FRAMES = ("pelvis", "torso_link", "left_ankle_roll_link", "right_ankle_roll_link")
EPS = 1e-6  # finite-difference step (rad or m along a tangent direction)


def _random_q(ik: FrameIK, rng: np.random.Generator, spread_rad: float = 0.3) -> np.ndarray:
    """Root anywhere near standing height with a random orientation; joints default ± spread,
    kept 0.05 rad inside their limits."""
    quat = rng.normal(size=4)
    quat /= np.linalg.norm(quat)  # wxyz, uniformly random rotation
    joints = ik.q_default + rng.uniform(-spread_rad, spread_rad, ik.q_default.shape)
    joints = np.clip(joints, ik.lower + 0.05, ik.upper - 0.05)
    root = rng.normal(0.0, 0.2, 3) + np.array([0.0, 0.0, 0.75])
    return ik.robot.q_from(root, quat, joints)


def _update(ik: FrameIK, q: np.ndarray) -> None:
    """What ``FrameIK.solve`` calls before reading Jacobians and ``oMf``."""
    pin.computeJointJacobians(ik.model, ik.data, q)
    pin.updateFramePlacements(ik.model, ik.data)


def _placement(ik: FrameIK, q: np.ndarray, fid: int) -> pin.SE3:
    data = ik.model.createData()
    pin.framesForwardKinematics(ik.model, data, q)
    return data.oMf[fid].copy()


@pytest.fixture(scope="module")
def ik(g1) -> FrameIK:
    return FrameIK(g1, POS_FRAMES, ROT_FRAMES)


def test_skew_is_the_cross_product() -> None:
    # [v]× u = v × u; e.g. x × y = z: skew((1,0,0)) @ (0,1,0) = (0,0,1)
    np.testing.assert_allclose(skew(np.array([1.0, 0, 0])) @ np.array([0, 1.0, 0]), [0, 0, 1])
    rng = np.random.default_rng(3)
    for _ in range(5):
        v, u = rng.normal(size=3), rng.normal(size=3)
        np.testing.assert_allclose(skew(v) @ u, np.cross(v, u), atol=1e-15)
        np.testing.assert_allclose(skew(v).T, -skew(v))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frame_jacobian_rows_match_finite_differences(ik: FrameIK, seed: int) -> None:
    """The LOCAL_WORLD_ALIGNED rows the IK uses: linear rows = d p_w / d v_i, angular rows =
    log3(R(q ⊕ ε e_i) R(q ⊖ ε e_i)ᵀ) / 2ε (world angular velocity), for all 35 directions."""
    rng = np.random.default_rng(seed)
    q = _random_q(ik, rng)
    _update(ik, q)
    frames = sorted(set(ik.pos_ids) | set(ik.rot_ids))
    J = {f: pin.getFrameJacobian(ik.model, ik.data, f, pin.LOCAL_WORLD_ALIGNED) for f in frames}
    for i in range(ik.nv):
        dv = np.zeros(ik.nv)
        dv[i] = EPS
        q_plus, q_minus = pin.integrate(ik.model, q, dv), pin.integrate(ik.model, q, -dv)
        for f in frames:
            M_p, M_m = _placement(ik, q_plus, f), _placement(ik, q_minus, f)
            lin_fd = (M_p.translation - M_m.translation) / (2 * EPS)
            ang_fd = pin.log3(M_p.rotation @ M_m.rotation.T) / (2 * EPS)
            name = ik.model.frames[f].name
            np.testing.assert_allclose(J[f][:3, i], lin_fd, atol=1e-5, err_msg=f"{name} v[{i}]")
            np.testing.assert_allclose(J[f][3:, i], ang_fd, atol=1e-5, err_msg=f"{name} v[{i}]")


@pytest.mark.parametrize("seed", [0, 1])
def test_point_jacobian_matches_finite_differences(ik: FrameIK, seed: int) -> None:
    """A point 5–15 cm off a frame's origin, carried rigidly with the frame."""
    rng = np.random.default_rng(10 + seed)
    q = _random_q(ik, rng)
    _update(ik, q)
    for name in ("left_wrist_yaw_link", "right_knee_link", "torso_link", "head"):
        fid = ik.robot.frame_id(name)
        offset_b = rng.uniform(0.05, 0.15, 3) * rng.choice([-1.0, 1.0], 3)
        p_w = ik.data.oMf[fid].act(offset_b)
        J = ik._point_jacobian(fid, p_w)
        J_fd = np.empty((3, ik.nv))
        for i in range(ik.nv):
            dv = np.zeros(ik.nv)
            dv[i] = EPS
            p_plus = _placement(ik, pin.integrate(ik.model, q, dv), fid).act(offset_b)
            p_minus = _placement(ik, pin.integrate(ik.model, q, -dv), fid).act(offset_b)
            J_fd[:, i] = (p_plus - p_minus) / (2 * EPS)
        np.testing.assert_allclose(J, J_fd, atol=1e-5, err_msg=name)
        # the lever arm matters: the frame origin's own rows are off by ≈ |ω|·|r| ≥ a few cm/rad
        J_origin = pin.getFrameJacobian(ik.model, ik.data, fid, pin.LOCAL_WORLD_ALIGNED)[:3]
        assert np.abs(J_origin - J_fd).max() > 1e-2


def test_collision_row_is_the_distance_gradient(g1) -> None:
    """``nᵀ(J_p1 − J_p2)`` (the row of ``_collision_rows`` before its weight) = d dist / d v.

    The closest points slide along the axes as q changes, but at a minimum that sliding does not
    change the distance to first order, so the rigidly-attached-point Jacobians suffice.
    """
    checker = CapsuleChecker(g1)
    ik = FrameIK(g1, ("pelvis",), (), checker=checker)
    q = _hand_in_torso_q(ik)
    _update(ik, q)
    k = checker.pair_names.index(("torso", "left_hand"))
    pairs = checker.check(ik.data)
    assert pairs.dist[k] < 0.0
    f1, f2 = int(pairs.frame_id1[k]), int(pairs.frame_id2[k])
    row = pairs.normal_w[k] @ (
        ik._point_jacobian(f1, pairs.c1_w[k]) - ik._point_jacobian(f2, pairs.c2_w[k])
    )

    def dist(qq: np.ndarray) -> float:
        data = ik.model.createData()
        pin.framesForwardKinematics(ik.model, data, qq)
        return float(checker.check(data).dist[k])

    fd = np.empty(ik.nv)
    for i in range(ik.nv):
        dv = np.zeros(ik.nv)
        dv[i] = EPS
        fd[i] = (dist(pin.integrate(ik.model, q, dv)) - dist(pin.integrate(ik.model, q, -dv))) / (
            2 * EPS
        )
    np.testing.assert_allclose(row, fd, atol=1e-5)
    assert np.abs(fd).max() > 0.05  # not a vacuous comparison of zeros


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_solve_reaches_forward_kinematics_targets(g1, seed: int) -> None:
    """Targets = FK of a known q* within limits; start 0.05 rad / 5 cm away in every tangent
    direction. The posture prior is off (it would pull q* toward the default pose: with it on,
    weight 10 leaves ≈ 0.3–0.7 mm, weight 1 ≈ 12 mm) and the early stop is disabled."""
    ik = FrameIK(g1, POS_FRAMES, ROT_FRAMES, IkSettings(posture_weight=0.0, converged_step_rad=0))
    rng = np.random.default_rng(100 + seed)
    q_star = _random_q(ik, rng)
    p_target = ik.frame_positions(q_star).copy()
    r_target = np.array([ik.data.oMf[f].rotation for f in ik.rot_ids])
    q0 = pin.integrate(ik.model, q_star, rng.uniform(-0.05, 0.05, ik.nv))
    start_err = np.linalg.norm(ik.frame_positions(q0) - p_target, axis=-1).max()
    assert start_err > 0.02  # the start really is off

    q = ik.solve(
        q0, p_target, np.full(len(POS_FRAMES), 10.0), r_target, np.full(4, 10.0), None, 0.02, 100
    )
    pos_err = np.linalg.norm(ik.frame_positions(q) - p_target, axis=-1)
    assert pos_err.max() < 1e-3
    for k, fid in enumerate(ik.rot_ids):
        assert np.linalg.norm(pin.log3(r_target[k] @ ik.data.oMf[fid].rotation.T)) < 1e-3
    joints = q[ik.q_idx]
    assert np.all(joints >= ik.lower) and np.all(joints <= ik.upper)
    assert np.linalg.norm(q[3:7]) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_solve_respects_joint_and_velocity_limits(ik: FrameIK, seed: int) -> None:
    """Targets of a far configuration (joints ±1.5 rad away, clipped to limits) from a start at
    ``joint_prev``: at dt = 0.01 s each joint may move min(v_max, 14)·0.01 = 0.14 rad (all G1
    velocity limits are ≥ 20 rad/s, so 14 rad/s binds everywhere)."""
    rng = np.random.default_rng(200 + seed)
    q_start = _random_q(ik, rng)
    q_far = _random_q(ik, rng, spread_rad=1.5)
    p_target = ik.frame_positions(q_far).copy()
    r_target = np.array([ik.data.oMf[f].rotation for f in ik.rot_ids])
    joint_prev = q_start[ik.q_idx].copy()
    dt_s = 0.01
    step = np.minimum(ik.v_max, ik.settings.max_joint_speed_rad_s) * dt_s
    np.testing.assert_allclose(step, 0.14)

    w_pos, w_rot = np.ones(len(POS_FRAMES)), np.ones(4)
    q = ik.solve(q_start.copy(), p_target, w_pos, r_target, w_rot, joint_prev, dt_s, 20)
    joints = q[ik.q_idx]
    assert np.all(np.abs(joints - joint_prev) <= step + 1e-12)
    assert np.all(joints >= ik.lower) and np.all(joints <= ik.upper)
    # the targets pull hard, so some joints sit on the velocity bound (the clip is active)
    assert np.isclose(np.abs(joints - joint_prev), step, atol=1e-12).any()


def test_solve_unreachable_target_stays_within_limits(ik: FrameIK) -> None:
    """Wrists 3 m from the body and the feet 2 m up: no joint leaves its range."""
    q_start = ik.robot.q_from(np.array([0, 0, 0.75]), np.array([1.0, 0, 0, 0]), ik.q_default)
    p_target = ik.frame_positions(q_start).copy()
    p_target[POS_FRAMES.index("left_wrist_yaw_link")] += [3.0, 3.0, 0.0]
    p_target[POS_FRAMES.index("right_wrist_yaw_link")] += [-3.0, -3.0, 1.0]
    p_target[POS_FRAMES.index("left_ankle_roll_link")] += [0.0, 0.0, 2.0]
    p_target[POS_FRAMES.index("right_ankle_roll_link")] += [2.0, 0.0, 2.0]
    r_target = np.tile(np.eye(3), (4, 1, 1))
    q = ik.solve(
        q_start, p_target, np.full(len(POS_FRAMES), 5.0), r_target, np.ones(4), None, 0.02, 50
    )
    assert np.all(np.isfinite(q))
    joints = q[ik.q_idx]
    assert np.all(joints >= ik.lower) and np.all(joints <= ik.upper)
    # something was pushed against a limit (the targets are out of reach)
    assert np.isclose(joints, ik.lower).any() or np.isclose(joints, ik.upper).any()


def _hand_in_torso_q(ik: FrameIK) -> np.ndarray:
    """Default pose with left shoulder yaw 0 - 1.5 = -1.5 rad and left elbow 0.6 - 0.95 =
    -0.35 rad: the left hand swings into the torso (torso/left_hand ≈ -60 mm)."""
    spec = ik.spec
    joints = ik.q_default.copy()
    joints[spec.joint_index("left_shoulder_yaw_joint")] -= 1.5
    joints[spec.joint_index("left_elbow_joint")] -= 0.95
    return ik.robot.q_from(np.array([0.0, 0.0, 0.75]), np.array([1.0, 0, 0, 0]), joints)


@pytest.mark.parametrize("posture_weight", [0.0, 0.1])
def test_collision_rows_push_the_hand_out_of_the_torso(g1, posture_weight: float) -> None:
    """Target = the current (penetrating) hand pose; collision rows trade hand tracking for
    clearance. Without the posture prior the plain solve does not move at all (already at the
    target), so any gain comes from the collision rows."""
    checker = CapsuleChecker(g1)
    settings = IkSettings(posture_weight=posture_weight)
    ik = FrameIK(g1, ("pelvis", "left_wrist_yaw_link"), ("pelvis", "torso_link"), settings, checker)
    k = checker.pair_names.index(("torso", "left_hand"))

    def dist(q: np.ndarray) -> float:
        data = ik.model.createData()
        pin.framesForwardKinematics(ik.model, data, q)
        return float(checker.check(data).dist[k])

    q0 = _hand_in_torso_q(ik)
    d0 = dist(q0)
    assert d0 < -0.05  # ≈ -59.7 mm of penetration
    p_target = ik.frame_positions(q0).copy()
    r_target = np.array([ik.data.oMf[f].rotation for f in ik.rot_ids])
    w_pos, w_rot = np.ones(2), np.ones(2)
    q_plain = ik.solve(q0.copy(), p_target, w_pos, r_target, w_rot, None, 0.02, 10)
    q_avoid = ik.solve(
        q0.copy(), p_target, w_pos, r_target, w_rot, None, 0.02, 10, avoid_collisions=True
    )
    assert dist(q_plain) >= d0 - 1e-9
    assert dist(q_avoid) > dist(q_plain) + 0.05
    assert dist(q_avoid) > ik.settings.margin_m  # clear of the margin after 10 steps
    joints = q_avoid[ik.q_idx]
    assert np.all(joints >= ik.lower) and np.all(joints <= ik.upper)
