/*
** vector_func.c — SQL scalar functions over vector values:
**
**   vg_vector(x)              -> float32 BLOB
**   vg_vector_json(x [, t])   -> JSON text (t: 'float32', 'int8' or 'bit')
**   vg_dims(x)                -> number of elements
**   vg_distance(a, b [, m])   -> distance under metric m (default 'l2')
**   vg_normalize(x)           -> x / |x| as a float32 BLOB
**   vg_version()              -> version and the distance kernels in use
**
** x may be JSON text or a float32 BLOB.  A NULL argument gives NULL, as with
** SQLite's built-in functions; anything malformed is an error that names the
** function and the problem.
*/
#include "vector/vector.h"

/* Read argument iArg as a vector; on error report it and return nonzero. */
static int arg_vector(sqlite3_context *ctx, sqlite3_value **argv, int iArg,
                      const char *zFunc, float **pa, int *pn) {
  char *zErr = 0;
  int rc = vg_vector_from_value(argv[iArg], pa, pn, &zErr);
  if (rc == SQLITE_OK) return 0;
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else {
    char *zMsg = sqlite3_mprintf("%s: %s", zFunc, zErr);
    sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
    sqlite3_free(zMsg);
  }
  sqlite3_free(zErr);
  return 1;
}

static void result_vector_blob(sqlite3_context *ctx, const float *a, int n) {
  void *p = sqlite3_malloc64((sqlite3_uint64)n * 4);
  if (p == 0) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  vg_vector_to_blob(a, n, p);
  sqlite3_result_blob64(ctx, p, (sqlite3_uint64)n * 4, sqlite3_free);
}

static void fn_vector(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  float *a;
  int n;
  (void)argc;
  if (arg_vector(ctx, argv, 0, "vg_vector", &a, &n) || a == 0) return;
  result_vector_blob(ctx, a, n);
  sqlite3_free(a);
}

/* vg_vector_json(x [, type]): type 'float32' (the default), 'int8' or
** 'bit' says what x's bytes are (an int8[N] or bit[N] column's value). */
static void fn_vector_json(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  float *a;
  int n;
  char *z;
  if (argc == 2 && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    const char *zType = vg_text_arg(ctx, "vg_vector_json", argv[1], "the type", VG_TEXT_NAME, 0);
    if (zType == 0) return;
    vg_element e;
    if (sqlite3_stricmp(zType, "float32") == 0) {
      e = VG_ELEMENT_FLOAT32;
    } else if (sqlite3_stricmp(zType, "int8") == 0) {
      e = VG_ELEMENT_INT8;
    } else if (sqlite3_stricmp(zType, "bit") == 0) {
      e = VG_ELEMENT_BIT;
    } else {
      char *zMsg = sqlite3_mprintf("vg_vector_json: unknown type '%s' (expected 'float32', 'int8' or 'bit')", zType);
      sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
      sqlite3_free(zMsg);
      return;
    }
    if (e != VG_ELEMENT_FLOAT32) {
      unsigned char *b = 0;
      char *zErr = 0;
      int rc = vg_vector_from_value_as(argv[0], e, &b, &n, &zErr);
      if (rc != SQLITE_OK) {
        char *zMsg = zErr ? sqlite3_mprintf("vg_vector_json: %s", zErr) : 0;
        if (zMsg) {
          sqlite3_result_error(ctx, zMsg, -1);
        } else {
          sqlite3_result_error_nomem(ctx);
        }
        sqlite3_free(zMsg);
        sqlite3_free(zErr);
        return;
      }
      if (b == 0) return; /* NULL */
      z = vg_vector_to_json_as(b, e, n);
      sqlite3_free(b);
      if (z == 0) {
        sqlite3_result_error_nomem(ctx);
        return;
      }
      sqlite3_result_text(ctx, z, -1, sqlite3_free);
      return;
    }
  }
  if (arg_vector(ctx, argv, 0, "vg_vector_json", &a, &n) || a == 0) return;
  z = vg_vector_to_json(a, n);
  sqlite3_free(a);
  if (z == 0) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, z, -1, sqlite3_free);
}

static void fn_dims(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  float *a;
  int n;
  (void)argc;
  if (arg_vector(ctx, argv, 0, "vg_dims", &a, &n) || a == 0) return;
  sqlite3_free(a);
  sqlite3_result_int(ctx, n);
}

static void fn_normalize(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  float *a;
  int n;
  (void)argc;
  if (arg_vector(ctx, argv, 0, "vg_normalize", &a, &n) || a == 0) return;
  if (!vg_vector_normalize(a, n, a)) {
    sqlite3_result_error(ctx, "vg_normalize: a zero vector has no direction", -1);
  } else {
    result_vector_blob(ctx, a, n);
  }
  sqlite3_free(a);
}

static void fn_distance(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  vg_metric m = VG_METRIC_L2;
  float *a = 0, *b = 0;
  int na, nb;
  if (argc == 3) {
    if (sqlite3_value_type(argv[2]) != SQLITE_TEXT) {
      sqlite3_result_error(
          ctx, "vg_distance: the metric must be 'l2', 'cosine' or 'ip'", -1);
      return;
    }
    const char *zM = vg_text_arg(ctx, "vg_distance", argv[2], "the metric", VG_TEXT_NAME, 0);
    if (zM == 0) return;
    if (vg_metric_parse(zM, -1, &m) != SQLITE_OK || !vg_metric_allowed(VG_ELEMENT_FLOAT32, m)) {
      char *zMsg = sqlite3_mprintf(
          "vg_distance: unknown metric '%s' (expected 'l2', 'cosine' or 'ip')", zM);
      sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
      sqlite3_free(zMsg);
      return;
    }
  }
  if (arg_vector(ctx, argv, 0, "vg_distance", &a, &na)) return;
  if (arg_vector(ctx, argv, 1, "vg_distance", &b, &nb)) goto done;
  if (a == 0 || b == 0) goto done; /* NULL in, NULL out */
  if (na != nb) {
    char *zMsg = sqlite3_mprintf(
        "vg_distance: dimension mismatch: %d elements vs %d", na, nb);
    sqlite3_result_error(ctx, zMsg ? zMsg : "out of memory", -1);
    sqlite3_free(zMsg);
    goto done;
  }
  if (m == VG_METRIC_COSINE &&
      (!vg_vector_normalize(a, na, a) || !vg_vector_normalize(b, nb, b))) {
    sqlite3_result_error(
        ctx, "vg_distance: cosine distance is undefined for a zero vector", -1);
    goto done;
  }
  sqlite3_result_double(ctx, vg_prepared_distance(m, a, b, na));
done:
  sqlite3_free(a);
  sqlite3_free(b);
}

static void fn_version(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  char *z = sqlite3_mprintf("vecguard %s (%s kernels)", VG_VERSION,
                            vg_simd_name(vg_simd_level()));
  if (z == 0) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_result_text(ctx, z, -1, sqlite3_free);
}

/* What ext/vecguard.c registers for this layer (vector.h); no state. */
const VgFunction vg_vector_functions[] = {
    {"vg_vector", 1, VG_FUNC_PURE, fn_vector},     {"vg_vector_json", 1, VG_FUNC_PURE, fn_vector_json},
    {"vg_vector_json", 2, VG_FUNC_PURE, fn_vector_json},
    {"vg_dims", 1, VG_FUNC_PURE, fn_dims},         {"vg_normalize", 1, VG_FUNC_PURE, fn_normalize},
    {"vg_distance", 2, VG_FUNC_PURE, fn_distance}, {"vg_distance", 3, VG_FUNC_PURE, fn_distance},
    {"vg_version", 0, VG_FUNC_PURE, fn_version},   {0, 0, 0, 0},
};
