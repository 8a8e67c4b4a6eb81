/*
** pii_conn.c — a connection's PII state: the engine of built-in and custom
** recognizers (vg_pii_recognizers, re-read when the database changes, so a
** new row counts without reloading anything), and the key (vg_pii_set_key
** or vg_pii_keys).
*/
#include "pii/pii.h"

#include <sodium.h>
#include <string.h>

static void free_custom(PiiConn *c) {
  for (int i = 0; i < c->nOwned; i++) sqlite3_free(c->azOwned[i]);
  sqlite3_free(c->azOwned);
  sqlite3_free(c->aRec);
  c->azOwned = 0;
  c->nOwned = 0;
  c->aRec = 0;
  c->nRec = 0;
}

void pii_conn_init(PiiConn *c) {
  memset(c, 0, sizeof(*c));
}

void pii_conn_clear(PiiConn *c) {
  vg_pii_engine_free(c->pEngine);
  free_custom(c);
  vg_pii_key_wipe(&c->key);
  vg_pii_key_wipe(&c->tableKey);
  sqlite3_free(c->zTableKeyName);
  pii_conn_init(c);
}

/* ---- custom recognizers ------------------------------------------------- */

static int valid_entity(const char *z) {
  int n = 0;
  for (; z[n]; n++) {
    char ch = z[n];
    if (!((ch >= 'A' && ch <= 'Z') || (ch == '_' && n > 0) || (ch >= '0' && ch <= '9' && n > 0))) {
      return 0;
    }
  }
  return n > 0 && n <= 64;
}

int pii_custom_check(const char *zName, const char *zEntity, const char *zPattern,
                     sqlite3_value *pScore, char **pzErr) {
  if (zName == 0 || zName[0] == 0) {
    *pzErr = sqlite3_mprintf("a recognizer needs a name");
    return SQLITE_ERROR;
  }
  if (zEntity == 0 || !valid_entity(zEntity)) {
    *pzErr = sqlite3_mprintf("recognizer %s: the entity type must be 1 to 64 of A-Z, 0-9 and _, "
                             "starting with a letter (like EMPLOYEE_ID)",
                             zName);
    return SQLITE_ERROR;
  }
  int t = sqlite3_value_numeric_type(pScore);
  double score = sqlite3_value_double(pScore);
  if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(score >= 0 && score <= 1)) {
    *pzErr = sqlite3_mprintf("recognizer %s: the score must be a number from 0 to 1", zName);
    return SQLITE_ERROR;
  }
  if (zPattern == 0) {
    *pzErr = sqlite3_mprintf("recognizer %s: the pattern must be text", zName);
    return SQLITE_ERROR;
  }
  char *zErr = 0;
  int rc = vg_pii_pattern_check(zPattern, &zErr);
  if (rc == SQLITE_ERROR) *pzErr = sqlite3_mprintf("recognizer %s: %s", zName, zErr);
  sqlite3_free(zErr);
  return rc;
}

/* Context words as the engine wants them: lower case, '|' between; the
** table may separate them with commas, '|' or spaces. */
static char *context_words(const char *z) {
  if (z == 0) return 0;
  char *zOut = sqlite3_mprintf("%s", z);
  if (zOut == 0) return 0;
  int j = 0;
  for (int i = 0; zOut[i]; i++) {
    char ch = zOut[i];
    if (ch == ',' || ch == '|' || ch == ' ' || ch == '\t' || ch == '\n') {
      if (j > 0 && zOut[j - 1] != '|') zOut[j++] = '|';
    } else {
      zOut[j++] = (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
    }
  }
  if (j > 0 && zOut[j - 1] == '|') j--;
  zOut[j] = 0;
  return zOut;
}

static int own(PiiConn *c, char *z) {
  char **az = sqlite3_realloc64(c->azOwned, sizeof(char *) * (size_t)(c->nOwned + 1));
  if (az == 0) {
    sqlite3_free(z);
    return SQLITE_NOMEM;
  }
  c->azOwned = az;
  c->azOwned[c->nOwned++] = z;
  return SQLITE_OK;
}

/* Add one enabled row of vg_pii_recognizers to c->aRec. */
static int add_custom(PiiConn *c, sqlite3_stmt *pRow, char **pzErr) {
  const char *zName = (const char *)sqlite3_column_text(pRow, 0);
  const char *zEntity = (const char *)sqlite3_column_text(pRow, 1);
  const char *zPattern = (const char *)sqlite3_column_text(pRow, 2);
  int rc = pii_custom_check(zName, zEntity, zPattern, sqlite3_column_value(pRow, 3), pzErr);
  if (rc != SQLITE_OK) return rc;
  VgPiiRecognizer *a = sqlite3_realloc64(c->aRec, sizeof(VgPiiRecognizer) * (size_t)(c->nRec + 1));
  if (a == 0) return SQLITE_NOMEM;
  c->aRec = a;
  VgPiiRecognizer *r = &c->aRec[c->nRec];
  memset(r, 0, sizeof(*r));
  char *azCopy[4] = {sqlite3_mprintf("%s", zName), sqlite3_mprintf("%s", zEntity),
                     sqlite3_mprintf("%s", zPattern),
                     context_words((const char *)sqlite3_column_text(pRow, 4))};
  int bContext = sqlite3_column_type(pRow, 4) != SQLITE_NULL;
  for (int i = 0; i < 4; i++) {
    if (azCopy[i] == 0 && (i < 3 || bContext)) rc = SQLITE_NOMEM;
    if (azCopy[i] && own(c, azCopy[i]) != SQLITE_OK) rc = SQLITE_NOMEM;
  }
  if (rc != SQLITE_OK) return rc;
  r->zName = azCopy[0];
  r->zEntity = azCopy[1];
  r->zPattern = azCopy[2];
  r->zContext = azCopy[3] && azCopy[3][0] ? azCopy[3] : 0;
  r->score = sqlite3_column_double(pRow, 3);
  c->nRec++;
  return SQLITE_OK;
}

static const char *zCustomSql =
    "SELECT name, entity, pattern, score, context FROM main.vg_pii_recognizers "
    "WHERE enabled ORDER BY name";

/* The BLAKE2b of the enabled rows, to tell whether the engine is stale. */
static int rows_hash(sqlite3 *db, unsigned char *aHash, char **pzErr) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, 0, 0, 32);
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db, zCustomSql, -1, &pStmt, 0);
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
    for (int i = 0; i < 5; i++) {
      const unsigned char *z = sqlite3_column_text(pStmt, i);
      int n = sqlite3_column_bytes(pStmt, i);
      unsigned char aLen[5] = {(unsigned char)sqlite3_column_type(pStmt, i), (unsigned char)n,
                               (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                               (unsigned char)(n >> 24)};
      crypto_generichash_update(&st, aLen, sizeof aLen);
      if (z) crypto_generichash_update(&st, z, (unsigned long long)n);
    }
  }
  int rcFinal = sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK) rc = rcFinal;
  if (rc != SQLITE_OK && rc != SQLITE_NOMEM) {
    *pzErr = sqlite3_mprintf("cannot read vg_pii_recognizers: %s", sqlite3_errmsg(db));
  }
  crypto_generichash_final(&st, aHash, 32);
  return rc;
}

/* Rebuild the engine from the built-in recognizers and the table's rows. */
static int rebuild(PiiConn *c, sqlite3 *db, int bTable, char **pzErr) {
  VgPiiEngine *pOld = c->pEngine;
  c->pEngine = 0;
  vg_pii_engine_free(pOld);
  free_custom(c);
  c->aRec = sqlite3_malloc64(sizeof(VgPiiRecognizer) * (size_t)vg_pii_builtin_count);
  if (c->aRec == 0) return SQLITE_NOMEM;
  memcpy(c->aRec, vg_pii_builtin, sizeof(VgPiiRecognizer) * (size_t)vg_pii_builtin_count);
  c->nRec = vg_pii_builtin_count;
  int rc = SQLITE_OK;
  if (bTable) {
    sqlite3_stmt *pStmt = 0;
    rc = sqlite3_prepare_v2(db, zCustomSql, -1, &pStmt, 0);
    while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
      char *zErr = 0;
      rc = add_custom(c, pStmt, &zErr);
      if (zErr) *pzErr = sqlite3_mprintf("vg_pii_recognizers: %s", zErr);
      sqlite3_free(zErr);
    }
    int rcFinal = sqlite3_finalize(pStmt);
    if (rc == SQLITE_OK && rcFinal != SQLITE_OK) {
      rc = rcFinal;
      *pzErr = sqlite3_mprintf("cannot read vg_pii_recognizers: %s", sqlite3_errmsg(db));
    }
  }
  if (rc == SQLITE_OK) rc = vg_pii_engine_new(c->aRec, c->nRec, &c->pEngine, pzErr);
  if (rc != SQLITE_OK) free_custom(c);
  return rc;
}

static PiiStamp stamp_of(sqlite3 *db) {
  PiiStamp st = {sqlite3_total_changes64(db), 0};
  sqlite3_file_control(db, "main", SQLITE_FCNTL_DATA_VERSION, &st.iDataVersion);
  return st;
}

static int same_stamp(const PiiStamp *a, const PiiStamp *b) {
  return a->nChanges == b->nChanges && a->iDataVersion == b->iDataVersion;
}

/* Does main hold the table?  Outside a transaction this reads the schema
** from the file (a statement that touches no table opens none, so the
** connection's copy of the schema and its data version may be stale). */
static int table_exists(sqlite3 *db, const char *zTable, int *pbExists) {
  if (sqlite3_txn_state(db, "main") != SQLITE_TXN_NONE) {
    *pbExists = vg_has_table(db, zTable, 0);
    return SQLITE_OK;
  }
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(
      db, "SELECT count(*) FROM main.sqlite_schema WHERE type = 'table' AND name = ?", -1, &pStmt, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(pStmt, 1, zTable, -1, SQLITE_STATIC);
  *pbExists = sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_int(pStmt, 0) > 0;
  return sqlite3_finalize(pStmt);
}

VgPiiEngine *pii_conn_engine(PiiConn *c, sqlite3 *db, int *pRc, char **pzErr) {
  int bTable = 0;
  int rc = table_exists(db, "vg_pii_recognizers", &bTable);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("cannot read the schema: %s", sqlite3_errmsg(db));
    *pRc = rc;
    return 0;
  }
  /* The table can only have changed if this connection changed something
  ** or another one committed since the engine was built. */
  PiiStamp now = stamp_of(db);
  if (c->pEngine && c->bBuilt && same_stamp(&now, &c->built) && bTable == c->bTable) {
    return c->pEngine;
  }
  unsigned char aHash[32];
  memset(aHash, 0, sizeof aHash);
  if (bTable) rc = rows_hash(db, aHash, pzErr);
  if (rc == SQLITE_OK && !(c->pEngine && c->bBuilt && bTable == c->bTable &&
                           memcmp(aHash, c->aRowsHash, sizeof aHash) == 0)) {
    c->bBuilt = 0;
    rc = rebuild(c, db, bTable, pzErr);
  }
  if (rc != SQLITE_OK) {
    *pRc = rc;
    return 0;
  }
  c->bBuilt = 1;
  c->built = now;
  c->bTable = bTable;
  memcpy(c->aRowsHash, aHash, sizeof aHash);
  return c->pEngine;
}

const char *const vg_pii_ner_types[PII_NER_TYPES] = {"PERSON", "LOCATION", "ORGANIZATION"};

const char *pii_conn_entity(PiiConn *c, const char *zEntity) {
  for (int i = 0; i < c->nRec; i++) {
    if (strcmp(c->aRec[i].zEntity, zEntity) == 0) return c->aRec[i].zEntity;
  }
  for (int i = 0; i < PII_NER_TYPES; i++) {
    if (strcmp(vg_pii_ner_types[i], zEntity) == 0) return vg_pii_ner_types[i];
  }
  return 0;
}

/* Do the options ask for a type only a model finds? */
static int ner_wanted(const PiiOptions *o) {
  if (o == 0 || o->scan.azEntity == 0) return 1;
  for (int i = 0; i < o->scan.nEntity; i++) {
    for (int k = 0; k < PII_NER_TYPES; k++) {
      if (strcmp(o->scan.azEntity[i], vg_pii_ner_types[k]) == 0) return 1;
    }
  }
  return 0;
}

static int conn_ner(PiiConn *c, const PiiOptions *o, const char *z, int n, VgPiiFindings *pOut, char **pzErr) {
  const char *zModel = o && o->zNer ? o->zNer : PII_NER_MODEL;
  if (c->xNer == 0 || !ner_wanted(o)) return SQLITE_OK; /* the model is the slow part: run it only for its types */
  int rc = c->xNer(c->pNerCtx, zModel, z, n, pOut, pzErr);
  if (rc != SQLITE_NOTFOUND) return rc;
  if (o == 0 || o->zNer == 0) return SQLITE_OK; /* no model: no names found, as documented */
  *pzErr = sqlite3_mprintf("ner: no model \"%s\" is loaded on this connection: load a token-classification "
                           "folder with vg_model_load('%s', '/path/to/folder')",
                           zModel, zModel);
  return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
}

int pii_conn_scan(PiiConn *c, VgPiiEngine *e, const PiiOptions *o, const char *z, int n, VgPiiFindings *pOut,
                  char **pzErr) {
  VgPiiFindings ner = {0, 0, 0};
  int rc = conn_ner(c, o, z, n, &ner, pzErr);
  if (rc == SQLITE_OK) {
    VgPiiOptions scan = {0};
    if (o) scan = o->scan;
    scan.aExtra = ner.a;
    scan.nExtra = ner.n;
    rc = vg_pii_engine_scan(e, z, n, &scan, pOut, pzErr);
  }
  vg_pii_findings_free(&ner);
  return rc;
}

/* ---- keys --------------------------------------------------------------- */

/* pii_key_from_table(), but SQLITE_NOTFOUND (and a message) when there is no
** such row or no table. */
static int key_row(PiiConn *c, sqlite3 *db, const char *zName, VgPiiKey *pKey, char **pzErr) {
  /* A statement that reads many rows asks for the same key each time.  The
  ** stamp is current only inside a transaction (one is open while a
  ** statement reads a table). */
  int bInTxn = sqlite3_txn_state(db, "main") != SQLITE_TXN_NONE;
  PiiStamp now = stamp_of(db);
  if (bInTxn && c->zTableKeyName && strcmp(c->zTableKeyName, zName) == 0 &&
      same_stamp(&now, &c->tableKeyStamp)) {
    *pKey = c->tableKey;
    return SQLITE_OK;
  }
  if (!vg_has_table(db, "vg_pii_keys", 0)) {
    *pzErr = sqlite3_mprintf("no key named '%s': there is no vg_pii_keys table", zName);
    return SQLITE_NOTFOUND;
  }
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT key FROM main.vg_pii_keys WHERE name = ?", -1, &pStmt, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zName, -1, SQLITE_STATIC);
    int rcStep = sqlite3_step(pStmt);
    if (rcStep == SQLITE_ROW) {
      if (sqlite3_column_type(pStmt, 0) == SQLITE_BLOB &&
          sqlite3_column_bytes(pStmt, 0) == VG_PII_KEY_BYTES) {
        vg_pii_key_derive(sqlite3_column_blob(pStmt, 0), pKey);
      } else {
        *pzErr = sqlite3_mprintf("vg_pii_keys row '%s': the key must be a %d-byte BLOB", zName,
                                 VG_PII_KEY_BYTES);
        rc = SQLITE_ERROR;
      }
    } else if (rcStep == SQLITE_DONE) {
      *pzErr = sqlite3_mprintf("no key named '%s' in vg_pii_keys", zName);
      rc = SQLITE_NOTFOUND;
    } else {
      rc = rcStep;
    }
  }
  if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND && *pzErr == 0 && rc != SQLITE_NOMEM) {
    *pzErr = sqlite3_mprintf("cannot read vg_pii_keys: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && bInTxn) {
    char *zCopy = sqlite3_mprintf("%s", zName);
    if (zCopy) { /* out of memory: not remembered, read again next time */
      sqlite3_free(c->zTableKeyName);
      c->zTableKeyName = zCopy;
      c->tableKeyStamp = now;
      c->tableKey = *pKey;
    }
  }
  return rc;
}

int pii_key_from_table(PiiConn *c, sqlite3 *db, const char *zName, VgPiiKey *pKey, char **pzErr) {
  int rc = key_row(c, db, zName, pKey, pzErr);
  return rc == SQLITE_NOTFOUND ? SQLITE_ERROR : rc;
}

int pii_conn_key(PiiConn *c, sqlite3 *db, sqlite3_value *pArg, VgPiiKey *pKey, char **pzErr) {
  if (pArg && sqlite3_value_type(pArg) == SQLITE_BLOB) {
    if (sqlite3_value_bytes(pArg) != VG_PII_KEY_BYTES) {
      *pzErr = sqlite3_mprintf("a key must be a %d-byte BLOB (like randomblob(%d)) or the name "
                               "of a row of vg_pii_keys; got a %d-byte BLOB",
                               VG_PII_KEY_BYTES, VG_PII_KEY_BYTES, sqlite3_value_bytes(pArg));
      return SQLITE_ERROR;
    }
    vg_pii_key_derive(sqlite3_value_blob(pArg), pKey);
    return SQLITE_OK;
  }
  if (pArg && sqlite3_value_type(pArg) == SQLITE_TEXT) {
    const char *zName = 0;
    int rc = vg_text_value(pArg, "the key name", VG_TEXT_NAME, &zName, 0, pzErr);
    return rc == SQLITE_OK ? pii_key_from_table(c, db, zName, pKey, pzErr) : rc;
  }
  if (pArg && sqlite3_value_type(pArg) != SQLITE_NULL) {
    *pzErr = sqlite3_mprintf("a key must be a %d-byte BLOB or the name of a row of vg_pii_keys",
                             VG_PII_KEY_BYTES);
    return SQLITE_ERROR;
  }
  if (c->bKey) {
    *pKey = c->key;
    return SQLITE_OK;
  }
  int rc = key_row(c, db, "default", pKey, pzErr);
  if (rc != SQLITE_NOTFOUND) return rc;
  sqlite3_free(*pzErr);
  *pzErr = sqlite3_mprintf("no key: set one with vg_pii_set_key(randomblob(%d)) or add a "
                           "'default' row to vg_pii_keys",
                           VG_PII_KEY_BYTES);
  return SQLITE_ERROR;
}
