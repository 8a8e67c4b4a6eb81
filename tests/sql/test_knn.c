/*
** test_knn.c — KNN search on vg_hnsw against brute force.
**
** Every table here has a twin: an ordinary table holding the same rows.  A
** KNN query with exact = 1 must return exactly what the reference query
** gives:
**   SELECT rowid, vg_distance(embedding, :q, metric) AS d FROM ref
**    WHERE <same filters> ORDER BY d, rowid LIMIT k
** i.e. the k nearest among the rows matching every filter, or all of them
** when fewer match.  The same query through the HNSW graph must return
** exactly min(k, rows matching) rows, every one of them matching with its
** true distance, and nearly the same rows (recall is checked over all
** queries).  Filters are drawn at random over every supported operator, IN
** lists, collations, rowid subqueries and distance bounds.
*/
#include "testdb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define DIMS 8
#define MAX_ROWS 20000

static sqlite3 *db;
static sqlite3_int64 aIdV[MAX_ROWS], aIdR[MAX_ROWS];
static double aDistV[MAX_ROWS], aDistR[MAX_ROWS];

static int setup(void **state) {
  (void)state;
  db = tdb_open(":memory:");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  tdb_close(db);
  return 0;
}

static void random_vector(uint64_t *s, float *a, int n) {
  for (int i = 0; i < n; i++) a[i] = (float)(tdb_uniform(s) * 2.0 - 1.0);
}

/* Fill v (vg_hnsw) and ref (ordinary) with the same nRows random rows, and
** group g (ordinary) with a random grouping of the rowids. */
static void fill_tables(const char *zMetric, int nRows, int nTenant, uint64_t seed) {
  tdb_exec(db, "DROP TABLE IF EXISTS v; DROP TABLE IF EXISTS ref; DROP TABLE IF EXISTS g;");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE v USING vg_hnsw(embedding float[%d] distance_metric=%s, "
           "tenant text partition key, cat text, n integer, score real, flag boolean, "
           "+body text);"
           "CREATE TABLE ref(embedding BLOB, tenant TEXT, cat TEXT, n INTEGER, score REAL, "
           "flag INTEGER, body TEXT);"
           "CREATE TABLE g(id INTEGER PRIMARY KEY, grp INTEGER);",
           DIMS, zMetric);
  sqlite3_stmt *pV = tdb_prepare(db, "INSERT INTO v(rowid, embedding, tenant, cat, n, score, "
                                     "flag, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  sqlite3_stmt *pR = tdb_prepare(db, "INSERT INTO ref(rowid, embedding, tenant, cat, n, score, "
                                     "flag, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
  sqlite3_stmt *pG = tdb_prepare(db, "INSERT INTO g(id, grp) VALUES (?1, ?2)");
  static const char *const cats[] = {"a", "b", "c", "d", "e", "f", "A", "B"};
  uint64_t s = seed;
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < nRows; i++) {
    float e[DIMS];
    char zTenant[16], zBody[32];
    random_vector(&s, e, DIMS);
    sqlite3_int64 rowid = 1 + i * 3 + (sqlite3_int64)(tdb_rand(&s) % 3);
    snprintf(zTenant, sizeof zTenant, "t%02d", (int)(tdb_rand(&s) % (uint64_t)nTenant));
    snprintf(zBody, sizeof zBody, "body of %lld", rowid);
    for (int pass = 0; pass < 2; pass++) {
      sqlite3_stmt *p = pass ? pR : pV;
      uint64_t s2 = s;
      sqlite3_bind_int64(p, 1, rowid);
      sqlite3_bind_blob(p, 2, e, sizeof e, SQLITE_STATIC);
      sqlite3_bind_text(p, 3, zTenant, -1, SQLITE_STATIC);
      if (tdb_rand(&s2) % 10 == 0) {
        sqlite3_bind_null(p, 4);
      } else {
        sqlite3_bind_text(p, 4, cats[tdb_rand(&s2) % 8], -1, SQLITE_STATIC);
      }
      if (tdb_rand(&s2) % 20 == 0) {
        sqlite3_bind_null(p, 5);
      } else {
        sqlite3_bind_int64(p, 5, (sqlite3_int64)(tdb_rand(&s2) % 1000));
      }
      if (tdb_rand(&s2) % 20 == 0) {
        sqlite3_bind_null(p, 6);
      } else {
        sqlite3_bind_double(p, 6, (double)(tdb_rand(&s2) % 1000) / 1000.0);
      }
      sqlite3_bind_int(p, 7, (int)(tdb_rand(&s2) % 2));
      sqlite3_bind_text(p, 8, zBody, -1, SQLITE_STATIC);
      if (sqlite3_step(p) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
      sqlite3_reset(p);
      if (pass) s = s2;
    }
    sqlite3_bind_int64(pG, 1, rowid);
    sqlite3_bind_int(pG, 2, (int)(tdb_rand(&s) % 10));
    sqlite3_step(pG);
    sqlite3_reset(pG);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pV);
  sqlite3_finalize(pR);
  sqlite3_finalize(pG);
}

/* One random filter, written for v (zV) and for ref (zR): they differ only
** where the reference must compute the distance itself. */
static void random_filter(uint64_t *s, const char *zMetric, int bDistance, sqlite3_str *v,
                          sqlite3_str *r) {
  static const char *const f[] = {
      "cat = 'a'", "cat != 'b'", "cat IN ('a', 'c', 'zz')", "cat IS NULL",
      "cat IS NOT NULL", "cat > 'c'", "cat <= 'B'", "cat LIKE 'a%'", "cat GLOB '[ab]'",
      "cat = 'A' COLLATE NOCASE", "cat IN ('A', 'b') COLLATE NOCASE", "cat IS 'd'",
      "cat IS NOT 'e'", "n < 500", "n >= 250", "n BETWEEN 100 AND 300", "n IN (1, 2, 3, 500, 501, 502, 503, 504, 505, 999)",
      "n = '42'", "n IS NULL", "n != 7", "n > 990.5", "score <= 0.5", "score > 0.25",
      "score != 0.5", "score IS NOT NULL", "score < '0.1'", "flag = 1", "flag = 0",
      "rowid IN (SELECT id FROM g WHERE grp = 3)", "rowid > 3000", "rowid IN (4, 5, 6, 7, 100, 101, 3001, 3002)",
      "rowid IN (SELECT id FROM g WHERE grp IN (1, 2)) AND rowid < 5000", "rowid = 1000",
      "cat IN (SELECT 'a' UNION SELECT 'f')", "cat IN ()", "n IN (SELECT grp * 100 FROM g)",
      "rowid LIKE '1%'", "rowid GLOB '*7'",
  };
  int nf = (int)(sizeof(f) / sizeof(f[0]));
  if (bDistance && tdb_rand(s) % 5 == 0) {
    /* a distance bound somewhere inside the usual range of the metric */
    double x = strcmp(zMetric, "cosine") == 0 ? 0.6 + 0.6 * tdb_uniform(s)
               : strcmp(zMetric, "l2") == 0   ? 1.5 + 1.0 * tdb_uniform(s)
                                              : -0.5 + tdb_uniform(s);
    const char *op = tdb_rand(s) % 2 ? "<=" : "<";
    sqlite3_str_appendf(v, " AND distance %s %.6f", op, x);
    sqlite3_str_appendf(r, " AND vg_distance(embedding, ?1, '%s') %s %.6f", zMetric, op, x);
    return;
  }
  const char *z = f[tdb_rand(s) % (uint64_t)nf];
  sqlite3_str_appendf(v, " AND %s", z);
  sqlite3_str_appendf(r, " AND %s", z);
}

/* Results of the graph searches against the exact ones, over a test. */
static int nApproxFound, nApproxWanted;

/* Every row returned by the graph search matches the filters and has its
** true distance. */
static void check_approx_rows(const char *zMetric, const float *q, int nV,
                              const char *zFilterR) {
  sqlite3_stmt *pM = tdb_prepare(db,
                                 "SELECT vg_distance(embedding, ?1, '%s') FROM ref WHERE rowid "
                                 "= ?2 %s",
                                 zMetric, zFilterR);
  for (int i = 0; i < nV; i++) {
    sqlite3_bind_blob(pM, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
    sqlite3_bind_int64(pM, 2, aIdV[i]);
    if (sqlite3_step(pM) != SQLITE_ROW) {
      fail_msg("%s%s: rowid %lld returned but does not match", zMetric, zFilterR, aIdV[i]);
    }
    if (fabs(sqlite3_column_double(pM, 0) - aDistV[i]) > 1e-5) {
      fail_msg("%s: rowid %lld distance %.9g, true %.9g", zMetric, aIdV[i], aDistV[i],
               sqlite3_column_double(pM, 0));
    }
    if (i > 0 && aDistV[i] < aDistV[i - 1]) fail_msg("not sorted by distance");
    sqlite3_reset(pM);
  }
  sqlite3_finalize(pM);
}

/* Run a KNN query with exact = 1, exact = 0 (the graph, whatever it costs) or
** neither (exact or graph by cost: iMode -1) and compare: exactly when
** exact = 1, else by count, validity and recall. */
static void compare_mode(const char *zMetric, const float *q, int k, const char *zFilterV,
                         const char *zFilterR, int iMode) {
  int bExact = iMode == 1;
  sqlite3_stmt *pV = tdb_prepare(db,
                                 "SELECT rowid, distance FROM v WHERE embedding MATCH ?1 AND "
                                 "k = %d %s%s ORDER BY distance",
                                 k, zFilterV, iMode == 1 ? " AND exact = 1" : iMode == 0 ? " AND exact = 0" : "");
  sqlite3_stmt *pR = tdb_prepare(db,
                                 "SELECT rowid, vg_distance(embedding, ?1, '%s') AS d FROM ref "
                                 "WHERE 1 %s ORDER BY d, rowid LIMIT %d",
                                 zMetric, zFilterR, k);
  sqlite3_stmt *pN = tdb_prepare(db, "SELECT count(*) FROM ref WHERE 1 %s", zFilterR);
  sqlite3_bind_blob(pV, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
  sqlite3_bind_blob(pR, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
  if (sqlite3_bind_parameter_count(pN)) sqlite3_bind_blob(pN, 1, q, sizeof(float) * DIMS, SQLITE_STATIC);
  int nV = tdb_collect(pV, aIdV, aDistV, MAX_ROWS);
  int nR = tdb_collect(pR, aIdR, aDistR, MAX_ROWS);
  assert_int_equal(sqlite3_step(pN), SQLITE_ROW);
  int nMatch = sqlite3_column_int(pN, 0);
  if (nV != nR || nV != (k < nMatch ? k : nMatch)) {
    fail_msg("%s k=%d%s (mode %d): %d rows, reference %d, %d rows match", zMetric, k,
             zFilterV, iMode, nV, nR, nMatch);
  }
  if (!bExact) {
    check_approx_rows(zMetric, q, nV, zFilterR);
    for (int i = 0; i < nR; i++) {
      for (int j = 0; j < nV; j++) nApproxFound += aIdV[j] == aIdR[i];
    }
    nApproxWanted += nR;
  }
  for (int i = 0; i < nV && bExact; i++) {
    if (fabs(aDistV[i] - aDistR[i]) > 1e-5) {
      fail_msg("%s k=%d%s: row %d distance %.9g vs %.9g", zMetric, k, zFilterV, i, aDistV[i],
               aDistR[i]);
    }
    if (i > 0 && aDistV[i] < aDistV[i - 1]) fail_msg("not sorted by distance");
    /* the same rows, except ties at the k-th distance may swap */
    int bFound = 0;
    for (int j = 0; j < nR && !bFound; j++) bFound = aIdR[j] == aIdV[i];
    if (!bFound && fabs(aDistV[i] - aDistR[nR - 1]) > 1e-5) {
      fail_msg("%s k=%d%s: rowid %lld (d=%.9g) is not among the reference results", zMetric,
               k, zFilterV, aIdV[i], aDistV[i]);
    }
  }
  sqlite3_finalize(pV);
  sqlite3_finalize(pR);
  sqlite3_finalize(pN);
}

static void compare_knn(const char *zMetric, const float *q, int k, const char *zFilterV,
                        const char *zFilterR) {
  compare_mode(zMetric, q, k, zFilterV, zFilterR, 1);
  compare_mode(zMetric, q, k, zFilterV, zFilterR, 0);
  compare_mode(zMetric, q, k, zFilterV, zFilterR, -1);
}

static void random_queries(const char *zMetric, int nQuery, int nTenant, uint64_t seed) {
  static const int ks[] = {1, 3, 10, 10, 50, 200, 5000};
  uint64_t s = seed;
  nApproxFound = nApproxWanted = 0;
  for (int iq = 0; iq < nQuery; iq++) {
    float q[DIMS];
    random_vector(&s, q, DIMS);
    int k = ks[tdb_rand(&s) % 7];
    sqlite3_str *v = sqlite3_str_new(0), *r = sqlite3_str_new(0);
    int t1 = (int)(tdb_rand(&s) % (uint64_t)nTenant), t2 = (int)(tdb_rand(&s) % (uint64_t)nTenant);
    if (tdb_rand(&s) % 3 == 0) {
      sqlite3_str_appendf(v, " AND tenant IN ('t%02d', 't%02d', 'nobody')", t1, t2);
      sqlite3_str_appendf(r, " AND tenant IN ('t%02d', 't%02d', 'nobody')", t1, t2);
    } else {
      sqlite3_str_appendf(v, " AND tenant = 't%02d'", t1);
      sqlite3_str_appendf(r, " AND tenant = 't%02d'", t1);
    }
    int nf = (int)(tdb_rand(&s) % 4);
    for (int i = 0; i < nf; i++) random_filter(&s, zMetric, 1, v, r);
    char *zV = sqlite3_str_finish(v), *zR = sqlite3_str_finish(r);
    compare_knn(zMetric, q, k, zV, zR);
    sqlite3_free(zV);
    sqlite3_free(zR);
  }
  double recall = (double)nApproxFound / nApproxWanted;
  print_message("%s: recall of the graph searches %.4f\n", zMetric, recall);
  assert_true(recall >= 0.97);
}

static void test_knn_filters_cosine(void **state) {
  (void)state;
  fill_tables("cosine", 12000, 2, 101);
  random_queries("cosine", 250, 2, 1);
}

static void test_knn_filters_l2(void **state) {
  (void)state;
  fill_tables("l2", 12000, 2, 202);
  random_queries("l2", 250, 2, 2);
}

static void test_knn_filters_ip(void **state) {
  (void)state;
  fill_tables("ip", 12000, 2, 303);
  random_queries("ip", 250, 2, 3);
}

/* Plain scans (no MATCH) with the same random filters return exactly the
** rows an ordinary table returns, in rowid order. */
static void test_scan_filters(void **state) {
  (void)state;
  fill_tables("l2", 3000, 3, 404);
  uint64_t s = 4;
  for (int iq = 0; iq < 300; iq++) {
    sqlite3_str *v = sqlite3_str_new(0), *r = sqlite3_str_new(0);
    if (tdb_rand(&s) % 2) {
      sqlite3_str_appendall(v, " AND tenant = 't01'");
      sqlite3_str_appendall(r, " AND tenant = 't01'");
    }
    int nf = 1 + (int)(tdb_rand(&s) % 3);
    for (int i = 0; i < nf; i++) random_filter(&s, "l2", 0, v, r);
    char *zV = sqlite3_str_finish(v), *zR = sqlite3_str_finish(r);
    sqlite3_stmt *pV = tdb_prepare(db, "SELECT rowid FROM v WHERE 1 %s", zV);
    sqlite3_stmt *pR = tdb_prepare(db, "SELECT rowid FROM ref WHERE 1 %s ORDER BY rowid", zR);
    int nV = tdb_collect(pV, aIdV, 0, MAX_ROWS), nR = tdb_collect(pR, aIdR, 0, MAX_ROWS);
    if (nV != nR) fail_msg("scan%s: %d rows, reference %d", zV, nV, nR);
    for (int i = 0; i < nV; i++) {
      if (aIdV[i] != aIdR[i]) fail_msg("scan%s: row %d is %lld, reference %lld", zV, i, aIdV[i], aIdR[i]);
    }
    sqlite3_finalize(pV);
    sqlite3_finalize(pR);
    sqlite3_free(zV);
    sqlite3_free(zR);
  }
}

/* Thousands of rows over 50 tenants: a query for one tenant never returns
** another tenant's row, and returns that tenant's true nearest rows. */
static void test_partition_isolation(void **state) {
  (void)state;
  fill_tables("l2", 8000, 50, 505);
  uint64_t s = 5;
  sqlite3_stmt *pOwner = tdb_prepare(db, "SELECT tenant FROM ref WHERE rowid = ?1");
  for (int iq = 0; iq < 200; iq++) {
    float q[DIMS];
    random_vector(&s, q, DIMS);
    int t = (int)(tdb_rand(&s) % 50), k = 1 + (int)(tdb_rand(&s) % 300);
    char zT[16];
    snprintf(zT, sizeof zT, "t%02d", t);
    sqlite3_stmt *pV = tdb_prepare(db,
                                   "SELECT rowid, distance, tenant FROM v WHERE embedding MATCH ?1 "
                                   "AND k = %d AND tenant = '%s'",
                                   k, zT);
    sqlite3_bind_blob(pV, 1, q, sizeof q, SQLITE_STATIC);
    while (sqlite3_step(pV) == SQLITE_ROW) {
      assert_string_equal((const char *)sqlite3_column_text(pV, 2), zT);
      sqlite3_bind_int64(pOwner, 1, sqlite3_column_int64(pV, 0));
      assert_int_equal(sqlite3_step(pOwner), SQLITE_ROW);
      assert_string_equal((const char *)sqlite3_column_text(pOwner, 0), zT);
      sqlite3_reset(pOwner);
    }
    sqlite3_finalize(pV);
    char *zF = sqlite3_mprintf(" AND tenant = '%s'", zT);
    compare_knn("l2", q, k, zF, zF);
    sqlite3_free(zF);
  }
  sqlite3_finalize(pOwner);
}

/* k far above sqlite-vec's 4096 cap. */
static void test_large_k(void **state) {
  (void)state;
  fill_tables("cosine", 12000, 1, 606);
  uint64_t s = 6;
  float q[DIMS];
  random_vector(&s, q, DIMS);
  compare_knn("cosine", q, 10000, " AND tenant = 't00'", " AND tenant = 't00'");
  compare_knn("cosine", q, 20000, " AND tenant = 't00'", " AND tenant = 't00'");
}

static void test_knn_errors(void **state) {
  (void)state;
  fill_tables("cosine", 50, 2, 707);
  const char *q = "'[1,0,0,0,0,0,0,0]'";
  tdb_expect_error(db, "v: a KNN query must name the partition: add tenant = ... or tenant IN",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3", q);
  tdb_expect_error(db, "must name the partition",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND tenant != 't00'", q);
  tdb_expect_error(db, "must name the partition",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND tenant > 't00'", q);
  tdb_expect_error(db, "v: a KNN query needs k: add AND k = N",
                   "SELECT * FROM v WHERE embedding MATCH %s AND tenant = 't00'", q);
  tdb_expect_error(db, "k must be at least 1 in a KNN query; got 0",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 0 AND tenant = 't00'", q);
  tdb_expect_error(db, "k must be at least 1 in a KNN query; got -5",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = -5 AND tenant = 't00'", q);
  tdb_expect_error(db, "k must be a positive integer; got the real 2.5",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 2.5 AND tenant = 't00'", q);
  tdb_expect_error(db, "k must be a positive integer; got NULL",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = NULL AND tenant = 't00'", q);
  tdb_expect_error(db, "k = 1000001 exceeds the maximum of 1000000",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 1000001 AND tenant = 't00'", q);
  tdb_expect_error(db, "k must be given as k = N",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k > 3 AND tenant = 't00'", q);
  tdb_expect_error(db, "the query vector (embedding MATCH ...) is NULL",
                   "SELECT * FROM v WHERE embedding MATCH NULL AND k = 3 AND tenant = 't00'");
  tdb_expect_error(db, "the query vector has 2 dimensions; embedding holds 8",
                   "SELECT * FROM v WHERE embedding MATCH '[1,2]' AND k = 3 AND tenant = 't00'");
  tdb_expect_error(db, "query vector: malformed JSON vector",
                   "SELECT * FROM v WHERE embedding MATCH '[1,2' AND k = 3 AND tenant = 't00'");
  tdb_expect_error(db, "query vector: element 0 is NaN",
                   "SELECT * FROM v WHERE embedding MATCH x'0000C07F' AND k = 3 AND tenant = 't00'");
  tdb_expect_error(db, "the query vector is zero",
                   "SELECT * FROM v WHERE embedding MATCH '[0,0,0,0,0,0,0,0]' AND k = 3 AND "
                   "tenant = 't00'");
  tdb_expect_error(db, "column body is auxiliary",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND tenant = 't00' AND "
                   "body = 'x'", q);
  tdb_expect_error(db, "this operator on column cat is not supported in a KNN query",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND tenant = 't00' AND "
                   "cat MATCH 'x'", q);
  tdb_expect_error(db, "takes exactly one MATCH on embedding",
                   "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND tenant = 't00' AND "
                   "embedding IS NOT NULL", q);
  tdb_expect_error(db, "distance only applies to KNN queries",
                   "SELECT * FROM v WHERE distance < 1");
  /* Settings are checked even where no partition can match: SQLite skips
  ** the search then, so they are checked when the query is planned. */
  static const char *const azNone[] = {"tenant = 't00' AND tenant = 't01'", "tenant = 'nobody'"};
  for (int i = 0; i < 2; i++) {
    tdb_expect_error(db, "v: ef must be at least 1 in a KNN query; got 0",
                     "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND ef = 0 AND %s", q, azNone[i]);
    tdb_expect_error(db, "v: ef must be at least 1 in a KNN query; got -1",
                     "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND ef = -1 AND %s", q, azNone[i]);
    tdb_expect_error(db, "v: exact must be 0 or 1; got the integer 7",
                     "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND exact = 7 AND %s", q, azNone[i]);
    tdb_expect_error(db, "v: k must be at least 1 in a KNN query; got 0",
                     "SELECT * FROM v WHERE embedding MATCH %s AND k = 0 AND %s", q, azNone[i]);
  }
  /* A bound parameter is checked when the query runs. */
  sqlite3_stmt *p = tdb_prepare(db, "SELECT * FROM v WHERE embedding MATCH %s AND k = 3 AND ef = ?1 AND %s", q,
                                azNone[1]);
  sqlite3_bind_int(p, 1, 0);
  assert_int_equal(sqlite3_step(p), SQLITE_ERROR);
  assert_non_null(strstr(sqlite3_errmsg(db), "ef must be at least 1"));
  sqlite3_finalize(p);
  /* LIKE and GLOB on rowid filter a KNN query, as the docs list them. */
  compare_knn("cosine", (const float[DIMS]){1, 0, 0, 0, 0, 0, 0, 0}, 5, " AND tenant = 't00' AND rowid LIKE '1%'",
              " AND tenant = 't00' AND rowid LIKE '1%'");
  /* the failed queries left the table as it was */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v"), 50);
}

/* Elements are bounded so that no distance overflows float32: what would
** have summed to Inf or NaN is refused, and distances at the bound are
** finite and right. */
static void test_distance_magnitude(void **state) {
  (void)state;
  tdb_expect_error(db, "vg_distance: element 0 (1e20) is beyond +/-1e16",
                   "SELECT vg_distance('[1e20]', '[-1e20]')");
  tdb_expect_error(db, "vg_vector: element 1 (-1e17) is beyond +/-1e16", "SELECT vg_vector('[1, -1e17]')");
  tdb_expect_error(db, "vg_vector: element 1 (1e+17) is beyond +/-1e16", "SELECT vg_vector(x'0000803fbca2b15b')");
  assert_true(fabs(tdb_double(db, "SELECT vg_distance('[1e16]', '[-1e16]')") / 2e16 - 1) < 1e-6);
  tdb_exec(db, "CREATE VIRTUAL TABLE kn USING vg_hnsw(embedding float[2] distance_metric=ip)");
  tdb_exec(db, "INSERT INTO kn(rowid, embedding) VALUES (1, '[2, -2]'), (2, '[1, 1]')");
  tdb_expect_error(db, "kn: query vector: element 0 (3e38) is beyond +/-1e16",
                   "SELECT rowid FROM kn WHERE embedding MATCH '[3e38, 3e38]' AND k = 2 AND distance = 2.0");
  tdb_expect_error(db, "kn: column embedding: element 0 (3e38) is beyond +/-1e16",
                   "INSERT INTO kn(rowid, embedding) VALUES (3, '[3e38, -3e38]')");
  /* At the bound: -dot of [1e16, 1e16] and [2, -2] is exactly 0, of
  ** [1, 1] -2e16; every distance real, every filter exact. */
  tdb_expect_text(db, "2:-2.00000005451284e+16 1:0.0", /* float32 1e16 is 10000000272564224 */
                  "SELECT group_concat(rowid || ':' || distance, ' ') FROM kn WHERE embedding MATCH '[1e16, 1e16]'"
                  " AND k = 2");
  tdb_expect_text(db, "1", "SELECT group_concat(rowid) FROM kn WHERE embedding MATCH '[1e16, 1e16]' AND k = 2"
                           " AND distance = 0");
  tdb_exec(db, "DROP TABLE kn");
}

/* SQLite lets a virtual table omit only its first 16 constraints and checks
** the rest itself; each LIKE brings three (LIKE, >=, <), and SQLite lists
** MATCH last.  A KNN query with many conditions must still answer, and
** answer right, whatever lands past the 16th. */
static void test_many_conditions(void **state) {
  (void)state;
  fill_tables("l2", 300, 2, 909);
  static const char *const azExtra[] = {
      "",
      " AND tenant LIKE 'T00' AND tenant LIKE 'T00' AND tenant LIKE 'T00' AND tenant LIKE 'T00' AND tenant LIKE 'T00'",
      " AND tenant LIKE 'T00' AND cat LIKE '%' AND cat GLOB '*' AND tenant LIKE 't%' AND cat LIKE '_' AND n >= 0"
      " AND rowid > 0 AND score >= 0 AND flag IN (0, 1)",
  };
  float q[DIMS] = {0.5f, -0.25f, 0, 0, 0.5f, 0, 0, 1};
  for (size_t i = 0; i < sizeof azExtra / sizeof azExtra[0]; i++) {
    for (int bDist = 0; bDist <= 1; bDist++) {
      char *zF = sqlite3_mprintf(" AND tenant = 't00'%s%s", azExtra[i], bDist ? " AND distance < 2.2" : "");
      char *zR = sqlite3_mprintf(" AND tenant = 't00'%s%s", azExtra[i],
                                 bDist ? " AND vg_distance(embedding, ?1, 'l2') < 2.2" : "");
      compare_knn("l2", q, 7, zF, zR);
      sqlite3_free(zF);
      sqlite3_free(zR);
    }
  }
  /* k, ef and exact read back as given, also past the 16th condition. */
  tdb_expect_text(db, "7|9|0",
                  "SELECT k || '|' || ef || '|' || exact FROM v WHERE embedding MATCH '[1,0,0,0,0,0,0,0]' AND k = 7"
                  " AND ef = 9 AND exact = 0 AND tenant = 't00'%s LIMIT 1",
                  azExtra[1]);
  /* MATCH where SQLite would have to evaluate it for every row. */
  tdb_expect_error(db, "v: a KNN query must name the partition",
                   "SELECT rowid FROM v WHERE embedding MATCH '[1,0,0,0,0,0,0,0]' OR cat = 'a'");
  tdb_expect_error(db, "v: MATCH on embedding makes a KNN query, with AND k = N and the partition named",
                   "SELECT embedding MATCH '[1,0,0,0,0,0,0,0]' FROM v LIMIT 1");
}

/* != and IS NOT under a collation: SQLite does not tell a virtual table
** their collation, so the search applies them under BINARY (which keeps
** more rows) and SQLite checks the rows again. */
static void test_not_equal_collation(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE nc USING vg_hnsw(e float[2], cat text)");
  tdb_exec(db, "INSERT INTO nc(rowid, e, cat) VALUES (1, '[1,0]', 'y'), (2, '[1,0.1]', 'Y'), (3, '[1,0.2]', 'x'),"
               " (4, '[1,0.3]', 'X')");
  static const char *const azQ[] = {
      "SELECT group_concat(cat) FROM nc WHERE e MATCH '[1,0]' AND k = 10 AND cat != 'y' COLLATE NOCASE",
      "SELECT group_concat(cat) FROM nc WHERE e MATCH '[1,0]' AND k = 10 AND cat IS NOT 'y' COLLATE NOCASE",
      "SELECT group_concat(cat) FROM nc WHERE cat != 'y' COLLATE NOCASE",
      "SELECT group_concat(cat) FROM nc WHERE cat IS NOT 'y' COLLATE NOCASE",
  };
  for (int i = 0; i < 4; i++) tdb_expect_text(db, "x,X", "%s", azQ[i]);
  tdb_expect_text(db, "Y,x,X", "SELECT group_concat(cat) FROM nc WHERE e MATCH '[1,0]' AND k = 10 AND cat != 'y'");
  tdb_exec(db, "DROP TABLE nc");
}

/* A filter on distance includes its bound, exactly. */
static void test_distance_bound_inclusive(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE kb USING vg_hnsw(embedding float[4])");
  tdb_exec(db, "INSERT INTO kb(rowid, embedding) VALUES (1, '[1,2,3,4]'), (2, '[0,0,0,9]')");
  for (int exact = 0; exact <= 1; exact++) {
    tdb_expect_text(db, "1", "SELECT group_concat(rowid) FROM kb WHERE embedding MATCH '[1,2,3,4]' AND k = 5"
                             " AND distance <= 0 AND exact = %d", exact);
    tdb_expect_text(db, "1", "SELECT group_concat(rowid) FROM kb WHERE embedding MATCH '[1,2,3,4]' AND k = 5"
                             " AND distance = 0 AND exact = %d", exact);
    tdb_expect_text(db, "0", "SELECT count(*) FROM kb WHERE embedding MATCH '[1,2,3,4]' AND k = 5"
                             " AND distance < 0 AND exact = %d", exact);
  }
  tdb_exec(db, "DROP TABLE kb");
}

/* On a graph too poor to find the filtered rows (M = 2, one candidate), a
** graph search must fall back to brute force rather than return fewer rows
** than match: with x the 60th-nearest distance among kind = 1, k = 50 rows
** with distance < x exist, and graph search must return as many as exact
** search does. */
static void test_filtered_graph_fallback(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE poor USING vg_hnsw(embedding float[8], kind integer,"
               " hnsw_m=2, ef_construction=1, ef_search=1)");
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO poor(rowid, embedding, kind) VALUES (?1, ?2, ?1 %% 2)");
  uint64_t s = 4242;
  tdb_exec(db, "BEGIN");
  for (int i = 1; i <= 3000; i++) {
    float e[DIMS];
    random_vector(&s, e, DIMS);
    sqlite3_bind_int(pIns, 1, i);
    sqlite3_bind_blob(pIns, 2, e, sizeof e, SQLITE_STATIC);
    if (sqlite3_step(pIns) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(pIns);
  }
  tdb_exec(db, "COMMIT");
  sqlite3_finalize(pIns);
  sqlite3_stmt *pX = tdb_prepare(db, "SELECT distance FROM poor WHERE embedding MATCH ?1 AND k = 60 AND kind = 1"
                                     " AND exact = 1");
  sqlite3_stmt *apCount[2];
  for (int exact = 0; exact <= 1; exact++) {
    apCount[exact] = tdb_prepare(db, "SELECT count(*) FROM poor WHERE embedding MATCH ?1 AND k = 50 AND kind = 1"
                                     " AND distance < ?2 AND exact = %d", exact);
  }
  for (int iq = 0; iq < 200; iq++) {
    float q[DIMS];
    random_vector(&s, q, DIMS);
    sqlite3_bind_blob(pX, 1, q, sizeof q, SQLITE_STATIC);
    double x = 0;
    int n = 0;
    while (sqlite3_step(pX) == SQLITE_ROW) {
      x = sqlite3_column_double(pX, 0);
      n++;
    }
    sqlite3_reset(pX);
    assert_int_equal(n, 60);
    int anCount[2];
    for (int exact = 0; exact <= 1; exact++) {
      sqlite3_bind_blob(apCount[exact], 1, q, sizeof q, SQLITE_STATIC);
      sqlite3_bind_double(apCount[exact], 2, x);
      assert_int_equal(sqlite3_step(apCount[exact]), SQLITE_ROW);
      anCount[exact] = sqlite3_column_int(apCount[exact], 0);
      sqlite3_reset(apCount[exact]);
    }
    assert_int_equal(anCount[1], 50);
    if (anCount[0] != anCount[1]) fail_msg("query %d: graph search %d rows, exact %d", iq, anCount[0], anCount[1]);
  }
  sqlite3_finalize(pX);
  sqlite3_finalize(apCount[0]);
  sqlite3_finalize(apCount[1]);
  tdb_exec(db, "DROP TABLE poor");
}

/* A filter on a joined ordinary table applies inside the search: the k
** nearest rows of the subset, not the subset of the k nearest. */
static void test_rowid_in_subquery_inside_search(void **state) {
  (void)state;
  fill_tables("l2", 2000, 1, 808);
  tdb_exec(db, "CREATE TABLE IF NOT EXISTS pick(id INTEGER PRIMARY KEY)");
  tdb_exec(db, "DELETE FROM pick; INSERT INTO pick SELECT rowid FROM ref WHERE rowid %% 97 = 0");
  uint64_t s = 8;
  float q[DIMS];
  random_vector(&s, q, DIMS);
  sqlite3_stmt *p = tdb_prepare(db,
                                "SELECT rowid FROM v WHERE embedding MATCH ?1 AND k = 5 AND "
                                "tenant = 't00' AND rowid IN (SELECT id FROM pick)");
  sqlite3_bind_blob(p, 1, q, sizeof q, SQLITE_STATIC);
  int n = tdb_collect(p, aIdV, 0, MAX_ROWS);
  sqlite3_finalize(p);
  assert_int_equal(n, 5);
  for (int i = 0; i < n; i++) assert_int_equal(aIdV[i] % 97, 0);
  compare_knn("l2", q, 5, " AND tenant = 't00' AND rowid IN (SELECT id FROM pick)",
              " AND tenant = 't00' AND rowid IN (SELECT id FROM pick)");
  tdb_exec(db, "DROP TABLE pick");
}

/* Reading every column of KNN results, and a table without a partition key. */
static void test_result_columns(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE plain USING vg_hnsw(e float[2], tag text, +note)");
  tdb_exec(db, "INSERT INTO plain(rowid, e, tag, note) VALUES (1, '[0,0]', 'x', 'origin'), "
               "(2, '[3,4]', 'y', 12.5), (3, '[1,1]', NULL, x'beef')");
  char *z = tdb_text(db,
                     "SELECT group_concat(rowid || ':' || distance || ':' || quote(tag) || ':' || "
                     "quote(note) || ':' || vg_vector_json(e), ' ') FROM plain WHERE e MATCH "
                     "'[0,0]' AND k = 3");
  assert_string_equal(z, "1:0.0:'x':'origin':[0,0] 3:1.41421353816986:NULL:X'BEEF':[1,1] "
                         "2:5.0:'y':12.5:[3,4]");
  sqlite3_free(z);
  tdb_exec(db, "DROP TABLE plain");
}

/* Statements the table keeps between queries: two cursors with the same
** scan at once (a self-join) each get their own; more query shapes than are
** kept still give right answers; renaming and dropping forget them. */
static void test_kept_statements(void **state) {
  (void)state;
  tdb_exec(db, "CREATE VIRTUAL TABLE kept USING vg_hnsw(e float[2], tag text partition key, "
               "n integer);"
               "CREATE TABLE kept_ref(e BLOB, tag TEXT, n INTEGER)");
  for (int i = 1; i <= 60; i++) {
    tdb_exec(db, "INSERT INTO kept(rowid, e, tag, n) VALUES (%d, '[%d,%d]', 't%d', %d);"
                 "INSERT INTO kept_ref(rowid, e, tag, n) SELECT rowid, e, tag, n FROM kept "
                 "WHERE rowid = %d", i, i % 7, i % 5, i % 3, i % 4, i);
  }
  /* the inner scan has the outer one's constraints, so the same SQL */
  const char *zJoin = "SELECT count(*) || ',' || sum(a.rowid * b.rowid + b.n) FROM %s a, %s b "
                      "WHERE a.tag = 't1' AND b.tag = 't1'";
  char *zWant = tdb_text(db, zJoin, "kept_ref", "kept_ref");
  char *zGot = tdb_text(db, zJoin, "kept", "kept");
  assert_string_equal(zGot, zWant);
  assert_string_equal(zGot, "400,348700"); /* (sum of 1, 4, ..., 58)^2 + 20 * 30 */
  sqlite3_free(zGot);
  sqlite3_free(zWant);
  /* a KNN query per n and tag: 12 shapes cycled through, more than are kept */
  for (int round = 0; round < 3; round++) {
    for (int n = 0; n < 4; n++) {
      for (int t = 0; t < 3; t++) {
        const char *zFilter = t == 0 ? "n = %d" : t == 1 ? "n >= %d" : "n IN (%d, 99)";
        char *zF = sqlite3_mprintf(zFilter, n);
        zWant = tdb_text(db, "SELECT group_concat(rowid) FROM (SELECT rowid FROM kept_ref WHERE "
                             "tag = 't2' AND %s ORDER BY vg_distance(e, '[3,3]'), rowid LIMIT 4)", zF);
        zGot = tdb_text(db, "SELECT group_concat(rowid) FROM kept WHERE e MATCH '[3,3]' AND "
                            "k = 4 AND tag = 't2' AND %s", zF);
        assert_string_equal(zGot, zWant);
        sqlite3_free(zGot);
        sqlite3_free(zWant);
        sqlite3_free(zF);
      }
    }
  }
  tdb_exec(db, "ALTER TABLE kept RENAME TO kept2");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM kept2 WHERE e MATCH '[3,3]' AND k = 4 AND "
                               "tag = 't2' AND n = 1"), 4);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM kept2 WHERE tag = 't0'"), 20);
  tdb_exec(db, "DROP TABLE kept2; DROP TABLE kept_ref");
  tdb_expect_error(db, "no such table", "SELECT count(*) FROM kept2");
}

/* The same filtered search again after each kind of change: the mask of
** matching rows a partition remembers between queries must follow every
** write, rollback and other connection's commit. */
static void expect_filtered_as_ref(sqlite3 *dbv, const char *zStep) {
  const char *zFilter = "tag = 'a' AND n = 3";
  char *zWant = tdb_text(dbv, "SELECT coalesce(group_concat(rowid), '') FROM (SELECT rowid FROM "
                              "mref WHERE %s ORDER BY vg_distance(e, '[0,0]'), rowid LIMIT 5)",
                         zFilter);
  char *zGot = tdb_text(dbv, "SELECT coalesce(group_concat(rowid), '') FROM m WHERE e MATCH "
                             "'[0,0]' AND k = 5 AND %s", zFilter);
  if (strcmp(zGot, zWant) != 0) fail_msg("after %s: %s, reference %s", zStep, zGot, zWant);
  sqlite3_free(zGot);
  sqlite3_free(zWant);
}

static void test_filter_masks_follow_writes(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("masks.db");
  sqlite3 *a = tdb_open(zPath);
  tdb_exec(a, "CREATE VIRTUAL TABLE m USING vg_hnsw(e float[2], tag text partition key, "
              "n integer); CREATE TABLE mref(e BLOB, tag TEXT, n INTEGER)");
  tdb_exec(a, "BEGIN");
  for (int i = 1; i <= 300; i++) {
    tdb_exec(a, "INSERT INTO m(rowid, e, tag, n) VALUES (%d, '[%d,%d]', 'a', %d);"
                "INSERT INTO mref(rowid, e, tag, n) VALUES (%d, vg_vector('[%d,%d]'), 'a', %d)",
             i, i % 17, i % 13, i % 10, i, i % 17, i % 13, i % 10);
  }
  tdb_exec(a, "COMMIT");
  static const char *const azChange[] = {
      "UPDATE %s SET n = 3 WHERE rowid = 14",               /* a near row starts to match */
      "UPDATE %s SET n = 4 WHERE rowid = 3",                /* a matching row stops */
      "INSERT INTO %s(rowid, e, tag, n) VALUES (999, vg_vector('[0,0]'), 'a', 3)",
      "DELETE FROM %s WHERE rowid = 999",
      "UPDATE %s SET tag = 'b' WHERE rowid = 13",            /* leaves the partition */
      "UPDATE %s SET e = vg_vector('[0,1]') WHERE rowid = 23",
  };
  expect_filtered_as_ref(a, "the first search");
  expect_filtered_as_ref(a, "the same search again");
  for (size_t i = 0; i < sizeof(azChange) / sizeof(azChange[0]); i++) {
    tdb_exec(a, azChange[i], "m");
    tdb_exec(a, azChange[i], "mref");
    expect_filtered_as_ref(a, azChange[i]);
  }
  /* inside a transaction that is rolled back */
  tdb_exec(a, "BEGIN; UPDATE m SET n = 3 WHERE n = 5; UPDATE mref SET n = 3 WHERE n = 5");
  expect_filtered_as_ref(a, "an update inside a transaction");
  tdb_exec(a, "ROLLBACK");
  expect_filtered_as_ref(a, "the rollback");
  /* another connection's commit */
  sqlite3 *b = tdb_open(zPath);
  tdb_exec(b, "UPDATE m SET n = 3 WHERE rowid IN (26, 52); UPDATE mref SET n = 3 WHERE rowid IN (26, 52)");
  expect_filtered_as_ref(a, "another connection's update");
  tdb_close(b);
  tdb_close(a);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_knn_filters_cosine),
      cmocka_unit_test(test_knn_filters_l2),
      cmocka_unit_test(test_knn_filters_ip),
      cmocka_unit_test(test_scan_filters),
      cmocka_unit_test(test_partition_isolation),
      cmocka_unit_test(test_large_k),
      cmocka_unit_test(test_knn_errors),
      cmocka_unit_test(test_rowid_in_subquery_inside_search),
      cmocka_unit_test(test_result_columns),
      cmocka_unit_test(test_kept_statements),
      cmocka_unit_test(test_filter_masks_follow_writes),
      cmocka_unit_test(test_distance_magnitude),
      cmocka_unit_test(test_many_conditions),
      cmocka_unit_test(test_not_equal_collation),
      cmocka_unit_test(test_distance_bound_inclusive),
      cmocka_unit_test(test_filtered_graph_fallback),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
