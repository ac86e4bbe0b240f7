"""Deploy runtime: start-up checks, the training observation, faults, limits, the loop's timing.

Policy folders come from :func:`write_untrained_policy` on the embedded keyframe clip
(``wave_squat``, 50 fps, 4.6 s): an untrained actor whose last layer is zero, so its action is
0 and its joint targets are the default pose. Time is a :class:`FakeClock`; robot states come
from a scripted source stamped with that clock. No test reads the wall clock.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from humimic.cli import default_clip_path
from humimic.deploy.clock import FakeClock
from humimic.deploy.commands import DAMPING_KD_NM_S_PER_RAD, JointCommand, RobotState
from humimic.deploy.fsm import FsmConfig, State
from humimic.deploy.inproc import mujoco_robot_state, write_untrained_policy
from humimic.deploy.loop import realtime_scheduling, run_loop
from humimic.deploy.observation import DeployObservation, ImuMount
from humimic.deploy.ports import OperatorEvent, RuntimeStatus
from humimic.deploy.runtime import DeployRuntime, load_clip_library
from humimic.deploy.safety import SafetyConfig, ViolationKind
from humimic.domain_rand import DomainRandConfig
from humimic.envs.tracking.config import ACTOR_TERMS, RsiNoise, TrackingConfig
from humimic.envs.train import build_env
from humimic.errors import ConfigError, DeployError
from humimic.policy import load_policy
from humimic.retarget.keyframes import load_keyframes
from humimic.robots.pinocchio_model import build_pinocchio
from humimic.rotations import quat_conj, quat_from_axis_angle, quat_mul, quat_rotate

DT_S = 0.02  # policy period of the fixture policy (50 Hz)
CMD_DT_S = 0.002  # command stream period (500 Hz)
RAMP_S = 0.1  # short STAND ramp for the tests


@pytest.fixture(scope="module")
def clip():
    return load_keyframes(default_clip_path())


@pytest.fixture(scope="module")
def policy_dir(tmp_path_factory, clip):
    return write_untrained_policy(tmp_path_factory.mktemp("policy") / "policy", [clip])


class ScriptedSource:
    """A StateSource whose state is set by the test; ``live`` restamps it with the clock."""

    def __init__(self, g1, clock: FakeClock) -> None:
        self.clock = clock
        self.live = True
        self.q = np.array(g1.default_joint_pos_rad)
        self.quat = np.array([1.0, 0.0, 0.0, 0.0])
        self.frozen_stamp_s = 0.0
        self.present = True

    def latest(self) -> RobotState | None:
        if not self.present:
            return None
        stamp = self.clock.now_s() if self.live else self.frozen_stamp_s
        return RobotState(self.q, np.zeros_like(self.q), self.quat, np.zeros(3), stamp)

    def freeze(self) -> None:
        """Stop updating the stamp (the robot stopped streaming)."""
        self.frozen_stamp_s = self.clock.now_s()
        self.live = False


class Recorder:
    """CommandSink and StatusSink that keep everything."""

    def __init__(self) -> None:
        self.commands: list[JointCommand] = []
        self.statuses: list[RuntimeStatus] = []

    def send(self, command: JointCommand) -> None:
        self.commands.append(command)

    def publish(self, status: RuntimeStatus) -> None:
        self.statuses.append(status)


def make_runtime(g1, policy_dir, **kwargs):
    clock = FakeClock(10.0)
    source = ScriptedSource(g1, clock)
    sink = Recorder()
    kwargs.setdefault("fsm_config", FsmConfig(stand_ramp_s=RAMP_S))
    rt = DeployRuntime(
        policy_dir,
        state_source=source,
        command_sink=sink,
        clock=clock,
        status=sink,
        **kwargs,
    )
    return rt, clock, source, sink


def tick(rt: DeployRuntime, clock: FakeClock) -> JointCommand:
    """One policy period: policy step, then 10 command steps of 2 ms."""
    rt.policy_step()
    sent = rt.command_step()
    for _ in range(9):
        clock.advance(CMD_DT_S)
        sent = rt.command_step()
    clock.advance(CMD_DT_S)
    return sent


def to_policy(rt: DeployRuntime, clock: FakeClock) -> None:
    op = rt.operator
    op.push(OperatorEvent.START)  # PASSIVE → DAMPING
    tick(rt, clock)
    op.push(OperatorEvent.START)  # DAMPING → STAND
    tick(rt, clock)
    while not rt.fsm.ramp_done():
        tick(rt, clock)
    op.push(OperatorEvent.START)  # STAND → POLICY
    assert rt.state is State.STAND
    tick(rt, clock)
    assert rt.state is State.POLICY


def is_damping(cmd: JointCommand) -> bool:
    return bool(np.all(cmd.kp == 0.0) and np.all(cmd.kd == DAMPING_KD_NM_S_PER_RAD))


# -- start-up refusals ------------------------------------------------------------------------
def test_policy_with_another_joint_order_is_refused_at_start(g1, clip, policy_dir, tmp_path):
    names = list(g1.joint_names)
    names[0], names[6] = names[6], names[0]  # left hip pitch <-> right hip pitch
    folder = write_untrained_policy(
        tmp_path / "swapped", [clip], meta_changes={"joint_names": tuple(names)}
    )
    with pytest.raises(DeployError, match="joint order differs: #0: policy 'right_hip_pitch"):
        make_runtime(g1, folder)


def test_policy_needing_unmeasured_state_is_refused(g1, clip, tmp_path):
    folder = write_untrained_policy(
        tmp_path / "linvel", [clip], actor_terms=(*ACTOR_TERMS, "base_lin_vel_b")
    )
    with pytest.raises(DeployError, match=r"robot does not measure: robot\.root_lin_vel_w"):
        make_runtime(g1, folder)


def test_term_size_mismatch_is_refused_naming_the_term(g1, clip, tmp_path):
    _, meta, _ = load_policy(write_untrained_policy(tmp_path / "ok", [clip]))
    sizes = dict(meta.observation_terms)
    # same total (the network still fits), two terms off by one
    sizes["ref_joint_pos"] += 1
    sizes["last_action"] -= 1
    folder = write_untrained_policy(
        tmp_path / "sizes", [clip], meta_changes={"observation_terms": tuple(sizes.items())}
    )
    with pytest.raises(DeployError, match="term 'ref_joint_pos': this runtime derives size 29"):
        make_runtime(g1, folder)


def test_clips_with_another_hash_are_refused(g1, clip, tmp_path):
    folder = write_untrained_policy(
        tmp_path / "hash", [clip], meta_changes={"motion_hash": "0" * 64}
    )
    with pytest.raises(DeployError, match="motion hash"):
        make_runtime(g1, folder)


# -- the observation is training's ------------------------------------------------------------
def test_deploy_observation_equals_training_actor_observation(g1, clip, policy_dir):
    """Same MuJoCo state → the runtime's observation (encoders + IMU sensors + Pinocchio FK)
    equals the training env's actor observation (simulator state, noise off)."""
    cfg = TrackingConfig(
        num_envs=2,
        num_threads=1,
        rsi=RsiNoise.off(),
        adaptive_sampling=False,
        domain_rand=DomainRandConfig(enabled=False),
    )
    env = build_env(g1, [clip], cfg)
    _, meta, folder = load_policy(policy_dir)
    library = load_clip_library(folder, meta, g1)
    assert library.motion_hash == env.library.motion_hash
    obs = DeployObservation(meta, g1, library)
    assert obs.group.term_sizes == env.actor_obs.term_sizes

    # a tilted, spinning, off-reference state: reset at t = 1 s and 2.5 s, then perturb it
    ids = torch.arange(2)
    env.reset_envs(ids, torch.zeros(2, dtype=torch.long), torch.tensor([1.0, 2.5]))
    b = env.backend
    gen = torch.Generator().manual_seed(3)
    tilt = quat_from_axis_angle(np.array([[1.0, 0.5, 0.2], [-0.3, 1.0, 0.6]]), [0.25, 0.4])
    b.reset(
        ids,
        b.root_pos_w + torch.tensor([0.0, 0.0, 0.05]),
        torch.from_numpy(quat_mul(tilt, b.root_quat_w.double().numpy())),
        torch.tensor([[0.3, -0.2, 0.1]]).expand(2, -1),
        torch.tensor([[0.4, -0.7, 1.1]]).expand(2, -1),
        b.joint_pos + 0.1 * torch.randn(2, g1.num_joints, generator=gen),
        torch.randn(2, g1.num_joints, generator=gen),
    )
    env.last_action = torch.randn(2, g1.num_joints, generator=gen)
    expected = env.refresh_observations()["actor"]
    for step in range(4):  # the perturbed state, then after policy steps
        if step:
            action = 0.5 * torch.randn(2, g1.num_joints, generator=gen)
            expected = env.step(action).obs["actor"]
        for i in range(2):
            state = mujoco_robot_state(b.robot, b.datas[i], stamp_s=0.0)
            got = obs(state, 0, float(env.motion_time_s[i]), env.last_action[i].numpy())
            torch.testing.assert_close(torch.from_numpy(got[0]), expected[i], atol=1e-5, rtol=0)
    env.close()


def test_imu_mount_moves_orientation_and_gyro_to_the_root_frame(g1, policy_dir):
    """A mount rotated on the root: q_imu = q_root ⊗ q_mount and ω_imu = R(q_mount)ᵀ ω_root_b;
    the robot frame must give back q_root and R(q_root)·ω_root_b."""
    _, meta, folder = load_policy(policy_dir)
    obs = DeployObservation(meta, g1, load_clip_library(folder, meta, g1))
    np.testing.assert_allclose(obs.imu.q_joint_imu, [1.0, 0.0, 0.0, 0.0])  # the G1's
    q_mount = quat_from_axis_angle(np.array([0.3, -1.0, 0.4]), 0.7)
    obs.imu = ImuMount(q_joint_imu=q_mount, q_joint_root=np.array([1.0, 0.0, 0.0, 0.0]))
    q_root = quat_from_axis_angle(np.array([1.0, 0.2, -0.5]), 0.4)
    w_root_b = np.array([0.3, -1.2, 0.8])
    state = RobotState(
        np.asarray(meta.default_joint_pos_rad),
        np.zeros(g1.num_joints),
        quat_mul(q_root, q_mount),
        quat_rotate(quat_conj(q_mount), w_root_b),
        0.0,
    )
    frame = obs.robot_frame(state)
    q_got = frame.root_quat_w[0].double().numpy()
    np.testing.assert_allclose(q_got * np.sign(q_got[0]), q_root, atol=1e-6)
    np.testing.assert_allclose(
        frame.root_ang_vel_w[0].double().numpy(), quat_rotate(q_root, w_root_b), atol=1e-6
    )


def test_imu_off_the_root_body_is_refused(g1):
    spec = dataclasses.replace(g1, imu_body="torso_link")
    with pytest.raises(DeployError, match="not rigidly on the root body 'pelvis'"):
        ImuMount.from_model(build_pinocchio(spec))


# -- the state machine through the runtime ---------------------------------------------------
def test_zero_action_policy_commands_the_default_pose_and_stops_at_clip_end(g1, policy_dir):
    rt, clock, source, sink = make_runtime(g1, policy_dir)
    assert rt.command_step().kp.max() == 0.0  # PASSIVE: motors off
    to_policy(rt, clock)
    assert rt.counters.inferences == 1 and rt.last_clip_time_s == 0.0
    cmd = rt.command
    np.testing.assert_allclose(cmd.position_rad, g1.default_joint_pos_rad, atol=1e-12)
    np.testing.assert_allclose(cmd.kp, g1.kp_nm_per_rad)
    assert sink.commands[-1] is cmd  # streamed between policy steps
    # the clip clock advances by dt per POLICY step, from 0
    tick(rt, clock)
    tick(rt, clock)
    assert rt.last_clip_time_s == pytest.approx(2 * DT_S, abs=1e-12)
    # the clip is 4.6 s: steps at t = 0 .. 4.58 (230 of them), then STOP → STAND
    while rt.state is State.POLICY:
        tick(rt, clock)
    assert rt.counters.inferences == 230
    assert rt.fsm.log[-1].reason == "stop: ramp to the default pose"
    assert rt.events[-1].arg == "clip end"
    assert sink.statuses[-2].state == "policy"
    assert sink.statuses[-2].clip_time_s == pytest.approx(4.58, abs=1e-9)
    assert rt.state is State.STAND and rt.counters.faults == 0


def test_no_state_in_passive_does_not_latch_and_start_waits_for_it(g1, policy_dir):
    rt, clock, source, _ = make_runtime(g1, policy_dir)
    source.present = False
    rt.operator.push(OperatorEvent.START)
    tick(rt, clock)
    assert rt.state is State.PASSIVE and not rt.fsm.latched
    assert not rt.events[-1].accepted and "no robot state" in rt.events[-1].reason
    source.present = True
    rt.operator.push(OperatorEvent.START)
    tick(rt, clock)
    assert rt.state is State.DAMPING and not rt.fsm.latched


def test_stale_state_sends_damping_within_one_command_period(g1, policy_dir):
    rt, clock, source, sink = make_runtime(g1, policy_dir)
    to_policy(rt, clock)
    timeout = rt.supervisor.config.state_timeout_s  # 40 ms
    source.freeze()
    t_frozen = clock.now_s()
    first_damping = None
    while first_damping is None:
        clock.advance(CMD_DT_S)
        if is_damping(rt.command_step()):
            first_damping = clock.now_s()
    # the first command after the state is older than the limit is damping
    assert timeout < first_damping - t_frozen <= timeout + CMD_DT_S + 1e-12
    assert rt.fsm.latched and "stale_state" in rt.fault_text
    # fresh states again: still latched, still damping
    source.live = True
    tick(rt, clock)
    assert rt.state is State.DAMPING and is_damping(sink.commands[-1])


def test_nan_action_latches_damping(g1, policy_dir):
    rt, clock, _, sink = make_runtime(g1, policy_dir)
    to_policy(rt, clock)
    nan_action = np.full((1, g1.num_joints), np.nan, dtype=np.float32)
    rt.policy = lambda obs: nan_action  # type: ignore[assignment]
    cmd = rt.policy_step()
    assert is_damping(cmd) and is_damping(rt.command_step())
    assert rt.fsm.latched and rt.fault_text.startswith("nonfinite_command")
    assert rt.last_violations[0].kind is ViolationKind.NONFINITE_COMMAND
    rt.operator.push(OperatorEvent.START)
    tick(rt, clock)
    assert rt.state is State.DAMPING and "latched" in rt.events[-1].reason
    assert sink.statuses[-1].fault.startswith("nonfinite_command")


def test_estop_latches_until_reset(g1, policy_dir):
    rt, clock, _, sink = make_runtime(g1, policy_dir)
    to_policy(rt, clock)
    rt.estop("test button")  # from another thread: takes effect at the next command step
    assert is_damping(rt.command_step())
    assert rt.state is State.DAMPING and rt.fsm.latched
    for event in (OperatorEvent.START, OperatorEvent.STOP):
        rt.operator.push(event)
        tick(rt, clock)
        assert rt.state is State.DAMPING and is_damping(sink.commands[-1])
    rt.operator.push(OperatorEvent.RESET)
    tick(rt, clock)
    assert rt.state is State.PASSIVE and not rt.supervisor.estopped
    to_policy(rt, clock)  # and the robot can start again
    # the operator's e-stop event latches the same way
    rt.operator.push(OperatorEvent.ESTOP, "operator")
    assert is_damping(rt.policy_step()) and rt.fsm.latched
    assert rt.fault_text == "e-stop: operator"


def test_target_outside_the_joint_limits_is_clamped(g1, policy_dir):
    rt, clock, source, _ = make_runtime(
        g1, policy_dir, safety_config=SafetyConfig(max_target_rate_rad_s=1e3)
    )
    knee = g1.joint_index("left_knee_joint")
    upper = g1.joint_upper_rad[knee]
    to_policy(rt, clock)
    source.q = source.q.copy()
    source.q[knee] = upper - 0.05  # near the limit, so the torque window includes it
    action = np.zeros((1, g1.num_joints), dtype=np.float32)
    action[0, knee] = 10.0  # q* = q0 + 10 · scale, far beyond the limit
    rt.policy = lambda obs: action  # type: ignore[assignment]
    cmd = rt.policy_step()
    assert rt.last_target_rad is not None and rt.last_target_rad[knee] > upper + 0.5
    assert cmd.position_rad[knee] == upper
    assert [v.kind for v in rt.last_violations] == [ViolationKind.POSITION_LIMIT]
    assert rt.last_violations[0].joint == "left_knee_joint" and not rt.fsm.latched


def test_fall_latches_damping(g1, policy_dir):
    rt, clock, source, _ = make_runtime(g1, policy_dir)
    to_policy(rt, clock)
    source.quat = np.array([math.cos(0.6), math.sin(0.6), 0.0, 0.0])  # rolled 69°
    assert is_damping(rt.command_step()) and "fall" in rt.fault_text


def test_start_can_select_a_clip_by_name_and_refuses_unknown_ones(g1, policy_dir):
    rt, clock, _, _ = make_runtime(g1, policy_dir)
    rt.operator.push(OperatorEvent.START, "no_such_clip")
    tick(rt, clock)
    assert rt.state is State.PASSIVE
    assert "unknown clip 'no_such_clip'; valid: wave_squat" in rt.events[-1].reason
    rt.operator.push(OperatorEvent.START, "wave_squat")
    tick(rt, clock)
    assert rt.state is State.DAMPING and rt.clip_name == "wave_squat"


def test_policy_step_stall_is_a_fault(g1, policy_dir):
    rt, clock, _, _ = make_runtime(g1, policy_dir, policy_timeout_s=0.1)
    to_policy(rt, clock)
    for _ in range(50):  # command steps keep coming, policy steps do not
        clock.advance(CMD_DT_S)
        rt.command_step()
    assert rt.fsm.latched and "policy step late" in rt.fault_text


def test_runtime_is_deterministic_with_a_fake_clock(g1, policy_dir):
    def run():
        rt, clock, _, sink = make_runtime(g1, policy_dir)
        to_policy(rt, clock)
        for _ in range(5):
            tick(rt, clock)
        return np.array([c.position_rad for c in sink.commands]), rt.fsm.log

    (a, log_a), (b, log_b) = run(), run()
    np.testing.assert_array_equal(a, b)
    assert log_a == log_b


# -- the loop ----------------------------------------------------------------------------------
class LoopProbe:
    """Records when each step started; policy step ``slow_at`` takes ``slow_s``."""

    def __init__(self, clock: FakeClock, slow_at: int = -1, slow_s: float = 0.0) -> None:
        self.clock, self.slow_at, self.slow_s = clock, slow_at, slow_s
        self.policy_times: list[float] = []
        self.command_times: list[float] = []
        self.overruns = 0

    def policy_step(self) -> None:
        self.policy_times.append(self.clock.now_s())
        if len(self.policy_times) - 1 == self.slow_at:
            self.clock.advance(self.slow_s)

    def command_step(self) -> None:
        self.command_times.append(self.clock.now_s())

    def note_overruns(self, count: int) -> None:
        self.overruns += count


def test_loop_runs_on_absolute_deadlines_and_computes_jitter():
    clock = FakeClock(100.0)
    lateness = [0.0, 1e-4, 0.0, 3e-4, 0.0]  # wake-up delay of policy steps 0..4 (s)
    calls: list[float] = []

    def fake_sleep(deadline_s: float) -> None:
        k = len(calls)
        calls.append(deadline_s)
        late = lateness[k // 10] if k % 10 == 0 and k // 10 < len(lateness) else 0.0
        clock.set(max(clock.now_s(), deadline_s + late))

    probe = LoopProbe(clock)
    stats = run_loop(probe, clock, 50.0, 500.0, duration_s=0.1 - 1e-9, sleep=fake_sleep)
    # deadlines are start + k · 2 ms, whatever the lateness (no drift): 50 ticks in 0.1 s
    np.testing.assert_allclose(calls, 100.0 + 0.002 * np.arange(50), atol=1e-9)
    assert stats.command_steps == 50 and stats.policy_steps == 5 and stats.overruns == 0
    np.testing.assert_allclose(probe.policy_times, 100.0 + 0.02 * np.arange(5) + lateness)
    # periods 20.1, 19.9, 20.3, 19.7 ms → jitter 0.1, 0.1, 0.3, 0.3 ms
    jitter = np.array([1e-4, 1e-4, 3e-4, 3e-4])
    assert stats.jitter_p50_s == pytest.approx(np.percentile(jitter, 50), abs=1e-9)
    assert stats.jitter_p99_s == pytest.approx(np.percentile(jitter, 99), abs=1e-9)
    assert stats.jitter_max_s == pytest.approx(3e-4, abs=1e-9)
    assert stats.late_p50_s == pytest.approx(0.0, abs=1e-9)
    assert stats.late_max_s == pytest.approx(3e-4, abs=1e-9)


def test_loop_counts_an_overrun_and_skips_to_the_next_future_deadline():
    clock = FakeClock(0.0)
    probe = LoopProbe(clock, slow_at=1, slow_s=0.0075)  # policy step 1 takes 7.5 ms

    def fake_sleep(deadline_s: float) -> None:
        clock.set(max(clock.now_s(), deadline_s))

    stats = run_loop(probe, clock, 50.0, 500.0, duration_s=0.06 - 1e-9, sleep=fake_sleep)
    # tick 10 (t = 20 ms) ends at 27.5 ms: deadline 22 ms is missed by 5.5 ms > 2 ms → skip
    # to tick 14 (28 ms); ticks 11, 12, 13 are skipped, the grid is kept
    assert stats.overruns == 1 and stats.skipped_ticks == 3 and probe.overruns == 1
    cmd = np.array(probe.command_times)
    assert cmd[10] == pytest.approx(0.0275) and cmd[11] == pytest.approx(0.028)
    np.testing.assert_allclose(cmd[12:], 0.030 + 0.002 * np.arange(len(cmd) - 12), atol=1e-9)
    np.testing.assert_allclose(probe.policy_times, [0.0, 0.02, 0.04], atol=1e-9)
    assert stats.command_steps == 30 - 3


def test_loop_catches_a_policy_step_skipped_over():
    clock = FakeClock(0.0)
    probe = LoopProbe(clock, slow_at=0, slow_s=0.023)  # overruns past the next policy deadline

    def fake_sleep(deadline_s: float) -> None:
        clock.set(max(clock.now_s(), deadline_s))

    stats = run_loop(probe, clock, 50.0, 500.0, duration_s=0.04 - 1e-9, sleep=fake_sleep)
    # tick 0 ends at 23 ms → next deadline 24 ms (tick 12, inside policy block 1): the policy
    # step of block 1 runs there, late, instead of being lost
    assert stats.overruns == 1 and stats.skipped_ticks == 11
    np.testing.assert_allclose(probe.policy_times, [0.0, 0.024], atol=1e-9)
    assert stats.late_max_s == pytest.approx(0.004, abs=1e-9)


def test_loop_rejects_rates_that_do_not_divide():
    probe = LoopProbe(FakeClock())
    with pytest.raises(ConfigError, match="integer multiple"):
        run_loop(probe, FakeClock(), 50.0, 125.0, duration_s=1.0)
    with pytest.raises(ConfigError, match="duration_s or stop_event"):
        run_loop(probe, FakeClock(), 50.0, 500.0)


def test_realtime_scheduling_is_optional_and_checked():
    with realtime_scheduling(None) as realtime:
        assert realtime is False
    with pytest.raises(ConfigError, match=r"\[1, 99\]"), realtime_scheduling(0):
        pass


def test_loop_drives_the_runtime(g1, policy_dir):
    rt, clock, _, sink = make_runtime(g1, policy_dir)
    rt.operator.push(OperatorEvent.START)
    stats = run_loop(
        rt,
        clock,
        duration_s=0.1 - 1e-9,
        sleep=lambda t: clock.set(max(clock.now_s(), t)),
    )
    assert stats.policy_steps == 5 and rt.counters.policy_steps == 5
    assert len(sink.commands) == stats.command_steps == 50
    assert rt.state is State.DAMPING and stats.overruns == 0
