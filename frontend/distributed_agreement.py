"""Checks that every rank runs the same thing, before its collectives can hang on it.

Ranks that call collectives on different shapes, in a different order, or with
different tcomp versions do not fail in MPI: they hang or read garbage. So each
collective of :mod:`tcomp.distributed` first compares a fingerprint of what each rank
runs (:func:`agree`: a 16-byte digest of the description, one small ``Iallgather``);
when the digests differ every rank gathers the descriptions and raises the same error,
naming the ranks and the lines that differ. :func:`check_identical` does the same for
the values of arrays (the parameters in ``data_parallel(..., debug=True)``).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Sequence

import numpy as np

from tcomp.frontend.distributed_comm import communicator, wait_all
from tcomp.frontend.location import user_location
from tcomp.ir.errors import TcompDistributedError, with_location

_DIGEST_BYTES = 16


def agree(what: str, lines: Sequence[str]) -> None:
    """Raises :class:`TcompDistributedError` on every rank unless every rank passed the
    same ``lines`` (``"name: value"`` descriptions of what it is about to run)."""
    comm = communicator()
    if comm.Get_size() == 1:
        return
    text = "\n".join(lines)
    digest = np.frombuffer(hashlib.sha256(text.encode()).digest()[:_DIGEST_BYTES], np.uint8).copy()
    gathered = np.empty((comm.Get_size(), _DIGEST_BYTES), np.uint8)
    request = comm.Iallgather(digest, gathered)
    wait_all([request], f"{what} (agreement check)", keep_alive=[digest, gathered])
    if len({bytes(row) for row in gathered}) == 1:
        return
    texts = _gather_texts(text, what)
    message = disagreement_message(what, [t.split("\n") for t in texts])
    raise TcompDistributedError(with_location(message, user_location()))


def _gather_texts(text: str, what: str) -> list[str]:
    """Every rank's ``text`` (variable length: lengths first, then the bytes)."""
    comm = communicator()
    data = np.frombuffer(text.encode(), np.uint8).copy()
    length = np.array([data.size], np.int64)
    lengths = np.empty(comm.Get_size(), np.int64)
    request = comm.Iallgather(length, lengths)
    wait_all([request], f"{what} (gathering descriptions)", keep_alive=[length, lengths])
    everything = np.empty(int(lengths.sum()), np.uint8)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    request = comm.Iallgatherv(data, [everything, (lengths, offsets)])
    wait_all([request], f"{what} (gathering descriptions)", keep_alive=[data, everything])
    return [
        everything[o : o + n].tobytes().decode() for o, n in zip(offsets.tolist(), lengths.tolist())
    ]


def disagreement_message(what: str, per_rank: Sequence[Sequence[str]]) -> str:
    """The error for ranks whose descriptions differ: ranks grouped by description, each
    group with the lines that not every group shares."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, lines in enumerate(per_rank):
        groups.setdefault(tuple(lines), []).append(index)
    common = set.intersection(*(set(lines) for lines in groups))
    rows = []
    for lines, ranks in groups.items():
        label = ranks_text(ranks) + ":"
        differing = [line for line in lines if line not in common] or ["(nothing: fewer lines)"]
        for line in differing:
            rows.append(f"  {label:<12} {line}")
            label = ""
    return (
        f"tcomp.distributed: the ranks disagree on {what}, so its collectives would not "
        f"match (every rank raises this error):\n" + "\n".join(rows)
    )


def ranks_text(ranks: Sequence[int]) -> str:
    """``rank 1`` or ``ranks 0, 2``."""
    return ("rank " if len(ranks) == 1 else "ranks ") + ", ".join(str(r) for r in ranks)


def check_identical(what: str, names: Sequence[str], arrays: Sequence[np.ndarray]) -> None:
    """Raises :class:`TcompDistributedError` on every rank unless every rank holds the
    same bytes in ``arrays``; the message names the ranks that differ from the majority
    (rank 0's values on a tie) and the arrays (``names``) where they differ."""
    comm = communicator()
    count = comm.Get_size()
    if count == 1:
        return
    sums = np.array([_checksum(a) for a in arrays], np.uint64)
    gathered = np.empty((count, len(arrays)), np.uint64)
    request = comm.Iallgather(sums, gathered)
    wait_all([request], f"{what} (checksum check)", keep_alive=[sums, gathered])
    rows = [tuple(row.tolist()) for row in gathered]
    tally = Counter(rows)
    top = max(tally.values())
    reference = next(row for row in rows if tally[row] == top)
    agreeing = [r for r, row in enumerate(rows) if row == reference]
    differing = [r for r, row in enumerate(rows) if row != reference]
    if not differing:
        return
    details = []
    for r in differing:
        leaves = [n for n, mine, ref in zip(names, rows[r], reference) if mine != ref]
        details.append(f"  rank {r}: {', '.join(leaves)}")
    verb = "holds" if len(differing) == 1 else "hold"
    message = (
        f"tcomp.distributed: {what}: {ranks_text(differing)} {verb} values different from "
        f"{ranks_text(agreeing)} (every rank raises this error); the arrays that differ:\n"
        + "\n".join(details)
    )
    raise TcompDistributedError(with_location(message, user_location()))


def _checksum(array: np.ndarray) -> int:
    data = np.ascontiguousarray(array)
    header = f"{data.dtype.str}{np.shape(array)}".encode()
    return int.from_bytes(hashlib.sha256(header + data.tobytes()).digest()[:8], "little")
