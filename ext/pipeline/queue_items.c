/*
** queue_items.c — the queue's items as the pipeline's C code handles them:
** checking and putting one in (vg_enqueue, vg_ingest), claiming them (one
** statement), reading one, storing its vectors in its table and marking
** it done, recording a failure (vg_queue_complete, vg_queue_fail, the
** worker vg_queue_run).  The SQL functions that call these are in
** queue_sql.c, the tables in queue_tables.c.
**
** Several processes can work on one queue at once.  Claiming is one SQL
** statement (a statement that writes holds the database's write lock from
** its first step to its end); putting an item in writes the item and its
** text, finishing one reads it and writes: the callers hold a transaction
** around both (vg_txn_call, vg_txn_begin).
*/
#include "pipeline/pipeline.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"

int vg_target_def(sqlite3 *db, const char *zTable, VgTableDef **ppDef, char **pzErr) {
  *ppDef = 0;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT sql FROM main.sqlite_schema WHERE type = 'table' AND name = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zTable, -1, SQLITE_STATIC);
  if (sqlite3_step(p) != SQLITE_ROW) {
    *pzErr = sqlite3_mprintf("no table named \"%s\"", zTable);
    rc = SQLITE_ERROR;
  } else {
    const char *zSql = (const char *)sqlite3_column_text(p, 0);
    char *zErr = 0;
    rc = zSql ? vg_tabledef_parse_sql(zSql, ppDef, &zErr) : SQLITE_MISMATCH;
    if (rc == SQLITE_MISMATCH) {
      *pzErr = sqlite3_mprintf("\"%s\" is not a vg_hnsw table", zTable);
      rc = SQLITE_ERROR;
    } else if (rc != SQLITE_OK && zErr) {
      *pzErr = sqlite3_mprintf("table \"%s\": %s", zTable, zErr);
    }
    sqlite3_free(zErr);
  }
  sqlite3_finalize(p);
  if (rc == SQLITE_OK && (*ppDef)->element != VG_ELEMENT_FLOAT32) {
    /* Models make float vectors; int8 and bit columns take others' bytes. */
    *pzErr = sqlite3_mprintf("table \"%s\" holds %s[%d] vectors; the pipeline embeds into float[N] "
                             "tables",
                             zTable, vg_element_name((*ppDef)->element), (*ppDef)->nDims);
    vg_tabledef_free(*ppDef);
    *ppDef = 0;
    rc = SQLITE_ERROR;
  }
  return rc;
}

/* ---- putting an item in ------------------------------------------------- */

/* A new item, or an existing one started over when its content, metadata
** or target changed, or it was dead, or it is open without a text (a done
** item set back by hand); else left alone.  RETURNING gives its id only
** when it was written: then it needs its text (a changed text was erased by
** the trigger vg_queue_erase_finished, a done item's long ago). */
static const char zUpsert[] =
    "INSERT INTO main.vg_queue(tenant_id, target_table, content_type, content_id,"
    " content_hash, metadata, priority, status, queued_at, scheduled_for, attempts, max_attempts)"
    " VALUES (?1, ?2, ?3, ?4, ?6, ?7, ?8, 'pending', ?9, ?9, 0, ?10)"
    " ON CONFLICT (tenant_id, content_type, content_id) DO UPDATE SET"
    " target_table = excluded.target_table,"
    " content_hash = excluded.content_hash, metadata = excluded.metadata,"
    " priority = excluded.priority, status = 'pending', queued_at = excluded.queued_at,"
    " scheduled_for = excluded.scheduled_for, lease_until = NULL, worker_id = NULL, attempts = 0,"
    " last_error = NULL"
    " WHERE status = 'dead' OR content_hash IS NOT excluded.content_hash"
    " OR metadata IS NOT excluded.metadata OR target_table IS NOT excluded.target_table"
    " OR (status <> 'done' AND " VG_QUEUE_ITEM_TEXT("vg_queue.id") " IS NULL)"
    " RETURNING id";

/* The text of an item started over.  A pending or dead item that kept its
** text (only its metadata or target changed) has this very text already. */
static const char zPutText[] =
    "INSERT INTO main.vg_queue_text(item_id, pad, content) VALUES (?1, " VG_QUEUE_TEXT_PAD ", ?2)"
    " ON CONFLICT DO NOTHING";

int vg_item_args(sqlite3_context *ctx, const char *zFunc, const char *zText, int argc,
                 sqlite3_value **argv, VgNewItem *pNew) {
  static const char *const azName[] = {"the target table", "tenant_id", "content_type"};
  const char **apz[] = {&pNew->zTable, &pNew->zTenant, &pNew->zType};
  memset(pNew, 0, sizeof(*pNew));
  for (int i = 0; i < 3; i++) {
    *apz[i] = vg_text_arg(ctx, zFunc, argv[i], azName[i], i != 1 ? VG_TEXT_NONEMPTY : VG_TEXT_NAME, 0);
    if (*apz[i] == 0) return 0;
  }
  int eId = sqlite3_value_type(argv[3]);
  sqlite3_int64 iId = 0;
  if (eId == SQLITE_FLOAT && vg_int_value(argv[3], &iId)) {
    /* A whole number as drivers such as better-sqlite3 send it. */
    sqlite3_snprintf(sizeof pNew->zIdBuf, pNew->zIdBuf, "%lld", iId);
    pNew->zContentId = pNew->zIdBuf;
  } else if (eId != SQLITE_TEXT && eId != SQLITE_INTEGER) {
    vg_result_bad_value(ctx, zFunc, "content_id must be text or a whole number", argv[3]);
    return 0;
  } else {
    pNew->zContentId = eId == SQLITE_INTEGER ? (const char *)sqlite3_value_text(argv[3])
                                             : vg_text_arg(ctx, zFunc, argv[3], "content_id", VG_TEXT_NAME, 0);
  }
  if (pNew->zContentId == 0) {
    if (eId == SQLITE_INTEGER) sqlite3_result_error_nomem(ctx);
    return 0;
  }
  if (sqlite3_value_type(argv[4]) == SQLITE_NULL) {
    vg_result_errorf(ctx, zFunc, "%s is NULL", zText);
    return 0;
  }
  int n = 0;
  pNew->zContent = vg_text_arg(ctx, zFunc, argv[4], zText, VG_TEXT_BODY | VG_TEXT_NONEMPTY, &n);
  if (pNew->zContent == 0) return 0;
  if (n > VG_QUEUE_MAX_CONTENT) {
    vg_result_errorf(ctx, zFunc, "%s is %d bytes; the limit is %d", zText, n, VG_QUEUE_MAX_CONTENT);
    return 0;
  }
  pNew->nContent = n;
  if (argc > 5 && sqlite3_value_type(argv[5]) != SQLITE_NULL) {
    pNew->zMetadata = vg_text_arg(ctx, zFunc, argv[5], "metadata", VG_TEXT_JSON, 0);
    if (pNew->zMetadata == 0) return 0;
  }
  pNew->priority = VG_PRIORITY_MEDIUM;
  if (argc > 6 && sqlite3_value_type(argv[6]) != SQLITE_NULL) {
    const char *zP = vg_text_arg(ctx, zFunc, argv[6], "the priority", VG_TEXT_NAME, 0);
    if (zP == 0) return 0;
    pNew->priority = vg_priority_parse(zP);
    if (pNew->priority < 0) {
      vg_result_errorf(ctx, zFunc, "unknown priority \"%s\" (high, medium or low)", zP);
      return 0;
    }
  }
  return 1;
}

/* Is z a JSON object?  (SQLite's json_type says.) */
static int json_object_ok(sqlite3 *db, const char *z, int *pbOk) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT CASE WHEN json_valid(?1) THEN json_type(?1) = 'object' END", -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, z, -1, SQLITE_STATIC);
  *pbOk = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
  return sqlite3_finalize(p);
}

/* The partition key decides where the tenant's vectors go: a table without
** one takes only tenant ''. */
char *vg_tenant_refused(const VgTableDef *pDef, const char *zTable, const char *zTenant) {
  if (pDef->iPartition < 0 && zTenant[0]) {
    return sqlite3_mprintf("table \"%s\" has no partition key to keep tenant \"%s\" apart (give tenant_id '' "
                           "or add a partition key column)",
                           zTable, zTenant);
  }
  if (pDef->iPartition >= 0 && !zTenant[0]) {
    return sqlite3_mprintf("table \"%s\" is partitioned by tenant: tenant_id must not be empty", zTable);
  }
  return 0;
}

int vg_item_check(sqlite3 *db, const VgNewItem *pNew, const VgTableDef *pDef, char **pzErr) {
  if ((*pzErr = vg_tenant_refused(pDef, pNew->zTable, pNew->zTenant)) != 0) return SQLITE_ERROR;
  int bObject = 1;
  int rc = pNew->zMetadata ? json_object_ok(db, pNew->zMetadata, &bObject) : SQLITE_OK;
  if (rc == SQLITE_OK && !bObject) {
    *pzErr = sqlite3_mprintf("metadata must be a JSON object, not %s", pNew->zMetadata);
    rc = SQLITE_ERROR;
  }
  return rc;
}

int vg_queue_put(sqlite3 *db, const QueueConn *q, const VgNewItem *pNew, sqlite3_int64 *pId, char **pzErr) {
  unsigned char aHash[32];
  crypto_generichash(aHash, sizeof aHash, (const unsigned char *)pNew->zContent,
                     (unsigned long long)pNew->nContent, 0, 0);
  int rc = vg_queue_ensure(db, pzErr);
  sqlite3_stmt *p = 0;
  int bWritten = 0;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zUpsert, -1, &p, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(p, 1, pNew->zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 2, pNew->zTable, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 3, pNew->zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 4, pNew->zContentId, -1, SQLITE_STATIC);
    sqlite3_bind_blob(p, 6, aHash, sizeof aHash, SQLITE_STATIC);
    if (pNew->zMetadata) sqlite3_bind_text(p, 7, pNew->zMetadata, -1, SQLITE_STATIC);
    sqlite3_bind_text(p, 8, vg_priority_name(pNew->priority), -1, SQLITE_STATIC);
    sqlite3_bind_double(p, 9, vg_queue_now(q));
    sqlite3_bind_int(p, 10, VG_QUEUE_MAX_ATTEMPTS);
    if (sqlite3_step(p) == SQLITE_ROW) {
      *pId = sqlite3_column_int64(p, 0);
      bWritten = 1;
      sqlite3_step(p);
    }
    rc = sqlite3_finalize(p);
  }
  if (rc == SQLITE_OK && bWritten) {
    rc = sqlite3_prepare_v2(db, zPutText, -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(p, 1, *pId);
      sqlite3_bind_text(p, 2, pNew->zContent, pNew->nContent, SQLITE_STATIC);
      sqlite3_step(p);
      rc = sqlite3_finalize(p);
    }
  } else if (rc == SQLITE_OK) {
    /* Left alone: only its id is wanted. */
    rc = sqlite3_prepare_v2(db, "SELECT id FROM main.vg_queue WHERE tenant_id = ? AND content_type = ? "
                                "AND content_id = ?", -1, &p, 0);
    if (rc == SQLITE_OK) {
      sqlite3_bind_text(p, 1, pNew->zTenant, -1, SQLITE_STATIC);
      sqlite3_bind_text(p, 2, pNew->zType, -1, SQLITE_STATIC);
      sqlite3_bind_text(p, 3, pNew->zContentId, -1, SQLITE_STATIC);
      if (sqlite3_step(p) == SQLITE_ROW) *pId = sqlite3_column_int64(p, 0);
      rc = sqlite3_finalize(p);
    }
  }
  return rc;
}

/* ---- vg_queue_claim ----------------------------------------------------- */

/* One statement: take up to n due items, highest priority first, oldest
** first within a priority.  Pending and failed items are read in that
** order from vg_queue_due, expired leases from vg_queue_leases, so a claim
** reads about n rows however long the queue.  Each item comes back with
** its place in the order (RETURNING gives rows in no set order) and, for
** vg_queue_claim, its JSON. */
#define CLAIM_RANK "CASE priority WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END"
/* Tables left out of the claim: ?5, a JSON array of names (or NULL). */
#define CLAIM_TABLES "target_table NOT IN (SELECT value FROM json_each(coalesce(?5, '[]')))"
#define CLAIM_UPDATE \
    "UPDATE main.vg_queue SET status = 'processing', worker_id = ?1, lease_until = ?2 + ?3," \
    " attempts = attempts + 1" \
    " WHERE id IN (SELECT id FROM (" \
    "  SELECT * FROM (SELECT id, " CLAIM_RANK " AS rank, queued_at FROM main.vg_queue INDEXED BY vg_queue_due" \
    "   WHERE status IN ('pending', 'failed') AND scheduled_for <= ?2 AND " CLAIM_TABLES \
    "   ORDER BY " CLAIM_RANK ", queued_at LIMIT ?4)" \
    "  UNION ALL" \
    "  SELECT * FROM (SELECT id, " CLAIM_RANK ", queued_at FROM main.vg_queue" \
    "   WHERE status = 'processing' AND lease_until <= ?2 AND attempts < max_attempts AND " CLAIM_TABLES \
    "   ORDER BY 2, 3, 1 LIMIT ?4))" \
    "  ORDER BY rank, queued_at, id LIMIT ?4)" \
    " RETURNING " CLAIM_RANK ", queued_at, id"
static const char zClaimIds[] = CLAIM_UPDATE;
static const char zClaimJson[] = CLAIM_UPDATE ","
    " json_object('id', id, 'tenant_id', tenant_id, 'target_table', target_table,"
    " 'content_type', content_type, 'content_id', content_id,"
    " 'content', " VG_QUEUE_ITEM_TEXT("vg_queue.id") ","
    " 'metadata', json(metadata), 'priority', priority, 'attempts', attempts,"
    " 'lease_until', lease_until)";

/* Expired leases with no attempts left end the item: a worker died on it
** each time. */
static const char zBury[] =
    "UPDATE main.vg_queue SET status = 'dead', last_error = 'the lease ran out ' || attempts ||"
    " ' times (the worker stopped)', worker_id = NULL, lease_until = NULL, finished_at = ?1"
    " WHERE status = 'processing' AND lease_until <= ?1 AND attempts >= max_attempts";

typedef struct Claimed {
  int rank;
  double queuedAt;
  sqlite3_int64 id;
  char *zJson;
} Claimed;

static int by_claim_order(const void *x, const void *y) {
  const Claimed *a = x, *b = y;
  if (a->rank != b->rank) return a->rank - b->rank;
  if (a->queuedAt != b->queuedAt) return a->queuedAt < b->queuedAt ? -1 : 1;
  return (a->id > b->id) - (a->id < b->id);
}

static void claimed_free(Claimed *a, int n) {
  for (int i = 0; i < n; i++) sqlite3_free(a[i].zJson);
  sqlite3_free(a);
}

/* Run the claim; the claimed items go to *paOut (sorted), with their JSON
** when bJson. */
static int run_claim(sqlite3 *db, const char *zWorker, double now, double lease, int n, const char *zSkip, int bJson,
                     Claimed **paOut, int *pnOut) {
  *paOut = 0;
  *pnOut = 0;
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, zBury, -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_double(p, 1, now);
  sqlite3_step(p);
  if ((rc = sqlite3_finalize(p)) != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(db, bJson ? zClaimJson : zClaimIds, -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zWorker, -1, SQLITE_STATIC);
  sqlite3_bind_double(p, 2, now);
  sqlite3_bind_double(p, 3, lease);
  sqlite3_bind_int(p, 4, n);
  if (zSkip) sqlite3_bind_text(p, 5, zSkip, -1, SQLITE_STATIC);
  Claimed *a = sqlite3_malloc64(sizeof(Claimed) * (size_t)(n > 0 ? n : 1));
  int m = 0;
  if (a == 0) rc = SQLITE_NOMEM;
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW && m < n) {
    a[m].rank = sqlite3_column_int(p, 0);
    a[m].queuedAt = sqlite3_column_double(p, 1);
    a[m].id = sqlite3_column_int64(p, 2);
    a[m].zJson = bJson ? sqlite3_mprintf("%s", sqlite3_column_text(p, 3)) : 0;
    if (bJson && a[m].zJson == 0) rc = SQLITE_NOMEM;
    m++;
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc != SQLITE_OK) {
    claimed_free(a, m);
    return rc;
  }
  qsort(a, (size_t)m, sizeof(Claimed), by_claim_order);
  *paOut = a;
  *pnOut = m;
  return SQLITE_OK;
}

int vg_queue_claim_ids(sqlite3 *db, const char *zWorker, double now, double lease, int n, const char *zSkip,
                       sqlite3_int64 **paId, int *pnId) {
  Claimed *a = 0;
  int m = 0;
  *paId = 0;
  *pnId = 0;
  int rc = run_claim(db, zWorker, now, lease, n, zSkip, 0, &a, &m);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 *aId = sqlite3_malloc64(sizeof(sqlite3_int64) * (size_t)(m > 0 ? m : 1));
  if (aId == 0) rc = SQLITE_NOMEM;
  for (int i = 0; aId && i < m; i++) aId[i] = a[i].id;
  claimed_free(a, m);
  *paId = aId;
  *pnId = aId ? m : 0;
  return rc;
}

int vg_queue_claim_json(sqlite3 *db, const char *zWorker, double now, double lease, int n, sqlite3_str *out) {
  Claimed *a = 0;
  int m = 0;
  int rc = run_claim(db, zWorker, now, lease, n, 0, 1, &a, &m);
  if (rc != SQLITE_OK) return rc;
  sqlite3_str_appendchar(out, 1, '[');
  for (int i = 0; i < m; i++) sqlite3_str_appendf(out, "%s%s", i ? "," : "", a[i].zJson);
  sqlite3_str_appendchar(out, 1, ']');
  claimed_free(a, m);
  return SQLITE_OK;
}

/* ---- reading and finishing an item ------------------------------------- */

/* An item as complete and fail read it. */
void vg_queue_item_clear(VgQueueItem *it) {
  sqlite3_free(it->zWorker);
  sqlite3_free(it->zTenant);
  sqlite3_free(it->zTable);
  sqlite3_free(it->zType);
  sqlite3_free(it->zContentId);
  sqlite3_free(it->zContent);
  sqlite3_free(it->zMetadata);
  memset(it, 0, sizeof(*it));
}

char *vg_column_dup(sqlite3_stmt *p, int i, int *pbOom) {
  const char *z = (const char *)sqlite3_column_text(p, i);
  if (z == 0) return 0;
  /* All the bytes: a text may hold NUL (VG_TEXT_BODY). */
  size_t n = (size_t)sqlite3_column_bytes(p, i);
  char *zCopy = sqlite3_malloc64(n + 1);
  if (zCopy == 0) {
    *pbOom = 1;
    return 0;
  }
  memcpy(zCopy, z, n + 1);
  return zCopy;
}

char *vg_queue_textless(sqlite3_int64 id) {
  return sqlite3_mprintf("item %lld has no text in vg_queue_text (a done item keeps none); enqueue its text again",
                         id);
}

int vg_queue_item_read(sqlite3 *db, sqlite3_int64 id, VgQueueItem *it) {
  memset(it, 0, sizeof(*it));
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT q.status, q.attempts, q.max_attempts, q.worker_id, q.tenant_id, q.target_table,"
                              " q.content_type, q.content_id, t.content, q.metadata FROM main.vg_queue AS q"
                              " LEFT JOIN main.vg_queue_text AS t ON t.item_id = q.id AND typeof(t.content) = 'text'"
                              " WHERE q.id = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  int step = sqlite3_step(p), bOom = 0;
  if (step == SQLITE_ROW) {
    it->id = id;
    it->st.status = vg_item_status_parse((const char *)sqlite3_column_text(p, 0));
    it->st.attempts = sqlite3_column_int(p, 1);
    it->st.maxAttempts = sqlite3_column_int(p, 2);
    char **apz[] = {&it->zWorker, &it->zTenant, &it->zTable, &it->zType,
                    &it->zContentId, &it->zContent, &it->zMetadata};
    for (int i = 0; i < 7; i++) *apz[i] = vg_column_dup(p, i + 3, &bOom);
    it->nContent = sqlite3_column_bytes(p, 8);
  }
  rc = sqlite3_finalize(p);
  if (rc == SQLITE_OK && bOom) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK && step != SQLITE_ROW) rc = SQLITE_NOTFOUND;
  if (rc != SQLITE_OK) vg_queue_item_clear(it);
  return rc;
}

int vg_queue_held(sqlite3 *db, sqlite3_int64 id, const char *zWorker, int nAttempts, int *pbHeld) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT 1 FROM main.vg_queue WHERE id = ? AND status = 'processing' AND worker_id = ?"
                              " AND attempts = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  sqlite3_bind_text(p, 2, zWorker, -1, SQLITE_STATIC);
  sqlite3_bind_int(p, 3, nAttempts);
  *pbHeld = sqlite3_step(p) == SQLITE_ROW;
  return sqlite3_finalize(p);
}

/* INSERT of one vector row of item it into its table: the vector, the
** tenant in the partition key, and each other column from the item
** (content_type, content_id, chunk_index, content: the chunk's text,
** metadata: the whole metadata object; a text primary key:
** "content_type:content_id:chunk_index") or else from the metadata key of
** the column's name. */
static char *insert_sql(const VgQueueItem *it, const VgTableDef *pDef) {
  sqlite3_str *s = sqlite3_str_new(0), *v = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "INSERT INTO main.\"%w\"(", it->zTable);
  for (int i = 0; i < pDef->nCol; i++) {
    const VgColumn *c = &pDef->aCol[i];
    sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", c->zName);
    const char *zValue = "json_extract(?7, %Q)";
    if (c->kind == VG_COL_VECTOR) {
      zValue = "?1";
    } else if (c->kind == VG_COL_PARTITION) {
      zValue = "?2";
    } else if (strcmp(c->zName, "content_type") == 0) {
      zValue = "?3";
    } else if (strcmp(c->zName, "content_id") == 0) {
      zValue = "?4";
    } else if (strcmp(c->zName, "chunk_index") == 0) {
      zValue = "?5";
    } else if (strcmp(c->zName, "content") == 0) {
      zValue = "?6";
    } else if (strcmp(c->zName, "metadata") == 0) {
      zValue = "?7"; /* the whole object, for vg_search's "$." filters */
    } else if (c->bPrimaryKey && c->type == VG_TYPE_TEXT) {
      zValue = "?3 || ':' || ?4 || ':' || ?5"; /* one key per chunk, stable across re-embeddings */
    }
    char *zPath = sqlite3_mprintf("$.\"%w\"", c->zName);
    sqlite3_str_appendf(v, i ? ", " : "");
    sqlite3_str_appendf(v, zValue, zPath ? zPath : "");
    sqlite3_free(zPath);
  }
  char *zValues = sqlite3_str_finish(v);
  sqlite3_str_appendf(s, ") VALUES (%s)", zValues ? zValues : "");
  char *zSql = sqlite3_str_finish(s);
  if (zValues == 0) {
    sqlite3_free(zSql);
    return 0;
  }
  sqlite3_free(zValues);
  return zSql;
}

/* Delete the vectors an earlier version of the item stored. */
static int delete_old_vectors(sqlite3 *db, sqlite3_int64 id) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT target_table, target_rowid FROM main.vg_queue_vectors WHERE item_id = ?",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(p, 1, id);
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    const char *zTable = (const char *)sqlite3_column_text(p, 0);
    /* A table dropped since holds nothing to delete. */
    if (zTable == 0 || !vg_has_table(db, zTable, 0)) continue;
    char *zSql = sqlite3_mprintf("DELETE FROM main.\"%w\" WHERE rowid = %lld", zTable, sqlite3_column_int64(p, 1));
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  int rcFinal = sqlite3_finalize(p);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc == SQLITE_OK) {
    char *zSql = sqlite3_mprintf("DELETE FROM main.vg_queue_vectors WHERE item_id = %lld", id);
    rc = zSql ? sqlite3_exec(db, zSql, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
  }
  return rc;
}

int vg_queue_store(sqlite3 *db, const VgQueueItem *it, const VgTableDef *pDef, int nChunk, const float *aVec,
                   const int *aStart, const int *aEnd, double now) {
  int rc = delete_old_vectors(db, it->id);
  char *zSql = rc == SQLITE_OK ? insert_sql(it, pDef) : 0;
  if (rc == SQLITE_OK && zSql == 0) rc = SQLITE_NOMEM;
  sqlite3_stmt *pIns = 0, *pLink = 0;
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, zSql, -1, &pIns, 0);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db, "INSERT INTO main.vg_queue_vectors(item_id, chunk_index, target_table, target_rowid)"
                                " VALUES (?, ?, ?, ?)", -1, &pLink, 0);
  }
  size_t nBlob = sizeof(float) * (size_t)pDef->nDims;
  void *pBlob = rc == SQLITE_OK ? sqlite3_malloc64(nBlob) : 0;
  if (rc == SQLITE_OK && pBlob == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    /* What every chunk's row shares; bindings outlive sqlite3_reset. */
    sqlite3_bind_blob(pIns, 1, pBlob, (int)nBlob, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 2, it->zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 3, it->zType, -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 4, it->zContentId, -1, SQLITE_STATIC);
    if (it->zMetadata) sqlite3_bind_text(pIns, 7, it->zMetadata, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pLink, 1, it->id);
    sqlite3_bind_text(pLink, 3, it->zTable, -1, SQLITE_STATIC);
  }
  for (int k = 0; rc == SQLITE_OK && k < nChunk; k++) {
    vg_vector_to_blob(aVec + (size_t)k * (size_t)pDef->nDims, pDef->nDims, pBlob);
    sqlite3_bind_int(pIns, 5, k);
    sqlite3_bind_text(pIns, 6, it->zContent + aStart[k], aEnd[k] - aStart[k], SQLITE_STATIC);
    sqlite3_step(pIns);
    rc = sqlite3_reset(pIns);
    if (rc != SQLITE_OK) break;
    sqlite3_bind_int(pLink, 2, k);
    sqlite3_bind_int64(pLink, 4, sqlite3_last_insert_rowid(db));
    sqlite3_step(pLink);
    rc = sqlite3_reset(pLink);
  }
  sqlite3_free(pBlob);
  sqlite3_finalize(pIns);
  sqlite3_finalize(pLink);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) {
    char *zDone = sqlite3_mprintf("UPDATE main.vg_queue SET status = 'done', lease_until = NULL, last_error = NULL,"
                                  " finished_at = %!.17g WHERE id = %lld", now, it->id);
    rc = zDone ? sqlite3_exec(db, zDone, 0, 0, 0) : SQLITE_NOMEM;
    sqlite3_free(zDone);
  }
  return rc;
}

int vg_queue_record_failure(sqlite3 *db, const QueueConn *q, const VgQueueItem *it,
                            const char *zError, int *pStatus) {
  int status = vg_queue_status_after_fail(&it->st);
  double retryAt = vg_queue_now(q) + vg_queue_retry_delay(it->id, it->st.attempts, VG_QUEUE_RETRY_BASE,
                                                          VG_QUEUE_RETRY_CAP);
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "UPDATE main.vg_queue SET status = ?2, scheduled_for = ?3, last_error = ?4,"
                              " lease_until = NULL, worker_id = CASE WHEN ?2 = 'dead' THEN worker_id END,"
                              " finished_at = ?5 WHERE id = ?1",
                              -1, &p, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(p, 1, it->id);
    sqlite3_bind_text(p, 2, vg_item_status_name(status), -1, SQLITE_STATIC);
    sqlite3_bind_double(p, 3, retryAt);
    sqlite3_bind_text(p, 4, zError ? zError : "failed", -1, SQLITE_STATIC);
    sqlite3_bind_double(p, 5, vg_queue_now(q));
    sqlite3_step(p);
    rc = sqlite3_finalize(p);
  }
  *pStatus = status;
  return rc;
}

int vg_refused_by_values(int rc) {
  int primary = rc & 0xff;
  return primary == SQLITE_ERROR || primary == SQLITE_CONSTRAINT || primary == SQLITE_MISMATCH ||
         primary == SQLITE_TOOBIG || primary == SQLITE_RANGE;
}
