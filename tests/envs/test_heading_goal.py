"""DeepMimic's task objective: a heading/velocity goal drawn per episode, seen by the policy
(``target_heading_b``) and scored by ``heading_velocity_reward``, r = w_I r_I + w_G r_G."""

from __future__ import annotations

import math

import pytest
import torch

from humimic.cli import default_clip_path
from humimic.domain_rand import DomainRandConfig
from humimic.envs.tracking.config import (
    ACTOR_TERMS,
    CRITIC_TERMS,
    DEFAULT_REWARDS,
    HeadingGoal,
    RsiNoise,
    TrackingConfig,
)
from humimic.envs.tracking.observations import target_heading_b
from humimic.envs.tracking.state import RobotFrame, TermInput
from humimic.envs.train import build_env
from humimic.errors import ConfigError
from humimic.retarget.keyframes import load_keyframes

W_I, W_G = 0.7, 0.3  # DeepMimic's weights


def goal_config(goal: HeadingGoal, num_envs: int = 64) -> TrackingConfig:
    base = TrackingConfig(
        num_envs=num_envs,
        num_threads=1,
        rsi=RsiNoise.off(),
        domain_rand=DomainRandConfig(enabled=False),
    )
    cfg = base.with_heading_goal(goal, w_task=W_G)
    # DeepMimic's mix by hand: imitation weights × 0.7, the task term × 0.3, goal observed
    assert cfg.rewards == tuple((n, W_I * w if w > 0 else w) for n, w in DEFAULT_REWARDS) + (
        ("heading_velocity_reward", W_G),
    )
    assert cfg.actor_terms == (*ACTOR_TERMS, "target_heading_b")
    assert cfg.critic_terms == (*CRITIC_TERMS, "target_heading_b")
    return cfg


@pytest.fixture(scope="module")
def clip(g1):
    return load_keyframes(default_clip_path(), g1)


def test_goal_in_the_robot_heading_frame_by_hand() -> None:
    # robot yawed +90° (quaternion wxyz = (cos 45°, 0, 0, sin 45°)); goal along world +x at
    # 1.2 m/s → in the robot's heading frame the goal points to its right: (cos, sin) = (0, −1)
    c = math.cos(math.pi / 4)
    robot = RobotFrame(
        root_quat_w=torch.tensor([[c, 0.0, 0.0, c]]),
        root_ang_vel_w=torch.zeros(1, 3),
        joint_pos=torch.zeros(1, 29),
        joint_vel=torch.zeros(1, 29),
    )
    inp = TermInput(
        robot=robot,
        ref=robot,
        last_action=torch.zeros(1, 29),
        default_joint_pos=torch.zeros(29),
        target_heading_w=torch.tensor([[1.0, 0.0, 0.0]]),
        target_speed=torch.tensor([1.2]),
    )
    out = target_heading_b(inp)
    assert torch.allclose(out, torch.tensor([[0.0, -1.0, 1.2]]), atol=1e-6)


def test_goals_are_drawn_in_range_around_the_clip_direction(g1, clip) -> None:
    goal = HeadingGoal(speed_low_mps=0.4, speed_high_mps=0.9, heading_noise_rad=0.3)
    env = build_env(g1, [clip], goal_config(goal, num_envs=64))
    try:
        assert env.target_heading_w is not None and env.target_speed is not None
        # the embedded clip stands still: the base direction is the reference's forward (+x
        # rotated by its yaw); goals stay within ±0.3 rad of it
        d = env.target_heading_w
        assert torch.allclose(torch.linalg.vector_norm(d, dim=-1), torch.ones(64), atol=1e-5)
        assert torch.all(d[:, 2] == 0.0)
        ref_yaw = torch.stack(
            [
                env.library.sample(
                    env.clip_ids[i : i + 1], env.motion_time_s[i : i + 1]
                ).root_quat_w[0]
                for i in range(64)
            ]
        )
        yaw = torch.atan2(
            2 * (ref_yaw[:, 0] * ref_yaw[:, 3] + ref_yaw[:, 1] * ref_yaw[:, 2]),
            1 - 2 * (ref_yaw[:, 2] ** 2 + ref_yaw[:, 3] ** 2),
        )
        angle = torch.atan2(d[:, 1], d[:, 0])
        diff = torch.remainder(angle - yaw + math.pi, 2 * math.pi) - math.pi
        assert float(diff.abs().max()) <= 0.3 + 1e-5
        assert float(diff.std()) > 0.05  # actually drawn, not constant
        s = env.target_speed
        assert float(s.min()) >= 0.4 and float(s.max()) <= 0.9 and float(s.std()) > 0.05
    finally:
        env.close()


def test_the_goal_reaches_observations_and_reward(g1, clip) -> None:
    env = build_env(g1, [clip], goal_config(HeadingGoal(), num_envs=8))
    try:
        sizes = dict(env.actor_obs.term_sizes)
        assert sizes["target_heading_b"] == 3
        res = env.step(torch.zeros(8, g1.num_joints))
        r_g = res.reward_terms["heading_velocity_reward"]
        # a robot standing (≈ 0 m/s) short of a target speed v* scores exp(−2.5 v*²) (±5 %):
        v_star = env.target_speed
        assert v_star is not None
        assert torch.allclose(r_g, torch.exp(-2.5 * v_star**2), rtol=0.05, atol=0.02)
        # the weighted sum includes w_G · r_G
        total = sum(w * res.reward_terms[n] for n, w in env.cfg.rewards)
        assert torch.allclose(res.reward, total, rtol=1e-5, atol=1e-6)
    finally:
        env.close()


def test_goal_terms_without_a_goal_are_refused() -> None:
    with pytest.raises(ConfigError, match="heading_goal"):
        TrackingConfig(rewards=(("pose_reward", 1.0), ("heading_velocity_reward", 0.3)))
    with pytest.raises(ConfigError, match="speed_low_mps"):
        HeadingGoal(speed_low_mps=2.0, speed_high_mps=1.0)


def test_goal_config_round_trips(g1) -> None:
    cfg = goal_config(HeadingGoal(0.2, 0.8, 0.1))
    assert TrackingConfig.from_dict(cfg.to_dict()) == cfg
