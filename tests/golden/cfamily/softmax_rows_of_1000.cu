// compile with --fmad=false: every operation rounds on its own, as numpy's do
/* program softmax: 1 kernel(s) */

static __device__ __forceinline__ float tc_max_f32(float a, float b) {
  return (a >= b || isnan(a)) ? a : b;  /* np.maximum */
}

/* k0: %1 reduce_max, %2 reshape, %3 abs, %6 constant, %7 lt, %10 constant, %11 select, %12 broadcast_to, %13 sub, %14 exp, %15 reduce_sum, %16 reshape, %17 broadcast_to, %18 div */
extern "C" __global__ __launch_bounds__(256) void softmax_k0(const float* __restrict__ p0,
                                                             float* __restrict__ t18) {
  __shared__ float tc_red_acc0[256];
  __shared__ float tc_red_acc1[256];
  const long long tc_lid = (long long)threadIdx.x;
  const long long i0 = (long long)blockIdx.x;
  float acc0 = -__int_as_float(0x7f800000);
  for (long long r0 = tc_lid; r0 < 1000; r0 += 256) {
    float v0 = p0[(i0 * 1000) + r0];
    acc0 = tc_max_f32(acc0, v0);
  }
  tc_red_acc0[tc_lid] = acc0;
  __syncthreads();
  for (long long tc_s = 128; tc_s >= 32; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc0[tc_lid] = tc_max_f32(tc_red_acc0[tc_lid], tc_red_acc0[tc_lid + tc_s]);
    }
    __syncthreads();
  }
  if (tc_lid < 32) {
    acc0 = tc_red_acc0[tc_lid];
    for (int tc_w = 16; tc_w > 0; tc_w >>= 1) {
      const float tc_o_acc0 = __shfl_down_sync(0xffffffffu, acc0, tc_w);
      acc0 = tc_max_f32(acc0, tc_o_acc0);
    }
    if (tc_lid == 0) {
      tc_red_acc0[0] = acc0;
    }
  }
  __syncthreads();
  acc0 = tc_red_acc0[0];
  float v1 = (fabsf(acc0) < __int_as_float(0x7f800000)) ? acc0 : 0.0f;
  float acc1 = 0.0f;
  for (long long r1 = tc_lid; r1 < 1000; r1 += 256) {
    acc1 = acc1 + expf((p0[(i0 * 1000) + r1] - v1));
  }
  tc_red_acc1[tc_lid] = acc1;
  __syncthreads();
  for (long long tc_s = 128; tc_s >= 32; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc1[tc_lid] = tc_red_acc1[tc_lid] + tc_red_acc1[tc_lid + tc_s];
    }
    __syncthreads();
  }
  if (tc_lid < 32) {
    acc1 = tc_red_acc1[tc_lid];
    for (int tc_w = 16; tc_w > 0; tc_w >>= 1) {
      const float tc_o_acc1 = __shfl_down_sync(0xffffffffu, acc1, tc_w);
      acc1 = acc1 + tc_o_acc1;
    }
    if (tc_lid == 0) {
      tc_red_acc1[0] = acc1;
    }
  }
  __syncthreads();
  acc1 = tc_red_acc1[0];
  for (long long i1 = tc_lid; i1 < 1000; i1 += 256) {
    t18[(i0 * 1000) + i1] = expf((p0[(i0 * 1000) + i1] - v1)) / acc1;
  }
}
