/*
** worker.c — the worker that embeds what the queue holds:
**
**   vg_queue_run(n [, worker_id])
**       claim up to n items, cut each into chunks, embed them with the
**       table's model, store the vectors and mark the items done (or failed;
**       done erases an item's text from the queue); returns a JSON summary
**
** It leaves alone the items of tables bound to "external" (an outside
** worker claims them), and refuses to run while items wait for a model this
** connection has not loaded: embedding them with another would mix two
** kinds of vectors in one table, and skipping them would hide them.
**
** vg_queue_run holds no lock while it embeds: the claim is one statement,
** the embedding happens outside any transaction, and the results are
** stored under one BEGIN IMMEDIATE, each item in a savepoint of its own so
** that one item's failure costs only that item.
*/
#include "pipeline/pipeline.h"

#include <string.h>
#include <time.h>

#include "embed/embed.h"

/* A claimed item on its way through the run. */
typedef struct RunItem {
  VgQueueItem it;
  const VgTableConfig *pCfg; /* its table's settings, in the run's cache */
  int *aStart, *aEnd; /* its chunks' byte spans */
  int nChunk;
  float *aVec;        /* nChunk vectors */
  char *zError;       /* why it failed, or 0 */
} RunItem;

static void run_item_clear(RunItem *r) {
  vg_queue_item_clear(&r->it);
  sqlite3_free(r->aStart);
  sqlite3_free(r->aVec);
  sqlite3_free(r->zError);
  memset(r, 0, sizeof(*r));
}

/* What a run did, for its JSON summary. */
typedef struct RunTally {
  int nClaimed, nDone, nFailed, nDead, nLost, nChunks;
} RunTally;

/* The settings of each table a run meets, loaded once per run (items
** usually share a table).  Entries are allocated one by one: items point
** at them while the array grows. */
typedef struct CachedConfig {
  char *zTable;
  VgTableConfig cfg;
} CachedConfig;

typedef struct ConfigCache {
  CachedConfig **ap;
  int n;
} ConfigCache;

static void config_cache_clear(ConfigCache *c) {
  for (int i = 0; i < c->n; i++) {
    sqlite3_free(c->ap[i]->zTable);
    vg_config_clear(&c->ap[i]->cfg);
    sqlite3_free(c->ap[i]);
  }
  sqlite3_free(c->ap);
  memset(c, 0, sizeof(*c));
}

static int config_cached(sqlite3 *db, QueueConn *q, ConfigCache *c, const char *zTable, const VgTableConfig **pp,
                         char **pzErr) {
  for (int i = 0; i < c->n; i++) {
    if (strcmp(c->ap[i]->zTable, zTable) == 0) {
      *pp = &c->ap[i]->cfg;
      return SQLITE_OK;
    }
  }
  CachedConfig **ap = sqlite3_realloc64(c->ap, sizeof(CachedConfig *) * (size_t)(c->n + 1));
  if (ap == 0) return SQLITE_NOMEM;
  c->ap = ap;
  CachedConfig *e = sqlite3_malloc64(sizeof(*e));
  if (e == 0) return SQLITE_NOMEM;
  memset(e, 0, sizeof(*e));
  int rc = (e->zTable = sqlite3_mprintf("%s", zTable)) ? vg_config_load(db, q, zTable, &e->cfg, pzErr) : SQLITE_NOMEM;
  if (rc != SQLITE_OK) {
    sqlite3_free(e->zTable);
    sqlite3_free(e);
    return rc;
  }
  c->ap[c->n++] = e;
  *pp = &e->cfg;
  return SQLITE_OK;
}

/* Read a claimed item, find its table's settings and cut it into chunks
** of its model's tokens; an error that is the item's own goes to
** r->zError. */
static int run_prepare(sqlite3 *db, QueueConn *q, ConfigCache *pCache, sqlite3_int64 id, RunItem *r) {
  int rc = vg_queue_item_read(db, id, &r->it);
  if (rc != SQLITE_OK) return rc;
  if (r->it.zContent == 0) {
    r->zError = vg_queue_textless(id);
    return r->zError ? SQLITE_OK : SQLITE_NOMEM;
  }
  rc = config_cached(db, q, pCache, r->it.zTable, &r->pCfg, &r->zError);
  VgEmbedder *e = 0;
  if (rc == SQLITE_OK && r->pCfg->zMissing) {
    /* The model was bound after the run began (another connection). */
    r->zError = sqlite3_mprintf("%s", r->pCfg->zMissing);
    rc = r->zError ? SQLITE_ERROR : SQLITE_NOMEM;
  } else if (rc == SQLITE_OK) {
    /* A loaded model chunks by its own tokens; the others (0) by words. */
    rc = vg_model_embedder(q->pModels, r->pCfg->zModel, &e, &r->zError);
  }
  if (rc == SQLITE_OK) {
    rc = vg_model_chunk_spans(e, r->it.zContent, r->it.nContent, r->pCfg->nChunkTokens, r->pCfg->nChunkOverlap,
                              &r->aStart, &r->aEnd, &r->nChunk);
  }
  if (rc == SQLITE_OK && r->nChunk == 0) {
    r->zError = sqlite3_mprintf("the content has no words to embed");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) {
    r->aVec = sqlite3_malloc64(sizeof(float) * (size_t)r->nChunk * (size_t)r->pCfg->pDef->nDims);
    if (r->aVec == 0) rc = SQLITE_NOMEM;
  }
  return (rc == SQLITE_ERROR || rc == SQLITE_NOTFOUND) && r->zError ? SQLITE_OK : rc;
}

/* The tables vg_queue_run leaves out of its claim, as a JSON array, into
** *pzSkip: those bound to "external", and those bound to a model this
** connection has not loaded.  Of the latter, those with items due now go
** to *pWait, to be reported (waitingJSON, and its first table's error). */
typedef struct RunWaiting {
  sqlite3_str *pJson; /* [{"table", "model", "items"}, ...] */
  int nItems;         /* due items of all of them */
  char *zErr;         /* why, for the first one */
} RunWaiting;

static int run_skipped_tables(sqlite3 *db, QueueConn *q, double now, char **pzSkip, RunWaiting *pWait) {
  *pzSkip = 0;
  if (!vg_has_table(db, "vg_table_config", 0)) return SQLITE_OK;
  sqlite3_stmt *p = 0, *pDue = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT target_table, model FROM main.vg_table_config WHERE model IS NOT NULL", -1,
                              &p, 0);
  /* What a claim now would take (queue_items.c's claim). */
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "SELECT count(*) FROM main.vg_queue WHERE target_table = ?1 AND"
                            " ((status IN ('pending', 'failed') AND scheduled_for <= ?2)"
                            " OR (status = 'processing' AND lease_until <= ?2 AND attempts < max_attempts))",
                            -1, &pDue, 0);
  }
  sqlite3_str *out = sqlite3_str_new(0);
  int n = 0;
  sqlite3_str_appendall(out, "[");
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    const char *zTable = (const char *)sqlite3_column_text(p, 0);
    const char *zModel = (const char *)sqlite3_column_text(p, 1);
    int nDims = 0, nMax = 0, bSkip = strcmp(zModel, VG_MODEL_EXTERNAL) == 0;
    char *zWhy = 0;
    if (!bSkip && vg_model_describe(q->pModels, zModel, &nDims, &nMax, &zWhy) == SQLITE_NOTFOUND) {
      bSkip = 1;
      sqlite3_bind_text(pDue, 1, zTable, -1, SQLITE_STATIC);
      sqlite3_bind_double(pDue, 2, now);
      int nDue = sqlite3_step(pDue) == SQLITE_ROW ? sqlite3_column_int(pDue, 0) : 0;
      rc = sqlite3_reset(pDue);
      if (rc == SQLITE_OK && nDue > 0) {
        sqlite3_str_appendall(pWait->pJson, pWait->nItems ? ",{\"table\":" : "{\"table\":");
        vg_str_append_json(pWait->pJson, zTable, -1);
        sqlite3_str_appendall(pWait->pJson, ",\"model\":");
        vg_str_append_json(pWait->pJson, zModel, -1);
        sqlite3_str_appendf(pWait->pJson, ",\"items\":%d}", nDue);
        if (pWait->zErr == 0) {
          pWait->zErr = sqlite3_mprintf("table \"%s\": %s; its %d due items wait in the queue", zTable, zWhy, nDue);
        }
        pWait->nItems += nDue;
      }
    }
    sqlite3_free(zWhy);
    if (bSkip) {
      sqlite3_str_appendall(out, n++ ? "," : "");
      vg_str_append_json(out, zTable, -1);
    }
  }
  sqlite3_str_appendall(out, "]");
  int rcFinal = sqlite3_finalize(p);
  sqlite3_finalize(pDue);
  if (rc == SQLITE_OK) rc = rcFinal;
  char *zSkip = sqlite3_str_finish(out);
  if (rc == SQLITE_OK && zSkip == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    *pzSkip = zSkip;
  } else {
    sqlite3_free(zSkip);
  }
  return rc;
}

/* Embed the chunks of items a[0, n), which share a model, in one call. */
static int run_embed_batch(VgEmbedder *e, RunItem *a, int n, char **pzErr) {
  int nText = 0;
  for (int i = 0; i < n; i++) nText += a[i].nChunk;
  const char **az = sqlite3_malloc64(sizeof(char *) * (size_t)nText);
  int *an = sqlite3_malloc64(sizeof(int) * (size_t)nText);
  float *aOut = sqlite3_malloc64(sizeof(float) * (size_t)nText * (size_t)e->nDims);
  int rc = az && an && aOut ? SQLITE_OK : SQLITE_NOMEM;
  for (int i = 0, k = 0; rc == SQLITE_OK && i < n; i++) {
    for (int c = 0; c < a[i].nChunk; c++, k++) {
      az[k] = a[i].it.zContent + a[i].aStart[c];
      an[k] = a[i].aEnd[c] - a[i].aStart[c];
    }
  }
  if (rc == SQLITE_OK) rc = vg_embedder_embed(e, nText, az, an, aOut, pzErr);
  /* Each item's vectors are a run of the batch's: they move to the item. */
  for (int i = 0, k = 0; rc == SQLITE_OK && i < n; k += a[i].nChunk, i++) {
    memcpy(a[i].aVec, aOut + (size_t)k * (size_t)e->nDims, sizeof(float) * (size_t)a[i].nChunk * (size_t)e->nDims);
  }
  sqlite3_free(az);
  sqlite3_free(an);
  sqlite3_free(aOut);
  return rc;
}

/* Texts per embedder call: a trained model is faster on batches. */
#define RUN_BATCH_TEXTS 32

/* Embed every prepared item: consecutive items of one model go in batches.
** When a batch fails, its items are embedded one by one so that the error
** lands on the item that caused it; when the model's backend failed as a
** whole (SQLITE_IOERR: a service that is down), the batch's items and the
** run's later ones for that model fail with its error, without more tries. */
static int run_embed(QueueConn *q, RunItem *a, int n) {
  int rc = SQLITE_OK;
  VgEmbedder *eDown = 0;
  char *zDown = 0;
  for (int i = 0; rc == SQLITE_OK && i < n;) {
    if (a[i].zError) {
      i++;
      continue;
    }
    VgEmbedder *e = 0;
    char *zErr = 0;
    rc = vg_queue_embedder(q, a[i].pCfg->zModel, &e, &zErr);
    if (rc != SQLITE_OK) {
      a[i++].zError = zErr;
      rc = rc == SQLITE_NOMEM ? rc : SQLITE_OK;
      continue;
    }
    if (e == eDown) {
      if ((a[i++].zError = sqlite3_mprintf("%s", zDown)) == 0) rc = SQLITE_NOMEM;
      continue;
    }
    int j = i + 1, nText = a[i].nChunk;
    while (j < n && !a[j].zError && strcmp(a[j].pCfg->zModel, a[i].pCfg->zModel) == 0 &&
           nText + a[j].nChunk <= RUN_BATCH_TEXTS) {
      nText += a[j++].nChunk;
    }
    rc = run_embed_batch(e, a + i, j - i, &zErr);
    if ((rc & 0xff) == SQLITE_IOERR && zErr) {
      sqlite3_free(zDown);
      zDown = zErr;
      zErr = 0;
      eDown = e;
      rc = SQLITE_OK;
      for (int k = i; rc == SQLITE_OK && k < j; k++) {
        if ((a[k].zError = sqlite3_mprintf("%s", zDown)) == 0) rc = SQLITE_NOMEM;
      }
    } else if (rc == SQLITE_ERROR) {
      sqlite3_free(zErr);
      zErr = 0;
      rc = SQLITE_OK;
      for (int k = i; rc == SQLITE_OK && k < j; k++) {
        rc = run_embed_batch(e, a + k, 1, &a[k].zError);
        if (rc == SQLITE_ERROR || ((rc & 0xff) == SQLITE_IOERR && a[k].zError)) rc = SQLITE_OK;
      }
    }
    sqlite3_free(zErr);
    i = j;
  }
  sqlite3_free(zDown);
  return rc;
}

/* Store one item's vectors, or record its failure, in a savepoint of its
** own.  An item whose lease ran out meanwhile (another worker has it now)
** is left alone. */
static int run_finish_item(sqlite3 *db, QueueConn *q, const char *zWorker, RunItem *r, RunTally *t) {
  int bHeld = 0;
  int rc = vg_queue_held(db, r->it.id, zWorker, r->it.st.attempts, &bHeld);
  if (rc != SQLITE_OK) return rc;
  if (!bHeld) {
    t->nLost++;
    return SQLITE_OK;
  }
  int bSavepoint = sqlite3_exec(db, "SAVEPOINT vg_queue_run_item", 0, 0, 0) == SQLITE_OK;
  if (r->zError == 0) {
    rc = vg_queue_store(db, &r->it, r->pCfg->pDef, r->nChunk, r->aVec, r->aStart, r->aEnd, vg_queue_now(q));
    if (rc == SQLITE_OK) {
      t->nDone++;
      t->nChunks += r->nChunk;
    } else if (bSavepoint && vg_refused_by_values(rc)) {
      /* The item's own failure, not the database's. */
      r->zError = sqlite3_mprintf("storing in \"%s\": %s", r->it.zTable, sqlite3_errmsg(db));
      sqlite3_exec(db, "ROLLBACK TO vg_queue_run_item", 0, 0, 0);
      rc = r->zError ? SQLITE_OK : SQLITE_NOMEM;
    }
  }
  if (rc == SQLITE_OK && r->zError) {
    int status = 0;
    rc = vg_queue_record_failure(db, q, &r->it, r->zError, &status);
    if (rc == SQLITE_OK) *(status == VG_ITEM_DEAD ? &t->nDead : &t->nFailed) += 1;
  }
  if (bSavepoint) {
    if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK TO vg_queue_run_item", 0, 0, 0);
    sqlite3_exec(db, "RELEASE vg_queue_run_item", 0, 0, 0);
  }
  return rc;
}

/* Store the results of a batch under one transaction. */
static int run_store(sqlite3 *db, QueueConn *q, const char *zWorker, RunItem *a, int n, RunTally *t) {
  VgTxn mode;
  int rc = vg_txn_begin(db, vg_queue_sweep, &mode);
  for (int i = 0; rc == SQLITE_OK && i < n; i++) rc = run_finish_item(db, q, zWorker, &a[i], t);
  return vg_txn_end(db, mode, rc);
}

/* What a run does, from its arguments. */
typedef struct RunPlan {
  int n;                 /* items to claim at most */
  const char *zWorker;
  int nBatch;            /* items claimed, embedded and stored at a time */
  char *zProgress;       /* the SQL function told of each batch, or 0 */
} RunPlan;

/* How many items a batch takes by default: a commit each, so that other
** connections see the run advance, and the memory of that many items. */
#define RUN_BATCH 256

/* One batch: claim up to nWant items (none of the tables in zSkip), embed
** them, store the results; counts into t, errors onto pErrors (a JSON
** list's items), the items claimed into *pnClaimed. */
static int run_batch(sqlite3 *db, QueueConn *q, const RunPlan *plan, const char *zSkip, int nWant, RunTally *t,
                     sqlite3_str *pErrors, int *pnClaimed) {
  sqlite3_int64 *aId = 0;
  int nId = 0;
  int rc = vg_queue_claim_ids(db, plan->zWorker, vg_queue_now(q), VG_QUEUE_LEASE, nWant, zSkip, &aId, &nId);
  *pnClaimed = nId;
  RunItem *a = rc == SQLITE_OK && nId > 0 ? sqlite3_malloc64(sizeof(RunItem) * (size_t)nId) : 0;
  if (rc == SQLITE_OK && nId > 0 && a == 0) rc = SQLITE_NOMEM;
  if (a) memset(a, 0, sizeof(RunItem) * (size_t)nId);
  ConfigCache cache = {0, 0};
  t->nClaimed += nId;
  for (int i = 0; rc == SQLITE_OK && i < nId; i++) rc = run_prepare(db, q, &cache, aId[i], &a[i]);
  if (rc == SQLITE_OK && nId > 0) rc = run_embed(q, a, nId);
  if (rc == SQLITE_OK && nId > 0) rc = run_store(db, q, plan->zWorker, a, nId, t);
  /* On an error here the claimed items stay leased, and come back when
  ** their leases run out. */
  for (int i = 0; rc == SQLITE_OK && i < nId; i++) {
    if (a[i].zError == 0) continue;
    sqlite3_str_appendf(pErrors, "%s{\"id\":%lld,\"error\":", sqlite3_str_length(pErrors) ? "," : "", a[i].it.id);
    vg_str_append_json(pErrors, a[i].zError, -1);
    sqlite3_str_appendall(pErrors, "}");
  }
  for (int i = 0; a && i < nId; i++) run_item_clear(&a[i]);
  config_cache_clear(&cache);
  sqlite3_free(a);
  sqlite3_free(aId);
  return rc;
}

static double monotonic_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *progress_sql(const RunPlan *plan) {
  return sqlite3_mprintf("SELECT \"%w\"(?1)", plan->zProgress);
}

static int progress_missing(sqlite3 *db, const RunPlan *plan, char **pzErr) {
  *pzErr = sqlite3_mprintf("progress function \"%s\": %s (register a function of one argument with that name: "
                           "sqlite3_create_function, or your driver's create_function)",
                           plan->zProgress, sqlite3_errmsg(db));
  return SQLITE_ERROR;
}

/* Is the progress function there?  Asked before the first batch, so that a
** misspelt name claims nothing. */
static int progress_check(sqlite3 *db, const RunPlan *plan, char **pzErr) {
  char *zSql = progress_sql(plan);
  sqlite3_stmt *p = 0;
  int rc = zSql == 0 ? SQLITE_NOMEM : sqlite3_prepare_v2(db, zSql, -1, &p, 0) == SQLITE_OK ? SQLITE_OK
                                                                                         : progress_missing(db, plan, pzErr);
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  return rc;
}

/* Tell the progress function how the run stands: SELECT fn(json).  It
** returning 0 (or false) asks the run to stop, into *pbStop. */
static int run_progress(sqlite3 *db, const RunPlan *plan, const RunTally *t, double elapsed, int *pbStop,
                        char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM main.vg_queue WHERE status IN ('pending', 'processing', 'failed')",
                              -1, &p, 0);
  sqlite3_int64 nOpen = 0;
  if (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) nOpen = sqlite3_column_int64(p, 0);
  if (rc == SQLITE_OK) rc = sqlite3_finalize(p);
  if (rc != SQLITE_OK) return rc;
  double rate = elapsed > 0 ? (t->nDone + t->nFailed + t->nDead) / elapsed : 0;
  char zEta[32];
  /* sqlite3_snprintf: a '.' whatever the locale. */
  if (rate > 0) sqlite3_snprintf(sizeof zEta, zEta, "%.1f", (double)nOpen / rate);
  else sqlite3_snprintf(sizeof zEta, zEta, "%s", nOpen ? "null" : "0.0");
  char *zFull = sqlite3_mprintf("{\"claimed\":%d,\"done\":%d,\"failed\":%d,\"dead\":%d,\"lost\":%d,\"chunks\":%d,"
                                "\"asked\":%d,\"open\":%lld,\"elapsed_seconds\":%.3f,\"items_per_second\":%.3f,"
                                "\"eta_seconds\":%s}",
                                t->nClaimed, t->nDone, t->nFailed, t->nDead, t->nLost, t->nChunks, plan->n, nOpen,
                                elapsed, rate, zEta);
  char *zSql = progress_sql(plan);
  if (zFull == 0 || zSql == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK && sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) rc = progress_missing(db, plan, pzErr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, zFull, -1, SQLITE_STATIC);
    if (sqlite3_step(p) == SQLITE_ROW) {
      int eType = sqlite3_column_type(p, 0);
      *pbStop = (eType == SQLITE_INTEGER || eType == SQLITE_FLOAT) && sqlite3_column_double(p, 0) == 0.0;
    }
    if (sqlite3_finalize(p) != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("progress function \"%s\" failed: %s", plan->zProgress, sqlite3_errmsg(db));
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_free(zFull);
  sqlite3_free(zSql);
  return rc;
}

/* options_json: {"batch": items, "progress": "function"}; 0 or an error. */
static char *run_options(sqlite3 *db, sqlite3_value *pOptions, RunPlan *plan) {
  const char *zJson = 0;
  char *zErr = 0;
  if (vg_text_value(pOptions, "the options", VG_TEXT_JSON, &zJson, 0, &zErr) != SQLITE_OK) {
    return zErr ? zErr : sqlite3_mprintf("out of memory");
  }
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, "SELECT json_type(?1) = 'object', f.key, f.type, f.value FROM (SELECT 1)"
                             " LEFT JOIN json_each(?1) AS f", -1, &p, 0) != SQLITE_OK) {
    return sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  while (zErr == 0 && sqlite3_step(p) == SQLITE_ROW) {
    const char *zKey = (const char *)sqlite3_column_text(p, 1);
    const char *zType = (const char *)sqlite3_column_text(p, 2);
    if (!sqlite3_column_int(p, 0)) {
      zErr = sqlite3_mprintf("the options must be a JSON object, such as '{\"progress\": \"show_progress\"}'");
    } else if (zKey == 0) {
      break; /* {} */
    } else if (strcmp(zKey, "batch") == 0) {
      sqlite3_int64 nBatch = sqlite3_column_int64(p, 3);
      if (strcmp(zType, "integer") != 0 || nBatch < 1 || nBatch > 10000) {
        zErr = sqlite3_mprintf("batch must be a whole number from 1 to 10000 (items claimed, embedded and stored "
                               "at a time); got %s",
                               sqlite3_column_text(p, 3));
      }
      plan->nBatch = (int)nBatch;
    } else if (strcmp(zKey, "progress") == 0) {
      const char *zFunc = (const char *)sqlite3_column_text(p, 3);
      if (strcmp(zType, "text") != 0 || zFunc == 0 || zFunc[0] == 0) {
        zErr = sqlite3_mprintf("progress must be the name of an SQL function of one argument");
      } else {
        sqlite3_free(plan->zProgress); /* a key given twice: the last counts */
        if ((plan->zProgress = sqlite3_mprintf("%s", zFunc)) == 0) zErr = sqlite3_mprintf("out of memory");
      }
    } else {
      zErr = sqlite3_mprintf("unknown option \"%s\" (options: batch, progress)", zKey);
    }
  }
  sqlite3_finalize(p);
  return zErr;
}

static void fn_queue_run(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_int64 n;
  if (!vg_int_value(argv[0], &n) || n < 1 || n > 10000) {
    vg_result_bad_value(ctx, "vg_queue_run", "n must be a whole number from 1 to 10000", argv[0]);
    return;
  }
  RunPlan plan = {(int)n, q->zRunWorker, RUN_BATCH, 0};
  /* worker_id NULL, when options follow, is the connection's own. */
  if (argc > 1 && !(argc > 2 && sqlite3_value_type(argv[1]) == SQLITE_NULL) &&
      (plan.zWorker = vg_text_arg(ctx, "vg_queue_run", argv[1], "worker_id", VG_TEXT_NONEMPTY, 0)) == 0) {
    return;
  }
  char *zErr = argc > 2 && sqlite3_value_type(argv[2]) != SQLITE_NULL ? run_options(db, argv[2], &plan) : 0;
  if (zErr) {
    vg_result_errorf(ctx, "vg_queue_run", "%s", zErr);
    sqlite3_free(zErr);
    sqlite3_free(plan.zProgress);
    return;
  }
  char *zSkip = 0;
  RunWaiting wait = {sqlite3_str_new(0), 0, 0};
  VgWatchTally watch;
  memset(&watch, 0, sizeof watch);
  RunTally t = {0, 0, 0, 0, 0, 0};
  sqlite3_str *pErrors = sqlite3_str_new(0);
  double start = monotonic_seconds();
  int rc = plan.zProgress ? progress_check(db, &plan, &zErr) : SQLITE_OK;
  if (rc == SQLITE_OK) rc = vg_queue_ensure(db, &zErr);
  /* The watched tables' changes first, so that this run embeds them. */
  if (rc == SQLITE_OK) rc = vg_watch_drain(db, &watch);
  if (rc == SQLITE_OK) rc = run_skipped_tables(db, q, vg_queue_now(q), &zSkip, &wait);
  for (int nLeft = plan.n; rc == SQLITE_OK && nLeft > 0;) {
    int nWant = nLeft < plan.nBatch ? nLeft : plan.nBatch, nGot = 0, bStop = 0;
    rc = run_batch(db, q, &plan, zSkip, nWant, &t, pErrors, &nGot);
    nLeft -= nGot;
    if (rc == SQLITE_OK && nGot > 0 && plan.zProgress) {
      rc = run_progress(db, &plan, &t, monotonic_seconds() - start, &bStop, &zErr);
    }
    if (nGot < nWant || bStop) break;
  }
  sqlite3_free(zSkip);
  int rcWait = sqlite3_str_errcode(wait.pJson);
  char *zWaiting = sqlite3_str_finish(wait.pJson); /* 0 when empty */
  int rcErrors = sqlite3_str_errcode(pErrors);
  char *zErrors = sqlite3_str_finish(pErrors); /* 0 when empty */
  if (rc == SQLITE_OK) rc = rcWait ? rcWait : rcErrors;
  if (rc == SQLITE_OK && t.nClaimed == 0 && wait.nItems > 0) {
    /* Nothing else to do: the items waiting for a model this connection
    ** lacks are the run's failure, not a silent zero. */
    zErr = wait.zErr;
    wait.zErr = 0;
    rc = SQLITE_ERROR;
  }
  sqlite3_free(wait.zErr);
  if (rc == SQLITE_OK) {
    sqlite3_str *out = sqlite3_str_new(db);
    sqlite3_str_appendf(out,
                        "{\"claimed\":%d,\"done\":%d,\"failed\":%d,\"dead\":%d,\"lost\":%d,\"chunks\":%d,"
                        "\"errors\":[%s],\"waiting\":[%s],\"watched\":",
                        t.nClaimed, t.nDone, t.nFailed, t.nDead, t.nLost, t.nChunks, zErrors ? zErrors : "",
                        zWaiting ? zWaiting : "");
    vg_watch_tally_json(out, &watch);
    sqlite3_str_appendall(out, "}");
    vg_result_str(ctx, out);
    sqlite3_free(zErr);
  } else {
    vg_result_failure(ctx, "vg_queue_run", db, rc, zErr);
  }
  vg_watch_tally_clear(&watch);
  sqlite3_free(zWaiting);
  sqlite3_free(zErrors);
  sqlite3_free(plan.zProgress);
}

/* What ext/vecguard.c registers for vg_queue_run (pipeline.h), with the
** QueueConn. */
const VgFunction vg_worker_functions[] = {
    {"vg_queue_run", 1, VG_FUNC_DIRECT, fn_queue_run},
    {"vg_queue_run", 2, VG_FUNC_DIRECT, fn_queue_run},
    {"vg_queue_run", 3, VG_FUNC_DIRECT, fn_queue_run},
    {0, 0, 0, 0},
};
