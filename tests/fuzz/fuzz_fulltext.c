/*
** fuzz_fulltext.c — libFuzzer target for the fulltext layer's tokenizer and
** posting-chunk decoder (ext/fulltext/), and vg_fulltext_terms.
**
** Feeds: byte 0 picks the part; the rest is its input.
**
**   part 0, the tokenizer, on any bytes (valid UTF-8 or not: ft_tokenize
**   treats bad bytes as separators and must never read past the text):
**     - every term is 1 to 64 bytes of valid UTF-8, with no ASCII upper-case
**       letter, space or punctuation (a stem may be a stop word: "ofing" is
**       "of"; stop words are dropped by the word as written);
**     - on ASCII text, the terms are those of a tokenizer written here from
**       docs/fulltext.md (runs of ASCII letters and digits, lower-cased, stop
**       words dropped, cut at 64, Porter's stemmer on runs of 3 or more
**       letters — the stemmer has its own reference test);
**     - on valid UTF-8, vg_fulltext_terms(text) is the same list as JSON,
**       and invalid UTF-8 is its error.
**   part 1, the chunk decoder, on any bytes with any first rowid and count:
**     never reads out of bounds; what it accepts encodes back to postings
**     that decode to the same values, with 1 <= tf <= len and rowids rising.
*/
#include "fuzzutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fulltext/fulltext.h"

static sqlite3 *db;

typedef struct Terms {
  char a[512][FT_MAX_TERM + 1];
  int n;
  int bOver; /* more than fit */
} Terms;

static int collect(void *pCtx, const char *z, int n) {
  Terms *t = pCtx;
  FZ_CHECKF(n >= 1 && n <= FT_MAX_TERM, "a term of %d bytes", n);
  FZ_CHECK(fz_utf8_valid((const uint8_t *)z, (size_t)n));
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    FZ_CHECKF(!(c >= 'A' && c <= 'Z'), "upper case in a term");
    FZ_CHECKF(c >= 0x80 || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'), "byte 0x%02x in a term", c);
  }
  if (t->n == 512) {
    t->bOver = 1;
    return 0;
  }
  memcpy(t->a[t->n], z, (size_t)n);
  t->a[t->n][n] = 0;
  t->n++;
  return 0;
}

static const char *const azStop[] = {"a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if",
                                     "in", "into", "is", "it", "no", "not", "of", "on", "or", "such",
                                     "that", "the", "their", "then", "there", "these", "they", "this",
                                     "to", "was", "will", "with"};

/* The terms of ASCII text z[0, n), by the rules of docs/fulltext.md. */
static void ascii_terms(const uint8_t *z, size_t n, Terms *t) {
  size_t i = 0;
  while (i < n) {
    while (i < n && !((z[i] | 32) >= 'a' && (z[i] | 32) <= 'z') && !(z[i] >= '0' && z[i] <= '9')) i++;
    if (i >= n) break;
    char w[FT_MAX_TERM + 4];
    int nw = 0, bAlpha = 1;
    while (i < n && (((z[i] | 32) >= 'a' && (z[i] | 32) <= 'z') || (z[i] >= '0' && z[i] <= '9'))) {
      char c = (char)z[i];
      if (c >= 'A' && c <= 'Z') c = (char)(c + 32);
      if (c >= '0' && c <= '9') bAlpha = 0;
      if (nw < FT_MAX_TERM) w[nw++] = c;
      i++;
    }
    w[nw] = 0;
    int bStop = 0;
    for (size_t s = 0; s < sizeof azStop / sizeof azStop[0]; s++) bStop |= strcmp(w, azStop[s]) == 0;
    if (bStop) continue;
    if (bAlpha && nw >= 3) ft_porter_stem(w, &nw);
    w[nw] = 0;
    if (t->n < 512) strcpy(t->a[t->n++], w);
  }
}

static void fuzz_tokenizer(const uint8_t *z, size_t n) {
  static Terms got, want;
  got.n = want.n = got.bOver = 0;
  FZ_CHECK(ft_tokenize((const char *)z, (int)n, collect, &got) == FT_OK);
  int bAscii = 1;
  for (size_t i = 0; i < n; i++) bAscii &= z[i] < 0x80;
  if (bAscii && !got.bOver) {
    ascii_terms(z, n, &want);
    FZ_CHECKF(got.n == want.n, "%d terms, expected %d", got.n, want.n);
    for (int i = 0; i < got.n; i++) {
      FZ_CHECKF(strcmp(got.a[i], want.a[i]) == 0, "term %d is %s, expected %s", i, got.a[i], want.a[i]);
    }
  }
  /* vg_fulltext_terms says the same, or refuses what is not UTF-8. */
  sqlite3_stmt *p = 0;
  FZ_CHECK(sqlite3_prepare_v2(db, "SELECT vg_fulltext_terms(?1), json_array_length(vg_fulltext_terms(?1))", -1,
                              &p, 0) == SQLITE_OK);
  sqlite3_bind_text(p, 1, (const char *)z, (int)n, SQLITE_STATIC);
  int rc = sqlite3_step(p);
  if (!fz_utf8_valid(z, n)) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "invalid UTF-8 accepted");
  } else {
    FZ_CHECKF(rc == SQLITE_ROW, "vg_fulltext_terms failed: %s", sqlite3_errmsg(db));
    if (!got.bOver) FZ_CHECK(sqlite3_column_int(p, 1) == got.n);
    sqlite3_stmt *q = 0;
    FZ_CHECK(sqlite3_prepare_v2(db, "SELECT value FROM json_each(?1) ORDER BY key", -1, &q, 0) == SQLITE_OK);
    sqlite3_bind_value(q, 1, sqlite3_column_value(p, 0));
    for (int i = 0; i < got.n && sqlite3_step(q) == SQLITE_ROW; i++) {
      FZ_CHECKF(strcmp((const char *)sqlite3_column_text(q, 0), got.a[i]) == 0, "JSON term %d differs", i);
    }
    sqlite3_finalize(q);
  }
  sqlite3_finalize(p);
}

static void fuzz_chunk(FzIn *in) {
  int64_t first = (int64_t)((uint64_t)fz_u32(in) << 32 | fz_u32(in));
  int n = fz_range(in, 0, 300);
  const uint8_t *z;
  size_t nByte = fz_rest(in, &z);
  /* Exactly nByte bytes on the heap, so that ASan sees any read past them. */
  uint8_t *buf = malloc(nByte + 1);
  FZ_CHECK(buf != 0);
  memcpy(buf, z, nByte);
  FtPosting *a = malloc(sizeof(FtPosting) * (size_t)(n + 1)), *b = malloc(sizeof(FtPosting) * (size_t)(n + 1));
  FZ_CHECK(a && b);
  if (n > 0 && ft_postings_decode(buf, (int)nByte, first, n, a) == 0) {
    FZ_CHECK(a[0].rowid == first);
    for (int i = 0; i < n; i++) {
      FZ_CHECK(a[i].tf >= 1 && a[i].tf <= a[i].len);
      FZ_CHECK(i == 0 || a[i].rowid > a[i - 1].rowid);
    }
    uint8_t *enc = malloc((size_t)n * FT_POSTING_MAX);
    FZ_CHECK(enc != 0);
    int nEnc = ft_postings_encode(a, n, enc);
    FZ_CHECK(nEnc == ft_postings_size(a, n) && nEnc <= (int)nByte);
    FZ_CHECK(ft_postings_decode(enc, nEnc, first, n, b) == 0);
    FZ_CHECK(memcmp(a, b, sizeof(FtPosting) * (size_t)n) == 0);
    free(enc);
  }
  free(a);
  free(b);
  free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (db == 0) db = fz_open();
  FzIn in = {data, size, 0};
  int part = fz_u8(&in) % 2;
  if (part == 0) {
    const uint8_t *z;
    size_t n = fz_rest(&in, &z);
    if (n > 4000) n = 4000;
    fuzz_tokenizer(z, n);
  } else {
    fuzz_chunk(&in);
  }
  return 0;
}
