#!/usr/bin/env bash
# Install humimic and everything it needs on a fresh CPU machine (Python + pip).
# Torch goes first, pinned to the CPU wheel, so nothing later pulls CUDA packages.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

"$PY" -m pip install --quiet "torch==2.13.0"
"$PY" -m pip install --quiet -e ".[dev]"

# Headless OpenGL for offscreen rendering (MuJoCo through EGL, Mesa's software renderer).
gl_ok() {
  MUJOCO_GL=egl "$PY" -c "import mujoco; mujoco.Renderer(mujoco.MjModel.from_xml_string('<mujoco/>'), 16, 16)" \
    >/dev/null 2>&1
}
if ! gl_ok; then
  echo "installing EGL/Mesa for headless rendering (apt)"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libegl1 libegl-mesa0 libgl1-mesa-dri libgl1 libgles2 >/dev/null
  gl_ok || { echo "error: offscreen rendering still unavailable (see README: Rendering)" >&2; exit 1; }
fi
echo "humimic installed: $("$PY" -c 'import humimic; print(humimic.__version__)')"
