/*
** watch.c — vg_watch keeps an ordinary table and a vg_hnsw table in step:
**
**   vg_watch(source_table, target_table, options)  triggers + the rows there are now
**   vg_unwatch(source_table)                       drop the triggers
**
** The triggers on the source table are plain SQL that any connection runs,
** with or without the extension, so that watching a table never breaks the
** application's writes.  They record which rows changed, never their text,
** in vg_watch_log; vg_queue_run (and vg_queue_claim) bring the changes in
** first thing (vg_watch_drain): the row as it is then goes to vg_ingest,
** which redacts and enqueues.  What a deletion can undo in plain SQL it
** undoes at once: the queue item of a deleted row (or of one moved to
** another id or tenant, or whose text is now blank) is deleted, and with it
** its text (the queue's own triggers erase it); its vectors, in a vg_hnsw
** table that only the extension can write, are listed in the log, left out
** of vg_search from then on, and deleted at the drain.
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
  /* The source's UNIQUE constraints (its primary key included), each as
  ** the condition "o.c = new.c COLLATE x AND ..." that finds the row a new
  ** row would replace; and whether the table has a rowid. */
  char **azUnique;
  int nUnique;
  sqlite3_str *pUniqueCols; /* their columns, '"a", "b"', for BEFORE UPDATE OF */
  int bRowid;
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
  for (int i = 0; i < w->nUnique; i++) sqlite3_free(w->azUnique[i]);
  sqlite3_free(w->azUnique);
  sqlite3_free(w->pUniqueCols ? sqlite3_str_finish(w->pUniqueCols) : 0);
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

/* The source's UNIQUE constraints into w->azUnique (see Watch); *pbIdUnique
** when one of them is the id column alone.  Expression indexes are left
** out: a REPLACE through one goes unseen until the row is written again. */
static int read_unique(sqlite3 *db, Watch *w, int *pbIdUnique) {
  sqlite3_stmt *pList = 0, *pCols = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT name FROM pragma_index_list(?1, 'main') WHERE \"unique\"", -1, &pList, 0);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db, "SELECT cid, name, coll FROM pragma_index_xinfo(?1, 'main') WHERE key ORDER BY seqno",
                            -1, &pCols, 0);
  }
  if (rc == SQLITE_OK) sqlite3_bind_text(pList, 1, w->zSource, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && sqlite3_step(pList) == SQLITE_ROW) {
    sqlite3_bind_text(pCols, 1, (const char *)sqlite3_column_text(pList, 0), -1, SQLITE_TRANSIENT);
    sqlite3_str *c = sqlite3_str_new(0);
    int nCol = 0, bExpr = 0;
    const char *zOnly = 0;
    char *zFirst = 0;
    while (sqlite3_step(pCols) == SQLITE_ROW) {
      const char *zCol = (const char *)sqlite3_column_text(pCols, 1);
      if (sqlite3_column_int(pCols, 0) < 0 || zCol == 0) {
        bExpr = 1;
        continue;
      }
      sqlite3_str_appendf(c, "%so.\"%w\" = new.\"%w\" COLLATE \"%w\"", nCol ? " AND " : "", zCol, zCol,
                          (const char *)sqlite3_column_text(pCols, 2));
      if (w->pUniqueCols == 0) w->pUniqueCols = sqlite3_str_new(0);
      sqlite3_str_appendf(w->pUniqueCols, "%s\"%w\"", sqlite3_str_length(w->pUniqueCols) ? ", " : "", zCol);
      if (nCol++ == 0) zFirst = sqlite3_mprintf("%s", zCol);
    }
    rc = sqlite3_reset(pCols);
    zOnly = nCol == 1 && !bExpr ? zFirst : 0;
    if (zOnly && w->zId && sqlite3_stricmp(zOnly, w->zId) == 0) *pbIdUnique = 1;
    sqlite3_free(zFirst);
    char *zCond = sqlite3_str_finish(c);
    if (rc == SQLITE_OK && !bExpr && zCond) {
      char **az = sqlite3_realloc64(w->azUnique, sizeof(char *) * (size_t)(w->nUnique + 1));
      if (az == 0) {
        rc = SQLITE_NOMEM;
      } else {
        w->azUnique = az;
        w->azUnique[w->nUnique++] = zCond;
        zCond = 0;
      }
    } else if (rc == SQLITE_OK && zCond == 0 && !bExpr) {
      rc = SQLITE_NOMEM;
    }
    sqlite3_free(zCond);
  }
  int rcList = sqlite3_finalize(pList);
  sqlite3_finalize(pCols);
  return rc == SQLITE_OK ? rcList : rc;
}

/* Is the id column the rowid's alias (a rowid table's INTEGER PRIMARY KEY)? */
static int id_is_rowid_alias(sqlite3 *db, const Watch *w) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT count(*) = 1 AND max(name = ?2 COLLATE NOCASE AND upper(type) = 'INTEGER')"
                         " FROM pragma_table_info(?1, 'main') WHERE pk > 0",
                         -1, &p, 0) != SQLITE_OK) {
    return 0;
  }
  sqlite3_bind_text(p, 1, w->zSource, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 2, w->zId, -1, SQLITE_STATIC);
  int b = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
  sqlite3_finalize(p);
  return b && w->bRowid;
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
  w->bRowid = vg_has_table(db, w->zSource, "rowid");
  if (rc == SQLITE_OK && !w->zId && !w->bRowid) {
    /* A WITHOUT ROWID table has no rowid to name its rows by. */
    *pzErr = sqlite3_mprintf("table \"%s\" has no rowid: name its key column with \"id\"", w->zSource);
    rc = SQLITE_ERROR;
  }
  int bIdUnique = 0;
  if (rc == SQLITE_OK) rc = read_unique(db, w, &bIdUnique);
  if (rc == SQLITE_OK && w->zId && !bIdUnique && !id_is_rowid_alias(db, w)) {
    /* Two rows of one id would be one item: deleting either would take
    ** the other's vectors. */
    *pzErr = sqlite3_mprintf("id column \"%s\" of table \"%s\" is not unique: name a column with a PRIMARY KEY "
                             "or UNIQUE constraint of its own (or leave \"id\" out for the rowid)",
                             w->zId, w->zSource);
    rc = SQLITE_ERROR;
  }
  return rc;
}

/* ---- the SQL the triggers run ------------------------------------------ */

/* The expressions of a row (zRow: "new", "old" or a table alias). */
static void append_text_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  if (w->nText == 1) {
    sqlite3_str_appendf(s, "%s.\"%w\"", zRow, w->azText[0]);
    return;
  }
  for (int i = 0; i < w->nText; i++) {
    sqlite3_str_appendf(s, "%scoalesce(%s.\"%w\", '')", i ? " || char(10, 10) || " : "", zRow, w->azText[i]);
  }
}

/* The row's key as stored: what the log keeps and the drain looks up. */
static void append_key_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  if (w->zId) {
    sqlite3_str_appendf(s, "%s.\"%w\"", zRow, w->zId);
  } else {
    sqlite3_str_appendf(s, "%s.rowid", zRow);
  }
}

/* The row's key as the items' content_id. */
static void append_id_expr(sqlite3_str *s, const Watch *w, const char *zRow) {
  sqlite3_str_appendall(s, "CAST(");
  append_key_expr(s, w, zRow);
  sqlite3_str_appendall(s, " AS TEXT)");
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

/* The statements that take the old row out of the queue, each ending with
** zWhen ("" or " AND ..."): its vectors' rowids into the log, for the
** drain to delete, then its queue item (whose text the queue's triggers
** erase).  Plain SQL on ordinary tables only. */
static void append_forget(sqlite3_str *s, const Watch *w, const char *zWhen) {
  sqlite3_str *k = sqlite3_str_new(0);
  sqlite3_str_appendall(k, "tenant_id = ");
  append_tenant_expr(k, w, "old");
  sqlite3_str_appendf(k, " AND content_type = %Q AND content_id = ", w->zType);
  append_id_expr(k, w, "old");
  char *zKey = sqlite3_str_finish(k);
  const char *zItems = zKey ? zKey : "0";
  sqlite3_str_appendf(s,
                      "INSERT INTO vg_watch_log(source_table, tenant_id, target_table, target_rowid)"
                      " SELECT %Q, vg_queue.tenant_id, vg_queue_vectors.target_table, vg_queue_vectors.target_rowid"
                      " FROM vg_queue_vectors JOIN vg_queue ON vg_queue.id = vg_queue_vectors.item_id"
                      " WHERE vg_queue_vectors.item_id IN (SELECT id FROM vg_queue WHERE %s)%s;\n",
                      w->zSource, zItems, zWhen);
  sqlite3_str_appendf(s, "DELETE FROM vg_queue_vectors WHERE item_id IN (SELECT id FROM vg_queue WHERE %s)%s;\n",
                      zItems, zWhen);
  sqlite3_str_appendf(s, "DELETE FROM vg_queue WHERE %s%s;\n", zItems, zWhen);
  sqlite3_free(zKey);
}

/* What differs between old and new: "old.x IS NOT new.x OR ...". */
static void append_changed(sqlite3_str *s, const Watch *w, int bKeyOnly) {
  void (*axExpr[])(sqlite3_str *, const Watch *, const char *) = {append_tenant_expr, append_id_expr,
                                                                   append_text_expr};
  /* Byte for byte (COLLATE BINARY): a column declared NOCASE would hide a
  ** change of case. */
  for (int i = 0; i < (bKeyOnly ? 2 : 3); i++) {
    sqlite3_str_appendall(s, i ? " OR (" : "(");
    axExpr[i](s, w, "old");
    sqlite3_str_appendall(s, ") IS NOT (");
    axExpr[i](s, w, "new");
    sqlite3_str_appendall(s, ") COLLATE BINARY");
  }
  for (int i = 0; !bKeyOnly && i < w->nMeta; i++) {
    sqlite3_str_appendf(s, " OR old.\"%w\" IS NOT new.\"%w\" COLLATE BINARY", w->azMeta[i], w->azMeta[i]);
  }
}

/* The statement that logs the new row's key for the drain, which reads the
** row as it is then (text or none).  A NULL key names no row: the drain
** reports how many rows have one. */
static void append_log_new(sqlite3_str *s, const Watch *w) {
  sqlite3_str_appendf(s, "INSERT INTO vg_watch_log(source_table, source_key) VALUES (%Q, ", w->zSource);
  append_key_expr(s, w, "new");
  sqlite3_str_appendall(s, ");\n");
}

/* The statements that log the keys of the rows a new row conflicts with on
** a UNIQUE constraint: REPLACE deletes those without firing the delete
** trigger (unless recursive_triggers is on), so the drain must look at
** them again.  A conflict that does not end in a replace logs a key whose
** row is unchanged, which the drain finds so. */
static void append_log_conflicts(sqlite3_str *s, const Watch *w, int bUpdate) {
  for (int i = 0; i < w->nUnique + (bUpdate ? 0 : w->bRowid); i++) {
    sqlite3_str_appendf(s, "INSERT INTO vg_watch_log(source_table, source_key) SELECT %Q, ", w->zSource);
    append_key_expr(s, w, "o");
    sqlite3_str_appendf(s, " FROM \"%w\" AS o WHERE %s", w->zSource,
                        i < w->nUnique ? w->azUnique[i] : "o.rowid = new.rowid");
    if (bUpdate) {
      /* Not the row being updated: that one the after-update trigger logs. */
      sqlite3_str_appendall(s, " AND ");
      append_key_expr(s, w, "o");
      sqlite3_str_appendall(s, " IS NOT ");
      append_key_expr(s, w, "old");
    }
    sqlite3_str_appendall(s, ";\n");
  }
}

static const char *const azTriggerEvent[] = {"insert", "update", "delete", "replace_insert", "replace_update"};
#define N_TRIGGERS 5

/* The three triggers, as one script. */
static char *triggers_sql(const Watch *w) {
  sqlite3_str *s = sqlite3_str_new(0);
  if (w->nUnique + w->bRowid > 0) {
    sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_replace_insert\" BEFORE INSERT ON \"%w\" BEGIN\n",
                        w->zSource, w->zSource);
    append_log_conflicts(s, w, 0);
    sqlite3_str_appendall(s, "END;\n");
  }
  if (w->nUnique > 0) {
    /* Only an UPDATE of a constrained column can replace another row. */
    sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_replace_update\" BEFORE UPDATE OF %s ON \"%w\" BEGIN\n",
                        w->zSource, sqlite3_str_value(w->pUniqueCols), w->zSource);
    append_log_conflicts(s, w, 1);
    sqlite3_str_appendall(s, "END;\n");
  }
  sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_insert\" AFTER INSERT ON \"%w\" BEGIN\n", w->zSource,
                      w->zSource);
  append_log_new(s, w);
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
  append_log_new(s, w);
  sqlite3_str_appendall(s, "END;\n");

  sqlite3_str_appendf(s, "CREATE TRIGGER main.\"vg_watch_%w_delete\" AFTER DELETE ON \"%w\" BEGIN\n", w->zSource,
                      w->zSource);
  append_forget(s, w, "");
  sqlite3_str_appendall(s, "END;\n");
  return sqlite3_str_finish(s);
}

static int triggers_drop(sqlite3 *db, const char *zSource) {
  int rc = SQLITE_OK;
  for (int i = 0; rc == SQLITE_OK && i < N_TRIGGERS; i++) {
    char *zSql = sqlite3_mprintf("DROP TRIGGER IF EXISTS main.\"vg_watch_%w_%s\"", zSource, azTriggerEvent[i]);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

/* Prepare the SQL built in s (finishing s). */
static int prepare_sql(sqlite3 *db, sqlite3_str *s, sqlite3_stmt **pp) {
  char *zSql = sqlite3_str_finish(s);
  int rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, pp, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  return rc;
}

/* The rows the table holds now, through vg_ingest at once (this connection
** has the extension); their number in *pn. */
static int backfill(sqlite3 *db, const Watch *w, int *pn) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "SELECT count(");
  append_ingest_call(s, w, "source_row");
  sqlite3_str_appendf(s, ") FROM main.\"%w\" AS source_row WHERE ", w->zSource);
  append_trimmed(s, w, "source_row");
  sqlite3_str_appendall(s, " <> ''");
  sqlite3_stmt *p = 0;
  int rc = prepare_sql(db, s, &p);
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_step(p) == SQLITE_ROW) *pn = sqlite3_column_int(p, 0);
  return sqlite3_finalize(p);
}

/* ---- the drain ---------------------------------------------------------- */

/* A row of sqlite_schema that is a watch's trigger an earlier version made:
** it calls vg_ingest, which a connection without the extension lacks. */
#define OLD_TRIGGER                                                                                \
  "type = 'trigger' AND name LIKE 'vg\\_watch\\_%' ESCAPE '\\' AND sql LIKE '%vg\\_ingest(%' ESCAPE '\\'"

/* How many keys the drain reads from the log at a time. */
#define DRAIN_BATCH 256 /* as in the LIMIT below */
/* How many of a drain's errors its summary lists. */
#define DRAIN_MAX_LISTED 20

static void tally_error(VgWatchTally *t, const char *zSource, sqlite3_value *pKey, const char *zError) {
  if (t->nErrors++ >= DRAIN_MAX_LISTED) return;
  if (t->pErrors == 0) t->pErrors = sqlite3_str_new(0);
  sqlite3_str_appendf(t->pErrors, "%s{\"source_table\":", sqlite3_str_length(t->pErrors) ? "," : "");
  vg_str_append_json(t->pErrors, zSource, -1);
  if (pKey) {
    sqlite3_str_appendall(t->pErrors, ",\"key\":");
    if (sqlite3_value_type(pKey) == SQLITE_INTEGER) {
      sqlite3_str_appendf(t->pErrors, "%lld", sqlite3_value_int64(pKey));
    } else if (sqlite3_value_type(pKey) == SQLITE_NULL) {
      sqlite3_str_appendall(t->pErrors, "null");
    } else {
      vg_str_append_json(t->pErrors, (const char *)sqlite3_value_text(pKey), -1);
    }
  }
  sqlite3_str_appendall(t->pErrors, ",\"error\":");
  vg_str_append_json(t->pErrors, zError, -1);
  sqlite3_str_appendall(t->pErrors, "}");
}

/* Delete the vectors the log lists, table by table. */
static int drain_erasures(sqlite3 *db, VgWatchTally *t) {
  for (;;) {
    sqlite3_stmt *p = 0;
    int rc = sqlite3_prepare_v2(db, "SELECT target_table FROM main.vg_watch_log WHERE target_rowid IS NOT NULL LIMIT 1",
                                -1, &p, 0);
    if (rc != SQLITE_OK) return rc;
    char *zTable = 0;
    int bOom = 0;
    if (sqlite3_step(p) == SQLITE_ROW) zTable = vg_column_dup(p, 0, &bOom);
    rc = sqlite3_finalize(p);
    if (rc == SQLITE_OK && bOom) rc = SQLITE_NOMEM;
    if (rc != SQLITE_OK || zTable == 0) return rc;
    char *zSql = 0;
    if (vg_has_table(db, zTable, 0)) {
      zSql = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid IN (SELECT target_rowid FROM main.vg_watch_log"
                             " WHERE target_table = %Q AND target_rowid IS NOT NULL)",
                             zTable, zTable);
      rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
      if (rc == SQLITE_OK) t->nErased += sqlite3_changes(db);
      sqlite3_free(zSql);
    }
    if (rc == SQLITE_OK) {
      zSql = sqlite3_mprintf("DELETE FROM main.vg_watch_log WHERE target_table = %Q AND target_rowid IS NOT NULL",
                             zTable);
      rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
      sqlite3_free(zSql);
    }
    sqlite3_free(zTable);
    if (rc != SQLITE_OK) return rc;
  }
}

/* The statements a drain runs for one source (see drain_key). */
typedef struct DrainStmts {
  sqlite3_stmt *pRow;    /* ?1 key -> the row's tenant, whether its text has a word */
  sqlite3_stmt *pIngest; /* ?1 key -> vg_ingest of the row */
  sqlite3_stmt *apForget[3]; /* ?1 content_id, ?2 the tenant whose item stays (NULL: none) */
  sqlite3_stmt *pDone;   /* ?1 key: its log rows done */
  sqlite3_stmt *pFailed; /* ?1 key, ?2 error */
  sqlite3_stmt *pKeys;   /* the next keys to look at */
} DrainStmts;

static void drain_stmts_clear(DrainStmts *d) {
  sqlite3_stmt *ap[] = {d->pRow, d->pIngest, d->apForget[0], d->apForget[1], d->apForget[2], d->pDone, d->pFailed,
                        d->pKeys};
  for (size_t i = 0; i < sizeof ap / sizeof ap[0]; i++) sqlite3_finalize(ap[i]);
  memset(d, 0, sizeof(*d));
}

static int step_reset(sqlite3_stmt *p) {
  sqlite3_step(p);
  return sqlite3_reset(p);
}

/* Key K of the source, as the table holds it now (the id names one row):
** its row, with text, through vg_ingest; and every item of the watch with
** content_id K that is not that row's — the row's item under another
** tenant (it moved), or all of them when the row is gone (deleted, blanked,
** replaced, refused) — forgotten with their vectors.  So whatever happened
** to the row since, in whatever order, the drain leaves what the row is.
** In a savepoint: a refusal keeps K's log rows with the error, to be tried
** again, and its item is forgotten too (no vectors of an older text). */
static int drain_key(sqlite3 *db, const Watch *w, DrainStmts *d, sqlite3_value *pKey, VgWatchTally *t) {
  char *zError = 0;
  int rc = sqlite3_exec(db, "SAVEPOINT vg_watch_key", 0, 0, 0);
  if (rc != SQLITE_OK) return rc;
  char *zTenant = 0;
  int bRow = 0, bOom = 0;
  sqlite3_bind_value(d->pRow, 1, pKey);
  if (sqlite3_step(d->pRow) == SQLITE_ROW && sqlite3_column_int(d->pRow, 1)) {
    bRow = 1;
    zTenant = vg_column_dup(d->pRow, 0, &bOom);
  }
  rc = sqlite3_reset(d->pRow);
  if (rc == SQLITE_OK && bOom) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK && bRow) {
    sqlite3_bind_value(d->pIngest, 1, pKey);
    int nRows = 0;
    while (sqlite3_step(d->pIngest) == SQLITE_ROW) nRows++;
    rc = sqlite3_reset(d->pIngest);
    if (rc == SQLITE_OK) {
      t->nRows += nRows;
    } else if (vg_refused_by_values(rc)) {
      zError = sqlite3_mprintf("%s", sqlite3_errmsg(db));
      rc = zError ? SQLITE_OK : SQLITE_NOMEM;
      sqlite3_exec(db, "ROLLBACK TO vg_watch_key", 0, 0, 0);
      sqlite3_free(zTenant);
      zTenant = 0; /* forget every item of K */
    }
  }
  const char *zId = (const char *)sqlite3_value_text(pKey);
  for (int i = 0; rc == SQLITE_OK && i < 3; i++) {
    sqlite3_bind_text(d->apForget[i], 1, zId, -1, SQLITE_STATIC);
    if (zTenant) sqlite3_bind_text(d->apForget[i], 2, zTenant, -1, SQLITE_STATIC);
    else sqlite3_bind_null(d->apForget[i], 2);
    rc = step_reset(d->apForget[i]);
    if (rc == SQLITE_OK && i == 0) t->nErased += sqlite3_changes(db);
  }
  sqlite3_stmt *pEnd = zError ? d->pFailed : d->pDone;
  if (rc == SQLITE_OK) {
    sqlite3_bind_value(pEnd, 1, pKey);
    if (zError) sqlite3_bind_text(pEnd, 2, zError, -1, SQLITE_TRANSIENT);
    rc = step_reset(pEnd);
    if (rc == SQLITE_OK && zError) tally_error(t, w->zSource, pKey, zError);
  }
  if (rc != SQLITE_OK) sqlite3_exec(db, "ROLLBACK TO vg_watch_key", 0, 0, 0);
  sqlite3_exec(db, "RELEASE vg_watch_key", 0, 0, 0);
  sqlite3_free(zTenant);
  sqlite3_free(zError);
  return rc;
}

static int drain_prepare(sqlite3 *db, const Watch *w, DrainStmts *d) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "SELECT ");
  append_tenant_expr(s, w, "new");
  sqlite3_str_appendall(s, ", ");
  append_trimmed(s, w, "new");
  sqlite3_str_appendf(s, " <> '' FROM main.\"%w\" AS new WHERE ", w->zSource);
  append_key_expr(s, w, "new");
  sqlite3_str_appendall(s, " = ?1");
  int rc = prepare_sql(db, s, &d->pRow);
  if (rc == SQLITE_OK) {
    s = sqlite3_str_new(0);
    sqlite3_str_appendall(s, "SELECT ");
    append_ingest_call(s, w, "new");
    sqlite3_str_appendf(s, " FROM main.\"%w\" AS new WHERE ", w->zSource);
    append_key_expr(s, w, "new");
    sqlite3_str_appendall(s, " = ?1 AND ");
    append_trimmed(s, w, "new");
    sqlite3_str_appendall(s, " <> ''");
    rc = prepare_sql(db, s, &d->pIngest);
  }
  char *zItems = sqlite3_mprintf("SELECT id FROM main.vg_queue WHERE target_table = %Q AND content_type = %Q"
                                 " AND content_id = ?1 AND tenant_id IS NOT ?2",
                                 w->zTarget, w->zType);
  char *azSql[3] = {
      sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid IN (SELECT target_rowid FROM main.vg_queue_vectors"
                      " WHERE item_id IN (%s))",
                      w->zTarget, zItems),
      sqlite3_mprintf("DELETE FROM main.vg_queue_vectors WHERE item_id IN (%s)", zItems),
      sqlite3_mprintf("DELETE FROM main.vg_queue WHERE id IN (%s)", zItems)};
  for (int i = 0; i < 3; i++) {
    if (rc == SQLITE_OK) rc = azSql[i] && zItems ? sqlite3_prepare_v2(db, azSql[i], -1, &d->apForget[i], 0) : SQLITE_NOMEM;
    sqlite3_free(azSql[i]);
  }
  sqlite3_free(zItems);
  static const char *const azLog[] = {
      "DELETE FROM main.vg_watch_log WHERE source_table = ?3 AND source_key IS ?1 AND target_rowid IS NULL",
      "UPDATE main.vg_watch_log SET error = ?2 WHERE source_table = ?3 AND source_key IS ?1 AND target_rowid IS NULL",
      /* The log changes under the reads: keys are read a batch at a time. */
      ("SELECT DISTINCT source_key FROM main.vg_watch_log WHERE source_table = ?3"
       " AND target_rowid IS NULL AND error IS NULL LIMIT 256")};
  sqlite3_stmt **app[] = {&d->pDone, &d->pFailed, &d->pKeys};
  for (int i = 0; i < 3; i++) {
    if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, azLog[i], -1, app[i], 0);
    if (rc == SQLITE_OK) sqlite3_bind_text(*app[i], 3, w->zSource, -1, SQLITE_STATIC);
  }
  return rc;
}

/* The rows of one source the log lists, DRAIN_BATCH keys at a time; then
** the rows that have text but no id (NULL), which no item can name. */
static int drain_source(sqlite3 *db, const Watch *w, VgWatchTally *t) {
  DrainStmts d;
  memset(&d, 0, sizeof d);
  int rc = drain_prepare(db, w, &d);
  /* The rows refused last time are tried again (the cause may be gone). */
  if (rc == SQLITE_OK) {
    char *zSql = sqlite3_mprintf("UPDATE main.vg_watch_log SET error = NULL WHERE source_table = %Q"
                                 " AND target_rowid IS NULL AND error IS NOT NULL",
                                 w->zSource);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  sqlite3_value *apKey[DRAIN_BATCH];
  int nKey = 0;
  do {
    nKey = 0;
    while (rc == SQLITE_OK && nKey < DRAIN_BATCH && sqlite3_step(d.pKeys) == SQLITE_ROW) {
      if ((apKey[nKey] = sqlite3_value_dup(sqlite3_column_value(d.pKeys, 0))) == 0) rc = SQLITE_NOMEM;
      else nKey++;
    }
    int rcKeys = d.pKeys ? sqlite3_reset(d.pKeys) : SQLITE_OK;
    if (rc == SQLITE_OK) rc = rcKeys;
    for (int i = 0; rc == SQLITE_OK && i < nKey; i++) rc = drain_key(db, w, &d, apKey[i], t);
    for (int i = 0; i < nKey; i++) sqlite3_value_free(apKey[i]);
  } while (rc == SQLITE_OK && nKey > 0);
  drain_stmts_clear(&d);
  if (rc == SQLITE_OK && w->zId) {
    sqlite3_str *s = sqlite3_str_new(0);
    sqlite3_str_appendf(s, "SELECT count(*) FROM main.\"%w\" AS new WHERE \"%w\" IS NULL AND ", w->zSource, w->zId);
    append_trimmed(s, w, "new");
    sqlite3_str_appendall(s, " <> ''");
    sqlite3_stmt *p = 0;
    rc = prepare_sql(db, s, &p);
    int nNull = rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW ? sqlite3_column_int(p, 0) : 0;
    if (rc == SQLITE_OK) rc = sqlite3_finalize(p);
    if (rc == SQLITE_OK && nNull > 0) {
      char *zErr = sqlite3_mprintf("%d rows of \"%s\" have NULL in their id column \"%s\": give them ids to have "
                                   "them indexed", nNull, w->zSource, w->zId);
      if (zErr == 0) rc = SQLITE_NOMEM;
      else tally_error(t, w->zSource, 0, zErr);
      sqlite3_free(zErr);
    }
  }
  return rc;
}

/* Each watch with rows in the log, or with triggers an earlier version
** made (they called vg_ingest, which a connection without the extension
** cannot run): those are made again first. */
static int drain_watches(sqlite3 *db, VgWatchTally *t) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT source_table, target_table, options, old FROM (SELECT w.*,"
                              " EXISTS (SELECT 1 FROM main.sqlite_schema WHERE tbl_name = w.source_table AND "
                              OLD_TRIGGER ") AS old FROM main.vg_watches AS w) AS w"
                              " WHERE old OR EXISTS (SELECT 1 FROM main.vg_watch_log AS l"
                              "  WHERE l.source_table = w.source_table AND l.target_rowid IS NULL)",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  /* The watches are read whole first: draining writes the log. */
  typedef struct Pending { char *zSource, *zTarget, *zOptions; int bOld; } Pending;
  Pending *a = 0;
  int n = 0;
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    Pending *aNew = sqlite3_realloc64(a, sizeof(Pending) * (size_t)(n + 1));
    if (aNew == 0) {
      rc = SQLITE_NOMEM;
      break;
    }
    a = aNew;
    int bOom = 0;
    a[n].zSource = vg_column_dup(p, 0, &bOom);
    a[n].zTarget = vg_column_dup(p, 1, &bOom);
    a[n].zOptions = vg_column_dup(p, 2, &bOom);
    a[n].bOld = sqlite3_column_int(p, 3);
    n++;
    if (bOom) rc = SQLITE_NOMEM;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  for (int i = 0; rc == SQLITE_OK && i < n; i++) {
    Watch w;
    memset(&w, 0, sizeof w);
    w.zSource = a[i].zSource;
    w.zTarget = a[i].zTarget;
    char *zErr = 0;
    int rcWatch = a[i].zSource && a[i].zTarget && a[i].zOptions ? watch_read(db, a[i].zOptions, &w, &zErr)
                                                                  : SQLITE_NOMEM;
    if (rcWatch == SQLITE_OK && !w.zType && (w.zType = sqlite3_mprintf("%s", w.zSource)) == 0) rcWatch = SQLITE_NOMEM;
    if (rcWatch == SQLITE_OK && a[i].bOld) {
      char *zTriggers = triggers_sql(&w);
      rcWatch = zTriggers ? triggers_drop(db, w.zSource) : SQLITE_NOMEM;
      if (rcWatch == SQLITE_OK) rcWatch = sqlite3_exec(db, zTriggers, 0, 0, 0);
      sqlite3_free(zTriggers);
    }
    if (rcWatch == SQLITE_OK) {
      rc = drain_source(db, &w, t);
    } else if (rcWatch == SQLITE_ERROR && zErr) {
      /* The watch no longer fits its table (a column dropped, the table
      ** gone): its rows wait in the log, and the run says why. */
      tally_error(t, a[i].zSource, 0, zErr);
    } else {
      rc = rcWatch;
    }
    sqlite3_free(zErr);
    w.zSource = w.zTarget = 0;
    watch_clear(&w);
  }
  for (int i = 0; i < n; i++) {
    sqlite3_free(a[i].zSource);
    sqlite3_free(a[i].zTarget);
    sqlite3_free(a[i].zOptions);
  }
  sqlite3_free(a);
  return rc;
}

int vg_watch_drain(sqlite3 *db, VgWatchTally *t) {
  if (!vg_has_table(db, "vg_watch_log", 0)) {
    /* A queue an earlier version made: it may still have watches, with the
    ** triggers of that version, which the log's arrival replaces. */
    if (!vg_has_table(db, "vg_watches", 0)) return SQLITE_OK;
  } else {
    sqlite3_stmt *p = 0;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT EXISTS (SELECT 1 FROM main.vg_watch_log) OR EXISTS (SELECT 1 FROM"
                                " main.sqlite_schema WHERE " OLD_TRIGGER ")",
                                -1, &p, 0);
    if (rc != SQLITE_OK) return rc;
    int bWork = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
    rc = sqlite3_finalize(p);
    if (rc != SQLITE_OK || !bWork) return rc;
  }
  VgTxn mode;
  int rc = vg_txn_begin(db, vg_queue_sweep, &mode);
  /* Inside a statement that writes (INSERT ... SELECT vg_queue_run(...))
  ** there is no savepoint to keep a refused row apart: the next call
  ** drains. */
  if (rc == SQLITE_OK && mode == VG_TXN_NONE) return vg_txn_end(db, mode, rc);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, VG_WATCH_LOG_SCHEMA, 0, 0, 0);
  if (rc == SQLITE_OK) rc = drain_erasures(db, t);
  if (rc == SQLITE_OK) rc = drain_watches(db, t);
  return vg_txn_end(db, mode, rc);
}

void vg_watch_tally_json(sqlite3_str *out, VgWatchTally *t) {
  char *zErrors = t->pErrors ? sqlite3_str_finish(t->pErrors) : 0;
  t->pErrors = 0;
  sqlite3_str_appendf(out, "{\"rows\":%d,\"erased\":%d,\"refused\":%d,\"errors\":[%s]}", t->nRows, t->nErased,
                      t->nErrors, zErrors ? zErrors : "");
  sqlite3_free(zErrors);
}

void vg_watch_tally_clear(VgWatchTally *t) {
  char *z = t->pErrors ? sqlite3_str_finish(t->pErrors) : 0;
  sqlite3_free(z);
  memset(t, 0, sizeof(*t));
}

int vg_watch_pending_erasures(sqlite3 *db, const char *zTable, const char *zTenant, sqlite3_int64 **paRowid,
                              int *pn) {
  *paRowid = 0;
  *pn = 0;
  if (!vg_has_table(db, "vg_watch_log", 0)) return SQLITE_OK;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT target_rowid FROM main.vg_watch_log WHERE target_table = ?1"
                              " AND target_rowid IS NOT NULL AND (?2 IS NULL OR tenant_id IS ?2) ORDER BY 1",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (zTenant) sqlite3_bind_text(p, 2, zTenant, -1, SQLITE_STATIC);
  sqlite3_int64 *a = 0;
  int n = 0, nAlloc = 0;
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    if (n == nAlloc) {
      nAlloc = nAlloc ? nAlloc * 2 : 16;
      sqlite3_int64 *aNew = sqlite3_realloc64(a, sizeof(sqlite3_int64) * (size_t)nAlloc);
      if (aNew == 0) {
        rc = SQLITE_NOMEM;
        break;
      }
      a = aNew;
    }
    a[n++] = sqlite3_column_int64(p, 0);
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    return rc;
  }
  *paRowid = a;
  *pn = n;
  return SQLITE_OK;
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
  if (rc == SQLITE_OK) {
    /* A table renamed while watched keeps the triggers of its old name. */
    sqlite3_stmt *p = 0;
    rc = sqlite3_prepare_v2(db,
                            "SELECT name FROM main.sqlite_schema WHERE type = 'trigger' AND tbl_name = ?1"
                            " AND name LIKE 'vg\\_watch\\_%' ESCAPE '\\'",
                            -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, w->zSource, -1, SQLITE_STATIC);
      if (sqlite3_step(p) == SQLITE_ROW) {
        *pzErr = sqlite3_mprintf("table \"%s\" has trigger \"%s\" of a watch made under another name (renamed "
                                 "since?): vg_unwatch that name first",
                                 w->zSource, sqlite3_column_text(p, 0));
        rc = SQLITE_ERROR;
      }
      sqlite3_finalize(p);
    }
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
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, VG_WATCH_LOG_SCHEMA, 0, 0, 0);
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
  if (rc == SQLITE_OK) rc = triggers_drop(db, zSource);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, VG_WATCH_LOG_SCHEMA, 0, 0, 0);
  if (rc == SQLITE_OK) {
    /* Changed rows no longer go anywhere; deleted rows' vectors still go. */
    char *zSql = sqlite3_mprintf("DELETE FROM main.vg_watches WHERE source_table = %Q;"
                                 "DELETE FROM main.vg_watch_log WHERE source_table = %Q AND target_rowid IS NULL",
                                 zSource, zSource);
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

/* vg_watch_drain() -> {"rows", "erased", "refused", "errors"}: what
** vg_queue_run does first, alone. */
static void fn_watch_drain(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  VgWatchTally t;
  memset(&t, 0, sizeof t);
  char *zErr = 0;
  int rc = vg_queue_ensure(db, &zErr);
  if (rc == SQLITE_OK) rc = vg_watch_drain(db, &t);
  if (rc != SQLITE_OK) {
    vg_result_failure(ctx, "vg_watch_drain", db, rc, zErr);
  } else {
    sqlite3_str *out = sqlite3_str_new(db);
    vg_watch_tally_json(out, &t);
    vg_result_str(ctx, out);
    sqlite3_free(zErr);
  }
  vg_watch_tally_clear(&t);
}

/* What ext/vecguard.c registers for vg_watch and vg_unwatch (pipeline.h),
** with the QueueConn. */
const VgFunction vg_watch_functions[] = {
    {"vg_watch", 3, VG_FUNC_DIRECT, fn_watch},
    {"vg_unwatch", 1, VG_FUNC_DIRECT, fn_unwatch},
    {"vg_watch_drain", 0, VG_FUNC_DIRECT, fn_watch_drain},
    {0, 0, 0, 0},
};
