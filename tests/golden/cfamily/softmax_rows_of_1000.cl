#pragma OPENCL FP_CONTRACT OFF
/* program softmax: 1 kernel(s) */

static inline float tc_max_f32(float a, float b) {
  return (a >= b || isnan(a)) ? a : b;  /* np.maximum */
}

/* k0: %1 reduce_max, %2 reshape, %3 abs, %6 constant, %7 lt, %10 constant, %11 select, %12 broadcast_to, %13 sub, %14 exp, %15 reduce_sum, %16 reshape, %17 broadcast_to, %18 div */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void softmax_k0(__global const float* restrict p0,
                                                                          __global float* restrict t18) {
  __local float tc_red_acc0[256];
  __local float tc_red_acc1[256];
  const long tc_lid = (long)get_local_id(0);
  const long i0 = (long)get_group_id(0);
  float acc0 = -INFINITY;
  for (long r0 = tc_lid; r0 < 1000; r0 += 256) {
    float v0 = p0[(i0 * 1000) + r0];
    acc0 = tc_max_f32(acc0, v0);
  }
  tc_red_acc0[tc_lid] = acc0;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long tc_s = 128; tc_s > 0; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc0[tc_lid] = tc_max_f32(tc_red_acc0[tc_lid], tc_red_acc0[tc_lid + tc_s]);
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  acc0 = tc_red_acc0[0];
  float v1 = (fabs(acc0) < INFINITY) ? acc0 : 0.0f;
  float acc1 = 0.0f;
  for (long r1 = tc_lid; r1 < 1000; r1 += 256) {
    acc1 = acc1 + exp((p0[(i0 * 1000) + r1] - v1));
  }
  tc_red_acc1[tc_lid] = acc1;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long tc_s = 128; tc_s > 0; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc1[tc_lid] = tc_red_acc1[tc_lid] + tc_red_acc1[tc_lid + tc_s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  acc1 = tc_red_acc1[0];
  for (long i1 = tc_lid; i1 < 1000; i1 += 256) {
    t18[(i0 * 1000) + i1] = exp((p0[(i0 * 1000) + i1] - v1)) / acc1;
  }
}
