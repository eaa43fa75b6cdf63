"""The ``opencl`` backend: the shared GPU runtime over pyopencl (see :mod:`.driver`)."""
