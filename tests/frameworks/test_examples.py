"""The examples/ scripts run here, so they cannot rot: Python, PyTorch, JAX, C and CMake."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.frameworks.helpers import skip_without_jax

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def _run(cmd, timeout=300, env=None, cwd=ROOT):
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, **(env or {})})
    assert res.returncode == 0, f"{cmd} failed:\n{res.stdout}\n{res.stderr}"
    return res.stdout


def test_quickstart():
    out = _run([sys.executable, str(EXAMPLES / "quickstart.py")])
    assert "def rowsumsq(" in out and "rowsumsq ok" in out


def test_pytorch_example():
    pytest.importorskip("torch")
    # aot_eager: dynamo and AOT autograd trace as for inductor, without its C++ compile.
    out = _run([sys.executable, str(EXAMPLES / "pytorch_op.py")],
               env={"OPCOMP_EXAMPLE_TORCH_BACKEND": "aot_eager"})
    assert "relu_add ok" in out


def test_torch_module_example():
    pytest.importorskip("torch")
    out = _run([sys.executable, str(EXAMPLES / "torch_module.py")],
               env={"OPCOMP_EXAMPLE_TORCH_BACKEND": "aot_eager"})
    assert "mlp_head ok" in out


def test_jax_example():
    skip_without_jax()
    assert "relu_add ok" in _run([sys.executable, str(EXAMPLES / "jax_function.py")])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The directory where examples/export_c.py wrote librowsumsq.so and .h."""
    out = tmp_path_factory.mktemp("kernel")
    _run([sys.executable, str(EXAMPLES / "export_c.py"), str(out)])
    assert (out / "librowsumsq.so").is_file() and (out / "librowsumsq.h").is_file()
    return out


def test_c_program(exported, tmp_path):
    cc = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    exe = tmp_path / "rowsumsq"
    _run([cc, "-std=c99", "-Wall", "-Werror", str(EXAMPLES / "c" / "main.c"), f"-I{exported}",
          f"-L{exported}", "-lrowsumsq", f"-Wl,-rpath,{exported}", "-lm", "-o", str(exe)])
    assert "rowsumsq from C: 1000 rows" in _run([str(exe)])


def test_cmake_project(exported, tmp_path):
    if shutil.which("cmake") is None or shutil.which("c++") is None:
        pytest.skip("no cmake or C++ compiler")
    build = tmp_path / "build"
    _run(["cmake", "-S", str(EXAMPLES / "cmake"), "-B", str(build),
          f"-DOPCOMP_KERNEL_DIR={exported}"])
    _run(["cmake", "--build", str(build)])
    assert "rowsumsq from C++: 513 rows" in _run([str(build / "rowsumsq_cpp")])
