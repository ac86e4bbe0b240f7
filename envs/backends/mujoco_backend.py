"""The MuJoCo CPU backend: one ``MjModel`` + ``MjData`` per env, stepped on a thread pool.

Design:

* **One model per env.** Randomization writes model parameters (friction, masses, gains),
  so every env owns a copy of the compiled model (``copy.copy`` of the G1 takes ~3 ms and
  a few hundred kB). Nominal values are kept to make setters non-cumulative.
* **Parallel physics.** Envs are split into ``num_threads`` contiguous chunks; each chunk runs
  ``decimation × mj_step`` then one ``mj_forward`` per env on a persistent thread pool.
  ``mj_step`` releases the GIL, so the chunks run on separate cores. (``mujoco.rollout`` was
  the alternative; it steps scratch ``MjData`` per thread, so every env would need its state
  copied in and out and a forward pass anyway — more code for no gain at these batch sizes.)
* **Consistent state after a step.** ``mj_step`` leaves positions-derived quantities
  (``xpos``, ``cvel``, contacts) from *before* the integration; the final ``mj_forward``
  makes bodies, velocities and contact forces match ``qpos``/``qvel``. It costs about one
  physics step per policy step (decimation 4 → ~20 %).
* **Gather once.** State readers stack all ``MjData`` into numpy, then torch, once per
  step; the cache is dropped on :meth:`step`, :meth:`reset` and :meth:`push`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import mujoco
import numpy as np
import torch

from humimic.envs.backends.base import Backend, EnvIds
from humimic.errors import ConfigError, RobotError, unknown_name
from humimic.robots.mujoco_model import MujocoRobot, build_mujoco
from humimic.robots.spec import RobotSpec


def _quat_to_mat(quat_wxyz: np.ndarray) -> np.ndarray:
    """``[..., 4]`` wxyz (unit) → ``[..., 3, 3]`` rotation matrices."""
    w, x, y, z = np.moveaxis(quat_wxyz, -1, 0)
    return np.stack(
        [
            np.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            np.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            np.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


class MujocoBackend(Backend):
    """``num_envs`` copies of ``spec`` in MuJoCo, ``decimation`` physics steps per policy step.

    Args:
        spec: the robot.
        num_envs: number of envs ``N`` (>= 1).
        decimation: physics steps per :meth:`step` (>= 1).
        num_threads: worker threads stepping the envs (>= 1; 1 steps on the calling thread).

    All envs start in the default pose at ``spec.default_root_height_m`` with the policy PD
    gains (``spec.kp_nm_per_rad``, ``spec.kd_nm_s_per_rad``).
    """

    def __init__(
        self, spec: RobotSpec, num_envs: int, decimation: int = 4, num_threads: int = 2
    ) -> None:
        for field, value in (
            ("num_envs", num_envs),
            ("decimation", decimation),
            ("num_threads", num_threads),
        ):
            if value < 1:
                raise ConfigError(f"MujocoBackend.{field} must be >= 1, got {value}")
        self.spec = spec
        self.robot: MujocoRobot = build_mujoco(spec, include_visual=False)
        nominal = self.robot.model
        self._num_envs = num_envs
        self._decimation = decimation
        self.models: list[mujoco.MjModel] = [copy.copy(nominal) for _ in range(num_envs)]
        self.datas: list[mujoco.MjData] = [mujoco.MjData(m) for m in self.models]
        self._nominal_mass = nominal.body_mass.copy()
        self._nominal_inertia = nominal.body_inertia.copy()
        self._nominal_ipos = nominal.body_ipos.copy()
        self._body_index = {nominal.body(i).name: i for i in range(nominal.nbody)}
        self._body_ids = self.robot.tracked_body_ids
        self._root_id = self.robot.root_body_id
        self._num_threads = min(num_threads, num_envs)
        self._pool = (
            ThreadPoolExecutor(self._num_threads, thread_name_prefix="mujoco-backend")
            if self._num_threads > 1
            else None
        )
        bounds = np.linspace(0, num_envs, self._num_threads + 1).round().astype(int)
        self._chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self._cache: dict[str, torch.Tensor] = {}
        self._device = torch.device("cpu")

        n = num_envs
        q0 = torch.tensor(spec.default_joint_pos_rad, dtype=torch.float32).expand(n, -1)
        zeros3 = torch.zeros(n, 3)
        root = torch.tensor([0.0, 0.0, spec.default_root_height_m]).expand(n, -1)
        quat = torch.tensor([1.0, 0.0, 0.0, 0.0]).expand(n, -1)
        self.reset(range(n), root, quat, zeros3, zeros3, q0, torch.zeros_like(q0))

    def close(self) -> None:
        """Stop the worker threads."""
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    # -- sizes ----------------------------------------------------------------------------
    @property
    def num_envs(self) -> int:
        return self._num_envs

    @property
    def device(self) -> torch.device:
        return self._device

    @property
    def physics_dt_s(self) -> float:
        return float(self.robot.model.opt.timestep)

    @property
    def decimation(self) -> int:
        return self._decimation

    @property
    def joint_names(self) -> tuple[str, ...]:
        return self.spec.joint_names

    @property
    def body_names(self) -> tuple[str, ...]:
        return self.spec.tracked_bodies

    @property
    def num_threads(self) -> int:
        return self._num_threads

    # -- helpers --------------------------------------------------------------------------
    def _ids(self, env_ids: EnvIds) -> np.ndarray:
        ids = np.asarray(
            env_ids.cpu().numpy() if isinstance(env_ids, torch.Tensor) else list(env_ids),
            dtype=np.int64,
        ).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self._num_envs):
            raise ConfigError(f"env_ids must be in [0, {self._num_envs}), got {ids.tolist()}")
        return ids

    @staticmethod
    def _np(x: torch.Tensor | np.ndarray | Sequence[float], rows: int, *shape: int) -> np.ndarray:
        arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
        return np.broadcast_to(arr.astype(np.float64), (rows, *shape))

    def _body_ids_of(self, body_names: Sequence[str]) -> np.ndarray:
        ids = []
        for name in body_names:
            if name not in self._body_index:
                raise RobotError(unknown_name("MuJoCo body", name, self._body_index))
            ids.append(self._body_index[name])
        return np.array(ids, dtype=np.int64)

    def _parallel(self, work: Callable[[int], None]) -> None:
        """Run ``work(env)`` for every env, one chunk of envs per thread."""

        def run(chunk: range) -> None:
            for i in chunk:
                work(i)

        if self._pool is None:
            run(range(self._num_envs))
        else:
            for future in [self._pool.submit(run, c) for c in self._chunks]:
                future.result()

    def _cached(self, key: str, compute: Callable[[], np.ndarray]) -> torch.Tensor:
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(np.ascontiguousarray(compute(), dtype=np.float32))
        return self._cache[key]

    # -- state ------------------------------------------------------------------------------
    def _qpos(self) -> np.ndarray:
        return np.stack([d.qpos for d in self.datas])

    def _qvel(self) -> np.ndarray:
        return np.stack([d.qvel for d in self.datas])

    @property
    def root_pos_w(self) -> torch.Tensor:
        return self._cached("root_pos_w", lambda: self._qpos()[:, 0:3])

    @property
    def root_quat_w(self) -> torch.Tensor:
        return self._cached("root_quat_w", lambda: self._qpos()[:, 3:7])

    @property
    def root_lin_vel_w(self) -> torch.Tensor:
        # free joint: qvel[0:3] is the world-frame velocity of the root body origin
        return self._cached("root_lin_vel_w", lambda: self._qvel()[:, 0:3])

    @property
    def root_ang_vel_w(self) -> torch.Tensor:
        # free joint: qvel[3:6] is in the body frame; ω_w = R ω_b
        def compute() -> np.ndarray:
            quat = self._qpos()[:, 3:7]
            quat = quat / np.linalg.norm(quat, axis=-1, keepdims=True)
            return np.einsum("nij,nj->ni", _quat_to_mat(quat), self._qvel()[:, 3:6])

        return self._cached("root_ang_vel_w", compute)

    @property
    def joint_pos(self) -> torch.Tensor:
        return self._cached("joint_pos", lambda: self._qpos()[:, self.robot.joint_qpos_adr])

    @property
    def joint_vel(self) -> torch.Tensor:
        return self._cached("joint_vel", lambda: self._qvel()[:, self.robot.joint_dof_adr])

    @property
    def body_pos_w(self) -> torch.Tensor:
        return self._cached(
            "body_pos_w", lambda: np.stack([d.xpos[self._body_ids] for d in self.datas])
        )

    @property
    def body_quat_w(self) -> torch.Tensor:
        return self._cached(
            "body_quat_w", lambda: np.stack([d.xquat[self._body_ids] for d in self.datas])
        )

    def _body_vel(self) -> None:
        """Fill both body velocity caches from ``cvel``.

        ``cvel[b] = [ω, v_c]``: angular velocity and the linear velocity of the point of body
        ``b`` at ``subtree_com[body_rootid[b]]`` (the tree's COM), both in world orientation.
        Rigid-body transport to the body origin: ``v_o = v_c + ω × (x_o − c)``.
        """
        ids = self._body_ids
        trees = np.stack([d.subtree_com[self.models[0].body_rootid[ids]] for d in self.datas])
        cvel = np.stack([d.cvel[ids] for d in self.datas])
        xpos = np.stack([d.xpos[ids] for d in self.datas])
        ang = cvel[..., 0:3]
        lin = cvel[..., 3:6] + np.cross(ang, xpos - trees)
        self._cached("body_ang_vel_w", lambda: ang)
        self._cached("body_lin_vel_w", lambda: lin)

    @property
    def body_lin_vel_w(self) -> torch.Tensor:
        if "body_lin_vel_w" not in self._cache:
            self._body_vel()
        return self._cache["body_lin_vel_w"]

    @property
    def body_ang_vel_w(self) -> torch.Tensor:
        if "body_ang_vel_w" not in self._cache:
            self._body_vel()
        return self._cache["body_ang_vel_w"]

    def contact_force_w(self, body_names: Sequence[str]) -> torch.Tensor:
        ids = self._body_ids_of(body_names)
        slot = {int(b): k for k, b in enumerate(ids)}
        out = np.zeros((self._num_envs, len(ids), 3))
        wrench = np.zeros(6)
        for e, (m, d) in enumerate(zip(self.models, self.datas, strict=True)):
            for c_id in range(d.ncon):
                con = d.contact[c_id]
                b1, b2 = int(m.geom_bodyid[con.geom1]), int(m.geom_bodyid[con.geom2])
                if b1 not in slot and b2 not in slot:
                    continue
                # force of geom1 on geom2, in the contact frame (rows of con.frame: axes in world)
                mujoco.mj_contactForce(m, d, c_id, wrench)
                f_w = con.frame.reshape(3, 3).T @ wrench[0:3]
                if b2 in slot:
                    out[e, slot[b2]] += f_w
                if b1 in slot:
                    out[e, slot[b1]] -= f_w
        return torch.from_numpy(out.astype(np.float32))

    # -- stepping and resets ---------------------------------------------------------------
    def step(self, joint_pos_target: torch.Tensor) -> None:
        targets = self._np(joint_pos_target, self._num_envs, self.spec.num_joints)
        act = self.robot.actuator_ids
        for d, target in zip(self.datas, targets, strict=True):
            d.ctrl[act] = target
        models, datas, decimation = self.models, self.datas, self._decimation

        def work(i: int) -> None:
            m, d = models[i], datas[i]
            for _ in range(decimation):
                mujoco.mj_step(m, d)
            mujoco.mj_forward(m, d)

        self._parallel(work)
        self._cache.clear()

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
        ids = self._ids(env_ids)
        n, nj = len(ids), self.spec.num_joints
        pos, quat = self._np(root_pos_w, n, 3), self._np(root_quat_w, n, 4)
        lin, ang = self._np(root_lin_vel_w, n, 3), self._np(root_ang_vel_w, n, 3)
        q, qd = self._np(joint_pos, n, nj), self._np(joint_vel, n, nj)
        for k, i in enumerate(ids):
            m, d = self.models[i], self.datas[i]
            mujoco.mj_resetData(m, d)  # clears time, warm start, controls
            d.ctrl[self.robot.actuator_ids] = q[k]
            self.robot.set_state(d, pos[k], quat[k], q[k], lin[k], ang[k], qd[k])
        self._cache.clear()

    def push(self, env_ids: EnvIds, lin_vel_w: torch.Tensor, ang_vel_w: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        lin, ang = self._np(lin_vel_w, len(ids), 3), self._np(ang_vel_w, len(ids), 3)
        for k, i in enumerate(ids):
            m, d = self.models[i], self.datas[i]
            rot = _quat_to_mat(d.qpos[3:7] / np.linalg.norm(d.qpos[3:7]))
            d.qvel[0:3] += lin[k]
            d.qvel[3:6] += rot.T @ ang[k]
            mujoco.mj_forward(m, d)
        self._cache.clear()

    # -- randomization ---------------------------------------------------------------------
    def set_friction(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids))
        for k, i in enumerate(ids):
            # MuJoCo combines the two geoms' friction with max: set every geom
            self.models[i].geom_friction[:, 0] = vals[k]

    def set_body_mass_scale(
        self, env_ids: EnvIds, body_names: Sequence[str], scales: torch.Tensor
    ) -> None:
        ids, bodies = self._ids(env_ids), self._body_ids_of(body_names)
        s = self._np(scales, len(ids), len(bodies))
        for k, i in enumerate(ids):
            m = self.models[i]
            m.body_mass[bodies] = self._nominal_mass[bodies] * s[k]
            m.body_inertia[bodies] = self._nominal_inertia[bodies] * s[k][:, None]

    def set_com_offset(
        self, env_ids: EnvIds, body_names: Sequence[str], offsets_b: torch.Tensor
    ) -> None:
        ids, bodies = self._ids(env_ids), self._body_ids_of(body_names)
        off = self._np(offsets_b, len(ids), len(bodies), 3)
        for k, i in enumerate(ids):
            self.models[i].body_ipos[bodies] = self._nominal_ipos[bodies] + off[k]

    def set_pd_gains(self, env_ids: EnvIds, kp: torch.Tensor, kd: torch.Tensor) -> None:
        ids, nj = self._ids(env_ids), self.spec.num_joints
        kp_np, kd_np = self._np(kp, len(ids), nj), self._np(kd, len(ids), nj)
        act = self.robot.actuator_ids
        for k, i in enumerate(ids):
            m = self.models[i]
            m.actuator_gainprm[act, 0] = kp_np[k]
            m.actuator_biasprm[act, 1] = -kp_np[k]
            m.actuator_biasprm[act, 2] = -kd_np[k]

    def set_armature(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids), self.spec.num_joints)
        for k, i in enumerate(ids):
            self.models[i].dof_armature[self.robot.joint_dof_adr] = vals[k]

    def set_joint_damping(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids), self.spec.num_joints)
        for k, i in enumerate(ids):
            self.models[i].dof_damping[self.robot.joint_dof_adr] = vals[k]

    def total_mass_kg(self, env_id: int) -> float:
        """Total mass of env ``env_id``'s robot, summed over its model's bodies (kg)."""
        return float(self.models[env_id].body_mass.sum())


__all__ = ["MujocoBackend"]
