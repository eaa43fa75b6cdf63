"""The ``cuda`` backend: the shared GPU runtime over pycuda or, without it, libcuda.

- :mod:`.compiler`: CUDA C to a cubin (NVRTC, else nvcc); needs no GPU;
- :mod:`.pycuda_driver` / :mod:`.libcuda`: the two driver layers;
- :mod:`.driver`: which one runs.
"""
