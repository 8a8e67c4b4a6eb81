/*
** store.c — shadow tables, slots and row reading for vg_hnsw (see table.h, store section).
**
** Slot layout (little-endian).  A node of HNSW level L lives in a slot of
** class L, held by chunks of that class:
**   [0,4)    "VGS2" when the slot holds a row, zero when free
**   [4]      L, the node's level
**   [5,8)    zero
**   [8,16)   rowid
**   [16,48)  the row's key for its auxiliary values
**   [48,..)  the vector, float32 (4*nDims bytes)
**   then one link list per level 0..L: a uint32 count and room for the
**   level's capacity of int64 rowids (2M at level 0, M above); entries past
**   the count are zero.
** Links are rowids, so a stored graph needs no renumbering, and they sit in
** the slot, so rewriting a list in place erases the rowids it dropped.
*/
#include "table/table.h"

#include <sodium.h>
#include <string.h>

#include "vector/vector.h"

#define VG_SLOT_MAGIC "VGS2"
#define VG_SLOT_LEVEL 4
#define VG_SLOT_ROWID 8
#define VG_SLOT_KEY 16
#define VG_SLOT_VECTOR 48
#define VG_SLOT_FIXED 48
#define VG_KEY_BYTES 32

/* Columns of the row reader's query before the metadata values. */
#define READER_COL_META 6

/* Chunks start small so that a tenant with three rows does not own a large
** chunk, and double up to this many bytes of slots. */
#define VG_CHUNK_MIN_SLOTS 4
#define VG_CHUNK_MAX_BYTES (128 * 1024)

/* Tags that start an auxiliary value's plaintext. */
#define AUX_INTEGER 'i'
#define AUX_REAL 'r'
#define AUX_TEXT 't'
#define AUX_BLOB 'b'

static const char *const shadow_suffixes[] = {"config", "partitions", "rows", "chunks",
                                              "free"};
enum { T_CONFIG, T_PARTITIONS, T_ROWS, T_CHUNKS, T_FREE, T_COUNT };

enum {
  S_PART_FIND,
  S_PART_BY_ID,
  S_PART_NEW,
  S_PART_SET,
  S_PART_DROP,
  S_FREE_TAKE,
  S_FREE_DEL,
  S_FREE_ADD,
  S_FREE_ADD_RANGE,
  S_FREE_COUNT,
  S_FREE_DROP_CHUNK,
  S_CHUNK_NEW,
  S_CHUNK_DROP,
  S_CHUNK_LIST,
  S_PART_COUNTS,
  S_ROW_LOCATE,
  S_ROW_INSERT,
  S_ROW_UPDATE,
  S_ROW_DELETE,
  S_ROW_MAX,
  S_PAGE_SIZE,
  S_COUNT
};

struct VgStore {
  sqlite3 *db;
  char *zSchema;
  char *zName;
  const VgTableDef *pDef; /* owned by the virtual table */
  int nLinks0, nLinksUp;  /* bytes of a link list at level 0 and above */
  sqlite3_blob *pWrite;   /* write handle on T_chunks.slots, during a write */
  char *azTable[T_COUNT];  /* quoted, schema-qualified names */
  char *zChunkTable;       /* T_chunks unquoted, for sqlite3_blob_open() */
  sqlite3_stmt *aStmt[S_COUNT];
};

struct VgRowReader {
  VgStore *pStore;
  sqlite3_stmt *pRow;   /* the row of T_rows joined with its partition */
  int bRow;             /* pRow is positioned on a row */
  sqlite3_int64 rowid;
  sqlite3_blob *pBlob;  /* read handle on T_chunks.slots */
  unsigned char *aSlot; /* the current row's slot, once read */
  int bSlot;
  unsigned char *aPlain;  /* decrypted auxiliary values, back to back */
  sqlite3_int64 nPlain;
  VgValue *aAux;
  int bAux;
};

int vg_store_is_shadow_suffix(const char *zSuffix) {
  for (int i = 0; i < T_COUNT; i++) {
    if (sqlite3_stricmp(zSuffix, shadow_suffixes[i]) == 0) return 1;
  }
  return 0;
}

const char *vg_store_table(VgStore *p, const char *zSuffix) {
  for (int i = 0; i < T_COUNT; i++) {
    if (strcmp(zSuffix, shadow_suffixes[i]) == 0) return p->azTable[i];
  }
  return 0;
}

/* Copy the connection's latest error into *pzErr and return rc. */
static int sql_error(VgStore *p, int rc, char **pzErr) {
  if (pzErr && *pzErr == 0) {
    *pzErr = sqlite3_mprintf("%s", sqlite3_errmsg(p->db));
  }
  return rc;
}

static int corrupt(VgStore *p, char **pzErr, const char *zWhat, sqlite3_int64 rowid) {
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
static int slot_bytes(const VgTableDef *pDef, int level) {
  return VG_SLOT_FIXED + 4 * pDef->nDims + links_bytes(pDef, 0) + level * links_bytes(pDef, 1);
}

/* Offset within a slot of the link list of level l. */
static int links_offset(const VgStore *p, int l) {
  return VG_SLOT_FIXED + 4 * p->pDef->nDims + (l == 0 ? 0 : p->nLinks0 + (l - 1) * p->nLinksUp);
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
                      vg_metric_name(pDef->metric), pDef->hnswM, slot_bytes(pDef, 0),
                      VG_VERSION);
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
                                     "slot_bytes"};
  enum { N_KEYS = sizeof(keys) / sizeof(keys[0]) };
  char *zWant[N_KEYS];
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT value FROM %s WHERE key = ?1", p->azTable[T_CONFIG]);
  if (zSql == 0) return SQLITE_NOMEM;
  int rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("%s: cannot read %s: %s", p->zName, p->azTable[T_CONFIG],
                             sqlite3_errmsg(p->db));
    return rc;
  }
  zWant[0] = sqlite3_mprintf("%d", VG_FORMAT_VERSION);
  zWant[1] = sqlite3_mprintf("%d", p->pDef->nDims);
  zWant[2] = sqlite3_mprintf("%s", vg_metric_name(p->pDef->metric));
  zWant[3] = sqlite3_mprintf("%d", p->pDef->hnswM);
  zWant[4] = sqlite3_mprintf("%d", slot_bytes(p->pDef, 0));
  for (int i = 0; rc == SQLITE_OK && i < N_KEYS; i++) {
    if (zWant[i] == 0) {
      rc = SQLITE_NOMEM;
      break;
    }
    sqlite3_bind_text(pStmt, 1, keys[i], -1, SQLITE_STATIC);
    int step = sqlite3_step(pStmt);
    const char *zGot = step == SQLITE_ROW ? (const char *)sqlite3_column_text(pStmt, 0) : 0;
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
      rc = sql_error(p, step, pzErr);
    } else if (zGot == 0) {
      *pzErr = sqlite3_mprintf("%s: %s has no %s entry", p->zName, p->azTable[T_CONFIG],
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
                               p->azTable[T_CONFIG], keys[i], zGot, zWant[i]);
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
  for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(p->aStmt[i]);
  for (int i = 0; i < T_COUNT; i++) sqlite3_free(p->azTable[i]);
  sqlite3_free(p->zChunkTable);
  sqlite3_free(p->zSchema);
  sqlite3_free(p->zName);
  sqlite3_free(p);
}

static int set_names(VgStore *p, const char *zName) {
  vg_store_end_write(p);
  for (int i = 0; i < S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  char *zNew = sqlite3_mprintf("%s", zName);
  if (zNew == 0) return SQLITE_NOMEM;
  sqlite3_free(p->zName);
  p->zName = zNew;
  for (int i = 0; i < T_COUNT; i++) {
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
  const char *P = p->azTable[T_PARTITIONS], *R = p->azTable[T_ROWS];
  const char *C = p->azTable[T_CHUNKS], *F = p->azTable[T_FREE];
  const VgTableDef *d = p->pDef;
  switch (e) {
    case S_PART_FIND:
      return sqlite3_mprintf(
          "SELECT id, nonce, n_rows, entry, entry_level FROM %s WHERE value IS ?1", P);
    case S_PART_BY_ID:
      return sqlite3_mprintf(
          "SELECT id, nonce, n_rows, entry, entry_level FROM %s WHERE id = ?1", P);
    case S_PART_NEW:
      return sqlite3_mprintf("INSERT INTO %s(value, n_rows, nonce) VALUES (?1, 0, 0)", P);
    case S_PART_SET:
      return sqlite3_mprintf(
          "UPDATE %s SET n_rows = ?2, nonce = ?3, entry = ?4, entry_level = ?5 WHERE id = ?1",
          P);
    case S_PART_DROP:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", P);
    case S_FREE_TAKE:
      return sqlite3_mprintf(
          "SELECT chunk, slot FROM %s WHERE part = ?1 AND level = ?2 LIMIT 1", F);
    case S_FREE_DEL:
      return sqlite3_mprintf(
          "DELETE FROM %s WHERE part = ?1 AND level = ?4 AND chunk = ?2 AND slot = ?3", F);
    case S_FREE_ADD:
      return sqlite3_mprintf(
          "INSERT INTO %s(part, chunk, slot, level) VALUES (?1, ?2, ?3, ?4)", F);
    case S_FREE_ADD_RANGE:
      return sqlite3_mprintf(
          "WITH RECURSIVE s(i) AS (SELECT ?3 UNION ALL SELECT i + 1 FROM s WHERE i < ?4) "
          "INSERT INTO %s(part, chunk, slot, level) SELECT ?1, ?2, i, ?5 FROM s",
          F);
    case S_FREE_COUNT:
      return sqlite3_mprintf(
          "SELECT count(*) FROM %s WHERE part = ?1 AND level = ?3 AND chunk = ?2", F);
    case S_FREE_DROP_CHUNK:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1 AND level = ?3 AND chunk = ?2",
                             F);
    case S_CHUNK_NEW:
      return sqlite3_mprintf(
          "INSERT INTO %s(part, pad, slots, level) VALUES (?1, zeroblob(?2), zeroblob(?3), "
          "?4)",
          C);
    case S_CHUNK_DROP:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", C);
    case S_CHUNK_LIST:
      return sqlite3_mprintf("SELECT id, level FROM %s WHERE part = ?1 ORDER BY id", C);
    case S_PART_COUNTS:
      return sqlite3_mprintf(
          "SELECT (SELECT n_rows FROM %s WHERE id = ?1), "
          "(SELECT count(*) FROM %s WHERE part = ?1)", P, R);
    case S_ROW_LOCATE:
      return sqlite3_mprintf(
          "SELECT r.part, r.chunk, r.slot, c.level FROM %s r LEFT JOIN %s c ON c.id = r.chunk "
          "WHERE r.id = ?1",
          R, C);
    case S_ROW_INSERT: {
      sqlite3_str *s = sqlite3_str_new(0);
      sqlite3_str_appendf(s, "INSERT INTO %s(id, part, chunk, slot", R);
      for (int i = 0; i < d->nMeta; i++) sqlite3_str_appendf(s, ", m%d", i);
      for (int i = 0; i < d->nAux; i++) sqlite3_str_appendf(s, ", a%d", i);
      sqlite3_str_appendall(s, ") VALUES (?1, ?2, ?3, ?4");
      for (int i = 0; i < d->nMeta + d->nAux; i++) sqlite3_str_appendf(s, ", ?%d", 5 + i);
      sqlite3_str_appendall(s, ")");
      return sqlite3_str_finish(s);
    }
    case S_ROW_UPDATE: {
      sqlite3_str *s = sqlite3_str_new(0);
      sqlite3_str_appendf(s, "UPDATE %s SET part = ?2, chunk = ?3, slot = ?4", R);
      for (int i = 0; i < d->nMeta; i++) sqlite3_str_appendf(s, ", m%d = ?%d", i, 5 + i);
      for (int i = 0; i < d->nAux; i++) {
        sqlite3_str_appendf(s, ", a%d = ?%d", i, 5 + d->nMeta + i);
      }
      sqlite3_str_appendall(s, " WHERE id = ?1");
      return sqlite3_str_finish(s);
    }
    case S_ROW_DELETE:
      return sqlite3_mprintf("DELETE FROM %s WHERE id = ?1", R);
    case S_ROW_MAX:
      return sqlite3_mprintf("SELECT max(id) FROM %s", R);
    case S_PAGE_SIZE:
      return sqlite3_mprintf("PRAGMA \"%w\".page_size", p->zSchema);
    default:
      return 0;
  }
}

/* Statement e, prepared on first use and kept; reset before it is returned. */
static int get_stmt(VgStore *p, int e, sqlite3_stmt **ppStmt, char **pzErr) {
  if (p->aStmt[e] == 0) {
    char *zSql = stmt_sql(p, e);
    if (zSql == 0) return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT,
                                &p->aStmt[e], 0);
    sqlite3_free(zSql);
    if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  }
  *ppStmt = p->aStmt[e];
  return SQLITE_OK;
}

/* Run a statement that returns no row of interest, then reset it. */
static int run_stmt(VgStore *p, sqlite3_stmt *pStmt, char **pzErr) {
  int rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK) {
    sql_error(p, rc, pzErr);
    sqlite3_reset(pStmt);
    return rc;
  }
  rc = sqlite3_reset(pStmt);
  return rc == SQLITE_OK ? SQLITE_OK : sql_error(p, rc, pzErr);
}

/* Step a query expected to give at most one row; SQLITE_ROW or SQLITE_DONE.
** The caller reads the row and resets the statement. */
static int step_query(VgStore *p, sqlite3_stmt *pStmt, char **pzErr) {
  int rc = sqlite3_step(pStmt);
  if (rc == SQLITE_ROW || rc == SQLITE_DONE) return rc;
  sql_error(p, rc, pzErr);
  sqlite3_reset(pStmt);
  return rc;
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
  int rc = get_stmt(p, S_PART_FIND, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_value_bind(pStmt, 1, pKey);
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pbFound = (rc == SQLITE_ROW);
  if (*pbFound) part_from_row(pStmt, pPart);
  sqlite3_reset(pStmt);
  if (*pbFound || !bCreate) return SQLITE_OK;
  rc = get_stmt(p, S_PART_NEW, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  vg_value_bind(pStmt, 1, pKey);
  rc = run_stmt(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  pPart->id = sqlite3_last_insert_rowid(p->db);
  return SQLITE_OK;
}

int vg_store_part_get(VgStore *p, sqlite3_int64 id, VgPart *pPart, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_PART_BY_ID, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, id);
  rc = step_query(p, pStmt, pzErr);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(pStmt);
    return corrupt(p, pzErr, "a row's partition is missing", id);
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
    rc = get_stmt(p, S_PART_DROP, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, pPart->id);
    pChange->nonceAfter = 0;
    return run_stmt(p, pStmt, pzErr);
  }
  rc = get_stmt(p, S_PART_SET, &pStmt, pzErr);
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
  return run_stmt(p, pStmt, pzErr);
}

/* ---- slots ------------------------------------------------------------- */

sqlite3_int64 vg_slot_tag(const VgSlot *pSlot) {
  return pSlot->chunk * VG_SLOT_TAG_SLOTS + pSlot->iSlot;
}

void vg_slot_from_tag(sqlite3_int64 tag, int level, VgSlot *pSlot) {
  pSlot->chunk = tag / VG_SLOT_TAG_SLOTS;
  pSlot->iSlot = (int)(tag % VG_SLOT_TAG_SLOTS);
  pSlot->level = level;
}

static int page_size(VgStore *p, int *pnPage, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_PAGE_SIZE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pnPage = rc == SQLITE_ROW ? sqlite3_column_int(pStmt, 0) : 65536;
  sqlite3_reset(pStmt);
  return SQLITE_OK;
}

/* Slots in a new chunk of the given level: small for a small partition,
** doubling with its expected number of nodes at that level. */
static int chunk_capacity(VgStore *p, sqlite3_int64 nRows, int level) {
  int nMax = VG_CHUNK_MAX_BYTES / slot_bytes(p->pDef, level);
  if (nMax < 1) nMax = 1;
  for (int l = 0; l < level; l++) nRows /= p->pDef->hnswM;
  int n = VG_CHUNK_MIN_SLOTS < nMax ? VG_CHUNK_MIN_SLOTS : nMax;
  while (n < nRows && n * 2 <= nMax) n *= 2;
  return n;
}

/* Add a chunk of the given level to partition pPart and put all but its
** first slot on the free list; the first slot is returned for use. */
static int chunk_new(VgStore *p, const VgPart *pPart, int level, sqlite3_int64 *pChunk,
                     char **pzErr) {
  int nPage = 0;
  int rc = page_size(p, &nPage, pzErr);
  if (rc != SQLITE_OK) return rc;
  int nSlots = chunk_capacity(p, pPart->nRows, level);
  sqlite3_stmt *pStmt;
  rc = get_stmt(p, S_CHUNK_NEW, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int(pStmt, 2, nPage - 35); /* see table.h, store section: slots live on overflow pages */
  sqlite3_bind_int64(pStmt, 3, (sqlite3_int64)nSlots * slot_bytes(p->pDef, level));
  sqlite3_bind_int(pStmt, 4, level);
  rc = run_stmt(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  *pChunk = sqlite3_last_insert_rowid(p->db);
  if (nSlots > 1) {
    rc = get_stmt(p, S_FREE_ADD_RANGE, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, pPart->id);
    sqlite3_bind_int64(pStmt, 2, *pChunk);
    sqlite3_bind_int(pStmt, 3, 1);
    sqlite3_bind_int(pStmt, 4, nSlots - 1);
    sqlite3_bind_int(pStmt, 5, level);
    rc = run_stmt(p, pStmt, pzErr);
  }
  return rc;
}

int vg_store_slot_alloc(VgStore *p, const VgPart *pPart, int level, VgSlot *pSlot,
                        char **pzErr) {
  sqlite3_stmt *pStmt;
  pSlot->level = level;
  int rc = get_stmt(p, S_FREE_TAKE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int(pStmt, 2, level);
  rc = step_query(p, pStmt, pzErr);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(pStmt);
    pSlot->iSlot = 0;
    return chunk_new(p, pPart, level, &pSlot->chunk, pzErr);
  }
  if (rc != SQLITE_ROW) return rc;
  pSlot->chunk = sqlite3_column_int64(pStmt, 0);
  pSlot->iSlot = sqlite3_column_int(pStmt, 1);
  sqlite3_reset(pStmt);
  rc = get_stmt(p, S_FREE_DEL, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->iSlot);
  sqlite3_bind_int(pStmt, 4, level);
  return run_stmt(p, pStmt, pzErr);
}

/* Write nByte bytes at offset iOff of chunk's slots, in place, through the
** store's write handle (kept open until vg_store_end_write). */
static int chunk_write(VgStore *p, sqlite3_int64 chunk, const void *a, int nByte, int iOff,
                       int *pnChunkBytes, char **pzErr) {
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (p->pWrite) {
      rc = sqlite3_blob_reopen(p->pWrite, chunk);
      if (rc != SQLITE_OK) {
        /* Expired by a change to T_chunks, or no such chunk: open afresh. */
        sqlite3_blob_close(p->pWrite);
        p->pWrite = 0;
      }
    }
    if (p->pWrite == 0) {
      rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots", chunk, 1,
                             &p->pWrite);
      if (rc == SQLITE_ERROR) return corrupt(p, pzErr, "a slot's chunk is missing", chunk);
      if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
    }
    int nChunk = sqlite3_blob_bytes(p->pWrite);
    if (pnChunkBytes) *pnChunkBytes = nChunk;
    if (iOff < 0 || iOff + nByte > nChunk) {
      return corrupt(p, pzErr, "a slot lies past the end of its chunk", chunk);
    }
    rc = sqlite3_blob_write(p->pWrite, a, nByte, iOff);
    if (rc != SQLITE_ABORT) break;
    sqlite3_blob_close(p->pWrite);
    p->pWrite = 0;
  }
  return rc == SQLITE_OK ? SQLITE_OK : sql_error(p, rc, pzErr);
}

void vg_store_end_write(VgStore *p) {
  if (p->pWrite) sqlite3_blob_close(p->pWrite);
  p->pWrite = 0;
}

/* Return a slot to the free list, or drop its chunk when it was the last
** slot in use.  The slot must already be zeroed. */
static int slot_release(VgStore *p, sqlite3_int64 part, const VgSlot *pSlot,
                        int nChunkSlots, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_FREE_COUNT, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->level);
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
  sqlite3_int64 nFree = sqlite3_column_int64(pStmt, 0);
  sqlite3_reset(pStmt);
  if (nFree + 1 < nChunkSlots) {
    rc = get_stmt(p, S_FREE_ADD, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, part);
    sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
    sqlite3_bind_int(pStmt, 3, pSlot->iSlot);
    sqlite3_bind_int(pStmt, 4, pSlot->level);
    return run_stmt(p, pStmt, pzErr);
  }
  /* Every slot is zero: the chunk's pages can go. */
  rc = get_stmt(p, S_FREE_DROP_CHUNK, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->level);
  rc = run_stmt(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = get_stmt(p, S_CHUNK_DROP, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pSlot->chunk);
  return run_stmt(p, pStmt, pzErr);
}

int vg_store_slot_erase(VgStore *p, sqlite3_int64 part, const VgSlot *pSlot, char **pzErr) {
  int nSlot = slot_bytes(p->pDef, pSlot->level);
  unsigned char *aZero = sqlite3_malloc64(nSlot);
  if (aZero == 0) return SQLITE_NOMEM;
  memset(aZero, 0, nSlot);
  int nChunk = 0;
  int rc = chunk_write(p, pSlot->chunk, aZero, nSlot, pSlot->iSlot * nSlot, &nChunk, pzErr);
  sqlite3_free(aZero);
  if (rc != SQLITE_OK) return rc;
  return slot_release(p, part, pSlot, nChunk / nSlot, pzErr);
}

int vg_store_write_links(VgStore *p, const VgSlot *pSlot, int l, const sqlite3_int64 *aRowid,
                         int n, char **pzErr) {
  int nByte = l == 0 ? p->nLinks0 : p->nLinksUp;
  unsigned char aBuf[4 + 8 * 2 * VG_HNSW_MAX_M];
  memset(aBuf, 0, nByte);
  for (int i = 0; i < 4; i++) aBuf[i] = (unsigned char)((unsigned)n >> (8 * i));
  for (int j = 0; j < n; j++) {
    sqlite3_uint64 u = (sqlite3_uint64)aRowid[j];
    for (int i = 0; i < 8; i++) aBuf[4 + 8 * j + i] = (unsigned char)(u >> (8 * i));
  }
  int nSlot = slot_bytes(p->pDef, pSlot->level);
  return chunk_write(p, pSlot->chunk, aBuf, nByte, pSlot->iSlot * nSlot + links_offset(p, l),
                     0, pzErr);
}

/* ---- auxiliary values -------------------------------------------------- */

static void aux_nonce(int iAux, unsigned char *aNonce) {
  memset(aNonce, 0, crypto_stream_xchacha20_NONCEBYTES);
  aNonce[0] = (unsigned char)iAux;
}

/* The plaintext of an auxiliary value: a tag byte, then the value. */
static int aux_encode(const VgValue *v, unsigned char **paOut, int *pnOut) {
  int n = 1 + (v->type == SQLITE_INTEGER || v->type == SQLITE_FLOAT ? 8 : v->n);
  unsigned char *a = sqlite3_malloc64(n);
  if (a == 0) return SQLITE_NOMEM;
  sqlite3_uint64 u = 0;
  switch (v->type) {
    case SQLITE_INTEGER:
      a[0] = AUX_INTEGER;
      u = (sqlite3_uint64)v->i;
      break;
    case SQLITE_FLOAT:
      a[0] = AUX_REAL;
      memcpy(&u, &v->r, 8);
      break;
    case SQLITE_TEXT:
      a[0] = AUX_TEXT;
      if (v->n) memcpy(a + 1, v->p, v->n);
      break;
    default:
      a[0] = AUX_BLOB;
      if (v->n) memcpy(a + 1, v->p, v->n);
      break;
  }
  if (a[0] == AUX_INTEGER || a[0] == AUX_REAL) {
    for (int i = 0; i < 8; i++) a[1 + i] = (unsigned char)(u >> (8 * i));
  }
  *paOut = a;
  *pnOut = n;
  return SQLITE_OK;
}

/* Decode a plaintext produced by aux_encode into *pVal (pointing into a). */
static int aux_decode(const unsigned char *a, int n, VgValue *pVal) {
  memset(pVal, 0, sizeof(*pVal));
  if (n < 1) return SQLITE_CORRUPT_VTAB;
  switch (a[0]) {
    case AUX_INTEGER:
    case AUX_REAL: {
      if (n != 9) return SQLITE_CORRUPT_VTAB;
      sqlite3_uint64 u = 0;
      for (int i = 0; i < 8; i++) u |= (sqlite3_uint64)a[1 + i] << (8 * i);
      if (a[0] == AUX_INTEGER) {
        pVal->type = SQLITE_INTEGER;
        pVal->i = (sqlite3_int64)u;
      } else {
        pVal->type = SQLITE_FLOAT;
        memcpy(&pVal->r, &u, 8);
      }
      return SQLITE_OK;
    }
    case AUX_TEXT:
    case AUX_BLOB:
      pVal->type = a[0] == AUX_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
      pVal->p = a + 1;
      pVal->n = n - 1;
      return SQLITE_OK;
    default:
      return SQLITE_CORRUPT_VTAB;
  }
}

/* Bind the encrypted form of each auxiliary value, starting at iParam.  The
** ciphertexts are returned in *papCipher for the caller to free after the
** statement has run. */
static int bind_aux(VgStore *p, sqlite3_stmt *pStmt, int iParam, const VgRow *pRow,
                    const unsigned char *aKey, unsigned char ***papCipher) {
  int nAux = p->pDef->nAux;
  *papCipher = 0;
  if (nAux == 0) return SQLITE_OK;
  unsigned char **ap = sqlite3_malloc64(sizeof(unsigned char *) * nAux);
  if (ap == 0) return SQLITE_NOMEM;
  memset(ap, 0, sizeof(unsigned char *) * nAux);
  *papCipher = ap;
  for (int i = 0; i < nAux; i++) {
    const VgValue *v = &pRow->aAux[i];
    if (v->type == SQLITE_NULL) {
      sqlite3_bind_null(pStmt, iParam + i);
      continue;
    }
    int n;
    int rc = aux_encode(v, &ap[i], &n);
    if (rc != SQLITE_OK) return rc;
    unsigned char aNonce[crypto_stream_xchacha20_NONCEBYTES];
    aux_nonce(i, aNonce);
    crypto_stream_xchacha20_xor(ap[i], ap[i], (unsigned long long)n, aNonce, aKey);
    sqlite3_bind_blob(pStmt, iParam + i, ap[i], n, SQLITE_STATIC);
  }
  return SQLITE_OK;
}

static void free_ciphers(VgStore *p, unsigned char **ap) {
  if (ap == 0) return;
  for (int i = 0; i < p->pDef->nAux; i++) sqlite3_free(ap[i]);
  sqlite3_free(ap);
}

/* ---- writes ------------------------------------------------------------ */

/* Bytes of a slot's head: header and vector. */
static int slot_head_bytes(const VgStore *p) { return VG_SLOT_FIXED + 4 * p->pDef->nDims; }

/* Fill a slot head for pRow with a fresh key. */
static void slot_fill(VgStore *p, const VgRow *pRow, int level, unsigned char *aSlot) {
  memset(aSlot, 0, VG_SLOT_FIXED);
  memcpy(aSlot, VG_SLOT_MAGIC, 4);
  aSlot[VG_SLOT_LEVEL] = (unsigned char)level;
  sqlite3_uint64 u = (sqlite3_uint64)pRow->rowid;
  for (int i = 0; i < 8; i++) aSlot[VG_SLOT_ROWID + i] = (unsigned char)(u >> (8 * i));
  randombytes_buf(aSlot + VG_SLOT_KEY, VG_KEY_BYTES);
  vg_vector_to_blob(pRow->aVec, p->pDef->nDims, aSlot + VG_SLOT_VECTOR);
}

/* Write the T_rows record of pRow (insert, or update in place). */
static int row_write(VgStore *p, int bUpdate, const VgRow *pRow, sqlite3_int64 part,
                     const VgSlot *pSlot, const unsigned char *aSlot, char **pzErr) {
  sqlite3_stmt *pStmt;
  unsigned char **apCipher = 0;
  int rc = get_stmt(p, bUpdate ? S_ROW_UPDATE : S_ROW_INSERT, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pRow->rowid);
  sqlite3_bind_int64(pStmt, 2, part);
  sqlite3_bind_int64(pStmt, 3, pSlot->chunk);
  sqlite3_bind_int(pStmt, 4, pSlot->iSlot);
  for (int i = 0; i < p->pDef->nMeta; i++) vg_value_bind(pStmt, 5 + i, &pRow->aMeta[i]);
  rc = bind_aux(p, pStmt, 5 + p->pDef->nMeta, pRow, aSlot + VG_SLOT_KEY, &apCipher);
  if (rc == SQLITE_OK) rc = run_stmt(p, pStmt, pzErr);
  sqlite3_clear_bindings(pStmt);
  free_ciphers(p, apCipher);
  return rc;
}

int vg_store_put_row(VgStore *p, int bUpdate, const VgRow *pRow, sqlite3_int64 part,
                     const VgSlot *pSlot, char **pzErr) {
  int nHead = slot_head_bytes(p);
  unsigned char *aSlot = sqlite3_malloc64(nHead);
  if (aSlot == 0) return SQLITE_NOMEM;
  slot_fill(p, pRow, pSlot->level, aSlot);
  int rc = chunk_write(p, pSlot->chunk, aSlot, nHead,
                       pSlot->iSlot * slot_bytes(p->pDef, pSlot->level), 0, pzErr);
  if (rc == SQLITE_OK) rc = row_write(p, bUpdate, pRow, part, pSlot, aSlot, pzErr);
  sodium_memzero(aSlot, nHead);
  sqlite3_free(aSlot);
  return rc;
}

int vg_store_locate(VgStore *p, sqlite3_int64 rowid, sqlite3_int64 *pPart, VgSlot *pSlot,
                    int *pbFound, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_ROW_LOCATE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, rowid);
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pbFound = (rc == SQLITE_ROW);
  rc = SQLITE_OK;
  if (*pbFound) {
    if (sqlite3_column_type(pStmt, 3) == SQLITE_NULL) {
      rc = corrupt(p, pzErr, "a row's chunk is missing", rowid);
    } else {
      if (pPart) *pPart = sqlite3_column_int64(pStmt, 0);
      if (pSlot) {
        pSlot->chunk = sqlite3_column_int64(pStmt, 1);
        pSlot->iSlot = sqlite3_column_int(pStmt, 2);
        pSlot->level = sqlite3_column_int(pStmt, 3);
      }
    }
  }
  sqlite3_reset(pStmt);
  return rc;
}

int vg_store_delete_row(VgStore *p, sqlite3_int64 rowid, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_ROW_DELETE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, rowid);
  return run_stmt(p, pStmt, pzErr);
}

int vg_store_row_exists(VgStore *p, sqlite3_int64 rowid, int *pbExists, char **pzErr) {
  return vg_store_locate(p, rowid, 0, 0, pbExists, pzErr);
}

int vg_store_next_rowid(VgStore *p, sqlite3_int64 *pRowid, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_ROW_MAX, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
  sqlite3_int64 iMax = sqlite3_column_int64(pStmt, 0); /* NULL reads as 0 */
  sqlite3_reset(pStmt);
  if (iMax == (sqlite3_int64)(((sqlite3_uint64)1 << 63) - 1)) {
    *pzErr = sqlite3_mprintf(
        "%s: the largest rowid is in use; give the new row a rowid explicitly",
        p->zName);
    return SQLITE_FULL;
  }
  *pRowid = iMax + 1;
  return SQLITE_OK;
}

/* ---- bulk reading ------------------------------------------------------ */

static sqlite3_uint64 get_u64(const unsigned char *a) {
  sqlite3_uint64 u = 0;
  for (int i = 0; i < 8; i++) u |= (sqlite3_uint64)a[i] << (8 * i);
  return u;
}

static unsigned get_u32(const unsigned char *a) {
  return (unsigned)a[0] | ((unsigned)a[1] << 8) | ((unsigned)a[2] << 16) |
         ((unsigned)a[3] << 24);
}

static sqlite3_int64 slot_rowid(const unsigned char *aSlot) {
  return (sqlite3_int64)get_u64(aSlot + VG_SLOT_ROWID);
}

/* n little-endian float32 values at z into aOut (which may be z itself). */
static void floats_from_le(const unsigned char *z, int n, float *aOut) {
  for (int i = 0; i < n; i++) {
    unsigned int u = get_u32(z + 4 * i);
    memcpy(&aOut[i], &u, 4);
  }
}

static void slot_vector(const VgTableDef *pDef, const unsigned char *aSlot, float *aOut) {
  floats_from_le(aSlot + VG_SLOT_VECTOR, pDef->nDims, aOut);
}

static int open_chunk_blob(VgStore *p, sqlite3_int64 chunk, sqlite3_blob **ppBlob,
                           char **pzErr) {
  int rc;
  if (*ppBlob) {
    rc = sqlite3_blob_reopen(*ppBlob, chunk);
    if (rc == SQLITE_OK) return SQLITE_OK;
    sqlite3_blob_close(*ppBlob); /* a failed reopen leaves the handle aborted */
    *ppBlob = 0;
  }
  rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots", chunk, 0, ppBlob);
  if (rc == SQLITE_ERROR) return corrupt(p, pzErr, "a row's chunk is missing", chunk);
  if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  return SQLITE_OK;
}

/* The first nBuf bytes (at least up to the rowid) of slot iSlot of a chunk
** of the given level into pBuf, through the read handle *ppBlob (opened or
** moved here), checking that the slot holds rowid. */
static int slot_read(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 chunk, sqlite3_int64 iSlot,
                     int level, sqlite3_int64 rowid, unsigned char *pBuf, int nBuf,
                     char **pzErr) {
  int nSlot = slot_bytes(p->pDef, level), rc = SQLITE_OK;
  for (int attempt = 0; attempt < 2; attempt++) {
    rc = open_chunk_blob(p, chunk, ppBlob, pzErr);
    if (rc != SQLITE_OK) return rc;
    if ((iSlot + 1) * nSlot > sqlite3_blob_bytes(*ppBlob) || iSlot < 0) {
      return corrupt(p, pzErr, "a row's slot lies past the end of its chunk", rowid);
    }
    rc = sqlite3_blob_read(*ppBlob, pBuf, nBuf, (int)(iSlot * nSlot));
    if (rc != SQLITE_ABORT) break;
    /* The handle expired because the chunk row changed: open it again. */
    sqlite3_blob_close(*ppBlob);
    *ppBlob = 0;
  }
  if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  if (memcmp(pBuf, VG_SLOT_MAGIC, 4) != 0 || slot_rowid(pBuf) != rowid ||
      pBuf[VG_SLOT_LEVEL] != level) {
    return corrupt(p, pzErr, "a row's slot does not hold it", rowid);
  }
  return SQLITE_OK;
}

int vg_store_slot_vector(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 tag, int level,
                         sqlite3_int64 rowid, float *aOut, char **pzErr) {
  VgSlot slot;
  vg_slot_from_tag(tag, level, &slot);
  unsigned char aHead[VG_SLOT_KEY]; /* magic, level, rowid: not the key */
  int rc = slot_read(p, ppBlob, slot.chunk, slot.iSlot, level, rowid, aHead, VG_SLOT_KEY, pzErr);
  if (rc != SQLITE_OK) return rc;
  /* The handle is on the slot's chunk already. */
  int off = slot.iSlot * slot_bytes(p->pDef, level) + VG_SLOT_VECTOR;
  rc = sqlite3_blob_read(*ppBlob, aOut, 4 * p->pDef->nDims, off);
  if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  floats_from_le((const unsigned char *)aOut, p->pDef->nDims, aOut);
  return SQLITE_OK;
}

/* The nodes found, the partition's row count and its rows must agree;
** anything else means a shadow table was damaged. */
static int check_partition_counts(VgStore *p, sqlite3_int64 part, sqlite3_int64 nNodes,
                                  VgLoadReport *pReport, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = get_stmt(p, S_PART_COUNTS, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  rc = step_query(p, pStmt, pzErr);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
  sqlite3_int64 nRows = sqlite3_column_int64(pStmt, 0);
  sqlite3_int64 nRecords = sqlite3_column_int64(pStmt, 1);
  sqlite3_reset(pStmt);
  if (pReport) {
    pReport->nCounted = nRows;
    pReport->nRecords = nRecords;
    return SQLITE_OK;
  }
  if (nRows == nNodes && nRecords == nNodes) return SQLITE_OK;
  if (pzErr && *pzErr == 0) {
    *pzErr = sqlite3_mprintf(
        "%s: the shadow tables are corrupt: partition %lld counts %lld rows, %s holds "
        "%lld and %s holds %lld vectors",
        p->zName, part, nRows, p->azTable[T_ROWS], nRecords, p->azTable[T_CHUNKS], nNodes);
  }
  return SQLITE_CORRUPT_VTAB;
}

/* Link lists read from slots, kept as rowids until every node is known. */
typedef struct RawLinks {
  sqlite3_int64 *a; /* per node and level: count, then the rowids */
  sqlite3_int64 n, nAlloc;
  sqlite3_int64 *aStart; /* per node number: where its lists start in a */
  uint32_t nStart;
} RawLinks;

static int raw_reserve(sqlite3_int64 **pa, sqlite3_int64 *pnAlloc, sqlite3_int64 nNeed) {
  if (nNeed <= *pnAlloc) return SQLITE_OK;
  sqlite3_int64 nNew = *pnAlloc ? *pnAlloc * 2 : 1024;
  while (nNew < nNeed) nNew *= 2;
  sqlite3_int64 *a = sqlite3_realloc64(*pa, sizeof(sqlite3_int64) * (size_t)nNew);
  if (a == 0) return SQLITE_NOMEM;
  *pa = a;
  *pnAlloc = nNew;
  return SQLITE_OK;
}

/* A damaged slot: an error, or a count in the check's report. */
static int load_damage(VgStore *p, VgLoadReport *pReport, sqlite3_int64 *pCount,
                       char **pzErr, const char *zWhat, sqlite3_int64 id) {
  if (pReport == 0) return corrupt(p, pzErr, zWhat, id);
  (*pCount)++;
  return SQLITE_OK;
}

/* Add the node held by one slot to h and its lists to pRaw. */
static int load_slot(VgStore *p, Hnsw *h, const unsigned char *aSlot, int level,
                     sqlite3_int64 tag, float *aVec, RawLinks *pRaw, VgLoadReport *pReport,
                     char **pzErr) {
  const VgTableDef *d = p->pDef;
  sqlite3_int64 rowid = slot_rowid(aSlot);
  sqlite3_int64 *pBad = pReport ? &pReport->badSlots : 0;
  if (aSlot[VG_SLOT_LEVEL] != level) {
    return load_damage(p, pReport, pBad, pzErr, "a slot's level differs from its chunk's", rowid);
  }
  slot_vector(d, aSlot, aVec);
  if (d->metric == VG_METRIC_COSINE && !vg_vector_normalize(aVec, d->nDims, aVec)) {
    return load_damage(p, pReport, pBad, pzErr, "a stored vector is zero under the cosine metric",
                       rowid);
  }
  uint32_t node;
  int rc = hnsw_load_node(h, rowid, tag, aVec, level, &node);
  if (rc == SQLITE_MISUSE) return load_damage(p, pReport, pBad, pzErr, "two slots hold a row", rowid);
  if (rc != SQLITE_OK) return rc;
  if (node >= pRaw->nStart) {
    sqlite3_int64 nAlloc = pRaw->nStart;
    rc = raw_reserve(&pRaw->aStart, &nAlloc, (sqlite3_int64)node + 1);
    if (rc != SQLITE_OK) return rc;
    pRaw->nStart = (uint32_t)nAlloc;
  }
  pRaw->aStart[node] = pRaw->n;
  rc = raw_reserve(&pRaw->a, &pRaw->nAlloc, pRaw->n + (level + 1) * (1 + 2 * d->hnswM));
  if (rc != SQLITE_OK) return rc;
  for (int l = 0; l <= level; l++) {
    const unsigned char *z = aSlot + links_offset(p, l);
    unsigned n = get_u32(z);
    if ((int)n > hnsw_capacity(h, l)) {
      rc = load_damage(p, pReport, pReport ? &pReport->overfull : 0, pzErr,
                       "a link list is longer than its capacity", rowid);
      if (rc != SQLITE_OK) return rc;
      n = 0;
    }
    pRaw->a[pRaw->n++] = n;
    for (unsigned j = 0; j < n; j++) pRaw->a[pRaw->n++] = (sqlite3_int64)get_u64(z + 4 + 8 * j);
  }
  return SQLITE_OK;
}

/* Turn the stored rowids into node numbers. */
static int load_links(VgStore *p, Hnsw *h, RawLinks *pRaw, VgLoadReport *pReport,
                      char **pzErr) {
  uint32_t aNode[2 * VG_HNSW_MAX_M];
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    const sqlite3_int64 *z = pRaw->a + pRaw->aStart[i];
    for (int l = 0; l <= h->aLevel[i]; l++) {
      int n = (int)*z++, nGood = 0;
      for (int j = 0; j < n; j++) {
        uint32_t e = hnsw_find(h, z[j]);
        if (e == HNSW_NONE) {
          int rc = load_damage(p, pReport, pReport ? &pReport->dangling : 0, pzErr,
                               "a link names a row that is not in the partition", h->aRowid[i]);
          if (rc != SQLITE_OK) return rc;
          continue;
        }
        aNode[nGood++] = e;
      }
      hnsw_load_links(h, i, l, aNode, nGood);
      z += n;
    }
  }
  return SQLITE_OK;
}

static int load_entry(VgStore *p, Hnsw *h, const VgPart *pPart, VgLoadReport *pReport,
                      char **pzErr) {
  uint32_t e = pPart->bEntry ? hnsw_find(h, pPart->entry) : HNSW_NONE;
  int bOk = pPart->bEntry ? e != HNSW_NONE && h->aLevel[e] == pPart->entryLevel
                          : h->nLive == 0;
  if (pReport) pReport->entryOk = bOk;
  if (!bOk && pReport == 0) {
    return corrupt(p, pzErr, "the partition's entry point is not one of its nodes", pPart->id);
  }
  hnsw_set_entry(h, e);
  return SQLITE_OK;
}

int vg_store_load_partition(VgStore *p, const VgPart *pPart, Hnsw *h, VgLoadReport *pReport,
                            char **pzErr) {
  const VgTableDef *d = p->pDef;
  sqlite3_stmt *pList = 0;
  sqlite3_blob *pBlob = 0;
  unsigned char *aBuf = 0;
  int nBuf = 0;
  RawLinks raw;
  memset(&raw, 0, sizeof(raw));
  if (pReport) memset(pReport, 0, sizeof(*pReport));
  float *aVec = sqlite3_malloc64(sizeof(float) * d->nDims);
  if (aVec == 0) return SQLITE_NOMEM;
  int rc = hnsw_reserve(h, (uint32_t)(pPart->nRows > 0 ? pPart->nRows : 1));
  if (rc == SQLITE_OK) rc = get_stmt(p, S_CHUNK_LIST, &pList, pzErr);
  if (rc != SQLITE_OK) goto done;
  sqlite3_bind_int64(pList, 1, pPart->id);
  while ((rc = sqlite3_step(pList)) == SQLITE_ROW) {
    sqlite3_int64 chunk = sqlite3_column_int64(pList, 0);
    int level = sqlite3_column_int(pList, 1);
    if (level < 0 || level > HNSW_MAX_LEVEL) {
      rc = corrupt(p, pzErr, "a chunk has an impossible level", chunk);
      goto done;
    }
    int nSlot = slot_bytes(d, level);
    rc = open_chunk_blob(p, chunk, &pBlob, pzErr);
    if (rc != SQLITE_OK) goto done;
    int n = sqlite3_blob_bytes(pBlob);
    if (n % nSlot != 0 || n / nSlot >= VG_SLOT_TAG_SLOTS) {
      rc = corrupt(p, pzErr, "a chunk's size is not a whole number of slots", chunk);
      goto done;
    }
    if (n > nBuf) {
      unsigned char *aNew = sqlite3_realloc64(aBuf, n);
      if (aNew == 0) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      aBuf = aNew;
      nBuf = n;
    }
    rc = sqlite3_blob_read(pBlob, aBuf, n, 0);
    if (rc != SQLITE_OK) {
      sql_error(p, rc, pzErr);
      goto done;
    }
    for (int i = 0; i < n / nSlot && rc == SQLITE_OK; i++) {
      const unsigned char *aSlot = aBuf + (size_t)i * nSlot;
      if (memcmp(aSlot, VG_SLOT_MAGIC, 4) != 0) continue;
      VgSlot slot = {chunk, i, level};
      rc = load_slot(p, h, aSlot, level, vg_slot_tag(&slot), aVec, &raw, pReport, pzErr);
    }
    if (rc != SQLITE_OK) goto done;
  }
  if (rc != SQLITE_DONE) {
    sql_error(p, rc, pzErr);
    goto done;
  }
  rc = load_links(p, h, &raw, pReport, pzErr);
  if (rc == SQLITE_OK) rc = load_entry(p, h, pPart, pReport, pzErr);
  if (rc == SQLITE_OK) rc = check_partition_counts(p, pPart->id, h->nLive, pReport, pzErr);
done:
  if (pBlob) sqlite3_blob_close(pBlob);
  if (pList) sqlite3_reset(pList);
  if (aBuf) sodium_memzero(aBuf, nBuf);
  sqlite3_free(aBuf);
  sqlite3_free(aVec);
  sqlite3_free(raw.a);
  sqlite3_free(raw.aStart);
  return rc;
}

/* ---- destroy and rename ------------------------------------------------ */

/* Overwrite every slot of every chunk with zeros, in place. */
static int erase_all_slots(VgStore *p, char **pzErr) {
  sqlite3_stmt *pList = 0;
  sqlite3_blob *pBlob = 0;
  unsigned char *aZero = 0;
  int nZero = 0;
  char *zSql = sqlite3_mprintf("SELECT id FROM %s", p->azTable[T_CHUNKS]);
  int rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pList, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  while (rc == SQLITE_OK && (rc = sqlite3_step(pList)) == SQLITE_ROW) {
    rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots",
                           sqlite3_column_int64(pList, 0), 1, &pBlob);
    if (rc != SQLITE_OK) break;
    int n = sqlite3_blob_bytes(pBlob);
    if (n > nZero) {
      sqlite3_free(aZero);
      aZero = sqlite3_malloc64(n);
      nZero = aZero ? n : 0;
      if (aZero == 0) {
        rc = SQLITE_NOMEM;
        break;
      }
      memset(aZero, 0, n);
    }
    rc = sqlite3_blob_write(pBlob, aZero, n, 0);
    sqlite3_blob_close(pBlob);
    pBlob = 0;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK) sql_error(p, rc, pzErr);
  if (pBlob) sqlite3_blob_close(pBlob);
  sqlite3_finalize(pList);
  sqlite3_free(aZero);
  return rc;
}

int vg_store_destroy(VgStore *p, char **pzErr) {
  vg_store_end_write(p);
  for (int i = 0; i < S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  int rc = erase_all_slots(p, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_str *s = sqlite3_str_new(0);
  for (int i = 0; i < T_COUNT; i++) {
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
  for (int i = 0; i < T_COUNT; i++) {
    sqlite3_str_appendf(s, "ALTER TABLE %s RENAME TO \"%w_%s\";", p->azTable[i],
                        zNewName, shadow_suffixes[i]);
  }
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  for (int i = 0; i < S_COUNT; i++) {
    sqlite3_finalize(p->aStmt[i]);
    p->aStmt[i] = 0;
  }
  int rc = exec_sql(p->db, zSql, pzErr);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) rc = set_names(p, zNewName);
  return rc;
}

/* ---- row reader -------------------------------------------------------- */

int vg_reader_open(VgStore *p, VgRowReader **ppReader) {
  VgRowReader *r = sqlite3_malloc64(sizeof(*r));
  if (r == 0) return SQLITE_NOMEM;
  memset(r, 0, sizeof(*r));
  r->pStore = p;
  r->aSlot = sqlite3_malloc64(slot_head_bytes(p));
  if (p->pDef->nAux) r->aAux = sqlite3_malloc64(sizeof(VgValue) * p->pDef->nAux);
  if (r->aSlot == 0 || (p->pDef->nAux && r->aAux == 0)) {
    vg_reader_close(r);
    return SQLITE_NOMEM;
  }
  *ppReader = r;
  return SQLITE_OK;
}

static void reader_forget_row(VgRowReader *r) {
  if (r->bSlot) sodium_memzero(r->aSlot, slot_head_bytes(r->pStore));
  r->bSlot = 0;
  r->bAux = 0;
  if (r->aPlain) {
    sodium_memzero(r->aPlain, (size_t)r->nPlain);
    sqlite3_free(r->aPlain);
    r->aPlain = 0;
  }
}

void vg_reader_release(VgRowReader *r) {
  reader_forget_row(r);
  r->bRow = 0;
  if (r->pRow) sqlite3_reset(r->pRow);
  if (r->pBlob) {
    sqlite3_blob_close(r->pBlob);
    r->pBlob = 0;
  }
}

void vg_reader_close(VgRowReader *r) {
  if (r == 0) return;
  vg_reader_release(r);
  sqlite3_finalize(r->pRow);
  sqlite3_free(r->aSlot);
  sqlite3_free(r->aAux);
  sqlite3_free(r);
}

static char *reader_sql(VgStore *p) {
  sqlite3_str *s = sqlite3_str_new(0);
  /* LEFT JOIN: a row whose partition is missing is reported, not skipped */
  sqlite3_str_appendall(s, "SELECT r.part, p.value, r.chunk, r.slot, p.id IS NULL, c.level");
  for (int i = 0; i < p->pDef->nMeta; i++) sqlite3_str_appendf(s, ", r.m%d", i);
  for (int i = 0; i < p->pDef->nAux; i++) sqlite3_str_appendf(s, ", r.a%d", i);
  sqlite3_str_appendf(s,
                      " FROM %s r LEFT JOIN %s p ON p.id = r.part LEFT JOIN %s c ON c.id = "
                      "r.chunk WHERE r.id = ?1",
                      p->azTable[T_ROWS], p->azTable[T_PARTITIONS], p->azTable[T_CHUNKS]);
  return sqlite3_str_finish(s);
}

int vg_reader_seek(VgRowReader *r, sqlite3_int64 rowid, char **pzErr) {
  VgStore *p = r->pStore;
  reader_forget_row(r);
  r->bRow = 0;
  if (r->pRow == 0) {
    char *zSql = reader_sql(p);
    if (zSql == 0) return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v3(p->db, zSql, -1, SQLITE_PREPARE_PERSISTENT, &r->pRow, 0);
    sqlite3_free(zSql);
    if (rc != SQLITE_OK) return sql_error(p, rc, pzErr);
  } else {
    sqlite3_reset(r->pRow);
  }
  sqlite3_bind_int64(r->pRow, 1, rowid);
  int rc = sqlite3_step(r->pRow);
  if (rc == SQLITE_ROW && sqlite3_column_int(r->pRow, 4)) {
    sqlite3_reset(r->pRow);
    return corrupt(p, pzErr, "a row's partition is missing", rowid);
  }
  if (rc == SQLITE_ROW) {
    r->bRow = 1;
    r->rowid = rowid;
  } else if (rc != SQLITE_DONE) {
    sql_error(p, rc, pzErr);
    sqlite3_reset(r->pRow);
  }
  return rc;
}

sqlite3_int64 vg_reader_part_id(VgRowReader *r) {
  return sqlite3_column_int64(r->pRow, 0);
}

sqlite3_value *vg_reader_partition(VgRowReader *r) {
  return sqlite3_column_value(r->pRow, 1);
}

sqlite3_value *vg_reader_meta(VgRowReader *r, int iMeta) {
  return sqlite3_column_value(r->pRow, READER_COL_META + iMeta);
}

/* Read the current row's slot and check that it belongs to the row. */
static int reader_load_slot(VgRowReader *r, char **pzErr) {
  VgStore *p = r->pStore;
  if (r->bSlot) return SQLITE_OK;
  sqlite3_int64 chunk = sqlite3_column_int64(r->pRow, 2);
  sqlite3_int64 iSlot = sqlite3_column_int64(r->pRow, 3);
  if (sqlite3_column_type(r->pRow, 5) == SQLITE_NULL) {
    return corrupt(p, pzErr, "a row's chunk is missing", r->rowid);
  }
  int level = sqlite3_column_int(r->pRow, 5);
  if (level < 0 || level > HNSW_MAX_LEVEL) {
    return corrupt(p, pzErr, "a chunk has an impossible level", chunk);
  }
  int rc = slot_read(p, &r->pBlob, chunk, iSlot, level, r->rowid, r->aSlot, slot_head_bytes(p),
                     pzErr);
  if (rc != SQLITE_OK) return rc;
  r->bSlot = 1;
  return SQLITE_OK;
}

int vg_reader_vector(VgRowReader *r, const unsigned char **paBytes, float *aOut,
                     char **pzErr) {
  int rc = reader_load_slot(r, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (paBytes) *paBytes = r->aSlot + VG_SLOT_VECTOR;
  if (aOut) slot_vector(r->pStore->pDef, r->aSlot, aOut);
  return SQLITE_OK;
}

/* Decrypt every auxiliary value of the current row into r->aPlain. */
static int reader_load_aux(VgRowReader *r, char **pzErr) {
  VgStore *p = r->pStore;
  int nAux = p->pDef->nAux, iCol0 = READER_COL_META + p->pDef->nMeta;
  if (r->bAux) return SQLITE_OK;
  int rc = reader_load_slot(r, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_int64 nTotal = 0;
  for (int i = 0; i < nAux; i++) nTotal += sqlite3_column_bytes(r->pRow, iCol0 + i);
  r->aPlain = sqlite3_malloc64(nTotal + 1);
  if (r->aPlain == 0) return SQLITE_NOMEM;
  r->nPlain = nTotal + 1;
  unsigned char *z = r->aPlain;
  for (int i = 0; i < nAux; i++) {
    if (sqlite3_column_type(r->pRow, iCol0 + i) == SQLITE_NULL) {
      memset(&r->aAux[i], 0, sizeof(VgValue));
      r->aAux[i].type = SQLITE_NULL;
      continue;
    }
    const unsigned char *c = sqlite3_column_blob(r->pRow, iCol0 + i);
    int n = sqlite3_column_bytes(r->pRow, iCol0 + i);
    unsigned char aNonce[crypto_stream_xchacha20_NONCEBYTES];
    aux_nonce(i, aNonce);
    if (n > 0) {
      crypto_stream_xchacha20_xor(z, c, (unsigned long long)n, aNonce,
                                  r->aSlot + VG_SLOT_KEY);
    }
    if (aux_decode(z, n, &r->aAux[i]) != SQLITE_OK) {
      return corrupt(p, pzErr, "an auxiliary value does not decode", r->rowid);
    }
    z += n;
  }
  r->bAux = 1;
  return SQLITE_OK;
}

int vg_reader_aux(VgRowReader *r, int iAux, VgValue **ppVal, char **pzErr) {
  int rc = reader_load_aux(r, pzErr);
  if (rc != SQLITE_OK) return rc;
  *ppVal = &r->aAux[iAux];
  return SQLITE_OK;
}
