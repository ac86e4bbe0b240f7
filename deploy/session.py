"""A deploy session over DDS: the runtime, a transport (ROS 2 or Unitree), an optional rosbag2
recording and the absolute-deadline loop, wired together for ``humimic deploy``.

With ``auto_start`` the session plays the operator: ``start`` (PASSIVE → DAMPING → STAND), then,
once the stand ramp is done, ``start`` again (STAND → POLICY), once. Operator commands from the
ROS 2 topic are honoured as well (an e-stop there latches DAMPING as always).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from humimic.deploy.clock import MonotonicClock
from humimic.deploy.commands import JointCommand
from humimic.deploy.fsm import FsmConfig, State, Transition
from humimic.deploy.loop import LoopStats, run_loop
from humimic.deploy.ports import OperatorEvent, OperatorInput, QueuedOperatorInput
from humimic.deploy.runtime import DeployRuntime, EventRecord
from humimic.deploy.safety import SafetyConfig
from humimic.errors import DeployError
from humimic.policy import load_policy
from humimic.robots import get_robot

__all__ = ["AutoStart", "SessionResult", "run_dds_session"]


class _Operators:
    """Several operator inputs polled as one (code-driven first)."""

    def __init__(self, *inputs: OperatorInput) -> None:
        self.inputs = inputs

    def poll(self) -> list[tuple[OperatorEvent, str]]:
        return [e for i in self.inputs for e in i.poll()]


class AutoStart:
    """The operator played by code: wraps the runtime for a loop (``policy_step``,
    ``command_step``, ``note_overruns``, as :func:`~humimic.deploy.loop.run_loop` calls them).

    Before each policy step it pushes ``start`` into ``queue`` while the runtime is in PASSIVE
    or DAMPING (PASSIVE → DAMPING → STAND), then ``start`` with ``clip`` once the STAND ramp is
    done (STAND → POLICY). Once POLICY has been entered (:attr:`started_policy`), or while a
    fault is latched, it pushes nothing: a fault is never overridden, and a policy that ends is
    not restarted.

    Used by ``humimic deploy`` (:func:`run_dds_session`) and the rclpy node's ``auto_start``.

    Args:
        runtime: the runtime to drive.
        queue: one of the runtime's operator inputs.
        clip: the clip to start (``""``: the runtime's own choice).
    """

    def __init__(self, runtime: DeployRuntime, queue: QueuedOperatorInput, clip: str) -> None:
        self.runtime, self.queue, self.clip = runtime, queue, clip
        self.started_policy = False

    def policy_step(self) -> object:
        """Push the due ``start`` (see the class docstring), then run one policy step."""
        rt = self.runtime
        if not rt.fsm.latched and not self.started_policy:
            if rt.state in (State.PASSIVE, State.DAMPING):
                self.queue.push(OperatorEvent.START)
            elif rt.state is State.STAND and rt.fsm.ramp_done():
                self.queue.push(OperatorEvent.START, self.clip)
        out = rt.policy_step()
        self.started_policy |= rt.state is State.POLICY
        return out

    def command_step(self) -> object:
        return self.runtime.command_step()

    def note_overruns(self, count: int) -> None:
        self.runtime.note_overruns(count)


@dataclass(frozen=True)
class SessionResult:
    """What a session did.

    Attributes:
        stats: loop timing. final_state: the state machine's last state.
        started_policy: POLICY was entered. counters: the runtime's counters.
        bag: the recording (``None`` when not recorded).
        transitions: the state machine's log. events: the operator events and their outcome.
        last_state_stamp_s: arrival time (session clock) of the newest robot state, ``None``
            when none came.
    """

    stats: LoopStats
    final_state: str
    started_policy: bool
    counters: Any
    bag: Path | None
    transitions: tuple[Transition, ...] = ()
    events: tuple[EventRecord, ...] = ()
    last_state_stamp_s: float | None = None


EXIT_DAMPING_S = 0.1
"""How long a session streams damping after its loop ends (best-effort QoS: many copies)."""


def _send_damping(sink: Any, num_joints: int, command_hz: float) -> None:
    """Stream the damping command (kp = 0, kd = 8) for :data:`EXIT_DAMPING_S`: motor drivers
    hold the last command they received, and the last one must not be a stiff target."""
    import time

    damping = JointCommand.damping(num_joints)
    for _ in range(max(1, round(EXIT_DAMPING_S * command_hz))):
        sink.send(damping)
        time.sleep(1.0 / command_hz)


def run_dds_session(
    policy_folder: str | os.PathLike[str],
    transport: str,
    duration_s: float,
    *,
    domain_id: int | None = None,
    interface: str | None = "lo",
    record: str | os.PathLike[str] | None = None,
    auto_start: bool = True,
    clip: str = "",
    command_hz: float = 500.0,
    stand_ramp_s: float = 2.0,
    first_state_timeout_s: float = 5.0,
    safety_config: SafetyConfig | None = None,
    clock: MonotonicClock | None = None,
    keyboard: TextIO | None = None,
    realtime_priority: int | None = None,
) -> SessionResult:
    """Run a policy against a robot (or ``humimic sim-robot``) over ``transport``
    (``"ros2"`` or ``"unitree"``) for ``duration_s`` of wall-clock time.

    ``first_state_timeout_s`` is how long to wait for the first robot state before starting
    (:class:`DeployError` when none comes); once running, the watchdog's limits, including
    its ``SafetyConfig.state_timeout_s`` for a stale state, are in ``safety_config``. Operator
    commands come from ``keyboard`` (a text stream, see :mod:`humimic.deploy.keyboard`) when
    given, and from the ROS 2 operator topic with ``transport="ros2"``; ``auto_start`` plays
    the operator too (:class:`AutoStart`)."""
    from humimic.deploy.dds_ros2 import DdsConfig, Ros2Transport
    from humimic.deploy.recording import (
        RecordingCommandSink,
        RecordingStateSource,
        RecordingStatusSink,
        SessionRecorder,
    )
    from humimic.deploy.unitree import UnitreeTransport

    _, meta, folder = load_policy(policy_folder)
    spec = get_robot(meta.robot)
    clock = clock or MonotonicClock()
    if transport == "ros2":
        dds = DdsConfig(domain_id=0 if domain_id is None else domain_id, interface=interface)
        link: Any = Ros2Transport(spec, dds, clock=clock)
    elif transport == "unitree":
        dds = DdsConfig(domain_id=1 if domain_id is None else domain_id, interface=interface)
        link = UnitreeTransport(spec, dds, clock=clock)
    else:
        raise DeployError(f"transport {transport!r}: expected 'ros2' or 'unitree'")
    recorder = SessionRecorder(record, spec, clock=clock) if record else None
    try:
        link.wait_for_state(first_state_timeout_s)
        state: Any = link
        sink: Any = link
        status: Any = link if transport == "ros2" else None
        if recorder is not None:
            state = RecordingStateSource(link, recorder)
            sink = RecordingCommandSink(link, recorder)
            if status is not None:
                status = RecordingStatusSink(status, recorder)
        queue = QueuedOperatorInput()
        inputs: list[OperatorInput] = [queue]
        if keyboard is not None:
            from humimic.deploy.keyboard import KeyboardOperatorInput

            inputs.append(KeyboardOperatorInput(keyboard))
        if transport == "ros2":
            inputs.append(link)
        operators = _Operators(*inputs)
        runtime = DeployRuntime(
            folder,
            spec=spec,
            state_source=state,
            command_sink=sink,
            clock=clock,
            operator=operators,
            status=status,
            fsm_config=FsmConfig(stand_ramp_s=stand_ramp_s),
            safety_config=safety_config,
            clip=clip or None,
        )
        driver = AutoStart(runtime, queue, clip) if auto_start else runtime
        try:
            stats = run_loop(
                driver,
                clock,
                1.0 / meta.control_dt_s,
                command_hz,
                duration_s,
                realtime_priority=realtime_priority,
            )
        finally:  # the end, Ctrl-C or an error: leave the robot damped, never stiff
            _send_damping(sink, spec.num_joints, command_hz)
        started = any(t.to_state is State.POLICY for t in runtime.fsm.log)
        newest = link.latest()
        result = SessionResult(
            stats,
            runtime.state.value,
            started,
            runtime.counters,
            None,
            transitions=tuple(runtime.fsm.log),
            events=tuple(runtime.events),
            last_state_stamp_s=None if newest is None else newest.stamp_s,
        )
    finally:
        bag = recorder.close() if recorder is not None else None
        link.close()
    return dataclasses.replace(result, bag=bag)
