"""Conformance suite every Backend passes: state round trip, determinism, standing, contacts,
body velocities, per-env randomization.

Add a backend by appending a :class:`Case` to ``CASES``; a backend whose import fails is
skipped, not failed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import torch


@dataclass(frozen=True)
class Case:
    """How to build one backend and read its per-env model parameters back from the simulator.

    ``read_params(backend, env, bodies)`` returns, as the simulator holds them:
    ``friction`` (per contact geom), ``mass_kg`` ``[len(bodies)]``, and per joint in policy
    order ``kp``, ``kd``, ``armature``, ``joint_friction``, ``damping``; plus ``other_dofs``:
    armature, friction and damping of every dof that is not an actuated joint (the root's), which
    joint setters must leave alone. ``total_mass_kg(backend, env)`` sums the model's body masses.
    """

    name: str
    module: str
    cls: str
    read_params: Callable[[Any, int, list[str]], dict[str, np.ndarray]]
    total_mass_kg: Callable[[Any, int], float]


def _mujoco_params(backend: Any, env: int, bodies: list[str]) -> dict[str, np.ndarray]:
    m = backend.models[env]
    ids = [backend._body_index[b] for b in bodies]
    act, dofs = backend.robot.actuator_ids, backend.robot.joint_dof_adr
    others = np.setdiff1d(np.arange(m.nv), dofs)
    return {
        "friction": m.geom_friction[:, 0].copy(),
        "mass_kg": m.body_mass[ids].copy(),
        "kp": m.actuator_gainprm[act, 0].copy(),
        "kd": -m.actuator_biasprm[act, 2],
        "armature": m.dof_armature[dofs].copy(),
        "joint_friction": m.dof_frictionloss[dofs].copy(),
        "damping": m.dof_damping[dofs].copy(),
        "other_dofs": np.concatenate(
            [m.dof_armature[others], m.dof_frictionloss[others], m.dof_damping[others]]
        ),
    }


CASES = [
    Case(
        "mujoco",
        "humimic.envs.backends.mujoco_backend",
        "MujocoBackend",
        _mujoco_params,
        lambda b, e: float(b.models[e].body_mass.sum()),
    ),
]


def _load(case: Case) -> type:
    try:
        return getattr(importlib.import_module(case.module), case.cls)
    except ImportError as exc:  # another backend's simulator is not installed here
        pytest.skip(f"{case.name} backend not importable: {exc}")


@pytest.fixture(params=CASES, ids=[c.name for c in CASES], scope="module")
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture(scope="module")
def make(case: Case, g1: Any) -> Iterator[Callable[..., Any]]:
    cls = _load(case)
    made: list[Any] = []

    def build(num_envs: int = 2, num_threads: int = 2, stand_gains: bool = False) -> Any:
        backend = cls(g1, num_envs, decimation=4, num_threads=num_threads)
        if stand_gains:
            kp, kd = g1.pd_gains(g1.stand_natural_freq_hz)
            backend.set_pd_gains(range(num_envs), torch.tensor([kp]), torch.tensor([kd]))
        made.append(backend)
        return backend

    yield build
    for b in made:
        if hasattr(b, "close"):
            b.close()


@pytest.fixture(scope="module")
def standing(make: Callable[..., Any], g1: Any) -> tuple[Any, np.ndarray]:
    """Two envs with stand gains holding the default pose for 2 s; pelvis heights ``[T, 2]``."""
    backend = make(num_envs=2, stand_gains=True)
    q0 = torch.tensor([g1.default_joint_pos_rad]).expand(2, -1)
    heights = []
    for _ in range(round(2.0 / backend.step_dt_s)):
        backend.step(q0)
        heights.append(backend.root_pos_w[:, 2].numpy().copy())
    return backend, np.array(heights)


def _random_state(g1: Any, n: int, seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    quat = torch.randn(n, 4, generator=gen, dtype=torch.float64)
    lower, upper = torch.tensor(g1.joint_lower_rad), torch.tensor(g1.joint_upper_rad)
    return {
        "root_pos_w": torch.rand(n, 3, generator=gen) + torch.tensor([0.0, 0.0, 1.0]),
        "root_quat_w": (quat / quat.norm(dim=-1, keepdim=True)).float(),
        "root_lin_vel_w": torch.randn(n, 3, generator=gen),
        "root_ang_vel_w": torch.randn(n, 3, generator=gen),
        "joint_pos": lower + (upper - lower) * torch.rand(n, len(lower), generator=gen),
        "joint_vel": torch.randn(n, len(lower), generator=gen),
    }


def test_shapes_and_dtypes(make: Callable[..., Any], g1: Any) -> None:
    b = make(num_envs=3)
    n, j, k = 3, g1.num_joints, len(g1.tracked_bodies)
    assert b.joint_names == g1.joint_names and b.body_names == g1.tracked_bodies
    assert b.step_dt_s == pytest.approx(4 * b.physics_dt_s)
    expected = {
        "root_pos_w": (n, 3),
        "root_quat_w": (n, 4),
        "root_lin_vel_w": (n, 3),
        "root_ang_vel_w": (n, 3),
        "joint_pos": (n, j),
        "joint_vel": (n, j),
        "body_pos_w": (n, k, 3),
        "body_quat_w": (n, k, 4),
        "body_lin_vel_w": (n, k, 3),
        "body_ang_vel_w": (n, k, 3),
    }
    for name, shape in expected.items():
        value = getattr(b, name)
        assert value.shape == shape, name
        assert value.dtype == torch.float32, name
    assert b.contact_force_w(["pelvis", "left_ankle_roll_link"]).shape == (n, 2, 3)


def test_reset_reads_back_the_written_state(make: Callable[..., Any], g1: Any) -> None:
    b = make(num_envs=4)
    before = b.joint_pos.clone()
    state = _random_state(g1, 2, seed=1)
    b.reset(torch.tensor([3, 1]), **state)
    for name, value in state.items():
        np.testing.assert_allclose(getattr(b, name)[[3, 1]], value, atol=1e-6, err_msg=name)
    # the envs not reset are untouched
    torch.testing.assert_close(b.joint_pos[[0, 2]], before[[0, 2]])
    # root body of the tracked set agrees with the root readers
    if g1.root_body in g1.tracked_bodies:
        r = g1.tracked_bodies.index(g1.root_body)
        np.testing.assert_allclose(b.body_pos_w[:, r], b.root_pos_w, atol=1e-6)
        np.testing.assert_allclose(b.body_lin_vel_w[:, r], b.root_lin_vel_w, atol=1e-5)
        np.testing.assert_allclose(b.body_ang_vel_w[:, r], b.root_ang_vel_w, atol=1e-5)


def test_reset_rejects_unknown_env(make: Callable[..., Any], g1: Any) -> None:
    from humimic.errors import HumimicError

    b = make(num_envs=2)
    state = _random_state(g1, 1, seed=0)
    with pytest.raises(HumimicError, match="env_ids"):
        b.reset([5], **state)


def _rollout(b: Any, g1: Any, steps: int) -> np.ndarray:
    n = b.num_envs
    b.reset(range(n), **_random_state(g1, n, seed=2))
    gen = torch.Generator().manual_seed(3)
    q0 = torch.tensor(g1.default_joint_pos_rad)
    traj = []
    for _ in range(steps):
        b.step(q0 + 0.3 * torch.randn(n, g1.num_joints, generator=gen))
        bodies = [b.body_pos_w, b.body_lin_vel_w, b.body_ang_vel_w, b.contact_force_w(b.body_names)]
        state = [b.root_pos_w, b.root_ang_vel_w, b.joint_pos, b.joint_vel]
        state += [x.flatten(1) for x in bodies]
        traj.append(torch.cat(state, -1).numpy().copy())
    return np.array(traj)


def test_same_actions_give_the_same_trajectory(make: Callable[..., Any], g1: Any) -> None:
    two = make(num_envs=4, num_threads=2)
    first = _rollout(two, g1, 25)
    np.testing.assert_array_equal(_rollout(two, g1, 25), first)  # same backend after reset
    np.testing.assert_array_equal(_rollout(make(num_envs=4, num_threads=1), g1, 25), first)


def test_stand_gains_hold_the_default_pose_for_2_s(standing: Any, g1: Any) -> None:
    _, heights = standing
    assert np.abs(heights - g1.default_root_height_m).max() < 0.02


def test_standing_weight_is_on_the_feet(standing: Any, case: Case, g1: Any) -> None:
    backend, _ = standing
    feet = [f.body for f in g1.feet]
    others = [b for b in g1.tracked_bodies if b not in feet]
    foot_force = backend.contact_force_w(feet).numpy()  # [N, 2, 3]
    weight = np.array([case.total_mass_kg(backend, e) * 9.81 for e in range(2)])
    np.testing.assert_allclose(foot_force[..., 2].sum(-1), weight, rtol=0.05)
    assert np.all(foot_force[..., 2] > 0)  # both feet carry load
    np.testing.assert_array_equal(backend.contact_force_w(others).numpy(), 0.0)


def test_body_velocity_matches_finite_difference(make: Callable[..., Any], g1: Any) -> None:
    b = make(num_envs=2)
    b.reset(range(2), **_random_state(g1, 2, seed=4))  # in the air: smooth motion
    target = b.joint_pos.clone()
    worst = 0.0
    for _ in range(5):
        pos0, vel0 = b.body_pos_w.clone(), b.body_lin_vel_w.clone()
        b.step(target)
        fd = (b.body_pos_w - pos0) / b.step_dt_s
        mid = 0.5 * (vel0 + b.body_lin_vel_w)  # trapezoid: second-order in dt
        worst = max(worst, float((fd - mid).abs().max()))
    assert worst < 0.05, worst  # m/s, over velocities of several m/s


def test_randomization_touches_only_its_env(make: Callable[..., Any], case: Case, g1: Any) -> None:
    b = make(num_envs=2)
    bodies = ["pelvis", "torso_link"]
    before = [case.read_params(b, e, bodies) for e in range(2)]
    kp = torch.tensor([g1.kp_nm_per_rad]) * 1.5
    b.set_friction([0], torch.tensor([0.4]))
    b.set_body_mass_scale([0], bodies, torch.tensor([[1.2, 0.9]]))
    b.set_pd_gains([0], kp, torch.tensor([g1.kd_nm_s_per_rad]))
    after = [case.read_params(b, e, bodies) for e in range(2)]
    np.testing.assert_allclose(after[0]["friction"], 0.4)
    np.testing.assert_allclose(after[0]["mass_kg"], before[0]["mass_kg"] * [1.2, 0.9])
    np.testing.assert_allclose(after[0]["kp"], kp[0].double(), rtol=1e-6)
    for key in before[1]:
        np.testing.assert_array_equal(after[1][key], before[1][key], err_msg=key)
    # scales are from nominal, not cumulative
    b.set_body_mass_scale([0], bodies, torch.tensor([[1.2, 0.9]]))
    np.testing.assert_allclose(
        case.read_params(b, 0, bodies)["mass_kg"], before[0]["mass_kg"] * [1.2, 0.9]
    )


def test_push_adds_world_velocity(make: Callable[..., Any], g1: Any) -> None:
    b = make(num_envs=2)
    state = _random_state(g1, 2, seed=5)
    b.reset(range(2), **state)
    b.push([1], torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 2.0]]))
    np.testing.assert_allclose(b.root_lin_vel_w[0], state["root_lin_vel_w"][0], atol=1e-6)
    np.testing.assert_allclose(
        b.root_lin_vel_w[1], state["root_lin_vel_w"][1] + torch.tensor([1.0, 0, 0]), atol=1e-6
    )
    np.testing.assert_allclose(
        b.root_ang_vel_w[1], state["root_ang_vel_w"][1] + torch.tensor([0, 0, 2.0]), atol=1e-5
    )


def _assert_params_equal(after: dict[str, np.ndarray], before: dict[str, np.ndarray]) -> None:
    assert after.keys() == before.keys()
    for key in before:
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)


def test_joint_friction_touches_only_its_envs_and_joint_dofs(
    make: Callable[..., Any], case: Case, g1: Any
) -> None:
    b = make(num_envs=3)
    before = [case.read_params(b, e, []) for e in range(3)]
    values = 0.1 + torch.rand(2, g1.num_joints, generator=torch.Generator().manual_seed(6))
    b.set_joint_friction(torch.tensor([2, 0]), values)
    after = [case.read_params(b, e, []) for e in range(3)]
    np.testing.assert_allclose(after[2]["joint_friction"], values[0].double(), rtol=1e-6)
    np.testing.assert_allclose(after[0]["joint_friction"], values[1].double(), rtol=1e-6)
    for e in (0, 2):  # only the joint friction changed
        _assert_params_equal({**after[e], "joint_friction": before[e]["joint_friction"]}, before[e])
    _assert_params_equal(after[1], before[1])


def test_joint_friction_resists_motion(make: Callable[..., Any], g1: Any) -> None:
    """Joints with dry friction above their effort limits hardly move."""
    b = make(num_envs=2)
    state = {k: v.expand(2, *v.shape[1:]) for k, v in _random_state(g1, 1, seed=7).items()}
    state["joint_vel"] = torch.zeros_like(state["joint_vel"])  # at rest, in the air
    b.reset(range(2), **state)
    b.set_joint_friction([1], torch.full((1, g1.num_joints), 1e4))
    target = b.joint_pos + 0.5
    b.step(target)
    moved = (b.joint_pos - state["joint_pos"]).abs().mean(-1)
    assert moved[1] < 0.25 * moved[0], moved  # soft constraints (MuJoCo) let it creep a little


def test_other_joint_setters_touch_only_their_envs(
    make: Callable[..., Any], case: Case, g1: Any
) -> None:
    b = make(num_envs=2)
    before = [case.read_params(b, e, []) for e in range(2)]
    armature = b.nominal_armature[None] * 1.3
    damping = torch.full((1, g1.num_joints), 0.7)
    b.set_armature([1], armature)
    b.set_joint_damping([1], damping)
    after = [case.read_params(b, e, []) for e in range(2)]
    np.testing.assert_allclose(after[1]["armature"], armature[0].double(), rtol=1e-6)
    np.testing.assert_allclose(after[1]["damping"], 0.7, rtol=1e-6)
    np.testing.assert_array_equal(after[1]["other_dofs"], before[1]["other_dofs"])
    _assert_params_equal(after[0], before[0])


def test_nominal_values_are_the_model_as_built(
    make: Callable[..., Any], case: Case, g1: Any
) -> None:
    b = make(num_envs=2)
    bodies = ["pelvis", "torso_link", g1.feet[0].body]
    built = case.read_params(b, 0, bodies)
    kp, kd = b.nominal_pd_gains
    for name, value, expected in (
        ("kp", kp, g1.kp_nm_per_rad),
        ("kd", kd, g1.kd_nm_s_per_rad),
        ("armature", b.nominal_armature, built["armature"]),
        ("mass_kg", b.nominal_body_mass_kg(bodies), built["mass_kg"]),
    ):
        assert value.dtype == torch.float32, name
        np.testing.assert_allclose(value, np.asarray(expected), rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(kp, built["kp"], rtol=1e-6)
    np.testing.assert_allclose(kd, built["kd"], rtol=1e-6)
    # randomization leaves the nominal values alone, and the returned tensors are copies
    kp.mul_(0.0)
    b.set_body_mass_scale([0, 1], bodies, torch.full((2, 3), 1.5))
    b.set_armature([0, 1], torch.zeros(2, g1.num_joints))
    b.set_pd_gains([0, 1], torch.ones(2, g1.num_joints), torch.ones(2, g1.num_joints))
    np.testing.assert_allclose(b.nominal_pd_gains[0], g1.kp_nm_per_rad, rtol=1e-6)
    np.testing.assert_allclose(b.nominal_armature, built["armature"], rtol=1e-6)
    np.testing.assert_allclose(b.nominal_body_mass_kg(bodies), built["mass_kg"], rtol=1e-6)


def test_nominal_body_mass_rejects_unknown_body(make: Callable[..., Any]) -> None:
    from humimic.errors import RobotError

    b = make(num_envs=1)
    with pytest.raises(RobotError, match="valid: .*pelvis"):
        b.nominal_body_mass_kg(["pelvis", "no_such_link"])


def test_all_body_names_cover_the_robot(make: Callable[..., Any], case: Case, g1: Any) -> None:
    b = make(num_envs=2)
    names = b.all_body_names
    assert "world" not in names and len(set(names)) == len(names)
    assert set(g1.tracked_bodies) <= set(names)
    masses = b.nominal_body_mass_kg(names)
    assert masses.shape == (len(names),)
    assert float(masses.sum()) == pytest.approx(case.total_mass_kg(b, 0), rel=1e-6)
    b.set_body_mass_scale([1], names, torch.full((1, len(names)), 2.0))
    assert case.total_mass_kg(b, 1) == pytest.approx(2 * case.total_mass_kg(b, 0), rel=1e-6)


def test_contact_force_of_any_body(standing: Any, g1: Any) -> None:
    backend, _ = standing
    feet = [f.body for f in g1.feet]
    tracked = backend.contact_force_w(backend.body_names)
    by_name = backend.contact_force_w(list(reversed(backend.body_names)))
    torch.testing.assert_close(by_name, tracked.flip(1))
    untracked = [n for n in backend.all_body_names if n not in backend.body_names]
    assert untracked  # the G1 has links that are not tracked
    forces = backend.contact_force_w([*untracked, feet[0]])
    assert forces.shape == (2, len(untracked) + 1, 3)
    np.testing.assert_array_equal(forces[:, :-1].numpy(), 0.0)  # no collision geometry there
    torch.testing.assert_close(forces[:, -1], tracked[:, backend.body_names.index(feet[0])])


def test_returned_tensors_are_not_overwritten_by_later_steps(
    make: Callable[..., Any], g1: Any
) -> None:
    b = make(num_envs=2)
    b.reset(range(2), **_random_state(g1, 2, seed=8))
    names = ["root_pos_w", "root_ang_vel_w", "joint_pos", "body_pos_w", "body_lin_vel_w"]
    held = {name: getattr(b, name) for name in names}
    held["contact"] = b.contact_force_w(b.body_names)
    copies = {name: value.clone() for name, value in held.items()}
    b.step(b.joint_pos + 0.2)
    assert not torch.equal(b.joint_pos, copies["joint_pos"])  # the state did move
    for name, value in held.items():
        torch.testing.assert_close(value, copies[name], rtol=0, atol=0, msg=name)


def test_mujoco_step_is_plain_mj_step(make: Callable[..., Any], case: Case, g1: Any) -> None:
    """MuJoCo only: a policy step, also right after a model edit, equals ``decimation × mj_step``
    on a copy, and the contact forces are those of the last physics step's solve."""
    if case.name != "mujoco":
        pytest.skip("MuJoCo internals")
    import copy

    import mujoco

    b = make(num_envs=2)
    b.reset(range(2), **_random_state(g1, 2, seed=9))
    gen = torch.Generator().manual_seed(10)
    for round_ in range(6):
        if round_ % 2:  # edits that change the position/velocity stages, on one env
            b.set_joint_friction([1], torch.rand(1, g1.num_joints, generator=gen))
            names = b.all_body_names
            b.set_body_mass_scale([1], names, torch.full((1, len(names)), 1.1))
        targets = b.joint_pos + 0.3 * torch.randn(2, g1.num_joints, generator=gen)
        refs = []
        for e in range(2):
            m, d = copy.copy(b.models[e]), copy.copy(b.datas[e])
            d.ctrl[b.robot.actuator_ids] = targets[e].double().numpy()
            forces = np.zeros((m.nbody, 3))
            for _ in range(b.decimation):
                mujoco.mj_step(m, d)
            wrench = np.zeros(6)
            for c in range(d.ncon):  # contacts and forces of the last step, at its start state
                con = d.contact[c]
                mujoco.mj_contactForce(m, d, c, wrench)
                f_w = con.frame.reshape(3, 3).T @ wrench[0:3]
                forces[m.geom_bodyid[con.geom2]] += f_w
                forces[m.geom_bodyid[con.geom1]] -= f_w
            refs.append((d.qpos.copy(), d.qvel.copy(), forces))
        b.step(targets)
        for e, (qpos, qvel, forces) in enumerate(refs):
            np.testing.assert_array_equal(b.datas[e].qpos, qpos)
            np.testing.assert_array_equal(b.datas[e].qvel, qvel)
            np.testing.assert_allclose(
                b.contact_force_w(b.all_body_names)[e], forces[1:], atol=1e-3, rtol=1e-5
            )
