/*
** hnsw_check.c — vg_hnsw_check(table): a JSON report on a vg_hnsw table's
** stored index, read from the shadow tables (not from any connection's cache).
**
** Every partition is loaded leniently, so that damage is counted instead of
** stopping the load, and its graph is checked: symmetric links, lists within
** capacity, links only to live nodes of high enough level, every node
** reachable from the entry point, and the stored entry point.  The rows of
** T_rows are matched against the slots that hold them.  "ok" is true when
** every count of damage is zero.
*/
#include <string.h>

#include "table/table.h"

typedef struct CheckTotals {
  sqlite3_int64 partitions, rows, nodes, links;
  sqlite3_int64 unreachable, isolated, oneWay, badLinks, degree, dangling;
  sqlite3_int64 badSlots, overfull, rowsWithoutNode, countMismatches;
  sqlite3_int64 entryOk, entryBad;
} CheckTotals;

/* The table definition the store needs, from the table's T_config. */
static int read_config(sqlite3 *db, const char *zSchema, const char *zName, VgTableDef *pDef,
                       char **pzErr) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf(
      "SELECT (SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'dims'), "
      "(SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'metric'), "
      "(SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'hnsw_m')",
      zSchema, zName, zSchema, zName, zSchema, zName);
  if (zSql == 0) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("vg_hnsw_check: no vg_hnsw table named %s.%s", zSchema, zName);
    return SQLITE_ERROR;
  }
  memset(pDef, 0, sizeof(*pDef));
  rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW) {
    const char *zMetric = (const char *)sqlite3_column_text(pStmt, 1);
    pDef->nDims = sqlite3_column_int(pStmt, 0);
    pDef->hnswM = sqlite3_column_int(pStmt, 2);
    pDef->iVector = pDef->iPartition = -1;
    if (zMetric == 0 || vg_metric_parse(zMetric, -1, &pDef->metric) != SQLITE_OK ||
        pDef->nDims < 1 || pDef->nDims > VG_MAX_DIMS || pDef->hnswM < 2 ||
        pDef->hnswM > VG_HNSW_MAX_M) {
      *pzErr = sqlite3_mprintf("vg_hnsw_check: %s_config of %s is damaged", zName, zName);
      rc = SQLITE_CORRUPT_VTAB;
    } else {
      rc = SQLITE_OK;
    }
  } else {
    *pzErr = sqlite3_mprintf("vg_hnsw_check: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  return rc;
}

/* Does every T_rows record of the partition point at the slot of its node? */
static int check_rows(sqlite3 *db, VgStore *pStore, sqlite3_int64 part, Hnsw *h,
                      CheckTotals *t) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf(
      "SELECT r.id, r.chunk, r.slot, c.level FROM %s r LEFT JOIN %s c ON c.id = r.chunk "
      "WHERE r.part = ?1",
      vg_store_table(pStore, "rows"), vg_store_table(pStore, "chunks"));
  int rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    t->rows++;
    uint32_t i = hnsw_find(h, sqlite3_column_int64(pStmt, 0));
    VgSlot slot = {sqlite3_column_int64(pStmt, 1), sqlite3_column_int(pStmt, 2),
                   sqlite3_column_int(pStmt, 3)};
    if (i == HNSW_NONE || sqlite3_column_type(pStmt, 3) == SQLITE_NULL ||
        h->aTag[i] != vg_slot_tag(&slot) || h->aLevel[i] != slot.level) {
      t->rowsWithoutNode++;
    }
  }
  return sqlite3_finalize(pStmt);
}

static int check_partition(sqlite3 *db, VgStore *pStore, const VgTableDef *pDef,
                           sqlite3_int64 part, CheckTotals *t, char **pzErr) {
  VgPart p;
  Hnsw h;
  VgLoadReport lr;
  HnswReport hr;
  int rc = vg_store_part_get(pStore, part, &p, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = hnsw_init(&h, pDef->nDims, pDef->metric, pDef->hnswM, 1, HNSW_FLOAT32);
  if (rc == SQLITE_OK) rc = vg_store_load_partition(pStore, &p, &h, &lr, pzErr);
  if (rc == SQLITE_OK) rc = hnsw_check(&h, &hr);
  if (rc == SQLITE_OK) rc = check_rows(db, pStore, part, &h, t);
  if (rc == SQLITE_OK) {
    t->partitions++;
    t->nodes += hr.nodes;
    t->links += hr.links;
    t->unreachable += hr.unreachable;
    t->isolated += hr.isolated;
    t->oneWay += hr.oneWay;
    t->badLinks += hr.badLinks;
    t->degree += hr.degreeViolations;
    t->dangling += lr.dangling;
    t->badSlots += lr.badSlots;
    t->overfull += lr.overfull;
    t->countMismatches += (lr.nCounted != hr.nodes) + (lr.nRecords != hr.nodes);
    if (lr.entryOk && hr.entryOk) {
      t->entryOk++;
    } else {
      t->entryBad++;
    }
  }
  hnsw_free(&h);
  return rc;
}

/* Rows of T_rows whose partition is missing belong to no graph. */
static int count_orphans(sqlite3 *db, VgStore *pStore, CheckTotals *t) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT count(*) FROM %s WHERE part NOT IN (SELECT id FROM %s)",
                               vg_store_table(pStore, "rows"),
                               vg_store_table(pStore, "partitions"));
  int rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc;
  if (sqlite3_step(pStmt) == SQLITE_ROW) {
    sqlite3_int64 n = sqlite3_column_int64(pStmt, 0);
    t->rows += n;
    t->rowsWithoutNode += n;
  }
  return sqlite3_finalize(pStmt);
}

static char *report_json(const char *zName, const CheckTotals *t) {
  int bOk = t->unreachable + t->isolated + t->oneWay + t->badLinks + t->degree + t->dangling +
                t->badSlots + t->overfull + t->rowsWithoutNode + t->countMismatches +
                t->entryBad ==
            0;
  return sqlite3_mprintf(
      "{\"table\":\"%w\",\"ok\":%s,\"partitions\":%lld,\"rows\":%lld,\"nodes\":%lld,"
      "\"links\":%lld,\"unreachable_nodes\":%lld,\"isolated_nodes\":%lld,"
      "\"one_way_links\":%lld,\"dangling_links\":%lld,\"bad_links\":%lld,"
      "\"degree_violations\":%lld,\"bad_slots\":%lld,\"rows_without_node\":%lld,"
      "\"count_mismatches\":%lld,\"entry_points\":{\"ok\":%lld,\"bad\":%lld}}",
      zName, bOk ? "true" : "false", t->partitions, t->rows, t->nodes, t->links,
      t->unreachable, t->isolated, t->oneWay, t->dangling, t->badLinks,
      t->degree + t->overfull, t->badSlots, t->rowsWithoutNode, t->countMismatches,
      t->entryOk, t->entryBad);
}

static int run_check(sqlite3 *db, const char *zSchema, const char *zName, char **pzJson,
                     char **pzErr) {
  VgTableDef def;
  VgStore *pStore = 0;
  sqlite3_stmt *pParts = 0;
  CheckTotals t;
  memset(&t, 0, sizeof(t));
  int rc = read_config(db, zSchema, zName, &def, pzErr);
  if (rc == SQLITE_OK) rc = vg_store_connect(db, zSchema, zName, &def, &pStore, pzErr);
  if (rc != SQLITE_OK) return rc;
  char *zSql = sqlite3_mprintf("SELECT id FROM %s ORDER BY id",
                               vg_store_table(pStore, "partitions"));
  rc = zSql ? sqlite3_prepare_v2(db, zSql, -1, &pParts, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  while (rc == SQLITE_OK && sqlite3_step(pParts) == SQLITE_ROW) {
    rc = check_partition(db, pStore, &def, sqlite3_column_int64(pParts, 0), &t, pzErr);
  }
  sqlite3_finalize(pParts);
  if (rc == SQLITE_OK) rc = count_orphans(db, pStore, &t);
  if (rc == SQLITE_OK) {
    *pzJson = report_json(zName, &t);
    if (*pzJson == 0) rc = SQLITE_NOMEM;
  } else if (*pzErr == 0) {
    *pzErr = sqlite3_mprintf("vg_hnsw_check: %s", sqlite3_errmsg(db));
  }
  vg_store_disconnect(pStore);
  return rc;
}

/* vg_hnsw_check('table') or vg_hnsw_check('schema.table'). */
void vg_hnsw_check_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    sqlite3_result_error(ctx, "vg_hnsw_check: give the name of a vg_hnsw table", -1);
    return;
  }
  const char *zArg = vg_text_arg(ctx, "vg_hnsw_check", argv[0], "the table", VG_TEXT_NONEMPTY, 0);
  if (zArg == 0) return;
  const char *zDot = strchr(zArg, '.');
  char *zSchema = zDot ? sqlite3_mprintf("%.*s", (int)(zDot - zArg), zArg) : sqlite3_mprintf("main");
  const char *zName = zDot ? zDot + 1 : zArg;
  char *zJson = 0, *zErr = 0;
  int rc = zSchema ? run_check(sqlite3_context_db_handle(ctx), zSchema, zName, &zJson, &zErr)
                   : SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    sqlite3_result_text(ctx, zJson, -1, sqlite3_free);
  } else if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_error(ctx, zErr ? zErr : sqlite3_errstr(rc), -1);
    sqlite3_result_error_code(ctx, rc);
  }
  sqlite3_free(zErr);
  sqlite3_free(zSchema);
}
