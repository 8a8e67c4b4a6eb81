/*
** test_embed.c — the built-in hashing embedder against a second, plain
** implementation of its documented rule (feature strings listed and counted
** one by one), plus determinism, unit length, dimensions, batches, the
** token limit and model names.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "embed/embed.h"

/* ---- the reference: docs/embed.md read literally -------------------- */

typedef struct RefFeature {
  int kind;
  char z[1024];
  int n;
} RefFeature;

static uint64_t ref_hash(int kind, const char *z, int n) {
  uint64_t h = 14695981039346656037ULL ^ (uint64_t)kind; /* FNV-1a offset basis */
  for (int i = 0; i < n; i++) {
    h ^= (unsigned char)z[i];
    h *= 1099511628211ULL; /* FNV prime */
  }
  /* splitmix64's finalizer */
  h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
  h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
  return h ^ (h >> 31);
}

static int ref_punct(char c) { return c > ' ' && c < 127 && !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')); }

static void ref_embed(const char *zText, int nDims, float *aOut) {
  static RefFeature a[20000];
  int nA = 0, nTok = 0;
  char prev[512] = "";
  const char *p = zText;
  while (*p && nTok < 512) {
    while (*p && strchr(" \t\n\v\f\r", *p)) p++;
    if (!*p) break;
    const char *s = p;
    while (*p && !strchr(" \t\n\v\f\r", *p)) p++;
    nTok++;
    char tok[512];
    int b = 0, e = (int)(p - s);
    while (b < e && ref_punct(s[b])) b++;
    while (e > b && ref_punct(s[e - 1])) e--;
    for (int i = b; i < e; i++) tok[i - b] = (char)((s[i] >= 'A' && s[i] <= 'Z') ? s[i] + 32 : s[i]);
    tok[e - b] = 0;
    if (!tok[0]) continue;
    a[nA].kind = 1;
    a[nA].n = sprintf(a[nA].z, "%s", tok);
    nA++;
    if (prev[0]) {
      a[nA].kind = 2;
      a[nA].n = sprintf(a[nA].z, "%s %s", prev, tok);
      nA++;
    }
    /* trigrams of "<" + the token's first 100 bytes, cut at a character
    ** boundary, + ">" */
    int n = (int)strlen(tok) > 100 ? 100 : (int)strlen(tok);
    while (n > 0 && ((unsigned char)tok[n] & 0xC0) == 0x80) n--;
    char w[132];
    int nw = sprintf(w, "<%.*s>", n, tok);
    int aCh[132], nCh = 0;
    for (int i = 0; i < nw; i++) {
      if (((unsigned char)w[i] & 0xC0) != 0x80) aCh[nCh++] = i;
    }
    aCh[nCh] = nw;
    for (int i = 0; i + 3 <= nCh; i++) {
      a[nA].kind = 3;
      a[nA].n = aCh[i + 3] - aCh[i];
      memcpy(a[nA].z, w + aCh[i], (size_t)a[nA].n);
      nA++;
    }
    strcpy(prev, tok);
  }
  double sum[4096] = {0};
  static const double weight[] = {0, 1.0, 0.5, 0.25};
  for (int i = 0; i < nA; i++) {
    int tf = 0, bFirst = 1;
    for (int j = 0; j < nA; j++) {
      int same = a[j].kind == a[i].kind && a[j].n == a[i].n && memcmp(a[j].z, a[i].z, (size_t)a[i].n) == 0;
      tf += same;
      if (same && j < i) bFirst = 0;
    }
    if (!bFirst) continue;
    uint64_t h = ref_hash(a[i].kind, a[i].z, a[i].n);
    double v = weight[a[i].kind] * (1.0 + log((double)tf));
    sum[h % (uint64_t)nDims] += (h >> 63) ? -v : v;
  }
  double norm = 0;
  for (int d = 0; d < nDims; d++) norm += sum[d] * sum[d];
  norm = sqrt(norm);
  for (int d = 0; d < nDims; d++) aOut[d] = (float)(sum[d] / norm);
}

/* ---- tests ----------------------------------------------------------- */

static void embed_text(VgEmbedder *p, const char *z, float *aOut) {
  int n = (int)strlen(z);
  char *zErr = 0;
  assert_int_equal(p->xEmbed(p, 1, &z, &n, aOut, &zErr), SQLITE_OK);
  assert_null(zErr);
}

static double cosine(const float *a, const float *b, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
  return s;
}

static const char *azSample[] = {
    "The patient had a fever.",
    "the patient had a fever the patient had a fever",
    "Résumé: naïve café — ünïcödé, e-mail; (3.5 mg/kg)!",
    "a",
    "?!hello!?",
    "\xf0\x9f\x98\x80 emoji \xf0\x9f\x98\x80\xf0\x9f\x98\x80",
    "  leading and   trailing\twhitespace\n",
    "aVeryLongTokenThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOn next",
    /* punctuation past the first 100 bytes: the token is what is left */
    "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!Word and more",
    /* a long token with multibyte letters around byte 100, after a long one */
    "prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-prefix-pr\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9 aVeryLongTokenThatGoesOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnAndOnXY",
};

static void test_matches_reference(void **state) {
  (void)state;
  static const int aDims[] = {2, 7, 64, 384, 1000};
  for (size_t d = 0; d < sizeof aDims / sizeof aDims[0]; d++) {
    VgEmbedder *p = 0;
    char *zErr = 0;
    char zModel[32];
    snprintf(zModel, sizeof zModel, "hash:%d", aDims[d]);
    assert_int_equal(vg_embedder_open(zModel, &p, &zErr), SQLITE_OK);
    assert_int_equal(p->nDims, aDims[d]);
    assert_string_equal(p->zName, zModel);
    float got[1000], want[1000];
    for (size_t i = 0; i < sizeof azSample / sizeof azSample[0]; i++) {
      embed_text(p, azSample[i], got);
      ref_embed(azSample[i], aDims[d], want);
      for (int k = 0; k < aDims[d]; k++) assert_float_equal(got[k], want[k], 1e-6);
    }
    vg_embedder_close(p);
  }
}

static void test_unit_length_and_determinism(void **state) {
  (void)state;
  VgEmbedder *p = 0, *q = 0;
  char *zErr = 0;
  assert_int_equal(vg_embedder_open("hash", &p, &zErr), SQLITE_OK);
  assert_int_equal(vg_embedder_open("hash:384", &q, &zErr), SQLITE_OK);
  assert_int_equal(p->nDims, 384);
  float a[384], b[384];
  for (size_t i = 0; i < sizeof azSample / sizeof azSample[0]; i++) {
    embed_text(p, azSample[i], a);
    embed_text(q, azSample[i], b);
    assert_memory_equal(a, b, sizeof a);
    assert_float_equal(cosine(a, a, 384), 1.0, 1e-5);
  }
  /* Shared words and word pieces make texts similar; unrelated ones not. */
  float c[384];
  embed_text(p, "the patient had a fever", a);
  embed_text(p, "The patients had fevers.", b);
  embed_text(p, "stock prices fell sharply", c);
  assert_true(cosine(a, b, 384) > 0.3);
  assert_true(fabs(cosine(a, c, 384)) < 0.15);
  vg_embedder_close(p);
  vg_embedder_close(q);
}

static void test_batch_and_limit(void **state) {
  (void)state;
  VgEmbedder *p = 0;
  char *zErr = 0;
  assert_int_equal(vg_embedder_open("hash:64", &p, &zErr), SQLITE_OK);
  const char *az[3] = {azSample[0], azSample[2], azSample[5]};
  int an[3] = {(int)strlen(az[0]), (int)strlen(az[1]), (int)strlen(az[2])};
  float batch[3 * 64], one[64];
  assert_int_equal(p->xEmbed(p, 3, az, an, batch, &zErr), SQLITE_OK);
  for (int i = 0; i < 3; i++) {
    embed_text(p, az[i], one);
    assert_memory_equal(batch + 64 * i, one, sizeof one);
  }
  /* Tokens past the 512th are not read. */
  assert_int_equal(p->nMaxTokens, 512);
  char *zLong = malloc(700 * 8), *zCut = malloc(700 * 8);
  int n = 0;
  for (int i = 0; i < 700; i++) n += sprintf(zLong + n, "w%d ", i);
  memcpy(zCut, zLong, (size_t)n + 1);
  int nCut = 0;
  for (int i = 0; i < 512; i++) nCut += sprintf(zCut + nCut, "w%d ", i);
  float a[64], b[64];
  embed_text(p, zLong, a);
  embed_text(p, zCut, b);
  assert_memory_equal(a, b, sizeof a);
  free(zLong);
  free(zCut);
  /* Nothing to embed is an error naming the text. */
  const char *azBad[2] = {"fine", " ... !? "};
  int anBad[2] = {4, 8};
  assert_int_equal(p->xEmbed(p, 2, azBad, anBad, batch, &zErr), SQLITE_ERROR);
  assert_non_null(strstr(zErr, "text 2 has no words"));
  sqlite3_free(zErr);
  vg_embedder_close(p);
}

static void test_models_and_tokens(void **state) {
  (void)state;
  VgEmbedder *p = 0;
  char *zErr = 0;
  static const char *azBad[] = {"bert", "hash:", "hash:1", "hash:16385", "hash:12x", "hash:-4"};
  for (size_t i = 0; i < sizeof azBad / sizeof azBad[0]; i++) {
    assert_int_equal(vg_embedder_open(azBad[i], &p, &zErr), SQLITE_ERROR);
    assert_null(p);
    assert_non_null(strstr(zErr, azBad[i]));
    sqlite3_free(zErr);
    zErr = 0;
  }
  int aS[4], aE[4];
  const char *z = "  ab\tc\xc3\xa9 d  ";
  assert_int_equal(vg_tokens(z, (int)strlen(z), 4, aS, aE), 3);
  assert_int_equal(aS[0], 2);
  assert_int_equal(aE[0], 4);
  assert_int_equal(aS[1], 5);
  assert_int_equal(aE[1], 8);
  assert_int_equal(aS[2], 9);
  assert_int_equal(aE[2], 10);
  assert_int_equal(vg_tokens("   ", 3, 0, 0, 0), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_matches_reference),
      cmocka_unit_test(test_unit_length_and_determinism),
      cmocka_unit_test(test_batch_and_limit),
      cmocka_unit_test(test_models_and_tokens),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
