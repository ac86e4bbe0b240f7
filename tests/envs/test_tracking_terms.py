"""Tracking-task MDP terms (envs/tracking): hand-computed values, written out in comments."""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest
import torch

from humimic import rotations as R
from humimic.envs.tracking import math as tm
from humimic.envs.tracking import observations as obs
from humimic.envs.tracking import rewards as rw
from humimic.envs.tracking import terminations as term
from humimic.envs.tracking.state import RobotFrame, TermInput, missing_fields, required_fields
from humimic.errors import ConfigError

J = 29  # G1 29-DoF
B = 4  # tracked bodies: 0 = anchor (torso), 1 = hand, 2 = left foot, 3 = right foot
ANCHOR, HAND, LFOOT, RFOOT = 0, 1, 2, 3

SQ = math.sqrt(0.5)
YAW_90 = (SQ, 0.0, 0.0, SQ)  # +90° about world z
PITCH_90 = (SQ, 0.0, SQ, 0.0)  # +90° about y: nose (x) down


def quat_z(angle: float) -> tuple[float, float, float, float]:
    return (math.cos(angle / 2), 0.0, 0.0, math.sin(angle / 2))


def frame(n: int = 1, seed: int | None = None) -> RobotFrame:
    """Standing robot at the origin (all identity), or a random full state with ``seed``."""
    if seed is None:
        quat = torch.zeros(n, B, 4)
        quat[..., 0] = 1.0
        pos = torch.zeros(n, B, 3)
        pos[:, :, 2] = torch.tensor([1.0, 1.0, 0.05, 0.05])
        return RobotFrame(
            root_pos_w=pos[:, 0].clone(),
            root_quat_w=quat[:, 0].clone(),
            root_lin_vel_w=torch.zeros(n, 3),
            root_ang_vel_w=torch.zeros(n, 3),
            joint_pos=torch.zeros(n, J),
            joint_vel=torch.zeros(n, J),
            body_pos_w=pos,
            body_quat_w=quat,
            body_lin_vel_w=torch.zeros(n, B, 3),
            body_ang_vel_w=torch.zeros(n, B, 3),
        )
    g = torch.Generator().manual_seed(seed)
    quat = torch.nn.functional.normalize(torch.randn(n, B, 4, generator=g), dim=-1)
    return RobotFrame(
        root_pos_w=torch.randn(n, 3, generator=g),
        root_quat_w=quat[:, 0].clone(),
        root_lin_vel_w=torch.randn(n, 3, generator=g),
        root_ang_vel_w=torch.randn(n, 3, generator=g),
        joint_pos=torch.randn(n, J, generator=g),
        joint_vel=torch.randn(n, J, generator=g),
        body_pos_w=torch.randn(n, B, 3, generator=g),
        body_quat_w=quat,
        body_lin_vel_w=torch.randn(n, B, 3, generator=g),
        body_ang_vel_w=torch.randn(n, B, 3, generator=g),
    )


def make_input(robot: RobotFrame | None = None, ref: RobotFrame | None = None, **kw) -> TermInput:
    robot = robot if robot is not None else frame()
    ref = ref if ref is not None else frame()
    n = robot.joint_pos.shape[0]
    base = dict(
        robot=robot,
        ref=ref,
        last_action=torch.zeros(n, J),
        prev_action=torch.zeros(n, J),
        default_joint_pos=torch.zeros(J),
        anchor_index=ANCHOR,
        ee_indices=(HAND, LFOOT, RFOOT),
        foot_indices=(LFOOT, RFOOT),
        soft_joint_pos_limits=torch.tensor([[-1.0, 1.0]] * J),
        contact_force_w=torch.zeros(n, B, 3),
    )
    base.update(kw)
    return TermInput(**base)


def with_body(f: RobotFrame, field: str, body: int, value) -> RobotFrame:
    t = getattr(f, field).clone()
    t[:, body] = torch.as_tensor(value, dtype=t.dtype)
    return dataclasses.replace(f, **{field: t})


# -- math vs humimic.rotations (NumPy) ----------------------------------------------------


@pytest.fixture
def rand_q():
    rng = np.random.default_rng(0)
    a = R.quat_normalize(rng.normal(size=(64, 4)))
    b = R.quat_normalize(rng.normal(size=(64, 4)))
    v = rng.normal(size=(64, 3))
    return a, b, v


def t64(x):
    return torch.as_tensor(x, dtype=torch.float64)


def test_math_matches_numpy_rotations(rand_q):
    a, b, v = rand_q
    np.testing.assert_allclose(tm.quat_mul(t64(a), t64(b)).numpy(), R.quat_mul(a, b), atol=1e-12)
    np.testing.assert_allclose(tm.quat_conj(t64(a)).numpy(), R.quat_conj(a), atol=1e-12)
    np.testing.assert_allclose(
        tm.quat_apply(t64(a), t64(v)).numpy(), R.quat_rotate(a, v), atol=1e-12
    )
    np.testing.assert_allclose(
        tm.quat_apply_inverse(t64(a), t64(v)).numpy(), R.quat_rotate(R.quat_conj(a), v), atol=1e-12
    )
    m = R.quat_to_matrix(a)
    np.testing.assert_allclose(tm.quat_to_matrix(t64(a)).numpy(), m, atol=1e-12)
    np.testing.assert_allclose(
        tm.quat_to_rot6d(t64(a)).numpy(), m[:, :, :2].reshape(-1, 6), atol=1e-12
    )
    angle = np.linalg.norm(R.quat_log(R.quat_mul(R.quat_conj(a), b)), axis=-1)
    np.testing.assert_allclose(tm.quat_error_angle(t64(a), t64(b)).numpy(), angle, atol=1e-9)
    np.testing.assert_allclose(tm.yaw_quat(t64(a)).numpy(), R.yaw_quat(a), atol=1e-12)
    g = R.quat_rotate(R.quat_conj(a), np.broadcast_to([0.0, 0.0, -1.0], v.shape))
    np.testing.assert_allclose(tm.projected_gravity(t64(a)).numpy(), g, atol=1e-12)


def test_math_float32_broadcast_and_sign_invariance(rand_q):
    a, b, v = rand_q
    qa = torch.as_tensor(a, dtype=torch.float32)
    # [N,1,4] × [N,3,3] broadcasts over bodies
    out = tm.quat_apply(
        qa[:, None], torch.as_tensor(v, dtype=torch.float32)[:, None].expand(-1, 3, -1)
    )
    assert out.shape == (64, 3, 3) and out.dtype == torch.float32
    np.testing.assert_allclose(out[:, 1].numpy(), R.quat_rotate(a, v), atol=1e-5)
    # q and −q are the same rotation: error angle in [0, π], zero against itself
    qb = torch.as_tensor(b, dtype=torch.float64)
    err = tm.quat_error_angle(t64(a), qb)
    assert torch.all(err >= 0) and torch.all(err <= math.pi + 1e-12)
    torch.testing.assert_close(
        tm.quat_error_angle(t64(a), -t64(a)), torch.zeros(64, dtype=torch.float64)
    )
    # 90° about z: error angle π/2
    assert tm.quat_error_angle(t64([1.0, 0, 0, 0]), t64(YAW_90)).item() == pytest.approx(
        math.pi / 2
    )


# -- observations -------------------------------------------------------------------------


def test_ref_anchor_pos_b_robot_yawed_90_ref_1m_ahead_in_world_x():
    # Robot anchor at the origin yawed +90°: its x axis points along world +y, its y axis
    # along world −x. The reference anchor at world (1, 0, 0) is therefore at
    # R(90°)ᵀ (1, 0, 0) = (0, −1, 0): one metre to the robot's right.
    robot = with_body(frame(), "body_quat_w", ANCHOR, YAW_90)
    robot = with_body(robot, "body_pos_w", ANCHOR, (0.0, 0.0, 0.0))
    ref = with_body(frame(), "body_pos_w", ANCHOR, (1.0, 0.0, 0.0))
    out = obs.ref_anchor_pos_b(make_input(robot, ref))
    torch.testing.assert_close(out, torch.tensor([[0.0, -1.0, 0.0]]), atol=1e-6, rtol=0)


def test_ref_anchor_ori_b_rot6d():
    # Perfect tracking: relative rotation = identity,
    # rot6d = (R00, R01, R10, R11, R20, R21) = (1, 0, 0, 1, 0, 0)
    out = obs.ref_anchor_ori_b(make_input())
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 0.0, 1.0, 0.0, 0.0]]))
    # Reference yawed +90° relative to the robot: R = [[0,−1,0],[1,0,0],[0,0,1]]
    # → first two columns row-major = (0, −1, 1, 0, 0, 0)
    ref = with_body(frame(), "body_quat_w", ANCHOR, YAW_90)
    out = obs.ref_anchor_ori_b(make_input(ref=ref))
    torch.testing.assert_close(
        out, torch.tensor([[0.0, -1.0, 1.0, 0.0, 0.0, 0.0]]), atol=1e-6, rtol=0
    )


def test_projected_gravity_upright_and_pitched():
    # Upright: gravity points down the body z axis: (0, 0, −1).
    out = obs.projected_gravity_b(make_input())
    torch.testing.assert_close(out, torch.tensor([[0.0, 0.0, -1.0]]))
    # Pitched +90° about y (nose down): the body x axis points to world −z, so gravity lies
    # along body +x: (+1, 0, 0).
    robot = dataclasses.replace(frame(), root_quat_w=torch.tensor([PITCH_90]))
    out = obs.projected_gravity_b(make_input(robot))
    torch.testing.assert_close(out, torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6, rtol=0)


def test_base_velocities_in_root_frame():
    # Yawed +90°, world velocity (1, 0, 0) → body frame (0, −1, 0) for both lin and ang.
    robot = dataclasses.replace(
        frame(),
        root_quat_w=torch.tensor([YAW_90]),
        root_lin_vel_w=torch.tensor([[1.0, 0.0, 0.0]]),
        root_ang_vel_w=torch.tensor([[1.0, 0.0, 0.0]]),
    )
    inp = make_input(robot)
    expect = torch.tensor([[0.0, -1.0, 0.0]])
    torch.testing.assert_close(obs.base_lin_vel_b(inp), expect, atol=1e-6, rtol=0)
    torch.testing.assert_close(obs.base_ang_vel_b(inp), expect, atol=1e-6, rtol=0)


def test_joint_terms():
    # q = 0.3, default 0.1 → joint_pos_rel = 0.2 everywhere
    robot = dataclasses.replace(
        frame(), joint_pos=torch.full((1, J), 0.3), joint_vel=torch.ones(1, J)
    )
    inp = make_input(
        robot, default_joint_pos=torch.full((J,), 0.1), last_action=torch.full((1, J), 7.0)
    )
    torch.testing.assert_close(obs.joint_pos_rel(inp), torch.full((1, J), 0.2))
    torch.testing.assert_close(obs.joint_vel(inp), torch.ones(1, J))
    torch.testing.assert_close(obs.last_action(inp), torch.full((1, J), 7.0))
    ref = dataclasses.replace(
        frame(), joint_pos=torch.full((1, J), 0.5), joint_vel=torch.full((1, J), 2.0)
    )
    inp = make_input(ref=ref)
    torch.testing.assert_close(obs.ref_joint_pos(inp), torch.full((1, J), 0.5))
    torch.testing.assert_close(obs.ref_joint_vel(inp), torch.full((1, J), 2.0))


def test_body_pos_b_relative_to_anchor():
    # Anchor at (1, 2, 3) yawed +90°; the hand 1 m along world +y from it is 1 m along the
    # anchor's own +x: (1, 0, 0). The anchor's own entry is zero. Flattened [N, 3B].
    robot = with_body(frame(), "body_pos_w", ANCHOR, (1.0, 2.0, 3.0))
    robot = with_body(robot, "body_quat_w", ANCHOR, YAW_90)
    robot = with_body(robot, "body_pos_w", HAND, (1.0, 3.0, 3.0))
    out = obs.body_pos_b(make_input(robot))
    assert out.shape == (1, 3 * B)
    torch.testing.assert_close(out[:, 0:3], torch.zeros(1, 3))
    torch.testing.assert_close(out[:, 3:6], torch.tensor([[1.0, 0.0, 0.0]]), atol=1e-6, rtol=0)
    assert obs.body_ori_b(make_input(robot)).shape == (1, 6 * B)


ACTOR = [
    ("ref_joint_pos", obs.ref_joint_pos),
    ("ref_joint_vel", obs.ref_joint_vel),
    ("ref_anchor_pos_b", obs.ref_anchor_pos_b),
    ("ref_anchor_ori_b", obs.ref_anchor_ori_b),
    ("base_ang_vel_b", obs.base_ang_vel_b),
    ("projected_gravity_b", obs.projected_gravity_b),
    ("joint_pos_rel", obs.joint_pos_rel),
    ("joint_vel", obs.joint_vel),
    ("last_action", obs.last_action),
]


def test_observation_group_sizes_are_derived():
    group = obs.ObservationGroup(ACTOR)
    inp = make_input(frame(3, seed=1), frame(3, seed=2))
    sizes = group.resolve(inp)
    # J = 29: 29 + 29 + 3 + 6 + 3 + 3 + 29 + 29 + 29 = 160
    assert sizes == [
        ("ref_joint_pos", 29),
        ("ref_joint_vel", 29),
        ("ref_anchor_pos_b", 3),
        ("ref_anchor_ori_b", 6),
        ("base_ang_vel_b", 3),
        ("projected_gravity_b", 3),
        ("joint_pos_rel", 29),
        ("joint_vel", 29),
        ("last_action", 29),
    ]
    assert group.dim == 160
    out = group(inp)
    assert out.shape == (3, 160)
    torch.testing.assert_close(out[:, 58:61], obs.ref_anchor_pos_b(inp))
    table = group.table()
    assert "ref_anchor_ori_b" in table and "[58:61]" in table and "160" in table
    # critic: + base_lin_vel_b 3 + body_pos_b 3B = 12 (B = 4) → 175
    critic = obs.ObservationGroup(
        [*ACTOR, ("base_lin_vel_b", obs.base_lin_vel_b), ("body_pos_b", obs.body_pos_b)]
    )
    critic.resolve(inp)
    assert critic.term_sizes[-2:] == [("base_lin_vel_b", 3), ("body_pos_b", 12)]
    assert critic.dim == 175


def test_observation_group_rejects_duplicates_and_unresolved():
    with pytest.raises(ConfigError, match="repeated"):
        obs.ObservationGroup([("a", obs.joint_vel), ("a", obs.joint_vel)])
    with pytest.raises(ConfigError, match="resolve"):
        _ = obs.ObservationGroup(ACTOR).dim


def test_deploy_can_refuse_terms_needing_unmeasured_fields():
    # A real robot: joints + IMU only, no body poses, no root position / linear velocity.
    real = RobotFrame(
        root_quat_w=torch.tensor([[1.0, 0, 0, 0]]),
        root_ang_vel_w=torch.zeros(1, 3),
        joint_pos=torch.zeros(1, J),
        joint_vel=torch.zeros(1, J),
    )
    inp = make_input(real)
    group = obs.ObservationGroup(ACTOR)
    assert group.required_fields >= {"robot.body_pos_w", "robot.body_quat_w", "ref.joint_pos"}
    assert missing_fields(group.required_fields, inp) == ["robot.body_pos_w", "robot.body_quat_w"]
    with pytest.raises(ConfigError, match="robot.body_pos_w"):
        obs.ref_anchor_pos_b(inp)
    # Joint/IMU-only terms work on it.
    deployable = obs.ObservationGroup([(n, f) for n, f in ACTOR if not n.startswith("ref_anchor")])
    assert missing_fields(deployable.required_fields, inp) == []
    assert deployable(inp).shape == (1, 151)  # 160 − 3 − 6
    assert required_fields(functools.partial(rw.pose_reward, scale=1.0)) == {
        "robot.joint_pos",
        "ref.joint_pos",
    }


# -- rewards ------------------------------------------------------------------------------

IMITATION = [
    rw.pose_reward,
    rw.velocity_reward,
    rw.end_effector_reward,
    rw.com_reward,
    rw.anchor_pos_error_exp,
    rw.anchor_ori_error_exp,
    rw.body_pos_error_exp,
    rw.body_ori_error_exp,
    rw.body_lin_vel_error_exp,
    rw.body_ang_vel_error_exp,
]


@pytest.mark.parametrize("fn", IMITATION, ids=lambda f: f.__name__)
def test_perfect_tracking_gives_exactly_one(fn):
    f = frame(5, seed=3)
    out = fn(make_input(f, f))
    assert out.shape == (5,)
    assert torch.equal(out, torch.ones(5)), out


def test_pose_reward_two_joints_off_by_0p1():
    # 0.1 rad on 2 joints: exp(−2·(0.01 + 0.01)) = exp(−0.04) = 0.960789
    q = torch.zeros(1, J)
    q[0, :2] = 0.1
    out = rw.pose_reward(make_input(dataclasses.replace(frame(), joint_pos=q)))
    assert out.item() == pytest.approx(0.960789, abs=1e-6)


def test_velocity_reward_two_joints_off_by_1():
    # 1 rad/s on 2 joints: exp(−0.1·(1 + 1)) = exp(−0.2) = 0.818731
    qd = torch.zeros(1, J)
    qd[0, 3:5] = -1.0
    out = rw.velocity_reward(make_input(dataclasses.replace(frame(), joint_vel=qd)))
    assert out.item() == pytest.approx(0.818731, abs=1e-6)


def test_end_effector_reward_one_hand_off_by_0p1():
    # hand 0.1 m off in x: exp(−40·0.01) = exp(−0.4) = 0.670320
    robot = with_body(frame(), "body_pos_w", HAND, (0.1, 0.0, 1.0))
    assert rw.end_effector_reward(make_input(robot)).item() == pytest.approx(0.670320, abs=1e-6)


def test_com_reward_and_global_drift():
    # anchor (COM proxy) 0.1 m low: exp(−10·0.01) = exp(−0.1) = 0.904837
    robot = with_body(frame(), "body_pos_w", ANCHOR, (0.0, 0.0, 0.9))
    assert rw.com_reward(make_input(robot)).item() == pytest.approx(0.904837, abs=1e-6)
    # whole robot shifted 0.5 m in x: com sees it, exp(−10·0.25) = exp(−2.5) = 0.082085,
    # end effectors (measured from the anchor) do not: 1.
    f = frame()
    shifted = dataclasses.replace(f, body_pos_w=f.body_pos_w + torch.tensor([0.5, 0.0, 0.0]))
    inp = make_input(shifted)
    assert rw.com_reward(inp).item() == pytest.approx(0.082085, abs=1e-6)
    assert rw.end_effector_reward(inp).item() == pytest.approx(1.0, abs=1e-6)


def test_anchor_terms():
    # anchor 0.3 m off: exp(−0.09 / 0.3²) = exp(−1) = 0.367879
    robot = with_body(frame(), "body_pos_w", ANCHOR, (0.3, 0.0, 1.0))
    assert rw.anchor_pos_error_exp(make_input(robot)).item() == pytest.approx(0.367879, abs=1e-6)
    # anchor yawed 0.4 rad: exp(−0.16 / 0.4²) = exp(−1) = 0.367879
    robot = with_body(frame(), "body_quat_w", ANCHOR, quat_z(0.4))
    assert rw.anchor_ori_error_exp(make_input(robot)).item() == pytest.approx(0.367879, abs=1e-6)


def test_body_terms_one_of_four_bodies_off():
    # B = 4 bodies, one off by σ: mean squared error σ²/4 → exp(−(σ²/4)/σ²) = exp(−0.25) = 0.778801
    e = 0.778801
    inp = make_input(with_body(frame(), "body_pos_w", HAND, (0.0, 0.3, 1.0)))
    assert rw.body_pos_error_exp(inp).item() == pytest.approx(e, abs=1e-6)
    inp = make_input(with_body(frame(), "body_quat_w", HAND, quat_z(0.4)))
    assert rw.body_ori_error_exp(inp).item() == pytest.approx(e, abs=1e-6)
    inp = make_input(with_body(frame(), "body_lin_vel_w", LFOOT, (1.0, 0.0, 0.0)))
    assert rw.body_lin_vel_error_exp(inp).item() == pytest.approx(e, abs=1e-6)
    inp = make_input(with_body(frame(), "body_ang_vel_w", RFOOT, (0.0, 0.0, 3.14)))
    assert rw.body_ang_vel_error_exp(inp).item() == pytest.approx(e, abs=1e-6)
    # body subset: only the hand → exp(−0.09/0.09) = exp(−1)
    inp = make_input(with_body(frame(), "body_pos_w", HAND, (0.0, 0.3, 1.0)))
    assert rw.body_pos_error_exp(inp, body_indices=[HAND]).item() == pytest.approx(
        0.367879, abs=1e-6
    )


def test_body_pose_terms_ignore_anchor_xy_and_yaw_drift():
    # Robot = reference moved 2 m in x, −1 m in y and yawed 60° about the anchor: the
    # re-anchored reference coincides with the robot, so body pos/ori rewards are 1,
    # while the anchor position term sees the drift: exp(−5/0.09) ≈ 0.
    ref = frame(2, seed=4)
    dq = torch.tensor(quat_z(math.pi / 3))
    p_a = ref.body_pos_w[:, ANCHOR : ANCHOR + 1]
    pos = tm.quat_apply(dq, ref.body_pos_w - p_a) + p_a + torch.tensor([2.0, -1.0, 0.0])
    quat = tm.quat_mul(dq.expand_as(ref.body_quat_w), ref.body_quat_w)
    robot = dataclasses.replace(ref, body_pos_w=pos, body_quat_w=quat)
    inp = make_input(robot, ref)
    torch.testing.assert_close(rw.body_pos_error_exp(inp), torch.ones(2))
    torch.testing.assert_close(rw.body_ori_error_exp(inp), torch.ones(2))
    assert torch.all(rw.anchor_pos_error_exp(inp) < 1e-6)


def test_regularizers():
    # action rate: last − prev = (0.5, 0.5, 0, ...): 0.25 + 0.25 = 0.5
    last = torch.zeros(1, J)
    last[0, :2] = 0.5
    assert rw.action_rate_l2(make_input(last_action=last)).item() == pytest.approx(0.5)
    # soft limits [−1, 1]: q = (1.2, −1.5, 0.5, 0, ...) → 0.2 + 0.5 + 0 = 0.7 rad
    q = torch.zeros(1, J)
    q[0, :3] = torch.tensor([1.2, -1.5, 0.5])
    inp = make_input(dataclasses.replace(frame(), joint_pos=q))
    assert rw.joint_limit_proximity(inp).item() == pytest.approx(0.7, abs=1e-6)
    # contacts (threshold 1 N): anchor 10 N (counts), hand 0.5 N (below), left foot 300 N
    # (a foot: allowed) → 1 undesired contact
    f = torch.zeros(1, B, 3)
    f[0, ANCHOR] = torch.tensor([0.0, 6.0, 8.0])
    f[0, HAND, 2] = 0.5
    f[0, LFOOT, 2] = 300.0
    assert rw.undesired_contacts(make_input(contact_force_w=f)).item() == 1.0


def test_heading_velocity_reward():
    # v* = 1 m/s along +x, v = (0.5, 0.3): v·d* = 0.5 → exp(−2.5·0.25) = exp(−0.625) = 0.535261
    # v = (2, 0): faster than v*: clipped → 1; with overspeed penalty exp(−2.5·1) = 0.082085
    robot = dataclasses.replace(
        frame(2), root_lin_vel_w=torch.tensor([[0.5, 0.3, 0.0], [2.0, 0.0, 0.0]])
    )
    inp = make_input(
        robot,
        target_heading_w=torch.tensor([[1.0, 0.0, 0.0]] * 2),
        target_speed=torch.ones(2),
    )
    torch.testing.assert_close(rw.heading_velocity_reward(inp), torch.tensor([0.535261, 1.0]))
    torch.testing.assert_close(
        rw.heading_velocity_reward(inp, penalize_overspeed=True), torch.tensor([0.535261, 0.082085])
    )
    # r = 0.7 r_I + 0.3 r_G = 0.7·1 + 0.3·0.535261 = 0.860578
    r = rw.imitation_task_reward(torch.ones(1), torch.tensor([0.535261]))
    assert r.item() == pytest.approx(0.860578, abs=1e-6)


def test_compute_rewards_deepmimic_and_beyondmimic():
    # pose 0.1 rad off on 2 joints, the rest perfect:
    # 0.65·0.960789 + 0.1 + 0.15 + 0.1 = 0.974513
    q = torch.zeros(1, J)
    q[0, :2] = 0.1
    inp = make_input(dataclasses.replace(frame(), joint_pos=q))
    total, per = rw.compute_rewards(rw.deepmimic_terms(), inp)
    assert total.item() == pytest.approx(0.974513, abs=1e-6)
    assert set(per) == {"pose", "velocity", "end_effector", "com"}
    assert per["pose"].item() == pytest.approx(0.960789, abs=1e-6)
    assert sum(t.weight for t in rw.deepmimic_terms()) == pytest.approx(1.0)
    # BeyondMimic, perfect tracking, no regularizer cost: 0.5 + 0.5 + 4·1 = 5
    total, per = rw.compute_rewards(rw.beyondmimic_terms(), make_input())
    assert total.item() == pytest.approx(5.0)
    assert per["action_rate"].item() == 0.0
    with pytest.raises(ConfigError, match="repeated"):
        rw.compute_rewards([rw.RewardTerm("a", rw.pose_reward, 1.0)] * 2, inp)


# -- terminations -------------------------------------------------------------------------


def test_anchor_height_error():
    # robot anchor 0.3 m (> 0.25) and 0.2 m (< 0.25) below the reference
    robot = frame(2)
    pos = robot.body_pos_w.clone()
    pos[:, ANCHOR, 2] = torch.tensor([0.7, 0.8])  # reference anchor at z = 1.0
    robot = dataclasses.replace(robot, body_pos_w=pos)
    assert term.anchor_height_error(make_input(robot, frame(2))).tolist() == [True, False]


def test_anchor_orientation_error():
    # gravity z in the anchor frame: upright −1; pitched 90° → 0: |−1 − 0| = 1 > 0.8;
    # pitched 30° → −cos 30° = −0.866: |−1 + 0.866| = 0.134 < 0.8; yawed 180°: 0 (heading free)
    robot = frame(3)
    quat = robot.body_quat_w.clone()
    quat[0, ANCHOR] = torch.tensor(PITCH_90)
    quat[1, ANCHOR] = torch.tensor([math.cos(math.pi / 12), 0.0, math.sin(math.pi / 12), 0.0])
    quat[2, ANCHOR] = torch.tensor(quat_z(math.pi))
    robot = dataclasses.replace(robot, body_quat_w=quat)
    assert term.anchor_orientation_error(make_input(robot, frame(3))).tolist() == [
        True,
        False,
        False,
    ]


def test_end_effector_height_error():
    # left foot 0.3 m high (> 0.25) in env 0, hand 0.1 m low in env 1
    robot = frame(2)
    pos = robot.body_pos_w.clone()
    pos[0, LFOOT, 2] += 0.3
    pos[1, HAND, 2] -= 0.1
    robot = dataclasses.replace(robot, body_pos_w=pos)
    assert term.end_effector_height_error(make_input(robot, frame(2))).tolist() == [True, False]


def test_time_out_and_clip_end():
    # max 10 s: 9.98 s → False, 10.0 s → True; clip 3 s long: at 2.9 s False, at 3.0 s True
    inp = make_input(
        frame(2),
        frame(2),
        episode_time_s=torch.tensor([9.98, 10.0]),
        motion_time_s=torch.tensor([2.9, 3.0]),
        motion_length_s=torch.tensor([3.0, 3.0]),
    )
    assert term.time_out(inp, max_episode_length_s=10.0).tolist() == [False, True]
    assert term.clip_end(inp).tolist() == [False, True]


def test_nonfoot_ground_contact():
    # env 0: hand 5 N (non-foot, > 1 N) → True; env 1: only the feet carry 400 N → False
    f = torch.zeros(2, B, 3)
    f[0, HAND, 2] = 5.0
    f[1, LFOOT, 2] = 400.0
    f[1, RFOOT, 2] = 400.0
    assert term.nonfoot_ground_contact(
        make_input(frame(2), frame(2), contact_force_w=f)
    ).tolist() == [
        True,
        False,
    ]


def test_missing_field_is_named():
    with pytest.raises(ConfigError, match="contact_force_w"):
        term.nonfoot_ground_contact(make_input(contact_force_w=None))
    with pytest.raises(ConfigError, match="episode_time_s"):
        term.time_out(make_input())
