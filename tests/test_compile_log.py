"""The compile log: each first call of a jitted signature is recorded with what the
cache did, and a miss says which part of the key changed (``tcomp cache info FILE.py:FUNC``).

The explanation rules are checked on hand-made records; the llvm backend's real
keys in-process (memory, disk and stale entries, changed constants and
options); a user's runs of a training script between edits in fresh processes,
and ``tcomp cache`` on what they logged (in this process: ``tcomp.cli.main``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tcomp
from tcomp.backends import compile_log
from tcomp.backends.compile_log import (
    CompileRecord,
    explain_miss,
    function_identity,
    load_records,
    record_call,
)
from tcomp.backends.llvm import compile_cache, runtime
from tcomp.cli import main

ROOT = Path(__file__).resolve().parents[1]

GRAPH_A = "func @f(%0: f32[4]) -> (f32[4]) {\n  %1: f32[4] = exp(%0)\n  return %1\n}\n"
GRAPH_B = GRAPH_A.replace("exp", "tanh")
PARTS = {"graph": "graph aaa", "sources": "sources 111", "options": "threads 2"}


def _record(outcome: str = "miss", arguments: str = "x: float32[4]", backend: str = "llvm",
            graph: str = GRAPH_A, **parts: str) -> CompileRecord:
    key = dict(PARTS)
    # keyword names stand for key parts: graph_key -> "graph", kernel_source -> "kernel source"
    names = {"graph_key": "graph"}
    key.update({names.get(name, name.replace("_", " ")): value for name, value in parts.items()})
    return CompileRecord(backend, arguments, outcome, key, graph)


# ------------------------------------------------------------------------ explanations


def test_a_first_call_has_nothing_to_compare_with():
    assert explain_miss([], _record()) == [
        "no earlier call of this function on llvm is on record (its first compile here, "
        "or the cache was cleared)"
    ]
    other_backend = [_record(backend="opencl")]
    assert "on llvm is on record" in explain_miss(other_backend, _record())[0]


def test_new_argument_types_name_the_last_ones():
    why = explain_miss([_record(arguments="x: float32[8]")], _record())
    assert why == ["no earlier call with these argument types is on record; the last call "
                   "had (x: float32[8]), this one (x: float32[4])"]


def test_a_changed_graph_shows_the_changed_lines():
    earlier = [_record(arguments="x: float32[8]"), _record(outcome="disk")]
    why = explain_miss(earlier, _record(graph=GRAPH_B, graph_key="graph bbb"))
    assert why[0].startswith("the graph IR changed")
    assert why[1:] == ["  -  %1: f32[4] = exp(%0)", "  +  %1: f32[4] = tanh(%0)"]


def test_a_long_graph_diff_is_cut():
    old = "\n".join(f"line {i}" for i in range(40))
    new = "\n".join(f"LINE {i}" for i in range(40))
    why = explain_miss([_record(graph=old)], _record(graph=new, graph_key="graph bbb"))
    assert len(why) == 1 + compile_log.DIFF_LINES + 1
    assert why[-1] == f"  ... {80 - compile_log.DIFF_LINES} more changed lines"
    no_text = explain_miss([_record(graph=None)], _record(graph_key="graph bbb"))
    assert no_text[1] == "  (no diff: a graph text was too long to keep in the log)"


def test_a_changed_key_part_shows_old_and_new():
    why = explain_miss([_record()], _record(sources="sources 222", options="threads 1"))
    assert why == [
        compile_log.PART_WORDS["sources"] + ":", "  was sources 111", "  now sources 222",
        compile_log.PART_WORDS["options"] + ":", "  was threads 2", "  now threads 1",
    ]


def test_a_new_kernel_source_follows_from_a_graph_change():
    earlier = [_record(outcome="disk", kernel_source="source 1")]
    both = explain_miss(earlier, _record(graph=GRAPH_B, graph_key="graph b", kernel_source="s 2"))
    assert both[0].startswith("the graph IR changed") and not any("renderer" in w for w in both)
    alone = explain_miss(earlier, _record(kernel_source="source 2"))
    assert alone[0] == compile_log.PART_WORDS["kernel source"] + ":"


def test_the_same_key_means_the_entry_was_gone_or_damaged():
    assert "not on disk" in explain_miss([_record(outcome="disk")], _record())[0]
    assert "damaged" in explain_miss([_record(outcome="disk")], _record(outcome="stale"))[0]


def test_records_are_kept_per_function_and_bounded(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    for index in range(compile_log.RECORDS_PER_FUNCTION + 3):
        record_call("file.py:f", _record(outcome="disk", arguments=f"x: float32[{index}]"))
    records = load_records("file.py:f")
    assert len(records) == compile_log.RECORDS_PER_FUNCTION
    assert records[-1].arguments == f"x: float32[{compile_log.RECORDS_PER_FUNCTION + 2}]"
    assert load_records("file.py:g") == []
    # only the newest record of a signature keeps its graph text
    record_call("file.py:f", _record(outcome="disk", arguments="x: float32[0]"))
    record_call("file.py:f", _record(outcome="disk", arguments="x: float32[0]"))
    texts = [r.graph for r in load_records("file.py:f") if r.arguments == "x: float32[0]"]
    assert texts == [None, GRAPH_A]


def test_a_damaged_log_is_ignored_and_replaced(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    path = compile_log.log_path("file.py:f")
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert load_records("file.py:f") == []
    record = record_call("file.py:f", _record())
    assert record.why[0].startswith("no earlier call")
    assert [r.outcome for r in load_records("file.py:f")] == ["miss"]
    path.write_text(json.dumps({"format": compile_log.FORMAT, "function": "file.py:f",
                                "records": [{"backend": "llvm"}]}))
    assert load_records("file.py:f") == []


def test_an_unwritable_cache_folder_never_fails_a_call(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(blocker))
    record = record_call("file.py:f", _record())
    assert record.why and load_records("file.py:f") == []


# ------------------------------------------------------------------------ llvm, in-process


def _fresh_state() -> None:
    compile_cache.clear_memory()
    runtime.clear_cache()


def _scaled(scale: float):
    def scaled_exp(x):
        return tcomp.exp(x) * scale

    return scaled_exp


def test_llvm_calls_are_logged_with_their_reasons(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    identity = function_identity(_scaled(2.0))

    alive = []  # the memory level holds an entry while an executable of it lives

    def call(scale: float, value=x) -> list[CompileRecord]:
        alive.append(tcomp.jit(_scaled(scale), backend="llvm"))
        alive[-1](value)
        return load_records(identity)

    _fresh_state()
    records = call(2.0)
    assert [r.outcome for r in records] == ["miss"]
    assert records[0].arguments == "x: float32[7]" and records[0].seconds > 0
    assert set(records[0].key_parts) == {"format", "versions", "sources", "cpu", "options",
                                         "libmvec", "graph"}
    assert call(2.0)[-1].outcome == "memory"
    _fresh_state()
    alive.clear()
    assert call(2.0)[-1].outcome == "disk"

    last = call(3.0)[-1]  # the constant is part of the graph
    assert last.outcome == "miss" and last.why[0].startswith("the graph IR changed")
    assert any("3.0" in line and line.startswith("  +") for line in last.why)

    last = call(3.0, np.ones((2, 3), np.float32))[-1]
    assert "argument types" in last.why[0] and "x: float32[2,3]" in last.why[0]

    _fresh_state()
    alive.clear()
    for entry in (tmp_path / compile_cache.NAMESPACE).glob("*.bin"):
        entry.write_bytes(b"damaged")
    last = call(3.0)[-1]
    assert last.outcome == "stale" and "damaged" in last.why[0]

    _fresh_state()
    alive.clear()
    for entry in (tmp_path / compile_cache.NAMESPACE).glob("*.bin"):
        entry.unlink()
    last = call(3.0)[-1]
    assert last.outcome.endswith("-object") and "not on disk" in last.why[0]


def test_nothing_is_logged_with_the_disk_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", "off")
    tcomp.jit(_scaled(5.0), backend="llvm")(np.ones(3, np.float32))
    assert compile_log.log_path("any") is None
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    assert load_records(function_identity(_scaled(5.0))) == []


def test_the_reference_backend_keeps_no_log(tmp_path, monkeypatch):
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    tcomp.jit(_scaled(6.0), backend="reference")(np.ones(3, np.float32))
    assert not (tmp_path / compile_log.LOG_FOLDER).exists()


# ------------------------------------------------------------------------ command line

SCRIPT = '''\
import os
import numpy as np
import tcomp

SCALE = float(os.environ.get("SCALE", "2.0"))


@tcomp.jit
def step(x):
    return tcomp.exp(x) * SCALE


if __name__ == "__main__":
    step(np.ones(int(os.environ.get("N", "8")), np.float32))
'''


def _script_run(cache: Path, cwd: Path, **env: str) -> None:
    """``python train.py`` in a fresh process, as the user runs it between edits."""
    environment = {**os.environ, "TCOMP_CACHE_DIR": str(cache), "TCOMP_BACKEND": "llvm", **env}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT), environment.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "train.py"], env=environment, capture_output=True,
                          text=True, timeout=300, cwd=cwd)
    assert done.returncode == 0, done.stderr


def _tcomp(capsys, *argv: str) -> tuple[int, str, str]:
    """``tcomp ARGV`` in this process (``tcomp.cli.main``: what ``python -m tcomp`` runs,
    tests/test_cli.py runs that once), with the cache folder and the folder the test set."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def user_folder(tmp_path, monkeypatch) -> Path:
    """A folder holding the user's train.py, made the working folder, with its own cache."""
    (tmp_path / "train.py").write_text(SCRIPT)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path


def _info(capsys, *argv: str) -> str:
    code, out, err = _tcomp(capsys, *argv)
    assert code == 0, err
    return out


def test_cache_info_explains_the_last_miss_of_a_users_script(user_folder, capsys):
    cache = user_folder / "cache"
    none_yet = _info(capsys, "cache", "info", "train.py:step")
    assert f"function: {user_folder.resolve() / 'train.py'}:step\n" in none_yet
    assert "no call of this function is on record here" in none_yet

    _script_run(cache, user_folder)
    _script_run(cache, user_folder)
    _script_run(cache, user_folder, SCALE="0.5")
    out = _info(capsys, "cache", "info", "train.py:step")
    calls = out.split("\n\n")[1:]
    assert len(calls) == 3
    assert calls[0].startswith("last call: ") and "backend llvm  (x: float32[8])" in calls[0]
    assert "  miss: compiled from scratch" in calls[0] and "\n  why:\n" in calls[0]
    assert "the graph IR changed" in calls[0]
    assert "-  %" in calls[0] and "+  %" in calls[0] and "0.5" in calls[0]
    assert "  disk: loaded from the disk cache" in calls[1] and "why" not in calls[1]
    assert "no earlier call of this function on llvm" in calls[2]

    summary = _info(capsys, "cache", "info")
    assert "compile log: 1 function " in summary
    assert "calls" in _info(capsys, "cache", "ls")
    cleared = _info(capsys, "cache", "clear")
    assert f"removed the compile log of 1 function from {cache / 'calls'}" in cleared
    assert "no call of this function is on record" in _info(
        capsys, "cache", "info", "train.py:step")


def test_cache_info_of_a_missing_function_is_one_line(user_folder, capsys):
    code, _, err = _tcomp(capsys, "cache", "info", "train.py:nope")
    assert code == 2
    assert err.strip() == "tcomp cache: error: train.py: no function 'nope'"


@pytest.mark.parametrize("target", ["train.py", "missing.py:step"])
def test_cache_info_rejects_bad_targets(user_folder, capsys, target):
    code, _, err = _tcomp(capsys, "cache", "info", target)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_a_gpu_build_at_compile_time_is_counted_once(tmp_path, monkeypatch):
    """The GPU executable builds its kernels inside ``backend.compile`` when a device is
    there: the record's seconds are that compile's, not that plus ``build_s`` again."""
    if "opencl" not in tcomp.available_backends():
        pytest.skip("no OpenCL device here (PoCL gives one on CI)")
    monkeypatch.setenv("TCOMP_CACHE_DIR", str(tmp_path))
    _fresh_state()
    jitted = tcomp.jit(_scaled(3.0), backend="opencl")
    jitted(np.linspace(-1, 1, 7, dtype=np.float32))
    (stats,) = jitted.compile_stats()
    assert stats["build_s"] > 0 and not stats.get("built_on_first_call")
    (record,) = load_records(function_identity(_scaled(3.0)))
    assert record.seconds == pytest.approx(stats["backend_seconds"])
