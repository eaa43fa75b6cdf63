"""Fuzzing the IR text forms: malformed IR fails with tcomp errors only, and IR that
verifies means one thing.

Valid IR texts (random graph-IR functions from ``ir_strategies``, the ``.tir``
files of ``tests/opt_golden`` and random kernel-IR programs from
``kernel_strategies``) are mutated: bytes flipped, inserted or deleted, tokens
swapped, deleted or duplicated, lines deleted, duplicated or swapped, and
integers replaced by 0, -1, huge values, floats (0.5, inf, nan), bools. Every
mutant is parsed and verified; only errors deriving from :class:`TcompError`
may come out, and none may be the parsers' or verifier's last-resort
"internal error" (a crash turned into a tcomp error still is a bug).

A graph-IR mutant that parses and verifies must mean one thing: a bounded
number of them run on the reference executor and on the llvm backend, on
inputs from a seeded RNG, and the results must agree to tolerance (or both
backends raise tcomp errors). Mutants with values of more than
``MAX_RUN_ELEMENTS`` elements (a verified ``f32[99999999,8]``) are not run.

Everything is deterministic under ``HYPOTHESIS_PROFILE=ci`` (hypothesis
derandomised; the mutations come from a seeded ``random.Random``). Run with
``-s`` to see the counts of mutants tried, parsed, verified and run.
"""

from __future__ import annotations

import collections
import os
import random
import re
import traceback
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import backends_under_test
from hypothesis import given
from hypothesis import strategies as st
from ir_strategies import random_functions
from kernel_strategies import random_programs

from tcomp.backends.reference.executor import evaluate
from tcomp.ir.errors import TcompError
from tcomp.ir.graph import Function
from tcomp.ir.kernel.parser import parse_program
from tcomp.ir.kernel.printer import print_program
from tcomp.ir.kernel.verifier import verify_program
from tcomp.ir.passes import run_pipeline
from tcomp.ir.text import parse_function, print_function
from tcomp.ir.types import numpy_dtype
from tcomp.ir.verifier import verify

PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "dev")
# mutants per seed text, and llvm compiles per seed text, by hypothesis profile
MUTANTS_PER_SEED = {"ci": 120, "dev": 200, "thorough": 400}.get(PROFILE, 200)
KERNEL_MUTANTS_PER_SEED = MUTANTS_PER_SEED // 2
COMPILES_PER_SEED = {"ci": 1, "dev": 2, "thorough": 4}.get(PROFILE, 2)
MAX_RUN_ELEMENTS = 4096
GOLDEN_DIR = Path(__file__).parent / "opt_golden"
LLVM = "llvm" in backends_under_test()
# the same tolerances as test_backend_random_graphs, scaled by the size of the values
TOLERANCE = {"float16": 2e-2, "bfloat16": 3e-2, "float32": 2e-4, "float64": 1e-9}

STATS: collections.Counter[str] = collections.Counter()

# ---------------------------------------------------------------------------
# Mutations: each takes a text and a seeded Random and returns a new text.

_TOKEN = re.compile(
    r'\s+|"(?:[^"\\]|\\.)*"|%[A-Za-z0-9_.]+|[A-Za-z_][A-Za-z0-9_.]*'
    r"|[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|.",
    re.S,
)
# an integer on its own: not part of a name (%12, f32, k0) or of a float (1.5)
_INTEGER = re.compile(r"(?<![A-Za-z0-9_.%])-?\d+(?![A-Za-z0-9_.])")
NUMBER_REPLACEMENTS = (
    "0", "-1", "1", "2", "99999999999999999999", "-99999999999999999999",
    "9223372036854775807", "9223372036854775808", "4294967296",
    "0.5", "-0.5", "1e400", "-0.0", "inf", "-inf", "nan", "true", "false", "none", '"x"',
)
_CHARACTERS = '%@:=,()[]{}<>-+.*/0123456789abcdefinx" \n'


def mutate_bytes(text: str, rng: random.Random) -> str:
    """Flips, inserts or deletes a character (or deletes a few)."""
    i = rng.randrange(len(text) + 1)
    how = rng.choice(("flip", "insert", "delete"))
    if how == "insert" or i == len(text):
        return text[:i] + rng.choice(_CHARACTERS) + text[i:]
    if how == "flip":
        return text[:i] + rng.choice(_CHARACTERS) + text[i + 1 :]
    return text[:i] + text[i + 1 + rng.randrange(3) :]


def mutate_tokens(text: str, rng: random.Random) -> str:
    """Swaps two tokens, deletes one or duplicates one next to another."""
    tokens = _TOKEN.findall(text)
    solid = [i for i, token in enumerate(tokens) if not token.isspace()]
    if not solid:
        return text
    i, j = rng.choice(solid), rng.choice(solid)
    how = rng.choice(("swap", "delete", "duplicate"))
    if how == "swap":
        tokens[i], tokens[j] = tokens[j], tokens[i]
    elif how == "delete":
        tokens[i] = ""
    else:
        tokens[i] = tokens[i] + rng.choice(("", " ")) + tokens[j]
    return "".join(tokens)


def mutate_lines(text: str, rng: random.Random) -> str:
    """Deletes, duplicates or swaps whole lines."""
    lines = text.splitlines()
    if not lines:
        return text
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    how = rng.choice(("delete", "duplicate", "swap"))
    if how == "delete":
        del lines[i]
    elif how == "duplicate":
        lines.insert(j, lines[i])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


def mutate_number(text: str, rng: random.Random) -> str:
    """Replaces an integer (a dimension, an attribute, an extent ...) by an odd value."""
    spots = list(_INTEGER.finditer(text))
    if not spots:
        return mutate_bytes(text, rng)
    spot = rng.choice(spots)
    return text[: spot.start()] + rng.choice(NUMBER_REPLACEMENTS) + text[spot.end() :]


# numbers weigh most: they reach the checks behind the grammar
MUTATIONS: tuple[Callable[[str, random.Random], str], ...] = (
    mutate_bytes, mutate_bytes, mutate_tokens, mutate_tokens, mutate_lines,
    mutate_number, mutate_number, mutate_number, mutate_number,
)


def mutants(text: str, rng: random.Random, count: int):
    """``count`` mutants of ``text``, each one to three mutations away from it."""
    for _ in range(count):
        mutant = text
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            mutant = rng.choice(MUTATIONS)(mutant, rng)
        yield mutant


# ---------------------------------------------------------------------------
# Checks


def _only_tcomp_errors(check: Callable[[str], object], text: str) -> object | None:
    """``check(text)``, or None where it raised a tcomp error; any other error fails the test
    with the mutant, as does a tcomp error that is a crash caught by a last line of defence."""
    try:
        return check(text)
    except TcompError as error:
        assert "internal error" not in str(error), f"{error}\n--- mutant:\n{text}"
        return None
    except Exception as error:
        trace = "".join(traceback.format_exception(error))
        pytest.fail(f"{type(error).__name__} (not a tcomp error) from the mutant:\n{text}\n{trace}")


def _parse_and_verify(text: str) -> Function:
    STATS["graph mutants"] += 1
    fn = parse_function(text)
    STATS["graph parsed"] += 1
    verify(fn)
    STATS["graph verified"] += 1
    return fn


def _parse_and_verify_program(text: str) -> None:
    STATS["kernel mutants"] += 1
    program = parse_program(text)
    STATS["kernel parsed"] += 1
    verify_program(program)
    STATS["kernel verified"] += 1


def _inputs(fn: Function, seed: int) -> list[np.ndarray]:
    """Moderate finite inputs of the parameters' types from a seeded RNG."""
    rng = np.random.default_rng(seed)
    arrays = []
    for param in fn.params:
        dtype, shape = param.type.dtype, param.type.shape
        if dtype == "bool":
            arrays.append(rng.integers(0, 2, shape).astype(np.bool_))
        elif dtype == "int32":
            arrays.append(rng.integers(-5, 6, shape).astype(np.int32))
        else:
            arrays.append(rng.uniform(-3, 3, shape).astype(numpy_dtype(dtype)))
    return arrays


def _small(fn: Function) -> bool:
    return all(value.type.size <= MAX_RUN_ELEMENTS for value in fn.all_values())


def _run(backend_name: str, fn: Function, inputs: list[np.ndarray]):
    """The outputs of ``fn`` on a backend, or the tcomp error it raised."""
    from tcomp.backends.registry import get_backend

    try:
        with np.errstate(all="ignore"):
            if backend_name == "reference":
                return evaluate(fn, inputs)
            backend = get_backend(backend_name)
            executable = backend.compile(run_pipeline(fn, verify_each=True))
            return [backend.to_host(b) for b in executable([backend.from_host(x) for x in inputs])]
    except TcompError as error:
        return error


def _assert_same_meaning(fn: Function, text: str, seed: int) -> None:
    """The reference executor and llvm agree on ``fn`` (or both raise tcomp errors)."""
    inputs = _inputs(fn, seed)
    want = _run("reference", fn, inputs)
    got = _run("llvm", fn, inputs)
    STATS["graph run on both backends"] += 1
    where = f"--- mutant:\n{text}"
    if isinstance(want, TcompError) or isinstance(got, TcompError):
        assert isinstance(want, TcompError) and isinstance(got, TcompError), (
            f"reference: {want!r}\nllvm: {got!r}\n{where}"
        )
        return
    assert len(got) == len(want), where
    # an f32 exp converted to f64 is only as exact as f32: the least exact dtype counts
    loosest = max(TOLERANCE.get(value.dtype, 0.0) for value in fn.all_values())
    for index, (g, w) in enumerate(zip(got, want)):
        message = f"output {index}\n{where}"
        assert g.shape == w.shape and g.dtype == w.dtype, f"{g.dtype}{g.shape}: {message}"
        tolerance = loosest
        wide = w.astype(np.float64)
        finite = np.abs(wide[np.isfinite(wide)])
        atol = tolerance * max(1.0, float(np.max(finite, initial=0.0)))
        np.testing.assert_allclose(
            g.astype(np.float64), wide, rtol=tolerance, atol=atol, equal_nan=True,
            err_msg=message,
        )


def _fuzz_graph_text(text: str, seed: int) -> None:
    """Mutants of ``text``: only tcomp errors; the first verifying ones run on both backends."""
    rng = random.Random(seed)
    compiles = 0
    tried: set[str] = set()
    for mutant in mutants(text, rng, MUTANTS_PER_SEED):
        fn = _only_tcomp_errors(_parse_and_verify, mutant)
        if fn is None or mutant in tried or not _small(fn):  # type: ignore[arg-type]
            continue
        tried.add(mutant)
        if LLVM and compiles < COMPILES_PER_SEED and mutant != text:
            compiles += 1
            _assert_same_meaning(fn, mutant, rng.randrange(2**32))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Tests


@given(random_functions(), st.integers(0, 2**32 - 1))
def test_graph_ir_mutants_fail_with_tcomp_errors_or_mean_one_thing(fn: Function, seed: int):
    _fuzz_graph_text(print_function(fn), seed)


@pytest.mark.parametrize("path", sorted(GOLDEN_DIR.glob("*.tir")), ids=lambda p: p.stem)
def test_golden_ir_mutants_fail_with_tcomp_errors_or_mean_one_thing(path: Path):
    _fuzz_graph_text(path.read_text(), seed=sum(path.name.encode()))


@given(random_programs(), st.integers(0, 2**32 - 1))
def test_kernel_ir_mutants_fail_with_tcomp_errors(program, seed: int):
    rng = random.Random(seed)
    for mutant in mutants(print_program(program), rng, KERNEL_MUTANTS_PER_SEED):
        _only_tcomp_errors(_parse_and_verify_program, mutant)


def test_the_mutations_change_the_text_and_hit_numbers():
    """The mutation operators do what they say (so the fuzz tests above test something)."""
    text = "func @f(%0: f32[4,3]) -> (f32[4,3]) {\n  return %0\n}\n"
    rng = random.Random(0)
    changed = {mutation.__name__: 0 for mutation in MUTATIONS}
    for _ in range(50):
        for mutation in MUTATIONS:
            changed[mutation.__name__] += mutation(text, rng) != text
    assert all(count > 25 for count in changed.values()), changed
    numbers = {mutate_number(text, random.Random(i)) for i in range(200)}
    assert any("f32[99999999999999999999,3]" in t for t in numbers)
    assert any("f32[4,0.5]" in t for t in numbers)
    assert all("%0" in t for t in numbers)  # value names are not numbers


@pytest.fixture(scope="module", autouse=True)
def _report_statistics():
    """Prints how many mutants were tried, parsed, verified and run (visible with ``-s``)."""
    yield
    if STATS:
        print("\nIR fuzz statistics: " + ", ".join(f"{k}: {v}" for k, v in STATS.items()))
