"""One test per misuse of TVM's introspection and graph utilities (opcomp/introspect.py)."""
from __future__ import annotations

import re

import pytest

import opcomp as oc


def raises(cls, text):
    return pytest.raises(cls, match=re.escape(text))


def _add_one(name="A"):
    A = oc.placeholder((8,), name=name)
    B = oc.compute((8,), lambda i: A[i] + 1.0, name=f"{name}1")
    return A, B, oc.create_schedule(B.op)


def test_schedule_ops_not_a_schedule():
    _A, B, _ = _add_one()
    with raises(oc.ScheduleError, "ScheduleOps: expected a schedule from oc.create_schedule, got"):
        oc.ScheduleOps(B, None)


def test_schedule_ops_bounds_not_a_map():
    _, _, s = _add_one()
    with raises(oc.ScheduleError, "ScheduleOps: bounds must be what oc.InferBound(s) returns "
                                  "(a Map) or None, got list"):
        oc.ScheduleOps(s, [1, 2])


def test_schedule_ops_bounds_of_another_schedule():
    _, _, s = _add_one()
    _, _, other = _add_one("X")
    with raises(oc.ScheduleError, "ScheduleOps: bounds are not of this schedule: loop i is a "
                                  "loop of none of its stages; pass oc.InferBound(s) of the same "
                                  "schedule"):
        oc.ScheduleOps(s, oc.InferBound(other))


def test_post_proc_empty_args():
    _, _, s = _add_one()
    with raises(oc.ScheduleError, "SchedulePostProcToPrimFunc: args must be a non-empty list of "
                                  "the tensors that become the function's parameters"):
        oc.SchedulePostProcToPrimFunc([], oc.ScheduleOps(s), None)


def test_post_proc_stmt_not_a_statement():
    A, B, _ = _add_one()
    with raises(oc.ScheduleError, "SchedulePostProcToPrimFunc: stmt must be a statement "
                                  "(oc.ScheduleOps(s, bounds)), got Tensor"):
        oc.SchedulePostProcToPrimFunc([A, B], B, None)


def test_post_proc_argument_not_a_tensor():
    A, _B, s = _add_one()
    with raises(oc.ScheduleError, "SchedulePostProcToPrimFunc: an argument must be a tensor, "
                                  "got 3"):
        oc.SchedulePostProcToPrimFunc([A, 3], oc.ScheduleOps(s), None)


def test_auto_inline_not_a_schedule():
    _A, B, _ = _add_one()
    with raises(oc.ScheduleError, "AutoInlineElemWise: expected a schedule from "
                                  "oc.create_schedule, got"):
        oc.AutoInlineElemWise([B])


def test_read_graph_not_an_operation():
    with raises(oc.TensorError, "CreateReadGraph: expected an operation (T.op) or a tensor, "
                                "got 'C'"):
        oc.CreateReadGraph(["C"])


def test_post_dfs_order_op_missing_from_graph():
    A, B, _ = _add_one()
    g = oc.CreateReadGraph([A.op])
    with raises(oc.TensorError, "PostDFSOrder: operation A1 is not in the read graph; build it "
                                "with oc.CreateReadGraph from these roots"):
        oc.PostDFSOrder([B.op], g)


def test_scan_analysis_not_a_scan():
    A, B, _ = _add_one()
    with raises(oc.TensorError, "ScanGetBody: expected a scan operation (oc.scan(...).op), got "
                                "ComputeOp A1"):
        oc.ScanGetBody(B.op)
    with raises(oc.TensorError, "ScanFixPointAnalysis: expected a scan operation"):
        oc.ScanFixPointAnalysis(A.op)


def test_attach_path_not_a_schedule():
    _A, B, _ = _add_one()
    with raises(oc.ScheduleError, "CreateAttachPath: expected a schedule from "
                                  "oc.create_schedule, got"):
        oc.CreateAttachPath(B.op)


def test_post_order_visit_not_a_node():
    _A, B, _ = _add_one()
    with raises(TypeError, "post_order_visit: node must be a statement or an expression, "
                           "got Tensor"):
        oc.post_order_visit(B, print)
    with raises(TypeError, "post_order_visit: fvisit must be a callable, got 3"):
        oc.post_order_visit(B[0], 3)
