#pragma OPENCL FP_CONTRACT OFF
/* program matmul_bias_relu: 1 kernel(s) */

/* k0: %3 matmul, %4 reshape, %5 broadcast_to, %6 add, %8 constant, %9 broadcast_to, %10 le, %11 select */
__kernel void matmul_bias_relu_k0(__global const float* restrict p1,
                                  __global const float* restrict p0,
                                  __global const float* restrict p2,
                                  __global float* restrict t11) {
  const long tc_g = (long)get_global_id(0);
  if (tc_g >= 256) return;
  const long i0 = tc_g / 32;
  const long i1 = tc_g % 32;
  float acc0 = 0.0f;
  for (long r0 = 0; r0 < 16; ++r0) {
    acc0 = acc0 + (p0[(i0 * 16) + r0] * p1[(r0 * 32) + i1]);
  }
  float v0 = acc0 + p2[i1];
  t11[(i0 * 32) + i1] = (v0 <= 0.0f) ? 0.0f : v0;
}
