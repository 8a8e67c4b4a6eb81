/*
** embed_hash.c — the built-in embedders: signed feature hashing, no model
** file, the same vector for the same text on every machine.
**
** A text's first 512 tokens (runs of non-whitespace, see vg_tokens) are
** lower-cased (ASCII letters) and stripped of leading and trailing ASCII
** punctuation; each gives features by the model:
**
**   model "hash" (the first; kept as it was, for the vectors made with it)
**     the token itself                       weight 1
**     the token with the one before it       weight 0.5
**     each run of 3 characters of "<token>"  weight 0.25
**   model "hash2" (the default for new pipeline tables, docs/embed.md)
**     the token itself, unless it is one of the full-text index's English
**     stop words (FT_STOP_WORDS), which add nothing   weight 1
**     each run of 3, 4 and 5 characters of "<token>"  weight 0.5
**   ("<token>" is cut to its first 100 bytes.)  hash2 measured better on
**   SciFact's training queries, alone (nDCG@10 0.45 against 0.29) and fused
**   with BM25: word pairs mostly repeat what BM25 already ranks by, longer
**   pieces of words match inflections and compounds BM25's stems miss.  A
**   text of stop words only keeps them, so that it still has a vector.
**
** A feature's 64-bit hash (FNV-1a, then a finalizer; a seed per kind) picks
** a dimension (hash mod dims) and a sign (the top bit).  A feature seen tf
** times adds sign * weight * (1 + ln tf) there: repeats count, sublinearly.
** The vector is then scaled to length 1.  Texts sharing words or word
** pieces (inflections, typos) get a positive cosine similarity; unrelated
** texts get about 0.
*/
#include "base/base.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"
#include "fulltext/fulltext.h"

#define HASH_TOKEN_BYTES 100 /* longer tokens (keys, base64) add no more pieces */

/* Kinds of feature, each hashed from its own seed.  The seeds of hash's
** trigrams and hash2's 3-character pieces are the same (so are their hashes);
** the weights tell them apart. */
enum { KIND_TOKEN = 1, KIND_PAIR = 2, KIND_GRAM3 = 3, KIND_GRAM4 = 14, KIND_GRAM5 = 15 };

typedef struct HashModel {
  float wToken, wPair, wGram;
  int nGramMin, nGramMax; /* piece lengths, in characters */
  int bStopWords;         /* drop FT_STOP_WORDS tokens (unless all are) */
  int bKindByte;          /* hash the kind as a first byte (below) */
} HashModel;

/* hash seeds FNV-1a with the offset basis XOR the kind, which is the same
** as XORing the kind into the first byte: the token "ten" and the piece
** "ven" hash alike.  hash keeps that (its vectors are what they are);
** hash2 hashes the kind as a byte of its own before the feature's, then
** adds a constant to the seed (HASH2_SALT). */
static const HashModel aModel[] = {
    {1.0f, 0.5f, 0.25f, 3, 3, 0, 0}, /* hash */
    {1.0f, 0.0f, 0.5f, 3, 5, 1, 1},  /* hash2 */
};

typedef struct Feature {
  uint64_t h;
  float w;
  int i; /* made i-th: of equal hashes the first made gives the weight, whatever the qsort */
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

/* Which seeds a hashing embedder gets decides which features share a
** dimension, and that moves SciFact's training nDCG@10 of hash2 in hybrid
** queries by about +-0.005 (0.699, 0.702, 0.703 for salts 0, 1, 2 times
** this constant): the best of the three is kept. */
#define HASH2_SALT (2 * 0x9e3779b97f4a7c15ULL)

static uint64_t kind_seed(const HashModel *m, int kind) {
  uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)kind;
  return m->bKindByte ? h * 0x100000001b3ULL + HASH2_SALT : h;
}

static int is_ascii_punct(unsigned char c) {
  return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
         (c >= '{' && c <= '~');
}

/* Is z[0, n) (any case) one of the full-text index's stop words? */
static int is_stop_token(const unsigned char *z, int n) {
  char buf[8];
  if (n > (int)sizeof buf) return 0;
  for (int i = 0; i < n; i++) buf[i] = (char)((z[i] >= 'A' && z[i] <= 'Z') ? z[i] + 32 : z[i]);
  return ft_is_stop_word(buf, n);
}

/* Append the features of the pieces of "<" z[0, n) ">" (the token in lower
** case, cut to its first HASH_TOKEN_BYTES bytes at a character boundary)
** that are nGram characters long. */
static int add_grams(const HashModel *m, const unsigned char *z, int n, int nGram, Feature *aF) {
  static const int aKind[] = {0, 0, 0, KIND_GRAM3, KIND_GRAM4, KIND_GRAM5};
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
  for (int i = 0; i + nGram <= nChar; i++) {
    aF[nF].h = finalize(hash_lower(kind_seed(m, aKind[nGram]), buf + aStart[i], aStart[i + nGram] - aStart[i]));
    aF[nF++].w = m->wGram;
  }
  return nF;
}

/* The features of one text's first VG_EMBED_HASH_MAX_TOKENS tokens under
** model m; returns their number, or -1 when out of memory.  A token is
** hashed whole, however long, in lower case (as it is read: no copy); only
** its pieces are limited. */
static int text_features(const HashModel *m, const char *z, int n, Feature **paF) {
  int aStart[VG_EMBED_HASH_MAX_TOKENS], aEnd[VG_EMBED_HASH_MAX_TOKENS];
  int nTok = vg_tokens(z, n, VG_EMBED_HASH_MAX_TOKENS, aStart, aEnd);
  if (nTok > VG_EMBED_HASH_MAX_TOKENS) nTok = VG_EMBED_HASH_MAX_TOKENS;
  /* A token gives itself, a pair and at most one piece of each length per
  ** byte read. */
  int nLen = m->nGramMax - m->nGramMin + 1;
  size_t nMaxF = 1;
  for (int t = 0; t < nTok; t++) {
    int nRaw = aEnd[t] - aStart[t];
    nMaxF += 2 + (size_t)nLen * (size_t)(nRaw < HASH_TOKEN_BYTES ? nRaw : HASH_TOKEN_BYTES);
  }
  Feature *aF = sqlite3_malloc64(sizeof(Feature) * nMaxF);
  if (aF == 0) return -1;
  int nF = 0;
  /* Two passes at most: the second keeps stop words, for a text of only those. */
  for (int bKeepStop = !m->bStopWords; nF == 0 && bKeepStop <= 1; bKeepStop++) {
    const unsigned char *zPrev = 0;
    int nPrev = 0;
    for (int t = 0; t < nTok; t++) {
      /* The token without the ASCII punctuation at either end. */
      const unsigned char *zTok = (const unsigned char *)z + aStart[t];
      int k = aEnd[t] - aStart[t];
      while (k > 0 && is_ascii_punct(zTok[0])) {
        zTok++;
        k--;
      }
      while (k > 0 && is_ascii_punct(zTok[k - 1])) k--;
      if (k == 0 || (!bKeepStop && is_stop_token(zTok, k))) continue;
      aF[nF].h = finalize(hash_lower(kind_seed(m, KIND_TOKEN), zTok, k));
      aF[nF++].w = m->wToken;
      if (zPrev && m->wPair > 0.0f) {
        uint64_t h = hash_lower(kind_seed(m, KIND_PAIR), zPrev, nPrev);
        h = hash_lower(h, (const unsigned char *)" ", 1);
        aF[nF].h = finalize(hash_lower(h, zTok, k));
        aF[nF++].w = m->wPair;
      }
      for (int g = m->nGramMin; g <= m->nGramMax; g++) nF += add_grams(m, zTok, k, g, aF + nF);
      zPrev = zTok;
      nPrev = k;
    }
  }
  *paF = aF;
  return nF;
}

static int by_hash(const void *x, const void *y) {
  const Feature *a = x, *b = y;
  if (a->h != b->h) return a->h < b->h ? -1 : 1;
  return (a->i > b->i) - (a->i < b->i);
}

/* Embed one text into aOut, summing in aSum (nDims doubles, scratch). */
static int hash_embed_one(const HashModel *m, int nDims, const char *z, int n, double *aSum, float *aOut) {
  Feature *aF = 0;
  int nF = text_features(m, z, n, &aF);
  if (nF < 0) return SQLITE_NOMEM;
  for (int i = 0; i < nF; i++) aF[i].i = i;
  qsort(aF, (size_t)nF, sizeof(Feature), by_hash);
  memset(aSum, 0, sizeof(double) * (size_t)nDims);
  for (int i = 0; i < nF;) {
    int j = i;
    while (j < nF && aF[j].h == aF[i].h) j++;
    double w = aF[i].w * (1.0 + log((double)(j - i)));
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

typedef struct HashEmbedder {
  VgEmbedder base;
  const HashModel *pModel;
  char zName[32];
} HashEmbedder;

static int hash_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText,
                      float *aOut, char **pzErr) {
  const HashModel *m = ((HashEmbedder *)p)->pModel;
  double *aSum = sqlite3_malloc64(sizeof(double) * (size_t)p->nDims);
  int rc = aSum ? SQLITE_OK : SQLITE_NOMEM;
  for (int i = 0; rc == SQLITE_OK && i < nText; i++) {
    rc = hash_embed_one(m, p->nDims, azText[i], anText[i], aSum, aOut + (size_t)i * (size_t)p->nDims);
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

static void hash_destroy(VgEmbedder *p) { sqlite3_free(p); }

int vg_embed_hash_open(int iModel, int nDims, VgEmbedder **ppOut) {
  *ppOut = 0;
  HashEmbedder *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  assert(iModel >= VG_EMBED_HASH && iModel <= VG_EMBED_HASH2);
  p->pModel = &aModel[iModel];
  sqlite3_snprintf(sizeof p->zName, p->zName, "%s:%d", iModel == VG_EMBED_HASH2 ? "hash2" : "hash", nDims);
  p->base.zName = p->zName;
  p->base.nDims = nDims;
  p->base.nMaxTokens = VG_EMBED_HASH_MAX_TOKENS;
  p->base.xEmbed = hash_embed;
  p->base.xDestroy = hash_destroy;
  *ppOut = &p->base;
  return SQLITE_OK;
}
