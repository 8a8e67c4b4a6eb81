/*
** bench_ann.c — approximate k-NN through vg_hnsw against the peers, in one
** run on the same data: vectorlite 0.2.0 (HNSW in SQLite), hnswlib-node (the
** in-memory HNSW library, run as a node child process on data files this
** program writes), and sqlite-vec 0.1.9 (exact search in SQLite).
**
** Data sets:
**   [1] fashion-mnist-784 from ../shared/data (60,000 x 784, L2), 1,000 of its
**       queries, scored against its ground truth;
**   [2] 100,000 generated 384-dimensional vectors (cosine): 100 clusters, each
**       a random 16-dimensional subspace around a random centre, plus noise —
**       embedding-like data of low intrinsic dimension — with 1,000 queries
**       from the same distribution, ground truth by brute force here.
**
** For each: build throughput (one transaction; same M = 16 and
** ef_construction = 200 everywhere), a recall@10 / queries-per-second table
** across ef, and ratios at equal recall (each engine's queries/second at a
** recall level, interpolated between its neighbouring ef points).  For the
** 100k set also: file size and heap memory, first query after opening the
** file, the exact/graph crossover under filters, and the file size over ten
** rounds of 30% delete/insert churn (on 20,000 of its rows).
**
** recall@10 follows ann-benchmarks: a returned row counts when its true
** distance is within eps of the 10th true distance (1e-3 for L2 on integer
** pixel data, 1e-5 for cosine).
**
** All SQLite databases are files in $VG_BENCH_DIR with PRAGMA cache_size of
** 256 MiB, except where a fresh connection with SQLite's defaults is timed.
** Environment: VG_EXTENSION, VG_VECTORLITE, VG_SQLITE_VEC, VG_HNSWLIB_NODE
** (a node_modules folder), VG_SHARED, VG_BENCH_DIR, VG_BENCH_SRC (this
** folder).  Peers that are not given are left out.
*/
#include <math.h>
#include <malloc.h>
#include <sys/stat.h>

#include "benchutil.h"

#define K 10
#define M_LINKS 16
#define EF_CONSTRUCTION 200
#define MAX_POINTS 16

static const int aEf[] = {10, 16, 24, 32, 48, 64, 96, 128, 256, 512};
#define N_EF ((int)(sizeof(aEf) / sizeof(aEf[0])))

typedef struct Dataset {
  const char *zName;
  int bCosine; /* else L2 */
  int n, d, nq;
  float *aBase, *aQ;
  double *aKth; /* the true k-th distance of each query */
  double eps;
} Dataset;

typedef struct Point {
  int ef;
  double recall, qps;
} Point;

typedef struct Curve {
  const char *zEngine;
  double buildRate; /* rows/s, 0 when not built here */
  int nPoint;
  Point a[MAX_POINTS];
} Curve;

static const char *zBenchDir;

/* ---- data -------------------------------------------------------------- */

static double gaussian(uint64_t *s) {
  double u = ((double)(bench_rand(s) >> 11) + 1.0) / 9007199254740993.0;
  double v = (double)(bench_rand(s) >> 11) / 9007199254740992.0;
  return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* One vector of the clustered distribution (see the header). */
typedef struct Clusters {
  int d, nCluster, nSub;
  float *aCentre, *aBasis; /* nCluster*d, nCluster*nSub*d */
} Clusters;

static void clusters_init(Clusters *c, int d, uint64_t *s) {
  c->d = d;
  c->nCluster = 100;
  c->nSub = 16;
  c->aCentre = malloc(sizeof(float) * (size_t)c->nCluster * d);
  c->aBasis = malloc(sizeof(float) * (size_t)c->nCluster * c->nSub * d);
  for (size_t i = 0; i < (size_t)c->nCluster * d; i++) c->aCentre[i] = (float)gaussian(s);
  for (size_t i = 0; i < (size_t)c->nCluster * c->nSub * d; i++) {
    c->aBasis[i] = (float)(gaussian(s) * 0.5);
  }
}

static void clusters_draw(const Clusters *c, uint64_t *s, float *out) {
  int k = (int)(bench_rand(s) % (uint64_t)c->nCluster);
  for (int j = 0; j < c->d; j++) out[j] = c->aCentre[(size_t)k * c->d + j] + (float)(0.1 * gaussian(s));
  for (int t = 0; t < c->nSub; t++) {
    float z = (float)gaussian(s);
    const float *b = c->aBasis + ((size_t)k * c->nSub + t) * c->d;
    for (int j = 0; j < c->d; j++) out[j] += z * b[j];
  }
}

static double true_distance(const Dataset *ds, const float *a, const float *b) {
  double s = 0, na = 0, nb = 0;
  for (int j = 0; j < ds->d; j++) {
    if (ds->bCosine) {
      s += (double)a[j] * b[j];
      na += (double)a[j] * a[j];
      nb += (double)b[j] * b[j];
    } else {
      double x = (double)a[j] - b[j];
      s += x * x;
    }
  }
  return ds->bCosine ? 1.0 - s / sqrt(na * nb) : sqrt(s);
}

/* Brute-force k-th distances, in float with a double check of the winners. */
static void ground_truth(Dataset *ds) {
  ds->aKth = malloc(sizeof(double) * ds->nq);
  for (int q = 0; q < ds->nq; q++) {
    double best[K];
    for (int j = 0; j < K; j++) best[j] = INFINITY;
    const float *x = ds->aQ + (size_t)q * ds->d;
    for (int i = 0; i < ds->n; i++) {
      double dist = true_distance(ds, x, ds->aBase + (size_t)i * ds->d);
      if (dist >= best[K - 1]) continue;
      int j = K - 1;
      while (j > 0 && best[j - 1] > dist) {
        best[j] = best[j - 1];
        j--;
      }
      best[j] = dist;
    }
    ds->aKth[q] = best[K - 1];
  }
}

static double recall_of(const Dataset *ds, const int64_t *aId) {
  int hits = 0;
  for (int q = 0; q < ds->nq; q++) {
    for (int j = 0; j < K; j++) {
      int64_t id = aId[(size_t)q * K + j];
      if (id < 1 || id > ds->n) continue;
      double dist = true_distance(ds, ds->aQ + (size_t)q * ds->d, ds->aBase + (size_t)(id - 1) * ds->d);
      hits += dist <= ds->aKth[q] + ds->eps;
    }
  }
  return (double)hits / ((double)ds->nq * K);
}

/* n, d, then the floats: the format peer_hnswlib.js reads. */
static char *write_vectors(const char *zName, const float *a, int n, int d) {
  char *zPath = sqlite3_mprintf("%s/%s.f32", zBenchDir, zName);
  FILE *f = fopen(zPath, "wb");
  int32_t hdr[2] = {n, d};
  if (f == 0 || fwrite(hdr, 4, 2, f) != 2 || fwrite(a, 4, (size_t)n * d, f) != (size_t)n * d) {
    bench_die("cannot write", zPath);
  }
  fclose(f);
  return zPath;
}

/* ---- measuring --------------------------------------------------------- */

/* Heap bytes in use (malloc's own count, so memory freed by an earlier run
** and reused does not hide growth), in MiB. */
static double heap_mib(void) {
  struct mallinfo2 mi = mallinfo2();
  return (double)(mi.uordblks + mi.hblkhd) / (1024.0 * 1024.0);
}

static double file_mib(const char *zPath) {
  struct stat st;
  return stat(zPath, &st) == 0 ? (double)st.st_size / (1024.0 * 1024.0) : 0;
}

static sqlite3_stmt *prepare(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) bench_die(zSql, sqlite3_errmsg(db));
  return p;
}

static sqlite3 *open_db(const char *zName, const char *zExt, char **pzPath) {
  char *zPath = sqlite3_mprintf("%s/%s.db", zBenchDir, zName);
  sqlite3 *db = bench_open(zPath, zExt);
  bench_exec(db, "PRAGMA cache_size = -262144");
  if (pzPath) {
    *pzPath = zPath;
  } else {
    sqlite3_free(zPath);
  }
  return db;
}

/* Insert every base vector (rowid i+1) in one transaction; rows/s. */
static double fill(sqlite3 *db, const char *zInsert, const Dataset *ds, const int *aCat) {
  sqlite3_stmt *p = prepare(db, zInsert);
  double t0 = bench_now();
  bench_exec(db, "BEGIN");
  for (int i = 0; i < ds->n; i++) {
    sqlite3_bind_int64(p, 1, i + 1);
    sqlite3_bind_blob(p, 2, ds->aBase + (size_t)i * ds->d, ds->d * 4, SQLITE_STATIC);
    if (aCat) sqlite3_bind_int(p, 3, aCat[i]);
    if (sqlite3_step(p) != SQLITE_DONE) bench_die("insert", sqlite3_errmsg(db));
    sqlite3_reset(p);
  }
  bench_exec(db, "COMMIT");
  double rate = ds->n / (bench_now() - t0);
  sqlite3_finalize(p);
  /* The operating system writes the new file back in the background; let it
  ** finish before anything is timed, or queries pay for it. */
  sync();
  return rate;
}

/* Run the first nq queries of ds through zSql (?1 the vector); a point. */
static Point sql_point(sqlite3 *db, const char *zSql, Dataset *ds, int nq, int ef) {
  sqlite3_stmt *p = prepare(db, zSql);
  int64_t *aId = malloc(sizeof(int64_t) * (size_t)ds->nq * K);
  bench_qps(p, ds->aQ, 1, ds->d, K, 0); /* warm up */
  Point pt = {ef, 0, bench_qps(p, ds->aQ, nq, ds->d, K, aId)};
  int nqAll = ds->nq;
  ds->nq = nq;
  pt.recall = recall_of(ds, aId);
  ds->nq = nqAll;
  sqlite3_finalize(p);
  free(aId);
  return pt;
}

static void sweep(Curve *c, sqlite3 *db, const char *zFormat, Dataset *ds) {
  for (int i = 0; i < N_EF; i++) {
    char *zSql = sqlite3_mprintf(zFormat, aEf[i]);
    c->a[c->nPoint++] = sql_point(db, zSql, ds, ds->nq, aEf[i]);
    sqlite3_free(zSql);
  }
}

/* hnswlib-node through peer_hnswlib.js; 0 when it could not run. */
static int hnswlib_curve(Curve *c, Dataset *ds, const char *zModules, const char *zSrc) {
  char *zBase = write_vectors("base", ds->aBase, ds->n, ds->d);
  char *zQuery = write_vectors("query", ds->aQ, ds->nq, ds->d);
  char *zOut = sqlite3_mprintf("%s/labels", zBenchDir);
  sqlite3_str *cmd = sqlite3_str_new(0);
  sqlite3_str_appendf(cmd, "node '%s/peer_hnswlib.js' '%s' '%s' '%s' %s %d %d %d '%s'", zSrc,
                      zModules, zBase, zQuery, ds->bCosine ? "cosine" : "l2", M_LINKS,
                      EF_CONSTRUCTION, K, zOut);
  for (int i = 0; i < N_EF; i++) sqlite3_str_appendf(cmd, " %d", aEf[i]);
  char *zCmd = sqlite3_str_finish(cmd);
  FILE *f = popen(zCmd, "r");
  char line[256];
  int64_t *aId = malloc(sizeof(int64_t) * (size_t)ds->nq * K);
  int32_t *aLabel = malloc(sizeof(int32_t) * (size_t)ds->nq * K);
  while (f && fgets(line, sizeof line, f)) {
    double sec;
    int ef;
    if (sscanf(line, "build %lf", &sec) == 1) c->buildRate = ds->n / sec;
    if (sscanf(line, "ef %d %lf", &ef, &sec) != 2 || c->nPoint == MAX_POINTS) continue;
    char *zLabels = sqlite3_mprintf("%s.%d", zOut, ef);
    FILE *g = fopen(zLabels, "rb");
    if (g && fread(aLabel, 4, (size_t)ds->nq * K, g) == (size_t)ds->nq * K) {
      for (size_t i = 0; i < (size_t)ds->nq * K; i++) aId[i] = aLabel[i];
      Point pt = {ef, recall_of(ds, aId), ds->nq / sec};
      c->a[c->nPoint++] = pt;
    }
    if (g) fclose(g);
    unlink(zLabels);
    sqlite3_free(zLabels);
  }
  int bOk = f && pclose(f) == 0 && c->nPoint > 0;
  unlink(zBase);
  unlink(zQuery);
  free(aId);
  free(aLabel);
  sqlite3_free(zBase);
  sqlite3_free(zQuery);
  sqlite3_free(zOut);
  sqlite3_free(zCmd);
  return bOk;
}

/* Queries/second at a recall level, interpolated linearly between the two
** points around it; the first point's when even that one reaches it; 0 when
** no point does. */
static double qps_at(const Curve *c, double recall) {
  for (int i = 0; i < c->nPoint; i++) {
    if (c->a[i].recall < recall) continue;
    if (i == 0) return c->a[0].qps;
    const Point *lo = &c->a[i - 1], *hi = &c->a[i];
    double t = (recall - lo->recall) / (hi->recall - lo->recall);
    return lo->qps + t * (hi->qps - lo->qps);
  }
  return 0;
}

static void print_curves(const Curve *aC, int nC) {
  printf("\n  %-5s", "ef");
  for (int c = 0; c < nC; c++) printf(" | %-24s", aC[c].zEngine);
  printf("\n  %-5s", "");
  for (int c = 0; c < nC; c++) printf(" | %8s %13s  ", "recall", "queries/s");
  printf("\n");
  for (int i = 0; i < N_EF; i++) {
    printf("  %-5d", aEf[i]);
    for (int c = 0; c < nC; c++) {
      const Point *pt = 0;
      for (int j = 0; j < aC[c].nPoint; j++) {
        if (aC[c].a[j].ef == aEf[i]) pt = &aC[c].a[j];
      }
      if (pt) {
        printf(" | %8.4f %13.1f  ", pt->recall, pt->qps);
      } else {
        printf(" | %24s", "");
      }
    }
    printf("\n");
  }
}

static void print_ratios(const Curve *pVg, const Curve *aPeer, int nPeer) {
  static const double aLevel[] = {0.90, 0.95, 0.98, 0.99, 0.995};
  printf("\n  queries/s at equal recall@10 (interpolated), vecguard / peer:\n");
  for (size_t l = 0; l < sizeof(aLevel) / sizeof(aLevel[0]); l++) {
    double v = qps_at(pVg, aLevel[l]);
    printf("  recall %.3f: vecguard %9.1f", aLevel[l], v);
    for (int p = 0; p < nPeer; p++) {
      double x = qps_at(&aPeer[p], aLevel[l]);
      if (x > 0 && v > 0) {
        printf("  | %s %9.1f  ratio %5.2fx", aPeer[p].zEngine, x, v / x);
      } else {
        printf("  | %s %9s", aPeer[p].zEngine, "not reached");
      }
    }
    printf("\n");
  }
}

/* ---- the runs ---------------------------------------------------------- */

typedef struct Peers {
  const char *zVg, *zVectorlite, *zSqliteVec, *zHnswlibModules, *zSrc;
} Peers;

/* vecguard: build, sweep ef, then exact = 1 on nqExact queries.  The file
** is zName.db. */
static void run_vecguard(Dataset *ds, const Peers *pe, const char *zName, const char *zCreate,
                         const int *aCat, int nqExact, Curve *pGraph, Curve *pExact) {
  memset(pGraph, 0, sizeof *pGraph);
  memset(pExact, 0, sizeof *pExact);
  pGraph->zEngine = "vecguard";
  pExact->zEngine = "vecguard exact=1";
  sqlite3 *db = open_db(zName, pe->zVg, 0);
  bench_exec(db, zCreate);
  pGraph->buildRate = fill(db, aCat ? "INSERT INTO t(rowid, e, cat) VALUES (?1, ?2, ?3)"
                                    : "INSERT INTO t(rowid, e) VALUES (?1, ?2)", ds, aCat);
  sweep(pGraph, db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10 AND ef = %d", ds);
  pExact->a[pExact->nPoint++] =
      sql_point(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10 AND exact = 1", ds, nqExact, 0);
  sqlite3_close(db);
}

static void run_vectorlite(Dataset *ds, const Peers *pe, Curve *c, double *pHeap) {
  memset(c, 0, sizeof *c);
  c->zEngine = "vectorlite 0.2.0";
  double heap0 = heap_mib();
  sqlite3 *db = open_db("vectorlite", pe->zVectorlite, 0);
  char *zCreate = sqlite3_mprintf("CREATE VIRTUAL TABLE t USING vectorlite(e float32[%d] %s, "
                                  "hnsw(max_elements=%d, ef_construction=%d, M=%d))",
                                  ds->d, ds->bCosine ? "cosine" : "l2", ds->n, EF_CONSTRUCTION,
                                  M_LINKS);
  bench_exec(db, zCreate);
  sqlite3_free(zCreate);
  c->buildRate = fill(db, "INSERT INTO t(rowid, e) VALUES (?1, ?2)", ds, 0);
  *pHeap = heap_mib() - heap0;
  sweep(c, db, "SELECT rowid FROM t WHERE knn_search(e, knn_param(?1, 10, %d))", ds);
  sqlite3_close(db);
}

static void run_sqlite_vec(Dataset *ds, const Peers *pe, int nq, Curve *c, double *pFile) {
  memset(c, 0, sizeof *c);
  c->zEngine = "sqlite-vec 0.1.9";
  char *zPath = 0;
  sqlite3 *db = open_db("sqlite-vec", pe->zSqliteVec, &zPath);
  char *zCreate = sqlite3_mprintf("CREATE VIRTUAL TABLE t USING vec0(e float[%d]%s)", ds->d,
                                  ds->bCosine ? " distance_metric=cosine" : "");
  bench_exec(db, zCreate);
  sqlite3_free(zCreate);
  c->buildRate = fill(db, "INSERT INTO t(rowid, e) VALUES (?1, ?2)", ds, 0);
  c->a[c->nPoint++] = sql_point(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10", ds, nq, 0);
  sqlite3_close(db);
  *pFile = file_mib(zPath);
  unlink(zPath);
  sqlite3_free(zPath);
}

/* The same table with quantization=int8 (file <name>_int8.db), against
** the float32 one. */
static void compare_int8(Dataset *ds, const Peers *pe, const char *zVgCreate, const int *aCat,
                         int nqExact, const Curve *pFloat, const Curve *pFloatExact) {
  Curve c8, exact8;
  char *zName = sqlite3_mprintf("%s_int8", ds->zName);
  size_t n = strlen(zVgCreate);
  char *zCreate = sqlite3_mprintf("%.*s, quantization=int8)", (int)(n - 1), zVgCreate);
  run_vecguard(ds, pe, zName, zCreate, aCat, nqExact, &c8, &exact8);
  printf("\n  vecguard with quantization=int8 (8-bit vectors in memory, exact re-ranking from "
         "the file):\n");
  printf("    build %.0f rows/s (float32: %.0f, ratio %.2f)\n", c8.buildRate, pFloat->buildRate,
         c8.buildRate / pFloat->buildRate);
  printf("    %-5s | %-24s | %-24s | %11s %9s\n", "ef", "float32", "int8", "recall loss",
         "q/s ratio");
  for (int i = 0; i < pFloat->nPoint && i < c8.nPoint; i++) {
    const Point *f = &pFloat->a[i], *q = &c8.a[i];
    printf("    %-5d | %8.4f %13.1f   | %8.4f %13.1f   | %11.4f %8.2fx\n", f->ef, f->recall, f->qps,
           q->recall, q->qps, f->recall - q->recall, q->qps / f->qps);
  }
  printf("    at equal recall@10 (interpolated), int8 / float32 queries/s:");
  static const double aLevel[] = {0.95, 0.98, 0.99};
  for (int l = 0; l < 3; l++) {
    double f = qps_at(pFloat, aLevel[l]), q = qps_at(&c8, aLevel[l]);
    if (f > 0 && q > 0) printf("  %.2f: %.2fx", aLevel[l], q / f);
  }
  printf("\n");
  printf("    exact=1: float32 %.1f queries/s, int8 %.1f (recall %.4f and %.4f)\n",
         pFloatExact->a[0].qps, exact8.a[0].qps, pFloatExact->a[0].recall, exact8.a[0].recall);
  sqlite3_free(zCreate);
  sqlite3_free(zName);
}

/* Everything that compares engines on one data set. */
static void compare(Dataset *ds, const Peers *pe, const char *zVgCreate, const int *aCat) {
  Curve aGraph[3], vgExact, vec;
  int nGraph = 0, nqExact = ds->nq < 200 ? ds->nq : 200;
  double heapVectorlite = 0, fileVec = 0;
  run_vecguard(ds, pe, ds->zName, zVgCreate, aCat, nqExact, &aGraph[nGraph++], &vgExact);
  if (pe->zVectorlite) run_vectorlite(ds, pe, &aGraph[nGraph++], &heapVectorlite);
  if (pe->zHnswlibModules) {
    if (hnswlib_curve(&aGraph[nGraph], ds, pe->zHnswlibModules, pe->zSrc)) {
      aGraph[nGraph++].zEngine = "hnswlib-node";
    } else {
      printf("  (hnswlib-node did not run: left out)\n");
    }
  }
  if (pe->zSqliteVec) run_sqlite_vec(ds, pe, nqExact, &vec, &fileVec);

  printf("\n  build, one transaction, M=%d ef_construction=%d:\n", M_LINKS, EF_CONSTRUCTION);
  for (int c = 0; c < nGraph; c++) {
    printf("    %-18s %8.0f rows/s", aGraph[c].zEngine, aGraph[c].buildRate);
    if (c > 0) printf("   vecguard is %.2fx", aGraph[0].buildRate / aGraph[c].buildRate);
    printf("\n");
  }
  print_curves(aGraph, nGraph);
  print_ratios(&aGraph[0], aGraph + 1, nGraph - 1);
  printf("\n  exact search, %d queries:\n", nqExact);
  printf("    %-18s recall %.4f %9.1f queries/s\n", vgExact.zEngine, vgExact.a[0].recall,
         vgExact.a[0].qps);
  if (pe->zSqliteVec) {
    printf("    %-18s recall %.4f %9.1f queries/s   vecguard exact=1 is %.2fx\n", vec.zEngine,
           vec.a[0].recall, vec.a[0].qps, vgExact.a[0].qps / vec.a[0].qps);
    printf("    vecguard at recall 0.95 / sqlite-vec: %.1fx;  at 0.99: %.1fx\n",
           qps_at(&aGraph[0], 0.95) / vec.a[0].qps, qps_at(&aGraph[0], 0.99) / vec.a[0].qps);
    printf("    sqlite-vec file: %.1f MiB\n", fileVec);
  }
  if (pe->zVectorlite) {
    printf("    vectorlite: heap +%.1f MiB after the build (%.1f MiB per 100k vectors; its index is "
           "not in the file)\n", heapVectorlite, heapVectorlite * 100000.0 / ds->n);
  }
  compare_int8(ds, pe, zVgCreate, aCat, nqExact, &aGraph[0], &vgExact);
}

/* ---- the 100k file: size, memory, first query, crossover, churn -------- */

/* Open an existing file with SQLite's default settings. */
static sqlite3 *reopen_db(const char *zName, const char *zExt, char **pzPath) {
  char *zPath = sqlite3_mprintf("%s/%s.db", zBenchDir, zName);
  sqlite3 *db = 0;
  char *zErr = 0;
  if (sqlite3_open_v2(zPath, &db, SQLITE_OPEN_READWRITE, 0) != SQLITE_OK) bench_die("open", zPath);
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) bench_die(zExt, zErr);
  *pzPath = zPath;
  return db;
}

/* Rowids of nq queries through zSql into aId (nq*K); queries/second. */
static double run_ids(sqlite3 *db, const char *zSql, const Dataset *ds, int nq, int64_t *aId) {
  sqlite3_stmt *p = prepare(db, zSql);
  double qps = bench_qps(p, ds->aQ, nq, ds->d, K, aId);
  sqlite3_finalize(p);
  return qps;
}

static double overlap(const int64_t *a, const int64_t *b, int nq) {
  int hit = 0, want = 0;
  for (int q = 0; q < nq; q++) {
    for (int i = 0; i < K; i++) {
      if (b[q * K + i] < 0) continue;
      want++;
      for (int j = 0; j < K; j++) hit += a[q * K + j] == b[q * K + i];
    }
  }
  return want ? (double)hit / want : 1.0;
}

static void file_and_memory(const Dataset *ds, const Peers *pe, const char *zName) {
  char *zPath = 0;
  double heap0 = heap_mib();
  sqlite3 *db = reopen_db(zName, pe->zVg, &zPath);
  double t0 = bench_now();
  run_ids(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10", ds, 1, 0);
  double tFirst = bench_now() - t0;
  t0 = bench_now();
  run_ids(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10", ds, 1, 0);
  double tSecond = bench_now() - t0;
  double heap = heap_mib() - heap0;
  double per = 100000.0 / ds->n;
  printf("\n  the vecguard file %s.db, reopened with SQLite's default settings (file in the OS "
         "cache):\n", zName);
  printf("    file %.1f MiB (%.1f MiB per 100k vectors; the float32 vectors alone are %.1f MiB)\n",
         file_mib(zPath), file_mib(zPath) * per,
         (double)ds->n * ds->d * 4 / (1024.0 * 1024.0) * per);
  printf("    first query %.1f ms (loads the graph), second %.3f ms\n", tFirst * 1e3, tSecond * 1e3);
  printf("    heap +%.1f MiB after the first query (%.1f MiB per 100k vectors)\n", heap, heap * per);
  sqlite3_close(db);
  sqlite3_free(zPath);
}

/* Filters of growing selectivity on cat (uniform in 0..999): queries/second
** of exact = 1, exact = 0 (graph) and the automatic choice. */
static void crossover(const Dataset *ds, const Peers *pe) {
  static const int aCut[] = {1, 3, 10, 30, 100, 300, 1000};
  const int nq = 100;
  char *zPath = 0;
  sqlite3 *db = reopen_db(ds->zName, pe->zVg, &zPath);
  bench_exec(db, "PRAGMA cache_size = -262144");
  int64_t *aX = malloc(sizeof(int64_t) * nq * K), *aG = malloc(sizeof(int64_t) * nq * K);
  int64_t *aA = malloc(sizeof(int64_t) * nq * K);
  printf("\n  exact or graph under a filter (cat < N; ef = 64; %d queries; m = rows matching):\n", nq);
  printf("    %8s %8s %12s %12s %12s %14s %14s\n", "m", "m/n", "exact q/s", "graph q/s",
         "auto q/s", "graph recall", "auto recall");
  for (size_t i = 0; i < sizeof(aCut) / sizeof(aCut[0]); i++) {
    const char *zBase = "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10 AND cat < %d%s";
    char *zX = sqlite3_mprintf(zBase, aCut[i], " AND exact = 1");
    char *zG = sqlite3_mprintf(zBase, aCut[i], " AND exact = 0");
    char *zA = sqlite3_mprintf(zBase, aCut[i], "");
    char *zCount = sqlite3_mprintf("SELECT count(*) FROM t WHERE cat < %d", aCut[i]);
    sqlite3_stmt *pCount = prepare(db, zCount);
    sqlite3_step(pCount);
    int m = sqlite3_column_int(pCount, 0);
    sqlite3_finalize(pCount);
    run_ids(db, zX, ds, 1, 0); /* warm up */
    double qX = run_ids(db, zX, ds, nq, aX), qG = run_ids(db, zG, ds, nq, aG);
    double qA = run_ids(db, zA, ds, nq, aA);
    printf("    %8d %8.4f %12.1f %12.1f %12.1f %14.4f %14.4f\n", m, (double)m / ds->n, qX, qG, qA,
           overlap(aG, aX, nq), overlap(aA, aX, nq));
    sqlite3_free(zX);
    sqlite3_free(zG);
    sqlite3_free(zA);
    sqlite3_free(zCount);
  }
  printf("    (the automatic rule picks exact when m*m <= 16*ef*n: here m <= %.0f)\n",
         sqrt(16.0 * 64 * ds->n));
  free(aX);
  free(aG);
  free(aA);
  sqlite3_close(db);
  sqlite3_free(zPath);
}

/* Ten rounds of deleting 30% of a 20,000-row table and inserting as many new
** rows from the same distribution: file size and recall after each. */
static void churn(Dataset *ds, const Peers *pe, const Clusters *cl, uint64_t *s) {
  const int n = ds->n < 20000 ? ds->n : 20000, nq = 200;
  char *zPath = 0;
  sqlite3 *db = open_db("churn", pe->zVg, &zPath);
  bench_exec(db, "CREATE VIRTUAL TABLE t USING vg_hnsw(e float[384] distance_metric=cosine)");
  int nAll = ds->n;
  ds->n = n;
  fill(db, "INSERT INTO t(rowid, e) VALUES (?1, ?2)", ds, 0);
  ds->n = nAll;
  sqlite3_int64 *aLive = malloc(sizeof(sqlite3_int64) * n), next = n + 1;
  for (int i = 0; i < n; i++) aLive[i] = i + 1;
  sqlite3_stmt *pDel = prepare(db, "DELETE FROM t WHERE rowid = ?1");
  sqlite3_stmt *pIns = prepare(db, "INSERT INTO t(rowid, e) VALUES (?1, ?2)");
  int64_t *aX = malloc(sizeof(int64_t) * nq * K), *aG = malloc(sizeof(int64_t) * nq * K);
  float *v = malloc(sizeof(float) * ds->d);
  printf("\n  churn: %d rows, 10 rounds of deleting 30%% at random and inserting as many:\n", n);
  printf("    round   file MiB   recall@10 (ef=64, against exact = 1)\n");
  for (int round = 0; round <= 10; round++) {
    if (round > 0) {
      bench_exec(db, "BEGIN");
      for (int i = 0; i < n; i++) {
        if (bench_rand(s) % 10 >= 3) continue;
        sqlite3_bind_int64(pDel, 1, aLive[i]);
        if (sqlite3_step(pDel) != SQLITE_DONE) bench_die("delete", sqlite3_errmsg(db));
        sqlite3_reset(pDel);
        clusters_draw(cl, s, v);
        aLive[i] = next++;
        sqlite3_bind_int64(pIns, 1, aLive[i]);
        sqlite3_bind_blob(pIns, 2, v, ds->d * 4, SQLITE_STATIC);
        if (sqlite3_step(pIns) != SQLITE_DONE) bench_die("insert", sqlite3_errmsg(db));
        sqlite3_reset(pIns);
      }
      bench_exec(db, "COMMIT");
    }
    run_ids(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10 AND exact = 1", ds, nq, aX);
    run_ids(db, "SELECT rowid FROM t WHERE e MATCH ?1 AND k = 10 AND ef = 64", ds, nq, aG);
    printf("    %5d %10.1f   %.4f\n", round, file_mib(zPath), overlap(aG, aX, nq));
  }
  sqlite3_finalize(pDel);
  sqlite3_finalize(pIns);
  sqlite3_close(db);
  unlink(zPath);
  sqlite3_free(zPath);
  free(aLive);
  free(aX);
  free(aG);
  free(v);
}

static int load_fashion(Dataset *ds, const char *zShared) {
  char *zDir = sqlite3_mprintf("%s/data/ann-fashion-mnist-784/fashion-mnist-784_", zShared);
  char *zBase = sqlite3_mprintf("%sbase.bvecs", zDir);
  char *zQuery = sqlite3_mprintf("%squery_shared.bvecs", zDir);
  char *zGt = sqlite3_mprintf("%sgroundtruth_dist_shared.fvecs", zDir);
  int dq, ng, dg;
  memset(ds, 0, sizeof *ds);
  ds->zName = "fashion";
  ds->eps = 1e-3;
  ds->aBase = bench_read_vecs(zBase, 1, &ds->n, &ds->d);
  ds->aQ = bench_read_vecs(zQuery, 1, &ds->nq, &dq);
  float *aGt = bench_read_vecs(zGt, 4, &ng, &dg);
  int bOk = ds->aBase && ds->aQ && aGt && dg >= K;
  if (bOk) {
    ds->nq = 1000; /* of the 5,000 shared queries */
    ds->aKth = malloc(sizeof(double) * ds->nq);
    for (int q = 0; q < ds->nq; q++) ds->aKth[q] = aGt[(size_t)q * dg + K - 1];
  }
  free(aGt);
  sqlite3_free(zDir);
  sqlite3_free(zBase);
  sqlite3_free(zQuery);
  sqlite3_free(zGt);
  return bOk;
}

static void make_clustered(Dataset *ds, Clusters *cl, uint64_t *s, int n, int nq) {
  memset(ds, 0, sizeof *ds);
  ds->zName = "clustered";
  ds->bCosine = 1;
  ds->eps = 1e-5;
  ds->n = n;
  ds->d = cl->d;
  ds->nq = nq;
  ds->aBase = malloc(sizeof(float) * (size_t)n * ds->d);
  ds->aQ = malloc(sizeof(float) * (size_t)nq * ds->d);
  for (int i = 0; i < n; i++) clusters_draw(cl, s, ds->aBase + (size_t)i * ds->d);
  for (int i = 0; i < nq; i++) clusters_draw(cl, s, ds->aQ + (size_t)i * ds->d);
  ground_truth(ds);
}

int main(void) {
  Peers pe = {getenv("VG_EXTENSION"), getenv("VG_VECTORLITE"), getenv("VG_SQLITE_VEC"),
              getenv("VG_HNSWLIB_NODE"), getenv("VG_BENCH_SRC")};
  const char *zShared = getenv("VG_SHARED");
  zBenchDir = getenv("VG_BENCH_DIR");
  if (pe.zVg == 0) bench_die("VG_EXTENSION is not set (run make bench)", 0);
  if (zBenchDir == 0) zBenchDir = "/tmp";
  if (zShared == 0) zShared = "../shared";
  if (pe.zSrc == 0) pe.zSrc = "bench";
  if (pe.zVectorlite && !pe.zVectorlite[0]) pe.zVectorlite = 0;
  if (pe.zSqliteVec && !pe.zSqliteVec[0]) pe.zSqliteVec = 0;
  if (pe.zHnswlibModules && !pe.zHnswlibModules[0]) pe.zHnswlibModules = 0;
  setvbuf(stdout, 0, _IOLBF, 0);
  printf("bench_ann: approximate k-NN, k=%d, one thread, file databases (SQLite %s)\n", K,
         sqlite3_libversion());
  const char *zOnly = getenv("VG_BENCH_ONLY"); /* "fashion" or "clustered" */
  Dataset ds;
  if (zOnly == 0 || strcmp(zOnly, "fashion") == 0) {
    if (load_fashion(&ds, zShared)) {
      printf("\n[1] fashion-mnist-784: %d x %d, l2, %d queries\n", ds.n, ds.d, ds.nq);
      compare(&ds, &pe, "CREATE VIRTUAL TABLE t USING vg_hnsw(e float[784])", 0);
      free(ds.aBase);
      free(ds.aQ);
      free(ds.aKth);
    } else {
      printf("\n[1] fashion-mnist-784: not found under %s/data, skipped\n", zShared);
    }
  }
  if (zOnly == 0 || strcmp(zOnly, "clustered") == 0) {
    const char *zRows = getenv("VG_BENCH_ROWS");
    uint64_t s = 20261121;
    Clusters cl;
    clusters_init(&cl, 384, &s);
    double t0 = bench_now();
    make_clustered(&ds, &cl, &s, zRows ? atoi(zRows) : 100000, 1000);
    printf("\n[2] clustered: %d x %d generated, cosine, %d queries (ground truth %.0f s)\n", ds.n,
           ds.d, ds.nq, bench_now() - t0);
    int *aCat = malloc(sizeof(int) * (size_t)ds.n);
    for (int i = 0; i < ds.n; i++) aCat[i] = (int)(bench_rand(&s) % 1000);
    compare(&ds, &pe, "CREATE VIRTUAL TABLE t USING vg_hnsw(e float[384] distance_metric=cosine, cat integer)", aCat);
    file_and_memory(&ds, &pe, ds.zName);
    char *zInt8 = sqlite3_mprintf("%s_int8", ds.zName);
    file_and_memory(&ds, &pe, zInt8);
    sqlite3_free(zInt8);
    crossover(&ds, &pe);
    churn(&ds, &pe, &cl, &s);
    free(aCat);
    free(ds.aBase);
    free(ds.aQ);
    free(ds.aKth);
    free(cl.aCentre);
    free(cl.aBasis);
  }
  return 0;
}
