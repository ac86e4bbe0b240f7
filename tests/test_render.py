import imageio_ffmpeg
import numpy as np
import pytest

from humimic.errors import RenderError
from humimic.motion import Motion
from humimic.render import render_motion


@pytest.fixture(scope="module")
def short_clip(g1):
    # 0.5 s at 50 fps: root rising 10 cm
    T = 26
    root = np.tile([0.0, 0.0, g1.default_root_height_m], (T, 1))
    root[:, 2] += np.linspace(0, 0.1, T)
    return Motion.from_kinematics(
        g1, 50.0, root, np.tile([1.0, 0, 0, 0], (T, 1)), np.tile(g1.default_joint_pos_rad, (T, 1))
    )


def test_video_has_expected_frame_count_and_size(short_clip, g1, tmp_path):
    out, n = render_motion(
        short_clip, g1, tmp_path / "clip.mp4", width=160, height=128, video_fps=20, progress=False
    )
    # duration 25/50 = 0.5 s at 20 fps → floor(0.5·20) + 1 = 11 frames
    assert n == 11
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    assert meta["size"] == (160, 128)
    frames = [np.frombuffer(b, np.uint8).reshape(128, 160, 3) for b in reader]
    assert len(frames) == 11
    # the robot is drawn: the image is not a flat colour
    assert frames[5].std() > 10


def test_bad_video_arguments_write_nothing(short_clip, g1, tmp_path):
    with pytest.raises(RenderError, match="multiple of 16"):
        render_motion(short_clip, g1, tmp_path / "a.mp4", width=100, height=100, progress=False)
    with pytest.raises(RenderError, match="must be .mp4"):
        render_motion(short_clip, g1, tmp_path / "a.gif", progress=False)
    assert list(tmp_path.iterdir()) == []
