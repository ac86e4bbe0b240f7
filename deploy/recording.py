"""Record a deploy session to a rosbag2 (MCAP) that ``ros2 bag``, Foxglove or ``rosbags`` read.

:class:`SessionRecorder` writes, through ``rosbags.rosbag2.Writer``:

============================  ==================================  ==================================
topic                         type                                what
============================  ==================================  ==================================
/joint_states                 sensor_msgs/msg/JointState          measured q, dq (policy order)
/imu                          sensor_msgs/msg/Imu                 orientation (x, y, z, w in ROS),
                                                                  body-frame gyro
/humimic/joint_command        humimic_msgs/msg/JointCommand       every command sent
/humimic/status               humimic_msgs/msg/RuntimeStatus      every status reported
/humimic/transitions          std_msgs/msg/String                 ``"DAMPING -> STAND: reason"``
============================  ==================================  ==================================

Times: a record's ``header.stamp`` is the **runtime clock** (``RobotState.stamp_s``,
``RuntimeStatus.stamp_s``, or the recorder's clock for commands and transitions), so the bag
shows what the runtime saw; messages recorded from the wire keep their publisher's stamp. The
bag's own receive time is the wall clock (``time.time_ns``), as ``ros2 bag record`` does.

Never blocks the control loop: ``record_*`` put the (immutable) records on a bounded queue and
a writer thread serializes and writes them; when the queue is full a record is dropped and
counted in :attr:`SessionRecorder.dropped`.

Atomic: the bag is written inside a hidden temporary folder next to ``path`` and renamed onto
``path`` by :meth:`SessionRecorder.close`; until then nothing appears at ``path``. A run killed
before ``close`` leaves only ``.<name>.recording-*`` behind.

Storage: MCAP when the installed ``rosbags`` has the plugin (0.10 and later), else SQLite 3
(``.db3``), with a warning; :attr:`SessionRecorder.storage` says which.

Two ways to feed it:

* in the runtime's process, the ``Recording*`` wrappers record what passes through its ports
  (the states it read, the commands it sent) without the runtime knowing::

      recorder = SessionRecorder("session_bag", robot, clock=clock)
      state_source = RecordingStateSource(transport, recorder)
      command_sink = RecordingCommandSink(transport, recorder)
      status_sink = RecordingStatusSink(transport, recorder)  # also records FSM transitions
      ...
      recorder.close()

* from the wire, in any process: :class:`DdsRecorder` subscribes to the ROS 2 transport's topics
  (``humimic record -o bag --domain 91``, or ``python -m humimic.deploy.recording``): every
  JointState and Imu the robot publishes (500 Hz), every command, the status and its
  transitions.
"""

from __future__ import annotations

import argparse
import logging
import os
import queue
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.util import duration
from rosbags.rosbag2 import StoragePlugin, Writer

from humimic.deploy.clock import Clock, MonotonicClock
from humimic.deploy.commands import JointCommand, RobotState
from humimic.deploy.dds_ros2 import (
    IMU_TYPE,
    JOINT_COMMAND_TYPE,
    JOINT_STATE_TYPE,
    STATE_QOS_DEPTH,
    STATUS_TYPE,
    DdsConfig,
    DdsNode,
    Ros2Topics,
)
from humimic.deploy.ports import CommandSink, RuntimeStatus, StateSource, StatusSink
from humimic.deploy.ros2_types import MSG_PACKAGE, build_typestore, sensor_data_qos
from humimic.errors import ConfigError, DeployError, HumimicError, unknown_name
from humimic.robots import get_robot
from humimic.robots.spec import RobotSpec

log = logging.getLogger(__name__)

BAG_VERSION: Literal[9] = 9  # rosbag2 metadata version written by Humble and later
QUEUE_SIZE = 8192  # records: ~16 s of 500 Hz states
TRANSITIONS_TOPIC = "/humimic/transitions"
STORAGES = ("mcap", "sqlite3")


@dataclass(frozen=True)
class RecordedTopics:
    """Topic names in the bag (defaults: the ROS 2 transport's)."""

    joint_states: str = "/joint_states"
    imu: str = "/imu"
    joint_command: str = "/humimic/joint_command"
    status: str = "/humimic/status"
    transitions: str = TRANSITIONS_TOPIC


_TYPES = {
    "joint_states": "sensor_msgs/msg/JointState",
    "imu": "sensor_msgs/msg/Imu",
    "joint_command": f"{MSG_PACKAGE}/msg/JointCommand",
    "status": f"{MSG_PACKAGE}/msg/RuntimeStatus",
    "transitions": "std_msgs/msg/String",
}


def _storage_plugin(storage: str) -> tuple[str, Any]:
    if storage not in STORAGES:
        raise ConfigError(f"recording storage: expected one of {STORAGES}, got {storage!r}")
    if storage == "mcap":
        plugin = getattr(StoragePlugin, "MCAP", None)
        if plugin is not None:
            return "mcap", plugin
        log.warning("this rosbags has no MCAP storage plugin: recording to SQLite 3 (.db3)")
    return "sqlite3", StoragePlugin.SQLITE3


class SessionRecorder:
    """Writes a deploy session to a rosbag2 folder at ``path`` (see the module docstring).

    Args:
        path: the bag folder to create (must not exist).
        robot: joint names for the JointState and JointCommand messages.
        clock: runtime clock stamping commands and transitions (default monotonic).
        storage: ``"mcap"`` (falls back to ``"sqlite3"`` when unavailable) or ``"sqlite3"``.
        topics: topic names in the bag.
        queue_size: records buffered before dropping.
        wall_time_ns: the bag's receive-time source (tests pass a fake).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        robot: RobotSpec,
        *,
        clock: Clock | None = None,
        storage: str = "mcap",
        topics: RecordedTopics | None = None,
        queue_size: int = QUEUE_SIZE,
        wall_time_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise DeployError(f"recording: {self.path} exists already; not overwriting it")
        if queue_size < 1:
            raise ConfigError(f"SessionRecorder.queue_size: expected >= 1, got {queue_size}")
        self.robot = robot
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self.topics = RecordedTopics() if topics is None else topics
        self.storage, plugin = _storage_plugin(storage)
        self._wall_time_ns = wall_time_ns
        self._names = list(robot.joint_names)
        self.store = build_typestore()
        self.dropped = 0
        self.counts: dict[str, int] = dict.fromkeys(_TYPES, 0)
        """Messages written per topic key (``"joint_states"``, ...)."""
        self._last_state: tuple[str, str] | None = None
        self._error: BaseException | None = None
        self._closed = False

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp_dir = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.recording-", dir=self.path.parent)
        )
        # The writer thread owns the bag from open to close (the SQLite 3 storage refuses to be
        # used from another thread than the one that opened it).
        self._writer = Writer(
            self._tmp_dir / self.path.name, version=BAG_VERSION, storage_plugin=plugin
        )
        self._connections: dict[str, Any] = {}
        self._queue: queue.Queue[tuple[str, int, Any] | None] = queue.Queue(queue_size)
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, name="humimic-recorder", daemon=True)
        self._thread.start()
        self._opened.wait()
        if self._error is not None:
            self._closed = True
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            raise DeployError(f"recording: cannot create {self.path}: {self._error}") from (
                self._error
            )

    # -- recording (any thread, never blocks) ---------------------------------------------

    def _put(self, key: str, record: Any) -> None:
        if self._closed:
            raise DeployError(f"recording {self.path} is closed")
        try:
            self._queue.put_nowait((key, self._wall_time_ns(), record))
        except queue.Full:
            self.dropped += 1
            if self.dropped in (1, 10, 100, 1000) or self.dropped % 10000 == 0:
                log.warning("recorder queue full: %d record(s) dropped", self.dropped)

    def record_state(self, state: RobotState) -> None:
        """Record ``state`` as a JointState and an Imu message."""
        self._put("state", state)

    def record_command(self, command: JointCommand) -> None:
        """Record ``command`` (stamped with the recorder's clock)."""
        self._put("joint_command", (command, self.clock.now_s()))

    def record_status(self, status: RuntimeStatus) -> None:
        """Record ``status``; a change of ``state`` is also recorded as a transition (reason:
        the fault text, if any)."""
        self._put("status", status)
        key = (status.state, status.fault)
        if self._last_state is not None and self._last_state[0] != status.state:
            self.record_transition(self._last_state[0], status.state, status.fault)
        self._last_state = key

    def record_transition(self, from_state: str, to_state: str, reason: str = "") -> None:
        """Record a state-machine transition as ``"FROM -> TO: reason"``."""
        text = f"{from_state.upper()} -> {to_state.upper()}" + (f": {reason}" if reason else "")
        self._put("transitions", (text, self.clock.now_s()))

    def record_raw(self, topic_key: str, cdr: bytes) -> None:
        """Record an already serialized message (plain CDR with its 4-byte header) on the topic
        ``topic_key`` (``"joint_states"``, ``"imu"``, ``"joint_command"``, ``"status"``)."""
        if topic_key not in _TYPES:
            raise DeployError(unknown_name("recorded topic", topic_key, _TYPES))
        self._put("raw", (topic_key, bytes(cdr)))

    # -- writer thread --------------------------------------------------------------------

    def _stamp(self, t_s: float) -> Any:
        ns = round(t_s * 1e9)
        sec, nanosec = divmod(ns, 1_000_000_000)
        return self.store.types["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)

    def _header(self, t_s: float, frame_id: str = "") -> Any:
        return self.store.types["std_msgs/msg/Header"](stamp=self._stamp(t_s), frame_id=frame_id)

    def _messages(self, key: str, record: Any) -> list[tuple[str, Any]]:
        """``[(topic key, rosbags message)]`` for one record."""
        t = self.store.types
        if key == "state":
            s: RobotState = record
            vec = t["geometry_msgs/msg/Vector3"]
            w, x, y, z = s.imu_quat_wxyz.tolist()  # wxyz → ROS x, y, z, w
            gx, gy, gz = s.gyro_b_rad_s.tolist()
            zeros9 = np.zeros(9)
            return [
                (
                    "joint_states",
                    t[_TYPES["joint_states"]](
                        header=self._header(s.stamp_s),
                        name=self._names,
                        position=np.array(s.joint_pos_rad),
                        velocity=np.array(s.joint_vel_rad_s),
                        effort=np.zeros(0),
                    ),
                ),
                (
                    "imu",
                    t[_TYPES["imu"]](
                        header=self._header(s.stamp_s, self.robot.imu_body),
                        orientation=t["geometry_msgs/msg/Quaternion"](x=x, y=y, z=z, w=w),
                        orientation_covariance=zeros9,
                        angular_velocity=vec(x=gx, y=gy, z=gz),
                        angular_velocity_covariance=zeros9,
                        linear_acceleration=vec(x=0.0, y=0.0, z=0.0),
                        # ROS: covariance[0] = -1 marks a field that was not measured
                        linear_acceleration_covariance=np.array([-1.0] + [0.0] * 8),
                    ),
                ),
            ]
        if key == "joint_command":
            c, t_s = record
            return [
                (
                    key,
                    t[_TYPES[key]](
                        header=self._header(t_s),
                        name=self._names,
                        position=np.array(c.position_rad),
                        velocity=np.array(c.velocity_rad_s),
                        effort=np.array(c.effort_nm),
                        kp=np.array(c.kp),
                        kd=np.array(c.kd),
                    ),
                )
            ]
        if key == "status":
            st: RuntimeStatus = record
            return [
                (
                    key,
                    t[_TYPES[key]](
                        header=self._header(st.stamp_s),
                        state=st.state.upper(),
                        fault=st.fault,
                        policy_steps=int(getattr(st, "policy_steps", 0)) & 0xFFFFFFFF,
                        overruns=int(st.overruns) & 0xFFFFFFFF,
                        policy_latency_ms=float(getattr(st, "policy_latency_ms", np.nan)),
                    ),
                )
            ]
        text, t_s = record
        return [(key, t[_TYPES[key]](data=text))]

    def _run(self) -> None:
        try:
            self._writer.open()
            for key, msgtype in _TYPES.items():
                topic = getattr(self.topics, key)
                self._connections[key] = self._writer.add_connection(
                    topic, msgtype, typestore=self.store
                )
        except BaseException as exc:  # noqa: BLE001 - raised by __init__
            self._error = exc
            return
        finally:
            self._opened.set()
        try:
            self._write_until_closed()
        finally:
            try:
                self._writer.close()
            except BaseException as exc:  # noqa: BLE001 - reported by close()
                self._error = self._error or exc

    def _write_until_closed(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None:
                continue  # keep draining so producers never see a full queue for this reason
            key, wall_ns, record = item
            try:
                if key == "raw":
                    topic_key, data = record
                    self._writer.write(self._connections[topic_key], wall_ns, data)
                    self.counts[topic_key] += 1
                    continue
                for topic_key, msg in self._messages(key, record):
                    data = self.store.serialize_cdr(msg, _TYPES[topic_key])
                    self._writer.write(self._connections[topic_key], wall_ns, data)
                    self.counts[topic_key] += 1
            except BaseException as exc:  # noqa: BLE001 - reported by close()
                log.exception("recording %s failed", self.path)
                self._error = exc

    # -- closing --------------------------------------------------------------------------

    def close(self) -> Path:
        """Write what is queued, close the bag and move it onto ``path``. Idempotent.

        Raises:
            DeployError: writing failed (the partial bag is left in the temporary folder,
                named in the message), or ``path`` appeared meanwhile.
        """
        if self._closed:
            return self.path
        self._closed = True
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise DeployError(
                f"recording {self.path} failed: {self._error}; partial bag left in {self._tmp_dir}"
            ) from self._error
        if self.path.exists():
            raise DeployError(
                f"recording: {self.path} appeared while recording; bag left in {self._tmp_dir}"
            )
        os.rename(self._tmp_dir / self.path.name, self.path)
        shutil.rmtree(self._tmp_dir, ignore_errors=True)
        log.info(
            "recorded %s (%s): %s; %d dropped",
            self.path,
            self.storage,
            ", ".join(f"{k} {n}" for k, n in self.counts.items()),
            self.dropped,
        )
        return self.path

    def __enter__(self) -> SessionRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # a crashed session is worth keeping: finish the bag either way


# --------------------------------------------------------------------------------------------
# port wrappers


class RecordingStateSource:
    """A :class:`~humimic.deploy.ports.StateSource` that records each new state it returns."""

    def __init__(self, inner: StateSource, recorder: SessionRecorder) -> None:
        self.inner, self.recorder = inner, recorder
        self._last: RobotState | None = None

    def latest(self) -> RobotState | None:
        state = self.inner.latest()
        if state is not None and state is not self._last:
            self._last = state
            self.recorder.record_state(state)
        return state


class RecordingCommandSink:
    """A :class:`~humimic.deploy.ports.CommandSink` that records every command it sends."""

    def __init__(self, inner: CommandSink, recorder: SessionRecorder) -> None:
        self.inner, self.recorder = inner, recorder

    def send(self, command: JointCommand) -> None:
        self.recorder.record_command(command)
        self.inner.send(command)


class RecordingStatusSink:
    """A :class:`~humimic.deploy.ports.StatusSink` that records every status (and so every
    state change as a transition)."""

    def __init__(self, inner: StatusSink, recorder: SessionRecorder) -> None:
        self.inner, self.recorder = inner, recorder

    def publish(self, status: RuntimeStatus) -> None:
        self.recorder.record_status(status)
        self.inner.publish(status)


# --------------------------------------------------------------------------------------------
# recording what is on the wire (another process runs the runtime)


class DdsRecorder(DdsNode):
    """Records the ROS 2 transport's topics from the wire into a :class:`SessionRecorder`:
    the bytes as received (re-encoded by the same codec: identical), and a transition for every
    change of ``RuntimeStatus.state``; in the bag, topics carry the recorder's names
    (:class:`RecordedTopics`). Subscribes with the transport's QoS (status: transient
    local, so the current state is recorded at once). Listener threads do the work; ``close``
    stops them (then close the recorder).

    Args:
        recorder: where messages go.
        dds: domain and interface.
        topics: the transport's topic names.
    """

    def __init__(
        self,
        recorder: SessionRecorder,
        dds: DdsConfig | None = None,
        topics: Ros2Topics | None = None,
    ) -> None:
        super().__init__(dds, None, None)
        self.recorder = recorder
        self.topics = Ros2Topics() if topics is None else topics
        self._last_state: str | None = None
        sensor = sensor_data_qos(depth=STATE_QOS_DEPTH)
        for key, topic, ros_type, qos in (
            ("joint_states", self.topics.joint_states, JOINT_STATE_TYPE, sensor),
            ("imu", self.topics.imu, IMU_TYPE, sensor),
            ("joint_command", self.topics.joint_command, JOINT_COMMAND_TYPE, sensor),
            ("status", self.topics.status, STATUS_TYPE, _status_reader_qos()),
        ):
            self._reader(topic, ros_type, qos, self._recorder_for(key))

    def _recorder_for(self, key: str) -> Callable[[DataReader], None]:
        def on_data(reader: DataReader) -> None:
            if self._closed:
                return
            for sample in reader.take(N=64):
                if not hasattr(sample, "serialize"):  # an InvalidSample
                    continue
                self.recorder.record_raw(key, sample.serialize())
                if key == "status" and sample.state != self._last_state:
                    if self._last_state is not None:
                        self.recorder.record_transition(
                            self._last_state, sample.state, sample.fault
                        )
                    self._last_state = sample.state

        return on_data


def _status_reader_qos() -> Qos:
    return Qos(
        Policy.Reliability.Reliable(max_blocking_time=duration(seconds=0.1)),
        Policy.History.KeepLast(10),
        Policy.Durability.TransientLocal,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``humimic record`` options."""
    parser.add_argument("-o", "--output", required=True, help="bag folder to create")
    parser.add_argument("--robot", default="g1", help="robot (default: %(default)s)")
    parser.add_argument("--domain", type=int, default=0, help="DDS domain (default: 0)")
    parser.add_argument(
        "--network",
        default="lo",
        help="interface name or address, or 'auto' for Cyclone's choice / CYCLONEDDS_URI "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--storage", choices=STORAGES, default="mcap", help="bag storage (default: mcap)"
    )
    parser.add_argument("--duration", type=float, help="stop after this many seconds")


def main(args: argparse.Namespace) -> None:
    """Record the ROS 2 deploy topics from DDS into a rosbag2 until Ctrl-C / SIGTERM."""
    network = None if args.network in ("", "auto") else args.network
    dds = DdsConfig(domain_id=args.domain, interface=network)
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    recorder = SessionRecorder(args.output, get_robot(args.robot), storage=args.storage)
    try:
        with DdsRecorder(recorder, dds):
            print(
                f"recording domain {args.domain} ({network or 'Cyclone default'}) to "
                f"{args.output} ({recorder.storage}); Ctrl-C to stop",
                flush=True,
            )
            stop.wait(args.duration)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        path = recorder.close()
    counts = ", ".join(f"{n} {k}" for k, n in recorder.counts.items())
    print(f"wrote {path}: {counts}; {recorder.dropped} dropped", flush=True)


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m humimic.deploy.recording", description=main.__doc__
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        main(args)
    except HumimicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


__all__ = [
    "TRANSITIONS_TOPIC",
    "DdsRecorder",
    "RecordedTopics",
    "RecordingCommandSink",
    "RecordingStateSource",
    "RecordingStatusSink",
    "SessionRecorder",
    "add_arguments",
    "main",
]


if __name__ == "__main__":
    sys.exit(_cli())
