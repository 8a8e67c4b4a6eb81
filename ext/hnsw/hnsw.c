/*
** hnsw.c — the HNSW graph: the nodes' memory (slots, vectors, link lists),
** distances, the primitives that link and unlink nodes without cutting a
** level, search (with an optional acceptance test applied during the walk),
** insertion and loading.  Deletion with repair, reconnecting and checking
** are in hnsw_repair.c.  See hnsw.h for the invariants.
*/
#include "hnsw/hnsw.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- heaps ------------------------------------------------------------- */

static int heap_reserve(HnswHeap *p, int n) {
  assert(p->n >= 0 && p->n <= p->nAlloc && n > 0);
  if (n <= p->nAlloc) return HNSW_OK;
  int nNew = p->nAlloc ? p->nAlloc : 64;
  while (nNew < n) nNew *= 2;
  HnswCand *a = hnsw_realloc(p->a, sizeof(HnswCand) * (size_t)nNew);
  if (a == 0) return HNSW_NOMEM;
  p->a = a;
  p->nAlloc = nNew;
  return HNSW_OK;
}

/* bMax: the root is the largest d; otherwise the smallest. */
static inline int heap_above(const HnswCand *x, const HnswCand *y, int bMax) {
  return bMax ? x->d > y->d : x->d < y->d;
}

static int heap_push(HnswHeap *p, float d, uint32_t node, int bMax) {
  if (p->n == p->nAlloc && heap_reserve(p, p->n + 1) != HNSW_OK) return HNSW_NOMEM;
  int i = p->n++;
  HnswCand c = {d, node};
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!heap_above(&c, &p->a[parent], bMax)) break;
    p->a[i] = p->a[parent];
    i = parent;
  }
  p->a[i] = c;
  return HNSW_OK;
}

static HnswCand heap_pop(HnswHeap *p, int bMax) {
  HnswCand top = p->a[0];
  HnswCand last = p->a[--p->n];
  int i = 0;
  for (;;) {
    int child = 2 * i + 1;
    if (child >= p->n) break;
    if (child + 1 < p->n && heap_above(&p->a[child + 1], &p->a[child], bMax)) child++;
    if (!heap_above(&p->a[child], &last, bMax)) break;
    p->a[i] = p->a[child];
    i = child;
  }
  if (p->n > 0) p->a[i] = last;
  return top;
}

/* ---- basics ------------------------------------------------------------ */

float hnsw_distance(const Hnsw *h, const void *q, uint32_t i) {
  return hnswi_dist_to(h, h->metric, q, i);
}

float hnsw_metric_distance(const Hnsw *h, const void *q, uint32_t i) {
  if (h->vectors == HNSW_I8) {
    return vg_i8_distance(h->metric, q, hnswi_bytes(h, i), h->nDims, 0);
  }
  float d = hnswi_dist_to(h, h->metric, q, i);
  return h->metric == VG_METRIC_L2 ? sqrtf(d) : d;
}

void hnsw_decode(const Hnsw *h, uint32_t i, void *pOut) {
  if (h->vectors != HNSW_INT8) {
    memcpy(pOut, hnsw_vector(h, i), hnswi_vector_bytes(h));
    return;
  }
  float *aOut = pOut;
  const float *w = hnswi_vector_words(h, i);
  const unsigned char *c = hnswi_codes(h, i);
  for (int j = 0; j < h->nDims; j++) aOut[j] = w[HNSW_CODE_LO] + w[HNSW_CODE_STEP] * (float)c[j];
}

/* Hold v in node i's block: as it is, or as codes with their scale and
** error terms. */
static void node_store_vector(Hnsw *h, uint32_t i, const void *pVec) {
  float *w = hnswi_vector_words(h, i);
  int n = h->nDims;
  if (h->vectors != HNSW_INT8) {
    memcpy(w, pVec, hnswi_vector_bytes(h));
    return;
  }
  const float *v = pVec;
  float lo = v[0], hi = v[0];
  for (int j = 1; j < n; j++) {
    if (v[j] < lo) lo = v[j];
    if (v[j] > hi) hi = v[j];
  }
  float step = (hi - lo) / 255.0f;
  /* A range too wide for a float gets no codes; its error bound is then
  ** infinite, so searches read its exact vector. */
  if (!isfinite(step)) step = 0.0f;
  float inv = step > 0 ? 1.0f / step : 0.0f;
  unsigned char *c = (unsigned char *)(w + HNSW_CODE_HEAD);
  double resid2 = 0, norm2 = 0;
  for (int j = 0; j < n; j++) {
    float t = (v[j] - lo) * inv;
    int code = (int)lrintf(t);
    c[j] = (unsigned char)(code < 0 ? 0 : code > 255 ? 255 : code);
    /* The error against the value the kernels compute, lo + step * c. */
    double x = (double)(lo + step * (float)c[j]);
    resid2 += ((double)v[j] - x) * ((double)v[j] - x);
    norm2 += x * x;
  }
  w[HNSW_CODE_LO] = lo;
  w[HNSW_CODE_STEP] = step;
  /* Rounded up, so that the bounds built on them stay bounds. */
  w[HNSW_CODE_RESID] = (float)(sqrt(resid2) * (1 + 1e-6));
  w[HNSW_CODE_MAG] = (float)((2 * sqrt(norm2) + sqrt(resid2) + 2 * fabs((double)lo) * sqrt(n)) *
                        (1 + 1e-6));
}

/* |exact - approximate| <= |q| * |x - decoded| for the dot products, and
** <= |x - decoded| for l2 distances (triangle inequality); float rounding
** in the exact and the approximate kernels adds at most about n units of
** rounding times the magnitudes involved (HNSW_CODE_MAG), counted twice
** over. */
float hnsw_distance_error(const Hnsw *h, uint32_t i, float qNorm) {
  if (h->vectors != HNSW_INT8) return 0.0f;
  const float *w = hnswi_vector_words(h, i);
  double gamma = 2.0 * (h->nDims + 4) * ldexp(1.0, -24);
  double e;
  if (h->metric == VG_METRIC_L2) {
    e = w[HNSW_CODE_RESID] + 2 * gamma * (qNorm + w[HNSW_CODE_MAG]);
  } else {
    e = qNorm * (w[HNSW_CODE_RESID] + gamma * w[HNSW_CODE_MAG]) + gamma;
  }
  return (float)(e * (1 + 1e-6));
}

const uint32_t *hnsw_links(const Hnsw *h, uint32_t i, int l, int *pn) {
  const uint32_t *a = hnswi_link_list(h, i, l);
  *pn = (int)a[0];
  return a + 1;
}

#define WORDS_PER_LINE 16 /* 64-byte cache lines of 32-bit words */

static size_t round_up_line(size_t nWords) {
  return (nWords + WORDS_PER_LINE - 1) / WORDS_PER_LINE * WORDS_PER_LINE;
}

int hnsw_init(Hnsw *h, int nDims, vg_metric metric, int M, int efConstruction,
              HnswVectors vectors) {
  memset(h, 0, sizeof(*h));
  h->entry = HNSW_NONE;
  h->maxLevel = -1;
  if (nDims < 1 || M < 2 || M > HNSW_MAX_M || efConstruction < 1 ||
      (vectors != HNSW_FLOAT32 && vectors != HNSW_INT8 && vectors != HNSW_I8 &&
       vectors != HNSW_BITS) ||
      (vectors == HNSW_BITS && nDims % 8 != 0)) {
    return HNSW_MISUSE;
  }
  h->nDims = nDims;
  h->metric = metric;
  /* Under inner product a few long vectors are "nearest" to everything, and
  ** a graph linked that way becomes a star around them.  Links are chosen
  ** by Euclidean distance instead, which still leads a search towards
  ** large inner products; cosine and l2 link under their own metric. */
  h->linkMetric = metric == VG_METRIC_IP ? VG_METRIC_L2 : metric;
  h->M = M;
  h->M0 = 2 * M;
  h->efConstruction = efConstruction;
  h->mL = 1.0 / log((double)M);
  h->vectors = vectors;
  h->vecWord = round_up_line((size_t)(1 + h->M0));
  size_t nVecWords = vectors == HNSW_INT8 ? HNSW_CODE_HEAD + ((size_t)nDims + 3) / 4
                                           : (hnswi_vector_bytes(h) + 3) / 4;
  h->nodeWords = h->vecWord + round_up_line(nVecWords);
  i64map_init(&h->index);
  if (vectors == HNSW_INT8) {
    h->aDecoded = hnsw_malloc(sizeof(float) * (size_t)nDims);
    if (h->aDecoded == 0) return HNSW_NOMEM;
  }
  return HNSW_OK;
}

void hnsw_free(Hnsw *h) {
  if (h->aNode0) memset(h->aNode0, 0, sizeof(uint32_t) * h->nodeWords * h->nAlloc);
  for (uint32_t i = 0; i < h->nNode; i++) hnsw_mem_free(h->apUpper[i]);
  hnsw_mem_free(h->aRowid);
  hnsw_mem_free(h->aTag);
  hnsw_mem_free(h->aLevel);
  hnsw_mem_free(h->pNode0Mem);
  hnsw_mem_free(h->apUpper);
  hnsw_mem_free(h->aFree);
  hnsw_mem_free(h->aVisited);
  hnsw_mem_free(h->ties.a);
  hnsw_mem_free(h->reach.a);
  hnsw_mem_free(h->aDirty);
  hnsw_mem_free(h->aDirtyMark);
  hnsw_mem_free(h->cand.a);
  hnsw_mem_free(h->result.a);
  if (h->aDecoded) memset(h->aDecoded, 0, sizeof(float) * (size_t)h->nDims);
  hnsw_mem_free(h->aDecoded);
  i64map_free(&h->index);
  memset(h, 0, sizeof(*h));
  h->entry = HNSW_NONE;
  h->maxLevel = -1;
}

/* Grow a per-node array to nNew elements of sz bytes; new bytes are zero. */
static int grow(void *ppArray, size_t sz, uint32_t nOld, uint32_t nNew) {
  void **pp = (void **)ppArray;
  unsigned char *a = hnsw_realloc(*pp, sz * nNew);
  if (a == 0) return HNSW_NOMEM;
  memset(a + sz * nOld, 0, sz * (nNew - nOld));
  *pp = a;
  return HNSW_OK;
}

int hnsw_reserve(Hnsw *h, uint32_t n) {
  if (n <= h->nAlloc) return HNSW_OK;
  uint32_t nOld = h->nAlloc, nNew = n;
  /* A new block, not realloc: the old one is zeroed before it is freed, so
  ** no copy of a vector stays behind in freed memory. */
  size_t nByte = sizeof(uint32_t) * h->nodeWords * nNew;
  unsigned char *pMem = hnsw_malloc(nByte + 64);
  if (pMem == 0) return HNSW_NOMEM;
  uint32_t *aNode0 = (uint32_t *)(pMem + (64 - (uintptr_t)pMem % 64) % 64);
  size_t nOldByte = sizeof(uint32_t) * h->nodeWords * nOld;
  if (h->aNode0) {
    memcpy(aNode0, h->aNode0, nOldByte);
    memset(h->aNode0, 0, nOldByte);
    hnsw_mem_free(h->pNode0Mem);
  }
  memset((unsigned char *)aNode0 + nOldByte, 0, nByte - nOldByte);
  h->aNode0 = aNode0;
  h->pNode0Mem = pMem;
  h->nAlloc = nNew; /* aNode0 is already the new size */
  if (grow(&h->aRowid, sizeof(int64_t), nOld, nNew) ||
      grow(&h->aTag, sizeof(int64_t), nOld, nNew) ||
      grow(&h->aLevel, 1, nOld, nNew) ||
      grow(&h->apUpper, sizeof(uint32_t *), nOld, nNew) ||
      grow(&h->aVisited, sizeof(uint32_t), nOld, nNew) ||
      grow(&h->aDirtyMark, 1, nOld, nNew)) {
    /* Arrays already grown keep their size; shrink the count back so that
    ** every array holds at least nAlloc elements. */
    h->nAlloc = nOld;
    return HNSW_NOMEM;
  }
  return i64map_reserve(&h->index, nNew);
}

int hnsw_level_for(const Hnsw *h, double u) {
  if (!(u > 0.0)) u = 1e-300;
  if (u > 1.0) u = 1.0;
  double l = floor(-log(u) * h->mL);
  return l > HNSW_MAX_LEVEL ? HNSW_MAX_LEVEL : (int)l;
}

uint32_t hnsw_find(const Hnsw *h, int64_t rowid) {
  int64_t v = i64map_get(&h->index, rowid);
  return v < 0 ? HNSW_NONE : (uint32_t)v;
}

void hnsw_dirty_clear(Hnsw *h) {
  for (uint32_t i = 0; i < h->nDirty; i++) {
    assert(h->aDirty[i] < h->nNode && h->aDirtyMark[h->aDirty[i]]); /* listed once, marked */
    h->aDirtyMark[h->aDirty[i]] = 0;
  }
  h->nDirty = 0;
}

/* Make room for one more element in a growable array of node numbers. */
static int u32_room(uint32_t **pa, uint32_t n, uint32_t *pnAlloc) {
  if (n < *pnAlloc) return HNSW_OK;
  uint32_t nNew = *pnAlloc ? *pnAlloc * 2 : 64;
  uint32_t *a = hnsw_realloc(*pa, sizeof(uint32_t) * nNew);
  if (a == 0) return HNSW_NOMEM;
  *pa = a;
  *pnAlloc = nNew;
  return HNSW_OK;
}

static int mark_dirty(Hnsw *h, uint32_t i) {
  assert(i < h->nNode);
  if (h->aDirtyMark[i]) return HNSW_OK;
  if (u32_room(&h->aDirty, h->nDirty, &h->nDirtyAlloc) != HNSW_OK) return HNSW_NOMEM;
  h->aDirtyMark[i] = 1;
  h->aDirty[h->nDirty++] = i;
  assert(h->nDirty <= h->nNode); /* the marks list each node once */
  return HNSW_OK;
}

/* n consecutive epochs, all new: marks from earlier ones are below the first,
** and later epochs start above the last. */
uint32_t hnswi_visit_begin_range(Hnsw *h, uint32_t n) {
  if (h->visitEpoch >= UINT32_MAX - n) {
    memset(h->aVisited, 0, sizeof(uint32_t) * h->nAlloc);
    h->visitEpoch = 0;
  }
  uint32_t e = h->visitEpoch + 1;
  h->visitEpoch += n;
  return e;
}

/* ---- node slots -------------------------------------------------------- */

static int node_new(Hnsw *h, int64_t rowid, int64_t tag, const void *v,
                    int level, uint32_t *pNode) {
  if (level < 0 || level > HNSW_MAX_LEVEL) return HNSW_MISUSE;
  if (hnsw_find(h, rowid) != HNSW_NONE) return HNSW_MISUSE;
  uint32_t i;
  if (h->nFree > 0) {
    i = h->aFree[h->nFree - 1];
    assert(i < h->nNode && !hnsw_is_live(h, i)); /* the free list holds free slots */
  } else {
    if (h->nNode == UINT32_MAX - 1) return HNSW_FULL;
    if (h->nNode == h->nAlloc) {
      /* Grow by half: amortized appends without doubling a large graph. */
      uint64_t nWant = (uint64_t)h->nAlloc + (h->nAlloc / 2 > 64 ? h->nAlloc / 2 : 64);
      int rc = hnsw_reserve(h, nWant < UINT32_MAX ? (uint32_t)nWant : UINT32_MAX - 1);
      if (rc != HNSW_OK) return rc;
    }
    i = h->nNode;
  }
  assert(i < h->nAlloc);
  uint32_t *aUpper = 0;
  if (level > 0) {
    aUpper = hnsw_malloc(sizeof(uint32_t) * (size_t)level * (size_t)(1 + h->M));
    if (aUpper == 0) return HNSW_NOMEM;
    memset(aUpper, 0, sizeof(uint32_t) * (size_t)level * (size_t)(1 + h->M));
  }
  if (i64map_put(&h->index, rowid, i) != HNSW_OK) {
    hnsw_mem_free(aUpper);
    return HNSW_NOMEM;
  }
  if (h->nFree > 0) {
    h->nFree--;
  } else {
    h->nNode++;
  }
  h->aRowid[i] = rowid;
  h->aTag[i] = tag;
  h->aLevel[i] = (signed char)level;
  node_store_vector(h, i, v);
  hnswi_link_list(h, i, 0)[0] = 0;
  h->apUpper[i] = aUpper;
  h->nLive++;
  assert(h->nLive + h->nFree == h->nNode);
  *pNode = i;
  return HNSW_OK;
}

int hnswi_node_release(Hnsw *h, uint32_t i) {
  assert(i < h->nNode && hnsw_is_live(h, i));
  /* Unlinked at every level: a link left would name a free slot. */
  for (int l = 0; l <= h->aLevel[i] && !h->bLoaded; l++) assert(hnswi_degree(h, i, l) == 0);
  if (u32_room(&h->aFree, h->nFree, &h->nFreeAlloc) != HNSW_OK) return HNSW_NOMEM;
  i64map_remove(&h->index, h->aRowid[i]);
  memset(hnswi_link_list(h, i, 0), 0, sizeof(uint32_t) * h->nodeWords); /* links and vector */
  hnsw_mem_free(h->apUpper[i]);
  h->apUpper[i] = 0;
  h->aLevel[i] = -1;
  h->aRowid[i] = 0;
  h->aTag[i] = 0;
  h->aFree[h->nFree++] = i;
  h->nLive--;
  assert(h->nLive + h->nFree == h->nNode);
  return HNSW_OK;
}

/* ---- links ------------------------------------------------------------- */

static void list_remove(uint32_t *a, uint32_t x) {
  for (uint32_t j = 1; j <= a[0]; j++) {
    if (a[j] == x) {
      a[j] = a[a[0]];
      a[0]--;
      return;
    }
  }
}

/* Link a and b, whose lists both have room. */
int hnswi_join(Hnsw *h, uint32_t a, uint32_t b, int l) {
  uint32_t *la = hnswi_link_list(h, a, l), *lb = hnswi_link_list(h, b, l);
  assert(a != b);
  assert(h->bLoaded || (hnswi_has_room(h, a, l) && hnswi_has_room(h, b, l)));
  assert(h->bLoaded || (!hnswi_list_has(la, b) && !hnswi_list_has(lb, a))); /* symmetric */
  la[++la[0]] = b;
  lb[++lb[0]] = a;
  int rc = mark_dirty(h, a);
  if (rc == HNSW_OK) rc = mark_dirty(h, b);
  return rc;
}

int hnswi_unlink_pair(Hnsw *h, uint32_t a, uint32_t b, int l) {
  uint32_t *la = hnswi_link_list(h, a, l), *lb = hnswi_link_list(h, b, l);
  assert(h->bLoaded || (a != b && hnswi_list_has(la, b) && hnswi_list_has(lb, a))); /* symmetric */
  list_remove(la, b);
  list_remove(lb, a);
  int rc = mark_dirty(h, a);
  if (rc == HNSW_OK) rc = mark_dirty(h, b);
  return rc;
}

int hnswi_cand_cmp(const void *x, const void *y) {
  const HnswCand *a = x, *b = y;
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  return a->node < b->node ? -1 : a->node > b->node;
}

/* Scramble x (multiplying by 2^32 / the golden ratio spreads the bits). */
static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x9e3779b1U;
  x ^= x >> 15;
  x *= 0x9e3779b1U;
  x ^= x >> 16;
  return x;
}

typedef struct KeyedCand {
  uint32_t key;
  HnswCand c;
} KeyedCand;

static int keyed_cmp(const void *x, const void *y) {
  const KeyedCand *a = x, *b = y;
  if (a->key != b->key) return a->key < b->key ? -1 : 1;
  return a->c.node < b->c.node ? -1 : a->c.node > b->c.node;
}

/* Reorder each run of equal distances in the sorted a[] by a hash salted
** with the base node.  Ordered by node number, every copy of a vector
** would prefer the same few copies (the oldest), which then turn away the
** rest; salted, each base prefers different ones.  (Without memory for a
** long run, the run keeps its order.) */
void hnswi_order_ties(HnswCand *a, int n, uint32_t salt) {
  uint32_t s = mix32(salt + 0x9e3779b9U);
  KeyedCand aStack[64];
  for (int i = 0; i < n;) {
    int j = i + 1;
    while (j < n && a[j].d == a[i].d) j++;
    int r = j - i;
    KeyedCand *k = r < 2 ? 0 : r <= 64 ? aStack : hnsw_malloc(sizeof(KeyedCand) * (size_t)r);
    if (k) {
      for (int t = 0; t < r; t++) k[t] = (KeyedCand){mix32(a[i + t].node ^ s), a[i + t]};
      qsort(k, (size_t)r, sizeof(KeyedCand), keyed_cmp);
      for (int t = 0; t < r; t++) a[i + t] = k[t].c;
      if (k != aStack) hnsw_mem_free(k);
    }
    i = j;
  }
}

/* Reverse a[0..n-1]. */
static void cands_reverse(HnswCand *a, int n) {
  for (int i = 0, j = n - 1; i < j; i++, j--) {
    HnswCand t = a[i];
    a[i] = a[j];
    a[j] = t;
  }
}

/* The heuristic of the paper (algorithm 4): walk the candidates nearest
** first and keep one only if it is nearer to the base than to every one
** kept, which spreads the links in different directions.  a[] is sorted;
** the kept ones are moved to the front, in the order kept, and the others
** follow in an order of preference.  Returns how many were kept.
**
** Twins are candidates no farther from the base than the base itself
** (dSelf: 0 for l2, about 0 for cosine): copies of it at the metric's
** resolution.  The test above cannot tell copies apart (every distance
** among them is equal), so it would keep all of them, and copies of one
** vector would fill their lists with each other and shed every other link.
** So at most a quarter of the list goes to twins (the first in
** hnswi_order_ties' order); a kept twin prunes nothing, since it stands
** where the base does; and the twins not kept come last, to be dropped
** first. */
static int select_diverse(const Hnsw *h, HnswCand *a, int n, int m, float dSelf,
                          uint32_t salt) {
  hnswi_order_ties(a, n, salt);
  int nKeep = 0, nTwinKept = 0, nTwinPruned = 0, nTwinMax = (m + 3) / 4;
  for (int i = 0; i < n && nKeep < m; i++) {
    int bGood;
    if (a[i].d <= dSelf) {
      /* Sorted: twins come before every other candidate. */
      bGood = nTwinKept < nTwinMax;
      nTwinKept += bGood;
      nTwinPruned += !bGood;
    } else {
      bGood = 1;
      const void *qi = nKeep > nTwinKept ? hnswi_node_as_query(h, a[i].node) : 0;
      for (int j = nTwinKept; j < nKeep && bGood; j++) {
        if (hnswi_dist_link(h, qi, a[j].node) < a[i].d) bGood = 0;
      }
    }
    if (bGood) {
      HnswCand t = a[i];
      memmove(&a[nKeep + 1], &a[nKeep], sizeof(HnswCand) * (size_t)(i - nKeep));
      a[nKeep++] = t;
    }
  }
  if (nTwinPruned > 0 && nTwinPruned < n - nKeep) {
    /* The pruned twins head the rest (still sorted); rotate them to the end. */
    cands_reverse(a + nKeep, nTwinPruned);
    cands_reverse(a + nKeep + nTwinPruned, n - nKeep - nTwinPruned);
    cands_reverse(a + nKeep, n - nKeep);
  }
  return nKeep;
}

/* How a full list makes room for one more link (see make_room). */
typedef struct Room {
  uint32_t victim; /* the link to drop; HNSW_NONE: the new link is refused */
  int bSplice;     /* the victim is linked to the new neighbour instead */
} Room;

/* With n's links marked by epoch in aVisited: is there a path n-w-v or
** n-w-z-v at level l that does not pass through avoid?  Then the link n-v
** can go without disconnecting anything. */
static int has_detour(const Hnsw *h, uint32_t n, uint32_t v, int l, uint32_t avoid,
                      uint32_t epoch) {
  const uint32_t *lv = hnswi_link_list(h, v, l);
  /* n is not in its own list, nor v in v's: a mark is a third node, and
  ** avoid (not linked to n) is never marked. */
  for (uint32_t t = 1; t <= lv[0]; t++) {
    if (h->aVisited[lv[t]] == epoch) return 1;
  }
  for (uint32_t t = 1; t <= lv[0]; t++) {
    uint32_t z = lv[t];
    if (z == n || z == avoid) continue;
    const uint32_t *lz = hnswi_link_list(h, z, l);
    for (uint32_t u = 1; u <= lz[0]; u++) {
      if (lz[u] != v && h->aVisited[lz[u]] == epoch) return 1;
    }
  }
  return 0;
}

/* Node n is full at level l and is to be linked to extra.  Among its links
** and extra the heuristic ranks which to keep, and the lowest ranked goes
** that can go without cutting the graph:
**
**   extra itself, by refusing the new link, unless extra has no link at
**   this level yet (a new node must be linked);
**
**   a link to v, when a path of two or three links other than n-v joins n
**   and v (has_detour), or when v is linked to extra and the link to extra
**   will be made (bExtraHasRoom: extra needs no room itself).
**
** If none can go, extra must be linked and has no links: the lowest ranked
** v is spliced, its link to n replaced by one to extra (bSplice), so n and
** v stay connected through extra.  When both ends are full, both decide
** before either drops a link, and a path through extra is no proof: the
** other end's drop could cut it. */
static int make_room(Hnsw *h, uint32_t n, int l, uint32_t extra, int bExtraHasRoom,
                     Room *pRoom) {
  uint32_t *ln = hnswi_link_list(h, n, l);
  assert(!hnswi_has_room(h, n, l)); /* full: a[] holds its links and extra */
  int nCand = (int)ln[0] + 1;
  HnswCand a[2 * HNSW_MAX_M + 1];
  const void *qn = hnswi_node_as_query(h, n);
  for (int j = 0; j < nCand - 1; j++) {
    a[j].node = ln[1 + j];
    a[j].d = hnswi_dist_link(h, qn, a[j].node);
  }
  a[nCand - 1].node = extra;
  a[nCand - 1].d = hnswi_dist_link(h, qn, extra);
  float dSelf = hnswi_dist_link(h, qn, n);
  qsort(a, (size_t)nCand, sizeof(HnswCand), hnswi_cand_cmp);
  select_diverse(h, a, nCand, hnsw_capacity(h, l), dSelf, n);
  /* a[] is now in keeping order; look for the victim from the end. */
  int bMust = hnswi_degree(h, extra, l) == 0;
  const uint32_t *le = hnswi_link_list(h, extra, l);
  uint32_t epoch = 0;
  pRoom->victim = HNSW_NONE;
  pRoom->bSplice = 0;
  for (int j = nCand - 1; j >= 0; j--) {
    uint32_t v = a[j].node;
    if (v == extra) {
      if (!bMust) return HNSW_OK; /* refused */
      continue;
    }
    if (bExtraHasRoom && hnswi_list_has(le, v)) {
      pRoom->victim = v;
      return HNSW_OK;
    }
    if (epoch == 0) {
      epoch = hnswi_visit_begin(h);
      for (uint32_t t = 1; t <= ln[0]; t++) h->aVisited[ln[t]] = epoch;
    }
    if (has_detour(h, n, v, l, bExtraHasRoom ? HNSW_NONE : extra, epoch)) {
      pRoom->victim = v;
      return HNSW_OK;
    }
  }
  /* Only a new node (no links, so room for two) gets here. */
  assert(bMust && nCand >= 2);
  pRoom->victim = a[nCand - 1].node != extra ? a[nCand - 1].node : a[nCand - 2].node;
  pRoom->bSplice = 1;
  return HNSW_OK;
}

/* Carry out make_room's decision for n. */
static int give_room(Hnsw *h, uint32_t n, int l, uint32_t extra, const Room *r) {
  int rc = hnswi_unlink_pair(h, n, r->victim, l);
  if (rc == HNSW_OK && r->bSplice) rc = hnswi_join(h, r->victim, extra, l);
  return rc;
}

/* Link a and b at level l, unless a full list refuses (see make_room).
** Never disconnects the level's graph. */
int hnswi_link_pair(Hnsw *h, uint32_t a, uint32_t b, int l) {
  if (a == b || hnswi_list_has(hnswi_link_list(h, a, l), b)) return HNSW_OK;
  int bRoomA = hnswi_has_room(h, a, l), bRoomB = hnswi_has_room(h, b, l), rc = HNSW_OK;
  Room ra, rb;
  /* Both decisions before either change, so that a refusal changes nothing. */
  if (!bRoomA) {
    rc = make_room(h, a, l, b, bRoomB, &ra);
    if (rc != HNSW_OK || ra.victim == HNSW_NONE) return rc;
  }
  if (!bRoomB) {
    rc = make_room(h, b, l, a, bRoomA, &rb);
    if (rc != HNSW_OK || rb.victim == HNSW_NONE) return rc;
  }
  if (!bRoomA) rc = give_room(h, a, l, b, &ra);
  if (rc == HNSW_OK && !bRoomB) rc = give_room(h, b, l, a, &rb);
  if (rc == HNSW_OK) rc = hnswi_join(h, a, b, l);
  return rc;
}

/* ---- search ------------------------------------------------------------ */

/* How far past its budget a walk through ties may go while nothing nearer
** than them has been found, and how many other nodes it may meet before it
** stops (see hnswi_search_layer): copies of a vector have few links
** elsewhere, so that a walk through few of them may find none. */
#define TIE_REACH 16
#define TIE_EXITS(h) ((h)->M)

/* Room for one more entry in h->ties. */
static int ties_room(Hnsw *h) {
  return h->ties.n < h->ties.nAlloc ? HNSW_OK : heap_reserve(&h->ties, h->ties.n + 1);
}

/* Greedy walk at level l from ep towards q, into *pEp.  Where no link leads
** nearer, the walk goes on through ties (copies of the vector it stands
** on, as in hnswi_search_layer) for one with a link that does: through up
** to TIE_REACH * nTieMax of them, until TIE_EXITS links elsewhere turn out
** no nearer, and not at all when no node can be nearer (dFloor: q's
** distance to itself). */
static int greedy_closest(Hnsw *h, vg_metric m, const void *q, uint32_t ep, int l,
                          int nTieMax, float dFloor, uint32_t *pEp) {
  HnswHeap *T = &h->ties;
  float dBest = hnswi_dist_to(h, m, q, ep);
  for (;;) {
    int n;
    const uint32_t *a = hnsw_links(h, ep, l, &n);
    uint32_t next = ep;
    int bTie = 0; /* (only read when no link is nearer: dBest is then ep's) */
    for (int j = 0; j < n; j++) {
      float d = hnswi_dist_to(h, m, q, a[j]);
      if (d < dBest) {
        dBest = d;
        next = a[j];
      } else if (d == dBest) {
        bTie = 1;
      }
    }
    if (next == ep && bTie && dBest > dFloor) {
      /* Breadth-first through the ties of ep. */
      uint32_t epoch = hnswi_visit_begin(h);
      h->aVisited[ep] = epoch;
      T->n = 0;
      int rc = ties_room(h);
      if (rc != HNSW_OK) return rc;
      T->a[T->n++].node = ep;
      int nOther = 0;
      for (int t = 0; t < T->n && next == ep && nOther < TIE_EXITS(h); t++) {
        a = hnsw_links(h, T->a[t].node, l, &n);
        for (int j = 0; j < n; j++) {
          uint32_t e = a[j];
          if (h->aVisited[e] == epoch) continue;
          h->aVisited[e] = epoch;
          float d = hnswi_dist_to(h, m, q, e);
          if (d < dBest) {
            dBest = d;
            next = e;
          } else if (d > dBest) {
            nOther++;
          } else if (T->n < TIE_REACH * nTieMax) {
            rc = ties_room(h);
            if (rc != HNSW_OK) return rc;
            T->a[T->n++].node = e;
          }
        }
      }
    }
    if (next == ep) break;
    ep = next;
  }
  *pEp = ep;
  return HNSW_OK;
}

/* Ask for every cache line of a node's vector. */
static inline void prefetch_vector(const Hnsw *h, uint32_t i) {
  const char *p = (const char *)hnswi_vector_words(h, i);
  size_t nByte = sizeof(uint32_t) * (h->nodeWords - h->vecWord);
  for (size_t o = 0; o < nByte; o += 64) __builtin_prefetch(p + o);
}

/* Algorithm 2 of the paper at level l, from the entry points aEp: leaves the
** ef nearest accepted nodes in h->result (a max-heap).  Nodes that fail
** accept are walked through but never kept.  exclude is never visited.
**
** Ties: a node exactly as far from q as the node whose link reached it is
** almost surely a copy of that node's vector.  Copies of one vector could
** fill the list, and a full list stops the search among them, short of
** what lies beyond them; yet copies have few links elsewhere (a list needs
** one copy of a vector, not many).  So such nodes are set aside in
** h->ties, to join the list at the end, and walked through: the first
** nTieMax of them, and up to TIE_REACH times as many (h->reach) while they
** are the nearest found (unless nothing can be nearer: dFloor is q's
** distance to itself) and fewer than TIE_EXITS other nodes have turned up. */
int hnswi_search_layer(Hnsw *h, vg_metric m, const void *q, const uint32_t *aEp, int nEp, int ef,
                       int l, HnswAccept accept, void *pCtx, uint32_t exclude, int nTieMax,
                       float dFloor) {
  HnswHeap *C = &h->cand, *W = &h->result, *T = &h->ties, *R = &h->reach;
  uint32_t epoch = hnswi_visit_begin(h);
  int rc = HNSW_OK, nExit = 0; /* nodes found besides ties */
  float dBest = INFINITY, dTieMax = -INFINITY; /* the nearest kept, the farthest tie */
  C->n = W->n = T->n = R->n = 0;
  if (exclude != HNSW_NONE) h->aVisited[exclude] = epoch;
  for (int i = 0; i < nEp && rc == HNSW_OK; i++) {
    uint32_t e = aEp[i];
    if (h->aVisited[e] == epoch) continue;
    h->aVisited[e] = epoch;
    float d = hnswi_dist_to(h, m, q, e);
    if (d < dBest) dBest = d;
    rc = heap_push(C, d, e, 0);
    if (rc == HNSW_OK && (accept == 0 || accept(pCtx, e))) rc = heap_push(W, d, e, 1);
  }
  while (rc == HNSW_OK) {
    /* The nearest waiting: a candidate, or a tie past the first nTieMax,
    ** walked through only while it is the nearest found and few links
    ** elsewhere have turned up. */
    int bReach = R->n > 0 && (C->n == 0 || R->a[0].d <= C->a[0].d);
    if (bReach && !(R->a[0].d <= dBest && R->a[0].d > dFloor && nExit < TIE_EXITS(h))) {
      R->n = 0;
      bReach = 0;
    }
    if (!bReach && C->n == 0) break;
    HnswCand c = heap_pop(bReach ? R : C, 0);
    if (W->n >= ef && c.d > W->a[0].d) break;
    int n, nNew = 0;
    const uint32_t *a = hnsw_links(h, c.node, l, &n);
    uint32_t aNew[2 * HNSW_MAX_M];
    /* Unvisited neighbours first, their vectors requested from memory all
    ** at once: the distances below then wait for one miss, not n. */
    for (int j = 0; j < n; j++) {
      uint32_t e = a[j];
      if (h->aVisited[e] == epoch) continue;
      h->aVisited[e] = epoch;
      aNew[nNew++] = e;
      prefetch_vector(h, e);
    }
    for (int j = 0; j < nNew; j++) {
      uint32_t e = aNew[j];
      float d = hnswi_dist_to(h, m, q, e);
      if (d == c.d && T->n < TIE_REACH * nTieMax) {
        rc = ties_room(h);
        if (rc == HNSW_OK) {
          T->a[T->n++] = (HnswCand){d, e};
          if (d > dTieMax) dTieMax = d;
          rc = heap_push(T->n <= nTieMax ? C : R, d, e, 0);
        }
        if (rc != HNSW_OK) break;
      } else if ((d != c.d || d < dTieMax) && (W->n < ef || d < W->a[0].d)) {
        /* Ties past the reach are not walked through, and kept only if
        ** nearer than some set aside (at least ef of them). */
        if (d != c.d) {
          if (d < dBest) dBest = d;
          nExit++;
          rc = heap_push(C, d, e, 0);
        }
        if (rc == HNSW_OK && (accept == 0 || accept(pCtx, e))) {
          rc = heap_push(W, d, e, 1);
          if (W->n > ef) heap_pop(W, 1);
        }
        if (rc != HNSW_OK) break;
      }
    }
  }
  for (int i = 0; i < T->n && rc == HNSW_OK; i++) {
    HnswCand t = T->a[i];
    if ((W->n < ef || t.d < W->a[0].d) && (accept == 0 || accept(pCtx, t.node))) {
      rc = heap_push(W, t.d, t.node, 1);
      if (W->n > ef) heap_pop(W, 1);
    }
  }
  assert(rc != HNSW_OK || W->n <= ef); /* what callers make room for */
  return rc;
}

/* Move h->result into a[] sorted nearest first; returns the count. */
int hnswi_take_results(Hnsw *h, HnswCand *a) {
  int n = h->result.n;
  h->result.n = 0;
  if (n == 0) return 0; /* the heap may never have been allocated */
  memcpy(a, h->result.a, sizeof(HnswCand) * (size_t)n);
  qsort(a, (size_t)n, sizeof(HnswCand), hnswi_cand_cmp);
  return n;
}

/* Descend from the entry point to level lTarget+1 greedily (see
** greedy_closest). */
static int descend(Hnsw *h, vg_metric m, const void *q, int lTarget, int nTieMax,
                   float dFloor, uint32_t *pEp) {
  uint32_t ep = h->entry;
  int rc = HNSW_OK;
  for (int l = h->maxLevel; l > lTarget && rc == HNSW_OK; l--) {
    rc = greedy_closest(h, m, q, ep, l, nTieMax, dFloor, &ep);
  }
  *pEp = ep;
  return rc;
}

static int rowid_cmp_cands(const Hnsw *h, const HnswCand *x, const HnswCand *y) {
  if (x->d != y->d) return x->d < y->d ? -1 : 1;
  int64_t a = h->aRowid[x->node], b = h->aRowid[y->node];
  return a < b ? -1 : a > b;
}

int hnsw_search(Hnsw *h, const void *q, int ef, HnswAccept accept, void *pCtx,
                HnswCand *aOut, int *pnOut) {
  *pnOut = 0;
  if (h->entry == HNSW_NONE || ef < 1) return HNSW_OK;
  uint32_t ep;
  float dFloor = hnswi_dist_vec(h, h->metric, q, q);
  int rc = descend(h, h->metric, q, 0, ef, dFloor, &ep);
  if (rc == HNSW_OK) {
    rc = hnswi_search_layer(h, h->metric, q, &ep, 1, ef, 0, accept, pCtx, HNSW_NONE, ef, dFloor);
  }
  if (rc != HNSW_OK) return rc;
  int n = hnswi_take_results(h, aOut);
  /* Equal distances in rowid order, for deterministic results. */
  for (int i = 1; i < n; i++) {
    HnswCand t = aOut[i];
    int j = i;
    while (j > 0 && rowid_cmp_cands(h, &t, &aOut[j - 1]) < 0) {
      aOut[j] = aOut[j - 1];
      j--;
    }
    aOut[j] = t;
  }
  *pnOut = n;
  return HNSW_OK;
}

/* ---- insertion --------------------------------------------------------- */

/* Link node x, whose vector is q, at levels min(top, maxLevel)..0. */
static int link_levels(Hnsw *h, uint32_t x, const void *q, int top) {
  if (h->entry == HNSW_NONE || h->entry == x) return HNSW_OK;
  int lStart = top < h->maxLevel ? top : h->maxLevel;
  uint32_t ep, *aEp = &ep;
  float dFloor = hnswi_dist_vec(h, h->linkMetric, q, q);
  int nEp = 1, rc = descend(h, h->linkMetric, q, lStart, h->efConstruction, dFloor, &ep);
  HnswCand *aW = hnsw_malloc(sizeof(HnswCand) * (size_t)(h->efConstruction + 1));
  uint32_t *aNext = hnsw_malloc(sizeof(uint32_t) * (size_t)(h->efConstruction + 1));
  if (rc == HNSW_OK && (aW == 0 || aNext == 0)) rc = HNSW_NOMEM;
  /* Copies of x are as far from q as x itself (exactly, as the same floats). */
  float dSelf = hnswi_dist_to(h, h->linkMetric, q, x);
  for (int l = lStart; l >= 0 && rc == HNSW_OK; l--) {
    rc = hnswi_search_layer(h, h->linkMetric, q, aEp, nEp, h->efConstruction, l, 0, 0, x,
                            h->efConstruction, dFloor);
    if (rc != HNSW_OK) break;
    int nW = hnswi_take_results(h, aW);
    for (int j = 0; j < nW; j++) aNext[j] = aW[j].node;
    int nKeep = select_diverse(h, aW, nW, h->M, dSelf, x);
    /* The first hnswi_link_pair always links x (make_room never refuses a
    ** node without links), so x joins the level's graph. */
    for (int j = 0; j < nKeep && rc == HNSW_OK; j++) {
      rc = hnswi_link_pair(h, x, aW[j].node, l);
    }
    assert(rc != HNSW_OK || h->bLoaded || hnswi_degree(h, x, l) > 0);
    if (nW > 0) {
      aEp = aNext;
      nEp = nW;
    }
  }
  hnsw_mem_free(aW);
  hnsw_mem_free(aNext);
  return rc;
}

int hnsw_insert(Hnsw *h, int64_t rowid, int64_t tag, const void *v,
                int level) {
  uint32_t x;
  int rc = node_new(h, rowid, tag, v, level, &x);
  if (rc != HNSW_OK) return rc;
  rc = mark_dirty(h, x);
  if (rc != HNSW_OK) return rc;
  if (h->entry == HNSW_NONE) {
    h->entry = x;
    h->maxLevel = level;
    return HNSW_OK;
  }
  /* An int8 graph links by the exact vector while it has it. */
  rc = link_levels(h, x, v, level);
  if (rc == HNSW_OK && level > h->maxLevel) {
    h->entry = x;
    h->maxLevel = level;
  }
  return rc;
}

/* ---- loading ----------------------------------------------------------- */

int hnsw_load_node(Hnsw *h, int64_t rowid, int64_t tag, const void *v,
                   int level, uint32_t *pNode) {
  return node_new(h, rowid, tag, v, level, pNode);
}

void hnsw_load_links(Hnsw *h, uint32_t i, int l, const uint32_t *a, int n) {
  uint32_t *li = hnswi_link_list(h, i, l);
  assert(n >= 0 && n <= hnsw_capacity(h, l));
  h->bLoaded = 1;
  li[0] = (uint32_t)n;
  memcpy(li + 1, a, sizeof(uint32_t) * (size_t)n);
}

void hnsw_set_entry(Hnsw *h, uint32_t i) {
  assert(i == HNSW_NONE || (i < h->nNode && hnsw_is_live(h, i)));
  h->entry = i;
  h->maxLevel = i == HNSW_NONE ? -1 : h->aLevel[i];
}
