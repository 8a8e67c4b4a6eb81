/*
** bench_exact.c — exact KNN search: vecguard's vg_hnsw (queries with
** exact = 1) against sqlite-vec's vec0, in the same process, on the same
** data, in the same run.  Approximate search is bench_ann's.
**
**   1. 100,000 generated 384-dimensional vectors, cosine, one partition:
**      k=10 queries unfiltered, with a 1% metadata filter and a 10% one.
**   2. Fashion-MNIST (60,000 x 784, L2) from ../shared/data, with recall@10
**      against its ground truth (an exact search must reach 1.0).
**
** Both tables live in database files in $VG_BENCH_DIR with SQLite's default
** settings, or in memory with VG_BENCH_MEMORY=1 (sqlite-vec reads its chunks
** faster from an in-memory database, so this is the harder comparison).  The two extensions' answers are compared row for row: sqlite-vec
** is an independent exact implementation.  Environment: VG_EXTENSION (the
** vecguard .so), VG_SQLITE_VEC (sqlite-vec's vec0.so; skipped when unset),
** VG_SHARED, VG_BENCH_DIR, VG_BENCH_ROWS (default 100000).
*/
#include <math.h>

#include "benchutil.h"

#define K 10

typedef struct Side {
  const char *zName;
  sqlite3 *db;
} Side;

static const char *zBenchDir;
static int bMemory;

static char *db_path(const char *zName) {
  if (bMemory) return sqlite3_mprintf(":memory:");
  return sqlite3_mprintf("%s/bench-exact-%s.db", zBenchDir, zName);
}

/* Fill a table through "INSERT ... VALUES (?1 rowid, ?2 vector, ?3 cat)". */
static double fill(sqlite3 *db, const char *zInsert, const float *aBase, int n, int d,
                   const int *aCat) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zInsert, -1, &p, 0) != SQLITE_OK) {
    bench_die(zInsert, sqlite3_errmsg(db));
  }
  double t0 = bench_now();
  bench_exec(db, "BEGIN");
  for (int i = 0; i < n; i++) {
    sqlite3_bind_int64(p, 1, i + 1);
    sqlite3_bind_blob(p, 2, aBase + (size_t)i * d, d * 4, SQLITE_STATIC);
    sqlite3_bind_int(p, 3, aCat ? aCat[i] : 0);
    if (sqlite3_step(p) != SQLITE_DONE) bench_die("insert", sqlite3_errmsg(db));
    sqlite3_reset(p);
  }
  bench_exec(db, "COMMIT");
  sqlite3_finalize(p);
  return n / (bench_now() - t0);
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) bench_die(zSql, sqlite3_errmsg(db));
  return p;
}

/* Share of result positions where both engines return the same rowid. */
static double agreement(const int64_t *a, const int64_t *b, int n) {
  int same = 0;
  for (int i = 0; i < n; i++) same += a[i] == b[i];
  return (double)same / n;
}

static void line(const char *zCase, double vg, double vec) {
  if (vec > 0) {
    printf("  %-34s vecguard %9.1f q/s   sqlite-vec %9.1f q/s   ratio %5.2fx\n", zCase, vg,
           vec, vg / vec);
  } else {
    printf("  %-34s vecguard %9.1f q/s\n", zCase, vg);
  }
}

static void bench_generated(const char *zVg, const char *zVec, int n) {
  const int d = 384, nq = 40;
  uint64_t s = 20261121;
  float *aBase = malloc(sizeof(float) * (size_t)n * d);
  float *aQ = malloc(sizeof(float) * (size_t)nq * d);
  int *aCat = malloc(sizeof(int) * (size_t)n);
  for (size_t i = 0; i < (size_t)n * d; i++) aBase[i] = bench_uniform(&s);
  for (size_t i = 0; i < (size_t)nq * d; i++) aQ[i] = bench_uniform(&s);
  for (int i = 0; i < n; i++) aCat[i] = (int)(bench_rand(&s) % 100);
  printf("\n[1] generated: %d x %d, cosine, one partition, k=%d, %d queries\n", n, d, K, nq);

  char *zPath = db_path("vg");
  Side vg = {"vecguard", bench_open(zPath, zVg)};
  bench_exec(vg.db, "CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[384] "
                    "distance_metric=cosine, tenant text partition key, cat integer)");
  double insVg = fill(vg.db, "INSERT INTO t(rowid, embedding, tenant, cat) VALUES (?1, ?2, "
                             "'t0', ?3)", aBase, n, d, aCat);
  Side vec = {"sqlite-vec", 0};
  double insVec = 0;
  if (zVec) {
    char *zVecPath = db_path("vec");
    vec.db = bench_open(zVecPath, zVec);
    sqlite3_free(zVecPath);
    bench_exec(vec.db, "CREATE VIRTUAL TABLE t USING vec0(tenant text partition key, cat "
                       "integer, embedding float[384] distance_metric=cosine)");
    insVec = fill(vec.db, "INSERT INTO t(rowid, embedding, tenant, cat) VALUES (?1, ?2, "
                          "'t0', ?3)", aBase, n, d, aCat);
  }
  printf("  insert (one transaction)           vecguard %9.0f rows/s", insVg);
  if (zVec) printf("   sqlite-vec %9.0f rows/s", insVec);
  printf("\n");

  static const struct {
    const char *zCase, *zWhere;
  } cases[] = {
      {"unfiltered", ""},
      {"cat = 7 (1% of rows)", " AND cat = 7"},
      {"cat < 10 (10% of rows)", " AND cat < 10"},
  };
  int64_t *aVg = malloc(sizeof(int64_t) * nq * K), *aVec = malloc(sizeof(int64_t) * nq * K);
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    char *zSql = sqlite3_mprintf("SELECT rowid, distance FROM t WHERE embedding MATCH ?1 AND "
                                 "k = %d AND tenant = 't0'%s",
                                 K, cases[c].zWhere);
    char *zSqlVg = sqlite3_mprintf("%s AND exact = 1", zSql);
    sqlite3_stmt *pVg = prepare(vg.db, zSqlVg);
    sqlite3_free(zSqlVg);
    bench_qps(pVg, aQ, 1, d, K, 0); /* warm up; bench_ann times a first query */
    double qVg = bench_qps(pVg, aQ, nq, d, K, aVg);
    double qVec = 0;
    if (vec.db) {
      sqlite3_stmt *pVec = prepare(vec.db, zSql);
      bench_qps(pVec, aQ, 1, d, K, 0); /* warm up */
      qVec = bench_qps(pVec, aQ, nq, d, K, aVec);
      sqlite3_finalize(pVec);
    }
    line(cases[c].zCase, qVg, qVec);
    if (vec.db) {
      printf("  %-34s same rowids as sqlite-vec at %.1f%% of result positions\n", "",
             100.0 * agreement(aVg, aVec, nq * K));
    }
    sqlite3_finalize(pVg);
    sqlite3_free(zSql);
  }
  sqlite3_close(vg.db);
  if (vec.db) sqlite3_close(vec.db);
  if (!bMemory) unlink(zPath);
  sqlite3_free(zPath);
  zPath = db_path("vec");
  if (!bMemory) unlink(zPath);
  sqlite3_free(zPath);
  free(aBase);
  free(aQ);
  free(aCat);
  free(aVg);
  free(aVec);
}

static void bench_fashion(const char *zVg, const char *zVec, const char *zShared) {
  char *zBase = sqlite3_mprintf("%s/data/ann-fashion-mnist-784/fashion-mnist-784_base.bvecs", zShared);
  char *zQuery = sqlite3_mprintf("%s/data/ann-fashion-mnist-784/fashion-mnist-784_query_shared.bvecs", zShared);
  char *zGt = sqlite3_mprintf("%s/data/ann-fashion-mnist-784/fashion-mnist-784_groundtruth_dist_shared.fvecs", zShared);
  int n, d, nq, dq, ng, dg;
  float *aBase = bench_read_vecs(zBase, 1, &n, &d);
  float *aQ = bench_read_vecs(zQuery, 1, &nq, &dq);
  float *aGt = bench_read_vecs(zGt, 4, &ng, &dg);
  if (aBase == 0 || aQ == 0 || aGt == 0) {
    printf("\n[2] fashion-mnist: data not found under %s, skipped\n", zShared);
    return;
  }
  nq = 200; /* of the 5,000 shared queries */
  printf("\n[2] fashion-mnist-784: %d x %d, l2, k=%d, %d queries\n", n, d, K, nq);
  char *zPath = db_path("vg2");
  sqlite3 *dbVg = bench_open(zPath, zVg);
  bench_exec(dbVg, "CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[784])");
  fill(dbVg, "INSERT INTO t(rowid, embedding) VALUES (?1, ?2)", aBase, n, d, 0);
  sqlite3 *dbVec = 0;
  if (zVec) {
    char *zVecPath = db_path("vec2");
    dbVec = bench_open(zVecPath, zVec);
    sqlite3_free(zVecPath);
    bench_exec(dbVec, "CREATE VIRTUAL TABLE t USING vec0(embedding float[784])");
    fill(dbVec, "INSERT INTO t(rowid, embedding) VALUES (?1, ?2)", aBase, n, d, 0);
  }
  const char *zSql = "SELECT rowid, distance FROM t WHERE embedding MATCH ?1 AND k = 10";
  int64_t *aVg = malloc(sizeof(int64_t) * nq * K), *aVec = malloc(sizeof(int64_t) * nq * K);
  sqlite3_stmt *pVg = prepare(dbVg, "SELECT rowid, distance FROM t WHERE embedding MATCH ?1 AND "
                                    "k = 10 AND exact = 1");
  bench_qps(pVg, aQ, 1, d, K, 0);
  double qVg = bench_qps(pVg, aQ, nq, d, K, aVg);
  double qVec = 0;
  if (dbVec) {
    sqlite3_stmt *pVec = prepare(dbVec, zSql);
    bench_qps(pVec, aQ, 1, d, K, 0);
    qVec = bench_qps(pVec, aQ, nq, d, K, aVec);
    sqlite3_finalize(pVec);
  }
  /* ann-benchmarks' rule: a result counts if its true distance is within
  ** 1e-3 of the k-th true distance (robust to ties) */
  int hits = 0;
  for (int i = 0; i < nq; i++) {
    double kth = aGt[(size_t)i * dg + K - 1];
    for (int j = 0; j < K; j++) {
      int64_t id = aVg[(size_t)i * K + j] - 1;
      if (id < 0) continue;
      double s2 = 0;
      for (int t = 0; t < d; t++) {
        double x = (double)aBase[(size_t)id * d + t] - aQ[(size_t)i * d + t];
        s2 += x * x;
      }
      hits += sqrt(s2) <= kth + 1e-3;
    }
  }
  line("unfiltered", qVg, qVec);
  printf("  %-34s recall@10 = %.4f against the ground truth\n", "", (double)hits / (nq * K));
  if (dbVec) {
    printf("  %-34s same rowids as sqlite-vec at %.1f%% of result positions\n", "",
           100.0 * agreement(aVg, aVec, nq * K));
  }
  sqlite3_finalize(pVg);
  sqlite3_close(dbVg);
  if (dbVec) sqlite3_close(dbVec);
  if (!bMemory) unlink(zPath);
  sqlite3_free(zPath);
  zPath = db_path("vec2");
  if (!bMemory) unlink(zPath);
  sqlite3_free(zPath);
  free(aBase);
  free(aQ);
  free(aGt);
  free(aVg);
  free(aVec);
  sqlite3_free(zBase);
  sqlite3_free(zQuery);
  sqlite3_free(zGt);
}

int main(void) {
  const char *zVg = getenv("VG_EXTENSION");
  const char *zVec = getenv("VG_SQLITE_VEC");
  const char *zShared = getenv("VG_SHARED");
  const char *zRows = getenv("VG_BENCH_ROWS");
  zBenchDir = getenv("VG_BENCH_DIR");
  if (zVg == 0) bench_die("VG_EXTENSION is not set (run make bench)", 0);
  if (zBenchDir == 0) zBenchDir = "/tmp";
  if (zShared == 0) zShared = "../shared";
  if (zVec && zVec[0] == 0) zVec = 0;
  bMemory = getenv("VG_BENCH_MEMORY") && atoi(getenv("VG_BENCH_MEMORY"));
  printf("bench_exact: exact k-NN, vecguard vs sqlite-vec 0.1.9 (SQLite %s, %s databases)\n",
         sqlite3_libversion(), bMemory ? "in-memory" : "file");
  if (zVec == 0) printf("(sqlite-vec not available: vecguard figures only)\n");
  bench_generated(zVg, zVec, zRows ? atoi(zRows) : 100000);
  bench_fashion(zVg, zVec, zShared);
  return 0;
}
