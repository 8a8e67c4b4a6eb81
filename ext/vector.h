/*
** vector.h — vector values: float32 vectors read from JSON text or from
** little-endian float32 BLOBs (byte-compatible with sqlite-vec), written back
** as JSON, normalized, and the distance metrics that compare them.
**
** Every function that can fail returns SQLITE_OK or an SQLite error code and,
** on error, sets *pzErr to a message from sqlite3_mprintf() that the caller
** owns.  Messages name the problem ("element 3 is NaN"), never the caller;
** callers prefix their own context.
*/
#ifndef VG_VECTOR_H
#define VG_VECTOR_H

#include "vecguard.h"

/* Largest magnitude of a vector element.  Distances are summed in float32:
** with |x| <= 1e16 and at most VG_MAX_DIMS elements, a squared L2 distance is
** at most 16384 * (2e16)^2 = 6.6e36 and an inner product 1.6e36, both well
** inside float32's 3.4e38, so no distance is ever infinite or NaN and every
** distance filter compares real numbers. */
#define VG_MAX_ELEMENT 1e16

typedef enum vg_metric {
  VG_METRIC_L2 = 0,     /* Euclidean distance (not squared) */
  VG_METRIC_COSINE = 1, /* 1 - cosine similarity */
  VG_METRIC_IP = 2      /* negative inner product */
} vg_metric;

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

/* Encode as a little-endian float32 BLOB of 4*nDims bytes into pOut (which
** may be a itself). */
void vg_vector_to_blob(const float *a, int nDims, void *pOut);

/* Format as JSON with the shortest decimal form of each element that reads
** back to the same float.  Returns a string from sqlite3_malloc64(), or 0
** when out of memory. */
char *vg_vector_to_json(const float *a, int nDims);

/* Write a/|a| into out (which may equal a).  Returns 0 for a zero vector,
** whose direction is undefined, and leaves out untouched in that case. */
int vg_vector_normalize(const float *a, int nDims, float *out);

#endif
