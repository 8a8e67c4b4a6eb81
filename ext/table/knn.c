/*
** knn.c — the KNN engine of a vg_hnsw table: the k nearest rows to a query
** vector, one partition's graph at a time, under the query's filters (a mask
** of the nodes whose rows pass them), distance conditions and rowid list.
** Per partition it chooses brute force or a graph walk, whichever costs
** less; int8 graphs are re-ranked with exact vectors that the caller reads.
**
** No SQL is written here: the rows that pass a filter come from a statement
** the caller prepared over the shadow tables (vtab_query.c, store_query.c),
** and exact vectors through the caller's reader, so the engine is tested on
** graphs built in memory (tests/unit/test_knn.c).
*/
#include "table/table.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* See vg_knn_partition: the cost ratio between a graph search and brute force,
** measured with make bench (docs/benchmarks.md). */
#define VG_EXACT_FACTOR 16.0

struct VgKnn {
  VgKnnSpec spec;
  float qNorm;           /* |query|, rounded up: for int8 error bounds */
  TopK top;
  int bDistLower;        /* a distance condition other than < and <= */
  HnswCand *aCand;       /* graph search results */
  int nCandAlloc;
  unsigned char *aMask;  /* per node: passes the filters (built here) */
  uint32_t nMask;
  const unsigned char *aAccept; /* the mask in use: aMask or a remembered one */
  /* int8 graphs */
  float *aExact;         /* one row's exact vector */
  HnswCand *aPick;       /* candidates for re-ranking */
  int64_t nPickAlloc;
  float *aLower;         /* per node: lower bound on its distance (brute force) */
  uint32_t nLowerAlloc;
};

/* "table: message" into *pzErr; returns rc. */
static int knn_error(const VgKnn *q, char **pzErr, int rc, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  *pzErr = zMsg ? sqlite3_mprintf("%s: %s", q->spec.zTable, zMsg) : 0;
  sqlite3_free(zMsg);
  return *pzErr ? rc : SQLITE_NOMEM;
}

int vg_knn_new(const VgKnnSpec *pSpec, VgKnn **ppKnn) {
  VgKnn *q = sqlite3_malloc64(sizeof(*q));
  *ppKnn = q;
  if (q == 0) return SQLITE_NOMEM;
  memset(q, 0, sizeof(*q));
  q->spec = *pSpec;
  if (q->spec.ef < q->spec.k) q->spec.ef = q->spec.k;
  if (pSpec->element == VG_ELEMENT_FLOAT32) {
    const float *a = pSpec->aQuery;
    double norm2 = 0;
    for (int i = 0; i < pSpec->nDims; i++) norm2 += (double)a[i] * a[i];
    q->qNorm = (float)(sqrt(norm2) * (1 + 1e-6));
  }
  for (int i = 0; i < pSpec->nDist; i++) {
    int op = pSpec->aDist[i].op;
    if (op != SQLITE_INDEX_CONSTRAINT_LT && op != SQLITE_INDEX_CONSTRAINT_LE) q->bDistLower = 1;
  }
  topk_init(&q->top, q->spec.k);
  return SQLITE_OK;
}

void vg_knn_free(VgKnn *q) {
  if (q == 0) return;
  if (q->aExact) memset(q->aExact, 0, sizeof(float) * (size_t)q->spec.nDims);
  sqlite3_free(q->aExact);
  sqlite3_free(q->aPick);
  sqlite3_free(q->aLower);
  sqlite3_free(q->aCand);
  sqlite3_free(q->aMask);
  topk_free(&q->top);
  sqlite3_free(q);
}

void vg_knn_take(VgKnn *q, VgHit **paHit, int *pnHit) {
  topk_sort(&q->top);
  *paHit = q->top.a;
  *pnHit = q->top.n;
  q->top.a = 0;
  q->top.n = q->top.nAlloc = 0;
}

int vg_knn_distance_passes(double d, const VgKnnDist *a, int n) {
  /* Inputs are bounded (VG_MAX_ELEMENT) so d is a number; were it NaN, it
  ** would pass no comparison, as in SQL. */
  if (n > 0 && isnan(d)) return 0;
  for (int i = 0; i < n; i++) {
    int cmp;
    if (a[i].kind == VG_KNN_DIST_NULL) return 0;
    cmp = a[i].kind == VG_KNN_DIST_ABOVE ? -1 : (d < a[i].r ? -1 : d > a[i].r ? 1 : 0);
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

/* Offer rowid id at distance d to the heap. */
static int knn_offer_at(VgKnn *q, float d, sqlite3_int64 id) {
  if (!topk_accepts(&q->top, d, id)) return SQLITE_OK;
  if (q->spec.nDist && !vg_knn_distance_passes(d, q->spec.aDist, q->spec.nDist)) return SQLITE_OK;
  return vg_hnsw_rc(topk_push(&q->top, d, id));
}

static int knn_offer(VgKnn *q, const Hnsw *h, uint32_t i) {
  /* int8 and bit vectors: exact, as sqlite-vec computes them */
  float d = h->vectors == HNSW_FLOAT32
                ? vg_prepared_distance(q->spec.metric, q->spec.aQuery, hnsw_vector(h, i), q->spec.nDims)
                : hnsw_metric_distance(h, q->spec.aQuery, i);
  return knn_offer_at(q, d, h->aRowid[i]);
}

static int rowid_listed(const VgKnn *q, sqlite3_int64 id) {
  int lo = 0, hi = q->spec.nRowid - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2;
    if (q->spec.aRowid[mid] == id) return 1;
    if (q->spec.aRowid[mid] < id) {
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return 0;
}

/* ---- filter masks, remembered per partition ---------------------------
**
** Listing the rows that match a filter costs a step of SQL per matching row,
** on every query: a filter that matches most of a large partition made a
** query 80 times slower.  Apps repeat the same filters with new query
** vectors, so the last mask of each partition is kept with its graph (see
** vg_index_derived, which forgets it when the partition changes at all),
** under the filter's key (VgKnnSpec). */

typedef struct MaskMemo {
  char *aKey;
  int nKey;
  uint32_t nNode, nMatch;
  unsigned char *aMask; /* nNode bytes, allocated with the memo */
} MaskMemo;

static int mask_reuse(VgKnn *q, const Hnsw *h, sqlite3_int64 part, uint32_t *pnMatch) {
  const VgKnnSpec *s = &q->spec;
  const MaskMemo *m = s->aFilterKey && s->pIndex ? vg_index_derived(s->pIndex, part) : 0;
  if (m == 0 || m->nNode != h->nNode || m->nKey != s->nFilterKey ||
      memcmp(m->aKey, s->aFilterKey, (size_t)m->nKey) != 0) {
    return 0;
  }
  q->aAccept = m->aMask; /* valid until the partition changes: not in this search */
  *pnMatch = m->nMatch;
  return 1;
}

static void mask_remember(VgKnn *q, const Hnsw *h, sqlite3_int64 part, uint32_t nMatch) {
  const VgKnnSpec *s = &q->spec;
  if (s->aFilterKey == 0 || s->pIndex == 0) return;
  MaskMemo *m = sqlite3_malloc64(sizeof(*m) + h->nNode + (size_t)s->nFilterKey);
  if (m == 0) return; /* not remembered: the next query lists the rows again */
  m->aMask = (unsigned char *)&m[1];
  m->aKey = (char *)m->aMask + h->nNode;
  m->nKey = s->nFilterKey;
  m->nNode = h->nNode;
  m->nMatch = nMatch;
  memcpy(m->aMask, q->aMask, h->nNode);
  memcpy(m->aKey, s->aFilterKey, (size_t)s->nFilterKey);
  vg_index_set_derived(s->pIndex, part, m, sqlite3_free);
}

/* Mark the nodes of rows that pass the filters; *pnMatch counts them. */
static int knn_mask(VgKnn *q, const Hnsw *h, sqlite3_stmt *pRows, sqlite3_int64 part,
                    uint32_t *pnMatch, char **pzErr) {
  int rc = SQLITE_OK;
  uint32_t nMatch = 0;
  if (pRows && mask_reuse(q, h, part, pnMatch)) return SQLITE_OK;
  if (h->nNode > q->nMask) {
    unsigned char *a = sqlite3_realloc64(q->aMask, h->nNode);
    if (a == 0) return SQLITE_NOMEM;
    q->aMask = a;
    q->nMask = h->nNode;
  }
  q->aAccept = q->aMask;
  memset(q->aMask, 0, h->nNode);
  if (pRows) {
    sqlite3_bind_int64(pRows, 1, part);
    while (rc == SQLITE_OK && sqlite3_step(pRows) == SQLITE_ROW) {
      sqlite3_int64 id = sqlite3_column_int64(pRows, 0);
      if (q->spec.aRowid && !rowid_listed(q, id)) continue;
      uint32_t i = hnsw_find(h, id);
      if (i == HNSW_NONE) {
        rc = knn_error(q, pzErr, SQLITE_CORRUPT_VTAB,
                       "the shadow tables are corrupt: row %lld has no vector", id);
        break;
      }
      nMatch += !q->aMask[i];
      q->aMask[i] = 1;
    }
    int rc2 = sqlite3_reset(pRows);
    if (rc == SQLITE_OK && rc2 != SQLITE_OK) {
      rc = knn_error(q, pzErr, rc2, "%s", sqlite3_errmsg(sqlite3_db_handle(pRows)));
    }
    if (rc == SQLITE_OK) mask_remember(q, h, part, nMatch);
  } else {
    for (int j = 0; j < q->spec.nRowid; j++) {
      uint32_t i = hnsw_find(h, q->spec.aRowid[j]);
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
static int knn_wants(const VgKnn *q, const Hnsw *h, int bMask, uint32_t i) {
  return bMask ? q->aAccept[i] : hnsw_is_live(h, i);
}

/* ---- int8 graphs: re-ranking with exact vectors ------------------------ */

/* The exact distance from the query to node i, from the vector the caller
** reads (the same computation as a float32 graph's). */
static int knn_exact_distance(VgKnn *q, const Hnsw *h, uint32_t i, float *pd, char **pzErr) {
  const VgKnnSpec *s = &q->spec;
  if (q->aExact == 0) {
    q->aExact = sqlite3_malloc64(sizeof(float) * (size_t)s->nDims);
    if (q->aExact == 0) return SQLITE_NOMEM;
  }
  int rc = s->xExact(s->pExactCtx, h, i, q->aExact, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (s->metric == VG_METRIC_COSINE && !vg_vector_normalize(q->aExact, s->nDims, q->aExact)) {
    return knn_error(q, pzErr, SQLITE_CORRUPT_VTAB,
                     "the shadow tables are corrupt: row %lld has a zero vector", h->aRowid[i]);
  }
  *pd = vg_prepared_distance(s->metric, s->aQuery, q->aExact, s->nDims);
  return SQLITE_OK;
}

/* An approximate distance from the graph in the metric's own units. */
static float knn_approx(const VgKnn *q, float dGraph) {
  return q->spec.metric == VG_METRIC_L2 ? sqrtf(dGraph) : dGraph;
}

static int cand_by_distance(const void *x, const void *y) {
  const HnswCand *a = x, *b = y;
  return a->d < b->d ? -1 : a->d > b->d;
}

/* a[0..n) holds candidates with lower bounds on their exact distances.
** Offer their exact distances to the heap, lowest bound first, and stop
** once no bound left is below the heap's worst: what is skipped could not
** have entered it, so the heap ends as if every candidate had been read. */
static int knn_refine(VgKnn *q, const Hnsw *h, HnswCand *a, int n, char **pzErr) {
  int rc = SQLITE_OK;
  qsort(a, (size_t)n, sizeof(HnswCand), cand_by_distance);
  for (int j = 0; j < n && rc == SQLITE_OK; j++) {
    if (q->top.n == q->top.k && a[j].d > q->top.a[0].distance) break;
    float d;
    rc = knn_exact_distance(q, h, a[j].node, &d, pzErr);
    if (rc == SQLITE_OK) rc = knn_offer_at(q, d, h->aRowid[a[j].node]);
  }
  return rc;
}

static int pick_room(VgKnn *q, int64_t n) {
  if (n <= q->nPickAlloc) return SQLITE_OK;
  HnswCand *a = sqlite3_realloc64(q->aPick, sizeof(HnswCand) * (size_t)n);
  if (a == 0) return SQLITE_NOMEM;
  q->aPick = a;
  q->nPickAlloc = n;
  return SQLITE_OK;
}

/* Brute force over an int8 graph: approximate distances to every row say
** which rows could be among the k nearest (lower bound at most the k-th
** smallest upper bound); only those are read exactly. */
static int knn_exact_int8(VgKnn *q, const Hnsw *h, int bMask, char **pzErr) {
  TopK upper;
  int rc = SQLITE_OK;
  if (h->nNode > q->nLowerAlloc) {
    sqlite3_free(q->aLower);
    q->aLower = sqlite3_malloc64(sizeof(float) * (size_t)h->nNode);
    q->nLowerAlloc = q->aLower ? h->nNode : 0;
    if (q->aLower == 0) return SQLITE_NOMEM;
  }
  topk_init(&upper, q->spec.k);
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (!knn_wants(q, h, bMask, i)) continue;
    float d = knn_approx(q, hnsw_distance(h, q->spec.aQuery, i));
    float e = hnsw_distance_error(h, i, q->qNorm);
    q->aLower[i] = d - e;
    rc = vg_hnsw_rc(topk_push(&upper, d + e, h->aRowid[i]));
  }
  /* A distance condition may reject rows whatever their bounds: then any
  ** row may be needed, in order of its lower bound. */
  double u = upper.n == upper.k && q->spec.nDist == 0 ? upper.a[0].distance : INFINITY;
  topk_free(&upper);
  int nPick = 0;
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (!knn_wants(q, h, bMask, i) || q->aLower[i] > u) continue;
    if (nPick == q->nPickAlloc && (rc = pick_room(q, 2 * q->nPickAlloc + 64)) != SQLITE_OK) break;
    q->aPick[nPick].d = q->aLower[i];
    q->aPick[nPick++].node = i;
  }
  if (rc == SQLITE_OK) rc = knn_refine(q, h, q->aPick, nPick, pzErr);
  return rc;
}

/* The graph's candidates a[0..n), approximate distances replaced by lower
** bounds on the exact ones, for knn_refine. */
static void knn_lower_bounds(const VgKnn *q, const Hnsw *h, HnswCand *a, int n) {
  for (int j = 0; j < n; j++) {
    a[j].d = knn_approx(q, a[j].d) - hnsw_distance_error(h, a[j].node, q->qNorm);
  }
}

/* ---- brute force and graph search over one partition -------------------- */

/* Brute force over one partition, or over the rows in the mask. */
static int knn_exact(VgKnn *q, const Hnsw *h, int bMask, char **pzErr) {
  if (h->vectors == HNSW_INT8) return knn_exact_int8(q, h, bMask, pzErr);
  int rc = SQLITE_OK;
  for (uint32_t i = 0; rc == SQLITE_OK && i < h->nNode; i++) {
    if (knn_wants(q, h, bMask, i)) rc = knn_offer(q, h, i);
  }
  return rc;
}

/* Brute force is chosen when it is cheaper: a graph search computes about
** VG_EXACT_FACTOR * ef distances divided by the share of rows that match,
** brute force one per matching row, so with m of n rows matching brute
** force wins when m * m <= VG_EXACT_FACTOR * ef * n (exact = 1 and exact = 0
** in the query override this guess).  It is also used when
** a distance condition could reject the nearest rows (distance > x), and
** when a graph search leaves matching rows unseen and fewer than k of those
** it found pass the distance conditions: so neither a filter nor a distance
** bound ever makes a query return fewer than min(k, rows that match). */
int vg_knn_partition(VgKnn *q, Hnsw *h, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr) {
  const VgKnnSpec *s = &q->spec;
  int bMask = pRows != 0 || s->aRowid != 0;
  uint32_t nMatch = h->nLive;
  *pzErr = 0;
  if (h->nDims != s->nDims || h->metric != s->metric) return SQLITE_MISUSE;
  if ((s->element == VG_ELEMENT_FLOAT32) != (h->vectors == HNSW_FLOAT32 || h->vectors == HNSW_INT8)) {
    return SQLITE_MISUSE;
  }
  if (h->vectors == HNSW_INT8 && s->xExact == 0) return SQLITE_MISUSE;
  int rc = bMask ? knn_mask(q, h, pRows, part, &nMatch, pzErr) : SQLITE_OK;
  if (rc != SQLITE_OK) return rc;
  if (nMatch == 0) return SQLITE_OK;
  double m = nMatch, n = h->nLive;
  int bCheaper = m * m <= VG_EXACT_FACTOR * s->ef * n;
  if (s->exact == 1 || q->bDistLower || (s->exact == -1 && bCheaper)) {
    return knn_exact(q, h, bMask, pzErr);
  }
  /* An int8 walk ranks by approximate distances, so it keeps twice the
  ** candidates; the exact re-ranking reads only those that can matter. */
  int efWalk = h->vectors == HNSW_INT8 ? 2 * s->ef : s->ef;
  if (efWalk > q->nCandAlloc) {
    sqlite3_free(q->aCand);
    q->aCand = sqlite3_malloc64(sizeof(HnswCand) * (size_t)efWalk);
    q->nCandAlloc = q->aCand ? efWalk : 0;
    if (q->aCand == 0) return SQLITE_NOMEM;
  }
  int nFound = 0;
  rc = vg_hnsw_rc(hnsw_search(h, s->aQuery, efWalk, bMask ? mask_accepts : 0, (void *)q->aAccept,
                              q->aCand, &nFound));
  if (rc != SQLITE_OK) return rc;
  int bUnseen = (uint32_t)nFound < nMatch;
  if (h->vectors == HNSW_INT8 && !(bUnseen && s->nDist > 0)) {
    /* No distance condition to check below: only the rows that can still
    ** enter the heap are read exactly. */
    if (bUnseen && nFound < s->k) return knn_exact(q, h, bMask, pzErr);
    knn_lower_bounds(q, h, q->aCand, nFound);
    return knn_refine(q, h, q->aCand, nFound, pzErr);
  }
  if (h->vectors == HNSW_INT8) {
    for (int j = 0; j < nFound && rc == SQLITE_OK; j++) {
      rc = knn_exact_distance(q, h, q->aCand[j].node, &q->aCand[j].d, pzErr);
    }
    if (rc != SQLITE_OK) return rc;
  } else if (s->metric == VG_METRIC_L2) {
    /* The graph ranks by squared L2; the other metrics' distances are final
    ** (an int8[N] column's sum is an integer, and sqrtf rounds its root as
    ** sqlite-vec's sqrt in double then float does: correctly). */
    for (int j = 0; j < nFound; j++) q->aCand[j].d = sqrtf(q->aCand[j].d);
  }
  if (bUnseen) {
    /* Rows were left unseen: enough of what was found must pass the
    ** distance conditions, or brute force has to look at the rest. */
    int nPass = 0;
    for (int j = 0; j < nFound; j++) {
      nPass += vg_knn_distance_passes(q->aCand[j].d, s->aDist, s->nDist);
    }
    if (nPass < s->k) return knn_exact(q, h, bMask, pzErr);
  }
  for (int j = 0; j < nFound && rc == SQLITE_OK; j++) {
    rc = knn_offer_at(q, q->aCand[j].d, h->aRowid[q->aCand[j].node]);
  }
  return rc;
}
