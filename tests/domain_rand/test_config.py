"""DomainRandConfig and Range: validation messages, defaults, sampling."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from humimic.domain_rand import DEFAULT_OBS_NOISE, DomainRandConfig, PushConfig, Range
from humimic.errors import ConfigError


def test_defaults_are_valid_and_cite_the_brief_values() -> None:
    cfg = DomainRandConfig()
    assert cfg.enabled
    assert cfg.friction == Range(0.3, 1.6)
    assert cfg.base_added_mass_kg == Range(-1.0, 3.0)
    assert cfg.com_offset is not None
    assert cfg.com_offset.axes == (Range(-0.025, 0.025), Range(-0.05, 0.05), Range(-0.05, 0.05))
    assert cfg.joint_pos_bias_rad == Range(-0.01, 0.01)
    assert cfg.max_action_delay_steps == 0
    assert cfg.push == PushConfig()
    assert cfg.push.interval_s == Range(1.0, 3.0)
    assert cfg.push.ang_vel_w_rad_s == (Range(-0.52, 0.52), Range(-0.52, 0.52), Range(-0.78, 0.78))
    assert cfg.obs_noise_half_widths() == {
        "base_ang_vel_b": 0.2,
        "projected_gravity_b": 0.05,
        "joint_pos_rel": 0.01,
        "joint_vel": 0.5,
        "ref_anchor_pos_b": 0.25,
        "ref_anchor_ori_b": 0.05,
    }
    assert hash(cfg) == hash(DomainRandConfig())  # frozen all the way down
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.enabled = False  # type: ignore[misc]


def test_obs_noise_off_when_disabled_or_none() -> None:
    assert DomainRandConfig(enabled=False).obs_noise_half_widths() == {}
    assert DomainRandConfig(obs_noise=None).obs_noise_half_widths() == {}
    assert dict(DEFAULT_OBS_NOISE) == DomainRandConfig().obs_noise_half_widths()


@pytest.mark.parametrize(
    ("low", "high", "message"),
    [
        (2.0, 1.0, r"Range: low 2.0 > high 1.0"),
        (math.nan, 1.0, r"Range.low must be finite, got nan"),
        (0.0, math.inf, r"Range.high must be finite, got inf"),
        ("0", 1.0, r"Range.low must be a number, got '0'"),
        (True, 1.0, r"Range.low must be a number, got True"),
    ],
)
def test_range_rejects(low: object, high: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Range(low, high)  # type: ignore[arg-type]


def test_range_accepts_numpy_scalars_and_stores_floats() -> None:
    r = Range(np.float32(0.5), np.int64(2))  # type: ignore[arg-type]
    assert (type(r.low), type(r.high)) == (float, float)
    assert r == Range(0.5, 2.0)


def test_range_sample_shape_bounds_and_constant() -> None:
    gen = torch.Generator().manual_seed(0)
    x = Range(-2.0, 3.0).sample((500, 4), gen)
    assert x.shape == (500, 4) and x.dtype == torch.float32
    assert x.min() >= -2.0 and x.max() <= 3.0
    assert x.min() < -1.9 and x.max() > 2.9  # covers the interval, not a corner of it
    assert Range(0.7, 0.7).sample(3, gen).tolist() == pytest.approx([0.7] * 3)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("kp_scale", Range(-0.1, 1.1), r"DomainRandConfig.kp_scale is a scale and must be > 0"),
        ("link_mass_scale", Range(0.0, 1.0), r"link_mass_scale is a scale and must be > 0"),
        ("friction", Range(-0.1, 1.0), r"DomainRandConfig.friction must be >= 0, got \(-0.1"),
        ("joint_friction_nm", Range(-1.0, 0.0), r"joint_friction_nm must be >= 0"),
        ("friction", (0.3, 1.6), r"DomainRandConfig.friction must be a Range or None"),
        ("max_action_delay_steps", -1, r"max_action_delay_steps must be an int >= 0, got -1"),
        ("max_action_delay_steps", 1.5, r"max_action_delay_steps must be an int >= 0, got 1.5"),
        ("enabled", 1, r"DomainRandConfig.enabled must be a bool, got 1"),
        ("push", Range(1, 2), r"DomainRandConfig.push must be a PushConfig or None"),
    ],
)
def test_config_rejects_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DomainRandConfig(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("obs_noise", "message"),
    [
        ((("joint_vel", 0.5), ("joint_vel", 0.1)), r"term 'joint_vel' listed twice"),
        ((("joint_vel", -0.5),), r"obs_noise\['joint_vel'\]: half-width must be finite and >= 0"),
        ((("joint_vel", math.nan),), r"obs_noise\['joint_vel'\]: half-width must be finite"),
        ((("joint_vel",),), r"entries must be \(term name, half-width\)"),
    ],
)
def test_config_rejects_obs_noise(obs_noise: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        DomainRandConfig(obs_noise=obs_noise)  # type: ignore[arg-type]


def test_push_interval_must_be_positive() -> None:
    with pytest.raises(ConfigError, match=r"PushConfig.interval_s must be > 0 s, got \(0.0, 1.0\)"):
        PushConfig(interval_s=Range(0.0, 1.0))
