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

    ``read_params(backend, env)`` returns ``{"friction", "mass_kg" (per body name dict), "kp"}``
    as the simulator holds them; ``total_mass_kg(backend, env)`` sums the model's body masses.
    """

    name: str
    module: str
    cls: str
    read_params: Callable[[Any, int, list[str]], dict[str, np.ndarray]]
    total_mass_kg: Callable[[Any, int], float]


def _mujoco_params(backend: Any, env: int, bodies: list[str]) -> dict[str, np.ndarray]:
    m = backend.models[env]
    ids = [backend._body_index[b] for b in bodies]
    return {
        "friction": m.geom_friction[:, 0].copy(),
        "mass_kg": m.body_mass[ids].copy(),
        "kp": m.actuator_gainprm[backend.robot.actuator_ids, 0].copy(),
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
        traj.append(torch.cat([b.root_pos_w, b.joint_pos, b.joint_vel], -1).numpy().copy())
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
