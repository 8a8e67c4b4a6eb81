/*
** lexical.c — the lexical query engine (table.h, lexical section): the k
** rows of a partition with the highest BM25 scores for a query's terms,
** under the query's filters and rowid list.
**
** A row that holds any query term and passes the filters is a match, and a
** query returns min(k, matches) rows: exhaustive, never approximate.  The
** lists are walked together in rowid order, a window of LEX_WINDOW rowids
** at a time, so a row's score is complete when its window is done and the
** table of partial scores is one window's.  Bounds leave unscored the rows
** that provably cannot enter the k best, and only those: each term's bound
** (MaxScore) and each chunk's (block-max), which lets a walk pass over
** chunks without decoding them.  A hybrid query has the rows its vector
** side found scored on the way (vg_lex_force).
*/
#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "fulltext/fulltext.h"
#include "table/table.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Rowids per window of the walk: its scores fill 32 KiB. */
#define LEX_WINDOW 4096

/* One query term's posting list and where a walk is in it: at the first
** posting >= target in chunk iChunk or a later one; exactly at p when
** chunk iChunk is decoded (p != 0).  iChunk == nChunk: the walk is over. */
typedef struct TermCursor {
  const VgFtChunk *aChunk;
  const double *aBound; /* each chunk's bound on the term's weight in a row */
  int nChunk, iChunk;
  int64_t target;
  const FtPosting *p, *pEnd; /* chunk iChunk decoded: the walk, its end */
  FtPosting *aBuf;           /* room to decode the list's largest chunk */
  double idfK1;              /* idf * (k1 + 1) */
  double ub;                 /* the largest chunk bound: no row's weight is above it */
} TermCursor;

struct VgLex {
  const VgLexSpec *pSpec;
  TopK top; /* distance = -score, so the highest scores are kept */
  /* The partition's lists and their cursors. */
  VgFtPostings po;
  TermCursor *aCur;
  int nCur;
  double *aBound;
  FtPosting *aBuf;
  double normA, normC; /* BM25's length norm, as normA + normC * len (ft_bm25_norm) */
  /* Rows scored whatever their bounds (vg_lex_force). */
  const sqlite3_int64 *aForce;
  int nForce;
  double *aForceScore;
  /* A window's scores by rowid - base, and which rows it has. */
  double *aAcc;
  uint64_t *aBits;
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
  sqlite3_free(q->aBound);
  sqlite3_free(q->aBuf);
  q->aCur = 0;
  q->aBound = 0;
  q->aBuf = 0;
  q->nCur = 0;
}

void vg_lex_free(VgLex *q) {
  if (q == 0) return;
  topk_free(&q->top);
  lex_lists_free(q);
  sqlite3_free(q->aAcc);
  sqlite3_free(q->aBits);
  sqlite3_free(q);
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
  return ft_bm25_weight(c->idfK1, q->normA, q->normC, p->tf, p->len);
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
  if (n > 1) qsort(a, (size_t)n, sizeof(sqlite3_int64), vg_cmp_i64);
  *paRow = a;
  *pnRow = n;
  return SQLITE_OK;
}

/* ---- cursors ------------------------------------------------------------ */

static int cur_done(const TermCursor *c) { return c->iChunk >= c->nChunk; }

/* The lowest rowid the cursor's next posting may have (its rowid, when
** the chunk is decoded or the cursor is at its start). */
static int64_t cur_key(const TermCursor *c) {
  if (c->p) return c->p->rowid;
  int64_t first = c->aChunk[c->iChunk].first;
  return c->target > first ? c->target : first;
}

/* Move c to its first posting >= rowid, decoding nothing: into the chunk
** that may hold it (each chunk is stepped over once in a walk). */
static void cur_skip(TermCursor *c, int64_t rowid) {
  if (cur_done(c) || rowid <= cur_key(c)) return;
  int i = c->iChunk;
  while (i + 1 < c->nChunk && c->aChunk[i + 1].first <= rowid) i++;
  c->target = rowid;
  if (i != c->iChunk) {
    c->iChunk = i;
    c->p = 0;
  } else if (c->p) {
    c->p = seek_rowid(c->p, c->pEnd, rowid);
    if (c->p == c->pEnd) {
      c->iChunk++; /* whose first rowid is above rowid */
      c->p = 0;
    }
  }
}

/* Decode c's chunk and put c at its first posting >= target, or at the
** next chunk's start if it has none. */
static int cur_load(VgLex *q, TermCursor *c, char **pzErr) {
  const VgFtChunk *k = &c->aChunk[c->iChunk];
  const FtPosting *a;
  int rc = vg_fulltext_chunk(&q->po, k, c->iChunk + 1 < c->nChunk ? k + 1 : 0, c->aBuf, &a, pzErr);
  if (rc != SQLITE_OK) return rc;
  c->pEnd = a + k->n;
  c->p = c->target > k->first ? seek_rowid(a, c->pEnd, c->target) : a;
  if (c->p == c->pEnd) {
    c->iChunk++;
    c->p = 0;
  }
  return SQLITE_OK;
}

/* ---- a partition's walk --------------------------------------------------- */

/* The postings of term t's largest encoded chunk (0: it has none). */
static int largest_encoded(const VgFtPostings *po, int t) {
  int nMax = 0;
  for (int i = po->aStart[t]; i < po->aStart[t + 1]; i++) {
    if (po->aChunk[i].nByte > 0 && po->aChunk[i].n > nMax) nMax = po->aChunk[i].n;
  }
  return nMax;
}

/* Read part's lists into q->po and set up a cursor per term that has any,
** sorted by their bounds, lowest first. */
static int lex_lists(VgLex *q, sqlite3_int64 part, const VgFtStat *st, char **pzErr) {
  const VgLexSpec *s = q->pSpec;
  lex_lists_free(q);
  int rc = vg_fulltext_postings(s->pFulltext, part, s->aTerm, s->nTerm, &q->po, pzErr);
  if (rc != SQLITE_OK) return rc;
  const VgFtPostings *po = &q->po;
  int nChunk = po->aStart[po->nTerm];
  /* Each cursor decodes one chunk at a time: room for its list's largest. */
  size_t nBuf = 0;
  for (int t = 0; t < po->nTerm; t++) nBuf += (size_t)largest_encoded(po, t);
  q->aCur = sqlite3_malloc64(sizeof(TermCursor) * (size_t)(po->nTerm + 1));
  q->aBound = sqlite3_malloc64(sizeof(double) * (size_t)(nChunk + 1));
  q->aBuf = sqlite3_malloc64(sizeof(FtPosting) * (nBuf + 1));
  if (q->aCur == 0 || q->aBound == 0 || q->aBuf == 0) return SQLITE_NOMEM;
  ft_bm25_norm((double)st->nTerms / (double)st->nRows, s->k1, s->b, &q->normA, &q->normC);
  size_t iBuf = 0;
  for (int t = 0; t < po->nTerm; t++) {
    int iFirst = po->aStart[t], n = po->aStart[t + 1] - iFirst;
    if (n == 0) continue;
    TermCursor *c = &q->aCur[q->nCur++];
    memset(c, 0, sizeof(*c));
    c->aChunk = po->aChunk + iFirst;
    c->aBound = q->aBound + iFirst;
    c->nChunk = n;
    c->target = INT64_MIN;
    c->aBuf = q->aBuf + iBuf;
    int df = 0;
    for (int i = 0; i < n; i++) df += c->aChunk[i].n;
    iBuf += (size_t)largest_encoded(po, t);
    c->idfK1 = ft_bm25_idf(st->nRows, df) * (s->k1 + 1.0);
    /* The weight grows with tf and falls with len: a chunk's largest tf
    ** with its smallest len bounds every row's in it (a little above, for
    ** the rounding of sums). */
    for (int i = 0; i < n; i++) {
      FtPosting best = {0, c->aChunk[i].maxTf, c->aChunk[i].minLen};
      q->aBound[iFirst + i] = term_weight(q, c, &best) * (1.0 + 1e-9);
      if (q->aBound[iFirst + i] > c->ub) c->ub = q->aBound[iFirst + i];
    }
  }
  if (q->nCur > 1) qsort(q->aCur, (size_t)q->nCur, sizeof(TermCursor), cmp_cursor_ub);
  return SQLITE_OK;
}

/* Add the weights of c's postings in [base, hi] to aAcc (by rowid - base),
** marking their rows in aBits, and move c past hi. */
static int cur_gather(VgLex *q, TermCursor *c, int64_t base, int64_t hi, double *aAcc,
                      uint64_t *aBits, char **pzErr) {
  while (!cur_done(c) && cur_key(c) <= hi) {
    if (c->p == 0) {
      int rc = cur_load(q, c, pzErr);
      if (rc != SQLITE_OK) return rc;
      continue;
    }
    const FtPosting *p = c->p;
    for (; p < c->pEnd && p->rowid <= hi; p++) {
      uint64_t off = (uint64_t)(p->rowid - base);
      aAcc[off] += term_weight(q, c, p);
      aBits[off >> 6] |= (uint64_t)1 << (off & 63);
    }
    if (p == c->pEnd) {
      c->iChunk++;
      c->p = 0;
      c->target = INT64_MIN;
    } else {
      c->p = p;
    }
  }
  return SQLITE_OK;
}

/* The largest bound of c's chunks that may hold a rowid of [lo, hi] (0 if
** none does); c is moved to lo first. */
/* The largest bound of c's chunks that may hold a rowid of [lo, hi] (0 if
** none may), with c moved to lo first; *pEnd is the last rowid up to which
** the bound holds: the last of those chunks' end (or the row before c's next
** posting when none may hold one). */
static double cur_window_bound(TermCursor *c, int64_t lo, int64_t hi, int64_t *pEnd) {
  cur_skip(c, lo);
  if (cur_done(c)) {
    *pEnd = INT64_MAX;
    return 0.0;
  }
  if (cur_key(c) > hi) {
    *pEnd = cur_key(c) - 1;
    return 0.0;
  }
  int i = c->iChunk;
  double b = c->aBound[i];
  for (; i + 1 < c->nChunk && c->aChunk[i + 1].first <= hi; i++) {
    if (c->aBound[i + 1] > b) b = c->aBound[i + 1];
  }
  *pEnd = i + 1 < c->nChunk ? c->aChunk[i + 1].first - 1 : INT64_MAX;
  return b;
}

int vg_lex_partition(VgLex *q, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr) {
  const VgLexSpec *s = q->pSpec;
  VgFtStat st;
  sqlite3_int64 *aPass = 0;
  double *aPrefix = 0;
  int nPass = 0, iPass = 0, iRowid = 0;
  for (int i = 0; i < q->nForce; i++) q->aForceScore[i] = 0.0;
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
    aPrefix = sqlite3_malloc64(sizeof(double) * (size_t)(2 * m + 1));
    if (aPrefix == 0) rc = SQLITE_NOMEM;
  }
  if (rc == SQLITE_OK && q->aAcc == 0) {
    q->aAcc = sqlite3_malloc64(sizeof(double) * LEX_WINDOW);
    q->aBits = sqlite3_malloc64(sizeof(uint64_t) * (LEX_WINDOW / 64));
    if (q->aAcc == 0 || q->aBits == 0) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) {
      memset(q->aAcc, 0, sizeof(double) * LEX_WINDOW);
      memset(q->aBits, 0, sizeof(uint64_t) * (LEX_WINDOW / 64));
    }
  }
  double *aLowBound = aPrefix + m; /* the low lists' window bounds, summed from list 0 */
  double *aAcc = q->aAcc;
  uint64_t *aBits = q->aBits;
  for (int j = 0; rc == SQLITE_OK && j < m; j++) aPrefix[j] = (j ? aPrefix[j - 1] : 0.0) + aCur[j].ub;
  /* MaxScore (Turtle and Flood) with block bounds (Ding and Suel): once the
  ** k best rows so far all score at least theta, a row holding only terms
  ** 0..nLow-1, whose bounds sum to less than theta, cannot enter (not even
  ** on a tie, which a row of an earlier partition with a larger rowid could
  ** lose).  The rows of the other (essential) lists are gathered a window
  ** of rowids at a time, list by list into an array of scores (a long
  ** query's rows mostly hold one or two of its terms, so this beats
  ** stepping every list row by row); each is then completed from the low
  ** lists while their bounds could still lift it above theta.  A window
  ** whose chunks' bounds sum to less than theta is passed over without
  ** decoding them.
  **
  ** A row's weights are summed in one order, from the last list to the
  ** first, however the walk came to them (which lists were essential,
  ** whether the row was forced): rows of equal weights tie exactly, and
  ** ties go by rowid. */
  int bTheta = rc == SQLITE_OK && q->top.n == q->top.k; /* full from earlier partitions */
  double theta = bTheta ? -q->top.a[0].distance : 0.0;
  int nLow = 0;
  while (bTheta && nLow < m && aPrefix[nLow] < theta) nLow++;
  int iForce = 0; /* the next row to score whatever its bounds */
  const sqlite3_int64 *aForce = q->aForce;
  while (rc == SQLITE_OK) {
    /* The window [base, hi]: from the lowest essential or forced row on. */
    int64_t base = 0;
    int bAny = 0;
    for (int j = nLow; j < m; j++) {
      if (!cur_done(&aCur[j]) && (!bAny || cur_key(&aCur[j]) < base)) {
        base = cur_key(&aCur[j]);
        bAny = 1;
      }
    }
    if (iForce < q->nForce && (!bAny || aForce[iForce] < base)) {
      base = aForce[iForce];
      bAny = 1;
    }
    if (!bAny) break;
    int64_t hi = base > INT64_MAX - (LEX_WINDOW - 1) ? INT64_MAX : base + (LEX_WINDOW - 1);
    /* The window's bound, which holds on to rowid end: if it is below
    ** theta, the walk goes on from end + 1 (the next chunk of some list,
    ** or the next forced row).  A forced row at base is never passed. */
    double bound = 0.0;
    int bForcedAtBase = iForce < q->nForce && aForce[iForce] == base;
    int64_t end = iForce < q->nForce && !bForcedAtBase ? aForce[iForce] - 1 : INT64_MAX;
    for (int j = 0; j < m; j++) {
      int64_t endList;
      double b = cur_window_bound(&aCur[j], base, hi, &endList);
      if (endList < end) end = endList;
      if (j < nLow) aLowBound[j] = (j ? aLowBound[j - 1] : 0.0) + b;
      bound += b;
    }
    assert(bForcedAtBase || end >= base);
    if (bTheta && !bForcedAtBase && bound < theta) {
      if (end == INT64_MAX) break;
      for (int j = nLow; j < m; j++) cur_skip(&aCur[j], end + 1);
      continue;
    }
    for (int j = m - 1; rc == SQLITE_OK && j >= nLow; j--) {
      rc = cur_gather(q, &aCur[j], base, hi, aAcc, aBits, pzErr);
    }
    for (int i = iForce; i < q->nForce && aForce[i] <= hi; i++) {
      uint64_t off = (uint64_t)(aForce[i] - base);
      aBits[off >> 6] |= (uint64_t)1 << (off & 63);
    }
    /* The window's rows, in rowid order; their scores are cleared on the
    ** way, so the arrays are zero again when the window is done. */
    int nLowWindow = nLow; /* the lists gathered are essential for the window */
    for (int w = 0; w < LEX_WINDOW / 64; w++) {
      uint64_t bits = aBits[w];
      aBits[w] = 0;
      while (bits) {
        int off = w * 64 + __builtin_ctzll(bits);
        bits &= bits - 1;
        sqlite3_int64 rowid = base + off;
        double score = aAcc[off];
        aAcc[off] = 0.0;
        if (rc != SQLITE_OK) continue;
        int bForced = iForce < q->nForce && aForce[iForce] == rowid;
        int bFiltered = (pRows && !sorted_has(aPass, nPass, rowid, &iPass)) ||
                        (s->aRowid && !sorted_has(s->aRowid, s->nRowid, rowid, &iRowid));
        if (bFiltered && !bForced) continue;
        /* The low lists, last first, while their bounds could lift the row
        ** above theta (all of them, for a forced row). */
        int bPruned = 0;
        for (int j = nLowWindow - 1; rc == SQLITE_OK && j >= 0; j--) {
          if (!bForced && score + aLowBound[j] < theta) {
            bPruned = 1;
            break;
          }
          TermCursor *c = &aCur[j];
          cur_skip(c, rowid);
          if (cur_done(c) || cur_key(c) != rowid) continue;
          if (c->p == 0) rc = cur_load(q, c, pzErr);
          if (rc == SQLITE_OK && !cur_done(c) && c->p && c->p->rowid == rowid) {
            score += term_weight(q, c, c->p);
          }
        }
        if (rc != SQLITE_OK) continue;
        if (bForced) q->aForceScore[iForce++] = score;
        if (bPruned || bFiltered || score == 0.0) continue; /* 0: no query term, not a match */
        if (!topk_accepts(&q->top, -score, rowid)) continue;
        if (topk_push(&q->top, -score, rowid) != HNSW_OK) {
          rc = SQLITE_NOMEM;
          continue;
        }
        if (q->top.n == q->top.k) {
          bTheta = 1;
          theta = -q->top.a[0].distance;
          while (nLow < m && aPrefix[nLow] < theta) nLow++;
        }
      }
    }
    if (hi == INT64_MAX) break;
  }
  sqlite3_free(aPrefix);
  sqlite3_free(aPass);
  return rc;
}

void vg_lex_force(VgLex *q, const sqlite3_int64 *aRowid, int nRowid, double *aScore) {
  q->aForce = aRowid;
  q->nForce = nRowid;
  q->aForceScore = aScore;
}

void vg_lex_take(VgLex *q, VgHit **paHit, int *pnHit) {
  topk_sort(&q->top);
  for (int i = 0; i < q->top.n; i++) q->top.a[i].distance = -q->top.a[i].distance;
  *paHit = q->top.a;
  *pnHit = q->top.n;
  q->top.a = 0;
  q->top.n = q->top.nAlloc = 0;
}
