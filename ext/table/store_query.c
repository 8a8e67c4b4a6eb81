/*
** store_query.c — the SQL that reads of a vg_hnsw table run over its shadow
** tables T_partitions and T_rows (owned by store.c and store_rows.c): the
** partitions a query names, the rows that pass its filters, a plain scan.
**
** Filters on the partition key, metadata and rowid become the WHERE clause
** of a statement generated from the plan's terms (vtab_query.c), so that
** SQLite itself compares the values, with the columns' types, affinities
** and collations, exactly as on an ordinary table.  Generated statements are
** kept by their text.
*/
#include "table/table.h"

#include <string.h>

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

void vg_query_return(VgVtab *p, sqlite3_stmt *pStmt) {
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
    vg_query_return(p, *ppStmt);
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

/* The key of pStmt's SQL with the values in b: what the KNN engine
** remembers a filter's mask under (VgKnnSpec.aFilterKey). */
static int filter_key(sqlite3_stmt *pStmt, const Binds *b, char **paKey, int *pnKey) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, sqlite3_sql(pStmt));
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
  *pnKey = sqlite3_str_length(s);
  *paKey = sqlite3_str_finish(s);
  return *paKey ? SQLITE_OK : SQLITE_NOMEM;
}

/* Build "zHead" followed by the terms of zKinds (skipping iSkip) and zTail,
** and borrow its statement with the values bound from iFirst on; the
** filter's key too when paKey is not 0. */
static int query_generated(VgVtab *p, sqlite3_str *s, const VgTerm *aTerm, int nTerm,
                           sqlite3_value **argv, const char *zKinds, int iSkip, const char *zTail,
                           int iFirst, sqlite3_stmt **ppStmt, char **paKey, int *pnKey) {
  Binds b = {0, 0, 0};
  *ppStmt = 0;
  int rc = append_terms(p, s, aTerm, nTerm, argv, zKinds, iSkip, &b);
  sqlite3_str_appendall(s, zTail);
  if (rc == SQLITE_OK) {
    rc = prepare_generated(p, s, &b, iFirst, ppStmt);
  } else {
    sqlite3_free(sqlite3_str_finish(s));
  }
  if (rc == SQLITE_OK && paKey) rc = filter_key(*ppStmt, &b, paKey, pnKey);
  binds_free(&b);
  return rc;
}

int vg_query_partitions(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        sqlite3_stmt **ppStmt) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT p.id, p.nonce FROM %s p WHERE 1",
                      vg_store_table(p->pStore, "partitions"));
  return query_generated(p, s, aTerm, nTerm, argv, "P", -1, "", 1, ppStmt, 0, 0);
}

int vg_query_candidates(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        int iSkip, sqlite3_stmt **ppStmt, char **paKey, int *pnKey) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT r.id FROM %s r WHERE r.part = ?1",
                      vg_store_table(p->pStore, "rows"));
  return query_generated(p, s, aTerm, nTerm, argv, "MR", iSkip, "", 2, ppStmt, paKey, pnKey);
}

int vg_query_scan(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                  sqlite3_stmt **ppStmt) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendf(s, "SELECT r.id, p.id IS NULL FROM %s r LEFT JOIN %s p ON p.id = r.part "
                      "WHERE 1",
                      vg_store_table(p->pStore, "rows"), vg_store_table(p->pStore, "partitions"));
  return query_generated(p, s, aTerm, nTerm, argv, "PMR", -1, " ORDER BY r.id", 1, ppStmt, 0, 0);
}
