/*
** report.c — a tenant's governance report (GET /v1/tenants/{t}/report):
** PII findings by type over a period from the audit log vg_pii_log, the
** share of documents that were compliant as sent, the ones that need a
** look, queue health and storage.  Read from the tenant's file only.
*/
#include "vecguardd.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* zTime as the audit log writes times (UTC, milliseconds), or NULL. */
static char *log_time(sqlite3 *db, const char *zTime, const char *zModifier) {
  sqlite3_stmt *pStmt = NULL;
  char *zOut = NULL;
  if (sqlite3_prepare_v2(db, "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', ?1, ?2)", -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTime, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zModifier ? zModifier : "+0 seconds", -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_type(pStmt, 0) == SQLITE_TEXT)
      zOut = strdup((const char *)sqlite3_column_text(pStmt, 0));
  }
  sqlite3_finalize(pStmt);
  return zOut;
}

/* The rows of zSql (parameters ?1 from, ?2 to) into xRow; SQLite's code. */
static int each_row(sqlite3 *db, const char *zSql, const char *zFrom, const char *zTo,
                    void (*xRow)(sqlite3_stmt *, json_t *), json_t *pOut) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    if (sqlite3_bind_parameter_count(pStmt) >= 2) {
      sqlite3_bind_text(pStmt, 1, zFrom, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 2, zTo, -1, SQLITE_STATIC);
    }
    while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) xRow(pStmt, pOut);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  return rc;
}

static void pii_totals(sqlite3_stmt *p, json_t *pPii) {
  long long n = sqlite3_column_int64(p, 0), nCompliant = sqlite3_column_int64(p, 2);
  json_object_set_new(pPii, "documents", json_integer(n));
  json_object_set_new(pPii, "with_findings", json_integer(sqlite3_column_int64(p, 1)));
  json_object_set_new(pPii, "compliance", json_pack("{s:I,s:I,s:I}", "compliant", (json_int_t)nCompliant, "review",
                                                    (json_int_t)sqlite3_column_int64(p, 3), "blocked",
                                                    (json_int_t)sqlite3_column_int64(p, 4)));
  json_object_set_new(pPii, "compliance_rate", n ? json_real((double)nCompliant / (double)n) : json_null());
}

static void pii_by_type(sqlite3_stmt *p, json_t *pByType) {
  json_object_set_new(pByType, (const char *)sqlite3_column_text(p, 0), json_integer(sqlite3_column_int64(p, 1)));
}

static void review_row(sqlite3_stmt *p, json_t *pReview) {
  const char *zFindings = (const char *)sqlite3_column_text(p, 3);
  json_t *pFindings = zFindings ? json_loads(zFindings, 0, NULL) : NULL;
  json_array_append_new(pReview, json_pack("{s:s,s:s,s:s,s:o}", "content_id",
                                           sqlite3_column_text(p, 0) ? (const char *)sqlite3_column_text(p, 0) : "",
                                           "logged_at", sqlite3_column_text(p, 1), "compliance",
                                           sqlite3_column_text(p, 2), "findings",
                                           pFindings ? pFindings : json_object()));
}

static void storage_row(sqlite3_stmt *p, json_t *pStorage) {
  json_object_set_new(pStorage, "documents", json_integer(sqlite3_column_int64(p, 0)));
  json_object_set_new(pStorage, "chunks", json_integer(sqlite3_column_int64(p, 1)));
}

static void queue_row(sqlite3_stmt *p, json_t *pQueue) {
  json_t *pStats = json_loads((const char *)sqlite3_column_text(p, 0), 0, NULL);
  json_t *pByStatus = json_object_get(pStats, "by_status");
  json_object_set(pQueue, "by_status", pByStatus ? pByStatus : json_object());
  json_t *v = json_object_get(pStats, "items_per_second");
  json_object_set(pQueue, "items_per_second", v ? v : json_null());
  v = json_object_get(pStats, "eta_seconds");
  json_object_set(pQueue, "eta_seconds", v ? v : json_null());
  json_object_set_new(pQueue, "dead", json_integer(json_integer_value(json_object_get(pByStatus, "dead"))));
  json_decref(pStats);
}

int vgd_report(sqlite3 *db, const char *zTenant, const char *zSince, const char *zUntil, json_t **ppOut,
               char **pzErr) {
  /* A date alone as until means the whole day. */
  int bDay = zUntil && strlen(zUntil) == 10;
  char *zTo = log_time(db, zUntil ? zUntil : "now", bDay ? "+86399.999 seconds" : NULL);
  char *zFrom = zSince ? log_time(db, zSince, NULL) : zTo ? log_time(db, zTo, "-30 days") : NULL;
  *ppOut = NULL;
  if (!zFrom || !zTo || strcmp(zFrom, zTo) > 0) {
    *pzErr = !zTo     ? vgd_mprintf("until is not a time: send ISO 8601 UTC, such as 2026-12-01T00:00:00Z")
             : !zFrom ? vgd_mprintf("since is not a time: send ISO 8601 UTC, such as 2026-11-01T00:00:00Z")
                      : vgd_mprintf("since (%s) is after until (%s)", zFrom, zTo);
    free(zFrom);
    free(zTo);
    return SQLITE_RANGE;
  }
  json_t *pOut = json_pack("{s:s,s:s,s:s,s:{s:I,s:I,s:{},s:{s:I,s:I,s:I},s:n},s:[],s:{},s:{}}", "tenant", zTenant,
                           "from", zFrom, "to", zTo, "pii", "documents", (json_int_t)0, "with_findings",
                           (json_int_t)0, "findings_by_type", "compliance", "compliant", (json_int_t)0, "review",
                           (json_int_t)0, "blocked", (json_int_t)0, "compliance_rate", "review", "queue", "storage");
  json_t *pPii = json_object_get(pOut, "pii");
  /* the audit log exists from the first ingest on */
  int bLog = sqlite3_exec(db, "SELECT 1 FROM vg_pii_log LIMIT 0", NULL, NULL, NULL) == SQLITE_OK;
  int rc = SQLITE_OK;
  if (bLog)
    rc = each_row(db,
                  "SELECT count(*), coalesce(sum(findings <> '{}'), 0), coalesce(sum(compliance = 'compliant'), 0),"
                  " coalesce(sum(compliance = 'review'), 0), coalesce(sum(compliance = 'blocked'), 0)"
                  " FROM vg_pii_log WHERE logged_at >= ?1 AND logged_at <= ?2",
                  zFrom, zTo, pii_totals, pPii);
  if (bLog && rc == SQLITE_OK)
    rc = each_row(db,
                  "SELECT f.key, sum(f.value) FROM vg_pii_log AS l, json_each(l.findings) AS f"
                  " WHERE l.logged_at >= ?1 AND l.logged_at <= ?2 GROUP BY f.key ORDER BY f.key",
                  zFrom, zTo, pii_by_type, json_object_get(pPii, "findings_by_type"));
  /* the newest 100 documents whose text, as sent, the policy flagged */
  if (bLog && rc == SQLITE_OK)
    rc = each_row(db,
                  "SELECT content_id, logged_at, compliance, findings FROM vg_pii_log"
                  " WHERE logged_at >= ?1 AND logged_at <= ?2 AND compliance <> 'compliant'"
                  " ORDER BY id DESC LIMIT 100",
                  zFrom, zTo, review_row, json_object_get(pOut, "review"));
  if (rc == SQLITE_OK)
    rc = each_row(db, "SELECT vg_queue_stats()", NULL, NULL, queue_row, json_object_get(pOut, "queue"));
  if (rc == SQLITE_OK)
    rc = each_row(db,
                  "SELECT (SELECT count(DISTINCT content_id) FROM documents), (SELECT count(*) FROM documents)",
                  NULL, NULL, storage_row, json_object_get(pOut, "storage"));
  if (rc == SQLITE_OK) {
    /* bytes on disk: the file and its -wal, which holds pages not yet
    ** copied back (erased documents' pages are zeroed, not freed) */
    const char *zDb = sqlite3_db_filename(db, "main");
    char *zWal = zDb ? vgd_mprintf("%s-wal", zDb) : NULL;
    struct stat st;
    long long nBytes = 0;
    if (zDb && stat(zDb, &st) == 0) nBytes += st.st_size;
    if (zWal && stat(zWal, &st) == 0) nBytes += st.st_size;
    json_object_set_new(json_object_get(pOut, "storage"), "bytes", json_integer(nBytes));
    free(zWal);
    *ppOut = pOut;
  } else {
    *pzErr = vgd_mprintf("%s", sqlite3_errmsg(db));
    json_decref(pOut);
  }
  free(zFrom);
  free(zTo);
  return rc;
}
