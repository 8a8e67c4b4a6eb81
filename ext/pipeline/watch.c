/*
** watch.c — vg_watch keeps an ordinary table and a vg_hnsw table in step:
**
**   vg_watch(source_table, target_table, options)  triggers + the rows there are now
**   vg_unwatch(source_table)                       drop the triggers
**
** Three triggers on the source table do the work in plain SQL, inside the
** statement that changes the row, so the row and the queue never disagree:
** an INSERT (or an UPDATE of a watched column) calls vg_ingest, which
** redacts and enqueues; a DELETE, or an UPDATE that moves the row to
** another id or tenant or blanks its text, deletes the row's vectors and
** its queue item (whose text the queue's own triggers erase, queue_tables.c).
** vg_queue_run then embeds what was enqueued.
**
** Options (a JSON object): "text" (a column, or an array of columns joined
** by a blank line; required), "id" (default rowid), "tenant" (a column) or
** "tenant_id" (a constant; default ''), "metadata" (an array of columns),
** "content_type" (default the source table's name), "priority".
*/
#include "pipeline/pipeline.h"

#include <string.h>

/* The options, read and checked. */
typedef struct Watch {
  const char *zSource, *zTarget;
  char **azText;  /* text columns */
  int nText;
  char **azMeta;  /* metadata columns */
  int nMeta;
  char *zId;      /* id column, or 0 for rowid */
  char *zTenantCol;
  char *zTenant;  /* constant tenant, when no column */
  char *zType;
  char *zPriority;
} Watch;

static void watch_clear(Watch *w) {
  for (int i = 0; i < w->nText; i++) sqlite3_free(w->azText[i]);
  for (int i = 0; i < w->nMeta; i++) sqlite3_free(w->azMeta[i]);
  sqlite3_free(w->azText);
  sqlite3_free(w->azMeta);
  sqlite3_free(w->zId);
  sqlite3_free(w->zTenantCol);
  sqlite3_free(w->zTenant);
  sqlite3_free(w->zType);
  sqlite3_free(w->zPriority);
  memset(w, 0, sizeof(*w));
}

/* Does the source table have column zCol? */
static int column_check(sqlite3 *db, const char *zTable, const char *zCol, char **pzErr) {
  if (vg_has_table(db, zTable, zCol)) return SQLITE_OK;
  *pzErr = sqlite3_mprintf("table \"%s\" has no column \"%s\"", zTable, zCol);
  return SQLITE_ERROR;
}

/* Column names from a JSON string or array of strings at zKey. */
static int read_columns(sqlite3 *db, const Watch *w, const char *zOptions, const char *zKey, char ***pazOut,
                        int *pnOut, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT value, type FROM json_each(?1, '$.' || ?2)"
                              " WHERE json_type(?1, '$.' || ?2) = 'array'"
                              " UNION ALL SELECT json_extract(?1, '$.' || ?2), json_type(?1, '$.' || ?2)"
                              " WHERE json_type(?1, '$.' || ?2) <> 'array'",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zOptions, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, zKey, -1, SQLITE_STATIC);
  int n = 0;
  char **az = 0;
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    const char *zCol = (const char *)sqlite3_column_text(p, 0);
    const char *zType = (const char *)sqlite3_column_text(p, 1);
    if (zType == 0 || strcmp(zType, "text") != 0 || zCol == 0 || zCol[0] == 0) {
      *pzErr = sqlite3_mprintf("%s must be a column name or an array of column names", zKey);
      rc = SQLITE_ERROR;
      break;
    }
    rc = column_check(db, w->zSource, zCol, pzErr);
    char **azNew = rc == SQLITE_OK ? sqlite3_realloc64(az, sizeof(char *) * (size_t)(n + 1)) : 0;
    if (rc == SQLITE_OK && azNew == 0) rc = SQLITE_NOMEM;
    if (rc != SQLITE_OK) break;
    az = azNew;
    if ((az[n] = sqlite3_mprintf("%s", zCol)) == 0) rc = SQLITE_NOMEM;
    else n++;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  *pazOut = az;
  *pnOut = n;
  return rc;
}

/* A text option (0 when absent). */
static int read_text(sqlite3 *db, const char *zOptions, const char *zKey, char **pzOut, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT json_extract(?1, '$.' || ?2), json_type(?1, '$.' || ?2)", -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zOptions, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, zKey, -1, SQLITE_STATIC);
  if (sqlite3_step(p) == SQLITE_ROW && sqlite3_column_type(p, 1) != SQLITE_NULL) {
    const char *zType = (const char *)sqlite3_column_text(p, 1);
    if (strcmp(zType, "text") != 0) {
      *pzErr = sqlite3_mprintf("%s must be text", zKey);
      rc = SQLITE_ERROR;
    } else if ((*pzOut = sqlite3_mprintf("%s", sqlite3_column_text(p, 0))) == 0) {
      rc = SQLITE_NOMEM;
    }
  }
  int rcFinal = sqlite3_finalize(p);
  return rc == SQLITE_OK ? rcFinal : rc;
}

/* Only known keys, in a JSON object. */
static int options_shape(sqlite3 *db, const char *zOptions, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1) = 'object', (SELECT key FROM json_each(?1) WHERE key NOT IN"
                              " ('text', 'id', 'tenant', 'tenant_id', 'metadata', 'content_type', 'priority')"
                              " LIMIT 1)",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zOptions, -1, SQLITE_STATIC);
  int step = sqlite3_step(p);
  if (step != SQLITE_ROW || !sqlite3_column_int(p, 0)) {
    *pzErr = sqlite3_mprintf("the options must be a JSON object, such as '{\"text\": \"body\"}'");
    rc = SQLITE_ERROR;
  } else if (sqlite3_column_type(p, 1) != SQLITE_NULL) {
    *pzErr = sqlite3_mprintf("unknown option \"%s\" (options: text, id, tenant, tenant_id, metadata, "
                             "content_type, priority)",
                             sqlite3_column_text(p, 1));
    rc = SQLITE_ERROR;
  }
  sqlite3_finalize(p);
  return rc;
}

/* An ordinary table (not a view, not virtual: those have no b-tree, so
** rootpage 0) of the application in main? */
static int source_check(sqlite3 *db, const char *zSource, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT rootpage = 0 FROM main.sqlite_schema WHERE type = 'table' AND name = ?", -1,
                              &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zSource, -1, SQLITE_STATIC);
  int step = sqlite3_step(p);
  if (step != SQLITE_ROW || sqlite3_column_int(p, 0) || strncmp(zSource, "sqlite_", 7) == 0 ||
      strncmp(zSource, "vg_", 3) == 0) {
    *pzErr = sqlite3_mprintf(step == SQLITE_ROW
                                 ? "\"%s\" cannot be watched: it is not an ordinary table of the application"
                                 : "no table named \"%s\"",
                             zSource);
    rc = SQLITE_ERROR;
  }
  sqlite3_finalize(p);
  return rc;
}

static int watch_read(sqlite3 *db, const char *zOptions, Watch *w, char **pzErr) {
  int rc = source_check(db, w->zSource, pzErr);
  if (rc == SQLITE_OK) rc = options_shape(db, zOptions, pzErr);
  if (rc == SQLITE_OK) rc = read_columns(db, w, zOptions, "text", &w->azText, &w->nText, pzErr);
  if (rc == SQLITE_OK && w->nText == 0) {
    *pzErr = sqlite3_mprintf("the options must name the text column(s): {\"text\": \"body\"}");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) rc = read_columns(db, w, zOptions, "metadata", &w->azMeta, &w->nMeta, pzErr);
  const char *azKey[] = {"id", "tenant", "tenant_id", "content_type", "priority"};
  char **apz[] = {&w->zId, &w->zTenantCol, &w->zTenant, &w->zType, &w->zPriority};
  for (int i = 0; rc == SQLITE_OK && i < 5; i++) rc = read_text(db, zOptions, azKey[i], apz[i], pzErr);
  if (rc == SQLITE_OK && w->zId) rc = column_check(db, w->zSource, w->zId, pzErr);
  if (rc == SQLITE_OK && w->zTenantCol) rc = column_check(db, w->zSource, w->zTenantCol, pzErr);
  if (rc == SQLITE_OK && w->zTenantCol && w->zTenant) {
    *pzErr = sqlite3_mprintf("give tenant (a column) or tenant_id (a constant), not both");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && w->zPriority && vg_priority_parse(w->zPriority) < 0) {
    *pzErr = sqlite3_mprintf("unknown priority \"%s\" (high, medium or low)", w->zPriority);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && !w->zId) {
    /* A WITHOUT ROWID table has no rowid to name its rows by. */
    if (!vg_has_table(db, w->zSource, "rowid")) {
      *pzErr = sqlite3_mprintf("table \"%s\" has no rowid: name its key column with \"id\"", w->zSource);
      rc = SQLITE_ERROR;
    }
  }
  return rc;
}

/* ---- the SQL the triggers run ------------------------------------------ */

/* The expressions of a row (zRow: "new" or "old"). */
static void append_text_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  if (w->nText == 1) {
    sqlite3_str_appendf(s, "%s.\"%w\"", zRow, w->azText[0]);
    return;
  }
  for (int i = 0; i < w->nText; i++) {
    sqlite3_str_appendf(s, "%scoalesce(%s.\"%w\", '')", i ? " || char(10, 10) || " : "", zRow, w->azText[i]);
  }
}

static void append_id_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  if (w->zId) {
    sqlite3_str_appendf(s, "CAST(%s.\"%w\" AS TEXT)", zRow, w->zId);
  } else {
    sqlite3_str_appendf(s, "CAST(%s.rowid AS TEXT)", zRow);
  }
}

static void append_tenant_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  if (w->zTenantCol) {
    sqlite3_str_appendf(s, "CAST(%s.\"%w\" AS TEXT)", zRow, w->zTenantCol);
  } else {
    sqlite3_str_appendf(s, "%Q", w->zTenant ? w->zTenant : "");
  }
}

/* vg_ingest(...) of a row. */
static void append_ingest_call(sqlite3_str *s, const Watch *w, const char *zRow) {
  sqlite3_str_appendf(s, "vg_ingest(%Q, ", w->zTarget);
  append_tenant_expr(s, w, zRow);
  sqlite3_str_appendf(s, ", %Q, ", w->zType);
  append_id_expr(s, w, zRow);
  sqlite3_str_appendall(s, ", ");
  append_text_expr(s, w, zRow);
  sqlite3_str_appendall(s, ", ");
  if (w->nMeta == 0) {
    sqlite3_str_appendall(s, "NULL");
  } else {
    sqlite3_str_appendall(s, "json_object(");
    for (int i = 0; i < w->nMeta; i++) {
      sqlite3_str_appendf(s, "%s%Q, %s.\"%w\"", i ? ", " : "", w->azMeta[i], zRow, w->azMeta[i]);
    }
    sqlite3_str_appendall(s, ")");
  }
  sqlite3_str_appendf(s, ", %Q)", w->zPriority ? w->zPriority : "medium");
}

/* The row's text, trimmed of whitespace as vg_tokens sees it, '' for NULL. */
static void append_trimmed(sqlite3_str *s, const Watch *w, const char *zRow) {
  sqlite3_str_appendall(s, "coalesce(trim(");
  append_text_expr(s, w, zRow);
  sqlite3_str_appendall(s, ", char(32, 9, 10, 11, 12, 13)), '')");
}

/* The statements that remove a row's vectors and queue item, for the old
** row; each ends with zWhen ("" or " AND ..."). */
static void append_forget(sqlite3_str *s, const Watch *w, const char *zWhen) {
  sqlite3_str *k = sqlite3_str_new(0);
  sqlite3_str_appendall(k, "tenant_id = ");
  append_tenant_expr(k, w, "old");
  sqlite3_str_appendf(k, " AND content_type = %Q AND content_id = ", w->zType);
  append_id_expr(k, w, "old");
  char *zKey = sqlite3_str_finish(k);
  sqlite3_str_appendf(s,
                      "DELETE FROM \"%w\" WHERE rowid IN (SELECT target_rowid FROM vg_queue_vectors"
                      " WHERE target_table = %Q AND item_id IN (SELECT id FROM vg_queue WHERE %s))%s;\n",
                      w->zTarget, w->zTarget, zKey ? zKey : "0", zWhen);
  sqlite3_str_appendf(s,
                      "DELETE FROM vg_queue_vectors WHERE item_id IN (SELECT id FROM vg_queue WHERE %s)%s;\n",
                      zKey ? zKey : "0", zWhen);
  sqlite3_str_appendf(s, "DELETE FROM vg_queue WHERE %s%s;\n", zKey ? zKey : "0", zWhen);
  sqlite3_free(zKey);
}

/* zWhat differs between old and new: "old.x IS NOT new.x OR ...". */
static void append_changed(sqlite3_str *s, const Watch *w, int bKeyOnly) {
  void (*axExpr[])(sqlite3_str *, const Watch *, const char *) = {append_tenant_expr, append_id_expr,
                                                                   append_text_expr};
  for (int i = 0; i < (bKeyOnly ? 2 : 3); i++) {
    sqlite3_str_appendall(s, i ? " OR " : "");
    axExpr[i](s, w, "old");
    sqlite3_str_appendall(s, " IS NOT ");
    axExpr[i](s, w, "new");
  }
  for (int i = 0; !bKeyOnly && i < w->nMeta; i++) {
    sqlite3_str_appendf(s, " OR old.\"%w\" IS NOT new.\"%w\"", w->azMeta[i], w->azMeta[i]);
  }
}

/* The statement that sends the new row to vg_ingest when its text has a
** word. */
static void append_ingest_new(sqlite3_str *s, const Watch *w) {
  sqlite3_str_appendall(s, "SELECT ");
  append_ingest_call(s, w, "new");
  sqlite3_str_appendall(s, " WHERE ");
  append_trimmed(s, w, "new");
  sqlite3_str_appendall(s, " <> '';\n");
}

/* The three triggers, as one script. */
static char *triggers_sql(const Watch *w) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_insert\" AFTER INSERT ON \"%w\" BEGIN\n", w->zSource,
                      w->zSource);
  append_ingest_new(s, w);
  sqlite3_str_appendall(s, "END;\n");

  sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_update\" AFTER UPDATE ON \"%w\" WHEN ", w->zSource,
                      w->zSource);
  append_changed(s, w, 0);
  sqlite3_str_appendall(s, " BEGIN\n");
  /* A row that moved, or whose text is now blank, leaves nothing behind. */
  sqlite3_str *c = sqlite3_str_new(0);
  sqlite3_str_appendall(c, " AND (");
  append_changed(c, w, 1);
  sqlite3_str_appendall(c, " OR ");
  append_trimmed(c, w, "new");
  sqlite3_str_appendall(c, " = '')");
  char *zWhen = sqlite3_str_finish(c);
  append_forget(s, w, zWhen ? zWhen : "");
  sqlite3_free(zWhen);
  append_ingest_new(s, w);
  sqlite3_str_appendall(s, "END;\n");

  sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_delete\" AFTER DELETE ON \"%w\" BEGIN\n", w->zSource,
                      w->zSource);
  append_forget(s, w, "");
  sqlite3_str_appendall(s, "END;\n");
  return sqlite3_str_finish(s);
}

/* Enqueue the rows the table holds now; their number in *pn. */
static int backfill(sqlite3 *db, const Watch *w, int *pn) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "SELECT count(");
  append_ingest_call(s, w, "source_row");
  sqlite3_str_appendf(s, ") FROM main.\"%w\" AS source_row WHERE ", w->zSource);
  append_trimmed(s, w, "source_row");
  sqlite3_str_appendall(s, " <> ''");
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_step(p) == SQLITE_ROW) *pn = sqlite3_column_int(p, 0);
  return sqlite3_finalize(p);
}

/* ---- vg_watch, vg_unwatch ----------------------------------------------- */

/* The target must take the rows' tenants: a partitioned table a tenant
** column or a tenant_id, any other table neither. */
static int target_check(sqlite3 *db, const Watch *w, char **pzErr) {
  VgTableConfig cfg;
  int rc = vg_config_load(db, 0, w->zTarget, &cfg, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (w->zTenantCol && cfg.pDef->iPartition < 0) {
    *pzErr = sqlite3_mprintf("table \"%s\" has no partition key to keep the tenants of column \"%s\" apart",
                             w->zTarget, w->zTenantCol);
    rc = SQLITE_ERROR;
  } else if (!w->zTenantCol) {
    *pzErr = vg_tenant_refused(cfg.pDef, w->zTarget, w->zTenant ? w->zTenant : "");
    if (*pzErr) rc = SQLITE_ERROR;
  }
  vg_config_clear(&cfg);
  return rc;
}

/* Is zSource watched already? */
static int watched(sqlite3 *db, const char *zSource, int *pb, char **pzErr) {
  *pb = 0;
  int rc = vg_queue_ensure(db, pzErr);
  sqlite3_stmt *p = 0;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "SELECT 1 FROM main.vg_watches WHERE source_table = ?", -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zSource, -1, SQLITE_STATIC);
  *pb = sqlite3_step(p) == SQLITE_ROW;
  return sqlite3_finalize(p);
}

static int watch_install(sqlite3 *db, Watch *w, const char *zOptions, int *pnRows, char **pzErr) {
  int rc = watch_read(db, zOptions, w, pzErr);
  if (rc == SQLITE_OK && !w->zType && (w->zType = sqlite3_mprintf("%s", w->zSource)) == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = target_check(db, w, pzErr);
  int bWatched = 0;
  if (rc == SQLITE_OK) rc = watched(db, w->zSource, &bWatched, pzErr);
  if (rc == SQLITE_OK && bWatched) {
    *pzErr = sqlite3_mprintf("table \"%s\" is watched already (vg_unwatch it first)", w->zSource);
    rc = SQLITE_ERROR;
  }
  sqlite3_stmt *p = 0;
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO main.vg_watches(source_table, target_table, options) VALUES (?, ?, json(?))",
                            -1, &p, 0);
  }
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, w->zSource, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, w->zTarget, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, zOptions, -1, SQLITE_STATIC);
    sqlite3_step(p);
    rc = sqlite3_finalize(p);
  }
  char *zTriggers = rc == SQLITE_OK ? triggers_sql(w) : 0;
  if (rc == SQLITE_OK && zTriggers == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zTriggers, 0, 0, 0);
  sqlite3_free(zTriggers);
  if (rc == SQLITE_OK) rc = backfill(db, w, pnRows);
  return rc;
}

/* One vg_watch call. */
typedef struct WatchArgs {
  Watch w;
  const char *zOptions;
  int nRows; /* the rows enqueued at once */
} WatchArgs;

static int watch_work(sqlite3 *db, void *pArg, char **pzErr) {
  WatchArgs *a = pArg;
  return watch_install(db, &a->w, a->zOptions, &a->nRows, pzErr);
}

/* vg_watch(source_table, target_table, options) -> the rows enqueued now. */
static void fn_watch(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  WatchArgs a;
  memset(&a, 0, sizeof a);
  if ((a.w.zSource = vg_text_arg(ctx, "vg_watch", argv[0], "the source table", VG_TEXT_NONEMPTY, 0)) == 0) return;
  if ((a.w.zTarget = vg_text_arg(ctx, "vg_watch", argv[1], "the target table", VG_TEXT_NONEMPTY, 0)) == 0) return;
  if ((a.zOptions = vg_text_arg(ctx, "vg_watch", argv[2], "the options", VG_TEXT_JSON | VG_TEXT_NONEMPTY, 0)) == 0) {
    return;
  }
  if (vg_txn_call(ctx, "vg_watch", vg_queue_sweep, watch_work, &a)) sqlite3_result_int(ctx, a.nRows);
  watch_clear(&a.w);
}

static int unwatch_work(sqlite3 *db, void *pArg, char **pzErr) {
  const char *zSource = pArg;
  int bWatched = 0;
  int rc = watched(db, zSource, &bWatched, pzErr);
  if (rc == SQLITE_OK && !bWatched) {
    *pzErr = sqlite3_mprintf("table \"%s\" is not watched", zSource);
    return SQLITE_ERROR;
  }
  static const char *const azWhat[] = {"insert", "update", "delete"};
  for (int i = 0; rc == SQLITE_OK && i < 3; i++) {
    char *zSql = sqlite3_mprintf("DROP TRIGGER IF EXISTS main.\"vg_watch_%w_%s\"", zSource, azWhat[i]);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  if (rc == SQLITE_OK) {
    char *zSql = sqlite3_mprintf("DELETE FROM main.vg_watches WHERE source_table = %Q", zSource);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

/* vg_unwatch(source_table) -> 1; the vectors stay. */
static void fn_unwatch(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  const char *zSource = vg_text_arg(ctx, "vg_unwatch", argv[0], "the source table", VG_TEXT_NONEMPTY, 0);
  if (zSource && vg_txn_call(ctx, "vg_unwatch", vg_queue_sweep, unwatch_work, (void *)zSource)) {
    sqlite3_result_int(ctx, 1);
  }
}

/* What ext/vecguard.c registers for vg_watch and vg_unwatch (pipeline.h),
** with the QueueConn. */
const VgFunction vg_watch_functions[] = {
    {"vg_watch", 3, VG_FUNC_DIRECT, fn_watch},
    {"vg_unwatch", 1, VG_FUNC_DIRECT, fn_unwatch},
    {0, 0, 0, 0},
};
