"""The FMA peak benchmark: its kernel is what it claims (independent FMAs at the target's
width), and its figure is the FLOP count it says over the time it took."""
import llvmlite.binding as llvm

import opcomp as oc
from bench import fma_peak
from codegen.llvm import host_target_machine


def test_kernel_is_a_loop_of_independent_vector_fmas():
    lanes = oc.Target("llvm").vector_bits // 32
    asm = host_target_machine("llvm").emit_assembly(llvm.parse_assembly(fma_peak._kernel_ir(lanes, 10)))
    body = asm.split(".LBB0_1:")[1].split("jne")[0]
    assert body.count("vfmadd") == 10                  # one FMA per accumulator, nothing else
    assert "mov" not in body and "(%" not in body      # no spills, no memory traffic in the loop


def test_peak_is_the_flop_count_over_the_time(monkeypatch):
    monkeypatch.setattr(fma_peak, "_ITERS", 200_000)
    one = fma_peak.peak_gflops(threads=1, repeat=2)
    # any x86-64 core since Haswell issues at least one 128-bit FMA per cycle at >= 1 GHz,
    # and none issues more than two 512-bit FMAs per cycle at < 7 GHz
    assert 8 < one < 2 * 16 * 2 * 7
