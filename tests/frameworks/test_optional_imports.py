"""torch and jax are optional: importing opcomp (and its framework package) loads neither."""
import subprocess
import sys


def test_import_opcomp_loads_no_framework():
    code = ("import sys, opcomp, opcomp.frameworks; "
            "print(sorted(m for m in ('torch', 'jax') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip() == "[]"
