"""`opcomp tune`: the command line tunes a library op into a resumable log and prints
the summary and, with --show, the best schedule; bad input is one clear line."""
import pytest

from autotune import config_key, records
from schedules import cli


def test_tune_command_tunes_and_resumes(tmp_path, capsys):
    log = tmp_path / "mm.jsonl"
    argv = ["tune", "matmul", "16", "16", "8", "--trials", "2", "--tuner", "random",
            "--log", str(log), "--show", "--validate", "0"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "best" in out and "candidates/min" in out and "s.stage_by_name('C')" in out
    argv[argv.index("--trials") + 1] = "3"
    assert cli.main(argv) == 0
    recs = records.load(log)
    assert len(recs) == 3 == len({config_key(r.config) for r in recs})
    assert "(+2 before)" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["tune", "no_such_op", "4", "8"], "'no_such_op' has no tuning template"),
    (["tune", "matmul", "8", "8", "8", "-O", "dtype"], "must be KEY=VALUE"),
    (["tune", "matmul", "8", "8", "8", "-O", "target=llvm"], "--target"),
    (["tune", "matmul", "8", "8", "8", "--trials", "-1"], "trials must be an int >= 0"),
])
def test_bad_tune_commands_fail_with_one_line(argv, message, capsys):
    assert cli.main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
