"""Session recording to rosbag2: written through the ports or from DDS, read back with rosbags'
Reader. Owns DDS domain 97 (loopback only; topic names with a random prefix)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rosbags.rosbag2 import Reader

from humimic.deploy.clock import FakeClock
from humimic.deploy.commands import JointCommand, RobotState
from humimic.deploy.dds_ros2 import DdsConfig, Ros2RobotSide, Ros2Topics, Ros2Transport
from humimic.deploy.ports import RuntimeStatus
from humimic.deploy.recording import (
    DdsRecorder,
    RecordingCommandSink,
    RecordingStateSource,
    RecordingStatusSink,
    SessionRecorder,
)
from humimic.deploy.ros2_types import build_typestore
from humimic.errors import DeployError

N_STATES = 25
N_COMMANDS = 5


def make_state(g1, i: int) -> RobotState:
    n = g1.num_joints
    return RobotState(
        joint_pos_rad=np.arange(n) * 0.01 + i,
        joint_vel_rad_s=-np.arange(n) * 0.1,
        imu_quat_wxyz=[0.9, 0.1, 0.2, 0.3],
        gyro_b_rad_s=[0.5, -0.5, 0.25],
        stamp_s=100.0 + 0.02 * i,
    )


def status(t: float, state: str, fault: str = "") -> RuntimeStatus:
    return RuntimeStatus(t, state, fault, clip="walk", clip_time_s=0.0, overruns=2)


class Port:
    """A stand-in transport: returns a set state, keeps what it is sent."""

    def __init__(self) -> None:
        self.state: RobotState | None = None
        self.sent: list[Any] = []

    def latest(self) -> RobotState | None:
        return self.state

    def send(self, command: JointCommand) -> None:
        self.sent.append(command)

    def publish(self, status: RuntimeStatus) -> None:
        self.sent.append(status)


def read_bag(path: Path) -> tuple[dict[str, Any], dict[str, list[tuple[int, Any]]]]:
    store = build_typestore()
    messages: dict[str, list[tuple[int, Any]]] = {}
    with Reader(path) as reader:
        connections = {c.topic: c for c in reader.connections}
        for conn, timestamp, raw in reader.messages():
            msg = store.deserialize_cdr(raw, conn.msgtype)
            messages.setdefault(conn.topic, []).append((timestamp, msg))
    return connections, messages


def test_session_round_trip(g1, tmp_path: Path) -> None:
    path = tmp_path / "session"
    clock = FakeClock(200.0)
    wall = iter(range(1_000_000_000, 2_000_000_000, 1000))
    recorder = SessionRecorder(path, g1, clock=clock, wall_time_ns=lambda: next(wall))
    port = Port()
    source = RecordingStateSource(port, recorder)
    sink = RecordingCommandSink(port, recorder)
    status_sink = RecordingStatusSink(port, recorder)

    for i in range(N_STATES):
        port.state = make_state(g1, i)
        assert source.latest() is port.state
        assert source.latest() is port.state  # the same state again: recorded once
    commands = [JointCommand.pd(np.full(g1.num_joints, i), 40.0, 2.0) for i in range(N_COMMANDS)]
    for command in commands:
        sink.send(command)
    clock.advance(1.5)
    for s in (status(1.0, "passive"), status(1.02, "damping"), status(1.04, "damping")):
        status_sink.publish(s)
    status_sink.publish(status(1.06, "damping", "e-stop"))
    recorder.record_transition("damping", "passive", "operator reset")
    assert port.sent[:N_COMMANDS] == commands and len(port.sent) == N_COMMANDS + 4

    assert not path.exists()  # atomic: nothing at the final path before close
    assert recorder.close() == path
    assert recorder.close() == path  # idempotent
    assert sorted(p.name for p in tmp_path.iterdir()) == ["session"]  # temp folder gone
    assert recorder.storage == "mcap" and (path / "session.mcap").is_file()
    assert recorder.dropped == 0

    connections, messages = read_bag(path)
    assert {t: c.msgtype for t, c in connections.items()} == {
        "/joint_states": "sensor_msgs/msg/JointState",
        "/imu": "sensor_msgs/msg/Imu",
        "/humimic/joint_command": "humimic_msgs/msg/JointCommand",
        "/humimic/status": "humimic_msgs/msg/RuntimeStatus",
        "/humimic/transitions": "std_msgs/msg/String",
    }
    counts = {topic: len(msgs) for topic, msgs in messages.items()}
    assert counts == {
        "/joint_states": N_STATES,
        "/imu": N_STATES,
        "/humimic/joint_command": N_COMMANDS,
        "/humimic/status": 4,
        "/humimic/transitions": 2,
    }

    t0, js = messages["/joint_states"][3]
    assert js.name == list(g1.joint_names)
    np.testing.assert_array_equal(js.position, make_state(g1, 3).joint_pos_rad)
    np.testing.assert_array_equal(js.velocity, -np.arange(g1.num_joints) * 0.1)
    # header: the runtime clock (100.06 s); bag time: the wall clock source
    assert (js.header.stamp.sec, js.header.stamp.nanosec) == (100, 60_000_000)
    assert 1_000_000_000 <= t0 < 2_000_000_000
    _, imu = messages["/imu"][3]
    o = imu.orientation
    assert (o.x, o.y, o.z, o.w) == (0.1, 0.2, 0.3, 0.9)  # ROS order from our wxyz
    g = imu.angular_velocity
    assert (g.x, g.y, g.z) == (0.5, -0.5, 0.25)
    assert imu.header.frame_id == g1.imu_body

    _, cmd = messages["/humimic/joint_command"][4]
    np.testing.assert_array_equal(cmd.position, np.full(g1.num_joints, 4.0))
    np.testing.assert_array_equal(cmd.kp, np.full(g1.num_joints, 40.0))
    np.testing.assert_array_equal(cmd.kd, np.full(g1.num_joints, 2.0))
    assert cmd.header.stamp.sec == 200  # the recorder's (runtime) clock

    states = [(m.state, m.fault, m.overruns) for _, m in messages["/humimic/status"]]
    assert states == [
        ("PASSIVE", "", 2),
        ("DAMPING", "", 2),
        ("DAMPING", "", 2),
        ("DAMPING", "e-stop", 2),
    ]
    transitions = [m.data for _, m in messages["/humimic/transitions"]]
    assert transitions == ["PASSIVE -> DAMPING", "DAMPING -> PASSIVE: operator reset"]
    times = [t for msgs in messages.values() for t, _ in msgs]
    assert len(set(times)) == len(times) - N_STATES  # a state's JointState and Imu share one


def test_existing_path_is_never_overwritten(g1, tmp_path: Path) -> None:
    (tmp_path / "bag").mkdir()
    with pytest.raises(DeployError, match="exists already; not overwriting"):
        SessionRecorder(tmp_path / "bag", g1)


def test_sqlite3_storage(g1, tmp_path: Path) -> None:
    with SessionRecorder(tmp_path / "bag", g1, storage="sqlite3") as recorder:
        recorder.record_state(make_state(g1, 0))
    assert recorder.storage == "sqlite3" and (tmp_path / "bag" / "bag.db3").is_file()
    _, messages = read_bag(tmp_path / "bag")
    assert len(messages["/joint_states"]) == len(messages["/imu"]) == 1


def test_a_full_queue_drops_instead_of_blocking(g1, tmp_path: Path) -> None:
    recorder = SessionRecorder(tmp_path / "bag", g1, queue_size=2)
    gate = threading.Event()
    real_write = recorder._writer.write

    def slow_write(*args: Any) -> None:
        gate.wait()  # the disk stalls
        real_write(*args)

    recorder._writer.write = slow_write  # type: ignore[method-assign]
    recorder.record_state(make_state(g1, 0))
    deadline = time.monotonic() + 5.0
    while not recorder._queue.empty():  # the writer thread took it and stalls in write
        assert time.monotonic() < deadline
        time.sleep(0.001)
    for i in range(1, 10):
        recorder.record_state(make_state(g1, i))  # must return at once
    # one record in the stalled writer, two queued, the other seven dropped
    assert recorder.dropped == 7
    gate.set()
    recorder.close()
    _, messages = read_bag(tmp_path / "bag")
    assert len(messages["/joint_states"]) == 3


def test_closed_recorder_refuses_records(g1, tmp_path: Path) -> None:
    recorder = SessionRecorder(tmp_path / "bag", g1)
    recorder.close()
    with pytest.raises(DeployError, match="is closed"):
        recorder.record_command(JointCommand.damping(g1.num_joints))


def test_dds_recorder_records_the_wire(g1, tmp_path: Path) -> None:
    dds = DdsConfig(domain_id=97, interface="lo")
    prefix = f"/humimic_test_{uuid.uuid4().hex[:10]}"
    topics = Ros2Topics(
        joint_states=f"{prefix}/joint_states",
        imu=f"{prefix}/imu",
        joint_command=f"{prefix}/joint_command",
        operator=f"{prefix}/operator",
        status=f"{prefix}/status",
        push=f"{prefix}/push",
    )
    recorder = SessionRecorder(tmp_path / "wire", g1)
    with (
        Ros2RobotSide(g1, dds, topics) as robot,
        Ros2Transport(g1, dds, topics) as runtime,
        DdsRecorder(recorder, dds, topics) as wire,
    ):
        deadline = time.monotonic() + 5.0
        while not wire.matched():  # discovery is local, but not instantaneous
            assert time.monotonic() < deadline, "DdsRecorder did not match the topics"
            time.sleep(0.01)
        runtime.publish(status(0.0, "passive"))
        for i in range(N_STATES):
            s = make_state(g1, i)
            robot.publish_state(s.joint_pos_rad, s.joint_vel_rad_s, np.zeros(29), s.imu_quat_wxyz,
                                s.gyro_b_rad_s, np.zeros(3))  # fmt: skip
        for i in range(N_COMMANDS):
            runtime.send(JointCommand.pd(np.full(g1.num_joints, i), 40.0, 2.0))
        runtime.publish(status(0.02, "damping", "e-stop"))
        while recorder.counts["status"] + recorder._queue.qsize() < 2:  # reliable: arrives
            assert time.monotonic() < deadline + 5.0
            time.sleep(0.01)
    recorder.close()
    _, messages = read_bag(tmp_path / "wire")
    counts = {topic: len(msgs) for topic, msgs in messages.items()}
    # in one process Cyclone delivers synchronously: nothing is lost even at best effort;
    # the bag uses the recorder's (canonical) topic names, whatever the wire's were
    assert counts == {
        "/joint_states": N_STATES,
        "/imu": N_STATES,
        "/humimic/joint_command": N_COMMANDS,
        "/humimic/status": 2,
        "/humimic/transitions": 1,
    }
    _, js = messages["/joint_states"][-1]
    np.testing.assert_array_equal(js.position, make_state(g1, N_STATES - 1).joint_pos_rad)
    _, transition = messages["/humimic/transitions"][0]
    assert transition.data == "PASSIVE -> DAMPING: e-stop"
