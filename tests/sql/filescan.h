/*
** filescan.h — which of many byte strings occur in a file's bytes, found in
** one pass, for the erasure tests (test_storage.c, test_erasure_queue.c).
**
** A memmem() per string per file is simple, but thousands of strings over a
** file of megabytes took half a minute a scan.  Here each string is filed
** under its last 8 bytes in a hash table; the pass reads the file's 8 bytes
** at every offset once, and compares a whole string only where its last 8
** bytes match.  (The last, not the first: the test strings share prefixes
** such as "SECRET-0" and differ at the end.)
*/
#ifndef VG_FILESCAN_H
#define VG_FILESCAN_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testdb.h"

typedef struct ScanNeedle {
  const unsigned char *p; /* the bytes, owned by the caller */
  size_t n;               /* at least 8 */
  uint64_t tail;          /* the last 8 bytes */
  int iNext;              /* the next needle in its bucket, or -1 */
  int bFound;
} ScanNeedle;

typedef struct FileScan {
  ScanNeedle *a;
  int n, nAlloc;
  int *aBucket; /* the first needle of each bucket, or -1 */
  int nBucket;  /* a power of two */
} FileScan;

static inline uint64_t scan_load8(const unsigned char *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

static inline unsigned scan_hash(uint64_t v, int nBucket) {
  return (unsigned)((v * 0x9E3779B97F4A7C15ull) >> 32) & (unsigned)(nBucket - 1);
}

/* Look for the n bytes at p (kept by the caller until the scan is over);
** returns the needle's number. */
static inline int scan_add(FileScan *s, const void *p, size_t n) {
  if (n < 8) fail_msg("scan_add: a needle needs at least 8 bytes");
  if (s->n == s->nAlloc) {
    s->nAlloc = s->nAlloc ? 2 * s->nAlloc : 1024;
    s->a = realloc(s->a, sizeof(ScanNeedle) * (size_t)s->nAlloc);
    if (s->a == 0) fail_msg("out of memory");
  }
  ScanNeedle *e = &s->a[s->n];
  e->p = p;
  e->n = n;
  e->tail = scan_load8(e->p + n - 8);
  e->iNext = -1;
  e->bFound = 0;
  return s->n++;
}

/* Mark every needle that occurs in a[0, n). */
static inline void scan_run(FileScan *s, const unsigned char *a, size_t n) {
  free(s->aBucket);
  for (s->nBucket = 1024; s->nBucket < 2 * s->n; s->nBucket *= 2) {
  }
  s->aBucket = malloc(sizeof(int) * (size_t)s->nBucket);
  if (s->aBucket == 0) fail_msg("out of memory");
  memset(s->aBucket, 0xff, sizeof(int) * (size_t)s->nBucket);
  for (int i = 0; i < s->n; i++) {
    unsigned h = scan_hash(s->a[i].tail, s->nBucket);
    s->a[i].iNext = s->aBucket[h];
    s->a[i].bFound = 0;
    s->aBucket[h] = i;
  }
  for (size_t j = 0; j + 8 <= n; j++) {
    uint64_t v = scan_load8(a + j);
    for (int i = s->aBucket[scan_hash(v, s->nBucket)]; i >= 0; i = s->a[i].iNext) {
      ScanNeedle *e = &s->a[i];
      if (e->tail == v && !e->bFound && j + 8 >= e->n && memcmp(a + j + 8 - e->n, e->p, e->n) == 0) e->bFound = 1;
    }
  }
}

static inline int scan_found(const FileScan *s, int i) {
  return s->a[i].bFound;
}

/* Forget the needles (for another set), keeping the memory. */
static inline void scan_reset(FileScan *s) {
  s->n = 0;
}

static inline void scan_free(FileScan *s) {
  free(s->a);
  free(s->aBucket);
  memset(s, 0, sizeof(*s));
}

#endif
