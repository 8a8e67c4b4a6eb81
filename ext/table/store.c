/*
** store.c — the shadow tables of a vg_hnsw table: creating, connecting
** (checking T_config against the definition), the statements the storage
** files share, partitions (T_partitions), destroy and rename.  Slots,
** chunks, the free list and links are in store_slots.c; rows, their
** auxiliary values and the row reader in store_rows.c (see table.h, store
** section, for the tables and the slot layout).
*/
#include "table/table.h"

#include <sodium.h>
#include <string.h>

static const char *const shadow_suffixes[] = {"config", "partitions", "rows", "chunks",
                                              "free"};

int vg_store_is_shadow_suffix(const char *zSuffix) {
  for (int i = 0; i < VG_T_COUNT; i++) {
    if (sqlite3_stricmp(zSuffix, shadow_suffixes[i]) == 0) return 1;
  }
  return 0;
}

const char *vg_store_table(VgStore *p, const char *zSuffix) {
  for (int i = 0; i < VG_T_COUNT; i++) {
    if (strcmp(zSuffix, shadow_suffixes[i]) == 0) return p->azTable[i];
  }
  return 0;
}

/* Copy the connection's latest error into *pzErr and return rc. */
int store_sql_error(VgStore *p, int rc, char **pzErr) {
  if (pzErr && *pzErr == 0) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  return rc;
}

int store_corrupt(VgStore *p, char **pzErr, const char *zWhat, sqlite3_int64 rowid) {
  if (pzErr && *pzErr == 0) {
    *pzErr = sqlite3_mprintf("%s: the shadow tables are corrupt: %s (rowid %lld)",
                             p->zName, zWhat, rowid);
  }
  return SQLITE_CORRUPT_VTAB;
}

static int links_bytes(const VgTableDef *pDef, int l) {
  return 4 + 8 * (l == 0 ? 2 * pDef->hnswM : pDef->hnswM);
}

/* Bytes of a slot of level class `level`. */
int store_slot_bytes(const VgTableDef *pDef, int level) {
  return VG_SLOT_FIXED + vg_tabledef_vector_bytes(pDef) + links_bytes(pDef, 0) +
         level * links_bytes(pDef, 1);
}

/* Offset within a slot of the link list of level l. */
int store_links_offset(const VgStore *p, int l) {
  return VG_SLOT_FIXED + vg_tabledef_vector_bytes(p->pDef) +
         (l == 0 ? 0 : p->nLinks0 + (l - 1) * p->nLinksUp);
}

static int exec_sql(sqlite3 *db, const char *zSql, char **pzErr) {
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  if (rc != SQLITE_OK && pzErr) {
    *pzErr = sqlite3_mprintf("%s", zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  return rc;
}

/* The column type in a STRICT shadow table. */
static const char *strict_type(vg_value_type t) {
  const char *z = vg_value_type_sql(t);
  return z ? z : "ANY";
}

static char *create_sql(const char *zSchema, const char *zName,
                        const VgTableDef *pDef) {
  const char *zPartType =
      pDef->iPartition >= 0 ? strict_type(pDef->aCol[pDef->iPartition].type) : "ANY";
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s,
                      "CREATE TABLE \"%w\".\"%w_config\"(key TEXT PRIMARY KEY, value) "
                      "WITHOUT ROWID;",
                      zSchema, zName);
  sqlite3_str_appendf(s,
                      "CREATE TABLE \"%w\".\"%w_partitions\"(id INTEGER PRIMARY KEY, "
                      "value %s UNIQUE, n_rows INTEGER NOT NULL, nonce INTEGER NOT NULL, "
                      "entry INTEGER, entry_level INTEGER) STRICT;",
                      zSchema, zName, zPartType);
  sqlite3_str_appendf(s,
                      "CREATE TABLE \"%w\".\"%w_rows\"(id INTEGER PRIMARY KEY, part "
                      "INTEGER NOT NULL, chunk INTEGER NOT NULL, slot INTEGER NOT NULL",
                      zSchema, zName);
  for (int i = 0; i < pDef->nCol; i++) {
    const VgColumn *c = &pDef->aCol[i];
    if (c->kind == VG_COL_METADATA) {
      sqlite3_str_appendf(s, ", m%d %s", c->iStore, strict_type(c->type));
    }
  }
  for (int i = 0; i < pDef->nAux; i++) sqlite3_str_appendf(s, ", a%d BLOB", i);
  /* Indexes are declared as UNIQUE constraints (made unique by id) so that
  ** their automatic names follow the table through ALTER TABLE RENAME. */
  sqlite3_str_appendall(s, ", UNIQUE(part, id)");
  for (int i = 0; i < pDef->nMeta; i++) sqlite3_str_appendf(s, ", UNIQUE(part, m%d, id)", i);
  /* The primary key: unique within a partition, and found by key alone. */
  if (pDef->iPrimaryKey >= 0) sqlite3_str_appendf(s, ", UNIQUE(m%d, part)", pDef->aCol[pDef->iPrimaryKey].iStore);
  sqlite3_str_appendall(s, ") STRICT;");
  sqlite3_str_appendf(s,
                      "CREATE TABLE \"%w\".\"%w_chunks\"(id INTEGER PRIMARY KEY, part "
                      "INTEGER NOT NULL, level INTEGER NOT NULL, pad BLOB NOT NULL, slots "
                      "BLOB NOT NULL, UNIQUE(part, id));",
                      zSchema, zName);
  sqlite3_str_appendf(s,
                      "CREATE TABLE \"%w\".\"%w_free\"(part INTEGER NOT NULL, level "
                      "INTEGER NOT NULL, chunk INTEGER NOT NULL, slot INTEGER NOT NULL, "
                      "PRIMARY KEY(part, level, chunk, slot)) WITHOUT ROWID;",
                      zSchema, zName);
  sqlite3_str_appendf(s,
                      "INSERT INTO \"%w\".\"%w_config\"(key, value) VALUES "
                      "('format_version', %d), ('dims', %d), ('metric', %Q), "
                      "('hnsw_m', %d), ('slot_bytes', %d), ('created_by', 'vecguard %s');",
                      zSchema, zName, VG_FORMAT_VERSION, pDef->nDims,
                      vg_metric_name(pDef->metric), pDef->hnswM, store_slot_bytes(pDef, 0),
                      VG_VERSION);
  /* Tables of float32 vectors have no such entry (as before int8 and bit). */
  if (pDef->element != VG_ELEMENT_FLOAT32) {
    sqlite3_str_appendf(s, "INSERT INTO \"%w\".\"%w_config\"(key, value) VALUES ('element', %Q);",
                        zSchema, zName, vg_element_name(pDef->element));
  }
  return sqlite3_str_finish(s);
}

int vg_store_create(sqlite3 *db, const char *zSchema, const char *zName,
                    const VgTableDef *pDef, char **pzErr) {
  char *zSql = create_sql(zSchema, zName, pDef);
  if (zSql == 0) return SQLITE_NOMEM;
  int rc = exec_sql(db, zSql, pzErr);
  sqlite3_free(zSql);
  return rc;
}

/* Compare the settings recorded in T_config with the table definition. */
static int check_format(VgStore *p, char **pzErr) {
  static const char *const keys[] = {"format_version", "dims", "metric", "hnsw_m",
                                     "slot_bytes", "element"};
  enum { N_KEYS = sizeof(keys) / sizeof(keys[0]) };
  char *zWant[N_KEYS];
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT value FROM %s WHERE key = ?1", p->azTable[VG_T_CONFIG]);
  if (zSql == 0) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s: cannot read %s: %s", p->zName, p->azTable[VG_T_CONFIG],
                             sqlite3_errmsg(p->db));
    return rc;
  }
  zWant[0] = sqlite3_mprintf("%d", VG_FORMAT_VERSION);
  zWant[1] = sqlite3_mprintf("%d", p->pDef->nDims);
  zWant[2] = sqlite3_mprintf("%s", vg_metric_name(p->pDef->metric));
  zWant[3] = sqlite3_mprintf("%d", p->pDef->hnswM);
  zWant[4] = sqlite3_mprintf("%d", store_slot_bytes(p->pDef, 0));
  zWant[5] = sqlite3_mprintf("%s", vg_element_name(p->pDef->element));
  /* A float32 table has no element entry. */
  int nKeys = p->pDef->element == VG_ELEMENT_FLOAT32 ? N_KEYS - 1 : N_KEYS;
  for (int i = 0; rc == SQLITE_OK && i < nKeys; i++) {
    if (zWant[i] == 0) {
      rc = SQLITE_NOMEM;
      break;
    }
    sqlite3_bind_text(pStmt, 1, keys[i], -1, SQLITE_STATIC);
    int step = sqlite3_step(pStmt);
    const char *zGot = step == SQLITE_ROW ? (const char *)sqlite3_column_text(pStmt, 0) : 0;
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
      rc = store_sql_error(p, step, pzErr);
    } else if (zGot == 0) {
      *pzErr = sqlite3_mprintf("%s: %s has no %s entry", p->zName, p->azTable[VG_T_CONFIG],
                               keys[i]);
      rc = SQLITE_CORRUPT_VTAB;
    } else if (i == 0 && sqlite3_column_int64(pStmt, 0) > VG_FORMAT_VERSION) {
      *pzErr = sqlite3_mprintf(
          "%s was written in storage format %s by a newer vecguard; this build (%s) reads "
          "format %d",
          p->zName, zGot, VG_VERSION, VG_FORMAT_VERSION);
      rc = SQLITE_ERROR;
    } else if (strcmp(zGot, zWant[i]) != 0) {
      *pzErr = sqlite3_mprintf("%s: %s says %s=%s, the table definition needs %s", p->zName,
                               p->azTable[VG_T_CONFIG], keys[i], zGot, zWant[i]);
      rc = SQLITE_CORRUPT_VTAB;
    }
    sqlite3_reset(pStmt);
  }
  sqlite3_finalize(pStmt);
  for (int i = 0; i < N_KEYS; i++) sqlite3_free(zWant[i]);
  return rc;
}

static void store_free(VgStore *p) {
  if (p == 0) return;
  vg_store_end_write(p);
  for (int i = 0; i < VG_S_COUNT; i++) sqlite3_finalize(p->aStmt[i]);
  for (int i = 0; i < VG_T_COUNT; i++) sqlite3_free(p->azTable[i]);
  sqlite3_free(p->zChunkTable);
  sqlite3_free(p->zSchema);
  sqlite3_free(p->zName);
  sqlite3_free(p);
}

static int set_names(VgStore *p, const char *zName) {
  vg_store_end_write(p);
  for (int i = 0; i < VG_S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  char *zNew = sqlite3_mprintf("%s", zName);
  if (zNew == 0) return SQLITE_NOMEM;
  sqlite3_free(p->zName);
  p->zName = zNew;
  for (int i = 0; i < VG_T_COUNT; i++) {
    sqlite3_free(p->azTable[i]);
    p->azTable[i] = sqlite3_mprintf("\"%w\".\"%w_%s\"", p->zSchema, zName,
                                    shadow_suffixes[i]);
    if (p->azTable[i] == 0) return SQLITE_NOMEM;
  }
  sqlite3_free(p->zChunkTable);
  p->zChunkTable = sqlite3_mprintf("%s_chunks", zName);
  return p->zChunkTable ? SQLITE_OK : SQLITE_NOMEM;
}

int vg_store_connect(sqlite3 *db, const char *zSchema, const char *zName,
                     const VgTableDef *pDef, VgStore **ppStore, char **pzErr) {
  *ppStore = 0;
  VgStore *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pDef = pDef;
  p->nLinks0 = links_bytes(pDef, 0);
  p->nLinksUp = links_bytes(pDef, 1);
  p->zSchema = sqlite3_mprintf("%s", zSchema);
  int rc = p->zSchema ? set_names(p, zName) : SQLITE_NOMEM;
  if (rc == SQLITE_OK) rc = check_format(p, pzErr);
  if (rc != SQLITE_OK) {
    store_free(p);
    return rc;
  }
  *ppStore = p;
  return SQLITE_OK;
}

void vg_store_disconnect(VgStore *p) { store_free(p); }

/* The SQL of statement e; from sqlite3_malloc64(). */
static char *stmt_sql(VgStore *p, int e) {
  const char *P = p->azTable[VG_T_PARTITIONS], *R = p->azTable[VG_T_ROWS];
  const char *C = p->azTable[VG_T_CHUNKS], *F = p->azTable[VG_T_FREE];
  const VgTableDef *d = p->pDef;
  switch (e) {
    case VG_S_PART_FIND:
      return sqlite3_mprintf(
          "SELECT id, nonce, n_rows, entry, entry_level FROM %s WHERE value IS ?1", P);
    case VG_S_PART_BY_ID:
      return sqlite3_mprintf(
          "SELECT id, nonce, n_rows, entry, entry_level FROM %s WHERE id = ?1", P);
    case VG_S_PART_NEW:
      return sqlite3_mprintf("INSERT INTO %s(value, n_rows, nonce) VALUES (?1, 0, 0)", P);
    case VG_S_PART_SET:
      return sqlite3_mprintf(
          "UPDATE %s SET n_rows = ?2, nonce = ?3, entry = ?4, entry_level = ?5 WHERE id = ?1",
          P);
    case VG_S_PART_DROP:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", P);
    case VG_S_PART_NEXT:
      return sqlite3_mprintf("SELECT id FROM %s WHERE id >= ?1 ORDER BY id LIMIT 1", P);
    case VG_S_FREE_TAKE:
      return sqlite3_mprintf(
          "SELECT chunk, slot FROM %s WHERE part = ?1 AND level = ?2 LIMIT 1", F);
    case VG_S_FREE_DEL:
      return sqlite3_mprintf(
          "DELETE FROM %s WHERE part = ?1 AND level = ?4 AND chunk = ?2 AND slot = ?3", F);
    case VG_S_FREE_ADD:
      return sqlite3_mprintf(
          "INSERT INTO %s(part, chunk, slot, level) VALUES (?1, ?2, ?3, ?4)", F);
    case VG_S_FREE_ADD_RANGE:
      return sqlite3_mprintf(
          "WITH RECURSIVE s(i) AS (SELECT ?3 UNION ALL SELECT i + 1 FROM s WHERE i < ?4) "
          "INSERT INTO %s(part, chunk, slot, level) SELECT ?1, ?2, i, ?5 FROM s",
          F);
    case VG_S_FREE_COUNT:
      return sqlite3_mprintf(
          "SELECT count(*) FROM %s WHERE part = ?1 AND level = ?3 AND chunk = ?2", F);
    case VG_S_FREE_DROP_CHUNK:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1 AND level = ?3 AND chunk = ?2",
                             F);
    case VG_S_CHUNK_NEW:
      return sqlite3_mprintf(
          "INSERT INTO %s(part, pad, slots, level) VALUES (?1, zeroblob(?2), zeroblob(?3), "
          "?4)",
          C);
    case VG_S_CHUNK_DROP:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", C);
    case VG_S_CHUNK_LIST:
      return sqlite3_mprintf("SELECT id, level FROM %s WHERE part = ?1 ORDER BY id", C);
    case VG_S_PART_COUNTS:
      return sqlite3_mprintf(
          "SELECT (SELECT n_rows FROM %s WHERE id = ?1), "
          "(SELECT count(*) FROM %s WHERE part = ?1)", P, R);
    case VG_S_ROW_LOCATE:
      return sqlite3_mprintf(
          "SELECT r.part, r.chunk, r.slot, c.level FROM %s r LEFT JOIN %s c ON c.id = r.chunk "
          "WHERE r.id = ?1",
          R, C);
    case VG_S_ROW_INSERT: {
      sqlite3_str *s = sqlite3_str_new(0);
      sqlite3_str_appendf(s, "INSERT INTO %s(id, part, chunk, slot", R);
      for (int i = 0; i < d->nMeta; i++) sqlite3_str_appendf(s, ", m%d", i);
      for (int i = 0; i < d->nAux; i++) sqlite3_str_appendf(s, ", a%d", i);
      sqlite3_str_appendall(s, ") VALUES (?1, ?2, ?3, ?4");
      for (int i = 0; i < d->nMeta + d->nAux; i++) sqlite3_str_appendf(s, ", ?%d", 5 + i);
      sqlite3_str_appendall(s, ")");
      return sqlite3_str_finish(s);
    }
    case VG_S_ROW_UPDATE: {
      sqlite3_str *s = sqlite3_str_new(0);
      sqlite3_str_appendf(s, "UPDATE %s SET part = ?2, chunk = ?3, slot = ?4", R);
      for (int i = 0; i < d->nMeta; i++) sqlite3_str_appendf(s, ", m%d = ?%d", i, 5 + i);
      for (int i = 0; i < d->nAux; i++) {
        sqlite3_str_appendf(s, ", a%d = ?%d", i, 5 + d->nMeta + i);
      }
      sqlite3_str_appendall(s, " WHERE id = ?1");
      return sqlite3_str_finish(s);
    }
    case VG_S_ROW_DELETE:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", R);
    case VG_S_ROW_MAX:
      return sqlite3_mprintf("SELECT max(id) FROM %s", R);
    case VG_S_ROW_BY_KEY:
      return d->iPrimaryKey < 0 ? 0
                                : sqlite3_mprintf("SELECT id FROM %s WHERE m%d = ?1 AND part = "
                                                  "(SELECT id FROM %s WHERE value IS ?2)",
                                                  R, d->aCol[d->iPrimaryKey].iStore, P);
    case VG_S_PAGE_SIZE:
      return sqlite3_mprintf("PRAGMA \"%w\".page_size", p->zSchema);
    default:
      return 0;
  }
}

/* Statement e, prepared on first use and kept; reset before it is returned. */
int store_stmt(VgStore *p, int e, sqlite3_stmt **ppStmt, char **pzErr) {
  if (p->aStmt[e] == 0) {
    char *zSql = stmt_sql(p, e);
    if (zSql == 0) return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                &p->aStmt[e], 0);
    sqlite3_free(zSql);
    if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  }
  *ppStmt = p->aStmt[e];
  return SQLITE_OK;
}

/* Run a statement that returns no row of interest, then reset it. */
int store_run(VgStore *p, sqlite3_stmt *pStmt, char **pzErr) {
  int rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK) {
    store_sql_error(p, rc, pzErr);
    sqlite3_reset(pStmt);
    return rc;
  }
  rc = sqlite3_reset(pStmt);
  return rc == SQLITE_OK ? SQLITE_OK : store_sql_error(p, rc, pzErr);
}

/* Step a query expected to give at most one row; SQLITE_ROW or SQLITE_DONE.
** The caller reads the row and resets the statement. */
int store_step(VgStore *p, sqlite3_stmt *pStmt, char **pzErr) {
  int rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
  store_sql_error(p, rc, pzErr);
  sqlite3_reset(pStmt);
  return rc;
}

int store_step_by_id(VgStore *p, int e, sqlite3_int64 id, sqlite3_stmt **ppStmt, char **pzErr) {
  int rc = store_stmt(p, e, ppStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(*ppStmt, 1, id);
  return store_step(p, *ppStmt, pzErr);
}

static sqlite3_int64 new_nonce(void) {
  sqlite3_int64 n;
  do {
    randombytes_buf(&n, sizeof n);
  } while (n == 0);
  return n;
}

/* ---- partitions -------------------------------------------------------- */

static void part_from_row(sqlite3_stmt *pStmt, VgPart *pPart) {
  pPart->id = sqlite3_column_int64(pStmt, 0);
  pPart->nonce = sqlite3_column_int64(pStmt, 1);
  pPart->nRows = sqlite3_column_int64(pStmt, 2);
  pPart->bEntry = sqlite3_column_type(pStmt, 3) != SQLITE_NULL;
  pPart->entry = sqlite3_column_int64(pStmt, 3);
  pPart->entryLevel = sqlite3_column_int(pStmt, 4);
}

int vg_store_part_find(VgStore *p, const VgValue *pKey, int bCreate, VgPart *pPart,
                       int *pbFound, char **pzErr) {
  sqlite3_stmt *pStmt;
  memset(pPart, 0, sizeof(*pPart));
  int rc = store_stmt(p, VG_S_PART_FIND, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_value_bind(pStmt, 1, pKey);
  rc = store_step(p, pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pbFound = (rc == SQLITE_ROW);
  if (*pbFound) part_from_row(pStmt, pPart);
  sqlite3_reset(pStmt);
  if (*pbFound || !bCreate) return SQLITE_OK;
  rc = store_stmt(p, VG_S_PART_NEW, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_value_bind(pStmt, 1, pKey);
  rc = store_run(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  pPart->id = sqlite3_last_insert_rowid(p->db);
  return SQLITE_OK;
}

int vg_store_part_get(VgStore *p, sqlite3_int64 id, VgPart *pPart, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_step_by_id(p, VG_S_PART_BY_ID, id, &pStmt, pzErr);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(pStmt);
    return store_corrupt(p, pzErr, "a row's partition is missing", id);
  }
  if (rc != SQLITE_ROW) return rc;
  part_from_row(pStmt, pPart);
  sqlite3_reset(pStmt);
  return SQLITE_OK;
}

int vg_store_part_save(VgStore *p, const VgPart *pPart, VgPartChange *pChange,
                       char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc;
  pChange->part = pPart->id;
  pChange->nonceBefore = pPart->nonce;
  if (pPart->nRows == 0) {
    rc = store_stmt(p, VG_S_PART_DROP, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, pPart->id);
    pChange->nonceAfter = 0;
    return store_run(p, pStmt, pzErr);
  }
  rc = store_stmt(p, VG_S_PART_SET, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  pChange->nonceAfter = new_nonce();
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int64(pStmt, 2, pPart->nRows);
  sqlite3_bind_int64(pStmt, 3, pChange->nonceAfter);
  if (pPart->bEntry) {
    sqlite3_bind_int64(pStmt, 4, pPart->entry);
    sqlite3_bind_int(pStmt, 5, pPart->entryLevel);
  } else {
    sqlite3_bind_null(pStmt, 4);
    sqlite3_bind_null(pStmt, 5);
  }
  return store_run(p, pStmt, pzErr);
}

int vg_store_destroy(VgStore *p, char **pzErr) {
  vg_store_end_write(p);
  for (int i = 0; i < VG_S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  int rc = store_erase_slots(p, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_str *s = sqlite3_str_new(0);
  for (int i = 0; i < VG_T_COUNT; i++) {
    sqlite3_str_appendf(s, "DROP TABLE IF EXISTS %s;", p->azTable[i]);
  }
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  rc = exec_sql(p->db, zSql, pzErr);
  sqlite3_free(zSql);
  return rc;
}

int vg_store_rename(VgStore *p, const char *zNewName, char **pzErr) {
  sqlite3_str *s = sqlite3_str_new(0);
  for (int i = 0; i < VG_T_COUNT; i++) {
    sqlite3_str_appendf(s, "ALTER TABLE %s RENAME TO \"%w_%s\";", p->azTable[i],
                        zNewName, shadow_suffixes[i]);
  }
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  for (int i = 0; i < VG_S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  int rc = exec_sql(p->db, zSql, pzErr);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) rc = set_names(p, zNewName);
  return rc;
}

/* ---- what vg_hnsw_check reads (hnsw_check.c) -------------------------- */

int vg_store_read_def(sqlite3 *db, const char *zSchema, const char *zName, VgTableDef *pDef,
                      char **pzErr) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf(
      "SELECT (SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'dims'), "
      "(SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'metric'), "
      "(SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'hnsw_m'), "
      "(SELECT value FROM \"%w\".\"%w_config\" WHERE key = 'element')",
      zSchema, zName, zSchema, zName, zSchema, zName, zSchema, zName);
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
    const char *zElement = (const char *)sqlite3_column_text(pStmt, 3);
    pDef->iVector = pDef->iPartition = pDef->iFulltext = pDef->iPrimaryKey = -1;
    int bElementOk = 1;
    if (zElement && strcmp(zElement, "int8") == 0) {
      pDef->element = VG_ELEMENT_INT8;
    } else if (zElement && strcmp(zElement, "bit") == 0) {
      pDef->element = VG_ELEMENT_BIT;
    } else {
      bElementOk = zElement == 0;
    }
    if (zMetric == 0 || vg_metric_parse(zMetric, -1, &pDef->metric) != SQLITE_OK || !bElementOk ||
        !vg_metric_allowed(pDef->element, pDef->metric) ||
        (pDef->element == VG_ELEMENT_BIT && pDef->nDims % 8 != 0) ||
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

int vg_store_part_next(VgStore *p, int bFirst, sqlite3_int64 after, sqlite3_int64 *pId) {
  if (!bFirst && after == INT64_MAX) return SQLITE_DONE;
  sqlite3_stmt *pStmt;
  int rc = store_step_by_id(p, VG_S_PART_NEXT, bFirst ? INT64_MIN : after + 1, &pStmt, 0);
  if (rc == SQLITE_ROW) *pId = sqlite3_column_int64(pStmt, 0);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) sqlite3_reset(pStmt);
  return rc;
}
