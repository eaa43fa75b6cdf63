"""One fresh process: time the first MLP training step of one framework, print JSON.

``python -m bench.first_call FRAMEWORK [--backend NAME] [--quick]`` prints
``{"import_s": ..., "first_call_s": ...}``: the seconds to import the
framework, and the seconds of the first call of the training step (trace,
compile or load from the disk cache, run, and the loss on the host). The
``first_call`` workload starts it with ``TCOMP_CACHE_DIR`` pointing at an
empty folder (cold) or at a folder a previous process filled (warm). JAX's
persistent compilation cache is pointed into the same folder, so its
cold and warm are comparable.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any

import numpy as np

from bench import mlp


def use_jax_cache(jax: Any) -> None:
    """Points JAX's persistent compilation cache into ``$TCOMP_CACHE_DIR/jax``, caching every entry."""
    cache = os.environ.get("TCOMP_CACHE_DIR")
    if cache:
        jax.config.update("jax_compilation_cache_dir", os.path.join(cache, "jax"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _first_call(framework: str, backend: str | None, quick: bool) -> dict[str, float]:
    sizes = mlp.QUICK_SIZES if quick else mlp.FULL_SIZES
    batch = mlp.QUICK_BATCH if quick else mlp.FULL_BATCH
    params, (x, labels) = mlp.init_params(sizes), mlp.make_data(sizes, batch)
    start = time.perf_counter()
    if framework == "numpy":
        step, convert = mlp.numpy_step, lambda a: a
    elif framework == "tcomp":
        import tcomp  # noqa: F401

        step, convert = mlp.tcomp_step(backend), lambda a: a
    elif framework == "torch":
        import torch

        step, convert = mlp.torch_step(torch), torch.from_numpy
    elif framework == "jax":
        import jax

        use_jax_cache(jax)
        step, convert = mlp.jax_step(jax), jax.numpy.asarray
    else:
        raise SystemExit(f"unknown framework {framework!r}")
    import_s = time.perf_counter() - start
    args: Any = ({n: convert(p) for n, p in params.items()}, convert(x), convert(labels))
    if framework == "torch":
        args = (args[0], args[1], args[2].long())
    start = time.perf_counter()
    loss, _ = step(*args)
    value = float(np.asarray(loss))
    first_call_s = time.perf_counter() - start
    if not np.isfinite(value):
        raise SystemExit(f"{framework}: first step gave loss {value}")
    return {"import_s": import_s, "first_call_s": first_call_s}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.first_call")
    parser.add_argument("framework", choices=["numpy", "tcomp", "torch", "jax"])
    parser.add_argument("--backend", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(_first_call(args.framework, args.backend, args.quick)))


if __name__ == "__main__":
    main()
