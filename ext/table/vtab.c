/*
** vtab.c — the vg_hnsw virtual table: creating and connecting, and writes
** (INSERT, UPDATE, DELETE with SQLite's conflict modes).  The per-partition
** graphs and vector caches that searches read are index.c's.
**
** Writes validate everything before touching storage: the only errors that
** may be reported as constraint failures are a taken rowid or primary key
** and a NULL key, found before any change, as SQLITE_VTAB_CONSTRAINT_SUPPORT
** requires, with an ordinary table's extended codes (SQLite reads only the
** primary code, SQLITE_CONSTRAINT, to apply OR IGNORE and the others);
** every other failure is SQLITE_ERROR (or worse) and SQLite rolls the
** statement back.
**
** The HNSW graphs and their storage are kept in step by index.c; this file
** turns SQL values into rows and applies SQLite's conflict rules.
*/
#include "table/table.h"

#include <stdarg.h>
#include <string.h>

int vg_vtab_set_error(VgVtab *p, int rc, char *zErr) {
  sqlite3_free(p->base.zErrMsg);
  p->base.zErrMsg = zErr;
  return rc;
}

int vg_table_error(VgVtab *p, int rc, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *z = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  return vg_vtab_set_error(p, rc, z);
}

int vg_vtab_graph(VgVtab *p, sqlite3_int64 part, sqlite3_int64 nonce, Hnsw **ppGraph) {
  char *zErr = 0;
  int rc = vg_index_graph(p->pIndex, part, nonce, ppGraph, &zErr);
  if (rc != SQLITE_OK && zErr) return vg_vtab_set_error(p, rc, zErr);
  return rc;
}

/* ---- lifecycle --------------------------------------------------------- */

static void vtab_free(VgVtab *p) {
  if (p == 0) return;
  vg_vtab_forget_statements(p);
  vg_index_close(p->pIndex);
  vg_fulltext_close(p->pFulltext);
  vg_reader_close(p->pReader);
  vg_store_disconnect(p->pStore);
  vg_tabledef_free(p->pDef);
  sqlite3_free(p->zName);
  sqlite3_free(p->base.zErrMsg);
  sqlite3_free(p);
}

static int vtab_init(sqlite3 *db, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr, int bCreate) {
  VgTableDef *pDef = 0;
  *ppVtab = 0;
  int rc = vg_tabledef_parse(argc - 3, argv + 3, &pDef, pzErr);
  if (rc != SQLITE_OK) return rc;
  char *zDecl = vg_tabledef_declaration(pDef);
  if (zDecl == 0) {
    vg_tabledef_free(pDef);
    return SQLITE_NOMEM;
  }
  rc = sqlite3_declare_vtab(db, zDecl);
  sqlite3_free(zDecl);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("vg_hnsw: cannot declare %s: %s", argv[2], sqlite3_errmsg(db));
    vg_tabledef_free(pDef);
    return rc;
  }
  VgVtab *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) {
    vg_tabledef_free(pDef);
    return SQLITE_NOMEM;
  }
  memset(p, 0, sizeof(*p));
  p->db = db;
  p->pDef = pDef;
  p->zName = sqlite3_mprintf("%s", argv[2]);
  if (p->zName == 0) rc = SQLITE_NOMEM;
  if (rc == SQLITE_OK && bCreate) rc = vg_store_create(db, argv[1], argv[2], pDef, pzErr);
  if (rc == SQLITE_OK && bCreate && pDef->iFulltext >= 0) {
    rc = vg_fulltext_create(db, argv[1], argv[2], pzErr);
  }
  if (rc == SQLITE_OK) rc = vg_store_connect(db, argv[1], argv[2], pDef, &p->pStore, pzErr);
  if (rc == SQLITE_OK && pDef->iFulltext >= 0) {
    rc = vg_fulltext_open(db, argv[1], argv[2], &p->pFulltext);
  }
  if (rc == SQLITE_OK) rc = vg_reader_open(p->pStore, &p->pReader);
  if (rc == SQLITE_OK) rc = vg_index_open(p->pStore, pDef, &p->pIndex);
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);
  /* Reads and writes touch only this table's data: safe in triggers and
  ** views even when trusted_schema is off. */
  if (rc == SQLITE_OK) rc = sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  if (rc != SQLITE_OK) {
    vtab_free(p);
    return rc;
  }
  *ppVtab = &p->base;
  return SQLITE_OK;
}

static int vtab_create(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                       sqlite3_vtab **ppVtab, char **pzErr) {
  (void)pAux;
  return vtab_init(db, argc, argv, ppVtab, pzErr, 1);
}

static int vtab_connect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                        sqlite3_vtab **ppVtab, char **pzErr) {
  (void)pAux;
  return vtab_init(db, argc, argv, ppVtab, pzErr, 0);
}

static int vtab_disconnect(sqlite3_vtab *pVtab) {
  vtab_free((VgVtab *)pVtab);
  return SQLITE_OK;
}

static int vtab_destroy(sqlite3_vtab *pVtab) {
  VgVtab *p = (VgVtab *)pVtab;
  char *zErr = 0;
  vg_reader_release(p->pReader);
  vg_vtab_forget_statements(p);
  int rc = vg_store_destroy(p->pStore, &zErr);
  if (rc == SQLITE_OK && p->pFulltext) rc = vg_fulltext_drop(p->pFulltext, &zErr);
  if (rc != SQLITE_OK) return vg_vtab_set_error(p, rc, zErr);
  vtab_free(p);
  return SQLITE_OK;
}

static int vtab_rename(sqlite3_vtab *pVtab, const char *zNew) {
  VgVtab *p = (VgVtab *)pVtab;
  char *zErr = 0;
  vg_reader_close(p->pReader);
  p->pReader = 0;
  vg_vtab_forget_statements(p);
  int rc = vg_store_rename(p->pStore, zNew, &zErr);
  if (rc == SQLITE_OK && p->pFulltext) rc = vg_fulltext_rename(p->pFulltext, zNew, &zErr);
  if (rc != SQLITE_OK) return vg_vtab_set_error(p, rc, zErr);
  rc = vg_reader_open(p->pStore, &p->pReader);
  if (rc == SQLITE_OK) {
    char *zName = sqlite3_mprintf("%s", zNew);
    if (zName == 0) return SQLITE_NOMEM;
    sqlite3_free(p->zName);
    p->zName = zName;
  }
  return rc;
}

static int vtab_shadow_name(const char *zSuffix) {
  return vg_store_is_shadow_suffix(zSuffix) || vg_fulltext_is_shadow_suffix(zSuffix);
}

/* ---- writes ------------------------------------------------------------ */

/* The values of one row being written, owned here. */
typedef struct RowBuf {
  VgRow row;
  VgValue *aVal; /* metadata, then auxiliary */
  float *aVec;   /* as given: floats, or an int8[N] or bit[N] column's bytes */
  float *aPrep;  /* prepared for the metric, for the cache */
  int nVal;
} RowBuf;

static int rowbuf_init(VgVtab *p, RowBuf *b) {
  const VgTableDef *d = p->pDef;
  memset(b, 0, sizeof(*b));
  b->nVal = d->nMeta + d->nAux;
  b->aVal = sqlite3_malloc64(sizeof(VgValue) * (b->nVal + 1)); /* never 0 bytes */
  b->aVec = sqlite3_malloc64(sizeof(float) * d->nDims * 2);
  if (b->aVal == 0 || b->aVec == 0) {
    sqlite3_free(b->aVal);
    sqlite3_free(b->aVec);
    return SQLITE_NOMEM;
  }
  memset(b->aVal, 0, sizeof(VgValue) * (b->nVal + 1));
  b->aPrep = b->aVec + d->nDims;
  b->row.aMeta = b->aVal;
  b->row.aAux = b->aVal + d->nMeta;
  b->row.aVec = b->aVec;
  b->row.partition.type = SQLITE_NULL;
  return SQLITE_OK;
}

static void rowbuf_clear(RowBuf *b) {
  if (b->aVal) {
    vg_value_clear(&b->row.partition);
    for (int i = 0; i < b->nVal; i++) vg_value_clear(&b->aVal[i]);
  }
  sqlite3_free(b->aVal);
  sqlite3_free(b->aVec);
  memset(b, 0, sizeof(*b));
}

/* The slot in b of user column iCol (not the vector). */
static VgValue *rowbuf_value(VgVtab *p, RowBuf *b, int iCol) {
  const VgColumn *c = &p->pDef->aCol[iCol];
  switch (c->kind) {
    case VG_COL_PARTITION:
      return &b->row.partition;
    case VG_COL_METADATA:
      return &b->row.aMeta[c->iStore];
    default:
      return &b->row.aAux[c->iStore];
  }
}

/* A vector for the table's column from v, as floats or bytes (*paVec, from
** sqlite3_malloc64) of d->nDims elements: zWhat says where it goes in
** messages ("column embedding", "query vector"); the caller has refused
** NULL.  Errors are the vtab's. */
int vg_vtab_vector(VgVtab *p, sqlite3_value *v, const char *zWhat, void **paVec, int *pnDims) {
  const VgTableDef *d = p->pDef;
  char *zErr = 0;
  int n = 0, rc, iTagged = vg_vector_sqlite_vec_type(v);
  *paVec = 0;
  *pnDims = 0;
  if (iTagged >= 0 && iTagged != (int)d->element) {
    /* sqlite-vec's vec_int8() and vec_bit() tag their blobs: one of them
    ** here is another type's bytes, which no length check would catch. */
    return vg_table_error(p, SQLITE_ERROR,
                          "%s: %s: got sqlite-vec's %s vector (%s); %s holds %s[%d] vectors",
                          p->zName, zWhat, vg_element_name((vg_element)iTagged),
                          iTagged == VG_ELEMENT_FLOAT32 ? "vec_f32" : iTagged == VG_ELEMENT_INT8 ? "vec_int8" : "vec_bit",
                          d->aCol[d->iVector].zName,
                          d->element == VG_ELEMENT_FLOAT32 ? "float" : vg_element_name(d->element), d->nDims);
  }
  if (d->element == VG_ELEMENT_FLOAT32) {
    float *a = 0;
    rc = vg_vector_from_value(v, &a, &n, &zErr);
    *paVec = a;
  } else {
    unsigned char *a = 0;
    rc = vg_vector_from_value_as(v, d->element, &a, &n, &zErr);
    *paVec = a;
  }
  if (rc != SQLITE_OK) {
    if (zErr == 0) return rc;
    rc = vg_table_error(p, rc, "%s: %s: %s", p->zName, zWhat, zErr);
    sqlite3_free(zErr);
    return rc;
  }
  *pnDims = n;
  return SQLITE_OK;
}

/* Check a new vector for column iCol and keep it in b. */
static int set_vector(VgVtab *p, RowBuf *b, sqlite3_value *v) {
  const VgTableDef *d = p->pDef;
  const char *zCol = d->aCol[d->iVector].zName;
  void *a = 0;
  int n = 0;
  if (sqlite3_value_type(v) == SQLITE_NULL) {
    return vg_table_error(p, SQLITE_ERROR, "%s: column %s needs a vector; got NULL",
                         p->zName, zCol);
  }
  char *zWhat = sqlite3_mprintf("column %s", zCol);
  if (zWhat == 0) return SQLITE_NOMEM;
  int rc = vg_vtab_vector(p, v, zWhat, &a, &n);
  sqlite3_free(zWhat);
  if (rc != SQLITE_OK) return rc;
  if (n != d->nDims && d->element == VG_ELEMENT_FLOAT32) {
    sqlite3_free(a);
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: column %s holds %d-dimensional vectors; got %d dimensions%s",
                         p->zName, zCol, d->nDims, n, vg_vector_float64_hint(v, n, d->nDims));
  }
  if (n != d->nDims) {
    sqlite3_free(a);
    return vg_table_error(p, SQLITE_ERROR, "%s: column %s holds %s[%d] vectors (%d bytes each); got %d %s%s",
                          p->zName, zCol, vg_element_name(d->element), d->nDims, vg_tabledef_vector_bytes(d), n,
                          d->element == VG_ELEMENT_BIT ? "bits" : "elements",
                          vg_vector_size_hint(v, d->element, n, d->nDims));
  }
  memcpy(b->aVec, a, (size_t)vg_tabledef_vector_bytes(d));
  sqlite3_free(a);
  return SQLITE_OK;
}

/* Check and convert the value of a non-vector user column into b. */
static int set_value(VgVtab *p, RowBuf *b, int iCol, sqlite3_value *v) {
  const VgColumn *c = &p->pDef->aCol[iCol];
  VgValue *pOut = rowbuf_value(p, b, iCol);
  char *zErr = 0;
  vg_value_clear(pOut);
  if (c->kind == VG_COL_PARTITION && sqlite3_value_type(v) == SQLITE_NULL) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: column %s is the partition key and cannot be NULL",
                         p->zName, c->zName);
  }
  int rc = SQLITE_OK;
  if (c->kind == VG_COL_PARTITION && sqlite3_value_type(v) == SQLITE_TEXT) {
    /* A tenant is a name, under the rule of every text argument: the
    ** pipeline's functions refuse "victim\0evil" as a tenant, so the
    ** table must not keep it as one. */
    const char *z = 0;
    char *zWhat = sqlite3_mprintf("the partition key %s", c->zName);
    rc = zWhat ? vg_text_value(v, zWhat, VG_TEXT_NAME, &z, 0, &zErr) : SQLITE_NOMEM;
    sqlite3_free(zWhat);
  }
  if (rc == SQLITE_OK) rc = vg_value_coerce(v, c->type, c->zName, pOut, &zErr);
  if (rc != SQLITE_OK && zErr) {
    rc = vg_table_error(p, rc, "%s: %s", p->zName, zErr);
    sqlite3_free(zErr);
  }
  return rc;
}

/* Prepare the vector for the cache; the cosine metric needs a direction. */
static int prepare_vector(VgVtab *p, RowBuf *b) {
  const VgTableDef *d = p->pDef;
  memcpy(b->aPrep, b->aVec, (size_t)vg_tabledef_vector_bytes(d));
  if (!vg_tabledef_prepare(d, b->aPrep)) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: column %s: a zero vector has no direction under the "
                         "cosine metric",
                         p->zName, d->aCol[d->iVector].zName);
  }
  return SQLITE_OK;
}

/* Read a rowid value the way an ordinary table does (numeric affinity). */
static int to_rowid(VgVtab *p, sqlite3_value *v, sqlite3_int64 *pRowid) {
  VgValue iv;
  char *zErr = 0;
  int rc = vg_value_coerce(v, VG_TYPE_INTEGER, "rowid", &iv, &zErr);
  if (rc == SQLITE_OK) {
    *pRowid = iv.i;
    vg_value_clear(&iv);
    return SQLITE_OK;
  }
  if (zErr == 0) return rc;
  rc = vg_table_error(p, SQLITE_MISMATCH, "%s: %s", p->zName, zErr);
  sqlite3_free(zErr);
  return rc;
}

/* distance, k, ef, exact and score are query inputs and outputs, never
** stored. */
static int check_hidden(VgVtab *p, int bUpdate, sqlite3_value **argv) {
  const VgTableDef *d = p->pDef;
  for (int i = VG_HIDDEN_DISTANCE(d); i < VG_HIDDEN_DISTANCE(d) + VG_HIDDEN_COUNT(d); i++) {
    sqlite3_value *v = argv[2 + i];
    if (bUpdate && sqlite3_value_nochange(v)) continue;
    if (sqlite3_value_type(v) != SQLITE_NULL) {
      return vg_table_error(p, SQLITE_ERROR, "%s: %s belongs to KNN queries and cannot be written",
                           p->zName, vg_tabledef_hidden_name(d, i));
    }
  }
  return SQLITE_OK;
}

/* An index error with its message (index messages name the table). */
static int index_error(VgVtab *p, int rc, char *zErr) {
  if (zErr == 0) return rc;
  return vg_vtab_set_error(p, rc, zErr);
}

/* ---- the fulltext index follows the rows ---- */

/* The fulltext value of the row the reader is on, owned, into *pOut. */
static int ft_old_text(VgVtab *p, VgValue *pOut) {
  char *zErr = 0;
  int rc = vg_reader_value(p->pReader, &p->pDef->aCol[p->pDef->iFulltext], pOut, &zErr);
  if (rc == SQLITE_OK) rc = vg_value_own(pOut);
  return index_error(p, rc, zErr);
}

/* Index (bAdd) or take out row rowid of partition part, whose fulltext
** value is v; a NULL text is not indexed. */
static int ft_apply(VgVtab *p, int bAdd, sqlite3_int64 part, sqlite3_int64 rowid, const VgValue *v) {
  if (v->type != SQLITE_TEXT) return SQLITE_OK;
  char *zErr = 0;
  int rc = (bAdd ? vg_fulltext_add : vg_fulltext_remove)(p->pFulltext, part, rowid,
                                                        (const char *)v->p, v->n, &zErr);
  return index_error(p, rc, zErr);
}

static int delete_row(VgVtab *p, sqlite3_int64 rowid) {
  char *zErr = 0;
  VgValue old = {SQLITE_NULL, 0, 0, 0, 0, 0, 0};
  sqlite3_int64 oldPart = 0;
  int rc = SQLITE_OK;
  if (p->pFulltext) {
    /* The text the index holds the row under (a missing row has none). */
    rc = vg_reader_seek(p->pReader, rowid, &zErr);
    if (rc == SQLITE_ROW) {
      oldPart = vg_reader_part_id(p->pReader);
      rc = ft_old_text(p, &old);
    } else if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
    } else {
      rc = index_error(p, rc, zErr);
    }
    vg_reader_release(p->pReader);
  }
  if (rc == SQLITE_OK) {
    zErr = 0;
    rc = vg_index_delete(p->pIndex, rowid, &zErr);
    rc = index_error(p, rc, zErr); /* after the call: it sets zErr */
  }
  if (rc == SQLITE_OK && p->pFulltext) rc = ft_apply(p, 0, oldPart, rowid, &old);
  vg_value_clear(&old);
  return rc;
}

/* A new or changed rowid that is taken: apply the statement's ON CONFLICT
** mode.  REPLACE deletes the other row; every other mode gets
** SQLITE_CONSTRAINT, which SQLite turns into IGNORE, FAIL, ABORT or ROLLBACK
** behaviour (nothing has been written yet). */
static int resolve_rowid_conflict(VgVtab *p, sqlite3_int64 rowid) {
  int bExists = 0;
  char *zErr = 0;
  int rc = vg_store_row_exists(p->pStore, rowid, &bExists, &zErr);
  if (rc != SQLITE_OK) return zErr ? vg_vtab_set_error(p, rc, zErr) : rc;
  if (!bExists) return SQLITE_OK;
  if (sqlite3_vtab_on_conflict(p->db) == SQLITE_REPLACE) return delete_row(p, rowid);
  return vg_table_error(p, SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: %s.rowid",
                       p->zName);
}

/* The row's primary key, if the table has one: not NULL, and held by no
** other row of its partition (but rowid iSelf, the row an UPDATE
** rewrites).  A key that is taken is resolved as a rowid is: REPLACE
** deletes the other row, every other mode gets SQLITE_CONSTRAINT_PRIMARYKEY,
** the extended code an ordinary table's primary key gives (drivers map it
** to their unique-violation errors). */
/* A NULL primary key fails before anything else is looked at, as the NOT
** NULL constraint of an ordinary table does. */
static int check_key_not_null(VgVtab *p, RowBuf *b) {
  const VgTableDef *d = p->pDef;
  if (d->iPrimaryKey < 0 || rowbuf_value(p, b, d->iPrimaryKey)->type != SQLITE_NULL) return SQLITE_OK;
  const char *zKey = d->aCol[d->iPrimaryKey].zName;
  return vg_table_error(p, SQLITE_CONSTRAINT_NOTNULL, "NOT NULL constraint failed: %s.%s (the primary key: give each row its "
                       "%s)", p->zName, zKey, zKey);
}

static int resolve_key_conflict(VgVtab *p, RowBuf *b, sqlite3_int64 iSelf, int bHasSelf) {
  const VgTableDef *d = p->pDef;
  if (d->iPrimaryKey < 0) return SQLITE_OK;
  const VgValue *pKey = rowbuf_value(p, b, d->iPrimaryKey);
  const char *zKey = d->aCol[d->iPrimaryKey].zName;
  sqlite3_int64 other = 0;
  int bFound = 0;
  char *zErr = 0;
  int rc = vg_store_find_key(p->pStore, d->iPartition >= 0 ? &b->row.partition : 0, pKey, &other, &bFound, &zErr);
  if (rc != SQLITE_OK) return zErr ? vg_vtab_set_error(p, rc, zErr) : rc;
  if (!bFound || (bHasSelf && other == iSelf)) return SQLITE_OK;
  if (sqlite3_vtab_on_conflict(p->db) == SQLITE_REPLACE) return delete_row(p, other);
  const char *zWhere = d->iPartition >= 0 ? " in this partition" : "";
  if (pKey->type == SQLITE_INTEGER) {
    return vg_table_error(p, SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: %s.%s (%lld is taken%s; OR REPLACE "
                         "replaces that row)", p->zName, zKey, pKey->i, zWhere);
  }
  /* At most 60 characters of the key (%! counts characters, not bytes,
  ** so none is cut in two), quotes doubled, up to any NUL. */
  int nChar = vg_utf8_count((const char *)pKey->p, pKey->n);
  return vg_table_error(p, SQLITE_CONSTRAINT_PRIMARYKEY, "UNIQUE constraint failed: %s.%s ('%!.*q%s' is taken%s; OR REPLACE "
                       "replaces that row)", p->zName, zKey, 60, (const char *)pKey->p, nChar > 60 ? "..." : "",
                       zWhere);
}

static int do_insert(VgVtab *p, sqlite3_value **argv, sqlite3_int64 *pRowid) {
  const VgTableDef *d = p->pDef;
  RowBuf b;
  char *zErr = 0;
  int bRowidGiven = sqlite3_value_type(argv[1]) != SQLITE_NULL;
  int rc = rowbuf_init(p, &b);
  if (rc != SQLITE_OK) return rc;
  if (bRowidGiven) rc = to_rowid(p, argv[1], &b.row.rowid);
  if (rc == SQLITE_OK) rc = check_hidden(p, 0, argv);
  for (int i = 0; rc == SQLITE_OK && i < d->nCol; i++) {
    rc = i == d->iVector ? set_vector(p, &b, argv[2 + i]) : set_value(p, &b, i, argv[2 + i]);
  }
  if (rc == SQLITE_OK) rc = prepare_vector(p, &b);
  if (rc == SQLITE_OK) rc = check_key_not_null(p, &b);
  if (rc == SQLITE_OK) {
    if (bRowidGiven) {
      rc = resolve_rowid_conflict(p, b.row.rowid);
    } else {
      rc = vg_store_next_rowid(p->pStore, &b.row.rowid, &zErr);
      if (zErr) rc = vg_vtab_set_error(p, rc, zErr);
    }
  }
  if (rc == SQLITE_OK) rc = resolve_key_conflict(p, &b, 0, 0);
  if (rc == SQLITE_OK) {
    zErr = 0;
    sqlite3_int64 part = 0;
    rc = vg_index_insert(p->pIndex, &b.row, b.aPrep, &part, &zErr);
    rc = index_error(p, rc, zErr);
    if (rc == SQLITE_OK && p->pFulltext) rc = ft_apply(p, 1, part, b.row.rowid, rowbuf_value(p, &b, d->iFulltext));
    if (rc == SQLITE_OK) *pRowid = b.row.rowid;
  }
  rowbuf_clear(&b);
  return rc;
}

/* Fill b with the stored values of the row the reader is on, for the columns
** an UPDATE leaves unchanged. */
static int keep_old_value(VgVtab *p, RowBuf *b, int iCol) {
  const VgColumn *c = &p->pDef->aCol[iCol];
  VgRowReader *r = p->pReader;
  char *zErr = 0;
  int rc = SQLITE_OK;
  if (c->kind == VG_COL_VECTOR) {
    rc = vg_reader_vector(r, 0, b->aVec, &zErr);
  } else {
    VgValue *pOut = rowbuf_value(p, b, iCol);
    vg_value_clear(pOut);
    rc = vg_reader_value(r, c, pOut, &zErr);
    if (rc == SQLITE_OK) rc = vg_value_own(pOut);
  }
  if (rc != SQLITE_OK && zErr) return vg_vtab_set_error(p, rc, zErr);
  return rc;
}

static int do_update(VgVtab *p, sqlite3_value **argv) {
  const VgTableDef *d = p->pDef;
  RowBuf b;
  char *zErr = 0;
  sqlite3_int64 oldRowid = sqlite3_value_int64(argv[0]), oldPart = 0, part = 0;
  /* The fulltext column's old text, read when the statement sets it anew
  ** (an unchanged one is the new text). */
  int bNewText = p->pFulltext && !sqlite3_value_nochange(argv[2 + d->iFulltext]);
  VgValue oldText = {SQLITE_NULL, 0, 0, 0, 0, 0, 0};
  int rc = rowbuf_init(p, &b);
  if (rc != SQLITE_OK) return rc;
  rc = to_rowid(p, argv[1], &b.row.rowid);
  if (rc == SQLITE_OK) rc = check_hidden(p, 1, argv);
  if (rc == SQLITE_OK) {
    rc = vg_reader_seek(p->pReader, oldRowid, &zErr);
    if (rc == SQLITE_ROW) {
      rc = SQLITE_OK;
      oldPart = vg_reader_part_id(p->pReader);
      if (bNewText) rc = ft_old_text(p, &oldText);
    } else if (rc == SQLITE_DONE && sqlite3_vtab_on_conflict(p->db) == SQLITE_REPLACE) {
      /* An earlier row of this UPDATE OR REPLACE took this one's key or
      ** rowid and so deleted it: an ordinary table passes over it too. */
      vg_reader_release(p->pReader);
      rowbuf_clear(&b);
      return SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
      rc = vg_table_error(p, SQLITE_CORRUPT_VTAB, "%s: the row to update (rowid %lld) is missing",
                         p->zName, oldRowid);
    } else if (zErr) {
      rc = vg_vtab_set_error(p, rc, zErr);
    }
  }
  for (int i = 0; rc == SQLITE_OK && i < d->nCol; i++) {
    sqlite3_value *v = argv[2 + i];
    if (sqlite3_value_nochange(v)) {
      rc = keep_old_value(p, &b, i);
    } else {
      rc = i == d->iVector ? set_vector(p, &b, v) : set_value(p, &b, i, v);
    }
  }
  /* The graph changes only when the vector does. */
  int bNewVector = 0;
  if (rc == SQLITE_OK && !sqlite3_value_nochange(argv[2 + d->iVector])) {
    const unsigned char *aOld;
    rc = vg_reader_vector(p->pReader, &aOld, 0, &zErr);
    if (rc == SQLITE_OK) {
      unsigned char *aNew = (unsigned char *)b.aPrep; /* scratch until prepare_vector */
      if (d->element == VG_ELEMENT_FLOAT32) {
        vg_vector_to_blob(b.aVec, d->nDims, aNew);
      } else {
        memcpy(aNew, b.aVec, (size_t)vg_tabledef_vector_bytes(d));
      }
      bNewVector = memcmp(aOld, aNew, (size_t)vg_tabledef_vector_bytes(d)) != 0;
    } else if (zErr) {
      rc = vg_vtab_set_error(p, rc, zErr);
    }
  }
  vg_reader_release(p->pReader);
  if (rc == SQLITE_OK) rc = prepare_vector(p, &b);
  if (rc == SQLITE_OK) rc = check_key_not_null(p, &b);
  if (rc == SQLITE_OK && b.row.rowid != oldRowid) rc = resolve_rowid_conflict(p, b.row.rowid);
  /* The key's owner changes only with the key or the partition. */
  int bKeyMoves = d->iPrimaryKey >= 0 && (!sqlite3_value_nochange(argv[2 + d->iPrimaryKey]) ||
                                          (d->iPartition >= 0 && !sqlite3_value_nochange(argv[2 + d->iPartition])));
  if (rc == SQLITE_OK && bKeyMoves) rc = resolve_key_conflict(p, &b, oldRowid, 1);
  if (rc == SQLITE_OK) {
    zErr = 0;
    rc = vg_index_update(p->pIndex, oldRowid, &b.row, b.aPrep, bNewVector, &part, &zErr);
    rc = index_error(p, rc, zErr);
  }
  if (rc == SQLITE_OK && p->pFulltext) {
    /* The index changes when the text, the rowid or the partition does. */
    const VgValue *v = rowbuf_value(p, &b, d->iFulltext);
    const VgValue *pOld = bNewText ? &oldText : v;
    int bSame = part == oldPart && b.row.rowid == oldRowid && v->type == pOld->type &&
                (v->type != SQLITE_TEXT || (v->n == pOld->n && memcmp(v->p, pOld->p, (size_t)v->n) == 0));
    if (!bSame) rc = ft_apply(p, 0, oldPart, oldRowid, pOld);
    if (rc == SQLITE_OK && !bSame) rc = ft_apply(p, 1, part, b.row.rowid, v);
  }
  vg_value_clear(&oldText);
  rowbuf_clear(&b);
  return rc;
}

static int vtab_update(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                       sqlite3_int64 *pRowid) {
  VgVtab *p = (VgVtab *)pVtab;
  /* Writes to shadow tables move last_insert_rowid(); only an INSERT into
  ** this table should, and SQLite sets that itself from *pRowid. */
  sqlite3_int64 iLastRowid = sqlite3_last_insert_rowid(p->db);
  int rc;
  if (argc == 1) {
    rc = delete_row(p, sqlite3_value_int64(argv[0]));
  } else if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    rc = do_insert(p, argv, pRowid);
  } else {
    rc = do_update(p, argv);
  }
  sqlite3_set_last_insert_rowid(p->db, iLastRowid);
  return rc;
}

const sqlite3_module vg_hnsw_module = {
    /* iVersion    */ 3,
    /* xCreate     */ vtab_create,
    /* xConnect    */ vtab_connect,
    /* xBestIndex  */ vg_vtab_best_index,
    /* xDisconnect */ vtab_disconnect,
    /* xDestroy    */ vtab_destroy,
    /* xOpen       */ vg_cursor_open,
    /* xClose      */ vg_cursor_close,
    /* xFilter     */ vg_cursor_filter,
    /* xNext       */ vg_cursor_next,
    /* xEof        */ vg_cursor_eof,
    /* xColumn     */ vg_cursor_column,
    /* xRowid      */ vg_cursor_rowid,
    /* xUpdate     */ vtab_update,
    /* xBegin      */ 0,
    /* xSync       */ 0,
    /* xCommit     */ 0,
    /* xRollback   */ 0,
    /* xFindMethod */ vg_vtab_find_function,
    /* xRename     */ vtab_rename,
    /* xSavepoint  */ 0,
    /* xRelease    */ 0,
    /* xRollbackTo */ 0,
    /* xShadowName */ vtab_shadow_name,
};
