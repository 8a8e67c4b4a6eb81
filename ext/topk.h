/*
** topk.h — keeps the k nearest (distance, rowid) pairs seen so far.
**
** A max-heap on (distance, rowid): the root is the worst pair kept, so a
** candidate is rejected with one comparison in the common case.  Ties in
** distance go to the smaller rowid, which makes results deterministic.
*/
#ifndef VG_TOPK_H
#define VG_TOPK_H

#include "vecguard.h"

typedef struct VgHit {
  double distance;
  sqlite3_int64 rowid;
} VgHit;

typedef struct TopK {
  int k;       /* pairs to keep */
  int n;       /* pairs kept */
  int nAlloc;  /* allocated, grows up to k */
  VgHit *a;
} TopK;

void topk_init(TopK *p, int k);
void topk_free(TopK *p);

/* Would (d, id) be kept?  Cheap test before computing anything else. */
static inline int topk_accepts(const TopK *p, double d, sqlite3_int64 id) {
  if (p->n < p->k) return 1;
  const VgHit *w = &p->a[0];
  return d < w->distance || (d == w->distance && id < w->rowid);
}

/* Offer a pair.  SQLITE_OK or SQLITE_NOMEM. */
int topk_push(TopK *p, double d, sqlite3_int64 id);

/* Sort the kept pairs nearest first; the heap is unusable afterwards
** except through p->a[0..n-1]. */
void topk_sort(TopK *p);

#endif
