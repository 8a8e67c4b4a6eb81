/*
** lexical.c — the lexical query engine (table.h, lexical section): the k
** rows of a partition with the highest BM25 scores for a query's terms,
** under the query's filters and rowid list.
**
** Every posting of every query term is read and scored, so a row that
** holds any query term and passes the filters is a match, and a query
** returns min(k, matches) rows: exhaustive, never approximate.
*/
#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "fulltext/fulltext.h"
#include "table/table.h"

#include <stdlib.h>
#include <string.h>

struct VgLex {
  const VgLexSpec *pSpec;
  TopK top;    /* distance = -score, so the highest scores are kept */
  I64Map all;  /* bKeepAll: rowid -> index in aAll of every match kept */
  double *aAll;
  int nAll, nAllAlloc;
};

int vg_lex_new(const VgLexSpec *pSpec, VgLex **ppLex) {
  VgLex *q = sqlite3_malloc64(sizeof(*q));
  *ppLex = 0;
  if (q == 0) return SQLITE_NOMEM;
  memset(q, 0, sizeof(*q));
  q->pSpec = pSpec;
  topk_init(&q->top, pSpec->k);
  i64map_init(&q->all);
  *ppLex = q;
  return SQLITE_OK;
}

void vg_lex_free(VgLex *q) {
  if (q == 0) return;
  topk_free(&q->top);
  i64map_free(&q->all);
  sqlite3_free(q->aAll);
  sqlite3_free(q);
}

static int rowid_listed(const VgLexSpec *s, sqlite3_int64 rowid) {
  int lo = 0, hi = s->nRowid;
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    if (s->aRowid[mid] < rowid) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo < s->nRowid && s->aRowid[lo] == rowid;
}

int vg_lex_partition(VgLex *q, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr) {
  const VgLexSpec *s = q->pSpec;
  VgFtStat st;
  VgFtPostings po;
  I64Map acc, allowed;
  double *aScore = 0;
  sqlite3_int64 *aRow = 0;
  int nRow = 0;
  i64map_init(&acc);
  i64map_init(&allowed);
  memset(&po, 0, sizeof(po));
  int rc = vg_fulltext_stat(s->pFulltext, part, &st, pzErr);
  if (rc != SQLITE_OK || st.nRows == 0) return rc;
  rc = vg_fulltext_postings(s->pFulltext, part, s->aTerm, s->nTerm, &po, pzErr);
  if (rc != SQLITE_OK) return rc;
  int nPost = po.aStart[po.nTerm];
  aScore = sqlite3_malloc64(sizeof(double) * (size_t)(nPost + 1));
  aRow = sqlite3_malloc64(sizeof(sqlite3_int64) * (size_t)(nPost + 1));
  if (aScore == 0 || aRow == 0 || i64map_reserve(&acc, (size_t)nPost) != HNSW_OK) rc = SQLITE_NOMEM;
  double avgLen = (double)st.nTerms / (double)st.nRows;
  /* Sum each row's term weights. */
  for (int t = 0; rc == SQLITE_OK && t < po.nTerm; t++) {
    int i0 = po.aStart[t], i1 = po.aStart[t + 1];
    if (i1 == i0) continue;
    double idf = ft_bm25_idf(st.nRows, i1 - i0);
    for (int i = i0; i < i1; i++) {
      const FtPosting *p = &po.a[i];
      double w = s->aTerm[t].qtf * ft_bm25_term(idf, p->tf, p->len, avgLen, s->k1, s->b);
      int64_t j = i64map_get(&acc, p->rowid);
      if (j < 0) {
        j = nRow++;
        aRow[j] = p->rowid;
        aScore[j] = 0.0;
        if (i64map_put(&acc, p->rowid, j) != HNSW_OK) {
          rc = SQLITE_NOMEM;
          break;
        }
      }
      aScore[j] += w;
    }
  }
  /* The rows that pass the filters (pRows lists them, partition bound to ?1). */
  if (rc == SQLITE_OK && pRows && nRow > 0) {
    sqlite3_bind_int64(pRows, 1, part);
    int step;
    while ((step = sqlite3_step(pRows)) == SQLITE_ROW) {
      sqlite3_int64 r = sqlite3_column_int64(pRows, 0);
      if (i64map_get(&acc, r) >= 0 && i64map_put(&allowed, r, 0) != HNSW_OK) {
        rc = SQLITE_NOMEM;
        break;
      }
    }
    if (rc == SQLITE_OK && step != SQLITE_DONE) {
      rc = step;
      *pzErr = sqlite3_mprintf("%s: %s", s->zTable, sqlite3_errmsg(sqlite3_db_handle(pRows)));
    }
    sqlite3_reset(pRows);
  }
  for (int j = 0; rc == SQLITE_OK && j < nRow; j++) {
    if (pRows && i64map_get(&allowed, aRow[j]) < 0) continue;
    if (s->aRowid && !rowid_listed(s, aRow[j])) continue;
    if (s->bKeepAll) {
      if (q->nAll == q->nAllAlloc) {
        int nNew = q->nAllAlloc ? 2 * q->nAllAlloc : 256;
        double *aNew = sqlite3_realloc64(q->aAll, sizeof(double) * (size_t)nNew);
        if (aNew == 0) {
          rc = SQLITE_NOMEM;
          break;
        }
        q->aAll = aNew;
        q->nAllAlloc = nNew;
      }
      q->aAll[q->nAll] = aScore[j];
      if (i64map_put(&q->all, aRow[j], q->nAll++) != HNSW_OK) {
        rc = SQLITE_NOMEM;
        break;
      }
    }
    if (topk_accepts(&q->top, -aScore[j], aRow[j]) && topk_push(&q->top, -aScore[j], aRow[j]) != HNSW_OK) {
      rc = SQLITE_NOMEM;
    }
  }
  vg_fulltext_postings_free(&po);
  i64map_free(&acc);
  i64map_free(&allowed);
  sqlite3_free(aScore);
  sqlite3_free(aRow);
  return rc;
}

double vg_lex_score(const VgLex *q, sqlite3_int64 rowid) {
  int64_t j = i64map_get(&q->all, rowid);
  return j < 0 ? 0.0 : q->aAll[j];
}

void vg_lex_take(VgLex *q, VgHit **paHit, int *pnHit) {
  topk_sort(&q->top);
  for (int i = 0; i < q->top.n; i++) q->top.a[i].distance = -q->top.a[i].distance;
  *paHit = q->top.a;
  *pnHit = q->top.n;
  q->top.a = 0;
  q->top.n = q->top.nAlloc = 0;
}
