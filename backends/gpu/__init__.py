"""The runtime shared by the GPU backends (``opencl``, ``cuda``).

- :mod:`.driver`: the few calls a device API must offer (:class:`Driver`);
- :mod:`.memory`: the caching buffer pool and ``DeviceBuffer``;
- :mod:`.executable`: a compiled program, one launch per kernel;
- :mod:`.backend`: ``GPUBackend``, lowering + C-family rendering + binary cache.

Nothing here imports a driver package; the drivers live in
``tcomp.backends.opencl`` and ``tcomp.backends.cuda``.
"""
