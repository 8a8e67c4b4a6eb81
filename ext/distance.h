/*
** distance.h — distance kernels over float32 vectors, with runtime dispatch
** to AVX2+FMA or AVX-512 code where the CPU has it.
**
** The extension is built for the x86-64 baseline so that one binary runs on
** every edge box; the wider kernels are compiled with per-function target
** attributes and chosen once at load time.  Other architectures get the
** portable kernels, written with independent accumulators so the compiler can
** keep several lanes busy.
*/
#ifndef VG_DISTANCE_H
#define VG_DISTANCE_H

#include <math.h>

#include "vector.h"

typedef enum vg_simd {
  VG_SIMD_PORTABLE = 0,
  VG_SIMD_AVX2 = 1,
  VG_SIMD_AVX512 = 2
} vg_simd;

/* Pick the best kernels for this CPU.  Safe to call more than once and from
** several threads. */
void vg_distance_init(void);

/* The level in use, and its name ("portable", "avx2", "avx512"). */
vg_simd vg_simd_level(void);
const char *vg_simd_name(vg_simd level);

/* Switch to another level (tests use this to check every kernel).  Returns 0
** and changes nothing when the CPU lacks that level. */
int vg_simd_force(vg_simd level);

typedef float (*vg_kernel)(const float *a, const float *b, int n);
extern vg_kernel vg_dot_kernel, vg_l2sq_kernel;

/* Sum of a[i]*b[i], and sum of (a[i]-b[i])^2. */
static inline float vg_dot(const float *a, const float *b, int n) {
  return vg_dot_kernel(a, b, n);
}
static inline float vg_l2sq(const float *a, const float *b, int n) {
  return vg_l2sq_kernel(a, b, n);
}

/* A float vector q against 8-bit codes c standing for lo + step * c[i]:
** sum of q[i]*(lo + step*c[i]), and sum of (q[i] - lo - step*c[i])^2. */
typedef float (*vg_code_kernel)(const float *q, const unsigned char *c, float lo, float step,
                                int n);
extern vg_code_kernel vg_dot_code_kernel, vg_l2sq_code_kernel;

static inline float vg_dot_code(const float *q, const unsigned char *c, float lo, float step,
                                int n) {
  return vg_dot_code_kernel(q, c, lo, step, n);
}
static inline float vg_l2sq_code(const float *q, const unsigned char *c, float lo, float step,
                                 int n) {
  return vg_l2sq_code_kernel(q, c, lo, step, n);
}

/* Distance under metric m between two vectors prepared for it: for cosine,
** both must already be normalized (vg_vector_normalize), which turns the
** distance into 1 - dot. */
static inline float vg_prepared_distance(vg_metric m, const float *a,
                                         const float *b, int n) {
  switch (m) {
    case VG_METRIC_COSINE:
      return 1.0f - vg_dot(a, b, n);
    case VG_METRIC_IP:
      return -vg_dot(a, b, n);
    default:
      return sqrtf(vg_l2sq(a, b, n));
  }
}

#endif
