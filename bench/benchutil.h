/*
** benchutil.h — small helpers shared by the benchmarks: a clock, seeded
** random vectors, texmex (.bvecs/.fvecs/.ivecs) readers, and opening a
** database with extensions loaded.  Header-only: each benchmark is a single
** program.
*/
#ifndef VG_BENCHUTIL_H
#define VG_BENCHUTIL_H

#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static inline uint64_t bench_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static inline float bench_uniform(uint64_t *s) {
  return (float)((double)(bench_rand(s) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static inline void bench_die(const char *zMsg, const char *zDetail) {
  fprintf(stderr, "bench: %s%s%s\n", zMsg, zDetail ? ": " : "", zDetail ? zDetail : "");
  exit(1);
}

static inline void bench_exec(sqlite3 *db, const char *zSql) {
  char *zErr = 0;
  if (sqlite3_exec(db, zSql, 0, 0, &zErr) != SQLITE_OK) bench_die(zSql, zErr);
}

static inline sqlite3 *bench_open(const char *zPath, const char *zExt) {
  sqlite3 *db = 0;
  char *zErr = 0;
  if (strcmp(zPath, ":memory:") != 0) unlink(zPath);
  if (sqlite3_open(zPath, &db) != SQLITE_OK) bench_die("open", zPath);
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, zExt, 0, &zErr) != SQLITE_OK) bench_die(zExt, zErr);
  return db;
}

/* Remove a database file and its WAL companions. */
static inline void bench_remove_db(const char *zPath) {
  char zSide[4200];
  snprintf(zSide, sizeof zSide, "%s-wal", zPath);
  unlink(zSide);
  snprintf(zSide, sizeof zSide, "%s-shm", zPath);
  unlink(zSide);
  unlink(zPath);
}

/* Read a texmex file of n vectors of d elements: .bvecs (uint8), .fvecs
** (float32) or .ivecs (int32), converted to float or int32 as asked. */
static inline void *bench_read_vecs(const char *zPath, int elemBytes, int *pn, int *pd) {
  FILE *f = fopen(zPath, "rb");
  if (f == 0) return 0;
  int32_t d;
  if (fread(&d, 4, 1, f) != 1) bench_die("short file", zPath);
  fseek(f, 0, SEEK_END);
  long nByte = ftell(f);
  fseek(f, 0, SEEK_SET);
  long rec = 4 + (long)d * elemBytes;
  int n = (int)(nByte / rec);
  unsigned char *raw = malloc((size_t)rec);
  void *out = malloc((size_t)n * d * 4);
  for (int i = 0; i < n; i++) {
    if (fread(raw, 1, (size_t)rec, f) != (size_t)rec) bench_die("short file", zPath);
    for (int j = 0; j < d; j++) {
      if (elemBytes == 1) {
        ((float *)out)[(size_t)i * d + j] = (float)raw[4 + j];
      } else {
        memcpy((char *)out + ((size_t)i * d + j) * 4, raw + 4 + 4 * j, 4);
      }
    }
  }
  free(raw);
  fclose(f);
  *pn = n;
  *pd = d;
  return out;
}

/* Queries per second of a prepared KNN statement over nq query vectors; the
** rowids of the first k results of each query go to aOut (nq*k) if given. */
static inline double bench_qps(sqlite3_stmt *p, const float *aQ, int nq, int d, int k,
                        int64_t *aOut) {
  double t0 = bench_now();
  for (int i = 0; i < nq; i++) {
    sqlite3_bind_blob(p, 1, aQ + (size_t)i * d, d * 4, SQLITE_STATIC);
    int j = 0, rc;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
      if (aOut && j < k) aOut[(size_t)i * k + j] = sqlite3_column_int64(p, 0);
      j++;
    }
    if (rc != SQLITE_DONE) bench_die("query", sqlite3_errmsg(sqlite3_db_handle(p)));
    for (; aOut && j < k; j++) aOut[(size_t)i * k + j] = -1;
    sqlite3_reset(p);
  }
  return nq / (bench_now() - t0);
}

#endif
