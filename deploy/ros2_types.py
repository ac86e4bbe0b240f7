"""ROS 2 messages on raw DDS: types generated from ``.msg`` definitions, CDR, topic names, QoS.

A raw DDS topic *is* a ROS 2 topic when four things agree with what ``rmw_cyclonedds`` and
``rmw_fastrtps`` put on the wire:

* the topic is named ``rt/<topic>`` (``/joint_states`` → ``rt/joint_states``);
* the type is named ``<pkg>::msg::dds_::<Name>_`` (``sensor_msgs::msg::dds_::JointState_``);
* the type is ``@final`` and keyless, encoded as plain CDR (XCDR1): every payload starts with the
  encapsulation header ``00 01 00 00`` (CDR, little endian), never ``00 07`` (XCDR2);
* reader and writer QoS are compatible (a best-effort writer never matches a reliable reader).

Nothing here is written twice: the field lists come from ``rosbags`` (its bundled ROS 2 Humble
definitions plus our own ``humimic_msgs/msg/*.msg`` files, which a real ROS 2 workspace builds
from the same files), and the Cyclone DDS classes are generated from those field lists,
recursively, once per type (:meth:`Ros2Types.idl_type`).

Example::

    types = default_types()
    JointState = types.idl_type("sensor_msgs/msg/JointState")
    topic = Topic(participant, ros_topic_to_dds("/joint_states"), JointState)
    writer = DataWriter(participant, topic, qos=sensor_data_qos())
    writer.write(types.to_idl({"name": names, "position": q}, "sensor_msgs/msg/JointState"))

No ROS install is needed, and none is imported.
"""

from __future__ import annotations

import dataclasses
import functools
import keyword
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from cyclonedds.domain import DomainParticipant
from cyclonedds.idl import IdlStruct
from cyclonedds.idl import annotations as idl_annotations
from cyclonedds.idl import types as idl_types
from cyclonedds.idl._main import IdlMeta
from cyclonedds.idl._support import Endianness
from cyclonedds.pub import DataWriter
from cyclonedds.qos import Policy, Qos
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration
from rosbags.interfaces import Nodetype
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import TypesysError
from rosbags.typesys.store import Typestore

from humimic.errors import ConfigError, DeployError, unknown_name

log = logging.getLogger(__name__)

MSG_PACKAGE = "humimic_msgs"
"""The ROS 2 package that holds humimic's own message definitions."""

DEFAULT_MSG_DIR = Path(__file__).resolve().parents[1] / "ros2_ws" / "src" / MSG_PACKAGE / "msg"
"""Where the ``.msg`` files live in the repository (``deploy/`` is installed editable)."""

CDR_LE_HEADER = b"\x00\x01\x00\x00"
"""Encapsulation header of a plain CDR (XCDR1), little-endian payload: what ROS 2 sends."""

# rosbags base type name -> Cyclone DDS IDL type, as rosidl maps .msg types to IDL
# (char is uint8 in ROS 2, byte is octet).
_IDL_BASE: dict[str, Any] = {
    "bool": bool,
    "byte": idl_types.byte,
    "char": idl_types.uint8,
    "int8": idl_types.int8,
    "uint8": idl_types.uint8,
    "int16": idl_types.int16,
    "uint16": idl_types.uint16,
    "int32": idl_types.int32,
    "uint32": idl_types.uint32,
    "int64": idl_types.int64,
    "uint64": idl_types.uint64,
    "float32": idl_types.float32,
    "float64": idl_types.float64,
}

# numpy dtype rosbags uses for arrays and sequences of each base type (byte is signed in rosbags).
_NP_DTYPE: dict[str, type[np.generic]] = {
    "bool": np.bool_,
    "byte": np.int8,
    "char": np.uint8,
    "int8": np.int8,
    "uint8": np.uint8,
    "int16": np.int16,
    "uint16": np.uint16,
    "int32": np.int32,
    "uint32": np.uint32,
    "int64": np.int64,
    "uint64": np.uint64,
    "float32": np.float32,
    "float64": np.float64,
}

_OCTETS = {"byte", "char", "uint8"}  # fixed arrays of these are `bytes` in Cyclone DDS


# --------------------------------------------------------------------------------------------
# names


def ros_topic_to_dds(topic: str) -> str:
    """DDS topic name of a ROS 2 topic: ``"/joint_states"`` → ``"rt/joint_states"``.

    Only absolute or relative names without a namespace substitution are accepted; a leading
    ``/`` is dropped (ROS 2 names are resolved to absolute before the ``rt`` prefix is added).
    """
    name = topic.lstrip("/")
    if not name or "//" in topic or name.endswith("/") or "~" in topic or "{" in topic:
        raise DeployError(f"invalid ROS 2 topic name {topic!r}; expected e.g. '/joint_states'")
    return f"rt/{name}"


def dds_type_name(ros_type: str) -> str:
    """DDS type name of a ROS 2 message: ``"sensor_msgs/msg/JointState"`` →
    ``"sensor_msgs::msg::dds_::JointState_"``."""
    parts = ros_type.split("/")
    if len(parts) != 3 or not all(parts) or parts[1] != "msg":
        raise DeployError(
            f"invalid ROS 2 message type {ros_type!r}; expected '<pkg>/msg/<Name>', "
            "e.g. 'sensor_msgs/msg/JointState'"
        )
    pkg, _, name = parts
    return f"{pkg}::msg::dds_::{name}_"


def _py_field_name(name: str) -> str:
    """Python attribute name of a message field (rosbags appends ``_`` to keywords)."""
    return f"{name}_" if keyword.iskeyword(name) else name


# --------------------------------------------------------------------------------------------
# QoS


@dataclass(frozen=True)
class QosSpec:
    """A ROS 2 QoS profile, as both the raw-DDS side (:func:`cyclone_qos`) and the rclpy node
    (its ``QoSProfile``) build their endpoints from it: one description, two encodings.

    History is always *keep last* ``depth`` (every humimic topic supersedes old samples).

    Attributes:
        reliable: reliable (retransmit) when True, best effort when False.
        depth: keep-last history depth (samples), >= 1.
        transient_local: durability *transient local* (a "latched" topic: a late reader gets
            the last ``depth`` samples) when True, *volatile* when False.
    """

    reliable: bool
    depth: int
    transient_local: bool = False

    def __post_init__(self) -> None:
        d = self.depth
        if isinstance(d, bool) or not isinstance(d, int) or d < 1:
            raise ConfigError(f"QosSpec.depth: expected an int >= 1, got {d!r}")


def cyclone_qos(spec: QosSpec, max_blocking_time_s: float = 0.1) -> Qos:
    """The Cyclone DDS ``Qos`` of ``spec``, with plain CDR (XCDR1) data representation
    requested explicitly (what ROS 2 sends).

    ``max_blocking_time_s`` (reliable only) bounds how long ``write`` may block on a full
    writer history cache (DDS default 100 ms), so a stalled reader can never stall a control
    loop for long; rclpy has no such setting.
    """
    reliability = (
        Policy.Reliability.Reliable(max_blocking_time=duration(seconds=max_blocking_time_s))
        if spec.reliable
        else Policy.Reliability.BestEffort
    )
    durability = (
        Policy.Durability.TransientLocal if spec.transient_local else Policy.Durability.Volatile
    )
    return Qos(
        reliability,
        Policy.History.KeepLast(spec.depth),
        durability,
        Policy.DataRepresentation(use_cdrv0_representation=True),
    )


def sensor_data_qos(depth: int = 5) -> Qos:
    """ROS 2 ``rclpy.qos.qos_profile_sensor_data``: best effort, keep last ``depth``, volatile,
    XCDR1 (:func:`cyclone_qos`). A best-effort *reader* matches any writer; a best-effort
    *writer* matches only best-effort readers.
    """
    return cyclone_qos(QosSpec(reliable=False, depth=depth))


def reliable_qos(depth: int = 10, max_blocking_time_s: float = 0.1) -> Qos:
    """ROS 2 default profile (``rclpy.qos.qos_profile_system_default`` as resolved by the rmw):
    reliable, keep last ``depth``, volatile, XCDR1 (:func:`cyclone_qos`)."""
    return cyclone_qos(QosSpec(reliable=True, depth=depth), max_blocking_time_s)


# --------------------------------------------------------------------------------------------
# type store


def find_msg_files(msg_dir: Path | None = None) -> list[Path]:
    """The ``.msg`` files of :data:`MSG_PACKAGE`, sorted by name.

    Raises:
        DeployError: the directory does not exist or holds no ``.msg`` file (names the path).
    """
    msg_dir = DEFAULT_MSG_DIR if msg_dir is None else Path(msg_dir)
    if not msg_dir.is_dir():
        raise DeployError(
            f"message definitions not found: {msg_dir} is not a directory; expected the "
            f"{MSG_PACKAGE} package's msg/ folder (is humimic installed from a source checkout "
            "with 'pip install -e .'?)"
        )
    files = sorted(msg_dir.glob("*.msg"))
    if not files:
        raise DeployError(f"message definitions not found: no *.msg file in {msg_dir}")
    return files


def build_typestore(msg_dir: Path | None = None, package: str = MSG_PACKAGE) -> Typestore:
    """A rosbags type store with the ROS 2 Humble standard messages plus ``package``'s
    ``.msg`` files from ``msg_dir`` (default :data:`DEFAULT_MSG_DIR`)."""
    store = get_typestore(Stores.ROS2_HUMBLE)
    for path in find_msg_files(msg_dir):
        log.debug("registering %s/msg/%s from %s", package, path.stem, path)
        try:
            store.register(get_types_from_msg(path.read_text(), f"{package}/msg/{path.stem}"))
        except TypesysError as exc:
            raise DeployError(f"{path}: cannot parse message definition: {exc}") from exc
    return store


# --------------------------------------------------------------------------------------------
# generated types and conversions

_Conv = Callable[[Any, str], Any]  # (value, field path for messages) -> converted value


class Ros2Types:
    """ROS 2 message types as Cyclone DDS IDL classes, generated from a rosbags type store.

    Generated classes and converters are cached per instance; use :func:`default_types` for
    the process-wide instance built from the repository's ``.msg`` files.

    Args:
        typestore: a rosbags type store; default :func:`build_typestore` of ``msg_dir``.
        msg_dir: folder with humimic's ``.msg`` files (only used without ``typestore``).
    """

    def __init__(self, typestore: Typestore | None = None, msg_dir: Path | None = None) -> None:
        self.typestore: Typestore = build_typestore(msg_dir) if typestore is None else typestore
        self._idl: dict[str, type[IdlStruct]] = {}
        self._ros_type_of: dict[type[IdlStruct], str] = {}
        self._to_idl: dict[str, _Conv] = {}
        self._from_idl: dict[str, _Conv] = {}
        self._lock = threading.RLock()  # generation is lazy; adapters may call from threads

    # -- lookup ---------------------------------------------------------------------------

    def _fields(self, ros_type: str) -> list[tuple[str, tuple[Any, Any]]]:
        try:
            return list(self.typestore.fielddefs[ros_type][1])
        except KeyError:
            dds_type_name(ros_type)  # a malformed name gets the clearer message
            raise DeployError(
                unknown_name("ROS 2 message type", ros_type, self.typestore.fielddefs)
            ) from None

    def ros_type_of(self, idl_class: type[IdlStruct]) -> str:
        """The ROS 2 type name (``pkg/msg/Name``) an IDL class was generated for."""
        try:
            return self._ros_type_of[idl_class]
        except KeyError:
            raise DeployError(f"{idl_class!r} was not generated by this Ros2Types") from None

    # -- IDL classes ----------------------------------------------------------------------

    def idl_type(self, ros_type: str) -> type[IdlStruct]:
        """The Cyclone DDS class of ``ros_type`` (e.g. ``"sensor_msgs/msg/Imu"``).

        A ``@final``, keyless :class:`~cyclonedds.idl.IdlStruct` named
        ``<pkg>::msg::dds_::<Name>_`` whose members are the message's fields in order: nested
        messages are generated classes, ``T[]`` is ``sequence[T]``, ``T[<=N]`` is
        ``sequence[T, N]``, ``T[N]`` is ``array[T, N]`` (``bytes`` for byte/char/uint8),
        ``string<=N`` is ``bounded_str[N]``. XCDR2 is disallowed, so it always serializes as
        plain CDR.
        """
        cls = self._idl.get(ros_type)
        if cls is not None:
            return cls
        with self._lock:
            if ros_type not in self._idl:
                self._idl[ros_type] = self._generate(ros_type)
                self._ros_type_of[self._idl[ros_type]] = ros_type
            return self._idl[ros_type]

    def _generate(self, ros_type: str) -> type[IdlStruct]:
        fields = self._fields(ros_type)
        members: dict[str, Any] = {}
        defaults: dict[str, Callable[[], Any]] = {}
        renamed: dict[str, dict[str, Any]] = {}
        for name, desc in fields:
            attr = _py_field_name(name)
            members[attr] = self._idl_member(desc, f"{ros_type}.{name}")
            defaults[attr] = self._idl_default(desc)
            if attr != name:
                renamed[attr] = {"name": name}  # keep the ROS field name in the type info
        return _make_final_struct(
            ros_type.replace("/", "_") + "_", dds_type_name(ros_type), members, defaults, renamed
        )

    def _idl_member(self, desc: tuple[Any, Any], where: str) -> Any:
        node, arg = desc
        if node == Nodetype.BASE:
            base, bound = arg
            if base == "string":
                return idl_types.bounded_str[bound] if bound else str  # type: ignore[misc]
            if base not in _IDL_BASE:
                raise DeployError(f"{where}: type {base!r} has no Cyclone DDS mapping")
            return _IDL_BASE[base]
        if node == Nodetype.NAME:
            return self.idl_type(arg)
        sub, size = arg
        sub_t = self._idl_member(sub, where)
        if node == Nodetype.ARRAY:
            return idl_types.array[sub_t, size]  # type: ignore[misc]
        if node == Nodetype.SEQUENCE:
            return idl_types.sequence[sub_t, size] if size else idl_types.sequence[sub_t]  # type: ignore[misc]
        raise DeployError(f"{where}: unsupported field node {node!r}")

    def _idl_default(self, desc: tuple[Any, Any]) -> Callable[[], Any]:
        """Factory of the zero value of a field in its IDL representation."""
        node, arg = desc
        if node == Nodetype.BASE:
            base = arg[0]
            zero: Any = "" if base == "string" else False if base == "bool" else 0
            if base in ("float32", "float64"):
                zero = 0.0
            return lambda: zero
        if node == Nodetype.NAME:
            ros_type = arg
            return lambda: self.idl_default(ros_type)
        sub, size = arg
        if node == Nodetype.SEQUENCE:
            return list
        if sub[0] == Nodetype.BASE and sub[1][0] in _OCTETS:
            return lambda: bytes(size)
        item = self._idl_default(sub)
        return lambda: [item() for _ in range(size)]

    def idl_default(self, ros_type: str) -> IdlStruct:
        """An IDL instance of ``ros_type`` with every field zero / empty.

        Zero, not the ``.msg`` default values (rosbags does not keep them): a default
        ``geometry_msgs/msg/Quaternion`` here has ``w == 0``.
        """
        return self.idl_type(ros_type)()

    # -- conversions ----------------------------------------------------------------------

    def to_idl(self, msg: Any, ros_type: str | None = None) -> IdlStruct:
        """Convert a rosbags message (or a plain ``dict``, nested dicts allowed) to the IDL class.

        ``ros_type`` defaults to the rosbags message's ``__msgtype__``. Fields missing from a
        ``dict`` take their zero value (as a ROS message constructor does); unknown keys,
        fixed arrays of the wrong length and over-long bounded fields raise
        :class:`DeployError` naming the field.
        """
        if ros_type is None:
            ros_type = getattr(msg, "__msgtype__", None)
            if ros_type is None:
                raise DeployError("to_idl: pass ros_type for a message without __msgtype__")
        return self._to_idl_conv(ros_type)(msg, ros_type)

    def from_idl(self, sample: IdlStruct, ros_type: str | None = None) -> Any:
        """Convert an IDL instance to the rosbags message class of ``ros_type`` (default: the
        type the sample's class was generated for). Arrays come back as numpy arrays with
        the dtypes rosbags uses (``byte`` is ``int8`` there)."""
        if ros_type is None:
            ros_type = self.ros_type_of(type(sample))
        return self._from_idl_conv(ros_type)(sample, ros_type)

    def _to_idl_conv(self, ros_type: str) -> _Conv:
        conv = self._to_idl.get(ros_type)
        if conv is not None:
            return conv
        with self._lock:
            return self._to_idl.setdefault(ros_type, self._build_to_idl(ros_type))

    def _build_to_idl(self, ros_type: str) -> _Conv:
        cls = self.idl_type(ros_type)
        fielddefs = self._fields(ros_type)
        fields = [
            (name, _py_field_name(name), self._to_idl_field(desc)) for name, desc in fielddefs
        ]
        defaults = {_py_field_name(name): self._idl_default(desc) for name, desc in fielddefs}
        valid = {name for name, _, _ in fields} | {attr for _, attr, _ in fields}

        def convert(msg: Any, where: str) -> IdlStruct:
            kwargs: dict[str, Any] = {}
            if isinstance(msg, Mapping):
                for key in msg:
                    if key not in valid:
                        raise DeployError(f"{where}: {unknown_name('field', str(key), valid)}")
                for name, attr, fconv in fields:
                    if name in msg:
                        value = msg[name]
                    elif attr in msg:
                        value = msg[attr]
                    else:
                        kwargs[attr] = defaults[attr]()
                        continue
                    kwargs[attr] = _convert_field(fconv, value, f"{where}.{name}")
            else:
                for name, attr, fconv in fields:
                    try:
                        value = getattr(msg, attr)
                    except AttributeError:
                        raise DeployError(
                            f"{where}: {type(msg).__name__} has no field {name!r} of {ros_type}"
                        ) from None
                    kwargs[attr] = _convert_field(fconv, value, f"{where}.{name}")
            return cls(**kwargs)

        return convert

    def _to_idl_field(self, desc: tuple[Any, Any]) -> _Conv:
        node, arg = desc
        if node == Nodetype.BASE:
            return _to_idl_scalar(*arg)
        if node == Nodetype.NAME:
            ros_type = arg
            return lambda value, where: self._to_idl_conv(ros_type)(value, where)
        sub, size = arg
        fixed = node == Nodetype.ARRAY

        def check_len(n: int, where: str) -> None:
            if fixed and n != size:
                raise DeployError(f"{where}: expected {size} elements, got {n}")
            if not fixed and size and n > size:
                raise DeployError(f"{where}: expected at most {size} elements, got {n}")

        if sub[0] == Nodetype.BASE and sub[1][0] != "string":
            base = sub[1][0]
            idl_dtype = np.uint8 if base in _OCTETS else _NP_DTYPE[base]
            as_bytes = fixed and base in _OCTETS

            def prim(value: Any, where: str) -> Any:
                if isinstance(value, bytes | bytearray | memoryview):
                    arr = np.frombuffer(value, dtype=np.uint8)
                else:
                    arr = np.asarray(value)
                if arr.ndim != 1:
                    raise DeployError(f"{where}: expected a 1-D array, got shape {arr.shape}")
                check_len(arr.shape[0], where)
                if base != "byte" and arr.dtype.kind in "biuf":
                    _check_int_range(arr, base, where)
                arr = arr.astype(idl_dtype, copy=False)  # byte: int8 -> uint8 wraps
                return arr.tobytes() if as_bytes else arr.tolist()

            return prim

        item = self._to_idl_field(sub)

        def items(value: Any, where: str) -> list[Any]:
            check_len(len(value), where)
            return [item(v, f"{where}[{i}]") for i, v in enumerate(value)]

        return items

    def _from_idl_conv(self, ros_type: str) -> _Conv:
        conv = self._from_idl.get(ros_type)
        if conv is not None:
            return conv
        with self._lock:
            return self._from_idl.setdefault(ros_type, self._build_from_idl(ros_type))

    def _build_from_idl(self, ros_type: str) -> _Conv:
        msg_cls = self.typestore.types[ros_type]
        fields = [
            (_py_field_name(name), self._from_idl_field(desc))
            for name, desc in self._fields(ros_type)
        ]

        def convert(sample: Any, where: str) -> Any:
            return msg_cls(**{attr: fconv(getattr(sample, attr), where) for attr, fconv in fields})

        return convert

    def _from_idl_field(self, desc: tuple[Any, Any]) -> _Conv:
        node, arg = desc
        if node == Nodetype.BASE:
            if arg[0] == "byte":  # octet on the wire, int8 in rosbags
                return lambda value, where: value - 256 if value > 127 else value
            return lambda value, where: value
        if node == Nodetype.NAME:
            ros_type = arg
            return lambda value, where: self._from_idl_conv(ros_type)(value, where)
        sub = arg[0]
        if sub[0] == Nodetype.BASE and sub[1][0] != "string":
            base = sub[1][0]
            dtype = _NP_DTYPE[base]
            if base in _OCTETS:
                return lambda value, where: np.frombuffer(bytes(value), np.uint8).astype(dtype)
            return lambda value, where: np.asarray(value, dtype=dtype)
        item = self._from_idl_field(sub)
        return lambda value, where: [item(v, where) for v in value]

    # -- bytes ----------------------------------------------------------------------------

    def serialize(self, msg: Any, ros_type: str | None = None) -> bytes:
        """CDR bytes (XCDR1, little endian, with the 4-byte encapsulation header) of a rosbags
        message, ``dict`` or IDL instance: byte-identical to ``typestore.serialize_cdr``."""
        sample = msg if isinstance(msg, IdlStruct) else self.to_idl(msg, ros_type)
        return sample.serialize(endianness=Endianness.Little, use_version_2=False)

    def deserialize(self, data: bytes, ros_type: str) -> Any:
        """A rosbags message of ``ros_type`` from CDR bytes (with encapsulation header)."""
        if bytes(data[:2]) not in (b"\x00\x00", b"\x00\x01"):
            raise DeployError(
                f"{ros_type}: payload header {bytes(data[:4]).hex(' ')} is not plain CDR "
                "(expected 00 01 00 00 or 00 00 00 00)"
            )
        return self.from_idl(self.idl_type(ros_type).deserialize(bytes(data)), ros_type)


def _to_idl_scalar(base: str, bound: int) -> _Conv:
    if base == "string":

        def string(value: Any, where: str) -> str:
            if not isinstance(value, str):
                raise DeployError(f"{where}: expected a str, got {type(value).__name__}")
            if bound and len(value) > bound:
                raise DeployError(f"{where}: string longer than its bound {bound}: {value!r}")
            return value

        return string
    if base == "bool":
        return lambda value, where: bool(value)
    if base in ("float32", "float64"):
        return lambda value, where: float(value)
    if base == "byte":
        return lambda value, where: int(value) & 0xFF

    def integer(value: Any, where: str) -> int:
        _check_int_range(np.asarray(value), base, where)
        return int(value)

    return integer


def _check_int_range(values: np.ndarray, base: str, where: str) -> None:
    """Raise if an integer field gets a value its wire type cannot hold."""
    if base not in _NP_DTYPE or not np.issubdtype(_NP_DTYPE[base], np.integer) or not values.size:
        return
    info = np.iinfo(_NP_DTYPE[base])  # type: ignore[type-var]
    lo, hi = values.min(), values.max()
    if lo < info.min or hi > info.max:
        bad = lo if lo < info.min else hi
        raise DeployError(f"{where}: {bad} is outside the {base} range [{info.min}, {info.max}]")


def _convert_field(conv: _Conv, value: Any, where: str) -> Any:
    """Run a field converter; a value of the wrong kind becomes a DeployError naming the field."""
    try:
        return conv(value, where)
    except (TypeError, ValueError, OverflowError) as exc:
        raise DeployError(f"{where}: cannot convert {value!r}: {exc}") from exc


def _make_final_struct(
    class_name: str,
    typename: str,
    members: dict[str, Any],
    defaults: dict[str, Callable[[], Any]],
    renamed: dict[str, dict[str, Any]],
) -> type[IdlStruct]:
    """A dataclass ``IdlStruct`` with ``@final`` extensibility and XCDR1 only.

    Built like ``cyclonedds.idl.make_idl_struct`` but with field defaults, so an instance can
    be created with no arguments (every field zero / empty).
    """
    namespace: Any = IdlMeta.__prepare__(class_name, (IdlStruct,), typename=typename)
    for name, idl_t in members.items():
        namespace["__annotations__"][name] = idl_t
        namespace[name] = dataclasses.field(default_factory=defaults[name])
    if renamed:
        namespace["__idl_field_annotations__"] = renamed
    namespace["__module__"] = __name__
    cls: Any = IdlMeta(class_name, (IdlStruct,), namespace)
    # Explicit even though final is Cyclone's default: ROS 2 never matches @appendable.
    idl_annotations.final(cls)
    # Disallow XCDR2 (sets DISALLOWS_XCDR2): the writer can only ever send plain CDR.
    idl_annotations.cdrv0(cls)
    return dataclasses.dataclass(cls)


@functools.lru_cache(maxsize=1)
def default_types() -> Ros2Types:
    """The process-wide :class:`Ros2Types` over :data:`DEFAULT_MSG_DIR` (built on first use)."""
    return Ros2Types()


# --------------------------------------------------------------------------------------------
# minimal pub/sub


def create_writer(
    participant: DomainParticipant,
    topic: str,
    ros_type: str,
    qos: Qos | None = None,
    types: Ros2Types | None = None,
) -> DataWriter:
    """A DataWriter for ROS 2 topic ``topic`` (e.g. ``"/joint_states"``) of ``ros_type``.

    ``qos`` defaults to :func:`reliable_qos`. Write IDL instances (:meth:`Ros2Types.to_idl`).
    """
    return DataWriter(
        participant, _topic(participant, topic, ros_type, types), qos=qos or reliable_qos()
    )


def create_reader(
    participant: DomainParticipant,
    topic: str,
    ros_type: str,
    qos: Qos | None = None,
    types: Ros2Types | None = None,
) -> DataReader:
    """A DataReader for ROS 2 topic ``topic`` of ``ros_type``; ``qos`` defaults to
    :func:`reliable_qos`. It returns IDL instances (:meth:`Ros2Types.from_idl`)."""
    return DataReader(
        participant, _topic(participant, topic, ros_type, types), qos=qos or reliable_qos()
    )


def _topic(
    participant: DomainParticipant, topic: str, ros_type: str, types: Ros2Types | None
) -> Topic:
    types = default_types() if types is None else types
    return Topic(participant, ros_topic_to_dds(topic), types.idl_type(ros_type))


__all__ = [
    "CDR_LE_HEADER",
    "DEFAULT_MSG_DIR",
    "MSG_PACKAGE",
    "QosSpec",
    "Ros2Types",
    "build_typestore",
    "create_reader",
    "create_writer",
    "cyclone_qos",
    "dds_type_name",
    "default_types",
    "find_msg_files",
    "reliable_qos",
    "ros_topic_to_dds",
    "sensor_data_qos",
]
