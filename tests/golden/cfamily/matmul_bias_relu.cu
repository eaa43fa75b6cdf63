// compile with --fmad=false: every operation rounds on its own, as numpy's do
/* program matmul_bias_relu: 1 kernel(s) */

/* k0: %3 matmul, %4 reshape, %5 broadcast_to, %6 add, %8 constant, %9 broadcast_to, %10 le, %11 select */
extern "C" __global__ void matmul_bias_relu_k0(const float* __restrict__ p1,
                                               const float* __restrict__ p0,
                                               const float* __restrict__ p2,
                                               float* __restrict__ t11) {
  const long long tc_g = ((long long)blockIdx.x * blockDim.x + threadIdx.x);
  if (tc_g >= 256) return;
  const long long i0 = tc_g / 32;
  const long long i1 = tc_g % 32;
  float acc0 = 0.0f;
  for (long long r0 = 0; r0 < 16; ++r0) {
    acc0 = acc0 + (p0[(i0 * 16) + r0] * p1[(r0 * 32) + i1]);
  }
  float v0 = acc0 + p2[i1];
  t11[(i0 * 32) + i1] = (v0 <= 0.0f) ? 0.0f : v0;
}
