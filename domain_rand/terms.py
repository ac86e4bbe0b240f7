"""Randomization terms as small pure functions: what a sampled value *means* for the simulator.

:class:`~humimic.domain_rand.randomizer.DomainRandomizer` draws the samples and hands the
results of these functions to the Backend setters; keeping the arithmetic here lets each rule be
tested against a hand-computed value without a simulator.
"""

from __future__ import annotations

import torch

from humimic.errors import ConfigError

__all__ = [
    "body_mass_scales",
    "countdown",
    "delay_steps",
    "pd_gains",
]

# A timer within this of zero has expired: a 1 s interval counted down in 0.02 s steps must
# fire on step 50, although fifty float subtractions of 0.02 from 1.0 leave ~1e-15 s.
TIMER_EPS_S = 1e-9


def body_mass_scales(
    link_scale: torch.Tensor,
    base_index: int,
    base_added_mass_kg: torch.Tensor,
    base_nominal_mass_kg: float,
) -> torch.Tensor:
    """``[n, K]`` mass scales for one ``set_body_mass_scale`` call (setters are not cumulative).

    Every body ``k`` gets ``link_scale[:, k]``; the base body becomes ``s·m₀ + Δm``, i.e.
    its scale is ``s + Δm / m₀``.

    Args:
        link_scale: ``[n, K]`` per-body multipliers (ones when link mass is not randomized).
        base_index: column of the base body.
        base_added_mass_kg: ``[n]`` mass added to the base (kg).
        base_nominal_mass_kg: nominal base mass ``m₀`` (kg, > 0).
    """
    if base_nominal_mass_kg <= 0:
        raise ConfigError(f"base body nominal mass must be > 0 kg, got {base_nominal_mass_kg}")
    scales = link_scale.clone()
    scales[:, base_index] += base_added_mass_kg / base_nominal_mass_kg
    return scales


def pd_gains(
    kp_nominal: torch.Tensor,
    kd_nominal: torch.Tensor,
    kp_scale: torch.Tensor,
    kd_scale: torch.Tensor,
    motor_strength: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(kp, kd)`` ``[n, J]`` from nominal ``[J]`` gains and ``[n, J]`` multipliers.

    A motor of strength ``s`` outputs ``τ = s·(kp·e − kd·q̇) = (s·kp)·e − (s·kd)·q̇``, so
    strength multiplies both gains: ``kp = kp₀·a_p·s`` and ``kd = kd₀·a_d·s``.
    """
    return kp_nominal * kp_scale * motor_strength, kd_nominal * kd_scale * motor_strength


def delay_steps(max_steps: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``[n]`` ``int64`` drawn uniformly from ``{0, 1, …, max_steps}``."""
    return torch.randint(0, max_steps + 1, (n,), generator=generator, device=generator.device)


def countdown(timer_s: torch.Tensor, dt_s: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Advance per-env countdowns by ``dt_s``: ``(timer_s − dt_s, expired mask)``.

    A timer expires when it reaches zero (within :data:`TIMER_EPS_S`).
    """
    if not dt_s > 0:
        raise ConfigError(f"dt_s must be > 0, got {dt_s}")
    left = timer_s - dt_s
    return left, left <= TIMER_EPS_S
