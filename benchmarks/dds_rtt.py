"""DDS round trip of a 29-joint ``sensor_msgs/msg/JointState`` over loopback, between two processes.

The ping process publishes a JointState at 500 Hz (absolute deadlines) on ``/humimic_bench/ping``;
a pong process (this script, ``--role pong``) takes each one in a Cyclone listener and writes it
back on ``/humimic_bench/pong``; the ping process waits for it on a WaitSet and records the round
trip. Both use humimic's generated ROS 2 types and the transport's state QoS (best effort, keep
last 5, plain CDR) on a loopback-only domain. A round trip therefore includes two serializations
and two deserializations in Python plus two trips through Cyclone on the loopback interface.

Run: python benchmarks/dds_rtt.py [--count 5000] [--rate-hz 500] [--domain 96]
Targets: p50 ≤ 300 µs, p99 ≤ 1 ms.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
from cyclonedds.core import Listener, ReadCondition, SampleState, WaitSet
from cyclonedds.pub import DataWriter
from cyclonedds.sub import DataReader
from cyclonedds.topic import Topic
from cyclonedds.util import duration

from humimic.deploy.dds_ros2 import DdsConfig, fast_idl_type, open_participant
from humimic.deploy.ros2_types import default_types, ros_topic_to_dds, sensor_data_qos
from humimic.robots import get_robot

JOINT_STATE = "sensor_msgs/msg/JointState"
PING, PONG = "/humimic_bench/ping", "/humimic_bench/pong"
STOP_SEQ = -1
TARGET_P50_US, TARGET_P99_US = 300.0, 1000.0


def endpoints(domain: int, out: str, back: str, listener: Listener | None = None) -> tuple:
    """A participant, a writer on ``out`` and a reader on ``back`` (JointState, the transport's
    fast codec class and state QoS)."""
    participant = open_participant(DdsConfig(domain_id=domain, interface="lo"))
    cls = fast_idl_type(default_types(), JOINT_STATE)
    writer = DataWriter(
        participant, Topic(participant, ros_topic_to_dds(out), cls), qos=sensor_data_qos()
    )
    topic = Topic(participant, ros_topic_to_dds(back), cls)
    reader = DataReader(participant, topic, qos=sensor_data_qos(), listener=listener)
    return participant, writer, reader, cls


def pong(domain: int, timeout_s: float) -> None:
    """Echo every ping until a stop message (or ``timeout_s`` of silence)."""
    done = [False]
    last = [time.monotonic()]

    def echo(reader: DataReader) -> None:
        for sample in reader.take(N=16):
            if isinstance(sample, cls):
                if sample.header.stamp.sec == STOP_SEQ:
                    done[0] = True
                writer.write(sample)
                last[0] = time.monotonic()

    participant, writer, reader, cls = endpoints(domain, PONG, PING)
    reader.set_listener(Listener(on_data_available=echo))
    print("pong ready", flush=True)
    while not done[0] and time.monotonic() - last[0] < timeout_s:
        time.sleep(0.05)
    del reader


def ping(domain: int, count: int, rate_hz: float, warmup: int) -> np.ndarray:
    """Round trips in seconds (``NaN`` for a lost message), ``count`` of them after ``warmup``."""
    types = default_types()
    participant, writer, reader, cls = endpoints(domain, PING, PONG)
    waitset = WaitSet(participant)
    waitset.attach(ReadCondition(reader, SampleState.Any))
    names = list(get_robot("g1").joint_names)
    rng = np.random.default_rng(0)
    header_cls = types.idl_type("std_msgs/msg/Header")
    time_cls = types.idl_type("builtin_interfaces/msg/Time")

    def message(seq: int) -> object:
        q = rng.normal(size=(3, len(names)))
        return cls(
            header=header_cls(stamp=time_cls(sec=seq, nanosec=0), frame_id=""),
            name=names,
            position=q[0].tolist(),
            velocity=q[1].tolist(),
            effort=q[2].tolist(),
        )

    deadline = time.monotonic() + 20.0  # discovery, and the pong process starting
    while not (
        writer.get_publication_matched_status().current_count
        and reader.get_subscription_matched_status().current_count
    ):
        if time.monotonic() > deadline:
            raise SystemExit("pong process not matched within 20 s")
        time.sleep(0.01)

    rtt = np.full(warmup + count, np.nan)
    period = 1.0 / rate_hz
    t0 = time.monotonic()
    for seq in range(warmup + count):
        msg = message(seq)  # built before the clock starts: not part of the round trip
        start = time.perf_counter()
        writer.write(msg)
        while time.perf_counter() - start < 0.05:
            waitset.wait(duration(milliseconds=50))
            got = [s for s in reader.take(N=16) if isinstance(s, cls)]
            if any(s.header.stamp.sec == seq for s in got):
                rtt[seq] = time.perf_counter() - start
                break
        sleep = t0 + (seq + 1) * period - time.monotonic()
        if sleep > 0:
            time.sleep(sleep)
    writer.write(message(STOP_SEQ))
    return rtt[warmup:]


def codec_costs_us(repeat: int = 2000) -> dict[str, tuple[float, float, int]]:
    """In-process cost of one JointState serialization and deserialization (µs) and its size
    (bytes), for Cyclone's generic codec and humimic's fast one."""
    types = default_types()
    names = list(get_robot("g1").joint_names)
    costs = {}
    for label, cls in (
        ("Cyclone generic", types.idl_type(JOINT_STATE)),
        ("humimic fast", fast_idl_type(types, JOINT_STATE)),
    ):
        msg = cls(name=names, position=[0.1] * 29, velocity=[0.2] * 29, effort=[0.3] * 29)
        data = msg.serialize()
        t0 = time.perf_counter()
        for _ in range(repeat):
            msg.serialize()
        t1 = time.perf_counter()
        for _ in range(repeat):
            cls.deserialize(data)
        t2 = time.perf_counter()
        costs[label] = ((t1 - t0) / repeat * 1e6, (t2 - t1) / repeat * 1e6, len(data))
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=5000, help="round trips measured")
    parser.add_argument("--warmup", type=int, default=200, help="round trips not measured")
    parser.add_argument("--rate-hz", type=float, default=500.0, help="ping rate")
    parser.add_argument("--domain", type=int, default=96, help="DDS domain (loopback only)")
    parser.add_argument("--role", choices=("ping", "pong"), default="ping", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "pong":
        pong(args.domain, timeout_s=30.0)
        return

    cmd = [sys.executable, __file__, "--role=pong", f"--domain={args.domain}"]
    peer = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    try:
        assert peer.stdout is not None
        peer.stdout.readline()  # "pong ready"
        rtt = ping(args.domain, args.count, args.rate_hz, args.warmup)
        peer.wait(timeout=10.0)
    finally:
        if peer.poll() is None:
            peer.kill()
    costs = codec_costs_us()
    size_b = costs["humimic fast"][2]

    ok = rtt[np.isfinite(rtt)] * 1e6
    p50, p90, p99 = np.percentile(ok, [50, 90, 99])
    print(
        f"\nJointState (29 joints, {size_b} B) "
        f"round trip over loopback, two processes, {len(ok)} of {len(rtt)} at "
        f"{args.rate_hz:g} Hz, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    rows = [
        ("p50", p50, TARGET_P50_US),
        ("p90", p90, None),
        ("p99", p99, TARGET_P99_US),
        ("max", ok.max(), None),
        ("mean", ok.mean(), None),
    ]
    print(f"{'statistic':<12}{'µs':>10}{'target µs':>12}  verdict")
    print("-" * 44)
    for name, value, target in rows:
        verdict = "" if target is None else ("ok" if value <= target else "MISSED")
        target_s = "" if target is None else f"{target:.0f}"
        print(f"{name:<12}{value:>10.0f}{target_s:>12}  {verdict}")
    print(f"{'lost':<12}{int(np.isnan(rtt).sum()):>10d}")
    print("\nfor scale, in process, per message (a round trip does each twice):")
    for label, (ser_us, deser_us, _) in costs.items():
        print(f"  {label:<16} serialize {ser_us:6.1f} µs   deserialize {deser_us:6.1f} µs")


if __name__ == "__main__":
    main()
