"""Backend speed: raw MuJoCo physics steps/s vs MujocoBackend policy steps/s (with state gather).

Run: python benchmarks/env_speed.py [--seconds 2]

Raw: ``num_envs`` MjData stepped with ``mj_step`` on a thread pool, nothing else.
Backend: ``MujocoBackend.step`` (decimation 4 physics steps + one forward per env) followed by
reading every state tensor; reported as policy steps/s over all envs and as the equivalent
physics steps/s (× decimation) to compare with the raw column.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mujoco
import numpy as np
import torch

from humimic.envs.backends import MujocoBackend
from humimic.robots import get_robot
from humimic.robots.mujoco_model import build_mujoco

DECIMATION = 4


def raw_physics_steps_per_s(num_envs: int, num_threads: int, seconds: float) -> float:
    g1 = get_robot("g1")
    robot = build_mujoco(g1, include_visual=False)
    kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
    robot.set_pd_gains(np.array(kp), np.array(kd))
    q0 = np.array(g1.default_joint_pos_rad)
    models = [robot.model for _ in range(num_envs)]
    datas = [mujoco.MjData(robot.model) for _ in range(num_envs)]
    for d in datas:
        robot.set_state(d, np.array([0, 0, g1.default_root_height_m]), np.array([1.0, 0, 0, 0]), q0)
        d.ctrl[robot.actuator_ids] = q0
    bounds = np.linspace(0, num_envs, num_threads + 1).round().astype(int)
    chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]

    def run(chunk: range) -> None:
        for i in chunk:
            for _ in range(DECIMATION):
                mujoco.mj_step(models[i], datas[i])

    n, t0 = 0, time.perf_counter()
    with ThreadPoolExecutor(num_threads) as pool:
        while time.perf_counter() - t0 < seconds:
            list(pool.map(run, chunks))
            n += num_envs * DECIMATION
    return n / (time.perf_counter() - t0)


def backend_policy_steps_per_s(num_envs: int, num_threads: int, seconds: float) -> float:
    g1 = get_robot("g1")
    backend = MujocoBackend(g1, num_envs, decimation=DECIMATION, num_threads=num_threads)
    kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
    backend.set_pd_gains(range(num_envs), torch.tensor([kp]), torch.tensor([kd]))
    target = torch.tensor([g1.default_joint_pos_rad]).expand(num_envs, -1)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        backend.step(target)
        for name in (
            "root_pos_w",
            "root_quat_w",
            "root_lin_vel_w",
            "root_ang_vel_w",
            "joint_pos",
            "joint_vel",
            "body_pos_w",
            "body_quat_w",
            "body_lin_vel_w",
            "body_ang_vel_w",
        ):
            getattr(backend, name)
        n += num_envs
    rate = n / (time.perf_counter() - t0)
    backend.close()
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement (s)")
    args = parser.parse_args()
    print(f"G1, standing, decimation {DECIMATION}, {os.cpu_count()} CPUs")
    header = (
        f"{'envs':>5} {'threads':>7} {'raw phys/s':>11} {'backend pol/s':>14} "
        f"{'backend phys/s':>15} {'efficiency':>10}"
    )
    print(header)
    print("-" * len(header))
    for num_envs in (1, 16, 64):
        for num_threads in (1, 2):
            raw = raw_physics_steps_per_s(num_envs, num_threads, args.seconds)
            pol = backend_policy_steps_per_s(num_envs, num_threads, args.seconds)
            print(
                f"{num_envs:>5} {num_threads:>7} {raw:>11.0f} {pol:>14.0f} "
                f"{pol * DECIMATION:>15.0f} {pol * DECIMATION / raw:>10.0%}"
            )


if __name__ == "__main__":
    main()
