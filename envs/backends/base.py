"""The :class:`Backend` contract: a batch of simulated robots behind torch tensors.

Everything task code (``envs/``) and randomization code (``domain_rand/``) needs from a
simulator goes through this interface, so a GPU backend can replace the MuJoCo CPU one
without touching them. Conventions:

* Tensors are ``float32``, batched with ``num_envs`` first, on :attr:`Backend.device`.
* Positions in m, angles in rad, velocities in m/s and rad/s, forces in N, masses in kg.
* Quaternions are **wxyz**. Every ``*_w`` quantity is in the world frame, velocities included
  (the root's angular velocity is *not* MuJoCo's body-frame free-joint velocity).
* Joints are in policy order (``spec.joint_names``); bodies are ``spec.tracked_bodies``,
  in that order.
* ``env_ids`` is a 1-D integer tensor (or sequence) of env indices; the per-env arguments
  of a call have ``len(env_ids)`` rows, in the same order.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch

EnvIds = torch.Tensor | Sequence[int]


class Backend(ABC):
    """A batch of ``num_envs`` independent copies of one robot on flat ground."""

    # -- sizes and timing ---------------------------------------------------------------
    @property
    @abstractmethod
    def num_envs(self) -> int:
        """Number of parallel environments ``N``."""

    @property
    @abstractmethod
    def device(self) -> torch.device:
        """Device of every tensor the backend returns."""

    @property
    @abstractmethod
    def physics_dt_s(self) -> float:
        """Physics time step (s)."""

    @property
    @abstractmethod
    def decimation(self) -> int:
        """Physics steps per :meth:`step` (per policy step)."""

    @property
    def step_dt_s(self) -> float:
        """Policy step duration: ``decimation · physics_dt_s`` (s)."""
        return self.decimation * self.physics_dt_s

    @property
    @abstractmethod
    def joint_names(self) -> tuple[str, ...]:
        """The ``J`` actuated joints, in policy order."""

    @property
    @abstractmethod
    def body_names(self) -> tuple[str, ...]:
        """The ``B`` tracked bodies, in the order of the ``body_*`` tensors."""

    @property
    @abstractmethod
    def all_body_names(self) -> tuple[str, ...]:
        """Every body of the simulated robot, the world excluded (massless frames included).

        A superset of :attr:`body_names`; pass it to :meth:`set_body_mass_scale` to scale all
        links.
        """

    # -- state ------------------------------------------------------------------------
    @property
    @abstractmethod
    def root_pos_w(self) -> torch.Tensor:
        """``[N, 3]`` root body origin, world frame (m)."""

    @property
    @abstractmethod
    def root_quat_w(self) -> torch.Tensor:
        """``[N, 4]`` root orientation, wxyz, body → world."""

    @property
    @abstractmethod
    def root_lin_vel_w(self) -> torch.Tensor:
        """``[N, 3]`` linear velocity of the root body origin, world frame (m/s)."""

    @property
    @abstractmethod
    def root_ang_vel_w(self) -> torch.Tensor:
        """``[N, 3]`` angular velocity of the root, world frame (rad/s)."""

    @property
    @abstractmethod
    def joint_pos(self) -> torch.Tensor:
        """``[N, J]`` joint positions, policy order (rad)."""

    @property
    @abstractmethod
    def joint_vel(self) -> torch.Tensor:
        """``[N, J]`` joint velocities, policy order (rad/s)."""

    @property
    @abstractmethod
    def body_pos_w(self) -> torch.Tensor:
        """``[N, B, 3]`` tracked body origins, world frame (m)."""

    @property
    @abstractmethod
    def body_quat_w(self) -> torch.Tensor:
        """``[N, B, 4]`` tracked body orientations, wxyz, body → world."""

    @property
    @abstractmethod
    def body_lin_vel_w(self) -> torch.Tensor:
        """``[N, B, 3]`` linear velocity of each tracked body origin, world frame (m/s)."""

    @property
    @abstractmethod
    def body_ang_vel_w(self) -> torch.Tensor:
        """``[N, B, 3]`` angular velocity of each tracked body, world frame (rad/s)."""

    @abstractmethod
    def contact_force_w(self, body_names: Sequence[str]) -> torch.Tensor:
        """``[N, K, 3]`` net contact force on each of the ``K`` named bodies, world frame (N).

        The force the environment (ground, other bodies) exerts on the body: a robot standing
        still has ``Σ_k f_z ≈ m·g`` over its feet. Any body of :attr:`all_body_names` may be
        named, tracked or not (a body without collision geometry reads zero). A backend may
        report the forces of the last physics step's constraint solve, i.e. up to one
        :attr:`physics_dt_s` older than the state.
        """

    # -- stepping and resets ----------------------------------------------------------------
    @abstractmethod
    def step(self, joint_pos_target: torch.Tensor) -> None:
        """Advance every env by :attr:`decimation` physics steps.

        Args:
            joint_pos_target: ``[N, J]`` joint position targets (rad), held for the whole
                policy step; a PD loop ``τ = kp·(q* − q) − kd·q̇``, clipped to the effort
                limits, runs at physics rate.
        """

    @abstractmethod
    def reset(
        self,
        env_ids: EnvIds,
        root_pos_w: torch.Tensor,
        root_quat_w: torch.Tensor,
        root_lin_vel_w: torch.Tensor,
        root_ang_vel_w: torch.Tensor,
        joint_pos: torch.Tensor,
        joint_vel: torch.Tensor,
    ) -> None:
        """Write a full state into the envs ``env_ids`` (``n = len(env_ids)``).

        Args:
            root_pos_w: ``[n, 3]`` (m). root_quat_w: ``[n, 4]`` wxyz, unit norm.
            root_lin_vel_w, root_ang_vel_w: ``[n, 3]`` world frame (m/s, rad/s).
            joint_pos, joint_vel: ``[n, J]`` policy order (rad, rad/s).

        Reading the state back right after returns exactly these values. Solver warm starts
        and time are cleared, so a reset env evolves as if freshly created.
        """

    # -- randomization (used by domain_rand/) -------------------------------------------
    @abstractmethod
    def set_friction(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        """Sliding friction coefficient of every contact in the envs; ``values``: ``[n]``."""

    @abstractmethod
    def set_body_mass_scale(
        self, env_ids: EnvIds, body_names: Sequence[str], scales: torch.Tensor
    ) -> None:
        """Scale mass and rotational inertia of the ``K`` named bodies from their nominal values.

        ``scales``: ``[n, K]`` (1 = nominal). Not cumulative: each call starts from nominal.
        """

    @abstractmethod
    def set_com_offset(
        self, env_ids: EnvIds, body_names: Sequence[str], offsets_b: torch.Tensor
    ) -> None:
        """Shift the centre of mass of the ``K`` named bodies from nominal.

        ``offsets_b``: ``[n, K, 3]`` in each body's frame (m). Not cumulative.
        """

    @abstractmethod
    def set_pd_gains(self, env_ids: EnvIds, kp: torch.Tensor, kd: torch.Tensor) -> None:
        """PD gains per joint: ``kp`` ``[n, J]`` (N·m/rad), ``kd`` ``[n, J]`` (N·m·s/rad)."""

    @abstractmethod
    def set_armature(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        """Reflected rotor inertia per joint, ``values`` ``[n, J]`` (kg·m²)."""

    @abstractmethod
    def set_joint_damping(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        """Passive viscous damping per joint, ``values`` ``[n, J]`` (N·m·s/rad)."""

    @abstractmethod
    def set_joint_friction(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        """Dry (Coulomb) friction per joint, ``values`` ``[n, J]`` (N·m).

        Each joint resists motion with a torque of up to that magnitude (0 = frictionless).
        Absolute values, not scales.
        """

    @abstractmethod
    def push(self, env_ids: EnvIds, lin_vel_w: torch.Tensor, ang_vel_w: torch.Tensor) -> None:
        """Add ``lin_vel_w`` ``[n, 3]`` (m/s) and ``ang_vel_w`` ``[n, 3]`` (rad/s), world frame,
        to the root velocity of the envs."""

    # -- nominal values (what randomization scales from) ---------------------------------
    @abstractmethod
    def nominal_body_mass_kg(self, body_names: Sequence[str]) -> torch.Tensor:
        """``[K]`` mass of each named body as built, before any randomization (kg).

        Raises:
            RobotError: a name is not a body of the model (the message lists the valid ones).
        """

    @property
    @abstractmethod
    def nominal_armature(self) -> torch.Tensor:
        """``[J]`` reflected rotor inertia per joint as built, policy order (kg·m²)."""

    @property
    @abstractmethod
    def nominal_pd_gains(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(kp [J], kd [J])`` the backend starts with, policy order (N·m/rad, N·m·s/rad).

        These are ``spec.kp_nm_per_rad`` and ``spec.kd_nm_s_per_rad``.
        """
