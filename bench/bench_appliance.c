/*
** bench_appliance.c — the helper of bench/bench_vecguardd.sh, the daemon's
** speed benchmark (docs/benchmarks.md, "vecguardd: search, ingest and many
** tenants over HTTP").  It links libvecguard.a and calls vecguard_init as
** appliance/tenants.c does; its HTTP side is libcurl.  One command per call:
**
**   bench_appliance build DIR TENANT N
**       fill DIR/tenants/TENANT.db (made by `vecguardd tenant create`) with N
**       synthetic documents through SQL: its PII key from DIR/keys.db,
**       vg_ingest in transactions of 5,000, vg_queue_run until empty
**   bench_appliance queries FILE N [PERCENT]
**       write the query mix, N JSON search bodies one a line (wrk reads it);
**       PERCENT of them (default 0) filtered on $.lang
**   bench_appliance health URL
**       wait (up to 10 s) until GET URL/healthz answers 200
**   bench_appliance search DIR TENANT FILE THREADS SECONDS
**       in-process: the daemon's search SQL over FILE's bodies, THREADS
**       threads with a connection each; queries/s, p50, p99, the first
**       query of a connection (it loads the graph); VG_BENCH_PRAGMA=SQL runs
**       SQL on each connection first, VG_BENCH_REPREPARE=1 prepares per
**       query, VG_BENCH_SLOW=MS prints the queries slower than MS
**   bench_appliance put URL TENANT KEY N THREADS
**       N PUTs of synthetic documents by THREADS clients, then
**       GET .../queue until all N are done: PUTs/s, documents/s to searchable
**       (VG_BENCH_NOWAIT=1: the PUTs only)
**   bench_appliance tenants URL ADMINKEY N KEYFILE
**       POST /v1/tenants N times (b0000...), one PUT in each; "tenant key"
**       lines to KEYFILE
**   bench_appliance rotate URL KEYFILE THREADS SECONDS
**       search the tenants of KEYFILE round robin; requests/s and the
**       statuses seen (every one must be 200)
**
** The texts: 8 to 24 words of a 2,000-word vocabulary of made-up words
** (three syllables each), drawn with a skew so that some words are common;
** metadata {"lang": one of four, "n": i}.  Queries: 1 to 3 words of the same
** vocabulary, k 10 (one in five 5), unfiltered unless asked.
*/
#include "benchutil.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <vecguard.h>

/* ---- synthetic texts ---------------------------------------------------- */

#define VOCAB 2000
static const char *const azSyl[] = {"ka", "lo", "mi", "ne", "ru", "so", "ta", "vi",
                                    "de", "po", "gu", "fa", "be", "zo", "ri", "ha"};
static const char *const azLang[] = {"en", "de", "fr", "es"};

static void word(int i, char *z) {
  snprintf(z, 8, "%s%s%s", azSyl[i % 16], azSyl[(i / 16) % 16], azSyl[(i / 256) % 16]);
}

/* A word index, skewed towards small ones: u^2 of the vocabulary. */
static int pick(uint64_t *s) {
  double u = (double)(bench_rand(s) >> 11) / 9007199254740992.0;
  return (int)(u * u * VOCAB);
}

/* Document i's text into z (room for 24 words of 7 bytes). */
static void doc_text(long i, char *z) {
  uint64_t s = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(i * 2654435761u + 1);
  for (int j = 0; j < 4; j++) bench_rand(&s);
  int n = 8 + (int)(bench_rand(&s) % 17);
  z[0] = 0;
  for (int j = 0; j < n; j++) {
    char w[8];
    word(pick(&s), w);
    strcat(z, j ? " " : "");
    strcat(z, w);
  }
}

static void doc_meta(long i, char *z, size_t n) {
  snprintf(z, n, "{\"lang\":\"%s\",\"n\":%ld}", azLang[i % 4], i);
}

/* ---- build: fill a tenant's file through SQL ----------------------------- */

static sqlite3 *tenant_open(const char *zDir, const char *zTenant) {
  char zPath[4096];
  unsigned char aKey[32];
  sqlite3 *db = 0;
  sqlite3_stmt *p = 0;
  snprintf(zPath, sizeof zPath, "%s/keys.db", zDir);
  if (sqlite3_open_v2(zPath, &db, SQLITE_OPEN_READONLY, 0) != SQLITE_OK) bench_die("open", zPath);
  sqlite3_busy_timeout(db, 5000);
  if (sqlite3_prepare_v2(db, "SELECT pii_key FROM tenants WHERE id = ?", -1, &p, 0) != SQLITE_OK)
    bench_die("keys.db", sqlite3_errmsg(db));
  sqlite3_bind_text(p, 1, zTenant, -1, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_ROW || sqlite3_column_bytes(p, 0) != 32) bench_die("no PII key for", zTenant);
  memcpy(aKey, sqlite3_column_blob(p, 0), 32);
  sqlite3_finalize(p);
  sqlite3_close(db);
  db = 0;
  snprintf(zPath, sizeof zPath, "%s/tenants/%s.db", zDir, zTenant);
  char *zErr = 0;
  if (sqlite3_open_v2(zPath, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, 0) != SQLITE_OK) bench_die("open", zPath);
  sqlite3_busy_timeout(db, 5000);
  if (vecguard_init(db, &zErr) != SQLITE_OK) bench_die("vecguard_init", zErr);
  sqlite3_prepare_v2(db, "SELECT vg_pii_set_key(?)", -1, &p, 0);
  sqlite3_bind_blob(p, 1, aKey, 32, SQLITE_TRANSIENT);
  if (sqlite3_step(p) != SQLITE_ROW) bench_die("vg_pii_set_key", sqlite3_errmsg(db));
  sqlite3_finalize(p);
  return db;
}

static int cmd_build(const char *zDir, const char *zTenant, long n) {
  sqlite3 *db = tenant_open(zDir, zTenant);
  bench_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -262144; PRAGMA wal_autocheckpoint = 20000");
  sqlite3_stmt *pIngest = 0, *pRun = 0;
  sqlite3_prepare_v2(db, "SELECT vg_ingest('documents', '', 'doc', ?1, ?2, ?3, 'medium')", -1, &pIngest, 0);
  sqlite3_prepare_v2(db, "SELECT vg_queue_run(256) ->> '$.claimed'", -1, &pRun, 0);
  if (!pIngest || !pRun) bench_die("prepare", sqlite3_errmsg(db));
  double tIngest = 0, tRun = 0, t0 = bench_now();
  char zText[256], zMeta[64], zId[32];
  for (long i = 0; i < n;) {
    long iEnd = i + 5000 < n ? i + 5000 : n;
    double t = bench_now();
    bench_exec(db, "BEGIN");
    for (; i < iEnd; i++) {
      snprintf(zId, sizeof zId, "d%ld", i);
      doc_text(i, zText);
      doc_meta(i, zMeta, sizeof zMeta);
      sqlite3_bind_text(pIngest, 1, zId, -1, SQLITE_STATIC);
      sqlite3_bind_text(pIngest, 2, zText, -1, SQLITE_STATIC);
      sqlite3_bind_text(pIngest, 3, zMeta, -1, SQLITE_STATIC);
      if (sqlite3_step(pIngest) != SQLITE_ROW) bench_die("vg_ingest", sqlite3_errmsg(db));
      sqlite3_reset(pIngest);
    }
    bench_exec(db, "COMMIT");
    tIngest += bench_now() - t;
    t = bench_now();
    for (;;) {
      if (sqlite3_step(pRun) != SQLITE_ROW) bench_die("vg_queue_run", sqlite3_errmsg(db));
      int nClaimed = sqlite3_column_int(pRun, 0);
      sqlite3_reset(pRun);
      if (nClaimed == 0) break;
    }
    tRun += bench_now() - t;
  }
  sqlite3_finalize(pIngest);
  sqlite3_finalize(pRun);
  sqlite3_stmt *p = 0;
  sqlite3_prepare_v2(db, "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM vg_queue WHERE status <> 'done')",
                     -1, &p, 0);
  sqlite3_step(p);
  long nRows = sqlite3_column_int64(p, 0), nOpen = sqlite3_column_int64(p, 1);
  sqlite3_finalize(p);
  bench_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)");
  sqlite3_close(db);
  printf("build: %ld documents in %.1f s (vg_ingest %.1f s = %.0f/s, vg_queue_run %.1f s = %.0f/s); %ld rows, %ld not done\n",
         n, bench_now() - t0, tIngest, n / tIngest, tRun, n / tRun, nRows, nOpen);
  return nOpen != 0 || nRows < n;
}

/* ---- the query mix --------------------------------------------------------- */

static int cmd_queries(const char *zFile, int n, int pctFiltered) {
  FILE *f = fopen(zFile, "w");
  if (!f) bench_die("cannot write", zFile);
  uint64_t s = 0x5eed;
  for (int i = 0; i < n; i++) {
    int nWord = 1 + (int)(bench_rand(&s) % 3);
    char zQ[32] = "";
    for (int j = 0; j < nWord; j++) {
      char w[8];
      word(pick(&s), w);
      strcat(zQ, j ? " " : "");
      strcat(zQ, w);
    }
    int k = bench_rand(&s) % 5 == 0 ? 5 : 10;
    if ((int)(bench_rand(&s) % 100) < pctFiltered)
      fprintf(f, "{\"query\":\"%s\",\"k\":%d,\"filters\":{\"$.lang\":\"%s\"}}\n", zQ, k, azLang[bench_rand(&s) % 4]);
    else
      fprintf(f, "{\"query\":\"%s\",\"k\":%d}\n", zQ, k);
  }
  fclose(f);
  return 0;
}

/* One search as http.c binds it. */
typedef struct Query Query;
struct Query {
  char *zQuery, *zFilters, *zOpts;
  long long k;
};

static Query *read_queries(const char *zFile, int *pn) {
  FILE *f = fopen(zFile, "r");
  if (!f) bench_die("cannot read", zFile);
  Query *a = 0;
  int n = 0;
  char *zLine = 0;
  size_t nCap = 0;
  while (getline(&zLine, &nCap, f) > 0) {
    json_error_t e;
    json_t *p = json_loads(zLine, 0, &e);
    if (!p) bench_die("query file", e.text);
    a = realloc(a, (size_t)(n + 1) * sizeof *a);
    Query *q = &a[n++];
    q->zQuery = strdup(json_string_value(json_object_get(p, "query")));
    q->k = json_object_get(p, "k") ? json_integer_value(json_object_get(p, "k")) : 10;
    json_t *pF = json_object_get(p, "filters");
    q->zFilters = pF ? json_dumps(pF, JSON_COMPACT) : 0;
    q->zOpts = strdup("{}"); /* no mode, no threshold: what http.c sends */
    json_decref(p);
  }
  free(zLine);
  fclose(f);
  *pn = n;
  return a;
}

/* ---- search in-process ------------------------------------------------------ */

typedef struct SearchThread SearchThread;
struct SearchThread {
  pthread_t th;
  const char *zDir, *zTenant;
  Query *aQ;
  int nQ, iStart;
  double tEnd, tWarm;
  int bReprepare;
  double *aLat;
  long nLat, nCap, nRows;
  double tFirst; /* the connection's first query: it loads the graph */
};

static const char *kSearchSql =
    "SELECT s.score, s.content_type, s.content_id, s.content, d.metadata"
    " FROM vg_search('documents', '', ?1, ?2, ?3, ?4) AS s"
    " JOIN documents AS d ON d.rowid = s.target_rowid ORDER BY s.rank";

static void *search_main(void *pArg) {
  SearchThread *t = pArg;
  sqlite3 *db = tenant_open(t->zDir, t->zTenant);
  /* Set as the daemon sets its connections (mmap_bytes' default, 1 GiB);
  ** VG_BENCH_PRAGMA="PRAGMA ..." tries another setting, in-process only. */
  bench_exec(db, "PRAGMA mmap_size = 1073741824");
  if (getenv("VG_BENCH_PRAGMA")) bench_exec(db, getenv("VG_BENCH_PRAGMA"));
  sqlite3_stmt *p = 0;
  for (long i = t->iStart;; i++) {
    double t0 = bench_now();
    if (t0 >= t->tEnd) break;
    Query *q = &t->aQ[i % t->nQ];
    if (!p && sqlite3_prepare_v2(db, kSearchSql, -1, &p, 0) != SQLITE_OK) bench_die("prepare", sqlite3_errmsg(db));
    sqlite3_bind_text(p, 1, q->zQuery, -1, SQLITE_STATIC);
    sqlite3_bind_int64(p, 2, q->k * 4);
    if (q->zFilters) sqlite3_bind_text(p, 3, q->zFilters, -1, SQLITE_STATIC);
    else sqlite3_bind_null(p, 3);
    sqlite3_bind_text(p, 4, q->zOpts, -1, SQLITE_STATIC);
    int rc;
    long nOut = 0;
    size_t nBytes = 0;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
      /* read what http.c reads */
      nBytes += sqlite3_column_bytes(p, 2) + sqlite3_column_bytes(p, 3) + sqlite3_column_bytes(p, 4);
      (void)sqlite3_column_double(p, 0);
      nOut++;
    }
    if (rc != SQLITE_DONE) bench_die("search", sqlite3_errmsg(db));
    if (t->bReprepare) {
      sqlite3_finalize(p);
      p = 0;
    } else {
      sqlite3_reset(p);
    }
    double t1 = bench_now();
    if (i == t->iStart) t->tFirst = t1 - t0;
    /* VG_BENCH_SLOW=MS: the queries slower than MS, to stderr */
    if (getenv("VG_BENCH_SLOW") && (t1 - t0) * 1e3 > atof(getenv("VG_BENCH_SLOW")))
      fprintf(stderr, "slow: %.1f ms k=%lld %s %s\n", (t1 - t0) * 1e3, q->k, q->zQuery, q->zFilters ? q->zFilters : "");
    if (t0 < t->tWarm) continue;
    if (t->nLat == t->nCap) {
      t->nCap = t->nCap ? 2 * t->nCap : 4096;
      t->aLat = realloc(t->aLat, (size_t)t->nCap * sizeof *t->aLat);
    }
    t->aLat[t->nLat++] = t1 - t0;
    t->nRows += nOut;
  }
  sqlite3_finalize(p);
  sqlite3_close(db);
  return 0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int cmd_search(const char *zDir, const char *zTenant, const char *zFile, int nThread, double seconds) {
  int nQ;
  Query *aQ = read_queries(zFile, &nQ);
  SearchThread *a = calloc((size_t)nThread, sizeof *a);
  double warm = 2.0, t0 = bench_now();
  for (int i = 0; i < nThread; i++) {
    a[i].zDir = zDir;
    a[i].zTenant = zTenant;
    a[i].aQ = aQ;
    a[i].nQ = nQ;
    a[i].iStart = i * nQ / nThread;
    a[i].tWarm = t0 + warm;
    a[i].tEnd = t0 + warm + seconds;
    a[i].bReprepare = getenv("VG_BENCH_REPREPARE") != 0;
    pthread_create(&a[i].th, 0, search_main, &a[i]);
  }
  long n = 0, nRows = 0;
  double tFirst = 0;
  for (int i = 0; i < nThread; i++) {
    pthread_join(a[i].th, 0);
    n += a[i].nLat;
    nRows += a[i].nRows;
    if (a[i].tFirst > tFirst) tFirst = a[i].tFirst;
  }
  double *aLat = malloc((size_t)(n ? n : 1) * sizeof *aLat);
  long j = 0;
  for (int i = 0; i < nThread; i++) {
    memcpy(aLat + j, a[i].aLat, (size_t)a[i].nLat * sizeof *aLat);
    j += a[i].nLat;
  }
  qsort(aLat, (size_t)n, sizeof *aLat, cmp_double);
  printf("in-process: %d threads, %.0f s: %ld queries = %.0f queries/s, p50 %.2f ms, p99 %.2f ms, %.1f rows/query%s; "
         "first query of a connection %.0f ms\n",
         nThread, seconds, n, n / seconds, n ? aLat[n / 2] * 1e3 : 0, n ? aLat[(long)(n * 0.99)] * 1e3 : 0,
         n ? (double)nRows / n : 0, a[0].bReprepare ? " (prepared per query)" : "", tFirst * 1e3);
  return 0;
}

/* ---- HTTP: PUTs, tenants, rotation ---------------------------------------- */

typedef struct Buf Buf;
struct Buf {
  char *z;
  size_t n;
};

static size_t on_body(char *p, size_t sz, size_t nm, void *pArg) {
  Buf *b = pArg;
  size_t n = sz * nm;
  b->z = realloc(b->z, b->n + n + 1);
  memcpy(b->z + b->n, p, n);
  b->n += n;
  b->z[b->n] = 0;
  return n;
}

/* One request on handle h (kept alive between calls); the status, the body
** into *pBuf (reset first). */
static long http(CURL *h, const char *zMethod, const char *zUrl, const char *zKey, const char *zBody, Buf *pBuf) {
  char zAuth[256];
  snprintf(zAuth, sizeof zAuth, "Authorization: Bearer %s", zKey);
  struct curl_slist *pH = curl_slist_append(0, zAuth);
  pH = curl_slist_append(pH, "Content-Type: application/json");
  pH = curl_slist_append(pH, "Expect:");
  pBuf->n = 0;
  curl_easy_setopt(h, CURLOPT_URL, zUrl);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, zMethod);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, pH);
  curl_easy_setopt(h, CURLOPT_POSTFIELDS, zBody);
  curl_easy_setopt(h, CURLOPT_HTTPGET, zBody ? 0L : 1L);
  if (!zBody) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, zMethod);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, pBuf);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
  long status = 0;
  CURLcode rc = curl_easy_perform(h);
  if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  else fprintf(stderr, "bench: %s %s: %s\n", zMethod, zUrl, curl_easy_strerror(rc));
  curl_slist_free_all(pH);
  return status;
}

typedef struct PutThread PutThread;
struct PutThread {
  pthread_t th;
  const char *zUrl, *zTenant, *zKey;
  long iFrom, iTo, nBad;
};

static void *put_main(void *pArg) {
  PutThread *t = pArg;
  CURL *h = curl_easy_init();
  Buf b = {0, 0};
  char zUrl[512], zBody[512], zText[256], zMeta[64];
  for (long i = t->iFrom; i < t->iTo; i++) {
    snprintf(zUrl, sizeof zUrl, "%s/v1/tenants/%s/documents/p%ld", t->zUrl, t->zTenant, i);
    doc_text(i, zText);
    doc_meta(i, zMeta, sizeof zMeta);
    snprintf(zBody, sizeof zBody, "{\"text\":\"%s\",\"metadata\":%s}", zText, zMeta);
    long st = http(h, "PUT", zUrl, t->zKey, zBody, &b);
    if (st != 202) {
      if (t->nBad++ < 3) fprintf(stderr, "bench: PUT %s: %ld %s\n", zUrl, st, b.z ? b.z : "");
    }
  }
  free(b.z);
  curl_easy_cleanup(h);
  return 0;
}

static int cmd_put(const char *zUrl, const char *zTenant, const char *zKey, long n, int nThread) {
  PutThread *a = calloc((size_t)nThread, sizeof *a);
  double t0 = bench_now();
  for (int i = 0; i < nThread; i++) {
    a[i] = (PutThread){.zUrl = zUrl, .zTenant = zTenant, .zKey = zKey, .iFrom = n * i / nThread,
                       .iTo = n * (i + 1) / nThread};
    pthread_create(&a[i].th, 0, put_main, &a[i]);
  }
  long nBad = 0;
  for (int i = 0; i < nThread; i++) {
    pthread_join(a[i].th, 0);
    nBad += a[i].nBad;
  }
  double tPut = bench_now() - t0;
  printf("ingest: %ld PUTs by %d clients in %.2f s = %.0f PUTs/s (%ld not 202); ", n, nThread, tPut, n / tPut, nBad);
  fflush(stdout);
  if (getenv("VG_BENCH_NOWAIT")) return printf("\n"), nBad != 0;
  /* until the queue has done them all */
  CURL *h = curl_easy_init();
  Buf b = {0, 0};
  char zQ[512];
  snprintf(zQ, sizeof zQ, "%s/v1/tenants/%s/queue", zUrl, zTenant);
  long nDone = 0, nOther = 0;
  double tEnd = t0 + 600;
  while (bench_now() < tEnd) {
    if (http(h, "GET", zQ, zKey, 0, &b) == 200) {
      json_t *p = json_loads(b.z, 0, 0);
      json_t *s = json_object_get(p, "by_status");
      nDone = json_integer_value(json_object_get(s, "done"));
      nOther = json_integer_value(json_object_get(s, "failed")) + json_integer_value(json_object_get(s, "dead"));
      json_decref(p);
      if (nDone + nOther >= n) break;
    }
    usleep(20000);
  }
  double tAll = bench_now() - t0;
  free(b.z);
  curl_easy_cleanup(h);
  printf("all done in %.2f s = %.0f documents/s PUT to searchable (%ld done, %ld failed or dead)\n", tAll,
         nDone / tAll, nDone, nOther);
  return nBad || nDone != n;
}

static int cmd_tenants(const char *zUrl, const char *zAdmin, int n, const char *zFile) {
  FILE *f = fopen(zFile, "w");
  if (!f) bench_die("cannot write", zFile);
  CURL *h = curl_easy_init();
  Buf b = {0, 0};
  char zU[512], zBody[512], zText[256], zMeta[64], zT[32];
  double t0 = bench_now(), tPut = 0;
  int nBad = 0;
  for (int i = 0; i < n; i++) {
    snprintf(zT, sizeof zT, "b%04d", i);
    snprintf(zU, sizeof zU, "%s/v1/tenants", zUrl);
    snprintf(zBody, sizeof zBody, "{\"tenant\":\"%s\"}", zT);
    long st = http(h, "POST", zU, zAdmin, zBody, &b);
    if (st != 201) bench_die("POST /v1/tenants", b.z);
    json_t *p = json_loads(b.z, 0, 0);
    char *zKey = strdup(json_string_value(json_object_get(p, "key")));
    json_decref(p);
    fprintf(f, "%s %s\n", zT, zKey);
    double t = bench_now();
    snprintf(zU, sizeof zU, "%s/v1/tenants/%s/documents/one", zUrl, zT);
    doc_text(i, zText);
    doc_meta(i, zMeta, sizeof zMeta);
    snprintf(zBody, sizeof zBody, "{\"text\":\"%s\",\"metadata\":%s}", zText, zMeta);
    if (http(h, "PUT", zU, zKey, zBody, &b) != 202) nBad++;
    tPut += bench_now() - t;
    free(zKey);
  }
  double dt = bench_now() - t0;
  fclose(f);
  /* until the workers have embedded every tenant's document */
  f = fopen(zFile, "r");
  char zKey[128];
  int nWait = 0;
  double tWait = bench_now();
  while (fscanf(f, "%31s %127s", zT, zKey) == 2) {
    snprintf(zU, sizeof zU, "%s/v1/tenants/%s/queue", zUrl, zT);
    for (;;) {
      long st = http(h, "GET", zU, zKey, 0, &b);
      json_t *p = st == 200 ? json_loads(b.z, 0, 0) : 0;
      long nDone = json_integer_value(json_object_get(json_object_get(p, "by_status"), "done"));
      json_decref(p);
      if (nDone >= 1) break;
      if (bench_now() - tWait > 300) bench_die("not embedded within 300 s", zT);
      nWait++;
      usleep(50000);
    }
  }
  fclose(f);
  free(b.z);
  curl_easy_cleanup(h);
  printf("tenants: %d created through POST /v1/tenants, one PUT each, in %.1f s (%.1f ms per tenant, of which PUT "
         "%.1f ms); %d PUTs not 202; all embedded %.1f s later\n",
         n, dt, dt * 1e3 / n, tPut * 1e3 / n, nBad, bench_now() - tWait);
  return nBad != 0;
}

typedef struct Tenant Tenant;
struct Tenant {
  char zTenant[72], zKey[128];
};

typedef struct RotThread RotThread;
struct RotThread {
  pthread_t th;
  const char *zUrl;
  Tenant *aT;
  int nT, iThread, nThread;
  double tEnd;
  long n, n200, nOther, nRows;
  double *aLat;
  long nCap;
  long aStatus[4]; /* the first other statuses seen */
};

static _Atomic long iNextTenant;

static void *rot_main(void *pArg) {
  RotThread *t = pArg;
  CURL *h = curl_easy_init();
  Buf b = {0, 0};
  char zU[512], zBody[128];
  uint64_t s = 77 + (uint64_t)t->iThread;
  while (bench_now() < t->tEnd) {
    Tenant *p = &t->aT[iNextTenant++ % t->nT];
    char w[8];
    word(pick(&s), w);
    snprintf(zU, sizeof zU, "%s/v1/tenants/%s/search", t->zUrl, p->zTenant);
    snprintf(zBody, sizeof zBody, "{\"query\":\"%s\",\"k\":5}", w);
    double t0 = bench_now();
    long st = http(h, "POST", zU, p->zKey, zBody, &b);
    double dt = bench_now() - t0;
    if (t->n == t->nCap) {
      t->nCap = t->nCap ? 2 * t->nCap : 4096;
      t->aLat = realloc(t->aLat, (size_t)t->nCap * sizeof *t->aLat);
    }
    t->aLat[t->n++] = dt;
    if (st == 200) {
      t->n200++;
    } else {
      if (t->nOther < 4) t->aStatus[t->nOther] = st;
      if (t->nOther++ < 3) fprintf(stderr, "bench: search %s: %ld %s\n", p->zTenant, st, b.z ? b.z : "");
    }
  }
  free(b.z);
  curl_easy_cleanup(h);
  return 0;
}

static int cmd_rotate(const char *zUrl, const char *zFile, int nThread, double seconds) {
  FILE *f = fopen(zFile, "r");
  if (!f) bench_die("cannot read", zFile);
  Tenant *aT = 0;
  int nT = 0;
  Tenant t;
  while (fscanf(f, "%71s %127s", t.zTenant, t.zKey) == 2) {
    aT = realloc(aT, (size_t)(nT + 1) * sizeof *aT);
    aT[nT++] = t;
  }
  fclose(f);
  RotThread *a = calloc((size_t)nThread, sizeof *a);
  double t0 = bench_now();
  for (int i = 0; i < nThread; i++) {
    a[i] = (RotThread){.zUrl = zUrl, .aT = aT, .nT = nT, .iThread = i, .nThread = nThread, .tEnd = t0 + seconds};
    pthread_create(&a[i].th, 0, rot_main, &a[i]);
  }
  long n = 0, n200 = 0, nOther = 0;
  for (int i = 0; i < nThread; i++) pthread_join(a[i].th, 0);
  double dt = bench_now() - t0;
  double *aLat = 0;
  for (int i = 0; i < nThread; i++) {
    aLat = realloc(aLat, (size_t)(n + a[i].n + 1) * sizeof *aLat);
    memcpy(aLat + n, a[i].aLat, (size_t)a[i].n * sizeof *aLat);
    n += a[i].n;
    n200 += a[i].n200;
    nOther += a[i].nOther;
  }
  qsort(aLat, (size_t)n, sizeof *aLat, cmp_double);
  printf("rotation: %d tenants round robin, %d clients, %.1f s: %ld searches = %.0f requests/s, p50 %.2f ms, p99 %.2f "
         "ms; %ld were 200, %ld not\n",
         nT, nThread, dt, n, n / dt, n ? aLat[n / 2] * 1e3 : 0, n ? aLat[(long)(n * 0.99)] * 1e3 : 0, n200, nOther);
  return nOther != 0;
}

/* Wait until GET URL/healthz answers 200 (the daemon listens). */
static int cmd_health(const char *zUrl, double seconds) {
  CURL *h = curl_easy_init();
  Buf b = {0, 0};
  char zU[512];
  snprintf(zU, sizeof zU, "%s/healthz", zUrl);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 500L);
  double tEnd = bench_now() + seconds;
  int ok = 0;
  while (!ok && bench_now() < tEnd) {
    CURL *h1 = curl_easy_init();
    curl_easy_setopt(h1, CURLOPT_URL, zU);
    curl_easy_setopt(h1, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h1, CURLOPT_WRITEDATA, &b);
    long st = 0;
    if (curl_easy_perform(h1) == CURLE_OK) curl_easy_getinfo(h1, CURLINFO_RESPONSE_CODE, &st);
    curl_easy_cleanup(h1);
    ok = st == 200;
    if (!ok) usleep(50000);
  }
  free(b.z);
  curl_easy_cleanup(h);
  return !ok;
}

int main(int argc, char **argv) {
  const char *zCmd = argc > 1 ? argv[1] : "";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  if (!strcmp(zCmd, "health") && argc == 3) return cmd_health(argv[2], 10);
  if (!strcmp(zCmd, "build") && argc == 5) return cmd_build(argv[2], argv[3], atol(argv[4]));
  if (!strcmp(zCmd, "queries") && (argc == 4 || argc == 5))
    return cmd_queries(argv[2], atoi(argv[3]), argc == 5 ? atoi(argv[4]) : 0);
  if (!strcmp(zCmd, "search") && argc == 7) return cmd_search(argv[2], argv[3], argv[4], atoi(argv[5]), atof(argv[6]));
  if (!strcmp(zCmd, "put") && argc == 7) return cmd_put(argv[2], argv[3], argv[4], atol(argv[5]), atoi(argv[6]));
  if (!strcmp(zCmd, "tenants") && argc == 6) return cmd_tenants(argv[2], argv[3], atoi(argv[4]), argv[5]);
  if (!strcmp(zCmd, "rotate") && argc == 6) return cmd_rotate(argv[2], argv[3], atoi(argv[4]), atof(argv[5]));
  fprintf(stderr,
          "usage: bench_appliance build DIR TENANT N | queries FILE N | search DIR TENANT FILE THREADS SECONDS\n"
          "     | put URL TENANT KEY N THREADS | health URL | tenants URL ADMINKEY N KEYFILE | rotate URL KEYFILE THREADS SECONDS\n"
          "(run by bench/bench_vecguardd.sh)\n");
  return 2;
}
