"""Retargeting speed and quality on the CMU clips, pinned to one core.

Speed is frames of 30-fps input retargeted per second: ``duration · 30 / elapsed``, where
elapsed covers the whole retarget after parsing (calibration, stance, IK, limits, collision
repair, ground, FK of the output clip). Each clip is run once to warm up, then the best of
``--repeats`` runs is reported.

Run: python benchmarks/retarget_speed.py [--data ../shared/data/mocap] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from humimic.retarget.human import load_human  # noqa: E402
from humimic.retarget.metrics import compute_metrics, format_table, targets_met  # noqa: E402
from humimic.retarget.pipeline import retarget  # noqa: E402
from humimic.robots import get_robot  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        default=str(REPO.parent / "shared" / "data" / "mocap"),
        help="folder of BVH clips (default: %(default)s)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per clip")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    spec = get_robot("g1")
    rows = {}
    speeds = []
    for path in sorted(Path(args.data).glob("*.bvh")):
        human = load_human(path)
        retarget(human, spec)  # warm-up
        best = min((retarget(human, spec) for _ in range(args.repeats)), key=lambda r: r.elapsed_s)
        m = compute_metrics(
            best.motion,
            spec,
            best.targets_w,
            best.target_names,
            best.stance,
            best.elapsed_s,
            best.source_duration_s,
        )
        rows[path.name] = m
        speeds.append(
            (
                path.name,
                human.duration_s,
                best.motion.num_frames,
                best.elapsed_s,
                m.fps_input30,
                sum(targets_met(m).values()),
                len(targets_met(m)),
            )
        )
    print(
        f"{'clip':<30} {'dur s':>6} {'out frames':>10} {'elapsed ms':>10} {'fps@30 in':>10} "
        f"{'targets':>8}"
    )
    for name, dur, frames, el, fps, met, total in speeds:
        print(
            f"{name:<30} {dur:>6.2f} {frames:>10d} {el * 1000:>10.1f} {fps:>10.0f} "
            f"{met:>5d}/{total}"
        )
    print()
    print(format_table(rows))


if __name__ == "__main__":
    main()
