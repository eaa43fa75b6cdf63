// compile with --fmad=false: every operation rounds on its own, as numpy's do
/* program layer_norm: 1 kernel(s) */

/* k0: %3 reduce_sum, %4 reshape, %7 constant, %8 div, %9 broadcast_to, %10 sub, %11 mul, %12 reduce_sum, %13 reshape, %17 div, %20 constant, %21 add, %22 sqrt, %23 broadcast_to, %24 div, %25 reshape, %26 broadcast_to, %27 mul, %28 reshape, %29 broadcast_to, %30 add */
extern "C" __global__ void layer_norm_k0(const float* __restrict__ p0,
                                         const float* __restrict__ p2,
                                         const float* __restrict__ p1,
                                         float* __restrict__ t30) {
  const long long i0 = ((long long)blockIdx.x * blockDim.x + threadIdx.x);
  if (i0 >= 8) return;
  float acc0 = 0.0f;
  for (long long r0 = 0; r0 < 32; ++r0) {
    acc0 = acc0 + p0[(i0 * 32) + r0];
  }
  float v0 = acc0 / 32.0f;
  float acc1 = 0.0f;
  for (long long r1 = 0; r1 < 32; ++r1) {
    float v1 = p0[(i0 * 32) + r1] - v0;
    acc1 = acc1 + (v1 * v1);
  }
  float v2 = sqrtf(((acc1 / 32.0f) + 1e-05f));
  for (long long i1 = 0; i1 < 32; ++i1) {
    t30[(i0 * 32) + i1] = (((p0[(i0 * 32) + i1] - v0) / v2) * p1[i1]) + p2[i1];
  }
}
