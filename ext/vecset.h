/*
** vecset.h — an in-memory set of vectors keyed by rowid: the vectors of one
** partition, held contiguously so that an exact scan streams through memory.
**
** It is a cache, not storage: vtab.c fills it from the shadow tables and
** drops it whenever they may have changed behind its back.  Vectors are kept
** as given; callers store them already prepared for their metric.
*/
#ifndef VG_VECSET_H
#define VG_VECSET_H

#include "i64map.h"

typedef struct VecSet {
  int nDims;
  int n;              /* vectors held */
  int nAlloc;         /* capacity, in vectors */
  sqlite3_int64 *aId; /* aId[i] is the rowid of vector i */
  float *aVec;        /* n * nDims floats */
  I64Map index;       /* rowid -> position */
} VecSet;

void vecset_init(VecSet *p, int nDims);
void vecset_free(VecSet *p);

/* Add (or replace) the vector of rowid id.  SQLITE_OK or SQLITE_NOMEM. */
int vecset_put(VecSet *p, sqlite3_int64 id, const float *v);

/* Remove rowid id if present; the last vector moves into its place and the
** vacated memory is zeroed, so no copy of an erased vector lingers. */
void vecset_remove(VecSet *p, sqlite3_int64 id);

/* Position of rowid id, or -1. */
int vecset_find(const VecSet *p, sqlite3_int64 id);

static inline const float *vecset_vector(const VecSet *p, int i) {
  return p->aVec + (size_t)i * (size_t)p->nDims;
}

/* Bytes of memory held. */
sqlite3_int64 vecset_memory(const VecSet *p);

#endif
