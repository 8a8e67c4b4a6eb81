/*
** fuzz_chunk.c — libFuzzer target for vg_chunk (ext/embed/chunk.c, vg_tokens and
** vg_chunk_spans in ext/embed/embed.c) and the hash embedder behind vg_embed
** (ext/embed/embed_hash.c).
**
** Feeds: byte 0 picks how the text is made (its bytes as they are, or each
** byte picking a fragment: words, punctuation, every ASCII whitespace byte,
** multibyte characters, NUL); bytes 1 and 2 pick max_tokens and overlap
** (mostly small valid values, sometimes 0, negative, too large, a real, text
** or NULL); the rest is the text.
**
** Checks, against a chunker written here from docs/embed.md (tokens are
** maximal runs of bytes that are not ASCII whitespace; chunk k holds tokens
** k*(max-overlap) to k*(max-overlap)+max-1, the last one stopping at the
** last token; start and end are character offsets of the first token's
** start and the last token's end):
**   - the same chunks, in order, with the same chunk_index, start, end,
**     tokens and text; the text is the input's bytes between the offsets
**     (NUL bytes included: free text is read by its length) and equals
**     SQLite's substr(text, start + 1, end - start) for every chunk that
**     ends before the text's first NUL byte (SQLite's substr stops counting
**     at one, docs/embed.md);
**   - so the chunks cover every token, each chunk after the first begins
**     with the last `overlap` tokens of the one before, offsets lie inside
**     the text and grow;
**   - invalid max_tokens / overlap, text that is not TEXT or not valid UTF-8
**     are errors with a message; NULL text gives no rows;
**   - vg_embed(text, 'hash:16') is the same vector twice, finite and of
**     length 1, or the "no words" error exactly when none of the first 512
**     tokens, whole however long, keeps a character once ASCII punctuation
**     is stripped from its ends.
*/
#include "fuzzutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *db;
static sqlite3_stmt *pChunk, *pChunk2, *pEmbed;

static sqlite3_stmt *prepare(const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) fz_fail("prepare %s: %s", zSql, sqlite3_errmsg(db));
  return p;
}

static const char *const azPiece[] = {"a",  "bc",  "word", "Fiebre", "años", "\xe4\xb8\xad", "\xf0\x9f\x99\x82",
                                      " ",  " ",   "  ",   "\t",     "\n",   "\r\n",         "\v",
                                      "\f", ".",   ",",    "!?",     "--",   "(x)",          "\xc2\xa0",
                                      "é",  "'",   "\"",   "\x00",   "123",  "A.B."};

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

static int is_punct(unsigned char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

#define MAX_TOK 70000
static int aTokStart[MAX_TOK], aTokEnd[MAX_TOK];

static int tokens(const char *z, int n) {
  int nTok = 0;
  for (int i = 0; i < n;) {
    if (is_space((unsigned char)z[i])) {
      i++;
      continue;
    }
    int s = i;
    while (i < n && !is_space((unsigned char)z[i])) i++;
    aTokStart[nTok] = s;
    aTokEnd[nTok] = i;
    nTok++;
  }
  return nTok;
}

/* Bind an integer argument described by b: mostly lo..hi, sometimes not. */
static void bind_count(sqlite3_stmt *p, int i, uint8_t b, int lo, int hi, int *pValue, int *pbValid) {
  *pbValid = 1;
  switch (b >> 5) {
    case 0:
      *pValue = b & 1 ? -1 : 1000001;
      *pbValid = 0;
      sqlite3_bind_int(p, i, *pValue);
      return;
    case 1:
      *pbValid = 0;
      if (b & 1) {
        sqlite3_bind_double(p, i, 2.5);
      } else if (b & 2) {
        sqlite3_bind_text(p, i, "3", -1, SQLITE_STATIC);
      } else {
        sqlite3_bind_null(p, i);
      }
      return;
    default:
      *pValue = lo + (b & 31) % (hi - lo + 1);
      sqlite3_bind_int(p, i, *pValue);
      return;
  }
}

static void check_embed(const char *z, int n, int nTok) {
  int bWords = 0;
  for (int t = 0; t < nTok && t < 512 && !bWords; t++) {
    int s = aTokStart[t], e = aTokEnd[t];
    while (s < e && is_punct((unsigned char)z[s])) s++;
    while (e > s && is_punct((unsigned char)z[e - 1])) e--;
    bWords = e > s;
  }
  float a[16];
  for (int pass = 0; pass < 2; pass++) {
    sqlite3_reset(pEmbed);
    sqlite3_bind_text(pEmbed, 1, z, n, SQLITE_STATIC);
    int rc = sqlite3_step(pEmbed);
    if (!bWords) {
      FZ_CHECKF(rc == SQLITE_ERROR && strstr(sqlite3_errmsg(db), "no words"),
                "vg_embed of a text without words: rc %d, %s", rc, sqlite3_errmsg(db));
      return;
    }
    FZ_CHECKF(rc == SQLITE_ROW, "vg_embed refused a text with words: %s", sqlite3_errmsg(db));
    FZ_CHECK(sqlite3_column_bytes(pEmbed, 0) == 64);
    const float *b = sqlite3_column_blob(pEmbed, 0);
    if (pass == 0) {
      memcpy(a, b, sizeof a);
      double sq = 0;
      for (int d = 0; d < 16; d++) {
        FZ_CHECK(isfinite(a[d]));
        sq += (double)a[d] * a[d];
      }
      FZ_CHECKF(fabs(sq - 1.0) < 1e-4, "vg_embed's vector has |x|^2 = %g", sq);
    } else {
      FZ_CHECKF(memcmp(a, b, sizeof a) == 0, "vg_embed gave two vectors for one text");
    }
  }
  sqlite3_reset(pEmbed);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  db = fz_open();
  pChunk = prepare("SELECT chunk_index, start, \"end\", tokens, text, substr(?1, start + 1, \"end\" - start) IS text "
                   "FROM vg_chunk(?1, ?2, ?3)");
  pChunk2 = prepare("SELECT count(*) FROM vg_chunk(?1, ?2)");
  pEmbed = prepare("SELECT vg_embed(?1, 'hash:16')");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3 || size > 8000) return 0; /* at most 32,000 tokens */
  FzIn in = {data, size, 0};
  uint8_t mode = fz_u8(&in), bMax = fz_u8(&in), bOverlap = fz_u8(&in);
  const uint8_t *zRest;
  size_t nRest = fz_rest(&in, &zRest);
  char *z = malloc(8 * nRest + 1);
  int n = 0;
  if (mode & 1) {
    memcpy(z, zRest, nRest);
    n = (int)nRest;
  } else {
    for (size_t i = 0; i < nRest; i++) {
      const char *p = azPiece[zRest[i] % (sizeof azPiece / sizeof azPiece[0])];
      size_t len = strlen(p);
      if (len == 0) {
        z[n++] = 0;
      } else {
        memcpy(z + n, p, len);
        n += (int)len;
      }
    }
  }
  sqlite3_reset(pChunk);
  int kind = mode >> 6; /* 0, 1: text; 2: NULL; 3: a BLOB */
  if (kind == 2) {
    sqlite3_bind_null(pChunk, 1);
  } else if (kind == 3) {
    sqlite3_bind_blob(pChunk, 1, z, n, SQLITE_STATIC);
  } else {
    sqlite3_bind_text(pChunk, 1, z, n, SQLITE_STATIC);
  }
  int nMax = 0, nOverlap = 0, bMaxOk, bOverlapOk;
  bind_count(pChunk, 2, bMax, 1, 12, &nMax, &bMaxOk);
  bind_count(pChunk, 3, bOverlap, 0, 11, &nOverlap, &bOverlapOk);
  if (bOverlapOk && bMaxOk && nOverlap >= nMax) bOverlapOk = 0;
  int bUtf8 = fz_utf8_valid((const uint8_t *)z, (size_t)n);
  const char *zNul = memchr(z, 0, (size_t)n);
  int iNul = zNul ? (int)(zNul - z) : n;

  int rc = sqlite3_step(pChunk);
  if (!bMaxOk || !bOverlapOk) {
    FZ_CHECKF(rc == SQLITE_ERROR && fz_is_message(sqlite3_errmsg(db)), "vg_chunk took max_tokens %d, overlap %d (rc %d)",
              nMax, nOverlap, rc);
    goto done;
  }
  if (kind == 2) {
    FZ_CHECKF(rc == SQLITE_DONE, "vg_chunk(NULL) gave rows or an error: %s", sqlite3_errmsg(db));
    goto done;
  }
  if (kind == 3 || !bUtf8) {
    FZ_CHECKF(rc == SQLITE_ERROR, "vg_chunk took %s (rc %d)", kind == 3 ? "a BLOB" : "invalid UTF-8", rc);
    FZ_CHECKF(kind == 3 || strstr(sqlite3_errmsg(db), "UTF-8"), "the error does not name UTF-8: %s",
              sqlite3_errmsg(db));
    goto done;
  }

  int nTok = tokens(z, n);
  int nStep = nMax - nOverlap;
  int nChunk = nTok == 0 ? 0 : nTok <= nMax ? 1 : 1 + (nTok - nMax + nStep - 1) / nStep;
  int k = 0;
  for (; rc == SQLITE_ROW; rc = sqlite3_step(pChunk), k++) {
    FZ_CHECKF(k < nChunk, "more chunks than %d (tokens %d, max %d, overlap %d)", nChunk, nTok, nMax, nOverlap);
    int iFirst = k * nStep, iLast = iFirst + nMax - 1 < nTok - 1 ? iFirst + nMax - 1 : nTok - 1;
    int s = aTokStart[iFirst], e = aTokEnd[iLast];
    int cs = (int)fz_utf8_chars((const uint8_t *)z, (size_t)s), ce = cs + (int)fz_utf8_chars((const uint8_t *)z + s, (size_t)(e - s));
    FZ_CHECKF(sqlite3_column_int(pChunk, 0) == k, "chunk_index %d, expected %d", sqlite3_column_int(pChunk, 0), k);
    FZ_CHECKF(sqlite3_column_int(pChunk, 1) == cs && sqlite3_column_int(pChunk, 2) == ce,
              "chunk %d at characters [%d, %d), expected [%d, %d) (tokens %d, max %d, overlap %d)", k,
              sqlite3_column_int(pChunk, 1), sqlite3_column_int(pChunk, 2), cs, ce, nTok, nMax, nOverlap);
    FZ_CHECKF(sqlite3_column_int(pChunk, 3) == iLast - iFirst + 1, "chunk %d has %d tokens, expected %d", k,
              sqlite3_column_int(pChunk, 3), iLast - iFirst + 1);
    FZ_CHECKF(sqlite3_column_bytes(pChunk, 4) == e - s && memcmp(sqlite3_column_text(pChunk, 4), z + s, (size_t)(e - s)) == 0,
              "chunk %d's text is not the input's bytes %d to %d", k, s, e);
    /* SQLite's own substr() stops counting at a NUL byte, so the claim
    ** holds for chunks that end before the first one. */
    FZ_CHECKF(sqlite3_column_int(pChunk, 5) == 1 || e > iNul,
              "chunk %d's text is not substr(text, start + 1, end - start)", k);
  }
  FZ_CHECKF(rc == SQLITE_DONE, "vg_chunk failed: %s", sqlite3_errmsg(db));
  FZ_CHECKF(k == nChunk, "%d chunks, expected %d (tokens %d, max %d, overlap %d)", k, nChunk, nTok, nMax, nOverlap);

  /* Without overlap: the same count as with overlap 0. */
  sqlite3_reset(pChunk2);
  sqlite3_bind_text(pChunk2, 1, z, n, SQLITE_STATIC);
  sqlite3_bind_int(pChunk2, 2, nMax);
  FZ_CHECK(sqlite3_step(pChunk2) == SQLITE_ROW);
  int nNoOverlap = nTok == 0 ? 0 : (nTok + nMax - 1) / nMax;
  FZ_CHECKF(sqlite3_column_int(pChunk2, 0) == nNoOverlap, "vg_chunk(text, %d) gave %d chunks, expected %d", nMax,
            sqlite3_column_int(pChunk2, 0), nNoOverlap);
  sqlite3_reset(pChunk2);

  check_embed(z, n, nTok);
done:
  sqlite3_reset(pChunk);
  free(z);
  return 0;
}
