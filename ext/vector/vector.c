/*
** vector.c — reading and writing vector values (see vector.h).
**
** JSON numbers are converted with strtod_l() under the "C" locale: the
** extension is loaded into arbitrary programs, and a program that called
** setlocale() for, say, de_DE would otherwise read "0.5" as 0.
*/
#include "vector/vector.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void) {
  c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t vg_c_locale(void) {
  pthread_once(&c_locale_once, c_locale_init);
  return c_locale;
}

static const struct {
  const char *zName;
  vg_metric m;
} metric_names[] = {
    {"l2", VG_METRIC_L2},
    {"cosine", VG_METRIC_COSINE},
    {"ip", VG_METRIC_IP},
    {"l1", VG_METRIC_L1},
    {"hamming", VG_METRIC_HAMMING},
};

int vg_metric_parse(const char *zName, int n, vg_metric *pMetric) {
  size_t len = n < 0 ? strlen(zName) : (size_t)n;
  for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
    if (strlen(metric_names[i].zName) == len &&
        strncasecmp(metric_names[i].zName, zName, len) == 0) {
      *pMetric = metric_names[i].m;
      return SQLITE_OK;
    }
  }
  return SQLITE_ERROR;
}

const char *vg_metric_name(vg_metric m) {
  for (size_t i = 0; i < sizeof(metric_names) / sizeof(metric_names[0]); i++) {
    if (metric_names[i].m == m) return metric_names[i].zName;
  }
  return "?";
}

/* A growable float array used while parsing. */
typedef struct FloatBuf {
  float *a;
  int n, nAlloc;
} FloatBuf;

static int floatbuf_push(FloatBuf *p, float f) {
  if (p->n == p->nAlloc) {
    int nNew = p->nAlloc ? p->nAlloc * 2 : 64;
    float *aNew = sqlite3_realloc64(p->a, (sqlite3_uint64)nNew * sizeof(float));
    if (aNew == 0) return SQLITE_NOMEM;
    p->a = aNew;
    p->nAlloc = nNew;
  }
  p->a[p->n++] = f;
  return SQLITE_OK;
}

static int is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Length of the JSON number at z[0..n), or 0 when z does not start with one.
** Grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int json_number_length(const char *z, int n) {
  int i = 0;
  if (i < n && z[i] == '-') i++;
  if (i >= n || !is_digit(z[i])) return 0;
  if (z[i] == '0') {
    i++;
  } else {
    while (i < n && is_digit(z[i])) i++;
  }
  if (i < n && z[i] == '.') {
    i++;
    if (i >= n || !is_digit(z[i])) return 0;
    while (i < n && is_digit(z[i])) i++;
  }
  if (i < n && (z[i] == 'e' || z[i] == 'E')) {
    i++;
    if (i < n && (z[i] == '+' || z[i] == '-')) i++;
    if (i >= n || !is_digit(z[i])) return 0;
    while (i < n && is_digit(z[i])) i++;
  }
  return i;
}

/* Convert a validated JSON number of length len to float. */
static int json_number_value(const char *z, int len, float *pF) {
  char buf[64];
  char *zCopy = buf;
  if (len >= (int)sizeof(buf)) {
    zCopy = sqlite3_malloc64(len + 1);
    if (zCopy == 0) return SQLITE_NOMEM;
  }
  memcpy(zCopy, z, len);
  zCopy[len] = 0;
  /* Straight to float: through a double, a number halfway between two
  ** floats once rounded could round again the wrong way. */
  float f = strtof_l(zCopy, 0, vg_c_locale());
  if (zCopy != buf) sqlite3_free(zCopy);
  if (!isfinite(f)) return SQLITE_RANGE;
  *pF = f;
  return SQLITE_OK;
}

/* Element i, f, must be at most VG_MAX_ELEMENT in magnitude; z[0, n) is how
** the caller wrote it (n = 0: print f). */
static int element_check(float f, int i, const char *z, int n, char **pzErr) {
  if (fabsf(f) <= (float)VG_MAX_ELEMENT) return SQLITE_OK;
  *pzErr = n ? sqlite3_mprintf("element %d (%.*s) is beyond +/-1e16, the largest magnitude an element may have "
                               "(so that every distance stays finite)", i, n, z)
             : sqlite3_mprintf("element %d (%g) is beyond +/-1e16, the largest magnitude an element may have "
                               "(so that every distance stays finite)", i, (double)f);
  return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
}

int vg_vector_parse_json(const char *z, int n, float **paVec, int *pnDims,
                         char **pzErr) {
  FloatBuf buf = {0, 0, 0};
  int i = 0, rc = SQLITE_OK;
  *paVec = 0;
  *pnDims = 0;
  if (n < 0) n = (int)strlen(z);
  while (i < n && is_json_space(z[i])) i++;
  if (i >= n || z[i] != '[') {
    *pzErr = sqlite3_mprintf("malformed JSON vector: expected '[' at offset %d", i);
    return SQLITE_ERROR;
  }
  i++;
  while (i < n && is_json_space(z[i])) i++;
  if (i < n && z[i] == ']') {
    *pzErr = sqlite3_mprintf("empty vector: a vector needs at least one element");
    return SQLITE_ERROR;
  }
  for (;;) {
    while (i < n && is_json_space(z[i])) i++;
    int len = json_number_length(z + i, n - i);
    if (len == 0) {
      *pzErr = sqlite3_mprintf(
          "malformed JSON vector: expected a number at offset %d", i);
      rc = SQLITE_ERROR;
      break;
    }
    float f;
    rc = json_number_value(z + i, len, &f);
    if (rc == SQLITE_RANGE) {
      *pzErr = sqlite3_mprintf("element %d (%.*s) is outside the float32 range",
                               buf.n, len, z + i);
      rc = SQLITE_ERROR;
      break;
    }
    if (rc == SQLITE_OK) rc = element_check(f, buf.n, z + i, len, pzErr);
    if (rc == SQLITE_OK) rc = floatbuf_push(&buf, f);
    if (rc != SQLITE_OK) break;
    if (buf.n > VG_MAX_DIMS) {
      *pzErr = sqlite3_mprintf("vector has more than %d elements", VG_MAX_DIMS);
      rc = SQLITE_ERROR;
      break;
    }
    i += len;
    while (i < n && is_json_space(z[i])) i++;
    if (i < n && z[i] == ',') {
      i++;
      continue;
    }
    if (i < n && z[i] == ']') {
      i++;
      while (i < n && is_json_space(z[i])) i++;
      if (i < n) {
        *pzErr = sqlite3_mprintf(
            "malformed JSON vector: unexpected text after ']' at offset %d", i);
        rc = SQLITE_ERROR;
      }
      break;
    }
    *pzErr = sqlite3_mprintf(
        "malformed JSON vector: expected ',' or ']' at offset %d", i);
    rc = SQLITE_ERROR;
    break;
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(buf.a);
    return rc;
  }
  *paVec = buf.a;
  *pnDims = buf.n;
  return SQLITE_OK;
}

static float float_from_le(const unsigned char *p) {
  unsigned int u = (unsigned int)p[0] | ((unsigned int)p[1] << 8) |
                   ((unsigned int)p[2] << 16) | ((unsigned int)p[3] << 24);
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

int vg_vector_parse_blob(const void *p, int nByte, float **paVec, int *pnDims,
                         char **pzErr) {
  const unsigned char *z = p;
  *paVec = 0;
  *pnDims = 0;
  if (nByte == 0) {
    *pzErr = sqlite3_mprintf("empty vector: the BLOB has no bytes");
    return SQLITE_ERROR;
  }
  if (nByte % 4 != 0) {
    *pzErr = sqlite3_mprintf(
        "a float32 vector BLOB must be a multiple of 4 bytes long, got %d bytes",
        nByte);
    return SQLITE_ERROR;
  }
  int nDims = nByte / 4;
  if (nDims > VG_MAX_DIMS) {
    *pzErr = sqlite3_mprintf("vector has %d elements, more than %d", nDims,
                             VG_MAX_DIMS);
    return SQLITE_ERROR;
  }
  float *a = sqlite3_malloc64((sqlite3_uint64)nDims * sizeof(float));
  if (a == 0) return SQLITE_NOMEM;
  for (int i = 0; i < nDims; i++) {
    a[i] = float_from_le(z + 4 * i);
    if (!isfinite(a[i])) {
      *pzErr = sqlite3_mprintf("element %d is %s", i,
                               isnan(a[i]) ? "NaN" : "infinite");
      sqlite3_free(a);
      return SQLITE_ERROR;
    }
    int rc = element_check(a[i], i, 0, 0, pzErr);
    if (rc != SQLITE_OK) {
      sqlite3_free(a);
      return rc;
    }
  }
  *paVec = a;
  *pnDims = nDims;
  return SQLITE_OK;
}

int vg_vector_from_value(sqlite3_value *pVal, float **paVec, int *pnDims,
                         char **pzErr) {
  *paVec = 0;
  *pnDims = 0;
  switch (sqlite3_value_type(pVal)) {
    case SQLITE_NULL:
      return SQLITE_OK;
    case SQLITE_BLOB: {
      const void *p = sqlite3_value_blob(pVal);
      int n = sqlite3_value_bytes(pVal);
      return vg_vector_parse_blob(p, n, paVec, pnDims, pzErr);
    }
    case SQLITE_TEXT: {
      const char *z = (const char *)sqlite3_value_text(pVal);
      int n = sqlite3_value_bytes(pVal);
      if (z == 0) return SQLITE_NOMEM;
      return vg_vector_parse_json(z, n, paVec, pnDims, pzErr);
    }
    default:
      *pzErr = sqlite3_mprintf(
          "expected a vector as JSON text or a float32 BLOB, got %s",
          sqlite3_value_type(pVal) == SQLITE_INTEGER ? "an integer" : "a real");
      return SQLITE_ERROR;
  }
}

void vg_vector_to_blob(const float *a, int nDims, void *pOut) {
  unsigned char *z = pOut;
  for (int i = 0; i < nDims; i++) {
    unsigned int u;
    memcpy(&u, &a[i], sizeof u);
    z[4 * i] = (unsigned char)u;
    z[4 * i + 1] = (unsigned char)(u >> 8);
    z[4 * i + 2] = (unsigned char)(u >> 16);
    z[4 * i + 3] = (unsigned char)(u >> 24);
  }
}

/* Shortest "%.Ng" form of f that reads back as f; buf holds at least 32.
** A whole number below 10^7 is written whole, as people write it ("20",
** where %.1g gives "2e+01"); every such number is exactly a float. */
static void format_float(float f, char *buf, size_t nBuf) {
  if (f == floorf(f) && fabsf(f) < 1e7f) {
    snprintf(buf, nBuf, "%.0f", (double)f);
    return;
  }
  locale_t loc = vg_c_locale();
  for (int prec = 1; prec <= 9; prec++) {
    snprintf(buf, nBuf, "%.*g", prec, (double)f);
    if (strtof_l(buf, 0, loc) == f) return;
  }
}

char *vg_vector_to_json(const float *a, int nDims) {
  locale_t old = uselocale(vg_c_locale());
  sqlite3_str *s = sqlite3_str_new(0);
  char buf[32];
  sqlite3_str_appendchar(s, 1, '[');
  for (int i = 0; i < nDims; i++) {
    if (i) sqlite3_str_appendchar(s, 1, ',');
    format_float(a[i], buf, sizeof buf);
    sqlite3_str_appendall(s, buf);
  }
  sqlite3_str_appendchar(s, 1, ']');
  uselocale(old);
  return sqlite3_str_finish(s);
}

const char *vg_vector_float64_hint(sqlite3_value *pVal, int nGot, int nWant) {
  if (sqlite3_value_type(pVal) != SQLITE_BLOB || nGot != 2 * nWant) return "";
  return " (a blob of 8 bytes per element looks like float64: send float32, 4 bytes per element)";
}

/* ---- int8 and bit vectors ---------------------------------------------- */

const char *vg_element_name(vg_element e) {
  return e == VG_ELEMENT_FLOAT32 ? "float32" : e == VG_ELEMENT_INT8 ? "int8" : "bit";
}

/* sqlite-vec's subtypes (its SQLITE_VEC_ELEMENT_TYPE_*). */
#define SQLITE_VEC_SUBTYPE_FLOAT32 223
#define SQLITE_VEC_SUBTYPE_BIT 224
#define SQLITE_VEC_SUBTYPE_INT8 225

int vg_vector_sqlite_vec_type(sqlite3_value *pVal) {
  if (sqlite3_value_type(pVal) != SQLITE_BLOB) return -1;
  switch (sqlite3_value_subtype(pVal)) {
    case SQLITE_VEC_SUBTYPE_FLOAT32:
      return VG_ELEMENT_FLOAT32;
    case SQLITE_VEC_SUBTYPE_BIT:
      return VG_ELEMENT_BIT;
    case SQLITE_VEC_SUBTYPE_INT8:
      return VG_ELEMENT_INT8;
    default:
      return -1;
  }
}

/* JSON elements f[0, n) as int8 bytes or packed bits into aOut. */
static int elements_to_bytes(const float *f, int n, vg_element e, unsigned char *aOut,
                             char **pzErr) {
  if (e == VG_ELEMENT_BIT) memset(aOut, 0, (size_t)n / 8);
  for (int i = 0; i < n; i++) {
    if (e == VG_ELEMENT_INT8) {
      if (!(f[i] >= -128.0f && f[i] <= 127.0f && f[i] == floorf(f[i]))) {
        *pzErr = sqlite3_mprintf("element %d (%g) is not a whole number from -128 to 127, "
                                 "which an int8 vector holds", i, (double)f[i]);
        return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
      }
      aOut[i] = (unsigned char)(signed char)(int)f[i];
    } else if (f[i] == 1.0f) {
      aOut[i / 8] |= (unsigned char)(1u << (i % 8));
    } else if (f[i] != 0.0f) {
      *pzErr = sqlite3_mprintf("element %d (%g) is not 0 or 1, which a bit vector holds", i,
                               (double)f[i]);
      return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
    }
  }
  return SQLITE_OK;
}

int vg_vector_from_value_as(sqlite3_value *pVal, vg_element e, unsigned char **paVec,
                            int *pnDims, char **pzErr) {
  *paVec = 0;
  *pnDims = 0;
  const char *zType = vg_element_name(e);
  switch (sqlite3_value_type(pVal)) {
    case SQLITE_NULL:
      return SQLITE_OK;
    case SQLITE_BLOB: {
      int n = sqlite3_value_bytes(pVal);
      const void *p = sqlite3_value_blob(pVal);
      if (n == 0) {
        *pzErr = sqlite3_mprintf("empty vector: the BLOB has no bytes");
        return SQLITE_ERROR;
      }
      int nDims = e == VG_ELEMENT_BIT ? (n > VG_MAX_DIMS / 8 ? VG_MAX_DIMS + 1 : 8 * n) : n;
      if (nDims > VG_MAX_DIMS) {
        *pzErr = sqlite3_mprintf("%s vector has more than %d elements (a BLOB of %d bytes)", zType,
                                 VG_MAX_DIMS, n);
        return SQLITE_ERROR;
      }
      unsigned char *a = sqlite3_malloc64((sqlite3_uint64)n);
      if (a == 0 || p == 0) {
        sqlite3_free(a);
        return SQLITE_NOMEM;
      }
      memcpy(a, p, (size_t)n);
      *paVec = a;
      *pnDims = nDims;
      return SQLITE_OK;
    }
    case SQLITE_TEXT: {
      const char *z = (const char *)sqlite3_value_text(pVal);
      int n = sqlite3_value_bytes(pVal), nDims = 0;
      float *f = 0;
      if (z == 0) return SQLITE_NOMEM;
      int rc = vg_vector_parse_json(z, n, &f, &nDims, pzErr);
      if (rc != SQLITE_OK) return rc;
      if (e == VG_ELEMENT_BIT && nDims % 8 != 0) {
        *pzErr = sqlite3_mprintf("a bit vector has a multiple of 8 elements; got %d", nDims);
        sqlite3_free(f);
        return SQLITE_ERROR;
      }
      unsigned char *a = sqlite3_malloc64((sqlite3_uint64)vg_element_bytes(e, nDims) + 1);
      rc = a ? elements_to_bytes(f, nDims, e, a, pzErr) : SQLITE_NOMEM;
      sqlite3_free(f);
      if (rc != SQLITE_OK) {
        sqlite3_free(a);
        return rc;
      }
      *paVec = a;
      *pnDims = nDims;
      return SQLITE_OK;
    }
    default:
      *pzErr = sqlite3_mprintf("expected an %s vector as JSON text or a BLOB of its bytes, got %s",
                               zType,
                               sqlite3_value_type(pVal) == SQLITE_INTEGER ? "an integer" : "a real");
      return SQLITE_ERROR;
  }
}

const char *vg_vector_size_hint(sqlite3_value *pVal, vg_element e, int nGot, int nWant) {
  if (sqlite3_value_type(pVal) != SQLITE_BLOB) return "";
  switch (e) {
    case VG_ELEMENT_FLOAT32:
      return vg_vector_float64_hint(pVal, nGot, nWant);
    case VG_ELEMENT_INT8:
      if (nGot != 4 * nWant) return "";
      return " (a blob of 4 bytes per element looks like float32: send one signed byte per element, "
             "or JSON text of whole numbers from -128 to 127)";
    default:
      if (nGot != 32 * nWant) return "";
      return " (a blob of 4 bytes per element looks like float32: send one bit per element, "
             "eight to a byte)";
  }
}

char *vg_vector_to_json_as(const unsigned char *a, vg_element e, int nDims) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendchar(s, 1, '[');
  for (int i = 0; i < nDims; i++) {
    if (i) sqlite3_str_appendchar(s, 1, ',');
    int v = e == VG_ELEMENT_INT8 ? (int)(signed char)a[i] : (a[i / 8] >> (i % 8)) & 1;
    sqlite3_str_appendf(s, "%d", v);
  }
  sqlite3_str_appendchar(s, 1, ']');
  return sqlite3_str_finish(s);
}
