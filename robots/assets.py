"""Locating robot description files installed by pip (``example-robot-data`` via cmeel)."""

from __future__ import annotations

import functools
from importlib import metadata
from pathlib import Path

from humimic.errors import RobotError
from humimic.robots.spec import UrdfSource


@functools.cache
def urdf_path(source: UrdfSource) -> Path:
    """Absolute path of the URDF named by ``source``, found through the distribution's file list.

    Raises:
        RobotError: the distribution is not installed or does not ship that file.
    """
    try:
        files = metadata.files(source.distribution) or []
    except metadata.PackageNotFoundError:
        raise RobotError(
            f"robot description package {source.distribution!r} is not installed; "
            f"run: pip install {source.distribution}"
        ) from None
    for f in files:
        if str(f).replace("\\", "/").endswith(source.path_suffix):
            path = Path(str(f.locate())).resolve()
            if path.is_file():
                return path
    raise RobotError(f"{source.distribution} does not contain {source.path_suffix!r}")


def package_root(source: UrdfSource) -> Path:
    """The folder that ``package://<pkg>/...`` URIs in the URDF are relative to.

    ``example-robot-data`` writes meshes as ``package://example-robot-data/robots/...``
    and installs them under ``<prefix>/share/example-robot-data/robots/...``, so the
    package root is the ``share`` folder that contains ``<pkg>``.
    """
    path = urdf_path(source)
    pkg = source.distribution
    for parent in path.parents:
        if parent.name == pkg:
            return parent.parent
    raise RobotError(f"cannot find the {pkg!r} package folder above {path}")


def resolve_package_uri(uri: str, source: UrdfSource) -> Path:
    """Turn ``package://pkg/rest`` into an absolute path (other strings are returned as paths)."""
    if uri.startswith("package://"):
        return package_root(source) / uri[len("package://") :]
    return Path(uri)
