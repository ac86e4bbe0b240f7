"""TrackingEnv: reference state init, action → PD target, encoder offset, terminations,
truncation at clip end, observation sizes, rsl-rl adapter. Clip: the embedded default keyframe
clip (50 fps, 4.6 s); the nominal robot (randomization off) unless a test turns a term on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from humimic.cli import default_clip_path
from humimic.domain_rand import DomainRandConfig, Range
from humimic.envs.tracking.config import RsiNoise, TrackingConfig
from humimic.envs.tracking.env import TrackingEnv
from humimic.envs.train import build_env
from humimic.envs.vecenv import RslRlVecEnv
from humimic.errors import ConfigError
from humimic.retarget.keyframes import load_keyframes

NOMINAL = TrackingConfig(
    num_envs=3,
    num_threads=1,
    rsi=RsiNoise.off(),
    adaptive_sampling=False,
    domain_rand=DomainRandConfig(enabled=False),
)


@pytest.fixture(scope="module")
def clip():
    return load_keyframes(default_clip_path())


def make_env(g1, clip, **changes) -> TrackingEnv:
    return build_env(g1, [clip], replace(NOMINAL, **changes))


def test_observation_sizes_derive_from_the_robot(g1, clip):
    env = make_env(g1, clip)
    j, b = g1.num_joints, len(g1.tracked_bodies)
    sizes = dict(env.actor_obs.term_sizes)
    # joints: ref pos, ref vel, pos, vel, last action = 5 J; anchor ori rot6d 6; gyro 3; gravity 3
    assert sizes == {
        "ref_joint_pos": j,
        "ref_joint_vel": j,
        "ref_anchor_ori_b": 6,
        "base_ang_vel_b": 3,
        "projected_gravity_b": 3,
        "joint_pos_rel": j,
        "joint_vel": j,
        "last_action": j,
    }
    assert env.actor_obs.dim == 5 * j + 12 == env.observations["actor"].shape[1]
    critic = dict(env.critic_obs.term_sizes)
    assert critic["body_pos_b"] == 3 * b and critic["body_ori_b"] == 6 * b
    env.close()


def test_reset_without_noise_puts_the_robot_on_the_reference(g1, clip):
    env = make_env(g1, clip)
    ids = torch.arange(3)
    t = torch.tensor([0.0, 1.0, 2.5])
    env.reset_envs(ids, torch.zeros(3, dtype=torch.long), t)
    ref = env.library.sample(torch.zeros(3, dtype=torch.long), t)
    b = env.backend
    torch.testing.assert_close(b.joint_pos, ref.joint_pos, atol=1e-5, rtol=0)
    torch.testing.assert_close(b.root_pos_w, ref.root_pos_w, atol=1e-5, rtol=0)
    # bodies follow from the same joints through the MuJoCo and Pinocchio kinematics (< 1 mm)
    torch.testing.assert_close(b.body_pos_w, ref.body_pos_w, atol=1e-3, rtol=0)
    obs = env.refresh_observations()["actor"]
    sl = {n: s for n, s in env.actor_obs.term_sizes}
    # ref_anchor_ori_b on the reference = rot6d(identity) = (1, 0, 0, 1, 0, 0)
    start = 2 * sl["ref_joint_pos"]
    torch.testing.assert_close(
        obs[:, start : start + 6],
        torch.tensor([[1.0, 0, 0, 1, 0, 0]]).expand(3, -1),
        atol=2e-3,
        rtol=0,
    )
    env.close()


def test_action_becomes_the_pd_target(g1, clip):
    env = make_env(g1, clip)
    a = torch.linspace(-1.0, 1.0, g1.num_joints).expand(3, -1)
    env.step(a)
    # target = q_default + action_scale * a, read back from MuJoCo's position actuators
    expected = np.array(g1.default_joint_pos_rad) + np.array(g1.action_scale_rad) * a[0].numpy()
    ctrl = env.backend.datas[0].ctrl[env.backend.robot.actuator_ids]
    np.testing.assert_allclose(ctrl, expected, atol=1e-6)
    env.close()


def test_encoder_offset_shifts_observation_and_target(g1, clip):
    dr = DomainRandConfig(
        enabled=True,
        **{name: None for name in _ALL_TERMS},
        joint_pos_bias_rad=Range(0.05, 0.05),  # every joint off by exactly +0.05 rad
    )
    env = make_env(g1, clip, domain_rand=dr)
    bias = env.randomizer.joint_pos_bias
    torch.testing.assert_close(bias, torch.full_like(bias, 0.05))
    env.step(torch.zeros(3, g1.num_joints))
    # target in joint coordinates = q_default − 0.05 (the encoder reads 0.05 too high)
    ctrl = env.backend.datas[0].ctrl[env.backend.robot.actuator_ids]
    np.testing.assert_allclose(ctrl, np.array(g1.default_joint_pos_rad) - 0.05, atol=1e-6)
    env.close()


_ALL_TERMS = (
    "friction",
    "link_mass_scale",
    "base_added_mass_kg",
    "com_offset",
    "kp_scale",
    "kd_scale",
    "motor_strength",
    "armature_scale",
    "joint_damping_nm_s_per_rad",
    "joint_friction_nm",
    "push",
    "obs_noise",
)


def test_falling_terminates_and_resets(g1, clip):
    env = make_env(g1, clip)
    ids = torch.arange(3)
    env.reset_envs(ids, torch.zeros(3, dtype=torch.long), torch.zeros(3))
    b = env.backend
    low = b.root_pos_w.clone()
    low[0, 2] -= 0.4  # env 0 drops 0.4 m below the reference: anchor height error > 0.25 m
    b.reset(ids, low, b.root_quat_w, b.root_lin_vel_w, b.root_ang_vel_w, b.joint_pos, b.joint_vel)
    res = env.step(torch.zeros(3, g1.num_joints))
    assert res.terminated.tolist() == [True, False, False]
    assert not res.truncated.any()
    assert res.episode_length.tolist() == [1, 0, 0]
    assert env.episode_length_buf.tolist() == [0, 1, 1]  # env 0 restarted
    env.close()


def test_clip_end_truncates_not_fails(g1, clip):
    env = make_env(g1, clip)
    dt = env.step_dt_s
    end = float(env.library.duration_s[0])
    ids = torch.arange(3)
    # env 0 starts half a step before the end: one step later it is past the clip end
    env.reset_envs(ids, torch.zeros(3, dtype=torch.long), torch.tensor([end - dt / 2, 0.0, 1.0]))
    venv = RslRlVecEnv(env)
    _, _, dones, extras = venv.step(torch.zeros(3, g1.num_joints))
    assert dones.tolist() == [1, 0, 0]
    assert extras["time_outs"].tolist() == [True, False, False]
    assert venv.get_observations()["actor"].shape == (3, env.actor_obs.dim)
    env.close()


def test_reward_is_the_weighted_sum_of_terms(g1, clip):
    env = make_env(g1, clip)
    res = env.step(torch.zeros(3, g1.num_joints))
    total = sum(w * res.reward_terms[n] for n, w in NOMINAL.rewards)
    torch.testing.assert_close(res.reward, total)
    env.close()


def test_config_rejects_unknown_terms():
    with pytest.raises(ConfigError, match="observation term.*no_such_term"):
        TrackingConfig(actor_terms=("no_such_term",))
    with pytest.raises(ConfigError, match="reward term.*nope"):
        TrackingConfig(rewards=(("nope", 1.0),))
    with pytest.raises(ConfigError, match="num_envs"):
        TrackingConfig(num_envs=0)


def test_config_round_trips_through_a_dict():
    cfg = replace(NOMINAL, num_envs=7, rewards=(("pose_reward", 0.65), ("com_reward", 0.1)))
    assert TrackingConfig.from_dict(cfg.to_dict()) == cfg
