"""Training end to end on the embedded default clip: a tiny run learns (return and episode
length rise), checkpoints are atomic and resumable (also after a kill), the export round trip
holds (onnxruntime = torch, metadata complete), and eval/play work on the exported policy."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
import torch

from humimic.cli import default_clip_path
from humimic.domain_rand import DomainRandConfig
from humimic.envs.export import build_actor, export_run
from humimic.envs.tracking.config import RsiNoise, TrackingConfig
from humimic.envs.train import PpoConfig, RunFiles, Trainer, load_checkpoint
from humimic.errors import ConfigError, DeployError
from humimic.policy import PolicyMetadata, load_policy
from humimic.retarget.keyframes import load_keyframes

SMALL = TrackingConfig(num_envs=32, num_threads=2, seed=1)
SMALL_PPO = PpoConfig(max_iterations=2, save_interval=1, num_steps_per_env=16)


@pytest.fixture(scope="module")
def clip_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("clip") / "wave_squat.npz"
    load_keyframes(default_clip_path()).save(path)
    return path


@pytest.fixture(scope="module")
def stand_clip_path(tmp_path_factory, g1) -> Path:
    """10 s of the default standing pose: the easiest clip (with the policy's gains, zero
    actions collapse in ~0.4 s, so even standing has to be learned), long enough that the
    episode length measures survival, not the clip's end."""
    from humimic.motion import Motion

    frames = 500  # 9.98 s at 50 fps
    root = np.tile([0.0, 0.0, g1.default_root_height_m], (frames, 1))
    quat = np.tile([1.0, 0.0, 0.0, 0.0], (frames, 1))
    joints = np.tile(g1.default_joint_pos_rad, (frames, 1))
    path = tmp_path_factory.mktemp("clip") / "stand.npz"
    Motion.from_kinematics(g1, 50.0, root, quat, joints, source="stand").save(path)
    return path


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, stand_clip_path) -> tuple[Path, list[dict[str, float]]]:
    """A tiny run on the nominal robot, starting exactly on the reference (no start noise):
    64 envs × 24 steps × 80 iterations (~123k steps, about a minute on 2 cores)."""
    run = tmp_path_factory.mktemp("runs") / "tiny"
    tracking = replace(
        SMALL, num_envs=64, rsi=RsiNoise.off(), domain_rand=DomainRandConfig(enabled=False)
    )
    ppo = PpoConfig(max_iterations=80, save_interval=40)
    trainer = Trainer(run, [stand_clip_path], tracking, ppo)
    try:
        rows = trainer.learn(show_progress=False)
    finally:
        trainer.close()
    return run, rows


def test_tiny_training_run_learns(trained_run):
    _, rows = trained_run
    # iteration 1 only sees the episodes short enough to end within it: skip it
    first, last = rows[1:11], rows[-10:]

    def mean(rs, key):
        return float(np.nanmean([r[key] for r in rs]))

    # measured on this machine: length 1.24 s → ~1.45 s, return ~85 → ~140 over these windows
    assert mean(last, "mean_episode_length_s") > 1.1 * mean(first, "mean_episode_length_s")
    assert mean(last, "mean_episode_return") > 1.3 * mean(first, "mean_episode_return")


def test_checkpoints_are_complete_and_load_safely(trained_run):
    run, _ = trained_run
    files = RunFiles(run)
    names = sorted(p.name for p in files.checkpoints.iterdir())
    assert names == ["model_000040.pt", "model_000080.pt"]  # save_interval 40, no temp files
    data = load_checkpoint(files.checkpoints / "model_000080.pt")
    assert data["iter"] == 80
    saved = json.loads(files.config.read_text())
    assert saved["tracking"]["num_envs"] == 64 and saved["ppo"]["max_iterations"] == 80


def test_resume_restores_iteration_and_weights(tmp_path, clip_path):
    run = tmp_path / "run"
    trainer = Trainer(run, [clip_path], SMALL, SMALL_PPO)
    trainer.learn(show_progress=False)
    weights = {k: v.clone() for k, v in trainer.alg.get_policy().state_dict().items()}
    trainer.close()

    resumed = Trainer(run, ppo=replace(SMALL_PPO, max_iterations=3), resume=True)
    assert resumed.iteration == 2
    for key, value in resumed.alg.get_policy().state_dict().items():
        torch.testing.assert_close(value, weights[key], rtol=0, atol=0)
    resumed.learn(show_progress=False)
    resumed.close()
    assert RunFiles(run).latest_checkpoint().name == "model_000003.pt"
    with pytest.raises(ConfigError, match="already exists"):
        Trainer(run, [clip_path], SMALL, SMALL_PPO)


def test_resume_after_a_kill(tmp_path, clip_path):
    run = tmp_path / "killed"
    cmd = [
        sys.executable, "-m", "humimic", "train", str(run), "--motion", str(clip_path),
        "--num-envs", "16", "--max-iterations", "500", "--save-interval", "1", "--quiet",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    files = RunFiles(run)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        ckpt = files.latest_checkpoint()
        if ckpt is not None and int(ckpt.stem.split("_")[1]) >= 2:
            break
        assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # no half-written checkpoint: every file loads, and temp files were never named model_*.pt
    last = files.latest_checkpoint()
    assert last is not None
    expected = load_checkpoint(last)
    resumed = Trainer(run, ppo=replace(PpoConfig(), max_iterations=500), resume=True)
    assert resumed.iteration == expected["iter"] >= 2
    for key, value in resumed.alg.get_policy().state_dict().items():
        torch.testing.assert_close(value, expected["actor_state_dict"][key], rtol=0, atol=0)
    resumed.close()


def test_export_round_trip(trained_run, tmp_path):
    run, _ = trained_run
    res = export_run(run, tmp_path / "policy")
    assert res.max_abs_diff < 1e-4
    policy, meta, folder = load_policy(tmp_path / "policy")
    assert meta.robot == "g1" and len(meta.joint_names) == 29
    assert meta.control_dt_s == pytest.approx(0.02)  # 4 physics steps of 5 ms
    assert meta.trained_iterations == 80
    assert meta.obs_dim == 5 * 29 + 12
    assert "robot.body_pos_w" not in meta.required_fields  # a real robot can feed the actor
    assert (folder / "clips" / meta.clip_files[0]).is_file()
    # independently of the export's own check: torch actor vs onnxruntime on fresh inputs
    from tensordict import TensorDict

    saved = json.loads((run / "config.json").read_text())
    actor = build_actor(meta.obs_dim, 29, PpoConfig.from_dict(saved["ppo"]))
    actor.load_state_dict(load_checkpoint(RunFiles(run).latest_checkpoint())["actor_state_dict"])
    actor.eval()
    obs = torch.randn(8, meta.obs_dim, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        expected = actor(TensorDict({"actor": obs}, batch_size=[8])).numpy()
    np.testing.assert_allclose(policy(obs.numpy()), expected, atol=1e-4)


def test_tampered_metadata_is_refused(trained_run, tmp_path):
    run, _ = trained_run
    folder = export_run(run, tmp_path / "p").folder
    meta = json.loads((folder / "policy.json").read_text())
    meta["joint_names"] = list(reversed(meta["joint_names"]))
    (folder / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(DeployError, match="differs from the metadata embedded"):
        load_policy(folder)


def test_wrong_joint_order_is_refused(trained_run, tmp_path, g1):
    run, _ = trained_run
    _, meta, _ = load_policy(export_run(run, tmp_path / "q").folder)
    swapped = list(meta.joint_names)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    bad = PolicyMetadata(**{**meta.__dict__, "joint_names": tuple(swapped)})
    with pytest.raises(DeployError, match="joint order differs: #0"):
        bad.check_robot(g1)


def test_eval_and_play_on_the_exported_policy(trained_run, tmp_path):
    from humimic.envs.evaluate import evaluate, play

    run, _ = trained_run
    folder = export_run(run, tmp_path / "policy").folder
    res = evaluate(folder, num_episodes=2, out_dir=tmp_path, modes=("nominal",), progress=False)
    s = res.summary["nominal"]
    r = res.rollouts["nominal"]
    assert s["episodes"] == 2 and 0.0 <= s["success_rate"] <= 1.0
    # success means the episode lived through the whole clip: 500 frames at 50 fps = 9.98 s
    lived_full = r.length_s >= 9.98 - 1e-4
    assert (r.success == lived_full).all()
    assert s["mean_body_pos_root_rel_mm"] > 0
    assert json.loads((tmp_path / "eval.json").read_text())["nominal"]["episodes"] == 2
    assert (tmp_path / "eval_errors.png").stat().st_size > 10_000
    out, r1 = play(folder, tmp_path / "play.mp4", width=320, height=240, progress=False)
    reader = imageio_ffmpeg.read_frames(str(out))
    assert next(reader)["size"] == (320, 240)
    frames = [np.frombuffer(b, np.uint8).reshape(240, 320, 3) for b in reader]
    # one frame per policy step the episode lived (50 fps)
    assert len(frames) == len(r1.robot_qpos) and frames[-1].std() > 10
