/*
** embed_hash.c — the built-in embedder: signed feature hashing, no model
** file, the same vector for the same text on every machine.
**
** A text's first 512 tokens (runs of non-whitespace, see vg_tokens) are
** lower-cased (ASCII letters) and stripped of leading and trailing ASCII
** punctuation; each gives three kinds of feature:
**
**   the token itself                       weight 1
**   the token with the one before it       weight 0.5
**   each run of three characters of "<token>" (the first 100 bytes of it)
**                                          weight 0.25
**
** A feature's 64-bit hash (FNV-1a, then a finalizer; a seed per kind) picks
** a dimension (hash mod dims) and a sign (the top bit).  A feature seen tf
** times adds sign * weight * (1 + ln tf) there: repeats count, sublinearly.
** The vector is then scaled to length 1.  Texts sharing words, word pairs
** or word pieces (inflections, typos) get a positive cosine similarity;
** unrelated texts get about 0.
*/
#include "base/base.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"

#define HASH_TOKEN_BYTES 100 /* longer tokens (keys, base64) add no more trigrams */

enum { KIND_TOKEN = 1, KIND_PAIR = 2, KIND_TRIGRAM = 3 };
static const float aKindWeight[] = {0.0f, 1.0f, 0.5f, 0.25f};

typedef struct Feature {
  uint64_t h;
  int kind;
} Feature;

static uint64_t finalize(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* FNV-1a over z[0, n), ASCII letters taken in lower case. */
static uint64_t hash_lower(uint64_t h, const unsigned char *z, int n) {
  for (int i = 0; i < n; i++) {
    h ^= (z[i] >= 'A' && z[i] <= 'Z') ? (unsigned char)(z[i] + 32) : z[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

static uint64_t kind_seed(int kind) { return 0xcbf29ce484222325ULL ^ (uint64_t)kind; }

static int is_ascii_punct(unsigned char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

/* Append the trigram features of "<" z[0, n) ">", the token in lower case
** and cut to its first HASH_TOKEN_BYTES bytes at a character boundary. */
static int add_trigrams(const unsigned char *z, int n, Feature *aF) {
  unsigned char buf[HASH_TOKEN_BYTES + 2];
  int aStart[HASH_TOKEN_BYTES + 3], nChar = 0, nF = 0;
  if (n > HASH_TOKEN_BYTES) {
    n = HASH_TOKEN_BYTES;
    while (n > 0 && (z[n] & 0xC0) == 0x80) n--;
  }
  buf[0] = '<';
  for (int i = 0; i < n; i++) buf[i + 1] = (z[i] >= 'A' && z[i] <= 'Z') ? (unsigned char)(z[i] + 32) : z[i];
  buf[n + 1] = '>';
  for (int i = 0; i < n + 2; i++) {
    if ((buf[i] & 0xC0) != 0x80) aStart[nChar++] = i;
  }
  aStart[nChar] = n + 2;
  for (int i = 0; i + 3 <= nChar; i++) {
    aF[nF].h = finalize(hash_lower(kind_seed(KIND_TRIGRAM), buf + aStart[i], aStart[i + 3] - aStart[i]));
    aF[nF++].kind = KIND_TRIGRAM;
  }
  return nF;
}

static int by_hash(const void *x, const void *y) {
  uint64_t a = ((const Feature *)x)->h, b = ((const Feature *)y)->h;
  return (a > b) - (a < b);
}

/* The features of one text's first VG_EMBED_HASH_MAX_TOKENS tokens; returns their
** number, or -1 when out of memory.  A token is hashed whole, however long,
** in lower case (as it is read: no copy); only its trigrams are limited. */
static int text_features(const char *z, int n, Feature **paF) {
  int aStart[VG_EMBED_HASH_MAX_TOKENS], aEnd[VG_EMBED_HASH_MAX_TOKENS];
  int nTok = vg_tokens(z, n, VG_EMBED_HASH_MAX_TOKENS, aStart, aEnd);
  if (nTok > VG_EMBED_HASH_MAX_TOKENS) nTok = VG_EMBED_HASH_MAX_TOKENS;
  /* A token gives itself, a pair and at most one trigram per byte read. */
  size_t nMaxF = 1;
  for (int t = 0; t < nTok; t++) {
    int nRaw = aEnd[t] - aStart[t];
    nMaxF += 2 + (size_t)(nRaw < HASH_TOKEN_BYTES ? nRaw : HASH_TOKEN_BYTES);
  }
  Feature *aF = sqlite3_malloc64(sizeof(Feature) * nMaxF);
  if (aF == 0) return -1;
  const unsigned char *zPrev = 0;
  int nPrev = 0, nF = 0;
  for (int t = 0; t < nTok; t++) {
    /* The token without the ASCII punctuation at either end. */
    const unsigned char *zTok = (const unsigned char *)z + aStart[t];
    int m = aEnd[t] - aStart[t];
    while (m > 0 && is_ascii_punct(zTok[0])) {
      zTok++;
      m--;
    }
    while (m > 0 && is_ascii_punct(zTok[m - 1])) m--;
    if (m == 0) continue;
    aF[nF].h = finalize(hash_lower(kind_seed(KIND_TOKEN), zTok, m));
    aF[nF++].kind = KIND_TOKEN;
    if (zPrev) {
      uint64_t h = hash_lower(kind_seed(KIND_PAIR), zPrev, nPrev);
      h = hash_lower(h, (const unsigned char *)" ", 1);
      aF[nF].h = finalize(hash_lower(h, zTok, m));
      aF[nF++].kind = KIND_PAIR;
    }
    nF += add_trigrams(zTok, m, aF + nF);
    zPrev = zTok;
    nPrev = m;
  }
  *paF = aF;
  return nF;
}

/* Embed one text into aOut, summing in aSum (nDims doubles, scratch). */
static int hash_embed_one(int nDims, const char *z, int n, double *aSum, float *aOut) {
  Feature *aF = 0;
  int nF = text_features(z, n, &aF);
  if (nF < 0) return SQLITE_NOMEM;
  qsort(aF, (size_t)nF, sizeof(Feature), by_hash);
  memset(aSum, 0, sizeof(double) * (size_t)nDims);
  for (int i = 0; i < nF;) {
    int j = i;
    while (j < nF && aF[j].h == aF[i].h) j++;
    double w = aKindWeight[aF[i].kind] * (1.0 + log((double)(j - i)));
    aSum[aF[i].h % (uint64_t)nDims] += (aF[i].h >> 63) ? -w : w;
    i = j;
  }
  sqlite3_free(aF);
  double norm = 0.0;
  for (int d = 0; d < nDims; d++) norm += aSum[d] * aSum[d];
  norm = sqrt(norm);
  for (int d = 0; d < nDims; d++) aOut[d] = norm > 0.0 ? (float)(aSum[d] / norm) : 0.0f;
  return norm > 0.0 ? SQLITE_OK : SQLITE_EMPTY;
}

static int hash_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText,
                      float *aOut, char **pzErr) {
  double *aSum = sqlite3_malloc64(sizeof(double) * (size_t)p->nDims);
  int rc = aSum ? SQLITE_OK : SQLITE_NOMEM;
  for (int i = 0; rc == SQLITE_OK && i < nText; i++) {
    rc = hash_embed_one(p->nDims, azText[i], anText[i], aSum, aOut + (size_t)i * (size_t)p->nDims);
    if (rc == SQLITE_EMPTY) {
      const char *zWhat = "the text";
      char zNth[32];
      if (nText > 1) zWhat = sqlite3_snprintf(sizeof zNth, zNth, "text %d", i + 1);
      *pzErr = sqlite3_mprintf("%s has no words to embed (only whitespace and punctuation)", zWhat);
      rc = SQLITE_ERROR;
    }
  }
  sqlite3_free(aSum);
  return rc;
}

typedef struct HashEmbedder {
  VgEmbedder base;
  char zName[32];
} HashEmbedder;

static void hash_destroy(VgEmbedder *p) { sqlite3_free(p); }

int vg_embed_hash_open(int nDims, VgEmbedder **ppOut) {
  *ppOut = 0;
  HashEmbedder *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  sqlite3_snprintf(sizeof p->zName, p->zName, "hash:%d", nDims);
  p->base.zName = p->zName;
  p->base.nDims = nDims;
  p->base.nMaxTokens = VG_EMBED_HASH_MAX_TOKENS;
  p->base.xEmbed = hash_embed;
  p->base.xDestroy = hash_destroy;
  *ppOut = &p->base;
  return SQLITE_OK;
}
