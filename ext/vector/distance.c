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
#include <string.h>

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

/* int8 kernels: exact sums in 32-bit integers (see vector.h). */
static int32_t i8_dot_portable(const int8_t *a, const int8_t *b, int n) {
  int32_t s0 = 0, s1 = 0;
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    s0 += (int32_t)a[i] * b[i];
    s1 += (int32_t)a[i + 1] * b[i + 1];
  }
  for (; i < n; i++) s0 += (int32_t)a[i] * b[i];
  return s0 + s1;
}

static int32_t i8_l2sq_portable(const int8_t *a, const int8_t *b, int n) {
  int32_t s0 = 0, s1 = 0;
  int i = 0;
  for (; i + 2 <= n; i += 2) {
    int32_t d0 = (int32_t)a[i] - b[i], d1 = (int32_t)a[i + 1] - b[i + 1];
    s0 += d0 * d0;
    s1 += d1 * d1;
  }
  for (; i < n; i++) {
    int32_t d = (int32_t)a[i] - b[i];
    s0 += d * d;
  }
  return s0 + s1;
}

static int32_t i8_l1_portable(const int8_t *a, const int8_t *b, int n) {
  int32_t s = 0;
  for (int i = 0; i < n; i++) {
    int32_t d = (int32_t)a[i] - b[i];
    s += d < 0 ? -d : d;
  }
  return s;
}

static void i8_cos_sums_portable(const int8_t *a, const int8_t *b, int n, int32_t aOut[3]) {
  int32_t ab = 0, aa = 0, bb = 0;
  for (int i = 0; i < n; i++) {
    ab += (int32_t)a[i] * b[i];
    aa += (int32_t)a[i] * a[i];
    bb += (int32_t)b[i] * b[i];
  }
  aOut[0] = ab;
  aOut[1] = aa;
  aOut[2] = bb;
}

/* 8 bytes as a 64-bit word, whatever their alignment. */
static inline uint64_t load_u64(const uint8_t *p) {
  uint64_t u;
  memcpy(&u, p, sizeof u);
  return u;
}

static int32_t hamming_portable(const uint8_t *a, const uint8_t *b, int nByte) {
  int32_t s = 0;
  int i = 0;
  for (; i + 8 <= nByte; i += 8) s += __builtin_popcountll(load_u64(a + i) ^ load_u64(b + i));
  for (; i < nByte; i++) s += __builtin_popcount((unsigned)(a[i] ^ b[i]));
  return s;
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

/* int8 kernels on AVX2: 16 elements widened to int16, multiplied and summed
** in pairs into int32 lanes (madd), exact.  The AVX-512 level uses them too. */
__attribute__((target("avx2"))) static int32_t hsum_epi32(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4E));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xB1));
  return _mm_cvtsi128_si32(s);
}

__attribute__((target("avx2"))) static inline __m256i widen16(const int8_t *p) {
  return _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)p));
}

__attribute__((target("avx2"))) static int32_t i8_dot_avx2(const int8_t *a, const int8_t *b,
                                                             int n) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(widen16(a + i), widen16(b + i)));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(widen16(a + i + 16), widen16(b + i + 16)));
  }
  for (; i + 16 <= n; i += 16) {
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(widen16(a + i), widen16(b + i)));
  }
  return hsum_epi32(_mm256_add_epi32(s0, s1)) + i8_dot_portable(a + i, b + i, n - i);
}

__attribute__((target("avx2"))) static int32_t i8_l2sq_avx2(const int8_t *a, const int8_t *b,
                                                              int n) {
  __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
  int i = 0;
  for (; i + 32 <= n; i += 32) {
    __m256i d0 = _mm256_sub_epi16(widen16(a + i), widen16(b + i));
    __m256i d1 = _mm256_sub_epi16(widen16(a + i + 16), widen16(b + i + 16));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d0, d0));
    s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(d1, d1));
  }
  for (; i + 16 <= n; i += 16) {
    __m256i d = _mm256_sub_epi16(widen16(a + i), widen16(b + i));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d, d));
  }
  return hsum_epi32(_mm256_add_epi32(s0, s1)) + i8_l2sq_portable(a + i, b + i, n - i);
}

__attribute__((target("avx2"))) static int32_t i8_l1_avx2(const int8_t *a, const int8_t *b,
                                                            int n) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i s0 = _mm256_setzero_si256();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i d = _mm256_abs_epi16(_mm256_sub_epi16(widen16(a + i), widen16(b + i)));
    s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d, ones));
  }
  return hsum_epi32(s0) + i8_l1_portable(a + i, b + i, n - i);
}

__attribute__((target("avx2"))) static void i8_cos_sums_avx2(const int8_t *a, const int8_t *b,
                                                               int n, int32_t aOut[3]) {
  __m256i ab = _mm256_setzero_si256(), aa = _mm256_setzero_si256();
  __m256i bb = _mm256_setzero_si256();
  int i = 0;
  for (; i + 16 <= n; i += 16) {
    __m256i va = widen16(a + i), vb = widen16(b + i);
    ab = _mm256_add_epi32(ab, _mm256_madd_epi16(va, vb));
    aa = _mm256_add_epi32(aa, _mm256_madd_epi16(va, va));
    bb = _mm256_add_epi32(bb, _mm256_madd_epi16(vb, vb));
  }
  i8_cos_sums_portable(a + i, b + i, n - i, aOut);
  aOut[0] += hsum_epi32(ab);
  aOut[1] += hsum_epi32(aa);
  aOut[2] += hsum_epi32(bb);
}

/* Hamming distance with the POPCNT instruction, four words at a time. */
__attribute__((target("popcnt"))) static int32_t hamming_popcnt(const uint8_t *a,
                                                                 const uint8_t *b, int nByte) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int i = 0;
  for (; i + 32 <= nByte; i += 32) {
    s0 += (uint64_t)__builtin_popcountll(load_u64(a + i) ^ load_u64(b + i));
    s1 += (uint64_t)__builtin_popcountll(load_u64(a + i + 8) ^ load_u64(b + i + 8));
    s2 += (uint64_t)__builtin_popcountll(load_u64(a + i + 16) ^ load_u64(b + i + 16));
    s3 += (uint64_t)__builtin_popcountll(load_u64(a + i + 24) ^ load_u64(b + i + 24));
  }
  for (; i + 8 <= nByte; i += 8) s0 += (uint64_t)__builtin_popcountll(load_u64(a + i) ^ load_u64(b + i));
  for (; i < nByte; i++) s0 += (uint64_t)__builtin_popcount((unsigned)(a[i] ^ b[i]));
  return (int32_t)(s0 + s1 + s2 + s3);
}

static int cpu_has(vg_simd level) {
  __builtin_cpu_init();
  switch (level) {
    case VG_SIMD_AVX512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
             __builtin_cpu_supports("popcnt");
    case VG_SIMD_AVX2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("popcnt");
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
vg_i8_kernel vg_i8_dot_kernel = i8_dot_portable;
vg_i8_kernel vg_i8_l2sq_kernel = i8_l2sq_portable;
vg_i8_kernel vg_i8_l1_kernel = i8_l1_portable;
vg_i8_cos_kernel vg_i8_cos_sums_kernel = i8_cos_sums_portable;
vg_bits_kernel vg_hamming_kernel = hamming_portable;
static vg_simd current_level = VG_SIMD_PORTABLE;

/* The int8 and bit kernels: AVX2 and POPCNT (bWide), or portable. */
static void set_int_kernels(int bWide) {
#ifdef VG_HAVE_X86_KERNELS
  if (bWide) {
    vg_i8_dot_kernel = i8_dot_avx2;
    vg_i8_l2sq_kernel = i8_l2sq_avx2;
    vg_i8_l1_kernel = i8_l1_avx2;
    vg_i8_cos_sums_kernel = i8_cos_sums_avx2;
    vg_hamming_kernel = hamming_popcnt;
    return;
  }
#endif
  (void)bWide;
  vg_i8_dot_kernel = i8_dot_portable;
  vg_i8_l2sq_kernel = i8_l2sq_portable;
  vg_i8_l1_kernel = i8_l1_portable;
  vg_i8_cos_sums_kernel = i8_cos_sums_portable;
  vg_hamming_kernel = hamming_portable;
}

int vg_simd_force(vg_simd level) {
  if (!cpu_has(level)) return 0;
  switch (level) {
#ifdef VG_HAVE_X86_KERNELS
    case VG_SIMD_AVX512:
      vg_dot_kernel = dot_avx512;
      vg_l2sq_kernel = l2sq_avx512;
      vg_dot_code_kernel = dot_code_avx512;
      vg_l2sq_code_kernel = l2sq_code_avx512;
      set_int_kernels(1);
      break;
    case VG_SIMD_AVX2:
      vg_dot_kernel = dot_avx2;
      vg_l2sq_kernel = l2sq_avx2;
      vg_dot_code_kernel = dot_code_avx2;
      vg_l2sq_code_kernel = l2sq_code_avx2;
      set_int_kernels(1);
      break;
#endif
    default:
      vg_dot_kernel = dot_portable;
      vg_l2sq_kernel = l2sq_portable;
      vg_dot_code_kernel = dot_code_portable;
      vg_l2sq_code_kernel = l2sq_code_portable;
      set_int_kernels(0);
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

float vg_i8_distance(vg_metric m, const int8_t *a, const int8_t *b, int n, int bSquared) {
  switch (m) {
    case VG_METRIC_COSINE: {
      int32_t s[3];
      vg_i8_cos_sums_kernel(a, b, n, s);
      /* sqlite-vec's expression: float sums, the rest in double. */
      float ab = (float)s[0], aa = (float)s[1], bb = (float)s[2];
      return (float)(1.0 - (double)ab / (sqrt((double)aa) * sqrt((double)bb)));
    }
    case VG_METRIC_IP:
      return -(float)vg_i8_dot_kernel(a, b, n);
    case VG_METRIC_L1:
      return (float)vg_i8_l1_kernel(a, b, n);
    default: {
      float s = (float)vg_i8_l2sq_kernel(a, b, n);
      return bSquared ? s : (float)sqrt((double)s);
    }
  }
}
