/*
** fulltext.c — the full-text index of a vg_hnsw table (table.h, fulltext
** section): its shadow tables, keeping them equal to the rows, reading
** postings for a query, and the SQL function vg_fulltext_terms.
**
** For a table T with a fulltext column the index keeps, in T's schema:
**
**   T_ftstat  per partition: rows indexed (their text is not NULL), their
**             terms in all, and how many of them wait in T_ftpend
**   T_ftpost  posting-list chunks: (partition, term hash, first rowid) ->
**             count, bytes (fulltext.h; at most FT_CHUNK_BYTES), and the
**             largest tf and smallest row length in the chunk, which bound
**             its BM25 weights so that a query can pass over the chunk
**             without decoding it (lexical.c)
**   T_ftpend  rows written since the last merge, one record each: the
**             row's length and its terms with their counts
**
** Why a pending table: a row has ~100 distinct terms, and writing each into
** its posting list at once costs ~100 B-tree updates per row.  A new row is
** written once into T_ftpend instead; when a partition has FT_MERGE_ROWS
** pending rows, they are merged into T_ftpost together, each term's list
** touched once for all of them.  Queries read both.  All of it is SQL on
** shadow tables, inside the writing statement's transaction: a ROLLBACK (of
** a transaction, a savepoint or a failed statement) takes index and rows
** back together, with nothing held in memory to go stale.
**
** Erasure: the index holds term hashes and numbers, never the text; a
** deleted row's postings are cut out of their chunks, which are rewritten.
*/
#include "vector/vector.h"
#include "fulltext/fulltext.h"
#include "table/table.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* A chunk's bytes stay below this, so that its record fits in its page of
** a WITHOUT ROWID table at the default page size (4096: ~1000 bytes). */
#define FT_CHUNK_BYTES 900

static const char *const azSuffix[VG_FT_T_COUNT] = {"ftstat", "ftpost", "ftpend"};

int vg_fulltext_is_shadow_suffix(const char *zSuffix) {
  for (int i = 0; i < VG_FT_T_COUNT; i++) {
    if (sqlite3_stricmp(zSuffix, azSuffix[i]) == 0) return 1;
  }
  return 0;
}

int vg_fulltext_create(sqlite3 *db, const char *zSchema, const char *zName, char **pzErr) {
  char *zSql = sqlite3_mprintf(
      "CREATE TABLE \"%w\".\"%w_ftstat\"(part INTEGER PRIMARY KEY, n_rows INTEGER NOT NULL, "
      "n_terms INTEGER NOT NULL, n_pending INTEGER NOT NULL) STRICT;"
      "CREATE TABLE \"%w\".\"%w_ftpost\"(part INTEGER NOT NULL, term INTEGER NOT NULL, "
      "first INTEGER NOT NULL, n INTEGER NOT NULL, data BLOB NOT NULL, max_tf INTEGER NOT NULL, "
      "min_len INTEGER NOT NULL, PRIMARY KEY(part, term, first)) STRICT, WITHOUT ROWID;"
      "CREATE TABLE \"%w\".\"%w_ftpend\"(row INTEGER PRIMARY KEY, part INTEGER NOT NULL, "
      "data BLOB NOT NULL, UNIQUE(part, row)) STRICT;",
      zSchema, zName, zSchema, zName, zSchema, zName);
  if (zSql == 0) return SQLITE_NOMEM;
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) *pzErr = sqlite3_mprintf("%s", zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_free(zErr);
  return rc;
}

static void finalize_all(VgFulltext *f) {
  for (int i = 0; i < VG_FT_S_COUNT; i++) {
    sqlite3_finalize(f->aStmt[i]);
    f->aStmt[i] = 0;
  }
}

static int set_names(VgFulltext *f, const char *zName) {
  finalize_all(f);
  for (int i = 0; i < VG_FT_T_COUNT; i++) {
    sqlite3_free(f->azTable[i]);
    f->azTable[i] = sqlite3_mprintf("\"%w\".\"%w_%s\"", f->zSchema, zName, azSuffix[i]);
    if (f->azTable[i] == 0) return SQLITE_NOMEM;
  }
  char *z = sqlite3_mprintf("%s", zName);
  if (z == 0) return SQLITE_NOMEM;
  sqlite3_free(f->zName);
  f->zName = z;
  return SQLITE_OK;
}

int vg_fulltext_open(sqlite3 *db, const char *zSchema, const char *zName, VgFulltext **ppF) {
  VgFulltext *f = sqlite3_malloc64(sizeof(*f));
  *ppF = 0;
  if (f == 0) return SQLITE_NOMEM;
  memset(f, 0, sizeof(*f));
  f->db = db;
  f->zSchema = sqlite3_mprintf("%s", zSchema);
  int rc = f->zSchema ? set_names(f, zName) : SQLITE_NOMEM;
  if (rc != SQLITE_OK) {
    vg_fulltext_close(f);
    return rc;
  }
  *ppF = f;
  return SQLITE_OK;
}

void vg_fulltext_close(VgFulltext *f) {
  if (f == 0) return;
  finalize_all(f);
  for (int i = 0; i < VG_FT_T_COUNT; i++) sqlite3_free(f->azTable[i]);
  sqlite3_free(f->zName);
  sqlite3_free(f->zSchema);
  sqlite3_free(f);
}

static int exec_each_table(VgFulltext *f, const char *zFormat, const char *zNew, char **pzErr) {
  sqlite3_str *s = sqlite3_str_new(0);
  for (int i = 0; i < VG_FT_T_COUNT; i++) {
    sqlite3_str_appendf(s, zFormat, f->azTable[i], zNew, azSuffix[i]);
  }
  char *zSql = sqlite3_str_finish(s);
  if (zSql == 0) return SQLITE_NOMEM;
  finalize_all(f);
  char *zErr = 0;
  int rc = sqlite3_exec(f->db, zSql, 0, 0, &zErr);
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) *pzErr = sqlite3_mprintf("%s", zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_free(zErr);
  return rc;
}

int vg_fulltext_drop(VgFulltext *f, char **pzErr) {
  return exec_each_table(f, "DROP TABLE IF EXISTS %s;%.0s%.0s", "", pzErr);
}

int vg_fulltext_rename(VgFulltext *f, const char *zNewName, char **pzErr) {
  int rc = exec_each_table(f, "ALTER TABLE %s RENAME TO \"%w_%s\";", zNewName, pzErr);
  if (rc == SQLITE_OK) rc = set_names(f, zNewName);
  return rc;
}

/* ---- statements --------------------------------------------------------- */

static char *stmt_sql(VgFulltext *f, int e) {
  const char *S = f->azTable[VG_FT_T_STAT], *P = f->azTable[VG_FT_T_POST],
             *Q = f->azTable[VG_FT_T_PEND];
  switch (e) {
    case VG_FT_S_STAT_GET:
      return sqlite3_mprintf("SELECT n_rows, n_terms, n_pending FROM %s WHERE part = ?1", S);
    case VG_FT_S_STAT_SET:
      return sqlite3_mprintf(
          "INSERT OR REPLACE INTO %s(part, n_rows, n_terms, n_pending) VALUES (?1, ?2, ?3, ?4)", S);
    case VG_FT_S_STAT_DEL:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1", S);
    case VG_FT_S_PEND_ADD:
      return sqlite3_mprintf("INSERT INTO %s(row, part, data) VALUES (?1, ?2, ?3)", Q);
    case VG_FT_S_PEND_GET:
      return sqlite3_mprintf("SELECT part FROM %s WHERE row = ?1", Q);
    case VG_FT_S_PEND_DEL:
      return sqlite3_mprintf("DELETE FROM %s WHERE row = ?1", Q);
    case VG_FT_S_PEND_LIST:
      return sqlite3_mprintf("SELECT row, data FROM %s WHERE part = ?1 ORDER BY row", Q);
    case VG_FT_S_PEND_CLEAR:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1", Q);
    case VG_FT_S_POST_LIST:
      return sqlite3_mprintf(
          "SELECT first, n, data, max_tf, min_len FROM %s WHERE part = ?1 AND term = ?2 AND "
          "first >= ?3 ORDER BY first",
          P);
    case VG_FT_S_POST_AT:
      return sqlite3_mprintf(
          "SELECT first, n, data, max_tf, min_len FROM %s WHERE part = ?1 AND term = ?2 AND "
          "first <= ?3 ORDER BY first DESC LIMIT 1",
          P);
    case VG_FT_S_POST_CUT:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1 AND term = ?2 AND first >= ?3", P);
    case VG_FT_S_POST_DEL:
      return sqlite3_mprintf("DELETE FROM %s WHERE part = ?1 AND term = ?2 AND first = ?3", P);
    case VG_FT_S_POST_PUT:
      return sqlite3_mprintf(
          "INSERT INTO %s(part, term, first, n, data, max_tf, min_len) VALUES (?1, ?2, ?3, ?4, ?5, "
          "?6, ?7)",
          P);
    default:
      return 0;
  }
}

/* Statement e, prepared on first use and kept; reset and unbound. */
static int ft_stmt(VgFulltext *f, int e, sqlite3_stmt **pp, char **pzErr) {
  if (f->aStmt[e] == 0) {
    char *zSql = stmt_sql(f, e);
    if (zSql == 0) return SQLITE_NOMEM;
    int rc = sqlite3_prepare_v3(f->db, zSql, -1, SQLITE_PREPARE_PERSISTENT, &f->aStmt[e], 0);
    sqlite3_free(zSql);
    if (rc != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("%s: full-text index: %s", f->zName, sqlite3_errmsg(f->db));
      return rc;
    }
  }
  *pp = f->aStmt[e];
  return SQLITE_OK;
}

static int ft_error(VgFulltext *f, int rc, char **pzErr) {
  if (*pzErr == 0) *pzErr = sqlite3_mprintf("%s: full-text index: %s", f->zName, sqlite3_errmsg(f->db));
  return rc;
}

static int ft_corrupt(VgFulltext *f, char **pzErr, const char *zWhat, sqlite3_int64 id) {
  sqlite3_free(*pzErr);
  *pzErr = sqlite3_mprintf("%s: the full-text index is corrupt: %s (%lld); vg_hnsw_check('%s') "
                           "reports what else is wrong",
                           f->zName, zWhat, id, f->zName);
  return SQLITE_CORRUPT_VTAB;
}

/* Run a statement that returns no rows, then reset it. */
static int ft_run(VgFulltext *f, sqlite3_stmt *pStmt, char **pzErr) {
  int rc = sqlite3_step(pStmt);
  sqlite3_reset(pStmt);
  if (rc == SQLITE_DONE) return SQLITE_OK;
  return ft_error(f, rc == SQLITE_ROW ? SQLITE_INTERNAL : rc, pzErr);
}

/* ---- a text's terms ----------------------------------------------------- */

/* A text's distinct terms (VgFtTerm: hash and count), by hash. */
typedef struct TermBag {
  VgFtTerm *a;
  int n, nAlloc;
  uint32_t len; /* terms in all, repeats counted */
} TermBag;

/* Room for n terms in b (its array kept from one use to the next). */
static int bag_room(TermBag *b, int n) {
  if (n <= b->nAlloc) return SQLITE_OK;
  int nNew = b->nAlloc ? 2 * b->nAlloc : 64;
  while (nNew < n) nNew *= 2;
  VgFtTerm *aNew = sqlite3_realloc64(b->a, sizeof(VgFtTerm) * (size_t)nNew);
  if (aNew == 0) return SQLITE_NOMEM;
  b->a = aNew;
  b->nAlloc = nNew;
  return SQLITE_OK;
}

static int bag_add(void *pCtx, const char *z, int n) {
  TermBag *b = pCtx;
  if (bag_room(b, b->n + 1) != SQLITE_OK) return FT_NOMEM;
  b->a[b->n].hash = ft_term_hash(z, n);
  b->a[b->n].tf = 1;
  b->n++;
  if (b->len < UINT32_MAX) b->len++;
  return FT_OK;
}

static int cmp_term(const void *x, const void *y) {
  int64_t a = ((const VgFtTerm *)x)->hash, b = ((const VgFtTerm *)y)->hash;
  return a < b ? -1 : a > b;
}

/* Tokenize z[0, n) into b: distinct hashes, sorted, with their counts. */
static int bag_fill(TermBag *b, const char *z, int n) {
  memset(b, 0, sizeof(*b));
  int rc = ft_tokenize(z, n, bag_add, b);
  if (rc != FT_OK) return SQLITE_NOMEM;
  if (b->n == 0) return SQLITE_OK;
  qsort(b->a, (size_t)b->n, sizeof(VgFtTerm), cmp_term);
  int j = 0;
  for (int i = 1; i < b->n; i++) {
    if (b->a[i].hash == b->a[j].hash) {
      b->a[j].tf++;
    } else {
      b->a[++j] = b->a[i];
    }
  }
  b->n = j + 1;
  return SQLITE_OK;
}

static void bag_free(TermBag *b) { sqlite3_free(b->a); }

/* A pending record: varint len, varint count, then per term its hash (8
** bytes, little-endian) and varint tf, by hash. */
static unsigned char *pending_encode(const TermBag *b, int *pnByte) {
  unsigned char *p = sqlite3_malloc64((size_t)(2 + b->n) * (8 + FT_VARINT_MAX));
  if (p == 0) return 0;
  int n = ft_varint_put(p, b->len);
  n += ft_varint_put(p + n, (uint64_t)b->n);
  for (int i = 0; i < b->n; i++) {
    uint64_t h = (uint64_t)b->a[i].hash;
    for (int k = 0; k < 8; k++) p[n++] = (unsigned char)(h >> (8 * k));
    n += ft_varint_put(p + n, b->a[i].tf);
  }
  *pnByte = n;
  return p;
}

/* Decode a pending record into b, whose array is reused: SQLITE_OK, -1 if
** the record is damaged (a record holds at least one term), or
** SQLITE_NOMEM. */
static int pending_decode(const unsigned char *p, int nByte, TermBag *b) {
  uint64_t len, count;
  b->n = 0;
  int off = ft_varint_get(p, nByte, &len);
  int k = off ? ft_varint_get(p + off, nByte - off, &count) : 0;
  if (k == 0 || len > UINT32_MAX || count < 1 || count > (uint64_t)nByte) return -1;
  off += k;
  b->len = (uint32_t)len;
  if (bag_room(b, (int)count) != SQLITE_OK) return SQLITE_NOMEM;
  uint64_t sum = 0;
  for (uint64_t i = 0; i < count; i++) {
    if (nByte - off < 8) return -1;
    uint64_t h = 0;
    for (int j = 0; j < 8; j++) h |= (uint64_t)p[off + j] << (8 * j);
    off += 8;
    uint64_t tf;
    if ((k = ft_varint_get(p + off, nByte - off, &tf)) == 0 || tf < 1 || tf > len) return -1;
    off += k;
    if (i > 0 && (int64_t)h <= b->a[i - 1].hash) return -1;
    b->a[i].hash = (int64_t)h;
    b->a[i].tf = (uint32_t)tf;
    sum += tf;
  }
  b->n = (int)count;
  return off == nByte && sum == len ? SQLITE_OK : -1;
}

/* ---- statistics ----------------------------------------------------------- */

int vg_fulltext_stat(VgFulltext *f, sqlite3_int64 part, VgFtStat *pStat, char **pzErr) {
  sqlite3_stmt *s;
  memset(pStat, 0, sizeof(*pStat));
  int rc = ft_stmt(f, VG_FT_S_STAT_GET, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    pStat->nRows = sqlite3_column_int64(s, 0);
    pStat->nTerms = sqlite3_column_int64(s, 1);
    pStat->nPending = sqlite3_column_int64(s, 2);
    rc = SQLITE_OK;
    if (pStat->nRows < 0 || pStat->nTerms < 0 || pStat->nPending < 0 ||
        pStat->nPending > pStat->nRows) {
      rc = ft_corrupt(f, pzErr, "impossible counts in the partition's statistics", part);
    }
  } else if (rc == SQLITE_DONE) {
    rc = SQLITE_OK;
  } else {
    rc = ft_error(f, rc, pzErr);
  }
  sqlite3_reset(s);
  return rc;
}

static int stat_save(VgFulltext *f, sqlite3_int64 part, const VgFtStat *st, char **pzErr) {
  sqlite3_stmt *s;
  int rc = ft_stmt(f, st->nRows ? VG_FT_S_STAT_SET : VG_FT_S_STAT_DEL, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  if (st->nRows) {
    sqlite3_bind_int64(s, 2, st->nRows);
    sqlite3_bind_int64(s, 3, st->nTerms);
    sqlite3_bind_int64(s, 4, st->nPending);
  }
  return ft_run(f, s, pzErr);
}

/* ---- posting lists -------------------------------------------------------- */

/* Room in *pa for nWant elements of szElem bytes; *pnAlloc counts them. */
static int grow(void **pa, size_t *pnAlloc, size_t nWant, size_t szElem) {
  if (nWant <= *pnAlloc) return SQLITE_OK;
  size_t nNew = *pnAlloc ? 2 * *pnAlloc : 64;
  while (nNew < nWant) nNew *= 2;
  void *aNew = sqlite3_realloc64(*pa, nNew * szElem);
  if (aNew == 0) return SQLITE_NOMEM;
  *pa = aNew;
  *pnAlloc = nNew;
  return SQLITE_OK;
}

typedef struct PostBuf {
  FtPosting *a;
  int n;
  size_t nAlloc;
} PostBuf;

static int postbuf_room(PostBuf *p, int nMore) {
  return grow((void **)&p->a, &p->nAlloc, (size_t)p->n + (size_t)nMore, sizeof(FtPosting));
}

/* The largest tf and the smallest length of a[0, n), n > 0. */
static void postings_bounds(const FtPosting *a, int n, uint32_t *pMaxTf, uint32_t *pMinLen) {
  uint32_t maxTf = a[0].tf, minLen = a[0].len;
  for (int i = 1; i < n; i++) {
    if (a[i].tf > maxTf) maxTf = a[i].tf;
    if (a[i].len < minLen) minLen = a[i].len;
  }
  *pMaxTf = maxTf;
  *pMinLen = minLen;
}

/* Decode chunk c into a[0, c->n): 0, or -1 when its bytes are damaged or
** its bounds are not exactly its postings' (a query trusts them to skip). */
static int chunk_decode(const VgFtChunk *c, const unsigned char *z, FtPosting *a) {
  uint32_t maxTf, minLen;
  if (ft_postings_decode(z, c->nByte, c->first, c->n, a) != 0) return -1;
  postings_bounds(a, c->n, &maxTf, &minLen);
  return maxTf == c->maxTf && minLen == c->minLen ? 0 : -1;
}

/* The chunk the row s of VG_FT_S_POST_LIST (or _AT) holds, its bytes left in s. */
static int chunk_read(VgFulltext *f, sqlite3_stmt *s, sqlite3_int64 part, VgFtChunk *c,
                      const unsigned char **pz, char **pzErr) {
  sqlite3_int64 n = sqlite3_column_int64(s, 1);
  sqlite3_int64 maxTf = sqlite3_column_int64(s, 3), minLen = sqlite3_column_int64(s, 4);
  *pz = sqlite3_column_blob(s, 2);
  memset(c, 0, sizeof(*c));
  c->first = sqlite3_column_int64(s, 0);
  c->nByte = sqlite3_column_bytes(s, 2);
  if (n < 1 || n > c->nByte || maxTf < 1 || maxTf > UINT32_MAX || minLen < 1 || minLen > UINT32_MAX) {
    return ft_corrupt(f, pzErr, "a posting chunk of partition", part);
  }
  c->n = (int)n;
  c->maxTf = (uint32_t)maxTf;
  c->minLen = (uint32_t)minLen;
  return SQLITE_OK;
}

/* Append the postings of the chunk on the current row of s to p, whose
** postings from iList on are the same list's. */
static int postbuf_read_chunk(VgFulltext *f, sqlite3_stmt *s, sqlite3_int64 part, PostBuf *p,
                              int iList, char **pzErr) {
  VgFtChunk c;
  const unsigned char *z;
  int rc = chunk_read(f, s, part, &c, &z, pzErr);
  if (rc == SQLITE_OK) rc = postbuf_room(p, c.n);
  if (rc != SQLITE_OK) return rc;
  if (chunk_decode(&c, z, p->a + p->n) != 0 || (p->n > iList && p->a[p->n].rowid <= p->a[p->n - 1].rowid)) {
    return ft_corrupt(f, pzErr, "a posting chunk of partition", part);
  }
  p->n += c.n;
  return SQLITE_OK;
}

/* Bytes posting j takes in a chunk that starts at posting i. */
static int posting_bytes(const FtPosting *a, int i, int j) {
  return j == i ? ft_postings_size(a + j, 1) : ft_postings_size(a + j - 1, 2) - ft_postings_size(a + j - 1, 1);
}

/* Write a[0, n) as chunks of term in part, each below FT_CHUNK_BYTES. */
static int write_chunks(VgFulltext *f, sqlite3_int64 part, int64_t term, const FtPosting *a, int n,
                        char **pzErr) {
  unsigned char buf[FT_CHUNK_BYTES + FT_POSTING_MAX];
  sqlite3_stmt *s;
  int rc = ft_stmt(f, VG_FT_S_POST_PUT, &s, pzErr);
  int i = 0;
  while (rc == SQLITE_OK && i < n) {
    int j = i, nByte = 0;
    /* Postings go in until the next would pass the limit; one always does. */
    while (j < n) {
      int nOne = posting_bytes(a, i, j);
      if (j > i && nByte + nOne > FT_CHUNK_BYTES) break;
      nByte += nOne;
      j++;
    }
    int nEnc = ft_postings_encode(a + i, j - i, buf);
    uint32_t maxTf, minLen;
    postings_bounds(a + i, j - i, &maxTf, &minLen);
    sqlite3_bind_int64(s, 1, part);
    sqlite3_bind_int64(s, 2, term);
    sqlite3_bind_int64(s, 3, a[i].rowid);
    sqlite3_bind_int(s, 4, j - i);
    sqlite3_bind_blob(s, 5, buf, nEnc, SQLITE_STATIC);
    sqlite3_bind_int64(s, 6, maxTf);
    sqlite3_bind_int64(s, 7, minLen);
    rc = ft_run(f, s, pzErr);
    i = j;
  }
  return rc;
}

static int cmp_posting(const void *x, const void *y) {
  int64_t a = ((const FtPosting *)x)->rowid, b = ((const FtPosting *)y)->rowid;
  return a < b ? -1 : a > b;
}

/* a[0, na) and b[0, nb), each sorted, merged into *pOut; a rowid in both is
** damage. */
static int postings_merge(VgFulltext *f, const FtPosting *a, int na, const FtPosting *b, int nb, PostBuf *pOut,
                          char **pzErr) {
  pOut->n = 0;
  int rc = postbuf_room(pOut, na + nb);
  if (rc != SQLITE_OK) return rc;
  int i = 0, j = 0;
  while (i < na || j < nb) {
    if (j >= nb || (i < na && a[i].rowid < b[j].rowid)) {
      pOut->a[pOut->n++] = a[i++];
    } else {
      if (i < na && a[i].rowid == b[j].rowid) return ft_corrupt(f, pzErr, "a row indexed twice, rowid", b[j].rowid);
      pOut->a[pOut->n++] = b[j++];
    }
  }
  return SQLITE_OK;
}

/* Merge a[0, n) (sorted, rowids not yet in the list) into term's list:
** the chunks from the one holding a[0].rowid on are read, merged with a,
** deleted and written again. */
static int list_merge(VgFulltext *f, sqlite3_int64 part, int64_t term, const FtPosting *a, int n,
                      PostBuf *pOld, PostBuf *pAll, char **pzErr) {
  sqlite3_stmt *s;
  sqlite3_int64 from = a[0].rowid;
  int rc = ft_stmt(f, VG_FT_S_POST_AT, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  sqlite3_bind_int64(s, 2, term);
  sqlite3_bind_int64(s, 3, from);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) from = sqlite3_column_int64(s, 0);
  sqlite3_reset(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return ft_error(f, rc, pzErr);
  pOld->n = 0;
  rc = ft_stmt(f, VG_FT_S_POST_LIST, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  sqlite3_bind_int64(s, 2, term);
  sqlite3_bind_int64(s, 3, from);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    rc = postbuf_read_chunk(f, s, part, pOld, 0, pzErr);
    if (rc != SQLITE_OK) break;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE && rc != SQLITE_OK) return *pzErr ? rc : ft_error(f, rc, pzErr);
  rc = postings_merge(f, pOld->a, pOld->n, a, n, pAll, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (pOld->n > 0) {
    rc = ft_stmt(f, VG_FT_S_POST_CUT, &s, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(s, 1, part);
    sqlite3_bind_int64(s, 2, term);
    sqlite3_bind_int64(s, 3, from);
    rc = ft_run(f, s, pzErr);
    if (rc != SQLITE_OK) return rc;
  }
  return write_chunks(f, part, term, pAll->a, pAll->n, pzErr);
}

/* One posting of a pending row, with the term it is for. */
typedef struct PendPosting {
  int64_t term;
  FtPosting p;
} PendPosting;

static int cmp_pend(const void *x, const void *y) {
  const PendPosting *a = x, *b = y;
  if (a->term != b->term) return a->term < b->term ? -1 : 1;
  return a->p.rowid < b->p.rowid ? -1 : a->p.rowid > b->p.rowid;
}

/* The postings part's pending records hold: all of them (aTerm 0), or
** those of the sorted terms aTerm[0, nTerm); sorted by term, then rowid,
** into *paOut (from sqlite3_malloc).  *pnRecord counts the records.  A
** damaged record is an error, unless pnBad is given: then it is counted
** there and skipped (vg_hnsw_check). */
static int pending_postings(VgFulltext *f, sqlite3_int64 part, const VgFtTerm *aTerm, int nTerm,
                            PendPosting **paOut, size_t *pnOut, sqlite3_int64 *pnRecord,
                            sqlite3_int64 *pnBad, char **pzErr) {
  sqlite3_stmt *s;
  PendPosting *a = 0;
  size_t n = 0, nAlloc = 0;
  TermBag b = {0, 0, 0, 0};
  *paOut = 0;
  *pnOut = 0;
  int rc = ft_stmt(f, VG_FT_S_PEND_LIST, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  int step = SQLITE_DONE;
  while (rc == SQLITE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    sqlite3_int64 row = sqlite3_column_int64(s, 0);
    if (pnRecord) (*pnRecord)++;
    rc = pending_decode(sqlite3_column_blob(s, 1), sqlite3_column_bytes(s, 1), &b);
    if (rc != SQLITE_OK && rc != SQLITE_NOMEM) {
      if (pnBad == 0) {
        rc = ft_corrupt(f, pzErr, "a pending record, rowid", row);
        break;
      }
      (*pnBad)++;
      rc = SQLITE_OK;
      continue;
    }
    if (rc == SQLITE_OK) rc = grow((void **)&a, &nAlloc, n + (size_t)b.n, sizeof(PendPosting));
    if (rc != SQLITE_OK) break;
    /* Both lists are sorted by hash: walk them together. */
    for (int i = 0, j = 0; rc == SQLITE_OK && i < b.n && (aTerm == 0 || j < nTerm);) {
      if (aTerm && b.a[i].hash < aTerm[j].hash) {
        i++;
      } else if (aTerm && b.a[i].hash > aTerm[j].hash) {
        j++;
      } else {
        PendPosting *pp = &a[n++];
        pp->term = b.a[i].hash;
        pp->p.rowid = row;
        pp->p.tf = b.a[i].tf;
        pp->p.len = b.len;
        i++;
        j++;
      }
    }
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) rc = ft_error(f, step, pzErr);
  sqlite3_reset(s);
  bag_free(&b);
  if (rc != SQLITE_OK) {
    sqlite3_free(a);
    return rc;
  }
  if (n > 1) qsort(a, n, sizeof(PendPosting), cmp_pend);
  *paOut = a;
  *pnOut = n;
  return SQLITE_OK;
}

/* Move every pending row of part into the posting lists. */
static int merge_pending(VgFulltext *f, sqlite3_int64 part, char **pzErr) {
  sqlite3_stmt *s;
  PendPosting *a = 0;
  size_t n = 0;
  PostBuf one = {0, 0, 0}, old = {0, 0, 0}, all = {0, 0, 0};
  int rc = pending_postings(f, part, 0, 0, &a, &n, 0, 0, pzErr);
  for (size_t i = 0; rc == SQLITE_OK && i < n;) {
    size_t j = i;
    one.n = 0;
    while (j < n && a[j].term == a[i].term) j++;
    rc = postbuf_room(&one, (int)(j - i));
    for (size_t k = i; rc == SQLITE_OK && k < j; k++) one.a[one.n++] = a[k].p;
    if (rc == SQLITE_OK) rc = list_merge(f, part, a[i].term, one.a, one.n, &old, &all, pzErr);
    i = j;
  }
  if (rc == SQLITE_OK) rc = ft_stmt(f, VG_FT_S_PEND_CLEAR, &s, pzErr);
  if (rc == SQLITE_OK) {
    sqlite3_bind_int64(s, 1, part);
    rc = ft_run(f, s, pzErr);
  }
  sqlite3_free(a);
  sqlite3_free(one.a);
  sqlite3_free(old.a);
  sqlite3_free(all.a);
  return rc;
}

/* Cut rowid out of term's list in part. */
static int list_remove(VgFulltext *f, sqlite3_int64 part, int64_t term, sqlite3_int64 rowid,
                       PostBuf *pBuf, char **pzErr) {
  sqlite3_stmt *s;
  int rc = ft_stmt(f, VG_FT_S_POST_AT, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  sqlite3_bind_int64(s, 2, term);
  sqlite3_bind_int64(s, 3, rowid);
  pBuf->n = 0;
  sqlite3_int64 first = 0;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    first = sqlite3_column_int64(s, 0);
    rc = postbuf_read_chunk(f, s, part, pBuf, 0, pzErr);
  } else if (rc == SQLITE_DONE) {
    rc = ft_corrupt(f, pzErr, "a row's term is missing from its posting list, rowid", rowid);
  } else {
    rc = ft_error(f, rc, pzErr);
  }
  sqlite3_reset(s);
  if (rc != SQLITE_OK) return rc;
  FtPosting key = {rowid, 0, 0};
  FtPosting *hit = bsearch(&key, pBuf->a, (size_t)pBuf->n, sizeof(FtPosting), cmp_posting);
  if (hit == 0) return ft_corrupt(f, pzErr, "a row's term is missing from its posting list, rowid", rowid);
  memmove(hit, hit + 1, sizeof(FtPosting) * (size_t)(pBuf->n - (hit - pBuf->a) - 1));
  pBuf->n--;
  /* The chunk goes, and what is left of it is written back (under a new
  ** first rowid when its first posting went). */
  rc = ft_stmt(f, VG_FT_S_POST_DEL, &s, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(s, 1, part);
  sqlite3_bind_int64(s, 2, term);
  sqlite3_bind_int64(s, 3, first);
  rc = ft_run(f, s, pzErr);
  if (rc == SQLITE_OK && pBuf->n > 0) rc = write_chunks(f, part, term, pBuf->a, pBuf->n, pzErr);
  return rc;
}

/* ---- keeping the index equal to the rows -------------------------------- */

int vg_fulltext_add(VgFulltext *f, sqlite3_int64 part, sqlite3_int64 rowid, const char *z, int n,
                    char **pzErr) {
  TermBag b;
  VgFtStat st;
  int rc = bag_fill(&b, z, n);
  if (rc == SQLITE_OK) rc = vg_fulltext_stat(f, part, &st, pzErr);
  if (rc == SQLITE_OK && b.n > 0) {
    int nByte = 0;
    unsigned char *p = pending_encode(&b, &nByte);
    sqlite3_stmt *s;
    rc = p ? ft_stmt(f, VG_FT_S_PEND_ADD, &s, pzErr) : SQLITE_NOMEM;
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(s, 1, rowid);
      sqlite3_bind_int64(s, 2, part);
      sqlite3_bind_blob(s, 3, p, nByte, SQLITE_STATIC);
      rc = ft_run(f, s, pzErr);
      sqlite3_bind_null(s, 3);
    }
    sqlite3_free(p);
    st.nPending++;
  }
  if (rc == SQLITE_OK) {
    st.nRows++;
    st.nTerms += b.len;
    if (st.nPending >= VG_FT_MERGE_ROWS) {
      rc = merge_pending(f, part, pzErr);
      st.nPending = 0;
    }
  }
  if (rc == SQLITE_OK) rc = stat_save(f, part, &st, pzErr);
  bag_free(&b);
  return rc;
}

int vg_fulltext_remove(VgFulltext *f, sqlite3_int64 part, sqlite3_int64 rowid, const char *z,
                       int n, char **pzErr) {
  TermBag b;
  VgFtStat st;
  PostBuf buf = {0, 0, 0};
  int rc = bag_fill(&b, z, n);
  if (rc == SQLITE_OK) rc = vg_fulltext_stat(f, part, &st, pzErr);
  if (rc == SQLITE_OK && (st.nRows < 1 || st.nTerms < b.len)) {
    rc = ft_corrupt(f, pzErr, "a row missing from the statistics, rowid", rowid);
  }
  if (rc == SQLITE_OK && b.n > 0) {
    sqlite3_stmt *s;
    int bPending = 0;
    rc = ft_stmt(f, VG_FT_S_PEND_GET, &s, pzErr);
    if (rc == SQLITE_OK) {
      sqlite3_bind_int64(s, 1, rowid);
      rc = sqlite3_step(s);
      bPending = rc == SQLITE_ROW && sqlite3_column_int64(s, 0) == part;
      rc = (rc == SQLITE_ROW || rc == SQLITE_DONE) ? SQLITE_OK : ft_error(f, rc, pzErr);
      sqlite3_reset(s);
    }
    if (rc == SQLITE_OK && bPending) {
      rc = ft_stmt(f, VG_FT_S_PEND_DEL, &s, pzErr);
      if (rc == SQLITE_OK) {
        sqlite3_bind_int64(s, 1, rowid);
        rc = ft_run(f, s, pzErr);
      }
      st.nPending--;
    } else {
      for (int i = 0; rc == SQLITE_OK && i < b.n; i++) {
        rc = list_remove(f, part, b.a[i].hash, rowid, &buf, pzErr);
      }
    }
  }
  if (rc == SQLITE_OK) {
    st.nRows--;
    st.nTerms -= b.len;
    rc = stat_save(f, part, &st, pzErr);
  }
  sqlite3_free(buf.a);
  bag_free(&b);
  return rc;
}

/* ---- reading for a query -------------------------------------------------- */

int vg_fulltext_query_terms(const char *z, int n, VgFtTerm **paTerm, int *pnTerm) {
  TermBag b;
  *paTerm = 0;
  *pnTerm = 0;
  int rc = bag_fill(&b, z, n);
  if (rc != SQLITE_OK || b.n == 0) {
    bag_free(&b);
    return rc;
  }
  *paTerm = b.a; /* the bag's array becomes the caller's */
  *pnTerm = b.n;
  return SQLITE_OK;
}

/* The arrays of a VgFtPostings being filled: in use and allocated. */
typedef struct ListsBuf {
  VgFtPostings *p;
  int nChunk;
  size_t nChunkAlloc, nByte, nByteAlloc, nPost, nPostAlloc;
} ListsBuf;

static VgFtChunk *lists_chunk_add(ListsBuf *b) {
  if (b->nChunk == INT_MAX) return 0;
  if (grow((void **)&b->p->aChunk, &b->nChunkAlloc, (size_t)b->nChunk + 1, sizeof(VgFtChunk)) != SQLITE_OK) {
    return 0;
  }
  return &b->p->aChunk[b->nChunk++];
}

/* Append a[0, n) (sorted) to b as decoded chunks of at most
** FT_DECODED_CHUNK postings, each with its bounds. */
#define FT_DECODED_CHUNK 256
static int lists_add_decoded(ListsBuf *b, const FtPosting *a, int n) {
  int rc = grow((void **)&b->p->aPost, &b->nPostAlloc, b->nPost + (size_t)n, sizeof(FtPosting));
  if (rc != SQLITE_OK) return rc;
  memcpy(b->p->aPost + b->nPost, a, sizeof(FtPosting) * (size_t)n);
  for (int i = 0; i < n; i += FT_DECODED_CHUNK) {
    VgFtChunk *c = lists_chunk_add(b);
    if (c == 0) return SQLITE_NOMEM;
    memset(c, 0, sizeof(*c));
    c->n = n - i < FT_DECODED_CHUNK ? n - i : FT_DECODED_CHUNK;
    c->first = a[i].rowid;
    c->iData = b->nPost + (size_t)i;
    postings_bounds(a + i, c->n, &c->maxTf, &c->minLen);
  }
  b->nPost += (size_t)n;
  return SQLITE_OK;
}

/* Merge a term's pending postings aPend[0, nPend) (sorted) into its chunks
** b->p->aChunk[iFirst, b->nChunk): the chunks from the last that starts
** below the first pending rowid on are decoded, merged with them and
** replaced by decoded chunks.  New rows come last, so that is usually the
** list's last chunk. */
static int lists_add_pending(ListsBuf *b, int iFirst, const PendPosting *aPend, int nPend, PostBuf *pOld,
                             PostBuf *pAll, char **pzErr) {
  VgFtPostings *p = b->p;
  int iFrom = b->nChunk;
  while (iFrom > iFirst && p->aChunk[iFrom - 1].first >= aPend[0].p.rowid) iFrom--;
  if (iFrom > iFirst) iFrom--;
  pOld->n = 0;
  for (int i = iFrom; i < b->nChunk; i++) {
    const VgFtChunk *c = &p->aChunk[i];
    const FtPosting *a;
    int rc = postbuf_room(pOld, c->n);
    if (rc == SQLITE_OK) {
      rc = vg_fulltext_chunk(p, c, i + 1 < b->nChunk ? c + 1 : 0, pOld->a + pOld->n, &a, pzErr);
    }
    if (rc != SQLITE_OK) return rc;
    if (a != pOld->a + pOld->n) memcpy(pOld->a + pOld->n, a, sizeof(FtPosting) * (size_t)c->n);
    pOld->n += c->n;
  }
  /* The pending postings after them in pOld, then the two runs merged. */
  int nOld = pOld->n, rc = postbuf_room(pOld, nPend);
  for (int j = 0; rc == SQLITE_OK && j < nPend; j++) pOld->a[pOld->n++] = aPend[j].p;
  if (rc == SQLITE_OK) rc = postings_merge(p->f, pOld->a, nOld, pOld->a + nOld, nPend, pAll, pzErr);
  if (rc != SQLITE_OK) return rc;
  b->nChunk = iFrom;
  return lists_add_decoded(b, pAll->a, pAll->n);
}

int vg_fulltext_postings(VgFulltext *f, sqlite3_int64 part, const VgFtTerm *aTerm, int nTerm,
                         VgFtPostings *pOut, char **pzErr) {
  sqlite3_stmt *s;
  PostBuf old = {0, 0, 0}, all = {0, 0, 0};
  ListsBuf b;
  memset(pOut, 0, sizeof(*pOut));
  memset(&b, 0, sizeof(b));
  b.p = pOut;
  pOut->f = f;
  pOut->part = part;
  pOut->aStart = sqlite3_malloc64(sizeof(int) * (size_t)(nTerm + 1));
  if (pOut->aStart == 0) return SQLITE_NOMEM;
  /* Pending rows first: a posting per query term they hold. */
  PendPosting *aPend = 0;
  size_t nPend = 0, iPend = 0;
  int rc = pending_postings(f, part, aTerm, nTerm, &aPend, &nPend, 0, 0, pzErr);
  /* Then each term's chunks, bytes copied (a row's blob lasts one step). */
  for (int t = 0; rc == SQLITE_OK && t < nTerm; t++) {
    pOut->aStart[t] = b.nChunk;
    rc = ft_stmt(f, VG_FT_S_POST_LIST, &s, pzErr);
    if (rc != SQLITE_OK) break;
    sqlite3_bind_int64(s, 1, part);
    sqlite3_bind_int64(s, 2, aTerm[t].hash);
    sqlite3_bind_int64(s, 3, INT64_MIN);
    int step;
    while ((step = sqlite3_step(s)) == SQLITE_ROW) {
      VgFtChunk one, *c;
      const unsigned char *z;
      rc = chunk_read(f, s, part, &one, &z, pzErr);
      if (rc == SQLITE_OK) rc = grow((void **)&pOut->aByte, &b.nByteAlloc, b.nByte + (size_t)one.nByte, 1);
      if (rc == SQLITE_OK && (c = lists_chunk_add(&b)) == 0) rc = SQLITE_NOMEM;
      if (rc != SQLITE_OK) break;
      memcpy(pOut->aByte + b.nByte, z, (size_t)one.nByte);
      one.iData = b.nByte;
      b.nByte += (size_t)one.nByte;
      *c = one;
    }
    if (rc == SQLITE_OK && step != SQLITE_DONE) rc = ft_error(f, step, pzErr);
    sqlite3_reset(s);
    size_t jPend = iPend;
    while (jPend < nPend && aPend[jPend].term == aTerm[t].hash) jPend++;
    if (rc == SQLITE_OK && jPend > iPend) {
      rc = lists_add_pending(&b, pOut->aStart[t], aPend + iPend, (int)(jPend - iPend), &old, &all, pzErr);
    }
    iPend = jPend;
  }
  pOut->aStart[nTerm] = b.nChunk;
  pOut->nTerm = nTerm;
  sqlite3_free(aPend);
  sqlite3_free(old.a);
  sqlite3_free(all.a);
  if (rc != SQLITE_OK) vg_fulltext_postings_free(pOut);
  return rc;
}

int vg_fulltext_chunk(const VgFtPostings *p, const VgFtChunk *c, const VgFtChunk *pNext,
                      FtPosting *aBuf, const FtPosting **paOut, char **pzErr) {
  const FtPosting *a = aBuf;
  if (c->nByte == 0) {
    a = p->aPost + c->iData;
  } else if (chunk_decode(c, p->aByte + c->iData, aBuf) != 0) {
    return ft_corrupt(p->f, pzErr, "a posting chunk of partition", p->part);
  }
  if (pNext && a[c->n - 1].rowid >= pNext->first) {
    return ft_corrupt(p->f, pzErr, "posting chunks that overlap, in partition", p->part);
  }
  *paOut = a;
  return SQLITE_OK;
}

void vg_fulltext_postings_free(VgFtPostings *p) {
  sqlite3_free(p->aChunk);
  sqlite3_free(p->aStart);
  sqlite3_free(p->aByte);
  sqlite3_free(p->aPost);
  memset(p, 0, sizeof(*p));
}

/* ---- vg_hnsw_check -------------------------------------------------------- */

/* A posting's mark: what the stored and the expected postings each sum,
** so that equal sums (and counts) mean equal sets, but for a chance of one
** in 2^64. */
static uint64_t posting_mark(sqlite3_int64 part, int64_t term, const FtPosting *p) {
  uint64_t h = (uint64_t)part * 0x9e3779b97f4a7c15ULL;
  h ^= (uint64_t)term + 0x632be59bd9b4e019ULL + (h << 6) + (h >> 2);
  h ^= (uint64_t)p->rowid * 0xbf58476d1ce4e5b9ULL + (h << 6) + (h >> 2);
  h ^= ((uint64_t)p->tf << 32 | p->len) * 0x94d049bb133111ebULL + (h << 6) + (h >> 2);
  h ^= h >> 31;
  h *= 0xd6e8feb86659fd93ULL;
  return h ^ (h >> 32);
}

typedef struct MarkSum {
  uint64_t sum;
  sqlite3_int64 n;
} MarkSum;

/* The stored postings of part (chunks and pending rows) into *pm; damaged
** chunks and records are counted in *pnBad. */
static int stored_marks(VgFulltext *f, sqlite3_int64 part, MarkSum *pm, sqlite3_int64 *pnPending,
                        sqlite3_int64 *pnBad, char **pzErr) {
  sqlite3_stmt *s = 0;
  PostBuf buf = {0, 0, 0};
  char *zSql = sqlite3_mprintf("SELECT first, n, data, max_tf, min_len, term FROM %s WHERE part = ?1",
                               f->azTable[VG_FT_T_POST]);
  int rc = zSql ? sqlite3_prepare_v2(f->db, zSql, -1, &s, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return rc == SQLITE_NOMEM ? rc : ft_error(f, rc, pzErr);
  sqlite3_bind_int64(s, 1, part);
  int step = SQLITE_DONE;
  while (rc == SQLITE_OK && (step = sqlite3_step(s)) == SQLITE_ROW) {
    buf.n = 0;
    char *zIgnore = 0;
    int rcc = postbuf_read_chunk(f, s, part, &buf, 0, &zIgnore);
    sqlite3_free(zIgnore);
    if (rcc == SQLITE_NOMEM) {
      rc = rcc;
    } else if (rcc != SQLITE_OK) {
      (*pnBad)++;
    }
    int64_t term = sqlite3_column_int64(s, 5);
    for (int i = 0; rcc == SQLITE_OK && i < buf.n; i++) {
      pm->sum += posting_mark(part, term, &buf.a[i]);
      pm->n++;
    }
  }
  if (rc == SQLITE_OK && step != SQLITE_DONE) rc = ft_error(f, step, pzErr);
  sqlite3_finalize(s);
  sqlite3_free(buf.a);
  if (rc != SQLITE_OK) return rc;
  PendPosting *a = 0;
  size_t n = 0;
  rc = pending_postings(f, part, 0, 0, &a, &n, pnPending, pnBad, pzErr);
  for (size_t i = 0; rc == SQLITE_OK && i < n; i++) {
    pm->sum += posting_mark(part, a[i].term, &a[i].p);
    pm->n++;
  }
  sqlite3_free(a);
  return rc;
}

int vg_fulltext_check(VgFulltext *f, VgStore *pStore, const VgTableDef *pDef, VgFtCheck *pOut,
                      char **pzErr) {
  const VgColumn *c = &pDef->aCol[pDef->iFulltext];
  VgRowReader *r = 0;
  sqlite3_stmt *pParts = 0, *pRows = 0;
  memset(pOut, 0, sizeof(*pOut));
  int rc = vg_reader_open(pStore, &r);
  char *zSql = sqlite3_mprintf("SELECT id FROM %s ORDER BY id", vg_store_table(pStore, "partitions"));
  if (rc == SQLITE_OK) rc = zSql ? sqlite3_prepare_v2(f->db, zSql, -1, &pParts, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  zSql = sqlite3_mprintf("SELECT id FROM %s WHERE part = ?1", vg_store_table(pStore, "rows"));
  if (rc == SQLITE_OK) rc = zSql ? sqlite3_prepare_v2(f->db, zSql, -1, &pRows, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  int stepParts = SQLITE_DONE;
  while (rc == SQLITE_OK && (stepParts = sqlite3_step(pParts)) == SQLITE_ROW) {
    sqlite3_int64 part = sqlite3_column_int64(pParts, 0);
    VgFtStat want, got;
    MarkSum expect = {0, 0}, stored = {0, 0};
    sqlite3_int64 nPending = 0;
    memset(&want, 0, sizeof(want));
    sqlite3_bind_int64(pRows, 1, part);
    int stepRows = SQLITE_DONE;
    while (rc == SQLITE_OK && (stepRows = sqlite3_step(pRows)) == SQLITE_ROW) {
      sqlite3_int64 rowid = sqlite3_column_int64(pRows, 0);
      char *zErr = 0;
      VgValue v;
      int rcs = vg_reader_seek(r, rowid, &zErr);
      if (rcs == SQLITE_ROW) rcs = vg_reader_value(r, c, &v, &zErr);
      sqlite3_free(zErr);
      if (rcs == SQLITE_NOMEM) {
        rc = rcs;
        break;
      }
      if (rcs != SQLITE_OK) {
        pOut->unreadable++;
        continue;
      }
      if (v.type != SQLITE_TEXT) continue;
      TermBag b;
      rc = bag_fill(&b, (const char *)v.p, v.n);
      want.nRows++;
      want.nTerms += b.len;
      FtPosting po = {rowid, 0, b.len};
      for (int i = 0; rc == SQLITE_OK && i < b.n; i++) {
        po.tf = b.a[i].tf;
        expect.sum += posting_mark(part, b.a[i].hash, &po);
        expect.n++;
      }
      bag_free(&b);
    }
    if (rc == SQLITE_OK && stepRows != SQLITE_DONE) rc = ft_error(f, stepRows, pzErr);
    sqlite3_reset(pRows);
    if (rc != SQLITE_OK) break;
    char *zIgnore = 0;
    if (vg_fulltext_stat(f, part, &got, &zIgnore) != SQLITE_OK) pOut->statMismatches++;
    sqlite3_free(zIgnore);
    rc = stored_marks(f, part, &stored, &nPending, &pOut->badChunks, pzErr);
    if (rc != SQLITE_OK) break;
    pOut->rows += want.nRows;
    pOut->postings += stored.n;
    pOut->expectedPostings += expect.n;
    if (stored.sum != expect.sum || stored.n != expect.n) pOut->partitionsDiffering++;
    if (got.nRows != want.nRows || got.nTerms != want.nTerms || got.nPending != nPending) {
      pOut->statMismatches++;
    }
  }
  if (rc == SQLITE_OK && stepParts != SQLITE_DONE) rc = ft_error(f, stepParts, pzErr);
  /* Index rows of partitions that no longer exist. */
  for (int t = 0; rc == SQLITE_OK && t < VG_FT_T_COUNT; t++) {
    zSql = sqlite3_mprintf("SELECT count(*) FROM %s WHERE part NOT IN (SELECT id FROM %s)", f->azTable[t],
                           vg_store_table(pStore, "partitions"));
    sqlite3_stmt *s = 0;
    rc = zSql ? sqlite3_prepare_v2(f->db, zSql, -1, &s, 0) : SQLITE_NOMEM;
    sqlite3_free(zSql);
    if (rc == SQLITE_OK) {
      rc = sqlite3_step(s);
      if (rc == SQLITE_ROW) pOut->orphans += sqlite3_column_int64(s, 0);
      rc = rc == SQLITE_ROW ? SQLITE_OK : ft_error(f, rc, pzErr);
    }
    sqlite3_finalize(s);
  }
  if (rc != SQLITE_OK && rc != SQLITE_NOMEM && *pzErr == 0) rc = ft_error(f, rc, pzErr);
  sqlite3_finalize(pParts);
  sqlite3_finalize(pRows);
  vg_reader_close(r);
  return rc;
}

/* ---- vg_fulltext_terms ---------------------------------------------------- */

typedef struct TermsOut {
  sqlite3_str *s;
  int n;
} TermsOut;

static int append_term(void *pCtx, const char *z, int n) {
  TermsOut *o = pCtx;
  sqlite3_str_appendchar(o->s, 1, o->n++ ? ',' : '[');
  vg_str_append_json(o->s, z, n);
  return sqlite3_str_errcode(o->s);
}

/* vg_fulltext_terms(text): the terms a fulltext column indexes text under,
** as a JSON array, in order (repeats kept). */
static void fulltext_terms_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  int n = 0;
  const char *z = vg_text_arg(ctx, "vg_fulltext_terms", argv[0], "the text", VG_TEXT_BODY, &n);
  if (z == 0) return;
  TermsOut o = {sqlite3_str_new(sqlite3_context_db_handle(ctx)), 0};
  int rc = ft_tokenize(z, n, append_term, &o);
  if (rc == SQLITE_OK) sqlite3_str_appendall(o.s, o.n ? "]" : "[]");
  vg_result_str(ctx, o.s);
}

const VgFunction vg_fulltext_functions[] = {
    {"vg_fulltext_terms", 1, VG_FUNC_PURE, fulltext_terms_func},
    {0, 0, 0, 0},
};
