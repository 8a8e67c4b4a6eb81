/*
** store_rows.c — the rows of a vg_hnsw table (T_rows): writing a row's
** record and its slot's head, its auxiliary values encrypted under a key
** of its own (so that overwriting the key erases them), locating and
** deleting rows, and the row reader that returns stored columns lazily.
*/
#include "table/table.h"

#include <sodium.h>
#include <string.h>

/* Columns of the row reader's query before the metadata values. */
#define READER_COL_META 6

/* Tags that start an auxiliary value's plaintext. */
#define AUX_INTEGER 'i'
#define AUX_REAL 'r'
#define AUX_TEXT 't'
#define AUX_BLOB 'b'

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
static int slot_head_bytes(const VgStore *p) {
  return VG_SLOT_FIXED + vg_tabledef_vector_bytes(p->pDef);
}

/* Fill a slot head for pRow with a fresh key. */
static void slot_fill(VgStore *p, const VgRow *pRow, int level, unsigned char *aSlot) {
  memset(aSlot, 0, VG_SLOT_FIXED);
  memcpy(aSlot, VG_SLOT_MAGIC, 4);
  aSlot[VG_SLOT_LEVEL] = (unsigned char)level;
  sqlite3_uint64 u = (sqlite3_uint64)pRow->rowid;
  for (int i = 0; i < 8; i++) aSlot[VG_SLOT_ROWID + i] = (unsigned char)(u >> (8 * i));
  randombytes_buf(aSlot + VG_SLOT_KEY, VG_KEY_BYTES);
  if (p->pDef->element == VG_ELEMENT_FLOAT32) {
    vg_vector_to_blob(pRow->aVec, p->pDef->nDims, aSlot + VG_SLOT_VECTOR);
  } else {
    memcpy(aSlot + VG_SLOT_VECTOR, pRow->aVec, (size_t)vg_tabledef_vector_bytes(p->pDef));
  }
}

/* Write the T_rows record of pRow (insert, or update in place). */
static int row_write(VgStore *p, int bUpdate, const VgRow *pRow, sqlite3_int64 part,
                     const VgSlot *pSlot, const unsigned char *aSlot, char **pzErr) {
  sqlite3_stmt *pStmt;
  unsigned char **apCipher = 0;
  int rc = store_stmt(p, bUpdate ? VG_S_ROW_UPDATE : VG_S_ROW_INSERT, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pRow->rowid);
  sqlite3_bind_int64(pStmt, 2, part);
  sqlite3_bind_int64(pStmt, 3, pSlot->chunk);
  sqlite3_bind_int(pStmt, 4, pSlot->iSlot);
  for (int i = 0; i < p->pDef->nMeta; i++) vg_value_bind(pStmt, 5 + i, &pRow->aMeta[i]);
  rc = bind_aux(p, pStmt, 5 + p->pDef->nMeta, pRow, aSlot + VG_SLOT_KEY, &apCipher);
  if (rc == SQLITE_OK) rc = store_run(p, pStmt, pzErr);
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
  int rc = store_chunk_write(p, pSlot->chunk, aSlot, nHead,
                       pSlot->iSlot * store_slot_bytes(p->pDef, pSlot->level), 0, pzErr);
  if (rc == SQLITE_OK) rc = row_write(p, bUpdate, pRow, part, pSlot, aSlot, pzErr);
  sodium_memzero(aSlot, nHead);
  sqlite3_free(aSlot);
  return rc;
}

int vg_store_locate(VgStore *p, sqlite3_int64 rowid, sqlite3_int64 *pPart, VgSlot *pSlot,
                    int *pbFound, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_step_by_id(p, VG_S_ROW_LOCATE, rowid, &pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pbFound = (rc == SQLITE_ROW);
  rc = SQLITE_OK;
  if (*pbFound) {
    if (sqlite3_column_type(pStmt, 3) == SQLITE_NULL) {
      rc = store_corrupt(p, pzErr, "a row's chunk is missing", rowid);
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
  int rc = store_stmt(p, VG_S_ROW_DELETE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, rowid);
  return store_run(p, pStmt, pzErr);
}

int vg_store_row_exists(VgStore *p, sqlite3_int64 rowid, int *pbExists, char **pzErr) {
  return vg_store_locate(p, rowid, 0, 0, pbExists, pzErr);
}

int vg_store_find_key(VgStore *p, const VgValue *pPart, const VgValue *pKey, sqlite3_int64 *pRowid, int *pbFound,
                      char **pzErr) {
  sqlite3_stmt *pStmt;
  *pbFound = 0;
  int rc = store_stmt(p, VG_S_ROW_BY_KEY, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = vg_value_bind(pStmt, 1, pKey);
  if (rc == SQLITE_OK) rc = pPart ? vg_value_bind(pStmt, 2, pPart) : sqlite3_bind_null(pStmt, 2);
  if (rc == SQLITE_OK) rc = store_step(p, pStmt, pzErr);
  if (rc == SQLITE_ROW) {
    *pRowid = sqlite3_column_int64(pStmt, 0);
    *pbFound = 1;
    rc = SQLITE_OK;
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  }
  sqlite3_reset(pStmt);
  return rc;
}

int vg_store_next_rowid(VgStore *p, sqlite3_int64 *pRowid, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_stmt(p, VG_S_ROW_MAX, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = store_step(p, pStmt, pzErr);
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
                      p->azTable[VG_T_ROWS], p->azTable[VG_T_PARTITIONS], p->azTable[VG_T_CHUNKS]);
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
    if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  } else {
    sqlite3_reset(r->pRow);
  }
  sqlite3_bind_int64(r->pRow, 1, rowid);
  int rc = sqlite3_step(r->pRow);
  if (rc == SQLITE_ROW && sqlite3_column_int(r->pRow, 4)) {
    sqlite3_reset(r->pRow);
    return store_corrupt(p, pzErr, "a row's partition is missing", rowid);
  }
  if (rc == SQLITE_ROW) {
    r->bRow = 1;
    r->rowid = rowid;
  } else if (rc != SQLITE_DONE) {
    store_sql_error(p, rc, pzErr);
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
    return store_corrupt(p, pzErr, "a row's chunk is missing", r->rowid);
  }
  int level = sqlite3_column_int(r->pRow, 5);
  if (level < 0 || level > HNSW_MAX_LEVEL) {
    return store_corrupt(p, pzErr, "a chunk has an impossible level", chunk);
  }
  int rc = store_slot_read(p, &r->pBlob, chunk, iSlot, level, r->rowid, r->aSlot, slot_head_bytes(p),
                     pzErr);
  if (rc != SQLITE_OK) return rc;
  r->bSlot = 1;
  return SQLITE_OK;
}

int vg_reader_vector(VgRowReader *r, const unsigned char **paBytes, void *aOut,
                     char **pzErr) {
  int rc = reader_load_slot(r, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (paBytes) *paBytes = r->aSlot + VG_SLOT_VECTOR;
  if (aOut) store_slot_vector(r->pStore->pDef, r->aSlot, aOut);
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
      return store_corrupt(p, pzErr, "an auxiliary value does not decode", r->rowid);
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

int vg_reader_value(VgRowReader *r, const VgColumn *c, VgValue *pOut, char **pzErr) {
  if (c->kind == VG_COL_AUX) {
    VgValue *pAux;
    int rc = vg_reader_aux(r, c->iStore, &pAux, pzErr);
    if (rc != SQLITE_OK) return rc;
    *pOut = *pAux;
    pOut->pOwner = 0; /* the reader keeps the bytes */
    pOut->pAlloc = 0;
    return SQLITE_OK;
  }
  vg_value_from_sqlite(c->kind == VG_COL_PARTITION ? vg_reader_partition(r) : vg_reader_meta(r, c->iStore),
                       pOut);
  return SQLITE_OK;
}

/* ---- what vg_hnsw_check reads (hnsw_check.c) -------------------------- */

int vg_store_check_rows(VgStore *p, sqlite3_int64 part, const Hnsw *h, sqlite3_int64 *pnRows,
                        sqlite3_int64 *pnWithoutNode) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf(
      "SELECT r.id, r.chunk, r.slot, c.level FROM %s r LEFT JOIN %s c ON c.id = r.chunk "
      "WHERE r.part = ?1",
      p->azTable[VG_T_ROWS], p->azTable[VG_T_CHUNKS]);
  int rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  while (sqlite3_step(pStmt) == SQLITE_ROW) {
    (*pnRows)++;
    uint32_t i = hnsw_find(h, sqlite3_column_int64(pStmt, 0));
    VgSlot slot = {sqlite3_column_int64(pStmt, 1), sqlite3_column_int(pStmt, 2),
                   sqlite3_column_int(pStmt, 3)};
    if (i == HNSW_NONE || sqlite3_column_type(pStmt, 3) == SQLITE_NULL ||
        h->aTag[i] != vg_slot_tag(&slot) || h->aLevel[i] != slot.level) {
      (*pnWithoutNode)++;
    }
  }
  return sqlite3_finalize(pStmt);
}

int vg_store_count_orphans(VgStore *p, sqlite3_int64 *pnOrphans) {
  sqlite3_stmt *pStmt = 0;
  char *zSql = sqlite3_mprintf("SELECT count(*) FROM %s WHERE part NOT IN (SELECT id FROM %s)",
                               p->azTable[VG_T_ROWS], p->azTable[VG_T_PARTITIONS]);
  int rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc;
  *pnOrphans = sqlite3_step(pStmt) == SQLITE_ROW ? sqlite3_column_int64(pStmt, 0) : 0;
  return sqlite3_finalize(pStmt);
}
