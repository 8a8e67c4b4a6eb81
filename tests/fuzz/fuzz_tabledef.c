/*
** fuzz_tabledef.c — libFuzzer target for the vg_hnsw table definition parser
** (ext/table/tabledef.c).
**
** Feeds: the first byte picks a mode, the rest is text:
**   0  a whole statement             -> vg_tabledef_parse_sql
**   1  what follows "CREATE VIRTUAL TABLE " in a statement that SQLite runs
**      on a database where vg_hnsw is a stand-in module that records the
**      arguments SQLite hands to xCreate
**   2  module arguments separated by NUL bytes -> vg_tabledef_parse (argv)
**
** Checks:
**   - the parser is deterministic: the same text gives the same result and
**     message twice; every refusal has a message naming vg_hnsw (or, from
**     the statement form, "not a vg_hnsw table" with SQLITE_MISMATCH);
**   - an accepted definition holds together: one vector column of 1 to
**     16,384 dimensions, at most one partition key (text or integer), unique
**     non-reserved non-empty names, metadata types that filter, storage
**     slots numbered in order, at most 64 metadata and 64 auxiliary columns,
**     options within the documented ranges; its declaration
**     (vg_tabledef_declaration) is an SQL statement SQLite accepts;
**   - it round-trips: written back as module arguments (quoted names, every
**     option spelled out) it parses, in both forms, to the same definition;
**   - mode 1: what vg_tabledef_parse_sql reads from sqlite_schema (as the
**     queue does) is the definition xCreate got from SQLite's own split of
**     the arguments, whatever the statement holds (SQL comments, a quoted
**     module name, empty arguments, which SQLite drops); a table of another
**     module, with or without arguments, is SQLITE_MISMATCH.
*/
#include "fuzzutil.h"
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

static sqlite3 *dbDecl; /* where declarations are prepared */
static sqlite3 *dbCap;  /* where vg_hnsw is the recording module */

/* ---- definitions compared, checked and written back ------------------------ */

/* 0 when equal, else what differs. */
static const char *def_diff(const VgTableDef *a, const VgTableDef *b) {
  if (a->nCol != b->nCol) return "column count";
  for (int i = 0; i < a->nCol; i++) {
    const VgColumn *x = &a->aCol[i], *y = &b->aCol[i];
    if (strcmp(x->zName, y->zName) != 0) return "a column name";
    if (x->kind != y->kind) return "a column kind";
    if (x->kind != VG_COL_VECTOR && x->type != y->type) return "a column type";
    if ((x->kind == VG_COL_METADATA || x->kind == VG_COL_AUX) && x->iStore != y->iStore) return "a slot";
  }
  if (a->iVector != b->iVector || a->iPartition != b->iPartition) return "vector or partition index";
  if (a->nMeta != b->nMeta || a->nAux != b->nAux) return "metadata or auxiliary count";
  if (a->nDims != b->nDims || a->metric != b->metric || a->element != b->element) {
    return "element type, dimension or metric";
  }
  if (a->hnswM != b->hnswM || a->efConstruction != b->efConstruction || a->efSearch != b->efSearch ||
      a->quantization != b->quantization) {
    return "an index option";
  }
  return 0;
}

static void check_def(const VgTableDef *d, const char *zInput) {
  static const char *const azReserved[] = {"rowid", "oid", "_rowid_", "distance", "k", "ef", "exact"};
  int nVec = 0, nPart = 0, nMeta = 0, nAux = 0;
  FZ_CHECKF(d->nCol >= 1, "no columns: %s", zInput);
  for (int i = 0; i < d->nCol; i++) {
    const VgColumn *c = &d->aCol[i];
    FZ_CHECKF(c->zName && c->zName[0], "column %d has no name: %s", i, zInput);
    for (size_t r = 0; r < sizeof azReserved / sizeof azReserved[0]; r++) {
      FZ_CHECKF(sqlite3_stricmp(c->zName, azReserved[r]) != 0, "reserved name %s accepted: %s", c->zName, zInput);
    }
    for (int j = 0; j < i; j++) {
      FZ_CHECKF(sqlite3_stricmp(c->zName, d->aCol[j].zName) != 0, "duplicate name %s accepted: %s", c->zName,
                zInput);
    }
    switch (c->kind) {
      case VG_COL_VECTOR:
        FZ_CHECK(d->iVector == i);
        nVec++;
        break;
      case VG_COL_PARTITION:
        FZ_CHECK(d->iPartition == i);
        FZ_CHECKF(c->type == VG_TYPE_TEXT || c->type == VG_TYPE_INTEGER, "partition key of type %d: %s",
                  (int)c->type, zInput);
        nPart++;
        break;
      case VG_COL_METADATA:
        FZ_CHECKF(c->type == VG_TYPE_TEXT || c->type == VG_TYPE_INTEGER || c->type == VG_TYPE_REAL ||
                      c->type == VG_TYPE_BOOLEAN,
                  "metadata column %s of type %d: %s", c->zName, (int)c->type, zInput);
        FZ_CHECKF(c->iStore == nMeta, "metadata slot %d, expected %d: %s", c->iStore, nMeta, zInput);
        nMeta++;
        break;
      case VG_COL_AUX:
        FZ_CHECK(c->type >= VG_TYPE_ANY && c->type <= VG_TYPE_BOOLEAN);
        FZ_CHECKF(c->iStore == nAux, "auxiliary slot %d, expected %d: %s", c->iStore, nAux, zInput);
        nAux++;
        break;
      default:
        fz_fail("column kind %d", (int)c->kind);
    }
  }
  FZ_CHECKF(nVec == 1, "%d vector columns: %s", nVec, zInput);
  FZ_CHECKF(nPart == (d->iPartition >= 0), "partition index %d with %d keys: %s", d->iPartition, nPart, zInput);
  FZ_CHECK(nMeta == d->nMeta && nAux == d->nAux);
  FZ_CHECK(nMeta <= VG_MAX_METADATA && nAux <= VG_MAX_AUX);
  FZ_CHECKF(d->nDims >= 1 && d->nDims <= VG_MAX_DIMS, "dimension %d: %s", d->nDims, zInput);
  FZ_CHECK(d->element == VG_ELEMENT_FLOAT32 || d->element == VG_ELEMENT_INT8 || d->element == VG_ELEMENT_BIT);
  FZ_CHECK(vg_metric_allowed(d->element, d->metric));
  FZ_CHECK(d->element != VG_ELEMENT_BIT || d->nDims % 8 == 0);
  FZ_CHECK(d->element == VG_ELEMENT_FLOAT32 || d->quantization == VG_QUANT_NONE);
  FZ_CHECKF(d->hnswM >= 2 && d->hnswM <= VG_HNSW_MAX_M, "hnsw_m %d", d->hnswM);
  FZ_CHECKF(d->efConstruction >= 1 && d->efConstruction <= VG_MAX_EF, "ef_construction %d", d->efConstruction);
  FZ_CHECKF(d->efSearch >= 1 && d->efSearch <= VG_MAX_EF, "ef_search %d", d->efSearch);
  FZ_CHECK(d->quantization == VG_QUANT_NONE || d->quantization == VG_QUANT_INT8);

  /* The declaration is what xCreate hands to sqlite3_declare_vtab. */
  char *zDecl = vg_tabledef_declaration(d);
  FZ_CHECK(zDecl != 0);
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(dbDecl, zDecl, -1, &p, 0);
  FZ_CHECKF(rc == SQLITE_OK, "the declaration does not prepare: %s\n  %s\n  from %s", sqlite3_errmsg(dbDecl),
            zDecl, zInput);
  sqlite3_finalize(p);
  sqlite3_free(zDecl);
}

static void append_name(sqlite3_str *s, const char *zName) {
  sqlite3_str_appendchar(s, 1, '"');
  for (const char *z = zName; *z; z++) {
    if (*z == '"') sqlite3_str_appendchar(s, 1, '"');
    sqlite3_str_appendchar(s, 1, *z);
  }
  sqlite3_str_appendchar(s, 1, '"');
}

/* The definition written as module arguments, one per column and option
** (nCol + 4 strings from sqlite3_mprintf). */
static char **write_back(const VgTableDef *d, int *pn) {
  int n = d->nCol + 4;
  char **az = calloc((size_t)n, sizeof(char *));
  for (int i = 0; i < d->nCol; i++) {
    const VgColumn *c = &d->aCol[i];
    sqlite3_str *s = sqlite3_str_new(0);
    if (c->kind == VG_COL_AUX) sqlite3_str_appendchar(s, 1, '+');
    append_name(s, c->zName);
    if (c->kind == VG_COL_VECTOR) {
      sqlite3_str_appendf(s, " %s[%d] distance_metric=%s",
                          d->element == VG_ELEMENT_FLOAT32 ? "float" : vg_element_name(d->element), d->nDims,
                          vg_metric_name(d->metric));
    } else {
      sqlite3_str_appendf(s, " %s%s", vg_value_type_name(c->type), c->kind == VG_COL_PARTITION ? " partition key" : "");
    }
    az[i] = sqlite3_str_finish(s);
  }
  az[d->nCol] = sqlite3_mprintf("hnsw_m=%d", d->hnswM);
  az[d->nCol + 1] = sqlite3_mprintf("ef_construction=%d", d->efConstruction);
  az[d->nCol + 2] = sqlite3_mprintf("ef_search=%d", d->efSearch);
  az[d->nCol + 3] = sqlite3_mprintf("quantization=%s", d->quantization == VG_QUANT_INT8 ? "int8" : "none");
  *pn = n;
  return az;
}

static void round_trip(const VgTableDef *d, const char *zInput) {
  int n = 0;
  char **az = write_back(d, &n);
  VgTableDef *d2 = 0;
  char *zErr = 0;
  int rc = vg_tabledef_parse(n, (const char *const *)az, &d2, &zErr);
  FZ_CHECKF(rc == SQLITE_OK, "written back, the definition is refused: %s\n  first argument: %s\n  from: %s",
            zErr ? zErr : "?", az[0], zInput);
  const char *zDiff = def_diff(d, d2);
  FZ_CHECKF(zDiff == 0, "written back, the definition differs in %s\n  from: %s", zDiff, zInput);
  vg_tabledef_free(d2);

  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "CREATE VIRTUAL TABLE t USING vg_hnsw(");
  for (int i = 0; i < n; i++) sqlite3_str_appendf(s, "%s%s", i ? ", " : "", az[i]);
  sqlite3_str_appendall(s, ")");
  char *zSql = sqlite3_str_finish(s);
  d2 = 0;
  rc = vg_tabledef_parse_sql(zSql, &d2, &zErr);
  FZ_CHECKF(rc == SQLITE_OK, "written back as a statement, refused: %s\n  %s", zErr ? zErr : "?", zSql);
  zDiff = def_diff(d, d2);
  FZ_CHECKF(zDiff == 0, "written back as a statement, differs in %s\n  %s", zDiff, zSql);
  vg_tabledef_free(d2);
  sqlite3_free(zSql);
  for (int i = 0; i < n; i++) sqlite3_free(az[i]);
  free(az);
}

/* A parse's outcome, checked for what every outcome must be. */
static void check_outcome(int rc, VgTableDef *d, char *zErr, int bSql, const char *zInput) {
  if (rc == SQLITE_OK) {
    FZ_CHECK(d != 0);
    check_def(d, zInput);
    round_trip(d, zInput);
    return;
  }
  FZ_CHECK(d == 0);
  FZ_CHECKF(rc == SQLITE_ERROR || (bSql && rc == SQLITE_MISMATCH), "rc %d from: %s", rc, zInput);
  FZ_CHECKF(fz_is_message(zErr), "an error (rc %d) without a message: %s", rc, zInput);
  if (rc == SQLITE_MISMATCH) {
    FZ_CHECKF(strncmp(zErr, "not a vg_hnsw table", 19) == 0, "mismatch says: %s", zErr);
  } else {
    FZ_CHECKF(strncmp(zErr, "vg_hnsw: ", 9) == 0, "message without vg_hnsw: %s", zErr);
  }
}

/* ---- mode 0: the statement form -------------------------------------------- */

static void fuzz_sql(const char *zSql) {
  VgTableDef *d = 0, *d2 = 0;
  char *zErr = 0, *zErr2 = 0;
  int rc = vg_tabledef_parse_sql(zSql, &d, &zErr);
  int rc2 = vg_tabledef_parse_sql(zSql, &d2, &zErr2);
  FZ_CHECK(rc == rc2);
  FZ_CHECK((zErr == 0) == (zErr2 == 0) && (zErr == 0 || strcmp(zErr, zErr2) == 0));
  FZ_CHECK(rc != SQLITE_OK || def_diff(d, d2) == 0);
  check_outcome(rc, d, zErr, 1, zSql);
  vg_tabledef_free(d);
  vg_tabledef_free(d2);
  sqlite3_free(zErr);
  sqlite3_free(zErr2);
}

/* ---- mode 2: the argv form ------------------------------------------------- */

static void fuzz_argv(const char *z, size_t n) {
  /* Arguments are the NUL-separated pieces; the last may end unterminated. */
  char *zCopy = malloc(n + 1);
  memcpy(zCopy, z, n);
  zCopy[n] = 0;
  const char *az[200];
  int nArg = 0;
  for (size_t i = 0; i <= n && nArg < 200;) {
    az[nArg++] = zCopy + i;
    i += strlen(zCopy + i) + 1;
  }
  VgTableDef *d = 0, *d2 = 0;
  char *zErr = 0, *zErr2 = 0;
  int rc = vg_tabledef_parse(nArg, az, &d, &zErr);
  int rc2 = vg_tabledef_parse(nArg, az, &d2, &zErr2);
  FZ_CHECK(rc == rc2);
  FZ_CHECK((zErr == 0) == (zErr2 == 0) && (zErr == 0 || strcmp(zErr, zErr2) == 0));
  FZ_CHECK(rc != SQLITE_OK || def_diff(d, d2) == 0);
  check_outcome(rc, d, zErr, 0, az[0]);
  vg_tabledef_free(d);
  vg_tabledef_free(d2);
  sqlite3_free(zErr);
  sqlite3_free(zErr2);
  free(zCopy);
}

/* ---- mode 1: SQLite's split against the statement form ---------------------- */

/* What the recording module's xCreate got. */
static int bCaptured;
static int rcCaptured;
static VgTableDef *pCaptured;

static int cap_create(sqlite3 *db, void *pAux, int argc, const char *const *argv, sqlite3_vtab **ppVtab,
                      char **pzErr) {
  (void)pAux;
  (void)pzErr;
  char *zErr = 0;
  bCaptured = 1;
  vg_tabledef_free(pCaptured);
  pCaptured = 0;
  rcCaptured = vg_tabledef_parse(argc - 3, argv + 3, &pCaptured, &zErr);
  sqlite3_free(zErr);
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(a)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab *v = sqlite3_malloc(sizeof(*v));
  if (v == 0) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  *ppVtab = v;
  return SQLITE_OK;
}

static int cap_disconnect(sqlite3_vtab *v) {
  sqlite3_free(v);
  return SQLITE_OK;
}

static int cap_best_index(sqlite3_vtab *v, sqlite3_index_info *p) {
  (void)v;
  p->estimatedCost = 1;
  return SQLITE_OK;
}

static int cap_open(sqlite3_vtab *v, sqlite3_vtab_cursor **pp) {
  (void)v;
  *pp = sqlite3_malloc(sizeof(**pp));
  return *pp ? SQLITE_OK : SQLITE_NOMEM;
}

static int cap_close(sqlite3_vtab_cursor *c) {
  sqlite3_free(c);
  return SQLITE_OK;
}

static int cap_filter(sqlite3_vtab_cursor *c, int i, const char *s, int n, sqlite3_value **a) {
  (void)c, (void)i, (void)s, (void)n, (void)a;
  return SQLITE_OK;
}

static int cap_next(sqlite3_vtab_cursor *c) {
  (void)c;
  return SQLITE_OK;
}

static int cap_eof(sqlite3_vtab_cursor *c) {
  (void)c;
  return 1;
}

static int cap_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int i) {
  (void)c, (void)i;
  sqlite3_result_null(ctx);
  return SQLITE_OK;
}

static int cap_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *p) {
  (void)c;
  *p = 0;
  return SQLITE_OK;
}

static const sqlite3_module cap_module = {
    .iVersion = 0,
    .xCreate = cap_create,
    .xConnect = cap_create,
    .xBestIndex = cap_best_index,
    .xDisconnect = cap_disconnect,
    .xDestroy = cap_disconnect,
    .xOpen = cap_open,
    .xClose = cap_close,
    .xFilter = cap_filter,
    .xNext = cap_next,
    .xEof = cap_eof,
    .xColumn = cap_column,
    .xRowid = cap_rowid,
};

static void fuzz_sqlite_split(const char *zTail) {
  char *zSql = sqlite3_mprintf("CREATE VIRTUAL TABLE %s", zTail);
  sqlite3_stmt *p = 0;
  bCaptured = 0;
  /* Only the first statement runs: whatever the tail says, it creates one
  ** virtual table or fails. */
  if (sqlite3_prepare_v2(dbCap, zSql, -1, &p, 0) == SQLITE_OK && p) sqlite3_step(p);
  sqlite3_finalize(p);
  sqlite3_free(zSql);

  sqlite3_stmt *pList = 0;
  if (sqlite3_prepare_v2(dbCap,
                         "SELECT 'main', name, sql FROM main.sqlite_schema WHERE type = 'table' AND sql LIKE "
                         "'CREATE VIRTUAL%' UNION ALL SELECT 'temp', name, sql FROM temp.sqlite_schema WHERE type = "
                         "'table' AND sql LIKE 'CREATE VIRTUAL%'",
                         -1, &pList, 0) != SQLITE_OK) {
    fz_fail("listing tables: %s", sqlite3_errmsg(dbCap));
  }
  char *zDrop = 0;
  if (sqlite3_step(pList) == SQLITE_ROW) {
    const char *zSchema = (const char *)sqlite3_column_text(pList, 0);
    const char *zName = (const char *)sqlite3_column_text(pList, 1);
    const char *zStored = (const char *)sqlite3_column_text(pList, 2);
    zDrop = sqlite3_mprintf("DROP TABLE \"%w\".\"%w\"", zSchema, zName);
    VgTableDef *d = 0;
    char *zErr = 0;
    int rc = vg_tabledef_parse_sql(zStored, &d, &zErr);
    if (!bCaptured) {
      FZ_CHECKF(rc == SQLITE_MISMATCH, "a table of another module read as vg_hnsw (rc %d): %s", rc, zStored);
    } else if (rcCaptured == SQLITE_OK) {
      FZ_CHECKF(rc == SQLITE_OK, "xCreate's arguments parse, the stored statement does not (rc %d: %s):\n  %s", rc,
                zErr ? zErr : "?", zStored);
      const char *zDiff = def_diff(pCaptured, d);
      FZ_CHECKF(zDiff == 0, "the stored statement reads differently from xCreate's arguments (%s):\n  %s", zDiff,
                zStored);
    } else {
      FZ_CHECKF(rc == SQLITE_ERROR, "xCreate's arguments do not parse, the stored statement gives rc %d:\n  %s", rc,
                zStored);
    }
    check_outcome(rc, d, zErr, 1, zStored);
    vg_tabledef_free(d);
    sqlite3_free(zErr);
  }
  sqlite3_finalize(pList);
  if (zDrop) {
    char *zErr = 0;
    if (sqlite3_exec(dbCap, zDrop, 0, 0, &zErr) != SQLITE_OK) fz_fail("%s: %s", zDrop, zErr);
    sqlite3_free(zDrop);
  }
  vg_tabledef_free(pCaptured);
  pCaptured = 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (sqlite3_open(":memory:", &dbDecl) != SQLITE_OK || sqlite3_open(":memory:", &dbCap) != SQLITE_OK) {
    fz_fail("cannot open the databases");
  }
  if (sqlite3_create_module(dbCap, "vg_hnsw", &cap_module, 0) != SQLITE_OK) fz_fail("cannot register");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 || size > 20000) return 0;
  const char *z = (const char *)data + 1;
  size_t n = size - 1;
  if (data[0] % 3 == 2) {
    fuzz_argv(z, n);
    return 0;
  }
  /* The statement forms take C strings, as sqlite_schema gives them. */
  char *zText = malloc(n + 1);
  memcpy(zText, z, n);
  zText[n] = 0;
  if (data[0] % 3 == 0) {
    fuzz_sql(zText);
  } else {
    fuzz_sqlite_split(zText);
  }
  free(zText);
  return 0;
}
