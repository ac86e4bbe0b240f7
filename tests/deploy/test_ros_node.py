"""The rclpy deploy node (``ros2_ws/src/humimic_ros/humimic_ros/node.py``) against a FAKE rclpy.

No ROS install is needed: :mod:`fake_rclpy` (clearly fake, ``Fake*`` classes) replaces
``rclpy`` and the message packages in ``sys.modules`` for each test, and the node module is
imported from its file. The runtime underneath is the real :class:`DeployRuntime` on the
shipped policy (``humimic/data/policy``) with a :class:`FakeClock`, so every number checked
here comes from the runtime's own configuration, not from this file.

What is checked: the topics, types and QoS are the raw-DDS transport's (QoS read back from a
live :class:`Ros2Transport` on loopback, domain 98); every parameter is described and the
numeric ones ranged; the YAML config matches the node's parameters; the callbacks reach the
runtime's ports (state, operator events, e-stop) and the timer drives it (DAMPING gains,
policy order, the stale-state fault, the policy/command rate ratio, auto-start); ``main``
sends damping when it stops. The ROS 2 launch test (``ros2_ws/src/humimic_ros/test``) runs the
real thing where ROS is installed.
"""

from __future__ import annotations

import importlib.util
import json
import math
import signal
import sys
from types import ModuleType
from typing import Any

import fake_rclpy
import numpy as np
import pytest
import yaml
from cyclonedds.qos import Policy
from fake_rclpy import (
    FakeBool,
    FakeDurabilityPolicy,
    FakeHistoryPolicy,
    FakeImu,
    FakeInvalidParameterValueException,
    FakeJointCommand,
    FakeJointState,
    FakeNode,
    FakeOperatorCommand,
    FakeParameter,
    FakeQuaternion,
    FakeRclpyState,
    FakeReliabilityPolicy,
    FakeRuntimeStatus,
    FakeSignalHandlerOptions,
    FakeVector3,
)
from shared_paths import REPO_ROOT

from humimic.deploy.clock import FakeClock
from humimic.deploy.dds_ros2 import (
    IMU_TYPE,
    JOINT_COMMAND_TYPE,
    JOINT_STATE_TYPE,
    OPERATOR_TYPE,
    STATUS_TYPE,
    DdsConfig,
    Ros2Topics,
    Ros2Transport,
)
from humimic.deploy.fsm import State
from humimic.deploy.ports import OperatorEvent
from humimic.deploy.ros2_ports import JointNameMatcher, imu_to_quat_gyro, joint_state_to_policy
from humimic.errors import ConfigError

PACKAGE = REPO_ROOT / "ros2_ws" / "src" / "humimic_ros"
NODE_PY = PACKAGE / "humimic_ros" / "node.py"
CONFIG_YAML = PACKAGE / "config" / "g1.yaml"
POLICY = REPO_ROOT / "humimic" / "data" / "policy"
META = json.loads((POLICY / "policy.json").read_text())
JOINT_NAMES: list[str] = META["joint_names"]
DEFAULT_POSE: list[float] = META["default_joint_pos_rad"]
QOS_DOMAIN_ID = 98  # this module's loopback domain (only to read Ros2Transport's QoS back)

TOPICS = Ros2Topics()
ESTOP_TOPIC = "/humimic/estop"
FLOAT_RANGES = {  # the ranges chosen for the numeric parameters
    "command_rate_hz": (50.0, 1000.0),
    "state_timeout_s": (0.01, 0.5),
    "stand_ramp_s": (0.5, 30.0),
    "status_period_s": (0.01, 10.0),
}


# --------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture
def ros(monkeypatch: pytest.MonkeyPatch) -> FakeRclpyState:
    return fake_rclpy.install(monkeypatch)


@pytest.fixture
def node_module(ros: FakeRclpyState, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """``humimic_ros/node.py``, imported from its file with the fakes in place."""
    name = "humimic_ros_node_under_test"
    spec = importlib.util.spec_from_file_location(name, NODE_PY)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


def make_node(module: ModuleType, clock: FakeClock, **params: Any) -> Any:
    overrides = [FakeParameter("policy", str(POLICY))]
    overrides += [FakeParameter(k, v) for k, v in params.items()]
    return module.DeployNode(clock=clock, parameter_overrides=overrides)


@pytest.fixture
def node(node_module: ModuleType, clock: FakeClock) -> Any:
    return make_node(node_module, clock)


def joint_state(names: list[str], q: list[float], dq: list[float] | None = None) -> Any:
    dq = [0.0] * len(names) if dq is None else dq
    return FakeJointState(name=names, position=q, velocity=dq, effort=[0.0] * len(names))


def upright_imu(gyro: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> Any:
    """Identity orientation (ROS field order x, y, z, w)."""
    return FakeImu(
        orientation=FakeQuaternion(x=0.0, y=0.0, z=0.0, w=1.0),
        angular_velocity=FakeVector3(x=gyro[0], y=gyro[1], z=gyro[2]),
    )


def feed_state(node: Any) -> None:
    """One JointState (default pose, names in policy order) and one Imu (upright)."""
    node.fake_subscription(TOPICS.joint_states).deliver(joint_state(JOINT_NAMES, DEFAULT_POSE))
    node.fake_subscription(TOPICS.imu).deliver(upright_imu())


def operator(node: Any, command: str, clip: str = "") -> None:
    code = getattr(FakeOperatorCommand, command)
    node.fake_subscription(TOPICS.operator).deliver(FakeOperatorCommand(command=code, clip=clip))


def tick(node: Any, clock: FakeClock, n: int = 1, *, feed: bool = True) -> None:
    """``n`` timer ticks one command period apart, with a fresh state before each (``feed``)."""
    for _ in range(n):
        clock.advance(1.0 / node.command_rate_hz)
        if feed:
            feed_state(node)
        node.timer.fire()


def ticks_to_next_policy_step(node: Any) -> int:
    """Ticks until (and including) the next one that runs a policy step."""
    return -node._tick % node._ratio + 1


def commands(node: Any) -> list[Any]:
    return node.fake_publisher(TOPICS.joint_command).published


def damping_kd(node: Any) -> float:
    """The DAMPING kd of the runtime's own state machine config."""
    kd = float(node.runtime.fsm.config.damping_kd_nm_s_per_rad)
    assert kd > 0.0  # else kp = kd = 0 could not tell DAMPING from PASSIVE
    return kd


def assert_damping(msg: Any, node: Any) -> None:
    n = len(JOINT_NAMES)
    assert list(msg.kp) == [0.0] * n
    assert list(msg.kd) == [damping_kd(node)] * n


def reach_stand(node: Any, clock: FakeClock) -> None:
    """start (PASSIVE → DAMPING), then start again (DAMPING → STAND)."""
    feed_state(node)
    operator(node, "START")
    tick(node, clock)  # tick 0 runs a policy step
    assert node.runtime.state is State.DAMPING
    operator(node, "START")
    tick(node, clock, ticks_to_next_policy_step(node))
    assert node.runtime.state is State.STAND


# --------------------------------------------------------------------------------------------
# wiring: topics, types, QoS, parameters


def test_topics_and_message_types_are_the_raw_dds_transports(node: Any) -> None:
    subscribed = {s.topic: s.msg_type.ROS_TYPE for s in node.fake_subscriptions}
    published = {p.topic: p.msg_type.ROS_TYPE for p in node.fake_publishers}
    assert subscribed == {
        "/joint_states": JOINT_STATE_TYPE,
        "/imu": IMU_TYPE,
        "/humimic/operator": OPERATOR_TYPE,
        ESTOP_TOPIC: "std_msgs/msg/Bool",
    }
    assert published == {
        "/humimic/joint_command": JOINT_COMMAND_TYPE,
        "/humimic/status": STATUS_TYPE,
    }
    # the same names as Ros2Transport's defaults
    assert set(subscribed) - {ESTOP_TOPIC} == {TOPICS.joint_states, TOPICS.imu, TOPICS.operator}
    assert set(published) == {TOPICS.joint_command, TOPICS.status}
    assert len(node.fake_timers) == 1


def _reliability(qos: Any) -> FakeReliabilityPolicy:
    is_reliable = isinstance(qos[Policy.Reliability], Policy.Reliability.Reliable)
    return FakeReliabilityPolicy.RELIABLE if is_reliable else FakeReliabilityPolicy.BEST_EFFORT


def _durability(qos: Any) -> FakeDurabilityPolicy:
    latched = qos[Policy.Durability] == Policy.Durability.TransientLocal
    return FakeDurabilityPolicy.TRANSIENT_LOCAL if latched else FakeDurabilityPolicy.VOLATILE


def test_qos_equals_what_the_raw_dds_transport_uses(node: Any, g1: Any) -> None:
    # read the QoS back from the DDS entities of a live Ros2Transport (loopback only)
    with Ros2Transport(g1, DdsConfig(domain_id=QOS_DOMAIN_ID, interface="lo")) as transport:
        dds = {
            TOPICS.joint_states: transport._js_reader.get_qos(),
            TOPICS.imu: transport._imu_reader.get_qos(),
            TOPICS.operator: transport._op_reader.get_qos(),
            TOPICS.joint_command: transport._cmd_writer.get_qos(),
            TOPICS.status: transport._status_writer.get_qos(),
        }
    dds[ESTOP_TOPIC] = dds[TOPICS.operator]  # e-stops are operator commands: same QoS
    endpoints = {s.topic: s.qos_profile for s in node.fake_subscriptions}
    endpoints.update({p.topic: p.qos_profile for p in node.fake_publishers})
    assert set(endpoints) == set(dds)
    for topic, qos in dds.items():
        profile = endpoints[topic]
        assert isinstance(qos[Policy.History], Policy.History.KeepLast), topic
        assert profile.history is FakeHistoryPolicy.KEEP_LAST, topic
        assert profile.depth == qos[Policy.History].depth, topic
        assert profile.reliability is _reliability(qos), topic
        assert profile.durability is _durability(qos), topic
    # and what the module docstrings promise: best-effort state, a latched status
    assert endpoints[TOPICS.joint_states].reliability is FakeReliabilityPolicy.BEST_EFFORT
    assert endpoints[TOPICS.status].durability is FakeDurabilityPolicy.TRANSIENT_LOCAL


def test_every_parameter_is_described_and_numeric_ones_ranged(node: Any) -> None:
    declared = node.fake_parameters
    assert set(declared) == {
        "policy",
        "robot",
        "clip",
        "auto_start",
        "command_rate_hz",
        "state_timeout_s",
        "stand_ramp_s",
        "status_period_s",
        "allow_extra_joints",
        "joint_states_topic",
        "imu_topic",
        "joint_command_topic",
        "operator_topic",
        "status_topic",
        "estop_topic",
    }
    assert "policy_rate_hz" not in declared  # fixed by the policy, not a parameter
    for name, (value, descriptor) in declared.items():
        assert descriptor.description.strip(), name
        assert descriptor.read_only, name  # read once at start-up
        ranges = [(r.from_value, r.to_value) for r in descriptor.floating_point_range]
        if isinstance(value, float):
            assert ranges == [FLOAT_RANGES[name]], name
            lo, hi = FLOAT_RANGES[name]
            assert lo <= value <= hi, name
        else:
            assert ranges == [] and list(descriptor.integer_range) == [], name
    assert {n for n, (v, _) in declared.items() if isinstance(v, float)} == set(FLOAT_RANGES)
    assert declared["robot"][0] == "g1"
    assert declared["command_rate_hz"][0] == 500.0
    # the policy rate is read from the policy metadata
    assert node.policy_rate_hz == pytest.approx(1.0 / META["control_dt_s"])


def test_parameter_defaults_are_the_runtimes_and_reach_it(
    node_module: ModuleType, node: Any, clock: FakeClock
) -> None:
    declared = node.fake_parameters
    # defaults: the runtime's own configs
    assert declared["state_timeout_s"][0] == node.runtime.supervisor.config.state_timeout_s
    assert declared["stand_ramp_s"][0] == node.runtime.fsm.config.stand_ramp_s
    # overrides reach the runtime
    other = make_node(node_module, clock, state_timeout_s=0.02, stand_ramp_s=1.5)
    assert other.runtime.supervisor.config.state_timeout_s == 0.02
    assert other.runtime.fsm.config.stand_ramp_s == 1.5
    assert other.timer.timer_period_sec == pytest.approx(1.0 / 500.0)


def test_out_of_range_and_inconsistent_rates_are_refused(
    node_module: ModuleType, clock: FakeClock
) -> None:
    with pytest.raises(FakeInvalidParameterValueException, match="command_rate_hz"):
        make_node(node_module, clock, command_rate_hz=2000.0)
    with pytest.raises(ConfigError, match=r"command_rate_hz.*multiple of the policy rate 50 Hz"):
        make_node(node_module, clock, command_rate_hz=475.0)


def test_a_missing_policy_is_a_clear_error(node_module: ModuleType, clock: FakeClock) -> None:
    with pytest.raises(ConfigError, match="parameter policy"):
        node_module.DeployNode(clock=clock)


def test_config_yaml_sets_exactly_the_node_parameters_with_their_defaults(node: Any) -> None:
    config = yaml.safe_load(CONFIG_YAML.read_text())
    params = config["/**"]["ros__parameters"]
    declared = node.fake_parameters
    assert set(params) == set(declared)
    assert params["policy"] == ""  # the launch file sets it
    for name, value in params.items():
        default = declared[name][0] if name != "policy" else ""
        assert type(value) is type(default), f"{name}: {value!r} vs {default!r}"  # typed
        assert value == default, name


# --------------------------------------------------------------------------------------------
# conversions the node uses (humimic.deploy.ros2_ports), on rclpy-shaped messages


def test_joint_state_is_matched_by_name_into_policy_order() -> None:
    matcher = JointNameMatcher(JOINT_NAMES, "JointState on /joint_states")
    names = JOINT_NAMES[::-1]
    q = [float(i) for i in range(len(names))]  # q of names[i] is i
    dq = [10.0 + i for i in range(len(names))]
    pos, vel = joint_state_to_policy(joint_state(names, q, dq), matcher)
    j = len(names)
    np.testing.assert_array_equal(pos, [j - 1 - k for k in range(j)])  # reversed back
    np.testing.assert_array_equal(vel, [10.0 + j - 1 - k for k in range(j)])
    with pytest.raises(Exception, match="lacks 1 policy joint"):
        joint_state_to_policy(joint_state(names[1:], q[1:], dq[1:]), matcher)


def test_imu_quaternion_is_reordered_to_wxyz() -> None:
    msg = FakeImu(
        orientation=FakeQuaternion(x=0.1, y=0.2, z=0.3, w=0.9),
        angular_velocity=FakeVector3(x=1.0, y=2.0, z=3.0),
    )
    quat, gyro = imu_to_quat_gyro(msg, "/imu")
    np.testing.assert_array_equal(quat, [0.9, 0.1, 0.2, 0.3])
    np.testing.assert_array_equal(gyro, [1.0, 2.0, 3.0])
    msg.orientation_covariance = np.array([-1.0] + [0.0] * 8)
    with pytest.raises(Exception, match="no orientation"):
        imu_to_quat_gyro(msg, "/imu")


# --------------------------------------------------------------------------------------------
# callbacks and timer drive the runtime


def test_start_then_timer_gives_damping_in_policy_joint_order(node: Any, clock: FakeClock) -> None:
    # names in reverse order on the wire: the node matches them by name
    node.fake_subscription(TOPICS.joint_states).deliver(
        joint_state(JOINT_NAMES[::-1], DEFAULT_POSE[::-1])
    )
    node.fake_subscription(TOPICS.imu).deliver(upright_imu())
    np.testing.assert_array_equal(node.state_buffer.latest().joint_pos_rad, DEFAULT_POSE)
    operator(node, "START")
    node.timer.fire()  # tick 0: policy step (PASSIVE → DAMPING), then the command
    assert node.runtime.state is State.DAMPING
    (cmd,) = commands(node)
    assert isinstance(cmd, FakeJointCommand)
    assert list(cmd.name) == JOINT_NAMES == list(node.runtime.meta.joint_names)
    assert_damping(cmd, node)
    expected = node.runtime.fsm.command_for()  # the state machine's DAMPING command
    assert list(cmd.kd) == expected.kd.tolist() and list(cmd.kp) == expected.kp.tolist()


def test_commands_are_passive_without_an_operator(node: Any, clock: FakeClock) -> None:
    tick(node, clock, 3, feed=False)  # no robot at all
    assert node.runtime.state is State.PASSIVE
    assert len(commands(node)) == 3
    assert list(commands(node)[-1].kd) == [0.0] * len(JOINT_NAMES)


def test_operator_messages_reach_the_runtime_operator_input(node: Any) -> None:
    clip = node.runtime.clip_name
    operator(node, "SELECT_CLIP", clip)  # only remembered
    operator(node, "START")
    operator(node, "STOP")
    operator(node, "ESTOP")
    assert node.runtime.operator.poll() == [
        (OperatorEvent.START, clip),
        (OperatorEvent.STOP, f"from {TOPICS.operator}"),
        (OperatorEvent.ESTOP, f"from {TOPICS.operator}"),
    ]
    node.fake_subscription(TOPICS.operator).deliver(FakeOperatorCommand(command=99))
    assert node.runtime.operator.poll() == []
    assert any("unknown command 99" in m for _, m in node.fake_logger.records)


def test_a_stale_state_gives_damping(node_module: ModuleType, clock: FakeClock) -> None:
    # a timeout shorter than the default, to see the parameter at work
    node = make_node(node_module, clock, state_timeout_s=0.02)
    assert node.runtime.supervisor.config.state_timeout_s < 0.025
    reach_stand(node, clock)
    tick(node, clock)
    stand = commands(node)[-1]
    assert min(stand.kp) > 0.0  # stiff: the stand gains
    clock.advance(0.015)  # no new messages, younger than 0.02 s
    node.timer.fire()
    assert node.runtime.state is State.STAND
    clock.advance(0.010)  # now 0.025 s old: stale
    node.timer.fire()
    assert node.runtime.state is State.DAMPING and node.runtime.fsm.latched
    assert "stale" in node.runtime.fault_text
    assert_damping(commands(node)[-1], node)
    feed_state(node)  # fresh data does not unlatch: only an operator reset does
    tick(node, clock, 2 * node._ratio)
    assert node.runtime.state is State.DAMPING
    assert_damping(commands(node)[-1], node)


def test_an_imu_that_stops_makes_the_state_stale(node_module: ModuleType, clock: FakeClock) -> None:
    node = make_node(node_module, clock, state_timeout_s=0.02)
    reach_stand(node, clock)
    joints = node.fake_subscription(TOPICS.joint_states)
    for _ in range(15):  # 30 ms of joint states, no Imu
        clock.advance(1.0 / node.command_rate_hz)
        joints.deliver(joint_state(JOINT_NAMES, DEFAULT_POSE))
        node.timer.fire()
    assert node.runtime.state is State.DAMPING
    assert "stale" in node.runtime.fault_text
    assert_damping(commands(node)[-1], node)


def test_estop_topic_latches_damping(node: Any, clock: FakeClock) -> None:
    reach_stand(node, clock)
    estop = node.fake_subscription(ESTOP_TOPIC)
    estop.deliver(FakeBool(data=False))  # false does nothing
    tick(node, clock)
    assert node.runtime.state is State.STAND
    estop.deliver(FakeBool(data=True))
    tick(node, clock)  # the next command tick, policy step or not
    assert node.runtime.state is State.DAMPING and node.runtime.fsm.latched
    assert "e-stop" in node.runtime.fault_text
    assert_damping(commands(node)[-1], node)


def test_refused_messages_leave_the_state_stale(node: Any, clock: FakeClock) -> None:
    names = [*JOINT_NAMES[:-1], "tail_joint"]
    node.fake_subscription(TOPICS.joint_states).deliver(joint_state(names, DEFAULT_POSE))
    node.fake_subscription(TOPICS.imu).deliver(upright_imu())
    assert node.state_buffer.latest() is None
    assert "tail_joint" in node.state_buffer.last_error
    assert node.state_buffer.rejected == 1
    assert any(level == "error" and "tail_joint" in m for level, m in node.fake_logger.records)


def test_one_policy_step_per_ratio_of_command_ticks(node: Any, clock: FakeClock) -> None:
    ratio = round(node.command_rate_hz / node.policy_rate_hz)
    assert ratio == 10  # 500 Hz commands, 50 Hz policy
    tick(node, clock, 3 * ratio)
    assert node.runtime.counters.policy_steps == 3
    assert node.runtime.counters.command_steps == 3 * ratio
    assert node.runtime.counters.overruns == 0
    clock.advance(5.0 / node.command_rate_hz)  # a late tick
    node.timer.fire()
    assert node.runtime.counters.overruns == 1


def test_status_is_published_latched_with_the_state(node: Any, clock: FakeClock) -> None:
    status = node.fake_publisher(TOPICS.status).published
    tick(node, clock, 3, feed=False)
    assert len(status) == 1  # unchanged state: no new status before the heartbeat
    assert isinstance(status[0], FakeRuntimeStatus)
    assert status[0].state == "PASSIVE" and status[0].fault == ""
    assert math.isnan(status[0].policy_latency_ms)  # as Ros2Transport: unknown
    operator(node, "DAMP")
    tick(node, clock, ticks_to_next_policy_step(node), feed=False)
    assert status[-1].state == "DAMPING"


def test_auto_start_waits_for_the_first_state(node_module: ModuleType, clock: FakeClock) -> None:
    node = make_node(node_module, clock, auto_start=True, stand_ramp_s=0.5)
    tick(node, clock, 5 * node._ratio, feed=False)  # no robot yet
    assert node.runtime.state is State.PASSIVE and not node.runtime.fsm.latched
    tick(node, clock, 2 * node._ratio)  # state arrives: start, start
    assert node.runtime.state is State.STAND
    ramp_ticks = math.ceil(0.5 * node.command_rate_hz)
    tick(node, clock, ramp_ticks + 2 * node._ratio)  # ramp done: start the policy
    assert node.runtime.state is State.POLICY
    assert node.runtime.counters.inferences >= 1


# --------------------------------------------------------------------------------------------
# main


@pytest.fixture
def signal_handlers(monkeypatch: pytest.MonkeyPatch) -> dict[int, Any]:
    """``signal.signal`` recorded instead of changing this process's handlers."""
    handlers: dict[int, Any] = {}
    monkeypatch.setattr(signal, "signal", lambda sig, handler: handlers.setdefault(sig, handler))
    return handlers


def test_main_sends_damping_when_it_stops(
    node_module: ModuleType, ros: FakeRclpyState, signal_handlers: dict[int, Any]
) -> None:
    ros.global_overrides["policy"] = str(POLICY)

    def spin(node: Any) -> None:
        for _ in range(3):
            node.timer.fire()
        raise KeyboardInterrupt  # Ctrl-C

    ros.spin_hook = spin
    assert node_module.main([]) == 0
    (node,) = ros.nodes
    assert isinstance(node, FakeNode)
    assert ros.init_kwargs[0]["signal_handler_options"] is FakeSignalHandlerOptions.NO
    assert signal.SIGTERM in signal_handlers  # SIGTERM → KeyboardInterrupt → the same path
    cmds = commands(node)
    assert len(cmds) == 4  # three ticks (passive), then the final damping command
    assert list(cmds[0].kd) == [0.0] * len(JOINT_NAMES)
    assert_damping(cmds[-1], node)
    assert node.fake_destroyed and ros.shutdown_calls == 1


def test_main_reports_a_configuration_error(
    node_module: ModuleType, ros: FakeRclpyState, signal_handlers: dict[int, Any]
) -> None:
    assert node_module.main([]) == 1  # no policy parameter
    assert ros.spun == [] and ros.shutdown_calls == 1


def test_fake_messages_refuse_numpy_arrays_like_rclpy() -> None:
    # the fakes are only useful if they refuse what rclpy refuses
    msg = FakeJointCommand()
    with pytest.raises(AssertionError, match="sequence"):
        msg.kp = np.zeros(3)
    with pytest.raises(AttributeError, match="no field 'stiffness'"):
        msg.stiffness = [0.0]
    status = FakeRuntimeStatus()
    with pytest.raises(AssertionError, match="float64"):
        status.policy_latency_ms = 1  # an int
