"""The deploy runtime's ports on ROS 2 messages, independent of how the messages travel.

Two transports put the runtime on ROS 2 topics: :class:`humimic.deploy.dds_ros2.Ros2Transport`
(raw Cyclone DDS, no ROS install) and the rclpy node (``ros2_ws/src/humimic_ros``). Everything
they decide about a message lives here, once, as plain classes and functions of *duck-typed*
messages (anything with the ROS field names: a Cyclone IDL sample, an rclpy message, a
``SimpleNamespace`` in a test); the transports only move messages and call these. Nothing here
imports Cyclone DDS or rclpy.

==============================  ============================================================
piece                           what it does
==============================  ============================================================
:class:`JointNameMatcher`       a message's joint names → indices into policy order
:func:`joint_state_to_policy`   ``sensor_msgs/JointState`` → positions, velocities [J]
:func:`imu_to_quat_gyro`        ``sensor_msgs/Imu`` → orientation ``[w, x, y, z]``, gyro [3]
:func:`joint_command_to_policy` ``humimic_msgs/JointCommand`` → :class:`JointCommand`
:func:`joint_command_fields`    :class:`JointCommand` → ``humimic_msgs/JointCommand`` fields
:class:`StateBuffer`            the runtime's ``StateSource``: newest joints + newest IMU
:class:`OperatorDecoder`        ``humimic_msgs/OperatorCommand`` → operator events
:class:`StatusThrottle`         publish a status on change, else every ``period_s``
:func:`status_fields`           :class:`RuntimeStatus` → ``humimic_msgs/RuntimeStatus`` fields
==============================  ============================================================

State: a :class:`RobotState` combines the newest accepted ``JointState`` (matched by joint *name*
into policy order) with the newest accepted ``Imu`` (ROS stores the quaternion ``x, y, z, w``;
it is reordered to ``wxyz`` once, in :func:`ros_quat_to_wxyz`). Each part is stamped with the
runtime's clock when it arrives; the state's ``stamp_s`` is the *older* of the two, so the
watchdog trips when either stream stops. A refused message (unknown or missing joint names,
arrays of the wrong length, an Imu without orientation) is logged and counted, never raised to
the control loop: the previous state stays and goes stale, so the runtime's watchdog faults
(DAMPING), and :attr:`StateBuffer.last_error` says why.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from humimic.deploy.clock import Clock
from humimic.deploy.commands import FloatArray, JointCommand, RobotState
from humimic.deploy.ports import OperatorEvent, RuntimeStatus
from humimic.errors import ConfigError, DeployError, unknown_name

__all__ = [
    "JointNameMatcher",
    "OperatorDecoder",
    "StateBuffer",
    "StatusThrottle",
    "every_nth",
    "imu_to_quat_gyro",
    "joint_command_fields",
    "joint_command_to_policy",
    "joint_state_to_policy",
    "policy_values",
    "ros_quat_to_wxyz",
    "status_fields",
    "wxyz_to_ros_quat",
]

log = logging.getLogger(__name__)

LogFn = Callable[[str], object]
"""Where a piece reports a refused message: ``log_fn(text)`` (a logger's ``error``/``warning``,
rclpy's ``node.get_logger().error``, ``list.append`` in a test)."""

STREAMS = ("joint_states", "imu")
"""The two state streams a :class:`StateBuffer` combines."""


# --------------------------------------------------------------------------------------------
# small helpers


def every_nth(count: int) -> bool:
    """Whether to log the ``count``-th occurrence of a repeated problem: the 1st, 10th, 100th,
    1000th, then every 10000th (a bad stream at 500 Hz must not flood the log)."""
    return count in (1, 10, 100, 1000) or count % 10000 == 0


def ros_quat_to_wxyz(x: float, y: float, z: float, w: float) -> FloatArray:
    """ROS ``geometry_msgs/Quaternion`` fields (``x, y, z, w``) → humimic's ``[w, x, y, z]``."""
    return np.array([w, x, y, z], dtype=np.float64)


def wxyz_to_ros_quat(quat_wxyz: ArrayLike) -> dict[str, float]:
    """humimic's ``[w, x, y, z]`` → ROS ``geometry_msgs/Quaternion`` fields."""
    w, x, y, z = (float(v) for v in np.asarray(quat_wxyz, dtype=np.float64))
    return {"x": x, "y": y, "z": z, "w": w}


# --------------------------------------------------------------------------------------------
# joint names and per-joint arrays


class JointNameMatcher:
    """Resolves a message's joint names into policy order, once per distinct name list.

    ``indices(names)`` returns ``idx`` [J] with ``values_policy = values_msg[idx]``. Messages
    may list the joints in any order; a policy joint missing from the message, a name listed
    twice, or (unless ``allow_extra``) a name the policy does not know raises
    :class:`DeployError` naming them.

    Args:
        expected: joint names in policy order.
        what: the message described in errors (``"JointState on /joint_states"``).
        allow_extra: ignore names that are not policy joints (hands, grippers, ...).
    """

    def __init__(self, expected: Sequence[str], what: str, allow_extra: bool = False) -> None:
        self.expected = tuple(expected)
        self.what = what
        self.allow_extra = allow_extra
        self._cache: tuple[list[str], np.ndarray] | None = None  # swapped whole: thread-safe

    def indices(self, names: Sequence[str]) -> np.ndarray:
        """``idx`` [J] (intp) such that ``values_msg[idx]`` is in policy order.

        Raises:
            DeployError: a name listed twice, an unknown name (unless ``allow_extra``), or a
                policy joint missing.
        """
        names = list(names)
        cache = self._cache
        if cache is not None and names == cache[0]:
            return cache[1]
        position: dict[str, int] = {}
        for i, name in enumerate(names):
            if name in position:
                raise DeployError(f"{self.what}: joint {name!r} is listed twice")
            position[name] = i
        if not self.allow_extra:
            for name in names:
                if name not in self.expected:
                    raise DeployError(f"{self.what}: {unknown_name('joint', name, self.expected)}")
        missing = [n for n in self.expected if n not in position]
        if missing:
            raise DeployError(
                f"{self.what} lacks {len(missing)} policy joint(s): {', '.join(missing)} "
                f"(it lists: {', '.join(names) or 'nothing'})"
            )
        idx = np.array([position[n] for n in self.expected], dtype=np.intp)
        self._cache = (names, idx)
        return idx


def policy_values(
    msg_values: Sequence[float], idx: np.ndarray, n_names: int, field_name: str, what: str
) -> FloatArray:
    """One per-joint array of a message, in policy order: ``msg_values[idx]`` [J] (float64).

    Args:
        msg_values: the message's array, one entry per name it lists.
        idx: from :meth:`JointNameMatcher.indices`.
        n_names: how many names the message lists.
        field_name, what: for the error (``"velocity"``, ``"JointState on /joint_states"``).

    Raises:
        DeployError: ``msg_values`` does not have ``n_names`` entries.
    """
    values = np.asarray(msg_values, dtype=np.float64)
    if values.shape != (n_names,):
        raise DeployError(
            f"{what}: {field_name} has {values.shape[0]} entries, expected one per name ({n_names})"
        )
    return values[idx]


# --------------------------------------------------------------------------------------------
# message → port data


def joint_state_to_policy(msg: Any, matcher: JointNameMatcher) -> tuple[FloatArray, FloatArray]:
    """A ``sensor_msgs/JointState``'s (``name``, ``position``, ``velocity``) positions (rad)
    and velocities (rad/s) in policy order, [J] each, matched by name.

    Raises:
        DeployError: a name the policy does not know (unless the matcher allows extras), a
            policy joint missing, a name listed twice, or an array of the wrong length.
    """
    idx = matcher.indices(msg.name)
    n, what = len(msg.name), matcher.what
    q = policy_values(msg.position, idx, n, "position", what)
    dq = policy_values(msg.velocity, idx, n, "velocity", what)
    return q, dq


def imu_to_quat_gyro(msg: Any, topic: str) -> tuple[FloatArray, FloatArray]:
    """A ``sensor_msgs/Imu``'s orientation ``[w, x, y, z]`` [4] (reordered once by
    :func:`ros_quat_to_wxyz`) and body-frame angular velocity [3] (rad/s).

    Reads ``orientation`` (``x, y, z, w``), ``orientation_covariance`` and ``angular_velocity``
    (``x, y, z``).

    Raises:
        DeployError: no orientation (``orientation_covariance[0] == -1``, the ROS convention)
            or an orientation that is not a rotation (zero or NaN).
    """
    o, w = msg.orientation, msg.angular_velocity
    quat = ros_quat_to_wxyz(o.x, o.y, o.z, o.w)
    if msg.orientation_covariance[0] == -1.0:
        raise DeployError(
            f"Imu on {topic}: no orientation (orientation_covariance[0] = -1); the policy needs one"
        )
    if not np.linalg.norm(quat) > 1e-6:  # also catches NaN
        raise DeployError(f"Imu on {topic}: orientation {quat.tolist()} is not a rotation")
    return quat, np.array([w.x, w.y, w.z], dtype=np.float64)


def joint_command_to_policy(msg: Any, matcher: JointNameMatcher) -> JointCommand:
    """A ``humimic_msgs/JointCommand`` (``name``, ``position``, ``velocity``, ``effort``,
    ``kp``, ``kd``) as a :class:`JointCommand` in policy order (the robot's side).

    Raises:
        DeployError: as :func:`joint_state_to_policy`.
    """
    idx = matcher.indices(msg.name)
    n, what = len(msg.name), matcher.what
    return JointCommand(
        position_rad=policy_values(msg.position, idx, n, "position", what),
        velocity_rad_s=policy_values(msg.velocity, idx, n, "velocity", what),
        effort_nm=policy_values(msg.effort, idx, n, "effort", what),
        kp=policy_values(msg.kp, idx, n, "kp", what),
        kd=policy_values(msg.kd, idx, n, "kd", what),
    )


def joint_command_fields(
    command: JointCommand, joint_names: Sequence[str], robot: str
) -> dict[str, Any]:
    """The ``humimic_msgs/JointCommand`` fields of ``command`` (all but the header): ``name``
    (``joint_names``, policy order) and ``position``, ``velocity``, ``effort``, ``kp``, ``kd``
    as lists of floats (rclpy refuses numpy arrays in sequence fields).

    Raises:
        DeployError: ``command`` is not for ``len(joint_names)`` joints (``robot`` names whose).
    """
    if command.num_joints != len(joint_names):
        raise DeployError(
            f"JointCommand for {command.num_joints} joints; {robot} has {len(joint_names)}"
        )
    return {
        "name": joint_names,
        "position": command.position_rad.tolist(),
        "velocity": command.velocity_rad_s.tolist(),
        "effort": command.effort_nm.tolist(),
        "kp": command.kp.tolist(),
        "kd": command.kd.tolist(),
    }


# --------------------------------------------------------------------------------------------
# state


class StateBuffer:
    """The runtime's :class:`~humimic.deploy.ports.StateSource`, fed with JointState and Imu
    messages (see the module docstring for how they combine).

    Thread-safe: the ``on_*`` methods may run on any thread (a DDS listener, an rclpy
    executor); :meth:`latest` never blocks longer than a few reference swaps.

    Args:
        clock: the runtime's clock; stamps each message when it arrives.
        matcher: JointState names → policy order (its ``what`` names the topic in errors).
        imu_topic: the Imu topic, named in errors.
        log_error: where refusals are reported (the 1st, 10th, 100th, ... of them, see
            :func:`every_nth`); default: this module's logger.

    Attributes:
        rejected: messages refused on either stream (accepted ones:
            :attr:`joint_states_received`, :attr:`imu_received`).
    """

    def __init__(
        self,
        clock: Clock,
        matcher: JointNameMatcher,
        imu_topic: str,
        *,
        log_error: LogFn | None = None,
    ) -> None:
        self.clock = clock
        self.matcher = matcher
        self.imu_topic = imu_topic
        self._log_error: LogFn = log.error if log_error is None else log_error
        self._lock = threading.Lock()
        # per stream: the newest accepted part (two arrays and the arrival stamp)
        self._parts: dict[str, tuple[FloatArray, FloatArray, float] | None] = dict.fromkeys(STREAMS)
        self._received = dict.fromkeys(STREAMS, 0)
        self._errors: dict[str, str | None] = dict.fromkeys(STREAMS)
        self._state: RobotState | None = None
        self.rejected = 0

    @property
    def joint_states_received(self) -> int:
        """JointState messages accepted."""
        return self._received["joint_states"]

    @property
    def imu_received(self) -> int:
        """Imu messages accepted."""
        return self._received["imu"]

    # -- messages in ----------------------------------------------------------------------

    def on_joint_state(self, msg: Any, stamp_s: float | None = None) -> bool:
        """A ``sensor_msgs/JointState`` arrived (at ``stamp_s``, default now): stored
        (:func:`joint_state_to_policy`), or refused (:meth:`reject`). Returns whether it was
        accepted."""
        return self._receive("joint_states", joint_state_to_policy, msg, self.matcher, stamp_s)

    def on_imu(self, msg: Any, stamp_s: float | None = None) -> bool:
        """A ``sensor_msgs/Imu`` arrived (at ``stamp_s``, default now): stored
        (:func:`imu_to_quat_gyro`), or refused (:meth:`reject`). Returns whether it was
        accepted."""
        return self._receive("imu", imu_to_quat_gyro, msg, self.imu_topic, stamp_s)

    def set_joints(self, q: FloatArray, dq: FloatArray, stamp_s: float | None = None) -> None:
        """Joint positions (rad) and velocities (rad/s) [J], policy order, arrived at
        ``stamp_s`` (runtime clock; default now). Clears the stream's error."""
        self._store("joint_states", q, dq, stamp_s)

    def set_imu(
        self, quat_wxyz: FloatArray, gyro_b_rad_s: FloatArray, stamp_s: float | None = None
    ) -> None:
        """IMU orientation [4] (``wxyz``) and body-frame gyro [3] (rad/s) arrived at
        ``stamp_s`` (runtime clock; default now). Clears the stream's error."""
        self._store("imu", quat_wxyz, gyro_b_rad_s, stamp_s)

    def _receive(
        self,
        stream: str,
        convert: Callable[[Any, Any], tuple[FloatArray, FloatArray]],
        msg: Any,
        context: Any,
        stamp_s: float | None,
    ) -> bool:
        stamp_s = self.clock.now_s() if stamp_s is None else stamp_s
        try:
            a, b = convert(msg, context)
        except DeployError as exc:
            self.reject(stream, str(exc))
            return False
        self._store(stream, a, b, stamp_s)
        return True

    def _store(self, stream: str, a: FloatArray, b: FloatArray, stamp_s: float | None) -> None:
        stamp_s = self.clock.now_s() if stamp_s is None else stamp_s
        with self._lock:
            self._parts[stream] = (a, b, stamp_s)
            self._state = None
            self._errors[stream] = None
            self._received[stream] += 1

    def reject(self, stream: str, reason: str) -> int:
        """A message on ``stream`` (``"joint_states"`` or ``"imu"``) was refused for
        ``reason``: remembered as :attr:`last_error`, counted, and logged (every nth).
        Returns the number refused so far.

        Raises:
            DeployError: an unknown stream (lists the two).
        """
        if stream not in STREAMS:
            raise DeployError(f"StateBuffer.reject: {unknown_name('stream', stream, STREAMS)}")
        with self._lock:
            self._errors[stream] = reason
            self.rejected += 1
            count = self.rejected
        if every_nth(count):
            self._log_error(f"refused message #{count}: {reason}")
        return count

    # -- the port -------------------------------------------------------------------------

    @property
    def last_error(self) -> str | None:
        """Why the newest JointState or Imu was refused; ``None`` once a valid one follows."""
        with self._lock:
            return self._errors["joint_states"] or self._errors["imu"]

    def latest(self) -> RobotState | None:
        """The newest valid state, or ``None`` until both a JointState and an Imu have arrived.

        Never raises: a refused message leaves the previous state in place (it goes stale).
        The same object is returned until something new arrives.
        """
        with self._lock:
            joints, imu = self._parts["joint_states"], self._parts["imu"]
            if self._state is None and joints is not None and imu is not None:
                q, dq, joints_s = joints
                quat, gyro, imu_s = imu
                self._state = RobotState(q, dq, quat, gyro, stamp_s=min(joints_s, imu_s))
            return self._state


# --------------------------------------------------------------------------------------------
# operator


class OperatorDecoder:
    """``humimic_msgs/OperatorCommand`` messages (``command``, ``clip``) → operator events.

    Each command value's event is looked up by name, once: the message's constants are named
    as :class:`OperatorEvent` (``START``, ``STOP``, ``DAMP``, ``ESTOP``, ``RESET``), plus
    ``SELECT_CLIP``. ``START`` carries the message's ``clip``, else the last ``SELECT_CLIP``'s,
    else ``""``; the others carry ``"from <topic>"``. ``SELECT_CLIP`` only remembers the clip.
    An unknown value is logged, counted in :attr:`unknown_commands` and ignored.

    Args:
        constants: has the constants as attributes (the message class: rclpy's, or the
            rosbags type store's).
        topic: the operator topic, for the events' text and the log.
        log_warning: where unknown commands are reported; default this module's logger.

    Raises:
        DeployError: ``constants`` lacks one of the constants (lists the missing ones).
    """

    def __init__(self, constants: Any, topic: str, *, log_warning: LogFn | None = None) -> None:
        names = [e.name for e in OperatorEvent] + ["SELECT_CLIP"]
        missing = [n for n in names if not hasattr(constants, n)]
        if missing:
            raise DeployError(
                f"{constants!r} lacks the OperatorCommand constant(s) {', '.join(missing)} "
                f"(expected: {', '.join(names)})"
            )
        self.events: dict[int, OperatorEvent] = {
            int(getattr(constants, e.name)): e for e in OperatorEvent
        }
        self.select_clip = int(constants.SELECT_CLIP)
        self.topic = topic
        self.selected_clip = ""
        self.unknown_commands = 0
        self._log_warning: LogFn = log.warning if log_warning is None else log_warning

    def decode(self, msg: Any) -> tuple[OperatorEvent, str] | None:
        """The event of one message, or ``None`` (``SELECT_CLIP``, or an unknown command)."""
        command, clip = int(msg.command), str(msg.clip)
        if command == self.select_clip:
            self.selected_clip = clip
            log.info("operator selected clip %r", clip)
            return None
        event = self.events.get(command)
        if event is None:
            self.unknown_commands += 1
            valid = ", ".join(f"{k}={e.name}" for k, e in sorted(self.events.items()))
            self._log_warning(
                f"ignored OperatorCommand on {self.topic}: unknown command {command} (valid: "
                f"{valid}, {self.select_clip}=SELECT_CLIP)"
            )
            return None
        if event is OperatorEvent.START:
            return event, clip or self.selected_clip
        return event, f"from {self.topic}"


# --------------------------------------------------------------------------------------------
# status


class StatusThrottle:
    """When to publish a :class:`RuntimeStatus`: at once when its ``(state, fault)`` changed,
    otherwise when ``period_s`` have passed since the last one published (runtime clock,
    ``status.stamp_s``). The runtime reports once per policy step; publishing each would be
    50 messages a second saying the same thing.

    Args:
        period_s: the heartbeat period (s), finite and > 0.
        name: the setting named in the error (``"Ros2Transport.status_period_s"``).

    Attributes:
        policy_steps: statuses offered in state ``policy`` (published or not).
    """

    def __init__(self, period_s: float, name: str = "StatusThrottle.period_s") -> None:
        if not (math.isfinite(period_s) and period_s > 0):
            raise ConfigError(f"{name}: expected > 0, got {period_s}")
        self.period_s = float(period_s)
        self.policy_steps = 0
        self._last: tuple[str, str] | None = None
        self._last_s = -math.inf

    def should_publish(self, status: RuntimeStatus) -> bool:
        """Offer ``status``; True when it is to be published (then it is the last one)."""
        if status.state.lower() == "policy":
            self.policy_steps += 1
        key = (status.state, status.fault)
        due = status.stamp_s - self._last_s >= self.period_s
        if key == self._last and not due:
            return False
        self._last, self._last_s = key, status.stamp_s
        return True


def status_fields(status: RuntimeStatus, policy_steps: int) -> dict[str, Any]:
    """The ``humimic_msgs/RuntimeStatus`` fields of ``status`` (all but the header).

    ``state`` upper-cased (``"policy"`` → ``"POLICY"``); ``fault``; ``overruns``;
    ``policy_steps`` is the status's attribute of that name when it has one, else
    ``policy_steps`` (:attr:`StatusThrottle.policy_steps`); ``policy_latency_ms`` likewise, else
    NaN (unknown). Counters wrap at 2³² (``uint32`` fields). ``clip``/``clip_time_s`` have no
    field.
    """
    steps = getattr(status, "policy_steps", policy_steps)
    return {
        "state": status.state.upper(),
        "fault": status.fault,
        "policy_steps": int(steps) & 0xFFFFFFFF,
        "overruns": int(status.overruns) & 0xFFFFFFFF,
        "policy_latency_ms": float(getattr(status, "policy_latency_ms", math.nan)),
    }
