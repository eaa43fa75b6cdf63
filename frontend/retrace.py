"""Retraces: why a jitted function traced again, what it warns, how many programs it keeps.

:func:`explain_retrace` says in one line what differs between two
signatures (``JitFunction.retrace_reasons``); :func:`retrace_warning_text`
writes the :class:`~tcomp.errors.TcompRetraceWarning` that names the
argument that keeps changing; :func:`jit_cache_size` reads how many
signatures each jitted function keeps (``TCOMP_JIT_CACHE_SIZE``).
Signatures are :class:`tcomp.frontend.program.Signature` values, read by their
fields only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

from tcomp.backends.options import (
    DEFAULT_JIT_CACHE_SIZE,
    JIT_CACHE_SIZE_ENV,
    jit_cache_size_from_environment,
)

if TYPE_CHECKING:
    from tcomp.frontend.program import Signature

CACHE_SIZE_ENV = JIT_CACHE_SIZE_ENV
DEFAULT_CACHE_SIZE = DEFAULT_JIT_CACHE_SIZE  # signatures kept per jitted function


def jit_cache_size() -> int | None:
    """How many signatures each jitted function keeps programs for; None: no bound.

    ``TCOMP_JIT_CACHE_SIZE``, read now (``jit`` reads it once per new signature, in
    :meth:`CompileOptions.from_environment`): a whole number N >= 1 keeps N, ``0``
    keeps every signature (no bound), unset or empty keeps :data:`DEFAULT_CACHE_SIZE`.
    Any other value warns (``RuntimeWarning``) and counts as the default.
    """
    return jit_cache_size_from_environment()


def explain_retrace(old: Signature, new: Signature, paths: list[str]) -> str:
    """One line saying what differs between two signatures."""
    if old == new:
        return "the same signature again: its last trace raised, or its program was dropped"
    if old.backend != new.backend:
        return f"backend changed: {old.backend} -> {new.backend}"
    if old.names != new.names:
        return f"arguments passed changed: {list(old.names)} -> {list(new.names)}"
    if old.treedefs != new.treedefs:
        shown_old = ", ".join(str(t) for t in old.treedefs)
        shown_new = ", ".join(str(t) for t in new.treedefs)
        return f"argument structure changed: ({shown_old}) -> ({shown_new})"
    if old.statics != new.statics:
        old_names = [name for name, _, _ in old.statics]
        new_names = [name for name, _, _ in new.statics]
        if old_names != new_names:
            return f"static arguments passed changed: {old_names} -> {new_names}"
        changes = [
            f"{name}={a!r} -> {b!r}"
            for (name, ta, a), (_, tb, b) in zip(old.statics, new.statics)
            if (ta, a) != (tb, b)
        ]
        return "static argument changed: " + ", ".join(changes)
    changes = []
    for path, (s1, d1, w1), (s2, d2, w2) in zip(paths, old.leaves, new.leaves):
        if (s1, d1, w1) != (s2, d2, w2):
            weak = lambda w: " (Python scalar)" if w else ""
            changes.append(f"{path}: {d1}{list(s1)}{weak(w1)} -> {d2}{list(s2)}{weak(w2)}")
    return "argument types changed: " + "; ".join(changes)


def retrace_warning_text(
    name: str,
    count: int,
    recent: Sequence[tuple[Signature, list[str]]],
    reasons: list[str],
    limit: int | None | str = "environment",
) -> str | None:
    """The :class:`TcompRetraceWarning` message: ``count`` traces of ``name``, which
    part of the signature changed most often over the ``recent`` ones (signature,
    leaf paths), its values, and the newest of ``reasons``. None when no part
    changed (the same signature traced again after its traces raised): no warning.
    ``limit``: the signatures kept (``CompileOptions.jit_cache_size``)."""
    changing = _most_changed(recent)
    if changing is None:
        return None
    message = f"{name} has been traced {count} times; the argument that keeps changing: {changing}"
    if reasons:
        message += f" (last retrace: {reasons[-1]})"
    if isinstance(limit, str):  # not given: what the environment says now
        limit = jit_cache_size()
    kept = "every signature" if limit is None else f"the {limit} most recent signatures"
    return message + (
        f". Each new signature traces and compiles {name} again (it keeps the programs of "
        f"{kept}: {CACHE_SIZE_ENV}); pad or bucket shapes to a few sizes, and make an "
        "argument static only when it takes few values"
    )


# (kind, text) of each part of a signature, by name; kinds name the history:
# "shapes", "types", "values", "structures", "backends", "arguments passed"
SignatureParts = dict[str, tuple[str, str]]


def _signature_parts(signature: Signature, paths: list[str]) -> SignatureParts:
    """Each part of ``signature`` as text: leaves by path (``float32[3]``), static
    arguments (``3``), pytree structures, the backend and which arguments were passed."""
    parts: SignatureParts = {
        "the backend": ("backends", signature.backend),
        "the arguments passed": ("arguments passed", str(list(signature.names))),
    }
    for name, treedef in zip(signature.names, signature.treedefs):
        parts[f"the structure of {name}"] = ("structures", str(treedef))
    for path, (shape, dtype, weak) in zip(paths, signature.leaves):
        parts[path] = ("types", f"{dtype}{list(shape)}" + (" (Python scalar)" if weak else ""))
    for name, _, value in signature.statics:
        parts[name] = ("values", repr(value))
    return parts


def _most_changed(recent: Sequence[tuple[Signature, list[str]]]) -> str | None:
    """``x (shapes float32[3] -> float32[4] -> ...)``: the part of the signature that
    differs most often between consecutive ``recent`` signatures, and its values."""
    described = [_signature_parts(signature, paths) for signature, paths in recent]
    changes: dict[str, int] = {}
    for old, new in zip(described, described[1:]):
        for name in {**old, **new}:
            if old.get(name) != new.get(name):
                changes[name] = changes.get(name, 0) + 1
    if not changes:
        return None
    name = max(changes, key=changes.__getitem__)  # the first one on a tie
    values = [parts[name] for parts in described if name in parts]
    kinds = {kind for kind, _ in values}
    kind = kinds.pop() if len(kinds) == 1 else "values"
    texts = [text for _, text in values]
    if kind == "types" and len({text.split("[")[0] for text in texts}) == 1:
        kind = "shapes"  # one dtype, the shape changes
    return f"{name} ({kind} {_history(texts)})"


def _history(texts: list[str], shown: int = 3) -> str:
    """``a -> b -> c -> ... -> z``: values in order, repeats in a row dropped, the
    first ``shown`` and the last one kept."""
    distinct = [text for i, text in enumerate(texts) if i == 0 or text != texts[i - 1]]
    if len(distinct) > shown + 1:
        distinct = distinct[:shown] + ["...", distinct[-1]]
    return " -> ".join(distinct)
