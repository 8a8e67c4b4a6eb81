/*
** queue_sql.c — the embedding queue's SQL functions (see pipeline.h, queue
** section for the rules, docs/queue.md for the reference), and the
** pipeline's part of the per-connection state, which they take:
**
**   vg_queue_init()                              create the tables (also done on first use)
**   vg_enqueue(table, tenant, type, id, content [, metadata [, priority]])
**   vg_queue_claim(worker, n [, lease_seconds])  JSON array of the items claimed
**   vg_queue_complete(id, embedding [, worker])  store the vector, mark done
**   vg_queue_fail(id, error [, worker])          retry later, or dead
**   vg_queue_release(worker)                     a dead worker's items, due again
**   vg_queue_stats([tenant])                     JSON counts
**   vg_queue_clock([seconds])                    fix "now" on this connection (tests)
**
** Each one that writes does so under one transaction (vg_txn_call), or
** in one statement (the claim).  The tables are in queue_tables.c, what
** these functions do to the items in queue_items.c.
*/
#include "pipeline/pipeline.h"

#include <string.h>
#include <time.h>

#include "embed/embed.h"
#include "vector/vector.h"

/* ---- the per-connection state ------------------------------------------- */

void vg_queue_conn_init(QueueConn *q) {
  memset(q, 0, sizeof(*q));
  /* vg_queue_run claims as a worker of its own, one per connection. */
  unsigned char aRand[8];
  sqlite3_randomness(sizeof aRand, aRand);
  sqlite3_snprintf(sizeof q->zRunWorker, q->zRunWorker, "vg_queue_run-%02x%02x%02x%02x%02x%02x%02x%02x",
                   aRand[0], aRand[1], aRand[2], aRand[3], aRand[4], aRand[5], aRand[6], aRand[7]);
}

void vg_queue_conn_clear(QueueConn *q) {
  vg_embedder_close(q->pEmbedder);
  sqlite3_free(q->zWorker);
  memset(q, 0, sizeof(*q));
}

double vg_queue_now(const QueueConn *q) {
  if (q->bClock) return q->rClock;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int vg_queue_embedder(QueueConn *q, const char *zModel, VgEmbedder **pp, char **pzErr) {
  int rc = vg_model_embedder(q->pModels, zModel, pp, pzErr);
  if (rc != SQLITE_OK || *pp) return rc;
  if (q->pEmbedder && strcmp(q->pEmbedder->zName, zModel) == 0) {
    *pp = q->pEmbedder;
    return SQLITE_OK;
  }
  VgEmbedder *p = 0;
  rc = vg_embedder_open(zModel, &p, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_embedder_close(q->pEmbedder);
  *pp = q->pEmbedder = p;
  return SQLITE_OK;
}

/* ---- vg_queue_init, vg_queue_clock ---------------------------------------- */

static void fn_queue_init(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  /* Made already: no need to take the write lock (the file may be read-only). */
  if (vg_queue_is_current(sqlite3_context_db_handle(ctx)) ||
      vg_txn_call(ctx, "vg_queue_init", vg_queue_sweep, vg_queue_create, 0)) {
    sqlite3_result_int(ctx, 1);
  }
}

/* vg_queue_clock(seconds) fixes "now" for this connection's queue functions;
** vg_queue_clock(NULL) returns to the real clock; either returns "now". */
static void fn_queue_clock(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  if (argc == 1) {
    int eType = sqlite3_value_type(argv[0]);
    if (eType == SQLITE_NULL) {
      q->bClock = 0;
    } else if (eType == SQLITE_INTEGER || eType == SQLITE_FLOAT) {
      q->bClock = 1;
      q->rClock = sqlite3_value_double(argv[0]);
    } else {
      vg_result_errorf(ctx, "vg_queue_clock", "the time must be a number of seconds since 1970, or NULL");
      return;
    }
  }
  sqlite3_result_double(ctx, vg_queue_now(q));
}

/* ---- vg_enqueue --------------------------------------------------------- */

/* One vg_enqueue call. */
typedef struct Enqueue {
  const QueueConn *q;
  VgNewItem item;
  sqlite3_int64 id; /* the item's id, once enqueued */
} Enqueue;

/* Check the item against its table and put it in, inside the transaction
** of vg_txn_call: the item and its text are written together, and no other
** process claims the one without the other. */
static int enqueue_work(sqlite3 *db, void *pArg, char **pzErr) {
  Enqueue *x = pArg;
  VgTableDef *pDef = 0;
  int rc = vg_target_def(db, x->item.zTable, &pDef, pzErr);
  if (rc == SQLITE_OK) rc = vg_item_check(db, &x->item, pDef, pzErr);
  vg_tabledef_free(pDef);
  if (rc == SQLITE_OK) rc = vg_queue_put(db, x->q, &x->item, &x->id, pzErr);
  return rc;
}

static void fn_enqueue(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Enqueue x;
  memset(&x, 0, sizeof x);
  x.q = sqlite3_user_data(ctx);
  if (vg_item_args(ctx, "vg_enqueue", "the content", argc, argv, &x.item) &&
      vg_txn_call(ctx, "vg_enqueue", vg_queue_sweep, enqueue_work, &x)) {
    sqlite3_result_int64(ctx, x.id);
  }
}

/* ---- vg_queue_claim ----------------------------------------------------- */

static int set_worker(QueueConn *q, const char *zWorker) {
  if (q->zWorker && strcmp(q->zWorker, zWorker) == 0) return SQLITE_OK;
  char *z = sqlite3_mprintf("%s", zWorker);
  if (z == 0) return SQLITE_NOMEM;
  sqlite3_free(q->zWorker);
  q->zWorker = z;
  return SQLITE_OK;
}

static void fn_queue_claim(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zWorker = vg_text_arg(ctx, "vg_queue_claim", argv[0], "worker_id", VG_TEXT_NONEMPTY, 0);
  if (zWorker == 0) return;
  sqlite3_int64 nWant;
  if (!vg_int_value(argv[1], &nWant) || nWant < 1 || nWant > 10000) {
    vg_result_bad_value(ctx, "vg_queue_claim", "n must be a whole number from 1 to 10000", argv[1]);
    return;
  }
  double lease = VG_QUEUE_LEASE;
  if (argc > 2) {
    int eType = sqlite3_value_type(argv[2]);
    lease = sqlite3_value_double(argv[2]);
    if ((eType != SQLITE_INTEGER && eType != SQLITE_FLOAT) || !(lease > 0 && lease <= 86400 * 7)) {
      vg_result_bad_value(ctx, "vg_queue_claim", "lease_seconds must be a number above 0 and at most 604800", argv[2]);
      return;
    }
  }
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) rc = set_worker(q, zWorker);
  if (rc == SQLITE_OK) {
    /* The watched tables' changes first (their refused rows keep their
    ** errors in vg_watch_log). */
    VgWatchTally wt;
    memset(&wt, 0, sizeof wt);
    rc = vg_watch_drain(db, &wt);
    vg_watch_tally_clear(&wt);
  }
  sqlite3_str *out = sqlite3_str_new(db);
  if (rc == SQLITE_OK) rc = vg_queue_claim_json(db, zWorker, vg_queue_now(q), lease, (int)nWant, out);
  if (rc != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    vg_result_failure(ctx, "vg_queue_claim", db, rc, zErr);
    return;
  }
  vg_result_str(ctx, out);
}

/* ---- a dead worker's items: vg_queue_release ---------------------------- */

typedef struct Release {
  const QueueConn *q;
  const char *zWorker;
  int nReleased;
} Release;

static int release_work(sqlite3 *db, void *pArg, char **pzErr) {
  Release *r = pArg;
  int rc = vg_queue_ensure(db, pzErr);
  sqlite3_stmt *pStmt = 0;
  if (rc == SQLITE_OK) {
    /* Its leases run out now, and the claims take it from there as from
    ** any dead worker: the attempt stays counted, so an item that kills its
    ** worker every time still ends dead, not in a crash loop. */
    rc = sqlite3_prepare_v2(db,
                            "UPDATE vg_queue SET lease_until = ?2"
                            " WHERE status = 'processing' AND worker_id = ?1 AND lease_until > ?2",
                            -1, &pStmt, 0);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, r->zWorker, -1, SQLITE_STATIC);
    sqlite3_bind_double(pStmt, 2, vg_queue_now(r->q));
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(db);
    if (rc == SQLITE_OK) r->nReleased = sqlite3_changes(db);
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* vg_queue_release(worker_id) -> the number of items the worker held, whose
** leases now end.  For a supervisor that knows the worker is dead (its
** process was killed), so its items need not wait out their leases. */
static void fn_queue_release(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Release r = {sqlite3_user_data(ctx), 0, 0};
  r.zWorker = vg_text_arg(ctx, "vg_queue_release", argv[0], "worker_id", VG_TEXT_NONEMPTY, 0);
  if (r.zWorker && vg_txn_call(ctx, "vg_queue_release", vg_queue_sweep, release_work, &r)) {
    sqlite3_result_int(ctx, r.nReleased);
  }
}

/* ---- finishing an item: vg_queue_complete, vg_queue_fail ------------------ */

/* One vg_queue_complete or vg_queue_fail call. */
typedef struct Finish {
  const QueueConn *q;
  sqlite3_int64 id;
  const char *zWorker; /* the caller's worker, or 0 when it has none */
  sqlite3_value *pArg; /* the embedding */
  const char *zError;  /* the error, or 0 */
  int status;          /* fail: the item's new status */
} Finish;

/* The arguments (id, embedding or error [, worker]); 0 with the error set
** when they are bad. */
static int finish_args(sqlite3_context *ctx, const char *zFunc, int argc, sqlite3_value **argv, Finish *f) {
  const QueueConn *q = sqlite3_user_data(ctx);
  if (!vg_int_value(argv[0], &f->id)) {
    vg_result_bad_value(ctx, zFunc, "the item id must be an integer (vg_queue_claim's \"id\")", argv[0]);
    return 0;
  }
  f->q = q;
  f->pArg = argv[1];
  f->zWorker = q->zWorker;
  return argc <= 2 || (f->zWorker = vg_text_arg(ctx, zFunc, argv[2], "worker_id", VG_TEXT_NONEMPTY, 0)) != 0;
}

/* Read the item and check that the caller may finish it: SQLITE_ERROR with
** *pzErr saying why not. */
static int item_for_finish(sqlite3 *db, const Finish *f, VgQueueItem *it, char **pzErr) {
  memset(it, 0, sizeof(*it));
  int rc = vg_queue_ensure(db, pzErr);
  if (rc == SQLITE_OK) rc = vg_queue_item_read(db, f->id, it);
  if (rc == SQLITE_NOTFOUND) {
    *pzErr = sqlite3_mprintf("no queue item %lld", f->id);
    return SQLITE_ERROR;
  }
  if (rc != SQLITE_OK) return rc;
  const char *zWhy = 0;
  if (f->zWorker == 0) {
    zWhy = "this connection has claimed nothing; give the worker_id";
    *pzErr = sqlite3_mprintf("item %lld: %s", f->id, zWhy);
  } else if ((zWhy = vg_queue_finish_refused(&it->st, it->zWorker && strcmp(it->zWorker, f->zWorker) == 0)) != 0) {
    *pzErr = sqlite3_mprintf("item %lld %s", f->id, zWhy);
  }
  if (zWhy == 0) return SQLITE_OK;
  vg_queue_item_clear(it);
  return SQLITE_ERROR;
}

/* Store the embedding of item it (checked against its table) and mark it
** done; *pzErr says why not. */
static int complete_item(sqlite3 *db, const VgQueueItem *it, sqlite3_value *pEmbedding, double now, char **pzErr) {
  VgTableDef *pDef = 0;
  float *aVec = 0;
  int nDims = 0;
  if (it->zContent == 0) {
    *pzErr = vg_queue_textless(it->id);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  int rc = vg_target_def(db, it->zTable, &pDef, pzErr);
  if (rc == SQLITE_OK) rc = vg_vector_from_value(pEmbedding, &aVec, &nDims, pzErr);
  if (rc == SQLITE_OK && aVec == 0) {
    *pzErr = sqlite3_mprintf("the embedding is NULL");
    rc = SQLITE_ERROR;
  } else if (rc == SQLITE_OK && nDims != pDef->nDims) {
    *pzErr = sqlite3_mprintf("dimension mismatch: the embedding has %d values, table \"%s\" holds %d", nDims,
                             it->zTable, pDef->nDims);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) {
    int iStart = 0, iEnd = it->nContent;
    rc = vg_queue_store(db, it, pDef, 1, aVec, &iStart, &iEnd, now);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("item %lld: %s", it->id, sqlite3_errmsg(db));
  }
  sqlite3_free(aVec);
  vg_tabledef_free(pDef);
  return rc;
}

/* Open the transaction of a complete or fail and read the item in it; 0
** (the error set, the transaction ended) when the caller may not finish it. */
static int complete_work(sqlite3 *db, void *pArg, char **pzErr) {
  Finish *f = pArg;
  VgQueueItem it;
  int rc = item_for_finish(db, f, &it, pzErr);
  if (rc == SQLITE_OK) rc = complete_item(db, &it, f->pArg, vg_queue_now(f->q), pzErr);
  vg_queue_item_clear(&it);
  return rc;
}

/* vg_queue_complete(id, embedding [, worker]) -> the item's id. */
static void fn_queue_complete(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Finish f;
  if (finish_args(ctx, "vg_queue_complete", argc, argv, &f) &&
      vg_txn_call(ctx, "vg_queue_complete", vg_queue_sweep, complete_work, &f)) {
    sqlite3_result_int64(ctx, f.id);
  }
}

static int fail_work(sqlite3 *db, void *pArg, char **pzErr) {
  Finish *f = pArg;
  VgQueueItem it;
  int rc = item_for_finish(db, f, &it, pzErr);
  if (rc == SQLITE_OK) {
    rc = vg_queue_record_failure(db, f->q, &it, f->zError, &f->status);
  }
  vg_queue_item_clear(&it);
  return rc;
}

/* vg_queue_fail(id, error [, worker]) -> the item's new status. */
static void fn_queue_fail(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Finish f;
  if (!finish_args(ctx, "vg_queue_fail", argc, argv, &f)) return;
  f.zError = 0;
  if (sqlite3_value_type(argv[1]) != SQLITE_NULL &&
      (f.zError = vg_text_arg(ctx, "vg_queue_fail", argv[1], "the error", VG_TEXT_NAME, 0)) == 0) {
    return;
  }
  if (vg_txn_call(ctx, "vg_queue_fail", vg_queue_sweep, fail_work, &f)) {
    sqlite3_result_text(ctx, vg_item_status_name(f.status), -1, SQLITE_STATIC);
  }
}

/* ---- vg_queue_stats ----------------------------------------------------- */

/* Rates are over the last minute: items done (processed) or failed in it,
** per second; the time to empty is the open items at that rate (NULL when
** nothing was done in the last minute and items are open). */
#define STATS_RATES(DONE, FAILED, OPEN)                                                            \
  "'processed_last_minute', " DONE ", 'failed_last_minute', " FAILED ","                        \
  " 'items_per_second', round(" DONE " / 60.0, 3),"                                             \
  " 'eta_seconds', CASE WHEN " OPEN " = 0 THEN 0.0 WHEN " DONE " = 0 THEN NULL"                 \
  "  ELSE round(" OPEN " * 60.0 / " DONE ", 1) END"
static const char zStats[] =
    "WITH q AS (SELECT * FROM main.vg_queue WHERE ?1 IS NULL OR tenant_id = ?1),"
    " open AS (SELECT * FROM q WHERE status IN ('pending', 'processing', 'failed')),"
    " per AS (SELECT target_table AS t, count(*) FILTER (WHERE status = 'pending') AS pending,"
    "   count(*) FILTER (WHERE status = 'processing') AS processing,"
    "   count(*) FILTER (WHERE status = 'done') AS done, count(*) FILTER (WHERE status = 'failed') AS failed,"
    "   count(*) FILTER (WHERE status = 'dead') AS dead,"
    "   count(*) FILTER (WHERE status = 'done' AND finished_at > ?2 - 60) AS done_1m,"
    "   count(*) FILTER (WHERE status IN ('failed', 'dead') AND finished_at > ?2 - 60) AS failed_1m"
    "   FROM q GROUP BY target_table),"
    " total AS (SELECT coalesce(sum(pending), 0) AS pending, coalesce(sum(processing), 0) AS processing,"
    "   coalesce(sum(done), 0) AS done, coalesce(sum(failed), 0) AS failed, coalesce(sum(dead), 0) AS dead,"
    "   coalesce(sum(done_1m), 0) AS done_1m, coalesce(sum(failed_1m), 0) AS failed_1m FROM per)"
    " SELECT json_object("
    " 'by_status', json_object('pending', pending, 'processing', processing, 'done', done, 'failed', failed,"
    "   'dead', dead),"
    " 'by_priority', (SELECT json_object('high', count(*) FILTER (WHERE priority = 'high'),"
    "   'medium', count(*) FILTER (WHERE priority = 'medium'),"
    "   'low', count(*) FILTER (WHERE priority = 'low')) FROM open),"
    " 'oldest_pending_age', (SELECT ?2 - min(queued_at) FROM q WHERE status IN ('pending', 'failed')),"
    " 'attempts', (SELECT json_group_object(attempts, n) FROM (SELECT attempts, count(*) AS n FROM q"
    "   GROUP BY attempts ORDER BY attempts)),"
    " " STATS_RATES("done_1m", "failed_1m", "(pending + processing + failed)") ","
    " 'tables', (SELECT json_group_object(t, json_object('pending', pending, 'processing', processing,"
    "   'done', done, 'failed', failed, 'dead', dead, "
    STATS_RATES("done_1m", "failed_1m", "(pending + processing + failed)") ")) FROM per))"
    " FROM total";

static void fn_queue_stats(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  if (argc > 0 && sqlite3_value_type(argv[0]) != SQLITE_NULL &&
      vg_text_arg(ctx, "vg_queue_stats", argv[0], "tenant_id", VG_TEXT_NAME, 0) == 0) {
    return;
  }
  sqlite3_stmt *p = 0;
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zStats, -1, &p, 0);
  if (rc == SQLITE_OK) {
    if (argc > 0) sqlite3_bind_value(p, 1, argv[0]);
    sqlite3_bind_double(p, 2, vg_queue_now(q));
    if (sqlite3_step(p) == SQLITE_ROW) {
      sqlite3_result_text(ctx, (const char *)sqlite3_column_text(p, 0), -1, SQLITE_TRANSIENT);
    }
    rc = sqlite3_finalize(p);
  }
  if (rc != SQLITE_OK) vg_result_failure(ctx, "vg_queue_stats", db, rc, zErr);
}

/* ---- what ext/vecguard.c registers --------------------------------------- */

/* Each takes the connection's QueueConn (pipeline.h). */
const VgFunction vg_queue_functions[] = {
    {"vg_queue_init", 0, VG_FUNC_DIRECT, fn_queue_init},
    {"vg_queue_clock", 0, VG_FUNC_DIRECT, fn_queue_clock},
    {"vg_queue_clock", 1, VG_FUNC_DIRECT, fn_queue_clock},
    {"vg_enqueue", 5, VG_FUNC_DIRECT, fn_enqueue},
    {"vg_enqueue", 6, VG_FUNC_DIRECT, fn_enqueue},
    {"vg_enqueue", 7, VG_FUNC_DIRECT, fn_enqueue},
    {"vg_queue_claim", 2, VG_FUNC_DIRECT, fn_queue_claim},
    {"vg_queue_claim", 3, VG_FUNC_DIRECT, fn_queue_claim},
    {"vg_queue_complete", 2, VG_FUNC_DIRECT, fn_queue_complete},
    {"vg_queue_complete", 3, VG_FUNC_DIRECT, fn_queue_complete},
    {"vg_queue_fail", 2, VG_FUNC_DIRECT, fn_queue_fail},
    {"vg_queue_fail", 3, VG_FUNC_DIRECT, fn_queue_fail},
    {"vg_queue_release", 1, VG_FUNC_DIRECT, fn_queue_release},
    {"vg_queue_stats", 0, VG_FUNC_DIRECT, fn_queue_stats},
    {"vg_queue_stats", 1, VG_FUNC_DIRECT, fn_queue_stats},
    {0, 0, 0, 0},
};
