"""Shared test configuration: hypothesis profiles, and the few fixtures every test file uses."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("COURSE_CI") == "1"

# No deadlines: timing belongs in benchmarks/, and a 2-core CI machine is noisy.
settings.register_profile("default", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if IN_CI else os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The tensors in tests are tiny. On a 2-core machine torch's thread pool and OpenBLAS's
    threads spin against each other and make each tiny torch call up to 100x slower, so the
    tests run torch on one thread. (Notebooks and benchmarks run in their own processes.)"""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def skip_or_fail(reason: str) -> None:
    """Skip on a user's machine, but fail in CI, where everything must run."""
    if IN_CI:
        pytest.fail(f"{reason} (COURSE_CI=1: nothing may be skipped in CI)")
    pytest.skip(reason)


@pytest.fixture
def mnist_dir() -> Path:
    """Full MNIST, only through $COURSE_DATA_DIR/mnist."""
    base = os.environ.get("COURSE_DATA_DIR")
    path = Path(base) / "mnist" if base else None
    if path is None or not path.is_dir():
        skip_or_fail("full MNIST not available: set COURSE_DATA_DIR to a folder holding mnist/")
    return path
