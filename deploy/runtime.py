"""The deploy runtime: one policy folder, one robot, behind the ports.

Two entry points, called by a loop (:func:`humimic.deploy.loop.run_loop` in real time, or the
lockstep in-process simulation :func:`humimic.deploy.inproc.run_inproc`):

* :meth:`DeployRuntime.policy_step` at the policy rate (``control_dt_s``, 50 Hz)::

      state = StateSource.latest()
      fault = SafetySupervisor.check_state(state, now)      stale / NaN / fall / e-stop
          → StateMachine.fault (latched DAMPING)            (not in PASSIVE, except e-stop)
      operator events (start [clip], stop, damp, estop, reset)
      POLICY: clip time t ≥ clip end → stop (ramp back to STAND, then hold the default pose)
              else obs = DeployObservation(state, clip, t, a_prev)     (the training terms)
                   a = onnxruntime(obs);  q* = q_default + action_scale ⊙ a;  t += dt
      command = StateMachine.command_for(state, q*) → SafetySupervisor.filter_command
          fatal violation (NaN target = NaN action, e-stop) → fault → damping
      remember the filtered command; publish RuntimeStatus

* :meth:`DeployRuntime.command_step` at the command-stream rate (200-500 Hz): the watchdog
  runs again on the newest state (a stale state, a fall or an e-stop sends damping within one
  command period, and latches), then the last filtered command goes out (damping when
  faulted, passive in PASSIVE). A policy step older than ``policy_timeout_s`` in STAND or
  POLICY is a fault too (the policy thread stalled).

The clip clock starts at 0 on entering POLICY and advances by ``control_dt_s`` per policy
step, only in POLICY; ``last_action`` restarts at 0 (as after a reset in training). Everything
depends only on the injected clock and the ports, so a :class:`~humimic.deploy.clock.FakeClock`
makes it deterministic; latencies are measured with :func:`time.perf_counter` and only
reported.

At start-up the policy folder is checked against the robot (name, joint order, default pose:
:meth:`PolicyMetadata.check_robot`), its clips against the artifact's motion hash, and its
observation terms against what a robot can measure (:class:`DeployObservation`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from humimic.deploy.clock import Clock
from humimic.deploy.commands import FloatArray, JointCommand, RobotState
from humimic.deploy.fsm import FsmConfig, State, StateMachine
from humimic.deploy.observation import DeployObservation
from humimic.deploy.ports import (
    CommandSink,
    OperatorEvent,
    OperatorInput,
    QueuedOperatorInput,
    RuntimeStatus,
    StateSource,
    StatusSink,
)
from humimic.deploy.safety import (
    Fault,
    FaultKind,
    SafetyConfig,
    SafetySupervisor,
    Violation,
    first_fault,
)
from humimic.envs.motion_library import MotionLibrary
from humimic.errors import ConfigError, DeployError, HumimicError, unknown_name
from humimic.motion import Motion
from humimic.policy import OnnxPolicy, PolicyMetadata, load_policy
from humimic.robots import get_robot
from humimic.robots.spec import RobotSpec

__all__ = ["DeployRuntime", "EventRecord", "RuntimeCounters", "load_clip_library"]

log = logging.getLogger(__name__)

_CLIP_END_TOL_S = 1e-9


@dataclass
class RuntimeCounters:
    """What the runtime has done so far.

    Attributes:
        policy_steps: :meth:`DeployRuntime.policy_step` calls.
        inferences: policy steps that ran the network (POLICY state).
        command_steps: :meth:`DeployRuntime.command_step` calls (commands sent).
        overruns: missed loop deadlines (counted by the loop, see :meth:`note_overruns`).
        faults: faults that latched DAMPING.
        clamped: corrections by the safety filter (position, rate, torque), all joints.
        last_policy_latency_s: wall time of the latest policy step (s).
        max_policy_latency_s: the largest so far (s).
        joint_pos_err_sum_rad: sum over inferences of the mean over joints of ``|q − q̂|``,
            the measured joints against the reference at the clip time the policy used
            (see :attr:`mean_joint_pos_err_rad`).
    """

    policy_steps: int = 0
    inferences: int = 0
    command_steps: int = 0
    overruns: int = 0
    faults: int = 0
    clamped: int = 0
    last_policy_latency_s: float = 0.0
    max_policy_latency_s: float = 0.0
    joint_pos_err_sum_rad: float = 0.0

    @property
    def mean_joint_pos_err_rad(self) -> float:
        """Mean joint tracking error over the inferences so far (rad; NaN before any)."""
        return self.joint_pos_err_sum_rad / self.inferences if self.inferences else math.nan


@dataclass(frozen=True)
class EventRecord:
    """One operator event and what it did."""

    time_s: float
    event: OperatorEvent
    arg: str
    accepted: bool
    reason: str


def load_clip_library(folder: Path, meta: PolicyMetadata, spec: RobotSpec) -> MotionLibrary:
    """The policy folder's ``clips/`` as a :class:`MotionLibrary` named as in training.

    Raises:
        DeployError: a clip file is missing or invalid.
    """
    motions = []
    for name in meta.clip_files:
        path = folder / "clips" / name
        try:
            motions.append(Motion.load(path, spec))
        except HumimicError as exc:
            raise DeployError(f"policy folder {folder}: clip {name}: {exc}") from None
    return MotionLibrary(motions, spec, clip_names=meta.clip_names)


class DeployRuntime:
    """A policy folder running on a robot through the ports (see the module docstring).

    Args:
        policy_folder: what ``humimic export`` wrote (``policy.onnx``, ``policy.json``,
            ``clips/``).
        spec: the robot (default: the one named in the policy metadata).
        state_source, command_sink: the robot's ports.
        clock: time of the watchdog, the STAND ramp and the status (state stamps use it too).
        operator: operator events (default: a :class:`QueuedOperatorInput`, see
            :attr:`operator`).
        status: where a :class:`RuntimeStatus` goes after each policy step (optional).
        safety_config, fsm_config: thresholds and ramp.
        clip: the reference clip to track (default: the first); ``start`` events may name
            another one.
        policy_timeout_s: in STAND or POLICY, a policy step older than this is a fault.

    Raises:
        DeployError: the policy does not fit the robot (robot, joint order, default pose),
            its clips do not match its hash, or its observation needs unmeasurable state.
    """

    def __init__(
        self,
        policy_folder: str | os.PathLike[str],
        *,
        spec: RobotSpec | None = None,
        state_source: StateSource,
        command_sink: CommandSink,
        clock: Clock,
        operator: OperatorInput | None = None,
        status: StatusSink | None = None,
        safety_config: SafetyConfig | None = None,
        fsm_config: FsmConfig | None = None,
        clip: str | None = None,
        policy_timeout_s: float = 0.1,
    ) -> None:
        policy, meta, folder = load_policy(policy_folder)
        spec = spec if spec is not None else get_robot(meta.robot)
        meta.check_robot(spec)
        if not (math.isfinite(policy_timeout_s) and policy_timeout_s > 0):
            raise ConfigError(f"policy_timeout_s: expected > 0, got {policy_timeout_s}")
        self.policy: OnnxPolicy = policy
        self.meta, self.folder, self.spec = meta, folder, spec
        self.library = load_clip_library(folder, meta, spec)
        self.observation = DeployObservation(meta, spec, self.library)
        self.state_source, self.command_sink, self.clock = state_source, command_sink, clock
        self.operator: OperatorInput = operator if operator is not None else QueuedOperatorInput()
        self.status_sink = status
        self.supervisor = SafetySupervisor(spec, safety_config)
        self.fsm = StateMachine(spec, clock, fsm_config)
        self.control_dt_s = float(meta.control_dt_s)
        self.policy_timeout_s = float(policy_timeout_s)
        self.counters = RuntimeCounters()
        self.events: list[EventRecord] = []

        j = spec.num_joints
        self._default_pos = np.asarray(meta.default_joint_pos_rad, dtype=np.float64)
        self._action_scale = np.asarray(meta.action_scale_rad, dtype=np.float64)
        self._kp = np.asarray(meta.kp_nm_per_rad, dtype=np.float64)
        self._kd = np.asarray(meta.kd_nm_s_per_rad, dtype=np.float64)
        # the state machine's POLICY command uses the spec's gains; the policy was trained with
        # the artifact's: use those when they differ
        self._override_gains = not (
            np.allclose(self._kp, spec.kp_nm_per_rad, rtol=1e-9, atol=0.0)
            and np.allclose(self._kd, spec.kd_nm_s_per_rad, rtol=1e-9, atol=0.0)
        )
        if self._override_gains:
            log.warning("policy kp/kd differ from robot %s's; using the policy's", spec.name)

        self.clip_id = self.library.clip_id(clip) if clip else 0
        self._clip_step = 0  # policy steps run in POLICY: clip time = _clip_step · dt
        self.last_action: np.ndarray = np.zeros(j, dtype=np.float32)  # raw network output
        self.last_target_rad: FloatArray | None = None
        self.last_obs: np.ndarray | None = None
        self.last_clip_time_s: float | None = None
        self.last_violations: list[Violation] = []
        self.last_state: RobotState | None = None
        self.fault_text = ""
        self._command: JointCommand = JointCommand.passive(j)
        self._last_policy_step_s: float | None = None
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the observation and the network once, so the first POLICY step does not pay
        for first-call allocations (torch, onnxruntime: several ms)."""
        upright = RobotState(
            joint_pos_rad=self._default_pos,
            joint_vel_rad_s=np.zeros_like(self._default_pos),
            imu_quat_wxyz=np.array([1.0, 0.0, 0.0, 0.0]),
            gyro_b_rad_s=np.zeros(3),
            stamp_s=self.clock.now_s(),
        )
        for _ in range(3):
            action = self.policy(self.observation(upright, self.clip_id, 0.0, self.last_action))
        if not np.isfinite(action).all():
            log.warning("policy outputs non-finite actions for the default pose")

    # -- queries ---------------------------------------------------------------------------------
    @property
    def state(self) -> State:
        """The state machine's state."""
        return self.fsm.state

    @property
    def clip_name(self) -> str:
        return self.library.clip_names[self.clip_id]

    @property
    def clip_time_s(self) -> float:
        """Time of the reference the next POLICY step will use (s)."""
        return self._clip_step * self.control_dt_s

    @property
    def clip_duration_s(self) -> float:
        return self.observation.clip_duration_s(self.clip_id)

    @property
    def command(self) -> JointCommand:
        """The command :meth:`command_step` sends while no fault is active."""
        return self._command

    def note_overruns(self, count: int) -> None:
        """Called by the loop when it skipped ``count`` missed deadlines."""
        self.counters.overruns += count

    def estop(self, reason: str = "operator e-stop") -> None:
        """Latch the e-stop now (safe from any thread): the next :meth:`command_step` sends
        damping and latches the state machine. Only an operator ``reset`` releases it."""
        self.supervisor.estop(reason)

    # -- the policy rate ---------------------------------------------------------------------------
    def policy_step(self) -> JointCommand:
        """One policy period (see the module docstring); returns the command to stream."""
        t0 = time.perf_counter()
        now = self.clock.now_s()
        state = self.state_source.latest()
        self.last_state = state
        self.counters.policy_steps += 1
        self._last_policy_step_s = now
        fault = self._watchdog(state, now)
        self._handle_events(state, fault, now)
        self.last_violations = []
        self.last_clip_time_s = None

        target: FloatArray | None = None
        if self.fsm.state is State.POLICY and state is not None:
            if self.clip_time_s >= self.clip_duration_s - _CLIP_END_TOL_S:
                result = self.fsm.stop(state)
                self._record(now, OperatorEvent.STOP, "clip end", result.accepted, result.reason)
            else:
                target = self._infer(state)

        if self.fsm.state in (State.STAND, State.POLICY) and state is not None:
            cmd = self.fsm.command_for(state, target)
            if target is not None and self._override_gains:
                cmd = dataclasses.replace(cmd, kp=self._kp, kd=self._kd)
            filtered, violations = self.supervisor.filter_command(cmd, state, self.control_dt_s)
            self.last_violations = violations
            fatal = first_fault(violations)
            if fatal is not None:
                self._fault(fatal)
                filtered = self.fsm.command_for()
            else:
                self.counters.clamped += len(violations)
            self._command = filtered
        else:
            self._command = self.fsm.command_for()

        if self.status_sink is not None:
            self.status_sink.publish(self.status(now))
        latency = time.perf_counter() - t0
        self.counters.last_policy_latency_s = latency
        self.counters.max_policy_latency_s = max(self.counters.max_policy_latency_s, latency)
        return self._command

    def _infer(self, state: RobotState) -> FloatArray:
        """Observation → network → joint targets; advances the clip clock."""
        t = self.clip_time_s
        obs = self.observation(state, self.clip_id, t, self.last_action)
        action = self.policy(obs)[0]
        ref, _ = self.observation.reference(self.clip_id, t)
        ref_q = ref.joint_pos[0].numpy()
        self.counters.joint_pos_err_sum_rad += float(np.abs(state.joint_pos_rad - ref_q).mean())
        self.last_obs = obs
        self.last_action = action
        self.last_clip_time_s = t
        self._clip_step += 1
        self.counters.inferences += 1
        target = self._default_pos + self._action_scale * action.astype(np.float64)
        self.last_target_rad = target
        return target

    # -- the command rate --------------------------------------------------------------------------
    def command_step(self) -> JointCommand:
        """Re-check the newest state, then send the current command; returns what was sent."""
        now = self.clock.now_s()
        state = self.state_source.latest()
        self._watchdog(state, now)
        if (
            self.fsm.state in (State.STAND, State.POLICY)
            and self._last_policy_step_s is not None
            and now - self._last_policy_step_s > self.policy_timeout_s
        ):
            age_ms = (now - self._last_policy_step_s) * 1e3
            self._fault(
                f"policy step late: last one {age_ms:.1f} ms ago "
                f"(limit {self.policy_timeout_s * 1e3:.1f} ms)"
            )
        if self.fsm.state in (State.PASSIVE, State.DAMPING):
            cmd = self.fsm.command_for()
        else:
            cmd = self._command
        self.command_sink.send(cmd)
        self.counters.command_steps += 1
        return cmd

    # -- status ------------------------------------------------------------------------------------
    def status(self, now_s: float | None = None) -> RuntimeStatus:
        """The runtime's status now."""
        clip_time = self.last_clip_time_s if self.last_clip_time_s is not None else 0.0
        return RuntimeStatus(
            stamp_s=self.clock.now_s() if now_s is None else now_s,
            state=self.fsm.state.value,
            fault=self.fault_text if self.fsm.latched else "",
            clip=self.clip_name,
            clip_time_s=clip_time,
            overruns=self.counters.overruns,
        )

    # -- internals ---------------------------------------------------------------------------------
    def _watchdog(self, state: RobotState | None, now: float) -> Fault | None:
        """``check_state``; a fault latches DAMPING (in PASSIVE only an e-stop does: motors
        are off, and a robot not yet streaming must not need a reset)."""
        fault = self.supervisor.check_state(state, now)
        in_passive = self.fsm.state is State.PASSIVE
        if fault is not None and (not in_passive or fault.kind is FaultKind.ESTOP):
            self._fault(fault)
        return fault

    def _fault(self, reason: Fault | str) -> None:
        if self.fsm.latched:
            return
        result = self.fsm.fault(reason)
        if result.accepted:
            self.counters.faults += 1
            self.fault_text = str(reason)
            log.warning("deploy fault → DAMPING (latched): %s", reason)

    def _handle_events(self, state: RobotState | None, fault: Fault | None, now: float) -> None:
        for event, arg in self.operator.poll():
            accepted, reason = self._apply_event(event, arg, state, fault, now)
            self._record(now, event, arg, accepted, reason)

    def _record(self, now: float, event: OperatorEvent, arg: str, ok: bool, reason: str) -> None:
        self.events.append(EventRecord(now, event, arg, ok, reason))
        log.log(logging.INFO if ok else logging.WARNING, "%s %r: %s", event.value, arg, reason)

    def _apply_event(
        self,
        event: OperatorEvent,
        arg: str,
        state: RobotState | None,
        fault: Fault | None,
        now: float,
    ) -> tuple[bool, str]:
        fsm = self.fsm
        if event is OperatorEvent.ESTOP:
            reason = arg or "operator e-stop"
            self.supervisor.estop(reason)
            if not fsm.latched:
                self.counters.faults += 1
                self.fault_text = f"e-stop: {reason}"
            result = fsm.estop(reason)
            return True, result.reason if result.accepted else "e-stop latched (already damping)"
        if event is OperatorEvent.DAMP:
            result = fsm.damp(arg or "operator damp")
            if result.accepted:
                self.fault_text = result.reason
            return result.accepted, result.reason
        if event is OperatorEvent.RESET:
            self.supervisor.clear_estop()
            current = self.supervisor.check_state(state, now)
            result = fsm.reset(current)
            if result.accepted:
                self.fault_text = ""
                self.supervisor.reset_rate_limiter()
            return result.accepted, result.reason
        if event is OperatorEvent.STOP:
            result = fsm.stop(state)
            return result.accepted, result.reason
        # START
        if fault is not None:
            return False, f"start refused: {fault}"
        if arg and arg != self.clip_name:
            if fsm.state is State.POLICY:
                return False, f"start {arg!r}: cannot change clip in POLICY (stop first)"
            if arg not in self.library.clip_names:
                return False, "start: " + unknown_name("clip", arg, self.library.clip_names)
            self.clip_id = self.library.clip_id(arg)
        result = fsm.start(state)
        if result.accepted and result.state is State.POLICY:
            self._clip_step = 0
            self.last_action = np.zeros(self.spec.num_joints, dtype=np.float32)
        return result.accepted, result.reason
