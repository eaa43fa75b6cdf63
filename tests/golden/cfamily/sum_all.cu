// compile with --fmad=false: every operation rounds on its own, as numpy's do
/* program sum_all: 1 kernel(s) */

/* k0: %1 reduce_sum */
extern "C" __global__ __launch_bounds__(256) void sum_all_k0(const float* __restrict__ p0,
                                                             float* __restrict__ t1) {
  __shared__ float tc_red_acc0[256];
  const long long tc_lid = (long long)threadIdx.x;
  float acc0 = 0.0f;
  for (long long tc_r0 = tc_lid; tc_r0 < 300; tc_r0 += 256) {
    const long long r0 = tc_r0 / 100;
    const long long r1 = tc_r0 % 100;
    acc0 = acc0 + p0[(r0 * 100) + r1];
  }
  tc_red_acc0[tc_lid] = acc0;
  __syncthreads();
  for (long long tc_s = 128; tc_s >= 32; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc0[tc_lid] = tc_red_acc0[tc_lid] + tc_red_acc0[tc_lid + tc_s];
    }
    __syncthreads();
  }
  if (tc_lid < 32) {
    acc0 = tc_red_acc0[tc_lid];
    for (int tc_w = 16; tc_w > 0; tc_w >>= 1) {
      const float tc_o_acc0 = __shfl_down_sync(0xffffffffu, acc0, tc_w);
      acc0 = acc0 + tc_o_acc0;
    }
    if (tc_lid == 0) {
      tc_red_acc0[0] = acc0;
    }
  }
  __syncthreads();
  acc0 = tc_red_acc0[0];
  if (tc_lid == 0) {
    t1[0] = acc0;
  }
}
