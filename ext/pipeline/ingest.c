/*
** ingest.c — where the pipeline takes text in:
**
**   vg_ingest(table, tenant, type, id, text [, metadata [, priority]])
**       redact the text (and metadata's strings) under the table's settings,
**       write the audit row, enqueue — one transaction; returns the item id
**
** The worker that embeds what was enqueued, vg_queue_run, is in worker.c.
*/
#include "pipeline/pipeline.h"

#include "embed/embed.h"

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
  if (sqlite3_value_type(pContentId) == SQLITE_FLOAT) {
    /* A whole REAL (vg_item_args took only those): audited as the integer. */
    sqlite3_bind_int64(p, 3, (sqlite3_int64)sqlite3_value_double(pContentId));
  } else {
    sqlite3_bind_value(p, 3, pContentId);
  }
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
  int rc = vg_config_load(db, x->q, pNew->zTable, &cfg, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = vg_config_keep_model(db, pNew->zTable, &cfg, pzErr);
  if (rc == SQLITE_OK) rc = vg_item_check(db, pNew, cfg.pDef, pzErr);
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
  if (vg_txn_call(ctx, "vg_ingest", vg_queue_sweep, ingest_item, &x)) sqlite3_result_int64(ctx, x.id);
}

/* What ext/vecguard.c registers for vg_ingest (pipeline.h), with the
** QueueConn.  vg_ingest may run in a trigger (vg_watch's): it writes only
** the queue and the audit log, in the statement's own transaction. */
const VgFunction vg_ingest_functions[] = {
    {"vg_ingest", 5, SQLITE_UTF8, fn_ingest},
    {"vg_ingest", 6, SQLITE_UTF8, fn_ingest},
    {"vg_ingest", 7, SQLITE_UTF8, fn_ingest},
    {0, 0, 0, 0},
};
