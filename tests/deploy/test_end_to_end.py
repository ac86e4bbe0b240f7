"""End to end on loopback: ``humimic sim-robot`` in its own process, the deploy runtime in this
one, talking ROS 2 DDS (``/joint_states``, ``/imu`` → ``/humimic/joint_command``) or Unitree's
``rt/lowstate`` → ``rt/lowcmd``, each on a test-owned DDS domain pinned to ``lo``.

The shipped policy (``humimic/data/policy``, the embedded wave_squat clip) runs its whole clip
(PASSIVE → DAMPING → STAND ramp → POLICY → back to STAND), then the test kills the sim robot with
SIGKILL: the runtime must send damping within 50 ms of the last state it received, and latch.
The same policy run in-process (lockstep, no DDS) must track the clip as well as over DDS
(sim-to-sim check: the mean joint tracking errors agree within the tolerance stated below).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from humimic.deploy.clock import MonotonicClock
from humimic.deploy.fsm import State
from humimic.deploy.inproc import run_inproc
from humimic.deploy.session import SessionResult, run_dds_session
from humimic.policy import load_policy

POLICY = Path(__file__).resolve().parents[2] / "humimic" / "data" / "policy"
ROS2_DOMAIN_ID = 91
UNITREE_DOMAIN_ID = 92
STAND_RAMP_S = 2.0
# kill after: discovery (≤ 1 s) + ramp (2 s) + the clip (4.6 s) + back to STAND, with margin
KILL_AFTER_S = 9.5
SESSION_S = 10.5
# sim-to-sim: the DDS run adds transport latency (≤ a few ms of a 20 ms step) and the sim
# robot's 1 kHz physics against training's 200 Hz; the mean joint errors of the two runs may
# differ by this much (rad, ~1.7°) or 35 % of the in-process error, whichever is larger.
SIM_TO_SIM_ABS_RAD = 0.03
SIM_TO_SIM_REL = 0.35


def _sim_robot(interface: str, domain: int, log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    cmd = [
        sys.executable,
        "-m",
        "humimic.deploy.sim_robot",
        f"--interface={interface}",
        f"--domain={domain}",
        "--network=lo",
        "--duration=60",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def ros2_sim(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _sim_robot("ros2", ROS2_DOMAIN_ID, tmp_path / "sim.log")


@pytest.fixture
def unitree_sim(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    yield from _sim_robot("unitree", UNITREE_DOMAIN_ID, tmp_path / "sim.log")


@pytest.fixture(scope="module")
def inproc_joint_err_rad() -> float:
    """Mean joint tracking error of the same policy and clip, in-process (lockstep)."""
    from humimic.deploy.fsm import FsmConfig

    res = run_inproc(POLICY, 9.0, fsm_config=FsmConfig(stand_ramp_s=STAND_RAMP_S))
    s = res.summary()
    assert s["faults"] == 0 and s["final_state"] == "stand", s
    return float(s["joint_pos_err_rad_mean"])


def _run_and_kill(
    proc: subprocess.Popen[bytes], transport: str, domain: int, bag: Path | None
) -> tuple[SessionResult, float]:
    """A deploy session; the sim robot gets SIGKILL ``KILL_AFTER_S`` into it. Returns the
    result and the kill time on the session's clock."""
    clock = MonotonicClock()
    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(clock.now_s())
        proc.kill()

    t0 = clock.now_s()
    timer = threading.Timer(KILL_AFTER_S, kill)
    timer.start()
    try:
        res = run_dds_session(
            POLICY,
            transport,
            SESSION_S - (clock.now_s() - t0),
            domain_id=domain,
            interface="lo",
            record=bag,
            stand_ramp_s=STAND_RAMP_S,
            first_state_timeout_s=20.0,  # the sim robot's start-up: imports, MuJoCo, discovery
            clock=clock,
        )
    finally:
        timer.cancel()
    assert killed_at, "the session ended before the kill"
    return res, killed_at[0]


def _check_session(res: SessionResult, killed_at_s: float, clip_steps: int) -> None:
    moves = [(t.from_state, t.to_state, t.reason) for t in res.transitions]
    assert res.started_policy, moves
    # the policy ran the whole clip and handed back to STAND, with no fault before the kill
    assert res.counters.inferences == clip_steps, moves
    assert (State.POLICY, State.STAND) in [(a, b) for a, b, _ in moves], moves
    # killing the robot: the one fault, a stale state after the kill, damping within 50 ms of
    # the last state, latched to the end
    latches = [t for t in res.transitions if t.reason.startswith("fault:")]
    assert len(latches) == 1 and "stale_state" in latches[0].reason, moves
    assert latches[0].time_s > killed_at_s, moves
    assert res.final_state == "damping"
    latch = latches
    assert res.last_state_stamp_s is not None and res.last_state_stamp_s <= killed_at_s + 0.01
    delay_s = latch[0].time_s - res.last_state_stamp_s
    assert 0.0 < delay_s <= 0.050, f"damping {delay_s * 1e3:.1f} ms after the last state"
    assert res.counters.faults == 1


def _clip_steps() -> int:
    _, meta, folder = load_policy(POLICY)
    from humimic.deploy.runtime import load_clip_library
    from humimic.robots import get_robot

    lib = load_clip_library(folder, meta, get_robot(meta.robot))
    # POLICY steps at t = k·dt for t < duration (see DeployRuntime.policy_step)
    return int(-(-float(lib.duration_s[0]) // meta.control_dt_s))


def test_ros2_dds_end_to_end_kill_and_sim_to_sim(ros2_sim, tmp_path, inproc_joint_err_rad):
    from rosbags.highlevel import AnyReader

    bag = tmp_path / "bag"
    res, killed_at = _run_and_kill(ros2_sim, "ros2", ROS2_DOMAIN_ID, bag)
    _check_session(res, killed_at, _clip_steps())

    # sim-to-sim: the same policy tracks the clip as well over DDS as in-process
    dds_err = res.counters.mean_joint_pos_err_rad
    tol = max(SIM_TO_SIM_ABS_RAD, SIM_TO_SIM_REL * inproc_joint_err_rad)
    assert abs(dds_err - inproc_joint_err_rad) <= tol, (dds_err, inproc_joint_err_rad)

    # the rosbag2 holds the state and the command streams, readable by rosbags
    assert res.bag is not None and res.bag.exists()
    with AnyReader([res.bag]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
    assert counts.get("/joint_states", 0) > 2000, counts  # ≥ 4 s of a 500 Hz stream
    assert counts.get("/humimic/joint_command", 0) > 2000, counts


def test_unitree_end_to_end_kill(unitree_sim, inproc_joint_err_rad):
    res, killed_at = _run_and_kill(unitree_sim, "unitree", UNITREE_DOMAIN_ID, None)
    _check_session(res, killed_at, _clip_steps())
    dds_err = res.counters.mean_joint_pos_err_rad
    tol = max(SIM_TO_SIM_ABS_RAD, SIM_TO_SIM_REL * inproc_joint_err_rad)
    assert abs(dds_err - inproc_joint_err_rad) <= tol, (dds_err, inproc_joint_err_rad)


def test_a_session_without_a_robot_is_refused_clearly():
    from humimic.errors import DeployError

    with pytest.raises(DeployError, match="state") as info:
        run_dds_session(
            POLICY, "ros2", 1.0, domain_id=93, interface="lo", first_state_timeout_s=0.5
        )
    assert "/joint_states" in str(info.value)  # says which topic stayed silent


def test_a_session_ends_by_streaming_damping(g1):
    """Motor drivers hold the last command: when the session ends (here after the STAND ramp
    has started, a stiff command), the last command the robot receives is damping."""
    import numpy as np

    from humimic.deploy.commands import JointCommand
    from humimic.deploy.dds_ros2 import DdsConfig, Ros2RobotSide

    stop = threading.Event()
    with Ros2RobotSide(g1, DdsConfig(domain_id=94, interface="lo")) as robot:
        q0 = np.asarray(g1.default_joint_pos_rad)

        def stream() -> None:  # an upright robot holding still, 500 Hz
            while not stop.is_set():
                robot.publish_state(
                    q0, np.zeros(29), np.zeros(29), [1, 0, 0, 0], np.zeros(3), [0, 0, 9.81]
                )
                stop.wait(0.002)

        streamer = threading.Thread(target=stream, daemon=True)
        streamer.start()
        try:
            res = run_dds_session(
                POLICY, "ros2", 1.0, domain_id=94, interface="lo", stand_ramp_s=STAND_RAMP_S
            )
            time.sleep(0.2)  # let the last best-effort samples arrive
        finally:
            stop.set()
            streamer.join()
        assert res.final_state == "stand"  # the loop ended with a stiff STAND command
        last = robot.latest_command()
        assert last is not None
        damping = JointCommand.damping(g1.num_joints)
        assert np.all(last.command.kp == 0.0)
        np.testing.assert_allclose(last.command.kd, damping.kd)
