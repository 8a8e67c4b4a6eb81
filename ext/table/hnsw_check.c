/*
** hnsw_check.c — vg_hnsw_check(table): a JSON report on a vg_hnsw table's
** stored index, read from the shadow tables (not from any connection's cache).
**
** Every partition is loaded leniently, so that damage is counted instead of
** stopping the load, and its graph is checked: symmetric links, lists within
** capacity, links only to live nodes of high enough level, every node
** reachable from the entry point, and the stored entry point.  The rows of
** T_rows are matched against the slots that hold them.  A fulltext column's
** index is compared with the rows' texts tokenized again (fulltext.c).
** "ok" is true when every count of damage is zero.
*/
#include <string.h>

#include "table/table.h"

typedef struct CheckTotals {
  sqlite3_int64 partitions, rows, nodes, links;
  sqlite3_int64 unreachable, isolated, oneWay, badLinks, degree, dangling;
  sqlite3_int64 badSlots, overfull, rowsWithoutNode, countMismatches;
  sqlite3_int64 entryOk, entryBad;
} CheckTotals;

static int check_partition(VgStore *pStore, const VgTableDef *pDef,
                           sqlite3_int64 part, CheckTotals *t, char **pzErr) {
  VgPart p;
  Hnsw h;
  VgLoadReport lr;
  HnswReport hr;
  int rc = vg_store_part_get(pStore, part, &p, pzErr);
  if (rc != SQLITE_OK) return rc;
  /* A float[N] table's graph is checked in float32 whatever its quantization. */
  HnswVectors v = pDef->element == VG_ELEMENT_FLOAT32 ? HNSW_FLOAT32 : vg_tabledef_vectors(pDef);
  rc = vg_hnsw_rc(hnsw_init(&h, pDef->nDims, pDef->metric, pDef->hnswM, 1, v));
  if (rc == SQLITE_OK) rc = vg_store_load_partition(pStore, &p, &h, &lr, pzErr);
  if (rc == SQLITE_OK) rc = vg_hnsw_rc(hnsw_check(&h, &hr));
  if (rc == SQLITE_OK) rc = vg_store_check_rows(pStore, part, &h, &t->rows, &t->rowsWithoutNode);
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

static char *report_json(const char *zName, const CheckTotals *t, const VgFtCheck *ft) {
  int bOk = t->unreachable + t->isolated + t->oneWay + t->badLinks + t->degree + t->dangling +
                t->badSlots + t->overfull + t->rowsWithoutNode + t->countMismatches +
                t->entryBad ==
            0;
  char *zFt = 0;
  if (ft) {
    int bFtOk = ft->partitionsDiffering + ft->statMismatches + ft->badChunks + ft->orphans + ft->unreadable == 0;
    bOk = bOk && bFtOk;
    zFt = sqlite3_mprintf(
        ",\"fulltext\":{\"ok\":%s,\"rows\":%lld,\"postings\":%lld,\"expected_postings\":%lld,"
        "\"partitions_differing\":%lld,\"statistics_mismatches\":%lld,\"bad_chunks\":%lld,"
        "\"orphans\":%lld,\"unreadable_rows\":%lld}",
        bFtOk ? "true" : "false", ft->rows, ft->postings, ft->expectedPostings, ft->partitionsDiffering,
        ft->statMismatches, ft->badChunks, ft->orphans, ft->unreadable);
    if (zFt == 0) return 0;
  }
  char *z = sqlite3_mprintf(
      "{\"table\":\"%w\",\"ok\":%s,\"partitions\":%lld,\"rows\":%lld,\"nodes\":%lld,"
      "\"links\":%lld,\"unreachable_nodes\":%lld,\"isolated_nodes\":%lld,"
      "\"one_way_links\":%lld,\"dangling_links\":%lld,\"bad_links\":%lld,"
      "\"degree_violations\":%lld,\"bad_slots\":%lld,\"rows_without_node\":%lld,"
      "\"count_mismatches\":%lld,\"entry_points\":{\"ok\":%lld,\"bad\":%lld}%s}",
      zName, bOk ? "true" : "false", t->partitions, t->rows, t->nodes, t->links,
      t->unreachable, t->isolated, t->oneWay, t->dangling, t->badLinks,
      t->degree + t->overfull, t->badSlots, t->rowsWithoutNode, t->countMismatches,
      t->entryOk, t->entryBad, zFt ? zFt : "");
  sqlite3_free(zFt);
  return z;
}

/* The whole definition of table zName from its CREATE statement, when it
** has a fulltext column (0 otherwise). */
static VgTableDef *fulltext_def(sqlite3 *db, const char *zSchema, const char *zName) {
  sqlite3_stmt *p = 0;
  VgTableDef *pDef = 0;
  char *zSql = sqlite3_mprintf("SELECT sql FROM \"%w\".sqlite_schema WHERE type = 'table' AND name = ?1",
                               zSchema);
  if (zSql && sqlite3_prepare_v2(db, zSql, -1, &p, 0) == SQLITE_OK) {
    sqlite3_bind_text(p, 1, zName, -1, SQLITE_STATIC);
    if (sqlite3_step(p) == SQLITE_ROW && sqlite3_column_text(p, 0)) {
      char *zErr = 0;
      if (vg_tabledef_parse_sql((const char *)sqlite3_column_text(p, 0), &pDef, &zErr) != SQLITE_OK) pDef = 0;
      sqlite3_free(zErr);
    }
  }
  sqlite3_finalize(p);
  sqlite3_free(zSql);
  if (pDef && pDef->iFulltext < 0) {
    vg_tabledef_free(pDef);
    pDef = 0;
  }
  return pDef;
}

static int run_check(sqlite3 *db, const char *zSchema, const char *zName, char **pzJson,
                     char **pzErr) {
  VgTableDef def;
  VgStore *pStore = 0;
  VgFulltext *pFt = 0;
  VgFtCheck ft;
  CheckTotals t;
  memset(&t, 0, sizeof(t));
  int rc = vg_store_read_def(db, zSchema, zName, &def, pzErr);
  /* A table with a fulltext column is read by its whole definition, which
  ** its rows' texts are found by. */
  VgTableDef *pFull = rc == SQLITE_OK ? fulltext_def(db, zSchema, zName) : 0;
  if (rc == SQLITE_OK) rc = vg_store_connect(db, zSchema, zName, pFull ? pFull : &def, &pStore, pzErr);
  if (rc != SQLITE_OK) {
    vg_tabledef_free(pFull);
    return rc;
  }
  sqlite3_int64 part = 0;
  int bFirst = 1;
  while ((rc = vg_store_part_next(pStore, bFirst, part, &part)) == SQLITE_ROW) {
    bFirst = 0;
    rc = check_partition(pStore, &def, part, &t, pzErr);
    if (rc != SQLITE_OK) break;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc == SQLITE_OK) {
    /* Rows of T_rows whose partition is missing belong to no graph. */
    sqlite3_int64 n = 0;
    rc = vg_store_count_orphans(pStore, &n);
    t.rows += n;
    t.rowsWithoutNode += n;
  }
  if (rc == SQLITE_OK && pFull) {
    rc = vg_fulltext_open(db, zSchema, zName, &pFt);
    if (rc == SQLITE_OK) rc = vg_fulltext_check(pFt, pStore, pFull, &ft, pzErr);
  }
  if (rc == SQLITE_OK) {
    *pzJson = report_json(zName, &t, pFull ? &ft : 0);
    if (*pzJson == 0) rc = SQLITE_NOMEM;
  } else if (*pzErr == 0) {
    *pzErr = sqlite3_mprintf("vg_hnsw_check: %s", sqlite3_errmsg(db));
  }
  vg_fulltext_close(pFt);
  vg_store_disconnect(pStore);
  vg_tabledef_free(pFull);
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
