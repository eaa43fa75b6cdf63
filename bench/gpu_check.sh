#!/usr/bin/env bash
# The GPU check: one call on an NVIDIA machine with no network (the lent device machine).
#
# Run from the repository root with a folder .whl beside it holding what the
# machine lacks, for its Python (3.12 on the lent machine), made where pip works:
#
#   curl -sO <pycuda-2026.1.tar.gz from PyPI's JSON API>; mv pycuda-*.tar.gz .whl/
#   pip download --no-deps -d .whl pytools platformdirs mako
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#     --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d .whl siphash24 pyopencl \
#     ml_dtypes   # tcomp's bfloat16 dtype, in case the machine's Python lacks it
#
#   bash bench/gpu_check.sh                    # everything: about 3 minutes on an H100
#   GPU_CHECK_QUICK=1 bash bench/gpu_check.sh  # a short smoke run
#
# Steps (each time-boxed; logs under $OUT, at most six files):
#   1. install tcomp (editable, no dependencies fetched) and the carried wheels;
#      build pycuda from its source distribution in the background;
#   2. the cross-backend suite on `cuda` through the libcuda driver layer;
#   3. the GPU benchmarks against PyTorch on the same GPU (bench/gpu.py);
#   4. the model zoo, runtime and random-graph tests on `cuda` through pycuda;
#   5. the same and tcomp.nn's tests on `opencl` if NVIDIA's OpenCL driver is there.
# The last lines printed are the summary table.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu-check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
QUICK=${GPU_CHECK_QUICK:-0}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-150}
WORKERS=${WORKERS:-12}
export PYTHONUNBUFFERED=1 HYPOTHESIS_PROFILE=ci TCOMP_VERIFY_PASSES=1
export TCOMP_CACHE_DIR=/tmp/tcomp-gpu-cache
# the suite's bench tests import JAX: keep it on the CPU, off the GPU's memory
export JAX_PLATFORMS=cpu XLA_PYTHON_CLIENT_PREALLOCATE=false
summary=()

device=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)
echo "$device"

# 1. installs
$PY -m pip install -q --no-index --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
  || { echo "tcomp install failed"; tail -20 "$OUT/install.log"; exit 1; }
mkdir -p /tmp/site
$PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl >>"$OUT/install.log" 2>&1 \
  || echo "carried wheels failed to install (see install.log)"
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
(
  set -e
  rm -rf /tmp/pycuda-src && mkdir -p /tmp/pycuda-src
  tar xzf .whl/pycuda-*.tar.gz -C /tmp/pycuda-src
  cd /tmp/pycuda-src/pycuda-*
  $PY configure.py --cuda-root="$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")"
  timeout 150 $PY setup.py -q build_ext -j 8 --inplace
  echo "$PWD" >/tmp/pycuda-path
) >/tmp/pycuda-build.log 2>&1 &
pycuda_build=$!

run_suite() {  # name, timeout, env..., -- pytest args...
  local name=$1 limit=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local started=$SECONDS
  env "${envs[@]}" timeout -k 5 "$limit" $PY -m pytest -q -p no:cacheprovider -o addopts="" "$@" >"$OUT/$name.log" 2>&1
  local status=$?
  local line
  line=$(grep -E "^(=+ )?[0-9]+ (passed|failed)|^(=+ )?[0-9]+ error|no tests ran" "$OUT/$name.log" | tail -1)
  [ $status -eq 124 ] && line="TIMED OUT after ${limit}s; $line"
  summary+=("$name: ${line:-exit $status} ($((SECONDS - started)) s)")
  grep -E "^(FAILED|ERROR) " "$OUT/$name.log" | head -20
}

# 2. the suite on cuda (libcuda layer)
if [ "$QUICK" = 1 ]; then suite_args=(tests/test_model_zoo.py tests/test_gpu_runtime.py); else suite_args=(tests/); fi
run_suite cuda-suite "$SUITE_TIMEOUT" TCOMP_TEST_BACKENDS=cuda TCOMP_CUDA_DRIVER=libcuda -- \
  -n "$WORKERS" "${suite_args[@]}"

# 3. benchmarks against PyTorch
bench_args=(--backend cuda --repeats 10)
[ "$QUICK" = 1 ] && bench_args=(--backend cuda --quick --repeats 3)
started=$SECONDS
TCOMP_CUDA_DRIVER=libcuda timeout -k 5 120 $PY -m bench.gpu "${bench_args[@]}" >"$OUT/bench-cuda.txt" 2>&1
summary+=("bench cuda: exit $? ($((SECONDS - started)) s)")

# 4. pycuda layer
if wait "$pycuda_build" && [ -f /tmp/pycuda-path ]; then
  export PYTHONPATH=$(cat /tmp/pycuda-path):$PYTHONPATH
  run_suite cuda-pycuda 45 TCOMP_TEST_BACKENDS=cuda TCOMP_CUDA_DRIVER=pycuda -- \
    -n "$WORKERS" tests/test_model_zoo.py tests/test_gpu_runtime.py tests/test_backend_random_graphs.py
else
  summary+=("pycuda: build failed (its log is at the end of install.log)")
fi

# 5. opencl through NVIDIA's ICD
if [ ! -e /etc/OpenCL/vendors/nvidia.icd ] && ldconfig -p | grep -q libnvidia-opencl.so.1; then
  mkdir -p /tmp/icd && echo libnvidia-opencl.so.1 >/tmp/icd/nvidia.icd
  export OCL_ICD_VENDORS=/tmp/icd
fi
if platforms=$($PY -c "import pyopencl as cl; print(cl.get_platforms())" 2>&1); then
  summary+=("opencl platforms: $platforms")
  run_suite opencl-suite 45 TCOMP_TEST_BACKENDS=opencl -- -n "$WORKERS" \
    tests/test_model_zoo.py tests/test_gpu_runtime.py tests/test_backend_random_graphs.py tests/test_nn.py
else
  summary+=("opencl: no platform ($(echo "$platforms" | tail -1))")
fi
cat /tmp/pycuda-build.log >>"$OUT/install.log" 2>/dev/null

echo
{
  echo "== GPU check summary ($device)"
  printf '%s\n' "${summary[@]}"
  grep -E "^WRONG|^\||^cuda:|Error|error" "$OUT/bench-cuda.txt" | tail -30
} | tee "$OUT/summary.txt"
