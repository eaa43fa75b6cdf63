#pragma OPENCL FP_CONTRACT OFF
/* program sum_all: 1 kernel(s) */

/* k0: %1 reduce_sum */
__kernel __attribute__((reqd_work_group_size(256, 1, 1))) void sum_all_k0(__global const float* restrict p0,
                                                                          __global float* restrict t1) {
  __local float tc_red_acc0[256];
  const long tc_lid = (long)get_local_id(0);
  float acc0 = 0.0f;
  for (long tc_r0 = tc_lid; tc_r0 < 300; tc_r0 += 256) {
    const long r0 = tc_r0 / 100;
    const long r1 = tc_r0 % 100;
    acc0 = acc0 + p0[(r0 * 100) + r1];
  }
  tc_red_acc0[tc_lid] = acc0;
  barrier(CLK_LOCAL_MEM_FENCE);
  for (long tc_s = 128; tc_s > 0; tc_s >>= 1) {
    if (tc_lid < tc_s) {
      tc_red_acc0[tc_lid] = tc_red_acc0[tc_lid] + tc_red_acc0[tc_lid + tc_s];
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }
  acc0 = tc_red_acc0[0];
  if (tc_lid == 0) {
    t1[0] = acc0;
  }
}
