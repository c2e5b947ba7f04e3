"""Misuse of save_json / load_json: one test each."""
import json

import pytest

import opcomp as oc


def _tensor():
    A = oc.placeholder((4,), name="A")
    return oc.compute((4,), lambda i: A[i] + 1.0, name="B")


def test_save_json_of_something_else():
    with pytest.raises(oc.SerializeError, match="save_json: expected a Tensor, an Operation"):
        oc.save_json(3)


def test_save_json_of_an_extern_operation():
    A = oc.placeholder((4,), name="A")
    E = oc.extern((4,), [A], lambda ins, outs: oc.call_extern("int32", "f", ins[0].data,
                                                               outs[0].data), name="ext")
    with pytest.raises(oc.SerializeError, match="only placeholders, computes and scans can be "
                                                "saved"):
        oc.save_json(E)


def test_load_json_of_text_that_is_not_json():
    with pytest.raises(oc.SerializeError, match="load_json: not JSON text"):
        oc.load_json("{nope")


def test_load_json_of_another_format():
    with pytest.raises(oc.SerializeError, match="load_json: not an opcomp graph"):
        oc.load_json(json.dumps({"format": "opcomp-trace"}))


def test_load_json_of_another_version():
    data = json.loads(oc.save_json(_tensor()))
    data["version"] = 99
    with pytest.raises(oc.SerializeError, match="graph version 99 is not 1"):
        oc.load_json(json.dumps(data))


def test_load_json_of_an_unknown_node():
    data = json.loads(oc.save_json(_tensor()))
    data["ops"][1]["bodies"][0]["node"] = "Bogus"
    with pytest.raises(oc.SerializeError, match="unknown node kind 'Bogus'"):
        oc.load_json(json.dumps(data))
