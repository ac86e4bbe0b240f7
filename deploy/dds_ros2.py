"""ROS 2 over DDS: the deploy runtime's ports on ROS 2 topics, and the robot's side of them.

No ROS install is needed: the messages are Cyclone DDS types generated from ``.msg`` files
(:mod:`humimic.deploy.ros2_types`), so a ROS 2 node (``rmw_cyclonedds`` or ``rmw_fastrtps``) on
the same domain sees ordinary ROS 2 topics.

Runtime side (:class:`Ros2Transport`, all four ports) and robot side (:class:`Ros2RobotSide`,
used by the MuJoCo sim robot; a real robot's ROS 2 driver plays the same part):

==========================  ================================  ==================  ================
topic                       type                              direction           QoS
==========================  ================================  ==================  ================
/joint_states               sensor_msgs/msg/JointState        robot → runtime     best effort, 5
/imu                        sensor_msgs/msg/Imu               robot → runtime     best effort, 5
/humimic/joint_command      humimic_msgs/msg/JointCommand     runtime → robot     best effort, 1
/humimic/operator           humimic_msgs/msg/OperatorCommand  operator → runtime  reliable, 32
/humimic/status             humimic_msgs/msg/RuntimeStatus    runtime → anyone    reliable, 1,
                                                                                  transient local
/humimic/push               geometry_msgs/msg/Twist           anyone → sim robot  reliable, 10
==========================  ================================  ==================  ================

(The number is the history depth: keep last N.) Each QoS is described once, as a
:class:`~humimic.deploy.ros2_types.QosSpec` (:data:`STATE_QOS`, :data:`COMMAND_QOS`,
:data:`OPERATOR_QOS`, :data:`STATUS_QOS`, :data:`PUSH_QOS`); the Cyclone endpoints here and the
rclpy node's are built from those.

Why these QoS:

* **State and commands** are periodic and each sample supersedes the last: a retransmitted old
  sample is worse than none. Best effort, keep last (ROS 2's ``qos_profile_sensor_data``); a
  best-effort reader also matches a reliable writer, so a driver publishing with ROS defaults
  is heard. The command writer keeps only the newest sample.
* **Operator commands** are rare events that must not be lost (an e-stop): reliable, and the
  reader keeps 32 so a burst between two polls survives. Publish them with ROS defaults.
* **Status** is reliable and *transient local* with depth 1 (a "latched" topic): a monitor that
  starts late gets the current state at once; volatile readers (ROS defaults) match too. It is
  published when the state or fault changes and otherwise at most every ``status_period_s``.
* **Pushes** (sim robot only) are events: reliable.

What a message means is not decided here but in :mod:`humimic.deploy.ros2_ports`, shared with
the rclpy node: this module only moves messages. State: a
:class:`~humimic.deploy.commands.RobotState` combines the newest ``JointState`` (matched by
joint *name* into policy order) with the newest ``Imu`` (ROS stores the quaternion
``x, y, z, w``; it is reordered to ``wxyz`` once, in :func:`ros_quat_to_wxyz`). Each part is
stamped with the runtime's clock when it arrives (a Cyclone listener thread takes it); the
state's ``stamp_s`` is the older of the two, so the watchdog trips when either stream stops.
``latest()`` never blocks (a lock guards a few reference swaps) and returns the newest
(:class:`~humimic.deploy.ros2_ports.StateBuffer`).

A refused message (a joint name the policy does not know or lacks, arrays of the wrong length,
an Imu without orientation) is logged and counted, and never raises in ``latest()``: one bad
message must not kill a control loop. The state goes stale instead, so the runtime's watchdog
faults (DAMPING); :attr:`Ros2Transport.last_error` holds the reason and
:meth:`Ros2Transport.wait_for_state` (the start-up check) raises it as a :class:`DeployError`.

Network (:class:`DdsConfig`): the domain id, and optionally the network interface. Cyclone DDS
takes its configuration per process and per domain, when the domain's first participant is
created:

* ``interface=None``: Cyclone's own choice, or the XML in the ``CYCLONEDDS_URI`` environment
  variable when set (the ROS 2 way), e.g.
  ``CYCLONEDDS_URI='<CycloneDDS><Domain><General><Interfaces><NetworkInterface name="lo"/>
  </Interfaces></General></Domain></CycloneDDS>'``;
* ``interface="lo"`` (a name) or ``"127.0.0.1"`` (an address): humimic hands Cyclone a
  configuration that pins that interface (:func:`cyclone_config_xml`); on loopback multicast is
  off and discovery goes unicast to the local host, so nothing leaves the machine. A second
  request for the same domain with another interface raises :class:`DeployError`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import math
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from cyclonedds.core import DDSException, Entity, Listener
from cyclonedds.domain import Domain, DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import annotations as idl_annotations
from cyclonedds.idl._main import IdlMeta
from cyclonedds.idl._support import Endianness
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from numpy.typing import ArrayLike
from rosbags.interfaces import Nodetype

from humimic.deploy.clock import Clock, MonotonicClock
from humimic.deploy.commands import FloatArray, JointCommand, RobotState
from humimic.deploy.ports import OperatorEvent, RuntimeStatus
from humimic.deploy.ros2_ports import (
    JointNameMatcher,
    OperatorDecoder,
    StateBuffer,
    StatusThrottle,
    every_nth,
    joint_command_fields,
    joint_command_to_policy,
    ros_quat_to_wxyz,
    status_fields,
    wxyz_to_ros_quat,
)
from humimic.deploy.ros2_types import (
    QosSpec,
    Ros2Types,
    cyclone_qos,
    default_types,
    ros_topic_to_dds,
)
from humimic.errors import ConfigError, DeployError
from humimic.robots.spec import RobotSpec

log = logging.getLogger(__name__)

MAX_DOMAIN_ID = 232
"""Largest domain id with the default RTPS port mapping (7400 + 250·id must fit 16 bits)."""

JOINT_STATE_TYPE = "sensor_msgs/msg/JointState"
IMU_TYPE = "sensor_msgs/msg/Imu"
JOINT_COMMAND_TYPE = "humimic_msgs/msg/JointCommand"
OPERATOR_TYPE = "humimic_msgs/msg/OperatorCommand"
STATUS_TYPE = "humimic_msgs/msg/RuntimeStatus"
TWIST_TYPE = "geometry_msgs/msg/Twist"

STATE_QOS_DEPTH = 5
OPERATOR_QOS_DEPTH = 32
PUSH_QOS_DEPTH = 10

# The QoS of each topic (the table in the module docstring), described once: Cyclone DDS
# endpoints here are built from these with cyclone_qos(), the rclpy node's with QoSProfile.
STATE_QOS = QosSpec(reliable=False, depth=STATE_QOS_DEPTH)
"""JointState and Imu: best effort, keep last 5, volatile (ROS 2's sensor data profile)."""
COMMAND_QOS = QosSpec(reliable=False, depth=1)
"""JointCommand writer: best effort, keep only the newest sample, volatile."""
OPERATOR_QOS = QosSpec(reliable=True, depth=OPERATOR_QOS_DEPTH)
"""OperatorCommand readers: reliable, keep last 32 (a burst between two polls), volatile."""
STATUS_QOS = QosSpec(reliable=True, depth=1, transient_local=True)
"""RuntimeStatus writer: reliable, keep last 1, transient local (a latched topic)."""
PUSH_QOS = QosSpec(reliable=True, depth=PUSH_QOS_DEPTH)
"""Twist pushes (sim robot): reliable, keep last 10, volatile."""
STATUS_PERIOD_S = 0.2
"""Status is published on every state/fault change and otherwise at most this often (5 Hz)."""
WRITE_MAX_BLOCKING_S = 0.01
"""Bound on a reliable ``write`` waiting for resources: never stall a control loop longer."""
_TAKE_BATCH = 64
_NodeT = TypeVar("_NodeT", bound="DdsNode")


# --------------------------------------------------------------------------------------------
# configuration


@dataclass(frozen=True)
class DdsConfig:
    """Where DDS traffic goes.

    Attributes:
        domain_id: DDS domain (ROS 2's ``ROS_DOMAIN_ID``), ``0..232``.
        interface: network interface name (``"lo"``, ``"eth0"``) or address
            (``"127.0.0.1"``) to pin; ``None`` leaves it to Cyclone / ``CYCLONEDDS_URI``.
        allow_multicast: ``None`` = off on loopback, Cyclone's default elsewhere.
    """

    domain_id: int = 0
    interface: str | None = None
    allow_multicast: bool | None = None

    def __post_init__(self) -> None:
        d = self.domain_id
        if isinstance(d, bool) or not isinstance(d, int) or not 0 <= d <= MAX_DOMAIN_ID:
            raise ConfigError(
                f"DdsConfig.domain_id: expected an int in 0..{MAX_DOMAIN_ID}, got {d!r}"
            )
        if self.interface is not None and (
            not isinstance(self.interface, str)
            or not self.interface
            or any(c in self.interface for c in "<>&'\"")
        ):
            raise ConfigError(
                f"DdsConfig.interface: expected an interface name or address, got "
                f"{self.interface!r}"
            )

    @property
    def is_loopback(self) -> bool:
        """True when the pinned interface is the loopback one (``lo`` or a 127.x address)."""
        if self.interface is None:
            return False
        if self.interface in ("lo", "lo0", "localhost"):
            return True
        try:
            return ipaddress.ip_address(self.interface).is_loopback
        except ValueError:
            return False


LOOPBACK = DdsConfig(interface="lo")
"""Domain 0, loopback only."""


def cyclone_config_xml(config: DdsConfig) -> str | None:
    """The Cyclone DDS configuration XML that pins ``config.interface``; ``None`` without one.

    For ``DdsConfig(interface="lo")``::

        <CycloneDDS><Domain id='any'><General>
          <Interfaces><NetworkInterface name='lo'/></Interfaces>
          <AllowMulticast>false</AllowMulticast>
        </General></Domain></CycloneDDS>

    (on one line). An address (``"127.0.0.1"``) is written ``address='...'``.
    """
    if config.interface is None:
        return None
    try:
        ipaddress.ip_address(config.interface)
        attr = "address"
    except ValueError:
        attr = "name"
    multicast = config.allow_multicast
    if multicast is None and config.is_loopback:
        multicast = False
    general = f"<Interfaces><NetworkInterface {attr}='{config.interface}'/></Interfaces>"
    if multicast is not None:
        general += f"<AllowMulticast>{str(multicast).lower()}</AllowMulticast>"
    return f"<CycloneDDS><Domain id='any'><General>{general}</General></Domain></CycloneDDS>"


_DOMAINS_LOCK = threading.Lock()
_DOMAINS: dict[int, tuple[Domain | None, DdsConfig]] = {}  # kept alive for the process


def open_participant(config: DdsConfig) -> DomainParticipant:
    """A new participant on ``config.domain_id``, configured by ``config`` (see module doc).

    The first call for a domain fixes its network configuration for this process; a later call
    with a different interface raises :class:`DeployError` (Cyclone cannot have both). An
    explicit ``interface`` overrides ``CYCLONEDDS_URI``; without one, that variable applies.

    Raises:
        DeployError: Cyclone refused the configuration (e.g. no such interface).
    """
    with _DOMAINS_LOCK:
        entry = _DOMAINS.get(config.domain_id)
        if entry is not None and (entry[1].interface, entry[1].allow_multicast) != (
            config.interface,
            config.allow_multicast,
        ):
            raise DeployError(
                f"DDS domain {config.domain_id} is already configured in this process with "
                f"interface={entry[1].interface!r}, allow_multicast={entry[1].allow_multicast}; "
                f"cannot also use interface={config.interface!r}, "
                f"allow_multicast={config.allow_multicast}"
            )
        try:
            if entry is None:
                xml = cyclone_config_xml(config)
                domain = Domain(config.domain_id, xml) if xml is not None else None
                _DOMAINS[config.domain_id] = (domain, config)
                log.debug("DDS domain %d: %s", config.domain_id, xml or "Cyclone's configuration")
            return DomainParticipant(config.domain_id)
        except DDSException as exc:
            if entry is None:
                failed = _DOMAINS.pop(config.domain_id, None)
                if failed is not None and failed[0] is not None:
                    delete_entity(failed[0])
            where = (
                f"interface {config.interface!r}"
                if config.interface is not None
                else "CYCLONEDDS_URI / Cyclone's defaults"
            )
            raise DeployError(
                f"cannot join DDS domain {config.domain_id} on {where}: {exc} (check the "
                "interface name with `ip link`, or CYCLONEDDS_URI)"
            ) from exc


def delete_entity(entity: Entity) -> None:
    """Delete a Cyclone entity (and its children) now instead of at garbage collection.

    ``cyclonedds`` only deletes in ``__del__``; calling it twice is harmless (it forgets the
    handle the first time). Deleting a reader waits for its running listener callback.
    """
    entity.__del__()


# --------------------------------------------------------------------------------------------
# topics, names, conversions


@dataclass(frozen=True)
class Ros2Topics:
    """ROS 2 topic names (absolute); see the module docstring for types and QoS."""

    joint_states: str = "/joint_states"
    imu: str = "/imu"
    joint_command: str = "/humimic/joint_command"
    operator: str = "/humimic/operator"
    status: str = "/humimic/status"
    push: str = "/humimic/push"

    def __post_init__(self) -> None:
        for name in ("joint_states", "imu", "joint_command", "operator", "status", "push"):
            try:
                ros_topic_to_dds(getattr(self, name))
            except DeployError as exc:
                raise ConfigError(f"Ros2Topics.{name}: {exc}") from None


def ros_time_now(types: Ros2Types) -> Any:
    """A ``builtin_interfaces/msg/Time`` IDL instance of the wall clock (ROS time)."""
    sec, nanosec = divmod(time.time_ns(), 1_000_000_000)
    return types.idl_type("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


# --------------------------------------------------------------------------------------------
# fast codecs for the 500 Hz messages

# Cyclone's generic Python (de)serializer takes ~80 µs / ~55 µs for a 29-joint JointState: a
# quarter of a 500 Hz period per message and direction. The messages on the hot paths have
# simple shapes, so a hand-written plain-CDR codec (struct + numpy; the joint-name block is
# encoded once and recognized by its bytes) does the same in a few µs. The classes carrying it
# are twins of the generated ones (same DDS type name, same members, so the same XTypes type
# and the same bytes on the wire; tested against the generic serializer), not patches of them.

_CDR_LE = b"\x00\x01\x00\x00"


def _cdr_string(text: str, pos: int) -> bytes:
    """A CDR string (u32 length with the NUL, UTF-8 bytes, NUL) written at body offset
    ``pos``, with the padding before it."""
    data = text.encode("utf-8") + b"\x00"
    return b"\x00" * (-pos % 4) + struct.pack("<I", len(data)) + data


def _read_string(body: memoryview, pos: int) -> tuple[str, int]:
    pos += -pos % 4
    (n,) = struct.unpack_from("<I", body, pos)
    start = pos + 4
    return bytes(body[start : start + n - 1]).decode("utf-8"), start + n


class _NamedArraysCodec:
    """Plain CDR of ``Header header, string[] name, float64[] <fields>...`` (JointState,
    JointCommand), little endian."""

    def __init__(self, types: Ros2Types, ros_type: str, array_fields: list[str]) -> None:
        self.array_fields = array_fields
        self._header_cls = types.idl_type("std_msgs/msg/Header")
        self._time_cls = types.idl_type("builtin_interfaces/msg/Time")
        self._enc_cache: tuple[tuple[str, tuple[str, ...]], bytes] | None = None
        self._dec_cache: tuple[bytes, list[str]] | None = None

    def _names_block(self, frame_id: str, names: Sequence[str]) -> bytes:
        key = (frame_id, tuple(names))
        cache = self._enc_cache
        if cache is not None and cache[0] == key:
            return cache[1]
        block = _cdr_string(frame_id, 8)  # after the stamp (8 bytes)
        pos = 8 + len(block)
        parts = [block, b"\x00" * (-pos % 4) + struct.pack("<I", len(names))]
        pos += len(parts[-1])
        for name in names:
            parts.append(_cdr_string(name, pos))
            pos += len(parts[-1])
        block = b"".join(parts)
        self._enc_cache = (key, block)
        return block

    def encode(self, sample: Any) -> bytes:
        stamp = sample.header.stamp
        parts = [
            _CDR_LE,
            struct.pack("<iI", stamp.sec, stamp.nanosec),
            self._names_block(sample.header.frame_id, sample.name),
        ]
        pos = 8 + len(parts[-1])
        for name in self.array_fields:
            values = np.asarray(getattr(sample, name), dtype="<f8")
            head = b"\x00" * (-pos % 4) + struct.pack("<I", values.shape[0])
            pos += len(head)
            if values.shape[0]:
                head += b"\x00" * (-pos % 8)
                pos += -pos % 8
            parts += [head, values.tobytes()]
            pos += values.nbytes
        return b"".join(parts)

    def decode(self, cls: type, data: bytes) -> Any:
        body = memoryview(data)[4:]
        sec, nanosec = struct.unpack_from("<iI", body, 0)
        frame_id, pos = _read_string(body, 8)
        start = pos + (-pos % 4)
        cache = self._dec_cache
        if cache is not None and bytes(body[start : start + len(cache[0])]) == cache[0]:
            names, pos = cache[1], start + len(cache[0])
        else:
            pos = start
            (count,) = struct.unpack_from("<I", body, pos)
            pos += 4
            names = []
            for _ in range(count):
                name, pos = _read_string(body, pos)
                names.append(name)
            self._dec_cache = (bytes(body[start:pos]), names)
        fields: dict[str, Any] = {}
        for field_name in self.array_fields:
            pos += -pos % 4
            (count,) = struct.unpack_from("<I", body, pos)
            pos += 4
            if count:
                pos += -pos % 8
            fields[field_name] = np.frombuffer(body, "<f8", count, pos).tolist()
            pos += 8 * count
        header = self._header_cls(stamp=self._time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id)
        return cls(header=header, name=list(names), **fields)


class _ImuCodec:
    """Plain CDR of ``sensor_msgs/msg/Imu``: a Header, then 37 float64 (orientation x y z w,
    9 covariances, angular velocity x y z, 9, linear acceleration x y z, 9), little endian."""

    _DOUBLES = struct.Struct("<37d")

    def __init__(self, types: Ros2Types) -> None:
        self._header_cls = types.idl_type("std_msgs/msg/Header")
        self._time_cls = types.idl_type("builtin_interfaces/msg/Time")
        self._quat_cls = types.idl_type("geometry_msgs/msg/Quaternion")
        self._vec_cls = types.idl_type("geometry_msgs/msg/Vector3")

    def encode(self, s: Any) -> bytes:
        stamp = s.header.stamp
        frame = _cdr_string(s.header.frame_id, 8)
        pos = 8 + len(frame)
        o, w, a = s.orientation, s.angular_velocity, s.linear_acceleration
        doubles = self._DOUBLES.pack(
            o.x, o.y, o.z, o.w, *s.orientation_covariance,
            w.x, w.y, w.z, *s.angular_velocity_covariance,
            a.x, a.y, a.z, *s.linear_acceleration_covariance,
        )  # fmt: skip
        return b"".join(
            (_CDR_LE, struct.pack("<iI", stamp.sec, stamp.nanosec), frame, bytes(-pos % 8), doubles)
        )

    def decode(self, cls: type, data: bytes) -> Any:
        body = memoryview(data)[4:]
        sec, nanosec = struct.unpack_from("<iI", body, 0)
        frame_id, pos = _read_string(body, 8)
        d = self._DOUBLES.unpack_from(body, pos + (-pos % 8))
        return cls(
            header=self._header_cls(
                stamp=self._time_cls(sec=sec, nanosec=nanosec), frame_id=frame_id
            ),
            orientation=self._quat_cls(x=d[0], y=d[1], z=d[2], w=d[3]),
            orientation_covariance=list(d[4:13]),
            angular_velocity=self._vec_cls(x=d[13], y=d[14], z=d[15]),
            angular_velocity_covariance=list(d[16:25]),
            linear_acceleration=self._vec_cls(x=d[25], y=d[26], z=d[27]),
            linear_acceleration_covariance=list(d[28:37]),
        )


def _named_arrays_fields(types: Ros2Types, ros_type: str) -> list[str] | None:
    """The float64[] field names when ``ros_type`` is ``Header, string[], float64[]...``."""
    fields = types.typestore.fielddefs[ros_type][1]
    header = (Nodetype.NAME, "std_msgs/msg/Header")
    string_seq = (Nodetype.SEQUENCE, ((Nodetype.BASE, ("string", 0)), 0))
    f64_seq = (Nodetype.SEQUENCE, ((Nodetype.BASE, ("float64", 0)), 0))
    if len(fields) < 2 or fields[0][1] != header or fields[1][1] != string_seq:
        return None
    if not all(desc == f64_seq for _, desc in fields[2:]):
        return None
    return [name for name, _ in fields[2:]]


_FAST_LOCK = threading.Lock()
_FAST: dict[tuple[int, str], type[IdlStruct]] = {}


def fast_idl_type(types: Ros2Types, ros_type: str) -> type[IdlStruct]:
    """The twin of ``types.idl_type(ros_type)`` with a fast plain-CDR codec (JointState,
    JointCommand, Imu); any other type: the generated class itself.

    Same DDS type name and members as the generated class, so it is the same type on the wire.
    Instances serialize byte-identically to Cyclone's generic serializer (which still handles
    big-endian data and XCDR2 requests); deserialization returns instances of the twin.
    """
    key = (id(types), ros_type)
    cls = _FAST.get(key)
    if cls is not None:
        return cls
    with _FAST_LOCK:
        if key in _FAST:
            return _FAST[key]
        orig = types.idl_type(ros_type)
        codec: _NamedArraysCodec | _ImuCodec | None = None
        arrays = _named_arrays_fields(types, ros_type)
        if arrays is not None:
            codec = _NamedArraysCodec(types, ros_type, arrays)
        elif ros_type == "sensor_msgs/msg/Imu":
            codec = _ImuCodec(types)
        _FAST[key] = orig if codec is None else _twin_class(orig, codec)
        return _FAST[key]


def _twin_class(orig: type[IdlStruct], codec: _NamedArraysCodec | _ImuCodec) -> type[IdlStruct]:
    def serialize(
        self: IdlStruct,
        buffer: Any = None,
        endianness: Endianness | None = None,
        use_version_2: bool | None = None,
    ) -> bytes:
        little = endianness == Endianness.Little or (
            endianness is None and sys.byteorder == "little"
        )
        if buffer is None and little and not use_version_2:
            return codec.encode(self)
        return IdlStruct.serialize(self, buffer, endianness, use_version_2)

    def deserialize(
        cls: type[IdlStruct],
        data: bytes,
        has_header: bool = True,
        use_version_2: bool | None = None,
    ) -> IdlStruct:
        if has_header and use_version_2 is None and bytes(data[:2]) == _CDR_LE[:2]:
            return codec.decode(cls, data)  # type: ignore[no-any-return]
        return IdlStruct.deserialize.__func__(cls, data, has_header, use_version_2)  # type: ignore[attr-defined,no-any-return]

    name = orig.__name__ + "Fast"
    namespace: Any = IdlMeta.__prepare__(name, (IdlStruct,), typename=orig.__idl_typename__)
    for f in dataclasses.fields(orig):  # type: ignore[arg-type]
        namespace["__annotations__"][f.name] = orig.__annotations__[f.name]
        namespace[f.name] = dataclasses.field(default_factory=f.default_factory)
    namespace["serialize"] = serialize
    namespace["deserialize"] = classmethod(deserialize)
    namespace["__module__"] = __name__
    twin: Any = IdlMeta(name, (IdlStruct,), namespace)
    idl_annotations.final(twin)
    idl_annotations.cdrv0(twin)
    return dataclasses.dataclass(twin)  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------------
# DDS node base


class DdsNode:
    """Owns a participant (or borrows one) and the readers and writers made through it.

    Subclasses create endpoints with :meth:`_writer` / :meth:`_reader` (ROS 2 topic and type
    names) or :meth:`_dds_writer` / :meth:`_dds_reader` (raw DDS topic name and IDL class);
    :meth:`close` deletes them all.
    """

    def __init__(
        self,
        dds: DdsConfig | None,
        participant: DomainParticipant | None,
        types: Ros2Types | None,
    ) -> None:
        self.dds = DdsConfig() if dds is None else dds
        self.types = default_types() if types is None else types
        self._owns_participant = participant is None
        self.participant = open_participant(self.dds) if participant is None else participant
        self._entities: list[Entity] = []
        self._closed = False
        self._close_lock = threading.Lock()
        self.write_errors = 0
        """Writes DDS refused (logged, never raised)."""

    def _dds_topic(self, dds_name: str, idl_class: type) -> Topic:
        t: Topic = Topic(self.participant, dds_name, idl_class)
        self._entities.append(t)
        return t

    def _dds_writer(self, dds_name: str, idl_class: type, qos: Qos) -> DataWriter:
        writer = DataWriter(self.participant, self._dds_topic(dds_name, idl_class), qos=qos)
        self._entities.append(writer)
        return writer

    def _dds_reader(
        self,
        dds_name: str,
        idl_class: type,
        qos: Qos,
        on_data: Callable[[DataReader], None] | None = None,
    ) -> DataReader:
        listener = None if on_data is None else Listener(on_data_available=on_data)
        topic = self._dds_topic(dds_name, idl_class)
        reader = DataReader(self.participant, topic, qos=qos, listener=listener)
        self._entities.append(reader)
        return reader

    def _writer(self, topic: str, ros_type: str, qos: Qos) -> DataWriter:
        """A writer on ROS 2 topic ``topic`` (``"/joint_states"``) of ``ros_type``; write
        instances of ``fast_idl_type(self.types, ros_type)``."""
        return self._dds_writer(ros_topic_to_dds(topic), fast_idl_type(self.types, ros_type), qos)

    def _reader(
        self,
        topic: str,
        ros_type: str,
        qos: Qos,
        on_data: Callable[[DataReader], None] | None = None,
    ) -> DataReader:
        """A reader on ROS 2 topic ``topic`` of ``ros_type`` (it returns instances of
        ``fast_idl_type(self.types, ros_type)``); ``on_data`` runs on Cyclone's receive thread
        (or the writer's thread for a writer in this process)."""
        return self._dds_reader(
            ros_topic_to_dds(topic), fast_idl_type(self.types, ros_type), qos, on_data
        )

    def _write(self, writer: DataWriter, sample: Any) -> bool:
        """Write ``sample``; a DDS failure is logged and counted in :attr:`write_errors`,
        never raised (a control loop must not die of it). Returns whether it went out."""
        try:
            writer.write(sample)
        except DDSException as exc:
            self.write_errors += 1
            if every_nth(self.write_errors):
                log.error("write #%d on %s failed: %s", self.write_errors, writer.topic.name, exc)
            return False
        return True

    def matched(self) -> bool:
        """True when every reader and writer of this node has found at least one peer."""
        for entity in self._entities:
            if isinstance(entity, DataReader):
                if entity.get_subscription_matched_status().current_count < 1:
                    return False
            elif isinstance(entity, DataWriter):
                if entity.get_publication_matched_status().current_count < 1:
                    return False
        return True

    def latest(self) -> RobotState | None:
        """The newest robot state (subclasses that receive one)."""
        raise NotImplementedError

    @property
    def last_error(self) -> str | None:
        """Why the newest incoming message was refused (``None``: none was)."""
        return None

    def _wait_for(self, timeout_s: float, after_s: float, arrived: Callable[[], str]) -> RobotState:
        """Poll :meth:`latest` until a state newer than ``after_s``; a refused message or the
        timeout raises, the timeout with ``arrived()`` saying what came."""
        deadline = time.monotonic() + timeout_s
        while True:
            error = self.last_error
            if error is not None:
                raise DeployError(error)
            state = self.latest()
            if state is not None and state.stamp_s > after_s:
                return state
            if time.monotonic() > deadline:
                raise DeployError(
                    f"no robot state within {timeout_s} s on domain {self.dds.domain_id}: "
                    f"{arrived()}"
                )
            time.sleep(0.002)

    def _check_open(self) -> None:
        if self._closed:
            raise DeployError(f"{type(self).__name__} is closed")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Delete readers and writers (readers first: no callback runs after this returns),
        then the participant if this node created it. Idempotent."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            readers = [e for e in self._entities if isinstance(e, DataReader)]
            others = [e for e in reversed(self._entities) if not isinstance(e, DataReader)]
            for entity in readers + others:
                delete_entity(entity)
            self._entities.clear()
            if self._owns_participant:
                delete_entity(self.participant)

    def __enter__(self: _NodeT) -> _NodeT:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten close() must not leave callbacks into a dead object
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown; nothing to report to
            pass


# --------------------------------------------------------------------------------------------
# runtime side


class Ros2Transport(DdsNode):
    """The runtime's four ports over ROS 2 topics (see the module docstring).

    Implements :class:`~humimic.deploy.ports.StateSource` (``latest``),
    :class:`~humimic.deploy.ports.CommandSink` (``send``),
    :class:`~humimic.deploy.ports.OperatorInput` (``poll``) and
    :class:`~humimic.deploy.ports.StatusSink` (``publish``).

    Args:
        robot: the robot; its joint names define policy order.
        dds: domain and interface (default: domain 0, Cyclone's choice of interface).
        topics: topic names.
        clock: the runtime clock used to stamp arrivals (default monotonic).
        allow_extra_joints: ignore ``JointState`` names that are not policy joints.
        status_period_s: status heartbeat period (changes are published at once).
        participant: share an existing participant instead of creating one.
        types: message types (default: the process-wide :func:`default_types`).

    Example::

        with Ros2Transport(get_robot("g1"), DdsConfig(domain_id=1, interface="lo")) as ros:
            state = ros.latest()            # None until JointState and Imu have arrived
            ros.send(JointCommand.damping(29))
    """

    def __init__(
        self,
        robot: RobotSpec,
        dds: DdsConfig | None = None,
        topics: Ros2Topics | None = None,
        clock: Clock | None = None,
        *,
        allow_extra_joints: bool = False,
        status_period_s: float = STATUS_PERIOD_S,
        participant: DomainParticipant | None = None,
        types: Ros2Types | None = None,
    ) -> None:
        # checked before any DDS entity exists
        self._status_throttle = StatusThrottle(status_period_s, "Ros2Transport.status_period_s")
        super().__init__(dds, participant, types)
        self.robot = robot
        self.topics = Ros2Topics() if topics is None else topics
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self._names = list(robot.joint_names)
        matcher = JointNameMatcher(
            robot.joint_names, f"JointState on {self.topics.joint_states}", allow_extra_joints
        )
        self._state_buffer = StateBuffer(self.clock, matcher, self.topics.imu, log_error=log.error)

        t = self.types
        self._jc_cls: Any = fast_idl_type(t, JOINT_COMMAND_TYPE)
        self._status_cls = t.idl_type(STATUS_TYPE)
        self._header_cls = t.idl_type("std_msgs/msg/Header")
        self._js_cls: Any = fast_idl_type(t, JOINT_STATE_TYPE)
        self._imu_cls: Any = fast_idl_type(t, IMU_TYPE)
        self._op_cls = t.idl_type(OPERATOR_TYPE)
        # the type store's class carries the message's constants (START = 1, ...)
        self._decoder = OperatorDecoder(
            t.typestore.types[OPERATOR_TYPE], self.topics.operator, log_warning=log.warning
        )

        self._cmd_writer = self._writer(
            self.topics.joint_command, JOINT_COMMAND_TYPE, cyclone_qos(COMMAND_QOS)
        )
        self._status_writer = self._writer(
            self.topics.status,
            STATUS_TYPE,
            cyclone_qos(STATUS_QOS, max_blocking_time_s=WRITE_MAX_BLOCKING_S),
        )
        self._op_reader = self._reader(
            self.topics.operator, OPERATOR_TYPE, cyclone_qos(OPERATOR_QOS)
        )
        state_qos = cyclone_qos(STATE_QOS)
        self._js_reader = self._reader(
            self.topics.joint_states, JOINT_STATE_TYPE, state_qos, self._on_joint_state
        )
        self._imu_reader = self._reader(self.topics.imu, IMU_TYPE, state_qos, self._on_imu)

    # -- state in (listener threads) ------------------------------------------------------

    def _newest(self, reader: DataReader, cls: type) -> Any:
        newest = None
        while True:
            samples = reader.take(N=_TAKE_BATCH)
            for s in samples:
                if isinstance(s, cls):  # skip InvalidSample (dispose/unregister notices)
                    newest = s
            if len(samples) < _TAKE_BATCH:
                return newest

    def _on_joint_state(self, reader: DataReader | None) -> None:
        now_s = self.clock.now_s()  # arrival, before the take
        if self._closed or reader is None:  # None: the reader is being deleted (close)
            return
        sample = self._newest(reader, self._js_cls)
        if sample is not None:
            self._state_buffer.on_joint_state(sample, now_s)

    def _on_imu(self, reader: DataReader | None) -> None:
        now_s = self.clock.now_s()
        if self._closed or reader is None:  # None: the reader is being deleted (close)
            return
        sample = self._newest(reader, self._imu_cls)
        if sample is not None:
            self._state_buffer.on_imu(sample, now_s)

    @property
    def status_period_s(self) -> float:
        """The status heartbeat period (s)."""
        return self._status_throttle.period_s

    @property
    def joint_states_received(self) -> int:
        """JointState messages accepted."""
        return self._state_buffer.joint_states_received

    @property
    def imu_received(self) -> int:
        """Imu messages accepted."""
        return self._state_buffer.imu_received

    @property
    def rejected(self) -> int:
        """Messages refused (bad names, lengths, orientation); the newest refusal is raised by
        :meth:`wait_for_state`."""
        return self._state_buffer.rejected

    @property
    def last_error(self) -> str | None:
        """Why the newest JointState or Imu was refused (unknown or missing joint names, wrong
        array lengths, no orientation); ``None`` once a valid one follows."""
        return self._state_buffer.last_error

    def latest(self) -> RobotState | None:
        """The newest valid state, or ``None`` until both a JointState and an Imu have arrived.

        Never blocks and never raises: a refused message leaves the previous state in place
        (it goes stale, and the runtime's watchdog faults); see :attr:`last_error`.
        """
        return self._state_buffer.latest()

    def wait_for_state(self, timeout_s: float, after_s: float = -math.inf) -> RobotState:
        """Block until a state stamped later than ``after_s`` is there (start-up checks, tools,
        tests; not for the control loop).

        Raises:
            DeployError: a message was refused (the reason: e.g. ``unknown joint 'x'; valid:
                ...``), or no state within ``timeout_s`` (says what arrived).
        """
        return self._wait_for(
            timeout_s,
            after_s,
            lambda: (
                f"{self.joint_states_received} JointState on {self.topics.joint_states}, "
                f"{self.imu_received} Imu on {self.topics.imu}"
            ),
        )

    # -- commands out ---------------------------------------------------------------------

    def send(self, command: JointCommand) -> None:
        """Publish ``command`` (policy order) as a JointCommand with the joint names."""
        self._check_open()
        fields = joint_command_fields(command, self._names, self.robot.name)
        msg = self._jc_cls(
            header=self._header_cls(stamp=ros_time_now(self.types), frame_id=""), **fields
        )
        self._write(self._cmd_writer, msg)

    # -- operator in ----------------------------------------------------------------------

    def poll(self) -> list[tuple[OperatorEvent, str]]:
        """Operator events since the last poll, oldest first. Never blocks.

        Decoded by :class:`~humimic.deploy.ros2_ports.OperatorDecoder`: ``START`` carries the
        clip (the message's ``clip``, else the last ``SELECT_CLIP``, else ``""``); the others
        carry ``"from <topic>"``. ``SELECT_CLIP`` only remembers the clip. Unknown command
        values are logged and counted (:attr:`unknown_operator_commands`).
        """
        self._check_open()
        events: list[tuple[OperatorEvent, str]] = []
        while True:
            samples = self._op_reader.take(N=_TAKE_BATCH)
            for s in samples:
                if isinstance(s, self._op_cls):
                    event = self._decoder.decode(s)
                    if event is not None:
                        events.append(event)
            if len(samples) < _TAKE_BATCH:
                return events

    @property
    def unknown_operator_commands(self) -> int:
        """OperatorCommand messages ignored for an unknown ``command`` value."""
        return self._decoder.unknown_commands

    # -- status out -----------------------------------------------------------------------

    def publish(self, status: RuntimeStatus) -> None:
        """Publish a RuntimeStatus when the state or fault changed, or every
        ``status_period_s`` (runtime clock, ``status.stamp_s``): the rule of
        :class:`~humimic.deploy.ros2_ports.StatusThrottle`, the field mapping of
        :func:`~humimic.deploy.ros2_ports.status_fields` (``state`` upper-cased;
        ``policy_steps`` counts the calls made in state ``policy``; ``policy_latency_ms`` NaN
        unless the status has it)."""
        self._check_open()
        throttle = self._status_throttle
        if not throttle.should_publish(status):
            return
        msg = self._status_cls(
            header=self._header_cls(stamp=ros_time_now(self.types), frame_id=""),
            **status_fields(status, throttle.policy_steps),
        )
        self._write(self._status_writer, msg)


# --------------------------------------------------------------------------------------------
# robot side


@dataclass(frozen=True)
class ReceivedCommand:
    """A command as the robot received it.

    Attributes:
        command: in policy order.
        stamp_s: arrival time on the receiver's clock.
        count: commands accepted so far (1 for the first).
    """

    command: JointCommand
    stamp_s: float
    count: int


class Ros2RobotSide(DdsNode):
    """The robot's end of :class:`Ros2Transport`: publishes JointState + Imu, receives
    JointCommand (matched by name; a bad one is refused, logged and counted in
    :attr:`rejected_commands`, and the previous command stays in force).

    Args:
        robot: the robot (joint names, IMU body for ``frame_id``).
        dds, topics, clock, participant, types: as :class:`Ros2Transport`.
    """

    def __init__(
        self,
        robot: RobotSpec,
        dds: DdsConfig | None = None,
        topics: Ros2Topics | None = None,
        clock: Clock | None = None,
        *,
        participant: DomainParticipant | None = None,
        types: Ros2Types | None = None,
    ) -> None:
        super().__init__(dds, participant, types)
        self.robot = robot
        self.topics = Ros2Topics() if topics is None else topics
        self.clock: Clock = MonotonicClock() if clock is None else clock
        self._names = list(robot.joint_names)
        self._matcher = JointNameMatcher(
            robot.joint_names, f"JointCommand on {self.topics.joint_command}"
        )
        t = self.types
        self._js_cls: Any = fast_idl_type(t, JOINT_STATE_TYPE)
        self._imu_cls: Any = fast_idl_type(t, IMU_TYPE)
        self._jc_cls: Any = fast_idl_type(t, JOINT_COMMAND_TYPE)
        self._header_cls = t.idl_type("std_msgs/msg/Header")
        self._quat_cls = t.idl_type("geometry_msgs/msg/Quaternion")
        self._vec_cls = t.idl_type("geometry_msgs/msg/Vector3")
        self._lock = threading.Lock()
        self._command: ReceivedCommand | None = None
        self.commands_received = 0
        self.rejected_commands = 0
        qos = cyclone_qos(STATE_QOS)
        self._js_writer = self._writer(self.topics.joint_states, JOINT_STATE_TYPE, qos)
        self._imu_writer = self._writer(self.topics.imu, IMU_TYPE, qos)
        self._cmd_reader = self._reader(
            self.topics.joint_command,
            JOINT_COMMAND_TYPE,
            qos,  # best effort, keep the last few: only the newest is used
            self._on_command,
        )

    def publish_state(
        self,
        joint_pos_rad: ArrayLike,
        joint_vel_rad_s: ArrayLike,
        joint_effort_nm: ArrayLike,
        imu_quat_wxyz: ArrayLike,
        gyro_b_rad_s: ArrayLike,
        accel_b_m_s2: ArrayLike,
    ) -> None:
        """Publish one JointState ([J] arrays, policy order) and one Imu (quat wxyz, body-frame
        gyro and accelerometer), both stamped with the wall clock (ROS time)."""
        self._check_open()
        stamp = ros_time_now(self.types)
        self._write(
            self._js_writer,
            self._js_cls(
                header=self._header_cls(stamp=stamp, frame_id=""),
                name=self._names,
                position=np.asarray(joint_pos_rad, dtype=np.float64).tolist(),
                velocity=np.asarray(joint_vel_rad_s, dtype=np.float64).tolist(),
                effort=np.asarray(joint_effort_nm, dtype=np.float64).tolist(),
            ),
        )
        gx, gy, gz = np.asarray(gyro_b_rad_s, dtype=np.float64).tolist()
        ax, ay, az = np.asarray(accel_b_m_s2, dtype=np.float64).tolist()
        self._write(
            self._imu_writer,
            self._imu_cls(
                header=self._header_cls(stamp=stamp, frame_id=self.robot.imu_body),
                orientation=self._quat_cls(**wxyz_to_ros_quat(imu_quat_wxyz)),
                orientation_covariance=[0.0] * 9,
                angular_velocity=self._vec_cls(x=gx, y=gy, z=gz),
                angular_velocity_covariance=[0.0] * 9,
                linear_acceleration=self._vec_cls(x=ax, y=ay, z=az),
                linear_acceleration_covariance=[0.0] * 9,
            ),
        )

    def _on_command(self, reader: DataReader | None) -> None:
        now_s = self.clock.now_s()
        if self._closed or reader is None:  # None: the reader is being deleted (close)
            return
        newest = None
        while True:
            samples = reader.take(N=_TAKE_BATCH)
            newest = next((s for s in reversed(samples) if isinstance(s, self._jc_cls)), newest)
            if len(samples) < _TAKE_BATCH:
                break
        if newest is None:
            return
        try:
            command = joint_command_to_policy(newest, self._matcher)
        except DeployError as exc:
            with self._lock:
                self.rejected_commands += 1
                count = self.rejected_commands
            if every_nth(count):
                log.error("refused JointCommand #%d: %s", count, exc)
            return
        with self._lock:
            self.commands_received += 1
            self._command = ReceivedCommand(command, now_s, self.commands_received)

    def latest_command(self) -> ReceivedCommand | None:
        """The newest accepted command, or ``None`` before the first. Never blocks."""
        with self._lock:
            return self._command


# --------------------------------------------------------------------------------------------
# pushes (sim robot perturbations)


@dataclass(frozen=True)
class Push:
    """A velocity change added to the robot's root, world frame.

    Attributes:
        lin_vel_w_m_s: [3] linear velocity change (Twist.linear).
        ang_vel_w_rad_s: [3] angular velocity change about world axes (Twist.angular).
    """

    lin_vel_w_m_s: FloatArray = field(default_factory=lambda: np.zeros(3))
    ang_vel_w_rad_s: FloatArray = field(default_factory=lambda: np.zeros(3))


class PushSubscriber(DdsNode):
    """Receives ``geometry_msgs/msg/Twist`` pushes on ``topic`` (default ``/humimic/push``)."""

    def __init__(
        self,
        dds: DdsConfig | None = None,
        topic: str = Ros2Topics.push,
        *,
        participant: DomainParticipant | None = None,
        types: Ros2Types | None = None,
    ) -> None:
        super().__init__(dds, participant, types)
        self.topic = topic
        self._cls = self.types.idl_type(TWIST_TYPE)
        self._twist_reader = self._reader(topic, TWIST_TYPE, cyclone_qos(PUSH_QOS))
        self.received = 0

    def take(self) -> Push | None:
        """The sum of the pushes received since the last call, or ``None``. Never blocks."""
        self._check_open()
        total: Push | None = None
        while True:
            samples = self._twist_reader.take(N=_TAKE_BATCH)
            for s in samples:
                if not isinstance(s, self._cls):
                    continue
                lin = np.array([s.linear.x, s.linear.y, s.linear.z], dtype=np.float64)
                ang = np.array([s.angular.x, s.angular.y, s.angular.z], dtype=np.float64)
                if not (np.isfinite(lin).all() and np.isfinite(ang).all()):
                    log.error("ignored a non-finite push on %s", self.topic)
                    continue
                self.received += 1
                if total is None:
                    total = Push(lin, ang)
                else:
                    total = Push(total.lin_vel_w_m_s + lin, total.ang_vel_w_rad_s + ang)
            if len(samples) < _TAKE_BATCH:
                return total


class PushPublisher(DdsNode):
    """Sends pushes to a sim robot (tests, tools)."""

    def __init__(
        self,
        dds: DdsConfig | None = None,
        topic: str = Ros2Topics.push,
        *,
        participant: DomainParticipant | None = None,
        types: Ros2Types | None = None,
    ) -> None:
        super().__init__(dds, participant, types)
        self._cls = self.types.idl_type(TWIST_TYPE)
        self._vec_cls = self.types.idl_type("geometry_msgs/msg/Vector3")
        self.writer = self._writer(topic, TWIST_TYPE, cyclone_qos(PUSH_QOS))

    def push(self, lin_vel_w_m_s: ArrayLike, ang_vel_w_rad_s: ArrayLike = (0.0, 0.0, 0.0)) -> None:
        self._check_open()
        lx, ly, lz = np.asarray(lin_vel_w_m_s, dtype=np.float64).tolist()
        ax, ay, az = np.asarray(ang_vel_w_rad_s, dtype=np.float64).tolist()
        self._write(
            self.writer,
            self._cls(
                linear=self._vec_cls(x=lx, y=ly, z=lz), angular=self._vec_cls(x=ax, y=ay, z=az)
            ),
        )


__all__ = [
    "COMMAND_QOS",
    "LOOPBACK",
    "OPERATOR_QOS",
    "PUSH_QOS",
    "STATE_QOS",
    "STATUS_QOS",
    "DdsConfig",
    "DdsNode",
    "JointNameMatcher",
    "Push",
    "PushPublisher",
    "PushSubscriber",
    "ReceivedCommand",
    "Ros2RobotSide",
    "Ros2Topics",
    "Ros2Transport",
    "cyclone_config_xml",
    "delete_entity",
    "fast_idl_type",
    "open_participant",
    "ros_quat_to_wxyz",
    "ros_time_now",
    "wxyz_to_ros_quat",  # this and JointNameMatcher, ros_quat_to_wxyz: from ros2_ports
]
