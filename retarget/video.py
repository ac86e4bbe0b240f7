"""The retargeting video: the robot playing the clip with the scaled human skeleton drawn over it.

The skeleton is what the robot tracks: ``RetargetResult.targets_w`` (calibrated, robot-sized human
keypoints), drawn as translucent orange spheres joined by capsules; an ankle turns green while
``RetargetResult.stance`` says its foot is in stance. The human has no shoulder keypoints in the
result, so the arms hang from a virtual *neck* point on the pelvis–head line (:data:`NECK_FRACTION`
of the way up).

Rendering reuses :class:`humimic.render.ClipRenderer` unchanged. :class:`SkeletonRenderer` relies
on two of its details: the ``_renderer`` attribute (the :class:`mujoco.Renderer`) and that
``ClipRenderer.render`` calls ``_renderer.update_scene(...)`` then ``_renderer.render()``. It wraps
``_renderer`` so that, between those two calls, the robot's geoms are made see-through
(:data:`ROBOT_ALPHA`: the skeleton runs inside the robot's shell) and the overlay geoms are added.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mujoco
import numpy as np

from humimic.render import (
    DEFAULT_VIDEO_FPS,
    ClipRenderer,
    check_video_args,
    video_frame_times,
    write_video,
)
from humimic.retarget.pipeline import RetargetResult
from humimic.robots.mujoco_model import MujocoRobot, build_mujoco
from humimic.robots.spec import RobotSpec

logger = logging.getLogger(__name__)

NECK_FRACTION = 0.7  # the virtual neck: pelvis + 0.7 · (head − pelvis)
BONE_RGBA = np.array([1.0, 0.5, 0.0, 0.75], np.float32)  # translucent orange
STANCE_RGBA = np.array([0.1, 0.85, 0.1, 0.9], np.float32)  # an ankle whose foot is in stance
JOINT_RADIUS_M = 0.03
ANKLE_RADIUS_M = 0.04
BONE_RADIUS_M = 0.012
ROBOT_ALPHA = 0.4  # the robot is drawn see-through under the skeleton, which sits inside it

# bones between canonical human keypoints ("neck" is virtual, see NECK_FRACTION)
_BONES = (
    ("pelvis", "left_knee"),
    ("left_knee", "left_ankle"),
    ("pelvis", "right_knee"),
    ("right_knee", "right_ankle"),
    ("pelvis", "neck"),
    ("neck", "head"),
    ("neck", "left_elbow"),
    ("left_elbow", "left_wrist"),
    ("neck", "right_elbow"),
    ("right_elbow", "right_wrist"),
)


class Skeleton:
    """The drawable skeleton of a retarget result: keypoint roles, bones and per-ankle feet.

    Roles are the canonical human joint names (``spec.human_map`` read backwards, the root body
    is ``pelvis``); a target frame with no role still gets a sphere, a bone whose ends are
    missing is left out.
    """

    def __init__(self, target_names: Sequence[str], spec: RobotSpec) -> None:
        role_of = {frame: role for role, frame in spec.human_map.items()}
        role_of[spec.root_body] = "pelvis"
        self.roles = [role_of.get(name, name) for name in target_names]
        index = {role: k for k, role in enumerate(self.roles)}
        self.has_neck = "pelvis" in index and "head" in index
        neck = len(self.roles)  # the virtual point is appended after the targets
        if self.has_neck:
            index["neck"] = neck
        self.bones = [(index[a], index[b]) for a, b in _BONES if a in index and b in index]
        # stance column f ↔ spec.feet[f]; the ankle sphere of that foot is its body's target
        self.stance_point = {
            f: target_names.index(foot.body)
            for f, foot in enumerate(spec.feet)
            if foot.body in target_names
        }

    def points(self, keypoints_w: np.ndarray) -> np.ndarray:
        """``[K, 3]`` targets → ``[K (+1), 3]`` drawn points (the virtual neck appended)."""
        if not self.has_neck:
            return keypoints_w
        pelvis = keypoints_w[self.roles.index("pelvis")]
        head = keypoints_w[self.roles.index("head")]
        return np.vstack([keypoints_w, pelvis + NECK_FRACTION * (head - pelvis)])

    def add_to_scene(
        self, scene: Any, keypoints_w: np.ndarray, stance: np.ndarray | None = None
    ) -> int:
        """Append spheres and capsules for one frame to ``scene``; returns how many were added.

        ``stance [F]`` (the result's foot order) colours ankles green; ``None``: all in swing.

        Stops quietly (with a debug log) when the scene's ``maxgeom`` is reached.
        """
        pts = np.asarray(self.points(keypoints_w), np.float64)
        in_stance = (
            set()
            if stance is None
            else {k for f, k in self.stance_point.items() if bool(stance[f])}
        )
        eye = np.eye(3).ravel()
        added = 0

        def next_geom() -> Any | None:
            if scene.ngeom >= scene.maxgeom:
                logger.debug("scene full (maxgeom %d): skeleton truncated", scene.maxgeom)
                return None
            return scene.geoms[scene.ngeom]

        for k, p in enumerate(pts):
            geom = next_geom()
            if geom is None:
                return added
            ankle = k in self.stance_point.values()
            radius = ANKLE_RADIUS_M if ankle else JOINT_RADIUS_M
            if k == len(self.roles):  # the virtual neck: a joint, drawn smaller
                radius = BONE_RADIUS_M * 1.5
            rgba = STANCE_RGBA if k in in_stance else BONE_RGBA
            mujoco.mjv_initGeom(
                geom, mujoco.mjtGeom.mjGEOM_SPHERE, np.array([radius, 0, 0], float), p, eye, rgba
            )
            geom.emission = 0.4  # stays readable in shadowed poses
            scene.ngeom += 1
            added += 1
        for a, b in self.bones:
            geom = next_geom()
            if geom is None:
                return added
            mujoco.mjv_initGeom(
                geom, mujoco.mjtGeom.mjGEOM_CAPSULE, np.zeros(3), np.zeros(3), eye, BONE_RGBA
            )
            mujoco.mjv_connector(geom, mujoco.mjtGeom.mjGEOM_CAPSULE, BONE_RADIUS_M, pts[a], pts[b])
            geom.emission = 0.4
            scene.ngeom += 1
            added += 1
        return added


class _OverlayHook:
    """Stands in for ``ClipRenderer._renderer``: adds the pending overlay just before ``render``."""

    def __init__(self, inner: mujoco.Renderer) -> None:
        self.inner = inner
        self.pending: tuple[Skeleton, np.ndarray, np.ndarray | None] | None = None

    @property
    def scene(self) -> Any:
        return self.inner.scene

    def update_scene(self, *args: Any, **kwargs: Any) -> None:
        self.inner.update_scene(*args, **kwargs)

    def render(self) -> np.ndarray:
        if self.pending is not None:
            skeleton, keypoints_w, stance = self.pending
            self.pending = None
            scene = self.inner.scene
            for i in range(scene.ngeom):  # the robot's geoms (the floor is static)
                geom = scene.geoms[i]
                if geom.category == mujoco.mjtCatBit.mjCAT_DYNAMIC:
                    geom.rgba[3] = min(float(geom.rgba[3]), ROBOT_ALPHA)
            skeleton.add_to_scene(scene, keypoints_w, stance)
        return np.asarray(self.inner.render())

    def close(self) -> None:
        self.inner.close()


class SkeletonRenderer(ClipRenderer):
    """A :class:`ClipRenderer` that can draw a :class:`Skeleton` over the robot."""

    def __init__(self, robot: MujocoRobot, width: int = 640, height: int = 480) -> None:
        super().__init__(robot, width, height)
        self._hook = _OverlayHook(self._renderer)
        self._renderer = self._hook  # type: ignore[assignment]

    def render_with_skeleton(
        self,
        root_pos_w: np.ndarray,
        root_quat_w: np.ndarray,
        joint_pos: np.ndarray,
        skeleton: Skeleton | None = None,
        keypoints_w: np.ndarray | None = None,
        stance: np.ndarray | None = None,
    ) -> np.ndarray:
        """Like :meth:`ClipRenderer.render`; with ``skeleton`` and ``keypoints_w [K, 3]`` (and
        ``stance [F]``, default all swing) the skeleton is drawn over the robot."""
        if skeleton is not None and keypoints_w is not None:
            self._hook.pending = (skeleton, np.asarray(keypoints_w), stance)
        try:
            return self.render(root_pos_w, root_quat_w, joint_pos)
        finally:
            self._hook.pending = None


def sample_targets(result: RetargetResult, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints ``[N, K, 3]`` (linear in time) and stance ``[N, F]`` (nearest frame) at ``t_s``.

    The result's frames are at ``k / result.motion.fps``; times outside the clip are clamped.
    """
    T = result.targets_w.shape[0]
    x = np.clip(np.asarray(t_s, float) * result.motion.fps, 0.0, T - 1)
    i0 = np.minimum(np.floor(x).astype(int), max(T - 2, 0))
    i1 = np.minimum(i0 + 1, T - 1)
    a = (x - i0)[:, None, None]
    keypoints = (1.0 - a) * result.targets_w[i0] + a * result.targets_w[i1]
    stance = result.stance[np.clip(np.rint(x).astype(int), 0, T - 1)]
    return keypoints, stance


def render_retarget_video(
    result: RetargetResult,
    spec: RobotSpec,
    out_path: str | os.PathLike[str],
    *,
    width: int = 640,
    height: int = 480,
    video_fps: float = DEFAULT_VIDEO_FPS,
    progress: bool = True,
    skeleton: bool = True,
) -> tuple[Path, int]:
    """Play ``result.motion`` with the scaled human skeleton over it; write H.264 atomically.

    The video has ``floor(duration_s · video_fps) + 1`` frames at times ``k / video_fps``, like
    :func:`humimic.render.render_motion`. ``skeleton=False`` renders the robot alone.

    Returns:
        The output path and the number of frames written.

    Raises:
        RenderError: a size that is not a multiple of 16, a non-video suffix (nothing written),
            or no offscreen GL.
    """
    motion = result.motion
    motion.check_robot(spec)
    out = Path(out_path)
    check_video_args(out, width, height)
    times = video_frame_times(motion.duration_s, video_fps)
    frames = motion.sample(times)
    keypoints, stance = sample_targets(result, times)
    skel = Skeleton(result.target_names, spec) if skeleton else None
    renderer = SkeletonRenderer(build_mujoco(spec), width, height)
    try:
        images = (
            renderer.render_with_skeleton(
                frames.root_pos_w[k],
                frames.root_quat_w[k],
                frames.joint_pos[k],
                skel,
                keypoints[k],
                stance[k],
            )
            for k in range(len(times))
        )
        write_video(out, images, len(times), video_fps, progress=progress)
    finally:
        renderer.close()
    return out, len(times)
