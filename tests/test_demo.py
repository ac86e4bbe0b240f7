"""``humimic demo`` end to end, as a newcomer runs it (smaller video and fewer eval episodes):
retarget → bundled policy → deploy over ROS 2 DDS against the sim robot process → eval →
video → report."""

from __future__ import annotations

import json

import imageio.v3 as iio
import numpy as np
import pytest

from humimic.demo import DemoConfig, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("demo")
    res = run_demo(DemoConfig(out_dir=out, eval_episodes=2, width=160, height=128, domain_id=88))
    return out, res


def test_report_states_success(demo) -> None:
    out, res = demo
    report = (out / "report.md").read_text()
    assert res.ok, res.problems
    assert "**Result: SUCCESS**" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] is True and summary["problems"] == []
    # every file the report links to exists
    for name in ("clip.npz", "quality.json", "deploy_bag", "eval.json", "eval_errors.png"):
        assert f"({name})" in report and (out / name).exists()


def test_policy_stayed_up_for_the_whole_clip_over_dds(demo, g1) -> None:
    out, res = demo
    d = json.loads((out / "summary.json").read_text())["stages"]["deploy"]
    # the embedded clip is 4.6 s: 230 policy steps at 50 Hz, all run, no fault
    assert d["clip_steps"] == 230 and d["policy_steps_run"] == 230
    assert d["stayed_up"] is True and d["faults"] == []
    states = [s for _, s, _ in d["transitions"]]
    assert states == ["damping", "stand", "policy", "stand"]
    assert d["final_state"] == "stand"


def test_rosbag_holds_state_and_commands(demo, g1) -> None:
    from rosbags.highlevel import AnyReader

    out, _ = demo
    with AnyReader([out / "deploy_bag"]) as reader:
        counts = {c.topic: c.msgcount for c in reader.connections}
        js = [c for c in reader.connections if c.topic == "/joint_states"]
        _, _, raw = next(reader.messages(connections=js))
        msg = reader.deserialize(raw, js[0].msgtype)
    # ≥ 4.6 s of the 500 Hz state and command streams
    assert counts["/joint_states"] > 2300 and counts["/humimic/joint_command"] > 2300
    assert counts["/imu"] > 2300
    assert list(msg.name) == list(g1.joint_names)  # a real sensor_msgs/JointState


def test_video_shows_the_policy(demo) -> None:
    out, res = demo
    frames = iio.imread(out / "policy.mp4")
    # one frame per policy step over the 4.6 s clip (the eval rollout, ≥ 200 steps)
    assert frames.shape[0] == res.stages["video"]["frames"] >= 200
    assert frames.shape[1:] == (128, 160, 3)
    assert float(np.std(frames[len(frames) // 2])) > 5.0  # not a blank image


def test_retarget_quality_is_reported(demo) -> None:
    out, _ = demo
    q = json.loads((out / "quality.json").read_text())["quality"]
    assert q["joint_limit_violations"] == 0 and q["lowest_sole_mm"] >= -5.0
    assert q["duration_s"] == pytest.approx(4.6)
