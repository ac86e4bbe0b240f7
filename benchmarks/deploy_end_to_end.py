"""Deploy end to end over DDS on loopback: ``humimic sim-robot`` in its own process, the runtime
in this one; per transport (ROS 2, Unitree) and repetition:

* the policy's joint tracking error over its clip, next to the same policy in-process
  (lockstep, no DDS): the sim-to-sim gap;
* after the clip, SIGKILL to the sim robot: how long after the last state the runtime sent
  damping (the contract: within 50 ms);
* loop overruns and the slowest policy step.

Run: python benchmarks/deploy_end_to_end.py [--repeats 3] [--policy DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from humimic.cli import default_policy_path
from humimic.deploy.clock import MonotonicClock
from humimic.deploy.fsm import FsmConfig
from humimic.deploy.inproc import run_inproc
from humimic.deploy.session import run_dds_session

STAND_RAMP_S = 2.0
KILL_AFTER_S = 9.5
SESSION_S = 10.5


def one_session(policy: Path, transport: str, domain: int, log: Path) -> dict[str, float]:
    cmd = [
        sys.executable,
        "-m",
        "humimic.deploy.sim_robot",
        f"--interface={transport}",
        f"--domain={domain}",
        "--network=lo",
        "--duration=60",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log, "wb") as out:
        sim = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    clock = MonotonicClock()
    killed: list[float] = []
    timer = threading.Timer(KILL_AFTER_S, lambda: (killed.append(clock.now_s()), sim.kill()))
    try:
        timer.start()
        res = run_dds_session(
            policy,
            transport,
            SESSION_S,
            domain_id=domain,
            stand_ramp_s=STAND_RAMP_S,
            first_state_timeout_s=20.0,
            clock=clock,
        )
    finally:
        timer.cancel()
        if sim.poll() is None:
            sim.kill()
        sim.wait()
    stale = [t for t in res.transitions if "stale_state" in t.reason]
    delay_ms = float("nan")
    if stale and res.last_state_stamp_s is not None:
        delay_ms = (stale[0].time_s - res.last_state_stamp_s) * 1e3
    faults_before_kill = sum(
        1 for t in res.transitions if t.reason.startswith("fault:") and t.time_s < killed[0]
    )
    return {
        "policy steps": res.counters.inferences,
        "joint err rad": res.counters.mean_joint_pos_err_rad,
        "kill→damping ms": delay_ms,
        "faults before kill": faults_before_kill,
        "overruns": res.stats.overruns,
        "max policy step ms": res.counters.max_policy_latency_s * 1e3,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="sessions per transport")
    parser.add_argument("--policy", default=str(default_policy_path()), help="policy folder")
    parser.add_argument("--domain", type=int, default=150, help="first DDS domain (loopback)")
    args = parser.parse_args()
    policy = Path(args.policy)

    inproc = run_inproc(policy, 9.0, fsm_config=FsmConfig(stand_ramp_s=STAND_RAMP_S)).summary()
    print(
        f"in-process (lockstep): {inproc['policy_steps']} steps, joint err "
        f"{inproc['joint_pos_err_rad_mean']:.4f} rad, faults {inproc['faults']}"
    )
    rows: list[tuple[str, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for transport in ("ros2", "unitree"):
            for k in range(args.repeats):
                domain = args.domain + len(rows)
                log = Path(tmp) / f"sim_{transport}_{k}.log"
                rows.append((transport, one_session(policy, transport, domain, log)))
                print(f"  {transport} #{k + 1} done", flush=True)
    keys = list(rows[0][1])
    print("\ntransport  " + "  ".join(f"{k:>18}" for k in keys))
    for transport, r in rows:
        print(f"{transport:<10} " + "  ".join(f"{r[k]:>18.4g}" for k in keys))
    print(
        f"\nsim-to-sim: in-process joint error {inproc['joint_pos_err_rad_mean']:.4f} rad; "
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
