/*
** i64map.h — a hash map from 64-bit integer keys to non-negative 64-bit
** values (open addressing, linear probing, no tombstones).
**
** Used to find a row's position in an in-memory vector set by rowid, and a
** partition's cache by partition id.  Values must be >= 0: a negative value
** marks an empty bucket.
*/
#ifndef VG_I64MAP_H
#define VG_I64MAP_H

#include <stddef.h>

#include "vecguard.h"

typedef struct I64MapEntry {
  sqlite3_int64 key;
  sqlite3_int64 val; /* < 0: empty */
} I64MapEntry;

typedef struct I64Map {
  I64MapEntry *a;
  size_t nBucket; /* a power of two, or 0 */
  size_t nUsed;
} I64Map;

void i64map_init(I64Map *p);
void i64map_free(I64Map *p);

/* Make room for n entries without rehashing.  SQLITE_OK or SQLITE_NOMEM. */
int i64map_reserve(I64Map *p, size_t n);

/* Insert or overwrite; val must be >= 0.  SQLITE_OK or SQLITE_NOMEM. */
int i64map_put(I64Map *p, sqlite3_int64 key, sqlite3_int64 val);

/* The value for key, or -1. */
sqlite3_int64 i64map_get(const I64Map *p, sqlite3_int64 key);

/* Remove key if present. */
void i64map_remove(I64Map *p, sqlite3_int64 key);

#endif
