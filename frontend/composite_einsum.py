"""numpy's einsum, composed from transposes, reshapes, sums and ``tcomp.matmul``.

The operands are combined left to right, two at a time. Before each step a
label that no later operand and not the output needs is summed out of the
operand that alone holds it; then the labels both hold split into batch
labels (still needed) and contracted ones. Each operand is transposed to
``(batch, free, contracted)`` / ``(batch, contracted, free)`` and reshaped to
three axes, and one ``matmul`` contracts them (the fast contraction kernel),
broadcasting batch axes of size 1; with nothing to contract the step is a
broadcast ``multiply``. A label repeated within one operand (``'ii->i'``,
the trace ``'ii'``) takes that operand's ``diagonal`` first. Gradients come
from those ops.
"""

from __future__ import annotations

import math
import string
from typing import Any, Sequence

from tcomp.frontend import ops
from tcomp.frontend.composite_shapes import as_array, diagonal, move_to_end
from tcomp.frontend.dispatch import cast, operand, result_dtype, shape_of, user_error
from tcomp.ir.errors import TcompShapeError, TcompTypeError

_LETTERS = frozenset(string.ascii_letters)


def _error(message: str) -> Exception:
    return user_error(TcompShapeError, f"einsum: {message}")


def _parse_term(term: str, where: str) -> list[str]:
    """Labels of one term; ``'...'`` is kept as one token."""
    if term.count("...") > 1 or term.replace("...", "").count("."):
        raise _error(f"{where} {term!r} has more than one '...' or a stray '.'")
    labels = []
    rest = term
    while rest:
        if rest.startswith("..."):
            labels.append("...")
            rest = rest[3:]
            continue
        if rest[0] not in _LETTERS:
            raise _error(
                f"{where} {term!r}: subscripts are letters a-z, A-Z and '...', got {rest[0]!r}"
            )
        labels.append(rest[0])
        rest = rest[1:]
    return labels


def _ellipsis_labels(count: int) -> list[str]:
    return [f"...{i}" for i in range(count)]  # never a letter: no clash with user labels


def _operand_labels(
    terms: list[list[str]], shapes: list[tuple[int, ...]]
) -> tuple[list[list[str]], int]:
    """Each operand's labels with '...' expanded (right-aligned, as broadcasting)."""
    spans = []
    for i, (term, shape) in enumerate(zip(terms, shapes)):
        named = len(term) - term.count("...")
        span = len(shape) - named
        if span < 0 or (span > 0 and "..." not in term):
            raise _error(
                f"operand {i} has {len(shape)} axes (shape {shape}) but its subscripts "
                f"{''.join(term)!r} name {named}"
            )
        spans.append(span)
    width = max(spans, default=0)
    full = _ellipsis_labels(width)
    expanded = []
    for term, span in zip(terms, spans):
        labels = []
        for label in term:
            labels.extend(full[width - span :] if label == "..." else [label])
        expanded.append(labels)
    return expanded, width


def _output_labels(output: str | None, terms: list[list[str]], width: int) -> list[str]:
    counts: dict[str, int] = {}
    for term in terms:
        for label in term:
            if label != "...":
                counts[label] = counts.get(label, 0) + 1
    if output is None:  # implicit: '...' first, then the labels seen once, sorted
        return _ellipsis_labels(width) + sorted(label for label, c in counts.items() if c == 1)
    labels = _parse_term(output, "the output")
    if len(set(labels)) != len(labels):
        raise _error(f"the output {output!r} repeats a subscript")
    for label in labels:
        if label != "..." and label not in counts:
            raise _error(f"the output subscript {label!r} appears in no input")
    if "..." not in labels and width > 0:
        raise _error(
            f"the inputs' '...' covers {width} axes, so the output needs '...' too "
            "(numpy's rule); write the output with '...', or sum those axes afterwards"
        )
    result = []
    for label in labels:
        result.extend(_ellipsis_labels(width) if label == "..." else [label])
    return result


def _check_sizes(labels: list[list[str]], shapes: list[tuple[int, ...]]) -> dict[str, int]:
    """The size of each label: equal everywhere, or 1 in some operands (broadcast)."""
    sizes: dict[str, int] = {}
    for term, shape in zip(labels, shapes):
        for label, size in zip(term, shape):
            known = sizes.get(label, 1)
            if size != 1 and known != 1 and size != known:
                shown = "the '...' axes" if label.startswith("...") else f"subscript {label!r}"
                raise _error(f"{shown} has sizes {known} and {size}, which do not broadcast")
            if size != 1:
                sizes[label] = size
            sizes.setdefault(label, size)
    return sizes


def _take_diagonals(value: Any, labels: list[str]) -> tuple[Any, list[str]]:
    """A label repeated within one operand: its diagonal (moved last), until none repeats."""
    while len(set(labels)) != len(labels):
        label = next(lb for lb in labels if labels.count(lb) > 1)
        first = labels.index(label)
        second = labels.index(label, first + 1)
        shape = shape_of(value)
        if shape[first] != shape[second]:
            raise _error(
                f"subscript {label!r} repeats within an operand with sizes {shape[first]} and "
                f"{shape[second]}; a diagonal needs equal sizes"
            )
        value = diagonal(value, 0, first, second)
        labels = [lb for i, lb in enumerate(labels) if i not in (first, second)] + [label]
    return value, labels


def _sum_out(value: Any, labels: list[str], keep: set[str]) -> tuple[Any, list[str]]:
    drop = tuple(i for i, label in enumerate(labels) if label not in keep)
    if not drop:
        return value, labels
    return ops.sum(value, axis=drop), [lb for i, lb in enumerate(labels) if i not in drop]


def _arrange(value: Any, labels: list[str], order: Sequence[str]) -> Any:
    return move_to_end(value, tuple(labels.index(lb) for lb in order))


def _contract_pair(a: Any, la: list[str], b: Any, lb: list[str], keep: set[str]):
    """``a`` and ``b`` combined over their shared labels; returns (value, labels)."""
    a, la = _sum_out(a, la, keep | set(lb))
    b, lb = _sum_out(b, lb, keep | set(la))
    shared = [label for label in la if label in lb]
    contracted = [label for label in shared if label not in keep]
    batch = [label for label in shared if label in keep]
    free_a = [label for label in la if label not in lb]
    free_b = [label for label in lb if label not in la]
    size_a = dict(zip(la, shape_of(a)))
    size_b = dict(zip(lb, shape_of(b)))
    for label in contracted:  # a size-1 axis against a longer one: sum the longer one first
        if size_a[label] != size_b[label]:
            if size_a[label] == 1:
                b = ops.sum(b, axis=lb.index(label), keepdims=True)
                size_b[label] = 1
            else:
                a = ops.sum(a, axis=la.index(label), keepdims=True)
                size_a[label] = 1
    if not contracted:
        # Broadcast product: a as (batch, free_a, 1...), b as (batch, 1..., free_b).
        a = ops.reshape(
            _arrange(a, la, batch + free_a),
            tuple(size_a[x] for x in batch + free_a) + (1,) * len(free_b),
        )
        b = ops.reshape(
            _arrange(b, lb, batch + free_b),
            tuple(size_b[x] for x in batch) + (1,) * len(free_a) + tuple(size_b[x] for x in free_b),
        )
        return ops.multiply(a, b), batch + free_a + free_b
    m = math.prod(size_a[x] for x in free_a)
    n = math.prod(size_b[x] for x in free_b)
    k = math.prod(size_a[x] for x in contracted)
    left = ops.reshape(
        _arrange(a, la, batch + free_a + contracted), tuple(size_a[x] for x in batch) + (m, k)
    )
    right = ops.reshape(
        _arrange(b, lb, batch + contracted + free_b), tuple(size_b[x] for x in batch) + (k, n)
    )
    product = ops.matmul(left, right)
    batch_shape = shape_of(product)[: len(batch)]
    shape = batch_shape + tuple(size_a[x] for x in free_a) + tuple(size_b[x] for x in free_b)
    return ops.reshape(product, shape), batch + free_a + free_b


def einsum(subscripts: str, *operands: Any, optimize: Any = False):
    """numpy's einsum with subscripts as a string: explicit (``'ij,jk->ik'``) or
    implicit output (``'ij,jk'``: the labels seen once, sorted), ``'...'`` for
    broadcast axes, repeated labels within an operand as diagonals.

    See the module docstring for how it is composed: one ``matmul`` per
    pair of operands that share a contracted label. ``optimize`` is accepted
    and ignored (operands are combined left to right). Dtypes promote as in
    numpy; bool operands give a bool (any of the products).
    """
    if not isinstance(subscripts, str):
        raise user_error(
            TcompTypeError,
            "einsum: give the subscripts as a string ('ij,jk->ik'); the interleaved form "
            "einsum(x, [0, 1], y, [1, 2]) is not supported",
        )
    if not operands:
        raise _error("needs at least one operand")
    text = subscripts.replace(" ", "")
    if text.count("->") > 1:
        raise _error(f"{subscripts!r} has more than one '->'")
    inputs, output = text.split("->") if "->" in text else (text, None)
    terms = [_parse_term(term, f"input {i}") for i, term in enumerate(inputs.split(","))]
    if len(terms) != len(operands):
        raise _error(f"{subscripts!r} has {len(terms)} input terms for {len(operands)} operands")
    raw = [operand(x, "einsum") for x in operands]
    dtype = result_dtype(*raw)
    work = "int32" if dtype == "bool" else dtype  # bools: count the true products, then "any"
    values = [as_array(cast(x, work), "einsum") for x in raw]
    shapes = [shape_of(v) for v in values]
    labels, width = _operand_labels(terms, shapes)
    out = _output_labels(output, terms, width)
    _check_sizes(labels, shapes)
    pairs = [_take_diagonals(v, lb) for v, lb in zip(values, labels)]
    value, current = pairs[0]
    for i in range(1, len(pairs)):
        keep = set(out).union(*(set(lb) for _, lb in pairs[i + 1 :]))
        value, current = _contract_pair(value, current, pairs[i][0], pairs[i][1], keep)
    value, current = _sum_out(value, current, set(out))
    order = [current.index(label) for label in out]
    if order != list(range(len(order))):
        value = ops.transpose(value, order)
    return cast(value, "bool") if dtype == "bool" else value
