"""ActionDelay: the action from k policy steps ago, per env, with resets."""

from __future__ import annotations

import pytest
import torch

from humimic.domain_rand import ActionDelay
from humimic.errors import ConfigError


def _action(step: int, num_envs: int = 3, num_actions: int = 2) -> torch.Tensor:
    """Action of env i at step t: [100·i + t, −(100·i + t)], so every value names its step."""
    base = 100.0 * torch.arange(num_envs)[:, None] + step
    return torch.cat([base, -base], dim=1)[:, :num_actions]


def test_returns_the_action_k_steps_ago() -> None:
    delay = ActionDelay(num_envs=3, num_actions=2, max_delay_steps=2)
    k = torch.tensor([0, 1, 2])
    out = [delay.push(_action(t), k) for t in range(6)]
    # env 0: no delay; env 1: one step back; env 2: two steps back. Before the history is
    # long enough, the first action after reset (step 0) comes out.
    expected_steps = {0: [0, 1, 2, 3, 4, 5], 1: [0, 0, 1, 2, 3, 4], 2: [0, 0, 0, 1, 2, 3]}
    for env, steps in expected_steps.items():
        got = [o[env, 0].item() - 100 * env for o in out]
        assert got == steps, f"env {env}"
        assert [o[env, 1].item() for o in out] == [-(100 * env + s) for s in steps]


def test_delay_can_change_between_steps_within_history() -> None:
    delay = ActionDelay(num_envs=1, num_actions=1, max_delay_steps=3)
    for t in range(5):
        delay.push(torch.tensor([[float(t)]]), torch.tensor([0]))
    # history now holds steps 1..4 (4 slots); step 5 pushed with delay 3 → step 2
    assert delay.push(torch.tensor([[5.0]]), torch.tensor([3])).item() == 2.0
    assert delay.push(torch.tensor([[6.0]]), torch.tensor([1])).item() == 5.0


def test_reset_forgets_only_the_reset_envs() -> None:
    delay = ActionDelay(num_envs=3, num_actions=2, max_delay_steps=2)
    k = torch.full((3,), 2)
    for t in range(4):
        delay.push(_action(t), k)
    delay.reset(torch.tensor([1]))
    out = delay.push(_action(4), k)  # envs 0, 2: step 2; env 1 restarted: its own step 4
    assert out[:, 0].tolist() == [2.0, 104.0, 202.0]
    out = delay.push(_action(5), k)
    assert out[:, 0].tolist() == [3.0, 104.0, 203.0]
    out = delay.push(_action(6), k)
    assert out[:, 0].tolist() == [4.0, 104.0, 204.0]
    out = delay.push(_action(7), k)
    assert out[:, 0].tolist() == [5.0, 105.0, 205.0]


def test_zero_max_delay_is_pass_through() -> None:
    delay = ActionDelay(num_envs=2, num_actions=3, max_delay_steps=0)
    a = torch.randn(2, 3)
    torch.testing.assert_close(delay.push(a, torch.zeros(2, dtype=torch.long)), a)


def test_output_is_not_a_view_of_the_buffer() -> None:
    delay = ActionDelay(num_envs=1, num_actions=1, max_delay_steps=1)
    out = delay.push(torch.tensor([[1.0]]), torch.tensor([1]))
    out += 10.0
    assert delay.push(torch.tensor([[2.0]]), torch.tensor([1])).item() == 1.0


@pytest.mark.parametrize(
    ("actions", "steps", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, dtype=torch.long), r"actions must be \[2, 2\]"),
        (torch.zeros(2, 2), torch.zeros(2), r"delay_steps must be an integer \[2\] tensor"),
        (torch.zeros(2, 2), torch.tensor([0, 2]), r"delay_steps must be in \[0, 1\], got min 0"),
        (torch.zeros(2, 2), torch.tensor([-1, 0]), r"delay_steps must be in \[0, 1\]"),
    ],
)
def test_push_rejects(actions: torch.Tensor, steps: torch.Tensor, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ActionDelay(2, 2, 1).push(actions, steps)


def test_constructor_rejects() -> None:
    with pytest.raises(ConfigError, match=r"ActionDelay.max_delay_steps must be an int >= 0"):
        ActionDelay(2, 2, -1)
    with pytest.raises(ConfigError, match=r"ActionDelay.num_envs must be an int >= 1, got 0"):
        ActionDelay(0, 2, 1)
