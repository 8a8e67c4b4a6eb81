/*
** search.c — vg_search, text in and the best rows out, in one call:
**
**   SELECT target_rowid, score, similarity, content_id, chunk_index, content
**     FROM vg_search(table, tenant_id, query, k [, filters_json [, options_json]]);
**
** Three modes (options {"mode": ...}): vector, the query embedded with the
** table's model (its vg_configure settings) and run as a KNN query; lexical,
** the query's words run as a full-text query on the table's fulltext
** column; hybrid, both at once (the table fuses them; options
** {"vector_weight": w}).  Hybrid is the default on a table with a fulltext
** column, vector on the others; a BLOB query is a vector and searches in
** vector mode.  Each runs in the tenant's partition, with each filter
** ({"column": value} or {"column": [values]}) on a metadata column.
** similarity is the cosine similarity of the two vectors when they have unit
** length, as every built-in embedder's have: 1 − distance under cosine,
** −distance under ip, 1 − distance²/2 under l2.  score is the hybrid or
** BM25 score, or the similarity in vector mode; rows come best first, and
** options {"threshold": t} drops those whose score is below t.  An
** eponymous-only table; it reads, never writes.
*/
#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"

#define COL_RANK 0
#define COL_ROWID 1
#define COL_DISTANCE 2
#define COL_SIMILARITY 3
#define COL_TYPE 4
#define COL_ID 5
#define COL_CHUNK 6
#define COL_CONTENT 7
#define COL_SCORE 8
#define COL_TABLE 9
#define COL_TENANT 10
#define COL_QUERY 11
#define COL_K 12
#define COL_FILTERS 13
#define COL_OPTIONS 14
#define N_ARG 6

enum { MODE_DEFAULT, MODE_VECTOR, MODE_LEXICAL, MODE_HYBRID };

/* Most rows one search returns. */
#define SEARCH_MAX_K 10000

typedef struct SearchVtab {
  sqlite3_vtab base;
  sqlite3 *db;
  QueueConn *q; /* the queue's connection state: the kept embedder */
  /* The last query run on a table, and its SQL: the next search of the
  ** same table in the same mode with the same filter columns reuses it. */
  sqlite3_stmt *pStmt;
  char *zSql;
} SearchVtab;

typedef struct SearchRow {
  sqlite3_int64 rowid;
  int bDistance; /* lexical rows have none */
  double distance, similarity, score;
  sqlite3_value *ap[4]; /* content_type, content_id, chunk_index, content */
} SearchRow;

/* What options_json asks for. */
typedef struct SearchOptions {
  int mode;             /* MODE_* */
  int bWeight;
  double vectorWeight;
  int bThreshold;
  double threshold;
} SearchOptions;

typedef struct SearchCursor {
  sqlite3_vtab_cursor base;
  SearchRow *a;
  int n, i;
  sqlite3_value *apArg[N_ARG];
} SearchCursor;

static int search_connect(sqlite3 *db, void *pAux, int argc, const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  (void)argc;
  (void)argv;
  (void)pzErr;
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(rank INTEGER, target_rowid INTEGER, distance REAL, similarity REAL,"
                                " content_type, content_id, chunk_index, content, score REAL, target_table HIDDEN,"
                                " tenant_id HIDDEN, query HIDDEN, k HIDDEN, filters HIDDEN, options HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  SearchVtab *v = sqlite3_malloc64(sizeof(*v));
  if (v == 0) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  v->db = db;
  v->q = pAux;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static void search_forget_stmt(SearchVtab *v) {
  sqlite3_finalize(v->pStmt);
  sqlite3_free(v->zSql);
  v->pStmt = 0;
  v->zSql = 0;
}

static int search_disconnect(sqlite3_vtab *pVtab) {
  search_forget_stmt((SearchVtab *)pVtab);
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* Table, tenant, query and k must be given, filters may be: idxNum has a
** bit for each argument given, -1 for a plan without the required four. */
static int search_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *p) {
  (void)pVtab;
  int ai[N_ARG] = {-1, -1, -1, -1, -1, -1};
  for (int i = 0; i < p->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &p->aConstraint[i];
    if (c->op != SQLITE_INDEX_CONSTRAINT_EQ || c->iColumn < COL_TABLE) continue;
    if (!c->usable) return SQLITE_CONSTRAINT;
    ai[c->iColumn - COL_TABLE] = i;
  }
  if (ai[0] < 0 || ai[1] < 0 || ai[2] < 0 || ai[3] < 0) {
    p->idxNum = -1;
    p->estimatedCost = 1e99;
    return SQLITE_OK;
  }
  int nArg = 0;
  p->idxNum = 0;
  for (int k = 0; k < N_ARG; k++) {
    if (ai[k] < 0) continue;
    p->aConstraintUsage[ai[k]].argvIndex = ++nArg;
    p->aConstraintUsage[ai[k]].omit = 1;
    p->idxNum |= 1 << k;
  }
  p->estimatedCost = 1000;
  p->estimatedRows = 10;
  /* Rows come best first. */
  if (p->nOrderBy == 1 && !p->aOrderBy[0].desc && p->aOrderBy[0].iColumn == COL_RANK) {
    p->orderByConsumed = 1;
  }
  return SQLITE_OK;
}

static int search_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  (void)pVtab;
  SearchCursor *pCur = sqlite3_malloc64(sizeof(*pCur));
  if (pCur == 0) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static void cursor_reset(SearchCursor *pCur) {
  for (int i = 0; i < pCur->n; i++) {
    for (int c = 0; c < 4; c++) sqlite3_value_free(pCur->a[i].ap[c]);
  }
  sqlite3_free(pCur->a);
  for (int i = 0; i < N_ARG; i++) sqlite3_value_free(pCur->apArg[i]);
  memset((char *)pCur + sizeof(pCur->base), 0, sizeof(*pCur) - sizeof(pCur->base));
}

static int search_close(sqlite3_vtab_cursor *pCursor) {
  cursor_reset((SearchCursor *)pCursor);
  sqlite3_free(pCursor);
  return SQLITE_OK;
}

/* The column a filter key names: the key itself, or a path "$.name" (or
** '$."name"') to a key of the items' metadata, which the pipeline stores
** in the column of that name.  -1 when none; *pbPath when a path. */
static int filter_column(const VgTableDef *pDef, const char *zKey, int *pbPath) {
  *pbPath = zKey[0] == '$';
  const char *zName = zKey;
  int nName = (int)strlen(zKey);
  if (*pbPath) {
    if (zKey[1] != '.') return -1;
    zName = zKey + 2;
    nName -= 2;
    if (nName >= 2 && zName[0] == '"' && zName[nName - 1] == '"' && memchr(zName + 1, '"', (size_t)nName - 2) == 0) {
      zName++;
      nName -= 2;
    } else if (strpbrk(zName, ".[\"") != 0) {
      return -1; /* a nested path: only the metadata column has it */
    }
  }
  /* A JSON key is matched exactly (vg_queue_run fills a column from the key
  ** of its very name); a column's own name as SQL does, in any case. */
  for (int i = 0; i < pDef->nCol; i++) {
    const char *zCol = pDef->aCol[i].zName;
    if ((int)strlen(zCol) != nName) continue;
    if (*pbPath ? strncmp(zCol, zName, (size_t)nName) == 0 : sqlite3_strnicmp(zCol, zName, nName) == 0) return i;
  }
  return -1;
}

/* Is z a JSON path as SQLite reads them, with at least one step: $ then
** .name, ."name" or [n] (also [#-n])? */
static int json_path_ok(const char *z) {
  if (z[0] != '$' || z[1] == 0) return 0;
  for (int i = 1; z[i];) {
    if (z[i] == '.' && z[i + 1] == '"') {
      const char *zEnd = strchr(z + i + 2, '"');
      if (zEnd == 0 || zEnd == z + i + 2) return 0;
      i = (int)(zEnd - z) + 1;
    } else if (z[i] == '.') {
      int j = i + 1;
      while (z[j] && z[j] != '.' && z[j] != '[') j++;
      if (j == i + 1) return 0;
      i = j;
    } else if (z[i] == '[') {
      int j = i + 1;
      if (z[j] == '#') {
        j++;
        if (z[j] == '-') j++;
        else if (z[j] == ']') return 0;
      }
      int nDigit = 0;
      while (z[j] >= '0' && z[j] <= '9') j++, nDigit++;
      if (z[j] != ']' || (nDigit == 0 && z[i + 1] != '#')) return 0;
      i = j + 1;
    } else {
      return 0;
    }
  }
  return 1;
}

/* The column named "metadata" that holds the items' metadata objects
** (vg_queue_run stores them there), or -1. */
static int metadata_column(const VgTableDef *pDef) {
  for (int i = 0; i < pDef->nCol; i++) {
    const VgColumn *c = &pDef->aCol[i];
    if ((c->kind == VG_COL_METADATA || c->kind == VG_COL_AUX) && sqlite3_stricmp(c->zName, "metadata") == 0) return i;
  }
  return -1;
}

/* "= value" or "IN (values)" of filter zKey, read from the filters (?4)
** by key, whatever characters the key holds. */
static void append_filter_value(sqlite3_str *out, const char *zKey, int bArray) {
  sqlite3_str_appendf(out,
                      bArray ? "IN (SELECT e.value FROM json_each(?4) AS f, json_each(f.value) AS e WHERE f.key = %Q)"
                             : "= (SELECT value FROM json_each(?4) WHERE key = %Q)",
                      zKey);
}

/* Each filter as SQL, applied inside the search (so that it never returns
** fewer than min(k, rows that match)): on a metadata column, or, for a
** path into the metadata objects that no column holds, as the rowids of the
** partition's rows whose "metadata" column matches.  The values are read
** from the filters (bound as ?4) by SQLite's JSON functions. */
static int filters_sql(sqlite3 *db, const VgTableDef *pDef, const char *zTable, const char *zFilters,
                       sqlite3_str *out, char **pzErr) {
  sqlite3_stmt *p = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1) = 'object', f.key, f.type,"
                              " CASE WHEN f.type = 'array' THEN (SELECT count(*) FROM json_each(f.value) AS e"
                              "  WHERE e.type IN ('object', 'array', 'null')) END"
                              " FROM (SELECT 1) LEFT JOIN json_each(?1) AS f",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(p, 1, zFilters, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && sqlite3_step(p) == SQLITE_ROW) {
    if (!sqlite3_column_int(p, 0)) {
      *pzErr = sqlite3_mprintf("the filters must be a JSON object, such as '{\"author\": \"dr-ana\"}'");
      rc = SQLITE_ERROR;
      break;
    }
    const char *zKey = (const char *)sqlite3_column_text(p, 1);
    const char *zType = (const char *)sqlite3_column_text(p, 2);
    if (zKey == 0) break; /* {} */
    int bPath = 0;
    int iCol = filter_column(pDef, zKey, &bPath);
    int bArray = strcmp(zType, "array") == 0;
    if (iCol >= 0 && pDef->aCol[iCol].kind != VG_COL_METADATA) iCol = bPath ? -1 : iCol;
    if (strcmp(zType, "object") == 0 || strcmp(zType, "null") == 0 || (bArray && sqlite3_column_int(p, 3) > 0)) {
      *pzErr = sqlite3_mprintf("filter \"%s\": give a value (text, number, boolean) or an array of values", zKey);
      rc = SQLITE_ERROR;
    } else if (iCol >= 0 && pDef->aCol[iCol].kind == VG_COL_METADATA) {
      sqlite3_str_appendf(out, " AND \"%w\" ", pDef->aCol[iCol].zName);
      append_filter_value(out, zKey, bArray);
    } else if (!bPath) {
      *pzErr = sqlite3_mprintf("cannot filter on \"%s\": it is not a metadata column of the table (a key of the "
                               "items' metadata is a path such as \"$.%s\")",
                               zKey, zKey);
      rc = SQLITE_ERROR;
    } else if (!json_path_ok(zKey)) {
      *pzErr = sqlite3_mprintf("filter \"%s\" is not a JSON path: write one such as \"$.lang\" or \"$.address.city\"",
                               zKey);
      rc = SQLITE_ERROR;
    } else if (metadata_column(pDef) < 0) {
      *pzErr = sqlite3_mprintf("cannot filter on \"%s\": table \"%s\" has no metadata column of that name and no "
                               "column \"metadata\" holding the items' metadata; declare one of them (vg_queue_run "
                               "fills both)",
                               zKey, zTable);
      rc = SQLITE_ERROR;
    } else {
      sqlite3_str_appendf(out, " AND rowid IN (SELECT rowid FROM main.\"%w\" WHERE ", zTable);
      if (pDef->iPartition >= 0) sqlite3_str_appendf(out, "\"%w\" = ?3 AND ", pDef->aCol[pDef->iPartition].zName);
      sqlite3_str_appendf(out, "json_extract(\"%w\", %Q) ", pDef->aCol[metadata_column(pDef)].zName, zKey);
      append_filter_value(out, zKey, bArray);
      sqlite3_str_appendall(out, ")");
    }
  }
  int rcFinal = sqlite3_finalize(p);
  return rc == SQLITE_OK ? rcFinal : rc;
}

/* The query on the table: ?1 the query vector, ?2 k, ?3 the tenant, ?4 the
** filters, ?5 the query's words, ?6 the vector weight; columns rowid,
** distance, score, then the four id and content columns. */
static char *search_sql(const VgTableDef *pDef, const char *zTable, int mode, const char *zFilterSql) {
  static const char *const azCol[] = {"content_type", "content_id", "chunk_index", "content"};
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT rowid, %s, %s", mode == MODE_LEXICAL ? "NULL" : "distance",
                      mode == MODE_VECTOR ? "NULL" : "score");
  for (int c = 0; c < 4; c++) {
    int bHas = 0;
    for (int i = 0; i < pDef->nCol; i++) {
      if (pDef->aCol[i].kind != VG_COL_VECTOR && strcmp(pDef->aCol[i].zName, azCol[c]) == 0) bHas = 1;
    }
    sqlite3_str_appendf(s, bHas ? ", \"%w\"" : ", NULL", azCol[c]);
  }
  sqlite3_str_appendf(s, " FROM main.\"%w\" WHERE k = ?2", zTable);
  if (mode != MODE_LEXICAL) sqlite3_str_appendf(s, " AND \"%w\" MATCH ?1", pDef->aCol[pDef->iVector].zName);
  if (mode != MODE_VECTOR) sqlite3_str_appendf(s, " AND \"%w\" MATCH ?5", pDef->aCol[pDef->iFulltext].zName);
  if (mode == MODE_HYBRID) sqlite3_str_appendall(s, " AND vector_weight = ?6");
  if (pDef->iPartition >= 0) sqlite3_str_appendf(s, " AND \"%w\" = ?3", pDef->aCol[pDef->iPartition].zName);
  sqlite3_str_appendf(s, "%s ORDER BY %s", zFilterSql, mode == MODE_VECTOR ? "distance" : "score DESC");
  return sqlite3_str_finish(s);
}

/* options_json into *o; 0, or an error message. */
static char *read_options(sqlite3 *db, const char *zJson, SearchOptions *o) {
  sqlite3_stmt *p = 0;
  char *zErr = 0;
  memset(o, 0, sizeof(*o));
  o->vectorWeight = VG_HYBRID_VECTOR_WEIGHT;
  if (zJson == 0) return 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1) = 'object', f.key, f.type, f.value"
                              " FROM (SELECT 1) LEFT JOIN json_each(?1) AS f",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return sqlite3_mprintf("%s", sqlite3_errmsg(db));
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  while (zErr == 0 && sqlite3_step(p) == SQLITE_ROW) {
    if (!sqlite3_column_int(p, 0)) {
      zErr = sqlite3_mprintf("the options must be a JSON object, such as '{\"mode\": \"lexical\"}'");
      break;
    }
    const char *zKey = (const char *)sqlite3_column_text(p, 1);
    const char *zType = (const char *)sqlite3_column_text(p, 2);
    if (zKey == 0) break; /* {} */
    int bNumber = strcmp(zType, "integer") == 0 || strcmp(zType, "real") == 0;
    double r = sqlite3_column_double(p, 3);
    if (strcmp(zKey, "mode") == 0) {
      const char *zMode = strcmp(zType, "text") == 0 ? (const char *)sqlite3_column_text(p, 3) : "";
      o->mode = strcmp(zMode, "vector") == 0 ? MODE_VECTOR : strcmp(zMode, "lexical") == 0 ? MODE_LEXICAL
                : strcmp(zMode, "hybrid") == 0 ? MODE_HYBRID : -1;
      if (o->mode < 0) zErr = sqlite3_mprintf("mode must be \"hybrid\", \"vector\" or \"lexical\"");
    } else if (strcmp(zKey, "vector_weight") == 0) {
      if (!bNumber || !(r >= 0.0 && r <= 1.0)) {
        zErr = sqlite3_mprintf("vector_weight must be a number from 0 (rank by words alone) to 1 (by vectors alone)");
      }
      o->bWeight = 1;
      o->vectorWeight = r;
    } else if (strcmp(zKey, "threshold") == 0) {
      if (!bNumber) zErr = sqlite3_mprintf("threshold must be a number: rows whose score is below it are left out");
      o->bThreshold = 1;
      o->threshold = r;
    } else {
      zErr = sqlite3_mprintf("unknown option \"%s\" (options: mode, vector_weight, threshold; filters go in the "
                             "argument before)", zKey);
    }
  }
  sqlite3_finalize(p);
  return zErr;
}

static double similarity(vg_metric metric, double d) {
  if (metric == VG_METRIC_COSINE) return 1.0 - d;
  if (metric == VG_METRIC_IP) return -d;
  return 1.0 - d * d / 2.0;
}

/* The query's vector under the table's model. */
static int embed_query(SearchVtab *v, const VgTableConfig *cfg, const char *zQuery, int nQuery, float **paVec,
                       char **pzErr) {
  if (cfg->bExternal) {
    *pzErr = sqlite3_mprintf("the table is bound to model \"external\": its vectors come from outside, so give "
                             "the query as a vector (a float32 BLOB), or use mode 'lexical'");
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  VgEmbedder *e = 0;
  int rc = vg_queue_embedder(v->q, cfg->zModel, &e, pzErr);
  if (rc != SQLITE_OK) return rc;
  float *aVec = sqlite3_malloc64(sizeof(float) * (size_t)e->nDims);
  if (aVec == 0) return SQLITE_NOMEM;
  rc = vg_embedder_embed(e, 1, &zQuery, &nQuery, aVec, pzErr);
  if ((rc & 0xff) == SQLITE_IOERR) rc = SQLITE_ERROR; /* the service's failure, not the disk's */
  if (rc != SQLITE_OK) {
    sqlite3_free(aVec);
    return rc;
  }
  vg_vector_to_blob(aVec, e->nDims, aVec);
  *paVec = aVec;
  return SQLITE_OK;
}

/* Run the query (the kept statement when its SQL is zSql) and keep its
** rows.  zSql becomes the vtab's. */
static int run_search(SearchCursor *pCur, const char *zTable, const VgTableConfig *cfg, char *zSql, const float *aVec, int k,
                      const char *zTenant, const char *zFilters, const char *zWords, int nWords,
                      const SearchOptions *o) {
  SearchVtab *v = (SearchVtab *)pCur->base.pVtab;
  /* Vectors of rows deleted from a watched table wait for the next drain
  ** (watch.c): they are asked for on top of k and left out. */
  sqlite3_int64 *aGone = 0;
  int nGone = 0;
  int rcGone = vg_watch_pending_erasures(v->db, zTable, cfg->pDef->iPartition >= 0 ? zTenant : 0, &aGone, &nGone);
  if (rcGone != SQLITE_OK) {
    sqlite3_free(zSql);
    return rcGone;
  }
  if (v->pStmt == 0 || strcmp(v->zSql, zSql) != 0) {
    search_forget_stmt(v);
    int rc = sqlite3_prepare_v3(v->db, zSql, -1, SQLITE_PREPARE_PERSISTENT, &v->pStmt, 0);
    if (rc != SQLITE_OK) {
      sqlite3_free(zSql);
      sqlite3_free(aGone);
      return rc;
    }
    v->zSql = zSql;
  } else {
    sqlite3_free(zSql);
  }
  sqlite3_stmt *p = v->pStmt;
  int rc = SQLITE_OK;
  if (aVec) sqlite3_bind_blob(p, 1, aVec, (int)sizeof(float) * cfg->pDef->nDims, SQLITE_STATIC);
  sqlite3_int64 kAsked = (sqlite3_int64)k + nGone;
  sqlite3_bind_int64(p, 2, kAsked < VG_MAX_K ? kAsked : VG_MAX_K);
  sqlite3_bind_text(p, 3, zTenant, -1, SQLITE_STATIC);
  sqlite3_bind_text(p, 4, zFilters ? zFilters : "{}", -1, SQLITE_STATIC);
  if (zWords) sqlite3_bind_text(p, 5, zWords, nWords, SQLITE_STATIC);
  sqlite3_bind_double(p, 6, o->vectorWeight);
  pCur->a = sqlite3_malloc64(sizeof(SearchRow) * (size_t)k);
  if (pCur->a == 0) rc = SQLITE_NOMEM;
  while (rc == SQLITE_OK && pCur->n < k && sqlite3_step(p) == SQLITE_ROW) {
    SearchRow *r = &pCur->a[pCur->n];
    memset(r, 0, sizeof(*r));
    r->rowid = sqlite3_column_int64(p, 0);
    if (nGone > 0 && bsearch(&r->rowid, aGone, (size_t)nGone, sizeof(*aGone), vg_cmp_i64)) continue;
    r->bDistance = sqlite3_column_type(p, 1) != SQLITE_NULL;
    r->distance = sqlite3_column_double(p, 1);
    r->similarity = similarity(cfg->pDef->metric, r->distance);
    r->score = sqlite3_column_type(p, 2) == SQLITE_NULL ? r->similarity : sqlite3_column_double(p, 2);
    if (o->bThreshold && r->score < o->threshold) continue;
    pCur->n++;
    for (int c = 0; c < 4; c++) {
      if ((r->ap[c] = sqlite3_value_dup(sqlite3_column_value(p, c + 3))) == 0) rc = SQLITE_NOMEM;
    }
  }
  /* The statement is kept reset, its bindings (the caller's memory) gone;
  ** after an error it is not kept at all. */
  int rcReset = sqlite3_reset(p);
  sqlite3_clear_bindings(p);
  if (rc == SQLITE_OK) rc = rcReset;
  if (rc != SQLITE_OK) search_forget_stmt(v);
  sqlite3_free(aGone);
  return rc;
}

/* The arguments, checked (az[2] is the query, of an[2] bytes); SQLITE_OK,
** or an error with the cursor's message set. */
static int read_args(SearchCursor *pCur, int idxNum, sqlite3_value **argv, const char **az, int *an, int *pk) {
  static const char *const azName[] = {"the table", "tenant_id", "the query"};
  static const int aFlags[] = {VG_TEXT_NONEMPTY, VG_TEXT_NAME, VG_TEXT_BODY};
  int iArg = 0;
  for (int i = 0; i < N_ARG; i++) {
    if (!(idxNum & (1 << i))) continue;
    if ((pCur->apArg[i] = sqlite3_value_dup(argv[iArg++])) == 0) return SQLITE_NOMEM;
  }
  /* A BLOB query is a vector (checked against the table later). */
  int bVector = sqlite3_value_type(pCur->apArg[2]) == SQLITE_BLOB;
  az[2] = 0;
  an[2] = 0;
  for (int i = 0; i < 3 - bVector; i++) {
    char *zErr = 0;
    int rc = vg_text_value(pCur->apArg[i], azName[i], aFlags[i], &az[i], &an[i], &zErr);
    if (rc == SQLITE_ERROR) rc = vg_tvf_error(pCur->base.pVtab, "vg_search", "%s", zErr);
    sqlite3_free(zErr);
    if (rc != SQLITE_OK) return rc;
  }
  if (!bVector && vg_tokens(az[2], an[2], 0, 0, 0) == 0) {
    return vg_tvf_error(pCur->base.pVtab, "vg_search", "the query has no words to embed");
  }
  sqlite3_int64 k;
  if (!vg_int_value(pCur->apArg[3], &k) || k < 1 || k > SEARCH_MAX_K) {
    char *zGot = vg_value_describe(pCur->apArg[3]);
    int rc = zGot ? vg_tvf_error(pCur->base.pVtab, "vg_search", "k must be a whole number from 1 to %d; got %s",
                                 SEARCH_MAX_K, zGot)
                  : SQLITE_NOMEM;
    sqlite3_free(zGot);
    return rc;
  }
  *pk = (int)k;
  static const char *const azJson[] = {"the filters", "the options"};
  for (int j = 0; j < 2; j++) {
    az[3 + j] = 0;
    sqlite3_value *pv = pCur->apArg[4 + j];
    if (pv == 0 || sqlite3_value_type(pv) == SQLITE_NULL) continue;
    char *zErr = 0;
    int rc = vg_text_value(pv, azJson[j], VG_TEXT_JSON, &az[3 + j], 0, &zErr);
    if (rc == SQLITE_ERROR) rc = vg_tvf_error(pCur->base.pVtab, "vg_search", "%s", zErr);
    sqlite3_free(zErr);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* The query vector: the BLOB given, or the words embedded. */
static int query_vector(SearchVtab *v, const VgTableConfig *cfg, sqlite3_value *pQuery, const char *zQuery,
                        int nQuery, float **paVec, char **pzErr) {
  if (sqlite3_value_type(pQuery) != SQLITE_BLOB) return embed_query(v, cfg, zQuery, nQuery, paVec, pzErr);
  int nDims = sqlite3_value_bytes(pQuery) / 4;
  if (sqlite3_value_bytes(pQuery) % 4 != 0 || nDims != cfg->pDef->nDims) {
    *pzErr = sqlite3_mprintf("a BLOB query is a vector of %d float32 values for this table; got %d bytes",
                             cfg->pDef->nDims, sqlite3_value_bytes(pQuery));
    return SQLITE_ERROR;
  }
  float *a = sqlite3_malloc64((size_t)nDims * 4 + 1);
  if (a == 0) return SQLITE_NOMEM;
  memcpy(a, sqlite3_value_blob(pQuery), (size_t)nDims * 4);
  *paVec = a;
  return SQLITE_OK;
}

/* The mode the options and the table give, or an error message. */
static char *resolve_mode(const VgTableDef *pDef, const char *zTable, int bBlob, SearchOptions *o) {
  if (o->mode == MODE_DEFAULT) o->mode = pDef->iFulltext >= 0 && !bBlob ? MODE_HYBRID : MODE_VECTOR;
  if (o->mode != MODE_VECTOR && pDef->iFulltext < 0) {
    return sqlite3_mprintf("mode %s needs a fulltext column, and table \"%s\" has none (declare one as "
                           "+content text fulltext)",
                           o->mode == MODE_LEXICAL ? "lexical" : "hybrid", zTable);
  }
  if (o->mode != MODE_VECTOR && bBlob) {
    return sqlite3_mprintf("a BLOB query is a vector and searches in mode vector; give the words as text for "
                           "mode %s",
                           o->mode == MODE_LEXICAL ? "lexical" : "hybrid");
  }
  if (o->bWeight && o->mode != MODE_HYBRID) return sqlite3_mprintf("vector_weight applies to mode hybrid");
  return 0;
}

static int search_filter(sqlite3_vtab_cursor *pCursor, int idxNum, const char *idxStr, int argc,
                         sqlite3_value **argv) {
  (void)idxStr;
  (void)argc;
  SearchCursor *pCur = (SearchCursor *)pCursor;
  SearchVtab *v = (SearchVtab *)pCursor->pVtab;
  cursor_reset(pCur);
  if (idxNum < 0) {
    return vg_tvf_error(pCursor->pVtab, "vg_search",
                          "give the table, tenant_id, query and k, as in vg_search('notes', 'clinic-7', 'fever', 5)");
  }
  const char *az[5];
  int an[3], k = 0;
  int rc = read_args(pCur, idxNum, argv, az, an, &k);
  if (rc != SQLITE_OK) return rc;
  VgTableConfig cfg;
  SearchOptions o;
  char *zErr = 0, *zSql = 0;
  float *aVec = 0;
  int bBlob = sqlite3_value_type(pCur->apArg[2]) == SQLITE_BLOB;
  rc = vg_config_load(v->db, v->q, az[0], &cfg, &zErr);
  if (rc == SQLITE_OK && (zErr = vg_tenant_refused(cfg.pDef, az[0], az[1])) != 0) rc = SQLITE_ERROR;
  if (rc == SQLITE_OK && (zErr = read_options(v->db, az[4], &o)) != 0) rc = SQLITE_ERROR;
  if (rc == SQLITE_OK && (zErr = resolve_mode(cfg.pDef, az[0], bBlob, &o)) != 0) rc = SQLITE_ERROR;
  if (rc == SQLITE_OK) {
    sqlite3_str *f = sqlite3_str_new(0);
    if (az[3]) rc = filters_sql(v->db, cfg.pDef, az[0], az[3], f, &zErr);
    /* An empty object filters nothing: the text is empty, and finish gives
    ** NULL for empty text, so NULL means no memory only with an error. */
    if (rc == SQLITE_OK && sqlite3_str_errcode(f) != SQLITE_OK) rc = SQLITE_NOMEM;
    char *zFilterSql = sqlite3_str_finish(f);
    if (rc == SQLITE_OK && (zSql = search_sql(cfg.pDef, az[0], o.mode, zFilterSql ? zFilterSql : "")) == 0) {
      rc = SQLITE_NOMEM;
    }
    sqlite3_free(zFilterSql);
  }
  if (rc == SQLITE_OK && o.mode != MODE_LEXICAL) rc = query_vector(v, &cfg, pCur->apArg[2], az[2], an[2], &aVec, &zErr);
  if (rc == SQLITE_OK) {
    rc = run_search(pCur, az[0], &cfg, zSql, aVec, k, az[1], az[3], az[2], an[2], &o);
    zSql = 0; /* run_search's now */
  }
  if (rc != SQLITE_OK && rc != SQLITE_NOMEM && zErr == 0) zErr = sqlite3_mprintf("%s", sqlite3_errmsg(v->db));
  sqlite3_free(aVec);
  sqlite3_free(zSql);
  vg_config_clear(&cfg);
  if (rc != SQLITE_OK && zErr) rc = vg_tvf_error(pCursor->pVtab, "vg_search", "%s", zErr);
  sqlite3_free(zErr);
  return rc;
}

static int search_next(sqlite3_vtab_cursor *pCursor) {
  ((SearchCursor *)pCursor)->i++;
  return SQLITE_OK;
}

static int search_eof(sqlite3_vtab_cursor *pCursor) {
  SearchCursor *pCur = (SearchCursor *)pCursor;
  return pCur->i >= pCur->n;
}

static int search_column(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx, int iCol) {
  SearchCursor *pCur = (SearchCursor *)pCursor;
  const SearchRow *r = &pCur->a[pCur->i];
  if (iCol == COL_RANK) {
    sqlite3_result_int(ctx, pCur->i + 1);
  } else if (iCol == COL_ROWID) {
    sqlite3_result_int64(ctx, r->rowid);
  } else if (iCol == COL_DISTANCE) {
    if (r->bDistance) sqlite3_result_double(ctx, r->distance);
  } else if (iCol == COL_SIMILARITY) {
    if (r->bDistance) sqlite3_result_double(ctx, r->similarity);
  } else if (iCol == COL_SCORE) {
    sqlite3_result_double(ctx, r->score);
  } else if (iCol <= COL_CONTENT) {
    sqlite3_result_value(ctx, r->ap[iCol - COL_TYPE]);
  } else if (pCur->apArg[iCol - COL_TABLE]) {
    sqlite3_result_value(ctx, pCur->apArg[iCol - COL_TABLE]);
  }
  return SQLITE_OK;
}

static int search_rowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid) {
  SearchCursor *pCur = (SearchCursor *)pCursor;
  *pRowid = pCur->a[pCur->i].rowid;
  return SQLITE_OK;
}

/* What ext/vecguard.c registers as vg_search (pipeline.h), with the
** QueueConn, which each table keeps (the kept embedder): the registration
** holds it, and SQLite lets the registration go after the last table. */
const sqlite3_module vg_search_module = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = search_connect,
    .xBestIndex = search_best_index,
    .xDisconnect = search_disconnect,
    .xDestroy = search_disconnect,
    .xOpen = search_open,
    .xClose = search_close,
    .xFilter = search_filter,
    .xNext = search_next,
    .xEof = search_eof,
    .xColumn = search_column,
    .xRowid = search_rowid,
};
