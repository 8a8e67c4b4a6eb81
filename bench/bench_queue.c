/*
** bench_queue.c — the pipeline's speed:
**
**   1. the built-in embedder: vg_embed over the SciFact abstracts, texts/s;
**   2. the queue: claims/s, then completions/s (each storing a vector), with
**      one and with two processes working on one WAL file;
**   3. end to end: 10,000 documents (the SciFact abstracts, each cut in two
**      at the sentence nearest its middle) through vg_ingest, vg_queue_run
**      and a vg_search, documents/s for each step.
**
** Needs $VG_EXTENSION and $VG_SHARED (run it with make bench
** BENCH=bench_queue).  No peer does this in SQLite, so it prints rates
** only; on this shared machine they vary by ±20% from run to run.
*/
#include "benchutil.h"

#include <sys/wait.h>

/* ---- the corpus --------------------------------------------------------- */

/* corpus(id, title, body) from corpus.jsonl, read with SQLite's JSON. */
static int load_corpus(sqlite3 *db, const char *zShared) {
  char zPath[4096];
  snprintf(zPath, sizeof zPath, "%s/data/beir-scifact/corpus.jsonl", zShared);
  FILE *f = fopen(zPath, "rb");
  if (f == 0) bench_die("cannot open", zPath);
  bench_exec(db, "CREATE TABLE corpus(id TEXT PRIMARY KEY, title TEXT, body TEXT); BEGIN");
  sqlite3_stmt *p = 0;
  sqlite3_prepare_v2(db, "INSERT INTO corpus VALUES (?1 ->> '_id', ?1 ->> 'title', ?1 ->> 'text')", -1, &p, 0);
  char *zLine = 0;
  size_t nCap = 0;
  ssize_t n;
  int nDoc = 0;
  while ((n = getline(&zLine, &nCap, f)) > 0) {
    sqlite3_bind_text(p, 1, zLine, (int)n, SQLITE_STATIC);
    if (sqlite3_step(p) != SQLITE_DONE) bench_die("corpus line", sqlite3_errmsg(db));
    sqlite3_reset(p);
    nDoc++;
  }
  free(zLine);
  fclose(f);
  sqlite3_finalize(p);
  bench_exec(db, "COMMIT");
  return nDoc;
}

/* ---- 1. the embedder ---------------------------------------------------- */

static void bench_embedder(sqlite3 *db, int nDoc) {
  static const char *const azModel[] = {"hash2:384", "hash:384"};
  for (int m = 0; m < 2; m++) {
    sqlite3_stmt *p = 0;
    sqlite3_prepare_v2(db, "SELECT count(vg_embed(body, ?1)), sum(length(CAST(body AS BLOB))) FROM corpus", -1, &p, 0);
    sqlite3_bind_text(p, 1, azModel[m], -1, SQLITE_STATIC);
    double t0 = bench_now();
    sqlite3_step(p);
    double dt = bench_now() - t0;
    double nBytes = sqlite3_column_double(p, 1);
    sqlite3_finalize(p);
    printf("embedder %s, vg_embed over %d abstracts (%.1f MB): %.3f s, %.0f texts/s, %.1f MB/s\n", azModel[m], nDoc,
           nBytes / 1e6, dt, nDoc / dt, nBytes / 1e6 / dt);
  }
}

/* ---- 2. the queue ------------------------------------------------------- */

#define QUEUE_ITEMS 10000

static void queue_fill(const char *zPath, const char *zExt) {
  sqlite3 *db = bench_open(zPath, zExt);
  bench_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                 "CREATE VIRTUAL TABLE items USING vg_hnsw(embedding float[64], tenant_id text partition key,"
                 " content_id text, +content text);"
                 "SELECT vg_queue_init()");
  bench_exec(db, "BEGIN");
  sqlite3_stmt *p = 0;
  sqlite3_prepare_v2(db, "SELECT vg_enqueue('items', 't' || (?1 % 4), 'doc', ?1, 'item text ' || ?1)", -1, &p, 0);
  for (int i = 0; i < QUEUE_ITEMS; i++) {
    sqlite3_bind_int(p, 1, i);
    if (sqlite3_step(p) != SQLITE_ROW) bench_die("enqueue", sqlite3_errmsg(db));
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  bench_exec(db, "COMMIT");
  sqlite3_close(db);
}

/* One worker process: claim one item at a time until none is left
** (bComplete 0), or complete every item its worker holds (bComplete 1). */
static int queue_worker(const char *zPath, const char *zExt, int iWorker, int bComplete) {
  sqlite3 *db = 0;
  char *zErr = 0;
  if (sqlite3_open(zPath, &db) != SQLITE_OK) return -1;
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) return -1;
  sqlite3_busy_timeout(db, 10000);
  bench_exec(db, "PRAGMA synchronous = NORMAL");
  char zWorker[32];
  snprintf(zWorker, sizeof zWorker, "w%d", iWorker);
  int n = 0;
  sqlite3_stmt *p = 0;
  if (!bComplete) {
    sqlite3_prepare_v2(db, "SELECT vg_queue_claim(?1, 1) <> '[]'", -1, &p, 0);
    sqlite3_bind_text(p, 1, zWorker, -1, SQLITE_STATIC);
    for (;;) {
      if (sqlite3_step(p) != SQLITE_ROW) bench_die("claim", sqlite3_errmsg(db));
      int bGot = sqlite3_column_int(p, 0);
      sqlite3_reset(p);
      if (!bGot) break;
      n++;
    }
  } else {
    sqlite3_stmt *pIds = 0;
    sqlite3_prepare_v2(db, "SELECT json_group_array(id) FROM vg_queue WHERE worker_id = ?1 AND status = 'processing'",
                       -1, &pIds, 0);
    sqlite3_bind_text(pIds, 1, zWorker, -1, SQLITE_STATIC);
    sqlite3_step(pIds);
    char *zIds = sqlite3_mprintf("%s", sqlite3_column_text(pIds, 0));
    sqlite3_finalize(pIds);
    /* The ids first, in a statement of their own: completing writes. */
    sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1)", -1, &pIds, 0);
    sqlite3_bind_text(pIds, 1, zIds, -1, SQLITE_STATIC);
    int nId = 0, *aId = malloc(sizeof(int) * QUEUE_ITEMS);
    while (sqlite3_step(pIds) == SQLITE_ROW && nId < QUEUE_ITEMS) aId[nId++] = sqlite3_column_int(pIds, 0);
    sqlite3_finalize(pIds);
    sqlite3_free(zIds);
    sqlite3_prepare_v2(db, "SELECT vg_queue_complete(?1, vg_embed('item text', 'hash:64'), ?2)", -1, &p, 0);
    sqlite3_bind_text(p, 2, zWorker, -1, SQLITE_STATIC);
    for (int i = 0; i < nId; i++) {
      sqlite3_bind_int(p, 1, aId[i]);
      if (sqlite3_step(p) != SQLITE_ROW) bench_die("complete", sqlite3_errmsg(db));
      sqlite3_reset(p);
      n++;
    }
    free(aId);
  }
  sqlite3_finalize(p);
  sqlite3_close(db);
  return n;
}

/* Run nProc workers at once; the items each handled in anDone. */
static double queue_phase(const char *zPath, const char *zExt, int nProc, int bComplete, int *anDone) {
  int aFd[2][2];
  pid_t aPid[2];
  double t0 = bench_now();
  for (int i = 0; i < nProc; i++) {
    if (pipe(aFd[i]) != 0) bench_die("pipe", 0);
    aPid[i] = fork();
    if (aPid[i] == 0) {
      int n = queue_worker(zPath, zExt, i, bComplete);
      if (write(aFd[i][1], &n, sizeof n) != sizeof n) _exit(1);
      _exit(0);
    }
  }
  for (int i = 0; i < nProc; i++) {
    if (read(aFd[i][0], &anDone[i], sizeof(int)) != sizeof(int)) anDone[i] = -1;
    waitpid(aPid[i], 0, 0);
    close(aFd[i][0]);
    close(aFd[i][1]);
  }
  return bench_now() - t0;
}

static void bench_queue_processes(const char *zExt) {
  char zPath[256];
  snprintf(zPath, sizeof zPath, "%s/vecguard-bench-queue-%d.db", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           (int)getpid());
  for (int nProc = 1; nProc <= 2; nProc++) {
    queue_fill(zPath, zExt);
    int anClaim[2] = {0, 0}, anDone[2] = {0, 0};
    double tClaim = queue_phase(zPath, zExt, nProc, 0, anClaim);
    double tDone = queue_phase(zPath, zExt, nProc, 1, anDone);
    int nClaim = anClaim[0] + anClaim[1], nDone = anDone[0] + anDone[1];
    printf("queue, %d process%s (WAL, synchronous=NORMAL, one item per call): %d claims in %.2f s = %.0f claims/s"
           " (split %d/%d); %d completions in %.2f s = %.0f completions/s\n",
           nProc, nProc > 1 ? "es" : "", nClaim, tClaim, nClaim / tClaim, anClaim[0], anClaim[1], nDone, tDone,
           nDone / tDone);
    if (nClaim != QUEUE_ITEMS || nDone != QUEUE_ITEMS) bench_die("the queue lost or doubled items", 0);
    bench_remove_db(zPath);
  }
}

/* ---- 3. end to end ------------------------------------------------------ */

#define E2E_DOCS 10000

/* docs(id, body): each abstract cut in two at the ". " nearest its middle,
** the title in front of the first half. */
static int make_documents(sqlite3 *db) {
  bench_exec(db, "CREATE TABLE docs(id TEXT PRIMARY KEY, body TEXT)");
  sqlite3_stmt *pRead = 0, *pIns = 0;
  sqlite3_prepare_v2(db, "SELECT id, title, body FROM corpus ORDER BY rowid", -1, &pRead, 0);
  sqlite3_prepare_v2(db, "INSERT INTO docs VALUES (?1, ?2)", -1, &pIns, 0);
  int nDoc = 0;
  bench_exec(db, "BEGIN");
  while (nDoc < E2E_DOCS && sqlite3_step(pRead) == SQLITE_ROW) {
    const char *zId = (const char *)sqlite3_column_text(pRead, 0);
    const char *zTitle = (const char *)sqlite3_column_text(pRead, 1);
    const char *zBody = (const char *)sqlite3_column_text(pRead, 2);
    int n = (int)strlen(zBody), iCut = -1;
    for (int i = 0; i + 1 < n; i++) {
      if (zBody[i] == '.' && zBody[i + 1] == ' ' && (iCut < 0 || abs(i - n / 2) < abs(iCut - n / 2))) iCut = i + 1;
    }
    char *azPart[2];
    azPart[0] = sqlite3_mprintf("%s. %.*s", zTitle, iCut < 0 ? n : iCut, zBody);
    azPart[1] = iCut < 0 ? 0 : sqlite3_mprintf("%s", zBody + iCut + 1);
    for (int k = 0; k < 2 && nDoc < E2E_DOCS; k++) {
      if (azPart[k] == 0) continue;
      char zDocId[64];
      snprintf(zDocId, sizeof zDocId, "%s-%d", zId, k);
      sqlite3_bind_text(pIns, 1, zDocId, -1, SQLITE_TRANSIENT);
      sqlite3_bind_text(pIns, 2, azPart[k], -1, SQLITE_STATIC);
      if (sqlite3_step(pIns) != SQLITE_DONE) bench_die("docs", sqlite3_errmsg(db));
      sqlite3_reset(pIns);
      nDoc++;
    }
    sqlite3_free(azPart[0]);
    sqlite3_free(azPart[1]);
  }
  bench_exec(db, "COMMIT");
  sqlite3_finalize(pRead);
  sqlite3_finalize(pIns);
  return nDoc;
}

static void bench_end_to_end(sqlite3 *db) {
  int nDoc = make_documents(db);
  bench_exec(db, "CREATE VIRTUAL TABLE vecs USING vg_hnsw(embedding float[384] distance_metric=cosine,"
                 " tenant_id text partition key, content_type text, content_id text, chunk_index integer,"
                 " +content text);"
                 "SELECT vg_pii_set_key(randomblob(32))");
  /* Ingest: one vg_ingest per document, all in one transaction. */
  sqlite3_stmt *pRead = 0, *pIngest = 0;
  sqlite3_prepare_v2(db, "SELECT id, body FROM docs", -1, &pRead, 0);
  sqlite3_prepare_v2(db, "SELECT vg_ingest('vecs', 'tenant-' || (abs(?3) % 4), 'abstract', ?1, ?2)", -1, &pIngest, 0);
  double t0 = bench_now();
  bench_exec(db, "BEGIN");
  for (int i = 0; sqlite3_step(pRead) == SQLITE_ROW; i++) {
    sqlite3_bind_value(pIngest, 1, sqlite3_column_value(pRead, 0));
    sqlite3_bind_value(pIngest, 2, sqlite3_column_value(pRead, 1));
    sqlite3_bind_int(pIngest, 3, i);
    if (sqlite3_step(pIngest) != SQLITE_ROW) bench_die("vg_ingest", sqlite3_errmsg(db));
    sqlite3_reset(pIngest);
  }
  bench_exec(db, "COMMIT");
  double tIngest = bench_now() - t0;
  sqlite3_finalize(pRead);
  sqlite3_finalize(pIngest);
  /* Run the queue dry, 256 items a call. */
  sqlite3_stmt *pRun = 0;
  sqlite3_prepare_v2(db, "SELECT j ->> 'claimed', j ->> 'chunks', j ->> 'failed' FROM (SELECT vg_queue_run(256) AS j)",
                     -1, &pRun, 0);
  t0 = bench_now();
  int nChunk = 0, nFailed = 0;
  for (;;) {
    if (sqlite3_step(pRun) != SQLITE_ROW) bench_die("vg_queue_run", sqlite3_errmsg(db));
    int nClaimed = sqlite3_column_int(pRun, 0);
    nChunk += sqlite3_column_int(pRun, 1);
    nFailed += sqlite3_column_int(pRun, 2);
    sqlite3_reset(pRun);
    if (nClaimed == 0) break;
  }
  double tRun = bench_now() - t0;
  sqlite3_finalize(pRun);
  /* Searchable: a question finds rows. */
  sqlite3_stmt *pSearch = 0;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM vg_search('vecs', 'tenant-1', 'vitamin D deficiency and bone fractures', 10)",
                     -1, &pSearch, 0);
  t0 = bench_now();
  sqlite3_step(pSearch);
  int nFound = sqlite3_column_int(pSearch, 0);
  double tSearch = bench_now() - t0;
  sqlite3_finalize(pSearch);
  printf("end to end, %d documents (hash2:384, the default, 512-token chunks, one file):\n", nDoc);
  printf("  vg_ingest (redact + audit + enqueue), one transaction: %.2f s = %.0f documents/s\n", tIngest,
         nDoc / tIngest);
  printf("  vg_queue_run(256) until empty: %.2f s = %.0f documents/s (%d chunks, %d failed)\n", tRun, nDoc / tRun,
         nChunk, nFailed);
  printf("  first vg_search (k = 10, loads the partition's graph): %.3f s, %d rows\n", tSearch, nFound);
  printf("  ingest -> run -> searchable: %.2f s = %.0f documents/s\n", tIngest + tRun + tSearch,
         nDoc / (tIngest + tRun + tSearch));
}

int main(void) {
  const char *zExt = getenv("VG_EXTENSION"), *zShared = getenv("VG_SHARED");
  if (zExt == 0 || zShared == 0) bench_die("set VG_EXTENSION and VG_SHARED (make bench BENCH=bench_queue)", 0);
  char zPath[256];
  snprintf(zPath, sizeof zPath, "%s/vecguard-bench-e2e-%d.db", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
           (int)getpid());
  sqlite3 *db = bench_open(zPath, zExt);
  bench_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL");
  int nDoc = load_corpus(db, zShared);
  bench_embedder(db, nDoc);
  bench_queue_processes(zExt);
  bench_end_to_end(db);
  sqlite3_close(db);
  bench_remove_db(zPath);
  return 0;
}
