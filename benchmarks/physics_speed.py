"""MuJoCo physics speed of the G1 model humimic builds: one core, standing on its feet.

Run: python benchmarks/physics_speed.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mujoco
import numpy as np

from humimic.robots import get_robot
from humimic.robots.kinematics import ForwardKinematics
from humimic.robots.mujoco_model import build_mujoco


def physics_steps_per_s(seconds: float, stand_gains: bool) -> tuple[float, float]:
    g1 = get_robot("g1")
    robot = build_mujoco(g1, include_visual=False)
    if stand_gains:
        kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
        robot.set_pd_gains(np.array(kp), np.array(kd))
    m, d = robot.model, mujoco.MjData(robot.model)
    q0 = np.array(g1.default_joint_pos_rad)
    robot.set_state(d, np.array([0, 0, g1.default_root_height_m]), np.array([1.0, 0, 0, 0]), q0)
    d.ctrl[robot.actuator_ids] = q0
    n, ncon = 0, 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(1000):
            mujoco.mj_step(m, d)
        ncon += d.ncon
        n += 1000
    dt = time.perf_counter() - t0
    return n / dt, ncon / (n / 1000)


def fk_frames_per_s(seconds: float) -> float:
    g1 = get_robot("g1")
    fk = ForwardKinematics(g1, g1.tracked_bodies)
    T = 500
    root = np.tile([0, 0, g1.default_root_height_m], (T, 1))
    quat = np.tile([1.0, 0, 0, 0], (T, 1))
    q = np.tile(g1.default_joint_pos_rad, (T, 1))
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fk(root, quat, q)
        n += T
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement (s)")
    args = parser.parse_args()
    rows = []
    for label, stand in (
        ("mj_step, standing (30 Hz stand gains)", True),
        ("mj_step, policy gains (falls, then lies)", False),
    ):
        sps, ncon = physics_steps_per_s(args.seconds, stand)
        rows.append(
            (label, f"{sps:,.0f} steps/s", f"{sps * 0.005:,.1f}× real time", f"{ncon:.1f} contacts")
        )
    fps = fk_frames_per_s(args.seconds)
    rows.append(("Pinocchio FK, 15 tracked bodies", f"{fps:,.0f} frames/s", "", ""))
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}} | {'rate':>18} | {'':>16} | {'':>12}")
    print("-" * (width + 54))
    for r in rows:
        print(f"{r[0]:<{width}} | {r[1]:>18} | {r[2]:>16} | {r[3]:>12}")


if __name__ == "__main__":
    main()
