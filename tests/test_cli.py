"""The CLI as a user runs it: a real subprocess, real files."""

import json
import subprocess
import sys

import pytest

COMMANDS = ["demo", "robot", "keyframes", "retarget", "render"]


def run(*args, check=False):
    proc = subprocess.run([sys.executable, "-m", "humimic", *args], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_top_level_help_lists_every_command():
    out = run("--help", check=True).stdout
    for cmd in COMMANDS:
        assert cmd in out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_command_explains_itself(cmd):
    out = run(cmd, "--help", check=True).stdout
    assert "usage: humimic " + cmd in out
    assert len(out.splitlines()) > 3


def test_robot_table_shows_gains():
    out = run("robot", "g1", check=True).stdout
    assert "left_knee_joint" in out and "99.10" in out  # kp of the knee (see test_g1_spec)
    assert "29 joints" in out


def test_user_error_is_one_line_and_nonzero(tmp_path):
    proc = run("render", str(tmp_path / "missing.npz"), "-o", str(tmp_path / "x.mp4"))
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: {tmp_path / 'missing.npz'}: no such motion file"
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x.mp4").exists()
    proc = run("robot", "h1")
    assert proc.returncode == 2 and proc.stderr.strip() == "error: unknown robot 'h1'; valid: g1"


def test_keyframes_then_render(tmp_path):
    from humimic.cli import default_clip_path

    clip = tmp_path / "clip.npz"
    run("keyframes", str(default_clip_path()), "-o", str(clip), check=True)
    out = run(
        "render",
        str(clip),
        "-o",
        str(tmp_path / "c.mp4"),
        "--width",
        "160",
        "--height",
        "128",
        "--fps",
        "10",
        check=True,
    ).stdout
    # 4.6 s at 10 fps → 47 frames
    assert "47 frames, 160x128" in out


def test_demo_on_your_own_bvh_without_train_stops_after_retargeting(tmp_path, shared_data):
    # the full chain is tests/test_demo.py; here the command line: a user BVH, no --train →
    # retarget + quality, no deploy (the bundled policy only knows the embedded clip), exit 0
    out = tmp_path / "demo"
    bvh = shared_data / "mocap" / "cmu_08_09_walk.bvh"
    proc = run("demo", "--bvh", str(bvh), "--no-video", "-o", str(out), check=True)
    assert "--train" in proc.stdout and "SUCCESS" in proc.stdout
    quality = json.loads((out / "quality.json").read_text())
    assert quality["quality"]["joint_limit_violations"] == 0
    assert quality["quality"]["duration_s"] == pytest.approx(2.44, abs=0.05)  # 293 frames at 120
    quality_targets = {k: v for k, v in quality["targets_met"].items() if not k.startswith("fps")}
    assert quality_targets and all(quality_targets.values())
    assert not (out / "deploy_bag").exists()
    assert "run again with `--train`" in (out / "report.md").read_text()


def test_demo_refuses_a_missing_bvh_before_doing_anything(tmp_path):
    proc = run("demo", "--bvh", str(tmp_path / "nope.bvh"), "-o", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert "nope.bvh: no such file" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_retarget_writes_clip_report_and_csv(tmp_path, shared_data):
    src = shared_data / "deepmimic" / "humanoid3d_walk.txt"
    out = tmp_path / "walk.npz"
    proc = run(
        "retarget",
        str(src),
        "-o",
        str(out),
        "--report",
        str(tmp_path / "walk.json"),
        "--csv",
        str(tmp_path / "walk.csv"),
        check=True,
    )
    assert "humanoid3d_walk.txt" in proc.stdout  # the metrics table has the clip's row
    report = json.loads((tmp_path / "walk.json").read_text())
    assert report["metrics"]["joint_limit_violations"] == 0
    # the clip: 1.267 s at 50 fps → floor(1.267·50) + 1 = 64 frames, i.e. 63/50 = 1.26 s;
    # the CSV is at 30 fps: floor(1.26·30) + 1 = 38 rows of 3 + 4 + 29 = 36 values
    rows = (tmp_path / "walk.csv").read_text().splitlines()
    assert len(rows) == 38 and len(rows[0].split(",")) == 36
    from humimic.motion import Motion

    assert Motion.load(out).num_frames == 64  # 1.267 s at 50 fps


def test_retarget_bad_bvh_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.bvh"
    bad.write_text("HIERARCHY\nROOT Hips\n{\n  OFFSET 0 0\n")
    proc = run("retarget", str(bad), "-o", str(tmp_path / "out.npz"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "bad.bvh" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out.npz").exists()


def test_retarget_batch_reports_failures_and_goes_on(tmp_path, shared_data):
    import shutil

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(shared_data / "deepmimic" / "humanoid3d_walk.txt", src / "walk.txt")
    shutil.copy(shared_data / "deepmimic" / "humanoid3d.txt", src / "humanoid3d.txt")
    (src / "broken.bvh").write_text("HIERARCHY\nROOT Hips\n")
    out = tmp_path / "out"
    proc = run("retarget", str(src), "-o", str(out), "--workers", "1")
    assert proc.returncode == 2
    assert "FAILED broken.bvh" in proc.stdout
    assert "1 retargeted, 1 failed" in proc.stdout
    assert (out / "walk.npz").exists() and not (out / "broken.npz").exists()
