"""The opcomp command line: demo, show, ops."""
import pytest

from schedules.cli import main


def test_demo_checks_and_reports(capsys):
    assert main(["demo", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert "(ok)" in out and "GFLOP/s" in out


def test_show_prints_loop_nest(capsys):
    assert main(["show", "matmul", "--size", "64"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("def matmul(") and "parallel for" in out


def test_show_asm(capsys):
    assert main(["show", "matmul", "--size", "64", "--asm"]) == 0
    assert "vfmadd" in capsys.readouterr().out


def test_ops_lists_library(capsys):
    assert main(["ops"]) == 0
    assert "matmul" in capsys.readouterr().out.split()


def test_unknown_op_is_an_error():
    with pytest.raises(KeyError, match="unknown op 'nope'"):
        main(["show", "nope"])
