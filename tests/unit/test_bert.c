/*
** test_bert.c — the bert layer alone (it uses no SQLite): the WordPiece
** tokenizer against reference_tokenization.jsonl of ../shared/models, 51
** texts tokenized by Hugging Face's tokenizers (Rust) and transformers.js,
** which agree on all of them; and cases worked out by hand on a small
** vocabulary (pieces, [UNK], offsets, truncation, options).  Safetensors
** files: small ones written here, whole and damaged, and the real model's
** layout (its header, and its truncated prefix).  The model: a batch of
** texts gives each text's vector alone, on one thread or two (the forward
** pass itself is checked against numpy by tests/reference/
** test_bert_forward.py).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "bert/bert.h"
#include "shared_data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utf8proc.h>

#define MODEL_DIR "models/all-MiniLM-L6-v2"

/* ---- enough JSON for the reference file --------------------------------- */

/* The JSON string value of "key" in zLine, decoded (malloc'd), its length
** in *pn. */
static char *json_string(const char *zLine, const char *zKey, int *pn) {
  char zPat[64];
  snprintf(zPat, sizeof zPat, "\"%s\":\"", zKey);
  const char *p = strstr(zLine, zPat);
  assert_non_null(p);
  p += strlen(zPat);
  char *z = malloc(strlen(p) + 1);
  size_t n = 0;
  while (*p != '"') {
    assert_true(*p != 0);
    if (*p != '\\') {
      z[n++] = *p++;
      continue;
    }
    char c = p[1];
    p += 2;
    const char *zSimple = strchr("\"\\/bfnrt", c);
    if (zSimple) {
      z[n++] = "\"\\/\b\f\n\r\t"[zSimple - "\"\\/bfnrt"];
      continue;
    }
    assert_int_equal(c, 'u');
    unsigned cp = 0, lo = 0;
    assert_int_equal(sscanf(p, "%4x", &cp), 1);
    p += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u' && sscanf(p + 2, "%4x", &lo) == 1) {
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      p += 6;
    }
    n += (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)z + n);
  }
  z[n] = 0;
  *pn = (int)n;
  return z;
}

/* The integer array value of "key" in zLine into a (at most nMax). */
static int json_ints(const char *zLine, const char *zKey, int *a, int nMax) {
  char zPat[64];
  snprintf(zPat, sizeof zPat, "\"%s\":[", zKey);
  const char *p = strstr(zLine, zPat);
  assert_non_null(p);
  p += strlen(zPat);
  int n = 0;
  while (*p != ']') {
    char *pEnd;
    long v = strtol(p, &pEnd, 10);
    assert_true(pEnd != p && n < nMax);
    a[n++] = (int)v;
    p = *pEnd == ',' ? pEnd + 1 : pEnd;
  }
  return n;
}

/* ---- the reference ------------------------------------------------------- */

static void test_reference_tokenization(void **state) {
  (void)state;
  FILE *f = shared_open_file(MODEL_DIR "/reference_tokenization.jsonl");
  char zPath[1024], zErr[BERT_ERR_MAX];
  shared_path(MODEL_DIR "/vocab.txt", zPath, sizeof zPath);
  BertVocab *v = 0;
  int rc = bert_vocab_load(zPath, &v, zErr);
  if (rc != BERT_OK) fail_msg("%s", zErr);
  assert_int_equal(bert_vocab_size(v), 30522);
  BertTokenizerOptions o;
  bert_tokenizer_options_default(&o);
  static char zLine[1 << 20];
  static int aFull[4096], aCut[4096];
  int nLine = 0, nLong = 0;
  while (fgets(zLine, sizeof zLine, f)) {
    int nText;
    char *zText = json_string(zLine, "text", &nText);
    int nFull = json_ints(zLine, "input_ids", aFull, 4096);
    int nCut = json_ints(zLine, "input_ids_truncated_256", aCut, 4096);
    /* Without a limit (one larger than the text could need), then at 256. */
    for (int pass = 0; pass < 2; pass++) {
      const int *aWant = pass ? aCut : aFull;
      int nWant = pass ? nCut : nFull;
      BertToken *aTok = 0;
      int nTok = 0;
      assert_int_equal(bert_tokenize(v, &o, zText, nText, pass ? 256 : nText + 2, &aTok, &nTok), BERT_OK);
      int bSame = nTok == nWant;
      for (int i = 0; bSame && i < nTok; i++) bSame = aTok[i].id == aWant[i];
      if (!bSame) {
        fprintf(stderr, "line %d, %s: %d tokens, want %d\n got ", nLine + 1, pass ? "cut at 256" : "whole", nTok,
                nWant);
        for (int i = 0; i < nTok && i < 40; i++) fprintf(stderr, "%s ", bert_vocab_token(v, aTok[i].id));
        fprintf(stderr, "\n want ");
        for (int i = 0; i < nWant && i < 40; i++) fprintf(stderr, "%s ", bert_vocab_token(v, aWant[i]));
        fprintf(stderr, "\n text %s\n", zText);
        fail();
      }
      /* Each piece comes from bytes of the text, in order. */
      for (int i = 1; i + 1 < nTok; i++) {
        assert_true(aTok[i].start < aTok[i].end && aTok[i].end <= nText);
        assert_true(aTok[i].start >= aTok[i - 1].start);
      }
      free(aTok);
    }
    nLong += nFull > 256;
    free(zText);
    nLine++;
  }
  fclose(f);
  bert_vocab_free(v);
  printf("  %d reference texts tokenized alike (%d of them cut at 256)\n", nLine, nLong);
  assert_int_equal(nLine, 51);
  assert_true(nLong >= 1);
}

/* ---- by hand -------------------------------------------------------------- */

static BertVocab *small_vocab(void) {
  static const char *const az[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "aff", "able",
                                   "cafe", ",", "!", "中", "the", "##s", "a", "##a"};
  BertVocab *v = 0;
  char zErr[BERT_ERR_MAX];
  assert_int_equal(bert_vocab_new(az, (int)(sizeof az / sizeof az[0]), &v, zErr), BERT_OK);
  return v;
}

/* The tokens of z as "token@start-end ..." */
static char *describe(const BertVocab *v, const BertTokenizerOptions *o, const char *z, int nMax) {
  BertToken *a = 0;
  int n = 0;
  assert_int_equal(bert_tokenize(v, o, z, (int)strlen(z), nMax, &a, &n), BERT_OK);
  static char zOut[2048];
  size_t k = 0;
  for (int i = 0; i < n; i++) {
    k += (size_t)snprintf(zOut + k, sizeof zOut - k, "%s%s@%d-%d", i ? " " : "", bert_vocab_token(v, a[i].id),
                          a[i].start, a[i].end);
  }
  zOut[k] = 0;
  free(a);
  return zOut;
}

static void test_by_hand(void **state) {
  (void)state;
  BertVocab *v = small_vocab();
  BertTokenizerOptions o;
  bert_tokenizer_options_default(&o);
  /* Longest pieces first; a word that cannot be cut is one [UNK]. */
  assert_string_equal(describe(v, &o, "Unaffable", 64),
                      "[CLS]@0-0 un@0-2 ##aff@2-5 ##able@5-9 [SEP]@9-9");
  assert_string_equal(describe(v, &o, "unaffablex the", 64), "[CLS]@0-0 [UNK]@0-10 the@11-14 [SEP]@14-14");
  /* Accents stripped through NFD (the bytes of "é" are 3-5), punctuation
  ** split off, a CJK ideograph alone, controls dropped. */
  assert_string_equal(describe(v, &o, "Caf\xc3\xa9,the\x01!\xe4\xb8\xad" "a", 64),
                      "[CLS]@0-0 cafe@0-5 ,@5-6 the@6-9 !@10-11 \xe4\xb8\xad@11-14 a@14-15 [SEP]@15-15");
  /* Special tokens written in the text are matched as they are, first. */
  assert_string_equal(describe(v, &o, "the[SEP]cafe [UNK] [sep", 64),
                      "[CLS]@0-0 the@0-3 [SEP]@3-8 cafe@8-12 [UNK]@13-18 [UNK]@19-20 [UNK]@20-23 [SEP]@23-23");
  /* A text longer than a span (4096 bytes) keeps its offsets. */
  {
    char *zLong = malloc(8001);
    for (int i = 0; i < 2000; i++) memcpy(zLong + 4 * i, "the ", 4);
    zLong[8000] = 0;
    BertToken *a = 0;
    int n = 0;
    assert_int_equal(bert_tokenize(v, &o, zLong, 8000, 5000, &a, &n), BERT_OK);
    assert_int_equal(n, 2002);
    for (int i = 1; i <= 2000; i++) {
      assert_int_equal(a[i].start, 4 * (i - 1));
      assert_int_equal(a[i].end, 4 * (i - 1) + 3);
    }
    free(a);
    assert_int_equal(bert_tokenize(v, &o, zLong, 8000, 4, &a, &n), BERT_OK);
    assert_int_equal(n, 4);
    assert_int_equal(a[3].start, 8000);
    free(a);
    free(zLong);
  }
  /* Truncation keeps [CLS] and [SEP]. */
  assert_string_equal(describe(v, &o, "the the the", 3), "[CLS]@0-0 the@0-3 [SEP]@11-11");
  assert_string_equal(describe(v, &o, "", 8), "[CLS]@0-0 [SEP]@0-0");
  /* Words longer than the limit are [UNK] without a try. */
  o.nMaxWordChars = 3;
  assert_string_equal(describe(v, &o, "thes aaaa", 64), "[CLS]@0-0 [UNK]@0-4 [UNK]@5-9 [SEP]@9-9");
  /* A cased tokenizer keeps case and accents. */
  bert_tokenizer_options_default(&o);
  o.bLowercase = 0;
  o.bStripAccents = 0;
  assert_string_equal(describe(v, &o, "The cafe", 64), "[CLS]@0-0 [UNK]@0-3 cafe@4-8 [SEP]@8-8");
  bert_vocab_free(v);
}

static void test_bad_vocabularies(void **state) {
  (void)state;
  char zErr[BERT_ERR_MAX];
  BertVocab *v = 0;
  static const char *const azTwice[] = {"[UNK]", "[CLS]", "[SEP]", "a", "a"};
  assert_int_equal(bert_vocab_new(azTwice, 5, &v, zErr), BERT_ERROR);
  assert_non_null(strstr(zErr, "twice"));
  static const char *const azNoSep[] = {"[UNK]", "[CLS]", "a"};
  assert_int_equal(bert_vocab_new(azNoSep, 3, &v, zErr), BERT_ERROR);
  assert_non_null(strstr(zErr, "[SEP]"));
  assert_int_equal(bert_vocab_load("/nonexistent/vocab.txt", &v, zErr), BERT_ERROR);
  assert_non_null(strstr(zErr, "/nonexistent/vocab.txt"));
  assert_null(v);
}

/* ---- safetensors ---------------------------------------------------------- */

/* Write a safetensors file: the header zJson, then nData bytes (byte i is
** i % 251), to a temporary path (static). */
static const char *write_st(const char *zJson, size_t nData) {
  static char zPath[256];
  snprintf(zPath, sizeof zPath, "/tmp/vg_test_bert_%d.safetensors", (int)getpid());
  FILE *f = fopen(zPath, "wb");
  assert_non_null(f);
  uint64_t n = strlen(zJson);
  unsigned char aLen[8];
  for (int i = 0; i < 8; i++) aLen[i] = (unsigned char)(n >> (8 * i));
  fwrite(aLen, 1, 8, f);
  fwrite(zJson, 1, n, f);
  for (size_t i = 0; i < nData; i++) fputc((int)(i % 251), f);
  fclose(f);
  return zPath;
}

/* The error of opening a file of header zJson and nData bytes of data. */
static const char *st_error(const char *zJson, size_t nData) {
  static char zErr[BERT_ERR_MAX];
  BertSafetensors *st = 0;
  const char *zPath = write_st(zJson, nData);
  assert_int_equal(bert_safetensors_open(zPath, &st, zErr), BERT_ERROR);
  assert_null(st);
  unlink(zPath);
  return zErr;
}

static void test_safetensors_small(void **state) {
  (void)state;
  char zErr[BERT_ERR_MAX];
  BertSafetensors *st = 0;
  const char *zGood = "{\"__metadata__\":{\"format\":\"pt\"},\"b\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[24,30]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}";
  const char *zPath = write_st(zGood, 30);
  if (bert_safetensors_open(zPath, &st, zErr) != BERT_OK) fail_msg("%s", zErr);
  assert_int_equal(bert_safetensors_count(st), 2);
  const BertTensor *a = bert_safetensors_find(st, "a"), *b = bert_safetensors_find(st, "b");
  assert_non_null(a);
  assert_non_null(b);
  assert_null(bert_safetensors_find(st, "c"));
  assert_int_equal(a->dtype, BERT_DTYPE_F32);
  assert_int_equal(a->nDim, 2);
  assert_int_equal(a->aShape[0], 2);
  assert_int_equal(a->aShape[1], 3);
  assert_int_equal(b->dtype, BERT_DTYPE_F16);
  /* The bytes are the file's, where the header puts them. */
  assert_int_equal(((const unsigned char *)a->pData)[5], 5);
  assert_int_equal(((const unsigned char *)b->pData)[0], 24);
  bert_safetensors_close(st);
  /* The same bytes from memory: the same tensors, where the bytes lie. */
  {
    FILE *f = fopen(zPath, "rb");
    static unsigned char aFile[4096];
    size_t nFile = fread(aFile, 1, sizeof aFile, f);
    fclose(f);
    if (bert_safetensors_from_memory(aFile, nFile, &st, zErr) != BERT_OK) fail_msg("%s", zErr);
    a = bert_safetensors_find(st, "a");
    assert_non_null(a);
    assert_ptr_equal(a->pData, aFile + nFile - 30);
    bert_safetensors_close(st);
    assert_int_equal(bert_safetensors_from_memory(aFile, nFile - 1, &st, zErr), BERT_ERROR);
    assert_non_null(strstr(zErr, "(memory): truncated file"));
  }
  unlink(zPath);
  /* An empty tensor may start where another does, listed before or after. */
  zPath = write_st("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                   "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", 16);
  if (bert_safetensors_open(zPath, &st, zErr) != BERT_OK) fail_msg("%s", zErr);
  assert_int_equal(bert_safetensors_count(st), 2);
  bert_safetensors_close(st);
  unlink(zPath);
  /* Damage, each named. */
  assert_non_null(strstr(st_error(zGood, 29), "truncated file"));
  assert_non_null(strstr(st_error(zGood, 31), "1 bytes after the last tensor"));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 20),
                         "tensor a: data_offsets [0, 20] hold 20 bytes; its dtype F32 and shape need 24"));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                  "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", 6),
                         "tensors overlap"));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                         "a hole in the data"));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"Q4\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4),
                         "unknown dtype \"Q4\""));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4), "tensor a: its header entry needs"));
  assert_non_null(strstr(st_error("{\"a\": [", 4), "not a JSON object"));
  assert_non_null(strstr(st_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                  "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8),
                         "not a JSON object"));
  assert_int_equal(bert_safetensors_open("/nonexistent.safetensors", &st, zErr), BERT_ERROR);
  assert_non_null(strstr(zErr, "cannot open /nonexistent.safetensors"));
}

/* The real model's layout: its truncated prefix is refused as truncated;
** its whole header, with data of the size it says (a sparse file), opens
** with every tensor where the header puts it. */
static void test_safetensors_real_layout(void **state) {
  (void)state;
  char zPath[1024], zErr[BERT_ERR_MAX];
  BertSafetensors *st = 0;
  fclose(shared_open_file(MODEL_DIR "/model.safetensors.truncated-prefix"));
  shared_path(MODEL_DIR "/model.safetensors.truncated-prefix", zPath, sizeof zPath);
  assert_int_equal(bert_safetensors_open(zPath, &st, zErr), BERT_ERROR);
  printf("  truncated prefix: %s\n", zErr);
  assert_non_null(strstr(zErr, "truncated file"));
  assert_non_null(strstr(zErr, "90856960")); /* the data the header describes */
  /* Its first 8 bytes and header, then the data as a hole. */
  FILE *f = fopen(zPath, "rb");
  unsigned char aLen[8];
  assert_int_equal(fread(aLen, 1, 8, f), 8);
  uint64_t nHeader = 0;
  for (int i = 7; i >= 0; i--) nHeader = nHeader << 8 | aLen[i];
  char *zHeader = malloc(nHeader + 1);
  assert_int_equal(fread(zHeader, 1, nHeader, f), nHeader);
  zHeader[nHeader] = 0;
  fclose(f);
  char zCopy[256];
  snprintf(zCopy, sizeof zCopy, "/tmp/vg_test_bert_real_%d.safetensors", (int)getpid());
  f = fopen(zCopy, "wb");
  fwrite(aLen, 1, 8, f);
  fwrite(zHeader, 1, nHeader, f);
  fclose(f);
  assert_int_equal(truncate(zCopy, (off_t)(8 + nHeader + 90856960)), 0);
  if (bert_safetensors_open(zCopy, &st, zErr) != BERT_OK) fail_msg("%s", zErr);
  assert_int_equal(bert_safetensors_count(st), 104);
  const BertTensor *t = bert_safetensors_find(st, "encoder.layer.5.intermediate.dense.weight");
  assert_non_null(t);
  assert_int_equal(t->dtype, BERT_DTYPE_F32);
  assert_int_equal(t->aShape[0], 1536);
  assert_int_equal(t->aShape[1], 384);
  t = bert_safetensors_find(st, "embeddings.position_ids");
  assert_int_equal(t->dtype, BERT_DTYPE_OTHER);
  bert_safetensors_close(st);
  unlink(zCopy);
  free(zHeader);
}

/* ---- the model: a batch is each of its texts alone ------------------------ */

static void write_file(const char *zDir, const char *zName, const char *zText) {
  char zPath[512];
  snprintf(zPath, sizeof zPath, "%s/%s", zDir, zName);
  FILE *f = fopen(zPath, "w");
  assert_non_null(f);
  fputs(zText, f);
  fclose(f);
}

/* A tiny BERT folder with random weights (xorshift), no pooling config (mean)
** and no modules.json (normalized). */
static void write_tiny_model(const char *zDir) {
  static const char *const azTok[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cat", "sat", "on", "mat",
                                      "##s", "a", "dog", ".", ",", "run", "##ning", "fast", "slow", "red", "blue"};
  const int nVocab = 20, h = 8, nInter = 16, nLayer = 2, nPos = 64;
  char zText[4096];
  size_t k = 0;
  for (int i = 0; i < nVocab; i++) k += (size_t)snprintf(zText + k, sizeof zText - k, "%s\n", azTok[i]);
  write_file(zDir, "vocab.txt", zText);
  snprintf(zText, sizeof zText,
           "{\"model_type\": \"bert\", \"hidden_size\": %d, \"num_hidden_layers\": %d, \"num_attention_heads\": 2, "
           "\"intermediate_size\": %d, \"vocab_size\": %d, \"max_position_embeddings\": %d, \"type_vocab_size\": 2, "
           "\"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}",
           h, nLayer, nInter, nVocab, nPos);
  write_file(zDir, "config.json", zText);
  /* The tensors, in the real model's names. */
  struct {
    char zName[96];
    int d0, d1;
  } a[64];
  int n = 0;
#define T(name, x, y) (snprintf(a[n].zName, sizeof a[n].zName, "%s", name), a[n].d0 = (x), a[n].d1 = (y), n++)
  T("embeddings.word_embeddings.weight", nVocab, h);
  T("embeddings.position_embeddings.weight", nPos, h);
  T("embeddings.token_type_embeddings.weight", 2, h);
  T("embeddings.LayerNorm.weight", h, 0);
  T("embeddings.LayerNorm.bias", h, 0);
  static const char *const azLayer[][2] = {
      {"attention.self.query.weight", "hh"}, {"attention.self.query.bias", "h"}, {"attention.self.key.weight", "hh"},
      {"attention.self.key.bias", "h"},      {"attention.self.value.weight", "hh"}, {"attention.self.value.bias", "h"},
      {"attention.output.dense.weight", "hh"}, {"attention.output.dense.bias", "h"},
      {"attention.output.LayerNorm.weight", "h"}, {"attention.output.LayerNorm.bias", "h"},
      {"intermediate.dense.weight", "ih"},   {"intermediate.dense.bias", "i"}, {"output.dense.weight", "hi"},
      {"output.dense.bias", "h"},            {"output.LayerNorm.weight", "h"}, {"output.LayerNorm.bias", "h"}};
  for (int l = 0; l < nLayer; l++) {
    for (size_t i = 0; i < sizeof azLayer / sizeof azLayer[0]; i++) {
      char zName[96];
      snprintf(zName, sizeof zName, "encoder.layer.%d.%s", l, azLayer[i][0]);
      const char *zShape = azLayer[i][1];
      int d0 = zShape[0] == 'i' ? nInter : h, d1 = zShape[1] == 0 ? 0 : zShape[1] == 'i' ? nInter : h;
      T(zName, d0, d1);
    }
  }
#undef T
  size_t nJson = 0, off = 0;
  static char zJson[16384];
  nJson += (size_t)snprintf(zJson + nJson, sizeof zJson - nJson, "{");
  for (int i = 0; i < n; i++) {
    size_t nByte = 4 * (size_t)a[i].d0 * (size_t)(a[i].d1 ? a[i].d1 : 1);
    if (a[i].d1) {
      nJson += (size_t)snprintf(zJson + nJson, sizeof zJson - nJson,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d,%d],\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", a[i].zName, a[i].d0, a[i].d1, off, off + nByte);
    } else {
      nJson += (size_t)snprintf(zJson + nJson, sizeof zJson - nJson,
                                "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%d],\"data_offsets\":[%zu,%zu]}",
                                i ? "," : "", a[i].zName, a[i].d0, off, off + nByte);
    }
    off += nByte;
  }
  nJson += (size_t)snprintf(zJson + nJson, sizeof zJson - nJson, "}");
  char zPath[512];
  snprintf(zPath, sizeof zPath, "%s/model.safetensors", zDir);
  FILE *f = fopen(zPath, "wb");
  unsigned char aLen[8];
  for (int i = 0; i < 8; i++) aLen[i] = (unsigned char)((uint64_t)nJson >> (8 * i));
  fwrite(aLen, 1, 8, f);
  fwrite(zJson, 1, nJson, f);
  uint64_t x = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < off / 4; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    float v = (float)((double)(x >> 11) / 9007199254740992.0 - 0.5);
    fwrite(&v, 4, 1, f);
  }
  fclose(f);
}

static void test_model_batches(void **state) {
  (void)state;
  char zDir[256], zErr[BERT_ERR_MAX];
  snprintf(zDir, sizeof zDir, "/tmp/vg_test_bert_model_%d", (int)getpid());
  assert_int_equal(mkdir(zDir, 0700), 0);
  write_tiny_model(zDir);
  BertModel *m = 0;
  if (bert_model_open(zDir, &m, zErr) != BERT_OK) fail_msg("%s", zErr);
  assert_int_equal(bert_model_config(m)->nHidden, 8);
  static const char *const azText[] = {"the cat sat on the mat.", "a dog", "running fast, slow", "cats",
                                       "red blue red blue red blue red blue", "unknown words here", "the"};
  const int nText = 7, h = 8;
  int anText[7];
  for (int i = 0; i < nText; i++) anText[i] = (int)strlen(azText[i]);
  float aBatch[7 * 8], aOne[8];
  /* One thread and two: the same batch. */
  for (int nThread = 1; nThread <= 2; nThread++) {
    bert_model_set_threads(m, nThread);
    assert_int_equal(bert_model_embed(m, nText, azText, anText, aBatch), BERT_OK);
    for (int i = 0; i < nText; i++) {
      assert_int_equal(bert_model_embed(m, 1, &azText[i], &anText[i], aOne), BERT_OK);
      double norm = 0.0;
      for (int j = 0; j < h; j++) {
        assert_true(fabsf(aOne[j] - aBatch[i * h + j]) < 1e-6f);
        norm += (double)aOne[j] * aOne[j];
      }
      assert_true(fabs(norm - 1.0) < 1e-5);
    }
  }
  bert_model_close(m);
  /* A tensor gone is named. */
  char zPath[512];
  snprintf(zPath, sizeof zPath, "%s/config.json", zDir);
  write_file(zDir, "config.json",
             "{\"model_type\": \"bert\", \"hidden_size\": 8, \"num_hidden_layers\": 3, \"num_attention_heads\": 2, "
             "\"intermediate_size\": 16, \"vocab_size\": 20, \"max_position_embeddings\": 64}");
  assert_int_equal(bert_model_open(zDir, &m, zErr), BERT_ERROR);
  assert_non_null(strstr(zErr, "tensor encoder.layer.2.attention.self.query.weight is missing"));
  static const char *const azFile[] = {"vocab.txt", "config.json", "model.safetensors"};
  for (int i = 0; i < 3; i++) {
    snprintf(zPath, sizeof zPath, "%s/%s", zDir, azFile[i]);
    unlink(zPath);
  }
  rmdir(zDir);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_by_hand),
      cmocka_unit_test(test_bad_vocabularies),
      cmocka_unit_test(test_reference_tokenization),
      cmocka_unit_test(test_safetensors_small),
      cmocka_unit_test(test_safetensors_real_layout),
      cmocka_unit_test(test_model_batches),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
