import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pytest

from humimic.errors import MotionError
from humimic.motion import Motion
from humimic.rotations import quat_from_axis_angle


def _walk(g1, T=60, fps=50.0, speed=(0.4, -0.1, 0.0), yaw_rate=0.5):
    """A known trajectory: root at constant velocity and yaw rate, joints swinging sinusoidally."""
    t = np.arange(T) / fps
    root_pos = np.array([0, 0, g1.default_root_height_m]) + np.outer(t, speed)
    root_quat = quat_from_axis_angle(np.tile([0.0, 0, 1], (T, 1)), yaw_rate * t)
    q = np.array(g1.default_joint_pos_rad) + 0.2 * np.sin(2 * np.pi * 0.5 * t)[:, None]
    q = np.clip(q, g1.joint_lower_rad, g1.joint_upper_rad)
    return Motion.from_kinematics(g1, fps, root_pos, root_quat, q, source="test")


@pytest.fixture(scope="module")
def walk(g1):
    return _walk(g1)


def test_save_load_round_trip_is_identical(walk, g1, tmp_path):
    path = walk.save(tmp_path / "walk.npz")
    loaded = Motion.load(path, g1)
    assert loaded == walk
    assert loaded.meta.robot == "g1" and loaded.meta.source == "test"


def test_sampling_at_frame_times_returns_frames(walk):
    idx = np.array([0, 7, 31, walk.num_frames - 1])
    f = walk.sample(idx / walk.fps)
    np.testing.assert_allclose(f.joint_pos, walk.joint_pos[idx], atol=1e-12)
    np.testing.assert_allclose(f.body_pos_w, walk.body_pos_w[idx], atol=1e-12)
    np.testing.assert_allclose(
        np.abs(np.sum(f.body_quat_w * walk.body_quat_w[idx], -1)), 1.0, atol=1e-12
    )
    np.testing.assert_array_equal(f.foot_contact, walk.foot_contact[idx])


def test_sampling_between_frames_interpolates(walk):
    f = walk.sample(np.array([2.5 / walk.fps]))
    np.testing.assert_allclose(f.root_pos_w[0], 0.5 * (walk.root_pos_w[2] + walk.root_pos_w[3]))
    # yaw at 0.5 rad/s: halfway between frames 2 and 3 the heading is 0.5 · 2.5/50 = 0.025 rad
    np.testing.assert_allclose(f.root_quat_w[0], [np.cos(0.0125), 0, 0, np.sin(0.0125)], atol=1e-12)


def test_constant_velocity_root_gives_that_velocity(walk):
    np.testing.assert_allclose(
        walk.root_lin_vel_w, np.tile([0.4, -0.1, 0.0], (walk.num_frames, 1)), atol=1e-9
    )
    np.testing.assert_allclose(
        walk.root_ang_vel_w, np.tile([0, 0, 0.5], (walk.num_frames, 1)), atol=1e-9
    )
    # the pelvis is the root body: its tracked pose equals the root pose
    p = walk.body_names.index("pelvis")
    np.testing.assert_allclose(walk.body_pos_w[:, p], walk.root_pos_w, atol=1e-12)
    np.testing.assert_allclose(walk.body_lin_vel_w[:, p], walk.root_lin_vel_w, atol=1e-9)


def test_body_velocity_matches_finite_difference_of_positions(walk):
    # central difference at frame 10 is the stored velocity
    k = 10
    fd = (walk.body_pos_w[k + 1] - walk.body_pos_w[k - 1]) * walk.fps / 2
    np.testing.assert_allclose(walk.body_lin_vel_w[k], fd, atol=1e-12)


def test_resample_keeps_duration_and_endpoints(walk):
    r = walk.resample(30.0)
    # 59 frames at 50 fps = 1.18 s; at 30 fps that is floor(1.18·30) + 1 = 36 frames
    assert r.num_frames == 36
    np.testing.assert_allclose(r.joint_pos[0], walk.joint_pos[0])
    np.testing.assert_allclose(r.root_pos_w[30], walk.sample(1.0).root_pos_w[0])


def test_nan_is_refused_naming_field_and_frame(walk):
    bad = walk.joint_pos.copy()
    bad[5, 3] = np.nan
    with pytest.raises(MotionError, match=r"field 'joint_pos': non-finite value nan at frame 5"):
        replace(walk, joint_pos=bad)


def test_wrong_shape_is_refused(walk):
    with pytest.raises(MotionError, match=r"field 'root_pos_w': expected shape \(60, 3\)"):
        replace(walk, root_pos_w=walk.root_pos_w[:, :2])


def test_unknown_joint_is_refused_on_load(walk, g1, tmp_path):
    names = list(walk.joint_names)
    names[3] = "left_knee"
    path = replace(walk, joint_names=tuple(names)).save(tmp_path / "bad.npz")
    with pytest.raises(
        MotionError, match=r"bad\.npz: field 'joint_names': unknown joints \['left_knee'\]"
    ):
        Motion.load(path, g1)


def test_non_unit_quaternion_and_schema_version_are_refused(walk):
    q = walk.root_quat_w.copy()
    q[4] *= 1.1
    with pytest.raises(MotionError, match="field 'root_quat_w': quaternion not unit at frame 4"):
        replace(walk, root_quat_w=q)
    with pytest.raises(MotionError, match="field 'schema_version': expected 1, got 99"):
        replace(walk, meta=replace(walk.meta, schema_version=99))


def test_garbage_file_is_refused(tmp_path, g1):
    p = tmp_path / "junk.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(MotionError, match="junk.npz: not a readable .npz"):
        Motion.load(p, g1)
    with pytest.raises(MotionError, match="no such motion file"):
        Motion.load(tmp_path / "missing.npz")


def test_pickled_object_arrays_are_not_loaded(tmp_path, walk):
    path = walk.save(tmp_path / "w.npz")
    with np.load(path) as npz:
        data = dict(npz)
    data["joint_names"] = np.array([object()] * 29, dtype=object)
    np.savez(tmp_path / "evil.npz", **data)
    with pytest.raises(MotionError, match="evil.npz: not a readable"):
        Motion.load(tmp_path / "evil.npz")


def test_failed_save_leaves_no_file(walk, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", boom)
    with pytest.raises(OSError):
        walk.save(tmp_path / "out.npz")
    assert list(tmp_path.iterdir()) == []


def test_killed_save_leaves_no_output(tmp_path):
    # a child process is killed in the middle of writing; the final path never appears
    out = tmp_path / "clip.npz"
    script = textwrap.dedent(f"""
        import os, signal, numpy as np
        from humimic.io import atomic_path
        with atomic_path({str(out)!r}) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(b"partial")
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env=os.environ.copy())
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
