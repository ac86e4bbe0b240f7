"""Domain randomization: terms and their config, applied only through the Backend interface.

* :mod:`~humimic.domain_rand.config`: :class:`DomainRandConfig` (ranges, units, sources).
* :mod:`~humimic.domain_rand.terms`: what a sampled value means (pure functions).
* :mod:`~humimic.domain_rand.randomizer`: :class:`DomainRandomizer` (startup / reset / step).
* :mod:`~humimic.domain_rand.action_delay`: :class:`ActionDelay` (ring buffer of actions).
* :mod:`~humimic.domain_rand.observation_noise`: :class:`ObservationNoise` (per-term noise).
"""

from humimic.domain_rand.action_delay import ActionDelay
from humimic.domain_rand.config import (
    DEFAULT_OBS_NOISE,
    ComOffsetRange,
    DomainRandConfig,
    PushConfig,
    Range,
)
from humimic.domain_rand.observation_noise import ObservationNoise
from humimic.domain_rand.randomizer import DomainRandomizer

__all__ = [
    "DEFAULT_OBS_NOISE",
    "ActionDelay",
    "ComOffsetRange",
    "DomainRandConfig",
    "DomainRandomizer",
    "ObservationNoise",
    "PushConfig",
    "Range",
]
