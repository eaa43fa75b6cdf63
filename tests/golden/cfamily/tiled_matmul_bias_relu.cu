// compile with --fmad=false: every operation rounds on its own, as numpy's do
/* program matmul_bias_relu: 1 kernel(s) */

/* k0: %3 matmul, %4 reshape, %5 broadcast_to, %6 add, %8 constant, %9 broadcast_to, %10 le, %11 select */
extern "C" __global__ __launch_bounds__(256) void matmul_bias_relu_k0(const float* __restrict__ p1,
                                                                      const float* __restrict__ p0,
                                                                      const float* __restrict__ p2,
                                                                      float* __restrict__ t11) {
  __shared__ float As[8][20] __attribute__((aligned(16)));
  __shared__ float Bs[8][20] __attribute__((aligned(16)));
  const long long group = (long long)blockIdx.x;
  const int lid = (int)(long long)threadIdx.x;
  const int tx = lid % 16;
  const int ty = lid / 16;
  const long long m0 = ((group / 5) % 6) * 16;
  const long long n0 = (group % 5) * 16;
  float tile_acc[1][1];
  for (int i = 0; i < 1; ++i)
    for (int j = 0; j < 1; ++j) tile_acc[i][j] = (float)0;
  for (long long k0 = 0; k0 < 48; k0 += 8) {
    for (int l = lid; l < 128; l += 256) {
      const int kk = l % 8;
      const int e = l / 8;
      const long long gk = k0 + kk;
      As[kk][e] = ((m0 + e) < 96 && gk < 48)
          ? (float)p0[48 * (m0 + e) + 1 * gk] : (float)0;
    }
    for (int l = lid; l < 128; l += 256) {
      const int e = l % 16;
      const int kk = l / 16;
      const long long gk = k0 + kk;
      Bs[kk][e] = ((n0 + e) < 80 && gk < 48)
          ? (float)p1[1 * (n0 + e) + 80 * gk] : (float)0;
    }
    __syncthreads();
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
        for (int j = 0; j < 1; ++j) tile_acc[i][j] = fmaf(a[i], b[j], tile_acc[i][j]);
    }
    __syncthreads();
  }
  #pragma unroll
  for (int i = 0; i < 1; ++i) {
    #pragma unroll
    for (int j = 0; j < 1; ++j) {
      const long long i0 = m0 + ty;
      const long long i1 = n0 + tx;
      if (i0 < 96 && i1 < 80) {
        float acc0 = tile_acc[i][j];
        float v0 = acc0 + p2[i1];
        t11[(i0 * 80) + i1] = (v0 <= 0.0f) ? 0.0f : v0;
      }
    }
  }
}
