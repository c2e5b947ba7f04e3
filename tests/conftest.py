"""Test-wide settings: verify the IR after every pass; golden-file regeneration flag."""
import os

import pytest

os.environ.setdefault("OPCOMP_VERIFY", "1")


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the golden text files from the current output")


@pytest.fixture
def update_golden(request):
    return request.config.getoption("--update-golden")


@pytest.fixture
def rng():
    import numpy as np
    return np.random.default_rng()
