"""One fresh process: time the first train step of one model in one framework, print JSON.

``python -m bench.models.first_call MODEL FRAMEWORK [--backend NAME] [--quick]``
prints ``{"import_s": ..., "first_call_s": ...}`` like ``bench/first_call.py``
does for the MLP: the seconds to import the framework and build the step,
and the seconds of the first step (trace, compile or load from the disk
cache, run, and the loss on the host). ``FRAMEWORK`` is ``tcomp``, ``jax``,
``torch`` or ``torch.compile``. The caches of all of them live under
``TCOMP_CACHE_DIR`` (set by the ``models`` workload to an empty folder for a
cold start, a filled one for a warm start): JAX's persistent compilation
cache in ``jax/``, torch.compile's (Inductor's) in ``torchinductor/``.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from bench.models import MODEL_NAMES, frameworks, load


def _first_call(name: str, framework: str, backend: str | None, quick: bool) -> dict[str, float]:
    model = load(name)
    state, batch = model.init(np.random.default_rng(0), quick)
    cache = os.environ.get("TCOMP_CACHE_DIR")
    start = time.perf_counter()
    if framework == "torch.compile" and cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(cache, "torchinductor")
    if framework == "jax":
        import jax

        from bench.first_call import use_jax_cache

        use_jax_cache(jax)
    train = frameworks.build(model, framework, backend)
    import_s = time.perf_counter() - start
    state, batch = train.convert(state), train.convert(batch)
    start = time.perf_counter()
    loss, _ = train(state, *batch)
    value = float(np.asarray(loss.detach() if hasattr(loss, "detach") else loss))
    first_call_s = time.perf_counter() - start
    if not np.isfinite(value):
        raise SystemExit(f"{name} ({framework}): first step gave loss {value}")
    return {"import_s": import_s, "first_call_s": first_call_s}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.models.first_call")
    parser.add_argument("model", choices=MODEL_NAMES)
    parser.add_argument("framework", choices=frameworks.FRAMEWORKS)
    parser.add_argument("--backend", default=None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(_first_call(args.model, args.framework, args.backend, args.quick)))


if __name__ == "__main__":
    main()
