"""Deploy runtime speed: policy step latency and real-time loop jitter, on one CPU core.

* policy step: :meth:`DeployRuntime.policy_step` in POLICY (state read, watchdog,
  observation with the training terms, onnxruntime, targets, state machine, safety filter),
  and its parts measured alone, p50/p99/max over ``--steps`` steps;
* loop: :func:`run_loop` at 50 Hz policy / 500 Hz commands on the monotonic clock for
  ``--loop-seconds``, with the runtime doing real work, period jitter and wake-up lateness;
  then the same loop with no-op steps (``--baseline-seconds``): the floor the OS scheduler
  sets on this machine (a loaded machine shows its jitter there too).

Targets: policy step p99 ≤ 1 ms, period jitter p99 ≤ 0.5 ms.

The policy is ``--policy`` or an untrained 256-128-128 actor (same size as training's) on the
embedded keyframe clip; states come from a source that restamps a fixed upright pose with the
runtime's clock, so the runtime stays in POLICY (it restarts the clip when it ends).

Run: python benchmarks/deploy_latency.py [--steps 5000] [--loop-seconds 20] [--policy DIR]
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

from humimic.cli import default_clip_path
from humimic.deploy.clock import Clock, FakeClock, MonotonicClock
from humimic.deploy.commands import JointCommand, RobotState
from humimic.deploy.fsm import FsmConfig, State
from humimic.deploy.inproc import write_untrained_policy
from humimic.deploy.loop import realtime_scheduling, run_loop
from humimic.deploy.ports import OperatorEvent, QueuedOperatorInput
from humimic.deploy.runtime import DeployRuntime
from humimic.policy import load_policy
from humimic.retarget.keyframes import load_keyframes


class PoseSource:
    """A robot standing in a slightly perturbed default pose, stamped with ``clock``."""

    def __init__(self, q: np.ndarray, clock: Clock) -> None:
        rng = np.random.default_rng(0)
        self.q = q + 0.02 * rng.standard_normal(q.shape)
        self.dq = 0.1 * rng.standard_normal(q.shape)
        quat = np.array([0.999, 0.02, -0.03, 0.01])
        self.quat = quat / np.linalg.norm(quat)
        self.gyro = np.array([0.05, -0.02, 0.01])
        self.clock = clock

    def latest(self) -> RobotState:
        return RobotState(self.q, self.dq, self.quat, self.gyro, self.clock.now_s())


class NullSink:
    def send(self, command: JointCommand) -> None:
        pass


class AutoStart:
    """Wraps the runtime for the loop: sends ``start`` whenever it is not in POLICY."""

    def __init__(self, runtime: DeployRuntime, operator: QueuedOperatorInput) -> None:
        self.runtime, self.operator = runtime, operator

    def policy_step(self) -> JointCommand:
        rt = self.runtime
        if rt.state in (State.PASSIVE, State.DAMPING) or (
            rt.state is State.STAND and rt.fsm.ramp_done()
        ):
            self.operator.push(OperatorEvent.START)
        return rt.policy_step()

    def command_step(self) -> JointCommand:
        return self.runtime.command_step()

    def note_overruns(self, count: int) -> None:
        self.runtime.note_overruns(count)


def make_runtime(policy: Path, clock: Clock) -> tuple[AutoStart, PoseSource]:
    operator = QueuedOperatorInput()
    _, meta, _ = load_policy(policy)
    source = PoseSource(np.asarray(meta.default_joint_pos_rad), clock)
    rt = DeployRuntime(
        policy,
        state_source=source,
        command_sink=NullSink(),
        clock=clock,
        operator=operator,
        fsm_config=FsmConfig(stand_ramp_s=0.02),
    )
    return AutoStart(rt, operator), source


def quantiles_us(samples_s: list[float]) -> tuple[float, float, float]:
    a = np.asarray(samples_s) * 1e6
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.max())


def policy_step_latency(policy: Path, steps: int) -> dict[str, tuple[float, float, float]]:
    """Latencies of the policy step and its parts (µs), FakeClock at 50 Hz."""
    clock = FakeClock(0.0)
    auto, source = make_runtime(policy, clock)
    rt = auto.runtime
    dt = rt.control_dt_s
    full: list[float] = []
    while len(full) < steps:
        t0 = time.perf_counter()
        auto.policy_step()
        elapsed = time.perf_counter() - t0
        if rt.last_clip_time_s is not None:  # the network ran
            full.append(elapsed)
        rt.command_step()
        clock.advance(dt)

    state = source.latest()
    obs_t, onnx_t, sup_t = [], [], []
    action = np.zeros(rt.spec.num_joints, dtype=np.float32)
    cmd = JointCommand.pd(rt.meta.default_joint_pos_rad, rt.meta.kp_nm_per_rad, 1.0)
    for k in range(steps):
        t0 = time.perf_counter()
        obs = rt.observation(state, rt.clip_id, (k % 200) * dt, action)
        t1 = time.perf_counter()
        rt.policy(obs)
        t2 = time.perf_counter()
        rt.supervisor.check_state(state, state.stamp_s)
        rt.supervisor.filter_command(cmd, state, dt)
        t3 = time.perf_counter()
        obs_t.append(t1 - t0)
        onnx_t.append(t2 - t1)
        sup_t.append(t3 - t2)
    return {
        "policy_step (all)": quantiles_us(full),
        "  observation": quantiles_us(obs_t),
        "  onnxruntime": quantiles_us(onnx_t),
        "  supervisor": quantiles_us(sup_t),
    }


class NoOp:
    """Steps that do nothing: the loop's timing floor on this machine (OS wake-ups)."""

    def policy_step(self) -> None:
        pass

    def command_step(self) -> None:
        pass

    def note_overruns(self, count: int) -> None:
        pass


def loop_jitter(
    policy: Path, seconds: float, baseline_seconds: float, rt_priority: int | None
) -> tuple[dict[str, tuple[float, float, float]], str]:
    clock = MonotonicClock()
    auto, _ = make_runtime(policy, clock)
    stats = run_loop(auto, clock, 50.0, 500.0, duration_s=seconds, realtime_priority=rt_priority)
    floor = run_loop(
        NoOp(), clock, 50.0, 500.0, duration_s=baseline_seconds, realtime_priority=rt_priority
    )
    rows = {
        "loop period jitter": (stats.jitter_p50_s, stats.jitter_p99_s, stats.jitter_max_s),
        "loop wake-up late": (stats.late_p50_s, stats.late_p99_s, stats.late_max_s),
        "no-op loop jitter": (floor.jitter_p50_s, floor.jitter_p99_s, floor.jitter_max_s),
    }
    rows = {name: (a * 1e6, b * 1e6, c * 1e6) for name, (a, b, c) in rows.items()}
    counts = (
        f"{stats.policy_steps} policy steps, {stats.command_steps} command steps, "
        f"{stats.overruns} overruns, {auto.runtime.counters.faults} faults"
    )
    return rows, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5000, help="policy steps to time")
    parser.add_argument("--loop-seconds", type=float, default=20.0, help="run_loop duration (s)")
    parser.add_argument(
        "--baseline-seconds", type=float, default=5.0, help="no-op loop duration (s)"
    )
    parser.add_argument("--policy", type=Path, default=None, help="policy folder")
    parser.add_argument(
        "--rt-priority",
        type=int,
        default=None,
        help="run everything under SCHED_FIFO at this priority (1-99; needs CAP_SYS_NICE)",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(1)

    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy
        if policy is None:
            clip = load_keyframes(default_clip_path())
            policy = write_untrained_policy(
                Path(tmp) / "policy", [clip], hidden_dims=(256, 128, 128), zero_output=False
            )
        with realtime_scheduling(args.rt_priority) as realtime:
            rows = policy_step_latency(policy, args.steps)
        loop_rows, counts = loop_jitter(
            policy, args.loop_seconds, args.baseline_seconds, args.rt_priority
        )

    sched = f"SCHED_FIFO priority {args.rt_priority}" if realtime else "normal (SCHED_OTHER)"
    print(f"scheduling: {sched}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    print(f"{'measurement':<22} {'p50 µs':>9} {'p99 µs':>9} {'max µs':>9}   target")
    print("-" * 64)
    targets = {"policy_step (all)": "p99 ≤ 1000", "loop period jitter": "p99 ≤ 500"}
    for name, (p50, p99, pmax) in {**rows, **loop_rows}.items():
        print(f"{name:<22} {p50:>9.1f} {p99:>9.1f} {pmax:>9.1f}   {targets.get(name, '')}")
    print(f"({args.steps} policy steps timed; loop {args.loop_seconds:g} s: {counts})")


if __name__ == "__main__":
    main()
