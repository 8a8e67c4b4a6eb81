/*
** fuzz_vector.c — libFuzzer target for vector values (ext/vector/vector.c,
** ext/vector/vector_func.c).
**
** Feeds: the first byte picks a mode, the rest is the value:
**   0  JSON text with its length    -> vg_vector_parse_json(z, n)
**   1  JSON text up to its first NUL -> vg_vector_parse_json(z, -1)
**   2  bytes                         -> vg_vector_parse_blob
**   3  the same through SQL: vg_vector, vg_vector_json, vg_dims,
**      vg_distance(x, x, metric), vg_normalize on a bound TEXT, BLOB or
**      integer (picked by the second byte)
**
** Checks, against a second parser written here from docs/vectors.md (JSON
** grammar exactly, float32 range, 1 to 16,384 elements; BLOBs of 4-byte
** little-endian floats, no NaN or infinity; no element beyond +/-1e16):
**   - the same inputs are accepted and refused, refusals for the same
**     reason (syntax, empty, range, too many, length, NaN/infinite, beyond
**     1e16) and, for JSON syntax errors, at the same offset; every refusal
**     has a message; an element's refusal names the element: "element N is
**     NaN", "element N (text) is outside the float32 range", and the
**     documented "element N (text) is beyond +/-1e16, the largest magnitude
**     an element may have (so that every distance stays finite)" (a BLOB's
**     element is printed, not quoted);
**   - accepted values are the same floats, bit for bit, as the correctly
**     rounded float32 of each JSON number (strtof);
**   - vg_vector_json's output is JSON this parser accepts and reads back to
**     the same floats; the BLOB form reads back to the same floats;
**   - through SQL: the same BLOB, JSON, dimension and error ("vg_vector: "
**     and the same message) as the C functions; vg_distance(x, x) is 0 under
**     l2, -|x|^2 under ip (finite: the bound keeps it inside float32; within
**     the rounding of a float32 sum), within 1e-3 of 0 under cosine (or the
**     zero-vector error); vg_normalize gives a unit vector.
*/
#include "fuzzutil.h"
#include "vector/vector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why the reference parser refused a value. */
typedef enum RefResult {
  REF_OK,
  REF_SYNTAX,   /* malformed JSON, at aOff */
  REF_EMPTY,    /* no elements */
  REF_RANGE,    /* a number outside float32 */
  REF_TOO_MANY, /* more than VG_MAX_DIMS elements */
  REF_LENGTH,   /* a BLOB whose length is not a multiple of 4 */
  REF_NONFINITE, /* a BLOB element that is NaN or infinite */
  REF_MAGNITUDE  /* an element beyond +/-1e16 */
} RefResult;

/* docs/vectors.md: each element at most 10^16 in magnitude, compared as
** floats (the float nearest 1e16, which "1e16" reads as, is allowed). */
static int too_big(float f) { return fabsf(f) > 1e16f; }

static const char zBeyond[] =
    " is beyond +/-1e16, the largest magnitude an element may have (so that every distance stays finite)";

static float aRef[VG_MAX_DIMS + 1];
/* For a refused element: its index, and where the JSON text wrote it. */
static int iRefElem;
static const char *zRefElem;
static size_t nRefElem;

static int is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static int is_dig(char c) { return c >= '0' && c <= '9'; }

/* End of the JSON number at z[i..n), or i when there is none.  RFC 8259:
** number = [ minus ] int [ frac ] [ exp ]; int = zero / ( digit1-9 *DIGIT ). */
static size_t number_end(const char *z, size_t n, size_t i) {
  size_t j = i;
  if (j < n && z[j] == '-') j++;
  if (j >= n || !is_dig(z[j])) return i;
  if (z[j++] != '0') {
    while (j < n && is_dig(z[j])) j++;
  }
  if (j < n && z[j] == '.') {
    size_t k = ++j;
    while (j < n && is_dig(z[j])) j++;
    if (j == k) return i; /* "1." */
  }
  if (j < n && (z[j] == 'e' || z[j] == 'E')) {
    j++;
    if (j < n && (z[j] == '+' || z[j] == '-')) j++;
    size_t k = j;
    while (j < n && is_dig(z[j])) j++;
    if (j == k) return i; /* "1e" */
  }
  return j;
}

/* The reference reading of JSON text: elements into aRef, *pOff the offset
** of a syntax error. */
static RefResult ref_json(const char *z, size_t n, int *pnDims, size_t *pOff) {
  size_t i = 0;
  int nDims = 0;
  char buf[512];
  *pnDims = 0;
  while (i < n && is_ws(z[i])) i++;
  if (i >= n || z[i] != '[') {
    *pOff = i;
    return REF_SYNTAX;
  }
  i++;
  while (i < n && is_ws(z[i])) i++;
  if (i < n && z[i] == ']') return REF_EMPTY;
  for (;;) {
    while (i < n && is_ws(z[i])) i++;
    size_t e = number_end(z, n, i);
    if (e == i) {
      *pOff = i;
      return REF_SYNTAX;
    }
    /* strtof rounds once, straight to float32: the value the text names. */
    float f;
    if (e - i < sizeof buf) {
      memcpy(buf, z + i, e - i);
      buf[e - i] = 0;
      f = strtof(buf, 0);
    } else {
      char *zBig = malloc(e - i + 1);
      memcpy(zBig, z + i, e - i);
      zBig[e - i] = 0;
      f = strtof(zBig, 0);
      free(zBig);
    }
    iRefElem = nDims;
    zRefElem = z + i;
    nRefElem = e - i;
    if (!isfinite(f)) return REF_RANGE;
    if (too_big(f)) return REF_MAGNITUDE;
    aRef[nDims++] = f;
    if (nDims > VG_MAX_DIMS) return REF_TOO_MANY;
    i = e;
    while (i < n && is_ws(z[i])) i++;
    if (i < n && z[i] == ',') {
      i++;
      continue;
    }
    if (i < n && z[i] == ']') {
      i++;
      while (i < n && is_ws(z[i])) i++;
      if (i < n) {
        *pOff = i;
        return REF_SYNTAX;
      }
      *pnDims = nDims;
      return REF_OK;
    }
    *pOff = i;
    return REF_SYNTAX;
  }
}

static RefResult ref_blob(const uint8_t *p, size_t n, int *pnDims) {
  *pnDims = 0;
  if (n == 0) return REF_EMPTY;
  if (n % 4) return REF_LENGTH;
  if (n / 4 > VG_MAX_DIMS) return REF_TOO_MANY;
  for (size_t k = 0; k < n / 4; k++) {
    uint32_t u = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 | (uint32_t)p[4 * k + 2] << 16 |
                 (uint32_t)p[4 * k + 3] << 24;
    memcpy(&aRef[k], &u, 4);
    iRefElem = (int)k;
    zRefElem = 0;
    if (!isfinite(aRef[k])) return REF_NONFINITE;
    if (too_big(aRef[k])) return REF_MAGNITUDE;
  }
  *pnDims = (int)(n / 4);
  return REF_OK;
}

/* The class of the extension's message. */
static RefResult message_class(const char *z) {
  if (strncmp(z, "malformed JSON vector: ", 23) == 0) return REF_SYNTAX;
  if (strncmp(z, "empty vector", 12) == 0) return REF_EMPTY;
  if (strstr(z, "is outside the float32 range")) return REF_RANGE;
  if (strncmp(z, "vector has ", 11) == 0 && strstr(z, "more than 16384")) return REF_TOO_MANY;
  if (strncmp(z, "a float32 vector BLOB must be a multiple of 4", 45) == 0) return REF_LENGTH;
  if (strncmp(z, "element ", 8) == 0 && (strstr(z, " is NaN") || strstr(z, " is infinite"))) {
    return REF_NONFINITE;
  }
  if (strncmp(z, "element ", 8) == 0 && strstr(z, "is beyond")) return REF_MAGNITUDE;
  return REF_OK; /* unknown: compared as a mismatch */
}

static uint32_t bits(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  return u;
}

static int same_floats(const float *a, const float *b, int n) { return memcmp(a, b, sizeof(float) * (size_t)n) == 0; }

/* What the message of an element's refusal must say, or 0 for the other
** classes (a BLOB's element beyond the bound: the part before its value). */
static char *element_message(RefResult ref) {
  switch (ref) {
    case REF_RANGE:
      return sqlite3_mprintf("element %d (%.*s) is outside the float32 range", iRefElem, (int)nRefElem, zRefElem);
    case REF_NONFINITE:
      return sqlite3_mprintf("element %d is %s", iRefElem, isnan(aRef[iRefElem]) ? "NaN" : "infinite");
    case REF_MAGNITUDE:
      return zRefElem ? sqlite3_mprintf("element %d (%.*s)%s", iRefElem, (int)nRefElem, zRefElem, zBeyond)
                      : sqlite3_mprintf("element %d (", iRefElem);
    default:
      return 0;
  }
}

/* Shared by every mode: what was parsed (rc, a, nDims, zErr) against the
** reference (ref, aRef, nRef, off). */
static void compare(const char *zWhat, int rc, const float *a, int nDims, const char *zErr, RefResult ref, int nRef,
                    size_t off) {
  if (ref == REF_OK) {
    FZ_CHECKF(rc == SQLITE_OK, "%s: refused a valid vector: %s", zWhat, zErr ? zErr : "(no message)");
    FZ_CHECKF(nDims == nRef, "%s: %d elements, expected %d", zWhat, nDims, nRef);
    for (int k = 0; k < nDims; k++) {
      FZ_CHECKF(memcmp(&a[k], &aRef[k], 4) == 0, "%s: element %d is %.9g (0x%08x), expected %.9g (0x%08x)", zWhat,
                k, (double)a[k], bits(a[k]), (double)aRef[k], bits(aRef[k]));
    }
    return;
  }
  FZ_CHECKF(rc != SQLITE_OK, "%s: accepted an invalid vector (reference class %d)", zWhat, (int)ref);
  FZ_CHECKF(a == 0, "%s: an error left a vector", zWhat);
  FZ_CHECKF(fz_is_message(zErr), "%s: an error without a message (rc %d)", zWhat, rc);
  FZ_CHECKF(message_class(zErr) == ref, "%s: message '%s' is not of the expected class %d", zWhat, zErr,
            (int)ref);
  char *zWant = element_message(ref);
  if (zWant) {
    int bBlobBeyond = ref == REF_MAGNITUDE && zRefElem == 0;
    size_t nErr = strlen(zErr), nBeyond = strlen(zBeyond);
    int bOk = bBlobBeyond ? strncmp(zErr, zWant, strlen(zWant)) == 0 && nErr > strlen(zWant) + nBeyond + 1 &&
                                strcmp(zErr + nErr - nBeyond, zBeyond) == 0 && zErr[nErr - nBeyond - 1] == ')'
                          : strcmp(zErr, zWant) == 0;
    FZ_CHECKF(bOk, "%s: message '%s', expected '%s%s'", zWhat, zErr, zWant, bBlobBeyond ? "...)..." : "");
    sqlite3_free(zWant);
  }
  if (ref == REF_SYNTAX) {
    const char *zAt = strstr(zErr, "at offset ");
    FZ_CHECKF(zAt != 0, "%s: a syntax error without its offset: %s", zWhat, zErr);
    long got = strtol(zAt + 10, 0, 10);
    FZ_CHECKF(got == (long)off, "%s: syntax error at offset %ld, expected %zu: %s", zWhat, got, off, zErr);
  }
}

/* What every accepted vector must survive: JSON and BLOB round trips. */
static void round_trips(const float *a, int nDims) {
  char *zJson = vg_vector_to_json(a, nDims);
  FZ_CHECK(zJson != 0);
  int nBack = 0;
  size_t off = 0;
  RefResult r = ref_json(zJson, strlen(zJson), &nBack, &off);
  FZ_CHECKF(r == REF_OK, "vg_vector_to_json wrote what is not a valid vector (class %d): %.200s", (int)r, zJson);
  FZ_CHECKF(nBack == nDims && same_floats(aRef, a, nDims), "vg_vector_to_json does not read back: %.200s",
            zJson);
  float *b = 0;
  char *zErr = 0;
  int rc = vg_vector_parse_json(zJson, -1, &b, &nBack, &zErr);
  FZ_CHECKF(rc == SQLITE_OK && nBack == nDims && same_floats(a, b, nDims),
            "vg_vector_parse_json does not read back vg_vector_to_json's %.200s: %s", zJson, zErr ? zErr : "");
  sqlite3_free(b);
  sqlite3_free(zErr);
  sqlite3_free(zJson);

  unsigned char *blob = malloc((size_t)nDims * 4);
  vg_vector_to_blob(a, nDims, blob);
  b = 0;
  zErr = 0;
  rc = vg_vector_parse_blob(blob, nDims * 4, &b, &nBack, &zErr);
  FZ_CHECKF(rc == SQLITE_OK && nBack == nDims && same_floats(a, b, nDims), "the BLOB form does not read back: %s",
            zErr ? zErr : "");
  for (int k = 0; k < nDims; k++) {
    uint32_t u;
    memcpy(&u, &a[k], 4);
    FZ_CHECK(blob[4 * k] == (u & 0xFF) && blob[4 * k + 3] == (u >> 24));
  }
  sqlite3_free(b);
  sqlite3_free(zErr);
  free(blob);
}

static void check_json(const char *z, size_t n, int bNulTerminated) {
  float *a = 0;
  int nDims = 0, nRef = 0;
  char *zErr = 0;
  size_t off = 0;
  int rc;
  if (bNulTerminated) {
    char *zCopy = malloc(n + 1);
    memcpy(zCopy, z, n);
    zCopy[n] = 0;
    rc = vg_vector_parse_json(zCopy, -1, &a, &nDims, &zErr);
    n = strlen(zCopy);
    free(zCopy);
  } else {
    rc = vg_vector_parse_json(z, (int)n, &a, &nDims, &zErr);
  }
  RefResult ref = ref_json(z, n, &nRef, &off);
  compare("vg_vector_parse_json", rc, a, nDims, zErr, ref, nRef, off);
  if (rc == SQLITE_OK) round_trips(a, nDims);
  sqlite3_free(a);
  sqlite3_free(zErr);
}

static void check_blob(const uint8_t *p, size_t n) {
  float *a = 0;
  int nDims = 0, nRef = 0;
  char *zErr = 0;
  int rc = vg_vector_parse_blob(p, (int)n, &a, &nDims, &zErr);
  RefResult ref = ref_blob(p, n, &nRef);
  compare("vg_vector_parse_blob", rc, a, nDims, zErr, ref, nRef, 0);
  if (rc == SQLITE_OK) round_trips(a, nDims);
  sqlite3_free(a);
  sqlite3_free(zErr);
}

/* ---- through SQL ---------------------------------------------------------- */

static sqlite3 *db;
static sqlite3_stmt *pVector, *pJson, *pDims, *pDist, *pCosine, *pNormalize;

static sqlite3_stmt *prepare(const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) fz_fail("prepare %s: %s", zSql, sqlite3_errmsg(db));
  return p;
}

/* Bind the value (kind 0 text, 1 blob, 2 integer) and step once; returns
** the step's code, the statement left on its row. */
static int run1(sqlite3_stmt *p, int kind, const uint8_t *z, size_t n) {
  sqlite3_reset(p);
  if (kind == 0) {
    sqlite3_bind_text(p, 1, (const char *)z, (int)n, SQLITE_STATIC);
  } else if (kind == 1) {
    sqlite3_bind_blob(p, 1, z, (int)n, SQLITE_STATIC);
  } else {
    sqlite3_bind_int64(p, 1, (sqlite3_int64)n);
  }
  return sqlite3_step(p);
}

static void check_sql(int kind, const uint8_t *z, size_t n) {
  float *a = 0;
  int nDims = 0;
  char *zErr = 0;
  int rc;
  if (kind == 0) {
    rc = vg_vector_parse_json((const char *)z, (int)n, &a, &nDims, &zErr);
  } else if (kind == 1) {
    rc = vg_vector_parse_blob(z, (int)n, &a, &nDims, &zErr);
  } else {
    rc = SQLITE_ERROR;
    zErr = sqlite3_mprintf("expected a vector as JSON text or a float32 BLOB, got an integer");
  }

  /* vg_vector: the BLOB, or the C function's message. */
  int step = run1(pVector, kind, z, n);
  if (rc == SQLITE_OK) {
    FZ_CHECKF(step == SQLITE_ROW, "vg_vector refused what the C parser took: %s", sqlite3_errmsg(db));
    FZ_CHECK(sqlite3_column_bytes(pVector, 0) == nDims * 4);
    unsigned char *blob = malloc((size_t)nDims * 4);
    vg_vector_to_blob(a, nDims, blob);
    FZ_CHECK(memcmp(blob, sqlite3_column_blob(pVector, 0), (size_t)nDims * 4) == 0);
    free(blob);
  } else {
    FZ_CHECKF(step == SQLITE_ERROR, "vg_vector took what the C parser refused (%s)", zErr);
    char *zWant = sqlite3_mprintf("vg_vector: %s", zErr);
    FZ_CHECKF(strcmp(sqlite3_errmsg(db), zWant) == 0, "vg_vector says '%s', expected '%s'", sqlite3_errmsg(db),
              zWant);
    sqlite3_free(zWant);
  }

  step = run1(pJson, kind, z, n);
  FZ_CHECK((step == SQLITE_ROW) == (rc == SQLITE_OK));
  if (rc == SQLITE_OK) {
    char *zWant = vg_vector_to_json(a, nDims);
    FZ_CHECKF(strcmp((const char *)sqlite3_column_text(pJson, 0), zWant) == 0, "vg_vector_json differs");
    sqlite3_free(zWant);
  }

  step = run1(pDims, kind, z, n);
  FZ_CHECK((step == SQLITE_ROW) == (rc == SQLITE_OK));
  if (rc == SQLITE_OK) FZ_CHECK(sqlite3_column_int(pDims, 0) == nDims);

  step = run1(pDist, kind, z, n);
  FZ_CHECK((step == SQLITE_ROW) == (rc == SQLITE_OK));
  if (rc == SQLITE_OK) {
    double l2 = sqlite3_column_double(pDist, 0), ip = sqlite3_column_double(pDist, 1);
    FZ_CHECKF(l2 == 0.0, "vg_distance(x, x) = %g under l2", l2);
    double sq = 0;
    for (int k = 0; k < nDims; k++) sq += (double)a[k] * a[k];
    /* Summed in float32: each of at most 16,384 positive terms rounded, and
    ** the sum; at most about 1e-3 of it even added one by one. */
    FZ_CHECKF(isfinite(ip) && ip <= 0.0 && fabs(ip + sq) <= 2e-3 * sq + 1e-30,
              "vg_distance(x, x, 'ip') = %.9g, expected -(sum of squares) = %.9g", ip, -sq);
  }

  step = run1(pCosine, kind, z, n);
  if (rc == SQLITE_OK) {
    int bZero = 1;
    for (int k = 0; k < nDims; k++) bZero &= a[k] == 0.0f;
    if (bZero) {
      FZ_CHECKF(step == SQLITE_ERROR && strstr(sqlite3_errmsg(db), "zero vector"),
                "cosine of a zero vector: %s", sqlite3_errmsg(db));
    } else {
      FZ_CHECKF(step == SQLITE_ROW, "cosine distance failed: %s", sqlite3_errmsg(db));
      double d = sqlite3_column_double(pCosine, 0);
      FZ_CHECKF(fabs(d) <= 1e-3, "vg_distance(x, x, 'cosine') = %g", d);
    }
  }

  step = run1(pNormalize, kind, z, n);
  if (step == SQLITE_ROW) {
    FZ_CHECK(rc == SQLITE_OK && sqlite3_column_bytes(pNormalize, 0) == nDims * 4);
    float *b = 0;
    int nb = 0;
    char *zErr2 = 0;
    FZ_CHECK(vg_vector_parse_blob(sqlite3_column_blob(pNormalize, 0), nDims * 4, &b, &nb, &zErr2) == SQLITE_OK);
    double sq = 0;
    for (int k = 0; k < nb; k++) sq += (double)b[k] * b[k];
    FZ_CHECKF(fabs(sq - 1.0) <= 1e-3, "vg_normalize gave |x|^2 = %g", sq);
    sqlite3_free(b);
  }
  for (sqlite3_stmt *p = 0; (p = sqlite3_next_stmt(db, p)) != 0;) sqlite3_reset(p);
  sqlite3_free(a);
  sqlite3_free(zErr);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  db = fz_open();
  pVector = prepare("SELECT vg_vector(?1)");
  pJson = prepare("SELECT vg_vector_json(?1)");
  pDims = prepare("SELECT vg_dims(?1)");
  pDist = prepare("SELECT vg_distance(?1, ?1), vg_distance(?1, ?1, 'ip')");
  pCosine = prepare("SELECT vg_distance(?1, ?1, 'cosine')");
  pNormalize = prepare("SELECT vg_normalize(?1)");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 300000) return 0;
  const uint8_t *z = data + 1;
  size_t n = size - 1;
  switch (data[0] % 4) {
    case 0:
      check_json((const char *)z, n, 0);
      break;
    case 1:
      check_json((const char *)z, n, 1);
      break;
    case 2:
      check_blob(z, n);
      break;
    default:
      if (n < 1) return 0;
      check_sql(z[0] % 3, z + 1, n - 1);
      break;
  }
  return 0;
}
