"""The library's ops as autotune templates keep their hand schedules untuned: the
fallback configuration of each template records exactly the schedule primitives the
op applied before it became a template (golden traces, one per case and target).

Run `python -m pytest tests/schedules/test_template_defaults.py --update-golden` to
rewrite golden/template_defaults.json (only when a hand schedule changes on purpose).
"""
import json
from pathlib import Path

import schedules

GOLDEN = Path(__file__).parent / "golden" / "template_defaults.json"
AVX2, AVX512 = "llvm -mcpu=haswell", "llvm -mcpu=znver5"
CASES = {
    "conv2d_rows": ("conv2d", (1, 8, 10, 16, 8, 3, 3), dict(padding=1)),
    "conv2d_flat": ("conv2d", (1, 8, 14, 14, 12, 3, 3), dict(padding=1)),
    "conv2d_stride2": ("conv2d", (2, 4, 17, 17, 6, 3, 3), dict(padding=1, stride=2)),
    "conv2d_nhwc": ("conv2d", (1, 8, 10, 10, 20, 3, 3), dict(padding=1, layout="NHWC")),
    "conv2d_groups": ("conv2d", (1, 8, 9, 16, 8, 3, 3), dict(padding=1, groups=2)),
    "softmax": ("softmax", (5, 70), {}),
    "softmax_short_rows": ("softmax", (3, 5), {}),
    "log_softmax": ("log_softmax", (5, 70), {}),
    "layer_norm": ("layer_norm", (5, 70), {}),
    "rms_norm": ("rms_norm", (5, 70), {}),
    "dense": ("dense", (10, 40, 16), {}),
    "dense_epilogue": ("dense", (10, 40, 16), dict(bias=True, activation="relu",
                                                     transpose_b=True)),
    "batch_matmul": ("batch_matmul", (3, 10, 24, 16), {}),
    "depthwise": ("depthwise_conv2d", (1, 4, 12, 12, 3, 3), dict(padding=1)),
    "max_pool": ("max_pool2d", (1, 4, 12, 12, 2, 2), {}),
    "avg_pool": ("avg_pool2d", (1, 4, 12, 12, 3, 3), dict(padding=1, stride=1)),
    "sum_rows": ("sum", ((6, 70),), dict(axis=1)),
    "max_columns": ("max", ((6, 70),), dict(axis=0)),
    "argmax_rows": ("argmax", ((6, 70),), dict(axis=1)),
    "matmul": ("matmul", (20, 24, 16), {}),
}
IDS = [f"{case}@{tgt}" for case in CASES for tgt in (AVX2, AVX512)]


def default_trace(case_id: str) -> list:
    """The schedule primitives of an op's untuned call on a named CPU target."""
    case, target = case_id.split("@")
    op, args, kwargs = CASES[case]
    sch, _ = schedules.get(op)(*args, target=target, **kwargs)
    return json.loads(json.dumps(sch.trace.records))


def test_untuned_ops_record_their_hand_schedules(update_golden):
    traces = {case_id: default_trace(case_id) for case_id in IDS}
    if update_golden:
        GOLDEN.write_text("{\n" + ",\n".join(f"{json.dumps(k)}: {json.dumps(t)}"
                                             for k, t in traces.items()) + "\n}\n")
    assert GOLDEN.exists(), f"no golden file {GOLDEN.name}; run with --update-golden"
    golden = json.loads(GOLDEN.read_text())
    assert sorted(golden) == sorted(traces)
    for case_id in IDS:
        assert traces[case_id] == golden[case_id], case_id
