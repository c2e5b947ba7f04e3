"""The compile cache: memory hits, disk hits in a fresh process, corrupt entries, atomic writes."""
from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

from opcomp import compile_cache as cc
from opcomp.build import build, get_backend
from opcomp.target import parse_target


ROOT = pathlib.Path(__file__).resolve().parents[2]

# Executed here and in a fresh interpreter: both must build the identical function.
KERNEL_SRC = """
from opcomp.ir import expr as E, tir as T
def make(name, idx="int32"):
    n, i = E.Var("n", "int32"), E.Var("i", idx)
    A, B, C = (T.Buffer(x, "float32", (n,)) for x in "ABC")
    v = E.Load(A, (i,), "float32") * E.Load(B, (i,), "float32") + 1.5
    body = T.For(i, E.const(0, idx), n, "serial", T.Store(C, (i,), v))
    return T.PrimFunc(name, (A, B, C), body, (n,))
"""

CHILD = KERNEL_SRC + """
import json, sys, time
import numpy as np
from opcomp import compile_cache as cc
from opcomp.build import build
t0 = time.perf_counter()
mod = build(make(sys.argv[1]), target="llvm")
seconds = time.perf_counter() - t0
rng = np.random.default_rng()
a, b = rng.standard_normal(100).astype(np.float32), rng.standard_normal(100).astype(np.float32)
c = np.empty_like(a)
mod(a, b, c)
ok = bool(np.allclose(c, a * b + np.float32(1.5), rtol=1e-6, atol=1e-6))   # FMA allowed
print(json.dumps({"stats": cc.stats, "seconds": seconds, "ok": ok}))
"""


def make(name, idx="int32"):
    env: dict = {}
    exec(KERNEL_SRC, env)
    return env["make"](name, idx)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("OPCOMP_CACHE_DIR", str(d))
    cc.clear_memory_cache()
    return d


def fresh_name():
    return f"k{uuid.uuid4().hex[:12]}"


def check(mod, rng):
    a, b = rng.standard_normal(257).astype(np.float32), rng.standard_normal(257).astype(np.float32)
    c = rng.standard_normal(257).astype(np.float32)
    mod(a, b, c)
    np.testing.assert_allclose(c, a * b + np.float32(1.5), rtol=1e-6, atol=1e-6)  # FMA allowed


def entry_of(func, cache_dir: pathlib.Path) -> pathlib.Path:
    key = cc.cache_key(func, parse_target("llvm"), get_backend("llvm"))
    return cache_dir / f"v{cc.SCHEMA}" / key[:2] / key


def timed_build(func):
    t0 = time.perf_counter()
    mod = build(func, target="llvm")
    return mod, time.perf_counter() - t0


def test_second_build_is_a_memory_hit(rng):
    func = make(fresh_name())
    mod1, cold = timed_build(func)
    assert cc.stats["misses"] == 1 and cc.stats["memory_hits"] == 0
    mod2, warm = timed_build(func)
    assert cc.stats["memory_hits"] == 1 and cc.stats["misses"] == 1
    assert mod2.artifact.kernel is mod1.artifact.kernel
    print(f"cold build {cold * 1e3:.1f} ms, memory hit {warm * 1e3:.2f} ms")
    assert warm < cold / 3
    check(mod2, rng)


def test_equal_functions_built_separately_share_the_entry():
    name = fresh_name()
    build(make(name), target="llvm")
    build(make(name), target="llvm")          # new Var/Buffer objects, same structure
    assert cc.stats == {"memory_hits": 1, "disk_hits": 0, "misses": 1, "disk_rejected": 0}


def test_key_sees_what_the_printer_hides():
    f32, i64 = make("same"), make("same", idx="int64")   # loop variable int32 vs int64
    assert str(f32) == str(i64)
    backend, target = get_backend("llvm"), parse_target("llvm")
    assert cc.cache_key(f32, target, backend) != cc.cache_key(i64, target, backend)
    assert cc.cache_key(f32, target, backend) != cc.cache_key(f32, parse_target("llvm -mcpu=x86-64"), backend)


def test_fresh_process_hits_the_disk_cache(cache_dir, tmp_path):
    name = fresh_name()
    _, cold = timed_build(make(name))
    assert cc.stats["misses"] == 1
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = dict(os.environ, OPCOMP_CACHE_DIR=str(cache_dir),
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, str(script), name], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"cold build {cold * 1e3:.1f} ms, disk hit in a fresh process {res['seconds'] * 1e3:.1f} ms")
    assert res["ok"]
    assert res["stats"]["disk_hits"] == 1 and res["stats"]["misses"] == 0


def test_disk_entry_holds_plain_files(cache_dir):
    func = make(fresh_name())
    mod = build(func, target="llvm")
    entry = entry_of(func, cache_dir)
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["schema"] == cc.SCHEMA and meta["key"] == entry.name
    blobs = {name: (entry / info["file"]).read_bytes() for name, info in meta["blobs"].items()}
    assert mod.artifact.kernel.object in blobs.values()
    assert mod.artifact.kernel.ir.encode() in blobs.values()
    assert sorted(p.name for p in entry.parent.iterdir()) == [entry.name]   # no temp litter


def _corrupt_then_rebuild(func, rng, damage):
    build(func, target="llvm")
    damage()
    cc.clear_memory_cache()
    with pytest.warns(cc.CacheWarning, match="ignoring the corrupt entry"):
        mod = build(func, target="llvm")
    assert cc.stats["disk_rejected"] == 1 and cc.stats["misses"] == 1
    check(mod, rng)
    cc.clear_memory_cache()
    build(func, target="llvm")                 # the rewritten entry is good again
    assert cc.stats["disk_hits"] == 1


def _blob(entry, field):
    return entry / json.loads((entry / "meta.json").read_text())["blobs"][field]["file"]


def test_garbage_object_bytes_are_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    _corrupt_then_rebuild(func, rng, lambda: _blob(entry, "object").write_bytes(os.urandom(300)))


def test_malformed_json_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    _corrupt_then_rebuild(func, rng, lambda: (entry / "meta.json").write_text('{"schema": 1, "ke'))


def test_key_mismatch_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)

    def damage():
        meta = json.loads((entry / "meta.json").read_text())
        meta["key"] = "0" * 64
        (entry / "meta.json").write_text(json.dumps(meta))
    _corrupt_then_rebuild(func, rng, damage)


def test_hash_mismatch_of_the_ir_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)

    def damage():                      # same size, one byte changed
        path = _blob(entry, "ir")
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x20
        path.write_bytes(bytes(data))
    _corrupt_then_rebuild(func, rng, damage)


def test_interrupted_write_leaves_no_entry(cache_dir, monkeypatch, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    real = cc._write_file
    written = []

    def dying(path, data):
        if written:                               # the first file made it, then the "crash"
            raise OSError("disk full")
        written.append(path)
        real(path, data[: len(data) // 2])
    monkeypatch.setattr(cc, "_write_file", dying)
    with pytest.warns(cc.CacheWarning, match="could not write"):
        mod = build(func, target="llvm")
    check(mod, rng)                                # the build itself succeeded
    assert written and not entry.exists()
    assert list(entry.parent.iterdir()) == []      # the half-written temp entry was removed


def test_disk_cache_off(monkeypatch, cache_dir, rng):
    monkeypatch.setenv("OPCOMP_CACHE_DIR", "off")
    check(build(make(fresh_name()), target="llvm"), rng)
    assert not cache_dir.exists()


# -- hostile entries: planted by someone who can write the cache directory --------------
def _rewrite_meta(entry, change):
    meta = json.loads((entry / "meta.json").read_text())
    change(meta)
    (entry / "meta.json").write_text(json.dumps(meta))


def _forge_object(entry, data: bytes):
    """Replace the object code and fix up its size and sha256: a self-consistent entry."""
    import hashlib
    _blob(entry, "object").write_bytes(data)

    def fix(meta):
        meta["blobs"]["object"].update(size=len(data), sha256=hashlib.sha256(data).hexdigest())
    _rewrite_meta(entry, fix)


def test_self_consistent_forged_object_is_refused_by_its_hmac(cache_dir, rng, monkeypatch):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    loaded = []
    real_load = get_backend("llvm").load
    monkeypatch.setattr(get_backend("llvm"), "load", lambda a: loaded.append(a.object) or real_load(a))
    planted = b"\x7fELF hostile machine code" + os.urandom(64)
    build(func, target="llvm")
    _forge_object(entry, planted)
    cc.clear_memory_cache()
    with pytest.warns(cc.CacheWarning, match="HMAC does not match"):
        check(build(func, target="llvm"), rng)
    assert planted not in loaded                      # never handed to the loader
    assert cc.stats["disk_rejected"] == 1


def test_entry_without_hmac_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    _corrupt_then_rebuild(func, rng, lambda: _rewrite_meta(entry, lambda m: m.pop("mac")))


def test_symlinked_blob_is_refused(cache_dir, rng, tmp_path):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)

    def damage():
        target = tmp_path / "elsewhere.bin"
        target.write_bytes(_blob(entry, "object").read_bytes())
        _blob(entry, "object").unlink()
        _blob(entry, "object").symlink_to(target)
    _corrupt_then_rebuild(func, rng, damage)


def test_blob_that_is_a_fifo_is_refused_without_blocking(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)

    def damage():
        _blob(entry, "ir").unlink()
        os.mkfifo(_blob(entry, "ir"))
    _corrupt_then_rebuild(func, rng, damage)


def test_deeply_nested_meta_json_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    _corrupt_then_rebuild(func, rng, lambda: (entry / "meta.json").write_text("[" * 100000))


def test_oversized_meta_json_is_refused(cache_dir, rng):
    func = make(fresh_name())
    entry = entry_of(func, cache_dir)
    _corrupt_then_rebuild(func, rng, lambda: (entry / "meta.json").write_bytes(b" " * (2 << 20)))


def test_secret_readable_by_others_turns_the_disk_cache_off(cache_dir, rng):
    func = make(fresh_name())
    build(func, target="llvm")
    secret = cache_dir / f"v{cc.SCHEMA}" / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600
    secret.chmod(0o644)
    cc.clear_memory_cache()
    with pytest.warns(cc.CacheWarning, match="readable or writable by others"):
        check(build(func, target="llvm"), rng)
    assert cc.stats["disk_hits"] == 0 and cc.stats["misses"] == 1


def test_a_replaced_secret_invalidates_every_entry(cache_dir, rng):
    func = make(fresh_name())
    build(func, target="llvm")
    secret = cache_dir / f"v{cc.SCHEMA}" / "secret"
    secret.write_bytes(os.urandom(32))
    cc.clear_memory_cache()
    with pytest.warns(cc.CacheWarning, match="HMAC"):
        check(build(func, target="llvm"), rng)
