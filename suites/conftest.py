"""Suite-wide options: `--profile smoke|quick|full` sizes every suite (default quick)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
try:  # torch before TF, always
    import torch  # noqa: F401
except ImportError:
    pass

import pytest

PROFILES = ("smoke", "quick", "full")


def pytest_addoption(parser):
    parser.addoption(
        "--profile",
        choices=PROFILES,
        default="quick",
        help="smoke: seconds per test (CI); quick: the whole suite in ~15 min on a 2-core "
        "laptop; full: the real study (hours, GPU welcome). Default quick.",
    )


@pytest.fixture(scope="session")
def profile(request) -> str:
    return request.config.getoption("--profile")
