"""Uniform observation noise, per named observation term."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from humimic.errors import ConfigError

__all__ = ["ObservationNoise"]


class ObservationNoise:
    """Adds ``U(−h, h)`` noise to each entry of an observation, ``h`` chosen per term.

    The half-widths are laid out once into a ``[D]`` vector following the group's term order
    and sizes (``ObservationGroup.term_sizes``), so no slice is written by hand.

    Args:
        term_sizes: ``[(name, size)]`` of the observation group, in concatenation order.
        half_widths: ``{term name: h}`` in the term's units; terms not listed get no noise.
        generator: the random stream.

    Raises:
        ConfigError: a name in ``half_widths`` is not a term of the group (the message lists
            the group's terms), or a half-width is negative or not finite.
    """

    def __init__(
        self,
        term_sizes: Sequence[tuple[str, int]],
        half_widths: Mapping[str, float],
        generator: torch.Generator,
    ) -> None:
        names = [name for name, _ in term_sizes]
        if len(set(names)) != len(names):
            raise ConfigError(f"ObservationNoise: repeated term names in {names}")
        for name, size in term_sizes:
            if size < 1:
                raise ConfigError(f"ObservationNoise: term {name!r} has size {size}, expected >= 1")
        unknown = sorted(set(half_widths) - set(names))
        if unknown:
            raise ConfigError(
                f"observation noise for unknown term(s) {unknown}; "
                f"the group's terms: {', '.join(names)}"
            )
        pieces = []
        for name, size in term_sizes:
            h = float(half_widths.get(name, 0.0))
            if not (h >= 0.0 and h < float("inf")):
                raise ConfigError(
                    f"observation noise half-width of {name!r} must be finite and >= 0, got {h}"
                )
            pieces.append(torch.full((size,), h))
        self.term_sizes: list[tuple[str, int]] = list(term_sizes)
        self.half_width = torch.cat(pieces)
        """``[D]`` noise half-width of each observation entry."""
        self.generator = generator
        self._any = bool(torch.any(self.half_width > 0))

    @property
    def dim(self) -> int:
        """Observation size ``D``."""
        return int(self.half_width.numel())

    def __call__(self, obs: torch.Tensor) -> torch.Tensor:
        """``[N, D]`` ``obs + U(−h, h)``; entries with ``h = 0`` are returned unchanged."""
        if obs.ndim != 2 or obs.shape[1] != self.dim:
            raise ConfigError(
                f"ObservationNoise expects [N, {self.dim}] observations, got {list(obs.shape)}"
            )
        if not self._any:
            return obs
        u = torch.rand(obs.shape, generator=self.generator, device=self.generator.device)
        half = self.half_width.to(obs.device, obs.dtype)
        return obs + (2.0 * u.to(obs.device, obs.dtype) - 1.0) * half
