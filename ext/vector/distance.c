/*
** distance.c — the distance kernels and their runtime dispatch (see
** vector.h, distance section).
**
** Each kernel keeps several independent accumulators: one accumulator would
** chain every addition on the previous one and run at the adder's latency
** rather than its throughput.
*/
/* The kernels need no SQLite (vector.h, first part). */
#define VG_VECTOR_KERNELS_ONLY
#include "vector/vector.h"

#include <pthread.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define VG_HAVE_X86_KERNELS 1
#endif

static float dot_portable(const float *a, const float *b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

static float l2sq_portable(const float *a, const float *b, int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    float d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
    float d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; i++) {
    float d = a[i] - b[i];
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

/* Kernels of a float vector q against 8-bit codes c that stand for the
** values lo + step * c[i] (see hnsw.h, int8 graphs). */
static float dot_code_portable(const float *q, const unsigned char *c, float lo, float step,
                               int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += q[i] * (lo + step * (float)c[i]);
    s1 += q[i + 1] * (lo + step * (float)c[i + 1]);
    s2 += q[i + 2] * (lo + step * (float)c[i + 2]);
    s3 += q[i + 3] * (lo + step * (float)c[i + 3]);
  }
  for (; i < n; i++) s0 += q[i] * (lo + step * (float)c[i]);
  return (s0 + s1) + (s2 + s3);
}

static float l2sq_code_portable(const float *q, const unsigned char *c, float lo, float step,
                                int n) {
  float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    float d0 = q[i] - (lo + step * (float)c[i]);
    float d1 = q[i + 1] - (lo + step * (float)c[i + 1]);
    float d2 = q[i + 2] - (lo + step * (float)c[i + 2]);
    float d3 = q[i + 3] - (lo + step * (float)c[i + 3]);
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; i++) {
    float d = q[i] - (lo + step * (float)c[i]);
    s0 += d * d;
  }
  return (s0 + s1) + (s2 + s3);
}

#ifdef VG_HAVE_X86_KERNELS

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
  __m128 lo = _mm256_castps256_ps128(v);
  __m128 hi = _mm256_extractf128_ps(v, 1);
  __m128 s = _mm_add_ps(lo, hi);
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a,
                                                           const float *b,
                                                           int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
  }
  for (; i + 8 <= n; i += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) static float l2sq_avx2(const float *a,
                                                            const float *b,
                                                            int n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  __m256 s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8));
    __m256 d2 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16));
    __m256 d3 = _mm256_sub_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
    s2 = _mm256_fmadd_ps(d2, d2, s2);
    s3 = _mm256_fmadd_ps(d3, d3, s3);
  }
  for (; i + 8 <= n; i += 8) {
    __m256 d = _mm256_sub_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i));
    s0 = _mm256_fmadd_ps(d, d, s0);
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) {
    float d = a[i] - b[i];
    s += d * d;
  }
  return s;
}

__attribute__((target("avx512f"))) static float dot_avx512(const float *a,
                                                            const float *b,
                                                            int n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
  }
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i),
                         _mm512_maskz_loadu_ps(m, b + i), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx512f"))) static float l2sq_avx512(const float *a,
                                                             const float *b,
                                                             int n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 64 <= n; i += 64) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
    __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
    __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
    s2 = _mm512_fmadd_ps(d2, d2, s2);
    s3 = _mm512_fmadd_ps(d3, d3, s3);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  if (i < n) {
    __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
    __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i),
                             _mm512_maskz_loadu_ps(m, b + i));
    s1 = _mm512_fmadd_ps(d, d, s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* 8 codes as floats lo + step * c. */
__attribute__((target("avx2,fma"))) static inline __m256 decode8(const unsigned char *c,
                                                                 __m256 lo, __m256 step) {
  __m128i b = _mm_loadl_epi64((const __m128i *)c);
  return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)), step, lo);
}

__attribute__((target("avx2,fma"))) static float dot_code_avx2(const float *q,
                                                               const unsigned char *c,
                                                               float lo, float step, int n) {
  __m256 vlo = _mm256_set1_ps(lo), vstep = _mm256_set1_ps(step);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i), decode8(c + i, vlo, vstep), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + i + 8), decode8(c + i + 8, vlo, vstep), s1);
  }
  return hsum256(_mm256_add_ps(s0, s1)) + dot_code_portable(q + i, c + i, lo, step, n - i);
}

__attribute__((target("avx2,fma"))) static float l2sq_code_avx2(const float *q,
                                                                const unsigned char *c,
                                                                float lo, float step, int n) {
  __m256 vlo = _mm256_set1_ps(lo), vstep = _mm256_set1_ps(step);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256 d0 = _mm256_sub_ps(_mm256_loadu_ps(q + i), decode8(c + i, vlo, vstep));
    __m256 d1 = _mm256_sub_ps(_mm256_loadu_ps(q + i + 8), decode8(c + i + 8, vlo, vstep));
    s0 = _mm256_fmadd_ps(d0, d0, s0);
    s1 = _mm256_fmadd_ps(d1, d1, s1);
  }
  return hsum256(_mm256_add_ps(s0, s1)) + l2sq_code_portable(q + i, c + i, lo, step, n - i);
}

/* 16 codes as floats lo + step * c. */
__attribute__((target("avx512f"))) static inline __m512 decode16(const unsigned char *c,
                                                                 __m512 lo, __m512 step) {
  __m128i b = _mm_loadu_si128((const __m128i *)c);
  return _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)), step, lo);
}

__attribute__((target("avx512f"))) static float dot_code_avx512(const float *q,
                                                                 const unsigned char *c,
                                                                 float lo, float step, int n) {
  __m512 vlo = _mm512_set1_ps(lo), vstep = _mm512_set1_ps(step);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), decode16(c + i, vlo, vstep), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), decode16(c + i + 16, vlo, vstep), s1);
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), decode16(c + i, vlo, vstep), s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) +
         dot_code_portable(q + i, c + i, lo, step, n - i);
}

__attribute__((target("avx512f"))) static float l2sq_code_avx512(const float *q,
                                                                  const unsigned char *c,
                                                                  float lo, float step, int n) {
  __m512 vlo = _mm512_set1_ps(lo), vstep = _mm512_set1_ps(step);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(q + i), decode16(c + i, vlo, vstep));
    __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(q + i + 16), decode16(c + i + 16, vlo, vstep));
    s0 = _mm512_fmadd_ps(d0, d0, s0);
    s1 = _mm512_fmadd_ps(d1, d1, s1);
  }
  for (; i + 16 <= n; i += 16) {
    __m512 d = _mm512_sub_ps(_mm512_loadu_ps(q + i), decode16(c + i, vlo, vstep));
    s0 = _mm512_fmadd_ps(d, d, s0);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) +
         l2sq_code_portable(q + i, c + i, lo, step, n - i);
}

static int cpu_has(vg_simd level) {
  __builtin_cpu_init();
  switch (level) {
    case VG_SIMD_AVX512:
      return __builtin_cpu_supports("avx512f");
    case VG_SIMD_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    default:
      return 1;
  }
}

#else

static int cpu_has(vg_simd level) { return level == VG_SIMD_PORTABLE; }

#endif /* VG_HAVE_X86_KERNELS */

vg_kernel vg_dot_kernel = dot_portable;
vg_kernel vg_l2sq_kernel = l2sq_portable;
vg_code_kernel vg_dot_code_kernel = dot_code_portable;
vg_code_kernel vg_l2sq_code_kernel = l2sq_code_portable;
static vg_simd current_level = VG_SIMD_PORTABLE;

int vg_simd_force(vg_simd level) {
  if (!cpu_has(level)) return 0;
  switch (level) {
#ifdef VG_HAVE_X86_KERNELS
    case VG_SIMD_AVX512:
      vg_dot_kernel = dot_avx512;
      vg_l2sq_kernel = l2sq_avx512;
      vg_dot_code_kernel = dot_code_avx512;
      vg_l2sq_code_kernel = l2sq_code_avx512;
      break;
    case VG_SIMD_AVX2:
      vg_dot_kernel = dot_avx2;
      vg_l2sq_kernel = l2sq_avx2;
      vg_dot_code_kernel = dot_code_avx2;
      vg_l2sq_code_kernel = l2sq_code_avx2;
      break;
#endif
    default:
      vg_dot_kernel = dot_portable;
      vg_l2sq_kernel = l2sq_portable;
      vg_dot_code_kernel = dot_code_portable;
      vg_l2sq_code_kernel = l2sq_code_portable;
      break;
  }
  current_level = level;
  return 1;
}

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void pick_best(void) {
  if (!vg_simd_force(VG_SIMD_AVX512) && !vg_simd_force(VG_SIMD_AVX2)) {
    vg_simd_force(VG_SIMD_PORTABLE);
  }
}

void vg_distance_init(void) { pthread_once(&init_once, pick_best); }

vg_simd vg_simd_level(void) { return current_level; }

const char *vg_simd_name(vg_simd level) {
  switch (level) {
    case VG_SIMD_AVX512:
      return "avx512";
    case VG_SIMD_AVX2:
      return "avx2";
    default:
      return "portable";
  }
}

int vg_vector_normalize(const float *a, int nDims, float *out) {
  double sum = 0.0;
  for (int i = 0; i < nDims; i++) sum += (double)a[i] * (double)a[i];
  if (sum == 0.0) return 0;
  double inv = 1.0 / sqrt(sum);
  for (int i = 0; i < nDims; i++) out[i] = (float)((double)a[i] * inv);
  return 1;
}
