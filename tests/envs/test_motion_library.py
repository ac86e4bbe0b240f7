"""MotionLibrary: exact frames, interpolation, clamping, clip checks, RSI statistics, adaptive
sampling, one-hot, motion hash. Clips: the embedded default keyframe clip (50 fps, 4.6 s) and a
hand-made one (30 fps) whose root moves at constant velocity while yawing 0.8 rad per frame."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from humimic.cli import default_clip_path
from humimic.envs.motion_library import AdaptiveSampler, MotionLibrary
from humimic.envs.tracking.math import quat_slerp as torch_slerp
from humimic.errors import ConfigError, MotionError
from humimic.motion import Motion
from humimic.retarget.keyframes import load_keyframes
from humimic.rotations import quat_slerp

HAND_FPS = 30.0
HAND_FRAMES = 31  # duration 1.0 s
HAND_VEL = np.array([0.6, -0.3, 0.1])  # m/s
HAND_YAW_PER_FRAME = 0.8  # rad

FIELDS = (
    "joint_pos",
    "joint_vel",
    "root_pos_w",
    "root_quat_w",
    "root_lin_vel_w",
    "root_ang_vel_w",
    "body_pos_w",
    "body_quat_w",
    "body_lin_vel_w",
    "body_ang_vel_w",
)


def _yaw_quat(yaw: np.ndarray) -> np.ndarray:
    yaw = np.asarray(yaw, dtype=np.float64)
    z = np.zeros_like(yaw)
    return np.stack([np.cos(yaw / 2), z, z, np.sin(yaw / 2)], axis=-1)


def _hand_clip(g1) -> Motion:
    k = np.arange(HAND_FRAMES)
    root_pos = np.array([0.1, 0.2, g1.default_root_height_m]) + np.outer(k / HAND_FPS, HAND_VEL)
    joint_pos = np.tile(np.asarray(g1.default_joint_pos_rad, dtype=np.float64), (HAND_FRAMES, 1))
    return Motion.from_kinematics(
        g1,
        HAND_FPS,
        root_pos,
        _yaw_quat(HAND_YAW_PER_FRAME * k),
        joint_pos,
        source="hand_made.yaml",
    )


@pytest.fixture(scope="module")
def clips(g1) -> tuple[Motion, Motion]:
    return load_keyframes(default_clip_path(), g1), _hand_clip(g1)


@pytest.fixture(scope="module")
def lib(g1, clips) -> MotionLibrary:
    return MotionLibrary(clips, g1)


def _frame(motion: Motion, name: str, k: int) -> torch.Tensor:
    return torch.as_tensor(getattr(motion, name)[k], dtype=torch.float32)


def test_layout_and_names(lib, clips):
    default, hand = clips
    assert lib.num_clips == 2
    assert lib.clip_names == ("wave_squat", "hand_made")
    assert lib.clip_id("hand_made") == 1
    assert lib.offsets.tolist() == [0, default.num_frames]
    assert lib.num_frames.tolist() == [default.num_frames, HAND_FRAMES]
    assert lib.fps.tolist() == [50.0, HAND_FPS]
    assert lib.duration_s.tolist() == pytest.approx([4.6, 1.0])
    assert lib.total_frames == default.num_frames + HAND_FRAMES
    with pytest.raises(ConfigError, match="unknown clip 'run'; valid: wave_squat, hand_made"):
        lib.clip_id("run")


def test_frame_times_return_stored_frames_exactly(lib, clips):
    # every frame of both clips, mixed in one batch, times k / fps as float32
    ids, ts, frames = [], [], []
    for c, m in enumerate(clips):
        for k in range(m.num_frames):
            ids.append(c)
            ts.append(k / m.fps)
            frames.append((c, k))
    state = lib.sample(torch.tensor(ids), torch.tensor(ts, dtype=torch.float32))
    for name in FIELDS:
        got = getattr(state, name)
        assert got.dtype == torch.float32
        expected = torch.stack([_frame(clips[c], name, k) for c, k in frames])
        assert torch.equal(got, expected), name
    contact = np.stack([clips[c].foot_contact[k] for c, k in frames])
    assert torch.equal(state.foot_contact, torch.as_tensor(contact))


def test_halfway_is_average_of_neighbours(lib, clips):
    default = clips[0]
    k = np.array([0, 37, 120, default.num_frames - 2])
    state = lib.sample(torch.zeros(len(k), dtype=torch.long), torch.tensor((k + 0.5) / 50.0))
    for name in ("joint_pos", "joint_vel", "root_pos_w", "body_pos_w", "body_lin_vel_w"):
        arr = getattr(default, name)
        expected = torch.as_tensor(0.5 * (arr[k] + arr[k + 1]), dtype=torch.float32)
        torch.testing.assert_close(getattr(state, name), expected, rtol=1e-5, atol=1e-6)


def test_hand_clip_position_and_yaw_slerp(g1, lib):
    # root at constant velocity: p(t) = p0 + v t at any t, frames or not.
    # yaw 0.8 rad/frame, so at u = k + a frames the slerp is a pure yaw of 0.8 (k + a) rad:
    # q = (cos(0.4 (k + a)), 0, 0, sin(0.4 (k + a))). Halfway between frames 3 and 4: yaw 2.8 rad,
    # q = (cos 1.4, 0, 0, sin 1.4) = (0.16997, 0, 0, 0.98545). At a = 1/4 normalized lerp would
    # be off by ~5e-4 in w, so this also tells slerp from nlerp.
    u = torch.tensor([3.5, 3.25, 10.75, 0.5], dtype=torch.float64)
    state = lib.sample(torch.ones(4, dtype=torch.long), u / HAND_FPS)
    p0 = np.array([0.1, 0.2, g1.default_root_height_m])
    expected_pos = p0[None] + np.outer(u.numpy() / HAND_FPS, HAND_VEL)
    torch.testing.assert_close(
        state.root_pos_w, torch.as_tensor(expected_pos, dtype=torch.float32), rtol=0, atol=1e-6
    )
    # constant velocity: the interpolated finite-difference velocity is exactly v
    torch.testing.assert_close(
        state.root_lin_vel_w, torch.as_tensor(HAND_VEL, dtype=torch.float32).expand(4, 3)
    )
    yaw = HAND_YAW_PER_FRAME * u.numpy()
    expected_q = torch.as_tensor(_yaw_quat(yaw), dtype=torch.float32)
    # the stored quaternions may sit on either sign; compare up to ±
    q = state.root_quat_w
    sign = torch.sign((q * expected_q).sum(-1, keepdim=True))
    torch.testing.assert_close(q * sign, expected_q, atol=2e-6, rtol=0)
    torch.testing.assert_close(
        q[0].abs(), torch.tensor([math.cos(1.4), 0.0, 0.0, math.sin(1.4)]).abs(), atol=2e-6, rtol=0
    )
    assert torch.allclose(state.root_quat_w.norm(dim=-1), torch.ones(4))


def test_mixed_batch_matches_numpy_reference(lib, clips):
    gen = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 2, (64,), generator=gen)
    t = torch.rand(64, generator=gen) * 5.0 - 0.2  # includes times before 0 and past the end
    state = lib.sample(ids, t)
    for c, m in enumerate(clips):
        sel = ids == c
        ref = m.sample(t[sel].double().numpy())
        for name in FIELDS:
            expected = torch.as_tensor(getattr(ref, name), dtype=torch.float32)
            got = getattr(state, name)[sel]
            if name.endswith("quat_w"):
                sign = torch.sign((got * expected).sum(-1, keepdim=True))
                got = got * sign
            torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5, msg=name)


def test_times_clamp_to_clip_ends(lib, clips):
    default, hand = clips
    ids = torch.tensor([0, 0, 1, 1, 1])
    t = torch.tensor([4.6001, 100.0, 1.5, 1.0, -3.0])
    state = lib.sample(ids, t)
    last = [(default, default.num_frames - 1)] * 2 + [(hand, HAND_FRAMES - 1)] * 2 + [(hand, 0)]
    for name in FIELDS:
        expected = torch.stack([_frame(m, name, k) for m, k in last])
        assert torch.equal(getattr(state, name), expected), name
    assert lib.clamp_time(ids, t).tolist() == pytest.approx([4.6, 4.6, 1.0, 1.0, 0.0])


def test_clip_with_other_joint_names_is_refused(g1, clips):
    default = clips[0]
    swapped = dataclasses.replace(default, joint_names=tuple(reversed(default.joint_names)))
    with pytest.raises(MotionError, match=r"clip 1 .*field 'joint_names'"):
        MotionLibrary([default, swapped], g1)


def test_clip_with_other_body_names_is_refused(g1, clips):
    # a valid robot body order, but not the one of clip 0: refused by the library itself
    default = clips[0]
    fewer = dataclasses.replace(
        default,
        body_names=default.body_names[:-1],
        body_pos_w=default.body_pos_w[:, :-1],
        body_quat_w=default.body_quat_w[:, :-1],
        body_lin_vel_w=default.body_lin_vel_w[:, :-1],
        body_ang_vel_w=default.body_ang_vel_w[:, :-1],
    )
    with pytest.raises(MotionError, match=r"clip 1 \('clip_b'\): field 'body_names'"):
        MotionLibrary([default, fewer], g1, clip_names=["clip_a", "clip_b"])
    with pytest.raises(ConfigError, match="field 'motions'"):
        MotionLibrary([], g1)
    with pytest.raises(ConfigError, match="field 'clip_names'"):
        MotionLibrary([default, default], g1, clip_names=["a", "a"])


def test_duplicate_default_names_are_made_unique(g1, clips):
    lib2 = MotionLibrary([clips[1], clips[1]], g1)
    assert lib2.clip_names == ("hand_made#0", "hand_made#1")


def test_sample_start_is_uniform(lib):
    n = 10_000
    gen = torch.Generator().manual_seed(0)
    ids, t = lib.sample_start(n, gen)
    assert ids.dtype == torch.long and ids.shape == (n,) and t.shape == (n,)
    counts = torch.bincount(ids, minlength=2).double()
    # binomial sd of a share at n = 10k is 0.005; 4 sd bound
    assert (counts / n - 0.5).abs().max() < 0.02
    for c in range(2):
        tc = t[ids == c]
        assert float(tc.min()) >= 0.0 and float(tc.max()) <= float(lib.duration_s[c])
        hist = torch.histc(tc / lib.duration_s[c], bins=10, min=0.0, max=1.0).double()
        expected = len(tc) / 10
        chi2 = float(((hist - expected) ** 2 / expected).sum())
        assert chi2 < 30.0, (c, chi2)  # 9 dof: P(χ² > 30) ≈ 4e-4

    ids_w, _ = lib.sample_start(n, torch.Generator().manual_seed(1), weight_by_duration=True)
    share0 = float((ids_w == 0).double().mean())
    assert share0 == pytest.approx(4.6 / 5.6, abs=0.02)


def test_adaptive_sampler_bins(lib):
    s = AdaptiveSampler(lib, bin_s=1.0)
    # clip 0: 4.6 s → 5 bins (last 0.6 s); clip 1: 1.0 s → 1 bin
    assert s.num_bins == 6
    assert s.bins_per_clip.tolist() == [5, 1]
    assert s.bin_clip.tolist() == [0, 0, 0, 0, 0, 1]
    assert s.bin_len_s.tolist() == pytest.approx([1, 1, 1, 1, 0.6, 1])
    idx = s.bin_index(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0.0, 2.5, 9.0, 0.99, 1.0]))
    assert idx.tolist() == [0, 2, 4, 5, 5]
    torch.testing.assert_close(s.probabilities(), torch.full((6,), 1 / 6, dtype=torch.float64))
    for bad in ({"bin_s": 0.0}, {"alpha": 0.0}, {"uniform_mix": 1.5}, {"epsilon": -1.0}):
        with pytest.raises(ConfigError, match=f"field '{next(iter(bad))}'"):
            AdaptiveSampler(lib, **bad)


def test_adaptive_sampler_focuses_on_failing_bin(lib):
    s = AdaptiveSampler(lib, bin_s=1.0, alpha=0.5, uniform_mix=0.1, epsilon=0.01)
    # 10 episodes started in each of the 6 bins; only those in bin 2 of clip 0 failed
    ids = torch.tensor([0] * 50 + [1] * 10)
    t = torch.cat([torch.full((10,), k + 0.5) for k in range(5)] + [torch.full((10,), 0.5)])
    failed = (ids == 0) & (t > 2.0) & (t < 3.0)
    s.update(ids, t, failed)
    # EMA from 0 with α = 0.5: r_2 = 0.5, the others stay 0.
    # p_2 = 0.9 · 0.51 / (0.51 + 5 · 0.01) + 0.1 / 6 = 0.819643 + 0.016667 = 0.836310
    # p_other = 0.9 · 0.01 / 0.56 + 0.1 / 6 = 0.016071 + 0.016667 = 0.032738
    assert s.failure_rate.tolist() == pytest.approx([0, 0, 0.5, 0, 0, 0])
    p = s.probabilities()
    assert float(p[2]) == pytest.approx(0.836310, abs=1e-6)
    assert p[[0, 1, 3, 4, 5]].tolist() == pytest.approx([0.032738] * 5, abs=1e-6)

    n = 20_000
    gen = torch.Generator().manual_seed(0)
    ids_s, t_s = s.sample(n, gen)
    in_bin2 = (ids_s == 0) & (t_s >= 2.0) & (t_s < 3.0)
    assert float(in_bin2.double().mean()) == pytest.approx(0.836310, abs=0.01)  # sd 0.0026
    hist = torch.bincount(s.bin_index(ids_s, t_s), minlength=6)
    assert int(hist.min()) > 0.032738 * n * 0.8  # no bin starved
    assert bool((t_s >= 0).all()) and bool((t_s <= lib.duration_s[ids_s]).all())

    # a second failing batch: r_2 = 0.5 · 0.5 + 0.5 · 1 = 0.75; successes decay it: 0.375
    s.update(ids, t, failed)
    assert float(s.failure_rate[2]) == pytest.approx(0.75)
    s.update(ids, t, torch.zeros_like(failed))
    assert float(s.failure_rate[2]) == pytest.approx(0.375)
    # bins without episodes keep their rate: only bin 0 reported (all failed) → r_0 = 0.5
    s.update(torch.tensor([0, 0]), torch.tensor([0.1, 0.9]), torch.ones(2, dtype=torch.bool))
    assert s.failure_rate.tolist() == pytest.approx([0.5, 0, 0.375, 0, 0, 0])


def test_adaptive_sampler_never_drops_a_bin(lib):
    s = AdaptiveSampler(lib, bin_s=1.0, alpha=1.0, uniform_mix=0.1, epsilon=1e-3)
    # every bin but bin 4 fails always: bin 4 keeps at least m / K = 0.1 / 6
    ids = torch.tensor([0, 0, 0, 0, 1])
    t = torch.tensor([0.5, 1.5, 2.5, 3.5, 0.5])
    s.update(ids, t, torch.ones(5, dtype=torch.bool))
    p = s.probabilities()
    assert float(p.sum()) == pytest.approx(1.0)
    # p_4 = 0.9 · 0.001 / (5 · 1.001 + 0.001) + 0.1 / 6
    assert float(p[4]) == pytest.approx(0.9 * 0.001 / 5.006 + 0.1 / 6, rel=1e-9)
    assert float(p.min()) >= 0.1 / 6


def test_clip_one_hot(lib):
    one_hot = lib.clip_one_hot(torch.tensor([1, 0, 1]))
    assert one_hot.shape == (3, 2) and one_hot.dtype == torch.float32
    assert one_hot.tolist() == [[0, 1], [1, 0], [0, 1]]


def test_motion_hash_is_stable_and_sensitive(g1, clips, lib):
    default, hand = clips
    assert len(lib.motion_hash) == 64 and int(lib.motion_hash, 16) >= 0
    # stable: rebuilt from freshly made clips (new arrays, same values) → same hash
    again = MotionLibrary([load_keyframes(default_clip_path(), g1), _hand_clip(g1)], g1)
    assert again.motion_hash == lib.motion_hash
    # one value changed by 1e-9 rad → different hash
    joint_pos = default.joint_pos.copy()
    joint_pos[100, 3] += 1e-9
    nudged = dataclasses.replace(default, joint_pos=joint_pos)
    assert MotionLibrary([nudged, hand], g1).motion_hash != lib.motion_hash
    # the frame rate is part of the hash
    assert MotionLibrary([default, dataclasses.replace(hand, fps=31.0)], g1).motion_hash != (
        lib.motion_hash
    )
    # clip order matters (clip ids / one-hot order change)
    assert MotionLibrary([hand, default], g1).motion_hash != lib.motion_hash


def test_torch_slerp_matches_numpy():
    rng = np.random.default_rng(0)
    q0 = rng.normal(size=(200, 4))
    q1 = rng.normal(size=(200, 4))
    q0 /= np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 /= np.linalg.norm(q1, axis=-1, keepdims=True)
    q1[:5] = q0[:5]  # identical: small-angle branch
    q1[5:10] = -q0[5:10]  # opposite sign, same rotation
    t = rng.uniform(size=200)
    expected = quat_slerp(q0, q1, t)
    got = torch_slerp(torch.as_tensor(q0), torch.as_tensor(q1), torch.as_tensor(t))
    torch.testing.assert_close(got, torch.as_tensor(expected), atol=1e-9, rtol=0)
    ends = torch_slerp(torch.as_tensor(q0[:2]), torch.as_tensor(q1[:2]), torch.tensor([0.0, 1.0]))
    assert torch.equal(ends[0], torch.as_tensor(q0[0])) and torch.equal(
        ends[1], torch.as_tensor(q1[1])
    )
