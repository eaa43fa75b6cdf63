"""Runs an outside op test suite (tinygrad's ``test_ops.py``) against tcomp.

The suite is someone else's code and is read from a path given on the command line;
nothing of it is copied here. ``shim/tinygrad`` is a fake ``tinygrad`` package, put on
``sys.path`` only while the suite runs, whose :class:`~bench.op_suite.tensor.Tensor`
records tcomp calls lazily and evaluates them with tcomp on the chosen backend. The
runner (``python -m bench.op_suite``) classifies each test as pass, fail, differs (a
fail that a documented tcomp convention explains, :mod:`bench.op_suite.conventions`),
refused, unsupported, crash, error (the shim or the suite itself broke) or skip
(:mod:`bench.op_suite.classify`).
"""
