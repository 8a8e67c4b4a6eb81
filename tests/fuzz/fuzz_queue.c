/*
** fuzz_queue.c — libFuzzer target for the embedding queue (ext/pipeline/queue.c,
** ext/pipeline/queue_sql.c): vg_enqueue, vg_queue_claim, vg_queue_complete,
** vg_queue_fail, vg_queue_clock and vg_queue_stats.
**
** Each input runs on a fresh in-memory database with two vg_hnsw tables,
**   t1(embedding float[4], tenant_id text partition key, content_type text,
**      content_id text, chunk_index integer, +content text, +author text)
**   t2(embedding float[2], +content text)            -- no partition key
** an ordinary table `plain`, and the clock fixed at 1000 s.
**
** Feeds: the input is a program, one operation per few bytes: enqueue (a
** table among t1, t2, plain and one that does not exist; tenant, type and id
** from small sets, the id also as an integer, a tenant and a type with a NUL
** byte; content, metadata and priority valid or not: empty, invalid UTF-8, a
** NUL byte, a JSON array, "urgent"), claim (three workers, an empty one, one
** with a NUL byte; n and lease_seconds valid or not), complete and fail
** (an id that exists or not, as the last claimer or a named worker, a vector
** of the right size, the wrong size or NULL), moving the clock (also back),
** and stats.
**
** Checks, against a model of docs/queue.md kept here (the states, the
** claim order: priority then age then id, leases and their expiry, attempts,
** dead after 5, enqueue starting an item over only when its content,
** metadata or table changed or it is dead):
**   - each call succeeds or fails as the model says, failures with a message;
**     a name with a NUL byte (tenant, type, worker) is refused with "NUL byte
**     in <argument>" (docs/README.md, "Text arguments"), content keeps its
**     NUL bytes like any other;
**   - enqueue returns the item's id; claim returns exactly the items the
**     model claims, in its order; fail returns the model's new status and
**     schedules the retry between 0.5 and 1 times min(3600, 30 * 2^(n-1)) s;
**   - after every call, vg_queue holds exactly the model's items (status,
**     attempts, worker, lease, times, content, metadata, priority), read
**     through vg_queue_items: a done item's text is gone from the queue
**     (NULL) and the others' are intact;
**   - vg_queue_stats' counts are the model's (by status, by priority of open
**     items, attempts, the oldest pending age);
**   - every done item has its vector row in its table (the vector, the
**     tenant, content_type, content_id, chunk_index 0, the content) through
**     vg_queue_vectors, and no table holds a row the queue does not link.
*/
#include "fuzzutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 64
#define MAX_ATTEMPTS 5

enum { PENDING, PROCESSING, DONE, FAILED, DEAD };
static const char *const azStatus[] = {"pending", "processing", "done", "failed", "dead"};
static const char *const azPriority[] = {"high", "medium", "low"};

typedef struct Item {
  sqlite3_int64 id;
  char zTenant[8], zType[8], zCid[8], zTable[8];
  char zContent[16];
  int nContent;
  const char *zMeta; /* a static string, or 0 */
  int priority, status, attempts;
  double queuedAt, scheduled, lease; /* lease < 0: NULL */
  char zWorker[8];                   /* "" for NULL */
  float aVec[4];                     /* the vector completed with */
  int nVec;
} Item;

static Item aItem[MAX_ITEMS];
static int nItem;
static double now;
static char zLastWorker[8]; /* this connection's last claimer, "" for none */
static sqlite3 *db;

static int dims_of(const char *zTable) { return strcmp(zTable, "t1") == 0 ? 4 : 2; }

static Item *find_item(sqlite3_int64 id) {
  for (int i = 0; i < nItem; i++) {
    if (aItem[i].id == id) return &aItem[i];
  }
  return 0;
}

/* Run a one-row SELECT with bound values; the step's code, the statement
** left for the caller to read and finalize. */
static sqlite3_stmt *run(const char *zSql, int *pRc) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) fz_fail("prepare %s: %s", zSql, sqlite3_errmsg(db));
  (void)pRc;
  return p;
}

/* When zArg is not 0, the error must be the one for a NUL byte in it. */
static void check_nul_message(const char *zFunc, const char *zArg) {
  if (zArg == 0) return;
  char *zWant = sqlite3_mprintf("%s: NUL byte in %s (at byte ", zFunc, zArg);
  FZ_CHECKF(strncmp(sqlite3_errmsg(db), zWant, strlen(zWant)) == 0, "%s says '%s', expected '%s...'", zFunc,
            sqlite3_errmsg(db), zWant);
  sqlite3_free(zWant);
}

/* ---- operations ------------------------------------------------------------ */

static void op_enqueue(FzIn *in) {
  static const char *const azTable[] = {"t1", "t1", "t2", "plain", "nosuch"};
  static const char *const azTenant[] = {"acme", "globex", "", "a\0b"};
  static const int anTenant[] = {4, 6, 0, 3};
  static const char *const azType[] = {"note", "doc", "n\0te"};
  static const int anType[] = {4, 3, 4};
  static const char *const azContent[] = {"hello", "world", "hello world", "", "\xff", "a\0b", "\xc3\xa9t\xc3\xa9"};
  static const int anContent[] = {5, 5, 11, 0, 1, 3, 5};
  static const char *const azMeta[] = {0, "{\"author\": \"ana\"}", "{\"author\": \"bo\", \"x\": 1}", "[1]", "nope"};
  static const char *const azPrio[] = {0, "high", "medium", "low", "urgent"};
  const char *zTable = azTable[fz_range(in, 0, 4)];
  int iTenant = fz_range(in, 0, 3);
  int iType = fz_range(in, 0, 2);
  const char *zType = azType[iType];
  int iCid = fz_range(in, 0, 3); /* "1", "2", "3", or the integer 3 */
  int iContent = fz_range(in, 0, 6);
  const char *zMeta = azMeta[fz_range(in, 0, 4)];
  int iPrio = fz_range(in, 0, 4);
  int bSevenArgs = iPrio != 0 || (fz_u8(in) & 1);
  char zCid[8];
  snprintf(zCid, sizeof zCid, "%d", iCid == 3 ? 3 : iCid + 1);
  /* What the documentation says of these arguments. */
  const char *zWhy = 0;
  int bVg = strcmp(zTable, "t1") == 0 || strcmp(zTable, "t2") == 0;
  int bPart = strcmp(zTable, "t1") == 0;
  /* Arguments are read in order before the table is looked at. */
  const char *zNulArg = iTenant == 3 ? "tenant_id" : iType == 2 ? "content_type" : 0;
  if (zNulArg) zWhy = "a NUL byte in a name";
  else if (!bVg) zWhy = "not a vg_hnsw table";
  else if (bPart && anTenant[iTenant] == 0) zWhy = "no tenant for a partitioned table";
  else if (!bPart && anTenant[iTenant] != 0) zWhy = "a tenant for a table without partition key";
  else if (anContent[iContent] == 0) zWhy = "empty content";
  else if (iContent == 4) zWhy = "invalid UTF-8";
  else if (zMeta && zMeta[0] != '{') zWhy = "metadata that is not an object";
  else if (iPrio == 4) zWhy = "an unknown priority";

  sqlite3_stmt *p = run(bSevenArgs ? "SELECT vg_enqueue(?1, ?2, ?3, ?4, ?5, ?6, ?7)" : "SELECT vg_enqueue(?1, ?2, ?3, ?4, ?5, ?6)", 0);
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, azTenant[iTenant], anTenant[iTenant], SQLITE_STATIC);
  sqlite3_bind_text(p, 3, zType, anType[iType], SQLITE_STATIC);
  if (iCid == 3) {
    sqlite3_bind_int(p, 4, 3);
  } else {
    sqlite3_bind_text(p, 4, zCid, -1, SQLITE_STATIC);
  }
  sqlite3_bind_text(p, 5, azContent[iContent], anContent[iContent], SQLITE_STATIC);
  if (zMeta) sqlite3_bind_text(p, 6, zMeta, -1, SQLITE_STATIC);
  if (bSevenArgs && azPrio[iPrio]) sqlite3_bind_text(p, 7, azPrio[iPrio], -1, SQLITE_STATIC);
  if (fz_trace()) {
    fprintf(stderr, "enqueue(%s, tenant %d, type %d, id %s, content %d, %s, priority %d): %s\n", zTable, iTenant, iType,
            zCid, iContent, zMeta ? zMeta : "NULL", iPrio, zWhy ? zWhy : "ok");
  }
  int rc = sqlite3_step(p);
  if (zWhy) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "vg_enqueue took %s (rc %d)", zWhy, rc);
    check_nul_message("vg_enqueue", zNulArg);
    sqlite3_finalize(p);
    return;
  }
  FZ_CHECKF(rc == SQLITE_ROW, "vg_enqueue(%s, '%s', %s, %s, content %d, %s, %s) failed: %s", zTable,
            azTenant[iTenant], zType, zCid, iContent, zMeta ? zMeta : "NULL", azPrio[iPrio] ? azPrio[iPrio] : "-",
            sqlite3_errmsg(db));
  sqlite3_int64 id = sqlite3_column_int64(p, 0);
  sqlite3_finalize(p);

  Item *it = 0;
  for (int i = 0; i < nItem; i++) {
    if (strcmp(aItem[i].zTenant, azTenant[iTenant]) == 0 && strcmp(aItem[i].zType, zType) == 0 &&
        strcmp(aItem[i].zCid, zCid) == 0) {
      it = &aItem[i];
    }
  }
  int priority = iPrio == 0 ? 1 : iPrio - 1;
  if (it == 0) {
    FZ_CHECK(nItem < MAX_ITEMS);
    it = &aItem[nItem++];
    memset(it, 0, sizeof(*it));
    it->id = nItem == 1 ? 1 : aItem[nItem - 2].id + 1;
    snprintf(it->zTenant, sizeof it->zTenant, "%s", azTenant[iTenant]);
    snprintf(it->zType, sizeof it->zType, "%s", zType);
    snprintf(it->zCid, sizeof it->zCid, "%s", zCid);
  } else {
    int bSame = it->status != DEAD && it->nContent == anContent[iContent] &&
                memcmp(it->zContent, azContent[iContent], (size_t)it->nContent) == 0 &&
                (it->zMeta == zMeta || (it->zMeta && zMeta && strcmp(it->zMeta, zMeta) == 0)) &&
                strcmp(it->zTable, zTable) == 0;
    if (bSame) {
      FZ_CHECKF(id == it->id, "vg_enqueue of an unchanged item returned %lld, expected %lld", id, it->id);
      return;
    }
  }
  FZ_CHECKF(id == it->id, "vg_enqueue returned id %lld, expected %lld", id, it->id);
  snprintf(it->zTable, sizeof it->zTable, "%s", zTable);
  memcpy(it->zContent, azContent[iContent], (size_t)anContent[iContent]);
  it->nContent = anContent[iContent];
  it->zMeta = zMeta;
  it->priority = priority;
  it->status = PENDING;
  it->attempts = 0;
  it->queuedAt = it->scheduled = now;
  it->lease = -1;
  it->zWorker[0] = 0;
}

static int by_claim_order(const void *x, const void *y) {
  const Item *a = *(Item *const *)x, *b = *(Item *const *)y;
  if (a->priority != b->priority) return a->priority - b->priority;
  if (a->queuedAt != b->queuedAt) return a->queuedAt < b->queuedAt ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static void op_claim(FzIn *in) {
  static const char *const azWorker[] = {"w1", "w2", "w3", "", "w1\0"};
  static const int anWorker[] = {2, 2, 2, 0, 3};
  int iWorker = fz_range(in, 0, 4);
  const char *zWorker = azWorker[iWorker];
  int n = fz_range(in, -1, 5);
  if (n == 5) n = 10001;
  int iLease = fz_range(in, 0, 6); /* none, 10, 60, 300, 0, -5, 604801 */
  static const double aLease[] = {300, 10, 60, 300, 0, -5, 604801};
  double lease = aLease[iLease];
  const char *zWhy = 0;
  if (iWorker == 4) zWhy = "a NUL byte in worker_id";
  else if (zWorker[0] == 0) zWhy = "an empty worker_id";
  else if (n < 1 || n > 10000) zWhy = "n out of range";
  else if (!(lease > 0 && lease <= 604800)) zWhy = "lease_seconds out of range";

  sqlite3_stmt *p = run(iLease ? "SELECT vg_queue_claim(?1, ?2, ?3)" : "SELECT vg_queue_claim(?1, ?2)", 0);
  sqlite3_bind_text(p, 1, zWorker, anWorker[iWorker], SQLITE_STATIC);
  sqlite3_bind_int(p, 2, n);
  if (iLease) sqlite3_bind_double(p, 3, lease);
  if (fz_trace()) fprintf(stderr, "claim(worker %d, n %d, lease %g): %s\n", iWorker, n, lease, zWhy ? zWhy : "ok");
  int rc = sqlite3_step(p);
  if (zWhy) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "vg_queue_claim took %s (rc %d)", zWhy, rc);
    check_nul_message("vg_queue_claim", iWorker == 4 ? "worker_id" : 0);
    sqlite3_finalize(p);
    return;
  }
  FZ_CHECKF(rc == SQLITE_ROW, "vg_queue_claim failed: %s", sqlite3_errmsg(db));
  char *zJson = sqlite3_mprintf("%s", sqlite3_column_text(p, 0));
  sqlite3_finalize(p);
  snprintf(zLastWorker, sizeof zLastWorker, "%s", zWorker);

  /* The model's claim: expired leases on a last attempt die first. */
  Item *apDue[MAX_ITEMS];
  int nDue = 0;
  for (int i = 0; i < nItem; i++) {
    Item *it = &aItem[i];
    if (it->status == PROCESSING && it->lease <= now && it->attempts >= MAX_ATTEMPTS) {
      it->status = DEAD;
      it->zWorker[0] = 0;
      it->lease = -1;
    }
  }
  for (int i = 0; i < nItem; i++) {
    Item *it = &aItem[i];
    if (((it->status == PENDING || it->status == FAILED) && it->scheduled <= now) ||
        (it->status == PROCESSING && it->lease <= now && it->attempts < MAX_ATTEMPTS)) {
      apDue[nDue++] = it;
    }
  }
  qsort(apDue, (size_t)nDue, sizeof apDue[0], by_claim_order);
  if (nDue > n) nDue = n;

  sqlite3_stmt *pIds = run("SELECT value ->> '$.id', value ->> '$.attempts', value ->> '$.lease_until' "
                           "FROM json_each(?1)", 0);
  sqlite3_bind_text(pIds, 1, zJson, -1, SQLITE_STATIC);
  int k = 0;
  while (sqlite3_step(pIds) == SQLITE_ROW) {
    sqlite3_int64 id = sqlite3_column_int64(pIds, 0);
    FZ_CHECKF(k < nDue && id == apDue[k]->id, "claim %d is item %lld; the model claims %lld (of %d)\n  %s", k, id,
              k < nDue ? apDue[k]->id : -1, nDue, zJson);
    Item *it = apDue[k];
    it->status = PROCESSING;
    it->attempts++;
    it->lease = now + lease;
    snprintf(it->zWorker, sizeof it->zWorker, "%s", zWorker);
    FZ_CHECK(sqlite3_column_int(pIds, 1) == it->attempts);
    k++;
  }
  sqlite3_finalize(pIds);
  FZ_CHECKF(k == nDue, "claimed %d items; the model claims %d\n  %s", k, nDue, zJson);
  sqlite3_free(zJson);
}

/* Which item, and who acts: the item id (an existing one or not) and the
** worker (0: the connection's last claimer). */
static void finish_args(FzIn *in, sqlite3_int64 *pId, const char **pzWorker) {
  static const char *const azWorker[] = {0, 0, "w1", "w2", "w3"};
  int i = fz_range(in, 0, nItem);
  *pId = i < nItem ? aItem[i].id : 999;
  *pzWorker = azWorker[fz_range(in, 0, 4)];
}

/* Why the caller may not finish the item, per the model; 0 when it may. */
static const char *finish_refused(sqlite3_int64 id, const char *zWorker) {
  Item *it = find_item(id);
  const char *zCaller = zWorker ? zWorker : zLastWorker;
  if (it == 0) return "no such item";
  if (zCaller[0] == 0) return "no worker";
  if (it->status != PROCESSING) return "the item is not being processed";
  if (strcmp(it->zWorker, zCaller) != 0) return "another worker holds it";
  return 0;
}

static void op_complete(FzIn *in) {
  sqlite3_int64 id;
  const char *zWorker;
  finish_args(in, &id, &zWorker);
  int kind = fz_range(in, 0, 5); /* 0: NULL, 1: wrong size, else right */
  float aVec[4];
  for (int d = 0; d < 4; d++) aVec[d] = (float)fz_range(in, -2, 3);
  Item *it = find_item(id);
  int nDims = it ? dims_of(it->zTable) : 4;
  if (kind == 1) nDims = nDims == 4 ? 2 : 4;
  const char *zWhy = finish_refused(id, zWorker);
  if (zWhy == 0 && kind == 0) zWhy = "a NULL embedding";
  if (zWhy == 0 && kind == 1) zWhy = "an embedding of the wrong size";

  sqlite3_stmt *p = run(zWorker ? "SELECT vg_queue_complete(?1, ?2, ?3)" : "SELECT vg_queue_complete(?1, ?2)", 0);
  sqlite3_bind_int64(p, 1, id);
  if (kind != 0) sqlite3_bind_blob(p, 2, aVec, (int)sizeof(float) * nDims, SQLITE_STATIC);
  if (zWorker) sqlite3_bind_text(p, 3, zWorker, -1, SQLITE_STATIC);
  int rc = sqlite3_step(p);
  if (zWhy) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "vg_queue_complete(%lld) took %s (rc %d)", id,
              zWhy, rc);
    sqlite3_finalize(p);
    return;
  }
  FZ_CHECKF(rc == SQLITE_ROW && sqlite3_column_int64(p, 0) == id, "vg_queue_complete(%lld) failed: %s", id,
            sqlite3_errmsg(db));
  sqlite3_finalize(p);
  it->status = DONE;
  it->lease = -1;
  memcpy(it->aVec, aVec, sizeof aVec);
  it->nVec = nDims;
}

static void op_fail(FzIn *in) {
  sqlite3_int64 id;
  const char *zWorker;
  finish_args(in, &id, &zWorker);
  const char *zWhy = finish_refused(id, zWorker);
  sqlite3_stmt *p = run(zWorker ? "SELECT vg_queue_fail(?1, 'boom', ?2)" : "SELECT vg_queue_fail(?1, 'boom')", 0);
  sqlite3_bind_int64(p, 1, id);
  if (zWorker) sqlite3_bind_text(p, 2, zWorker, -1, SQLITE_STATIC);
  int rc = sqlite3_step(p);
  if (zWhy) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "vg_queue_fail(%lld) took %s (rc %d)", id, zWhy,
              rc);
    sqlite3_finalize(p);
    return;
  }
  FZ_CHECKF(rc == SQLITE_ROW, "vg_queue_fail(%lld) failed: %s", id, sqlite3_errmsg(db));
  Item *it = find_item(id);
  int status = it->attempts >= MAX_ATTEMPTS ? DEAD : FAILED;
  FZ_CHECKF(strcmp((const char *)sqlite3_column_text(p, 0), azStatus[status]) == 0, "vg_queue_fail says %s, expected %s",
            sqlite3_column_text(p, 0), azStatus[status]);
  sqlite3_finalize(p);
  it->status = status;
  it->lease = -1;
  if (status != DEAD) it->zWorker[0] = 0;
  /* The retry time: read, then checked against its documented range. */
  p = run("SELECT scheduled_for FROM vg_queue WHERE id = ?1", 0);
  sqlite3_bind_int64(p, 1, id);
  FZ_CHECK(sqlite3_step(p) == SQLITE_ROW);
  double at = sqlite3_column_double(p, 0);
  sqlite3_finalize(p);
  double d = 30.0;
  for (int i = 1; i < it->attempts && d < 3600; i++) d *= 2;
  if (d > 3600) d = 3600;
  FZ_CHECKF(at >= now + 0.5 * d - 1e-6 && at <= now + d + 1e-6, "retry at now + %g after attempt %d; expected %g to %g",
            at - now, it->attempts, 0.5 * d, d);
  it->scheduled = at;
}

static void op_clock(FzIn *in) {
  static const double aStep[] = {0, 1, 10, 31, 100, 301, 1000, 4000, -50};
  now += aStep[fz_range(in, 0, 8)];
  sqlite3_stmt *p = run("SELECT vg_queue_clock(?1)", 0);
  sqlite3_bind_double(p, 1, now);
  FZ_CHECK(sqlite3_step(p) == SQLITE_ROW && sqlite3_column_double(p, 0) == now);
  sqlite3_finalize(p);
}

/* ---- the database against the model ------------------------------------------ */

static void check_table(void) {
  sqlite3_stmt *p = run("SELECT id, tenant_id, target_table, content_type, content_id, content, metadata, priority, "
                        "status, queued_at, scheduled_for, lease_until, worker_id, attempts FROM vg_queue_items "
                        "ORDER BY id",
                        0);
  int i = 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    FZ_CHECKF(i < nItem, "vg_queue has more than the model's %d items", nItem);
    const Item *it = &aItem[i];
    sqlite3_int64 id = sqlite3_column_int64(p, 0);
    FZ_CHECKF(id == it->id, "row %d is item %lld, the model's %lld", i, id, it->id);
    FZ_CHECKF(strcmp((const char *)sqlite3_column_text(p, 8), azStatus[it->status]) == 0,
              "item %lld is %s, the model says %s", id, sqlite3_column_text(p, 8), azStatus[it->status]);
    FZ_CHECKF(sqlite3_column_int(p, 13) == it->attempts, "item %lld has %d attempts, the model %d", id,
              sqlite3_column_int(p, 13), it->attempts);
    FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 2), it->zTable) == 0);
    FZ_CHECK(sqlite3_column_bytes(p, 1) == (int)strlen(it->zTenant));
    FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 4), it->zCid) == 0);
    if (it->status == DONE) {
      /* The text is erased from the queue once the item is done. */
      FZ_CHECKF(sqlite3_column_type(p, 5) == SQLITE_NULL, "done item %lld still has its text in the queue", id);
    } else {
      FZ_CHECKF(sqlite3_column_type(p, 5) == SQLITE_TEXT && sqlite3_column_bytes(p, 5) == it->nContent &&
                    memcmp(sqlite3_column_text(p, 5), it->zContent, (size_t)it->nContent) == 0,
                "item %lld's content is not what was enqueued", id);
    }
    FZ_CHECK((sqlite3_column_type(p, 6) == SQLITE_NULL) == (it->zMeta == 0));
    FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 7), azPriority[it->priority]) == 0);
    FZ_CHECKF(sqlite3_column_double(p, 9) == it->queuedAt && sqlite3_column_double(p, 10) == it->scheduled,
              "item %lld queued at %g for %g; the model %g for %g", id, sqlite3_column_double(p, 9),
              sqlite3_column_double(p, 10), it->queuedAt, it->scheduled);
    if (it->lease < 0) {
      FZ_CHECKF(sqlite3_column_type(p, 11) == SQLITE_NULL, "item %lld (%s) has a lease", id, azStatus[it->status]);
    } else {
      FZ_CHECKF(sqlite3_column_double(p, 11) == it->lease, "item %lld's lease ends at %g, the model's at %g", id,
                sqlite3_column_double(p, 11), it->lease);
    }
    const char *zW = (const char *)sqlite3_column_text(p, 12);
    FZ_CHECKF(strcmp(zW ? zW : "", it->zWorker) == 0, "item %lld's worker is '%s', the model's '%s'", id,
              zW ? zW : "(NULL)", it->zWorker);
    i++;
  }
  sqlite3_finalize(p);
  FZ_CHECKF(i == nItem, "vg_queue has %d items, the model %d", i, nItem);
}

static void check_vectors(void) {
  int nDone = 0;
  for (int i = 0; i < nItem; i++) {
    const Item *it = &aItem[i];
    if (it->status != DONE) continue;
    nDone++;
    char *zSql = sqlite3_mprintf(
        "SELECT t.embedding, t.content %s FROM vg_queue_vectors AS l JOIN \"%w\" AS t ON t.rowid = l.target_rowid "
        "WHERE l.item_id = ?1 AND l.chunk_index = 0 AND l.target_table = ?2",
        strcmp(it->zTable, "t1") == 0 ? ", t.tenant_id, t.content_type, t.content_id, t.chunk_index" : "",
        it->zTable);
    sqlite3_stmt *p = run(zSql, 0);
    sqlite3_free(zSql);
    sqlite3_bind_int64(p, 1, it->id);
    sqlite3_bind_text(p, 2, it->zTable, -1, SQLITE_STATIC);
    FZ_CHECKF(sqlite3_step(p) == SQLITE_ROW, "done item %lld has no vector in %s", it->id, it->zTable);
    FZ_CHECKF(sqlite3_column_bytes(p, 0) == it->nVec * 4 &&
                  memcmp(sqlite3_column_blob(p, 0), it->aVec, (size_t)it->nVec * 4) == 0,
              "done item %lld's vector is not the one it was completed with", it->id);
    FZ_CHECKF(sqlite3_column_bytes(p, 1) == it->nContent &&
                  memcmp(sqlite3_column_text(p, 1), it->zContent, (size_t)it->nContent) == 0,
              "done item %lld's row does not hold its content (%d bytes of %d)", it->id, sqlite3_column_bytes(p, 1),
              it->nContent);
    if (strcmp(it->zTable, "t1") == 0) {
      FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 2), it->zTenant) == 0);
      FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 3), it->zType) == 0);
      FZ_CHECK(strcmp((const char *)sqlite3_column_text(p, 4), it->zCid) == 0);
      FZ_CHECK(sqlite3_column_type(p, 5) == SQLITE_INTEGER && sqlite3_column_int(p, 5) == 0);
    }
    FZ_CHECK(sqlite3_step(p) == SQLITE_DONE);
    sqlite3_finalize(p);
  }
  /* Rows the queue stored, and only those: one per link, one link per done
  ** item (earlier versions' rows go when an item is completed again). */
  sqlite3_stmt *p = run("SELECT (SELECT count(*) FROM t1) + (SELECT count(*) FROM t2), "
                        "(SELECT count(*) FROM vg_queue_vectors), "
                        "(SELECT count(*) FROM vg_queue_vectors AS l WHERE NOT EXISTS (SELECT 1 FROM t1 "
                        "WHERE l.target_table = 't1' AND t1.rowid = l.target_rowid) AND NOT EXISTS (SELECT 1 FROM t2 "
                        "WHERE l.target_table = 't2' AND t2.rowid = l.target_rowid))",
                        0);
  FZ_CHECK(sqlite3_step(p) == SQLITE_ROW);
  int nRows = sqlite3_column_int(p, 0), nLinks = sqlite3_column_int(p, 1), nDangling = sqlite3_column_int(p, 2);
  sqlite3_finalize(p);
  FZ_CHECKF(nRows == nLinks && nDangling == 0, "%d rows in the tables, %d links, %d dangling", nRows, nLinks,
            nDangling);
  FZ_CHECKF(nLinks >= nDone, "%d links for %d done items", nLinks, nDone);
}

static void check_stats(FzIn *in) {
  static const char *const azTenant[] = {0, "acme", "globex", ""};
  int iTenant = fz_range(in, 0, 3);
  const char *zTenant = azTenant[iTenant];
  sqlite3_stmt *p = run(iTenant ? "SELECT vg_queue_stats(?1)" : "SELECT vg_queue_stats()", 0);
  if (iTenant) sqlite3_bind_text(p, 1, zTenant, -1, SQLITE_STATIC);
  FZ_CHECKF(sqlite3_step(p) == SQLITE_ROW, "vg_queue_stats failed: %s", sqlite3_errmsg(db));
  char *zJson = sqlite3_mprintf("%s", sqlite3_column_text(p, 0));
  sqlite3_finalize(p);

  int anStatus[5] = {0}, anPrio[3] = {0}, anAttempts[16] = {0};
  double oldest = -1;
  for (int i = 0; i < nItem; i++) {
    const Item *it = &aItem[i];
    if (zTenant && strcmp(it->zTenant, zTenant) != 0) continue;
    anStatus[it->status]++;
    if (it->status == PENDING || it->status == PROCESSING || it->status == FAILED) anPrio[it->priority]++;
    if (it->attempts < 16) anAttempts[it->attempts]++;
    if ((it->status == PENDING || it->status == FAILED) && (oldest < 0 || it->queuedAt < oldest)) oldest = it->queuedAt;
  }
  p = run("SELECT ?1 ->> '$.by_status.pending', ?1 ->> '$.by_status.processing', ?1 ->> '$.by_status.done', "
          "?1 ->> '$.by_status.failed', ?1 ->> '$.by_status.dead', ?1 ->> '$.by_priority.high', "
          "?1 ->> '$.by_priority.medium', ?1 ->> '$.by_priority.low', ?1 ->> '$.oldest_pending_age'",
          0);
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  FZ_CHECK(sqlite3_step(p) == SQLITE_ROW);
  for (int s = 0; s < 5; s++) {
    FZ_CHECKF(sqlite3_column_int(p, s) == anStatus[s], "stats: %d %s, the model %d\n  %s", sqlite3_column_int(p, s),
              azStatus[s], anStatus[s], zJson);
  }
  for (int r = 0; r < 3; r++) {
    FZ_CHECKF(sqlite3_column_int(p, 5 + r) == anPrio[r], "stats: %d open %s, the model %d\n  %s",
              sqlite3_column_int(p, 5 + r), azPriority[r], anPrio[r], zJson);
  }
  if (oldest < 0) {
    FZ_CHECKF(sqlite3_column_type(p, 8) == SQLITE_NULL, "stats: an oldest pending age without pending items: %s",
              zJson);
  } else {
    FZ_CHECKF(fabs(sqlite3_column_double(p, 8) - (now - oldest)) < 1e-6, "stats: oldest pending age %g, the model %g",
              sqlite3_column_double(p, 8), now - oldest);
  }
  sqlite3_finalize(p);
  p = run("SELECT key, value FROM json_each(?1, '$.attempts')", 0);
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  int nSeen = 0, nWant = 0;
  for (int a = 0; a < 16; a++) nWant += anAttempts[a] > 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    int a = atoi((const char *)sqlite3_column_text(p, 0));
    FZ_CHECKF(a >= 0 && a < 16 && sqlite3_column_int(p, 1) == anAttempts[a], "stats: %d items with %d attempts\n  %s",
              sqlite3_column_int(p, 1), a, zJson);
    nSeen++;
  }
  sqlite3_finalize(p);
  FZ_CHECKF(nSeen == nWant, "stats: %d attempt counts, the model %d\n  %s", nSeen, nWant, zJson);
  sqlite3_free(zJson);
}

static unsigned char *aImage; /* the empty database, serialized once */
static sqlite3_int64 nImage;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  db = fz_open();
  fz_exec(db,
          "CREATE VIRTUAL TABLE t1 USING vg_hnsw(embedding float[4], tenant_id text partition key, "
          "content_type text, content_id text, chunk_index integer, +content text, +author text);"
          "CREATE VIRTUAL TABLE t2 USING vg_hnsw(embedding float[2], +content text);"
          "CREATE TABLE plain(x);"
          "SELECT vg_queue_init();");
  aImage = sqlite3_serialize(db, "main", &nImage, 0);
  if (aImage == 0) fz_fail("cannot serialize the template");
  sqlite3_close(db);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 2048) return 0;
  FzIn in = {data, size, 0};
  /* A fresh connection on a copy of the template: no state from earlier
  ** inputs, the connection's clock and last worker included. */
  db = fz_open();
  unsigned char *a = sqlite3_malloc64((sqlite3_uint64)nImage);
  if (a == 0) fz_fail("out of memory");
  memcpy(a, aImage, (size_t)nImage);
  if (sqlite3_deserialize(db, "main", a, nImage, nImage,
                          SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK) {
    fz_fail("deserialize: %s", sqlite3_errmsg(db));
  }
  fz_exec(db, "SELECT vg_queue_clock(1000);");
  now = 1000;
  nItem = 0;
  zLastWorker[0] = 0;
  while (in.i < in.n) {
    switch (fz_range(&in, 0, 11)) {
      case 0:
      case 1:
      case 2:
        op_enqueue(&in);
        break;
      case 3:
      case 4:
        op_claim(&in);
        break;
      case 5:
      case 6:
        op_complete(&in);
        break;
      case 7:
      case 8:
        op_fail(&in);
        break;
      case 9:
      case 10:
        op_clock(&in);
        break;
      default:
        check_stats(&in);
        break;
    }
    check_table();
  }
  check_vectors();
  sqlite3_close(db);
  return 0;
}
