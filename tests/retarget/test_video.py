"""Tests of the retargeting video (humimic.retarget.video) on the real DeepMimic walk in
../shared/data/deepmimic (read in place, never copied)."""

from __future__ import annotations

import imageio_ffmpeg
import numpy as np
import pytest

from humimic.errors import RenderError
from humimic.retarget.human import load_human
from humimic.retarget.pipeline import retarget
from humimic.retarget.video import (
    Skeleton,
    SkeletonRenderer,
    render_retarget_video,
    sample_targets,
)
from humimic.robots.mujoco_model import build_mujoco

W, H = 160, 128


@pytest.fixture(scope="module")
def walk(g1, shared_data):
    return retarget(load_human(shared_data / "deepmimic" / "humanoid3d_walk.txt"), g1)


def _orange(img: np.ndarray) -> int:
    return int(((img[..., 0] > 150) & (img[..., 2] < 100)).sum())


def test_video_frame_count_and_size(walk, g1, tmp_path):
    out, n = render_retarget_video(
        walk, g1, tmp_path / "walk.mp4", width=W, height=H, video_fps=10, progress=False
    )
    # the walk retargets to 64 frames at 50 fps: 63/50 = 1.26 s → floor(1.26·10) + 1 = 13 frames
    assert walk.motion.duration_s == pytest.approx(1.26)
    assert n == 13
    assert [p.name for p in tmp_path.iterdir()] == ["walk.mp4"]  # no temporary left behind
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["size"] == (W, H)
    frames = [np.frombuffer(b, np.uint8).reshape(H, W, 3) for b in reader]
    assert len(frames) == 13
    # the skeleton is in the video (H.264 shifts colours a little; the threshold leaves room)
    assert _orange(frames[6]) > 20


def test_skeleton_is_drawn_over_the_robot(walk, g1):
    t = np.array([0.6])
    frame = walk.motion.sample(t)
    keypoints, stance = sample_targets(walk, t)
    renderer = SkeletonRenderer(build_mujoco(g1), W, H)
    try:
        pose = (frame.root_pos_w[0], frame.root_quat_w[0], frame.joint_pos[0])
        skel = Skeleton(walk.target_names, g1)
        with_skel = renderer.render_with_skeleton(*pose, skel, keypoints[0], stance[0]).copy()
        without = renderer.render_with_skeleton(*pose).copy()
        plain = renderer.render(*pose).copy()
    finally:
        renderer.close()
    assert with_skel.shape == (H, W, 3)
    assert (with_skel != without).any(axis=-1).sum() > 100
    # orange-ish pixels appear only with the skeleton; the robot is grey on a grey/blue scene
    assert _orange(without) == 0
    assert _orange(with_skel) > 50
    # the overlay is per call: an ordinary render afterwards is the robot alone
    np.testing.assert_array_equal(plain, without)


def test_skeleton_bones_from_target_names(walk, g1):
    skel = Skeleton(walk.target_names, g1)
    assert skel.roles[0] == "pelvis" and "head" in skel.roles
    neck = len(skel.roles)  # the virtual neck point
    named = {(skel.roles[a] if a < neck else "neck", skel.roles[b] if b < neck else "neck")
             for a, b in skel.bones}  # fmt: skip
    assert ("pelvis", "left_knee") in named and ("left_knee", "left_ankle") in named
    assert ("neck", "right_elbow") in named and ("right_elbow", "right_wrist") in named
    assert len(skel.bones) == 10
    # each stance column colours that foot's ankle
    for f, foot in enumerate(g1.feet):
        assert walk.target_names[skel.stance_point[f]] == foot.body


def test_sample_targets_interpolates_between_frames(walk):
    dt = 1.0 / walk.motion.fps
    kp, stance = sample_targets(walk, np.array([0.0, 2.5 * dt, 99.0]))
    np.testing.assert_allclose(kp[0], walk.targets_w[0])
    np.testing.assert_allclose(kp[1], 0.5 * (walk.targets_w[2] + walk.targets_w[3]))
    np.testing.assert_allclose(kp[2], walk.targets_w[-1])  # clamped at the end
    assert stance.shape == (3, walk.stance.shape[1])


def test_bad_video_arguments_write_nothing(walk, g1, tmp_path):
    with pytest.raises(RenderError, match="multiple of 16"):
        render_retarget_video(walk, g1, tmp_path / "a.mp4", width=100, height=100, progress=False)
    with pytest.raises(RenderError, match="must be .mp4"):
        render_retarget_video(walk, g1, tmp_path / "a.gif", progress=False)
    assert list(tmp_path.iterdir()) == []
