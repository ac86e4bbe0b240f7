"""rsl-rl-lib 5.x adapter: :class:`~humimic.envs.tracking.env.TrackingEnv` as a ``VecEnv``.

rsl-rl wants a ``TensorDict`` of observation groups, ``[N]`` rewards and dones, and an extras
dict with ``time_outs`` (truncations, bootstrapped by PPO) and ``log`` (scalars for
TensorBoard, keys with a ``/``). The adapter only translates; the MDP lives in the env.
"""

from __future__ import annotations

from typing import Any

import torch
from rsl_rl.env import VecEnv
from tensordict import TensorDict

from humimic.envs.tracking.env import StepResult, TrackingEnv

__all__ = ["RslRlVecEnv"]


class RslRlVecEnv(VecEnv):
    """Wraps a :class:`TrackingEnv`; observation groups ``actor`` and ``critic``.

    ``extras["log"]`` carries, per step: the mean of every reward term
    (``Reward/<name>``), every tracking error over all envs (``Error/<name>``), and, when
    episodes ended this step, their failure fraction (``Episode/failure_rate``).
    """

    def __init__(self, env: TrackingEnv, cfg: dict[str, Any] | None = None) -> None:
        self.env = env
        self.num_envs = env.num_envs
        self.num_actions = env.num_actions
        self.max_episode_length = env.max_episode_length
        self.device = env.device
        self.cfg = cfg or {}
        self.last_result: StepResult | None = None

    @property  # type: ignore[override]
    def episode_length_buf(self) -> torch.Tensor:
        return self.env.episode_length_buf

    @episode_length_buf.setter
    def episode_length_buf(self, value: torch.Tensor) -> None:
        self.env.episode_length_buf = value

    def _td(self, obs: dict[str, torch.Tensor]) -> TensorDict:
        return TensorDict(obs, batch_size=[self.num_envs], device=self.device)

    def get_observations(self) -> TensorDict:
        return self._td(self.env.observations)

    def step(self, actions: torch.Tensor) -> tuple[TensorDict, torch.Tensor, torch.Tensor, dict]:
        res = self.env.step(actions)
        self.last_result = res
        logs: dict[str, float | torch.Tensor] = {
            f"Reward/{k}": v.mean() for k, v in res.reward_terms.items()
        }
        logs.update({f"Error/{k}": v.mean() for k, v in res.errors.items()})
        done = res.done
        if bool(done.any()):
            logs["Episode/failure_rate"] = res.terminated[done].float().mean()
            logs["Episode/length_s"] = res.episode_length[done].float().mean() * self.env.step_dt_s
        extras = {"time_outs": res.truncated, "log": logs}
        return self._td(res.obs), res.reward, done.to(torch.long), extras

    def close(self) -> None:
        """Release the env."""
        self.env.close()
