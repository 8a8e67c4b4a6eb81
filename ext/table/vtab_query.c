/*
** vtab_query.c — reading a vg_hnsw table: query planning (xBestIndex), KNN
** queries (their terms made into a VgKnnSpec that knn.c runs over each
** partition), plain scans, and the cursor that returns their rows.
**
** A plan is a list of terms, one per xFilter argument, written into idxStr
** so that xFilter can rebuild it.  Each term says what its argument is:
**   Q  the query vector (embedding MATCH ?)   K  k = ?   D  distance <op> ?
**   T  the words of a full-text query (body MATCH ?, body the fulltext column)
**   P  partition key <op> ?     M  metadata <op> ?     R  rowid <op> ?
**   E  ef = ?                   X  exact = ?         W  vector_weight = ?
** Filters on the partition key, metadata and rowid are evaluated by SQLite
** itself, as SQL over the shadow tables (store_query.c), so that every
** comparison, affinity and collation behaves exactly as on an ordinary
** table.  IN lists arrive all at once (sqlite3_vtab_in): a KNN
** query must see the whole list, or it would return k rows per value.
*/
#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

typedef struct VgCursor {
  sqlite3_vtab_cursor base;
  int bKnn;                   /* a KNN or full-text query (else a scan) */
  int bLexical;               /* a full-text or hybrid query: aHit[i].distance is the score */
  double *aDist;              /* a hybrid query: each hit's distance */
  int bMatchChecked;          /* counted in the vtab's nMatchChecked */
  sqlite3_value *apSetting[4]; /* k, ef, exact and vector_weight as the query gave them */
  /* KNN results, nearest first */
  VgHit *aHit;
  int nHit, iHit;
  /* plain scan */
  sqlite3_stmt *pScan;
  int bScanEof;
  /* lazily read stored columns of the current row */
  VgRowReader *pReader;
  sqlite3_int64 iReaderRowid;
  int bReaderOn;
} VgCursor;

/* sqlite3_vtab_in() hands over IN lists whole only for the first 32
** constraints; past that an IN would reach xFilter one value at a time and a
** KNN query would return k rows per value. */
#define MAX_KNN_CONSTRAINTS 32


/* ---- planning ---------------------------------------------------------- */

/* The operators a filter on the partition key, metadata or rowid may use:
** each becomes the same operator in SQL over the shadow tables. */
static int is_filter_op(int op) {
  switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
    case SQLITE_INDEX_CONSTRAINT_GT:
    case SQLITE_INDEX_CONSTRAINT_LE:
    case SQLITE_INDEX_CONSTRAINT_LT:
    case SQLITE_INDEX_CONSTRAINT_GE:
    case SQLITE_INDEX_CONSTRAINT_NE:
    case SQLITE_INDEX_CONSTRAINT_IS:
    case SQLITE_INDEX_CONSTRAINT_ISNOT:
    case SQLITE_INDEX_CONSTRAINT_ISNULL:
    case SQLITE_INDEX_CONSTRAINT_ISNOTNULL:
    case SQLITE_INDEX_CONSTRAINT_LIKE:
    case SQLITE_INDEX_CONSTRAINT_GLOB:
      return 1;
    default:
      return 0;
  }
}

static int is_distance_op(int op) {
  return op == SQLITE_INDEX_CONSTRAINT_EQ || op == SQLITE_INDEX_CONSTRAINT_GT ||
         op == SQLITE_INDEX_CONSTRAINT_LE || op == SQLITE_INDEX_CONSTRAINT_LT ||
         op == SQLITE_INDEX_CONSTRAINT_GE || op == SQLITE_INDEX_CONSTRAINT_NE;
}

typedef struct PlanBuilder {
  sqlite3_index_info *pInfo;
  sqlite3_str *s;
  int nArg;
} PlanBuilder;

/* Hand constraint iCons to xFilter as the next argument, described by a
** term appended to idxStr. */
static void plan_add(PlanBuilder *b, int iCons, char kind, int iCol, int bOmit) {
  sqlite3_index_info *pInfo = b->pInfo;
  int op = pInfo->aConstraint[iCons].op;
  int bIn = 0;
  const char *zColl = 0;
  if ((kind == 'P' || kind == 'M' || kind == 'R') && op == SQLITE_INDEX_CONSTRAINT_EQ) {
    bIn = sqlite3_vtab_in(pInfo, iCons, 1);
  }
  if (kind == 'P' || kind == 'M') {
    zColl = sqlite3_vtab_collation(pInfo, iCons);
    if (zColl && sqlite3_stricmp(zColl, "BINARY") == 0) zColl = 0;
    /* SQLite tells a virtual table the collation of =, <, IN... but not of
    ** != and IS NOT (it reports BINARY for them whatever the query says).
    ** Under BINARY they keep every row another collation keeps, so the
    ** search applies them so and SQLite checks the rows again. */
    if (op == SQLITE_INDEX_CONSTRAINT_NE || op == SQLITE_INDEX_CONSTRAINT_ISNOT) bOmit = 0;
  }
  pInfo->aConstraintUsage[iCons].argvIndex = ++b->nArg;
  pInfo->aConstraintUsage[iCons].omit = (unsigned char)bOmit;
  int nColl = zColl ? (int)strlen(zColl) : 0;
  sqlite3_str_appendf(b->s, "%c%d,%d,%d,%d:%s;", kind, iCol, op, bIn, nColl,
                      zColl ? zColl : "");
}

static int plan_finish(PlanBuilder *b, int idxNum) {
  sqlite3_index_info *pInfo = b->pInfo;
  int rc = sqlite3_str_errcode(b->s);
  char *z = sqlite3_str_finish(b->s); /* 0 for a plan without terms */
  if (rc != SQLITE_OK) {
    sqlite3_free(z);
    return rc;
  }
  pInfo->idxNum = idxNum;
  pInfo->idxStr = z;
  pInfo->needToFreeIdxStr = 1;
  return SQLITE_OK;
}

static int knn_setting(VgVtab *p, char kind, sqlite3_value *v, VgKnnSpec *s);

/* A KNN query (iMatch: MATCH on the vector column), a full-text query
** (iText: MATCH on the fulltext column) or both, a hybrid query; -1 for the
** one absent. */
static int plan_knn(VgVtab *p, sqlite3_index_info *pInfo, int iMatch, int iText) {
  const VgTableDef *d = p->pDef;
  int iK = -1, bPartEq = 0;
  const char *zKind = iMatch < 0 ? "a full-text query" : iText < 0 ? "a KNN query" : "a hybrid query";
  const char *zPartColl = 0; /* the collation of a partition term that names nothing */
  if (pInfo->nConstraint > MAX_KNN_CONSTRAINTS) {
    return vg_table_error(p, SQLITE_ERROR, "%s: %s may have at most %d WHERE terms on the table",
                         p->zName, zKind, MAX_KNN_CONSTRAINTS);
  }
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int col = c->iColumn, op = c->op;
    if (i == iMatch || i == iText || op == SQLITE_INDEX_CONSTRAINT_LIMIT ||
        op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      continue; /* SQLite applies LIMIT and OFFSET to what we return */
    }
    if (iText >= 0 && col == d->iFulltext && op == SQLITE_INDEX_CONSTRAINT_MATCH) {
      return vg_table_error(p, SQLITE_ERROR, "%s: %s takes one MATCH on %s", p->zName, zKind,
                           d->aCol[d->iFulltext].zName);
    }
    if (d->iFulltext >= 0 && col == VG_HIDDEN_SCORE(d)) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: score is the query's output and cannot be constrained; "
                           "compare it in an outer query", p->zName);
    }
    if (d->iFulltext >= 0 && col == VG_HIDDEN_WEIGHT(d) && (iText < 0 || iMatch < 0)) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: vector_weight applies to hybrid queries, with MATCH on both %s and %s",
                           p->zName, d->aCol[d->iVector].zName, d->aCol[d->iFulltext].zName);
    }
    if (col >= VG_HIDDEN_DISTANCE(d) && iMatch < 0 && col != VG_HIDDEN_K(d)) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: %s applies to the vector column's MATCH; a full-text query takes "
                           "k and the partition (and filters)",
                           p->zName, vg_tabledef_hidden_name(d, col));
    }
    if (col == d->iVector) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: a KNN query takes exactly one MATCH on %s and no other "
                           "condition on it",
                           p->zName, d->aCol[d->iVector].zName);
    }
    int bWeight = d->iFulltext >= 0 && col == VG_HIDDEN_WEIGHT(d);
    if (col == VG_HIDDEN_K(d) || col == VG_HIDDEN_EF(d) || col == VG_HIDDEN_EXACT(d) || bWeight) {
      const char *zHidden = vg_tabledef_hidden_name(d, col);
      if (op != SQLITE_INDEX_CONSTRAINT_EQ) {
        return vg_table_error(p, SQLITE_ERROR, "%s: %s must be given as %s = %s", p->zName,
                             zHidden, zHidden, bWeight ? "W" : "N");
      }
      if (!c->usable) return SQLITE_CONSTRAINT;
      /* A constant is checked now: SQLite skips xFilter when the rest of
      ** the WHERE clause cannot be true (tenant IN ()), and a bad setting
      ** must be an error all the same. */
      sqlite3_value *pVal = 0;
      if (sqlite3_vtab_rhs_value(pInfo, i, &pVal) == SQLITE_OK && pVal) {
        int rc = knn_setting(p, bWeight ? 'W' : col == VG_HIDDEN_K(d) ? 'K' : col == VG_HIDDEN_EF(d) ? 'E' : 'X',
                             pVal, 0);
        if (rc != SQLITE_OK) return rc;
      }
      if (col == VG_HIDDEN_K(d)) iK = i;
      continue;
    }
    if (col == VG_HIDDEN_DISTANCE(d)) {
      if (!is_distance_op(op)) {
        return vg_table_error(p, SQLITE_ERROR,
                             "%s: distance can only be compared with =, !=, <, <=, >, >=",
                             p->zName);
      }
      if (!c->usable) return SQLITE_CONSTRAINT;
      continue;
    }
    if (col < 0) {
      if (!is_filter_op(op)) {
        return vg_table_error(p, SQLITE_ERROR,
                             "%s: this operator on rowid is not supported in a KNN query "
                             "(use =, !=, <, <=, >, >=, IN, IS, LIKE, GLOB)",
                             p->zName);
      }
      if (!c->usable) return SQLITE_CONSTRAINT;
      continue;
    }
    const VgColumn *pCol = &d->aCol[col];
    if (pCol->kind == VG_COL_AUX) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: column %s is auxiliary (stored and returned, not "
                           "filterable) and cannot filter a KNN query; declare it without "
                           "+ to make it a metadata column",
                           p->zName, pCol->zName);
    }
    if (!is_filter_op(op)) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: this operator on column %s is not supported in a KNN "
                           "query (use =, !=, <, <=, >, >=, IN, IS, LIKE, GLOB, IS NULL)",
                           p->zName, pCol->zName);
    }
    if (!c->usable) return SQLITE_CONSTRAINT;
    if (pCol->kind == VG_COL_PARTITION &&
        (op == SQLITE_INDEX_CONSTRAINT_EQ || op == SQLITE_INDEX_CONSTRAINT_IS)) {
      /* Only an exact comparison names partitions: under NOCASE,
      ** 'VICTIM' would read the partitions of 'victim' and 'Victim'. */
      const char *zColl = sqlite3_vtab_collation(pInfo, i);
      if (zColl == 0 || sqlite3_stricmp(zColl, "BINARY") == 0) {
        bPartEq = 1;
      } else {
        zPartColl = zColl;
      }
    }
  }
  if (d->iPartition >= 0 && !bPartEq) {
    const char *zKey = d->aCol[d->iPartition].zName;
    if (zPartColl) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: %s must name the partition exactly: %s compared with COLLATE %s "
                           "could read other tenants' partitions; compare it with = or IN without a "
                           "collation (tenant isolation)",
                           p->zName, zKind, zKey, zPartColl);
    }
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: %s must name the partition: add %s = ... or %s IN "
                         "(...) (tenant isolation)",
                         p->zName, zKind, zKey, zKey);
  }
  if (iK < 0) {
    return vg_table_error(p, SQLITE_ERROR, "%s: %s needs k: add AND k = N", p->zName, zKind);
  }

  PlanBuilder b = {pInfo, sqlite3_str_new(0), 0};
  if (iMatch >= 0) plan_add(&b, iMatch, 'Q', 0, 1);
  if (iText >= 0) plan_add(&b, iText, 'T', 0, 1);
  plan_add(&b, iK, 'K', 0, 1);
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int col = c->iColumn;
    if (i == iMatch || i == iText || i == iK || c->op == SQLITE_INDEX_CONSTRAINT_LIMIT ||
        c->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      continue;
    }
    if (col == VG_HIDDEN_DISTANCE(d)) {
      plan_add(&b, i, 'D', 0, 1);
    } else if (col == VG_HIDDEN_EF(d)) {
      plan_add(&b, i, 'E', 0, 1);
    } else if (col == VG_HIDDEN_EXACT(d)) {
      plan_add(&b, i, 'X', 0, 1);
    } else if (d->iFulltext >= 0 && col == VG_HIDDEN_WEIGHT(d)) {
      plan_add(&b, i, 'W', 0, 1);
    } else if (col < 0) {
      plan_add(&b, i, 'R', 0, 1);
    } else {
      plan_add(&b, i, d->aCol[col].kind == VG_COL_PARTITION ? 'P' : 'M', col, 1);
    }
  }
  /* Rows come out nearest first (a KNN query) or highest score first (the
  ** others), ties by rowid. */
  int iOrderCol = iText < 0 ? VG_HIDDEN_DISTANCE(d) : VG_HIDDEN_SCORE(d);
  int bDesc = iText >= 0;
  if (pInfo->nOrderBy >= 1 && pInfo->nOrderBy <= 2 &&
      pInfo->aOrderBy[0].iColumn == iOrderCol && pInfo->aOrderBy[0].desc == bDesc &&
      (pInfo->nOrderBy == 1 ||
       (pInfo->aOrderBy[1].iColumn < 0 && !pInfo->aOrderBy[1].desc))) {
    pInfo->orderByConsumed = 1;
  }
  pInfo->estimatedCost = 10.0;
  pInfo->estimatedRows = 10;
  /* SQLite honours "omit" only for the first 16 constraints and checks the
  ** others itself on the rows returned: so k, ef and exact read back as
  ** the query gave them, and MATCH past the 16th (SQLite lists it after
  ** the other terms) is answered by vg_vtab_find_function's function. */
  return plan_finish(&b, iMatch < 16 && iText < 16 ? 1 : 2);
}

static int plan_scan(VgVtab *p, sqlite3_index_info *pInfo) {
  const VgTableDef *d = p->pDef;
  int bRowidEq = 0, nTerm = 0, bKeyEq = 0, bPartEq = 0;
  PlanBuilder b = {pInfo, sqlite3_str_new(0), 0};
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int col = c->iColumn, op = c->op;
    if (op == SQLITE_INDEX_CONSTRAINT_LIMIT || op == SQLITE_INDEX_CONSTRAINT_OFFSET) continue;
    if (col >= VG_HIDDEN_DISTANCE(d)) {
      sqlite3_free(sqlite3_str_finish(b.s));
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: %s only applies to KNN queries (WHERE %s MATCH ... AND k = N)",
                           p->zName, vg_tabledef_hidden_name(d, col),
                           d->aCol[d->iVector].zName);
    }
    if (!c->usable) continue;
    if (col < 0) {
      if (!is_filter_op(op)) continue;
      if (op == SQLITE_INDEX_CONSTRAINT_EQ) bRowidEq = 1;
      plan_add(&b, i, 'R', 0, 1);
      nTerm++;
    } else if ((d->aCol[col].kind == VG_COL_PARTITION ||
                d->aCol[col].kind == VG_COL_METADATA) &&
               is_filter_op(op)) {
      plan_add(&b, i, d->aCol[col].kind == VG_COL_PARTITION ? 'P' : 'M', col, 1);
      nTerm++;
      /* Only a binary comparison can use the key's index. */
      int bBinary = sqlite3_stricmp(sqlite3_vtab_collation(pInfo, i), "BINARY") == 0;
      if (op == SQLITE_INDEX_CONSTRAINT_EQ && bBinary && col == d->iPrimaryKey) bKeyEq = 1;
      if (op == SQLITE_INDEX_CONSTRAINT_EQ && bBinary && col == d->iPartition) bPartEq = 1;
    }
  }
  if (pInfo->nOrderBy == 1 && pInfo->aOrderBy[0].iColumn < 0 &&
      !pInfo->aOrderBy[0].desc && pInfo->nConstraint <= MAX_KNN_CONSTRAINTS) {
    pInfo->orderByConsumed = 1;
  }
  if (bRowidEq || (bKeyEq && (bPartEq || d->iPartition < 0))) {
    /* One row per value: found by its index in the rows' shadow table.
    ** Not SQLITE_INDEX_SCAN_UNIQUE: an IN list's values all go to one
    ** xFilter (sqlite3_vtab_in), which then returns several rows. */
    pInfo->estimatedCost = 1.0;
    pInfo->estimatedRows = 1;
  } else if (bKeyEq) {
    /* One row per partition at most, by the key's index. */
    pInfo->estimatedCost = 2.0;
    pInfo->estimatedRows = 2;
  } else if (nTerm) {
    pInfo->estimatedCost = 1000.0;
    pInfo->estimatedRows = 100;
  } else {
    pInfo->estimatedCost = 1e6;
    pInfo->estimatedRows = 1000000;
  }
  return plan_finish(&b, 0);
}

int vg_vtab_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo) {
  VgVtab *p = (VgVtab *)pVtab;
  const VgTableDef *d = p->pDef;
  int iMatch = -1, iText = -1, bUnusableMatch = 0;
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if (c->op != SQLITE_INDEX_CONSTRAINT_MATCH) continue;
    if (c->iColumn == d->iVector) {
      if (!c->usable) {
        bUnusableMatch = 1;
      } else if (iMatch >= 0) {
        return vg_table_error(p, SQLITE_ERROR, "%s: a KNN query takes exactly one MATCH",
                             p->zName);
      } else {
        iMatch = i;
      }
    } else if (d->iFulltext >= 0 && c->iColumn == d->iFulltext) {
      if (!c->usable) {
        bUnusableMatch = 1;
      } else if (iText < 0) {
        iText = i;
      }
    }
  }
  if (bUnusableMatch) return SQLITE_CONSTRAINT;
  if (iMatch >= 0 || iText >= 0) return plan_knn(p, pInfo, iMatch, iText);
  return plan_scan(p, pInfo);
}

/* Rebuild the terms of a plan from idxStr; *paTerm is from sqlite3_malloc. */
static int decode_plan(const char *z, int nArg, VgTerm **paTerm) {
  VgTerm *a = sqlite3_malloc64(sizeof(VgTerm) * (nArg + 1));
  if (a == 0) return SQLITE_NOMEM;
  memset(a, 0, sizeof(VgTerm) * (nArg + 1));
  for (int i = 0; i < nArg; i++) {
    char *zEnd;
    if (z == 0 || *z == 0) goto corrupt;
    a[i].kind = *z++;
    a[i].iCol = (int)strtol(z, &zEnd, 10);
    if (*zEnd != ',') goto corrupt;
    a[i].op = (int)strtol(zEnd + 1, &zEnd, 10);
    if (*zEnd != ',') goto corrupt;
    a[i].bIn = (int)strtol(zEnd + 1, &zEnd, 10);
    if (*zEnd != ',') goto corrupt;
    int nColl = (int)strtol(zEnd + 1, &zEnd, 10);
    if (*zEnd != ':' || nColl < 0 || (int)strlen(zEnd + 1) < nColl + 1) goto corrupt;
    a[i].zColl = nColl ? (char *)zEnd + 1 : 0;
    z = zEnd + 1 + nColl;
    if (*z != ';') goto corrupt;
    *(char *)z = 0; /* terminates zColl: idxStr is ours to modify */
    z++;
  }
  *paTerm = a;
  return SQLITE_OK;
corrupt:
  sqlite3_free(a);
  return SQLITE_INTERNAL;
}

/* ---- KNN: a query's terms made into a VgKnnSpec (knn.c searches) ------- */

/* What a KNN query owns while it runs. */
typedef struct KnnArgs {
  VgKnnSpec spec;
  void *aQuery;
  VgKnnDist *aDist;
  sqlite3_int64 *aRowid;
  int iRowidTerm;      /* term that gave aRowid, or -1 */
  char *aFilterKey;
  VgStore *pStore;     /* int8 graphs: exact vectors from the slots */
  sqlite3_blob *pBlob; /* read handle for those reads */
} KnnArgs;

static void knn_args_free(KnnArgs *a) {
  if (a->pBlob) sqlite3_blob_close(a->pBlob);
  sqlite3_free(a->aQuery);
  sqlite3_free(a->aDist);
  sqlite3_free(a->aRowid);
  sqlite3_free(a->aFilterKey);
}

int vg_cmp_i64(const void *x, const void *y) {
  sqlite3_int64 a = *(const sqlite3_int64 *)x, b = *(const sqlite3_int64 *)y;
  return a < b ? -1 : a > b;
}

/* Add value v to the rowid list if it can equal a rowid. */
static int rowid_list_add(KnnArgs *a, sqlite3_value *v, int *pnAlloc) {
  VgValue iv;
  char *zErr = 0;
  if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_OK;
  if (vg_value_coerce(v, VG_TYPE_INTEGER, "rowid", &iv, &zErr) != SQLITE_OK) {
    sqlite3_free(zErr); /* not an integer: equals no rowid */
    return SQLITE_OK;
  }
  if (a->spec.nRowid == *pnAlloc) {
    int nNew = *pnAlloc ? *pnAlloc * 2 : 16;
    sqlite3_int64 *aNew = sqlite3_realloc64(a->aRowid, sizeof(sqlite3_int64) * nNew);
    if (aNew == 0) return SQLITE_NOMEM;
    a->aRowid = aNew;
    *pnAlloc = nNew;
  }
  a->aRowid[a->spec.nRowid++] = iv.i;
  return SQLITE_OK;
}

/* The first rowid = or IN term becomes a sorted list that drives the search. */
static int knn_rowid_list(KnnArgs *a, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  int nAlloc = 0, rc = SQLITE_OK;
  a->iRowidTerm = -1;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind == 'R' && aTerm[i].op == SQLITE_INDEX_CONSTRAINT_EQ) {
      a->iRowidTerm = i;
      break;
    }
  }
  if (a->iRowidTerm < 0) return SQLITE_OK;
  sqlite3_value *v = argv[a->iRowidTerm];
  if (aTerm[a->iRowidTerm].bIn) {
    sqlite3_value *pItem = 0;
    for (rc = sqlite3_vtab_in_first(v, &pItem); rc == SQLITE_OK && pItem;
         rc = sqlite3_vtab_in_next(v, &pItem)) {
      if (rowid_list_add(a, pItem, &nAlloc) != SQLITE_OK) return SQLITE_NOMEM;
    }
    if (rc != SQLITE_DONE) return rc;
  } else {
    rc = rowid_list_add(a, v, &nAlloc);
    if (rc != SQLITE_OK) return rc;
  }
  if (a->aRowid == 0) { /* an empty list matches nothing: keep a non-null array */
    a->aRowid = sqlite3_malloc64(sizeof(sqlite3_int64));
    if (a->aRowid == 0) return SQLITE_NOMEM;
  }
  qsort(a->aRowid, (size_t)a->spec.nRowid, sizeof(sqlite3_int64), vg_cmp_i64);
  a->spec.aRowid = a->aRowid;
  return SQLITE_OK;
}

/* A positive integer from a k = ? or ef = ? term, at most nMax. */
static int knn_count(VgVtab *p, sqlite3_value *v, const char *zName, int nMax, int *pN) {
  VgValue iv;
  char *zErr = 0;
  if (vg_value_coerce(v, VG_TYPE_INTEGER, zName, &iv, &zErr) != SQLITE_OK ||
      iv.type != SQLITE_INTEGER) {
    sqlite3_free(zErr);
    char *zGot = vg_value_describe(v);
    int rc = vg_table_error(p, SQLITE_ERROR, "%s: %s must be a positive integer; got %s",
                           p->zName, zName, zGot ? zGot : "another value");
    sqlite3_free(zGot);
    return rc;
  }
  if (iv.i < 1) {
    return vg_table_error(p, SQLITE_ERROR, "%s: %s must be at least 1 in a KNN query; got %lld",
                         p->zName, zName, iv.i);
  }
  if (iv.i > nMax) {
    return vg_table_error(p, SQLITE_ERROR, "%s: %s = %lld exceeds the maximum of %d", p->zName,
                         zName, iv.i, nMax);
  }
  *pN = (int)iv.i;
  return SQLITE_OK;
}

/* Setting kind (K k, E ef, X exact) from value v: checked, and stored in s
** unless s is 0 (a check at planning). */
/* vector_weight = v: a number from 0 to 1, into *pW unless pW is 0. */
static int weight_value(VgVtab *p, sqlite3_value *v, double *pW) {
  int t = sqlite3_value_numeric_type(v);
  double r = sqlite3_value_double(v);
  if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || !(r >= 0.0 && r <= 1.0)) {
    char *zGot = vg_value_describe(v);
    int rc = vg_table_error(p, SQLITE_ERROR,
                            "%s: vector_weight must be a number from 0 (rank by words alone) to 1 "
                            "(by vectors alone); got %s",
                            p->zName, zGot ? zGot : "another value");
    sqlite3_free(zGot);
    return rc;
  }
  if (pW) *pW = r;
  return SQLITE_OK;
}

static int knn_setting(VgVtab *p, char kind, sqlite3_value *v, VgKnnSpec *s) {
  int n = 0;
  if (kind == 'W') return weight_value(p, v, 0);
  if (kind == 'K' || kind == 'E') {
    int rc = knn_count(p, v, kind == 'K' ? "k" : "ef", kind == 'K' ? VG_MAX_K : VG_MAX_EF, &n);
    if (rc == SQLITE_OK && s) *(kind == 'K' ? &s->k : &s->ef) = n;
    return rc;
  }
  int t = sqlite3_value_numeric_type(v);
  double r = sqlite3_value_double(v);
  if ((t != SQLITE_INTEGER && t != SQLITE_FLOAT) || (r != 0.0 && r != 1.0)) {
    char *zGot = vg_value_describe(v);
    int rc = vg_table_error(p, SQLITE_ERROR, "%s: exact must be 0 or 1; got %s", p->zName,
                           zGot ? zGot : "another value");
    sqlite3_free(zGot);
    return rc;
  }
  if (s) s->exact = r == 1.0;
  return SQLITE_OK;
}

/* k, ef and exact from their terms; ef defaults to the table's ef_search. */
static int knn_settings(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        VgKnnSpec *s) {
  int rc = SQLITE_OK, bK = 0;
  s->ef = p->pDef->efSearch;
  s->exact = -1;
  for (int i = 0; i < nTerm && rc == SQLITE_OK; i++) {
    char kind = aTerm[i].kind;
    if (kind == 'K' || kind == 'E' || kind == 'X') rc = knn_setting(p, kind, argv[i], s);
    bK |= kind == 'K';
  }
  if (rc == SQLITE_OK && !bK) {
    rc = vg_table_error(p, SQLITE_INTERNAL, "%s: the query plan has no k", p->zName);
  }
  return rc;
}

static int knn_query_vector(VgVtab *p, sqlite3_value *v, KnnArgs *a) {
  const VgTableDef *d = p->pDef;
  const char *zCol = d->aCol[d->iVector].zName;
  char *zErr = 0;
  int n = 0;
  if (sqlite3_value_type(v) == SQLITE_NULL) {
    return vg_table_error(p, SQLITE_ERROR, "%s: the query vector (%s MATCH ...) is NULL",
                         p->zName, zCol);
  }
  (void)zErr;
  int rc = vg_vtab_vector(p, v, "query vector", &a->aQuery, &n);
  if (rc != SQLITE_OK) return rc;
  if (n != d->nDims) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: the query vector has %d %s; %s holds %d%s", p->zName, n,
                         d->element == VG_ELEMENT_BIT ? "bits" : d->element == VG_ELEMENT_INT8 ? "elements" : "dimensions",
                         zCol, d->nDims, vg_vector_size_hint(v, d->element, n, d->nDims));
  }
  if (!vg_tabledef_prepare(d, a->aQuery)) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: the query vector is zero, which has no direction under the "
                         "cosine metric",
                         p->zName);
  }
  a->spec.aQuery = a->aQuery;
  a->spec.nDims = n;
  a->spec.element = d->element;
  a->spec.metric = d->metric;
  return SQLITE_OK;
}

static int knn_distance_terms(const VgTerm *aTerm, int nTerm, sqlite3_value **argv, KnnArgs *a) {
  a->aDist = sqlite3_malloc64(sizeof(VgKnnDist) * (nTerm + 1));
  if (a->aDist == 0) return SQLITE_NOMEM;
  a->spec.aDist = a->aDist;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind != 'D') continue;
    VgKnnDist *t = &a->aDist[a->spec.nDist++];
    VgValue rv;
    char *zErr = 0;
    t->op = aTerm[i].op;
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
      t->kind = VG_KNN_DIST_NULL;
    } else if (vg_value_coerce(argv[i], VG_TYPE_REAL, "distance", &rv, &zErr) == SQLITE_OK) {
      t->kind = VG_KNN_DIST_NUMBER;
      t->r = rv.r;
    } else {
      sqlite3_free(zErr);
      t->kind = VG_KNN_DIST_ABOVE;
    }
  }
  return SQLITE_OK;
}

/* VgKnnSpec.xExact: node i's vector from its slot. */
static int knn_read_exact(void *pCtx, const Hnsw *h, uint32_t i, float *aOut, char **pzErr) {
  KnnArgs *a = pCtx;
  return vg_store_slot_vector(a->pStore, &a->pBlob, h->aTag[i], h->aLevel[i], h->aRowid[i], aOut,
                              pzErr);
}

/* ---- full-text queries: a query's terms made into a VgLexSpec ----------- */

/* The terms of the full-text query v (column MATCH v) into *paFt. */
static int lex_query_terms(VgVtab *p, sqlite3_value *v, VgFtTerm **paFt, int *pnFt) {
  const VgTableDef *d = p->pDef;
  const char *zCol = d->aCol[d->iFulltext].zName;
  int rc;
  if (sqlite3_value_type(v) != SQLITE_TEXT) {
    char *zGot = vg_value_describe(v);
    rc = vg_table_error(p, SQLITE_ERROR, "%s: %s MATCH takes the words to search for, as text; got %s",
                        p->zName, zCol, zGot ? zGot : "another value");
    sqlite3_free(zGot);
    return rc;
  }
  const char *z = 0;
  int n = 0;
  char *zErr = 0;
  rc = vg_text_value(v, "the query", VG_TEXT_BODY, &z, &n, &zErr);
  if (rc == SQLITE_OK) rc = vg_fulltext_query_terms(z, n, paFt, pnFt);
  if (rc == SQLITE_OK && *pnFt == 0) {
    rc = vg_table_error(p, SQLITE_ERROR,
                        "%s: the query on %s has no words to search for (only punctuation, or "
                        "only stop words such as 'the' and 'of'); send at least one other word",
                        p->zName, zCol);
  } else if (zErr) {
    rc = vg_table_error(p, rc, "%s: %s MATCH: %s", p->zName, zCol, zErr);
  }
  sqlite3_free(zErr);
  return rc;
}

/* Does the plan filter on metadata or on rowid beyond the rowid list? */
static int needs_candidates(const VgTerm *aTerm, int nTerm, int iRowidTerm) {
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind == 'M' || (aTerm[i].kind == 'R' && i != iRowidTerm)) return 1;
  }
  return 0;
}

/* ---- what KNN, full-text and hybrid queries share ----------------------- */

/* A query's inputs and the statements it reads partitions with: its vector
** (term iQ) and words (term iT), settings, distance conditions and rowid
** list; the partitions it names, and the rows that pass its filters on
** metadata and the remaining rowid conditions (store_query.c). */
typedef struct QueryRun {
  KnnArgs a;
  VgFtTerm *aFt;
  int nFt;
  sqlite3_stmt *pParts, *pCand;
} QueryRun;

static int query_open(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv, int iQ, int iT,
                      QueryRun *q) {
  KnnArgs *a = &q->a;
  memset(q, 0, sizeof(*q));
  a->spec.zTable = p->zName;
  a->spec.xExact = knn_read_exact;
  a->spec.pExactCtx = a;
  a->spec.pIndex = p->pIndex;
  a->pStore = p->pStore;
  int rc = iQ >= 0 ? knn_query_vector(p, argv[iQ], a) : SQLITE_OK;
  if (rc == SQLITE_OK && iT >= 0) rc = lex_query_terms(p, argv[iT], &q->aFt, &q->nFt);
  if (rc == SQLITE_OK) rc = knn_settings(p, aTerm, nTerm, argv, &a->spec);
  if (rc == SQLITE_OK) rc = knn_distance_terms(aTerm, nTerm, argv, a);
  if (rc == SQLITE_OK) rc = knn_rowid_list(a, aTerm, nTerm, argv);
  if (rc == SQLITE_OK) rc = vg_query_partitions(p, aTerm, nTerm, argv, &q->pParts);
  if (rc == SQLITE_OK && needs_candidates(aTerm, nTerm, a->iRowidTerm)) {
    /* A KNN query's mask is remembered under its filter's key, unless a
    ** rowid list narrows it afterwards. */
    int bKey = iT < 0 && !a->aRowid;
    rc = vg_query_candidates(p, aTerm, nTerm, argv, a->iRowidTerm, &q->pCand, bKey ? &a->aFilterKey : 0,
                             &a->spec.nFilterKey);
    a->spec.aFilterKey = a->aFilterKey;
  }
  return rc;
}

/* The next partition the query names: SQLITE_ROW with *pPart and its graph
** (when ppGraph is not 0), SQLITE_DONE after the last, or an error with
** the vtab's message set. */
static int query_next_part(VgVtab *p, QueryRun *q, sqlite3_int64 *pPart, Hnsw **ppGraph) {
  int rc = sqlite3_step(q->pParts);
  if (rc == SQLITE_ROW) {
    *pPart = sqlite3_column_int64(q->pParts, 0);
    if (ppGraph) {
      int rcg = vg_vtab_graph(p, *pPart, sqlite3_column_int64(q->pParts, 1), ppGraph);
      if (rcg != SQLITE_OK) return rcg;
    }
    return SQLITE_ROW;
  }
  rc = sqlite3_reset(q->pParts);
  if (rc != SQLITE_OK) return vg_table_error(p, rc, "%s: %s", p->zName, sqlite3_errmsg(p->db));
  return SQLITE_DONE;
}

static void query_close(VgVtab *p, QueryRun *q) {
  vg_query_return(p, q->pParts);
  vg_query_return(p, q->pCand);
  sqlite3_free(q->aFt);
  knn_args_free(&q->a);
}

static void lex_spec_init(VgVtab *p, const QueryRun *q, VgLexSpec *ls) {
  memset(ls, 0, sizeof(*ls));
  ls->zTable = p->zName;
  ls->pFulltext = p->pFulltext;
  ls->aTerm = q->aFt;
  ls->nTerm = q->nFt;
  ls->k = q->a.spec.k;
  ls->k1 = FT_BM25_K1;
  ls->b = FT_BM25_B;
  ls->aRowid = q->a.spec.aRowid;
  ls->nRowid = q->a.spec.nRowid;
}

/* An engine's error message, if it gave one, becomes the vtab's. */
static int engine_error(VgVtab *p, int rc, char *zErr) {
  return zErr ? vg_vtab_set_error(p, rc, zErr) : rc;
}

static int knn_run(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv, int iQ) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  QueryRun q;
  VgKnn *pKnn = 0;
  sqlite3_int64 part;
  Hnsw *h;
  int rc = query_open(p, aTerm, nTerm, argv, iQ, -1, &q);
  if (rc == SQLITE_OK) rc = vg_knn_new(&q.a.spec, &pKnn);
  while (rc == SQLITE_OK && (rc = query_next_part(p, &q, &part, &h)) == SQLITE_ROW) {
    char *zErr = 0;
    rc = vg_knn_partition(pKnn, h, part, q.pCand, &zErr);
    rc = engine_error(p, rc, zErr); /* after the call: it sets zErr */
  }
  if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
    vg_knn_take(pKnn, &cur->aHit, &cur->nHit);
  }
  vg_knn_free(pKnn);
  query_close(p, &q);
  return rc;
}

static int lex_run(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv, int iT) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  QueryRun q;
  VgLexSpec ls;
  VgLex *pLex = 0;
  sqlite3_int64 part;
  int rc = query_open(p, aTerm, nTerm, argv, -1, iT, &q);
  lex_spec_init(p, &q, &ls);
  if (rc == SQLITE_OK) rc = vg_lex_new(&ls, &pLex);
  while (rc == SQLITE_OK && (rc = query_next_part(p, &q, &part, 0)) == SQLITE_ROW) {
    char *zErr = 0;
    rc = vg_lex_partition(pLex, part, q.pCand, &zErr);
    rc = engine_error(p, rc, zErr);
  }
  if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
    vg_lex_take(pLex, &cur->aHit, &cur->nHit);
    cur->bLexical = 1;
  }
  vg_lex_free(pLex);
  query_close(p, &q);
  return rc;
}

/* ---- hybrid queries: both MATCHes, their rankings fused ---------------- */

/* The exact distance from the query to node i of h (as the KNN engine's). */
static int row_distance(VgVtab *p, KnnArgs *a, Hnsw *h, uint32_t i, float *aBuf, float *pd) {
  const VgKnnSpec *s = &a->spec;
  char *zErr = 0;
  if (h->vectors == HNSW_I8 || h->vectors == HNSW_BITS) {
    *pd = hnsw_metric_distance(h, s->aQuery, i);
    return SQLITE_OK;
  }
  if (h->vectors == HNSW_FLOAT32) {
    hnsw_decode(h, i, aBuf); /* prepared when inserted */
  } else {
    int rc = knn_read_exact(a, h, i, aBuf, &zErr);
    if (rc != SQLITE_OK) return engine_error(p, rc, zErr);
    if (s->metric == VG_METRIC_COSINE && !vg_vector_normalize(aBuf, s->nDims, aBuf)) {
      return vg_table_error(p, SQLITE_CORRUPT_VTAB, "%s: the shadow tables are corrupt: row %lld has a zero vector",
                            p->zName, h->aRowid[i]);
    }
  }
  *pd = vg_prepared_distance(s->metric, s->aQuery, aBuf, s->nDims);
  return SQLITE_OK;
}

/* A row of the union of the two rankings: its distance, BM25 and fused score. */
typedef struct HybridHit {
  sqlite3_int64 rowid;
  double distance, bm25, score;
} HybridHit;

typedef struct HybridHits {
  HybridHit *a;
  int n, nAlloc;
} HybridHits;

static HybridHit *hybrid_hit_add(HybridHits *p) {
  if (p->n == p->nAlloc) {
    int nNew = p->nAlloc ? 2 * p->nAlloc : 256;
    HybridHit *aNew = sqlite3_realloc64(p->a, sizeof(HybridHit) * (size_t)nNew);
    if (aNew == 0) return 0;
    p->a = aNew;
    p->nAlloc = nNew;
  }
  return &p->a[p->n++];
}

/* Best fused score first, ties by rowid. */
static int hybrid_hit_cmp(const void *x, const void *y) {
  const HybridHit *a = x, *b = y;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  return a->rowid < b->rowid ? -1 : a->rowid > b->rowid;
}

/* Add to pOut the union of partition part's two rankings, each row with
** its fused score (w the vector side's weight). */
static int hybrid_partition(VgVtab *p, QueryRun *q, const VgLexSpec *ls, double w, Hnsw *h,
                            sqlite3_int64 part, HybridHits *pOut) {
  KnnArgs *a = &q->a;
  VgKnn *pKnn = 0;
  VgLex *pLex = 0;
  VgHit *aV = 0, *aL = 0;
  int nV = 0, nL = 0, iFirst = pOut->n;
  float *aBuf = 0;
  sqlite3_int64 *aRow = 0; /* the vector side's rowids, sorted */
  double *aBm25 = 0;       /* and their BM25 */
  I64Map seen;
  char *zErr = 0;
  i64map_init(&seen);
  int rc = vg_knn_new(&a->spec, &pKnn);
  if (rc == SQLITE_OK) rc = vg_knn_partition(pKnn, h, part, q->pCand, &zErr);
  if (rc == SQLITE_OK) vg_knn_take(pKnn, &aV, &nV);
  if (rc == SQLITE_OK) {
    aRow = sqlite3_malloc64(sizeof(sqlite3_int64) * (size_t)(nV + 1));
    aBm25 = sqlite3_malloc64(sizeof(double) * (size_t)(nV + 1));
    if (aRow == 0 || aBm25 == 0) rc = SQLITE_NOMEM;
  }
  for (int i = 0; rc == SQLITE_OK && i < nV; i++) aRow[i] = aV[i].rowid;
  if (rc == SQLITE_OK && nV > 1) qsort(aRow, (size_t)nV, sizeof(sqlite3_int64), vg_cmp_i64);
  /* The full-text side scores the vector side's rows as it walks. */
  if (rc == SQLITE_OK) rc = vg_lex_new(ls, &pLex);
  if (rc == SQLITE_OK) {
    vg_lex_force(pLex, aRow, nV, aBm25);
    rc = vg_lex_partition(pLex, part, q->pCand, &zErr);
  }
  if (rc == SQLITE_OK) vg_lex_take(pLex, &aL, &nL);
  rc = engine_error(p, rc, zErr);
  if (rc == SQLITE_OK) {
    aBuf = sqlite3_malloc64(sizeof(float) * (size_t)a->spec.nDims);
    if (aBuf == 0 || i64map_reserve(&seen, (size_t)nV) != HNSW_OK) rc = SQLITE_NOMEM;
  }
  /* The vector side's rows, with their BM25 (0 without a query term)... */
  for (int i = 0; rc == SQLITE_OK && i < nV; i++) {
    HybridHit *c = hybrid_hit_add(pOut);
    if (c == 0 || i64map_put(&seen, aV[i].rowid, 0) != HNSW_OK) {
      rc = SQLITE_NOMEM;
      break;
    }
    const sqlite3_int64 *pRow = bsearch(&aV[i].rowid, aRow, (size_t)nV, sizeof(sqlite3_int64), vg_cmp_i64);
    c->rowid = aV[i].rowid;
    c->distance = aV[i].distance;
    c->bm25 = aBm25[pRow - aRow];
  }
  /* ...and the full-text side's others, with their distance. */
  for (int i = 0; rc == SQLITE_OK && i < nL; i++) {
    if (i64map_get(&seen, aL[i].rowid) >= 0) continue;
    uint32_t node = hnsw_find(h, aL[i].rowid);
    if (node == HNSW_NONE) {
      rc = vg_table_error(p, SQLITE_CORRUPT_VTAB,
                          "%s: the full-text index names row %lld, which the partition does not hold",
                          p->zName, aL[i].rowid);
      break;
    }
    float d = 0.0f;
    rc = row_distance(p, a, h, node, aBuf, &d);
    if (rc != SQLITE_OK || !vg_knn_distance_passes(d, a->spec.aDist, a->spec.nDist)) continue;
    HybridHit *c = hybrid_hit_add(pOut);
    if (c == 0) {
      rc = SQLITE_NOMEM;
      break;
    }
    c->rowid = aL[i].rowid;
    c->distance = d;
    c->bm25 = aL[i].distance; /* vg_lex_take's hits carry scores */
  }
  /* Each side scaled to [0, 1] over this union, then weighed. */
  if (rc == SQLITE_OK && pOut->n > iFirst) {
    HybridHit *c = pOut->a + iFirst;
    int n = pOut->n - iFirst;
    double sMin = -c[0].distance, sMax = sMin, bMax = nL > 0 ? aL[0].distance : 0.0;
    for (int i = 1; i < n; i++) {
      if (-c[i].distance < sMin) sMin = -c[i].distance;
      if (-c[i].distance > sMax) sMax = -c[i].distance;
    }
    for (int i = 0; i < n; i++) {
      double v = sMax > sMin ? (-c[i].distance - sMin) / (sMax - sMin) : 0.0;
      double l = bMax > 0.0 ? c[i].bm25 / bMax : 0.0;
      c[i].score = w * v + (1.0 - w) * l;
    }
  }
  vg_knn_free(pKnn);
  vg_lex_free(pLex);
  hnsw_mem_free(aV);
  hnsw_mem_free(aL);
  sqlite3_free(aBuf);
  sqlite3_free(aRow);
  sqlite3_free(aBm25);
  i64map_free(&seen);
  return rc;
}

static int hybrid_run(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv, int iQ,
                      int iT) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  QueryRun q;
  VgLexSpec ls;
  HybridHits hits = {0, 0, 0};
  double w = VG_HYBRID_VECTOR_WEIGHT;
  sqlite3_int64 part;
  Hnsw *h;
  int rc = query_open(p, aTerm, nTerm, argv, iQ, iT, &q);
  for (int i = 0; rc == SQLITE_OK && i < nTerm; i++) {
    if (aTerm[i].kind == 'W') rc = weight_value(p, argv[i], &w);
  }
  /* Each side gives its best VG_HYBRID_DEPTH rows (or k) to the fusion. */
  int k = q.a.spec.k;
  if (q.a.spec.k < VG_HYBRID_DEPTH) q.a.spec.k = VG_HYBRID_DEPTH;
  lex_spec_init(p, &q, &ls);
  while (rc == SQLITE_OK && (rc = query_next_part(p, &q, &part, &h)) == SQLITE_ROW) {
    rc = hybrid_partition(p, &q, &ls, w, h, part, &hits);
  }
  if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
    if (hits.n > 1) qsort(hits.a, (size_t)hits.n, sizeof(HybridHit), hybrid_hit_cmp);
    int n = hits.n < k ? hits.n : k;
    cur->aHit = hnsw_malloc(sizeof(VgHit) * (size_t)(n + 1)); /* the cursor frees it so */
    cur->aDist = sqlite3_malloc64(sizeof(double) * (size_t)(n + 1));
    if (cur->aHit == 0 || cur->aDist == 0) rc = SQLITE_NOMEM;
    for (int i = 0; rc == SQLITE_OK && i < n; i++) {
      cur->aHit[i].rowid = hits.a[i].rowid;
      cur->aHit[i].distance = hits.a[i].score;
      cur->aDist[i] = hits.a[i].distance;
    }
    if (rc == SQLITE_OK) {
      cur->nHit = n;
      cur->bLexical = 1;
    }
  }
  sqlite3_free(hits.a);
  query_close(p, &q);
  return rc;
}

/* A KNN query, a full-text query, or both: a hybrid query. */
static int match_run(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  int iQ = -1, iT = -1;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind == 'Q' && iQ < 0) iQ = i;
    if (aTerm[i].kind == 'T' && iT < 0) iT = i;
  }
  if (iT >= 0 && iQ >= 0) return hybrid_run(cur, aTerm, nTerm, argv, iQ, iT);
  if (iT >= 0) return lex_run(cur, aTerm, nTerm, argv, iT);
  if (iQ < 0) return vg_table_error(p, SQLITE_INTERNAL, "%s: the query plan has no MATCH", p->zName);
  return knn_run(cur, aTerm, nTerm, argv, iQ);
}

/* ---- plain scans ------------------------------------------------------- */

static int scan_start(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  int rc = vg_query_scan((VgVtab *)cur->base.pVtab, aTerm, nTerm, argv, &cur->pScan);
  if (rc != SQLITE_OK) return rc;
  return vg_cursor_next(&cur->base);
}

/* ---- cursor ------------------------------------------------------------ */

static void cursor_reset(VgCursor *cur) {
  if (cur->bMatchChecked) ((VgVtab *)cur->base.pVtab)->nMatchChecked--;
  cur->bMatchChecked = 0;
  for (int i = 0; i < 4; i++) {
    sqlite3_value_free(cur->apSetting[i]);
    cur->apSetting[i] = 0;
  }
  hnsw_mem_free(cur->aHit); /* from vg_knn_take or vg_lex_take */
  cur->aHit = 0;
  cur->bLexical = 0;
  sqlite3_free(cur->aDist);
  cur->aDist = 0;
  cur->nHit = cur->iHit = 0;
  vg_query_return((VgVtab *)cur->base.pVtab, cur->pScan);
  cur->pScan = 0;
  cur->bScanEof = 0;
  cur->bReaderOn = 0;
  if (cur->pReader) vg_reader_release(cur->pReader);
}

int vg_cursor_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  VgVtab *p = (VgVtab *)pVtab;
  VgCursor *cur = sqlite3_malloc64(sizeof(*cur));
  if (cur == 0) return SQLITE_NOMEM;
  memset(cur, 0, sizeof(*cur));
  int rc = vg_reader_open(p->pStore, &cur->pReader);
  if (rc != SQLITE_OK) {
    sqlite3_free(cur);
    return rc;
  }
  *ppCursor = &cur->base;
  return SQLITE_OK;
}

int vg_cursor_close(sqlite3_vtab_cursor *pCur) {
  VgCursor *cur = (VgCursor *)pCur;
  cursor_reset(cur);
  vg_reader_close(cur->pReader);
  sqlite3_free(cur);
  return SQLITE_OK;
}

int vg_cursor_filter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr, int argc,
                     sqlite3_value **argv) {
  VgCursor *cur = (VgCursor *)pCur;
  VgVtab *p = (VgVtab *)pCur->pVtab;
  VgTerm *aTerm = 0;
  cursor_reset(cur);
  /* decode_plan writes terminators into its own copy of the plan. */
  char *zPlan = sqlite3_mprintf("%s", idxStr ? idxStr : "");
  if (zPlan == 0) return SQLITE_NOMEM;
  int rc = decode_plan(zPlan, argc, &aTerm);
  if (rc != SQLITE_OK) {
    sqlite3_free(zPlan);
    return vg_table_error(p, rc, "%s: cannot read the query plan", p->zName);
  }
  cur->bKnn = idxNum >= 1;
  if (idxNum == 2) {
    cur->bMatchChecked = 1;
    p->nMatchChecked++;
  }
  static const char zSettings[] = "KEXW"; /* the order of apSetting */
  for (int i = 0; cur->bKnn && i < argc && rc == SQLITE_OK; i++) {
    const char *zKind = aTerm[i].kind ? strchr(zSettings, aTerm[i].kind) : 0;
    if (zKind && (cur->apSetting[zKind - zSettings] = sqlite3_value_dup(argv[i])) == 0) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) rc = cur->bKnn ? match_run(cur, aTerm, argc, argv) : scan_start(cur, aTerm, argc, argv);
  sqlite3_free(aTerm);
  sqlite3_free(zPlan);
  return rc;
}

/* MATCH on the vector column, when SQLite evaluates it itself: true for
** the rows of a KNN search that SQLite re-checks (see plan_knn), an error
** anywhere else, where it would otherwise match every row (an OR, say). */
static void knn_match_checked(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  VgVtab *p = sqlite3_user_data(ctx);
  if (p->nMatchChecked > 0) {
    sqlite3_result_int(ctx, 1);
    return;
  }
  vg_result_errorf(ctx, p->zName,
                   "MATCH on %s makes a KNN query, with AND k = N and the partition named; "
                   "it cannot be combined with OR or used as a value",
                   p->pDef->aCol[p->pDef->iVector].zName);
}

int vg_vtab_find_function(sqlite3_vtab *pVtab, int nArg, const char *zName,
                          void (**pxFunc)(sqlite3_context *, int, sqlite3_value **), void **ppArg) {
  if (nArg != 2 || sqlite3_stricmp(zName, "match") != 0) return 0;
  *pxFunc = knn_match_checked;
  *ppArg = pVtab;
  return 1;
}

int vg_cursor_next(sqlite3_vtab_cursor *pCur) {
  VgCursor *cur = (VgCursor *)pCur;
  cur->bReaderOn = 0;
  if (cur->bKnn) {
    cur->iHit++;
    return SQLITE_OK;
  }
  VgVtab *p = (VgVtab *)pCur->pVtab;
  int rc = sqlite3_step(cur->pScan);
  if (rc == SQLITE_ROW && sqlite3_column_int(cur->pScan, 1)) {
    cur->bScanEof = 1;
    return vg_table_error(p, SQLITE_CORRUPT_VTAB,
                         "%s: the shadow tables are corrupt: the partition of row %lld is "
                         "missing",
                         p->zName, sqlite3_column_int64(cur->pScan, 0));
  }
  if (rc == SQLITE_ROW) return SQLITE_OK;
  cur->bScanEof = 1;
  if (rc == SQLITE_DONE) return SQLITE_OK;
  return vg_table_error(p, rc, "%s: %s", p->zName, sqlite3_errmsg(p->db));
}

int vg_cursor_eof(sqlite3_vtab_cursor *pCur) {
  VgCursor *cur = (VgCursor *)pCur;
  if (cur->bKnn) return cur->iHit >= cur->nHit;
  return cur->pScan == 0 || cur->bScanEof;
}

int vg_cursor_rowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid) {
  VgCursor *cur = (VgCursor *)pCur;
  *pRowid = cur->bKnn ? cur->aHit[cur->iHit].rowid : sqlite3_column_int64(cur->pScan, 0);
  return SQLITE_OK;
}

/* Position the reader on the cursor's current row. */
static int cursor_read_row(VgCursor *cur) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  sqlite3_int64 rowid;
  char *zErr = 0;
  vg_cursor_rowid(&cur->base, &rowid);
  if (cur->bReaderOn && cur->iReaderRowid == rowid) return SQLITE_OK;
  int rc = vg_reader_seek(cur->pReader, rowid, &zErr);
  if (rc == SQLITE_ROW) {
    cur->bReaderOn = 1;
    cur->iReaderRowid = rowid;
    return SQLITE_OK;
  }
  if (rc == SQLITE_DONE) {
    return vg_table_error(p, SQLITE_CORRUPT_VTAB,
                         "%s: the shadow tables are corrupt: row %lld is missing", p->zName,
                         rowid);
  }
  return zErr ? vg_vtab_set_error(p, rc, zErr) : rc;
}

int vg_cursor_column(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int iCol) {
  VgCursor *cur = (VgCursor *)pCur;
  VgVtab *p = (VgVtab *)pCur->pVtab;
  const VgTableDef *d = p->pDef;
  char *zErr = 0;
  if (iCol == VG_HIDDEN_DISTANCE(d)) {
    if (cur->aDist) {
      sqlite3_result_double(ctx, cur->aDist[cur->iHit]);
    } else if (cur->bKnn && !cur->bLexical) {
      sqlite3_result_double(ctx, cur->aHit[cur->iHit].distance);
    }
    return SQLITE_OK;
  }
  if (d->iFulltext >= 0 && iCol == VG_HIDDEN_SCORE(d)) {
    if (cur->bLexical) sqlite3_result_double(ctx, cur->aHit[cur->iHit].distance);
    return SQLITE_OK;
  }
  if (iCol >= VG_HIDDEN_K(d)) {
    /* k, ef, exact, vector_weight: as given to a query (SQLite may compare
    ** them again), else NULL. */
    sqlite3_value *v = cur->apSetting[iCol == VG_HIDDEN_WEIGHT(d) ? 3 : iCol - VG_HIDDEN_K(d)];
    if (v) sqlite3_result_value(ctx, v);
    return SQLITE_OK;
  }
  const VgColumn *c = &d->aCol[iCol];
  /* An UPDATE that leaves these unchanged need not read them. */
  if ((c->kind == VG_COL_VECTOR || c->kind == VG_COL_AUX) && sqlite3_vtab_nochange(ctx)) {
    return SQLITE_OK;
  }
  int rc = cursor_read_row(cur);
  if (rc != SQLITE_OK) return rc;
  switch (c->kind) {
    case VG_COL_VECTOR: {
      const unsigned char *a;
      rc = vg_reader_vector(cur->pReader, &a, 0, &zErr);
      if (rc == SQLITE_OK) sqlite3_result_blob(ctx, a, vg_tabledef_vector_bytes(d), SQLITE_TRANSIENT);
      break;
    }
    case VG_COL_PARTITION:
      sqlite3_result_value(ctx, vg_reader_partition(cur->pReader));
      break;
    case VG_COL_METADATA:
      sqlite3_result_value(ctx, vg_reader_meta(cur->pReader, c->iStore));
      break;
    default: {
      VgValue *v;
      rc = vg_reader_aux(cur->pReader, c->iStore, &v, &zErr);
      if (rc == SQLITE_OK) vg_value_result(ctx, v);
      break;
    }
  }
  if (rc != SQLITE_OK && zErr) return vg_vtab_set_error(p, rc, zErr);
  return rc;
}
