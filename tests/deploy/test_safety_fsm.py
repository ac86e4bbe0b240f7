"""Deploy state machine and safety supervisor, with a FakeClock and hand-computed numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from humimic.deploy.clock import Clock, FakeClock, MonotonicClock
from humimic.deploy.commands import JointCommand, RobotState
from humimic.deploy.fsm import FsmConfig, State, StateMachine
from humimic.deploy.safety import (
    FaultKind,
    SafetyConfig,
    SafetySupervisor,
    ViolationKind,
    first_fault,
)
from humimic.errors import ConfigError, DeployError
from humimic.rotations import quat_from_axis_angle

KNEE = "left_knee_joint"
DT_S = 0.02  # 50 Hz policy step


def make_state(g1, stamp_s: float, q=None, dq=None, quat=(1.0, 0.0, 0.0, 0.0)) -> RobotState:
    n = g1.num_joints
    return RobotState(
        joint_pos_rad=np.zeros(n) if q is None else q,
        joint_vel_rad_s=np.zeros(n) if dq is None else dq,
        imu_quat_wxyz=np.asarray(quat, dtype=np.float64),
        gyro_b_rad_s=np.zeros(3),
        stamp_s=stamp_s,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def fsm(g1, clock) -> StateMachine:
    return StateMachine(g1, clock)


@pytest.fixture
def sup(g1) -> SafetySupervisor:
    return SafetySupervisor(g1)


def step(fsm: StateMachine, sup: SafetySupervisor, state, policy_target=None) -> JointCommand:
    """One tick of the deploy loop: check state, build command, filter, fault → DAMPING."""
    fault = sup.check_state(state, fsm.clock.now_s())
    if fault is not None:
        fsm.fault(fault)
    cmd = fsm.command_for(state, policy_target)
    if state is None or fault is not None:
        return cmd
    filtered, violations = sup.filter_command(cmd, state, DT_S)
    if (f := first_fault(violations)) is not None:
        fsm.fault(f)
    return filtered


def to_policy(fsm: StateMachine, clock: FakeClock, state: RobotState) -> None:
    assert fsm.start()
    assert fsm.start(state)
    clock.advance(fsm.config.stand_ramp_s)
    assert fsm.start()
    assert fsm.state is State.POLICY


# -- clock ------------------------------------------------------------------------------------
def test_clocks() -> None:
    fake = FakeClock(1.0)
    assert isinstance(fake, Clock) and isinstance(MonotonicClock(), Clock)
    assert fake.advance(0.5) == 1.5 and fake.now_s() == 1.5
    with pytest.raises(ConfigError, match="advance"):
        fake.advance(-0.1)
    with pytest.raises(ConfigError, match="set"):
        fake.set(1.0)
    a = MonotonicClock().now_s()
    assert MonotonicClock().now_s() >= a


# -- commands ---------------------------------------------------------------------------------
def test_damping_command_is_kp0_kd8_everywhere(g1, fsm) -> None:
    cmd = JointCommand.damping(g1.num_joints)
    assert cmd.kp.shape == (29,) and cmd.kp.dtype == np.float64
    assert np.all(cmd.kp == 0.0) and np.all(cmd.kd == 8.0)
    assert np.all(cmd.velocity_rad_s == 0.0) and np.all(cmd.effort_nm == 0.0)
    fsm.damp()
    from_fsm = fsm.command_for()
    assert np.all(from_fsm.kp == 0.0) and np.all(from_fsm.kd == 8.0)
    passive = JointCommand.passive(g1.num_joints)
    assert np.all(passive.kp == 0.0) and np.all(passive.kd == 0.0)
    with pytest.raises(ValueError):  # read-only arrays
        cmd.kd[0] = 1.0


def test_command_shape_checked() -> None:
    z = np.zeros(3)
    with pytest.raises(DeployError, match="kd"):
        JointCommand(z, z, z, z, np.zeros(4))


# -- transitions ------------------------------------------------------------------------------
def test_happy_path_and_log(g1, fsm, clock) -> None:
    state = make_state(g1, clock.now_s())
    assert fsm.state is State.PASSIVE
    r = fsm.start()
    assert r.accepted and r.state is State.DAMPING and not fsm.latched
    r = fsm.start()  # DAMPING → STAND needs the measured pose
    assert not r.accepted and "needs the measured robot state" in r.reason
    assert fsm.start(state).state is State.STAND
    clock.advance(1.0)
    r = fsm.start()  # ramp not complete: refused, and no automatic POLICY
    assert not r.accepted and r.state is State.STAND and "1.00 of 3.00 s" in r.reason
    clock.advance(2.0)
    assert fsm.tick().reason == "stand ramp 100%"
    assert fsm.state is State.STAND  # tick never enters POLICY by itself
    assert fsm.start().state is State.POLICY
    r = fsm.start()
    assert not r.accepted and "already in POLICY" in r.reason
    assert not fsm.stop()  # needs the measured pose
    clock.advance(0.5)
    assert fsm.stop(state).state is State.STAND
    assert [(t.time_s, t.from_state, t.to_state) for t in fsm.log] == [
        (100.0, State.PASSIVE, State.DAMPING),
        (100.0, State.DAMPING, State.STAND),
        (103.0, State.STAND, State.POLICY),
        (103.5, State.POLICY, State.STAND),
    ]
    assert fsm.log[-1].reason.startswith("stop")


@pytest.mark.parametrize(
    ("setup", "event"),
    [
        ("passive", "stop"),
        ("passive", "reset"),
        ("damping", "stop"),
        ("stand", "stop"),
        ("stand", "reset"),
        ("policy", "reset"),
    ],
)
def test_refused_events_leave_state_unchanged(g1, fsm, clock, setup, event) -> None:
    state = make_state(g1, clock.now_s())
    if setup != "passive":
        fsm.start()
    if setup in ("stand", "policy"):
        fsm.start(state)
    if setup == "policy":
        clock.advance(3.0)
        fsm.start()
    before, n_log = fsm.state, len(fsm.log)
    r = fsm.stop(state) if event == "stop" else fsm.reset(None)
    assert not r.accepted and r.state is before and fsm.state is before
    assert len(fsm.log) == n_log and r.reason


@pytest.mark.parametrize("setup", ["passive", "damping", "stand", "policy"])
@pytest.mark.parametrize("event", ["fault", "damp", "estop"])
def test_fault_damp_estop_latch_damping_from_every_state(g1, fsm, clock, setup, event) -> None:
    state = make_state(g1, clock.now_s())
    if setup != "passive":
        fsm.start()
    if setup in ("stand", "policy"):
        fsm.start(state)
    if setup == "policy":
        clock.advance(3.0)
        fsm.start()
    assert fsm.state is State[setup.upper()]
    r = {"fault": lambda: fsm.fault("test"), "damp": fsm.damp, "estop": fsm.estop}[event]()
    assert r.accepted and fsm.state is State.DAMPING and fsm.latched
    assert fsm.log[-1].from_state is State[setup.upper()]
    assert fsm.log[-1].reason.startswith(event)
    # latched: everything but reset is refused
    for refused in (
        fsm.start(),
        fsm.start(state),
        fsm.stop(state),
        fsm.damp(),
        fsm.estop(),
        fsm.fault("again"),
    ):
        assert not refused.accepted and "latched" in refused.reason
        assert fsm.state is State.DAMPING
    assert np.all(fsm.command_for().kp == 0.0)
    r = fsm.reset(None)
    assert r.accepted and fsm.state is State.PASSIVE and not fsm.latched
    assert fsm.start().state is State.DAMPING  # usable again


def test_unlatched_damping_resets_to_passive(g1, fsm) -> None:
    fsm.start()
    assert fsm.state is State.DAMPING and not fsm.latched
    assert fsm.reset(None).state is State.PASSIVE


def test_reset_refused_while_fault_active(g1, fsm, sup, clock) -> None:
    state = make_state(g1, clock.now_s())
    fsm.fault("stale")
    clock.advance(1.0)  # state now 1 s old
    fault = sup.check_state(state, clock.now_s())
    assert fault is not None and fault.kind is FaultKind.STALE_STATE
    r = fsm.reset(fault)
    assert not r.accepted and "fault still active" in r.reason and fsm.state is State.DAMPING
    fresh = make_state(g1, clock.now_s())
    assert fsm.reset(sup.check_state(fresh, clock.now_s())).state is State.PASSIVE


# -- watchdog, NaN guard, fall ------------------------------------------------------------------
def test_stale_state_goes_to_damping(g1, fsm, sup, clock) -> None:
    to_policy(fsm, clock, make_state(g1, clock.now_s()))
    target = np.asarray(g1.default_joint_pos_rad)
    state = make_state(g1, clock.now_s(), q=target)
    clock.advance(0.038)  # 38 ms old: fresh (limit 40 ms)
    step(fsm, sup, state, target)
    assert fsm.state is State.POLICY
    clock.advance(0.004)  # 42 ms old > 40 ms: stale
    cmd = step(fsm, sup, state, target)
    assert fsm.state is State.DAMPING and fsm.latched
    assert "stale_state" in fsm.log[-1].reason and "42.0 ms old" in fsm.log[-1].reason
    assert np.all(cmd.kp == 0.0) and np.all(cmd.kd == 8.0)
    assert sup.check_state(None, clock.now_s()).kind is FaultKind.NO_STATE


def test_nan_action_goes_to_damping(g1, fsm, sup, clock) -> None:
    to_policy(fsm, clock, make_state(g1, clock.now_s()))
    target = np.array(g1.default_joint_pos_rad)
    target[g1.joint_index(KNEE)] = np.nan
    cmd = step(
        fsm, sup, make_state(g1, clock.now_s(), q=np.array(g1.default_joint_pos_rad)), target
    )
    assert fsm.state is State.DAMPING and fsm.latched
    assert np.all(cmd.kp == 0.0) and np.all(cmd.kd == 8.0)
    assert "left_knee_joint: command position_rad is nan" in fsm.log[-1].reason


def test_nonfinite_state_is_a_fault(g1, sup, clock) -> None:
    dq = np.zeros(g1.num_joints)
    dq[g1.joint_index(KNEE)] = np.inf
    fault = sup.check_state(make_state(g1, clock.now_s(), dq=dq), clock.now_s())
    assert fault is not None and fault.kind is FaultKind.NONFINITE_STATE
    assert "left_knee_joint: measured joint_vel_rad_s is inf" in fault.message


@pytest.mark.parametrize("axis", [(1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.6, 0.8, 0.0)])
def test_fall_detection_at_70_not_30_degrees(g1, sup, clock, axis) -> None:
    now = clock.now_s()
    # projected gravity z = -cos(tilt): 30° → -0.866 ≤ -0.5 (upright enough); 70° → -0.342 > -0.5
    upright = make_state(g1, now, quat=quat_from_axis_angle(axis, math.radians(30.0)))
    assert sup.check_state(upright, now) is None
    tilted = make_state(g1, now, quat=quat_from_axis_angle(axis, math.radians(70.0)))
    assert tilted.projected_gravity_b()[2] == pytest.approx(-math.cos(math.radians(70.0)))
    fault = sup.check_state(tilted, now)
    assert fault is not None and fault.kind is FaultKind.FALL and "tilt 70.0°" in fault.message


def test_fall_in_policy_goes_to_damping(g1, fsm, sup, clock) -> None:
    to_policy(fsm, clock, make_state(g1, clock.now_s()))
    q = np.array(g1.default_joint_pos_rad)
    tilted = make_state(g1, clock.now_s(), q=q, quat=quat_from_axis_angle((0, 1, 0), 1.3))
    step(fsm, sup, tilted, q)
    assert fsm.state is State.DAMPING and "fall" in fsm.log[-1].reason


# -- command limits ---------------------------------------------------------------------------
def test_target_outside_joint_limits_is_clamped(g1) -> None:
    sup = SafetySupervisor(g1, SafetyConfig(max_target_rate_rad_s=100.0))
    i = g1.joint_index(KNEE)
    q = np.zeros(g1.num_joints)
    q[i] = 2.8  # near the limit, so the torque interval 2.8 ± 1.40 does not bind
    target = q.copy()
    target[i] = 3.1
    cmd = JointCommand.pd(target, g1.kp_nm_per_rad, g1.kd_nm_s_per_rad)
    out, violations = sup.filter_command(cmd, make_state(g1, 0.0, q=q), dt_s=1.0)
    assert out.position_rad[i] == 2.8798  # URDF upper limit of the knee
    assert [v.kind for v in violations] == [ViolationKind.POSITION_LIMIT]
    v = violations[0]
    assert v.joint == KNEE and v.value == 3.1 and v.clamped_to == 2.8798
    assert v.message.startswith("left_knee_joint: target 3.1 rad outside [-0.08727, 2.88]")
    # with a margin of 0.1 rad the bound is 2.8798 - 0.1 = 2.7798
    sup = SafetySupervisor(g1, SafetyConfig(max_target_rate_rad_s=100.0, position_margin_rad=0.1))
    out, _ = sup.filter_command(cmd, make_state(g1, 0.0, q=q), dt_s=1.0)
    assert out.position_rad[i] == pytest.approx(2.7798)


def test_torque_clamp_hand_computed(g1) -> None:
    sup = SafetySupervisor(g1, SafetyConfig(max_target_rate_rad_s=100.0))
    i = g1.joint_index(KNEE)
    kp, kd = g1.kp_nm_per_rad[i], g1.kd_nm_s_per_rad[i]
    assert kp == pytest.approx(99.098, abs=1e-3)  # 7520-22: J = 0.0251025 kg·m², ω = 2π·10
    assert g1.effort_limit_nm[i] == 139.0
    q = np.array(g1.default_joint_pos_rad)
    q[i] = 0.5
    target = q.copy()
    target[i] = 2.5
    cmd = JointCommand.pd(target, g1.kp_nm_per_rad, g1.kd_nm_s_per_rad)
    # dq = dq* = τ_ff = 0: |99.098·(q* − 0.5)| ≤ 139 ⇒ q* ∈ 0.5 ± 139/99.098 = 0.5 ± 1.40265
    # = [-0.90265, 1.90265]; 2.5 is clamped to 1.90265 (inside the limits [-0.087, 2.88]).
    out, violations = sup.filter_command(cmd, make_state(g1, 0.0, q=q), dt_s=1.0)
    assert out.position_rad[i] == pytest.approx(1.90265, abs=1e-5)
    assert kp * (out.position_rad[i] - 0.5) == pytest.approx(139.0)
    assert [(v.kind, v.joint) for v in violations] == [(ViolationKind.TORQUE_LIMIT, KNEE)]
    others = np.arange(g1.num_joints) != i
    assert np.array_equal(out.position_rad[others], target[others])

    # moving at dq = +1 rad/s: b = kd·(0 − 1) = −6.3088 N·m, so
    # q* ≤ 0.5 + (139 + 6.3088)/99.098 = 0.5 + 1.46631 = 1.96631
    dq = np.zeros(g1.num_joints)
    dq[i] = 1.0
    sup.reset_rate_limiter()
    out, _ = sup.filter_command(cmd, make_state(g1, 0.0, q=q, dq=dq), dt_s=1.0)
    assert kd == pytest.approx(6.3088, abs=1e-4)
    assert out.position_rad[i] == pytest.approx(1.96631, abs=1e-5)
    assert kp * (out.position_rad[i] - 0.5) + kd * (0.0 - 1.0) == pytest.approx(139.0)

    # negative side: target -1.5 → 0.5 − (139 − 6.3088)/99.098 = 0.5 − 1.33899 = −0.83899
    target[i] = -1.5  # also below the limit -0.087267: the limit clamps first, to -0.087267
    sup.reset_rate_limiter()
    out, violations = sup.filter_command(
        cmd.with_position(target), make_state(g1, 0.0, q=q, dq=dq), dt_s=1.0
    )
    assert out.position_rad[i] == -0.087267
    assert [v.kind for v in violations] == [ViolationKind.POSITION_LIMIT]


def test_rate_limit_hand_computed(g1) -> None:
    sup = SafetySupervisor(g1, SafetyConfig(max_target_rate_rad_s=10.0))
    i = g1.joint_index(KNEE)
    q = np.array(g1.default_joint_pos_rad)
    q[i] = 0.5
    target = q.copy()
    target[i] = 1.0
    cmd = JointCommand.pd(target, g1.kp_nm_per_rad, g1.kd_nm_s_per_rad)
    state = make_state(g1, 0.0, q=q)
    # max step = 10 rad/s · 0.02 s = 0.2 rad. First command: relative to measured q = 0.5.
    expected = [0.7, 0.9, 1.0]  # 0.5 + 0.2, 0.7 + 0.2, then 1.0 is within 0.9 ± 0.2
    got = []
    for _ in expected:
        out, violations = sup.filter_command(cmd, state, dt_s=DT_S)
        got.append(out.position_rad[i])
    assert got == pytest.approx(expected, abs=1e-12)
    assert violations == []
    # the torque interval (0.5 ± 1.40) never bound; a damping command resets the reference
    sup.filter_command(JointCommand.damping(g1.num_joints), state, dt_s=DT_S)
    out, violations = sup.filter_command(cmd, state, dt_s=DT_S)
    assert out.position_rad[i] == pytest.approx(0.7)
    assert [v.kind for v in violations] == [ViolationKind.RATE_LIMIT]


# -- e-stop -----------------------------------------------------------------------------------
def test_estop_latches_until_reset(g1, fsm, sup, clock) -> None:
    to_policy(fsm, clock, make_state(g1, clock.now_s()))
    fsm.estop()
    sup.estop()
    state = make_state(g1, clock.now_s(), q=np.array(g1.default_joint_pos_rad))
    r = fsm.start(state)
    assert not r.accepted and "estop" in r.reason and fsm.state is State.DAMPING
    # the supervisor refuses any command while latched
    cmd = JointCommand.pd(state.joint_pos_rad, g1.kp_nm_per_rad, g1.kd_nm_s_per_rad)
    out, violations = sup.filter_command(cmd, state, DT_S)
    assert np.all(out.kp == 0.0) and violations[0].fatal
    assert violations[0].fault.kind is FaultKind.ESTOP
    # reset is refused while the e-stop latch is still held
    fault = sup.check_state(state, clock.now_s())
    assert fault is not None and fault.kind is FaultKind.ESTOP
    assert not fsm.reset(fault).accepted
    sup.clear_estop()
    assert fsm.reset(sup.check_state(state, clock.now_s())).state is State.PASSIVE
    assert fsm.start().state is State.DAMPING


# -- STAND ramp -------------------------------------------------------------------------------
def test_stand_ramp_midpoint_and_end(g1, fsm, clock) -> None:
    default = np.array(g1.default_joint_pos_rad)
    q0 = np.linspace(-0.05, 0.05, g1.num_joints)  # inside every joint's limits
    fsm.start()
    fsm.start(make_state(g1, clock.now_s(), q=q0))
    stand_kp, stand_kd = g1.pd_gains(g1.stand_natural_freq_hz)

    at0 = fsm.command_for()
    np.testing.assert_allclose(at0.position_rad, q0, atol=0)
    np.testing.assert_allclose(at0.velocity_rad_s, 0.0, atol=0)
    np.testing.assert_allclose(at0.kp, stand_kp)
    np.testing.assert_allclose(at0.kd, stand_kd)

    clock.advance(1.5)  # half of 3 s: smoothstep(0.5) = 3/4 − 2/8 = 0.5
    mid = fsm.command_for()
    np.testing.assert_allclose(mid.position_rad, (q0 + default) / 2, atol=1e-12)
    # ds/du = 6·0.5·0.5 = 1.5 → dq* = 1.5·(default − q0)/3 s
    np.testing.assert_allclose(mid.velocity_rad_s, 0.5 * (default - q0), atol=1e-12)

    clock.advance(1.5)
    end = fsm.command_for()
    assert np.array_equal(end.position_rad, default)
    np.testing.assert_allclose(end.velocity_rad_s, 0.0, atol=0)
    clock.advance(10.0)  # holds
    assert np.array_equal(fsm.command_for().position_rad, default)


def test_policy_command_uses_policy_gains(g1, fsm, clock) -> None:
    to_policy(fsm, clock, make_state(g1, clock.now_s()))
    target = np.array(g1.default_joint_pos_rad)
    cmd = fsm.command_for(policy_target_rad=target)
    assert np.array_equal(cmd.position_rad, target)
    np.testing.assert_allclose(cmd.kp, g1.kp_nm_per_rad)
    with pytest.raises(DeployError, match="policy_target_rad"):
        fsm.command_for()


# -- configs ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"state_timeout_s": 0.0}, "state_timeout_s"),
        ({"max_target_rate_rad_s": -1.0}, "max_target_rate_rad_s"),
        ({"fall_gravity_z_threshold": -1.0}, "fall_gravity_z_threshold"),
        ({"position_margin_rad": math.nan}, "position_margin_rad"),
        ({"damping_kd_nm_s_per_rad": -8.0}, "damping_kd_nm_s_per_rad"),
    ],
)
def test_safety_config_names_bad_field(kwargs, field) -> None:
    with pytest.raises(ConfigError, match=f"SafetyConfig.{field}"):
        SafetyConfig(**kwargs)


def test_default_fall_threshold_is_60_degrees() -> None:
    assert SafetyConfig().fall_gravity_z_threshold == pytest.approx(-0.5)
    cfg = SafetyConfig.with_max_tilt(math.radians(45.0))
    assert cfg.fall_gravity_z_threshold == pytest.approx(-math.sqrt(0.5))
    with pytest.raises(ConfigError, match="stand_ramp_s"):
        FsmConfig(stand_ramp_s=0.0)
