"""The pure randomization rules, against hand-computed values."""

from __future__ import annotations

import pytest
import torch

from humimic.domain_rand.terms import body_mass_scales, countdown, delay_steps, pd_gains
from humimic.errors import ConfigError


def test_body_mass_scales_adds_base_mass_to_the_link_scale() -> None:
    link = torch.tensor([[1.0, 0.9, 1.1], [1.05, 1.0, 1.0]])
    added = torch.tensor([2.0, -1.0])
    scales = body_mass_scales(
        link, base_index=1, base_added_mass_kg=added, base_nominal_mass_kg=4.0
    )
    # base column: s + Δm/m₀ → 0.9 + 2/4 = 1.4 (mass 0.9·4 + 2 = 5.6 kg); 1.0 − 1/4 = 0.75
    expected = torch.tensor([[1.0, 1.4, 1.1], [1.05, 0.75, 1.0]])
    torch.testing.assert_close(scales, expected)
    torch.testing.assert_close(link, torch.tensor([[1.0, 0.9, 1.1], [1.05, 1.0, 1.0]]))  # no alias
    with pytest.raises(ConfigError, match="nominal mass must be > 0 kg, got 0.0"):
        body_mass_scales(link, 1, added, 0.0)


def test_pd_gains_motor_strength_multiplies_both() -> None:
    kp0, kd0 = torch.tensor([100.0, 40.0]), torch.tensor([5.0, 2.0])
    kp, kd = pd_gains(
        kp0,
        kd0,
        kp_scale=torch.tensor([[1.1, 1.0]]),
        kd_scale=torch.tensor([[1.0, 0.9]]),
        motor_strength=torch.tensor([[0.5, 2.0]]),
    )
    # kp = 100·1.1·0.5 = 55, 40·1·2 = 80; kd = 5·1·0.5 = 2.5, 2·0.9·2 = 3.6
    torch.testing.assert_close(kp, torch.tensor([[55.0, 80.0]]))
    torch.testing.assert_close(kd, torch.tensor([[2.5, 3.6]]))


def test_delay_steps_integers_in_range() -> None:
    steps = delay_steps(2, 600, torch.Generator().manual_seed(1))
    assert steps.dtype == torch.long
    assert set(steps.tolist()) == {0, 1, 2}
    assert delay_steps(0, 5, torch.Generator()).tolist() == [0] * 5


def test_countdown_fires_on_the_step_the_interval_elapses() -> None:
    # 1 s at 0.02 s per step: 50 steps, although 1.0 − 50·0.02 is not exactly 0 in floats
    timer = torch.tensor([1.0, 0.5], dtype=torch.float64)
    fired_at: dict[int, int] = {}
    for step in range(1, 61):
        timer, due = countdown(timer, 0.02)
        for env in torch.nonzero(due).reshape(-1).tolist():
            fired_at.setdefault(env, step)
    assert fired_at == {0: 50, 1: 25}
    with pytest.raises(ConfigError, match="dt_s must be > 0, got 0"):
        countdown(timer, 0.0)
