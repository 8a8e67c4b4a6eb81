/*
** i64map.c — hash map from int64 to non-negative int64 (see hnsw.h, i64map section).
**
** Removal shifts later entries of the probe run back instead of leaving
** tombstones, so lookups never slow down under insert/delete churn.
*/
#include "hnsw/hnsw.h"

#include <assert.h>
#include <string.h>

static size_t hash_key(int64_t key) {
  uint64_t x = (uint64_t)key;
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return (size_t)x;
}

void i64map_init(I64Map *p) { memset(p, 0, sizeof(*p)); }

void i64map_free(I64Map *p) {
  hnsw_mem_free(p->a);
  memset(p, 0, sizeof(*p));
}

static int rehash(I64Map *p, size_t nBucket) {
  I64MapEntry *aNew = hnsw_malloc(sizeof(I64MapEntry) * (uint64_t)nBucket);
  if (aNew == 0) return HNSW_NOMEM;
  for (size_t i = 0; i < nBucket; i++) aNew[i].val = -1;
  for (size_t i = 0; i < p->nBucket; i++) {
    if (p->a[i].val < 0) continue;
    size_t j = hash_key(p->a[i].key) & (nBucket - 1);
    while (aNew[j].val >= 0) j = (j + 1) & (nBucket - 1);
    aNew[j] = p->a[i];
  }
  hnsw_mem_free(p->a);
  p->a = aNew;
  p->nBucket = nBucket;
  return HNSW_OK;
}

int i64map_reserve(I64Map *p, size_t n) {
  size_t nBucket = p->nBucket ? p->nBucket : 16;
  while (n * 4 >= nBucket * 3) nBucket *= 2; /* keep the load below 3/4 */
  if (nBucket == p->nBucket) return HNSW_OK;
  return rehash(p, nBucket);
}

int i64map_put(I64Map *p, int64_t key, int64_t val) {
  assert(val >= 0); /* a negative value marks an empty bucket */
  int rc = i64map_reserve(p, p->nUsed + 1);
  if (rc != HNSW_OK) return rc;
  size_t mask = p->nBucket - 1;
  size_t j = hash_key(key) & mask;
  while (p->a[j].val >= 0) {
    if (p->a[j].key == key) {
      p->a[j].val = val;
      return HNSW_OK;
    }
    j = (j + 1) & mask;
  }
  p->a[j].key = key;
  p->a[j].val = val;
  p->nUsed++;
  return HNSW_OK;
}

int64_t i64map_get(const I64Map *p, int64_t key) {
  if (p->nBucket == 0) return -1;
  size_t mask = p->nBucket - 1;
  size_t j = hash_key(key) & mask;
  while (p->a[j].val >= 0) {
    if (p->a[j].key == key) return p->a[j].val;
    j = (j + 1) & mask;
  }
  return -1;
}

void i64map_remove(I64Map *p, int64_t key) {
  if (p->nBucket == 0) return;
  size_t mask = p->nBucket - 1;
  size_t j = hash_key(key) & mask;
  while (p->a[j].val >= 0 && p->a[j].key != key) j = (j + 1) & mask;
  if (p->a[j].val < 0) return;
  /* Backward-shift: move each later entry of the run into the hole if the
  ** hole lies between its home bucket and its current bucket. */
  size_t hole = j;
  for (size_t k = (j + 1) & mask; p->a[k].val >= 0; k = (k + 1) & mask) {
    size_t home = hash_key(p->a[k].key) & mask;
    int movable = (hole <= k) ? (home <= hole || home > k) : (home <= hole && home > k);
    if (movable) {
      p->a[hole] = p->a[k];
      hole = k;
    }
  }
  p->a[hole].val = -1;
  p->nUsed--;
}
