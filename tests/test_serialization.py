"""tcomp.save / tcomp.load: pytrees in safetensors files, and files from elsewhere.

Round trips keep structure, dtypes and values exactly; a plain safetensors file loads
as a flat dict; a file whose tcomp metadata is anything but the documented format is
a TcompArgumentError, never something constructed from it.
"""

from __future__ import annotations

import json
import os
from collections import namedtuple

import ml_dtypes
import numpy as np
import pytest
import safetensors
import safetensors.numpy

import tcomp
from tcomp import optim
from tcomp.errors import TcompArgumentError, TcompTracerError, TcompTypeError

Pair = namedtuple("Pair", ["first", "second"])
BACKENDS = [b for b in ("reference", "llvm") if b in tcomp.available_backends()]


def every_kind_of_tree() -> dict:
    rng = np.random.default_rng(0)
    return {
        "f32": rng.normal(size=(2, 3)).astype(np.float32),
        "f64": rng.normal(size=4),
        "f16": rng.normal(size=(3,)).astype(np.float16),
        "bf16": rng.normal(size=(2, 2)).astype(ml_dtypes.bfloat16),
        "i32": np.arange(-3, 3, dtype=np.int32),
        "bool": np.array([True, False, True]),
        "scalar0d": np.float32(2.5),
        "empty": np.zeros((0, 4), np.float32),
        "python": [1.25, -7, True, None],
        "nested": (Pair(np.ones(2, np.float32), {"deep": [np.zeros((), np.int32)]}),),
        3: np.array([1.0], np.float64),  # an int key
    }


def assert_same_tree(got, want) -> None:
    got_leaves, got_def = tcomp.tree_flatten(got)
    want_leaves, want_def = tcomp.tree_flatten(want)
    assert str(got_def) == str(want_def)
    for a, b in zip(got_leaves, want_leaves):
        if isinstance(b, (bool, int, float)):
            assert type(a) is type(b) and a == b
            continue
        a_host = np.asarray(a)
        assert a_host.dtype == np.asarray(b).dtype and a_host.shape == np.shape(b)
        np.testing.assert_array_equal(
            a_host.reshape(-1).view(np.uint8), np.asarray(b).reshape(-1).view(np.uint8)
        )


def test_round_trip_keeps_structure_dtypes_and_bits(tmp_path) -> None:
    tree = every_kind_of_tree()
    path = tmp_path / "tree.safetensors"
    tcomp.save(path, tree)
    loaded = tcomp.load(path)
    assert_same_tree(loaded, tree)
    assert loaded["nested"][0]._fields == ("first", "second")
    assert type(loaded["nested"][0]).__name__ == "Pair"
    assert all(
        isinstance(x, np.ndarray) and x.flags.writeable
        for x in tcomp.tree_flatten(loaded)[0]
        if not isinstance(x, (bool, int, float))
    )
    assert os.listdir(tmp_path) == ["tree.safetensors"]  # no temporary file left behind


@pytest.mark.parametrize("backend", BACKENDS)
def test_arrays_save_and_load_on_a_backend(tmp_path, backend: str) -> None:
    params = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "n": 4}
    held = tcomp.jit(lambda p: tcomp.tree_map(lambda x: x * 2, p), backend=backend)(params)
    tcomp.save(tmp_path / "p.safetensors", held)
    loaded = tcomp.load(tmp_path / "p.safetensors", backend=backend)
    assert isinstance(loaded["w"], tcomp.Array) and loaded["w"].backend == backend
    np.testing.assert_array_equal(np.asarray(loaded["w"]), params["w"] * 2)
    assert loaded["n"] == 8 and isinstance(np.asarray(loaded["n"]), np.ndarray)


def test_host_data_is_brought_to_tcomps_dtypes(tmp_path) -> None:
    tcomp.save(tmp_path / "a.safetensors", {"ints": np.arange(3, dtype=np.int64)})
    loaded = tcomp.load(tmp_path / "a.safetensors")
    assert loaded["ints"].dtype == np.int32
    with pytest.raises(TcompTypeError, match="do not fit in int32"):
        tcomp.save(tmp_path / "b.safetensors", {"big": np.array([2**40])})
    with pytest.raises(TcompTypeError, match="only str and int keys"):
        tcomp.save(tmp_path / "c.safetensors", {1.5: np.zeros(1)})
    with pytest.raises(TcompTypeError):
        tcomp.save(tmp_path / "d.safetensors", {"text": "hello"})
    assert not (tmp_path / "b.safetensors").exists()


def test_saving_a_traced_value_says_so(tmp_path) -> None:
    def inside(x):
        tcomp.save(tmp_path / "x.safetensors", x)
        return x

    with pytest.raises(TcompTracerError):
        tcomp.jit(inside)(np.ones(2, np.float32))


def test_optimiser_state_round_trips_into_the_same_compiled_step(tmp_path) -> None:
    params = {"w": np.ones((2, 2), np.float32)}
    opt = optim.adam(0.1)

    @tcomp.jit
    def step(params, state):
        updates, state = opt.update(tcomp.tree_map(lambda p: p * 0.5, params), state, params)
        return optim.apply_updates(params, updates), state

    params, state = step(params, opt.init(params))
    tcomp.save(tmp_path / "state.safetensors", {"params": params, "state": state})
    like = {"params": params, "state": opt.init(params)}
    loaded = tcomp.load(tmp_path / "state.safetensors", like=like)
    assert type(loaded["state"][0]) is optim.ScaleByAdamState
    assert int(loaded["state"][0].count) == 1
    continued, _ = step(loaded["params"], loaded["state"])
    direct, _ = step(params, state)
    np.testing.assert_array_equal(np.asarray(continued["w"]), np.asarray(direct["w"]))
    assert step.trace_count == 1  # the loaded state has the structure jit saw
    with pytest.raises(TcompArgumentError, match="not that of like="):
        tcomp.load(tmp_path / "state.safetensors", like={"params": params})


def test_a_plain_safetensors_file_loads_as_a_flat_dict(tmp_path) -> None:
    path = tmp_path / "other.safetensors"
    tensors = {
        "layer.weight": np.ones((2, 2), np.float32),
        "ids": np.arange(4, dtype=np.int64),
        "mask": np.array([1, 0], np.uint8),
    }
    safetensors.numpy.save_file(tensors, path, metadata={"format": "pt"})
    loaded = tcomp.load(path)
    assert sorted(loaded) == sorted(tensors)
    for name in tensors:
        assert loaded[name].dtype == tensors[name].dtype
        np.testing.assert_array_equal(loaded[name], tensors[name])
    on_llvm = tcomp.load(path, backend=BACKENDS[-1])
    assert on_llvm["ids"].dtype == np.int32 and isinstance(on_llvm["ids"], tcomp.Array)


def test_a_plain_bfloat16_file_reads_as_ml_dtypes_bfloat16(tmp_path) -> None:
    values = np.array([1.5, -2.0, 3.25], ml_dtypes.bfloat16)  # exactly representable
    raw = values.view(np.uint16).astype("<u2").tobytes()
    header = json.dumps({"x": {"dtype": "BF16", "shape": [3], "data_offsets": [0, len(raw)]}})
    header += " " * (-len(header) % 8)
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header.encode() + raw)
    loaded = tcomp.load(path)
    assert loaded["x"].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(loaded["x"].astype(np.float32), [1.5, -2.0, 3.25])


def write_with_metadata(path, tree_json, tensors=None, fmt="1") -> None:
    tensors = {"a": np.ones(2, np.float32)} if tensors is None else tensors
    metadata = {"tcomp.tree": tree_json if isinstance(tree_json, str) else json.dumps(tree_json)}
    if fmt is not None:
        metadata["tcomp.format"] = fmt
    safetensors.numpy.save_file(tensors, path, metadata=metadata)


LEAF_A = {"kind": "leaf", "tensor": "a"}
BAD_TREES = {
    "not json": "{nope",
    "unknown kind": {"kind": "object", "module": "os", "name": "system"},
    "extra key": {"kind": "leaf", "tensor": "a", "class": "builtins.eval"},
    "not an object": ["leaf", "a"],
    "missing tensor": {"kind": "leaf", "tensor": "b"},
    "tensor twice": {"kind": "list", "children": [LEAF_A, LEAF_A]},
    "tensor not placed": {"kind": "none"},
    "bad namedtuple name": {
        "kind": "namedtuple",
        "name": "os.system",
        "fields": ["x"],
        "children": [LEAF_A],
    },
    "dunder field": {
        "kind": "namedtuple",
        "name": "T",
        "fields": ["__class__"],
        "children": [LEAF_A],
    },
    "field count": {"kind": "namedtuple", "name": "T", "fields": ["x", "y"], "children": [LEAF_A]},
    "float dict key": {"kind": "dict", "keys": [["float", 1.5]], "children": [LEAF_A]},
    "repeated dict key": {
        "kind": "dict",
        "keys": [["str", "k"], ["str", "k"]],
        "children": [LEAF_A, {"kind": "none"}],
    },
    "python leaf of an array": {"kind": "leaf", "tensor": "a", "python": "float"},
    "unknown python kind": {"kind": "leaf", "tensor": "a", "python": "complex"},
    "children not a list": {"kind": "tuple", "children": {"0": LEAF_A}},
    "deep": '{"kind":"list","children":[' * 150 + '{"kind":"leaf","tensor":"a"}' + "]}" * 150,
    "very deep": '{"kind":"list","children":[' * 100000 + "]}" * 100000,
}


@pytest.mark.parametrize("case", sorted(BAD_TREES))
def test_malformed_tcomp_metadata_is_refused(tmp_path, case: str) -> None:
    path = tmp_path / "bad.safetensors"
    write_with_metadata(path, BAD_TREES[case])
    with pytest.raises(TcompArgumentError, match="tcomp metadata is malformed"):
        tcomp.load(path)


def test_other_file_problems_are_clear_errors(tmp_path) -> None:
    path = tmp_path / "f.safetensors"
    write_with_metadata(path, LEAF_A, fmt="2")
    with pytest.raises(TcompArgumentError, match="this tcomp reads format '1'"):
        tcomp.load(path)
    write_with_metadata(path, LEAF_A, tensors={"a": np.ones(2, np.int16)})
    with pytest.raises(TcompArgumentError, match="not one of tcomp's dtypes"):
        tcomp.load(path)
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all!")
    with pytest.raises(TcompArgumentError, match="not a valid safetensors file"):
        tcomp.load(path)
    with pytest.raises(FileNotFoundError):
        tcomp.load(tmp_path / "missing.safetensors")


def test_save_replaces_a_file_whole_with_the_usual_permissions(tmp_path) -> None:
    path = tmp_path / "w.safetensors"
    tcomp.save(path, {"a": np.zeros(3, np.float32)})
    tcomp.save(path, {"b": np.ones(2, np.float64)})
    assert list(tcomp.load(path)) == ["b"]
    (tmp_path / "by_open").write_bytes(b"")
    assert os.stat(path).st_mode & 0o777 == os.stat(tmp_path / "by_open").st_mode & 0o777
    assert sorted(os.listdir(tmp_path)) == ["by_open", "w.safetensors"]
