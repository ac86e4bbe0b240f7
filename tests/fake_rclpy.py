"""A FAKE rclpy, and FAKE ROS message packages, FOR TESTS: nothing here talks to ROS.

It lets ``tests/deploy/test_ros_node.py`` import and drive the rclpy deploy node
(``ros2_ws/src/humimic_ros/humimic_ros/node.py``) without a ROS install, and records what the
node does: the parameters it declares (with their descriptors), its publishers, subscriptions
and timers, every message it publishes, what it logs.

:func:`install` puts the fakes into ``sys.modules`` under the real names (``rclpy``,
``rclpy.node``, ``rclpy.qos``, ``rclpy.signals``, ``rclpy.parameter``, ``sensor_msgs.msg``,
``std_msgs.msg``, ``geometry_msgs.msg``, ``builtin_interfaces.msg``, ``humimic_msgs.msg``,
``rcl_interfaces.msg``) through a pytest ``monkeypatch``, so they vanish after the test.

What mirrors rclpy (Humble/Jazzy) and what does not:

* ``FakeNode`` has rclpy's call signatures for what the node uses: ``declare_parameter(name,
  value, descriptor)`` (overrides win, their type must match the default's, a
  ``floating_point_range`` is enforced, as rclpy does), ``create_publisher(msg_type, topic,
  qos_profile)``, ``create_subscription(msg_type, topic, callback, qos_profile)``,
  ``create_timer(timer_period_sec, callback)``, ``get_clock().now().to_msg()``,
  ``get_logger()``. The fake-only attributes that tests read are named ``fake_*``; nothing is
  scheduled: tests call :meth:`FakeSubscription.deliver` and :meth:`FakeTimer.fire`.
* The message classes are generated from the same ``.msg`` definitions humimic's raw-DDS path
  uses (rosbags' ROS 2 Humble store plus ``ros2_ws/src/humimic_msgs/msg``), so they have
  exactly the real fields and constants. Like rclpy's generated classes they refuse unknown
  attributes and values of the wrong type (a ``float64[]`` field takes a sequence of Python
  floats, not a numpy array; a ``float64`` field takes a float, not an int). Each class carries
  ``ROS_TYPE`` (fake-only: ``"sensor_msgs/msg/JointState"``).
"""

from __future__ import annotations

import enum
import math
import sys
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pytest
from rosbags.interfaces import Nodetype

from humimic.deploy.ros2_types import default_types

# --------------------------------------------------------------------------------------------
# messages, generated from the .msg definitions


_INT_RANGES = {
    "int8": (-(2**7), 2**7 - 1),
    "uint8": (0, 2**8 - 1),
    "byte": (0, 2**8 - 1),
    "char": (0, 2**8 - 1),
    "int16": (-(2**15), 2**15 - 1),
    "uint16": (0, 2**16 - 1),
    "int32": (-(2**31), 2**31 - 1),
    "uint32": (0, 2**32 - 1),
    "int64": (-(2**63), 2**63 - 1),
    "uint64": (0, 2**64 - 1),
}


class FakeMessage:
    """Base of the fake message classes: typed fields, no attributes beyond them."""

    ROS_TYPE: ClassVar[str] = ""
    _FIELDS: ClassVar[dict[str, tuple[Any, Any]]] = {}

    def __init__(self, **kwargs: Any) -> None:
        for name, desc in self._FIELDS.items():
            object.__setattr__(self, name, _default(desc))
        for name, value in kwargs.items():
            setattr(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        desc = self._FIELDS.get(name)
        if desc is None:
            raise AttributeError(
                f"{type(self).__name__} ({self.ROS_TYPE}) has no field {name!r}; fields: "
                f"{', '.join(self._FIELDS)}"
            )
        _check(desc, value, f"{self.ROS_TYPE}.{name}")
        object.__setattr__(self, name, value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._FIELDS)
        return f"{type(self).__name__}({fields})"

    if TYPE_CHECKING:  # the fields are set dynamically

        def __getattr__(self, name: str) -> Any: ...


_CLASSES: dict[str, type[FakeMessage]] = {}


def fake_message_class(ros_type: str) -> type[FakeMessage]:
    """The fake class of ``ros_type`` (``"sensor_msgs/msg/JointState"`` → ``FakeJointState``),
    with the definition's fields and constants."""
    cls = _CLASSES.get(ros_type)
    if cls is not None:
        return cls
    consts, fields = default_types().typestore.fielddefs[ros_type]
    namespace: dict[str, Any] = {"ROS_TYPE": ros_type, "_FIELDS": dict(fields)}
    for const_name, _const_type, value in consts:
        namespace[const_name] = value
    cls = type("Fake" + ros_type.rsplit("/", 1)[-1], (FakeMessage,), namespace)
    _CLASSES[ros_type] = cls
    return cls


def _default(desc: tuple[Any, Any]) -> Any:
    kind, detail = desc
    if kind == Nodetype.BASE:
        base = detail[0]
        if base == "bool":
            return False
        if base in ("string", "wstring"):
            return ""
        return 0.0 if base.startswith("float") else 0
    if kind == Nodetype.NAME:
        return fake_message_class(detail)()
    if kind == Nodetype.ARRAY:
        inner, size = detail
        if inner[0] == Nodetype.BASE and inner[1][0].startswith("float"):
            return np.zeros(size)  # rclpy: fixed-size numeric arrays are numpy arrays
        return [_default(inner) for _ in range(size)]
    return []  # SEQUENCE


def _check(desc: tuple[Any, Any], value: Any, where: str) -> None:
    kind, detail = desc
    if kind == Nodetype.BASE:
        base = detail[0]
        if base == "bool":
            ok = isinstance(value, bool)
        elif base in ("string", "wstring"):
            ok = isinstance(value, str)
        elif base.startswith("float"):
            ok = isinstance(value, float)
        else:
            lo, hi = _INT_RANGES[base]
            ok = isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi
        if not ok:
            raise AssertionError(f"{where}: {value!r} is not a valid {base}")
        return
    if kind == Nodetype.NAME:
        cls = fake_message_class(detail)
        if not isinstance(value, cls):
            raise AssertionError(f"{where}: expected {cls.__name__}, got {type(value).__name__}")
        return
    inner, size = detail
    if kind == Nodetype.ARRAY and isinstance(value, np.ndarray):
        if value.shape != (size,) or value.dtype != np.float64:
            raise AssertionError(f"{where}: expected a float64 array [{size}], got {value!r}")
        return
    if isinstance(value, (str, bytes, np.ndarray)) or not isinstance(value, Sequence):
        raise AssertionError(
            f"{where}: expected a sequence (list, tuple, array.array), got {type(value).__name__}"
        )
    if kind == Nodetype.ARRAY and len(value) != size:
        raise AssertionError(f"{where}: expected {size} items, got {len(value)}")
    if kind == Nodetype.SEQUENCE and size and len(value) > size:
        raise AssertionError(f"{where}: at most {size} items, got {len(value)}")
    for i, item in enumerate(value):
        _check(inner, item, f"{where}[{i}]")


FakeTime = fake_message_class("builtin_interfaces/msg/Time")
FakeHeader = fake_message_class("std_msgs/msg/Header")
FakeBool = fake_message_class("std_msgs/msg/Bool")
FakeQuaternion = fake_message_class("geometry_msgs/msg/Quaternion")
FakeVector3 = fake_message_class("geometry_msgs/msg/Vector3")
FakeJointState = fake_message_class("sensor_msgs/msg/JointState")
FakeImu = fake_message_class("sensor_msgs/msg/Imu")
FakeJointCommand = fake_message_class("humimic_msgs/msg/JointCommand")
FakeOperatorCommand = fake_message_class("humimic_msgs/msg/OperatorCommand")
FakeRuntimeStatus = fake_message_class("humimic_msgs/msg/RuntimeStatus")
FakeParameterDescriptor = fake_message_class("rcl_interfaces/msg/ParameterDescriptor")
FakeFloatingPointRange = fake_message_class("rcl_interfaces/msg/FloatingPointRange")
FakeIntegerRange = fake_message_class("rcl_interfaces/msg/IntegerRange")


# --------------------------------------------------------------------------------------------
# rclpy.qos, rclpy.signals, rclpy.parameter


class FakeReliabilityPolicy(enum.Enum):
    RELIABLE = 1
    BEST_EFFORT = 2


class FakeHistoryPolicy(enum.Enum):
    KEEP_LAST = 1
    KEEP_ALL = 2


class FakeDurabilityPolicy(enum.Enum):
    TRANSIENT_LOCAL = 1
    VOLATILE = 2


@dataclass(frozen=True)
class FakeQoSProfile:
    """rclpy's ``QoSProfile(depth=..., history=..., reliability=..., durability=...)``; rclpy's
    defaults: keep last, reliable, volatile."""

    depth: int
    history: FakeHistoryPolicy = FakeHistoryPolicy.KEEP_LAST
    reliability: FakeReliabilityPolicy = FakeReliabilityPolicy.RELIABLE
    durability: FakeDurabilityPolicy = FakeDurabilityPolicy.VOLATILE


class FakeSignalHandlerOptions(enum.Enum):
    NO = 0
    SIGINT = 1
    SIGTERM = 2
    ALL = 3


@dataclass
class FakeParameter:
    """rclpy's ``Parameter(name, value=...)`` (the type follows the value)."""

    name: str
    value: Any = None


class FakeInvalidParameterValueException(Exception):
    """rclpy raises ``InvalidParameterValueException`` for a value outside the descriptor."""


class FakeInvalidParameterTypeException(Exception):
    """rclpy raises ``InvalidParameterTypeException`` when an override's type differs."""


class FakeParameterAlreadyDeclaredException(Exception):
    pass


# --------------------------------------------------------------------------------------------
# rclpy.node


@dataclass
class FakePublisher:
    msg_type: type[FakeMessage]
    topic: str
    qos_profile: FakeQoSProfile
    published: list[FakeMessage] = field(default_factory=list)

    def publish(self, msg: FakeMessage) -> None:
        if not isinstance(msg, self.msg_type):  # rclpy raises TypeError too
            raise TypeError(f"{self.topic}: expected {self.msg_type.__name__}, got {msg!r}")
        self.published.append(msg)


@dataclass
class FakeSubscription:
    msg_type: type[FakeMessage]
    topic: str
    callback: Callable[[Any], None]
    qos_profile: FakeQoSProfile

    def deliver(self, msg: FakeMessage) -> None:
        """What the executor does when ``msg`` arrives."""
        assert isinstance(msg, self.msg_type), f"{self.topic} takes {self.msg_type.__name__}"
        self.callback(msg)


@dataclass
class FakeTimer:
    timer_period_sec: float
    callback: Callable[[], None]

    def fire(self) -> None:
        """What the executor does when the timer is due."""
        self.callback()


@dataclass
class FakeLogger:
    records: list[tuple[str, str]] = field(default_factory=list)

    def debug(self, message: str, **kwargs: Any) -> None:
        self.records.append(("debug", message))

    def info(self, message: str, **kwargs: Any) -> None:
        self.records.append(("info", message))

    def warning(self, message: str, **kwargs: Any) -> None:
        self.records.append(("warning", message))

    warn = warning

    def error(self, message: str, **kwargs: Any) -> None:
        self.records.append(("error", message))

    def fatal(self, message: str, **kwargs: Any) -> None:
        self.records.append(("fatal", message))


@dataclass
class FakeRosTime:
    nanoseconds: int

    def to_msg(self) -> FakeMessage:
        sec, nanosec = divmod(self.nanoseconds, 1_000_000_000)
        return FakeTime(sec=sec, nanosec=nanosec)


@dataclass
class FakeRosClock:
    """The node's ROS clock; ``now_ns`` only moves when a test sets it."""

    now_ns: int = 0

    def now(self) -> FakeRosTime:
        return FakeRosTime(self.now_ns)


class FakeNode:
    """rclpy's ``Node`` as far as the deploy node uses it (see the module docstring)."""

    def __init__(
        self,
        node_name: str,
        *,
        namespace: str | None = None,
        parameter_overrides: list[FakeParameter] | None = None,
    ) -> None:
        self.fake_name = node_name
        self.fake_namespace = namespace or ""
        overrides = dict(STATE.global_overrides)
        overrides.update({p.name: p.value for p in parameter_overrides or []})
        self._fake_overrides = overrides
        self.fake_parameters: dict[str, tuple[Any, Any]] = {}
        """name → (value, descriptor), in declaration order."""
        self.fake_publishers: list[FakePublisher] = []
        self.fake_subscriptions: list[FakeSubscription] = []
        self.fake_timers: list[FakeTimer] = []
        self.fake_logger = FakeLogger()
        self.fake_clock = FakeRosClock()
        self.fake_destroyed = False
        STATE.nodes.append(self)

    def declare_parameter(
        self, name: str, value: Any = None, descriptor: Any = None, ignore_override: bool = False
    ) -> FakeParameter:
        if name in self.fake_parameters:
            raise FakeParameterAlreadyDeclaredException(name)
        if descriptor is None:
            descriptor = FakeParameterDescriptor()
        chosen = value
        if not ignore_override and name in self._fake_overrides:
            chosen = self._fake_overrides[name]
            if value is not None and type(chosen) is not type(value):
                raise FakeInvalidParameterTypeException(
                    f"{name}: override {chosen!r} ({type(chosen).__name__}) for a "
                    f"{type(value).__name__} parameter"
                )
        for r in descriptor.floating_point_range:
            tol = 1e-6  # rclpy compares with a small tolerance
            inside = r.from_value - tol <= chosen <= r.to_value + tol
            on_step = r.step == 0.0 or math.isclose(
                round((chosen - r.from_value) / r.step) * r.step, chosen - r.from_value
            )
            if not (inside and on_step):
                raise FakeInvalidParameterValueException(
                    f"{name}: {chosen!r} outside [{r.from_value}, {r.to_value}] step {r.step}"
                )
        self.fake_parameters[name] = (chosen, descriptor)
        return FakeParameter(name, chosen)

    def get_parameter(self, name: str) -> FakeParameter:
        return FakeParameter(name, self.fake_parameters[name][0])

    def create_publisher(
        self, msg_type: type[FakeMessage], topic: str, qos_profile: FakeQoSProfile, **kwargs: Any
    ) -> FakePublisher:
        assert isinstance(qos_profile, FakeQoSProfile), qos_profile
        pub = FakePublisher(msg_type, topic, qos_profile)
        self.fake_publishers.append(pub)
        return pub

    def create_subscription(
        self,
        msg_type: type[FakeMessage],
        topic: str,
        callback: Callable[[Any], None],
        qos_profile: FakeQoSProfile,
        **kwargs: Any,
    ) -> FakeSubscription:
        assert isinstance(qos_profile, FakeQoSProfile), qos_profile
        sub = FakeSubscription(msg_type, topic, callback, qos_profile)
        self.fake_subscriptions.append(sub)
        return sub

    def create_timer(
        self,
        timer_period_sec: float,
        callback: Callable[[], None],
        callback_group: Any = None,
        clock: Any = None,
    ) -> FakeTimer:
        timer = FakeTimer(float(timer_period_sec), callback)
        self.fake_timers.append(timer)
        return timer

    def get_logger(self) -> FakeLogger:
        return self.fake_logger

    def get_clock(self) -> FakeRosClock:
        return self.fake_clock

    def get_name(self) -> str:
        return self.fake_name

    def destroy_node(self) -> None:
        self.fake_destroyed = True

    # -- fake-only helpers --------------------------------------------------------------------

    def fake_subscription(self, topic: str) -> FakeSubscription:
        matches = [s for s in self.fake_subscriptions if s.topic == topic]
        assert len(matches) == 1, f"{len(matches)} subscriptions on {topic}"
        return matches[0]

    def fake_publisher(self, topic: str) -> FakePublisher:
        matches = [p for p in self.fake_publishers if p.topic == topic]
        assert len(matches) == 1, f"{len(matches)} publishers on {topic}"
        return matches[0]


# --------------------------------------------------------------------------------------------
# rclpy's module functions


@dataclass
class FakeRclpyState:
    """What the module functions saw, and what ``spin`` does (``spin_hook(node)``; the default
    returns at once, as a spin whose context was shut down)."""

    init_kwargs: list[dict[str, Any]] = field(default_factory=list)
    spun: list[Any] = field(default_factory=list)
    shutdown_calls: int = 0
    spin_hook: Callable[[Any], None] | None = None
    global_overrides: dict[str, Any] = field(default_factory=dict)
    """Like ``--ros-args -p name:=value``: applies to every node created afterwards."""
    nodes: list[FakeNode] = field(default_factory=list)


STATE = FakeRclpyState()


def _init(*, args: Any = None, context: Any = None, **kwargs: Any) -> None:
    STATE.init_kwargs.append({"args": args, "context": context, **kwargs})


def _spin(node: Any, executor: Any = None) -> None:
    STATE.spun.append(node)
    if STATE.spin_hook is not None:
        STATE.spin_hook(node)


def _shutdown(*, context: Any = None) -> None:
    STATE.shutdown_calls += 1


def _ok(*, context: Any = None) -> bool:
    return STATE.shutdown_calls == 0


def _module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name, f"FAKE {name} for tests (tests/fake_rclpy.py)")
    for key, value in attrs.items():
        setattr(module, key, value)
    return module


def install(monkeypatch: pytest.MonkeyPatch) -> FakeRclpyState:
    """Put the fakes into ``sys.modules`` (undone when the test ends); returns a fresh
    :class:`FakeRclpyState`."""
    state = FakeRclpyState()
    monkeypatch.setattr(sys.modules[__name__], "STATE", state)
    qos = _module(
        "rclpy.qos",
        QoSProfile=FakeQoSProfile,
        ReliabilityPolicy=FakeReliabilityPolicy,
        HistoryPolicy=FakeHistoryPolicy,
        DurabilityPolicy=FakeDurabilityPolicy,
    )
    node = _module("rclpy.node", Node=FakeNode)
    signals = _module("rclpy.signals", SignalHandlerOptions=FakeSignalHandlerOptions)
    parameter = _module("rclpy.parameter", Parameter=FakeParameter)
    rclpy = _module(
        "rclpy",
        init=_init,
        spin=_spin,
        shutdown=_shutdown,
        try_shutdown=_shutdown,
        ok=_ok,
        node=node,
        qos=qos,
        signals=signals,
        parameter=parameter,
    )
    packages: dict[str, dict[str, Any]] = {
        "builtin_interfaces": {"Time": FakeTime},
        "std_msgs": {"Header": FakeHeader, "Bool": FakeBool},
        "geometry_msgs": {"Quaternion": FakeQuaternion, "Vector3": FakeVector3},
        "sensor_msgs": {"JointState": FakeJointState, "Imu": FakeImu},
        "humimic_msgs": {
            "JointCommand": FakeJointCommand,
            "OperatorCommand": FakeOperatorCommand,
            "RuntimeStatus": FakeRuntimeStatus,
        },
        "rcl_interfaces": {
            "ParameterDescriptor": FakeParameterDescriptor,
            "FloatingPointRange": FakeFloatingPointRange,
            "IntegerRange": FakeIntegerRange,
        },
    }
    modules: dict[str, types.ModuleType] = {
        "rclpy": rclpy,
        "rclpy.qos": qos,
        "rclpy.node": node,
        "rclpy.signals": signals,
        "rclpy.parameter": parameter,
    }
    for package, classes in packages.items():
        msg = _module(f"{package}.msg", **classes)
        modules[package] = _module(package, msg=msg)
        modules[f"{package}.msg"] = msg
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    return state
