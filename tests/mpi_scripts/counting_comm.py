"""A communicator that counts the MPI calls made through it, by method name."""

from __future__ import annotations

from collections import Counter
from typing import Any


class CountingComm:
    """Wraps an mpi4py communicator; ``calls[name]`` is how many times each MPI method
    (``Iallreduce``, ``Iallgather`` ...) was called through it."""

    def __init__(self, comm: Any) -> None:
        self._comm = comm
        self.calls: Counter = Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._comm, name)
        if not callable(attribute) or name.startswith("Get_"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted
