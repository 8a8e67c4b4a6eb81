/*
** lexical.c — the lexical query engine (table.h, lexical section): the k
** rows of a partition with the highest BM25 scores for a query's terms,
** under the query's filters and rowid list.
**
** Every posting of every query term is read, so a row that holds any query
** term and passes the filters is a match, and a query returns min(k,
** matches) rows: exhaustive, never approximate.  The lists are walked
** together in rowid order (document at a time), so a row's score is
** complete when it is seen, with no table of partial scores; MaxScore
** leaves unscored the rows that provably cannot enter the k best, and only
** those.
*/
#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "fulltext/fulltext.h"
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

/* One query term's postings, sorted by rowid, and where a walk is in them. */
typedef struct TermCursor {
  const FtPosting *a, *p, *pEnd; /* the list, the current posting, its end */
  double idf, qtf;
  double ub; /* no row's weight for this term is above it */
} TermCursor;

struct VgLex {
  const VgLexSpec *pSpec;
  TopK top; /* distance = -score, so the highest scores are kept */
  /* The last partition's lists, kept for vg_lex_score. */
  VgFtPostings po;
  TermCursor *aCur;
  int nCur;
  double avgLen;
};

int vg_lex_new(const VgLexSpec *pSpec, VgLex **ppLex) {
  VgLex *q = sqlite3_malloc64(sizeof(*q));
  *ppLex = 0;
  if (q == 0) return SQLITE_NOMEM;
  memset(q, 0, sizeof(*q));
  q->pSpec = pSpec;
  topk_init(&q->top, pSpec->k);
  *ppLex = q;
  return SQLITE_OK;
}

static void lex_lists_free(VgLex *q) {
  vg_fulltext_postings_free(&q->po);
  sqlite3_free(q->aCur);
  q->aCur = 0;
  q->nCur = 0;
}

void vg_lex_free(VgLex *q) {
  if (q == 0) return;
  topk_free(&q->top);
  lex_lists_free(q);
  sqlite3_free(q);
}

static int cmp_i64(const void *x, const void *y) {
  sqlite3_int64 a = *(const sqlite3_int64 *)x, b = *(const sqlite3_int64 *)y;
  return a < b ? -1 : a > b;
}

static int cmp_posting_rowid(const void *x, const void *y) {
  int64_t a = ((const FtPosting *)x)->rowid, b = ((const FtPosting *)y)->rowid;
  return a < b ? -1 : a > b;
}

static int cmp_cursor_ub(const void *x, const void *y) {
  double a = ((const TermCursor *)x)->ub, b = ((const TermCursor *)y)->ub;
  return a < b ? -1 : a > b;
}

/* Is rowid in the sorted a[0, n)?  *pi is where the last look ended: rowids
** are asked for in rising order, so each look starts there. */
static int sorted_has(const sqlite3_int64 *a, int n, sqlite3_int64 rowid, int *pi) {
  int i = *pi;
  while (i < n && a[i] < rowid) i++;
  *pi = i;
  return i < n && a[i] == rowid;
}

/* The first posting at or after p (before pEnd) whose rowid is >= rowid. */
static const FtPosting *seek_rowid(const FtPosting *p, const FtPosting *pEnd, sqlite3_int64 rowid) {
  /* Galloping: rows asked for are usually near. */
  size_t step = 1;
  while (p + step < pEnd && p[step].rowid < rowid) {
    p += step;
    step *= 2;
  }
  const FtPosting *lo = p, *hi = p + step < pEnd ? p + step + 1 : pEnd;
  while (lo < hi) {
    const FtPosting *mid = lo + (hi - lo) / 2;
    if (mid->rowid < rowid) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

static double term_weight(const VgLex *q, const TermCursor *c, const FtPosting *p) {
  return c->qtf * ft_bm25_term(c->idf, p->tf, p->len, q->avgLen, q->pSpec->k1, q->pSpec->b);
}

/* The rows that pass the query's filters (pRows, partition bound to ?1),
** sorted, into *paRow (from sqlite3_malloc). */
static int filter_rows(sqlite3_stmt *pRows, sqlite3_int64 part, const char *zTable, sqlite3_int64 **paRow,
                       int *pnRow, char **pzErr) {
  sqlite3_int64 *a = 0;
  int n = 0, nAlloc = 0, rc = SQLITE_OK, step;
  sqlite3_bind_int64(pRows, 1, part);
  while ((step = sqlite3_step(pRows)) == SQLITE_ROW) {
    if (n == nAlloc) {
      nAlloc = nAlloc ? 2 * nAlloc : 256;
      sqlite3_int64 *aNew = sqlite3_realloc64(a, sizeof(sqlite3_int64) * (size_t)nAlloc);
      if (aNew == 0) {
        rc = SQLITE_NOMEM;
        break;
      }
      a = aNew;
    }
    a[n++] = sqlite3_column_int64(pRows, 0);
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) {
    rc = step;
    *pzErr = sqlite3_mprintf("%s: %s", zTable, sqlite3_errmsg(sqlite3_db_handle(pRows)));
  }
  sqlite3_reset(pRows);
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    return rc;
  }
  if (n > 1) qsort(a, (size_t)n, sizeof(sqlite3_int64), cmp_i64);
  *paRow = a;
  *pnRow = n;
  return SQLITE_OK;
}

/* Read part's lists into q->po and set up a cursor per term that has any,
** sorted by their bounds, lowest first. */
static int lex_lists(VgLex *q, sqlite3_int64 part, const VgFtStat *st, char **pzErr) {
  const VgLexSpec *s = q->pSpec;
  lex_lists_free(q);
  int rc = vg_fulltext_postings(s->pFulltext, part, s->aTerm, s->nTerm, &q->po, pzErr);
  if (rc != SQLITE_OK) return rc;
  q->aCur = sqlite3_malloc64(sizeof(TermCursor) * (size_t)(q->po.nTerm + 1));
  if (q->aCur == 0) return SQLITE_NOMEM;
  q->avgLen = (double)st->nTerms / (double)st->nRows;
  for (int t = 0; t < q->po.nTerm; t++) {
    FtPosting *a = q->po.a + q->po.aStart[t];
    int n = q->po.aStart[t + 1] - q->po.aStart[t];
    if (n == 0) continue;
    /* Chunks come in rowid order, pending rows after them: a pending row
    ** below the last merged one puts the list out of order. */
    uint32_t tfMax = a[0].tf, lenMin = a[0].len;
    int bSorted = 1;
    for (int i = 1; i < n; i++) {
      if (a[i].rowid < a[i - 1].rowid) bSorted = 0;
      if (a[i].tf > tfMax) tfMax = a[i].tf;
      if (a[i].len < lenMin) lenMin = a[i].len;
    }
    if (!bSorted) qsort(a, (size_t)n, sizeof(FtPosting), cmp_posting_rowid);
    TermCursor *c = &q->aCur[q->nCur++];
    c->a = c->p = a;
    c->pEnd = a + n;
    c->idf = ft_bm25_idf(st->nRows, n);
    c->qtf = s->aTerm[t].tf;
    /* The weight grows with tf and falls with len: the largest tf with the
    ** smallest len bounds every row's (a little above it, if no row has
    ** both). */
    FtPosting best = {0, tfMax, lenMin};
    c->ub = term_weight(q, c, &best) * (1.0 + 1e-9);
  }
  if (q->nCur > 1) qsort(q->aCur, (size_t)q->nCur, sizeof(TermCursor), cmp_cursor_ub);
  return SQLITE_OK;
}

int vg_lex_partition(VgLex *q, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr) {
  const VgLexSpec *s = q->pSpec;
  VgFtStat st;
  sqlite3_int64 *aPass = 0;
  double *aPrefix = 0;
  int nPass = 0, iPass = 0, iRowid = 0;
  int rc = vg_fulltext_stat(s->pFulltext, part, &st, pzErr);
  if (rc != SQLITE_OK || st.nRows == 0) {
    lex_lists_free(q);
    return rc;
  }
  rc = lex_lists(q, part, &st, pzErr);
  if (rc == SQLITE_OK && pRows) rc = filter_rows(pRows, part, s->zTable, &aPass, &nPass, pzErr);
  int m = q->nCur;
  TermCursor *aCur = q->aCur;
  if (rc == SQLITE_OK) {
    aPrefix = sqlite3_malloc64(sizeof(double) * (size_t)(m + 1));
    if (aPrefix == 0) rc = SQLITE_NOMEM;
  }
  for (int j = 0; rc == SQLITE_OK && j < m; j++) aPrefix[j] = (j ? aPrefix[j - 1] : 0.0) + aCur[j].ub;
  /* MaxScore (Turtle and Flood): once the k best rows so far all score at
  ** least theta, a row holding only terms 0..nLow-1, whose bounds sum to
  ** less than theta, cannot enter (not even on a tie, which a row of an
  ** earlier partition with a larger rowid could lose).  Rows are found in the other (essential)
  ** lists, document at a time; the low lists are probed for them only
  ** while the bounds left could still lift the row above theta. */
  int bTheta = rc == SQLITE_OK && q->top.n == q->top.k; /* full from earlier partitions */
  double theta = bTheta ? -q->top.a[0].distance : 0.0;
  int nLow = 0;
  while (bTheta && nLow < m && aPrefix[nLow] < theta) nLow++;
  while (rc == SQLITE_OK) {
    sqlite3_int64 rowid = 0;
    int bAny = 0;
    for (int j = nLow; j < m; j++) {
      if (aCur[j].p < aCur[j].pEnd && (!bAny || aCur[j].p->rowid < rowid)) {
        rowid = aCur[j].p->rowid;
        bAny = 1;
      }
    }
    if (!bAny) break;
    double score = 0.0;
    for (int j = nLow; j < m; j++) {
      if (aCur[j].p < aCur[j].pEnd && aCur[j].p->rowid == rowid) {
        score += term_weight(q, &aCur[j], aCur[j].p);
        aCur[j].p++;
      }
    }
    if (pRows && !sorted_has(aPass, nPass, rowid, &iPass)) continue;
    if (s->aRowid && !sorted_has(s->aRowid, s->nRowid, rowid, &iRowid)) continue;
    int bPruned = 0;
    for (int j = nLow - 1; j >= 0; j--) {
      if (bTheta && score + aPrefix[j] < theta) {
        bPruned = 1;
        break;
      }
      TermCursor *c = &aCur[j];
      c->p = seek_rowid(c->p, c->pEnd, rowid);
      if (c->p < c->pEnd && c->p->rowid == rowid) score += term_weight(q, c, c->p);
    }
    if (bPruned || !topk_accepts(&q->top, -score, rowid)) continue;
    if (topk_push(&q->top, -score, rowid) != HNSW_OK) {
      rc = SQLITE_NOMEM;
      break;
    }
    if (q->top.n == q->top.k) {
      bTheta = 1;
      theta = -q->top.a[0].distance;
      while (nLow < m && aPrefix[nLow] < theta) nLow++;
    }
  }
  sqlite3_free(aPrefix);
  sqlite3_free(aPass);
  return rc;
}

double vg_lex_score(const VgLex *q, sqlite3_int64 rowid) {
  double score = 0.0;
  for (int j = 0; j < q->nCur; j++) {
    const TermCursor *c = &q->aCur[j];
    const FtPosting *p = seek_rowid(c->a, c->pEnd, rowid);
    if (p < c->pEnd && p->rowid == rowid) score += term_weight(q, c, p);
  }
  return score;
}

void vg_lex_take(VgLex *q, VgHit **paHit, int *pnHit) {
  topk_sort(&q->top);
  for (int i = 0; i < q->top.n; i++) q->top.a[i].distance = -q->top.a[i].distance;
  *paHit = q->top.a;
  *pnHit = q->top.n;
  q->top.a = 0;
  q->top.n = q->top.nAlloc = 0;
}
