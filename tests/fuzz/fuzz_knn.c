/*
** fuzz_knn.c — libFuzzer target for KNN queries on vg_hnsw tables: query
** planning (xBestIndex), constraint handling, exact and graph search
** (ext/table/vtab_query.c and what it calls).
**
** The database: two vg_hnsw tables of 40 rows each with small-integer
** vectors (so that every distance is computed exactly and ties are real;
** a third of the rows repeat another row's vector), each mirrored in an
** ordinary table with the same rows:
**   v  l2, partition key tenant ('a', 'b', 'c'), metadata cat text,
**      n integer, score real, flag boolean, +body text; hnsw_m=4
**   w  ip, no partition key, the same metadata, quantization=int8
** Every input runs on a fresh copy of that database (sqlite3_deserialize),
** so an input's outcome does not depend on the inputs before it.
**
** Feeds: the input decodes into up to four queries, each
**   SELECT rowid, distance FROM v|w WHERE embedding MATCH ?1 AND k = K
**     [AND ef = E] [AND exact = X] AND <terms> [ORDER BY distance] [LIMIT L]
** with terms drawn over the partition key (=, IN, IS, !=, <, >, LIKE, IS
** NULL), the metadata columns (=, <, <=, >, >=, !=, IN, BETWEEN, LIKE, GLOB,
** IS, IS NOT, IS NULL, IS NOT NULL, COLLATE NOCASE), rowid (the same, IN
** lists and IN (SELECT ...)), distance (comparisons, BETWEEN, and the
** unsupported IS / IS NULL / LIKE), and the unfilterable auxiliary and vector
** columns; values of every type, NULL, and invalid k, ef, exact and query
** vectors.  Each query runs twice (the second run reuses the remembered
** filter mask and the kept statement).
**
** Checks: whether a query must be accepted or refused is decided before it
** runs, from docs/vg_hnsw.md: refused exactly when it lacks k, has an
** invalid k / ef / exact / query vector (an element beyond +/-1e16 too),
** misses the partition (=, IN or IS on tenant without a collation), or has
** a term on an auxiliary or the vector column, an unsupported distance
** operator; a refusal is an SQLite error with a message.  An accepted query
** must give
**   - with exact = 1: exactly the reference, rowids and distances,
**       SELECT rowid, vg_distance(embedding, ?1, metric) AS distance FROM mirror
**        WHERE <the same terms> ORDER BY distance, rowid LIMIT k
**   - otherwise: min(k, matching rows) rows, each of them matching with its
**     true distance, in (distance, rowid) order;
**   - the same rows on its second run.
** The documented exception (docs/vg_hnsw.md, "Filters"): SQLite does not
** tell a virtual table the collation of != and IS NOT, so the search applies
** them under BINARY and SQLite re-checks its rows under the collation
** written.  With T the terms as written and T' the same terms with the
** collation of each such != / IS NOT dropped (T' keeps every row T keeps),
** the search returns S, min(k, rows matching T') rows of T', and the query
** gives the rows of S that match T.  So a query with such a term must give
**   - rows that match T, each with its true distance, in (distance, rowid)
**     order, at most min(k, rows matching T);
**   - at least min(k, rows matching T') - (rows matching T' but not T) of
**     them, as S holds at most that many rows T drops;
**   - with exact = 1, S is the reference under T', so exactly the rows of
**       SELECT ... WHERE <T'> ORDER BY distance, rowid LIMIT k
**     that match T, in that order;
**   (all of them under LIMIT L: the first L of those rows).
*/
#include "fuzzutil.h"
#include "vector/vector.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NROW 40
#define DIMS 4
#define MAXROWS 200

static unsigned char *aImage; /* the serialized template database */
static sqlite3_int64 nImage;
static double aDistPool[32]; /* sqrtf(i) as a double: exact l2 distances */

/* ---- the template database ------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 11);
}

static void build_template(void) {
  sqlite3 *db = fz_open();
  fz_exec(db,
          "CREATE VIRTUAL TABLE v USING vg_hnsw(embedding float[4], tenant text partition key, cat text, "
          "n integer, score real, flag boolean, +body text, hnsw_m=4, ef_construction=20);"
          "CREATE VIRTUAL TABLE w USING vg_hnsw(embedding float[4] distance_metric=ip, cat text, n integer, "
          "score real, flag boolean, +body text, hnsw_m=4, quantization=int8);"
          "CREATE TABLE ref_v(id INTEGER PRIMARY KEY, embedding BLOB, tenant TEXT, cat TEXT, n INTEGER, "
          "score REAL, flag INTEGER, body TEXT);"
          "CREATE TABLE ref_w(id INTEGER PRIMARY KEY, embedding BLOB, cat TEXT, n INTEGER, score REAL, "
          "flag INTEGER, body TEXT);"
          "CREATE TABLE ids(id INTEGER PRIMARY KEY);"
          "INSERT INTO ids VALUES (1), (4), (7), (10), (22), (-5), (99);");
  static const char *const azCat[] = {"x", "y", "X", "Y", "xy", "%", "a_b", "5", 0};
  static const double aScore[] = {0.5, 1.25, -2.0, 3.0, 0.0};
  float aVec[NROW][DIMS];
  sqlite3_stmt *p = 0;
  for (int t = 0; t < 2; t++) {
    const char *zIns = t == 0 ? "INSERT INTO v(rowid, embedding, tenant, cat, n, score, flag, body) "
                                "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                              : "INSERT INTO w(rowid, embedding, cat, n, score, flag, body) "
                                "VALUES (?1, ?2, ?4, ?5, ?6, ?7, ?8)";
    if (sqlite3_prepare_v2(db, zIns, -1, &p, 0) != SQLITE_OK) fz_fail("%s", sqlite3_errmsg(db));
    for (int i = 0; i < NROW; i++) {
      /* A third of the rows repeat an earlier row's vector: ties, and the
      ** duplicates HNSW graphs have trouble with. */
      if (i > 0 && next_rand() % 3 == 0) {
        memcpy(aVec[i], aVec[next_rand() % (uint32_t)i], sizeof aVec[i]);
      } else {
        int bZero = 1;
        for (int d = 0; d < DIMS; d++) {
          aVec[i][d] = (float)((int)(next_rand() % 5) - 2);
          bZero &= aVec[i][d] == 0;
        }
        if (bZero) aVec[i][0] = 1;
      }
      sqlite3_int64 rowid = i < 3 ? -3 + i : 3 * i - 5 + (int)(next_rand() % 3);
      char zTenant[2] = {(char)('a' + next_rand() % 3), 0}, zBody[32];
      snprintf(zBody, sizeof zBody, "body %lld", rowid);
      sqlite3_bind_int64(p, 1, rowid);
      sqlite3_bind_blob(p, 2, aVec[i], sizeof aVec[i], SQLITE_STATIC);
      sqlite3_bind_text(p, 3, zTenant, -1, SQLITE_TRANSIENT);
      const char *zCat = azCat[next_rand() % 9];
      if (zCat) sqlite3_bind_text(p, 4, zCat, -1, SQLITE_STATIC);
      if (next_rand() % 6) sqlite3_bind_int(p, 5, (int)(next_rand() % 8) - 2);
      if (next_rand() % 5) sqlite3_bind_double(p, 6, aScore[next_rand() % 5]);
      if (next_rand() % 4) sqlite3_bind_int(p, 7, (int)(next_rand() % 2));
      sqlite3_bind_text(p, 8, zBody, -1, SQLITE_TRANSIENT);
      if (sqlite3_step(p) != SQLITE_DONE) fz_fail("insert: %s", sqlite3_errmsg(db));
      sqlite3_reset(p);
      sqlite3_clear_bindings(p);
    }
    sqlite3_finalize(p);
  }
  fz_exec(db,
          "INSERT INTO ref_v SELECT rowid, embedding, tenant, cat, n, score, flag, body FROM v;"
          "INSERT INTO ref_w SELECT rowid, embedding, cat, n, score, flag, body FROM w;");
  aImage = sqlite3_serialize(db, "main", &nImage, 0);
  if (aImage == 0) fz_fail("cannot serialize the template");
  sqlite3_close(db);
  for (int i = 0; i < 32; i++) aDistPool[i] = (double)sqrtf((float)i);
}

static sqlite3 *open_copy(void) {
  sqlite3 *db = fz_open();
  unsigned char *a = sqlite3_malloc64((sqlite3_uint64)nImage);
  if (a == 0) fz_fail("out of memory");
  memcpy(a, aImage, (size_t)nImage);
  if (sqlite3_deserialize(db, "main", a, nImage, nImage, SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE) !=
      SQLITE_OK) {
    fz_fail("deserialize: %s", sqlite3_errmsg(db));
  }
  return db;
}

/* ---- queries ------------------------------------------------------------------ */

/* A literal of some type for a filter, into s. */
static void put_value(FzIn *in, sqlite3_str *s) {
  static const char *const azText[] = {"a", "b", "c", "x", "X", "y", "%", "x%", "_", "*", "[xy]*", "5",
                                       "1.25", "", "A", "%y", "a_b", "Y"};
  switch (fz_range(in, 0, 7)) {
    case 0:
    case 1:
      sqlite3_str_appendf(s, "%d", fz_range(in, -3, 8));
      break;
    case 2: {
      static const double a[] = {0.5, 1.25, 2.0, -0.5, 1e300, 3.0, -2.0, 0.0};
      sqlite3_str_appendf(s, "%.17g", a[fz_range(in, 0, 7)]);
      break;
    }
    case 3:
    case 4:
    case 5:
      sqlite3_str_appendf(s, "%Q", azText[fz_range(in, 0, (int)(sizeof azText / sizeof azText[0]) - 1)]);
      break;
    case 6:
      sqlite3_str_appendall(s, "NULL");
      break;
    default:
      sqlite3_str_appendall(s, fz_u8(in) & 1 ? "x'78'" : "x''");
      break;
  }
}

static void put_list(FzIn *in, sqlite3_str *s) {
  int n = fz_range(in, 0, 4);
  sqlite3_str_appendall(s, "(");
  for (int i = 0; i < n; i++) {
    if (i) sqlite3_str_appendall(s, ", ");
    put_value(in, s);
  }
  sqlite3_str_appendall(s, ")");
}

static const char *const azCmp[] = {"=", "<", "<=", ">", ">=", "!=", "IS", "IS NOT"};

/* What a query is expected to do. */
typedef struct Expect {
  int bRefuse;     /* must fail */
  int bAtFilter;   /* only xFilter can tell (a value, not the plan) */
  const char *zWhy;
  int bPartition;  /* has tenant =, IN or IS */
  int bNeCollate;  /* has != or IS NOT under a collation (see the header) */
} Expect;

static void refuse(Expect *e, const char *zWhy) {
  if (!e->bRefuse || e->bAtFilter) e->zWhy = zWhy;
  e->bRefuse = 1;
  e->bAtFilter = 0;
}

/* A refusal that xFilter makes, from a value: a query that SQLite knows to
** be empty without running it (an empty IN list) never gets there. */
static void refuse_at_filter(Expect *e, const char *zWhy) {
  if (e->bRefuse) return;
  e->zWhy = zWhy;
  e->bRefuse = 1;
  e->bAtFilter = 1;
}

/* The term itself; returns the collation clause it ends with when that is
** one SQLite does not tell the table (on != or IS NOT), else 0. */
static const char *put_term_body(FzIn *in, sqlite3_str *s, int bV, int kind, Expect *e) {
  static const char *const zNoCase = " COLLATE NOCASE";
  if (kind <= 1 && bV) { /* the partition key */
    int op = fz_range(in, 0, 8);
    static const char *const azT[] = {"'a'", "'b'", "'c'", "'d'", "NULL", "1"};
    const char *zT = azT[fz_range(in, 0, 5)];
    switch (op) {
      case 0:
      case 1:
        sqlite3_str_appendf(s, "tenant = %s", zT);
        e->bPartition = 1;
        break;
      case 2:
        sqlite3_str_appendall(s, "tenant IN ");
        put_list(in, s);
        e->bPartition = 1;
        break;
      case 3:
        /* "IS NULL" is SQLite's ISNULL operator, which names no partition. */
        sqlite3_str_appendf(s, "tenant IS %s", zT);
        if (strcmp(zT, "NULL") != 0) e->bPartition = 1;
        break;
      case 4:
        sqlite3_str_appendf(s, "tenant != %s", zT);
        break;
      case 5:
        sqlite3_str_appendf(s, "tenant %s %s", fz_u8(in) & 1 ? "<" : ">=", zT);
        break;
      case 6:
        sqlite3_str_appendf(s, "tenant LIKE %s", fz_u8(in) & 1 ? "'A'" : "'%'");
        break;
      case 7:
        sqlite3_str_appendf(s, "tenant IS %sNULL", fz_u8(in) & 1 ? "NOT " : "");
        break;
      default: {
        /* Filters, but does not name a partition (tenant isolation). */
        uint8_t b = fz_u8(in);
        int iOp = (b >> 1) % 3;
        sqlite3_str_appendf(s, "tenant %s %s%s", iOp == 0 ? "=" : iOp == 1 ? "!=" : "IS NOT", b & 1 ? "'A'" : "'b'",
                            zNoCase);
        if (iOp) return zNoCase;
        break;
      }
    }
    return 0;
  }
  if (kind <= 6) { /* metadata */
    static const char *const azCol[] = {"cat", "n", "score", "flag", "cat"};
    const char *zCol = azCol[fz_range(in, 0, 4)];
    int op = fz_range(in, 0, 14);
    if (op < 8) {
      sqlite3_str_appendf(s, "%s %s ", zCol, azCmp[op]);
      put_value(in, s);
    } else if (op == 8) {
      sqlite3_str_appendf(s, "%s IN ", zCol);
      put_list(in, s);
    } else if (op == 9) {
      sqlite3_str_appendf(s, "%s BETWEEN ", zCol);
      put_value(in, s);
      sqlite3_str_appendall(s, " AND ");
      put_value(in, s);
    } else if (op == 10 || op == 11) {
      sqlite3_str_appendf(s, "%s %s ", zCol, op == 10 ? "LIKE" : "GLOB");
      put_value(in, s);
    } else if (op == 12) {
      sqlite3_str_appendf(s, "%s IS %sNULL", zCol, fz_u8(in) & 1 ? "NOT " : "");
    } else {
      int iOp = fz_range(in, 0, 7);
      sqlite3_str_appendf(s, "%s %s ", zCol, azCmp[iOp]);
      put_value(in, s);
      sqlite3_str_appendall(s, zNoCase);
      if (iOp == 5 || iOp == 7) return zNoCase;
    }
    return 0;
  }
  if (kind <= 8) { /* rowid */
    int op = fz_range(in, 0, 11);
    if (op < 8) {
      sqlite3_str_appendf(s, "rowid %s ", azCmp[op]);
      put_value(in, s);
    } else if (op == 8) {
      sqlite3_str_appendall(s, "rowid IN ");
      put_list(in, s);
    } else if (op == 9) {
      sqlite3_str_appendall(s, "rowid IN (SELECT id FROM ids)");
    } else if (op == 10) {
      sqlite3_str_appendall(s, "rowid BETWEEN ");
      put_value(in, s);
      sqlite3_str_appendall(s, " AND ");
      put_value(in, s);
    } else {
      sqlite3_str_appendf(s, "rowid %s ", fz_u8(in) & 1 ? "LIKE" : "GLOB");
      put_value(in, s);
    }
    return 0;
  }
  if (kind <= 10) { /* distance */
    int op = fz_range(in, 0, 9);
    char zD[40];
    int iPool = fz_range(in, 0, 40);
    if (iPool < 32) {
      snprintf(zD, sizeof zD, "%.17g", aDistPool[iPool] * (bV ? 1 : -1));
    } else {
      static const char *const az[] = {"0", "0.5", "-1", "'x'", "NULL", "2.5", "1e300", "-3", "x'00'"};
      snprintf(zD, sizeof zD, "%s", az[iPool - 32]);
    }
    if (op < 6) {
      sqlite3_str_appendf(s, "distance %s %s", azCmp[op], zD);
    } else if (op == 6) {
      sqlite3_str_appendf(s, "distance BETWEEN %s AND %.17g", zD, aDistPool[fz_range(in, 0, 31)]);
    } else if (op == 7) {
      sqlite3_str_appendf(s, "distance IS %s", zD);
      refuse(e, "distance IS");
    } else if (op == 8) {
      sqlite3_str_appendf(s, "distance IS NULL");
      refuse(e, "distance IS NULL");
    } else {
      sqlite3_str_appendf(s, "distance LIKE '1%%'");
      refuse(e, "distance LIKE");
    }
    return 0;
  }
  if (kind == 11) {
    sqlite3_str_appendf(s, "body = 'body 1'");
    refuse(e, "a term on an auxiliary column");
    return 0;
  }
  sqlite3_str_appendf(s, "embedding = x'00'");
  refuse(e, "a second term on the vector column");
  return 0;
}

/* One filter term, appended to s (" AND ...") and to sBin, where a != or IS
** NOT under a collation is written without it (T' in the header). */
static void put_term(FzIn *in, sqlite3_str *s, sqlite3_str *sBin, int bV, Expect *e) {
  int kind = fz_range(in, 0, 12);
  sqlite3_str_appendall(s, " AND ");
  sqlite3_str_appendall(sBin, " AND ");
  int iStart = sqlite3_str_length(s);
  const char *zCollate = put_term_body(in, s, bV, kind, e);
  const char *zTerm = sqlite3_str_value(s) + iStart;
  /* The term ends with its collation clause, if it has one to drop. */
  int n = sqlite3_str_length(s) - iStart - (zCollate ? (int)strlen(zCollate) : 0);
  if (zCollate) e->bNeCollate = 1;
  sqlite3_str_append(sBin, zTerm, n);
}

/* A query vector: *pa (DIMS floats, or another count), bound as a BLOB or
** as JSON text. */
typedef struct QVec {
  float a[8];
  int n;
  int bJson, bNull;
} QVec;

static void make_qvec(FzIn *in, QVec *q, Expect *e) {
  memset(q, 0, sizeof(*q));
  q->n = DIMS;
  int mode = fz_range(in, 0, 15);
  if (mode == 0) {
    q->bNull = 1;
    refuse_at_filter(e, "a NULL query vector");
    return;
  }
  if (mode == 1) {
    q->n = fz_range(in, 1, 8);
    if (q->n != DIMS) refuse_at_filter(e, "a query vector of another dimension");
  }
  for (int d = 0; d < q->n; d++) {
    if (mode == 2) {
      uint32_t u = fz_u32(in);
      memcpy(&q->a[d], &u, 4);
      if (!isfinite(q->a[d])) q->a[d] = 1.0f;
    } else {
      q->a[d] = (float)fz_range(in, -3, 3) * (mode == 3 ? 0.5f : 1.0f);
    }
    /* docs/vectors.md: no element beyond +/-1e16, in queries as in rows. */
    if (fabsf(q->a[d]) > 1e16f) refuse_at_filter(e, "a query vector element beyond 1e16");
  }
  q->bJson = fz_u8(in) & 1;
}

static void bind_qvec(sqlite3_stmt *p, const QVec *q) {
  if (q->bNull) {
    sqlite3_bind_null(p, 1);
  } else if (q->bJson) {
    sqlite3_str *s = sqlite3_str_new(0);
    sqlite3_str_appendchar(s, 1, '[');
    for (int d = 0; d < q->n; d++) sqlite3_str_appendf(s, "%s%.9g", d ? "," : "", (double)q->a[d]);
    sqlite3_str_appendchar(s, 1, ']');
    sqlite3_bind_text(p, 1, sqlite3_str_finish(s), -1, sqlite3_free);
  } else {
    sqlite3_bind_blob(p, 1, q->a, (int)sizeof(float) * q->n, SQLITE_TRANSIENT);
  }
}

typedef struct Rows {
  int n;
  sqlite3_int64 aId[MAXROWS];
  double aDist[MAXROWS];
} Rows;

/* Run a query with ?1 bound; SQLITE_DONE with the rows, or the error. */
static int run_query(sqlite3 *db, const char *zSql, const QVec *q, Rows *r) {
  sqlite3_stmt *p = 0;
  r->n = 0;
  int rc = sqlite3_prepare_v2(db, zSql, -1, &p, 0);
  if (rc != SQLITE_OK) return rc;
  bind_qvec(p, q);
  while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
    FZ_CHECKF(r->n < MAXROWS, "more than %d rows: %s", MAXROWS, zSql);
    r->aId[r->n] = sqlite3_column_int64(p, 0);
    r->aDist[r->n] = sqlite3_column_double(p, 1);
    FZ_CHECKF(sqlite3_column_type(p, 1) == SQLITE_FLOAT, "distance of row %lld is not a number: %s", r->aId[r->n],
              zSql);
    r->n++;
  }
  sqlite3_finalize(p);
  return rc;
}

static void show_rows(const char *zWhat, const Rows *r) {
  fprintf(stderr, "%s (%d):", zWhat, r->n);
  for (int i = 0; i < r->n; i++) fprintf(stderr, " %lld@%.9g", r->aId[i], r->aDist[i]);
  fprintf(stderr, "\n");
}

static int has_row(const Rows *r, sqlite3_int64 id, double *pd) {
  for (int i = 0; i < r->n; i++) {
    if (r->aId[i] == id) {
      *pd = r->aDist[i];
      return 1;
    }
  }
  return 0;
}

static void one_query(sqlite3 *db, FzIn *in) {
  Expect e = {0, 0, 0, 0, 0};
  int bV = !(fz_u8(in) & 1);
  const char *zTable = bV ? "v" : "w";
  sqlite3_str *sTerms = sqlite3_str_new(0);
  sqlite3_str *sBin = sqlite3_str_new(0);
  sqlite3_str *sKnn = sqlite3_str_new(0);

  /* k, as a value of some type. */
  int k = 3;
  switch (fz_range(in, 0, 11)) {
    case 0:
      k = 0;
      sqlite3_str_appendall(sKnn, " AND k = 0");
      refuse_at_filter(&e, "k = 0");
      break;
    case 1:
      sqlite3_str_appendall(sKnn, " AND k = 1000001");
      refuse_at_filter(&e, "k too large");
      break;
    case 2:
      sqlite3_str_appendall(sKnn, " AND k = 2.5");
      refuse_at_filter(&e, "k = 2.5");
      break;
    case 3:
      sqlite3_str_appendall(sKnn, " AND k = NULL");
      refuse_at_filter(&e, "k = NULL");
      break;
    case 4:
      refuse(&e, "no k");
      break;
    case 5:
      k = 1000000;
      sqlite3_str_appendall(sKnn, " AND k = 1000000");
      break;
    default:
      k = fz_range(in, 1, 45);
      sqlite3_str_appendf(sKnn, " AND k = %d", k);
      break;
  }
  int exact = -1;
  switch (fz_range(in, 0, 7)) {
    case 0:
    case 1:
    case 2:
      exact = 1;
      sqlite3_str_appendall(sKnn, " AND exact = 1");
      break;
    case 3:
      exact = 0;
      sqlite3_str_appendall(sKnn, " AND exact = 0");
      break;
    case 4:
      sqlite3_str_appendall(sKnn, fz_u8(in) & 1 ? " AND exact = 2" : " AND exact = 'yes'");
      refuse_at_filter(&e, "an invalid exact");
      break;
    default:
      break;
  }
  switch (fz_range(in, 0, 5)) {
    case 0:
      sqlite3_str_appendf(sKnn, " AND ef = %d", fz_range(in, 1, 100));
      break;
    case 1:
      sqlite3_str_appendall(sKnn, fz_u8(in) & 1 ? " AND ef = 0" : " AND ef = 100001");
      refuse_at_filter(&e, "an invalid ef");
      break;
    default:
      break;
  }
  int nTerm = fz_range(in, 0, 6);
  for (int i = 0; i < nTerm; i++) put_term(in, sTerms, sBin, bV, &e);
  if (bV && !e.bPartition) refuse(&e, "no partition");
  QVec q;
  make_qvec(in, &q, &e);
  int bOrder = fz_u8(in) & 1;
  int nLimit = fz_range(in, -1, 10);

  char *zTerms = sqlite3_str_finish(sTerms);
  char *zBin = sqlite3_str_finish(sBin);
  char *zKnn = sqlite3_str_finish(sKnn);
  const char *zT = zTerms ? zTerms : "", *zTBin = zBin ? zBin : "";
  char zLimit[32] = "";
  if (nLimit >= 0) snprintf(zLimit, sizeof zLimit, " LIMIT %d", nLimit);
  char *zSql = sqlite3_mprintf("SELECT rowid, distance FROM %s WHERE embedding MATCH ?1%s%s%s%s", zTable, zKnn, zT,
                               bOrder ? " ORDER BY distance" : "", zLimit);
  /* The reference: the mirror, every term the same text (T), or T'. */
  char *zSub = sqlite3_mprintf("(SELECT id AS rowid, %s cat, n, score, flag, body, embedding, "
                               "vg_distance(embedding, ?1, '%s') AS distance FROM ref_%s)",
                               bV ? "tenant," : "", bV ? "l2" : "ip", zTable);
  char *zRef = sqlite3_mprintf("SELECT rowid, distance FROM %s WHERE 1%s ORDER BY distance, rowid LIMIT %d", zSub,
                               e.bNeCollate ? zTBin : zT, k);
  char *zAll = sqlite3_mprintf("SELECT rowid, distance FROM %s WHERE 1%s ORDER BY distance, rowid", zSub, zT);
  char *zCount = sqlite3_mprintf("SELECT count(*), 0.0 FROM %s WHERE 1%s", zSub, zT);
  char *zCountBin = sqlite3_mprintf("SELECT count(*), 0.0 FROM %s WHERE 1%s", zSub, zTBin);

  Rows got, again, want, all, count;
  if (fz_trace()) {
    fprintf(stderr, "query (vector");
    for (int d = 0; d < q.n; d++) fprintf(stderr, " %.9g", (double)q.a[d]);
    fprintf(stderr, "%s): %s\n", q.bNull ? " NULL" : "", zSql);
  }
  int rc = run_query(db, zSql, &q, &got);
  /* An empty IN list makes SQLite drop the table from the plan: nothing
  ** checks the query at all. */
  if (e.bRefuse && rc == SQLITE_DONE && got.n == 0 && strstr(zSql, "IN ()")) goto done;
  /* LIMIT 0 stops before the first xFilter. */
  if (e.bRefuse && e.bAtFilter && rc == SQLITE_DONE && nLimit == 0) goto done;
  if (e.bRefuse && e.bAtFilter && rc == SQLITE_DONE && got.n == 0) {
    /* SQLite skips the scan, and with it xFilter's checks, when it can tell
    ** from the constants that nothing matches (an empty IN list, tenant = 'a'
    ** AND tenant = 'b'); then the mirror has no matching row either. */
    QVec dummy = {{1, 1, 1, 1}, DIMS, 0, 0};
    FZ_CHECK(run_query(db, zCount, &dummy, &count) == SQLITE_DONE && count.n == 1);
    if (count.aId[0] == 0) goto done;
  }
  if (e.bRefuse) {
    FZ_CHECKF(rc != SQLITE_DONE, "accepted a query that must be refused (%s): %s", e.zWhy, zSql);
    FZ_CHECKF(fz_is_message(sqlite3_errmsg(db)) && strcmp(sqlite3_errmsg(db), "not an error") != 0,
              "a refusal without a message: %s", zSql);
    goto done;
  }
  FZ_CHECKF(rc == SQLITE_DONE, "refused a valid query: %s\n  %s", sqlite3_errmsg(db), zSql);
  int rc2 = run_query(db, zSql, &q, &again);
  FZ_CHECKF(rc2 == SQLITE_DONE, "the second run failed: %s\n  %s", sqlite3_errmsg(db), zSql);
  FZ_CHECKF(again.n == got.n && memcmp(again.aId, got.aId, sizeof(sqlite3_int64) * (size_t)got.n) == 0,
            "the second run differs: %s", zSql);

  FZ_CHECKF(run_query(db, zRef, &q, &want) == SQLITE_DONE, "the reference failed: %s\n  %s", sqlite3_errmsg(db),
            zRef);
  FZ_CHECK(run_query(db, zAll, &q, &all) == SQLITE_DONE);
  FZ_CHECK(run_query(db, zCount, &q, &count) == SQLITE_DONE && count.n == 1);
  int nMatch = (int)count.aId[0];
  int nLim = nLimit >= 0 ? nLimit : MAXROWS;

  /* Every row matches T, with its true distance, in (distance, rowid) order. */
  for (int i = 0; i < got.n; i++) {
    double d = 0;
    FZ_CHECKF(has_row(&all, got.aId[i], &d), "row %lld does not match the terms: %s", got.aId[i], zSql);
    FZ_CHECKF(d == got.aDist[i], "row %lld at distance %.17g, expected %.17g: %s", got.aId[i], got.aDist[i], d, zSql);
    if (i > 0) {
      FZ_CHECKF(got.aDist[i - 1] < got.aDist[i] || (got.aDist[i - 1] == got.aDist[i] && got.aId[i - 1] < got.aId[i]),
                "rows out of order at %d: %s", i, zSql);
    }
  }

  /* What exact = 1 must give: the reference's rows (under T'; those of
  ** them that match T), the first L; and how many rows any search gives. */
  Rows exp;
  exp.n = 0;
  for (int i = 0; i < want.n && exp.n < nLim; i++) {
    double d = 0;
    if (e.bNeCollate && !has_row(&all, want.aId[i], &d)) continue;
    exp.aId[exp.n] = want.aId[i];
    exp.aDist[exp.n++] = want.aDist[i];
  }
  int nLo, nHi = nMatch < k ? nMatch : k;
  if (nHi > nLim) nHi = nLim;
  if (!e.bNeCollate) {
    nLo = nHi;
  } else {
    FZ_CHECK(run_query(db, zCountBin, &q, &count) == SQLITE_DONE && count.n == 1);
    int nMatchBin = (int)count.aId[0];
    FZ_CHECKF(nMatchBin >= nMatch, "checker: T' keeps %d rows, T %d: %s", nMatchBin, nMatch, zSql);
    nLo = (nMatchBin < k ? nMatchBin : k) - (nMatchBin - nMatch);
    if (nLo < 0) nLo = 0;
    if (nLo > nLim) nLo = nLim;
    if (fz_trace()) {
      fprintf(stderr, "  collated != / IS NOT: %d rows match T, %d T'; %d rows, %d to %d allowed, %d exact\n", nMatch,
              nMatchBin, got.n, nLo, nHi, exp.n);
    }
  }
  int bBad = got.n < nLo || got.n > nHi;
  if (bBad || exact == 1) {
    int bSame = got.n == exp.n;
    for (int i = 0; bSame && i < got.n; i++) bSame = got.aId[i] == exp.aId[i] && got.aDist[i] == exp.aDist[i];
    if (bBad || !bSame) {
      show_rows("got", &got);
      show_rows("exact", &exp);
      if (bBad) {
        fz_fail("%d rows, expected %d to %d (min(k, %d matching)%s):\n  %s\n  %s", got.n, nLo, nHi, nMatch,
                e.bNeCollate ? ", != / IS NOT under a collation" : "", zSql, zRef);
      }
      fz_fail("exact KNN differs from the reference:\n  %s\n  %s", zSql, zRef);
    }
  }
done:
  sqlite3_free(zSql);
  sqlite3_free(zRef);
  sqlite3_free(zAll);
  sqlite3_free(zCount);
  sqlite3_free(zCountBin);
  sqlite3_free(zSub);
  sqlite3_free(zTerms);
  sqlite3_free(zBin);
  sqlite3_free(zKnn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  build_template();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096) return 0;
  FzIn in = {data, size, 0};
  sqlite3 *db = open_copy();
  int nQuery = 1 + fz_range(&in, 0, 3);
  for (int i = 0; i < nQuery && in.i < in.n; i++) one_query(db, &in);
  sqlite3_close(db);
  return 0;
}
