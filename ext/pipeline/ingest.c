/*
** ingest.c — the pipeline's two ends in SQL:
**
**   vg_ingest(table, tenant, type, id, text [, metadata [, priority]])
**       redact the text (and metadata's strings) under the table's settings,
**       write the audit row, enqueue — one transaction; returns the item id
**   vg_queue_run(n [, worker_id])
**       claim up to n items, cut each into chunks, embed them with the
**       table's model, store the vectors and mark the items done (or failed;
**       done erases an item's text from the queue); returns a JSON summary
**
** vg_queue_run holds no lock while it embeds: the claim is one statement,
** the embedding happens outside any transaction, and the results are
** stored under one BEGIN IMMEDIATE, each item in a savepoint of its own so
** that one item's failure costs only that item.
*/
#include "pipeline/pipeline.h"

#include <string.h>

#include "embed/embed.h"

int vg_queue_embedder(QueueConn *q, const char *zModel, VgEmbedder **pp, char **pzErr) {
  if (q->pEmbedder && strcmp(q->pEmbedder->zName, zModel) == 0) {
    *pp = q->pEmbedder;
    return SQLITE_OK;
  }
  VgEmbedder *p = 0;
  int rc = vg_embedder_open(zModel, &p, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_embedder_close(q->pEmbedder);
  *pp = q->pEmbedder = p;
  return SQLITE_OK;
}

/* ---- vg_ingest ---------------------------------------------------------- */

/* The text redacted under options zRedact, with the audit row written:
** the result in *pzOut (sqlite3_free it), its bytes in *pnOut. */
static int redact_text(sqlite3 *db, const VgNewItem *pNew, sqlite3_value *pContentId, const char *zRedact,
                       char **pzOut, int *pnOut, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT vg_pii_redact(?1, json_set(?2, '$.audit', json('true'), '$.content_id', ?3))",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, pNew->zContent, pNew->nContent, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, zRedact, -1, SQLITE_STATIC);
  sqlite3_bind_value(p, 3, pContentId);
  if (sqlite3_step(p) == SQLITE_ROW) {
    int bOom = 0;
    *pzOut = vg_column_dup(p, 0, &bOom);
    *pnOut = sqlite3_column_bytes(p, 0);
    if (bOom) rc = SQLITE_NOMEM;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK && rcFinal != SQLITE_OK) {
    rc = rcFinal;
    if (rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  return rc;
}

/* Metadata with each top-level string redacted under zRedact (no audit row:
** the text's covers the item).  Its values fill the table's columns, so
** they must be scalars. */
static int redact_metadata(sqlite3 *db, const char *zMetadata, const char *zRedact, char **pzOut, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_group_object(key, CASE type WHEN 'text' THEN vg_pii_redact(value, ?2)"
                              " WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END),"
                              " (SELECT key FROM json_each(?1) WHERE type IN ('object', 'array') LIMIT 1)"
                              " FROM json_each(?1)",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zMetadata, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, zRedact, -1, SQLITE_STATIC);
  if (sqlite3_step(p) == SQLITE_ROW) {
    const char *zNested = (const char *)sqlite3_column_text(p, 1);
    const char *z = (const char *)sqlite3_column_text(p, 0);
    if (zNested) {
      *pzErr = sqlite3_mprintf("metadata value \"%s\" is an object or array; values fill the table's columns and "
                               "must be text, numbers, booleans or null",
                               zNested);
      rc = SQLITE_ERROR;
    } else if (z && (*pzOut = sqlite3_mprintf("%s", z)) == 0) {
      rc = SQLITE_NOMEM;
    }
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK && rcFinal != SQLITE_OK) {
    rc = rcFinal;
    if (rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  return rc;
}

/* One vg_ingest call. */
typedef struct Ingest {
  const QueueConn *q;
  VgNewItem item;
  sqlite3_value *pContentId;
  sqlite3_int64 id; /* the item's id, once enqueued */
} Ingest;

/* Redact and enqueue the item under the table's settings, inside the
** transaction of vg_txn_call. */
static int ingest_item(sqlite3 *db, void *pArg, char **pzErr) {
  Ingest *x = pArg;
  const VgNewItem *pNew = &x->item;
  VgTableConfig cfg;
  char *zText = 0, *zMetadata = 0;
  int nText = 0;
  int rc = vg_config_load(db, pNew->zTable, &cfg, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = vg_item_check(db, pNew, cfg.pDef, pzErr);
  if (rc == SQLITE_OK && pNew->zMetadata) rc = redact_metadata(db, pNew->zMetadata, cfg.zRedact, &zMetadata, pzErr);
  if (rc == SQLITE_OK) rc = redact_text(db, pNew, x->pContentId, cfg.zRedact, &zText, &nText, pzErr);
  if (rc == SQLITE_OK && (zText == 0 || vg_tokens(zText, nText, 0, 0, 0) == 0)) {
    *pzErr = sqlite3_mprintf("no words are left in the text to embed once personal data is redacted");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) {
    VgNewItem clean = *pNew;
    clean.zContent = zText;
    clean.nContent = nText;
    clean.zMetadata = zMetadata;
    rc = vg_queue_put(db, x->q, &clean, &x->id, pzErr);
  }
  sqlite3_free(zText);
  sqlite3_free(zMetadata);
  vg_config_clear(&cfg);
  return rc;
}

static void fn_ingest(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Ingest x = {sqlite3_user_data(ctx), {0}, argv[3], 0};
  if (!vg_item_args(ctx, "vg_ingest", "the text", argc, argv, &x.item)) return;
  if (vg_txn_call(ctx, "vg_ingest", ingest_item, &x)) sqlite3_result_int64(ctx, x.id);
}

/* ---- vg_queue_run ------------------------------------------------------- */

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

static int config_cached(sqlite3 *db, ConfigCache *c, const char *zTable, const VgTableConfig **pp, char **pzErr) {
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
  int rc = (e->zTable = sqlite3_mprintf("%s", zTable)) ? vg_config_load(db, zTable, &e->cfg, pzErr) : SQLITE_NOMEM;
  if (rc != SQLITE_OK) {
    sqlite3_free(e->zTable);
    sqlite3_free(e);
    return rc;
  }
  c->ap[c->n++] = e;
  *pp = &e->cfg;
  return SQLITE_OK;
}

/* Read a claimed item, find its table's settings and cut it into chunks;
** an error that is the item's own goes to r->zError. */
static int run_prepare(sqlite3 *db, ConfigCache *pCache, sqlite3_int64 id, RunItem *r) {
  int rc = vg_queue_item_read(db, id, &r->it);
  if (rc != SQLITE_OK) return rc;
  if (r->it.zContent == 0) {
    r->zError = vg_queue_textless(id);
    return r->zError ? SQLITE_OK : SQLITE_NOMEM;
  }
  rc = config_cached(db, pCache, r->it.zTable, &r->pCfg, &r->zError);
  if (rc == SQLITE_OK) {
    rc = vg_chunk_spans(r->it.zContent, r->it.nContent, r->pCfg->nChunkTokens, r->pCfg->nChunkOverlap,
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
  return rc == SQLITE_ERROR && r->zError ? SQLITE_OK : rc;
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

/* Embed every prepared item: consecutive items of one model go in batches;
** when a batch fails, its items are embedded one by one so that the error
** lands on the item that caused it. */
static int run_embed(QueueConn *q, RunItem *a, int n) {
  int rc = SQLITE_OK;
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
    int j = i + 1, nText = a[i].nChunk;
    while (j < n && !a[j].zError && strcmp(a[j].pCfg->zModel, a[i].pCfg->zModel) == 0 &&
           nText + a[j].nChunk <= RUN_BATCH_TEXTS) {
      nText += a[j++].nChunk;
    }
    rc = run_embed_batch(e, a + i, j - i, &zErr);
    if (rc == SQLITE_ERROR) {
      sqlite3_free(zErr);
      zErr = 0;
      rc = SQLITE_OK;
      for (int k = i; rc == SQLITE_OK && k < j; k++) {
        rc = run_embed_batch(e, a + k, 1, &a[k].zError);
        if (rc == SQLITE_ERROR) rc = SQLITE_OK;
      }
    }
    sqlite3_free(zErr);
    i = j;
  }
  return rc;
}

/* Did the table refuse a row (a metadata value of the wrong type, a table
** dropped meanwhile, ...), as opposed to the database failing? */
static int refused_by_table(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_ERROR || primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
         primary == SQLITE_TOOBIG || primary == SQLITE_RANGE;
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
    rc = vg_queue_store(db, &r->it, r->pCfg->pDef, r->nChunk, r->aVec, r->aStart, r->aEnd);
    if (rc == SQLITE_OK) {
      t->nDone++;
      t->nChunks += r->nChunk;
    } else if (bSavepoint && refused_by_table(rc)) {
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

static void run_result(sqlite3_context *ctx, const RunTally *t, const RunItem *a, int n) {
  sqlite3_str *out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendf(out,
                      "{\"claimed\":%d,\"done\":%d,\"failed\":%d,\"dead\":%d,\"lost\":%d,\"chunks\":%d,\"errors\":[",
                      t->nClaimed, t->nDone, t->nFailed, t->nDead, t->nLost, t->nChunks);
  int nErr = 0;
  for (int i = 0; i < n; i++) {
    if (a[i].zError == 0) continue;
    sqlite3_str_appendf(out, "%s{\"id\":%lld,\"error\":", nErr++ ? "," : "", a[i].it.id);
    vg_str_append_json(out, a[i].zError, -1);
    sqlite3_str_appendall(out, "}");
  }
  sqlite3_str_appendall(out, "]}");
  vg_result_str(ctx, out);
}

/* Store the results of the run under one transaction. */
static int run_store(sqlite3 *db, QueueConn *q, const char *zWorker, RunItem *a, int n, RunTally *t) {
  VgTxn mode;
  int rc = vg_txn_begin(db, &mode);
  for (int i = 0; rc == SQLITE_OK && i < n; i++) rc = run_finish_item(db, q, zWorker, &a[i], t);
  return vg_txn_end(db, mode, rc);
}

static void fn_queue_run(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  QueueConn *q = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_int64 n;
  if (!vg_int_value(argv[0], &n) || n < 1 || n > 10000) {
    vg_result_errorf(ctx, "vg_queue_run", "n must be a whole number from 1 to 10000");
    return;
  }
  const char *zWorker = q->zRunWorker;
  if (argc > 1 && (zWorker = vg_text_arg(ctx, "vg_queue_run", argv[1], "worker_id", VG_TEXT_NONEMPTY, 0)) == 0) {
    return;
  }
  sqlite3_int64 *aId = 0;
  int nId = 0;
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) {
    rc = vg_queue_claim_ids(db, zWorker, vg_queue_now(q), VG_QUEUE_LEASE, (int)n, &aId, &nId);
  }
  RunItem *a = rc == SQLITE_OK ? sqlite3_malloc64(sizeof(RunItem) * (size_t)(nId > 0 ? nId : 1)) : 0;
  if (rc == SQLITE_OK && a == 0) rc = SQLITE_NOMEM;
  if (a) memset(a, 0, sizeof(RunItem) * (size_t)(nId > 0 ? nId : 1));
  RunTally t = {nId, 0, 0, 0, 0, 0};
  ConfigCache cache = {0, 0};
  for (int i = 0; rc == SQLITE_OK && i < nId; i++) rc = run_prepare(db, &cache, aId[i], &a[i]);
  if (rc == SQLITE_OK) rc = run_embed(q, a, nId);
  if (rc == SQLITE_OK) rc = run_store(db, q, zWorker, a, nId, &t);
  /* On an error here the claimed items stay leased, and come back when
  ** their leases run out. */
  if (rc == SQLITE_OK) {
    run_result(ctx, &t, a, nId);
    sqlite3_free(zErr);
  } else {
    vg_result_failure(ctx, "vg_queue_run", db, rc, zErr);
  }
  for (int i = 0; a && i < nId; i++) run_item_clear(&a[i]);
  config_cache_clear(&cache);
  sqlite3_free(a);
  sqlite3_free(aId);
}

int vg_register_ingest_functions(sqlite3 *db, QueueConn *q) {
  /* vg_ingest may run in a trigger (vg_watch's): it writes only the queue
  ** and the audit log, in the statement's own transaction. */
  static const struct {
    const char *zName;
    int nArg, flags;
    void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
  } a[] = {
      {"vg_ingest", 5, 0, fn_ingest},
      {"vg_ingest", 6, 0, fn_ingest},
      {"vg_ingest", 7, 0, fn_ingest},
      {"vg_queue_run", 1, SQLITE_DIRECTONLY, fn_queue_run},
      {"vg_queue_run", 2, SQLITE_DIRECTONLY, fn_queue_run},
  };
  int rc = SQLITE_OK;
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof a / sizeof a[0]; i++) {
    rc = sqlite3_create_function(db, a[i].zName, a[i].nArg, SQLITE_UTF8 | a[i].flags, q, a[i].xFunc, 0, 0);
  }
  return rc;
}
