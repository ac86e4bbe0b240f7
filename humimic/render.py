"""Offscreen MuJoCo rendering of motion clips to video (headless: EGL by default, or OSMesa).

Select the GL backend with ``MUJOCO_GL=egl|osmesa`` *before* humimic imports MuJoCo;
``import humimic`` sets ``egl`` when nothing is set, before any module imports MuJoCo.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import mujoco
import numpy as np
from tqdm import tqdm  # noqa: E402

from humimic.errors import RenderError  # noqa: E402
from humimic.io import atomic_path  # noqa: E402
from humimic.motion import Motion  # noqa: E402
from humimic.robots.mujoco_model import MujocoRobot, build_mujoco  # noqa: E402
from humimic.robots.spec import RobotSpec  # noqa: E402

DEFAULT_VIDEO_FPS = 30.0
GHOST_RGBA = (0.2, 0.6, 1.0, 0.35)  # translucent blue reference


class ClipRenderer:
    """Renders robot poses from a camera that follows the root body.

    Args:
        robot: the compiled robot (visual meshes included).
        width, height: image size in pixels.
    """

    def __init__(self, robot: MujocoRobot, width: int = 640, height: int = 480) -> None:
        self.robot = robot
        self.data = mujoco.MjData(robot.model)
        try:
            self._renderer = mujoco.Renderer(robot.model, height=height, width=width)
        except Exception as exc:  # the GL stack reports many error types
            raise RenderError(
                f"offscreen rendering unavailable with MUJOCO_GL={os.environ.get('MUJOCO_GL')} "
                f"({exc}); install EGL (apt install libegl1 libgl1) or OSMesa "
                "(apt install libosmesa6) and set MUJOCO_GL=egl or osmesa"
            ) from None
        self.camera = mujoco.MjvCamera()
        self.camera.type = mujoco.mjtCamera.mjCAMERA_TRACKING
        self.camera.trackbodyid = robot.root_body_id
        self.camera.distance = 3.0
        self.camera.elevation = -15.0
        self.camera.azimuth = 135.0
        # software GL (llvmpipe) spends most of a frame on shadows and reflections
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_SHADOW] = False
        self._renderer.scene.flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = False
        self._ghost_data: mujoco.MjData | None = None
        self._ghost_opt = mujoco.MjvOption()
        self._ghost_opt.geomgroup[:] = 0
        self._ghost_opt.geomgroup[2] = 1  # visual meshes only

    def _pose(
        self,
        d: mujoco.MjData,
        root_pos_w: np.ndarray,
        root_quat_w: np.ndarray,
        joint_pos: np.ndarray,
    ) -> None:
        d.qpos[0:3] = root_pos_w
        d.qpos[3:7] = root_quat_w
        d.qpos[self.robot.joint_qpos_adr] = joint_pos
        mujoco.mj_kinematics(self.robot.model, d)
        mujoco.mj_comPos(self.robot.model, d)  # the tracking camera follows the subtree COM

    def render(
        self,
        root_pos_w: np.ndarray,
        root_quat_w: np.ndarray,
        joint_pos: np.ndarray,
        ghost: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
        ghost_rgba: tuple[float, float, float, float] = GHOST_RGBA,
    ) -> np.ndarray:
        """An RGB image ``[H, W, 3]`` uint8 of the robot in the given pose (quat wxyz).

        ``ghost``: a second pose ``(root_pos_w, root_quat_w, joint_pos)`` drawn translucent in
        ``ghost_rgba`` (the reference a policy tracks).
        """
        self._pose(self.data, root_pos_w, root_quat_w, joint_pos)
        scene = self._renderer.scene
        self._renderer.update_scene(self.data, camera=self.camera)
        if ghost is not None:
            if self._ghost_data is None:
                self._ghost_data = mujoco.MjData(self.robot.model)
            self._pose(self._ghost_data, *ghost)
            first = scene.ngeom
            mujoco.mjv_addGeoms(
                self.robot.model,
                self._ghost_data,
                self._ghost_opt,
                mujoco.MjvPerturb(),
                int(mujoco.mjtCatBit.mjCAT_DYNAMIC),
                scene,
            )
            for i in range(first, scene.ngeom):
                scene.geoms[i].rgba[:] = ghost_rgba
        return self._renderer.render()

    def close(self) -> None:
        self._renderer.close()


def render_motion(
    motion: Motion,
    spec: RobotSpec,
    out_path: str | os.PathLike[str],
    *,
    width: int = 640,
    height: int = 480,
    video_fps: float = DEFAULT_VIDEO_FPS,
    progress: bool = True,
) -> tuple[Path, int]:
    """Play ``motion`` kinematically and write an H.264 ``.mp4`` atomically.

    The video has ``floor(duration_s · video_fps) + 1`` frames at times ``k / video_fps``.

    Returns:
        The output path and the number of frames written.
    """
    motion.check_robot(spec)
    out = Path(out_path)
    check_video_args(out, width, height)
    times = video_frame_times(motion.duration_s, video_fps)
    frames = motion.sample(times)
    renderer = ClipRenderer(build_mujoco(spec), width, height)
    try:
        images = (
            renderer.render(frames.root_pos_w[k], frames.root_quat_w[k], frames.joint_pos[k])
            for k in range(len(times))
        )
        write_video(out, images, len(times), video_fps, progress=progress)
    finally:
        renderer.close()
    return out, len(times)


def check_video_args(out: Path, width: int, height: int) -> None:
    """Refuse, before anything is written, a non-video suffix or a size H.264 cannot take."""
    if out.suffix.lower() not in (".mp4", ".mkv", ".mov"):
        raise RenderError(f"{out}: video output must be .mp4, .mkv or .mov")
    if width % 16 or height % 16:
        raise RenderError(f"video size must be a multiple of 16 pixels, got {width}x{height}")


def video_frame_times(duration_s: float, video_fps: float) -> np.ndarray:
    """Frame times ``k / video_fps`` for ``k = 0 .. floor(duration_s · video_fps)``."""
    return np.arange(int(np.floor(duration_s * video_fps + 1e-9)) + 1) / video_fps


def write_video(
    out: Path, images: Iterable[np.ndarray], num: int, video_fps: float, *, progress: bool = True
) -> Path:
    """Encode ``num`` RGB images as H.264 into ``out`` atomically, with a progress bar."""
    import imageio.v2 as imageio

    with atomic_path(out) as tmp:
        writer = imageio.get_writer(
            tmp,
            format="FFMPEG",
            mode="I",
            fps=video_fps,
            codec="libx264",
            quality=7,
            macro_block_size=16,
            ffmpeg_log_level="error",
        )
        try:
            for image in tqdm(
                images, total=num, desc=f"render {out.name}", unit="frame", disable=not progress
            ):
                writer.append_data(image)
        finally:
            writer.close()
    return out
