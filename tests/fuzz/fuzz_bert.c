/*
** fuzz_bert.c — libFuzzer target for the bert layer's readers of untrusted
** bytes (ext/bert/): the WordPiece tokenizer and the safetensors header.
**
** Feeds: byte 0 picks the part; the rest is its input.
**
**   part 0, the tokenizer, on any bytes (valid UTF-8 or not), a small
**   vocabulary with multi-byte and "##" pieces, options and limits from the
**   next three bytes:
**     - at most nMax tokens, [CLS] first (empty at 0) and [SEP] last
**       (empty at the text's end);
**     - every token between them has a known id and a non-empty byte range
**       inside the text, the ranges starting in order;
**     - with the limit raised, the tokens kept before are the first ones of
**       the longer list (truncation only cuts the end).
**   part 1, safetensors, on any bytes as a file: never reads outside them;
**   what it accepts has tensors whose data lie inside the buffer, one after
**   another, each found again by its name.
*/
#include "fuzzutil.h"

#include <stdlib.h>
#include <string.h>

#include "bert/bert.h"

static BertVocab *pVocab;

static const char *const azVocab[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "un", "##aff",
                                      "##able", "a", "##a", "##b", "caf", "##e", "\xc3\xa9", "\xe4\xb8\xad", ",", "!",
                                      "##\xc3\xa9", "x", "##x", "##xx", "1", "##2"};

static void check_tokens(const BertToken *a, int n, int nMax, int nText) {
  FZ_CHECKF(n >= 2 && n <= nMax, "%d tokens for a limit of %d", n, nMax);
  FZ_CHECK(a[0].id == 2 && a[0].start == 0 && a[0].end == 0);
  FZ_CHECK(a[n - 1].id == 3 && a[n - 1].start == nText && a[n - 1].end == nText);
  for (int i = 1; i + 1 < n; i++) {
    FZ_CHECKF(a[i].id >= 0 && a[i].id < (int)(sizeof azVocab / sizeof azVocab[0]), "id %d", a[i].id);
    FZ_CHECKF(a[i].start >= 0 && a[i].start < a[i].end && a[i].end <= nText, "token %d at [%d, %d) of %d", i,
              a[i].start, a[i].end, nText);
    FZ_CHECKF(a[i].start >= a[i - 1].start, "token %d starts before the one before", i);
  }
}

static void fuzz_tokenizer(FzIn *in) {
  BertTokenizerOptions o;
  bert_tokenizer_options_default(&o);
  uint8_t flags = fz_u8(in);
  o.bCleanText = flags & 1;
  o.bChineseChars = (flags >> 1) & 1;
  o.bStripAccents = (flags >> 2) & 1;
  o.bLowercase = (flags >> 3) & 1;
  o.nMaxWordChars = fz_range(in, 1, 120);
  int nMax = fz_range(in, 0, 40);
  const uint8_t *z;
  size_t n = fz_rest(in, &z);
  BertToken *a = 0, *b = 0;
  int na = 0, nb = 0;
  FZ_CHECK(bert_tokenize(pVocab, &o, (const char *)z, (int)n, nMax, &a, &na) == BERT_OK);
  check_tokens(a, na, nMax < 2 ? 2 : nMax, (int)n);
  FZ_CHECK(bert_tokenize(pVocab, &o, (const char *)z, (int)n, 4096, &b, &nb) == BERT_OK);
  check_tokens(b, nb, 4096, (int)n);
  /* The shorter list is the longer one cut: all but its [SEP] are a prefix. */
  FZ_CHECK(na <= nb);
  for (int i = 0; i + 1 < na; i++) {
    FZ_CHECKF(a[i].id == b[i].id && a[i].start == b[i].start && a[i].end == b[i].end,
              "token %d differs when the limit is raised", i);
  }
  free(a);
  free(b);
}

static void fuzz_safetensors(FzIn *in) {
  const uint8_t *z;
  size_t n = fz_rest(in, &z);
  /* A copy of its own, so that ASan sees any read past the end. */
  uint8_t *p = malloc(n ? n : 1);
  memcpy(p, z, n);
  BertSafetensors *st = 0;
  char zErr[BERT_ERR_MAX];
  if (bert_safetensors_from_memory(p, n, &st, zErr) == BERT_OK) {
    uint64_t nHeader = 0;
    for (int i = 7; i >= 0; i--) nHeader = nHeader << 8 | p[i];
    for (int i = 0; i < bert_safetensors_count(st); i++) {
      const BertTensor *t = bert_safetensors_tensor(st, i);
      FZ_CHECK((const uint8_t *)t->pData == p + 8 + nHeader + t->begin);
      FZ_CHECK(8 + nHeader + t->begin + t->nByte <= n);
      FZ_CHECK(bert_safetensors_find(st, t->zName) == t);
      /* Touch the bytes: ASan checks they are the buffer's. */
      volatile uint8_t sum = 0;
      for (uint64_t k = 0; k < t->nByte; k++) sum += ((const uint8_t *)t->pData)[k];
      (void)sum;
    }
    bert_safetensors_close(st);
  } else {
    FZ_CHECK(st == 0 && zErr[0] != 0);
  }
  free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (pVocab == 0) {
    char zErr[BERT_ERR_MAX];
    if (bert_vocab_new(azVocab, (int)(sizeof azVocab / sizeof azVocab[0]), &pVocab, zErr) != BERT_OK) {
      fz_fail("vocabulary: %s", zErr);
    }
  }
  FzIn in = {data, size, 0};
  if (fz_u8(&in) % 2 == 0) {
    fuzz_tokenizer(&in);
  } else {
    fuzz_safetensors(&in);
  }
  return 0;
}
