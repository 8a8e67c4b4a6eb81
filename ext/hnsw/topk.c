/*
** topk.c — bounded max-heap of the k nearest pairs (see hnsw.h, topk section).
*/
#include "hnsw/hnsw.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

void topk_init(TopK *p, int k) {
  memset(p, 0, sizeof(*p));
  p->k = k;
}

void topk_free(TopK *p) {
  hnsw_mem_free(p->a);
  memset(p, 0, sizeof(*p));
}

/* a is worse (farther) than b */
static int worse(const VgHit *a, const VgHit *b) {
  return a->distance > b->distance ||
         (a->distance == b->distance && a->rowid > b->rowid);
}

static void sift_up(VgHit *a, int i) {
  while (i > 0) {
    int parent = (i - 1) / 2;
    if (!worse(&a[i], &a[parent])) break;
    VgHit t = a[i];
    a[i] = a[parent];
    a[parent] = t;
    i = parent;
  }
}

static void sift_down(VgHit *a, int n, int i) {
  for (;;) {
    int l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && worse(&a[l], &a[m])) m = l;
    if (r < n && worse(&a[r], &a[m])) m = r;
    if (m == i) break;
    VgHit t = a[i];
    a[i] = a[m];
    a[m] = t;
    i = m;
  }
}

int topk_push(TopK *p, double d, int64_t id) {
  if (!topk_accepts(p, d, id)) return HNSW_OK;
  if (p->n < p->k) {
    if (p->n == p->nAlloc) {
      int nNew = p->nAlloc ? p->nAlloc * 2 : 16;
      if (nNew > p->k) nNew = p->k;
      VgHit *aNew = hnsw_realloc(p->a, sizeof(VgHit) * (uint64_t)nNew);
      if (aNew == 0) return HNSW_NOMEM;
      p->a = aNew;
      p->nAlloc = nNew;
    }
    assert(p->n < p->nAlloc && p->nAlloc <= p->k);
    p->a[p->n].distance = d;
    p->a[p->n].rowid = id;
    sift_up(p->a, p->n++);
    return HNSW_OK;
  }
  p->a[0].distance = d;
  p->a[0].rowid = id;
  sift_down(p->a, p->n, 0);
  return HNSW_OK;
}

static int hit_cmp(const void *x, const void *y) {
  const VgHit *a = x, *b = y;
  if (worse(a, b)) return 1;
  if (worse(b, a)) return -1;
  return 0;
}

void topk_sort(TopK *p) {
  if (p->n > 1) qsort(p->a, (size_t)p->n, sizeof(VgHit), hit_cmp);
}
