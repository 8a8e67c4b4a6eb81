/*
** test_knn.c — the KNN engine (ext/table/knn.c) on its own: graphs built in
** memory, filters from a statement over a table of allowed rowids, distance
** conditions, rowid lists, several partitions, int8 graphs re-ranked with
** exact vectors from an array.  Every answer is checked against a brute
** force computed here, in double precision, independently of the engine.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table/table.h"

#define DIMS 24
#define N 600

static uint64_t next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double uniform(uint64_t *s) { return (double)(next(s) >> 11) / 9007199254740992.0; }

/* n random vectors around 6 centres; unit length for cosine. */
static float *make_vectors(int n, uint64_t seed, vg_metric m) {
  float *a = malloc(sizeof(float) * (size_t)n * DIMS);
  float centre[6][DIMS];
  uint64_t s = 7;
  for (int c = 0; c < 6; c++) {
    for (int j = 0; j < DIMS; j++) centre[c][j] = (float)(uniform(&s) * 4 - 2);
  }
  s = seed;
  for (int i = 0; i < n; i++) {
    int c = (int)(next(&s) % 6);
    for (int j = 0; j < DIMS; j++) a[i * DIMS + j] = centre[c][j] + (float)(2 * uniform(&s) - 1);
    if (m == VG_METRIC_COSINE) vg_vector_normalize(a + i * DIMS, DIMS, a + i * DIMS);
  }
  return a;
}

/* The reference distance, in double precision. */
static double ref_distance(vg_metric m, const float *q, const float *v) {
  double dot = 0, l2 = 0, nq = 0, nv = 0;
  for (int j = 0; j < DIMS; j++) {
    dot += (double)q[j] * v[j];
    l2 += ((double)q[j] - v[j]) * ((double)q[j] - v[j]);
    nq += (double)q[j] * q[j];
    nv += (double)v[j] * v[j];
  }
  if (m == VG_METRIC_L2) return sqrt(l2);
  if (m == VG_METRIC_IP) return -dot;
  return 1.0 - dot / sqrt(nq * nv);
}

typedef struct Ref {
  double d;
  int64_t rowid;
} Ref;

static int ref_cmp(const void *x, const void *y) {
  const Ref *a = x, *b = y;
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  return a->rowid < b->rowid ? -1 : a->rowid > b->rowid;
}

/* Rowid of vector i of partition p. */
static int64_t rowid_of(int p, int i) { return 1000 * (p + 1) + i; }

/* What passes a test's filter (a rowid's last digit in the allowed set). */
typedef struct Filter {
  int bOn;
  unsigned digits;       /* bit d: rowids ending in d pass */
  const VgKnnDist *aDist; /* distance conditions */
  int nDist;
  const int64_t *aRowid; /* rowid list, or 0 */
  int nRowid;
} Filter;

static int ref_passes(const Filter *f, int64_t rowid, double d) {
  if (f->bOn && !(f->digits >> (rowid % 10) & 1)) return 0;
  if (f->aRowid) {
    int bListed = 0;
    for (int i = 0; i < f->nRowid; i++) bListed |= f->aRowid[i] == rowid;
    if (!bListed) return 0;
  }
  for (int i = 0; i < f->nDist; i++) {
    double r = f->aDist[i].r;
    int op = f->aDist[i].op;
    if ((op == SQLITE_INDEX_CONSTRAINT_LT && !(d < r)) || (op == SQLITE_INDEX_CONSTRAINT_LE && !(d <= r)) ||
        (op == SQLITE_INDEX_CONSTRAINT_GT && !(d > r)) || (op == SQLITE_INDEX_CONSTRAINT_GE && !(d >= r))) {
      return 0;
    }
  }
  return 1;
}

/* The k nearest by brute force over nPart partitions of n vectors each. */
static int ref_knn(vg_metric m, const float *q, float **aaVec, int nPart, int n, const Filter *f,
                   int k, Ref *aOut) {
  Ref *a = malloc(sizeof(Ref) * (size_t)nPart * n);
  int nAll = 0;
  for (int p = 0; p < nPart; p++) {
    for (int i = 0; i < n; i++) {
      double d = ref_distance(m, q, aaVec[p] + (size_t)i * DIMS);
      if (!ref_passes(f, rowid_of(p, i), d)) continue;
      a[nAll].d = d;
      a[nAll++].rowid = rowid_of(p, i);
    }
  }
  qsort(a, (size_t)nAll, sizeof(Ref), ref_cmp);
  int nOut = nAll < k ? nAll : k;
  memcpy(aOut, a, sizeof(Ref) * (size_t)nOut);
  free(a);
  return nOut;
}

static void build(Hnsw *h, HnswVectors vectors, vg_metric m, const float *a, int n, int p) {
  uint64_t s = 99 + (uint64_t)p;
  assert_int_equal(hnsw_init(h, DIMS, m, 12, 80, vectors), HNSW_OK);
  for (int i = 0; i < n; i++) {
    int level = hnsw_level_for(h, 1.0 - uniform(&s));
    assert_int_equal(hnsw_insert(h, rowid_of(p, i), i, a + (size_t)i * DIMS, level), HNSW_OK);
  }
}

/* VgKnnSpec.xExact for int8 graphs: the exact vector from the test's array
** (the node's tag is its index). */
static int read_exact(void *pCtx, const Hnsw *h, uint32_t i, float *aOut, char **pzErr) {
  float **aaVec = pCtx;
  int p = (int)(h->aRowid[i] / 1000) - 1;
  (void)pzErr;
  memcpy(aOut, aaVec[p] + (size_t)h->aTag[i] * DIMS, sizeof(float) * DIMS);
  return SQLITE_OK;
}

/* A statement listing the rowids that pass the digit filter, partition ?1. */
static sqlite3_stmt *filter_stmt(sqlite3 *db, int nPart, int n, unsigned digits) {
  sqlite3_stmt *pIns, *pSel;
  assert_int_equal(sqlite3_exec(db, "DROP TABLE IF EXISTS allowed; CREATE TABLE allowed(part, id)", 0, 0, 0),
                   SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(db, "INSERT INTO allowed VALUES(?1, ?2)", -1, &pIns, 0), SQLITE_OK);
  for (int p = 0; p < nPart; p++) {
    for (int i = 0; i < n; i++) {
      if (!(digits >> (rowid_of(p, i) % 10) & 1)) continue;
      sqlite3_bind_int(pIns, 1, p);
      sqlite3_bind_int64(pIns, 2, rowid_of(p, i));
      assert_int_equal(sqlite3_step(pIns), SQLITE_DONE);
      sqlite3_reset(pIns);
    }
  }
  sqlite3_finalize(pIns);
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT id FROM allowed WHERE part = ?1", -1, &pSel, 0), SQLITE_OK);
  return pSel;
}

typedef struct Case {
  const char *zName;
  vg_metric metric;
  HnswVectors vectors;
  int nPart;
  int k, ef, exact;
  Filter filter;
} Case;

/* Run c over fresh graphs; check every answer against brute force: the
** same rows and distances for exact searches, and for graph searches rows
** that pass every condition, distances that are the true ones, recall
** against the brute force and min(k, matches) rows. */
static void run_case(const Case *c, sqlite3 *db, double *pRecall) {
  float *aaVec[3];
  Hnsw aGraph[3];
  for (int p = 0; p < c->nPart; p++) {
    aaVec[p] = make_vectors(N, 11 + (uint64_t)p, c->metric);
    build(&aGraph[p], c->vectors, c->metric, aaVec[p], N, p);
  }
  sqlite3_stmt *pRows = c->filter.bOn ? filter_stmt(db, c->nPart, N, c->filter.digits) : 0;
  int nQuery = 20, nHitTotal = 0, nRefTotal = 0;
  for (int iq = 0; iq < nQuery; iq++) {
    float *q = make_vectors(1, 5000 + (uint64_t)iq, c->metric);
    VgKnnSpec spec;
    memset(&spec, 0, sizeof(spec));
    spec.zTable = "t";
    spec.aQuery = q;
    spec.nDims = DIMS;
    spec.metric = c->metric;
    spec.k = c->k;
    spec.ef = c->ef;
    spec.exact = c->exact;
    spec.aDist = c->filter.aDist;
    spec.nDist = c->filter.nDist;
    spec.aRowid = (const sqlite3_int64 *)c->filter.aRowid;
    spec.nRowid = c->filter.nRowid;
    spec.xExact = read_exact;
    spec.pExactCtx = aaVec;
    VgKnn *pKnn = 0;
    assert_int_equal(vg_knn_new(&spec, &pKnn), SQLITE_OK);
    for (int p = 0; p < c->nPart; p++) {
      char *zErr = 0;
      assert_int_equal(vg_knn_partition(pKnn, &aGraph[p], p, pRows, &zErr), SQLITE_OK);
      assert_null(zErr);
    }
    VgHit *aHit = 0;
    int nHit = 0;
    vg_knn_take(pKnn, &aHit, &nHit);
    vg_knn_free(pKnn);

    Ref aRef[64];
    int nRef = ref_knn(c->metric, q, aaVec, c->nPart, N, &c->filter, c->k, aRef);
    assert_int_equal(nHit, nRef); /* never fewer than min(k, rows that pass) */
    for (int j = 0; j < nHit; j++) {
      int p = (int)(aHit[j].rowid / 1000) - 1, i = (int)(aHit[j].rowid % 1000);
      assert_true(p >= 0 && p < c->nPart && i < N);
      double d = ref_distance(c->metric, q, aaVec[p] + (size_t)i * DIMS);
      assert_true(fabs(aHit[j].distance - d) <= 1e-4 * (1 + fabs(d)));
      assert_true(ref_passes(&c->filter, aHit[j].rowid, aHit[j].distance));
      if (j > 0) assert_true(aHit[j - 1].distance <= aHit[j].distance);
      if (c->exact == 1) {
        assert_true(aHit[j].rowid == aRef[j].rowid || fabs(aRef[j].d - d) <= 1e-5 * (1 + fabs(d)));
      }
    }
    for (int j = 0; j < nRef; j++) {
      for (int i = 0; i < nHit; i++) nHitTotal += aHit[i].rowid == aRef[j].rowid;
    }
    nRefTotal += nRef;
    hnsw_mem_free(aHit);
    free(q);
  }
  *pRecall = nRefTotal ? (double)nHitTotal / nRefTotal : 1.0;
  sqlite3_finalize(pRows);
  for (int p = 0; p < c->nPart; p++) {
    hnsw_free(&aGraph[p]);
    free(aaVec[p]);
  }
}

static void test_cases(void **state) {
  (void)state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  static const VgKnnDist near[] = {{SQLITE_INDEX_CONSTRAINT_LT, VG_KNN_DIST_NUMBER, 3.2}};
  static const VgKnnDist far[] = {{SQLITE_INDEX_CONSTRAINT_GT, VG_KNN_DIST_NUMBER, 2.9}};
  static const VgKnnDist band[] = {{SQLITE_INDEX_CONSTRAINT_GE, VG_KNN_DIST_NUMBER, 0.05},
                                   {SQLITE_INDEX_CONSTRAINT_LE, VG_KNN_DIST_NUMBER, 0.4}};
  static const int64_t listed[] = {1003, 1017, 1101, 1250, 1251, 1333, 1420, 1599, 2004, 2777};
  const Case aCase[] = {
      {"l2 exact", VG_METRIC_L2, HNSW_FLOAT32, 1, 10, 40, 1, {0}},
      {"l2 graph", VG_METRIC_L2, HNSW_FLOAT32, 1, 10, 40, 0, {0}},
      {"cosine graph, 3 partitions", VG_METRIC_COSINE, HNSW_FLOAT32, 3, 10, 40, 0, {0}},
      {"ip exact", VG_METRIC_IP, HNSW_FLOAT32, 2, 8, 40, 1, {0}},
      {"l2 filter 30%, by cost", VG_METRIC_L2, HNSW_FLOAT32, 2, 10, 40, -1, {1, 0x7, 0, 0, 0, 0}},
      {"l2 filter 10%, graph", VG_METRIC_L2, HNSW_FLOAT32, 1, 10, 40, 0, {1, 0x1, 0, 0, 0, 0}},
      {"l2 distance <", VG_METRIC_L2, HNSW_FLOAT32, 1, 10, 40, 0, {0, 0, near, 1, 0, 0}},
      {"l2 distance >", VG_METRIC_L2, HNSW_FLOAT32, 1, 10, 40, -1, {0, 0, far, 1, 0, 0}},
      {"cosine distance band", VG_METRIC_COSINE, HNSW_FLOAT32, 1, 10, 40, 0, {0, 0, band, 2, 0, 0}},
      {"rowid list", VG_METRIC_L2, HNSW_FLOAT32, 2, 5, 40, -1, {0, 0, 0, 0, listed, 10}},
      {"rowid list and filter", VG_METRIC_L2, HNSW_FLOAT32, 2, 5, 40, 0, {1, 0x3FF & ~0x8, 0, 0, listed, 10}},
      {"int8 l2 exact", VG_METRIC_L2, HNSW_INT8, 2, 10, 40, 1, {0}},
      {"int8 l2 graph", VG_METRIC_L2, HNSW_INT8, 2, 10, 40, 0, {0}},
      {"int8 cosine graph with filter", VG_METRIC_COSINE, HNSW_INT8, 1, 10, 40, 0, {1, 0x21, 0, 0, 0, 0}},
      {"int8 ip distance <", VG_METRIC_IP, HNSW_INT8, 1, 10, 40, 0, {0, 0, near, 1, 0, 0}},
  };
  for (size_t i = 0; i < sizeof(aCase) / sizeof(aCase[0]); i++) {
    double recall = 0;
    run_case(&aCase[i], db, &recall);
    printf("%-32s recall@k %.3f\n", aCase[i].zName, recall);
    /* Exact searches are checked row by row above; graph searches over
    ** these clustered sets find nearly every true neighbour. */
    assert_true(recall >= (aCase[i].exact == 1 ? 1.0 : 0.9));
  }
  sqlite3_close(db);
}

/* A filter that names a rowid the graph lacks means damaged storage; a
** graph unlike the query is misuse. */
static void test_errors(void **state) {
  (void)state;
  sqlite3 *db;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  float *a = make_vectors(50, 3, VG_METRIC_L2);
  Hnsw h;
  build(&h, HNSW_FLOAT32, VG_METRIC_L2, a, 50, 0);
  sqlite3_stmt *pRows;
  assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1001 UNION ALL SELECT 4242 WHERE ?1 = 0", -1, &pRows, 0), SQLITE_OK);
  VgKnnSpec spec;
  memset(&spec, 0, sizeof(spec));
  spec.zTable = "docs";
  spec.aQuery = a;
  spec.nDims = DIMS;
  spec.metric = VG_METRIC_L2;
  spec.k = 3;
  spec.ef = 10;
  spec.exact = -1;
  VgKnn *pKnn = 0;
  char *zErr = 0;
  assert_int_equal(vg_knn_new(&spec, &pKnn), SQLITE_OK);
  assert_int_equal(vg_knn_partition(pKnn, &h, 0, pRows, &zErr), SQLITE_CORRUPT_VTAB);
  assert_string_equal(zErr, "docs: the shadow tables are corrupt: row 4242 has no vector");
  sqlite3_free(zErr);
  vg_knn_free(pKnn);

  spec.metric = VG_METRIC_IP;
  assert_int_equal(vg_knn_new(&spec, &pKnn), SQLITE_OK);
  assert_int_equal(vg_knn_partition(pKnn, &h, 0, 0, &zErr), SQLITE_MISUSE);
  vg_knn_free(pKnn);
  sqlite3_finalize(pRows);
  hnsw_free(&h);
  free(a);
  sqlite3_close(db);
}

int main(void) {
  vg_distance_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cases),
      cmocka_unit_test(test_errors),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
