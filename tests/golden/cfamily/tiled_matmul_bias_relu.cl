#pragma OPENCL FP_CONTRACT OFF
/* program matmul_bias_relu: 1 kernel(s) */

/* k0: %3 matmul, %4 reshape, %5 broadcast_to, %6 add, %8 constant, %9 broadcast_to, %10 le, %11 select */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void matmul_bias_relu_k0(__global const float* restrict p1,
                                                                                   __global const float* restrict p0,
                                                                                   __global const float* restrict p2,
                                                                                   __global float* restrict t11) {
  __local float As[8][20] __attribute__((aligned(16)));
  __local float Bs[8][20] __attribute__((aligned(16)));
  const long group = (long)get_group_id(0);
  const int lid = (int)(long)get_local_id(0);
  const int tx = lid % 16;
  const int ty = lid / 16;
  const long m0 = ((group / 5) % 6) * 16;
  const long n0 = (group % 5) * 16;
  float tile_acc[1][1];
  for (int i = 0; i < 1; ++i)
    for (int j = 0; j < 1; ++j) tile_acc[i][j] = (float)0;
  for (long k0 = 0; k0 < 48; k0 += 8) {
    for (int l = lid; l < 128; l += 256) {
      const int kk = l % 8;
      const int e = l / 8;
      const long gk = k0 + kk;
      As[kk][e] = ((m0 + e) < 96 && gk < 48)
          ? (float)p0[48 * (m0 + e) + 1 * gk] : (float)0;
    }
    for (int l = lid; l < 128; l += 256) {
      const int e = l % 16;
      const int kk = l / 16;
      const long gk = k0 + kk;
      Bs[kk][e] = ((n0 + e) < 80 && gk < 48)
          ? (float)p1[1 * (n0 + e) + 80 * gk] : (float)0;
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    #pragma unroll
    for (int kk = 0; kk < 8; ++kk) {
      float a[1], b[1];
      #pragma unroll
      for (int i = 0; i < 1; ++i) a[i] = As[kk][ty];
      #pragma unroll
      for (int j = 0; j < 1; ++j) b[j] = Bs[kk][tx];
      #pragma unroll
      for (int i = 0; i < 1; ++i)
        #pragma unroll
        for (int j = 0; j < 1; ++j) tile_acc[i][j] = fma(a[i], b[j], tile_acc[i][j]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  #pragma unroll
  for (int i = 0; i < 1; ++i) {
    #pragma unroll
    for (int j = 0; j < 1; ++j) {
      const long i0 = m0 + ty;
      const long i1 = n0 + tx;
      if (i0 < 96 && i1 < 80) {
        float acc0 = tile_acc[i][j];
        float v0 = acc0 + p2[i1];
        t11[(i0 * 80) + i1] = (v0 <= 0.0f) ? 0.0f : v0;
      }
    }
  }
}
