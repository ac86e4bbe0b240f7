"""ROS 2 transport over DDS on loopback, and the MuJoCo sim robot behind it.

Domains owned by this module (loopback only, nothing leaves the machine): 91 for the in-process
tests, 93 for the interface-error test, 94 for the sim-robot subprocess. In-process tests use
topic names with a random prefix, so parallel runs (pytest-xdist) on one domain cannot hear
each other.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from cyclonedds.idl import IdlStruct
from cyclonedds.qos import Policy, Qos
from cyclonedds.util import duration

from humimic.deploy.clock import FakeClock
from humimic.deploy.commands import JointCommand
from humimic.deploy.dds_ros2 import (
    DdsConfig,
    JointNameMatcher,
    Push,
    PushPublisher,
    PushSubscriber,
    ReceivedCommand,
    Ros2RobotSide,
    Ros2Topics,
    Ros2Transport,
    cyclone_config_xml,
    fast_idl_type,
    open_participant,
    ros_quat_to_wxyz,
    wxyz_to_ros_quat,
)
from humimic.deploy.ports import OperatorEvent, RuntimeStatus
from humimic.deploy.ros2_types import create_reader, create_writer, default_types
from humimic.deploy.sim_robot import SimRobot, SimRobotConfig
from humimic.errors import ConfigError, DeployError

DOMAIN_ID = 91
SIM_DOMAIN_ID = 94
DDS = DdsConfig(domain_id=DOMAIN_ID, interface="lo")
TIMEOUT_S = 5.0
JOINT_STATE = "sensor_msgs/msg/JointState"
OPERATOR = "humimic_msgs/msg/OperatorCommand"


def unique_topics() -> Ros2Topics:
    prefix = f"/humimic_test_{uuid.uuid4().hex[:10]}"
    return Ros2Topics(
        joint_states=f"{prefix}/joint_states",
        imu=f"{prefix}/imu",
        joint_command=f"{prefix}/joint_command",
        operator=f"{prefix}/operator",
        status=f"{prefix}/status",
        push=f"{prefix}/push",
    )


def wait_until(predicate: Callable[[], Any], what: str, action: Callable[[], Any] | None = None):
    """Poll ``predicate`` (running ``action`` before each try, e.g. a re-publish)."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        if action is not None:
            action()
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {TIMEOUT_S} s waiting for {what}")
        time.sleep(0.01)


def matched(entity: Any) -> bool:
    status = (
        entity.get_publication_matched_status()
        if hasattr(entity, "get_publication_matched_status")
        else entity.get_subscription_matched_status()
    )
    return status.current_count >= 1


@pytest.fixture
def topics() -> Ros2Topics:
    return unique_topics()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def runtime(g1, topics, clock) -> Iterator[Ros2Transport]:
    with Ros2Transport(g1, DDS, topics, clock) as transport:
        yield transport


@pytest.fixture
def robot_side(g1, topics) -> Iterator[Ros2RobotSide]:
    with Ros2RobotSide(g1, DDS, topics) as side:
        yield side


# --------------------------------------------------------------------------------------------
# configuration and pure helpers


def test_cyclone_config_pins_the_interface() -> None:
    lo = cyclone_config_xml(DdsConfig(domain_id=7, interface="lo"))
    assert lo is not None
    assert "<NetworkInterface name='lo'/>" in lo
    assert "<AllowMulticast>false</AllowMulticast>" in lo  # loopback: unicast discovery
    by_address = cyclone_config_xml(DdsConfig(interface="127.0.0.1"))
    assert by_address is not None and "address='127.0.0.1'" in by_address
    eth = cyclone_config_xml(DdsConfig(interface="eth0"))
    assert eth is not None and "AllowMulticast" not in eth  # Cyclone's default elsewhere
    assert cyclone_config_xml(DdsConfig()) is None  # Cyclone's choice / CYCLONEDDS_URI


@pytest.mark.parametrize("bad", [-1, 233, 1.5, True])
def test_domain_id_is_checked(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"DdsConfig\.domain_id"):
        DdsConfig(domain_id=bad)


def test_a_domain_keeps_its_first_network_configuration() -> None:
    open_participant(DDS)  # configures domain 91 for this process (if not already)
    with pytest.raises(DeployError, match="domain 91 is already configured"):
        open_participant(DdsConfig(domain_id=DOMAIN_ID, interface="127.0.0.1"))


def test_a_missing_interface_is_a_clear_error() -> None:
    domain = 93  # owned by this test: configured only here
    with pytest.raises(DeployError, match="cannot join DDS domain 93 on interface 'nosuch0'"):
        open_participant(DdsConfig(domain_id=domain, interface="nosuch0"))
    open_participant(DdsConfig(domain_id=domain, interface="lo"))  # the failure left no trace


def test_ros_quaternion_is_reordered_once() -> None:
    # ROS geometry_msgs/Quaternion fields are x, y, z, w; humimic stores w, x, y, z
    np.testing.assert_array_equal(ros_quat_to_wxyz(0.1, 0.2, 0.3, 0.9), [0.9, 0.1, 0.2, 0.3])
    assert wxyz_to_ros_quat([0.9, 0.1, 0.2, 0.3]) == {"x": 0.1, "y": 0.2, "z": 0.3, "w": 0.9}


def test_joint_names_are_matched_into_policy_order(g1) -> None:
    matcher = JointNameMatcher(g1.joint_names, "JointState")
    shuffled = list(reversed(g1.joint_names))
    idx = matcher.indices(shuffled)
    values = np.arange(g1.num_joints, dtype=float)[::-1]  # value i belongs to policy joint i
    np.testing.assert_array_equal(values[idx], np.arange(g1.num_joints))
    assert matcher.indices(shuffled) is idx  # resolved once per distinct name list


def test_joint_name_errors_say_what_is_wrong(g1) -> None:
    matcher = JointNameMatcher(g1.joint_names, "JointState on /joint_states")
    names = list(g1.joint_names)
    with pytest.raises(DeployError, match=r"lacks 1 policy joint\(s\): left_knee_joint"):
        matcher.indices([n for n in names if n != "left_knee_joint"])
    with pytest.raises(DeployError, match=r"unknown joint 'left_pinky'; valid: .*left_knee_joint"):
        matcher.indices([*names, "left_pinky"])
    with pytest.raises(DeployError, match="'waist_yaw_joint' is listed twice"):
        matcher.indices([*names, "waist_yaw_joint"])
    lenient = JointNameMatcher(g1.joint_names, "JointState", allow_extra=True)
    assert len(lenient.indices(["left_pinky", *names])) == g1.num_joints


# --------------------------------------------------------------------------------------------
# fast codecs


def random_text(rng: np.random.Generator) -> str:
    letters = list("abz_/09 .éλ")
    return "".join(rng.choice(letters, size=int(rng.integers(0, 14))))


@pytest.mark.parametrize(
    "ros_type",
    ["sensor_msgs/msg/JointState", "humimic_msgs/msg/JointCommand", "sensor_msgs/msg/Imu"],
)
def test_fast_codec_is_byte_identical_to_cyclone(ros_type: str) -> None:
    types = default_types()
    cls = fast_idl_type(types, ros_type)
    assert cls is not types.idl_type(ros_type)
    assert cls.__idl_typename__ == types.idl_type(ros_type).__idl_typename__  # same DDS type
    rng = np.random.default_rng(7)
    for _ in range(30):
        stamp = {"sec": int(rng.integers(-(2**31), 2**31)), "nanosec": int(rng.integers(0, 1e9))}
        msg: dict[str, Any] = {"header": {"stamp": stamp, "frame_id": random_text(rng)}}
        if ros_type == "sensor_msgs/msg/Imu":
            for vec in ("orientation", "angular_velocity", "linear_acceleration"):
                keys = "xyzw" if vec == "orientation" else "xyz"
                msg[vec] = {k: float(rng.normal()) for k in keys}
                msg[f"{vec}_covariance"] = rng.normal(size=9)
        else:
            n = int(rng.integers(0, 5))
            msg["name"] = [random_text(rng) for _ in range(n)]
            for field in types.typestore.fielddefs[ros_type][1][2:]:
                msg[field[0]] = rng.normal(size=int(rng.integers(0, 4)) if n == 0 else n)
        generic = types.to_idl(msg, ros_type)
        wire = IdlStruct.serialize(generic)  # Cyclone's generic serializer
        fast = cls.deserialize(wire)
        assert isinstance(fast, cls)
        assert fast.serialize() == wire  # the fast encoder
        assert IdlStruct.serialize(fast) == wire  # the fast decoder lost nothing
    other = cls.deserialize(wire)  # the name cache must not leak between messages
    assert other.serialize() == wire


# --------------------------------------------------------------------------------------------
# loopback: state in


def joint_state_msg(names: list[str], q: np.ndarray, dq: np.ndarray) -> dict[str, Any]:
    return {"name": names, "position": q, "velocity": dq, "effort": np.zeros(len(names))}


def imu_msg(quat_xyzw: tuple[float, ...], gyro: tuple[float, ...]) -> dict[str, Any]:
    x, y, z, w = quat_xyzw
    return {
        "orientation": {"x": x, "y": y, "z": z, "w": w},
        "angular_velocity": dict(zip("xyz", gyro, strict=True)),
    }


def test_joint_state_and_imu_arrive_as_robot_state(g1, runtime, topics, clock) -> None:
    types = default_types()
    participant = open_participant(DDS)
    js = create_writer(participant, topics.joint_states, "sensor_msgs/msg/JointState", types=types)
    imu = create_writer(participant, topics.imu, "sensor_msgs/msg/Imu", types=types)
    # names in reverse order: the transport must match by name, not by index
    names = list(reversed(g1.joint_names))
    q_policy = np.linspace(-1.0, 1.0, g1.num_joints)
    dq_policy = np.linspace(3.0, -3.0, g1.num_joints)
    js_sample = types.to_idl(
        joint_state_msg(names, q_policy[::-1], dq_policy[::-1]), "sensor_msgs/msg/JointState"
    )
    # a 90° rotation about z: ROS (x, y, z, w) = (0, 0, sin 45°, cos 45°)
    s = np.sqrt(0.5)
    imu_sample = types.to_idl(imu_msg((0.0, 0.0, s, s), (0.1, -0.2, 0.3)), "sensor_msgs/msg/Imu")
    assert runtime.latest() is None

    wait_until(lambda: runtime.joint_states_received, "a JointState", lambda: js.write(js_sample))
    assert runtime.latest() is None  # no Imu yet
    clock.advance(0.5)
    wait_until(lambda: runtime.imu_received, "an Imu", lambda: imu.write(imu_sample))
    state = runtime.latest()
    assert state is not None
    np.testing.assert_array_equal(state.joint_pos_rad, q_policy)
    np.testing.assert_array_equal(state.joint_vel_rad_s, dq_policy)
    np.testing.assert_array_equal(state.imu_quat_wxyz, [s, 0.0, 0.0, s])
    np.testing.assert_array_equal(state.gyro_b_rad_s, [0.1, -0.2, 0.3])
    # stamped on arrival with the runtime clock; the older part (joints at 100.0) counts
    assert state.stamp_s == 100.0
    assert runtime.latest() is state  # nothing new: the same object, no rebuild


def test_bad_joint_state_is_refused_with_a_clear_reason(g1, runtime, topics) -> None:
    types = default_types()
    participant = open_participant(DDS)
    js = create_writer(participant, topics.joint_states, JOINT_STATE, types=types)
    names = list(g1.joint_names)
    n = len(names)
    bad = types.to_idl(
        joint_state_msg([*names[:-1], "right_pinky"], np.zeros(n), np.zeros(n)), JOINT_STATE
    )
    wait_until(lambda: runtime.rejected, "the refusal", lambda: js.write(bad))
    assert runtime.latest() is None  # never raises in the control loop's call
    assert "unknown joint 'right_pinky'; valid:" in (runtime.last_error or "")
    with pytest.raises(DeployError, match="unknown joint 'right_pinky'; valid: .*knee"):
        runtime.wait_for_state(timeout_s=1.0)  # the start-up check says why
    short = types.to_idl(joint_state_msg(names, np.zeros(n), np.zeros(3)), JOINT_STATE)
    wait_until(lambda: runtime.rejected >= 2, "the second refusal", lambda: js.write(short))
    with pytest.raises(DeployError, match=r"velocity has 3 entries, expected one per name \(29\)"):
        runtime.wait_for_state(timeout_s=1.0)
    good = types.to_idl(joint_state_msg(names, np.zeros(n), np.zeros(n)), JOINT_STATE)
    wait_until(lambda: runtime.joint_states_received, "a good JointState", lambda: js.write(good))
    assert runtime.last_error is None and runtime.latest() is None  # still waiting for an Imu
    with pytest.raises(DeployError, match=r"no robot state within 0.1 s .* 0 Imu on"):
        runtime.wait_for_state(timeout_s=0.1)


def test_robot_side_state_round_trip(g1, runtime, robot_side) -> None:
    rng = np.random.default_rng(1)
    q, dq, tau = rng.normal(size=(3, g1.num_joints))
    quat = np.array([0.8, 0.2, -0.4, 0.4])

    def publish() -> None:
        robot_side.publish_state(q, dq, tau, quat, [0.5, 0.6, 0.7], [0.0, 0.0, 9.81])

    state = wait_until(runtime.latest, "a robot state", publish)
    np.testing.assert_array_equal(state.joint_pos_rad, q)
    np.testing.assert_array_equal(state.joint_vel_rad_s, dq)
    np.testing.assert_array_equal(state.imu_quat_wxyz, quat)
    np.testing.assert_array_equal(state.gyro_b_rad_s, [0.5, 0.6, 0.7])


# --------------------------------------------------------------------------------------------
# loopback: commands out


def test_joint_command_arrives_with_exact_values(g1, runtime, robot_side) -> None:
    rng = np.random.default_rng(2)
    n = g1.num_joints
    command = JointCommand(*rng.normal(size=(5, n)))
    received = wait_until(
        robot_side.latest_command, "a JointCommand", lambda: runtime.send(command)
    )
    assert isinstance(received, ReceivedCommand)
    for field in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
        np.testing.assert_array_equal(getattr(received.command, field), getattr(command, field))
    with pytest.raises(DeployError, match="JointCommand for 3 joints; g1 has 29"):
        runtime.send(JointCommand.damping(3))


def test_robot_side_matches_command_names_and_refuses_bad_ones(g1, topics, robot_side) -> None:
    types = default_types()
    participant = open_participant(DDS)
    writer = create_writer(
        participant, topics.joint_command, "humimic_msgs/msg/JointCommand", types=types
    )
    names = list(reversed(g1.joint_names))
    n = len(names)
    kp = np.arange(n, dtype=float)  # kp[i] for names[i] = policy joint n-1-i
    msg = {"name": names, "position": np.zeros(n), "velocity": np.zeros(n)}
    msg |= {"effort": np.zeros(n), "kp": kp, "kd": np.ones(n)}
    sample = types.to_idl(msg, "humimic_msgs/msg/JointCommand")
    received = wait_until(robot_side.latest_command, "a command", lambda: writer.write(sample))
    np.testing.assert_array_equal(received.command.kp, kp[::-1])
    bad = types.to_idl({**msg, "name": names[:-1] + ["x"]}, "humimic_msgs/msg/JointCommand")
    wait_until(lambda: robot_side.rejected_commands, "the refusal", lambda: writer.write(bad))
    assert robot_side.latest_command() is received  # the previous command stays in force


# --------------------------------------------------------------------------------------------
# loopback: operator and status


def test_operator_commands_map_to_events(runtime, topics) -> None:
    types = default_types()
    participant = open_participant(DDS)
    writer = create_writer(participant, topics.operator, "humimic_msgs/msg/OperatorCommand")
    wait_until(lambda: matched(writer), "the operator writer to match")
    sent = [(6, "walk"), (1, ""), (2, ""), (3, ""), (5, ""), (4, ""), (1, "run"), (99, "")]
    for command, clip in sent:  # SELECT_CLIP walk, START, STOP, DAMP, ESTOP, RESET, START run
        writer.write(
            types.to_idl({"command": command, "clip": clip}, "humimic_msgs/msg/OperatorCommand")
        )
    events: list[tuple[OperatorEvent, str]] = []
    wait_until(lambda: events.extend(runtime.poll()) or len(events) >= 6, "six operator events")
    src = f"from {topics.operator}"
    assert events == [
        (OperatorEvent.START, "walk"),  # the clip selected before
        (OperatorEvent.STOP, src),
        (OperatorEvent.DAMP, src),
        (OperatorEvent.ESTOP, src),
        (OperatorEvent.RESET, src),
        (OperatorEvent.START, "run"),  # the message's own clip wins
    ]
    wait_until(lambda: runtime.unknown_operator_commands == 1, "the unknown command counted")
    assert runtime.poll() == []


def test_status_is_published_on_change_and_latched(runtime, topics) -> None:
    types = default_types()

    def status(t: float, state: str, fault: str = "") -> RuntimeStatus:
        return RuntimeStatus(t, state, fault, clip="walk", clip_time_s=0.0, overruns=3)

    runtime.publish(status(0.00, "passive"))
    runtime.publish(status(0.02, "policy"))  # change: published
    runtime.publish(status(0.04, "policy"))  # same, within status_period_s: not published
    runtime.publish(status(0.06, "policy"))
    # a reader that joins late still gets the newest status (reliable, transient local)
    qos = Qos(
        Policy.Reliability.Reliable(duration(seconds=1)),
        Policy.History.KeepLast(10),
        Policy.Durability.TransientLocal,
    )
    reader = create_reader(
        open_participant(DDS), topics.status, "humimic_msgs/msg/RuntimeStatus", qos
    )
    samples: list[Any] = []
    wait_until(lambda: samples.extend(reader.take(N=10)) or samples, "the latched status")
    msg = types.from_idl(samples[-1])
    assert (msg.state, msg.fault, msg.overruns, msg.policy_steps) == ("POLICY", "", 3, 1)
    assert np.isnan(msg.policy_latency_ms)  # not carried by the port's RuntimeStatus
    runtime.publish(status(0.10, "policy"))  # policy step 4 of this state
    runtime.publish(status(0.30, "policy"))  # period elapsed: published (policy step 5)
    wait_until(lambda: samples.extend(reader.take(N=10)) or len(samples) >= 2, "a heartbeat")
    assert types.from_idl(samples[-1]).policy_steps == 5
    runtime.publish(status(0.31, "damping", "estop"))  # change: published at once
    wait_until(lambda: samples.extend(reader.take(N=10)) or len(samples) >= 3, "the fault")
    last = types.from_idl(samples[-1])
    assert (last.state, last.fault) == ("DAMPING", "estop")


def test_pushes_are_summed_between_takes(topics) -> None:
    with PushPublisher(DDS, topics.push) as pub, PushSubscriber(DDS, topics.push) as sub:
        wait_until(lambda: matched(pub.writer), "the push writer to match")
        pub.push([0.5, 0.0, 0.0])
        pub.push([0.25, 0.0, 0.1], [0.0, 0.0, 1.0])
        total: list[Push] = []

        def collect() -> None:
            push = sub.take()
            if push is not None:
                total.append(push)

        wait_until(lambda: sub.received == 2, "two pushes", collect)
        lin = sum(p.lin_vel_w_m_s for p in total)
        ang = sum(p.ang_vel_w_rad_s for p in total)
        np.testing.assert_allclose(lin, [0.75, 0.0, 0.1])
        np.testing.assert_allclose(ang, [0.0, 0.0, 1.0])


def test_closed_transport_refuses_to_send(g1, topics) -> None:
    transport = Ros2Transport(g1, DDS, topics)
    transport.close()
    transport.close()  # idempotent
    with pytest.raises(DeployError, match="Ros2Transport is closed"):
        transport.send(JointCommand.damping(g1.num_joints))


# --------------------------------------------------------------------------------------------
# sim robot, in process (no DDS)


class FakeSide:
    """A robot side that keeps what the sim publishes and hands it a command."""

    def __init__(self) -> None:
        self.state: tuple[np.ndarray, ...] | None = None
        self.command: ReceivedCommand | None = None

    def publish_state(self, *arrays: Any) -> None:
        self.state = tuple(np.array(a) for a in arrays)

    def latest_command(self) -> ReceivedCommand | None:
        return self.command

    def close(self) -> None:
        pass


class FakePush:
    def __init__(self) -> None:
        self.pending: Push | None = None

    def take(self) -> Push | None:
        push, self.pending = self.pending, None
        return push


def test_sim_robot_config_is_checked() -> None:
    with pytest.raises(ConfigError, match="300.0 Hz must divide physics_hz 1000"):
        SimRobotConfig(rate_hz=300.0)
    assert SimRobotConfig(rate_hz=250.0).steps_per_tick == 4


def test_sim_robot_gantry_damping_push(g1) -> None:
    side, push = FakeSide(), FakePush()
    sim = SimRobot(g1, side, SimRobotConfig(), push)
    default = np.array(g1.default_joint_pos_rad)
    for _ in range(100):
        sim.tick()
    q, dq, tau, quat, gyro, acc = side.state
    # on the gantry, held by the stand gains: near the default pose, pelvis upright
    assert np.abs(q - default).max() < 0.05
    np.testing.assert_allclose(quat, [1, 0, 0, 0], atol=1e-9)
    assert sim.pinned
    # damping only (kp = 0): gravity moves the joints, slowly (the damping brakes them)
    side.command = ReceivedCommand(JointCommand.damping(g1.num_joints), 0.0, 1)
    for _ in range(100):
        sim.tick()
    q, dq, tau, *_ = side.state
    assert np.abs(dq).max() > 0.05
    np.testing.assert_allclose(tau, -8.0 * dq, atol=1e-6)  # τ = kd·(0 − q̇), kp = 0
    assert sim.pinned  # still on the gantry: kp = 0
    # a stiff command lets the pelvis go
    kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
    side.command = ReceivedCommand(JointCommand.pd(default, kp, kd), 1.0, 2)
    sim.tick()
    assert not sim.pinned and sim.stats.released_at_s == 0.0
    for _ in range(100):
        sim.tick()
    push.pending = Push(np.array([1.0, 0.0, 0.0]), np.zeros(3))
    vx_before = sim.data.qvel[0]
    sim.tick()
    assert sim.stats.pushes == 1
    assert sim.data.qvel[0] > vx_before + 0.5  # the push, less two physics steps of contact
    # a non-finite command is refused and the previous one stays
    bad = JointCommand.pd(np.full(g1.num_joints, np.nan), kp, kd)
    side.command = ReceivedCommand(bad, 2.0, 3)
    sim.tick()
    assert sim.stats.commands_refused == 1 and sim.stats.commands_applied == 2


# --------------------------------------------------------------------------------------------
# sim robot, as its own process


@pytest.fixture
def sim_process() -> Iterator[subprocess.Popen[str]]:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable,
        "-m",
        "humimic.deploy.sim_robot",
        "--robot=g1",
        "--interface=ros2",
        f"--domain={SIM_DOMAIN_ID}",
        "--network=lo",
        "--rate-hz=500",
        "--duration=30",
    ]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sim_robot_process_streams_state_and_obeys_commands(g1, sim_process) -> None:
    with Ros2Transport(g1, DdsConfig(domain_id=SIM_DOMAIN_ID, interface="lo")) as ros:
        try:
            first = ros.wait_for_state(timeout_s=15.0)  # process start-up: imports, MuJoCo
        except DeployError as exc:
            sim_process.kill()
            said = sim_process.communicate()[0]
            raise AssertionError(f"no state from the sim robot; it said:\n{said}") from exc
        default = np.array(g1.default_joint_pos_rad)
        assert np.abs(first.joint_pos_rad - default).max() < 0.1  # starts in the default pose

        n0, t0 = ros.joint_states_received, time.monotonic()
        time.sleep(1.0)
        rate_hz = (ros.joint_states_received - n0) / (time.monotonic() - t0)
        assert 250.0 < rate_hz < 750.0, f"{rate_hz:.0f} Hz; configured 500 Hz"

        held = ros.latest()
        assert held is not None and np.abs(held.joint_vel_rad_s).max() < 0.05
        ros.send(JointCommand.damping(g1.num_joints))  # best effort: send a few
        deadline = time.monotonic() + 5.0
        moving = False
        while time.monotonic() < deadline and not moving:
            ros.send(JointCommand.damping(g1.num_joints))
            time.sleep(0.05)
            state = ros.latest()
            moving = state is not None and np.abs(state.joint_vel_rad_s).max() > 0.05
        assert moving, "joints did not respond to the damping command"

    sim_process.send_signal(signal.SIGINT)
    out, _ = sim_process.communicate(timeout=10.0)
    assert sim_process.returncode == 0, out
    assert "sim-robot: stopped after" in out and "commands applied" in out
