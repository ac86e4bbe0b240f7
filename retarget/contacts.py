"""Stance detection on the source feet: height and speed with hysteresis."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from humimic.errors import ConfigError


@dataclass(frozen=True)
class StanceConfig:
    """Thresholds on the *source* (human, metres) foot.

    A foot enters stance when its height above the ground is below ``height_on_m`` and its
    horizontal speed below ``speed_on_m_s``; it leaves when either exceeds its ``_off`` value.
    Stance segments shorter than ``min_stance_s`` are dropped.
    """

    height_on_m: float = 0.05
    height_off_m: float = 0.07
    speed_on_m_s: float = 0.5
    speed_off_m_s: float = 0.7
    min_stance_s: float = 0.06

    def __post_init__(self) -> None:
        if not 0 < self.height_on_m <= self.height_off_m:
            raise ConfigError(f"StanceConfig.height_on_m/off: need 0 < on <= off, got {self}")
        if not 0 < self.speed_on_m_s <= self.speed_off_m_s:
            raise ConfigError(f"StanceConfig.speed_on_m_s/off: need 0 < on <= off, got {self}")


def detect_stance(
    height_m: np.ndarray, speed_m_s: np.ndarray, fps: float, config: StanceConfig
) -> np.ndarray:
    """Stance flags ``[T, F]`` from foot heights and horizontal speeds ``[T, F]``."""
    T, F = height_m.shape
    stance = np.zeros((T, F), dtype=bool)
    for f in range(F):
        on = False
        for t in range(T):
            h, v = height_m[t, f], speed_m_s[t, f]
            if on:
                on = not (h > config.height_off_m or v > config.speed_off_m_s)
            else:
                on = h < config.height_on_m and v < config.speed_on_m_s
            stance[t, f] = on
        min_len = max(1, int(round(config.min_stance_s * fps)))
        for start, stop in segments(stance[:, f]):
            if stop - start < min_len:
                stance[start:stop, f] = False
    return stance


def segments(flags: np.ndarray) -> list[tuple[int, int]]:
    """``[start, stop)`` index ranges where ``flags [T]`` is true."""
    padded = np.concatenate([[False], flags.astype(bool), [False]])
    edges = np.flatnonzero(np.diff(padded.astype(np.int8)))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]
