"""The humimic deploy runtime as a ROS 2 node: a thin rclpy adapter, no logic of its own.

Everything that decides (state machine, safety supervisor, observation terms, the policy) is
:class:`humimic.deploy.runtime.DeployRuntime`. This node only wires ROS 2 topics to the
runtime's ports (:mod:`humimic.deploy.ports`), exactly as
:class:`humimic.deploy.dds_ros2.Ros2Transport` does over raw DDS: the same topic names, message
types and QoS (imported from there), and the same message handling: both use the pieces of
:mod:`humimic.deploy.ros2_ports`, never copies.

======================  ================================  ========================
topic (default)         type, direction                   QoS
======================  ================================  ========================
/joint_states           sensor_msgs/JointState, in        best effort, keep last 5
/imu                    sensor_msgs/Imu, in               best effort, keep last 5
/humimic/joint_command  humimic_msgs/JointCommand, out    best effort, keep last 1
/humimic/operator       humimic_msgs/OperatorCommand, in  reliable, keep last 32
/humimic/status         humimic_msgs/RuntimeStatus, out   reliable, keep last 1,
                                                          transient local
/humimic/estop          std_msgs/Bool, in                 reliable, keep last 32
======================  ================================  ========================

Each name is a parameter (``joint_states_topic``, ``imu_topic``, ``joint_command_topic``,
``operator_topic``, ``status_topic``, ``estop_topic``).

The e-stop topic is the only one the raw-DDS transport lacks (there an e-stop is an
``OperatorCommand`` with ``command = ESTOP``, which this node accepts too): ``data: true``
latches the runtime's e-stop (:meth:`DeployRuntime.estop`), ``data: false`` does nothing (only
an operator ``RESET`` releases it). It has the operator topic's QoS.

Timing: one timer at ``command_rate_hz``. Tick ``k`` runs
:meth:`DeployRuntime.policy_step` first when ``k`` is a multiple of ``R = command_rate_hz ·
control_dt_s`` (the policy rate ``1 / control_dt_s`` comes from the policy metadata and is not a
parameter), then :meth:`DeployRuntime.command_step`, as :func:`humimic.deploy.loop.run_loop`
does. A tick that comes more than one command period late counts as an overrun (the loop's
definition), reported in the status. The runtime's clock is the process's monotonic clock,
which also stamps each arriving JointState and Imu; the published messages' header stamps are
ROS time.

Callbacks only hand a message to the shared pieces (:class:`~humimic.deploy.ros2_ports.StateBuffer`,
:class:`~humimic.deploy.ros2_ports.OperatorDecoder`), plain classes of duck-typed messages that
are tested without ROS. A refused message (unknown or missing joint names, wrong array lengths,
an Imu without orientation) is logged and counted and the state goes stale, so the runtime's
watchdog faults into DAMPING, as over raw DDS. The status is published on a state or fault
change and otherwise every ``status_period_s``
(:class:`~humimic.deploy.ros2_ports.StatusThrottle`).

With ``auto_start`` the node plays the operator as ``humimic deploy`` does
(:class:`humimic.deploy.session.AutoStart`: ``start`` → STAND, then ``start`` → POLICY once the
stand ramp is done, once), beginning when the first complete robot state has arrived.

On shutdown (Ctrl-C, SIGTERM, ``ros2 launch`` stopping) the node latches the e-stop and sends
one damping command before it exits, so a robot that holds the last command it received is left
damped, not stiff.
"""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import rclpy
from humimic_msgs.msg import JointCommand as JointCommandMsg
from humimic_msgs.msg import OperatorCommand
from humimic_msgs.msg import RuntimeStatus as RuntimeStatusMsg
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from sensor_msgs.msg import Imu, JointState
from std_msgs.msg import Bool

from humimic.deploy.clock import Clock, MonotonicClock
from humimic.deploy.commands import JointCommand
from humimic.deploy.dds_ros2 import (
    COMMAND_QOS,
    OPERATOR_QOS,
    STATE_QOS,
    STATUS_PERIOD_S,
    STATUS_QOS,
    Ros2Topics,
)
from humimic.deploy.fsm import FsmConfig
from humimic.deploy.ports import QueuedOperatorInput, RuntimeStatus
from humimic.deploy.ros2_ports import (
    JointNameMatcher,
    OperatorDecoder,
    StateBuffer,
    StatusThrottle,
    joint_command_fields,
    status_fields,
)
from humimic.deploy.ros2_types import QosSpec, ros_topic_to_dds
from humimic.deploy.runtime import DeployRuntime
from humimic.deploy.safety import SafetyConfig
from humimic.deploy.session import AutoStart
from humimic.errors import ConfigError, DeployError, HumimicError
from humimic.robots import get_robot

__all__ = [
    "DEFAULT_ESTOP_TOPIC",
    "NODE_NAME",
    "CommandPublisher",
    "DeployNode",
    "ParamSpec",
    "StatusPublisher",
    "command_ticks_per_policy_step",
    "main",
    "parameter_specs",
    "qos_profile",
]

log = logging.getLogger(__name__)

NODE_NAME = "humimic_deploy"
DEFAULT_ESTOP_TOPIC = "/humimic/estop"


# --------------------------------------------------------------------------------------------
# QoS: the descriptions Ros2Transport's endpoints are built from (humimic.deploy.dds_ros2)


def qos_profile(spec: QosSpec) -> QoSProfile:
    """The rclpy profile of ``spec`` (keep last ``spec.depth``; reliability and durability as
    described), the counterpart of :func:`humimic.deploy.ros2_types.cyclone_qos`."""
    return QoSProfile(
        depth=spec.depth,
        history=HistoryPolicy.KEEP_LAST,
        reliability=ReliabilityPolicy.RELIABLE if spec.reliable else ReliabilityPolicy.BEST_EFFORT,
        durability=(
            DurabilityPolicy.TRANSIENT_LOCAL if spec.transient_local else DurabilityPolicy.VOLATILE
        ),
    )


# --------------------------------------------------------------------------------------------
# parameters


@dataclass(frozen=True)
class ParamSpec:
    """One node parameter: name, default (its type is the parameter's), description, and the
    inclusive range of a numeric one."""

    name: str
    default: str | bool | float
    description: str
    range: tuple[float, float] | None = None


def parameter_specs() -> tuple[ParamSpec, ...]:
    """Every parameter of :class:`DeployNode`. Defaults come from the runtime's own configs
    (:class:`SafetyConfig`, :class:`FsmConfig`) and from :class:`Ros2Topics`."""
    topics = Ros2Topics()
    return (
        ParamSpec(
            "policy",
            "",
            "Policy folder written by `humimic export` (policy.onnx, policy.json, clips/), or "
            "its policy.onnx. Required.",
        ),
        ParamSpec("robot", "g1", "Registered humimic robot; must match the policy's metadata."),
        ParamSpec("clip", "", "Reference clip to track (empty: the policy's first clip)."),
        ParamSpec(
            "auto_start",
            False,
            "Play the operator once the first robot state has arrived: start (stand ramp), then "
            "start the policy when the ramp is done. False: wait for OperatorCommand START.",
        ),
        ParamSpec(
            "command_rate_hz",
            500.0,
            "Rate of joint commands (Hz); an integer multiple of the policy rate, which is "
            "fixed by the policy metadata (1 / control_dt_s).",
            (50.0, 1000.0),
        ),
        ParamSpec(
            "state_timeout_s",
            SafetyConfig().state_timeout_s,
            "A robot state (JointState or Imu) older than this is stale: fault, latched "
            "DAMPING (s).",
            (0.01, 0.5),
        ),
        ParamSpec(
            "stand_ramp_s",
            FsmConfig().stand_ramp_s,
            "Duration of the STAND ramp from the measured pose to the default pose (s).",
            (0.5, 30.0),
        ),
        ParamSpec(
            "status_period_s",
            STATUS_PERIOD_S,
            "RuntimeStatus is published on every state or fault change and otherwise this "
            "often (s).",
            (0.01, 10.0),
        ),
        ParamSpec(
            "allow_extra_joints",
            False,
            "Ignore JointState names that are not policy joints (hands, grippers); false "
            "refuses such messages.",
        ),
        ParamSpec(
            "joint_states_topic", topics.joint_states, "sensor_msgs/JointState in (robot state)."
        ),
        ParamSpec("imu_topic", topics.imu, "sensor_msgs/Imu in (orientation and gyro)."),
        ParamSpec(
            "joint_command_topic", topics.joint_command, "humimic_msgs/JointCommand out (PD)."
        ),
        ParamSpec("operator_topic", topics.operator, "humimic_msgs/OperatorCommand in."),
        ParamSpec("status_topic", topics.status, "humimic_msgs/RuntimeStatus out (latched)."),
        ParamSpec(
            "estop_topic",
            DEFAULT_ESTOP_TOPIC,
            "std_msgs/Bool in: true latches the e-stop (DAMPING until an operator RESET).",
        ),
    )


def command_ticks_per_policy_step(command_rate_hz: float, control_dt_s: float) -> int:
    """``R = command_rate_hz · control_dt_s``, the command ticks per policy step.

    Raises:
        ConfigError: ``R`` is not a positive integer (as :func:`~humimic.deploy.loop.run_loop`
            requires).
    """
    ratio_f = command_rate_hz * control_dt_s
    ratio = round(ratio_f)
    if ratio < 1 or abs(ratio_f - ratio) > 1e-9:
        raise ConfigError(
            f"parameter command_rate_hz: expected an integer multiple of the policy rate "
            f"{1.0 / control_dt_s:g} Hz (fixed by the policy metadata), got {command_rate_hz:g}"
        )
    return ratio


# --------------------------------------------------------------------------------------------
# the ports (rclpy messages out)


class CommandPublisher:
    """The runtime's :class:`~humimic.deploy.ports.CommandSink`: each command goes out as one
    ``humimic_msgs/JointCommand`` with the joint names (policy order), the fields of
    :func:`~humimic.deploy.ros2_ports.joint_command_fields`, as :meth:`Ros2Transport.send`
    writes it.

    Args:
        publisher: has ``publish(msg)``.
        msg_cls: the JointCommand message class.
        joint_names: policy order.
        robot: the robot's name (for the error on a command of the wrong size).
        stamp: returns the header stamp (a ``builtin_interfaces/Time``).
    """

    def __init__(
        self,
        publisher: Any,
        msg_cls: Any,
        joint_names: tuple[str, ...] | list[str],
        robot: str,
        stamp: Callable[[], Any],
    ) -> None:
        self.publisher, self.msg_cls, self.stamp = publisher, msg_cls, stamp
        self.names, self.robot = list(joint_names), robot

    def send(self, command: JointCommand) -> None:
        msg = self.msg_cls(**joint_command_fields(command, self.names, self.robot))
        msg.header.stamp = self.stamp()
        self.publisher.publish(msg)


class StatusPublisher:
    """The runtime's :class:`~humimic.deploy.ports.StatusSink`, with :meth:`Ros2Transport.publish`'s
    rule (:class:`~humimic.deploy.ros2_ports.StatusThrottle`: on a state or fault change, else
    every ``period_s``) and field mapping (:func:`~humimic.deploy.ros2_ports.status_fields`).

    Args:
        publisher: has ``publish(msg)``.
        msg_cls: the RuntimeStatus message class.
        period_s: the heartbeat period (s).
        stamp: returns the header stamp.
    """

    def __init__(
        self, publisher: Any, msg_cls: Any, period_s: float, stamp: Callable[[], Any]
    ) -> None:
        self.publisher, self.msg_cls, self.stamp = publisher, msg_cls, stamp
        self.throttle = StatusThrottle(period_s, "parameter status_period_s")

    def publish(self, status: RuntimeStatus) -> None:
        if not self.throttle.should_publish(status):
            return
        msg = self.msg_cls(**status_fields(status, self.throttle.policy_steps))
        msg.header.stamp = self.stamp()
        self.publisher.publish(msg)


# --------------------------------------------------------------------------------------------
# the node


class DeployNode(Node):
    """The deploy runtime on ROS 2 topics (see the module docstring).

    Args:
        node_name: the node's name.
        clock: the runtime's clock (default: monotonic); tests pass a
            :class:`~humimic.deploy.clock.FakeClock`.
        **node_kwargs: passed to :class:`rclpy.node.Node` (``namespace``,
            ``parameter_overrides``, ...).

    Raises:
        ConfigError: a parameter is missing or out of range (named), or the command rate is not
            a multiple of the policy rate.
        DeployError: the policy does not fit the robot (see :class:`DeployRuntime`).
    """

    def __init__(
        self, node_name: str = NODE_NAME, *, clock: Clock | None = None, **node_kwargs: Any
    ) -> None:
        super().__init__(node_name, **node_kwargs)
        p = {spec.name: self._declare(spec) for spec in parameter_specs()}
        if not p["policy"]:
            raise ConfigError(
                "parameter policy: expected the policy folder written by `humimic export`, "
                "got '' (set it in the YAML or launch with policy:=/path/to/policy)"
            )
        topics = Ros2Topics(
            joint_states=p["joint_states_topic"],
            imu=p["imu_topic"],
            joint_command=p["joint_command_topic"],
            operator=p["operator_topic"],
            status=p["status_topic"],
        )  # checks the names
        try:
            ros_topic_to_dds(p["estop_topic"])
        except DeployError as exc:
            raise ConfigError(f"parameter estop_topic: {exc}") from None
        self.topics, self.estop_topic = topics, str(p["estop_topic"])
        spec = get_robot(p["robot"])

        self.runtime_clock: Clock = MonotonicClock() if clock is None else clock
        logger = self.get_logger()
        matcher = JointNameMatcher(
            spec.joint_names, f"JointState on {topics.joint_states}", p["allow_extra_joints"]
        )
        self.state_buffer = StateBuffer(
            self.runtime_clock, matcher, topics.imu, log_error=logger.error
        )
        self.operator_queue = QueuedOperatorInput()
        self._decoder = OperatorDecoder(
            OperatorCommand, topics.operator, log_warning=logger.warning
        )
        stamp = self._stamp
        self.command_publisher = CommandPublisher(
            self.create_publisher(JointCommandMsg, topics.joint_command, qos_profile(COMMAND_QOS)),
            JointCommandMsg,
            spec.joint_names,
            spec.name,
            stamp,
        )
        self.status_publisher = StatusPublisher(
            self.create_publisher(RuntimeStatusMsg, topics.status, qos_profile(STATUS_QOS)),
            RuntimeStatusMsg,
            p["status_period_s"],
            stamp,
        )
        self.runtime = DeployRuntime(
            p["policy"],
            spec=spec,
            state_source=self.state_buffer,
            command_sink=self.command_publisher,
            clock=self.runtime_clock,
            operator=self.operator_queue,
            status=self.status_publisher,
            safety_config=SafetyConfig(state_timeout_s=p["state_timeout_s"]),
            fsm_config=FsmConfig(stand_ramp_s=p["stand_ramp_s"]),
            clip=p["clip"] or None,
        )
        self._auto = (
            AutoStart(self.runtime, self.operator_queue, p["clip"]) if p["auto_start"] else None
        )
        self.policy_rate_hz = 1.0 / self.runtime.control_dt_s
        self.command_rate_hz = float(p["command_rate_hz"])
        self._ratio = command_ticks_per_policy_step(self.command_rate_hz, self.runtime.control_dt_s)
        self._tick = 0
        self._last_tick_s: float | None = None

        state_qos, operator_qos = qos_profile(STATE_QOS), qos_profile(OPERATOR_QOS)
        buffer = self.state_buffer  # stamps each message with the runtime clock on arrival
        self.create_subscription(JointState, topics.joint_states, buffer.on_joint_state, state_qos)
        self.create_subscription(Imu, topics.imu, buffer.on_imu, state_qos)
        self.create_subscription(OperatorCommand, topics.operator, self._on_operator, operator_qos)
        self.create_subscription(Bool, self.estop_topic, self._on_estop, operator_qos)
        self.timer = self.create_timer(1.0 / self.command_rate_hz, self._on_timer)
        self.get_logger().info(
            f"{self.runtime.folder}: robot {spec.name}, clip {self.runtime.clip_name!r}, "
            f"policy {self.policy_rate_hz:g} Hz (from the policy), commands "
            f"{self.command_rate_hz:g} Hz on {topics.joint_command}; state from "
            f"{topics.joint_states} + {topics.imu}; operator {topics.operator}, e-stop "
            f"{self.estop_topic}; auto_start {bool(p['auto_start'])}; state "
            f"{self.runtime.state.name}"
        )

    def _declare(self, spec: ParamSpec) -> Any:
        descriptor = ParameterDescriptor(description=spec.description, read_only=True)
        if spec.range is not None:
            lo, hi = spec.range
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=lo, to_value=hi, step=0.0)
            ]
        return self.declare_parameter(spec.name, spec.default, descriptor).value

    def _stamp(self) -> Any:
        return self.get_clock().now().to_msg()

    # -- callbacks: hand the message over, nothing else (JointState, Imu: to state_buffer) --------

    def _on_operator(self, msg: Any) -> None:
        event = self._decoder.decode(msg)
        if event is not None:
            self.operator_queue.push(*event)

    def _on_estop(self, msg: Any) -> None:
        if msg.data:
            self.runtime.estop(f"e-stop on {self.estop_topic}")

    def _on_timer(self) -> None:
        now_s = self.runtime_clock.now_s()
        period_s = 1.0 / self.command_rate_hz
        if self._last_tick_s is not None and now_s - self._last_tick_s > 2.0 * period_s:
            self.runtime.note_overruns(1)
        self._last_tick_s = now_s
        if self._tick % self._ratio == 0:
            if self._auto is not None and self.state_buffer.latest() is not None:
                self._auto.policy_step()
            else:
                self.runtime.policy_step()
        self.runtime.command_step()
        self._tick += 1

    # -- shutdown ---------------------------------------------------------------------------------

    def send_damping(self, reason: str = "node shutting down") -> None:
        """Latch the e-stop and send one command now (damping): the last thing a robot that
        holds its last command should receive."""
        self.runtime.estop(reason)
        self.runtime.command_step()


def _raise_keyboard_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(args: list[str] | None = None) -> int:
    """``ros2 run humimic_ros deploy_node --ros-args -p policy:=/path/to/policy``.

    rclpy's own signal handlers are off, so that the context is still valid after Ctrl-C or
    SIGTERM and the final damping command (:meth:`DeployNode.send_damping`) goes out.
    Returns the exit status (1 on a configuration or policy error).
    """
    logging.basicConfig(level=logging.INFO, format="[%(levelname)s] [%(name)s]: %(message)s")
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    node: DeployNode | None = None
    status = 0
    try:
        node = DeployNode()
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except HumimicError as exc:
        log.error("%s", exc)
        status = 1
    finally:
        if node is not None:
            try:
                node.send_damping()
            except Exception as exc:  # noqa: BLE001 - shutting down: report, never mask
                log.error("could not send the final damping command: %s", exc)
            node.destroy_node()
        rclpy.try_shutdown()
    return status


if __name__ == "__main__":
    sys.exit(main())
