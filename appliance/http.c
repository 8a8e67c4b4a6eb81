/*
** http.c — the HTTP JSON API on libmicrohttpd (docs/appliance.md): routes,
** bodies, keys, and one error envelope {"error": {"code", "message"}}.
*/
#include "vecguardd.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A request's body, gathered across the handler's calls. */
typedef struct Req Req;
struct Req {
  char *aBody;
  size_t nBody;
  int bTooBig;
  int bReplied; /* a reply is queued: any body that follows is dropped */
  double t0;    /* when the request's headers arrived, in ms */
};

/* A reply: a status and a JSON body (NULL for none). */
typedef struct Reply Reply;
struct Reply {
  unsigned status;
  json_t *pBody;
  char *zText;              /* a body that is not one JSON value (malloc'd), or NULL */
  const char *zContentType; /* of zText */
  const char *zAllow;       /* for 405 */
  const char *zRoute;       /* the route's template, a static string, for metrics and logs */
  long retryAfter;          /* seconds, for 429 and 503 */
};

static void reply_error(Reply *r, unsigned status, const char *zCode, const char *zFmt, ...)
    __attribute__((format(printf, 4, 5)));
static void reply_error(Reply *r, unsigned status, const char *zCode, const char *zFmt, ...) {
  char zMsg[1024];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zMsg, sizeof zMsg, zFmt, ap);
  va_end(ap);
  json_decref(r->pBody);
  r->status = status;
  r->pBody = json_pack("{s:{s:s,s:s}}", "error", "code", zCode, "message", zMsg);
  /* A message quoting the request's bytes may not be UTF-8: keep the envelope. */
  if (!r->pBody) r->pBody = json_pack("{s:{s:s,s:s}}", "error", "code", zCode, "message", "(the message is not UTF-8)");
}

static void reply_json(Reply *r, unsigned status, json_t *pBody) {
  json_decref(r->pBody);
  r->status = status;
  r->pBody = pBody;
}

/* A 200 whose body is zText (sqlite3_malloc'd, freed here), not JSON. */
static void reply_text(Reply *r, char *zText, const char *zContentType) {
  reply_json(r, 200, NULL);
  r->zText = zText ? strdup(zText) : NULL; /* send_reply frees with free() */
  r->zContentType = zContentType;
  sqlite3_free(zText);
}

/* A failure of the store or a file, as its status: no such thing 404, one
** there already 409, busy 503, else 500. */
static void reply_failure(Reply *r, int rc, const char *zErr) {
  if (!zErr) zErr = "out of memory";
  switch (rc & 0xff) {
    case SQLITE_NOTFOUND: reply_error(r, 404, "not_found", "%s", zErr); break;
    case SQLITE_CONSTRAINT: reply_error(r, 409, "conflict", "%s", zErr); break;
    case SQLITE_BUSY: reply_error(r, 503, "unavailable", "%s", zErr); break;
    default: reply_error(r, 500, "internal", "%s", zErr);
  }
}

/* "a, b, c" of a NULL-ended list, for messages. */
static const char *join_names(const char *const *az, char *zBuf, size_t nBuf) {
  zBuf[0] = 0;
  for (int i = 0; az[i]; i++)
    snprintf(zBuf + strlen(zBuf), nBuf - strlen(zBuf), "%s%s", i ? ", " : "", az[i]);
  return zBuf;
}

/* ---- request checks ------------------------------------------------------ */

/* n bytes of JSON as an object whose members are all in azAllowed; NULL
** after an error reply. */
static json_t *parse_object(const char *a, size_t n, Reply *r, const char *const *azAllowed) {
  json_error_t e;
  json_t *p = json_loadb(a ? a : "", n, JSON_REJECT_DUPLICATES, &e);
  if (!p) {
    reply_error(r, 400, "malformed_json", "malformed JSON at line %d, column %d: %s", e.line, e.column, e.text);
    return NULL;
  }
  if (!json_is_object(p)) {
    reply_error(r, 400, "bad_request", "the body must be a JSON object");
    json_decref(p);
    return NULL;
  }
  const char *zKey;
  json_t *v;
  json_object_foreach(p, zKey, v) {
    int i;
    for (i = 0; azAllowed[i] && strcmp(azAllowed[i], zKey); i++) {
    }
    if (!azAllowed[i]) {
      char zList[256];
      reply_error(r, 400, "unknown_field", "unknown field \"%.100s\" (fields: %s)", zKey,
                  join_names(azAllowed, zList, sizeof zList));
      json_decref(p);
      return NULL;
    }
  }
  return p;
}

/* 1 if the request's Content-Type is zType (parameters allowed). */
static int content_type_is(struct MHD_Connection *c, const char *zType) {
  const char *z = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  size_t n = strlen(zType);
  return z && !strncasecmp(z, zType, n) && (!z[n] || z[n] == ';' || z[n] == ' ');
}

/* The body as a JSON object whose members are all in azAllowed; NULL after
** an error reply. */
static json_t *body_object(struct MHD_Connection *c, Req *q, Reply *r, const char *const *azAllowed) {
  if (!content_type_is(c, "application/json")) {
    reply_error(r, 415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    return NULL;
  }
  return parse_object(q->aBody, q->nBody, r, azAllowed);
}

/* The member zName as a string (NULL when absent); *pbBad after an error. */
static const char *field_string(json_t *pObj, const char *zName, Reply *r, int *pbBad) {
  json_t *v = json_object_get(pObj, zName);
  if (!v || json_is_null(v)) return NULL;
  if (!json_is_string(v)) {
    reply_error(r, 400, "bad_field", "field \"%s\" must be a string", zName);
    *pbBad = 1;
    return NULL;
  }
  return json_string_value(v);
}

static int name_ok(const char *z, size_t nMax, const char *zExtra) {
  size_t n = strlen(z);
  if (n == 0 || n > nMax) return 0;
  for (size_t i = 0; i < n; i++) {
    char c = z[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             (i > 0 && strchr(zExtra, c) && c);
    if (!ok) return 0;
  }
  return 1;
}

/* The key of the Authorization header; 0 after a 401 reply. */
static int authenticate(VgdServer *s, struct MHD_Connection *c, Reply *r, VgdKey *pKey) {
  const char *zAuth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
  if (!zAuth || strncmp(zAuth, "Bearer ", 7)) {
    reply_error(r, 401, "unauthorized", "send an API key as Authorization: Bearer <key>");
    return 0;
  }
  if (!vgd_key_check(&s->store, zAuth + 7, pKey)) {
    reply_error(r, 401, "unauthorized", "the API key is unknown, revoked or expired");
    return 0;
  }
  double wait = vgd_limits_take(&s->limits, pKey->zKeyId);
  if (wait > 0) {
    r->retryAfter = (long)ceil(wait);
    reply_error(r, 429, "rate_limited", "this key sent more than its limit of requests: retry after %ld s",
                r->retryAfter);
    return 0;
  }
  return 1;
}

/* ---- admin routes --------------------------------------------------------- */

static int admin_only(VgdServer *s, struct MHD_Connection *c, Reply *r) {
  VgdKey key;
  if (!authenticate(s, c, r, &key)) return 0;
  if (key.zTenant[0] || !key.bAdmin) {
    reply_error(r, 403, "forbidden", "this route needs the server's admin key (DIR/admin.key)");
    return 0;
  }
  return 1;
}

/* A replica takes no writes: they belong to the box that owns the tenant. */
static int writable(VgdServer *s, Reply *r) {
  if (!s->bReplica) return 1;
  reply_error(r, 403, "read_only",
              "this vecguardd is a read-only replica of %s: send writes to the box that owns the tenant",
              s->pSync->cfg.zTarget);
  return 0;
}

/* A replica's tenant that is not here yet is pulled from the target. */
static int pulled_on_demand(VgdServer *s, const char *zTenant, Reply *r) {
  if (!s->bReplica || vgd_tenant_exists(&s->store, zTenant, NULL)) return 1;
  char *zErr = NULL;
  int rc = vgd_syncd_pull(s->pSync, zTenant, &zErr);
  if (rc == VGD_SYNC_NO_TENANT)
    reply_error(r, 404, "not_found", "no tenant \"%s\" here nor at %s", zTenant, s->pSync->cfg.zTarget);
  else if (rc)
    reply_error(r, 503, "unavailable", "tenant \"%s\" cannot be pulled from %s: %s", zTenant,
                s->pSync->cfg.zTarget, zErr ? zErr : "?");
  free(zErr);
  return rc == 0;
}

static void tenants_post(VgdServer *s, struct MHD_Connection *c, Req *q, Reply *r) {
  static const char *const azFields[] = {"tenant", NULL};
  if (!admin_only(s, c, r) || !writable(s, r)) return;
  json_t *pBody = body_object(c, q, r, azFields);
  if (!pBody) return;
  int bBad = 0;
  const char *zTenant = field_string(pBody, "tenant", r, &bBad);
  if (!bBad && !zTenant) reply_error(r, 400, "bad_field", "field \"tenant\" is missing: send {\"tenant\": \"<id>\"}");
  else if (!bBad && !vgd_tenant_id_ok(zTenant))
    reply_error(r, 400, "bad_tenant", "field \"tenant\": a tenant id is " VGD_TENANT_RULE);
  else if (!bBad) {
    char *zKey = NULL, *zErr = NULL;
    /* Its file is whole before keys.db lists it: no lock is needed. */
    int rc = vgd_tenant_create(&s->store, zTenant, &zKey, &zErr);
    if (rc == SQLITE_OK) reply_json(r, 201, json_pack("{s:s,s:s}", "tenant", zTenant, "key", zKey));
    else reply_failure(r, rc, zErr);
    if (zKey) sodium_memzero(zKey, strlen(zKey));
    free(zKey);
    free(zErr);
  }
  json_decref(pBody);
}

static void tenants_get(VgdServer *s, struct MHD_Connection *c, Reply *r) {
  if (!admin_only(s, c, r)) return;
  char *zErr = NULL;
  char *zList = vgd_tenant_list(&s->store, &zErr);
  if (zList) reply_json(r, 200, json_pack("{s:o}", "tenants", json_loads(zList, 0, NULL)));
  else reply_error(r, 500, "internal", "%s", zErr);
  free(zList);
  free(zErr);
}

static void tenant_delete(VgdServer *s, struct MHD_Connection *c, const char *zTenant, Reply *r) {
  if (!admin_only(s, c, r) || !writable(s, r)) return;
  char *zErr = NULL;
  /* No worker or request holds the file while it is erased; the other
  ** tenants go on meanwhile. */
  vgd_pool_exclude(&s->pool, zTenant, 0);
  int rc = vgd_tenant_delete(&s->store, zTenant, &zErr);
  vgd_pool_include(&s->pool, zTenant);
  if (rc == SQLITE_OK) {
    vgd_metrics_forget_tenant(&s->metrics, zTenant);
    reply_json(r, 204, NULL);
  } else {
    reply_failure(r, rc, zErr);
  }
  free(zErr);
}

/* ---- tenant routes -------------------------------------------------------- */

/* A copy of the tenant's file in DIR/backups, made with the online backup
** API while the server goes on; the ingest scope, as it writes. */
static void backup_post(VgdServer *s, const char *zTenant, Reply *r) {
  char *zName = NULL, *zErr = NULL;
  long long nBytes = 0;
  int rc = vgd_tenant_backup(&s->store, zTenant, NULL, &zName, &nBytes, &zErr);
  if (rc == SQLITE_OK) reply_json(r, 201, json_pack("{s:s,s:I}", "backup", zName, "bytes", (json_int_t)nBytes));
  else reply_failure(r, rc, zErr);
  free(zName);
  free(zErr);
}

/* Reply with the connection's last error: 400 when the extension refused
** the request's values, 500 otherwise. */
static void reply_sql_error(Reply *r, sqlite3 *db, int rc) {
  if ((rc & 0xff) == SQLITE_ERROR || (rc & 0xff) == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_TOOBIG) {
    reply_error(r, 400, "rejected", "%s", sqlite3_errmsg(db));
  } else if ((rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED) {
    /* the file stayed locked past the busy timeout: worth a retry */
    reply_error(r, 503, "unavailable", "the tenant's file is busy (%s): try again", sqlite3_errmsg(db));
    r->retryAfter = 1;
  } else {
    reply_error(r, 500, "internal", "%s", sqlite3_errmsg(db));
  }
}

/* The statements that read, store and erase documents, prepared on first
** use and kept for the request, so a batch's lines share them. */
enum { DS_TYPES, DS_READ_ROW, DS_DEL_ROW, DS_DEL_ITEM, DS_INGEST, DS_LOG_LAST, DS_LOG_SINCE, DS_N };
static const char *const azDocSql[DS_N] = {
    /* the types an id is stored under (but ?2), through vg_queue_content */
    "SELECT content_type FROM vg_queue WHERE tenant_id = '' AND content_id = ?1 AND content_type IS NOT ?2",
    /* a row by its primary key, type:id:chunk: a lookup, where a condition
    ** on content_id would read every row of the tenant */
    "SELECT content FROM documents WHERE id = ?",
    "DELETE FROM documents WHERE id = ?",
    "DELETE FROM vg_queue WHERE tenant_id = '' AND content_type = ?1 AND content_id = ?2",
    "SELECT vg_ingest('documents', '', ?2, ?1, ?3, ?4, ?5)",
    /* vg_pii_log exists from the first ingest on */
    "SELECT max(id) FROM vg_pii_log",
    "SELECT findings FROM vg_pii_log WHERE id > ?"};

typedef struct DocStmts DocStmts;
struct DocStmts {
  sqlite3 *db;
  sqlite3_stmt *ap[DS_N];
};

/* Statement i, ready to bind: *pp, or SQLite's error code. */
static int doc_stmt(DocStmts *d, int i, sqlite3_stmt **pp) {
  int rc = SQLITE_OK;
  if (d->ap[i]) sqlite3_reset(d->ap[i]), sqlite3_clear_bindings(d->ap[i]);
  else rc = sqlite3_prepare_v2(d->db, azDocSql[i], -1, &d->ap[i], NULL);
  *pp = d->ap[i];
  return rc;
}

static void doc_stmts_finish(DocStmts *d) {
  for (int i = 0; i < DS_N; i++) sqlite3_finalize(d->ap[i]);
}

/* Read (DS_READ_ROW, into pChunks) or delete (DS_DEL_ROW) the rows of
** document zId stored under zType: type:id:0, type:id:1, ... until one is
** missing. */
static int each_chunk(DocStmts *d, int iStmt, const char *zType, const char *zId, json_t *pChunks) {
  sqlite3_stmt *p = NULL;
  int rc = SQLITE_OK;
  for (int i = 0; rc == SQLITE_OK; i++) {
    char *zKey = vgd_mprintf("%s:%s:%d", zType, zId, i);
    rc = doc_stmt(d, iStmt, &p);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, zKey, -1, SQLITE_STATIC);
      rc = sqlite3_step(p);
    }
    int bMore = rc == SQLITE_ROW || (rc == SQLITE_DONE && iStmt == DS_DEL_ROW && sqlite3_changes(d->db) > 0);
    if (rc == SQLITE_ROW) json_array_append_new(pChunks, json_string((const char *)sqlite3_column_text(p, 0)));
    if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = bMore ? SQLITE_OK : SQLITE_DONE;
    if (p) sqlite3_reset(p);
    free(zKey);
  }
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Delete document zId (its queue item and rows) stored under any type
** but zKeepType (NULL: under every type); *pbFound if there was one. */
static int delete_document(DocStmts *d, const char *zId, const char *zKeepType, int *pbFound) {
  sqlite3_stmt *p = NULL;
  json_t *pTypes = json_array();
  int rc = doc_stmt(d, DS_TYPES, &p);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, zId, -1, SQLITE_STATIC);
    if (zKeepType) sqlite3_bind_text(p, 2, zKeepType, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(p)) == SQLITE_ROW)
      json_array_append_new(pTypes, json_string((const char *)sqlite3_column_text(p, 0)));
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  size_t i;
  json_t *v;
  json_array_foreach(pTypes, i, v) {
    if (rc == SQLITE_OK) rc = each_chunk(d, DS_DEL_ROW, json_string_value(v), zId, NULL);
    if (rc == SQLITE_OK) rc = doc_stmt(d, DS_DEL_ITEM, &p);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, json_string_value(v), -1, SQLITE_STATIC);
      sqlite3_bind_text(p, 2, zId, -1, SQLITE_STATIC);
      rc = sqlite3_step(p) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(d->db);
    }
  }
  if (pbFound) *pbFound = json_array_size(pTypes) > 0;
  json_decref(pTypes);
  return rc;
}

/* The id of vg_pii_log's last row, 0 before the first (no table yet). */
static sqlite3_int64 pii_log_last(DocStmts *d) {
  sqlite3_stmt *p = NULL;
  sqlite3_int64 id = doc_stmt(d, DS_LOG_LAST, &p) == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW ? sqlite3_column_int64(p, 0) : 0;
  if (p) sqlite3_reset(p);
  return id;
}

/* Append the findings of vg_pii_log's rows after iAfter to pFindings, for
** the metrics once the transaction commits. */
static void pii_log_since(DocStmts *d, sqlite3_int64 iAfter, json_t *pFindings) {
  sqlite3_stmt *p = NULL;
  if (doc_stmt(d, DS_LOG_SINCE, &p) != SQLITE_OK) return;
  sqlite3_bind_int64(p, 1, iAfter);
  while (sqlite3_step(p) == SQLITE_ROW) json_array_append_new(pFindings, json_string((const char *)sqlite3_column_text(p, 0)));
}

static const char *const azDocFields[] = {"id", "type", "text", "metadata", "priority", NULL};

/* Store one document (a PUT's body, or a line of a batch) in the caller's
** transaction: a 202 {id, queue_id} or an error reply.  The findings of the
** PII audit go to pFindings. */
static int put_document(DocStmts *d, json_t *pBody, const char *zId, Reply *r, json_t *pFindings) {
  int bBad = 0;
  const char *zType = field_string(pBody, "type", r, &bBad);
  const char *zText = bBad ? NULL : field_string(pBody, "text", r, &bBad);
  const char *zPriority = bBad ? NULL : field_string(pBody, "priority", r, &bBad);
  json_t *pMeta = json_object_get(pBody, "metadata");
  if (!zType) zType = "doc";
  if (!zPriority) zPriority = "medium";
  if (bBad) return SQLITE_MISUSE;
  if (!zText) {
    reply_error(r, 400, "bad_field", "field \"text\" is missing: send the document's text");
    return SQLITE_MISUSE;
  }
  if (!name_ok(zType, VGD_TYPE_MAX, "_-")) {
    reply_error(r, 400, "bad_field", "field \"type\": 1 to 64 of A-Z, a-z, 0-9, '_', '-'");
    return SQLITE_MISUSE;
  }
  if (strcmp(zPriority, "high") && strcmp(zPriority, "medium") && strcmp(zPriority, "low")) {
    reply_error(r, 400, "bad_field", "field \"priority\" must be \"high\", \"medium\" or \"low\"");
    return SQLITE_MISUSE;
  }
  if (pMeta && !json_is_null(pMeta) && !json_is_object(pMeta)) {
    reply_error(r, 400, "bad_field", "field \"metadata\" must be an object");
    return SQLITE_MISUSE;
  }
  char *zMeta = pMeta && !json_is_null(pMeta) ? json_dumps(pMeta, JSON_COMPACT) : NULL;
  sqlite3_int64 iLog = pii_log_last(d);
  sqlite3_stmt *p = NULL;
  /* A PUT replaces the document, also one stored under another type. */
  int rc = delete_document(d, zId, zType, NULL);
  if (rc == SQLITE_OK) rc = doc_stmt(d, DS_INGEST, &p);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, zId, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, zText, -1, SQLITE_STATIC);
    if (zMeta) sqlite3_bind_text(p, 4, zMeta, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 5, zPriority, -1, SQLITE_STATIC);
    rc = sqlite3_step(p);
    if (rc == SQLITE_ROW) {
      reply_json(r, 202, json_pack("{s:s,s:I}", "id", zId, "queue_id", (json_int_t)sqlite3_column_int64(p, 0)));
      rc = SQLITE_OK;
    }
    sqlite3_reset(p); /* the bound text is freed below */
  }
  if (rc != SQLITE_OK) reply_sql_error(r, d->db, rc);
  if (rc == SQLITE_OK) pii_log_since(d, iLog, pFindings);
  free(zMeta);
  return rc;
}

static void count_findings(VgdServer *s, json_t *pFindings) {
  size_t i;
  json_t *v;
  json_array_foreach(pFindings, i, v) vgd_metrics_pii(&s->metrics, json_string_value(v));
}

static void doc_put(VgdServer *s, sqlite3 *db, struct MHD_Connection *c, Req *q, const char *zTenant, const char *zId,
                    Reply *r) {
  json_t *pBody = body_object(c, q, r, azDocFields + 1);
  if (!pBody) return;
  json_t *pFindings = json_array();
  DocStmts d = {db, {NULL}};
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) reply_sql_error(r, db, rc);
  else rc = put_document(&d, pBody, zId, r, pFindings);
  doc_stmts_finish(&d);
  if (rc == SQLITE_OK && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
    reply_sql_error(r, db, sqlite3_extended_errcode(db));
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  if (rc == SQLITE_OK) {
    count_findings(s, pFindings);
    vgd_work_notify(s, zTenant);
  }
  json_decref(pFindings);
  json_decref(pBody);
}

/* POST documents:batch: NDJSON in, one result line per line out.  One
** transaction, a savepoint per line, so a bad line changes nothing and the
** good ones commit together. */
static void documents_batch(VgdServer *s, sqlite3 *db, struct MHD_Connection *c, Req *q, const char *zTenant,
                            Reply *r) {
  if (!content_type_is(c, "application/x-ndjson")) {
    reply_error(r, 415, "unsupported_media_type",
                "send one JSON document per line with Content-Type: application/x-ndjson");
    return;
  }
  int nLine = 0;
  for (size_t i = 0; i < q->nBody; i++)
    if (q->aBody[i] == '\n' || i + 1 == q->nBody) nLine++;
  if (nLine > VGD_BATCH_MAX) {
    reply_error(r, 413, "too_large", "a batch holds at most %d lines; got %d: split it", VGD_BATCH_MAX, nLine);
    return;
  }
  if (nLine == 0) {
    reply_error(r, 400, "bad_request", "the batch is empty: send one JSON document per line");
    return;
  }
  json_t *pOut = json_array(), *pFindings = json_array();
  DocStmts d = {db, {NULL}};
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    reply_sql_error(r, db, rc);
    json_decref(pOut);
    json_decref(pFindings);
    return;
  }
  const char *z = q->aBody, *zEnd = q->aBody + q->nBody;
  int bLost = 0; /* the transaction was rolled back under us */
  for (int iLine = 1; z < zEnd; iLine++) {
    const char *zNl = memchr(z, '\n', (size_t)(zEnd - z));
    size_t n = zNl ? (size_t)(zNl - z) : (size_t)(zEnd - z);
    Reply one = {500, NULL, NULL, NULL, NULL, NULL, 0};
    json_t *pDoc = parse_object(z, n, &one, azDocFields);
    const char *zId = NULL;
    if (pDoc) {
      int bBad = 0;
      zId = field_string(pDoc, "id", &one, &bBad);
      if (!bBad && !zId) {
        reply_error(&one, 400, "bad_field", "field \"id\" is missing: each line needs the document's id");
      } else if (!bBad && !name_ok(zId, VGD_DOC_ID_MAX, "._-")) {
        reply_error(&one, 400, "bad_document_id",
                    "field \"id\": 1 to 128 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit");
      } else if (!bBad && bLost) {
        reply_error(&one, 500, "internal", "not stored: an earlier line's error ended the batch's transaction");
      } else if (!bBad) {
        int rcLine = sqlite3_exec(db, "SAVEPOINT line", NULL, NULL, NULL);
        if (rcLine != SQLITE_OK) reply_sql_error(&one, db, rcLine);
        else if (put_document(&d, pDoc, zId, &one, pFindings) != SQLITE_OK)
          rcLine = sqlite3_exec(db, "ROLLBACK TO line", NULL, NULL, NULL);
        if (rcLine == SQLITE_OK) rcLine = sqlite3_exec(db, "RELEASE line", NULL, NULL, NULL);
        /* Some errors (I/O, a full disk, no memory) roll the whole
        ** transaction back: nothing before is stored, nothing after may
        ** be, or SAVEPOINT would start transactions of its own. */
        if (rcLine != SQLITE_OK || sqlite3_get_autocommit(db)) bLost = 1;
      }
    }
    json_t *pLine = json_pack("{s:i,s:o,s:i}", "line", iLine, "id",
                              zId && name_ok(zId, VGD_DOC_ID_MAX, "._-") ? json_string(zId) : json_null(), "status",
                              (int)one.status);
    if (one.status == 202) json_object_set(pLine, "queue_id", json_object_get(one.pBody, "queue_id"));
    else json_object_set(pLine, "error", json_object_get(one.pBody, "error"));
    json_array_append_new(pOut, pLine);
    json_decref(one.pBody);
    json_decref(pDoc);
    z = zNl ? zNl + 1 : zEnd;
  }
  doc_stmts_finish(&d);
  rc = bLost ? SQLITE_ABORT : sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    /* nothing was stored: say so on every line that looked stored */
    size_t i;
    json_t *pLine;
    const char *zMsg = bLost ? "not stored: an error ended the batch's transaction" : sqlite3_errmsg(db);
    json_array_foreach(pOut, i, pLine) if (json_integer_value(json_object_get(pLine, "status")) == 202) {
      json_object_set_new(pLine, "status", json_integer(500));
      json_object_del(pLine, "queue_id");
      json_object_set_new(pLine, "error", json_pack("{s:s,s:s}", "code", "internal", "message", zMsg));
    }
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  } else {
    count_findings(s, pFindings);
    vgd_work_notify(s, zTenant);
  }
  sqlite3_str *pText = sqlite3_str_new(NULL);
  size_t i;
  json_t *pLine;
  json_array_foreach(pOut, i, pLine) {
    char *zLine = json_dumps(pLine, JSON_COMPACT);
    sqlite3_str_appendf(pText, "%s\n", zLine ? zLine : "{}");
    free(zLine);
  }
  reply_text(r, sqlite3_str_finish(pText), "application/x-ndjson");
  json_decref(pOut);
  json_decref(pFindings);
}

static void doc_get(sqlite3 *db, const char *zId, Reply *r) {
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT content_type, metadata, status, last_error, content FROM vg_queue_items"
                              " WHERE tenant_id = '' AND target_table = 'documents' AND content_id = ?",
                              -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt);
  }
  if (rc == SQLITE_DONE) {
    reply_error(r, 404, "not_found", "no document \"%s\"", zId);
  } else if (rc == SQLITE_ROW) {
    const char *zMeta = (const char *)sqlite3_column_text(pStmt, 1);
    json_t *pDoc = json_pack("{s:s,s:s,s:s,s:o,s:o}", "id", zId, "type", (const char *)sqlite3_column_text(pStmt, 0),
                             "status", (const char *)sqlite3_column_text(pStmt, 2), "metadata",
                             zMeta ? json_loads(zMeta, 0, NULL) : json_object(), "chunks", json_array());
    if (sqlite3_column_type(pStmt, 3) == SQLITE_TEXT)
      json_object_set_new(pDoc, "error", json_string((const char *)sqlite3_column_text(pStmt, 3)));
    /* Queued, the text is the queue's; embedded, it is the table's chunks. */
    if (sqlite3_column_type(pStmt, 4) == SQLITE_TEXT)
      json_object_set_new(pDoc, "text", json_string((const char *)sqlite3_column_text(pStmt, 4)));
    json_t *pChunks = json_object_get(pDoc, "chunks");
    DocStmts d = {db, {NULL}};
    rc = each_chunk(&d, DS_READ_ROW, json_string_value(json_object_get(pDoc, "type")), zId, pChunks);
    doc_stmts_finish(&d);
    if (rc == SQLITE_OK) {
      if (!json_object_get(pDoc, "text") && json_array_size(pChunks) == 1)
        json_object_set(pDoc, "text", json_array_get(pChunks, 0));
      reply_json(r, 200, pDoc);
      rc = SQLITE_DONE;
    } else {
      json_decref(pDoc);
    }
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) reply_sql_error(r, db, rc);
  sqlite3_finalize(pStmt);
}

static void doc_delete(sqlite3 *db, const char *zId, Reply *r) {
  int bFound = 0;
  DocStmts d = {db, {NULL}};
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  if (rc == SQLITE_OK) rc = delete_document(&d, zId, NULL, &bFound);
  doc_stmts_finish(&d);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) reply_sql_error(r, db, rc);
  else if (!bFound) reply_error(r, 404, "not_found", "no document \"%s\"", zId);
  else reply_json(r, 204, NULL);
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

/* The first ~200 bytes of z, cut on a UTF-8 boundary. */
static json_t *snippet(const char *z) {
  size_t n = z ? strlen(z) : 0;
  if (n <= 200) return json_string(z ? z : "");
  n = 200;
  while (n > 0 && ((unsigned char)z[n] & 0xc0) == 0x80) n--;
  char *zCut = vgd_mprintf("%.*s…", (int)n, z);
  json_t *p = json_string(zCut);
  free(zCut);
  return p;
}

static double now_ms(void) {
  return vgd_now() * 1e3;
}

static void search(sqlite3 *db, struct MHD_Connection *c, Req *q, Reply *r) {
  static const char *const azFields[] = {"query", "vector", "k", "filters", "mode", "threshold", NULL};
  double t0 = now_ms();
  json_t *pBody = body_object(c, q, r, azFields);
  if (!pBody) return;
  int bBad = 0;
  const char *zQuery = field_string(pBody, "query", r, &bBad);
  const char *zMode = bBad ? NULL : field_string(pBody, "mode", r, &bBad);
  json_t *pK = json_object_get(pBody, "k"), *pFilters = json_object_get(pBody, "filters");
  json_t *pThreshold = json_object_get(pBody, "threshold"), *pVector = json_object_get(pBody, "vector");
  json_int_t k = pK ? json_integer_value(pK) : 10;
  /* a vector query: float32, as vg_search takes a BLOB */
  size_t nDim = json_array_size(pVector), i;
  float *aVector = NULL;
  json_t *v;
  int bBadVector = pVector && (!json_is_array(pVector) || nDim == 0 || nDim > 65536);
  if (!bBadVector && nDim && (aVector = malloc(nDim * sizeof *aVector)) == NULL) bBadVector = 1;
  json_array_foreach(pVector, i, v) {
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || fabs(json_number_value(v)) > 3.4e38) bBadVector = 1;
    else if (aVector) aVector[i] = (float)json_number_value(v);
  }
  if (bBad) {
  } else if (pVector && zQuery) {
    reply_error(r, 400, "bad_field", "send \"query\" (text) or \"vector\" (numbers), not both");
  } else if (bBadVector) {
    reply_error(r, 400, "bad_field", "field \"vector\" must be a list of 1 to 65536 finite numbers");
  } else if (!pVector && (!zQuery || !zQuery[0])) {
    reply_error(r, 400, "bad_field", "field \"query\" is missing or empty: send the text to search for, or a \"vector\"");
  } else if (pVector && zMode && strcmp(zMode, "vector")) {
    reply_error(r, 400, "bad_field", "a \"vector\" query searches in mode \"vector\" only: leave out \"mode\"");
  } else if (pK && (!json_is_integer(pK) || k < 1 || k > 100)) {
    reply_error(r, 400, "bad_field", "field \"k\" must be a whole number from 1 to 100");
  } else if (pFilters && !json_is_null(pFilters) && !json_is_object(pFilters)) {
    reply_error(r, 400, "bad_field", "field \"filters\" must be an object of metadata columns or $.paths");
  } else if (zMode && strcmp(zMode, "hybrid") && strcmp(zMode, "vector") && strcmp(zMode, "lexical")) {
    reply_error(r, 400, "bad_field", "field \"mode\" must be \"hybrid\", \"vector\" or \"lexical\"");
  } else if (pThreshold && !json_is_null(pThreshold) && !json_is_number(pThreshold)) {
    reply_error(r, 400, "bad_field", "field \"threshold\" must be a number");
  } else {
    json_t *pOpts = json_object();
    if (zMode) json_object_set_new(pOpts, "mode", json_string(zMode));
    if (pThreshold && !json_is_null(pThreshold)) json_object_set(pOpts, "threshold", pThreshold);
    char *zOpts = json_dumps(pOpts, JSON_COMPACT);
    char *zFilters = pFilters && !json_is_null(pFilters) ? json_dumps(pFilters, JSON_COMPACT) : NULL;
    json_decref(pOpts);
    sqlite3_stmt *pStmt = NULL;
    /* Chunks of one document may rank apart: fetch more, keep each once. */
    int rc = sqlite3_prepare_v2(db,
                                "SELECT s.score, s.content_type, s.content_id, s.content, d.metadata"
                                " FROM vg_search('documents', '', ?1, ?2, ?3, ?4) AS s"
                                " JOIN documents AS d ON d.rowid = s.target_rowid ORDER BY s.rank",
                                -1, &pStmt, NULL);
    json_t *pResults = json_array();
    if (rc == SQLITE_OK) {
      if (aVector) sqlite3_bind_blob(pStmt, 1, aVector, (int)(nDim * sizeof *aVector), SQLITE_STATIC);
      else sqlite3_bind_text(pStmt, 1, zQuery, -1, SQLITE_STATIC);
      sqlite3_bind_int64(pStmt, 2, k * 4);
      if (zFilters) sqlite3_bind_text(pStmt, 3, zFilters, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 4, zOpts, -1, SQLITE_STATIC);
      while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
        const char *zId = (const char *)sqlite3_column_text(pStmt, 2);
        size_t i, n = json_array_size(pResults);
        for (i = 0; i < n; i++)
          if (!strcmp(json_string_value(json_object_get(json_array_get(pResults, i), "id")), zId ? zId : "")) break;
        if (i < n || (json_int_t)n >= k) continue;
        const char *zMeta = (const char *)sqlite3_column_text(pStmt, 4);
        json_t *pMeta = zMeta ? json_loads(zMeta, 0, NULL) : NULL;
        json_array_append_new(pResults,
                              json_pack("{s:s,s:f,s:s,s:o,s:o}", "id", zId ? zId : "", "score",
                                        sqlite3_column_double(pStmt, 0), "type",
                                        sqlite3_column_text(pStmt, 1) ? (const char *)sqlite3_column_text(pStmt, 1) : "",
                                        "metadata", pMeta ? pMeta : json_object(), "snippet",
                                        snippet((const char *)sqlite3_column_text(pStmt, 3))));
      }
    }
    if (rc == SQLITE_DONE)
      reply_json(r, 200, json_pack("{s:o,s:f}", "results", pResults, "took_ms", now_ms() - t0));
    else {
      json_decref(pResults);
      reply_sql_error(r, db, rc);
    }
    sqlite3_finalize(pStmt);
    free(zOpts);
    free(zFilters);
  }
  free(aVector);
  json_decref(pBody);
}

/* The tenant's queue: vg_queue_stats' counts and rates, and the dead items
** (up to 100, newest first) with the error that killed them, since a dead
** item is never retried and needs someone to look at it. */
static void queue_get(sqlite3 *db, Reply *r) {
  sqlite3_stmt *pStmt = NULL;
  json_t *pOut = NULL;
  int rc = sqlite3_prepare_v2(db, "SELECT vg_queue_stats()", -1, &pStmt, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW) {
    json_t *pStats = json_loads((const char *)sqlite3_column_text(pStmt, 0), 0, NULL);
    static const char *const azKeep[] = {"by_status", "by_priority", "items_per_second", "eta_seconds",
                                         "oldest_pending_age", NULL};
    pOut = json_object();
    for (int i = 0; pStats && azKeep[i]; i++) {
      json_t *pV = json_object_get(pStats, azKeep[i]);
      json_object_set(pOut, azKeep[i], pV ? pV : json_null());
    }
    json_decref(pStats);
    rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  pStmt = NULL;
  if (rc == SQLITE_OK)
    rc = sqlite3_prepare_v2(db,
                            "SELECT id, content_id, last_error FROM vg_queue WHERE status = 'dead'"
                            " ORDER BY id DESC LIMIT 100",
                            -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    json_t *pDead = json_array();
    while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
      const char *zCid = (const char *)sqlite3_column_text(pStmt, 1);
      const char *zErr = (const char *)sqlite3_column_text(pStmt, 2);
      json_array_append_new(pDead, json_pack("{s:I,s:s,s:s}", "id", (json_int_t)sqlite3_column_int64(pStmt, 0),
                                             "content_id", zCid ? zCid : "", "error", zErr ? zErr : ""));
    }
    json_object_set_new(pOut, "dead", pDead);
  }
  if (rc == SQLITE_DONE) {
    reply_json(r, 200, pOut);
    pOut = NULL;
  } else {
    reply_sql_error(r, db, rc);
  }
  json_decref(pOut);
  sqlite3_finalize(pStmt);
}

/* The query string's arguments must all be in azAllowed: 0 after a 400. */
typedef struct ArgCheck ArgCheck;
struct ArgCheck {
  const char *const *azAllowed;
  const char *zBad;
};
static enum MHD_Result arg_check(void *pArg, enum MHD_ValueKind kind, const char *zKey, const char *zValue) {
  ArgCheck *p = pArg;
  (void)kind, (void)zValue;
  for (int i = 0; p->azAllowed[i]; i++)
    if (!strcmp(p->azAllowed[i], zKey)) return MHD_YES;
  p->zBad = zKey;
  return MHD_NO;
}
static int args_ok(struct MHD_Connection *c, const char *const *azAllowed, Reply *r) {
  ArgCheck chk = {azAllowed, NULL};
  MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, arg_check, &chk);
  if (!chk.zBad) return 1;
  char zList[128];
  reply_error(r, 400, "bad_parameter", "unknown query parameter \"%.100s\" (parameters: %s)", chk.zBad,
              join_names(azAllowed, zList, sizeof zList));
  return 0;
}

/* GET documents?cursor=&limit=: ids in order; the cursor is the last id
** of the page, base64url, opaque to clients. */
static void documents_list(sqlite3 *db, struct MHD_Connection *c, Reply *r) {
  static const char *const azArgs[] = {"cursor", "limit", NULL};
  if (!args_ok(c, azArgs, r)) return;
  const char *zCursor = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "cursor");
  const char *zLimit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
  long nLimit = 100;
  char zAfter[VGD_DOC_ID_MAX + 1] = "";
  if (zLimit) {
    char *zEnd;
    nLimit = strtol(zLimit, &zEnd, 10);
    if (!*zLimit || *zEnd || nLimit < 1 || nLimit > VGD_LIST_MAX) {
      reply_error(r, 400, "bad_parameter", "limit must be a whole number from 1 to %d; got \"%.40s\"", VGD_LIST_MAX,
                  zLimit);
      return;
    }
  }
  if (zCursor && zCursor[0]) {
    size_t n = 0;
    if (sodium_base642bin((unsigned char *)zAfter, sizeof zAfter - 1, zCursor, strlen(zCursor), NULL, &n, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) ||
        (zAfter[n] = 0, !name_ok(zAfter, VGD_DOC_ID_MAX, "._-"))) {
      reply_error(r, 400, "bad_parameter", "cursor is not one this server gave: send next_cursor of the last page");
      return;
    }
  }
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT content_id, content_type, status, metadata FROM vg_queue"
                              " WHERE tenant_id = '' AND target_table = 'documents' AND content_id > ?1"
                              " ORDER BY content_id LIMIT ?2",
                              -1, &pStmt, NULL);
  json_t *pDocs = json_array();
  const char *zLast = NULL;
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zAfter, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, nLimit + 1);
    while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW) {
      if ((long)json_array_size(pDocs) == nLimit) {
        zLast = json_string_value(json_object_get(json_array_get(pDocs, nLimit - 1), "id"));
        continue;
      }
      const char *zMeta = (const char *)sqlite3_column_text(pStmt, 3);
      json_t *pMeta = zMeta ? json_loads(zMeta, 0, NULL) : NULL;
      json_array_append_new(pDocs, json_pack("{s:s,s:s,s:s,s:o}", "id", sqlite3_column_text(pStmt, 0), "type",
                                             sqlite3_column_text(pStmt, 1), "status", sqlite3_column_text(pStmt, 2),
                                             "metadata", pMeta ? pMeta : json_object()));
    }
  }
  if (rc == SQLITE_DONE) {
    json_t *pNext = json_null();
    if (zLast) {
      char zB64[sodium_base64_ENCODED_LEN(VGD_DOC_ID_MAX, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
      sodium_bin2base64(zB64, sizeof zB64, (const unsigned char *)zLast, strlen(zLast),
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING);
      pNext = json_string(zB64);
    }
    reply_json(r, 200, json_pack("{s:o,s:o}", "documents", pDocs, "next_cursor", pNext));
  } else {
    json_decref(pDocs);
    reply_sql_error(r, db, rc);
  }
  sqlite3_finalize(pStmt);
}

/* ---- keys of a tenant (admin key) --------------------------------------- */

static void keys_route(VgdServer *s, struct MHD_Connection *c, Req *q, const char *zMethod, const char *zTenant,
                       const char *zKeyId, int bRotate, Reply *r) {
  if (!admin_only(s, c, r) || !pulled_on_demand(s, zTenant, r)) return;
  if (!vgd_tenant_exists(&s->store, zTenant, NULL)) {
    reply_error(r, 404, "not_found", "no tenant \"%s\"", zTenant);
    return;
  }
  char *zErr = NULL, *zKey = NULL, *zId = NULL, *zExpires = NULL;
  json_t *pBody = NULL;
  if (!zKeyId && !strcmp(zMethod, "GET")) {
    char *zList = vgd_key_list(&s->store, zTenant, &zErr);
    if (zList) reply_json(r, 200, json_pack("{s:o}", "keys", json_loads(zList, 0, NULL)));
    else reply_error(r, 500, "internal", "%s", zErr);
    free(zList);
  } else if (!zKeyId) {
    static const char *const azFields[] = {"scopes", NULL};
    pBody = body_object(c, q, r, azFields);
    json_t *pScopes = pBody ? json_object_get(pBody, "scopes") : NULL;
    char zScopes[64] = "";
    size_t i;
    json_t *v;
    int bBad = pBody && (!json_is_array(pScopes) || json_array_size(pScopes) == 0);
    json_array_foreach(pScopes, i, v) {
      const char *z = json_string_value(v);
      if (!z || (strcmp(z, "search") && strcmp(z, "ingest")) || strstr(zScopes, z)) bBad = 1;
      else snprintf(zScopes + strlen(zScopes), sizeof zScopes - strlen(zScopes), "%s%s", i ? "," : "", z);
    }
    if (!pBody) {
    } else if (bBad) {
      reply_error(r, 400, "bad_field", "field \"scopes\" must be a list of \"search\" and \"ingest\", each once");
    } else {
      int rc = vgd_key_create(&s->store, zTenant, zScopes, &zKey, &zId, &zErr);
      if (rc == SQLITE_OK) reply_json(r, 201, json_pack("{s:s,s:s,s:s}", "key_id", zId, "key", zKey, "scopes", zScopes));
      else reply_failure(r, rc, zErr);
    }
  } else if (!bRotate) {
    if (vgd_key_revoke(&s->store, zTenant, zKeyId, &zErr) == 0) reply_json(r, 204, NULL);
    else reply_error(r, 404, "not_found", "%s", zErr);
  } else {
    static const char *const azFields[] = {"grace_seconds", NULL};
    json_int_t nGrace = 86400;
    if (q->nBody) {
      pBody = body_object(c, q, r, azFields);
      json_t *pGrace = pBody ? json_object_get(pBody, "grace_seconds") : NULL;
      if (pGrace) nGrace = json_is_integer(pGrace) ? json_integer_value(pGrace) : -1;
      if (pBody && (nGrace < 0 || nGrace > 604800)) {
        reply_error(r, 400, "bad_field", "field \"grace_seconds\" must be a whole number from 0 to 604800 (a week)");
        json_decref(pBody);
        pBody = NULL;
      }
    }
    char zScopes[VGD_SCOPES_MAX];
    int rc = !q->nBody || pBody ? vgd_key_rotate(&s->store, zTenant, zKeyId, nGrace, &zKey, &zId, &zExpires, zScopes,
                                                 &zErr)
                                : SQLITE_MISUSE; /* the body's error is replied */
    if (rc == SQLITE_OK)
      reply_json(r, 201, json_pack("{s:s,s:s,s:s,s:s}", "key_id", zId, "key", zKey, "scopes", zScopes,
                                   "old_key_expires_at", zExpires));
    else if (rc != SQLITE_MISUSE) reply_failure(r, rc, zErr);
  }
  if (zKey) sodium_memzero(zKey, strlen(zKey));
  free(zKey);
  free(zId);
  free(zExpires);
  free(zErr);
  json_decref(pBody);
}

static void report_get(sqlite3 *db, struct MHD_Connection *c, const char *zTenant, Reply *r) {
  static const char *const azArgs[] = {"since", "until", NULL};
  if (!args_ok(c, azArgs, r)) return;
  json_t *pOut = NULL;
  char *zErr = NULL;
  int rc = vgd_report(db, zTenant, MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since"),
                      MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "until"), &pOut, &zErr);
  if (rc == SQLITE_OK) reply_json(r, 200, pOut);
  else if (rc == SQLITE_RANGE) reply_error(r, 400, "bad_parameter", "%s", zErr);
  else reply_failure(r, rc, zErr);
  free(zErr);
}

/* What a request under /v1/tenants/{t}/ does. */
typedef enum TenantOp { OP_SEARCH, OP_QUEUE, OP_REPORT, OP_BACKUP, OP_LIST, OP_BATCH, OP_DOC, OP_SYNC } TenantOp;

/* PUT, DELETE and batches of one tenant, one at a time: the next one waits
** on a mutex (woken at once) rather than in SQLite's busy handler (which
** sleeps in steps of up to 100 ms). */
static void write_route(VgdServer *s, sqlite3 *db, struct MHD_Connection *c, Req *q, const char *zMethod,
                        const char *zTenant, TenantOp op, const char *zDoc, Reply *r) {
  pthread_mutex_t *pLock = vgd_write_lock(s, zTenant);
  pthread_mutex_lock(pLock);
  if (op == OP_BATCH) documents_batch(s, db, c, q, zTenant, r);
  else if (!strcmp(zMethod, "PUT")) doc_put(s, db, c, q, zTenant, zDoc, r);
  else doc_delete(db, zDoc, r);
  pthread_mutex_unlock(pLock);
}

/* GET …/sync: the tenant's key (any scope) or the admin key; on a replica
** the admin's first look pulls the tenant. */
static void sync_get(VgdServer *s, const VgdKey *pKey, const char *zTenant, Reply *r) {
  if (pKey->zTenant[0] ? strcmp(pKey->zTenant, zTenant) != 0 : !pKey->bAdmin) {
    reply_error(r, 403, "forbidden", "this key is not for tenant \"%s\"", zTenant);
  } else if (!s->pSync) {
    reply_error(r, 404, "not_found", "this server syncs nothing: set [sync] target in its configuration");
  } else if (pulled_on_demand(s, zTenant, r)) {
    if (!vgd_tenant_exists(&s->store, zTenant, NULL)) reply_error(r, 404, "not_found", "no tenant \"%s\"", zTenant);
    else reply_json(r, 200, vgd_syncd_status(s->pSync, zTenant));
  }
}

/* Routes under /v1/tenants/{t}/: the key is checked, and the tenant found,
** before its file is opened. */
static void tenant_route(VgdServer *s, struct MHD_Connection *c, const char *zMethod, const char *zTenant,
                         TenantOp op, const char *zDoc, Req *q, Reply *r) {
  VgdKey key;
  if (!authenticate(s, c, r, &key)) return;
  if (op == OP_SYNC) {
    sync_get(s, &key, zTenant, r);
    return;
  }
  if (strcmp(key.zTenant, zTenant)) {
    reply_error(r, 403, "forbidden", "this key is not for tenant \"%s\"", zTenant);
    return;
  }
  /* search needs search; a write needs ingest; a read needs either */
  int bWrite = op == OP_BATCH || op == OP_BACKUP || (op == OP_DOC && strcmp(zMethod, "GET"));
  int bOk = op == OP_SEARCH ? key.bSearch : bWrite ? key.bIngest : key.bSearch || key.bIngest;
  if (!bOk) {
    reply_error(r, 403, "forbidden", "this key lacks the \"%s\" scope", bWrite ? "ingest" : "search");
    return;
  }
  if (op != OP_BACKUP && bWrite && !writable(s, r)) return;
  if (op == OP_DOC && !name_ok(zDoc, VGD_DOC_ID_MAX, "._-")) {
    reply_error(r, 400, "bad_document_id",
                "a document id is 1 to 128 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit");
    return;
  }
  long long iSerial;
  char *zErr = NULL;
  sqlite3 *db = NULL;
  /* The connection also pins the tenant: its deletion waits for it. */
  int rc = vgd_tenant_exists(&s->store, zTenant, &iSerial)
               ? vgd_pool_get(&s->pool, &s->store, zTenant, iSerial, &db, &zErr)
               : SQLITE_NOTFOUND;
  if (rc == SQLITE_NOTFOUND) reply_error(r, 404, "not_found", "no tenant \"%s\"", zTenant);
  else if (rc != SQLITE_OK) reply_failure(r, rc, zErr);
  else if (op == OP_BACKUP) backup_post(s, zTenant, r);
  else if (bWrite) write_route(s, db, c, q, zMethod, zTenant, op, zDoc, r);
  else if (op == OP_QUEUE) queue_get(db, r);
  else if (op == OP_REPORT) report_get(db, c, zTenant, r);
  else if (op == OP_SEARCH) search(db, c, q, r);
  else if (op == OP_LIST) documents_list(db, c, r);
  else doc_get(db, zDoc, r);
  vgd_pool_put(&s->pool, db);
  free(zErr);
}

/* ---- dispatch ------------------------------------------------------------- */

static int method_is(const char *zMethod, const char *zAllow, Reply *r) {
  char zCopy[64];
  snprintf(zCopy, sizeof zCopy, "%s", zAllow);
  char *zSave = NULL;
  for (char *z = strtok_r(zCopy, ", ", &zSave); z; z = strtok_r(NULL, ", ", &zSave))
    if (!strcmp(z, zMethod)) return 1;
  reply_error(r, 405, "method_not_allowed", "%s is not allowed here: send %s", zMethod, zAllow);
  r->zAllow = zAllow;
  return 0;
}

/* Route templates, as the metrics and logs name them. */
#define T "/v1/tenants/{tenant}"
static const char R_HEALTHZ[] = "/healthz", R_READYZ[] = "/readyz", R_METRICS[] = "/metrics",
                  R_TENANTS[] = "/v1/tenants", R_TENANT[] = T, R_DOCS[] = T "/documents",
                  R_DOC[] = T "/documents/{id}", R_BATCH[] = T "/documents:batch", R_SEARCH[] = T "/search",
                  R_QUEUE[] = T "/queue", R_REPORT[] = T "/report", R_BACKUP[] = T "/backup", R_KEYS[] = T "/keys",
                  R_KEY[] = T "/keys/{key_id}", R_ROTATE[] = T "/keys/{key_id}/rotate", R_SYNC[] = T "/sync",
                  R_NONE[] = "(none)";
#undef T

/* The routes under /v1/tenants/{t}/: their segments after the tenant id
** (a document or key id in the 5th), the methods they take, what they do. */
typedef struct SubRoute SubRoute;
struct SubRoute {
  int nSeg;
  const char *zSeg3, *zSeg5; /* zSeg5 NULL: any, or none */
  const char *zRoute, *zAllow;
  int bKeys; /* keys_route (zSeg5: rotate), else tenant_route with op */
  TenantOp op;
};
static const SubRoute aSubRoute[] = {
    {4, "search", NULL, R_SEARCH, "POST", 0, OP_SEARCH},
    {4, "backup", NULL, R_BACKUP, "POST", 0, OP_BACKUP},
    {4, "queue", NULL, R_QUEUE, "GET, HEAD", 0, OP_QUEUE},
    {4, "report", NULL, R_REPORT, "GET, HEAD", 0, OP_REPORT},
    {4, "sync", NULL, R_SYNC, "GET, HEAD", 0, OP_SYNC},
    {4, "documents", NULL, R_DOCS, "GET, HEAD", 0, OP_LIST},
    {4, "documents:batch", NULL, R_BATCH, "POST", 0, OP_BATCH},
    {5, "documents", NULL, R_DOC, "GET, HEAD, PUT, DELETE", 0, OP_DOC},
    {4, "keys", NULL, R_KEYS, "GET, HEAD, POST", 1, OP_DOC},
    {5, "keys", NULL, R_KEY, "DELETE", 1, OP_DOC},
    {6, "keys", "rotate", R_ROTATE, "POST", 1, OP_DOC},
};

static const SubRoute *sub_route(char **azSeg, int nSeg) {
  for (size_t i = 0; i < sizeof aSubRoute / sizeof aSubRoute[0]; i++) {
    const SubRoute *p = &aSubRoute[i];
    if (p->nSeg == nSeg && !strcmp(p->zSeg3, azSeg[3]) && (!p->zSeg5 || !strcmp(p->zSeg5, azSeg[5]))) return p;
  }
  return NULL;
}

static void route(VgdServer *s, struct MHD_Connection *c, const char *zUrl, const char *zMethod, Req *q, Reply *r) {
  char *azSeg[8];
  int nSeg = 0;
  char *zPath = strdup(zUrl);
  if (!zPath) {
    reply_error(r, 500, "internal", "out of memory");
    return;
  }
  /* Empty segments count, so "/v1//tenants" matches nothing. */
  for (char *z = zPath + (zPath[0] == '/'); nSeg < 8;) {
    azSeg[nSeg++] = z;
    char *zSlash = strchr(z, '/');
    if (!zSlash) break;
    *zSlash = 0;
    z = zSlash + 1;
  }
  r->zRoute = R_NONE;
  int bTenants = nSeg >= 2 && nSeg < 8 && !strcmp(azSeg[0], "v1") && !strcmp(azSeg[1], "tenants");
  const SubRoute *pSub;
  if (q->bTooBig) {
    reply_error(r, 413, "too_large", "the body is larger than %zu bytes", s->bodyLimit);
  } else if (nSeg == 1 && !strcmp(azSeg[0], "healthz")) {
    r->zRoute = R_HEALTHZ;
    if (method_is(zMethod, "GET, HEAD", r)) reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
  } else if (nSeg == 1 && !strcmp(azSeg[0], "readyz")) {
    r->zRoute = R_READYZ;
    if (method_is(zMethod, "GET, HEAD", r)) {
      char *zTenants = vgd_mprintf("%s/tenants", s->store.zDir);
      if (access(zTenants, W_OK) != 0) reply_error(r, 503, "unavailable", "the data directory is not writable");
      else if (s->nWorkerRunning < s->nWorker)
        reply_error(r, 503, "unavailable", "%d of %d workers are running", s->nWorkerRunning, s->nWorker);
      else reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
      free(zTenants);
    }
  } else if (nSeg == 1 && !strcmp(azSeg[0], "metrics")) {
    r->zRoute = R_METRICS;
    if (method_is(zMethod, "GET, HEAD", r)) {
      reply_text(r, vgd_metrics_text(s), "text/plain; version=0.0.4; charset=utf-8");
    }
  } else if (bTenants && nSeg == 2) {
    r->zRoute = R_TENANTS;
    if (method_is(zMethod, "GET, HEAD, POST", r)) {
      if (!strcmp(zMethod, "POST")) tenants_post(s, c, q, r);
      else tenants_get(s, c, r);
    }
  } else if (bTenants && !vgd_tenant_id_ok(azSeg[2])) {
    /* before any path is built or any file looked at */
    reply_error(r, 400, "bad_tenant",
                "bad tenant id in the path: " VGD_TENANT_RULE);
  } else if (bTenants && nSeg == 3) {
    r->zRoute = R_TENANT;
    if (method_is(zMethod, "DELETE", r)) tenant_delete(s, c, azSeg[2], r);
  } else if (bTenants && (pSub = sub_route(azSeg, nSeg)) != NULL) {
    r->zRoute = pSub->zRoute;
    const char *zArg = nSeg > 4 ? azSeg[4] : NULL; /* a document or key id */
    if (!method_is(zMethod, pSub->zAllow, r)) {
    } else if (pSub->bKeys) {
      keys_route(s, c, q, zMethod, azSeg[2], zArg, pSub->zSeg5 != NULL, r);
    } else {
      tenant_route(s, c, zMethod, azSeg[2], pSub->op, zArg, q, r);
    }
  } else {
    reply_error(r, 404, "not_found", "no route %s", zUrl);
  }
  free(zPath);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, Reply *r) {
  char *zBody = r->zText ? r->zText : r->pBody ? json_dumps(r->pBody, JSON_COMPACT) : NULL;
  r->zText = NULL;
  struct MHD_Response *pResp = zBody
      ? MHD_create_response_from_buffer(strlen(zBody), zBody, MHD_RESPMEM_MUST_FREE)
      : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!pResp) {
    free(zBody);
    return MHD_NO;
  }
  if (zBody)
    MHD_add_response_header(pResp, MHD_HTTP_HEADER_CONTENT_TYPE, r->zContentType ? r->zContentType : "application/json");
  if (r->zAllow) MHD_add_response_header(pResp, MHD_HTTP_HEADER_ALLOW, r->zAllow);
  if (r->status == 401) MHD_add_response_header(pResp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"vecguardd\"");
  if (r->status == 429 || r->retryAfter > 0) {
    char zWait[24];
    snprintf(zWait, sizeof zWait, "%ld", r->retryAfter > 0 ? r->retryAfter : 1);
    MHD_add_response_header(pResp, MHD_HTTP_HEADER_RETRY_AFTER, zWait);
  }
  enum MHD_Result ret = MHD_queue_response(c, r->status, pResp);
  MHD_destroy_response(pResp);
  return ret;
}

/* Methods as the metrics count them: a fixed few, so a client cannot grow
** the series. */
static const char *method_label(const char *zMethod) {
  static const char *const az[] = {"GET", "POST", "PUT", "DELETE", "HEAD"};
  for (size_t i = 0; i < sizeof az / sizeof az[0]; i++)
    if (!strcmp(az[i], zMethod)) return az[i];
  return "other";
}

static enum MHD_Result on_request(void *pCls, struct MHD_Connection *c, const char *zUrl, const char *zMethod,
                                  const char *zVersion, const char *aData, size_t *pnData, void **ppReq) {
  VgdServer *s = pCls;
  Req *q = *ppReq;
  (void)zVersion;
  if (!q) {
    q = calloc(1, sizeof *q);
    if (!q) return MHD_NO;
    q->t0 = now_ms();
    *ppReq = q;
    s->nInFlight++;
    const char *zLen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    unsigned long long nLen = zLen ? strtoull(zLen, NULL, 10) : 0;
    if (nLen > s->bodyLimit) q->bTooBig = 1;
    /* A body somewhat over the limit is read and dropped, so that clients
    ** which send it all before reading (most do) get the 413; a larger one
    ** is answered at once, unread, and libmicrohttpd closes the connection. */
    if (nLen <= VGD_DRAIN_FACTOR * (unsigned long long)s->bodyLimit) return MHD_YES;
  } else if (q->bReplied) {
    *pnData = 0;
    return MHD_YES;
  } else if (*pnData) {
    if (!q->bTooBig && q->nBody + *pnData <= s->bodyLimit) {
      char *a = realloc(q->aBody, q->nBody + *pnData);
      if (!a) return MHD_NO;
      memcpy(a + q->nBody, aData, *pnData);
      q->aBody = a;
      q->nBody += *pnData;
    } else {
      q->bTooBig = 1; /* a chunked body: read and dropped, so the 413 reaches the client */
    }
    *pnData = 0;
    return MHD_YES;
  }
  Reply r = {500, NULL, NULL, NULL, NULL, NULL, 0};
  q->bReplied = 1;
  /* HEAD is GET without the body, which libmicrohttpd leaves out. */
  route(s, c, zUrl, strcmp(zMethod, "HEAD") ? zMethod : "GET", q, &r);
  double ms = now_ms() - q->t0;
  const char *zMethodLabel = method_label(zMethod);
  vgd_metrics_request(&s->metrics, r.zRoute, zMethodLabel, r.status, ms / 1e3);
  if (s->bLogRequests) {
    /* the route's template, never the path: ids and tenants stay out of logs */
    json_t *pLine = json_pack("{s:s,s:s,s:i,s:f}", "method", zMethodLabel, "route", r.zRoute, "status", (int)r.status,
                              "ms", ms);
    if (r.status >= 400)
      json_object_set(pLine, "code", json_object_get(json_object_get(r.pBody, "error"), "code"));
    vgd_log_json(r.status >= 500 ? "error" : "info", "request", pLine);
  }
  enum MHD_Result ret = send_reply(c, &r);
  free(r.zText);
  json_decref(r.pBody);
  return ret;
}
static void on_completed(void *pCls, struct MHD_Connection *c, void **ppReq, enum MHD_RequestTerminationCode e) {
  VgdServer *s = pCls;
  (void)c, (void)e;
  Req *q = *ppReq;
  if (q) {
    free(q->aBody);
    s->nInFlight--;
  }
  free(q);
  *ppReq = NULL;
}

static int hex_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* %HH decoding, except %2F and %00, left encoded: an escaped slash must not
** split a tenant id into path segments, nor a zero cut it short.  Ids that
** keep a '%' are then refused. */
static size_t unescape(void *pCls, struct MHD_Connection *c, char *z) {
  (void)pCls, (void)c;
  char *zOut = z;
  for (const char *zIn = z; *zIn;) {
    int hi = zIn[0] == '%' && zIn[1] ? hex_digit(zIn[1]) : -1;
    int lo = hi >= 0 && zIn[2] ? hex_digit(zIn[2]) : -1;
    int byte = hi * 16 + lo;
    if (lo >= 0 && byte != '/' && byte != 0) {
      *zOut++ = (char)byte;
      zIn += 3;
    } else {
      *zOut++ = *zIn++;
    }
  }
  *zOut = 0;
  return (size_t)(zOut - z);
}

/* A whole small file (a PEM certificate or key) as a string, or NULL. */
static char *read_file(const char *zPath) {
  FILE *f = fopen(zPath, "rb");
  if (!f) return NULL;
  char *z = NULL;
  size_t n = 0;
  long nSize = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (nSize >= 0 && nSize < (1 << 20) && fseek(f, 0, SEEK_SET) == 0 && (z = malloc((size_t)nSize + 1)) != NULL) {
    n = fread(z, 1, (size_t)nSize, f);
    z[n] = 0;
  }
  fclose(f);
  return z;
}

void *vgd_http_start(VgdServer *s, const char *zListen, const char *zTlsCert, const char *zTlsKey, char **pzErr) {
  const char *zColon = strrchr(zListen, ':');
  char zHost[64];
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  long port = zColon ? strtol(zColon + 1, NULL, 10) : -1;
  if (!zColon || (size_t)(zColon - zListen) >= sizeof zHost || port < 0 || port > 65535) {
    *pzErr = vgd_mprintf("bad --listen \"%s\": send HOST:PORT, such as 127.0.0.1:8080", zListen);
    return NULL;
  }
  snprintf(zHost, sizeof zHost, "%.*s", (int)(zColon - zListen), zListen);
  if (inet_pton(AF_INET, zHost, &addr.sin_addr) != 1) {
    *pzErr = vgd_mprintf("bad --listen host \"%s\": send an IPv4 address, such as 127.0.0.1", zHost);
    return NULL;
  }
  addr.sin_port = htons((uint16_t)port);
  if (!zTlsCert != !zTlsKey) {
    *pzErr = vgd_mprintf("TLS needs both [server] tls_cert and tls_key (PEM files)");
    return NULL;
  }
  char *zCert = NULL, *zKey = NULL;
  if (zTlsCert) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      *pzErr = vgd_mprintf("this libmicrohttpd has no TLS: remove tls_cert and tls_key, or use Debian's libmicrohttpd12");
      return NULL;
    }
    zCert = read_file(zTlsCert);
    zKey = zCert ? read_file(zTlsKey) : NULL;
    if (!zCert || !zKey) {
      *pzErr = vgd_mprintf("cannot read %s: %s", zCert ? zTlsKey : zTlsCert, strerror(errno));
      free(zCert);
      return NULL;
    }
  }
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG | MHD_USE_ITC |
                   (zCert ? MHD_USE_TLS : 0);
  /* The certificate options come last, so without TLS they end the list. */
  struct MHD_Daemon *d = MHD_start_daemon(
      flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
      MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
      MHD_OPTION_CONNECTION_LIMIT, s->maxConnections, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL,
      zCert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, zCert, MHD_OPTION_HTTPS_MEM_KEY, zKey, MHD_OPTION_END);
  if (!d)
    *pzErr = zCert ? vgd_mprintf("cannot listen on %s with TLS (in use, not an address of this machine, or the "
                                 "certificate and key do not load or match)", zListen)
                   : vgd_mprintf("cannot listen on %s (in use, or not an address of this machine)", zListen);
  /* libmicrohttpd keeps its own copies */
  if (zKey) sodium_memzero(zKey, strlen(zKey));
  free(zCert);
  free(zKey);
  return d;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int vgd_http_port(void *pDaemon) {
  const union MHD_DaemonInfo *p = MHD_get_daemon_info(pDaemon, MHD_DAEMON_INFO_BIND_PORT);
  return p ? p->port : 0;
}

void vgd_http_stop(VgdServer *s, void *pDaemon) {
  /* No new connection is accepted (the kernel refuses them once the
  ** listening socket is shut down); the requests in flight finish. */
  MHD_socket fdListen = MHD_quiesce_daemon(pDaemon);
  if (fdListen != MHD_INVALID_SOCKET) shutdown(fdListen, SHUT_RDWR);
  for (int ms = 0; s->nInFlight > 0 && ms < 30000; ms += 10) sleep_ms(10);
  MHD_stop_daemon(pDaemon);
  if (fdListen != MHD_INVALID_SOCKET) close(fdListen);
}
