"""The sim robot: the robot in MuJoCo behind the same DDS interface as the real one.

Run it as its own process, then point a deploy runtime at it::

    humimic sim-robot --robot g1 --interface ros2 --domain 91
    python -m humimic.deploy.sim_robot --robot g1 --interface unitree   # domain 1 on lo

Choices (and why):

* **Physics at 1 kHz** (``--physics-hz``), faster than training's 200 Hz: a motor driver closes
  its loop far above the policy rate, contacts are better resolved, and one G1 step costs ~40
  µs, so real time takes ~4 % of a core. The state rate must divide it (500 Hz → 2 steps).
* **The motor driver's PD law runs inside every physics step**: each joint's MuJoCo actuator
  is made affine, ``force = ctrl − kp·q − kd·q̇`` with ``ctrl = kp·q* + kd·dq* + τ_ff``, so
  ``force = kp·(q* − q) + kd·(dq* − q̇) + τ_ff``, clipped to the joint's effort limit. MuJoCo's
  ``implicitfast`` integrator treats the ``−kd·q̇`` term implicitly, so stiff stand gains and
  damping on light wrist joints stay stable. The newest command holds until the next one
  (as Unitree's motors do); a command with a non-finite number is refused and counted.
* **Start on a gantry** (default; ``--no-gantry`` to drop it): the robot starts in the default
  pose with its pelvis held in place and its joints held by the stand gains
  (``RobotSpec.pd_gains(stand_natural_freq_hz)``) until the first command arrives; from then on
  the joints follow the commands. The pelvis is let go at the first command with ``kp > 0`` on
  every joint (the runtime's STAND), like lowering a robot off its gantry once it holds
  itself. Without a gantry an uncommanded robot would collapse before the runtime starts.
* **State on absolute deadlines**: tick ``k`` is published at ``t0 + k / rate_hz`` (sleeping
  until then); when more than 5 ticks late, the schedule restarts from now and the overrun is
  counted (simulated time then lags wall time).
* **Pushes** (``--push-topic [TOPIC]``, default ``/humimic/push``): each
  ``geometry_msgs/msg/Twist`` adds its ``linear`` (m/s) and ``angular`` (rad/s) to the root's
  world-frame velocity at the next tick, with either interface. Ignored while on the gantry.
* **Domain randomization** off by default; ``--randomize SEED`` draws, once at start-up and
  from the ranges of :class:`~humimic.domain_rand.DomainRandConfig`'s defaults, the friction,
  link masses, armature, joint damping and joint friction.

SIGINT / SIGTERM stop it cleanly (DDS entities deleted, a summary printed, exit status 0).
"""

from __future__ import annotations

import argparse
import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Protocol

import mujoco
import numpy as np
from numpy.typing import ArrayLike

from humimic.deploy.commands import JointCommand
from humimic.deploy.dds_ros2 import (
    DdsConfig,
    Push,
    PushSubscriber,
    ReceivedCommand,
    Ros2RobotSide,
    Ros2Topics,
)
from humimic.domain_rand.config import DomainRandConfig, Range
from humimic.errors import ConfigError, HumimicError
from humimic.robots import ROBOTS, get_robot
from humimic.robots.mujoco_model import IMU_SITE, MujocoRobot, build_mujoco
from humimic.robots.spec import RobotSpec

log = logging.getLogger(__name__)

PHYSICS_HZ = 1000.0
STATE_RATE_HZ = 500.0
MAX_LAG_TICKS = 5
GANTRY_ARMATURE = 1e7
"""Root inertia while on the gantry (kg, kg·m²): 3e5 × the robot's mass."""
INTERFACES = ("ros2", "unitree")
DEFAULT_DOMAIN = {"ros2": 0, "unitree": 1}  # ROS 2's default; Unitree's simulator's


class RobotSide(Protocol):
    """The robot's end of a transport (:class:`~humimic.deploy.dds_ros2.Ros2RobotSide`,
    :class:`~humimic.deploy.unitree.UnitreeRobotSide`)."""

    def publish_state(
        self,
        joint_pos_rad: ArrayLike,
        joint_vel_rad_s: ArrayLike,
        joint_effort_nm: ArrayLike,
        imu_quat_wxyz: ArrayLike,
        gyro_b_rad_s: ArrayLike,
        accel_b_m_s2: ArrayLike,
    ) -> None: ...

    def latest_command(self) -> ReceivedCommand | None: ...

    def close(self) -> None: ...


class PushSource(Protocol):
    """Where pushes come from (:class:`~humimic.deploy.dds_ros2.PushSubscriber`)."""

    def take(self) -> Push | None: ...


@dataclass(frozen=True)
class SimRobotConfig:
    """How the sim robot runs.

    Attributes:
        rate_hz: state publication rate (Hz); must divide ``physics_hz``.
        physics_hz: physics rate (Hz).
        gantry: start held on a gantry (see the module docstring).
        randomize_seed: draw domain randomization with this seed; ``None`` = off.
    """

    rate_hz: float = STATE_RATE_HZ
    physics_hz: float = PHYSICS_HZ
    gantry: bool = True
    randomize_seed: int | None = None

    def __post_init__(self) -> None:
        for name in ("rate_hz", "physics_hz"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ConfigError(f"SimRobotConfig.{name}: expected > 0 Hz, got {value!r}")
        ratio = self.physics_hz / self.rate_hz
        if ratio < 1 or abs(ratio - round(ratio)) > 1e-9:
            raise ConfigError(
                f"SimRobotConfig.rate_hz: {self.rate_hz} Hz must divide physics_hz "
                f"{self.physics_hz} Hz (e.g. 1000, 500, 250, 200)"
            )

    @property
    def steps_per_tick(self) -> int:
        return round(self.physics_hz / self.rate_hz)


@dataclass
class SimStats:
    """What a run did."""

    ticks: int = 0
    commands_applied: int = 0
    commands_refused: int = 0
    pushes: int = 0
    overruns: int = 0
    released_at_s: float | None = None
    wall_s: float = 0.0


def randomize_model(
    mj: MujocoRobot, config: DomainRandConfig, rng: np.random.Generator
) -> dict[str, float]:
    """Draw start-up randomization into ``mj.model`` (friction, link masses and inertias,
    armature, joint damping and friction loss) from ``config``'s ranges; returns a summary."""
    model = mj.model
    dofs = mj.joint_dof_adr

    def draw(r: Range | None, size: int | None = None) -> np.ndarray | None:
        return None if r is None else rng.uniform(r.low, r.high, size)

    summary: dict[str, float] = {}
    friction = draw(config.friction)
    if friction is not None:
        model.geom_friction[:, 0] = float(friction)
        summary["friction"] = float(friction)
    mass = draw(config.link_mass_scale, model.nbody - 1)
    if mass is not None:
        model.body_mass[1:] *= mass
        model.body_inertia[1:] *= mass[:, None]
        summary["mass_scale_mean"] = float(mass.mean())
    armature = draw(config.armature_scale, len(dofs))
    if armature is not None:
        model.dof_armature[dofs] *= armature
        summary["armature_scale_mean"] = float(armature.mean())
    damping = draw(config.joint_damping_nm_s_per_rad, len(dofs))
    if damping is not None:
        model.dof_damping[dofs] = damping
        summary["joint_damping_mean"] = float(damping.mean())
    frictionloss = draw(config.joint_friction_nm, len(dofs))
    if frictionloss is not None:
        model.dof_frictionloss[dofs] = frictionloss
        summary["joint_friction_mean"] = float(frictionloss.mean())
    return summary


class SimRobot:
    """MuJoCo physics + a motor-driver PD law + a DDS robot side (see the module docstring).

    Args:
        robot: the robot.
        side: where state goes and commands come from.
        config: rates, gantry, randomization.
        push: optional source of pushes.
    """

    def __init__(
        self,
        robot: RobotSpec,
        side: RobotSide,
        config: SimRobotConfig | None = None,
        push: PushSource | None = None,
    ) -> None:
        self.robot = robot
        self.side = side
        self.config = SimRobotConfig() if config is None else config
        self.push = push
        self.stats = SimStats()
        self.mj = build_mujoco(
            robot, include_visual=False, physics_dt_s=1.0 / self.config.physics_hz
        )
        model = self.mj.model
        if self.config.randomize_seed is not None:
            summary = randomize_model(
                self.mj, DomainRandConfig(), np.random.default_rng(self.config.randomize_seed)
            )
            log.info("domain randomization (seed %d): %s", self.config.randomize_seed, summary)
        self.data = mujoco.MjData(model)
        ids = self.mj.actuator_ids
        # affine actuators: force = gain·ctrl + b1·q + b2·q̇ with gain 1, b1 = −kp, b2 = −kd
        model.actuator_gainprm[ids, :] = 0.0
        model.actuator_gainprm[ids, 0] = 1.0
        model.actuator_biasprm[ids, :] = 0.0
        self._imu_adr = {
            name: int(model.sensor(name).adr[0]) for name in ("imu_quat", "imu_gyro", "imu_acc")
        }
        if model.site(IMU_SITE).id < 0:  # pragma: no cover - build_mujoco always adds it
            raise ConfigError(f"{robot.name}: no IMU site")
        default = np.array(robot.default_joint_pos_rad)
        self._pin_qpos = np.concatenate([[0.0, 0.0, robot.default_root_height_m], [1, 0, 0, 0]])
        self.mj.set_state(self.data, self._pin_qpos[:3], self._pin_qpos[3:], default)
        self._root_dofs = np.arange(6)  # the free joint's dofs come first (build_mujoco)
        self._root_armature = model.dof_armature[self._root_dofs].copy()
        self.pinned = False
        if self.config.gantry:
            self._pin()
        kp, kd = robot.pd_gains(robot.stand_natural_freq_hz)
        self.apply(JointCommand.pd(default, kp, kd))
        self._applied_count = 0

    # -- actuation ------------------------------------------------------------------------

    def apply(self, command: JointCommand) -> bool:
        """Make ``command`` the motors' set point; refuse (and return False) if any number in
        it is not finite."""
        arrays = (
            command.position_rad,
            command.velocity_rad_s,
            command.effort_nm,
            command.kp,
            command.kd,
        )
        if not all(np.isfinite(a).all() for a in arrays):
            return False
        ids = self.mj.actuator_ids
        self.mj.model.actuator_biasprm[ids, 1] = -command.kp
        self.mj.model.actuator_biasprm[ids, 2] = -command.kd
        self.data.ctrl[ids] = (
            command.kp * command.position_rad
            + command.kd * command.velocity_rad_s
            + command.effort_nm
        )
        return True

    def _take_command(self, now_s: float) -> None:
        received = self.side.latest_command()
        if received is None or received.count == self._applied_count:
            return
        self._applied_count = received.count
        if not self.apply(received.command):
            self.stats.commands_refused += 1
            if (
                self.stats.commands_refused in (1, 10, 100)
                or self.stats.commands_refused % 1000 == 0
            ):
                log.error(
                    "refused %d command(s) with non-finite values", self.stats.commands_refused
                )
            return
        self.stats.commands_applied += 1
        if self.pinned and bool((received.command.kp > 0).all()):
            self._release()
            self.stats.released_at_s = now_s
            log.info("off the gantry: first command with kp > 0 on every joint")

    def _pin(self) -> None:
        """Hold the pelvis: a huge root inertia makes the base immovable (the joints then move
        as on a fixed-base robot); the root pose is also reset before every step so nothing
        drifts. (Resetting the pose alone is not enough: the whole body would be in free fall
        within each step, and free-falling joints do not feel gravity.)"""
        self.mj.model.dof_armature[self._root_dofs] = GANTRY_ARMATURE
        self.pinned = True

    def _release(self) -> None:
        self.mj.model.dof_armature[self._root_dofs] = self._root_armature
        self.pinned = False

    def _take_push(self) -> None:
        if self.push is None:
            return
        push = self.push.take()
        if push is None or self.pinned:
            return
        self.stats.pushes += 1
        qvel = self.data.qvel
        qvel[0:3] += push.lin_vel_w_m_s  # free joint: linear velocity in the world frame
        rot = np.empty(9)
        mujoco.mju_quat2Mat(rot, self.data.qpos[3:7])
        qvel[3:6] += rot.reshape(3, 3).T @ push.ang_vel_w_rad_s  # angular: body frame

    # -- one tick -------------------------------------------------------------------------

    def tick(self, now_s: float = 0.0) -> None:
        """Apply the newest command and pushes, run ``steps_per_tick`` physics steps, publish
        the state."""
        self._take_command(now_s)
        self._take_push()
        model, data = self.mj.model, self.data
        for _ in range(self.config.steps_per_tick):
            if self.pinned:
                data.qpos[0:7] = self._pin_qpos
                data.qvel[0:6] = 0.0
            mujoco.mj_step(model, data)
        # mj_step leaves sensors and actuator forces at the start of its step; recompute them
        # so q, q̇, τ and the IMU in one message are of the same instant.
        mujoco.mj_forward(model, data)
        s, a = data.sensordata, self._imu_adr
        self.side.publish_state(
            data.qpos[self.mj.joint_qpos_adr],
            data.qvel[self.mj.joint_dof_adr],
            data.actuator_force[self.mj.actuator_ids],
            s[a["imu_quat"] : a["imu_quat"] + 4],
            s[a["imu_gyro"] : a["imu_gyro"] + 3],
            s[a["imu_acc"] : a["imu_acc"] + 3],
        )
        self.stats.ticks += 1

    def run(self, duration_s: float | None = None, stop: threading.Event | None = None) -> SimStats:
        """Tick at ``rate_hz`` on absolute deadlines until ``stop`` is set or ``duration_s``
        (wall time) has passed."""
        stop = threading.Event() if stop is None else stop
        period_s = 1.0 / self.config.rate_hz
        start_s = time.monotonic()
        t0, k = start_s, 0
        while not stop.is_set():
            now = time.monotonic()
            if duration_s is not None and now - start_s >= duration_s:
                break
            self.tick(now)
            k += 1
            delay = t0 + k * period_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > MAX_LAG_TICKS * period_s:
                self.stats.overruns += 1
                if self.stats.overruns in (1, 10, 100) or self.stats.overruns % 1000 == 0:
                    log.warning(
                        "sim robot %.1f ms behind schedule (overrun #%d): restarting the schedule",
                        -delay * 1e3,
                        self.stats.overruns,
                    )
                t0, k = time.monotonic(), 0
        self.stats.wall_s = time.monotonic() - start_s
        return self.stats


# --------------------------------------------------------------------------------------------
# command line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``humimic sim-robot`` options."""
    parser.add_argument(
        "--robot", default="g1", choices=sorted(ROBOTS), help="robot (default: %(default)s)"
    )
    parser.add_argument(
        "--interface",
        default="ros2",
        choices=INTERFACES,
        help="ros2: /joint_states + /imu out, /humimic/joint_command in; unitree: rt/lowstate "
        "out, rt/lowcmd in (default: %(default)s)",
    )
    parser.add_argument(
        "--domain",
        type=int,
        help="DDS domain id (default: 0 for ros2, 1 for unitree as Unitree's simulator)",
    )
    parser.add_argument(
        "--network",
        default="lo",
        help="network interface name or address to pin, or 'auto' for Cyclone's choice / "
        "CYCLONEDDS_URI (default: %(default)s)",
    )
    parser.add_argument(
        "--rate-hz",
        type=float,
        default=STATE_RATE_HZ,
        help="state publication rate, must divide --physics-hz (default: %(default)s)",
    )
    parser.add_argument(
        "--physics-hz", type=float, default=PHYSICS_HZ, help="physics rate (default: %(default)s)"
    )
    parser.add_argument(
        "--duration", type=float, help="stop after this many seconds (default: run until Ctrl-C)"
    )
    parser.add_argument(
        "--push-topic",
        nargs="?",
        const=Ros2Topics.push,
        help=f"accept geometry_msgs/msg/Twist pushes on this ROS 2 topic (flag alone: "
        f"{Ros2Topics.push})",
    )
    parser.add_argument(
        "--no-gantry",
        dest="gantry",
        action="store_false",
        help="start free standing instead of held until the first stiff command",
    )
    parser.add_argument(
        "--randomize",
        type=int,
        metavar="SEED",
        help="domain randomization drawn with this seed (default: off)",
    )
    parser.add_argument(
        "--mode-machine",
        type=int,
        default=0,
        help="unitree: the LowState_ mode_machine to report (default: %(default)s)",
    )


def main(args: argparse.Namespace) -> None:
    """Run the sim robot until Ctrl-C / SIGTERM or ``--duration``."""
    robot = get_robot(args.robot)
    domain = DEFAULT_DOMAIN[args.interface] if args.domain is None else args.domain
    network = None if args.network in ("", "auto") else args.network
    dds = DdsConfig(domain_id=domain, interface=network)
    config = SimRobotConfig(
        rate_hz=args.rate_hz,
        physics_hz=args.physics_hz,
        gantry=args.gantry,
        randomize_seed=args.randomize,
    )
    if args.duration is not None and not args.duration > 0:
        raise ConfigError(f"--duration: expected > 0 s, got {args.duration}")

    side: RobotSide
    if args.interface == "ros2":
        side = Ros2RobotSide(robot, dds)
    else:
        from humimic.deploy.unitree import UnitreeRobotSide

        side = UnitreeRobotSide(robot, dds, mode_machine=args.mode_machine)
    push = None
    try:
        if args.push_topic:
            push = PushSubscriber(dds, args.push_topic)
        sim = SimRobot(robot, side, config, push)
        stop = threading.Event()

        def on_signal(signum: int, _frame: object) -> None:
            stop.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        print(
            f"sim-robot: {robot.name} over {args.interface} on DDS domain {domain} "
            f"({network or 'Cyclone default'}); physics {config.physics_hz:g} Hz, state "
            f"{config.rate_hz:g} Hz, gantry {'on' if config.gantry else 'off'}"
            + (f", pushes on {args.push_topic}" if args.push_topic else "")
            + (f", randomized (seed {args.randomize})" if args.randomize is not None else ""),
            flush=True,
        )
        try:
            stats = sim.run(args.duration, stop)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    finally:
        if push is not None:
            push.close()
        side.close()
    rate = stats.ticks / stats.wall_s if stats.wall_s > 0 else 0.0
    print(
        f"sim-robot: stopped after {stats.wall_s:.1f} s: {stats.ticks} states "
        f"({rate:.0f} Hz), {stats.commands_applied} commands applied, "
        f"{stats.commands_refused} refused, {stats.pushes} pushes, {stats.overruns} overruns",
        flush=True,
    )


def _cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m humimic.deploy.sim_robot", description=__doc__.splitlines()[0]
    )
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        main(args)
    except HumimicError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
