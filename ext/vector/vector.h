/*
** vector.h — the internal header of ext/vector/: the distance kernels and
** metrics, then vector values (JSON text and float32 BLOBs) and the vector
** SQL functions.
**
** Two parts.  The first, distance, uses no SQLite: it is all the hnsw layer
** takes from this one (hnsw.h defines VG_VECTOR_KERNELS_ONLY to include
** only it), and distance.c builds from it alone.  The second, vector,
** includes base.h and SQLite.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_VECTOR_KERNELS_H
#define VG_VECTOR_KERNELS_H

#include <math.h>
#include <stdint.h>

/***************************************************************************
** distance: distance kernels over float32 vectors, with runtime dispatch
** to AVX2+FMA or AVX-512 code where the CPU has it.
**
** The extension is built for the x86-64 baseline so that one binary runs on
** every edge box; the wider kernels are compiled with per-function target
** attributes and chosen once at load time.  Other architectures get the
** portable kernels, written with independent accumulators so the compiler can
** keep several lanes busy.
*/

typedef enum vg_metric {
  VG_METRIC_L2 = 0,     /* Euclidean distance (not squared) */
  VG_METRIC_COSINE = 1, /* 1 - cosine similarity */
  VG_METRIC_IP = 2,     /* negative inner product */
  VG_METRIC_L1 = 3,     /* sum of |a[i] - b[i]|: int8 vectors only */
  VG_METRIC_HAMMING = 4 /* differing bits: bit vectors only */
} vg_metric;

/* What a vector's elements are: float32 (4 bytes each, little-endian),
** int8 (one signed byte each) or bit (one bit each, eight to a byte, the
** first element in the lowest bit of the first byte: sqlite-vec's order). */
typedef enum vg_element {
  VG_ELEMENT_FLOAT32 = 0,
  VG_ELEMENT_INT8 = 1,
  VG_ELEMENT_BIT = 2
} vg_element;

/* Bytes of a vector of n elements of type e (for bits, n is a multiple of 8). */
static inline int vg_element_bytes(vg_element e, int n) {
  return e == VG_ELEMENT_FLOAT32 ? 4 * n : e == VG_ELEMENT_INT8 ? n : n / 8;
}

/* Does a column of element type e take metric m?  float32: l2, cosine, ip;
** int8: those and l1; bit: hamming alone. */
static inline int vg_metric_allowed(vg_element e, vg_metric m) {
  switch (e) {
    case VG_ELEMENT_FLOAT32:
      return m == VG_METRIC_L2 || m == VG_METRIC_COSINE || m == VG_METRIC_IP;
    case VG_ELEMENT_INT8:
      return m != VG_METRIC_HAMMING;
    default:
      return m == VG_METRIC_HAMMING;
  }
}

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

/* int8 vectors: sums over n elements, exact in 32-bit integers (|dot| <=
** 2^14 n and l2sq <= 255^2 n, below 2^31 for n <= VG_MAX_DIMS).  The cosine
** kernel gives a.b, a.a and b.b in one pass. */
typedef int32_t (*vg_i8_kernel)(const int8_t *a, const int8_t *b, int n);
typedef void (*vg_i8_cos_kernel)(const int8_t *a, const int8_t *b, int n, int32_t aOut[3]);
extern vg_i8_kernel vg_i8_dot_kernel, vg_i8_l2sq_kernel, vg_i8_l1_kernel;
extern vg_i8_cos_kernel vg_i8_cos_sums_kernel;

/* Bit vectors of nByte bytes: the number of bits that differ. */
typedef int32_t (*vg_bits_kernel)(const uint8_t *a, const uint8_t *b, int nByte);
extern vg_bits_kernel vg_hamming_kernel;

/* The distance between two int8 vectors of n elements under metric m, as
** sqlite-vec defines it (docs/sqlite-vec.md): the sums are exact integers,
** converted to float as sqlite-vec's float32 running sums hold them (the
** same numbers while a sum stays below 2^24: always for l1, for l2 up to
** 258 elements, for cosine up to 1024), then
**   l2      sqrt(sum (a-b)^2), rounded to float32
**   cosine  1 - a.b / (sqrt(a.a) * sqrt(b.b)), in double, rounded to float32
**   l1      sum |a-b|
**   ip      -a.b
** bSquared: l2 squared instead (what a graph ranks by).  Cosine is
** undefined for a zero vector (0/0): callers refuse those. */
float vg_i8_distance(vg_metric m, const int8_t *a, const int8_t *b, int n, int bSquared);

/* Hamming distance between two bit vectors of nByte bytes, as a float. */
static inline float vg_bits_distance(const uint8_t *a, const uint8_t *b, int nByte) {
  return (float)vg_hamming_kernel(a, b, nByte);
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

/* Write a/|a| into out (which may equal a).  Returns 0 for a zero vector,
** whose direction is undefined, and leaves out untouched in that case. */
int vg_vector_normalize(const float *a, int nDims, float *out);

#endif /* VG_VECTOR_KERNELS_H */

#if !defined(VG_VECTOR_KERNELS_ONLY) && !defined(VG_VECTOR_LAYER_H)
#define VG_VECTOR_LAYER_H

#include "base/base.h"

/***************************************************************************
** vector: vector values: float32 vectors read from JSON text or from
** little-endian float32 BLOBs (byte-compatible with sqlite-vec), written back
** as JSON, normalized, and the distance metrics that compare them.
**
** Every function that can fail returns SQLITE_OK or an SQLite error code and,
** on error, sets *pzErr to a message from sqlite3_mprintf() that the caller
** owns.  Messages name the problem ("element 3 is NaN"), never the caller;
** callers prefix their own context.
*/

/* Largest magnitude of a vector element.  Distances are summed in float32:
** with |x| <= 1e16 and at most VG_MAX_DIMS elements, a squared L2 distance is
** at most 16384 * (2e16)^2 = 6.6e36 and an inner product 1.6e36, both well
** inside float32's 3.4e38, so no distance is ever infinite or NaN and every
** distance filter compares real numbers. */
#define VG_MAX_ELEMENT 1e16

/* Parse a metric name (case-insensitive: "l2", "cosine", "ip"); n<0 means
** nul-terminated.  Returns SQLITE_OK or SQLITE_ERROR. */
int vg_metric_parse(const char *zName, int n, vg_metric *pMetric);
const char *vg_metric_name(vg_metric m);

/* Parse a JSON array of numbers.  On success *paVec is a new array from
** sqlite3_malloc64() holding *pnDims elements. */
int vg_vector_parse_json(const char *z, int n, float **paVec, int *pnDims,
                         char **pzErr);

/* Decode a float32 BLOB into a new array (see vg_vector_parse_json). */
int vg_vector_parse_blob(const void *p, int nByte, float **paVec, int *pnDims,
                         char **pzErr);

/* Read a vector from an SQL value: JSON text or float32 BLOB.  A NULL value
** gives SQLITE_OK with *paVec==0 so that callers can decide what NULL means. */
int vg_vector_from_value(sqlite3_value *pVal, float **paVec, int *pnDims,
                         char **pzErr);

/* What to add to "got nGot dimensions, want nWant" when pVal is a BLOB of
** twice the dimensions: float64 elements (numpy's default) read as float32.
** A static string, "" when there is nothing to add. */
const char *vg_vector_float64_hint(sqlite3_value *pVal, int nGot, int nWant);

/* Read an int8 or bit vector (element type e) from an SQL value: a BLOB of
** its bytes (one signed byte per element; one bit per element, eight to a
** byte, lowest bit first), or JSON text of its elements (whole numbers from
** -128 to 127; 0s and 1s, a multiple of 8 of them).  *paVec gets a new
** array from sqlite3_malloc64() of vg_element_bytes(e, *pnDims) bytes.  A
** NULL value gives SQLITE_OK with *paVec==0. */
int vg_vector_from_value_as(sqlite3_value *pVal, vg_element e, unsigned char **paVec,
                            int *pnDims, char **pzErr);

/* The element type sqlite-vec tagged pVal with (vec_f32, vec_int8,
** vec_bit set a subtype SQLite passes along with the value), or -1 when
** it carries no such tag. */
int vg_vector_sqlite_vec_type(sqlite3_value *pVal);

/* "float32", "int8" or "bit". */
const char *vg_element_name(vg_element e);

/* What to add to "got nGot dimensions, want nWant" for a column of element
** type e when pVal is a BLOB whose size fits another type: float64 for a
** float32 column, float32 for an int8 or bit column.  A static string, ""
** when there is nothing to add. */
const char *vg_vector_size_hint(sqlite3_value *pVal, vg_element e, int nGot, int nWant);

/* Format an int8 or bit vector as JSON (integers; 0s and 1s).  Returns a
** string from sqlite3_malloc64(), or 0 when out of memory. */
char *vg_vector_to_json_as(const unsigned char *a, vg_element e, int nDims);

/* Encode as a little-endian float32 BLOB of 4*nDims bytes into pOut (which
** may be a itself). */
void vg_vector_to_blob(const float *a, int nDims, void *pOut);

/* Format as JSON with the shortest decimal form of each element that reads
** back to the same float.  Returns a string from sqlite3_malloc64(), or 0
** when out of memory. */
char *vg_vector_to_json(const float *a, int nDims);

/* The SQL functions vg_vector, vg_distance, ... (vector_func.c), which
** ext/vecguard.c registers; they take no state. */
extern const VgFunction vg_vector_functions[];

#endif /* VG_VECTOR_LAYER_H */
