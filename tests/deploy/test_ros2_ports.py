"""The transport-independent ROS 2 pieces (``deploy/ros2_ports.py``) on hand-made messages.

No DDS and no ROS: every message here is a ``SimpleNamespace`` with the ROS field names, time is
a :class:`FakeClock`, and logs go into lists. Both transports (``Ros2Transport``, the rclpy node)
are built from these pieces; their own tests check the wiring.
"""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cyclonedds.qos import Policy
from cyclonedds.util import duration

from humimic.deploy.clock import FakeClock
from humimic.deploy.commands import JointCommand
from humimic.deploy.dds_ros2 import (
    COMMAND_QOS,
    OPERATOR_QOS,
    OPERATOR_TYPE,
    PUSH_QOS,
    STATE_QOS,
    STATUS_QOS,
)
from humimic.deploy.ports import OperatorEvent, RuntimeStatus
from humimic.deploy.ros2_ports import (
    JointNameMatcher,
    OperatorDecoder,
    StateBuffer,
    StatusThrottle,
    every_nth,
    imu_to_quat_gyro,
    joint_command_fields,
    joint_command_to_policy,
    joint_state_to_policy,
    policy_values,
    ros_quat_to_wxyz,
    status_fields,
    wxyz_to_ros_quat,
)
from humimic.deploy.ros2_types import QosSpec, cyclone_qos, default_types
from humimic.errors import ConfigError, DeployError

NAMES = ["hip", "knee", "ankle"]  # policy order
IMU_TOPIC = "/imu"
OPERATOR_TOPIC = "/humimic/operator"


# --------------------------------------------------------------------------------------------
# hand-made messages


def joint_state(names: list[str], q: list[float], dq: list[float] | None = None) -> Any:
    dq = [0.0] * len(names) if dq is None else dq
    return SimpleNamespace(name=names, position=q, velocity=dq)


def imu(
    xyzw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 1.0),
    gyro: tuple[float, float, float] = (0.0, 0.0, 0.0),
    covariance0: float = 0.0,
) -> Any:
    x, y, z, w = xyzw
    return SimpleNamespace(
        orientation=SimpleNamespace(x=x, y=y, z=z, w=w),
        orientation_covariance=[covariance0] + [0.0] * 8,
        angular_velocity=SimpleNamespace(x=gyro[0], y=gyro[1], z=gyro[2]),
    )


def operator_msg(command: int, clip: str = "") -> Any:
    return SimpleNamespace(command=command, clip=clip)


def matcher(allow_extra: bool = False) -> JointNameMatcher:
    return JointNameMatcher(NAMES, "JointState on /joint_states", allow_extra)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def errors() -> list[str]:
    return []


@pytest.fixture
def buffer(clock: FakeClock, errors: list[str]) -> StateBuffer:
    return StateBuffer(clock, matcher(), IMU_TOPIC, log_error=errors.append)


# --------------------------------------------------------------------------------------------
# conversions


def test_joint_state_is_matched_by_name_into_policy_order() -> None:
    # the message lists ankle, hip, knee: q of "ankle" is 3.0, of "hip" 1.0, of "knee" 2.0
    msg = joint_state(["ankle", "hip", "knee"], [3.0, 1.0, 2.0], [30.0, 10.0, 20.0])
    q, dq = joint_state_to_policy(msg, matcher())
    np.testing.assert_array_equal(q, [1.0, 2.0, 3.0])  # hip, knee, ankle
    np.testing.assert_array_equal(dq, [10.0, 20.0, 30.0])
    assert q.dtype == np.float64


@pytest.mark.parametrize(
    ("names", "q", "dq", "message"),
    [
        (["hip", "knee"], [0.0, 0.0], None, r"lacks 1 policy joint\(s\): ankle"),
        (["hip", "knee", "ankle", "tail"], [0.0] * 4, None, "unknown joint 'tail'; valid: "),
        (["hip", "hip", "knee", "ankle"], [0.0] * 4, None, "joint 'hip' is listed twice"),
        (NAMES, [0.0, 0.0], None, r"position has 2 entries, expected one per name \(3\)"),
        (NAMES, [0.0] * 3, [0.0], r"velocity has 1 entries, expected one per name \(3\)"),
    ],
)
def test_bad_joint_states_are_refused_naming_the_problem(
    names: list[str], q: list[float], dq: list[float] | None, message: str
) -> None:
    with pytest.raises(DeployError, match=f"JointState on /joint_states.*{message}"):
        joint_state_to_policy(joint_state(names, q, dq), matcher())


def test_extra_joints_are_ignored_only_when_allowed() -> None:
    msg = joint_state(["hand", "ankle", "knee", "hip"], [9.0, 3.0, 2.0, 1.0])
    q, _ = joint_state_to_policy(msg, matcher(allow_extra=True))
    np.testing.assert_array_equal(q, [1.0, 2.0, 3.0])
    with pytest.raises(DeployError, match="unknown joint 'hand'"):
        joint_state_to_policy(msg, matcher())


def test_policy_values_checks_the_length() -> None:
    idx = np.array([2, 0, 1])
    np.testing.assert_array_equal(
        policy_values([10.0, 20.0, 30.0], idx, 3, "kp", "x"), [30, 10, 20]
    )
    with pytest.raises(DeployError, match=r"x: kp has 2 entries, expected one per name \(3\)"):
        policy_values([1.0, 2.0], idx, 3, "kp", "x")


def test_imu_quaternion_is_reordered_to_wxyz() -> None:
    quat, gyro = imu_to_quat_gyro(imu((0.1, 0.2, 0.3, 0.9), (1.0, 2.0, 3.0)), IMU_TOPIC)
    np.testing.assert_array_equal(quat, [0.9, 0.1, 0.2, 0.3])  # ROS x, y, z, w → w, x, y, z
    np.testing.assert_array_equal(gyro, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(ros_quat_to_wxyz(0.1, 0.2, 0.3, 0.9), [0.9, 0.1, 0.2, 0.3])
    assert wxyz_to_ros_quat([0.9, 0.1, 0.2, 0.3]) == {"x": 0.1, "y": 0.2, "z": 0.3, "w": 0.9}


@pytest.mark.parametrize(
    ("msg", "message"),
    [
        (
            imu(covariance0=-1.0),
            r"Imu on /imu: no orientation \(orientation_covariance\[0\] = -1\)",
        ),
        (imu((0.0, 0.0, 0.0, 0.0)), r"Imu on /imu: orientation \[0.0, 0.0, 0.0, 0.0\] is not a"),
        (imu((math.nan, 0.0, 0.0, 1.0)), "Imu on /imu: orientation .*nan.* is not a rotation"),
    ],
)
def test_an_imu_without_a_rotation_is_refused(msg: Any, message: str) -> None:
    with pytest.raises(DeployError, match=message):
        imu_to_quat_gyro(msg, IMU_TOPIC)


def test_joint_command_fields_and_back_by_name() -> None:
    command = JointCommand(
        position_rad=[0.1, 0.2, 0.3],
        velocity_rad_s=[1.0, 2.0, 3.0],
        effort_nm=[-1.0, 0.0, 1.0],
        kp=[100.0, 150.0, 40.0],
        kd=[2.0, 3.0, 1.0],
    )
    fields = joint_command_fields(command, NAMES, "toy")
    assert fields["name"] == NAMES
    assert fields["kp"] == [100.0, 150.0, 40.0]
    assert all(type(v) is float for v in fields["position"])  # lists of floats, no numpy
    # the robot's side: listed in another order, matched back by name
    order = [2, 0, 1]  # ankle, hip, knee
    reordered = {k: [v[i] for i in order] for k, v in fields.items()}
    decoded = joint_command_to_policy(
        SimpleNamespace(**reordered), JointNameMatcher(NAMES, "JointCommand")
    )
    for name in ("position_rad", "velocity_rad_s", "effort_nm", "kp", "kd"):
        np.testing.assert_array_equal(getattr(decoded, name), getattr(command, name))
    with pytest.raises(DeployError, match="JointCommand for 2 joints; toy has 3"):
        joint_command_fields(JointCommand.damping(2), NAMES, "toy")


def test_every_nth_logs_1_10_100_1000_then_every_10000() -> None:
    logged = [n for n in range(1, 30_001) if every_nth(n)]
    assert logged == [1, 10, 100, 1000, 10_000, 20_000, 30_000]


# --------------------------------------------------------------------------------------------
# the state buffer


def test_no_state_until_both_streams_and_the_older_stamp_wins(
    buffer: StateBuffer, clock: FakeClock
) -> None:
    assert buffer.latest() is None
    assert buffer.on_joint_state(joint_state(NAMES, [1.0, 2.0, 3.0]))  # at 100.0
    assert buffer.latest() is None  # no Imu yet
    clock.advance(0.5)
    assert buffer.on_imu(imu((0.0, 0.0, 0.0, 1.0), (0.1, 0.2, 0.3)))  # at 100.5
    state = buffer.latest()
    assert state is not None
    np.testing.assert_array_equal(state.joint_pos_rad, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(state.imu_quat_wxyz, [1.0, 0.0, 0.0, 0.0])
    np.testing.assert_array_equal(state.gyro_b_rad_s, [0.1, 0.2, 0.3])
    assert state.stamp_s == 100.0  # min(joints 100.0, imu 100.5)
    assert buffer.latest() is state  # nothing new: the same object
    clock.advance(0.5)
    buffer.on_joint_state(joint_state(NAMES, [0.0, 0.0, 0.0]))  # at 101.0
    assert buffer.latest().stamp_s == 100.5  # now the Imu is the older part
    assert (buffer.joint_states_received, buffer.imu_received, buffer.rejected) == (2, 1, 0)


def test_an_explicit_arrival_stamp_is_used(buffer: StateBuffer) -> None:
    # Ros2Transport stamps before it takes the samples and passes the stamp in
    buffer.on_joint_state(joint_state(NAMES, [0.0] * 3), stamp_s=42.0)
    buffer.on_imu(imu(), stamp_s=43.0)
    assert buffer.latest().stamp_s == 42.0


def test_a_refused_joint_state_leaves_the_state_stale(
    buffer: StateBuffer, clock: FakeClock, errors: list[str]
) -> None:
    buffer.on_joint_state(joint_state(NAMES, [1.0, 2.0, 3.0]))
    buffer.on_imu(imu())
    before = buffer.latest()
    clock.advance(0.1)
    buffer.on_imu(imu())  # at 100.1
    assert not buffer.on_joint_state(joint_state(["hip", "knee", "tail"], [9.0, 9.0, 9.0]))
    state = buffer.latest()
    assert state.stamp_s == 100.0  # the joints did not move on: stale, the watchdog will trip
    np.testing.assert_array_equal(state.joint_pos_rad, before.joint_pos_rad)
    assert "unknown joint 'tail'" in buffer.last_error
    assert buffer.rejected == 1 and buffer.joint_states_received == 1
    assert len(errors) == 1 and errors[0].startswith("refused message #1: ") and "tail" in errors[0]
    buffer.on_joint_state(joint_state(NAMES, [1.0, 2.0, 3.0]))  # a good one clears the error
    assert buffer.last_error is None
    assert buffer.latest().stamp_s == 100.1


def test_a_refused_imu_leaves_the_state_stale(buffer: StateBuffer, clock: FakeClock) -> None:
    buffer.on_joint_state(joint_state(NAMES, [0.0] * 3))
    buffer.on_imu(imu())
    for _ in range(3):  # joints keep coming, every Imu is refused
        clock.advance(0.01)
        buffer.on_joint_state(joint_state(NAMES, [0.0] * 3))
        assert not buffer.on_imu(imu(covariance0=-1.0))
    assert buffer.latest().stamp_s == 100.0  # the older part: the last good Imu
    assert "no orientation" in buffer.last_error
    assert buffer.rejected == 3


def test_refusals_are_logged_every_nth(buffer: StateBuffer, errors: list[str]) -> None:
    for _ in range(12):
        buffer.on_joint_state(joint_state(["x"], [0.0]))
    assert buffer.rejected == 12
    assert [e.split(":")[0] for e in errors] == ["refused message #1", "refused message #10"]
    with pytest.raises(DeployError, match="unknown stream 'odom'; valid: imu, joint_states"):
        buffer.reject("odom", "why")


# --------------------------------------------------------------------------------------------
# the operator decoder


@pytest.fixture
def constants() -> Any:
    """The OperatorCommand constants from its .msg file (what Ros2Transport uses)."""
    return default_types().typestore.types[OPERATOR_TYPE]


def test_every_operator_command_constant_is_mapped(constants: Any) -> None:
    msg_constants = default_types().typestore.fielddefs[OPERATOR_TYPE][0]
    by_name = {name: value for name, _, value in msg_constants}
    assert set(by_name) == {e.name for e in OperatorEvent} | {"SELECT_CLIP"}  # nothing else
    warnings: list[str] = []
    decoder = OperatorDecoder(constants, OPERATOR_TOPIC, log_warning=warnings.append)
    for event in OperatorEvent:
        decoded = decoder.decode(operator_msg(by_name[event.name]))
        expected_arg = "" if event is OperatorEvent.START else f"from {OPERATOR_TOPIC}"
        assert decoded == (event, expected_arg), event
    assert decoder.decode(operator_msg(by_name["SELECT_CLIP"], "walk")) is None
    assert warnings == [] and decoder.unknown_commands == 0


def test_start_takes_its_own_clip_else_the_selected_one(constants: Any) -> None:
    decoder = OperatorDecoder(constants, OPERATOR_TOPIC)
    start, select = int(constants.START), int(constants.SELECT_CLIP)
    assert decoder.decode(operator_msg(start)) == (OperatorEvent.START, "")  # nothing selected
    assert decoder.decode(operator_msg(select, "walk")) is None  # only remembered
    assert decoder.decode(operator_msg(start)) == (OperatorEvent.START, "walk")
    assert decoder.decode(operator_msg(start, "run")) == (OperatorEvent.START, "run")  # own wins
    assert decoder.decode(operator_msg(start)) == (OperatorEvent.START, "walk")  # still selected


def test_unknown_operator_commands_are_logged_counted_and_ignored(constants: Any) -> None:
    warnings: list[str] = []
    decoder = OperatorDecoder(constants, OPERATOR_TOPIC, log_warning=warnings.append)
    assert decoder.decode(operator_msg(99)) is None
    assert decoder.unknown_commands == 1
    (warning,) = warnings
    assert warning.startswith(f"ignored OperatorCommand on {OPERATOR_TOPIC}: unknown command 99")
    assert "1=START" in warning and "5=ESTOP" in warning and "6=SELECT_CLIP" in warning


def test_a_message_class_without_the_constants_is_refused() -> None:
    partial = SimpleNamespace(START=1, STOP=2)
    with pytest.raises(DeployError, match="lacks the OperatorCommand constant.*DAMP, ESTOP, RESET"):
        OperatorDecoder(partial, OPERATOR_TOPIC)


# --------------------------------------------------------------------------------------------
# the status throttle and fields


def status(clock: FakeClock, state: str, fault: str = "", overruns: int = 0) -> RuntimeStatus:
    return RuntimeStatus(clock.now_s(), state, fault, "walk", 0.0, overruns)


def test_status_is_published_on_change_and_after_the_period_only(clock: FakeClock) -> None:
    throttle = StatusThrottle(0.2)
    assert throttle.should_publish(status(clock, "passive"))  # the first one: published
    clock.advance(0.02)
    assert not throttle.should_publish(status(clock, "passive"))  # same, 0.02 s later
    clock.advance(0.02)
    assert throttle.should_publish(status(clock, "stand"))  # changed: at once
    clock.advance(0.1)
    assert not throttle.should_publish(status(clock, "stand"))  # 0.1 s after the last one
    assert throttle.should_publish(status(clock, "stand", "estop"))  # the fault changed
    clock.advance(0.19)
    assert not throttle.should_publish(status(clock, "stand", "estop"))  # 0.19 s: not yet
    clock.advance(0.01)
    assert throttle.should_publish(status(clock, "stand", "estop"))  # 0.2 s: heartbeat
    clock.advance(0.05)
    assert not throttle.should_publish(status(clock, "stand", "estop"))  # the period restarts


def test_policy_steps_count_every_status_in_policy_published_or_not(clock: FakeClock) -> None:
    throttle = StatusThrottle(10.0)
    published = [throttle.should_publish(status(clock, s)) for s in ("stand", "policy", "policy")]
    assert published == [True, True, False]
    assert throttle.policy_steps == 2


def test_a_non_positive_period_is_refused() -> None:
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ConfigError, match="Ros2Transport.status_period_s: expected > 0"):
            StatusThrottle(bad, "Ros2Transport.status_period_s")


def test_status_fields(clock: FakeClock) -> None:
    fields = status_fields(status(clock, "policy", "", overruns=2**32 + 3), policy_steps=7)
    nan = fields.pop("policy_latency_ms")
    assert math.isnan(nan)  # the port's RuntimeStatus does not carry it: unknown
    assert fields == {"state": "POLICY", "fault": "", "policy_steps": 7, "overruns": 3}  # uint32
    richer = SimpleNamespace(
        state="damping", fault="stale", overruns=0, policy_steps=11, policy_latency_ms=1.5
    )
    fields = status_fields(richer, policy_steps=7)  # type: ignore[arg-type]
    assert (fields["state"], fields["policy_steps"], fields["policy_latency_ms"]) == (
        "DAMPING",
        11,
        1.5,
    )


# --------------------------------------------------------------------------------------------
# QoS descriptions (both transports build their endpoints from these)


@pytest.mark.parametrize("spec", [STATE_QOS, COMMAND_QOS, OPERATOR_QOS, STATUS_QOS, PUSH_QOS])
def test_cyclone_qos_is_what_the_description_says(spec: QosSpec) -> None:
    qos = cyclone_qos(spec, max_blocking_time_s=0.01)
    reliability = qos[Policy.Reliability]
    if spec.reliable:
        assert reliability == Policy.Reliability.Reliable(max_blocking_time=duration(seconds=0.01))
    else:
        assert reliability == Policy.Reliability.BestEffort
    assert qos[Policy.History] == Policy.History.KeepLast(spec.depth)
    durability = (
        Policy.Durability.TransientLocal if spec.transient_local else Policy.Durability.Volatile
    )
    assert qos[Policy.Durability] == durability
    assert qos[Policy.DataRepresentation] == Policy.DataRepresentation(
        use_cdrv0_representation=True
    )


def test_topic_qos_descriptions_are_the_documented_ones() -> None:
    # the table in humimic.deploy.dds_ros2's docstring
    assert STATE_QOS == QosSpec(reliable=False, depth=5)
    assert COMMAND_QOS == QosSpec(reliable=False, depth=1)
    assert OPERATOR_QOS == QosSpec(reliable=True, depth=32)
    assert STATUS_QOS == QosSpec(reliable=True, depth=1, transient_local=True)  # latched
    assert PUSH_QOS == QosSpec(reliable=True, depth=10)
    with pytest.raises(ConfigError, match="QosSpec.depth: expected an int >= 1, got 0"):
        QosSpec(reliable=True, depth=0)
