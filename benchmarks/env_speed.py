"""Backend speed: raw MuJoCo physics steps/s vs ``MujocoBackend`` with every state read.

Run: python benchmarks/env_speed.py [--seconds 2] [--envs 16 64 128 256] [--threads 2]

Raw: ``num_envs`` (model, data) pairs, one model copy per env as the backend keeps them,
stepped ``decimation × mj_step`` per round on a thread pool; nothing else.

Backend: ``MujocoBackend.step`` followed by reading every state tensor (root and joint
pos/quat/vel, tracked body pos/quat/lin vel/ang vel) and ``contact_force_w`` of all tracked
bodies, i.e. what one policy step of the tracking env costs on the simulator side. Reported
as physics-equivalent steps/s (policy steps/s × decimation) to compare with the raw column.

Both start standing in the default pose with the stand gains and are warmed up first. Raw and
backend are measured in alternating ``--window`` s windows and the best window of each is
kept, so a burst of load from another process does not skew one column only. Total run time
is about ``2 · seconds`` per row plus model building (~25 s with the defaults).
"""

from __future__ import annotations

import argparse
import copy
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("OMP_NUM_THREADS", "1")

import mujoco
import numpy as np
import torch

from humimic.envs.backends import MujocoBackend
from humimic.robots import get_robot
from humimic.robots.mujoco_model import build_mujoco

DECIMATION = 4
WARMUP_ROUNDS = 5
STATE_READERS = (
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
)


def best_rates(
    rounds: dict[str, Callable[[], None]], steps_per_round: int, seconds: float, window: float
) -> dict[str, float]:
    """Best physics steps/s of each ``rounds`` entry over windows of ``window`` s.

    Windows alternate between the entries until each had ``seconds`` in all, so a burst of
    load from another process hits every column alike, and the best window of each is kept.
    Every entry is warmed up first.
    """
    for fn in rounds.values():
        for _ in range(WARMUP_ROUNDS):
            fn()
    best = dict.fromkeys(rounds, 0.0)
    for _ in range(max(1, round(seconds / window))):
        for name, fn in rounds.items():
            n, t0 = 0, time.perf_counter()
            while (elapsed := time.perf_counter() - t0) < window:
                fn()
                n += steps_per_round
            best[name] = max(best[name], n / elapsed)
    return best


class Raw:
    """``num_envs`` bare MuJoCo envs stepped on ``num_threads`` threads."""

    def __init__(self, num_envs: int, num_threads: int) -> None:
        g1 = get_robot("g1")
        robot = build_mujoco(g1, include_visual=False)
        kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
        robot.set_pd_gains(np.array(kp), np.array(kd))
        q0 = np.array(g1.default_joint_pos_rad)
        self.models = [copy.copy(robot.model) for _ in range(num_envs)]
        self.datas = [mujoco.MjData(m) for m in self.models]
        root = np.array([0.0, 0.0, g1.default_root_height_m])
        for d in self.datas:
            robot.set_state(d, root, np.array([1.0, 0.0, 0.0, 0.0]), q0)
            d.ctrl[robot.actuator_ids] = q0
        bounds = np.linspace(0, num_envs, num_threads + 1).round().astype(int)
        self.chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self.pool = ThreadPoolExecutor(num_threads)
        self.num_envs = num_envs

    def _run(self, chunk: range) -> None:
        models, datas = self.models, self.datas
        for i in chunk:
            m, d = models[i], datas[i]
            for _ in range(DECIMATION):
                mujoco.mj_step(m, d)

    def round(self) -> None:
        list(self.pool.map(self._run, self.chunks))

    def close(self) -> None:
        self.pool.shutdown()


class WithBackend:
    """``MujocoBackend`` stepped and fully read, as the tracking env does each policy step."""

    def __init__(self, num_envs: int, num_threads: int) -> None:
        g1 = get_robot("g1")
        self.backend = MujocoBackend(g1, num_envs, decimation=DECIMATION, num_threads=num_threads)
        kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
        self.backend.set_pd_gains(range(num_envs), torch.tensor([kp]), torch.tensor([kd]))
        self.target = torch.tensor([g1.default_joint_pos_rad]).expand(num_envs, -1)
        self.num_envs = num_envs

    def round(self) -> None:
        b = self.backend
        b.step(self.target)
        for name in STATE_READERS:
            getattr(b, name)
        b.contact_force_w(b.body_names)

    def close(self) -> None:
        self.backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="time per column and row (s)")
    parser.add_argument("--window", type=float, default=0.25, help="one measurement window (s)")
    parser.add_argument("--envs", type=int, nargs="+", default=[16, 64, 128, 256])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(
        f"G1 standing, decimation {DECIMATION}, {args.threads} threads, {os.cpu_count()} CPUs; "
        f"best {args.window:g} s window of {args.seconds:g} s per cell"
    )
    header = (
        f"{'num_envs':>8} {'raw phys/s':>11} {'backend phys/s':>15} "
        f"{'backend pol/s':>14} {'ratio':>6}"
    )
    print(header)
    print("-" * len(header))
    for num_envs in args.envs:
        raw_sim, env_sim = Raw(num_envs, args.threads), WithBackend(num_envs, args.threads)
        rates = best_rates(
            {"raw": raw_sim.round, "backend": env_sim.round},
            num_envs * DECIMATION,
            args.seconds,
            args.window,
        )
        raw_sim.close()
        env_sim.close()
        raw, backend = rates["raw"], rates["backend"]
        print(
            f"{num_envs:>8} {raw:>11.0f} {backend:>15.0f} "
            f"{backend / DECIMATION:>14.0f} {backend / raw:>6.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
