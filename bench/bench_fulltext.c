/*
** bench_fulltext.c — full-text and hybrid search: SciFact quality, query latency, and what a fulltext column costs.
**
** Measures SciFact quality per vg_search mode (nDCG@10, recall@100, latency),
** then the ingest rate, file size and query latency of a fulltext table
** against the same table without one, at 100,000 documents:
**
**   1. quality: the 5,183 SciFact abstracts (title and text as one document)
**      through vg_ingest and vg_queue_run into a table with a fulltext
**      column, then SciFact's 809 training queries through vg_search in each
**      mode (hybrid, vector, lexical): nDCG@10 and recall@100 against the
**      training qrels, and each query's latency;
**   2. scale: N synthetic documents (VG_BENCH_DOCS, default 100,000), each 6
**      SciFact sentences picked by a fixed-seed xorshift, all in one tenant,
**      ingested into table A (with a fulltext column) and table B (without):
**      documents/s end to end (B built before and after A, and averaged), file
**      sizes, the full-text shadow tables' size, and per-query latency of
**      vg_search and of the same query written on the table directly.
**
** Needs $VG_EXTENSION and $VG_SHARED (run it with make bench
** BENCH=bench_fulltext); without the SciFact files it prints a line saying so
** and exits 0.  Database files go in a temporary folder under $VG_BENCH_DIR
** (or /tmp), removed at the end.  One thread throughout.
*/
#include "benchutil.h"

#include <math.h>
#include <sys/stat.h>

#define MODEL "hash2:384" /* what vg_ingest gives a new table (checked below) */
#define SYN_SEED 0x9e3779b97f4a7c15ULL /* the synthetic documents' xorshift seed */
#define SYN_SENTENCES 6
#define INGEST_BATCH 1000
#define LATENCY_QUERIES 1000

static const char *const azMode[3] = {"hybrid", "vector", "lexical"};

/* ---- helpers ------------------------------------------------------------ */

static sqlite3_stmt *prep(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) bench_die(zSql, sqlite3_errmsg(db));
  return p;
}

static double file_mib(const char *zPath) {
  struct stat st;
  if (stat(zPath, &st) != 0) bench_die("stat", zPath);
  return (double)st.st_size / (1024.0 * 1024.0);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n values, sorted in place. */
static double quantile(double *a, int n, double q) {
  if (n == 0) return NAN;
  qsort(a, (size_t)n, sizeof(double), cmp_double);
  int i = (int)ceil(q * n) - 1;
  if (i < 0) i = 0;
  if (i >= n) i = n - 1;
  return a[i];
}

/* Whether a failed query failed because it has no word to search for
** (only stop words or punctuation): the only failure counted, not fatal. */
static int no_words_error(sqlite3 *db) {
  const char *z = sqlite3_errmsg(db);
  return strstr(z, "no words") != 0;
}

/* ---- the SciFact data --------------------------------------------------- */

typedef struct Query {
  char *zId, *zText;
  int nRel;
  char **azRel; /* relevant corpus ids (train qrels) */
} Query;

typedef struct Data {
  int nDoc;
  char **azDocId, **azDocText; /* title || ' ' || text */
  char **azAbstract;           /* text alone, for the sentences */
  int nQuery;
  Query *aQuery;
} Data;

static int file_readable(const char *zPath) { return access(zPath, R_OK) == 0; }

/* Each line of a JSON-lines file through pStmt (?1 the line) and its rows to
** xRow. */
static void read_jsonl(const char *zPath, sqlite3_stmt *p, void (*xRow)(sqlite3_stmt *, void *), void *pArg) {
  FILE *f = fopen(zPath, "rb");
  if (f == 0) bench_die("cannot open", zPath);
  char *zLine = 0;
  size_t nCap = 0;
  ssize_t n;
  while ((n = getline(&zLine, &nCap, f)) > 0) {
    if (n <= 1) continue;
    sqlite3_bind_text(p, 1, zLine, (int)n, SQLITE_STATIC);
    if (sqlite3_step(p) != SQLITE_ROW) bench_die("bad JSON line in", zPath);
    xRow(p, pArg);
    sqlite3_reset(p);
  }
  free(zLine);
  fclose(f);
}

static void corpus_row(sqlite3_stmt *p, void *pArg) {
  Data *d = pArg;
  if (d->nDoc % 1024 == 0) {
    d->azDocId = realloc(d->azDocId, sizeof(char *) * (size_t)(d->nDoc + 1024));
    d->azDocText = realloc(d->azDocText, sizeof(char *) * (size_t)(d->nDoc + 1024));
    d->azAbstract = realloc(d->azAbstract, sizeof(char *) * (size_t)(d->nDoc + 1024));
  }
  d->azDocId[d->nDoc] = strdup((const char *)sqlite3_column_text(p, 0));
  d->azDocText[d->nDoc] = strdup((const char *)sqlite3_column_text(p, 1));
  d->azAbstract[d->nDoc] = strdup((const char *)sqlite3_column_text(p, 2));
  d->nDoc++;
}

static void query_row(sqlite3_stmt *p, void *pArg) {
  Data *d = pArg;
  if (d->nQuery % 256 == 0) d->aQuery = realloc(d->aQuery, sizeof(Query) * (size_t)(d->nQuery + 256));
  Query *q = &d->aQuery[d->nQuery++];
  memset(q, 0, sizeof(*q));
  q->zId = strdup((const char *)sqlite3_column_text(p, 0));
  q->zText = strdup((const char *)sqlite3_column_text(p, 1));
}

static void load_data(const char *zDir, Data *d) {
  memset(d, 0, sizeof(*d));
  sqlite3 *db = 0;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) bench_die("open :memory:", 0);
  char zPath[4200];

  sqlite3_stmt *p = prep(db, "SELECT ?1 ->> '_id', coalesce(?1 ->> 'title', '') || ' ' || coalesce(?1 ->> 'text', ''),"
                             " coalesce(?1 ->> 'text', '')");
  snprintf(zPath, sizeof zPath, "%s/corpus.jsonl", zDir);
  read_jsonl(zPath, p, corpus_row, d);
  sqlite3_finalize(p);

  p = prep(db, "SELECT ?1 ->> '_id', ?1 ->> 'text'");
  snprintf(zPath, sizeof zPath, "%s/queries.jsonl", zDir);
  read_jsonl(zPath, p, query_row, d);
  sqlite3_finalize(p);
  sqlite3_close(db);

  /* qrels/train.tsv: a header, then query-id TAB corpus-id TAB score. */
  snprintf(zPath, sizeof zPath, "%s/qrels/train.tsv", zDir);
  FILE *f = fopen(zPath, "rb");
  if (f == 0) bench_die("cannot open", zPath);
  char *zLine = 0;
  size_t nCap = 0;
  int iLine = 0;
  while (getline(&zLine, &nCap, f) > 0) {
    if (iLine++ == 0) continue;
    char *zSave = 0;
    char *zQ = strtok_r(zLine, "\t\r\n", &zSave);
    char *zC = strtok_r(0, "\t\r\n", &zSave);
    char *zS = strtok_r(0, "\t\r\n", &zSave);
    if (zQ == 0 || zC == 0 || zS == 0 || atoi(zS) <= 0) continue;
    for (int i = 0; i < d->nQuery; i++) {
      Query *q = &d->aQuery[i];
      if (strcmp(q->zId, zQ) != 0) continue;
      q->azRel = realloc(q->azRel, sizeof(char *) * (size_t)(q->nRel + 1));
      q->azRel[q->nRel++] = strdup(zC);
      break;
    }
  }
  free(zLine);
  fclose(f);
}

/* ---- ingest ------------------------------------------------------------- */

typedef struct RunStats {
  int nChunk, nFailed, nDead;
} RunStats;

/* vg_queue_run(256) until it claims nothing. */
static void queue_drain(sqlite3 *db, RunStats *s) {
  sqlite3_stmt *p = prep(db, "SELECT j ->> 'claimed', j ->> 'chunks', j ->> 'failed', j ->> 'dead'"
                             " FROM (SELECT vg_queue_run(256) AS j)");
  memset(s, 0, sizeof(*s));
  for (;;) {
    if (sqlite3_step(p) != SQLITE_ROW) bench_die("vg_queue_run", sqlite3_errmsg(db));
    int nClaimed = sqlite3_column_int(p, 0);
    s->nChunk += sqlite3_column_int(p, 1);
    s->nFailed += sqlite3_column_int(p, 2);
    s->nDead += sqlite3_column_int(p, 3);
    sqlite3_reset(p);
    if (nClaimed == 0) break;
  }
  sqlite3_finalize(p);
}

static void open_settings(sqlite3 *db) {
  bench_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144;"
                 "SELECT vg_pii_set_key(zeroblob(32))");
}

/* The built-in default is what the table got: the figures are MODEL's. */
static void expect_model(sqlite3 *db, const char *zTable) {
  sqlite3_stmt *p = prep(db, "SELECT vg_configure(?1) ->> 'model'");
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_ROW) bench_die("vg_configure", sqlite3_errmsg(db));
  const char *z = (const char *)sqlite3_column_text(p, 0);
  if (z == 0 || strcmp(z, MODEL) != 0) bench_die("the table's model is not " MODEL, z ? z : "NULL");
  sqlite3_finalize(p);
}

/* ---- 1. quality on SciFact ---------------------------------------------- */

/* nDCG@10 (binary relevance) and recall@100 of a ranked list of ids. */
static void score_query(const Query *q, char **azRank, int nRank, double *pNdcg, double *pRecall) {
  double dcg = 0, idcg = 0;
  int nHit = 0;
  for (int i = 0; i < nRank; i++) {
    int bRel = 0;
    for (int j = 0; j < q->nRel; j++) {
      if (strcmp(azRank[i], q->azRel[j]) == 0) bRel = 1;
    }
    if (!bRel) continue;
    if (i < 10) dcg += 1.0 / log2(i + 2.0);
    nHit++;
  }
  for (int i = 0; i < q->nRel && i < 10; i++) idcg += 1.0 / log2(i + 2.0);
  *pNdcg = idcg > 0 ? dcg / idcg : 0;
  *pRecall = q->nRel > 0 ? (double)nHit / q->nRel : 0;
}

static void part_quality(const char *zDir, const char *zExt, const Data *d) {
  char zPath[4200];
  snprintf(zPath, sizeof zPath, "%s/scifact.db", zDir);
  sqlite3 *db = bench_open(zPath, zExt);
  open_settings(db);
  bench_exec(db, "CREATE VIRTUAL TABLE sci USING vg_hnsw(embedding float[384] distance_metric=cosine,"
                 " content_id text, +content text fulltext)");

  printf("[1] quality: BEIR SciFact, %d documents (title + ' ' + text), model " MODEL " (built-in default),"
         " one file (WAL, synchronous=NORMAL, cache_size 256 MiB)\n", d->nDoc);
  sqlite3_stmt *p = prep(db, "SELECT vg_ingest('sci', '', 'doc', ?1, ?2)");
  double t0 = bench_now();
  bench_exec(db, "BEGIN");
  for (int i = 0; i < d->nDoc; i++) {
    sqlite3_bind_text(p, 1, d->azDocId[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, d->azDocText[i], -1, SQLITE_STATIC);
    if (sqlite3_step(p) != SQLITE_ROW) bench_die("vg_ingest", sqlite3_errmsg(db));
    sqlite3_reset(p);
  }
  bench_exec(db, "COMMIT");
  double tIngest = bench_now() - t0;
  sqlite3_finalize(p);
  RunStats rs;
  t0 = bench_now();
  queue_drain(db, &rs);
  double tRun = bench_now() - t0;
  expect_model(db, "sci");
  printf("  vg_ingest, one transaction: %.2f s = %.0f documents/s\n", tIngest, d->nDoc / tIngest);
  printf("  vg_queue_run(256) until empty: %.2f s = %.0f documents/s (%d chunks, %d failed, %d dead)\n", tRun,
         d->nDoc / tRun, rs.nChunk, rs.nFailed, rs.nDead);

  int nJudged = 0;
  for (int i = 0; i < d->nQuery; i++) nJudged += d->aQuery[i].nRel > 0;
  printf("  %d TRAIN queries with qrels (SciFact's test split is held out: these figures are on the train split)\n",
         nJudged);
  printf("  vg_search(..., 150, NULL, {\"mode\": M}), each document's first chunk kept, cut to 100;"
         " latency per query, one warm-up query first\n\n");
  printf("  mode     | nDCG@10 | recall@100 | p50 ms | p99 ms | failed (no words)\n");
  printf("  ---------+---------+------------+--------+--------+------------------\n");

  p = prep(db, "SELECT content_id FROM vg_search('sci', '', ?1, 150, NULL, ?2) ORDER BY rank");
  double *aMs = malloc(sizeof(double) * (size_t)d->nQuery);
  char **azRank = malloc(sizeof(char *) * 100);
  for (int m = 0; m < 3; m++) {
    char zOpt[64];
    snprintf(zOpt, sizeof zOpt, "{\"mode\": \"%s\"}", azMode[m]);
    sqlite3_bind_text(p, 2, zOpt, -1, SQLITE_TRANSIENT);
    /* Warm-up: the first search loads the partition's graph. */
    sqlite3_bind_text(p, 1, "vitamin D deficiency and bone fractures", -1, SQLITE_STATIC);
    while (sqlite3_step(p) == SQLITE_ROW) {
    }
    sqlite3_reset(p);
    double sumNdcg = 0, sumRecall = 0;
    int nTimed = 0, nFail = 0;
    for (int i = 0; i < d->nQuery; i++) {
      const Query *q = &d->aQuery[i];
      if (q->nRel == 0) continue;
      int nRank = 0, rc;
      sqlite3_bind_text(p, 1, q->zText, -1, SQLITE_STATIC);
      t0 = bench_now();
      while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
        const char *zId = (const char *)sqlite3_column_text(p, 0);
        if (zId == 0 || nRank >= 100) continue;
        int bSeen = 0;
        for (int j = 0; j < nRank && !bSeen; j++) bSeen = strcmp(azRank[j], zId) == 0;
        if (!bSeen) azRank[nRank++] = strdup(zId);
      }
      double dt = bench_now() - t0;
      if (rc != SQLITE_DONE) {
        if (!no_words_error(db)) bench_die("vg_search", sqlite3_errmsg(db));
        nFail++; /* scored as 0 */
      } else {
        aMs[nTimed++] = dt * 1e3;
      }
      sqlite3_reset(p);
      double ndcg, recall;
      score_query(q, azRank, nRank, &ndcg, &recall);
      sumNdcg += ndcg;
      sumRecall += recall;
      for (int j = 0; j < nRank; j++) free(azRank[j]);
    }
    double p50 = quantile(aMs, nTimed, 0.50), p99 = quantile(aMs, nTimed, 0.99);
    printf("  %-8s | %7.4f | %10.4f | %6.2f | %6.2f | %d\n", azMode[m], sumNdcg / nJudged, sumRecall / nJudged, p50,
           p99, nFail);
  }
  printf("\n  published, for context (nDCG@10 on the 300-query TEST split, not comparable one to one):\n"
         "    BM25 (Elasticsearch, BEIR) 0.665; all-MiniLM-L6-v2 (MTEB) 0.645\n"
         "  ours above are on the 809-query TRAIN split; a failed query scores 0 in the means\n\n");
  free(azRank);
  free(aMs);
  sqlite3_finalize(p);
  sqlite3_close(db);
  bench_remove_db(zPath);
}

/* ---- 2. speed and size at scale ----------------------------------------- */

typedef struct Sentences {
  int n;
  char **az;
} Sentences;

/* Every abstract's sentences (the text cut at ". ", the full stop kept). */
static void split_sentences(const Data *d, Sentences *s) {
  int nCap = 0;
  s->n = 0;
  s->az = 0;
  for (int i = 0; i < d->nDoc; i++) {
    const char *z = d->azAbstract[i];
    while (*z) {
      const char *zEnd = strstr(z, ". ");
      size_t n = zEnd ? (size_t)(zEnd - z) + 1 : strlen(z);
      if (n > 0) {
        if (s->n == nCap) {
          nCap = nCap ? nCap * 2 : 4096;
          s->az = realloc(s->az, sizeof(char *) * (size_t)nCap);
        }
        s->az[s->n++] = strndup(z, n);
      }
      z += n;
      while (*z == ' ') z++;
    }
  }
}

/* The next synthetic document: SYN_SENTENCES sentences joined by spaces. */
static char *synthetic_doc(const Sentences *s, uint64_t *pSeed) {
  size_t n = 0;
  const char *az[SYN_SENTENCES];
  for (int i = 0; i < SYN_SENTENCES; i++) {
    az[i] = s->az[bench_rand(pSeed) % (uint64_t)s->n];
    n += strlen(az[i]) + 1;
  }
  char *z = malloc(n + 1), *zOut = z;
  for (int i = 0; i < SYN_SENTENCES; i++) {
    size_t m = strlen(az[i]);
    if (i > 0) *zOut++ = ' ';
    memcpy(zOut, az[i], m);
    zOut += m;
  }
  *zOut = 0;
  return z;
}

typedef struct Build {
  double tIngest, tRun;
  double mib, freeMib, tableMib, ftMib; /* the file, its free pages, the table's pages, the index's; -1 n/a */
  RunStats rs;
} Build;

/* Build table docs in a new file: N synthetic documents in tenant 'acme',
** in transactions of INGEST_BATCH, then the queue drained.  Returns the
** open connection. */
static sqlite3 *build_table(const char *zPath, const char *zExt, int bFulltext, int nDoc, const Sentences *s,
                            Build *b) {
  sqlite3 *db = bench_open(zPath, zExt);
  open_settings(db);
  char zSql[512];
  snprintf(zSql, sizeof zSql,
           "CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[384] distance_metric=cosine,"
           " tenant_id text partition key, content_id text, +content text%s)",
           bFulltext ? " fulltext" : "");
  bench_exec(db, zSql);
  sqlite3_stmt *p = prep(db, "SELECT vg_ingest('docs', 'acme', 'doc', ?1, ?2)");
  uint64_t seed = SYN_SEED;
  double t0 = bench_now();
  for (int i = 0; i < nDoc; i++) {
    if (i % INGEST_BATCH == 0) bench_exec(db, "BEGIN");
    char zId[32];
    snprintf(zId, sizeof zId, "syn-%d", i);
    char *zDoc = synthetic_doc(s, &seed);
    sqlite3_bind_text(p, 1, zId, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(p, 2, zDoc, -1, free);
    if (sqlite3_step(p) != SQLITE_ROW) bench_die("vg_ingest", sqlite3_errmsg(db));
    sqlite3_reset(p);
    if (i % INGEST_BATCH == INGEST_BATCH - 1 || i == nDoc - 1) bench_exec(db, "COMMIT");
  }
  sqlite3_finalize(p);
  b->tIngest = bench_now() - t0;
  t0 = bench_now();
  queue_drain(db, &b->rs);
  b->tRun = bench_now() - t0;
  expect_model(db, "docs");

  bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  b->mib = file_mib(zPath);
  sqlite3_stmt *pFree = prep(db, "SELECT f.freelist_count * s.page_size FROM pragma_freelist_count AS f,"
                                 " pragma_page_size AS s");
  if (sqlite3_step(pFree) != SQLITE_ROW) bench_die("freelist_count", sqlite3_errmsg(db));
  b->freeMib = sqlite3_column_double(pFree, 0) / (1024.0 * 1024.0);
  sqlite3_finalize(pFree);
  /* With dbstat: the table's own pages (docs and its shadow tables, their
  ** indexes) and the full-text index's among them. */
  b->tableMib = b->ftMib = -1;
  sqlite3_stmt *pStat = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT sum(d.pgsize), sum(d.pgsize) FILTER (WHERE m.tbl_name IN ('docs_ftstat',"
                         " 'docs_ftpost', 'docs_ftpend')) FROM dbstat AS d JOIN sqlite_schema AS m ON m.name = d.name"
                         " WHERE m.tbl_name LIKE 'docs\\_%' ESCAPE '\\'",
                         -1, &pStat, 0) == SQLITE_OK &&
      sqlite3_step(pStat) == SQLITE_ROW) {
    b->tableMib = sqlite3_column_double(pStat, 0) / (1024.0 * 1024.0);
    b->ftMib = sqlite3_column_double(pStat, 1) / (1024.0 * 1024.0);
  }
  sqlite3_finalize(pStat);
  return db;
}

static void print_build(const char *zName, int nDoc, const Build *b) {
  double t = b->tIngest + b->tRun;
  printf("  %-22s ingest %6.1f s + run %6.1f s = %6.1f s = %5.0f documents/s (%d chunks, %d failed, %d dead)\n",
         zName, b->tIngest, b->tRun, t, nDoc / t, b->rs.nChunk, b->rs.nFailed, b->rs.nDead);
}

/* Latency of nQ queries (the train texts cycled) through a statement
** taking the query text as ?1; p50 and p99 in ms, failures counted. */
static void latency(sqlite3 *db, sqlite3_stmt *p, const Data *d, double *pP50, double *pP99, int *pFail) {
  double *aMs = malloc(sizeof(double) * LATENCY_QUERIES);
  int nTimed = 0, nFail = 0;
  sqlite3_bind_text(p, 1, "vitamin D deficiency and bone fractures", -1, SQLITE_STATIC);
  while (sqlite3_step(p) == SQLITE_ROW) {
  }
  sqlite3_reset(p);
  for (int i = 0; i < LATENCY_QUERIES; i++) {
    sqlite3_bind_text(p, 1, d->aQuery[i % d->nQuery].zText, -1, SQLITE_STATIC);
    int rc, nRow = 0;
    double t0 = bench_now();
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) nRow++;
    double dt = bench_now() - t0;
    if (rc != SQLITE_DONE) {
      if (!no_words_error(db)) bench_die("query", sqlite3_errmsg(db));
      nFail++;
    } else {
      aMs[nTimed++] = dt * 1e3;
    }
    sqlite3_reset(p);
  }
  *pP50 = quantile(aMs, nTimed, 0.50);
  *pP99 = quantile(aMs, nTimed, 0.99);
  *pFail = nFail;
  free(aMs);
}

static void part_scale(const char *zDir, const char *zExt, const Data *d, int nDoc) {
  Sentences s;
  split_sentences(d, &s);
  printf("[2] scale: %d synthetic documents (each %d of SciFact's %d sentences, xorshift seed 0x%016llx),"
         " all in tenant 'acme'\n", nDoc, SYN_SENTENCES, s.n, (unsigned long long)SYN_SEED);
  printf("  table A: +content text fulltext; table B: the same without fulltext; one file each (WAL,"
         " synchronous=NORMAL, cache_size 256 MiB)\n");
  printf("  vg_ingest in transactions of %d, then vg_queue_run(256) until empty; built B, A, B\n", INGEST_BATCH);

  char zA[4200], zB[4200];
  snprintf(zA, sizeof zA, "%s/fulltext.db", zDir);
  snprintf(zB, sizeof zB, "%s/plain.db", zDir);
  Build b1, a, b2;
  sqlite3 *db = build_table(zB, zExt, 0, nDoc, &s, &b1);
  print_build("B (no fulltext), run 1", nDoc, &b1);
  sqlite3_close(db);
  bench_remove_db(zB);
  sqlite3 *dbA = build_table(zA, zExt, 1, nDoc, &s, &a);
  print_build("A (fulltext)", nDoc, &a);
  db = build_table(zB, zExt, 0, nDoc, &s, &b2);
  print_build("B (no fulltext), run 2", nDoc, &b2);
  sqlite3_close(db);
  bench_remove_db(zB);

  double rateA = nDoc / (a.tIngest + a.tRun);
  double rateB = (nDoc / (b1.tIngest + b1.tRun) + nDoc / (b2.tIngest + b2.tRun)) / 2;
  printf("  documents/s: A %.0f, B %.0f (mean of its two runs); A/B = %.3f (target >= 0.80)\n\n", rateA, rateB,
         rateA / rateB);

  double per = 100000.0 / nDoc;
  printf("  sizes after PRAGMA wal_checkpoint(TRUNCATE), MiB (and per 100k documents): the file; the table\n"
         "  (docs and its shadow tables, by dbstat); its full-text index; free pages; the rest (the queue's and\n"
         "  audit's tables)\n");
  printf("    database | file           | table          | full-text index | free  | rest\n");
  printf("    ---------+----------------+----------------+-----------------+-------+------\n");
  const Build *apB[3] = {&a, &b1, &b2};
  static const char *const azB[3] = {"A", "B, run 1", "B, run 2"};
  for (int i = 0; i < 3; i++) {
    const Build *x = apB[i];
    char zTable[64] = "n/a", zFt[64] = "n/a", zRest[64] = "n/a";
    if (x->tableMib >= 0) {
      snprintf(zTable, sizeof zTable, "%.1f (%.1f)", x->tableMib, x->tableMib * per);
      snprintf(zRest, sizeof zRest, "%.1f", x->mib - x->tableMib - x->freeMib);
      if (i == 0) snprintf(zFt, sizeof zFt, "%.1f (%.1f)", x->ftMib, x->ftMib * per);
      else snprintf(zFt, sizeof zFt, "-");
    }
    printf("    %-8s | %6.1f (%5.1f) | %-14s | %-15s | %5.1f | %s\n", azB[i], x->mib, x->mib * per, zTable, zFt,
           x->freeMib, zRest);
  }
  double bMib = (b1.mib + b2.mib) / 2;
  printf("    A / B (B the mean of its runs): file %.3f", a.mib / bMib);
  if (a.tableMib >= 0) printf(", table %.3f", a.tableMib / ((b1.tableMib + b2.tableMib) / 2));
  printf("\n\n");

  printf("  latency on A, %d queries (SciFact train texts cycled), k = 10, tenant 'acme', one warm-up query first:\n",
         LATENCY_QUERIES);
  printf("    mode     | via              | p50 ms | p99 ms | failed (no words)\n");
  printf("    ---------+------------------+--------+--------+------------------\n");
  static const char *const azDirect[3] = {
      "SELECT rowid, score, content_id, content FROM docs WHERE content MATCH ?1 AND embedding MATCH vg_embed(?1, '"
      MODEL "') AND tenant_id = 'acme' AND k = 10",
      "SELECT rowid, distance, content_id, content FROM docs WHERE embedding MATCH vg_embed(?1, '" MODEL
      "') AND tenant_id = 'acme' AND k = 10",
      "SELECT rowid, score, content_id, content FROM docs WHERE content MATCH ?1 AND tenant_id = 'acme' AND k = 10",
  };
  double hybridP99 = 0;
  for (int m = 0; m < 3; m++) {
    char zSql[256];
    snprintf(zSql, sizeof zSql,
             "SELECT content_id FROM vg_search('docs', 'acme', ?1, 10, NULL, '{\"mode\": \"%s\"}')", azMode[m]);
    for (int v = 0; v < 2; v++) {
      sqlite3_stmt *p = prep(dbA, v == 0 ? zSql : azDirect[m]);
      double p50, p99;
      int nFail;
      latency(dbA, p, d, &p50, &p99, &nFail);
      sqlite3_finalize(p);
      if (m == 0 && v == 0) hybridP99 = p99;
      printf("    %-8s | %-16s | %6.2f | %6.2f | %d\n", azMode[m], v == 0 ? "vg_search" : "SQL on the table", p50,
             p99, nFail);
    }
  }
  printf("    (SQL on the table: MATCH vg_embed(?1, '" MODEL "') for the vector side, rowid, score or distance,"
         " content_id and content read; prepared once)\n");
  printf("    target: hybrid p99 <= 5 ms via vg_search: %.2f ms, %s\n\n", hybridP99,
         hybridP99 <= 5.0 ? "met" : "NOT met");
  sqlite3_close(dbA);
  bench_remove_db(zA);
  for (int i = 0; i < s.n; i++) free(s.az[i]);
  free(s.az);
}

int main(void) {
  double tStart = bench_now();
  const char *zExt = getenv("VG_EXTENSION"), *zShared = getenv("VG_SHARED");
  if (zExt == 0) bench_die("set VG_EXTENSION and VG_SHARED (make bench BENCH=bench_fulltext)", 0);
  char zData[4096];
  snprintf(zData, sizeof zData, "%s/data/beir-scifact", zShared ? zShared : "(VG_SHARED unset)");
  char zCheck[4200];
  int bFound = zShared != 0;
  static const char *const azFile[] = {"corpus.jsonl", "queries.jsonl", "qrels/train.tsv"};
  for (int i = 0; i < 3 && bFound; i++) {
    snprintf(zCheck, sizeof zCheck, "%s/%s", zData, azFile[i]);
    bFound = file_readable(zCheck);
  }
  if (!bFound) {
    printf("bench_fulltext: SciFact not found under %s, skipped\n", zData);
    return 0;
  }
  int nDoc = 100000;
  if (getenv("VG_BENCH_DOCS")) nDoc = atoi(getenv("VG_BENCH_DOCS"));
  if (nDoc < 1) bench_die("VG_BENCH_DOCS must be a positive number", getenv("VG_BENCH_DOCS"));

  char zDir[4096];
  const char *zTmp = getenv("VG_BENCH_DIR") ? getenv("VG_BENCH_DIR") : "/tmp";
  snprintf(zDir, sizeof zDir, "%s/vecguard-bench-fulltext-XXXXXX", zTmp);
  if (mkdtemp(zDir) == 0) bench_die("mkdtemp", zDir);

  Data d;
  load_data(zData, &d);
  if (d.nDoc == 0 || d.nQuery == 0) bench_die("empty SciFact files under", zData);
  printf("bench_fulltext: full-text and hybrid search, one thread, file databases (SQLite %s)\n\n",
         sqlite3_libversion());
  part_quality(zDir, zExt, &d);
  part_scale(zDir, zExt, &d, nDoc);
  rmdir(zDir);
  printf("total run time: %.1f s\n", bench_now() - tStart);

  for (int i = 0; i < d.nDoc; i++) {
    free(d.azDocId[i]);
    free(d.azDocText[i]);
    free(d.azAbstract[i]);
  }
  for (int i = 0; i < d.nQuery; i++) {
    for (int j = 0; j < d.aQuery[i].nRel; j++) free(d.aQuery[i].azRel[j]);
    free(d.aQuery[i].azRel);
    free(d.aQuery[i].zId);
    free(d.aQuery[i].zText);
  }
  free(d.aQuery);
  free(d.azDocId);
  free(d.azDocText);
  free(d.azAbstract);
  return 0;
}
