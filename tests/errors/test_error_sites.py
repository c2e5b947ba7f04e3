"""Every error a user can cause has a test in tests/errors that checks its message.

The opcomp sources are scanned (ast) for the places that build a user-facing
error: calls to ScheduleError / TensorError / ArgumentError, and calls to the
message builders that return one (Stage._error and any like it).  From each
message the longest literal fragment that is not template boilerplate ("stage",
"axis", "loops of") is taken as its key; the site counts as covered when a
string in tests/errors/*.py (a match= pattern, re.escape'd or not) contains the
key.  A new raise with a new message and no error test fails this test.
"""
from __future__ import annotations

import ast
import pathlib
import re


ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "opcomp").rglob("*.py"))
TESTS = sorted(p for p in (ROOT / "tests" / "errors").glob("*.py")
               if p.name != pathlib.Path(__file__).name)
ERRORS = {"ScheduleError", "TensorError", "ArgumentError"}
# The template every ScheduleError message shares; these pieces are not distinctive.
BOILERPLATE = re.compile(r"; loops of|: stage|, axis -?:?|axis -:")

# Sites allowed to have no error test: ("opcomp/<file>.py", key) -> why.  Keep it
# to a few entries.  Empty today: every site is triggered by a test, the one
# unreachable through the public DSL (te.py "the body must be a scalar
# expression": public dtypes are all scalar) through opcomp.expr internals.
ALLOWED: dict = {}


def _name(func) -> str:
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")


def _literals(node) -> list:
    """The literal string parts of an expression (str constants, f-string parts)."""
    out = []
    for n in ast.walk(node):
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            out.append(n.value)
    return out


def _key(call: ast.Call):
    pieces = [p.strip(" ;:,.-'\"()[]{}") for s in
              (lit for arg in call.args for lit in _literals(arg))
              for p in BOILERPLATE.split(s)]
    pieces = [p for p in pieces if " " in p]       # one word is not distinctive
    return max(pieces, key=len) if pieces else None


def _builders(tree) -> dict:
    """Functions that return an error object (e.g. Stage._error) -> that error's class;
    their calls are the sites."""
    names = {}
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for n in ast.walk(fn):
                if (isinstance(n, ast.Return) and isinstance(n.value, ast.Call)
                        and _name(n.value.func) in ERRORS):
                    names[fn.name] = _name(n.value.func)
    return names


def error_sites(kinds=ERRORS) -> list:
    """(file:line, key) for every place that makes a user-facing error of these classes."""
    sites = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        builders = _builders(tree)
        templates = set()          # the calls inside the builders are the template itself
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef) and fn.name in builders:
                templates |= {id(n) for n in ast.walk(fn) if isinstance(n, ast.Call)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Call) and id(n) not in templates:
                kind = builders.get(_name(n.func), _name(n.func))
                if kind in kinds:
                    sites.append((path.relative_to(ROOT).as_posix(), n.lineno, _key(n)))
    return [(f"{f}:{line}", key) for f, line, key in sorted(sites)]


def _is_xfail(fn) -> bool:
    return any("xfail" in ast.dump(d) for d in fn.decorator_list)


def _test_strings() -> list:
    """String literals of the error tests, except those of xfail tests (they prove nothing)."""
    out = []
    for path in TESTS:
        tree = ast.parse(path.read_text(), str(path))
        skip = {id(n) for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) and _is_xfail(fn)
                for n in ast.walk(fn)}
        for n in ast.walk(tree):
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip:
                out += [n.value, re.sub(r"\\(.)", r"\1", n.value)]   # as written, and un-escaped
    return out


def test_scanner_finds_the_known_sites():
    sites = dict(error_sites())
    assert len(sites) > 50
    for where, fragment in [("opcomp/schedule/stage.py", "cannot vectorize a reduction axis"),
                            ("opcomp/te.py", "but was indexed with"),
                            ("opcomp/infer_bound.py", "at or inside that loop too"),
                            ("opcomp/schedule/cache_stage.py", "cache_write must come before")]:
        assert any(w.startswith(where) and fragment in (k or "") for w, k in sites.items())


def uncovered(kinds) -> list:
    strings = _test_strings()
    return [f"{where}: {key!r}" if key else f"{where}: (no literal message fragment)"
            for where, key in error_sites(kinds)
            if (where.split(":")[0], key) not in ALLOWED
            and not (key and any(key in s for s in strings))]


def test_every_schedule_and_tensor_error_site_has_an_error_test():
    missing = uncovered({"ScheduleError", "TensorError"})
    assert not missing, "error sites without a test in tests/errors:\n" + "\n".join(missing)


def test_every_argument_error_site_has_an_error_test():
    assert len(error_sites({"ArgumentError"})) > 10
    missing = uncovered({"ArgumentError"})
    assert not missing, "error sites without a test in tests/errors:\n" + "\n".join(missing)


def test_allowlist_is_short_and_current():
    sites = {(where.split(":")[0], key) for where, key in error_sites()}
    assert len(ALLOWED) <= 3
    assert set(ALLOWED) <= sites, "stale ALLOWED entries"
