import numpy as np
import pytest

from humimic.cli import default_clip_path
from humimic.errors import RetargetError
from humimic.retarget.keyframes import hermite_catmull_rom, load_keyframes


def test_spline_passes_through_keys_with_zero_end_velocity():
    t_keys = np.array([0.0, 1.0, 3.0])
    v = np.array([[0.0], [2.0], [-1.0]])
    np.testing.assert_allclose(hermite_catmull_rom(t_keys, v, t_keys), v, atol=1e-12)
    # Catmull–Rom tangent at the middle key: (−1 − 0) / (3 − 0) = −1/3; check by finite difference
    h = 1e-6
    d = (
        hermite_catmull_rom(t_keys, v, np.array([1 + h]))
        - hermite_catmull_rom(t_keys, v, np.array([1 - h]))
    ) / (2 * h)
    assert d[0, 0] == pytest.approx(-1 / 3, abs=1e-5)
    d0 = (hermite_catmull_rom(t_keys, v, np.array([h])) - v[0]) / h
    assert d0[0, 0] == pytest.approx(0.0, abs=1e-4)


def test_default_clip_is_clean(g1):
    m = load_keyframes(default_clip_path())
    assert m.meta.robot == "g1" and m.fps == 50
    # 4.6 s at 50 fps → 231 frames
    assert m.num_frames == 231
    assert np.all(m.joint_pos >= np.array(g1.joint_lower_rad) - 1e-12)
    assert np.all(m.joint_pos <= np.array(g1.joint_upper_rad) + 1e-12)
    assert np.abs(np.diff(m.joint_pos, axis=0)).max() < 0.3
    from humimic.demo import clip_quality

    q = clip_quality(m, g1)
    assert q.lowest_sole_mm == pytest.approx(0.0, abs=0.5)  # feet_on_ground puts the sole at z = 0
    assert q.stance_fraction == 1.0


@pytest.mark.parametrize(
    "text, message",
    [
        ("keyframes: []", "field 'keyframes': expected a non-empty list"),
        ("keyframes:\n  - t: 0\n  - t: 0", r"keyframe 1 field 't': times must increase"),
        (
            "keyframes:\n  - t: 0\n    joints: {knee: 1.0}",
            "unknown joint 'knee'; valid: left_hip_pitch_joint",
        ),
        (
            "keyframes:\n  - t: 0\n    joints: {left_knee_joint: 9.0}",
            r"keyframe 0 joint left_knee_joint: 9.0 rad outside the limits",
        ),
        ("keyframes:\n  - t: .nan", "keyframe 0 field 't': expected a finite number"),
        ("keyframes: [", "not valid YAML"),
    ],
)
def test_bad_keyframe_files_name_the_problem(tmp_path, text, message):
    p = tmp_path / "k.yaml"
    p.write_text(text)
    with pytest.raises(RetargetError, match=message) as info:
        load_keyframes(p)
    assert str(p) in str(info.value)
