/*
** test_vector_types.c — vg_hnsw tables of int8[N] and bit[N] vectors,
** against a brute force computed here from the rows the test wrote:
**
**   every metric (int8: l2, cosine, l1, ip; bit: hamming), distances
**   computed as sqlite-vec computes them (float32 sums, then sqrt or the
**   cosine quotient in double), with rows inserted as BLOBs and as JSON,
**   updated (vector, metadata, partition), deleted, rolled back;
**   exact = 1 returns exactly the reference's rows and distances, with
**   filters and in each partition, also in a new connection (graphs loaded
**   from the slots); graph search returns exact distances, recall@10 of at
**   least 0.9, and never fewer than min(k, matches) rows under a filter;
**   SELECT returns the bytes written; vg_hnsw_check is clean;
**   bad values give errors that say what was received and what to send.
*/
#include "testdb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 1200, QUERIES = 40, K = 10, MAXBYTES = 64 };

typedef struct Model {
  int bBit;        /* bit[N] rather than int8[N] */
  int nDims;       /* elements */
  int nBytes;      /* bytes per vector */
  const char *zMetric;
  unsigned char aVec[ROWS + 1][MAXBYTES];
  int aTenant[ROWS + 1]; /* 0 or 1 */
  int aCat[ROWS + 1];
  int aLive[ROWS + 1];
} Model;

/* The reference distances, written the way sqlite-vec 0.1.9 writes them
** (sqlite-vec.c: l2_sqr_int8, distance_cosine_int8, l1_int8,
** distance_hamming_u8), so that equality here is equality with it. */
static double ref_distance(const Model *m, const unsigned char *pa, const unsigned char *pb) {
  if (m->bBit) {
    int same = 0;
    for (int i = 0; i < m->nBytes; i++) {
      unsigned x = (unsigned)(pa[i] ^ pb[i]);
      for (int b = 0; b < 8; b++) same += (x >> b) & 1;
    }
    return (float)same;
  }
  const signed char *a = (const signed char *)pa, *b = (const signed char *)pb;
  int n = m->nDims;
  if (strcmp(m->zMetric, "cosine") == 0) {
    float dot = 0, aMag = 0, bMag = 0;
    for (int i = 0; i < n; i++) {
      dot += a[i] * b[i];
      aMag += a[i] * a[i];
      bMag += b[i] * b[i];
    }
    return (float)(1 - (dot / (sqrt(aMag) * sqrt(bMag))));
  }
  if (strcmp(m->zMetric, "l1") == 0) {
    int s = 0;
    for (int i = 0; i < n; i++) s += abs(a[i] - b[i]);
    return (float)s;
  }
  if (strcmp(m->zMetric, "ip") == 0) {
    int s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return -(float)s;
  }
  float res = 0;
  for (int i = 0; i < n; i++) {
    float t = (float)(a[i] - b[i]);
    res += t * t;
  }
  return (float)sqrt(res);
}

/* A clustered random vector: 12 centres, elements spread around them. */
static void random_vector(const Model *m, uint64_t *s, unsigned char *v) {
  int c = (int)(tdb_rand(s) % 12);
  uint64_t cs = 1000 + (uint64_t)c;
  for (int j = 0; j < m->nBytes; j++) {
    int centre = (int)(tdb_rand(&cs) % 256) - 128;
    if (m->bBit) {
      /* flip a few bits of the centre's byte */
      unsigned flip = (unsigned)(tdb_rand(s) & tdb_rand(s) & tdb_rand(s));
      v[j] = (unsigned char)((unsigned)centre ^ flip);
    } else {
      int x = centre + (int)(tdb_rand(s) % 61) - 30;
      v[j] = (unsigned char)(signed char)(x < -128 ? -128 : x > 127 ? 127 : x);
    }
  }
  /* never a zero vector (cosine refuses it) */
  if (!m->bBit) v[0] |= 1;
}

/* JSON text of v: whole numbers, or 0s and 1s. */
static char *json_of(const Model *m, const unsigned char *v) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendchar(s, 1, '[');
  for (int i = 0; i < m->nDims; i++) {
    int x = m->bBit ? (v[i / 8] >> (i % 8)) & 1 : (int)(signed char)v[i];
    sqlite3_str_appendf(s, "%s%d", i ? ", " : "", x);
  }
  sqlite3_str_appendchar(s, 1, ']');
  return sqlite3_str_finish(s);
}

static void bind_vector(const Model *m, sqlite3_stmt *p, int i, const unsigned char *v, int bJson) {
  if (bJson) {
    sqlite3_bind_text(p, i, json_of(m, v), -1, sqlite3_free);
  } else {
    sqlite3_bind_blob(p, i, v, m->nBytes, SQLITE_TRANSIENT);
  }
}

static void write_row(sqlite3 *db, Model *m, int id, uint64_t *s, int bUpdate) {
  random_vector(m, s, m->aVec[id]);
  m->aTenant[id] = (int)(tdb_rand(s) % 2);
  m->aCat[id] = (int)(tdb_rand(s) % 10);
  m->aLive[id] = 1;
  sqlite3_stmt *p = tdb_prepare(db, bUpdate ? "UPDATE t SET e = ?2, tenant = ?3, cat = ?4 WHERE rowid = ?1"
                                            : "INSERT INTO t(rowid, e, tenant, cat, note) VALUES (?1, ?2, ?3, ?4, 'n')");
  sqlite3_bind_int(p, 1, id);
  bind_vector(m, p, 2, m->aVec[id], id % 2);
  sqlite3_bind_text(p, 3, m->aTenant[id] ? "b" : "a", -1, SQLITE_STATIC);
  sqlite3_bind_int(p, 4, m->aCat[id]);
  assert_int_equal(sqlite3_step(p), SQLITE_DONE);
  sqlite3_finalize(p);
}

typedef struct Ref {
  double d;
  sqlite3_int64 id;
} Ref;

static int ref_cmp(const void *x, const void *y) {
  const Ref *a = x, *b = y;
  if (a->d != b->d) return a->d < b->d ? -1 : 1;
  return a->id < b->id ? -1 : a->id > b->id;
}

/* The reference answer: rows of the tenant with cat < catBelow. */
static int reference(const Model *m, const unsigned char *q, int tenant, int catBelow, Ref *a) {
  int n = 0;
  for (int id = 1; id <= ROWS; id++) {
    if (!m->aLive[id] || m->aTenant[id] != tenant || m->aCat[id] >= catBelow) continue;
    a[n].d = ref_distance(m, m->aVec[id], q);
    a[n++].id = id;
  }
  qsort(a, (size_t)n, sizeof(Ref), ref_cmp);
  return n;
}

/* Queries: exact = 1 equals the reference; the graph's distances are the
** reference's, its recall is at least 0.9, and it returns min(k, matches). */
static void check_queries(sqlite3 *db, const Model *m, uint64_t *s) {
  static Ref aRef[ROWS];
  sqlite3_int64 aId[K];
  double aD[K];
  int nHit = 0, nWant = 0;
  unsigned char q[MAXBYTES];
  for (int iq = 0; iq < QUERIES; iq++) {
    random_vector(m, s, q);
    int tenant = iq % 2, catBelow = iq % 3 == 0 ? 10 : iq % 3 == 1 ? 5 : 1;
    int nRef = reference(m, q, tenant, catBelow, aRef);
    int nK = nRef < K ? nRef : K;
    for (int exact = 0; exact <= 1; exact++) {
      sqlite3_stmt *p = tdb_prepare(db,
                                    "SELECT rowid, distance FROM t WHERE e MATCH ?1 AND k = %d AND tenant = ?2 "
                                    "AND cat < ?3%s",
                                    K, exact ? " AND exact = 1" : " AND exact = 0");
      bind_vector(m, p, 1, q, iq % 2);
      sqlite3_bind_text(p, 2, tenant ? "b" : "a", -1, SQLITE_STATIC);
      sqlite3_bind_int(p, 3, catBelow);
      int n = tdb_collect(p, aId, aD, K);
      sqlite3_finalize(p);
      assert_int_equal(n, nK);
      for (int j = 0; j < n; j++) {
        if (exact) {
          if (aId[j] != aRef[j].id || aD[j] != aRef[j].d) {
            fail_msg("%s query %d: exact row %d is %lld at %.9g; the reference has %lld at %.9g", m->zMetric, iq, j,
                     (long long)aId[j], aD[j], (long long)aRef[j].id, aRef[j].d);
          }
        } else {
          assert_true(aId[j] >= 1 && aId[j] <= ROWS && m->aLive[aId[j]]);
          assert_true(aD[j] == ref_distance(m, m->aVec[aId[j]], q));
          /* a hit: at most the reference's k-th distance (ties count) */
          nHit += aD[j] <= aRef[nK - 1].d;
        }
      }
      if (!exact) nWant += nK;
    }
  }
  double recall = nWant ? (double)nHit / nWant : 1.0;
  printf("%-8s %s[%d]: recall@%d of the graph %.3f\n", m->zMetric, m->bBit ? "bit" : "int8", m->nDims, K, recall);
  assert_true(recall >= 0.9);
}

/* SELECT e gives back the bytes written, for every live row. */
static void check_bytes(sqlite3 *db, const Model *m) {
  sqlite3_stmt *p = tdb_prepare(db, "SELECT rowid, e FROM t");
  int n = 0, nLive = 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    int id = sqlite3_column_int(p, 0);
    assert_true(id >= 1 && id <= ROWS && m->aLive[id]);
    assert_int_equal(sqlite3_column_bytes(p, 1), m->nBytes);
    assert_memory_equal(sqlite3_column_blob(p, 1), m->aVec[id], m->nBytes);
    n++;
  }
  sqlite3_finalize(p);
  for (int id = 1; id <= ROWS; id++) nLive += m->aLive[id];
  assert_int_equal(n, nLive);
}

static void run_model(int bBit, int nDims, const char *zMetric) {
  static Model m;
  memset(&m, 0, sizeof(m));
  m.bBit = bBit;
  m.nDims = nDims;
  m.nBytes = bBit ? nDims / 8 : nDims;
  m.zMetric = zMetric;
  uint64_t s = 7 + (uint64_t)nDims;
  char *zPath = tdb_temp_path("vector_types.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db,
           "CREATE VIRTUAL TABLE t USING vg_hnsw(tenant text partition key, e %s[%d]%s%s, cat integer, +note text, "
           "hnsw_m=8, ef_construction=64, ef_search=40)",
           bBit ? "bit" : "int8", nDims, bBit ? "" : " distance_metric=", bBit ? "" : zMetric);
  tdb_exec(db, "BEGIN");
  for (int id = 1; id <= ROWS; id++) write_row(db, &m, id, &s, 0);
  tdb_exec(db, "COMMIT");
  /* deletes, updates (vector, tenant, metadata), then a rolled back batch */
  tdb_exec(db, "BEGIN");
  for (int id = 3; id <= ROWS; id += 7) {
    tdb_exec(db, "DELETE FROM t WHERE rowid = %d", id);
    m.aLive[id] = 0;
  }
  for (int id = 5; id <= ROWS; id += 11) {
    if (m.aLive[id]) write_row(db, &m, id, &s, 1);
  }
  tdb_exec(db, "COMMIT");
  Model *pSaved = malloc(sizeof(Model));
  memcpy(pSaved, &m, sizeof(Model));
  tdb_exec(db, "BEGIN");
  for (int id = 2; id <= ROWS; id += 5) {
    if (m.aLive[id]) write_row(db, &m, id, &s, 1);
  }
  tdb_exec(db, "DELETE FROM t WHERE rowid < 100");
  tdb_exec(db, "ROLLBACK");
  memcpy(&m, pSaved, sizeof(Model));
  free(pSaved);
  check_bytes(db, &m);
  check_queries(db, &m, &s);
  tdb_expect_index_ok(db, "t");
  tdb_close(db);
  /* a new connection loads the graphs from the slots */
  db = tdb_open(zPath);
  check_queries(db, &m, &s);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_int8_l2(void **state) {
  (void)state;
  run_model(0, 48, "l2");
}
static void test_int8_cosine(void **state) {
  (void)state;
  run_model(0, 48, "cosine");
}
static void test_int8_l1(void **state) {
  (void)state;
  run_model(0, 33, "l1");
}
static void test_int8_ip(void **state) {
  (void)state;
  run_model(0, 40, "ip");
}
static void test_bit_hamming(void **state) {
  (void)state;
  run_model(1, 256, "hamming");
}

/* What is refused, and how the message says so. */
static void test_errors(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE i USING vg_hnsw(e int8[4] distance_metric=cosine);"
           "CREATE VIRTUAL TABLE b USING vg_hnsw(e bit[16]);"
           "CREATE VIRTUAL TABLE f USING vg_hnsw(e float[4]);");
  tdb_expect_error(db, "column e: element 3 (200) is not a whole number from -128 to 127",
                   "INSERT INTO i(e) VALUES ('[1, 2, 3, 200]')");
  tdb_expect_error(db, "element 0 (0.5) is not a whole number", "INSERT INTO i(e) VALUES ('[0.5, 2, 3, 4]')");
  tdb_expect_error(db,
                   "column e holds int8[4] vectors (4 bytes each); got 16 elements (a blob of 4 bytes per element "
                   "looks like float32: send one signed byte per element",
                   "INSERT INTO i(e) VALUES (vg_vector('[1, 2, 3, 4]'))");
  tdb_expect_error(db, "column e holds int8[4] vectors (4 bytes each); got 3 elements",
                   "INSERT INTO i(e) VALUES ('[1, 2, 3]')");
  tdb_expect_error(db, "a zero vector has no direction under the cosine metric",
                   "INSERT INTO i(e) VALUES (x'00000000')");
  tdb_expect_error(db, "expected an int8 vector as JSON text or a BLOB of its bytes, got an integer",
                   "INSERT INTO i(e) VALUES (7)");
  tdb_expect_error(db, "column e needs a vector; got NULL", "INSERT INTO i(e) VALUES (NULL)");
  tdb_expect_error(db, "element 1 (2) is not 0 or 1, which a bit vector holds",
                   "INSERT INTO b(e) VALUES ('[1, 2, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]')");
  tdb_expect_error(db, "a bit vector has a multiple of 8 elements; got 3", "INSERT INTO b(e) VALUES ('[1, 0, 1]')");
  tdb_expect_error(db, "column e holds bit[16] vectors (2 bytes each); got 24 bits", "INSERT INTO b(e) VALUES (x'FFFF00')");
  tdb_expect_error(db, "got 512 bits (a blob of 4 bytes per element looks like float32",
                   "INSERT INTO b(e) VALUES (zeroblob(64))");
  tdb_expect_error(db, "the query vector has 8 bits; e holds 16", "SELECT rowid FROM b WHERE e MATCH x'01' AND k = 1");
  tdb_expect_error(db, "the query vector is zero, which has no direction under the cosine metric",
                   "SELECT rowid FROM i WHERE e MATCH '[0, 0, 0, 0]' AND k = 1");
  tdb_expect_error(db, "query vector: element 0 (300) is not a whole number",
                   "SELECT rowid FROM i WHERE e MATCH '[300, 0, 0, 0]' AND k = 1");
  /* the table definitions */
  tdb_expect_error(db, "bit[12] is not a whole number of bytes; N must be a multiple of 8 (bit[8] or bit[16])",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e bit[12])");
  tdb_expect_error(db, "distance_metric l2 does not apply to bit vectors (expected hamming)",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e bit[16] distance_metric=l2)");
  tdb_expect_error(db, "distance_metric l1 does not apply to float vectors (expected cosine, l2 or ip)",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e float[16] distance_metric=l1)");
  tdb_expect_error(db, "quantization=int8 compresses float[N] vectors in memory; int8[16] vectors are held as they are",
                   "CREATE VIRTUAL TABLE x USING vg_hnsw(e int8[16], quantization=int8)");
  /* the pipeline embeds floats */
  tdb_expect_error(db, "table \"i\" holds int8[4] vectors; the pipeline embeds into float[N] tables",
                   "SELECT vg_configure('i', '{}')");
  /* nothing was written */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM i"), 0);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM b"), 0);
  /* a vector of the right bytes goes in, and comes back as written */
  tdb_exec(db, "INSERT INTO i(rowid, e) VALUES (1, x'01FF7F80'), (2, '[1, -1, 127, -128]')");
  tdb_expect_text(db, "01FF7F80 01FF7F80", "SELECT group_concat(hex(e), ' ') FROM i");
  tdb_exec(db, "INSERT INTO b(rowid, e) VALUES (1, '[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]')");
  tdb_expect_text(db, "0180", "SELECT hex(e) FROM b WHERE rowid = 1");
  tdb_expect_text(db, "1|1.0", "SELECT rowid || '|' || distance FROM b WHERE e MATCH x'0181' AND k = 1");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_errors),     cmocka_unit_test(test_int8_l2), cmocka_unit_test(test_int8_cosine),
      cmocka_unit_test(test_int8_l1),    cmocka_unit_test(test_int8_ip), cmocka_unit_test(test_bit_hamming),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
