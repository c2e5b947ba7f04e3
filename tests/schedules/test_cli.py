"""The opcomp command line, every subcommand run as a user runs it: in a subprocess."""
import subprocess
import sys
import types
from pathlib import Path

import pytest

from schedules import cli

ROOT = Path(__file__).resolve().parents[2]


def opcomp(*argv, ok=True):
    """Run `opcomp ARGV...` (python -m schedules.cli); returns (stdout, stderr)."""
    res = subprocess.run([sys.executable, "-m", "schedules.cli", *map(str, argv)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    if ok:
        assert res.returncode == 0, f"opcomp {argv} failed:\n{res.stderr}"
    else:
        assert res.returncode != 0
    return res.stdout, res.stderr


def test_list_names_ops_and_their_sizes():
    out, _ = opcomp("list")
    assert "matmul M N K" in out.splitlines()


def test_show_loop_nest():
    out, _ = opcomp("show", "matmul", 16, 16, 16)
    assert out.startswith("def matmul(") and "for " in out


def test_show_llvm_ir():
    out, _ = opcomp("show", "matmul", 16, 16, 16, "--llvm")
    assert "define " in out and "@matmul" in out


def test_show_assembly_with_an_option():
    out, _ = opcomp("show", "matmul", 16, 16, 16, "--asm", "-O", "dtype=float64")
    assert "matmul:" in out and "vfmadd" in out and "pd\t" in out    # packed doubles


def test_bench_prints_a_table_and_checks():
    out, _ = opcomp("bench", "matmul", 32, 32, 32, "--repeat", "2")
    lines = out.splitlines()
    assert lines[0].startswith("matmul 32 32 32: target llvm")
    assert "GFLOP/s" in lines[1]
    impls = [line.split()[0] for line in lines[2:-1]]
    assert impls[:2] == ["opcomp", "numpy"]
    assert lines[-1].strip().startswith("check: max relative error") and lines[-1].endswith("(ok)")


def test_export_writes_library_and_header(tmp_path):
    out, _ = opcomp("export", "matmul", 8, 8, 8, "-o", tmp_path / "libmm.so", "--name", "mm8")
    assert (tmp_path / "libmm.so").is_file()
    assert "int32_t mm8(const float* A, const float* B, float* C);" in \
        (tmp_path / "libmm.h").read_text()
    assert "wrote" in out


def test_demo():
    out, _ = opcomp("demo", "--size", 64)
    assert "(ok)" in out and "GFLOP/s" in out


def test_help_everywhere():
    out, _ = opcomp("--help")
    for cmd in ("list", "show", "bench", "export", "tune", "demo"):
        assert cmd in out
        with pytest.raises(SystemExit) as exit_:
            cli.main([cmd, "--help"])
        assert exit_.value.code == 0


def test_tune_without_the_autotuner_command_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(cli, "_tune_hook", lambda: None)      # as without autotune/cli.py
    assert cli.main(["tune", "matmul", "8", "8", "8"]) != 0
    err = capsys.readouterr().err
    assert err.strip() == ("opcomp: error: tune: the autotuner's command is not available yet "
                           "(autotune.cli.run); tune from Python with autotune.tune(Task(...))")


def test_tune_hook_hands_over_the_parsed_arguments(monkeypatch):
    seen = {}
    hook = types.SimpleNamespace(add_arguments=lambda p: p.add_argument("--trials", type=int),
                                 run=lambda args: seen.setdefault("args", args) and 0)
    monkeypatch.setattr(cli, "_tune_hook", lambda: hook)
    assert cli.main(["tune", "matmul", "8", "8", "8", "--trials", "3"]) == 0
    args = seen["args"]
    assert (args.op, args.sizes, args.trials) == ("matmul", [8, 8, 8], 3)


def _one_line_error(*argv) -> str:
    out, err = opcomp(*argv, ok=False)
    assert out == "" and len(err.strip().splitlines()) == 1
    return err.strip()


def test_error_unknown_op():
    assert _one_line_error("show", "nope", 1).startswith("opcomp: error: unknown op 'nope'; known:")


def test_error_wrong_number_of_sizes():
    assert _one_line_error("bench", "matmul", 8, 8) == (
        "opcomp: error: matmul takes 3 sizes (M N K), got 2: opcomp bench matmul M N K")


def test_error_bad_option(capsys):
    assert cli.main(["show", "matmul", "8", "8", "8", "-O", "dtype"]) == 1
    assert capsys.readouterr().err == ("opcomp: error: option 'dtype' must be KEY=VALUE, "
                                       "e.g. dtype=float64\n")


def test_error_from_the_op_is_one_line(capsys):
    assert cli.main(["show", "matmul", "8", "8", "8", "-O", "dtype=float7"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("opcomp: error: ") and "float7" in err and err.count("\n") == 1


def test_malformed_command_line_exits_2():
    res = subprocess.run([sys.executable, "-m", "schedules.cli", "show"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "the following arguments are required: op" in res.stderr


def test_output_into_a_closed_pipe_is_not_an_error():
    import subprocess
    import sys
    from pathlib import Path
    reader = "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'schedules.cli', 'list'], stdout=subprocess.PIPE, stderr=subprocess.PIPE); p.stdout.readline(); p.stdout.close(); err = p.stderr.read(); sys.exit(p.wait() != 0 or bool(err))"
    done = subprocess.run([sys.executable, "-c", reader], cwd=Path(__file__).resolve().parents[2],
                          timeout=120)
    assert done.returncode == 0
