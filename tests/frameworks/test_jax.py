"""The JAX cases (jax_cases.py) run in a child pytest: JAX starts threads when it is
imported, and other tests fork (the fuzzers' isolated kernels), which is unsafe in a
process where those threads live."""
import subprocess
import sys
from pathlib import Path

import pytest

from tests.frameworks.helpers import skip_without_jax

REPO = Path(__file__).resolve().parents[2]


def test_jax_cases_in_a_child_process():
    skip_without_jax()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-o", "addopts=", str(Path(__file__).with_name("jax_cases.py"))],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "failed" not in done.stdout
