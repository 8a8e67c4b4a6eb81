/*
** vtab_query.c — reading a vg_hnsw table: query planning (xBestIndex), exact
** KNN search, plain scans, and the cursor that returns their rows.
**
** A plan is a list of terms, one per xFilter argument, written into idxStr
** so that xFilter can rebuild it.  Each term says what its argument is:
**   Q  the query vector (embedding MATCH ?)   K  k = ?   D  distance <op> ?
**   P  partition key <op> ?     M  metadata <op> ?     R  rowid <op> ?
**   E  ef = ?                   X  exact = ?
** Filters on the partition key, metadata and rowid are evaluated by SQLite
** itself, as SQL over the shadow tables (whose columns carry the same types),
** so that every comparison, affinity and collation behaves exactly as on an
** ordinary table.  IN lists arrive all at once (sqlite3_vtab_in): a KNN
** query must see the whole list, or it would return k rows per value.
*/
#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

typedef struct VgTerm {
  char kind;   /* Q K D P M R */
  int iCol;    /* user column for P and M */
  int op;      /* SQLITE_INDEX_CONSTRAINT_* */
  int bIn;     /* the argument is an all-at-once IN list */
  char *zColl; /* collation, or 0 for BINARY */
} VgTerm;

typedef struct VgCursor {
  sqlite3_vtab_cursor base;
  int bKnn;
  int bMatchChecked;          /* counted in the vtab's nMatchChecked */
  sqlite3_value *apSetting[3]; /* k, ef and exact as the KNN query gave them */
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

/* See knn_partition: the cost ratio between a graph search and brute force,
** measured with make bench (docs/benchmarks.md). */
#define VG_EXACT_FACTOR 16.0

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

typedef struct KnnQuery KnnQuery;
static int knn_setting(VgVtab *p, char kind, sqlite3_value *v, KnnQuery *q);

static int plan_knn(VgVtab *p, sqlite3_index_info *pInfo, int iMatch) {
  const VgTableDef *d = p->pDef;
  int iK = -1, bPartEq = 0;
  const char *zPartColl = 0; /* the collation of a partition term that names nothing */
  if (pInfo->nConstraint > MAX_KNN_CONSTRAINTS) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: a KNN query may have at most %d WHERE terms on the table",
                         p->zName, MAX_KNN_CONSTRAINTS);
  }
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int col = c->iColumn, op = c->op;
    if (i == iMatch || op == SQLITE_INDEX_CONSTRAINT_LIMIT ||
        op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      continue; /* SQLite applies LIMIT and OFFSET to what we return */
    }
    if (col == d->iVector) {
      return vg_table_error(p, SQLITE_ERROR,
                           "%s: a KNN query takes exactly one MATCH on %s and no other "
                           "condition on it",
                           p->zName, d->aCol[d->iVector].zName);
    }
    if (col == VG_HIDDEN_K(d) || col == VG_HIDDEN_EF(d) || col == VG_HIDDEN_EXACT(d)) {
      const char *zHidden = vg_tabledef_hidden_name(d, col);
      if (op != SQLITE_INDEX_CONSTRAINT_EQ) {
        return vg_table_error(p, SQLITE_ERROR, "%s: %s must be given as %s = N", p->zName,
                             zHidden, zHidden);
      }
      if (!c->usable) return SQLITE_CONSTRAINT;
      /* A constant is checked now: SQLite skips xFilter when the rest of
      ** the WHERE clause cannot be true (tenant IN ()), and a bad setting
      ** must be an error all the same. */
      sqlite3_value *pVal = 0;
      if (sqlite3_vtab_rhs_value(pInfo, i, &pVal) == SQLITE_OK && pVal) {
        int rc = knn_setting(p, col == VG_HIDDEN_K(d) ? 'K' : col == VG_HIDDEN_EF(d) ? 'E' : 'X', pVal, 0);
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
                           "%s: a KNN query must name the partition exactly: %s compared with COLLATE %s "
                           "could read other tenants' partitions; compare it with = or IN without a "
                           "collation (tenant isolation)",
                           p->zName, zKey, zPartColl);
    }
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: a KNN query must name the partition: add %s = ... or %s IN "
                         "(...) (tenant isolation)",
                         p->zName, zKey, zKey);
  }
  if (iK < 0) {
    return vg_table_error(p, SQLITE_ERROR, "%s: a KNN query needs k: add AND k = N",
                         p->zName);
  }

  PlanBuilder b = {pInfo, sqlite3_str_new(0), 0};
  plan_add(&b, iMatch, 'Q', 0, 1);
  plan_add(&b, iK, 'K', 0, 1);
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    int col = c->iColumn;
    if (i == iMatch || i == iK || c->op == SQLITE_INDEX_CONSTRAINT_LIMIT ||
        c->op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      continue;
    }
    if (col == VG_HIDDEN_DISTANCE(d)) {
      plan_add(&b, i, 'D', 0, 1);
    } else if (col == VG_HIDDEN_EF(d)) {
      plan_add(&b, i, 'E', 0, 1);
    } else if (col == VG_HIDDEN_EXACT(d)) {
      plan_add(&b, i, 'X', 0, 1);
    } else if (col < 0) {
      plan_add(&b, i, 'R', 0, 1);
    } else {
      plan_add(&b, i, d->aCol[col].kind == VG_COL_PARTITION ? 'P' : 'M', col, 1);
    }
  }
  /* Rows come out nearest first, ties by rowid. */
  if (pInfo->nOrderBy >= 1 && pInfo->nOrderBy <= 2 &&
      pInfo->aOrderBy[0].iColumn == VG_HIDDEN_DISTANCE(d) && !pInfo->aOrderBy[0].desc &&
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
  return plan_finish(&b, iMatch < 16 ? 1 : 2);
}

static int plan_scan(VgVtab *p, sqlite3_index_info *pInfo) {
  const VgTableDef *d = p->pDef;
  int bRowidEq = 0, nTerm = 0;
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
    }
  }
  if (pInfo->nOrderBy == 1 && pInfo->aOrderBy[0].iColumn < 0 &&
      !pInfo->aOrderBy[0].desc && pInfo->nConstraint <= MAX_KNN_CONSTRAINTS) {
    pInfo->orderByConsumed = 1;
  }
  if (bRowidEq) {
    pInfo->estimatedCost = 1.0;
    pInfo->estimatedRows = 1;
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
  int iMatch = -1, bUnusableMatch = 0;
  for (int i = 0; i < pInfo->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &pInfo->aConstraint[i];
    if (c->iColumn != d->iVector || c->op != SQLITE_INDEX_CONSTRAINT_MATCH) continue;
    if (!c->usable) {
      bUnusableMatch = 1;
    } else if (iMatch >= 0) {
      return vg_table_error(p, SQLITE_ERROR, "%s: a KNN query takes exactly one MATCH",
                           p->zName);
    } else {
      iMatch = i;
    }
  }
  if (iMatch >= 0) return plan_knn(p, pInfo, iMatch);
  if (bUnusableMatch) return SQLITE_CONSTRAINT;
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

/* ---- SQL over the shadow tables ---------------------------------------- */

/* Values to bind to a generated statement (owned copies). */
typedef struct Binds {
  sqlite3_value **a;
  int n, nAlloc;
} Binds;

static int binds_add(Binds *b, sqlite3_value *v) {
  if (b->n == b->nAlloc) {
    int nNew = b->nAlloc ? b->nAlloc * 2 : 8;
    sqlite3_value **aNew = sqlite3_realloc64(b->a, sizeof(*aNew) * nNew);
    if (aNew == 0) return SQLITE_NOMEM;
    b->a = aNew;
    b->nAlloc = nNew;
  }
  b->a[b->n] = sqlite3_value_dup(v);
  if (b->a[b->n] == 0) return SQLITE_NOMEM;
  b->n++;
  return SQLITE_OK;
}

static void binds_free(Binds *b) {
  for (int i = 0; i < b->n; i++) sqlite3_value_free(b->a[i]);
  sqlite3_free(b->a);
  memset(b, 0, sizeof(*b));
}

static int binds_apply(const Binds *b, sqlite3_stmt *pStmt, int iFirst) {
  for (int i = 0; i < b->n; i++) {
    int rc = sqlite3_bind_value(pStmt, iFirst + i, b->a[i]);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

static const char *op_sql(int op) {
  switch (op) {
    case SQLITE_INDEX_CONSTRAINT_EQ:
      return "=";
    case SQLITE_INDEX_CONSTRAINT_GT:
      return ">";
    case SQLITE_INDEX_CONSTRAINT_LE:
      return "<=";
    case SQLITE_INDEX_CONSTRAINT_LT:
      return "<";
    case SQLITE_INDEX_CONSTRAINT_GE:
      return ">=";
    case SQLITE_INDEX_CONSTRAINT_NE:
      return "!=";
    case SQLITE_INDEX_CONSTRAINT_IS:
      return "IS";
    case SQLITE_INDEX_CONSTRAINT_ISNOT:
      return "IS NOT";
    case SQLITE_INDEX_CONSTRAINT_LIKE:
      return "LIKE";
    case SQLITE_INDEX_CONSTRAINT_GLOB:
      return "GLOB";
    default:
      return 0;
  }
}

/* Append " AND <zExpr> <op> <value>" for term t, whose argument is v. */
static int append_filter(sqlite3_str *s, const char *zExpr, const VgTerm *t,
                         sqlite3_value *v, Binds *b) {
  sqlite3_str_appendf(s, " AND %s", zExpr);
  if (t->zColl) sqlite3_str_appendf(s, " COLLATE \"%w\"", t->zColl);
  if (t->op == SQLITE_INDEX_CONSTRAINT_ISNULL) {
    sqlite3_str_appendall(s, " IS NULL");
    return SQLITE_OK;
  }
  if (t->op == SQLITE_INDEX_CONSTRAINT_ISNOTNULL) {
    sqlite3_str_appendall(s, " IS NOT NULL");
    return SQLITE_OK;
  }
  if (!t->bIn) {
    sqlite3_str_appendf(s, " %s ?", op_sql(t->op));
    return binds_add(b, v);
  }
  sqlite3_value *pItem = 0;
  int nItem = 0, rc;
  sqlite3_str_appendall(s, " IN (");
  for (rc = sqlite3_vtab_in_first(v, &pItem); rc == SQLITE_OK && pItem;
       rc = sqlite3_vtab_in_next(v, &pItem)) {
    sqlite3_str_appendall(s, nItem++ ? ", ?" : "?");
    if (binds_add(b, pItem) != SQLITE_OK) return SQLITE_NOMEM;
  }
  sqlite3_str_appendall(s, ")");
  return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* ---- prepared statements, kept by their text ---------------------------
**
** Preparing the generated SQL took a tenth of a small KNN query's time, and
** the same query shapes recur, so a few statements are kept per table.  A
** kept statement is lent to one user at a time (a cursor may hold its scan
** across xNext calls) and reset when it comes back. */

#define VG_KEPT_STMTS 8

struct VgStmtCache {
  char *azSql[VG_KEPT_STMTS];
  sqlite3_stmt *apStmt[VG_KEPT_STMTS];
  unsigned aLastUse[VG_KEPT_STMTS];
  unsigned char aLent[VG_KEPT_STMTS];
  unsigned clock;
};

void vg_vtab_forget_statements(VgVtab *p) {
  VgStmtCache *c = p->pStmts;
  if (c == 0) return;
  for (int i = 0; i < VG_KEPT_STMTS; i++) {
    sqlite3_finalize(c->apStmt[i]);
    sqlite3_free(c->azSql[i]);
  }
  sqlite3_free(c);
  p->pStmts = 0;
}

/* A statement for zSql: a kept one not lent out, or a new one, kept when a
** place is free or one not lent out is least recently used. */
static int stmt_borrow(VgVtab *p, const char *zSql, sqlite3_stmt **ppStmt) {
  VgStmtCache *c = p->pStmts;
  if (c == 0) {
    c = p->pStmts = sqlite3_malloc64(sizeof(*c));
    if (c == 0) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
  }
  c->clock++;
  int iPlace = -1;
  for (int i = 0; i < VG_KEPT_STMTS; i++) {
    if (c->aLent[i]) continue;
    if (c->azSql[i] && strcmp(c->azSql[i], zSql) == 0) {
      c->aLent[i] = 1;
      c->aLastUse[i] = c->clock;
      *ppStmt = c->apStmt[i];
      return SQLITE_OK;
    }
    if (iPlace < 0 || c->aLastUse[i] < c->aLastUse[iPlace]) iPlace = i; /* empty: 0 */
  }
  int rc = sqlite3_prepare_v2(p->db, zSql, -1, ppStmt, 0);
  if (rc != SQLITE_OK || iPlace < 0) return rc;
  char *zCopy = sqlite3_mprintf("%s", zSql);
  if (zCopy == 0) return SQLITE_OK; /* works, just not kept */
  sqlite3_finalize(c->apStmt[iPlace]);
  sqlite3_free(c->azSql[iPlace]);
  c->azSql[iPlace] = zCopy;
  c->apStmt[iPlace] = *ppStmt;
  c->aLastUse[iPlace] = c->clock;
  c->aLent[iPlace] = 1;
  return SQLITE_OK;
}

/* Give back a statement from stmt_borrow (0 is ignored). */
static void stmt_return(VgVtab *p, sqlite3_stmt *pStmt) {
  VgStmtCache *c = p->pStmts;
  if (pStmt == 0) return;
  for (int i = 0; c && i < VG_KEPT_STMTS; i++) {
    if (c->apStmt[i] == pStmt) {
      sqlite3_reset(pStmt);
      sqlite3_clear_bindings(pStmt);
      c->aLent[i] = 0;
      return;
    }
  }
  sqlite3_finalize(pStmt);
}

/* Borrow the statement for the SQL in s (consumed) and bind b from
** parameter iFirst on. */
static int prepare_generated(VgVtab *p, sqlite3_str *s, const Binds *b, int iFirst,
                             sqlite3_stmt **ppStmt) {
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  *ppStmt = 0;
  int rc = stmt_borrow(p, zSql, ppStmt);
  sqlite3_free(zSql);
  if (rc == SQLITE_OK) rc = binds_apply(b, *ppStmt, iFirst);
  if (rc != SQLITE_OK) {
    vg_table_error(p, rc, "%s: %s", p->zName, sqlite3_errmsg(p->db));
    stmt_return(p, *ppStmt);
    *ppStmt = 0;
  }
  return rc;
}

/* The SQL expression a P, M or R term filters on. */
static char *term_expr(const VgTableDef *d, const VgTerm *t) {
  switch (t->kind) {
    case 'P':
      return sqlite3_mprintf("p.value");
    case 'M':
      return sqlite3_mprintf("r.m%d", d->aCol[t->iCol].iStore);
    default:
      return sqlite3_mprintf("r.id");
  }
}

/* Append every term of the given kinds (a string of kind letters), skipping
** term iSkip. */
static int append_terms(VgVtab *p, sqlite3_str *s, const VgTerm *aTerm, int nTerm,
                        sqlite3_value **argv, const char *zKinds, int iSkip, Binds *b) {
  for (int i = 0; i < nTerm; i++) {
    if (i == iSkip || strchr(zKinds, aTerm[i].kind) == 0) continue;
    char *zExpr = term_expr(p->pDef, &aTerm[i]);
    if (zExpr == 0) return SQLITE_NOMEM;
    int rc = append_filter(s, zExpr, &aTerm[i], argv[i], b);
    sqlite3_free(zExpr);
    if (rc != SQLITE_OK) return rc;
  }
  return SQLITE_OK;
}

/* ---- KNN --------------------------------------------------------------- */

/* A distance condition, evaluated in C on each candidate. */
typedef struct DistTerm {
  int op;
  int kind; /* 0: NULL (never true), 1: number, 2: text or blob (above all numbers) */
  double r;
} DistTerm;

static int distance_passes(double d, const DistTerm *a, int n) {
  /* Inputs are bounded (VG_MAX_ELEMENT) so d is a number; were it NaN, it
  ** would pass no comparison, as in SQL. */
  if (n > 0 && isnan(d)) return 0;
  for (int i = 0; i < n; i++) {
    int cmp;
    if (a[i].kind == 0) return 0;
    cmp = a[i].kind == 2 ? -1 : (d < a[i].r ? -1 : d > a[i].r ? 1 : 0);
    switch (a[i].op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
        if (cmp != 0) return 0;
        break;
      case SQLITE_INDEX_CONSTRAINT_NE:
        if (cmp == 0) return 0;
        break;
      case SQLITE_INDEX_CONSTRAINT_LT:
        if (cmp >= 0) return 0;
        break;
      case SQLITE_INDEX_CONSTRAINT_LE:
        if (cmp > 0) return 0;
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
        if (cmp <= 0) return 0;
        break;
      default: /* GE */
        if (cmp < 0) return 0;
        break;
    }
  }
  return 1;
}

struct KnnQuery {
  float *aQuery; /* prepared for the metric */
  int nDims;
  vg_metric metric;
  int k, ef;
  int exact; /* -1 when absent: exact or graph by cost; 0 graph; 1 exact */
  TopK top;
  DistTerm *aDist;
  int nDist;
  int bDistLower; /* a distance term other than < and <= */
  sqlite3_int64 *aRowid; /* sorted rowids from rowid = / IN, or 0 */
  int nRowid;
  int iRowidTerm; /* term that gave aRowid, or -1 */
  HnswCand *aCand; /* graph search results, ef of them */
  unsigned char *aMask; /* per node: matches the filters (built here) */
  const unsigned char *aAccept; /* the mask in use: aMask or a remembered one */
  uint32_t nMask;
  char *aMaskKey; /* the candidate query and its values, or 0: see mask_key */
  int nMaskKey;
  /* int8 graphs: exact distances come from the vectors in the file. */
  float qNorm;           /* |aQuery| */
  float *aExact;         /* one row's vector, read from its slot */
  sqlite3_blob *pBlob;   /* read handle for those reads */
  HnswCand *aPick;       /* candidates for re-ranking */
  sqlite3_int64 nPickAlloc;
  float *aLower;         /* per node: lower bound on its distance (brute force) */
  uint32_t nLowerAlloc;
};

static void knn_free(KnnQuery *q) {
  if (q->pBlob) sqlite3_blob_close(q->pBlob);
  if (q->aExact) memset(q->aExact, 0, sizeof(float) * (size_t)q->nDims);
  sqlite3_free(q->aExact);
  sqlite3_free(q->aPick);
  sqlite3_free(q->aLower);
  sqlite3_free(q->aQuery);
  sqlite3_free(q->aDist);
  sqlite3_free(q->aRowid);
  sqlite3_free(q->aCand);
  sqlite3_free(q->aMask);
  sqlite3_free(q->aMaskKey);
  topk_free(&q->top);
}

/* Offer rowid id at distance d to the heap. */
static int knn_offer_at(KnnQuery *q, float d, sqlite3_int64 id) {
  if (!topk_accepts(&q->top, d, id)) return SQLITE_OK;
  if (q->nDist && !distance_passes(d, q->aDist, q->nDist)) return SQLITE_OK;
  return topk_push(&q->top, d, id);
}

static int knn_offer(KnnQuery *q, const Hnsw *h, uint32_t i) {
  float d = vg_prepared_distance(q->metric, q->aQuery, hnsw_vector(h, i), q->nDims);
  return knn_offer_at(q, d, h->aRowid[i]);
}

static int rowid_listed(const KnnQuery *q, sqlite3_int64 id) {
  int lo = 0, hi = q->nRowid - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (q->aRowid[mid] == id) return 1;
    if (q->aRowid[mid] < id) {
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return 0;
}

static int cmp_i64(const void *x, const void *y) {
  sqlite3_int64 a = *(const sqlite3_int64 *)x, b = *(const sqlite3_int64 *)y;
  return a < b ? -1 : a > b;
}

/* Add value v to the rowid list if it can equal a rowid. */
static int rowid_list_add(KnnQuery *q, sqlite3_value *v, int *pnAlloc) {
  VgValue iv;
  char *zErr = 0;
  if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_OK;
  if (vg_value_coerce(v, VG_TYPE_INTEGER, "rowid", &iv, &zErr) != SQLITE_OK) {
    sqlite3_free(zErr); /* not an integer: equals no rowid */
    return SQLITE_OK;
  }
  if (q->nRowid == *pnAlloc) {
    int nNew = *pnAlloc ? *pnAlloc * 2 : 16;
    sqlite3_int64 *aNew = sqlite3_realloc64(q->aRowid, sizeof(sqlite3_int64) * nNew);
    if (aNew == 0) return SQLITE_NOMEM;
    q->aRowid = aNew;
    *pnAlloc = nNew;
  }
  q->aRowid[q->nRowid++] = iv.i;
  return SQLITE_OK;
}

/* The first rowid = or IN term becomes a sorted list that drives the search. */
static int knn_rowid_list(KnnQuery *q, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  int nAlloc = 0, rc = SQLITE_OK;
  q->iRowidTerm = -1;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind == 'R' && aTerm[i].op == SQLITE_INDEX_CONSTRAINT_EQ) {
      q->iRowidTerm = i;
      break;
    }
  }
  if (q->iRowidTerm < 0) return SQLITE_OK;
  sqlite3_value *v = argv[q->iRowidTerm];
  if (aTerm[q->iRowidTerm].bIn) {
    sqlite3_value *pItem = 0;
    for (rc = sqlite3_vtab_in_first(v, &pItem); rc == SQLITE_OK && pItem;
         rc = sqlite3_vtab_in_next(v, &pItem)) {
      if (rowid_list_add(q, pItem, &nAlloc) != SQLITE_OK) return SQLITE_NOMEM;
    }
    if (rc != SQLITE_DONE) return rc;
  } else {
    rc = rowid_list_add(q, v, &nAlloc);
    if (rc != SQLITE_OK) return rc;
  }
  if (q->aRowid == 0) { /* an empty list matches nothing: keep a non-null array */
    q->aRowid = sqlite3_malloc64(sizeof(sqlite3_int64));
    if (q->aRowid == 0) return SQLITE_NOMEM;
  }
  qsort(q->aRowid, (size_t)q->nRowid, sizeof(sqlite3_int64), cmp_i64);
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

/* Setting kind (K k, E ef, X exact) from value v: checked, and stored in q
** unless q is 0 (a check at planning). */
static int knn_setting(VgVtab *p, char kind, sqlite3_value *v, KnnQuery *q) {
  int n = 0;
  if (kind == 'K' || kind == 'E') {
    int rc = knn_count(p, v, kind == 'K' ? "k" : "ef", kind == 'K' ? VG_MAX_K : VG_MAX_EF, &n);
    if (rc == SQLITE_OK && q) *(kind == 'K' ? &q->k : &q->ef) = n;
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
  if (q) q->exact = r == 1.0;
  return SQLITE_OK;
}

/* k, ef and exact from their terms; ef defaults to the table's ef_search. */
static int knn_settings(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        KnnQuery *q) {
  int rc = SQLITE_OK, bK = 0;
  q->ef = p->pDef->efSearch;
  q->exact = -1;
  for (int i = 0; i < nTerm && rc == SQLITE_OK; i++) {
    char kind = aTerm[i].kind;
    if (kind == 'K' || kind == 'E' || kind == 'X') rc = knn_setting(p, kind, argv[i], q);
    bK |= kind == 'K';
  }
  if (rc == SQLITE_OK && !bK) {
    rc = vg_table_error(p, SQLITE_INTERNAL, "%s: the query plan has no k", p->zName);
  }
  if (q->ef < q->k) q->ef = q->k;
  return rc;
}

static int knn_query_vector(VgVtab *p, sqlite3_value *v, KnnQuery *q) {
  const VgTableDef *d = p->pDef;
  const char *zCol = d->aCol[d->iVector].zName;
  char *zErr = 0;
  int n = 0;
  if (sqlite3_value_type(v) == SQLITE_NULL) {
    return vg_table_error(p, SQLITE_ERROR, "%s: the query vector (%s MATCH ...) is NULL",
                         p->zName, zCol);
  }
  int rc = vg_vector_from_value(v, &q->aQuery, &n, &zErr);
  if (rc != SQLITE_OK) {
    if (zErr == 0) return rc;
    rc = vg_table_error(p, rc, "%s: query vector: %s", p->zName, zErr);
    sqlite3_free(zErr);
    return rc;
  }
  if (n != d->nDims) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: the query vector has %d dimensions; %s holds %d%s", p->zName, n,
                         zCol, d->nDims, vg_vector_float64_hint(v, n, d->nDims));
  }
  if (d->metric == VG_METRIC_COSINE && !vg_vector_normalize(q->aQuery, n, q->aQuery)) {
    return vg_table_error(p, SQLITE_ERROR,
                         "%s: the query vector is zero, which has no direction under the "
                         "cosine metric",
                         p->zName);
  }
  q->nDims = n;
  q->metric = d->metric;
  double norm2 = 0;
  for (int i = 0; i < n; i++) norm2 += (double)q->aQuery[i] * q->aQuery[i];
  q->qNorm = (float)(sqrt(norm2) * (1 + 1e-6));
  return SQLITE_OK;
}

static int knn_distance_terms(const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                              KnnQuery *q) {
  q->aDist = sqlite3_malloc64(sizeof(DistTerm) * (nTerm + 1));
  if (q->aDist == 0) return SQLITE_NOMEM;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind != 'D') continue;
    DistTerm *t = &q->aDist[q->nDist++];
    VgValue rv;
    char *zErr = 0;
    t->op = aTerm[i].op;
    if (t->op != SQLITE_INDEX_CONSTRAINT_LT && t->op != SQLITE_INDEX_CONSTRAINT_LE) {
      q->bDistLower = 1;
    }
    if (sqlite3_value_type(argv[i]) == SQLITE_NULL) {
      t->kind = 0;
    } else if (vg_value_coerce(argv[i], VG_TYPE_REAL, "distance", &rv, &zErr) == SQLITE_OK) {
      t->kind = 1;
      t->r = rv.r;
    } else {
      sqlite3_free(zErr);
      t->kind = 2; /* SQLite orders text and blobs above every number */
    }
  }
  return SQLITE_OK;
}

/* ---- filter masks, remembered per partition ---------------------------
**
** Listing the rows that match a filter costs a step of SQL per matching row,
** on every query: a filter that matches most of a large partition made a
** query 80 times slower.  Apps repeat the same filters with new query
** vectors, so the last mask of each partition is kept with its graph (see
** vg_index_derived, which forgets it when the partition changes at all),
** under a key made of the candidate query's text and the exact bytes of its
** values. */

typedef struct MaskMemo {
  char *aKey;
  int nKey;
  uint32_t nNode, nMatch;
  unsigned char *aMask; /* nNode bytes, allocated with the memo */
} MaskMemo;

/* The key of pCand's SQL with the values in b, into q (not when the query
** also lists rowids: those filter the mask afterwards). */
static int mask_key(KnnQuery *q, sqlite3_stmt *pCand, const Binds *b) {
  if (q->aRowid) return SQLITE_OK;
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, sqlite3_sql(pCand));
  for (int i = 0; i < b->n; i++) {
    sqlite3_value *v = b->a[i];
    int t = sqlite3_value_type(v);
    sqlite3_str_appendf(s, "%c%d:", '\001', t);
    if (t == SQLITE_INTEGER) {
      sqlite3_str_appendf(s, "%lld", sqlite3_value_int64(v));
    } else if (t == SQLITE_FLOAT) {
      double r = sqlite3_value_double(v);
      sqlite3_str_append(s, (const char *)&r, (int)sizeof r);
    } else if (t == SQLITE_TEXT || t == SQLITE_BLOB) {
      const void *z = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(v) : sqlite3_value_blob(v);
      int n = sqlite3_value_bytes(v);
      sqlite3_str_appendf(s, "%d:", n);
      if (n > 0) sqlite3_str_append(s, (const char *)z, n);
    }
  }
  q->nMaskKey = sqlite3_str_length(s);
  q->aMaskKey = sqlite3_str_finish(s);
  return q->aMaskKey ? SQLITE_OK : SQLITE_NOMEM;
}

static int mask_reuse(VgVtab *p, KnnQuery *q, const Hnsw *h, sqlite3_int64 part,
                      uint32_t *pnMatch) {
  const MaskMemo *m = q->aMaskKey ? vg_index_derived(p->pIndex, part) : 0;
  if (m == 0 || m->nNode != h->nNode || m->nKey != q->nMaskKey ||
      memcmp(m->aKey, q->aMaskKey, (size_t)m->nKey) != 0) {
    return 0;
  }
  q->aAccept = m->aMask; /* valid until the partition changes: not in this search */
  *pnMatch = m->nMatch;
  return 1;
}

static void mask_remember(VgVtab *p, const KnnQuery *q, const Hnsw *h, sqlite3_int64 part,
                          uint32_t nMatch) {
  if (q->aMaskKey == 0) return;
  MaskMemo *m = sqlite3_malloc64(sizeof(*m) + h->nNode + (size_t)q->nMaskKey);
  if (m == 0) return; /* not remembered: the next query lists the rows again */
  m->aMask = (unsigned char *)&m[1];
  m->aKey = (char *)m->aMask + h->nNode;
  m->nKey = q->nMaskKey;
  m->nNode = h->nNode;
  m->nMatch = nMatch;
  memcpy(m->aMask, q->aMask, h->nNode);
  memcpy(m->aKey, q->aMaskKey, (size_t)q->nMaskKey);
  vg_index_set_derived(p->pIndex, part, m, sqlite3_free);
}

/* Mark the nodes of rows that pass the filters; *pnMatch counts them. */
static int knn_mask(VgVtab *p, KnnQuery *q, const Hnsw *h, sqlite3_stmt *pCand,
                    sqlite3_int64 part, uint32_t *pnMatch) {
  int rc = SQLITE_OK;
  uint32_t nMatch = 0;
  if (pCand && mask_reuse(p, q, h, part, pnMatch)) return SQLITE_OK;
  if (h->nNode > q->nMask) {
    unsigned char *a = sqlite3_realloc64(q->aMask, h->nNode);
    if (a == 0) return SQLITE_NOMEM;
    q->aMask = a;
    q->nMask = h->nNode;
  }
  q->aAccept = q->aMask;
  memset(q->aMask, 0, h->nNode);
  if (pCand) {
    sqlite3_bind_int64(pCand, 1, part);
    while (rc == SQLITE_OK && sqlite3_step(pCand) == SQLITE_ROW) {
      sqlite3_int64 id = sqlite3_column_int64(pCand, 0);
      if (q->aRowid && !rowid_listed(q, id)) continue;
      uint32_t i = hnsw_find(h, id);
      if (i == HNSW_NONE) {
        rc = vg_table_error(p, SQLITE_CORRUPT_VTAB,
                           "%s: the shadow tables are corrupt: row %lld has no vector",
                           p->zName, id);
        break;
      }
      nMatch += !q->aMask[i];
      q->aMask[i] = 1;
    }
    int rc2 = sqlite3_reset(pCand);
    if (rc == SQLITE_OK && rc2 != SQLITE_OK) {
      rc = vg_table_error(p, rc2, "%s: %s", p->zName, sqlite3_errmsg(p->db));
    }
    if (rc == SQLITE_OK) mask_remember(p, q, h, part, nMatch);
  } else {
    for (int j = 0; j < q->nRowid; j++) {
      uint32_t i = hnsw_find(h, q->aRowid[j]);
      if (i == HNSW_NONE) continue;
      nMatch += !q->aMask[i];
      q->aMask[i] = 1;
    }
  }
  *pnMatch = nMatch;
  return rc;
}

static int mask_accepts(void *pCtx, uint32_t node) {
  return ((const unsigned char *)pCtx)[node];
}

/* Is node i one brute force looks at: a row that passes the filters (with
** a mask), or any live row? */
static int knn_wants(const KnnQuery *q, const Hnsw *h, int bMask, uint32_t i) {
  return bMask ? q->aAccept[i] : hnsw_is_live(h, i);
}

/* ---- int8 graphs: re-ranking with the vectors in the file -------------- */

/* The exact distance from the query to node i, from the vector in its slot
** (the same computation as a float32 graph's). */
static int knn_exact_distance(VgVtab *p, KnnQuery *q, const Hnsw *h, uint32_t i, float *pd) {
  char *zErr = 0;
  if (q->aExact == 0) {
    q->aExact = sqlite3_malloc64(sizeof(float) * (size_t)q->nDims);
    if (q->aExact == 0) return SQLITE_NOMEM;
  }
  int rc = vg_store_slot_vector(p->pStore, &q->pBlob, h->aTag[i], h->aLevel[i], h->aRowid[i],
                                q->aExact, &zErr);
  if (rc != SQLITE_OK) return zErr ? vg_vtab_set_error(p, rc, zErr) : rc;
  if (q->metric == VG_METRIC_COSINE && !vg_vector_normalize(q->aExact, q->nDims, q->aExact)) {
    return vg_table_error(p, SQLITE_CORRUPT_VTAB,
                         "%s: the shadow tables are corrupt: row %lld has a zero vector",
                         p->zName, h->aRowid[i]);
  }
  *pd = vg_prepared_distance(q->metric, q->aQuery, q->aExact, q->nDims);
  return SQLITE_OK;
}

/* An approximate distance from the graph in the metric's own units. */
static float knn_approx(const KnnQuery *q, float dGraph) {
  return q->metric == VG_METRIC_L2 ? sqrtf(dGraph) : dGraph;
}

static int cand_by_distance(const void *x, const void *y) {
  const HnswCand *a = x, *b = y;
  return a->d < b->d ? -1 : a->d > b->d;
}

/* a[0..n) holds candidates with lower bounds on their exact distances.
** Offer their exact distances to the heap, lowest bound first, and stop
** once no bound left is below the heap's worst: what is skipped could not
** have entered it, so the heap ends as if every candidate had been read. */
static int knn_refine(VgVtab *p, KnnQuery *q, const Hnsw *h, HnswCand *a, int n) {
  int rc = SQLITE_OK;
  qsort(a, (size_t)n, sizeof(HnswCand), cand_by_distance);
  for (int j = 0; j < n && rc == SQLITE_OK; j++) {
    if (q->top.n == q->top.k && a[j].d > q->top.a[0].distance) break;
    float d;
    rc = knn_exact_distance(p, q, h, a[j].node, &d);
    if (rc == SQLITE_OK) rc = knn_offer_at(q, d, h->aRowid[a[j].node]);
  }
  return rc;
}

static int pick_room(KnnQuery *q, sqlite3_int64 n) {
  if (n <= q->nPickAlloc) return SQLITE_OK;
  HnswCand *a = sqlite3_realloc64(q->aPick, sizeof(HnswCand) * (size_t)n);
  if (a == 0) return SQLITE_NOMEM;
  q->aPick = a;
  q->nPickAlloc = n;
  return SQLITE_OK;
}

/* Brute force over an int8 graph: approximate distances to every row say
** which rows could be among the k nearest (lower bound at most the k-th
** smallest upper bound); only those are read from the file. */
static int knn_exact_int8(VgVtab *p, KnnQuery *q, const Hnsw *h, int bMask) {
  TopK upper;
  int rc = SQLITE_OK;
  if (h->nNode > q->nLowerAlloc) {
    sqlite3_free(q->aLower);
    q->aLower = sqlite3_malloc64(sizeof(float) * (size_t)h->nNode);
    q->nLowerAlloc = q->aLower ? h->nNode : 0;
    if (q->aLower == 0) return SQLITE_NOMEM;
  }
  topk_init(&upper, q->k);
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (!knn_wants(q, h, bMask, i)) continue;
    float d = knn_approx(q, hnsw_distance(h, q->aQuery, i));
    float e = hnsw_distance_error(h, i, q->qNorm);
    q->aLower[i] = d - e;
    rc = topk_push(&upper, d + e, h->aRowid[i]);
  }
  /* A distance condition may reject rows whatever their bounds: then any
  ** row may be needed, in order of its lower bound. */
  double u = upper.n == upper.k && q->nDist == 0 ? upper.a[0].distance : INFINITY;
  topk_free(&upper);
  int nPick = 0;
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (!knn_wants(q, h, bMask, i) || q->aLower[i] > u) continue;
    if (nPick == q->nPickAlloc && (rc = pick_room(q, 2 * q->nPickAlloc + 64)) != SQLITE_OK) break;
    q->aPick[nPick].d = q->aLower[i];
    q->aPick[nPick++].node = i;
  }
  if (rc == SQLITE_OK) rc = knn_refine(p, q, h, q->aPick, nPick);
  return rc;
}

/* The graph's candidates a[0..n), approximate distances replaced by lower
** bounds on the exact ones, for knn_refine. */
static void knn_lower_bounds(const KnnQuery *q, const Hnsw *h, HnswCand *a, int n) {
  for (int j = 0; j < n; j++) {
    a[j].d = knn_approx(q, a[j].d) - hnsw_distance_error(h, a[j].node, q->qNorm);
  }
}

/* The graph's candidates a[0..n), approximate distances replaced by the
** exact ones. */
static int knn_exact_distances(VgVtab *p, KnnQuery *q, const Hnsw *h, HnswCand *a, int n) {
  int rc = SQLITE_OK;
  for (int j = 0; j < n && rc == SQLITE_OK; j++) rc = knn_exact_distance(p, q, h, a[j].node, &a[j].d);
  return rc;
}

/* ---- brute force and graph search over one partition -------------------- */

/* Brute force over one partition, or over the rows in the mask. */
static int knn_exact(VgVtab *p, KnnQuery *q, const Hnsw *h, int bMask) {
  if (h->vectors == HNSW_INT8) return knn_exact_int8(p, q, h, bMask);
  int rc = SQLITE_OK;
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (knn_wants(q, h, bMask, i)) rc = knn_offer(q, h, i);
  }
  return rc;
}

/* Search one partition and offer what it finds to the heap.
**
** Brute force is chosen when it is cheaper: a graph search computes about
** VG_EXACT_FACTOR * ef distances divided by the share of rows that match,
** brute force one per matching row, so with m of n rows matching brute
** force wins when m * m <= VG_EXACT_FACTOR * ef * n (exact = 1 and exact = 0
** in the query override this guess).  It is also used when
** a distance condition could reject the nearest rows (distance > x), and
** when a graph search leaves matching rows unseen and fewer than k of those
** it found pass the distance conditions: so neither a filter nor a distance
** bound ever makes a query return fewer than min(k, rows that match). */
static int knn_partition(VgVtab *p, KnnQuery *q, Hnsw *h, sqlite3_stmt *pCand,
                         sqlite3_int64 part) {
  int bMask = pCand != 0 || q->aRowid != 0;
  uint32_t nMatch = h->nLive;
  int rc = bMask ? knn_mask(p, q, h, pCand, part, &nMatch) : SQLITE_OK;
  if (rc != SQLITE_OK) return rc;
  if (nMatch == 0) return SQLITE_OK;
  double m = nMatch, n = h->nLive;
  int bCheaper = m * m <= VG_EXACT_FACTOR * q->ef * n;
  if (q->exact == 1 || q->bDistLower || (q->exact == -1 && bCheaper)) {
    return knn_exact(p, q, h, bMask);
  }
  /* An int8 walk ranks by approximate distances, so it keeps twice the
  ** candidates; the exact re-ranking reads only those that can matter. */
  int efWalk = h->vectors == HNSW_INT8 ? 2 * q->ef : q->ef;
  if (q->aCand == 0) {
    q->aCand = sqlite3_malloc64(sizeof(HnswCand) * (size_t)efWalk);
    if (q->aCand == 0) return SQLITE_NOMEM;
  }
  int nFound = 0;
  rc = hnsw_search(h, q->aQuery, efWalk, bMask ? mask_accepts : 0, (void *)q->aAccept, q->aCand, &nFound);
  if (rc != SQLITE_OK) return rc;
  int bUnseen = (uint32_t)nFound < nMatch;
  if (h->vectors == HNSW_INT8 && !(bUnseen && q->nDist > 0)) {
    /* No distance condition to check below: only the rows that can still
    ** enter the heap are read from the file. */
    if (bUnseen && nFound < q->k) return knn_exact(p, q, h, bMask);
    knn_lower_bounds(q, h, q->aCand, nFound);
    return knn_refine(p, q, h, q->aCand, nFound);
  }
  if (h->vectors == HNSW_INT8) {
    rc = knn_exact_distances(p, q, h, q->aCand, nFound);
    if (rc != SQLITE_OK) return rc;
  } else if (q->metric == VG_METRIC_L2) {
    /* The graph ranks by squared L2; the other metrics' distances are final. */
    for (int j = 0; j < nFound; j++) q->aCand[j].d = sqrtf(q->aCand[j].d);
  }
  if (bUnseen) {
    /* Rows were left unseen: enough of what was found must pass the
    ** distance conditions, or brute force has to look at the rest. */
    int nPass = 0;
    for (int j = 0; j < nFound; j++) nPass += distance_passes(q->aCand[j].d, q->aDist, q->nDist);
    if (nPass < q->k) return knn_exact(p, q, h, bMask);
  }
  for (int j = 0; j < nFound && rc == SQLITE_OK; j++) {
    rc = knn_offer_at(q, q->aCand[j].d, h->aRowid[q->aCand[j].node]);
  }
  return rc;
}

static int knn_run(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  KnnQuery q;
  Binds partBinds = {0, 0, 0}, candBinds = {0, 0, 0};
  sqlite3_stmt *pParts = 0, *pCand = 0;
  memset(&q, 0, sizeof(q));
  int rc = knn_query_vector(p, argv[0], &q);
  if (rc == SQLITE_OK) rc = knn_settings(p, aTerm, nTerm, argv, &q);
  if (rc == SQLITE_OK) rc = knn_distance_terms(aTerm, nTerm, argv, &q);
  if (rc == SQLITE_OK) rc = knn_rowid_list(&q, aTerm, nTerm, argv);
  if (rc != SQLITE_OK) goto done;
  topk_init(&q.top, q.k);

  /* The partitions to search. */
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT p.id, p.nonce FROM %s p WHERE 1",
                      vg_store_table(p->pStore, "partitions"));
  rc = append_terms(p, s, aTerm, nTerm, argv, "P", -1, &partBinds);
  if (rc == SQLITE_OK) {
    rc = prepare_generated(p, s, &partBinds, 1, &pParts);
  } else {
    sqlite3_free(sqlite3_str_finish(s));
  }
  if (rc != SQLITE_OK) goto done;

  /* Metadata and remaining rowid conditions select candidates in SQL. */
  int bCand = 0;
  for (int i = 0; i < nTerm; i++) {
    if (aTerm[i].kind == 'M' || (aTerm[i].kind == 'R' && i != q.iRowidTerm)) bCand = 1;
  }
  if (bCand) {
    s = sqlite3_str_new(0);
    sqlite3_str_appendf(s, "SELECT r.id FROM %s r WHERE r.part = ?1",
                        vg_store_table(p->pStore, "rows"));
    rc = append_terms(p, s, aTerm, nTerm, argv, "MR", q.iRowidTerm, &candBinds);
    if (rc == SQLITE_OK) {
      rc = prepare_generated(p, s, &candBinds, 2, &pCand);
      if (rc == SQLITE_OK) rc = mask_key(&q, pCand, &candBinds);
    } else {
      sqlite3_free(sqlite3_str_finish(s));
    }
    if (rc != SQLITE_OK) goto done;
  }

  while (rc == SQLITE_OK && sqlite3_step(pParts) == SQLITE_ROW) {
    Hnsw *h = 0;
    sqlite3_int64 part = sqlite3_column_int64(pParts, 0);
    rc = vg_vtab_graph(p, part, sqlite3_column_int64(pParts, 1), &h);
    if (rc == SQLITE_OK) rc = knn_partition(p, &q, h, pCand, part);
  }
  if (rc == SQLITE_OK) {
    rc = sqlite3_reset(pParts);
    if (rc != SQLITE_OK) vg_table_error(p, rc, "%s: %s", p->zName, sqlite3_errmsg(p->db));
  }
  if (rc == SQLITE_OK) {
    topk_sort(&q.top);
    cur->aHit = q.top.a;
    cur->nHit = q.top.n;
    q.top.a = 0;
  }
done:
  stmt_return(p, pParts);
  stmt_return(p, pCand);
  binds_free(&partBinds);
  binds_free(&candBinds);
  knn_free(&q);
  return rc;
}

/* ---- plain scans ------------------------------------------------------- */

static int scan_start(VgCursor *cur, const VgTerm *aTerm, int nTerm, sqlite3_value **argv) {
  VgVtab *p = (VgVtab *)cur->base.pVtab;
  Binds binds = {0, 0, 0};
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT r.id, p.id IS NULL FROM %s r LEFT JOIN %s p ON p.id = r.part "
                      "WHERE 1",
                      vg_store_table(p->pStore, "rows"),
                      vg_store_table(p->pStore, "partitions"));
  int rc = append_terms(p, s, aTerm, nTerm, argv, "PMR", -1, &binds);
  sqlite3_str_appendall(s, " ORDER BY r.id");
  if (rc == SQLITE_OK) {
    rc = prepare_generated(p, s, &binds, 1, &cur->pScan);
  } else {
    sqlite3_free(sqlite3_str_finish(s));
  }
  binds_free(&binds);
  if (rc != SQLITE_OK) return rc;
  return vg_cursor_next(&cur->base);
}

/* ---- cursor ------------------------------------------------------------ */

static void cursor_reset(VgCursor *cur) {
  if (cur->bMatchChecked) ((VgVtab *)cur->base.pVtab)->nMatchChecked--;
  cur->bMatchChecked = 0;
  for (int i = 0; i < 3; i++) {
    sqlite3_value_free(cur->apSetting[i]);
    cur->apSetting[i] = 0;
  }
  sqlite3_free(cur->aHit);
  cur->aHit = 0;
  cur->nHit = cur->iHit = 0;
  stmt_return((VgVtab *)cur->base.pVtab, cur->pScan);
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
  static const char zSettings[] = "KEX"; /* the order of apSetting */
  for (int i = 0; cur->bKnn && i < argc && rc == SQLITE_OK; i++) {
    const char *zKind = aTerm[i].kind ? strchr(zSettings, aTerm[i].kind) : 0;
    if (zKind && (cur->apSetting[zKind - zSettings] = sqlite3_value_dup(argv[i])) == 0) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK) rc = cur->bKnn ? knn_run(cur, aTerm, argc, argv) : scan_start(cur, aTerm, argc, argv);
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
    if (cur->bKnn) sqlite3_result_double(ctx, cur->aHit[cur->iHit].distance);
    return SQLITE_OK;
  }
  if (iCol >= VG_HIDDEN_K(d)) {
    /* k, ef, exact: as given to a KNN query (SQLite may compare them
    ** again), else NULL. */
    sqlite3_value *v = cur->apSetting[iCol - VG_HIDDEN_K(d)];
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
      if (rc == SQLITE_OK) sqlite3_result_blob(ctx, a, 4 * d->nDims, SQLITE_TRANSIENT);
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
