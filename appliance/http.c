/*
** http.c — the HTTP JSON API on libmicrohttpd (docs/appliance.md): routes,
** bodies, keys, and one error envelope {"error": {"code", "message"}}.
*/
#include "vecguardd.h"

#include <arpa/inet.h>
#include <jansson.h>
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
};

/* A reply: a status and a JSON body (NULL for none). */
typedef struct Reply Reply;
struct Reply {
  unsigned status;
  json_t *pBody;
  const char *zAllow; /* for 405 */
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

/* ---- request checks ------------------------------------------------------ */

/* The body as a JSON object whose members are all in azAllowed; NULL after
** an error reply. */
static json_t *body_object(struct MHD_Connection *c, Req *q, Reply *r, const char *const *azAllowed) {
  const char *zType = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
  if (!zType || strncasecmp(zType, "application/json", 16) || (zType[16] && zType[16] != ';' && zType[16] != ' ')) {
    reply_error(r, 415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json");
    return NULL;
  }
  json_error_t e;
  json_t *p = json_loadb(q->aBody ? q->aBody : "", q->nBody, JSON_REJECT_DUPLICATES, &e);
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
      char zList[256] = "";
      for (i = 0; azAllowed[i]; i++)
        snprintf(zList + strlen(zList), sizeof zList - strlen(zList), "%s%s", i ? ", " : "", azAllowed[i]);
      reply_error(r, 400, "unknown_field", "unknown field \"%.100s\" (fields: %s)", zKey, zList);
      json_decref(p);
      return NULL;
    }
  }
  return p;
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
    reply_error(r, 401, "unauthorized", "the API key is unknown or revoked");
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

static void tenants_post(VgdServer *s, struct MHD_Connection *c, Req *q, Reply *r) {
  static const char *const azFields[] = {"tenant", NULL};
  if (!admin_only(s, c, r)) return;
  json_t *pBody = body_object(c, q, r, azFields);
  if (!pBody) return;
  int bBad = 0;
  const char *zTenant = field_string(pBody, "tenant", r, &bBad);
  if (!bBad && !zTenant) reply_error(r, 400, "bad_field", "field \"tenant\" is missing: send {\"tenant\": \"<id>\"}");
  else if (!bBad && !vgd_tenant_id_ok(zTenant))
    reply_error(r, 400, "bad_tenant", "field \"tenant\": a tenant id is 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit");
  else if (!bBad) {
    char *zKey = NULL, *zErr = NULL;
    /* Workers see the tenant whole or not at all. */
    pthread_rwlock_wrlock(&s->tenantLock);
    int rc = vgd_tenant_create(&s->store, zTenant, &zKey, &zErr);
    pthread_rwlock_unlock(&s->tenantLock);
    if (rc == SQLITE_OK) reply_json(r, 201, json_pack("{s:s,s:s}", "tenant", zTenant, "key", zKey));
    else if (rc == SQLITE_CONSTRAINT) reply_error(r, 409, "conflict", "%s", zErr);
    else reply_error(r, 500, "internal", "%s", zErr);
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
  if (!admin_only(s, c, r)) return;
  char *zErr = NULL;
  /* No worker or request holds the file while it is erased. */
  pthread_rwlock_wrlock(&s->tenantLock);
  vgd_pool_forget(&s->pool, zTenant);
  int rc = vgd_tenant_delete(&s->store, zTenant, &zErr);
  pthread_rwlock_unlock(&s->tenantLock);
  if (rc == SQLITE_OK) reply_json(r, 204, NULL);
  else if (rc == SQLITE_NOTFOUND) reply_error(r, 404, "not_found", "%s", zErr);
  else reply_error(r, 500, "internal", "%s", zErr);
  free(zErr);
}

/* ---- tenant routes -------------------------------------------------------- */

/* tenant_route's zDoc for GET /v1/tenants/{t}/queue and POST .../backup:
** compared by address. */
static const char QUEUE[] = "queue";
static const char BACKUP[] = "backup";

/* A copy of the tenant's file in DIR/backups, made with the online backup
** API while the server goes on; the ingest scope, as it writes. */
static void backup_post(VgdServer *s, const char *zTenant, Reply *r) {
  char *zName = NULL, *zErr = NULL;
  long long nBytes = 0;
  int rc = vgd_tenant_backup(&s->store, zTenant, NULL, &zName, &nBytes, &zErr);
  if (rc == SQLITE_OK) reply_json(r, 201, json_pack("{s:s,s:I}", "backup", zName, "bytes", (json_int_t)nBytes));
  else if (rc == SQLITE_CONSTRAINT) reply_error(r, 409, "conflict", "%s", zErr);
  else reply_error(r, 500, "internal", "%s", zErr);
  free(zName);
  free(zErr);
}

/* Reply with the connection's last error: 400 when the extension refused
** the request's values, 500 otherwise. */
static void reply_sql_error(Reply *r, sqlite3 *db, int rc) {
  if ((rc & 0xff) == SQLITE_ERROR || (rc & 0xff) == SQLITE_CONSTRAINT || (rc & 0xff) == SQLITE_TOOBIG)
    reply_error(r, 400, "rejected", "%s", sqlite3_errmsg(db));
  else
    reply_error(r, 500, "internal", "%s", sqlite3_errmsg(db));
}

static void doc_put(sqlite3 *db, struct MHD_Connection *c, Req *q, const char *zId, Reply *r) {
  static const char *const azFields[] = {"type", "text", "metadata", "priority", NULL};
  json_t *pBody = body_object(c, q, r, azFields);
  if (!pBody) return;
  int bBad = 0;
  const char *zType = field_string(pBody, "type", r, &bBad);
  const char *zText = bBad ? NULL : field_string(pBody, "text", r, &bBad);
  const char *zPriority = bBad ? NULL : field_string(pBody, "priority", r, &bBad);
  json_t *pMeta = json_object_get(pBody, "metadata");
  if (!zType) zType = "doc";
  if (!zPriority) zPriority = "medium";
  if (bBad) {
  } else if (!zText) {
    reply_error(r, 400, "bad_field", "field \"text\" is missing: send the document's text");
  } else if (!name_ok(zType, VGD_TYPE_MAX, "_-")) {
    reply_error(r, 400, "bad_field", "field \"type\": 1 to 64 of A-Z, a-z, 0-9, '_', '-'");
  } else if (strcmp(zPriority, "high") && strcmp(zPriority, "medium") && strcmp(zPriority, "low")) {
    reply_error(r, 400, "bad_field", "field \"priority\" must be \"high\", \"medium\" or \"low\"");
  } else if (pMeta && !json_is_null(pMeta) && !json_is_object(pMeta)) {
    reply_error(r, 400, "bad_field", "field \"metadata\" must be an object");
  } else {
    char *zMeta = pMeta && !json_is_null(pMeta) ? json_dumps(pMeta, JSON_COMPACT) : NULL;
    sqlite3_stmt *pStmt = NULL;
    /* A PUT replaces the document, also one stored under another type. */
    int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    for (int iStep = 0; rc == SQLITE_OK && iStep < 3; iStep++) {
      static const char *azSql[] = {
          "DELETE FROM documents WHERE content_id = ?1 AND content_type <> ?2",
          "DELETE FROM vg_queue WHERE tenant_id = '' AND content_id = ?1 AND content_type <> ?2",
          "SELECT vg_ingest('documents', '', ?2, ?1, ?3, ?4, ?5)"};
      sqlite3_finalize(pStmt);
      pStmt = NULL;
      rc = sqlite3_prepare_v2(db, azSql[iStep], -1, &pStmt, NULL);
      if (rc != SQLITE_OK) break;
      sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
      sqlite3_bind_text(pStmt, 2, zType, -1, SQLITE_STATIC);
      if (iStep == 2) {
        sqlite3_bind_text(pStmt, 3, zText, -1, SQLITE_STATIC);
        if (zMeta) sqlite3_bind_text(pStmt, 4, zMeta, -1, SQLITE_STATIC);
        sqlite3_bind_text(pStmt, 5, zPriority, -1, SQLITE_STATIC);
      }
      rc = sqlite3_step(pStmt);
      if (rc == SQLITE_ROW && iStep == 2) {
        reply_json(r, 202, json_pack("{s:s,s:I}", "id", zId, "queue_id", (json_int_t)sqlite3_column_int64(pStmt, 0)));
        rc = SQLITE_OK;
      } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
      }
    }
    if (rc != SQLITE_OK) reply_sql_error(r, db, rc);
    sqlite3_finalize(pStmt);
    if (rc == SQLITE_OK && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
      reply_sql_error(r, db, sqlite3_extended_errcode(db));
    if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    free(zMeta);
  }
  json_decref(pBody);
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
    sqlite3_finalize(pStmt);
    pStmt = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT content FROM documents WHERE content_id = ? ORDER BY chunk_index", -1,
                            &pStmt, NULL);
    if (rc == SQLITE_OK) {
      json_t *pChunks = json_object_get(pDoc, "chunks");
      sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
      while ((rc = sqlite3_step(pStmt)) == SQLITE_ROW)
        json_array_append_new(pChunks, json_string((const char *)sqlite3_column_text(pStmt, 0)));
      if (!json_object_get(pDoc, "text") && json_array_size(pChunks) == 1)
        json_object_set(pDoc, "text", json_array_get(pChunks, 0));
    }
    if (rc == SQLITE_DONE) reply_json(r, 200, pDoc);
    else json_decref(pDoc);
  }
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) reply_sql_error(r, db, rc);
  sqlite3_finalize(pStmt);
}

static void doc_delete(sqlite3 *db, const char *zId, Reply *r) {
  static const char *azSql[] = {
      "SELECT (SELECT count(*) FROM vg_queue WHERE tenant_id = '' AND content_id = ?1)"
      " + (SELECT count(*) FROM documents WHERE content_id = ?1)",
      "DELETE FROM documents WHERE content_id = ?1",
      "DELETE FROM vg_queue WHERE tenant_id = '' AND content_id = ?1"};
  int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
  int bFound = 0;
  for (int i = 0; rc == SQLITE_OK && i < 3 && (i == 0 || bFound); i++) {
    sqlite3_stmt *pStmt = NULL;
    rc = sqlite3_prepare_v2(db, azSql[i], -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
      rc = sqlite3_step(pStmt);
      if (rc == SQLITE_ROW) bFound = sqlite3_column_int(pStmt, 0) > 0;
      if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
    }
    sqlite3_finalize(pStmt);
  }
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
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void search(sqlite3 *db, struct MHD_Connection *c, Req *q, Reply *r) {
  static const char *const azFields[] = {"query", "k", "filters", "mode", "threshold", NULL};
  double t0 = now_ms();
  json_t *pBody = body_object(c, q, r, azFields);
  if (!pBody) return;
  int bBad = 0;
  const char *zQuery = field_string(pBody, "query", r, &bBad);
  const char *zMode = bBad ? NULL : field_string(pBody, "mode", r, &bBad);
  json_t *pK = json_object_get(pBody, "k"), *pFilters = json_object_get(pBody, "filters");
  json_t *pThreshold = json_object_get(pBody, "threshold");
  json_int_t k = pK ? json_integer_value(pK) : 10;
  if (bBad) {
  } else if (!zQuery || !zQuery[0]) {
    reply_error(r, 400, "bad_field", "field \"query\" is missing or empty: send the text to search for");
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
      sqlite3_bind_text(pStmt, 1, zQuery, -1, SQLITE_STATIC);
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

/* Routes under /v1/tenants/{t}/: the key is checked, and the tenant found,
** before its file is opened. */
static void tenant_route(VgdServer *s, struct MHD_Connection *c, const char *zMethod, const char *zTenant,
                         const char *zDoc, Req *q, Reply *r) {
  /* zDoc is a document id, or NULL for search, or QUEUE or BACKUP */
  int bQueue = zDoc == QUEUE, bBackup = zDoc == BACKUP;
  int bSearch = zDoc == NULL;
  VgdKey key;
  if (!authenticate(s, c, r, &key)) return;
  if (strcmp(key.zTenant, zTenant)) {
    reply_error(r, 403, "forbidden", "this key is not for tenant \"%s\"", zTenant);
    return;
  }
  int bWrite = !bSearch && strcmp(zMethod, "GET");
  if (bSearch ? !key.bSearch : bWrite ? !key.bIngest : !(key.bSearch || key.bIngest)) {
    reply_error(r, 403, "forbidden", "this key lacks the \"%s\" scope", bSearch || !bWrite ? "search" : "ingest");
    return;
  }
  if (zDoc && !bQueue && !bBackup && !name_ok(zDoc, VGD_DOC_ID_MAX, "._-")) {
    reply_error(r, 400, "bad_document_id",
                "a document id is 1 to 128 of A-Z, a-z, 0-9, '.', '_', '-', starting with a letter or digit");
    return;
  }
  pthread_rwlock_rdlock(&s->tenantLock);
  long long iSerial;
  if (!vgd_tenant_exists(&s->store, zTenant, &iSerial)) {
    reply_error(r, 404, "not_found", "no tenant \"%s\"", zTenant);
  } else {
    char *zErr = NULL;
    sqlite3 *db = NULL;
    int rc = vgd_pool_get(&s->pool, &s->store, zTenant, iSerial, &db, &zErr);
    if (rc == SQLITE_BUSY) reply_error(r, 503, "unavailable", "%s", zErr);
    else if (rc != SQLITE_OK) reply_error(r, 500, "internal", "%s", zErr);
    else if (bQueue) queue_get(db, r);
    else if (bBackup) backup_post(s, zTenant, r);
    else if (bSearch) search(db, c, q, r);
    else if (!strcmp(zMethod, "PUT")) doc_put(db, c, q, zDoc, r);
    else if (!strcmp(zMethod, "GET")) doc_get(db, zDoc, r);
    else doc_delete(db, zDoc, r);
    vgd_pool_put(&s->pool, db);
    free(zErr);
  }
  pthread_rwlock_unlock(&s->tenantLock);
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

static void route(VgdServer *s, struct MHD_Connection *c, const char *zUrl, const char *zMethod, Req *q, Reply *r) {
  char *azSeg[8];
  int nSeg = 0;
  char *zPath = strdup(zUrl);
  /* Empty segments count, so "/v1//tenants" matches nothing. */
  for (char *z = zPath + (zPath[0] == '/'); nSeg < 8;) {
    azSeg[nSeg++] = z;
    char *zSlash = strchr(z, '/');
    if (!zSlash) break;
    *zSlash = 0;
    z = zSlash + 1;
  }
  if (nSeg == 8) {
    reply_error(r, 404, "not_found", "no route %s", zUrl);
  } else if (q->bTooBig) {
    reply_error(r, 413, "too_large", "the body is larger than %zu bytes", s->bodyLimit);
  } else if (nSeg == 1 && !strcmp(azSeg[0], "healthz")) {
    if (method_is(zMethod, "GET", r)) reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
  } else if (nSeg == 1 && !strcmp(azSeg[0], "readyz")) {
    if (method_is(zMethod, "GET", r)) {
      char *zTenants = vgd_mprintf("%s/tenants", s->store.zDir);
      if (access(zTenants, W_OK) == 0) reply_json(r, 200, json_pack("{s:s}", "status", "ready"));
      else reply_error(r, 503, "unavailable", "the data directory is not writable");
      free(zTenants);
    }
  } else if (nSeg >= 2 && !strcmp(azSeg[0], "v1") && !strcmp(azSeg[1], "tenants")) {
    if (nSeg == 2) {
      if (method_is(zMethod, "GET, POST", r)) {
        if (!strcmp(zMethod, "POST")) tenants_post(s, c, q, r);
        else tenants_get(s, c, r);
      }
    } else if (!vgd_tenant_id_ok(azSeg[2])) {
      /* before any path is built or any file looked at */
      reply_error(r, 400, "bad_tenant",
                  "bad tenant id in the path: 1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit");
    } else if (nSeg == 3) {
      if (method_is(zMethod, "DELETE", r)) tenant_delete(s, c, azSeg[2], r);
    } else if (nSeg == 4 && !strcmp(azSeg[3], "search")) {
      if (method_is(zMethod, "POST", r)) tenant_route(s, c, zMethod, azSeg[2], NULL, q, r);
    } else if (nSeg == 4 && !strcmp(azSeg[3], "backup")) {
      if (method_is(zMethod, "POST", r)) tenant_route(s, c, zMethod, azSeg[2], BACKUP, q, r);
    } else if (nSeg == 4 && !strcmp(azSeg[3], "queue")) {
      if (method_is(zMethod, "GET", r)) tenant_route(s, c, zMethod, azSeg[2], QUEUE, q, r);
    } else if (nSeg == 5 && !strcmp(azSeg[3], "documents")) {
      if (method_is(zMethod, "GET, PUT, DELETE", r)) tenant_route(s, c, zMethod, azSeg[2], azSeg[4], q, r);
    } else {
      reply_error(r, 404, "not_found", "no route %s", zUrl);
    }
  } else {
    reply_error(r, 404, "not_found", "no route %s", zUrl);
  }
  free(zPath);
}

static enum MHD_Result send_reply(struct MHD_Connection *c, Reply *r) {
  char *zBody = r->pBody ? json_dumps(r->pBody, JSON_COMPACT) : NULL;
  struct MHD_Response *pResp = zBody
      ? MHD_create_response_from_buffer(strlen(zBody), zBody, MHD_RESPMEM_MUST_FREE)
      : MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
  if (!pResp) {
    free(zBody);
    return MHD_NO;
  }
  if (zBody) MHD_add_response_header(pResp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
  if (r->zAllow) MHD_add_response_header(pResp, MHD_HTTP_HEADER_ALLOW, r->zAllow);
  enum MHD_Result ret = MHD_queue_response(c, r->status, pResp);
  MHD_destroy_response(pResp);
  return ret;
}

static enum MHD_Result on_request(void *pCls, struct MHD_Connection *c, const char *zUrl, const char *zMethod,
                                  const char *zVersion, const char *aData, size_t *pnData, void **ppReq) {
  VgdServer *s = pCls;
  Req *q = *ppReq;
  (void)zVersion;
  if (!q) {
    q = calloc(1, sizeof *q);
    if (!q) return MHD_NO;
    *ppReq = q;
    const char *zLen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (zLen && strtoull(zLen, NULL, 10) > s->bodyLimit) q->bTooBig = 1;
    return MHD_YES;
  }
  if (*pnData) {
    if (!q->bTooBig && q->nBody + *pnData <= s->bodyLimit) {
      char *a = realloc(q->aBody, q->nBody + *pnData);
      if (!a) return MHD_NO;
      memcpy(a + q->nBody, aData, *pnData);
      q->aBody = a;
      q->nBody += *pnData;
    } else {
      q->bTooBig = 1; /* read and dropped, so the 413 reaches the client */
    }
    *pnData = 0;
    return MHD_YES;
  }
  Reply r = {500, NULL, NULL};
  route(s, c, zUrl, zMethod, q, &r);
  enum MHD_Result ret = send_reply(c, &r);
  json_decref(r.pBody);
  return ret;
}

static void on_completed(void *pCls, struct MHD_Connection *c, void **ppReq, enum MHD_RequestTerminationCode e) {
  (void)pCls, (void)c, (void)e;
  Req *q = *ppReq;
  if (q) free(q->aBody);
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

void *vgd_http_start(VgdServer *s, const char *zListen, char **pzErr) {
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
  struct MHD_Daemon *d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG, 0, NULL, NULL,
      on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
      MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, s->maxConnections, MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
  if (!d) *pzErr = vgd_mprintf("cannot listen on %s (in use, or not an address of this machine)", zListen);
  return d;
}

void vgd_http_stop(void *pDaemon) {
  MHD_stop_daemon(pDaemon);
}
