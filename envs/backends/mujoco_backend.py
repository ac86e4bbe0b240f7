"""The MuJoCo CPU backend: one ``MjModel`` + ``MjData`` per env, stepped on a thread pool.

Design:

* **One model per env.** Randomization writes model parameters (friction, masses, gains),
  so every env owns a copy of the compiled model (``copy.copy`` of the G1 takes ~3 ms and
  a few hundred kB). Nominal values are kept to make setters non-cumulative.
* **Parallel physics.** Envs are split into ``num_threads`` contiguous chunks; the calling
  thread steps the first chunk and a persistent pool the others. MuJoCo releases the GIL in
  every ``mj_*`` call, so the chunks run on separate cores. (``mujoco.rollout`` was the
  alternative; it steps scratch ``MjData`` per thread, so every env would need its state
  copied in and out and a forward pass anyway — more code for no gain at these batch sizes.)
* **Consistent state for free: the step is split.** ``mj_step`` = ``mj_step1`` (position and
  velocity stages: kinematics, COM, collision, constraint rows, ``cvel``) + ``mj_step2``
  (actuation, constraint solve, integration). A policy step runs ``mj_step2`` then
  ``decimation − 1`` full ``mj_step`` calls and ends with one ``mj_step1``: that leaves
  ``xpos``/``xquat``/``cvel``/``subtree_com`` consistent with the new ``qpos``/``qvel`` and is
  exactly the first half of the next policy step's first physics step, which then only runs
  ``mj_step2`` after the new targets are written to ``ctrl``. Physics work per policy step is
  ``decimation`` full steps, no extra forward pass, and the trajectory is bit-identical to
  ``ctrl = target; decimation × mj_step``. ``_fresh[i]`` says the ``mj_step1`` results of env
  ``i`` match its model; every model setter clears it so the next :meth:`step` re-runs
  ``mj_step1`` for that env first (:meth:`reset` and :meth:`push` run ``mj_forward``, which
  sets it). Edit ``models`` only through the setters. Against raw ``decimation × mj_step``
  the step costs one more C call and a few row copies per env (``benchmarks/env_speed.py``).
* **Contact forces are one physics step old.** ``contact_force_w`` reads the force part of
  ``cfrc_ext`` (``[torque(3), force(3)]`` per body, world orientation; the sum over the body's
  contacts of the force the environment exerts on it, from ``mj_rnePostConstraint``) saved
  right after the last ``mj_step2``: the constraint forces of the last physics step, solved
  at the state *before* its integration, i.e. ``physics_dt_s`` (5 ms) older than the returned
  state. Solving contacts at the new state would cost a full forward pass per policy step.
  After :meth:`reset` and :meth:`push` the forces are those of the written state. When the
  model has an accelerometer (or another acceleration sensor) ``mj_step2`` already computed
  ``cfrc_ext``; otherwise it is computed once per policy step.
* **Gather in the workers.** Right after stepping an env, its worker copies ``qpos``,
  ``qvel``, ``xpos``, ``xquat``, ``cvel``, ``subtree_com`` and ``cfrc_ext`` into
  preallocated ``[N, ...]`` float64 buffers (the source views are made once at start-up).
  The state readers then slice and convert those buffers on the calling thread, once per
  step, lazily, with one vectorized numpy operation each. Every returned tensor is a new
  float32 array (the float64 → float32 conversion copies), so a tensor you hold is never
  overwritten by a later :meth:`step`; the cache of those tensors is dropped on
  :meth:`step`, :meth:`reset` and :meth:`push`.
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


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a × b`` over the last axis (size 3); a few times faster than ``np.cross`` on small
    batches."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


class _Gathered:
    """Per-env copies of the ``MjData`` arrays the state readers need (float64, ``N`` rows).

    Attributes:
        qpos: ``[N, nq]``. qvel: ``[N, nv]``.
        xpos: ``[N, nbody, 3]`` body origins, world (m). xquat: ``[N, nbody, 4]`` wxyz.
        cvel: ``[N, nbody, 6]`` ``[ω, v]`` at the tree's COM, world orientation.
        subtree_com: ``[N, nbody, 3]`` (m).
        cfrc_ext: ``[N, nbody, 6]`` ``[torque, force]`` of the environment on each body.
    """

    def __init__(self, model: mujoco.MjModel, num_envs: int) -> None:
        n, nb = num_envs, model.nbody
        self.qpos = np.zeros((n, model.nq))
        self.qvel = np.zeros((n, model.nv))
        self.xpos = np.zeros((n, nb, 3))
        self.xquat = np.zeros((n, nb, 4))
        self.cvel = np.zeros((n, nb, 6))
        self.subtree_com = np.zeros((n, nb, 3))
        self.cfrc_ext = np.zeros((n, nb, 6))

    def state_rows(self, i: int) -> tuple[np.ndarray, ...]:
        """Row ``i`` of the state buffers, in the order of :func:`_state_views`."""
        return (
            self.qpos[i],
            self.qvel[i],
            self.xpos[i],
            self.xquat[i],
            self.cvel[i],
            self.subtree_com[i],
        )


def _state_views(d: mujoco.MjData) -> tuple[np.ndarray, ...]:
    """Views of ``d``'s arrays the state buffers copy (valid for ``d``'s lifetime)."""
    return (d.qpos, d.qvel, d.xpos, d.xquat, d.cvel, d.subtree_com)


class MujocoBackend(Backend):
    """``num_envs`` copies of ``spec`` in MuJoCo, ``decimation`` physics steps per policy step.

    Args:
        spec: the robot.
        num_envs: number of envs ``N`` (>= 1).
        decimation: physics steps per :meth:`step` (>= 1).
        num_threads: threads stepping the envs (>= 1; 1 steps on the calling thread only).

    All envs start in the default pose at ``spec.default_root_height_m`` with the policy PD
    gains (``spec.kp_nm_per_rad``, ``spec.kd_nm_s_per_rad``). See the module docstring for
    how a step is split, when contact forces are computed and who owns the returned tensors.
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
        act, dofs = self.robot.actuator_ids, self.robot.joint_dof_adr
        self._nominal_mass = nominal.body_mass.copy()
        self._nominal_inertia = nominal.body_inertia.copy()
        self._nominal_ipos = nominal.body_ipos.copy()
        self._nominal_armature = nominal.dof_armature[dofs].copy()
        self._nominal_kp = nominal.actuator_gainprm[act, 0].copy()
        self._nominal_kd = -nominal.actuator_biasprm[act, 2].copy()
        self._body_index = {nominal.body(i).name: i for i in range(nominal.nbody)}
        self._all_body_names = tuple(nominal.body(i).name for i in range(1, nominal.nbody))
        self._body_ids = self.robot.tracked_body_ids
        self._body_tree_ids = nominal.body_rootid[self._body_ids]
        self._root_id = self.robot.root_body_id
        self._num_threads = min(num_threads, num_envs)
        self._pool = (
            ThreadPoolExecutor(self._num_threads - 1, thread_name_prefix="mujoco-backend")
            if self._num_threads > 1
            else None
        )
        bounds = np.linspace(0, num_envs, self._num_threads + 1).round().astype(int)
        self._chunks = [range(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        self._cache: dict[str, torch.Tensor] = {}
        self._device = torch.device("cpu")
        # ctrl rows written by step(): policy targets at the actuators, 0 elsewhere
        self._ctrl = np.zeros((num_envs, nominal.nu))
        self._buf = _Gathered(nominal, num_envs)
        # mj_step1 results of env i match its model and state (see the module docstring)
        self._fresh = [False] * num_envs
        self._gather = self._make_gather()
        self._step_chunk = self._make_stepper()

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
    def all_body_names(self) -> tuple[str, ...]:
        return self._all_body_names

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

    def _model_changed(self, ids: np.ndarray) -> None:
        """Envs ``ids`` had model parameters edited: re-run ``mj_step1`` before stepping."""
        for i in ids:
            self._fresh[i] = False

    def _make_gather(self) -> Callable[[int], None]:
        """``gather(i)``: copy env ``i``'s state arrays (not ``cfrc_ext``) into the buffers."""
        copyto = np.copyto
        pairs = [
            tuple(zip(self._buf.state_rows(i), _state_views(d), strict=True))
            for i, d in enumerate(self.datas)
        ]

        def gather(i: int) -> None:
            for dst, src in pairs[i]:
                copyto(dst, src)

        return gather

    def _make_stepper(self) -> Callable[[range], None]:
        """``step_chunk(envs)``: one policy step of each env in ``envs``, then its gather.

        Runs on worker threads: touches only its envs' ``MjData`` and buffer rows.
        """
        models, datas, fresh = self.models, self.datas, self._fresh
        ctrl_rows = list(self._ctrl)  # row views; step() writes self._ctrl in place
        ctrls = [d.ctrl for d in self.datas]
        cfrc_rows = list(self._buf.cfrc_ext)
        cfrc_views = [d.cfrc_ext for d in self.datas]
        gather, decimation = self._gather, self._decimation
        step, step1, step2 = mujoco.mj_step, mujoco.mj_step1, mujoco.mj_step2
        rne_post, copyto = mujoco.mj_rnePostConstraint, np.copyto
        inner = range(decimation - 1)

        def step_chunk(envs: range) -> None:
            for i in envs:
                m, d = models[i], datas[i]
                copyto(ctrls[i], ctrl_rows[i])
                if fresh[i]:
                    step2(m, d)  # its step1 ran at the end of the previous step
                else:
                    step(m, d)
                for _ in inner:
                    step(m, d)  # = step1 + step2, one call
                # contact forces of the last physics step, before step1 rebuilds the contacts
                if not d.flg_rnepost:
                    rne_post(m, d)
                copyto(cfrc_rows[i], cfrc_views[i])
                step1(m, d)  # bodies and cvel of the new state; reused by the next step2
                fresh[i] = True
                gather(i)

        return step_chunk

    def _gather_after_forward(self, i: int) -> None:
        """Buffers of env ``i`` after an ``mj_forward`` (reset, push): state and contacts."""
        m, d = self.models[i], self.datas[i]
        if not d.flg_rnepost:
            mujoco.mj_rnePostConstraint(m, d)
        self._buf.cfrc_ext[i] = d.cfrc_ext
        self._gather(i)
        self._fresh[i] = True

    def _cached(self, key: str, compute: Callable[[], np.ndarray]) -> torch.Tensor:
        if key not in self._cache:
            # float64 buffers → new float32 array: the tensor never aliases a buffer
            self._cache[key] = torch.from_numpy(compute().astype(np.float32))
        return self._cache[key]

    # -- state ------------------------------------------------------------------------------
    @property
    def root_pos_w(self) -> torch.Tensor:
        return self._cached("root_pos_w", lambda: self._buf.qpos[:, 0:3])

    @property
    def root_quat_w(self) -> torch.Tensor:
        return self._cached("root_quat_w", lambda: self._buf.qpos[:, 3:7])

    @property
    def root_lin_vel_w(self) -> torch.Tensor:
        # free joint: qvel[0:3] is the world-frame velocity of the root body origin
        return self._cached("root_lin_vel_w", lambda: self._buf.qvel[:, 0:3])

    @property
    def root_ang_vel_w(self) -> torch.Tensor:
        # free joint: qvel[3:6] is in the body frame; cvel's angular part is in the world frame
        return self._cached("root_ang_vel_w", lambda: self._buf.cvel[:, self._root_id, 0:3])

    @property
    def joint_pos(self) -> torch.Tensor:
        return self._cached(
            "joint_pos", lambda: self._buf.qpos.take(self.robot.joint_qpos_adr, axis=1)
        )

    @property
    def joint_vel(self) -> torch.Tensor:
        return self._cached(
            "joint_vel", lambda: self._buf.qvel.take(self.robot.joint_dof_adr, axis=1)
        )

    @property
    def body_pos_w(self) -> torch.Tensor:
        return self._cached("body_pos_w", lambda: self._buf.xpos.take(self._body_ids, axis=1))

    @property
    def body_quat_w(self) -> torch.Tensor:
        return self._cached("body_quat_w", lambda: self._buf.xquat.take(self._body_ids, axis=1))

    def _body_vel(self) -> None:
        """Fill both body velocity caches from ``cvel``.

        ``cvel[b] = [ω, v_c]``: angular velocity and the linear velocity of the point of body
        ``b`` at ``subtree_com[body_rootid[b]]`` (the tree's COM), both in world orientation.
        Rigid-body transport to the body origin: ``v_o = v_c + ω × (x_o − c)``.
        """
        buf, ids, trees = self._buf, self._body_ids, self._body_tree_ids
        cvel = buf.cvel.take(ids, axis=1)  # [N, B, 6]; take: 2× faster than [:, ids]
        if np.all(trees == trees[0]):  # one tree (the robot): broadcast its COM
            com = buf.subtree_com[:, trees[0] : trees[0] + 1]
        else:
            com = buf.subtree_com.take(trees, axis=1)
        arm = buf.xpos.take(ids, axis=1) - com
        ang = cvel[..., 0:3]
        lin = cvel[..., 3:6] + _cross(ang, arm)
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
        """``[N, K, 3]`` contact force on the named bodies (N); see the module docstring.

        Any model body may be named; the tracked set (:attr:`body_names`) skips the name
        lookup. The result is a new tensor.
        """
        names = tuple(body_names)
        ids = self._body_ids if names == self.spec.tracked_bodies else self._body_ids_of(names)
        return torch.from_numpy(self._buf.cfrc_ext.take(ids, axis=1)[..., 3:6].astype(np.float32))

    # -- stepping and resets ---------------------------------------------------------------
    def step(self, joint_pos_target: torch.Tensor) -> None:
        targets = self._np(joint_pos_target, self._num_envs, self.spec.num_joints)
        self._ctrl[:, self.robot.actuator_ids] = targets
        self._cache.clear()
        if self._pool is None:
            self._step_chunk(range(self._num_envs))
            return
        futures = [self._pool.submit(self._step_chunk, c) for c in self._chunks[1:]]
        try:
            self._step_chunk(self._chunks[0])
        finally:
            for future in futures:
                future.result()

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
            self.robot.set_state(d, pos[k], quat[k], q[k], lin[k], ang[k], qd[k])  # mj_forward
            self._gather_after_forward(int(i))
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
            self._gather_after_forward(int(i))
        self._cache.clear()

    # -- randomization ---------------------------------------------------------------------
    def set_friction(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids))
        for k, i in enumerate(ids):
            # MuJoCo combines the two geoms' friction with max: set every geom
            self.models[i].geom_friction[:, 0] = vals[k]
        self._model_changed(ids)

    def set_body_mass_scale(
        self, env_ids: EnvIds, body_names: Sequence[str], scales: torch.Tensor
    ) -> None:
        ids, bodies = self._ids(env_ids), self._body_ids_of(body_names)
        s = self._np(scales, len(ids), len(bodies))
        for k, i in enumerate(ids):
            m = self.models[i]
            m.body_mass[bodies] = self._nominal_mass[bodies] * s[k]
            m.body_inertia[bodies] = self._nominal_inertia[bodies] * s[k][:, None]
        self._model_changed(ids)

    def set_com_offset(
        self, env_ids: EnvIds, body_names: Sequence[str], offsets_b: torch.Tensor
    ) -> None:
        ids, bodies = self._ids(env_ids), self._body_ids_of(body_names)
        off = self._np(offsets_b, len(ids), len(bodies), 3)
        for k, i in enumerate(ids):
            self.models[i].body_ipos[bodies] = self._nominal_ipos[bodies] + off[k]
        self._model_changed(ids)

    def set_pd_gains(self, env_ids: EnvIds, kp: torch.Tensor, kd: torch.Tensor) -> None:
        ids, nj = self._ids(env_ids), self.spec.num_joints
        kp_np, kd_np = self._np(kp, len(ids), nj), self._np(kd, len(ids), nj)
        act = self.robot.actuator_ids
        for k, i in enumerate(ids):
            m = self.models[i]
            m.actuator_gainprm[act, 0] = kp_np[k]
            m.actuator_biasprm[act, 1] = -kp_np[k]
            m.actuator_biasprm[act, 2] = -kd_np[k]
        self._model_changed(ids)

    def set_armature(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids), self.spec.num_joints)
        for k, i in enumerate(ids):
            self.models[i].dof_armature[self.robot.joint_dof_adr] = vals[k]
        self._model_changed(ids)

    def set_joint_damping(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids), self.spec.num_joints)
        for k, i in enumerate(ids):
            self.models[i].dof_damping[self.robot.joint_dof_adr] = vals[k]
        self._model_changed(ids)

    def set_joint_friction(self, env_ids: EnvIds, values: torch.Tensor) -> None:
        """Dry friction ``values`` ``[n, J]`` (N·m) → ``dof_frictionloss`` at the joint dofs.

        MuJoCo adds one friction-loss constraint row per dof with a non-zero value, so
        non-zero friction makes each physics step a little slower.
        """
        ids = self._ids(env_ids)
        vals = self._np(values, len(ids), self.spec.num_joints)
        for k, i in enumerate(ids):
            self.models[i].dof_frictionloss[self.robot.joint_dof_adr] = vals[k]
        self._model_changed(ids)

    # -- nominal values -------------------------------------------------------------------
    def nominal_body_mass_kg(self, body_names: Sequence[str]) -> torch.Tensor:
        bodies = self._body_ids_of(body_names)
        return torch.from_numpy(self._nominal_mass[bodies].astype(np.float32))

    @property
    def nominal_armature(self) -> torch.Tensor:
        return torch.from_numpy(self._nominal_armature.astype(np.float32))

    @property
    def nominal_pd_gains(self) -> tuple[torch.Tensor, torch.Tensor]:
        return (
            torch.from_numpy(self._nominal_kp.astype(np.float32)),
            torch.from_numpy(self._nominal_kd.astype(np.float32)),
        )

    def total_mass_kg(self, env_id: int) -> float:
        """Total mass of env ``env_id``'s robot, summed over its model's bodies (kg)."""
        return float(self.models[env_id].body_mass.sum())


__all__ = ["MujocoBackend"]
