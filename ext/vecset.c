/*
** vecset.c — in-memory vectors keyed by rowid (see vecset.h).
*/
#include "vecset.h"

#include <string.h>

void vecset_init(VecSet *p, int nDims) {
  memset(p, 0, sizeof(*p));
  p->nDims = nDims;
  i64map_init(&p->index);
}

void vecset_free(VecSet *p) {
  if (p->aVec) memset(p->aVec, 0, (size_t)p->n * (size_t)p->nDims * sizeof(float));
  sqlite3_free(p->aId);
  sqlite3_free(p->aVec);
  i64map_free(&p->index);
  memset(p, 0, sizeof(*p));
}

static int grow(VecSet *p) {
  int nNew = p->nAlloc ? p->nAlloc * 2 : 64;
  sqlite3_int64 *aId = sqlite3_realloc64(p->aId, sizeof(sqlite3_int64) * (sqlite3_uint64)nNew);
  if (aId == 0) return SQLITE_NOMEM;
  p->aId = aId;
  float *aVec = sqlite3_realloc64(p->aVec, sizeof(float) * (sqlite3_uint64)nNew * p->nDims);
  if (aVec == 0) return SQLITE_NOMEM;
  p->aVec = aVec;
  p->nAlloc = nNew;
  return SQLITE_OK;
}

int vecset_put(VecSet *p, sqlite3_int64 id, const float *v) {
  size_t nByte = sizeof(float) * (size_t)p->nDims;
  int i = vecset_find(p, id);
  if (i >= 0) {
    memcpy(p->aVec + (size_t)i * p->nDims, v, nByte);
    return SQLITE_OK;
  }
  if (p->n == p->nAlloc && grow(p) != SQLITE_OK) return SQLITE_NOMEM;
  if (i64map_put(&p->index, id, p->n) != SQLITE_OK) return SQLITE_NOMEM;
  p->aId[p->n] = id;
  memcpy(p->aVec + (size_t)p->n * p->nDims, v, nByte);
  p->n++;
  return SQLITE_OK;
}

void vecset_remove(VecSet *p, sqlite3_int64 id) {
  int i = vecset_find(p, id);
  if (i < 0) return;
  size_t nByte = sizeof(float) * (size_t)p->nDims;
  int last = p->n - 1;
  i64map_remove(&p->index, id);
  if (i != last) {
    p->aId[i] = p->aId[last];
    memcpy(p->aVec + (size_t)i * p->nDims, p->aVec + (size_t)last * p->nDims, nByte);
    i64map_put(&p->index, p->aId[i], i); /* overwrites: cannot fail */
  }
  memset(p->aVec + (size_t)last * p->nDims, 0, nByte);
  p->n--;
}

int vecset_find(const VecSet *p, sqlite3_int64 id) {
  return (int)i64map_get(&p->index, id);
}

sqlite3_int64 vecset_memory(const VecSet *p) {
  return (sqlite3_int64)p->nAlloc * (sqlite3_int64)(sizeof(sqlite3_int64) + sizeof(float) * p->nDims) +
         (sqlite3_int64)p->index.nBucket * (sqlite3_int64)sizeof(I64MapEntry);
}
