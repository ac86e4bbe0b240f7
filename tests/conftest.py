"""Shared fixtures. Real mocap lives in ../shared/data beside the repository (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings
from shared_paths import SHARED_DATA

os.environ.setdefault("MUJOCO_GL", "egl")

# Property tests draw the same examples on every run, so CI is reproducible; explore new ones
# locally with `pytest --hypothesis-seed=<n>` or HUMIMIC_HYPOTHESIS_RANDOM=1.
settings.register_profile("humimic", derandomize=not os.environ.get("HUMIMIC_HYPOTHESIS_RANDOM"))
settings.load_profile("humimic")


@pytest.fixture(scope="session")
def g1():
    from humimic.robots import get_robot

    return get_robot("g1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.fail(f"shared test data not found at {SHARED_DATA} (expected ../shared/data)")
    return SHARED_DATA
