/*
** table_config.c — the settings the pipeline keeps for each vg_hnsw table:
** the embedder that fills it, how vg_ingest redacts text bound for it, and
** how text too long for the embedder is cut into chunks.
**
**   vg_configure(table [, settings])   merge settings in; return them all as JSON
**
** They live in vg_table_config, one row per table; NULL in a column (or no
** row) means the default:
**
**   model          a built-in model ("hash2:384"), a registered one, a name
**                  the connection loaded (vg_model_load), or "external"
**                  (vectors come from outside: vg_queue_run leaves the items
**                  to vg_queue_claim and vg_queue_complete).  A loaded name
**                  is stored as a name: a connection that has not loaded it
**                  still enqueues for the table, but cannot embed for it.
**                  By default: 'hash2:<the table's dimension>' for a table that holds no
**                  rows and waits for no queue items; 'hash:<dimension>',
**                  the default before hash2, for one that does, since its
**                  vectors are hash's.  vg_ingest and vg_configure record the
**                  model they resolve, so a table keeps the one it started
**                  with.
**   redact         {} — vg_pii_redact's options: replace every finding
**   chunk_tokens   the model's window, in its own tokens (512 words for hash,
**                  max_seq_length - 2 word pieces for a BERT encoder)
**   chunk_overlap  chunk_tokens / 8
**
** Every reader checks the settings against the table (vg_config_load), so a
** row edited by hand cannot put vectors of the wrong size in a table.
*/
#include "pipeline/pipeline.h"

#include <string.h>

#include "embed/embed.h"

/* A row of vg_table_config as stored: 0 or -1 where it holds NULL. */
typedef struct ConfigRow {
  char *zModel;
  char *zRedact;
  int nChunkTokens;  /* -1: default */
  int nChunkOverlap; /* -1: default */
} ConfigRow;

static void config_row_clear(ConfigRow *r) {
  sqlite3_free(r->zModel);
  sqlite3_free(r->zRedact);
  r->zModel = r->zRedact = 0;
  r->nChunkTokens = r->nChunkOverlap = -1;
}

static int config_row_read(sqlite3 *db, const char *zTable, ConfigRow *r) {
  memset(r, 0, sizeof(*r));
  r->nChunkTokens = r->nChunkOverlap = -1;
  if (!vg_has_table(db, "vg_table_config", 0)) {
    return SQLITE_OK;
  }
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT model, redact, chunk_tokens, chunk_overlap FROM main.vg_table_config"
                              " WHERE target_table = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (sqlite3_step(p) == SQLITE_ROW) {
    int bOom = 0;
    r->zModel = vg_column_dup(p, 0, &bOom);
    r->zRedact = vg_column_dup(p, 1, &bOom);
    int *apn[] = {&r->nChunkTokens, &r->nChunkOverlap};
    for (int i = 0; i < 2; i++) {
      sqlite3_int64 v = sqlite3_column_int64(p, i + 2);
      if (sqlite3_column_type(p, i + 2) != SQLITE_NULL) *apn[i] = v > 1000000000 ? 1000000000 : (int)v;
    }
    if (bOom) rc = SQLITE_NOMEM;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc != SQLITE_OK) config_row_clear(r);
  return rc;
}

void vg_config_clear(VgTableConfig *p) {
  vg_tabledef_free(p->pDef);
  sqlite3_free(p->zModel);
  sqlite3_free(p->zMissing);
  sqlite3_free(p->zRedact);
  memset(p, 0, sizeof(*p));
}

/* The model of a table whose row names none (see the top of the file). */
static int default_model(sqlite3 *db, const char *zTable, int nDims, char **pzModel, char **pzErr) {
  int bUsed = 0;
  sqlite3_stmt *p = 0;
  char *zSql = sqlite3_mprintf("SELECT 1 FROM main.\"%w\" LIMIT 1", zTable);
  int rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &p, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(p);
    bUsed = rc == SQLITE_ROW;
    rc = sqlite3_finalize(p);
  }
  if (rc == SQLITE_OK && !bUsed && vg_has_table(db, "vg_queue", 0)) {
    rc = sqlite3_prepare_v2(db,
                            "SELECT 1 FROM main.vg_queue WHERE target_table = ?1"
                            " AND status IN ('pending', 'processing', 'failed') LIMIT 1",
                            -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
      rc = sqlite3_step(p);
      bUsed = rc == SQLITE_ROW;
      rc = sqlite3_finalize(p);
    }
  }
  if (rc != SQLITE_OK) {
    if (rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("%s: %s", zTable, sqlite3_errmsg(db));
    return rc;
  }
  *pzModel = sqlite3_mprintf("%s:%d", bUsed ? "hash" : "hash2", nDims);
  return *pzModel ? SQLITE_OK : SQLITE_NOMEM;
}

/* The model's dimension and window into p: a loaded model, a built-in or
** registered one, or "external".  With bMissingOk, a name this connection
** has not loaded is no error: p->zMissing says so, and the table's
** dimension stands in. */
static int config_model(EmbedConn *pModels, int bMissingOk, VgTableConfig *p, char **pzErr) {
  if (strcmp(p->zModel, VG_MODEL_EXTERNAL) == 0) {
    p->bExternal = 1;
    p->nModelDims = p->pDef->nDims;
    p->nModelMaxTokens = VG_EMBED_HASH_MAX_TOKENS; /* the outside worker embeds whole items */
    return SQLITE_OK;
  }
  int rc = vg_model_describe(pModels, p->zModel, &p->nModelDims, &p->nModelMaxTokens, pzErr);
  if (rc == SQLITE_NOTFOUND && bMissingOk) {
    p->zMissing = *pzErr;
    *pzErr = 0;
    p->nModelDims = p->pDef->nDims;
    p->nModelMaxTokens = 0; /* unknown */
    return SQLITE_OK;
  }
  return rc == SQLITE_NOTFOUND ? SQLITE_ERROR : rc;
}

/* The settings of zTable from its row r, defaults filled in and checked. */
static int config_resolve(sqlite3 *db, EmbedConn *pModels, const char *zTable, const ConfigRow *r, int bMissingOk,
                          VgTableConfig *p, char **pzErr) {
  memset(p, 0, sizeof(*p));
  int rc = vg_target_def(db, zTable, &p->pDef, pzErr);
  if (rc != SQLITE_OK) return rc;
  p->bModelStored = r->zModel != 0;
  if (r->zModel) {
    p->zModel = sqlite3_mprintf("%s", r->zModel);
    if (p->zModel == 0) rc = SQLITE_NOMEM;
  } else {
    rc = default_model(db, zTable, p->pDef->nDims, &p->zModel, pzErr);
  }
  p->zRedact = sqlite3_mprintf("%s", r->zRedact ? r->zRedact : "{}");
  if (rc == SQLITE_OK && p->zRedact == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = config_model(pModels, bMissingOk, p, pzErr);
  if (rc == SQLITE_OK && p->zMissing) {
    /* The window is unknown until the model is loaded: the stored chunk
    ** sizes stand, unchecked (-1: the default, unknown too). */
    p->nChunkTokens = r->nChunkTokens;
    p->nChunkOverlap = r->nChunkOverlap;
  } else if (rc == SQLITE_OK && p->nModelDims != p->pDef->nDims) {
    *pzErr = sqlite3_mprintf("dimension mismatch: model \"%s\" makes vectors of %d values, table \"%s\" "
                             "holds %d",
                             p->zModel, p->nModelDims, zTable, p->pDef->nDims);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && !p->zMissing) {
    p->nChunkTokens = r->nChunkTokens >= 0 ? r->nChunkTokens : p->nModelMaxTokens;
    p->nChunkOverlap = r->nChunkOverlap >= 0 ? r->nChunkOverlap : p->nChunkTokens / 8;
    if (p->nChunkTokens < 1 || p->nChunkTokens > p->nModelMaxTokens) {
      *pzErr = sqlite3_mprintf("chunk_tokens must be from 1 to %d, the most model \"%s\" reads", p->nModelMaxTokens,
                               p->zModel);
      rc = SQLITE_ERROR;
    } else if (p->nChunkOverlap >= p->nChunkTokens) {
      *pzErr = sqlite3_mprintf("chunk_overlap must be from 0 to chunk_tokens - 1 (%d)", p->nChunkTokens - 1);
      rc = SQLITE_ERROR;
    }
  }
  if (rc != SQLITE_OK) vg_config_clear(p);
  return rc;
}

int vg_config_load(sqlite3 *db, const QueueConn *q, const char *zTable, VgTableConfig *p, char **pzErr) {
  ConfigRow r;
  memset(p, 0, sizeof(*p));
  int rc = config_row_read(db, zTable, &r);
  if (rc == SQLITE_OK) {
    rc = config_resolve(db, q ? q->pModels : 0, zTable, &r, 1, p, pzErr);
    if (rc != SQLITE_OK && *pzErr && r.zModel) {
      /* Say that the stored row, not the caller, is at fault. */
      char *z = sqlite3_mprintf("vg_table_config row of \"%s\": %z", zTable, *pzErr);
      *pzErr = z;
      if (z == 0) rc = SQLITE_NOMEM;
    }
  }
  config_row_clear(&r);
  return rc;
}

/* ---- vg_configure ------------------------------------------------------- */

/* The columns of a settings member (settings_apply). */
#define COL_KEY 1
#define COL_VALUE 2
#define COL_TYPE 3

/* A whole number from 0 up, or JSON null (-1, the default). */
static int setting_count(sqlite3_stmt *pEach, const char *zKey, int *pn, char **pzErr) {
  const char *zType = (const char *)sqlite3_column_text(pEach, COL_TYPE);
  if (strcmp(zType, "null") == 0) {
    *pn = -1;
    return SQLITE_OK;
  }
  sqlite3_int64 v = sqlite3_column_int64(pEach, COL_VALUE);
  if (strcmp(zType, "integer") != 0 || v < 0 || v > 1000000) {
    *pzErr = sqlite3_mprintf("%s must be a whole number (or null for the default)", zKey);
    return SQLITE_ERROR;
  }
  *pn = (int)v;
  return SQLITE_OK;
}

/* A text setting, or JSON null (0, the default). */
static int setting_text(sqlite3_stmt *pEach, char **pz) {
  int bOom = 0;
  sqlite3_free(*pz);
  *pz = vg_column_dup(pEach, COL_VALUE, &bOom);
  return bOom ? SQLITE_NOMEM : SQLITE_OK;
}

/* One member of the settings object applied to the row. */
static int setting_apply(sqlite3_stmt *pEach, ConfigRow *r, char **pzErr) {
  const char *zKey = (const char *)sqlite3_column_text(pEach, COL_KEY);
  const char *zType = (const char *)sqlite3_column_text(pEach, COL_TYPE);
  int bNull = strcmp(zType, "null") == 0;
  if (strcmp(zKey, "model") == 0) {
    if (!bNull && strcmp(zType, "text") != 0) {
      *pzErr = sqlite3_mprintf("model must be a model name such as \"hash:384\" (or null for the default)");
      return SQLITE_ERROR;
    }
    return setting_text(pEach, &r->zModel);
  }
  if (strcmp(zKey, "redact") == 0) {
    if (!bNull && strcmp(zType, "object") != 0) {
      *pzErr = sqlite3_mprintf("redact must be an object of vg_pii_redact options (or null for the default)");
      return SQLITE_ERROR;
    }
    return setting_text(pEach, &r->zRedact);
  }
  if (strcmp(zKey, "chunk_tokens") == 0) return setting_count(pEach, zKey, &r->nChunkTokens, pzErr);
  if (strcmp(zKey, "chunk_overlap") == 0) return setting_count(pEach, zKey, &r->nChunkOverlap, pzErr);
  *pzErr = sqlite3_mprintf("unknown setting \"%s\" (settings: model, redact, chunk_tokens, chunk_overlap)", zKey);
  return SQLITE_ERROR;
}

/* The settings object's members, one row each (a row with a NULL key for
** {}); column 0 says whether it is an object at all. */
static int settings_apply(sqlite3 *db, const char *zSettings, ConfigRow *r, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1) = 'object', e.key, e.value, e.type"
                              " FROM (SELECT 1) LEFT JOIN json_each(?1) AS e",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zSettings, -1, SQLITE_STATIC);
  int bObject = 1;
  while (rc == SQLITE_OK && bObject && sqlite3_step(p) == SQLITE_ROW) {
    bObject = sqlite3_column_int(p, 0);
    if (bObject && sqlite3_column_type(p, COL_KEY) != SQLITE_NULL) rc = setting_apply(p, r, pzErr);
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK && (rcFinal == SQLITE_ERROR || !bObject)) {
    /* Not JSON, or JSON that is not an object. */
    *pzErr = sqlite3_mprintf("the settings must be a JSON object, such as '{\"model\": \"hash:384\"}'");
    return SQLITE_ERROR;
  }
  return rc == SQLITE_OK ? rcFinal : rc;
}

/* The redact options must be vg_pii_redact's; audit and content_id are
** vg_ingest's to set. */
static int redact_check(sqlite3 *db, const char *zRedact, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1, '$.audit') IS NOT NULL"
                              " OR json_type(?1, '$.content_id') IS NOT NULL,"
                              " vg_pii_redact('', ?1)",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zRedact, -1, SQLITE_STATIC);
  int step = sqlite3_step(p);
  if (step == SQLITE_ROW && sqlite3_column_int(p, 0)) {
    *pzErr = sqlite3_mprintf("redact: vg_ingest sets audit and content_id itself; leave them out");
    sqlite3_finalize(p);
    return SQLITE_ERROR;
  }
  if (step != SQLITE_ROW) *pzErr = sqlite3_mprintf("redact: %s", sqlite3_errmsg(db));
  rc = sqlite3_finalize(p);
  if (rc == SQLITE_OK && step != SQLITE_ROW) rc = SQLITE_ERROR;
  if (rc == SQLITE_NOMEM) {
    sqlite3_free(*pzErr);
    *pzErr = 0;
  }
  return rc;
}

static int config_row_write(sqlite3 *db, const char *zTable, const ConfigRow *r, char **pzErr) {
  int rc = vg_queue_ensure(db, pzErr);
  sqlite3_stmt *p = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO main.vg_table_config(target_table, model, redact, chunk_tokens, chunk_overlap)"
                            " VALUES (?1, ?2, json(?3), ?4, ?5) ON CONFLICT (target_table) DO UPDATE SET"
                            " model = excluded.model, redact = excluded.redact,"
                            " chunk_tokens = excluded.chunk_tokens, chunk_overlap = excluded.chunk_overlap",
                            -1, &p, 0);
  }
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (r->zModel) sqlite3_bind_text(p, 2, r->zModel, -1, SQLITE_STATIC);
  if (r->zRedact) sqlite3_bind_text(p, 3, r->zRedact, -1, SQLITE_STATIC);
  if (r->nChunkTokens >= 0) sqlite3_bind_int(p, 4, r->nChunkTokens);
  if (r->nChunkOverlap >= 0) sqlite3_bind_int(p, 5, r->nChunkOverlap);
  sqlite3_step(p);
  return sqlite3_finalize(p);
}

int vg_config_keep_model(sqlite3 *db, const char *zTable, const VgTableConfig *p, char **pzErr) {
  if (p->bModelStored) return SQLITE_OK;
  sqlite3_stmt *s = 0;
  int rc = vg_queue_ensure(db, pzErr);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO main.vg_table_config(target_table, model) VALUES (?1, ?2)"
                            " ON CONFLICT (target_table) DO UPDATE SET model = excluded.model",
                            -1, &s, 0);
  }
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(s, 1, zTable, -1, SQLITE_STATIC);
  sqlite3_bind_text(s, 2, p->zModel, -1, SQLITE_STATIC);
  sqlite3_step(s);
  rc = sqlite3_finalize(s);
  if (rc != SQLITE_OK && rc != SQLITE_NOMEM) *pzErr = sqlite3_mprintf("vg_table_config: %s", sqlite3_errmsg(db));
  return rc;
}

/* The settings as JSON, defaults filled in. */
static char *config_json(const VgTableConfig *p) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "{\"model\":");
  vg_str_append_json(s, p->zModel, -1);
  sqlite3_str_appendf(s, ",\"dims\":%d,\"redact\":%s,", p->pDef->nDims, p->zRedact);
  if (p->zMissing) {
    /* Unknown until the model is loaded, unless stored. */
    sqlite3_str_appendall(s, "\"chunk_tokens\":");
    sqlite3_str_appendf(s, p->nChunkTokens >= 0 ? "%d" : "null", p->nChunkTokens);
    sqlite3_str_appendall(s, ",\"chunk_overlap\":");
    sqlite3_str_appendf(s, p->nChunkOverlap >= 0 ? "%d" : "null", p->nChunkOverlap);
    sqlite3_str_appendall(s, ",\"model_loaded\":false}");
  } else {
    sqlite3_str_appendf(s, "\"chunk_tokens\":%d,\"chunk_overlap\":%d}", p->nChunkTokens, p->nChunkOverlap);
  }
  return sqlite3_str_finish(s);
}

/* One vg_configure call. */
typedef struct Configure {
  QueueConn *q;
  const char *zTable;
  const char *zSettings; /* 0: only read the settings */
  char *zJson;           /* the result */
} Configure;

/* Read the table's row, merge the settings in, check and write it, inside
** the transaction of vg_txn_call. */
static int configure_table(sqlite3 *db, void *pArg, char **pzErr) {
  Configure *x = pArg;
  ConfigRow r;
  VgTableConfig cfg;
  memset(&cfg, 0, sizeof cfg);
  int rc = config_row_read(db, x->zTable, &r);
  char *zModelBefore = rc == SQLITE_OK && r.zModel ? sqlite3_mprintf("%s", r.zModel) : 0;
  if (rc == SQLITE_OK && x->zSettings) rc = settings_apply(db, x->zSettings, &r, pzErr);
  /* Binding a table to a model needs the model (its dimension is checked);
  ** reading the settings, or changing others, does not. */
  int bSameModel = (zModelBefore == 0) == (r.zModel == 0) && (r.zModel == 0 || strcmp(zModelBefore, r.zModel) == 0);
  sqlite3_free(zModelBefore);
  if (rc == SQLITE_OK) rc = config_resolve(db, x->q->pModels, x->zTable, &r, bSameModel, &cfg, pzErr);
  if (rc == SQLITE_OK && x->zSettings) rc = redact_check(db, cfg.zRedact, pzErr);
  if (rc == SQLITE_OK && x->zSettings && r.zModel == 0) {
    /* The model resolved now stays the table's. */
    if ((r.zModel = sqlite3_mprintf("%s", cfg.zModel)) == 0) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK && x->zSettings) rc = config_row_write(db, x->zTable, &r, pzErr);
  if (rc == SQLITE_OK && (x->zJson = config_json(&cfg)) == 0) rc = SQLITE_NOMEM;
  config_row_clear(&r);
  vg_config_clear(&cfg);
  return rc;
}

/* vg_configure(table [, settings]): settings is a JSON object whose members
** replace the stored ones (null: back to the default). */
static void fn_configure(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  Configure x = {sqlite3_user_data(ctx), 0, 0, 0};
  if ((x.zTable = vg_text_arg(ctx, "vg_configure", argv[0], "the table", VG_TEXT_NONEMPTY, 0)) == 0) return;
  if (argc > 1 && (x.zSettings = vg_text_arg(ctx, "vg_configure", argv[1], "the settings", VG_TEXT_JSON, 0)) == 0) {
    return;
  }
  if (vg_txn_call(ctx, "vg_configure", vg_queue_sweep, configure_table, &x)) {
    sqlite3_result_text(ctx, x.zJson, -1, sqlite3_free);
  } else {
    sqlite3_free(x.zJson);
  }
}

/* What ext/vecguard.c registers for vg_configure (pipeline.h), with the
** QueueConn. */
const VgFunction vg_config_functions[] = {
    {"vg_configure", 1, VG_FUNC_DIRECT, fn_configure},
    {"vg_configure", 2, VG_FUNC_DIRECT, fn_configure},
    {0, 0, 0, 0},
};
