"""Training-loop speed against the raw physics ceiling, measured in the same run.

Run: python benchmarks/train_speed.py [--envs 256] [--iterations 4]

* **Ceiling:** ``num_envs`` bare MuJoCo G1s stepped with ``mj_step`` on all threads (nothing
  else), in physics steps/s, divided by the decimation (4) → policy steps/s.
* **Training:** the full loop (physics, observations, rewards, terminations, resets, domain
  randomization, PPO act + update) of ``humimic train`` on the embedded default clip, in env
  steps/s over iterations after a warm-up one, with the collect/update split.

The issue's target is training/ceiling >= 60 %.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from env_speed import DECIMATION, Raw, best_rates  # noqa: E402

from humimic.cli import default_clip_path  # noqa: E402
from humimic.envs.tracking.config import TrackingConfig  # noqa: E402
from humimic.envs.train import PpoConfig, Trainer  # noqa: E402
from humimic.retarget.keyframes import load_keyframes  # noqa: E402


def training_rate(
    clip: Path, num_envs: int, threads: int, iterations: int, ppo: PpoConfig
) -> tuple[float, float, float]:
    """``(env steps/s, collect s/it, update s/it)`` over ``iterations`` after one warm-up."""
    with tempfile.TemporaryDirectory() as tmp:
        tracking = TrackingConfig(num_envs=num_envs, num_threads=threads)
        ppo = replace(ppo, max_iterations=1, save_interval=10_000)
        trainer = Trainer(Path(tmp) / "run", [clip], tracking, ppo)
        try:
            trainer.learn(show_progress=False)  # warm-up
            trainer.ppo = replace(ppo, max_iterations=1 + iterations)
            t0 = time.perf_counter()
            rows = trainer.learn(show_progress=False)
            wall = time.perf_counter() - t0
        finally:
            trainer.close()
    steps = iterations * ppo.num_steps_per_env * num_envs
    collect = sum(r["collect_s"] for r in rows) / len(rows)
    update = sum(r["update_s"] for r in rows) / len(rows)
    return steps / wall, collect, update


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, nargs="+", default=[256])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0, help="ceiling measurement time")
    parser.add_argument("--epochs", type=int, default=None, help="override PPO epochs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ppo = PpoConfig()
    if args.epochs:
        ppo = replace(ppo, num_learning_epochs=args.epochs)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "clip.npz"
        load_keyframes(default_clip_path()).save(clip)
        print(
            f"G1, decimation {DECIMATION}, {args.threads} threads, {os.cpu_count()} CPUs; "
            f"PPO {ppo.num_steps_per_env} steps/env, {ppo.num_learning_epochs} epochs x "
            f"{ppo.num_mini_batches} minibatches, actor {ppo.actor_hidden_dims}"
        )
        header = (
            f"{'num_envs':>8} {'ceiling pol/s':>14} {'train env/s':>12} {'ratio':>6} "
            f"{'collect s/it':>13} {'update s/it':>12}"
        )
        print(header)
        print("-" * len(header))
        for n in args.envs:
            raw = Raw(n, args.threads)
            try:
                rates = best_rates({"raw": raw.round}, n * DECIMATION, args.seconds, 0.5)
                ceiling = rates["raw"] / DECIMATION
            finally:
                raw.close()
            rate, collect, update = training_rate(clip, n, args.threads, args.iterations, ppo)
            print(
                f"{n:>8} {ceiling:>14.0f} {rate:>12.0f} {rate / ceiling:>6.1%} "
                f"{collect:>13.3f} {update:>12.3f}"
            )


if __name__ == "__main__":
    main()
