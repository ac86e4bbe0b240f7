"""Action delay: each env applies the policy's action from a few policy steps ago."""

from __future__ import annotations

import torch

from humimic.envs.backends.base import EnvIds
from humimic.errors import ConfigError

__all__ = ["ActionDelay"]


class ActionDelay:
    """A per-env ring buffer of the last ``max_delay_steps + 1`` actions.

    Args:
        num_envs: ``N``.
        num_actions: ``J``.
        max_delay_steps: the largest delay :meth:`push` will be asked for (0 = pass-through).
        device: where the buffer lives.

    All envs push every policy step, so one write slot is shared; each env counts how many
    actions it has pushed since its last :meth:`reset`, and a delay longer than that history
    returns the oldest action it has (the first one after the reset).
    """

    def __init__(
        self,
        num_envs: int,
        num_actions: int,
        max_delay_steps: int,
        device: torch.device | str = "cpu",
    ) -> None:
        for name, value, least in (
            ("num_envs", num_envs, 1),
            ("num_actions", num_actions, 1),
            ("max_delay_steps", max_delay_steps, 0),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"ActionDelay.{name} must be an int >= {least}, got {value!r}")
        self.num_envs = num_envs
        self.num_actions = num_actions
        self.max_delay_steps = max_delay_steps
        self.device = torch.device(device)
        self._slots = max_delay_steps + 1
        self._buffer = torch.zeros(num_envs, self._slots, num_actions, device=self.device)
        self._head = -1  # slot of the newest action
        self._count = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._rows = torch.arange(num_envs, device=self.device)

    def push(self, actions: torch.Tensor, delay_steps: torch.Tensor) -> torch.Tensor:
        """Store this step's actions and return the ones to apply.

        Args:
            actions: ``[N, J]`` the policy's actions this step.
            delay_steps: ``[N]`` integer delay per env, in ``[0, max_delay_steps]``.

        Returns:
            ``[N, J]``: row ``i`` is the action env ``i`` pushed ``delay_steps[i]`` calls ago
            (the oldest since its reset if it has fewer), ``actions[i]`` for a delay of 0.
        """
        if actions.shape != (self.num_envs, self.num_actions):
            raise ConfigError(
                f"ActionDelay.push: actions must be [{self.num_envs}, {self.num_actions}], "
                f"got {list(actions.shape)}"
            )
        if delay_steps.shape != (self.num_envs,) or delay_steps.is_floating_point():
            raise ConfigError(
                f"ActionDelay.push: delay_steps must be an integer [{self.num_envs}] tensor, "
                f"got {delay_steps.dtype} {list(delay_steps.shape)}"
            )
        delay = delay_steps.to(self.device, torch.long)
        if delay.numel() and (int(delay.min()) < 0 or int(delay.max()) > self.max_delay_steps):
            raise ConfigError(
                f"ActionDelay.push: delay_steps must be in [0, {self.max_delay_steps}], "
                f"got min {int(delay.min())}, max {int(delay.max())}"
            )
        self._head = (self._head + 1) % self._slots
        self._buffer[:, self._head] = actions.to(self.device, self._buffer.dtype)
        self._count = torch.clamp(self._count + 1, max=self._slots)
        steps_back = torch.minimum(delay, self._count - 1)
        slot = (self._head - steps_back) % self._slots
        return self._buffer[self._rows, slot].clone()

    def reset(self, env_ids: EnvIds) -> None:
        """Forget the history of ``env_ids``: their next :meth:`push` returns its own action."""
        ids = torch.as_tensor(env_ids, dtype=torch.long, device=self.device).reshape(-1)
        self._count[ids] = 0
        self._buffer[ids] = 0.0
