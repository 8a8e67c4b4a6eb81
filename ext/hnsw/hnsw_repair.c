/*
** hnsw_repair.c — keeping the HNSW graph whole: deletion with repair (each
** former neighbour relinked, the level kept connected), reconnecting the
** parts of a level (hnsw_connect), and checking the invariants
** (hnsw_check).  See hnsw.h for the invariants, hnsw.c for the primitives.
*/
#include "hnsw/hnsw.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* ---- deletion ---------------------------------------------------------- */

/* A new entry point other than d: a node of the highest level. */
static void choose_entry_without(Hnsw *h, uint32_t d) {
  uint32_t best = HNSW_NONE;
  int bestLevel = -1;
  /* A neighbour at d's top level is the natural heir; otherwise scan. */
  int n;
  const uint32_t *a = hnsw_links(h, d, h->aLevel[d], &n);
  if (n > 0) {
    h->entry = a[0];
    h->maxLevel = h->aLevel[a[0]];
    return;
  }
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (i != d && h->aLevel[i] > bestLevel) {
      best = i;
      bestLevel = h->aLevel[i];
    }
  }
  h->entry = best;
  h->maxLevel = bestLevel;
}

/* Node n lost its link to a deleted node at level l; give it a link to the
** nearest of the deleted node's other neighbours (aNbr) it is not linked
** to, preferring one the heuristic would keep.  For recall: connectivity
** is rejoin's business. */
static int repair(Hnsw *h, uint32_t n, int l, const uint32_t *aNbr, int nNbr) {
  HnswCand a[2 * HNSW_MAX_M];
  assert(h->bLoaded || nNbr <= hnsw_capacity(h, l)); /* a deleted node's list: a[] holds it */
  const uint32_t *ln = hnswi_link_list(h, n, l);
  int nCand = 0;
  const void *qn = hnswi_node_as_query(h, n);
  for (int j = 0; j < nNbr; j++) {
    uint32_t c = aNbr[j];
    if (c == n || hnswi_list_has(ln, c)) continue;
    a[nCand].node = c;
    a[nCand].d = hnswi_dist_link(h, qn, c);
    nCand++;
  }
  if (nCand == 0) return HNSW_OK;
  qsort(a, (size_t)nCand, sizeof(HnswCand), hnswi_cand_cmp);
  hnswi_order_ties(a, nCand, n);
  /* The first candidate nearer to n than to any of n's links. */
  int iPick = 0;
  for (int j = 0; j < nCand && j < 4; j++) {
    int bGood = 1;
    const void *qj = hnswi_node_as_query(h, a[j].node);
    for (uint32_t t = 1; t <= ln[0] && bGood; t++) {
      if (hnswi_dist_link(h, qj, ln[t]) < a[j].d) bGood = 0;
    }
    if (bGood) {
      iPick = j;
      break;
    }
  }
  return hnswi_link_pair(h, n, a[iPick].node, l);
}

static int uf_find(int *aUp, int i) {
  while (aUp[i] != i) {
    aUp[i] = aUp[aUp[i]];
    i = aUp[i];
  }
  return i;
}

/* Merge the sets of i and j; 1 if they were apart. */
static int uf_union(int *aUp, int i, int j) {
  i = uf_find(aUp, i);
  j = uf_find(aUp, j);
  if (i == j) return 0;
  aUp[j] = i;
  return 1;
}

typedef struct NbrPair {
  float d;
  int i, j;
} NbrPair;

static int pair_cmp(const void *x, const void *y) {
  const NbrPair *a = x, *b = y;
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  if (a->i != b->i) return a->i - b->i;
  return a->j - b->j;
}

static int join_components(Hnsw *h, int l, uint32_t exclude, int *pnJoined);

/* Group aNbr[0..k-1] (in aUp) by what links at level l show to be
** connected: linked to each other or to a common node.  Returns the number
** of groups.  Marks each node with the first neighbour that reached it. */
static int group_by_links(Hnsw *h, int l, const uint32_t *aNbr, int k, int *aUp) {
  uint32_t e = hnswi_visit_begin_range(h, (uint32_t)k), nGroup = (uint32_t)k;
  for (int i = 0; i < k; i++) {
    const uint32_t *li = hnswi_link_list(h, aNbr[i], l);
    for (uint32_t t = 0; t <= li[0]; t++) {
      uint32_t x = t == 0 ? aNbr[i] : li[t];
      uint32_t m = h->aVisited[x] - e;
      if (m < (uint32_t)k) {
        nGroup -= (uint32_t)uf_union(aUp, (int)m, i);
      } else {
        h->aVisited[x] = e + (uint32_t)i;
      }
    }
  }
  return (int)nGroup;
}

/* A deletion at level l cut the links of its former neighbours aNbr; every
** part of the level the cut could separate holds one of them, so the level
** stays connected if they stay connected to one another.  Cheap proof
** first (links and common neighbours); groups it cannot join are linked by
** their nearest pairs; what hnswi_link_pair refuses, join_components
** settles with a walk of the whole level. */
static int rejoin(Hnsw *h, int l, const uint32_t *aNbr, int k, uint32_t dead) {
  if (k < 2) return HNSW_OK;
  int aUp[2 * HNSW_MAX_M], rc = HNSW_OK;
  assert(h->bLoaded || k <= hnsw_capacity(h, l)); /* a deleted node's list: aUp[] holds it */
  for (int i = 0; i < k; i++) aUp[i] = i;
  int nGroup = group_by_links(h, l, aNbr, k, aUp);
  if (nGroup == 1) return HNSW_OK;
  NbrPair *aPair = hnsw_malloc(sizeof(NbrPair) * (size_t)k * (size_t)k / 2);
  if (aPair == 0) return HNSW_NOMEM;
  int nPair = 0;
  for (int i = 0; i < k; i++) {
    const void *qi = hnswi_node_as_query(h, aNbr[i]);
    for (int j = i + 1; j < k; j++) {
      if (uf_find(aUp, i) == uf_find(aUp, j)) continue;
      aPair[nPair++] = (NbrPair){hnswi_dist_link(h, qi, aNbr[j]), i, j};
    }
  }
  qsort(aPair, (size_t)nPair, sizeof(NbrPair), pair_cmp);
  /* A link made joins two groups for good: later drops keep connectivity. */
  for (int t = 0; t < nPair && nGroup > 1 && rc == HNSW_OK; t++) {
    int i = aPair[t].i, j = aPair[t].j;
    if (uf_find(aUp, i) == uf_find(aUp, j)) continue;
    rc = hnswi_link_pair(h, aNbr[i], aNbr[j], l);
    if (rc == HNSW_OK && hnswi_list_has(hnswi_link_list(h, aNbr[i], l), aNbr[j])) {
      nGroup -= uf_union(aUp, i, j);
    }
  }
  hnsw_mem_free(aPair);
  if (rc == HNSW_OK && nGroup > 1) rc = join_components(h, l, dead, 0);
  return rc;
}

int hnsw_delete(Hnsw *h, int64_t rowid) {
  uint32_t d = hnsw_find(h, rowid);
  if (d == HNSW_NONE) return HNSW_OK;
  int level = h->aLevel[d], rc = HNSW_OK;
  if (h->entry == d) choose_entry_without(h, d);
  /* d is cut off at every level before any repair: a repair may search the
  ** graph, and a search that could still reach d would link to it again,
  ** leaving a link to a deleted row behind. */
  size_t nStride = 1 + (size_t)h->M0; /* count, then the neighbours */
  uint32_t aStack[3 * (1 + 2 * HNSW_MAX_M)];
  uint32_t *aNbr = (size_t)(level + 1) * nStride <= sizeof(aStack) / sizeof(aStack[0])
                       ? aStack
                       : hnsw_malloc(sizeof(uint32_t) * (size_t)(level + 1) * nStride);
  if (aNbr == 0) return HNSW_NOMEM;
  for (int l = 0; l <= level && rc == HNSW_OK; l++) {
    uint32_t *a = aNbr + (size_t)l * nStride, *ld = hnswi_link_list(h, d, l);
    memcpy(a, ld, sizeof(uint32_t) * (1 + (size_t)ld[0]));
    for (uint32_t j = 1; j <= a[0] && rc == HNSW_OK; j++) rc = hnswi_unlink_pair(h, d, a[j], l);
  }
  for (int l = 0; l <= level && rc == HNSW_OK; l++) {
    const uint32_t *a = aNbr + (size_t)l * nStride;
    for (uint32_t j = 1; j <= a[0] && rc == HNSW_OK; j++) {
      rc = repair(h, a[j], l, a + 1, (int)a[0]);
    }
    if (rc == HNSW_OK) rc = rejoin(h, l, a + 1, (int)a[0], d);
  }
  if (aNbr != aStack) hnsw_mem_free(aNbr);
  if (rc == HNSW_OK) rc = hnswi_node_release(h, d);
  return rc;
}

/* ---- reconnecting ------------------------------------------------------ */

#define PARENT_NONE UINT32_MAX       /* not reached */
#define PARENT_ROOT (UINT32_MAX - 1) /* the root of a walk */

/* Breadth-first at level l from the queued nodes aQueue[nHead..*pnTail-1],
** queueing every node reached for the first time with its parent in aPar.
** Links to nodes that cannot hold them (a damaged graph) are not followed. */
static void walk(const Hnsw *h, int l, uint32_t *aPar, uint32_t *aQueue, uint32_t nHead,
                 uint32_t *pnTail) {
  while (nHead < *pnTail) {
    uint32_t i = aQueue[nHead++];
    const uint32_t *li = hnswi_link_list(h, i, l);
    for (uint32_t t = 1; t <= li[0] && (int)li[0] <= hnsw_capacity(h, l); t++) {
      uint32_t e = li[t];
      if (e >= h->nNode || h->aLevel[e] < l || aPar[e] != PARENT_NONE) continue;
      assert(*pnTail < h->nNode); /* each node is queued once */
      aPar[e] = i;
      aQueue[(*pnTail)++] = e;
    }
  }
}

/* A link of i at level l that is not an edge of the walk's tree aPar, so
** that dropping it disconnects nothing; HNSW_NONE if every link is one. */
static uint32_t spare_link(const Hnsw *h, uint32_t i, int l, const uint32_t *aPar) {
  const uint32_t *li = hnswi_link_list(h, i, l);
  for (uint32_t t = 1; t <= li[0]; t++) {
    uint32_t e = li[t];
    if (e < h->nNode && h->aLevel[e] >= l && aPar[i] != e && aPar[e] != i) return e;
  }
  return HNSW_NONE;
}

/* The first of aNode[0..n-1] with room at level l, or else the first with a
** spare link, which is dropped; HNSW_NONE if none. */
static int free_one(Hnsw *h, int l, const uint32_t *aNode, uint32_t n, const uint32_t *aPar,
                    uint32_t *pFound) {
  *pFound = HNSW_NONE;
  for (uint32_t k = 0; k < n; k++) {
    if (hnswi_has_room(h, aNode[k], l)) {
      *pFound = aNode[k];
      return HNSW_OK;
    }
  }
  for (uint32_t k = 0; k < n; k++) {
    uint32_t y = spare_link(h, aNode[k], l, aPar);
    if (y != HNSW_NONE) {
      *pFound = aNode[k];
      return hnswi_unlink_pair(h, aNode[k], y, l);
    }
  }
  return HNSW_OK;
}

/* Make level l connected: walk it from the entry point, and link each part
** the walk does not reach (nodes other than exclude) to a reached node near
** it.  Each end of the new link is a node with room or one that gives up a
** link outside the walk's tree; one of either always exists, since a part
** whose nodes are all full (at least two links each) has a cycle.  Costs a
** pass over the level: only for what cheaper proofs cannot settle, and for
** graphs stored before links were kept connected. */
static int join_components(Hnsw *h, int l, uint32_t exclude, int *pnJoined) {
  if (h->entry == HNSW_NONE || l > h->maxLevel) return HNSW_OK;
  uint32_t *aPar = hnsw_malloc(sizeof(uint32_t) * (size_t)h->nNode);
  uint32_t *aQueue = hnsw_malloc(sizeof(uint32_t) * (size_t)h->nNode);
  uint32_t *aNear = hnsw_malloc(sizeof(uint32_t) * (size_t)h->efConstruction);
  HnswCand *aW = hnsw_malloc(sizeof(HnswCand) * (size_t)h->efConstruction);
  float *q = hnsw_malloc(sizeof(float) * (size_t)h->nDims);
  int rc = aPar && aQueue && aNear && aW && q ? HNSW_OK : HNSW_NOMEM;
  if (rc == HNSW_OK) {
    memset(aPar, 0xff, sizeof(uint32_t) * (size_t)h->nNode); /* PARENT_NONE */
    uint32_t nTail = 0;
    aPar[h->entry] = PARENT_ROOT;
    aQueue[nTail++] = h->entry;
    walk(h, l, aPar, aQueue, 0, &nTail);
    for (uint32_t i = 0; i < h->nNode && rc == HNSW_OK; i++) {
      if (h->aLevel[i] < l || i == exclude || aPar[i] != PARENT_NONE) continue;
      /* The part of i, queued after the reached nodes. */
      uint32_t nMain = nTail, p, z;
      aPar[i] = PARENT_ROOT;
      aQueue[nTail++] = i;
      walk(h, l, aPar, aQueue, nMain, &nTail);
      rc = free_one(h, l, aQueue + nMain, nTail - nMain, aPar, &p);
      z = HNSW_NONE;
      if (rc == HNSW_OK && p != HNSW_NONE) {
        /* The reached nodes nearest to p first: a search cannot leave them. */
        hnsw_decode(h, p, q);
        rc = hnswi_search_layer(h, h->linkMetric, q, &h->entry, 1, h->efConstruction, l, 0,
                                0, HNSW_NONE, h->efConstruction,
                                hnswi_dist_vec(h, h->linkMetric, q, q));
        int nW = rc == HNSW_OK ? hnswi_take_results(h, aW) : 0;
        for (int j = 0; j < nW; j++) aNear[j] = aW[j].node;
        if (rc == HNSW_OK) rc = free_one(h, l, aNear, (uint32_t)nW, aPar, &z);
        if (rc == HNSW_OK && z == HNSW_NONE) rc = free_one(h, l, aQueue, nMain, aPar, &z);
      }
      if (rc != HNSW_OK) break;
      if (z == HNSW_NONE) {
        /* Only a damaged graph (one-way links) gets here: the part stays
        ** apart, out of the queue of reached nodes. */
        nTail = nMain;
        continue;
      }
      rc = hnswi_join(h, p, z, l);
      /* Walk the part again from p, so that its tree hangs from z. */
      for (uint32_t k = nMain; k < nTail; k++) aPar[aQueue[k]] = PARENT_NONE;
      nTail = nMain;
      aPar[p] = z;
      aQueue[nTail++] = p;
      walk(h, l, aPar, aQueue, nMain, &nTail);
      if (pnJoined) (*pnJoined)++;
    }
  }
  hnsw_mem_free(aPar);
  hnsw_mem_free(aQueue);
  hnsw_mem_free(aNear);
  hnsw_mem_free(aW);
  if (q) memset(q, 0, sizeof(float) * (size_t)h->nDims);
  hnsw_mem_free(q);
  return rc;
}

int hnsw_connect(Hnsw *h, int *pnJoined) {
  int rc = HNSW_OK;
  if (pnJoined) *pnJoined = 0;
  for (int l = 0; l <= h->maxLevel && rc == HNSW_OK; l++) {
    rc = join_components(h, l, HNSW_NONE, pnJoined);
  }
  return rc;
}

/* ---- checking ---------------------------------------------------------- */

static void check_lists(Hnsw *h, HnswReport *r) {
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    r->nodes++;
    int bLinked = 0;
    for (int l = 0; l <= h->aLevel[i]; l++) {
      uint32_t *li = hnswi_link_list(h, i, l);
      if ((int)li[0] > hnsw_capacity(h, l)) {
        r->degreeViolations++;
        continue;
      }
      uint32_t epoch = hnswi_visit_begin(h); /* finds duplicates within the list */
      for (uint32_t j = 1; j <= li[0]; j++) {
        uint32_t e = li[j];
        r->links++;
        if (e >= h->nNode || e == i || !hnsw_is_live(h, e) || h->aLevel[e] < l ||
            h->aVisited[e] == epoch) {
          r->badLinks++;
          continue;
        }
        h->aVisited[e] = epoch;
        bLinked = 1;
        uint32_t *le = hnswi_link_list(h, e, l);
        if ((int)le[0] > hnsw_capacity(h, l) || !hnswi_list_has(le, i)) r->oneWay++;
      }
    }
    if (!bLinked && h->nLive > 1) r->isolated++;
  }
}

static int check_reach(Hnsw *h, HnswReport *r) {
  if (h->entry == HNSW_NONE) return HNSW_OK;
  uint32_t *aQueue = hnsw_malloc(sizeof(uint32_t) * (size_t)(h->nNode + 1));
  if (aQueue == 0) return HNSW_NOMEM;
  uint32_t epoch = hnswi_visit_begin(h), nHead = 0, nTail = 0;
  aQueue[nTail++] = h->entry;
  h->aVisited[h->entry] = epoch;
  while (nHead < nTail) {
    uint32_t i = aQueue[nHead++];
    const uint32_t *li = hnswi_link_list(h, i, 0);
    for (uint32_t j = 1; j <= li[0] && (int)li[0] <= h->M0; j++) {
      uint32_t e = li[j];
      if (e >= h->nNode || !hnsw_is_live(h, e) || h->aVisited[e] == epoch) continue;
      h->aVisited[e] = epoch;
      aQueue[nTail++] = e;
    }
  }
  r->unreachable = (int64_t)h->nLive - nTail;
  hnsw_mem_free(aQueue);
  return HNSW_OK;
}

int hnsw_check(Hnsw *h, HnswReport *r) {
  memset(r, 0, sizeof(*r));
  check_lists(h, r);
  if (h->entry == HNSW_NONE) {
    r->entryOk = h->nLive == 0;
    r->unreachable = h->nLive;
    return HNSW_OK;
  }
  int topLevel = -1;
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (h->aLevel[i] > topLevel) topLevel = h->aLevel[i];
  }
  r->entryOk = h->entry < h->nNode && hnsw_is_live(h, h->entry) &&
               h->aLevel[h->entry] == topLevel && h->maxLevel == topLevel;
  if (!r->entryOk) {
    r->unreachable = h->nLive;
    return HNSW_OK;
  }
  return check_reach(h, r);
}
