"""What an LLVM CPU target is: the backend half of opcomp.target's resolution.

``describe(cpu, mattr)`` answers for the host (cpu None: LLVM's host CPU name
and its complete feature map) or for a named CPU (its features from the table
below, or, for a CPU the table does not know, the width of the vector
registers LLVM's code for it uses).  Feature names are LLVM's.
"""
from __future__ import annotations

import functools

import llvmlite.binding as llvm

_V2 = {"sse", "sse2", "sse3", "ssse3", "sse4.1", "sse4.2", "popcnt", "cx16"}
_V3 = _V2 | {"avx", "avx2", "fma", "f16c", "bmi", "bmi2", "lzcnt", "movbe"}
_V4 = _V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"}
_VNNI = _V4 | {"avx512vnni", "avx512bf16", "avx512vbmi", "avx512vpopcntdq"}

# Enabled features of named CPUs (the ones schedules ask about; LLVM adds the
# rest from its own CPU model) and their data caches: L1d and L2 per core, L3.
NAMED_CPUS = {
    "x86-64": (frozenset({"sse", "sse2"}), None),
    "x86-64-v2": (frozenset(_V2), None),
    "x86-64-v3": (frozenset(_V3), None),
    "x86-64-v4": (frozenset(_V4), None),
    "haswell": (frozenset(_V3), (32768, 262144, 8388608)),
    "skylake": (frozenset(_V3), (32768, 262144, 8388608)),
    "alderlake": (frozenset(_V3), (49152, 1310720, 31457280)),
    "znver2": (frozenset(_V3), (32768, 524288, 16777216)),
    "znver3": (frozenset(_V3), (32768, 524288, 33554432)),
    "skylake-avx512": (frozenset(_V4), (32768, 1048576, 25952256)),
    "cascadelake": (frozenset(_V4 | {"avx512vnni"}), (32768, 1048576, 25952256)),
    "icelake-server": (frozenset(_V4 | {"avx512vnni", "avx512vbmi"}), (49152, 1310720, 50331648)),
    "sapphirerapids": (frozenset(_VNNI), (49152, 2097152, 110100480)),
    "znver4": (frozenset(_VNNI), (32768, 1048576, 33554432)),
    "znver5": (frozenset(_VNNI), (49152, 1048576, 33554432)),
}


def describe(cpu, mattr) -> dict:
    """Target attributes (opcomp.target's keys) for the host (cpu None) or a named CPU."""
    if cpu is None:
        return _host(mattr or "")
    return _named(cpu, mattr or "")


@functools.lru_cache(maxsize=None)
def _host(mattr: str) -> dict:
    features = llvm.get_host_cpu_features().flatten()
    full = ",".join(f for f in (features, mattr) if f)
    return _attrs(llvm.get_host_cpu_name(), _apply(set(), full), _canonical_mattr(full), None)


@functools.lru_cache(maxsize=None)
def _named(cpu: str, mattr: str) -> dict:
    known, caches = NAMED_CPUS.get(cpu, (None, None))
    features = _apply(set(known or ()), mattr)
    attrs = _attrs(cpu, features, _canonical_mattr(mattr), caches)
    if known is None and not features:     # width from LLVM's own code for that CPU
        attrs["vector-bits"], attrs["vector-registers"] = _probe_vector_registers(cpu, mattr)
    return attrs


def _apply(features: set, mattr: str) -> frozenset:
    for item in filter(None, mattr.split(",")):
        name = item[1:]
        if item[0] == "+":
            features.add(name)
        elif item[0] == "-":
            features.discard(name)
        else:
            raise ValueError(f"-mattr entry {item!r} must start with + or -")
    return frozenset(features)


def _canonical_mattr(mattr: str) -> str:
    """The feature string sorted, the last word on each feature kept."""
    last = {}
    for item in filter(None, mattr.split(",")):
        last[item[1:]] = item[0]
    return ",".join(sign + name for name, sign in sorted(last.items()))


def _attrs(cpu: str, features: frozenset, mattr: str, caches) -> dict:
    bits, count = vector_registers_of(features)
    out = {"mcpu": cpu, "mattr": mattr, "features": features, "vector-bits": bits,
           "vector-registers": count}
    if caches:
        out.update(zip(("l1", "l2", "l3"), caches))
    return out


def vector_registers_of(features) -> tuple:
    """(bits, count) of the vector registers kernels use on a CPU with these features."""
    if "avx512f" in features:      # every other AVX-512 feature implies avx512f in LLVM
        return 512, 32
    if features & {"avx", "avx2", "fma", "f16c"}:     # each implies avx
        return 256, 16
    return 128, 16


_PROBE = """
define void @probe(ptr %p) #0 {
  %v = load <64 x float>, ptr %p
  %w = fadd <64 x float> %v, %v
  store <64 x float> %w, ptr %p
  ret void
}
attributes #0 = { nounwind "target-cpu"="CPU" "target-features"="FEATURES" }
"""


def _probe_vector_registers(cpu: str, mattr: str) -> tuple:
    """For a CPU the table lacks: the widest register LLVM's code for it uses."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_triple(llvm.get_process_triple()).create_target_machine(
        cpu=cpu, features=mattr, opt=2)
    text = _PROBE.replace("CPU", cpu).replace("FEATURES", mattr)
    asm = tm.emit_assembly(llvm.parse_assembly(text, context=llvm.create_context()))
    for reg, answer in (("%zmm", (512, 32)), ("%ymm", (256, 16)), ("%xmm", (128, 16))):
        if reg in asm:
            return answer
    return 128, 32                   # not x86: NEON-like, 32 registers of 128 bits
