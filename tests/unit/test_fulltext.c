/*
** test_fulltext.c — the fulltext layer alone (no SQLite): Porter's stemmer
** against the worked examples of Porter's paper, the tokenizer against
** hand-made expectations, term hashes against a second implementation
** (Python, values below), varints and posting chunks against round trips
** and damaged bytes, BM25 against hand-computed values.
**
** The stemmer is also compared with Snowball's implementation of the same
** algorithm over a dictionary (tests/reference/test_porter.py).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fulltext/fulltext.h"

static const char *stem(const char *zWord) {
  static char buf[128];
  int n = (int)strlen(zWord);
  memcpy(buf, zWord, (size_t)n);
  ft_porter_stem(buf, &n);
  buf[n] = 0;
  return buf;
}

/* Whole-word results that follow from the paper: its closing examples
** (GENERALIZATIONS, OSCILLATORS) and its step examples carried through the
** remaining steps by hand. */
static void test_porter_paper(void **state) {
  (void)state;
  static const char *aCase[][2] = {
      {"generalizations", "gener"}, {"oscillators", "oscil"},
      {"caresses", "caress"},       {"ponies", "poni"},
      {"ties", "ti"},               {"caress", "caress"},
      {"cats", "cat"},              {"feed", "feed"},
      {"agreed", "agre"},           {"plastered", "plaster"},
      {"bled", "bled"},             {"motoring", "motor"},
      {"sing", "sing"},             {"conflated", "conflat"},
      {"troubled", "troubl"},       {"sized", "size"},
      {"hopping", "hop"},           {"tanned", "tan"},
      {"falling", "fall"},          {"hissing", "hiss"},
      {"fizzed", "fizz"},           {"failing", "fail"},
      {"filing", "file"},           {"happy", "happi"},
      {"sky", "sky"},               {"relational", "relat"},
      {"conditional", "condit"},    {"rational", "ration"},
      {"digitizer", "digit"},       {"vietnamization", "vietnam"},
      {"predication", "predic"},    {"operator", "oper"},
      {"feudalism", "feudal"},      {"decisiveness", "decis"},
      {"hopefulness", "hope"},      {"callousness", "callous"},
      {"triplicate", "triplic"},    {"formative", "form"},
      {"formalize", "formal"},      {"electrical", "electr"},
      {"hopeful", "hope"},          {"goodness", "good"},
      {"revival", "reviv"},         {"allowance", "allow"},
      {"inference", "infer"},       {"airliner", "airlin"},
      {"gyroscopic", "gyroscop"},   {"adjustable", "adjust"},
      {"defensible", "defens"},     {"irritant", "irrit"},
      {"replacement", "replac"},    {"adjustment", "adjust"},
      {"dependent", "depend"},      {"adoption", "adopt"},
      {"communism", "commun"},      {"activate", "activ"},
      {"effective", "effect"},      {"bowdlerize", "bowdler"},
      {"probate", "probat"},        {"rate", "rate"},
      {"cease", "ceas"},            {"controlling", "control"},
      {"roll", "roll"},             {"connection", "connect"},
      {"connections", "connect"},   {"connected", "connect"},
      {"connecting", "connect"},    {"as", "as"},
      {"is", "is"},                 {"yes", "ye"},
  };
  for (size_t i = 0; i < sizeof(aCase) / sizeof(aCase[0]); i++) {
    const char *z = stem(aCase[i][0]);
    if (strcmp(z, aCase[i][1]) != 0) {
      fail_msg("stem(%s) = %s, expected %s", aCase[i][0], z, aCase[i][1]);
    }
  }
}

typedef struct Terms {
  char a[64][FT_MAX_TERM + 1];
  int n;
  int nStop; /* stop after this many (0: never) */
} Terms;

static int collect(void *pCtx, const char *z, int n) {
  Terms *t = pCtx;
  assert_true(n > 0 && n <= FT_MAX_TERM);
  assert_true(t->n < 64);
  memcpy(t->a[t->n], z, (size_t)n);
  t->a[t->n][n] = 0;
  t->n++;
  if (t->nStop && t->n == t->nStop) return 99;
  return 0;
}

/* The terms of z, joined by '|'. */
static const char *terms_of(const char *z) {
  static char out[4096];
  Terms t;
  memset(&t, 0, sizeof t);
  assert_int_equal(ft_tokenize(z, (int)strlen(z), collect, &t), FT_OK);
  out[0] = 0;
  for (int i = 0; i < t.n; i++) {
    if (i) strcat(out, "|");
    strcat(out, t.a[i]);
  }
  return out;
}

static void test_tokenize(void **state) {
  (void)state;
  static const char *aCase[][2] = {
      {"The running dogs", "run|dog"},
      {"Café CAFÉ cafe\xcc\x81", "cafe|cafe|cafe"}, /* composed, upper, e + U+0301 */
      {"p53 IL-6, TNF-\xce\xb1!", "p53|il|6|tnf|\xce\xb1"}, /* digits keep a term unstemmed */
      {"\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3 \xef\xac\x81nance", "abc|financ"}, /* full-width, fi ligature */
      {"\xe6\x9d\xb1\xe4\xba\xac\xe9\x83\xbd tokyo", "\xe6\x9d\xb1|\xe4\xba\xac|\xe9\x83\xbd|tokyo"},
      {"Stra\xc3\x9f" "e", "strass"}, /* ß folds to ss */
      {"a an the of AND", ""},
      {"", ""},
      {" \t\n.,;:!?()[]{}\"'-*", ""},
      {"e-mail don't x_y", "e|mail|don|t|x|y"}, /* "_" separates; "e" and "t" are no stop words */
      {"\xf0\x9f\x98\x80smile\xf0\x9f\x98\x80", "smile"}, /* an emoji separates */
      {"\xd0\x9c\xd0\x9e\xd0\xa1\xd0\x9a\xd0\x92\xd0\x90", "\xd0\xbc\xd0\xbe\xd1\x81\xd0\xba\xd0\xb2\xd0\xb0"},
  };
  for (size_t i = 0; i < sizeof(aCase) / sizeof(aCase[0]); i++) {
    const char *z = terms_of(aCase[i][0]);
    if (strcmp(z, aCase[i][1]) != 0) {
      fail_msg("terms(%s) = [%s], expected [%s]", aCase[i][0], z, aCase[i][1]);
    }
  }
}

static void test_tokenize_edges(void **state) {
  (void)state;
  /* A long token is cut at FT_MAX_TERM bytes, at a character boundary. */
  char z[300];
  memset(z, 'k', 200);
  z[200] = 0;
  const char *t = terms_of(z);
  assert_int_equal((int)strlen(t), FT_MAX_TERM);
  /* 2-byte characters: 64 bytes hold 32 of them exactly; with one ASCII
  ** letter first, 31 fit after it, never half a character. */
  char *p = z;
  *p++ = 'x';
  for (int i = 0; i < 40; i++) {
    *p++ = (char)0xd0;
    *p++ = (char)0xb4; /* д */
  }
  *p = 0;
  t = terms_of(z);
  assert_int_equal((int)strlen(t), 1 + 2 * 31);
  /* Whether a word is stemmed depends on all of it, not its first 64
  ** bytes: a digit past the cut keeps "...ies" as it is. */
  memset(z, 'b', 61);
  memcpy(z + 61, "ies7", 5);
  t = terms_of(z);
  assert_int_equal((int)strlen(t), FT_MAX_TERM);
  assert_string_equal(t + 61, "ies");
  z[64] = 0; /* without the digit it is a word of letters: stemmed */
  assert_string_equal(terms_of(z) + 61, "i");
  /* Bytes that are not UTF-8 separate tokens and never crash. */
  assert_string_equal(terms_of("ab\xff" "cd\xc3"), "ab|cd");
  /* The callback's non-zero return stops the walk and is returned. */
  Terms tt;
  memset(&tt, 0, sizeof tt);
  tt.nStop = 2;
  const char *zText = "one two three four";
  assert_int_equal(ft_tokenize(zText, (int)strlen(zText), collect, &tt), 99);
  assert_int_equal(tt.n, 2);
  /* Only n bytes are read: no terminator needed. */
  memset(&tt, 0, sizeof tt);
  assert_int_equal(ft_tokenize("dogs cats", 4, collect, &tt), FT_OK);
  assert_int_equal(tt.n, 1);
  assert_string_equal(tt.a[0], "dog");
}

static void test_stop_words(void **state) {
  (void)state;
  assert_true(ft_is_stop_word("the", 3));
  assert_true(ft_is_stop_word("a", 1));
  assert_true(ft_is_stop_word("their", 5));
  assert_false(ft_is_stop_word("th", 2));     /* part of a stop word */
  assert_false(ft_is_stop_word("he", 2));     /* inside "the" */
  assert_false(ft_is_stop_word("them", 4));
  assert_false(ft_is_stop_word("", 0));
  assert_false(ft_is_stop_word("a the", 5));  /* two words are not one */
}

/* Values from a Python implementation of the same hash (FNV-1a 64, then
** splitmix64's finalizer), as signed integers. */
static void test_term_hash(void **state) {
  (void)state;
  assert_true(ft_term_hash("cafe", 4) == INT64_C(-3807605871794543926));
  assert_true(ft_term_hash("connect", 7) == INT64_C(2331824051386589362));
  assert_true(ft_term_hash("", 0) == INT64_C(-780787492076525413));
  assert_true(ft_term_hash("\xe6\x9d\xb1", 3) == INT64_C(7000065904061295752));
}

static void test_varint(void **state) {
  (void)state;
  static const uint64_t a[] = {0, 1, 127, 128, 16383, 16384, (1ULL << 32) - 1, 1ULL << 63,
                               UINT64_MAX};
  static const int aLen[] = {1, 1, 1, 2, 2, 3, 5, 10, 10};
  for (size_t i = 0; i < sizeof(a) / sizeof(a[0]); i++) {
    unsigned char buf[FT_VARINT_MAX];
    int n = ft_varint_put(buf, a[i]);
    assert_int_equal(n, aLen[i]);
    uint64_t v = 0;
    assert_int_equal(ft_varint_get(buf, n, &v), n);
    assert_true(v == a[i]);
    /* Cut short: refused. */
    assert_int_equal(ft_varint_get(buf, n - 1, &v), 0);
  }
  /* An eleventh byte, or a tenth above 1, is not a 64-bit varint. */
  unsigned char b[11];
  memset(b, 0xff, 10);
  b[10] = 0;
  uint64_t v;
  assert_int_equal(ft_varint_get(b, 11, &v), 0);
  b[9] = 2;
  assert_int_equal(ft_varint_get(b, 10, &v), 0);
}

static uint64_t rng_state = 88172645463325252ULL;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void test_postings_roundtrip(void **state) {
  (void)state;
  FtPosting a[300], b[300];
  unsigned char buf[300 * FT_POSTING_MAX];
  for (int round = 0; round < 200; round++) {
    int n = 1 + (int)(rng() % 300);
    /* Sorted distinct rowids, sometimes spanning all of int64. */
    int64_t r = round % 3 == 0 ? INT64_MIN : (int64_t)(rng() % 1000) - 500;
    for (int i = 0; i < n; i++) {
      uint64_t gap = round % 3 == 0 ? (UINT64_MAX / 301) : 1 + rng() % (round % 2 ? 3 : 100000);
      if (i) r = (int64_t)((uint64_t)r + gap);
      a[i].rowid = r;
      a[i].len = 1 + (uint32_t)(rng() % (round % 5 == 0 ? UINT32_MAX : 500));
      a[i].tf = 1 + (uint32_t)(rng() % a[i].len);
    }
    if (round == 1) a[n - 1].rowid = INT64_MAX;
    if (n > 1 && a[n - 1].rowid <= a[n - 2].rowid) n--;
    int nByte = ft_postings_encode(a, n, buf);
    assert_int_equal(nByte, ft_postings_size(a, n));
    assert_true(nByte <= n * FT_POSTING_MAX);
    assert_int_equal(ft_postings_decode(buf, nByte, a[0].rowid, n, b), 0);
    assert_memory_equal(a, b, sizeof(FtPosting) * (size_t)n);
    /* The wrong count or length: refused. */
    assert_int_equal(ft_postings_decode(buf, nByte - 1, a[0].rowid, n, b), -1);
    assert_int_equal(ft_postings_decode(buf, nByte, a[0].rowid, n + 1, b), -1);
    if (n > 1) assert_int_equal(ft_postings_decode(buf, nByte, a[0].rowid, n - 1, b), -1);
  }
}

static void test_postings_damaged(void **state) {
  (void)state;
  FtPosting b[4];
  unsigned char buf[64];
  int n;
  /* A gap of 0 (a rowid twice). */
  FtPosting twice[2] = {{5, 1, 3}, {5, 1, 3}};
  n = ft_postings_encode(twice, 2, buf);
  assert_int_equal(ft_postings_decode(buf, n, 5, 2, b), -1);
  /* tf 0, tf above len. */
  FtPosting zero[1] = {{5, 0, 3}};
  n = ft_postings_encode(zero, 1, buf);
  assert_int_equal(ft_postings_decode(buf, n, 5, 1, b), -1);
  FtPosting over[1] = {{5, 4, 3}};
  n = ft_postings_encode(over, 1, buf);
  assert_int_equal(ft_postings_decode(buf, n, 5, 1, b), -1);
  /* A gap that passes INT64_MAX. */
  FtPosting wrap[2] = {{INT64_MAX - 1, 1, 1}, {INT64_MAX, 1, 1}};
  n = ft_postings_encode(wrap, 2, buf);
  assert_int_equal(ft_postings_decode(buf, n, INT64_MAX - 1, 2, b), 0);
  buf[3] = 2; /* the gap 1 becomes 2 */
  assert_int_equal(ft_postings_decode(buf, n, INT64_MAX - 1, 2, b), -1);
  /* A length above 32 bits. */
  unsigned char big[16];
  int k = ft_varint_put(big, 0);
  k += ft_varint_put(big + k, 1);
  k += ft_varint_put(big + k, (uint64_t)UINT32_MAX + 1);
  assert_int_equal(ft_postings_decode(big, k, 0, 1, b), -1);
}

/* Hand-computed: N = 10, df = 2: idf = ln(1 + 8.5 / 2.5) = ln 4.4. */
static void test_bm25(void **state) {
  (void)state;
  double idf = ft_bm25_idf(10, 2);
  assert_true(fabs(idf - log(4.4)) < 1e-12);
  /* A term in every row still weighs a little: ln(1 + 0.5 / 10.5). */
  assert_true(fabs(ft_bm25_idf(10, 10) - log(1.0 + 0.5 / 10.5)) < 1e-12);
  /* tf 3, len 20, avgLen 10, k1 1.2, b 0.75:
  ** 3 * 2.2 / (3 + 1.2 * (0.25 + 1.5)) = 6.6 / 5.1 */
  double a, c;
  ft_bm25_norm(10.0, 1.2, 0.75, &a, &c);
  assert_true(fabs(ft_bm25_weight(1.0 * 2.2, a, c, 3, 20) - 6.6 / 5.1) < 1e-12);
  /* b = 0: length does not matter; tf saturates towards k1 + 1. */
  ft_bm25_norm(100.0, 0.9, 0.0, &a, &c);
  assert_true(fabs(ft_bm25_weight(2.0 * 1.9, a, c, 1, 7) - 2.0 * 1.9 / 1.9) < 1e-12);
  assert_true(fabs(ft_bm25_weight(2.0 * 1.9, a, c, 1, 70000) - 2.0 * 1.9 / 1.9) < 1e-12);
  ft_bm25_norm(1000.0, 0.9, 0.4, &a, &c);
  assert_true(ft_bm25_weight(1.9, a, c, 1000, 1000) < 1.9);
  assert_true(ft_bm25_weight(1.9, a, c, 1000, 1000) > 1.89);
  /* tf 2, len 5, avgLen 10, k1 0.9, b 0.4: 2 * 1.9 / (2 + 0.9 * (0.6 + 0.2)) = 3.8 / 2.72 */
  ft_bm25_norm(10.0, 0.9, 0.4, &a, &c);
  assert_true(fabs(ft_bm25_weight(1.9, a, c, 2, 5) - 3.8 / 2.72) < 1e-12);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_porter_paper),    cmocka_unit_test(test_tokenize),
      cmocka_unit_test(test_tokenize_edges),  cmocka_unit_test(test_stop_words),
      cmocka_unit_test(test_term_hash),       cmocka_unit_test(test_varint),
      cmocka_unit_test(test_postings_roundtrip), cmocka_unit_test(test_postings_damaged),
      cmocka_unit_test(test_bm25),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
