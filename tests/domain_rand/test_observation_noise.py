"""ObservationNoise: per-term uniform noise laid out from the group's term sizes."""

from __future__ import annotations

import pytest
import torch

from humimic.domain_rand import DomainRandConfig, ObservationNoise
from humimic.errors import ConfigError

# An actor group like the tracking task's, with the sizes ObservationGroup reports for J = 29.
TERMS = [
    ("ref_joint_pos", 29),
    ("ref_joint_vel", 29),
    ("ref_anchor_pos_b", 3),
    ("ref_anchor_ori_b", 6),
    ("base_ang_vel_b", 3),
    ("projected_gravity_b", 3),
    ("joint_pos_rel", 29),
    ("joint_vel", 29),
    ("last_action", 29),
]


def _slices() -> dict[str, slice]:
    out, start = {}, 0
    for name, size in TERMS:
        out[name] = slice(start, start + size)
        start += size
    return out


def test_noise_stays_within_each_terms_half_width_and_is_zero_elsewhere() -> None:
    half_widths = DomainRandConfig().obs_noise_half_widths()
    noise = ObservationNoise(TERMS, half_widths, torch.Generator().manual_seed(0))
    assert noise.dim == 160  # 5·29 + 3 + 6 + 3 + 3
    obs = torch.randn(2000, noise.dim)
    delta = noise(obs) - obs
    for name, sl in _slices().items():
        h = half_widths.get(name, 0.0)
        part = delta[:, sl]
        if h == 0.0:
            assert torch.equal(part, torch.zeros_like(part)), name
        else:
            # within ±h (float32 rounding of obs + noise allows a few ulps of the obs)
            assert part.abs().max() <= h + 1e-5, name
            assert part.abs().max() >= 0.95 * h, name  # spans the interval
            assert abs(part.mean().item()) < 0.05 * h, name  # centred


def test_half_width_vector_follows_term_order() -> None:
    noise = ObservationNoise(
        [("a", 2), ("b", 1), ("c", 3)], {"c": 0.3, "a": 0.1}, torch.Generator()
    )
    torch.testing.assert_close(noise.half_width, torch.tensor([0.1, 0.1, 0.0, 0.3, 0.3, 0.3]))


def test_no_noise_returns_the_input() -> None:
    noise = ObservationNoise([("a", 2)], {}, torch.Generator())
    obs = torch.randn(4, 2)
    assert noise(obs) is obs


def test_unknown_term_lists_the_groups_terms() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown term\(s\) \['ref_anchor_ori_b', 'ref_anchor_pos_b'\]; "
        r"the group's terms: base_ang_vel_b, projected_gravity_b, joint_pos_rel, joint_vel",
    ):
        ObservationNoise(
            [
                ("base_ang_vel_b", 3),
                ("projected_gravity_b", 3),
                ("joint_pos_rel", 29),
                ("joint_vel", 29),
            ],
            DomainRandConfig().obs_noise_half_widths(),
            torch.Generator(),
        )


def test_rejects_bad_shapes_and_widths() -> None:
    noise = ObservationNoise([("a", 2)], {"a": 0.1}, torch.Generator())
    with pytest.raises(ConfigError, match=r"expects \[N, 2\] observations, got \[4, 3\]"):
        noise(torch.zeros(4, 3))
    with pytest.raises(ConfigError, match=r"half-width of 'a' must be finite and >= 0, got -0.1"):
        ObservationNoise([("a", 2)], {"a": -0.1}, torch.Generator())
    with pytest.raises(ConfigError, match=r"term 'a' has size 0"):
        ObservationNoise([("a", 0)], {}, torch.Generator())
