/*
** model.c — a BERT encoder from a sentence-transformers folder (bert.h,
** model section): its files read and checked, and the forward pass on
** OpenBLAS.
**
** The folder: config.json (the architecture), vocab.txt and
** tokenizer_config.json (the tokenizer), sentence_bert_config.json (the
** tokens read, max_seq_length), 1_Pooling/config.json (mean, CLS or max
** pooling), modules.json (whether a Normalize module follows) and
** model.safetensors.  Every tensor the architecture needs must be there
** with its shape; weights in F32 are used in place in the mapping when
** aligned, others (F16, BF16, unaligned F32) are converted once at load.
**
** The forward pass packs a batch's texts one after another (no padding
** rows): the dense layers run on all tokens at once, attention per text
** over its own tokens, which is what padding to the longest text and
** masking the pads computes, without the pads' work.
*/
#include "bert/bert.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct LayerWeights {
  const float *qW, *qB, *kW, *kB, *vW, *vB;      /* attention.self.{query,key,value} */
  const float *aoW, *aoB, *aoLnG, *aoLnB;        /* attention.output.dense, .LayerNorm */
  const float *inW, *inB;                        /* intermediate.dense */
  const float *outW, *outB, *outLnG, *outLnB;    /* output.dense, .LayerNorm */
} LayerWeights;

struct BertModel {
  BertConfig cfg;
  BertVocab *pVocab;
  BertTokenizerOptions tok;
  int nMaxTokens;   /* max_seq_length */
  int pooling;      /* BERT_POOL_* */
  int bNormalize;
  int nThread;
  BertSafetensors *pFile;
  const float *wordEmb, *posEmb, *typeEmb, *embLnG, *embLnB;
  LayerWeights *aLayer;
  const float *clsW, *clsB; /* the token-classification head, if cfg.nLabel */
  float **apOwned;          /* converted copies of weights */
  int nOwned;
};

/* ---- reading the folder ------------------------------------------------- */

static json_t *read_json(const char *zDir, const char *zFile, int bRequired, char *zErr, int *pRc) {
  char zPath[4096];
  snprintf(zPath, sizeof zPath, "%s/%s", zDir, zFile);
  json_error_t err;
  json_t *j = json_load_file(zPath, JSON_REJECT_DUPLICATES, &err);
  if (j == 0) {
    FILE *f = fopen(zPath, "r");
    if (f == 0 && !bRequired) return 0;
    if (f) fclose(f);
    if (f) {
      snprintf(zErr, BERT_ERR_MAX, "%.300s: not valid JSON (%.100s, line %d)", zPath, err.text, err.line);
    } else {
      snprintf(zErr, BERT_ERR_MAX, "%.300s: missing (a sentence-transformers model folder holds it)", zPath);
    }
    *pRc = BERT_ERROR;
    return 0;
  }
  if (!json_is_object(j)) {
    snprintf(zErr, BERT_ERR_MAX, "%.300s: not a JSON object", zPath);
    json_decref(j);
    *pRc = BERT_ERROR;
    return 0;
  }
  return j;
}

/* A whole number member of config.json within [lo, hi]. */
static int config_int(json_t *j, const char *zKey, int lo, int hi, int *pOut, char *zErr) {
  json_t *v = json_object_get(j, zKey);
  if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: %s must be a whole number from %d to %d", zKey, lo, hi);
    return BERT_ERROR;
  }
  *pOut = (int)json_integer_value(v);
  return BERT_OK;
}

static int read_config(json_t *j, BertConfig *c, char *zErr) {
  json_t *jType = json_object_get(j, "model_type");
  if (jType && (!json_is_string(jType) || strcmp(json_string_value(jType), "bert") != 0)) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: model_type \"%.40s\" is not \"bert\" (the encoder runs BERT models)",
             json_is_string(jType) ? json_string_value(jType) : "?");
    return BERT_ERROR;
  }
  int rc = config_int(j, "hidden_size", 1, 8192, &c->nHidden, zErr);
  if (rc == BERT_OK) rc = config_int(j, "num_hidden_layers", 1, 128, &c->nLayer, zErr);
  if (rc == BERT_OK) rc = config_int(j, "num_attention_heads", 1, 256, &c->nHead, zErr);
  if (rc == BERT_OK) rc = config_int(j, "intermediate_size", 1, 65536, &c->nInter, zErr);
  if (rc == BERT_OK) rc = config_int(j, "vocab_size", 3, 1 << 24, &c->nVocab, zErr);
  if (rc == BERT_OK) rc = config_int(j, "max_position_embeddings", 2, 65536, &c->nMaxPos, zErr);
  c->nTypeVocab = 2;
  if (rc == BERT_OK && json_object_get(j, "type_vocab_size")) {
    rc = config_int(j, "type_vocab_size", 1, 1024, &c->nTypeVocab, zErr);
  }
  if (rc != BERT_OK) return rc;
  if (c->nHidden % c->nHead != 0) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: hidden_size %d is not a multiple of num_attention_heads %d",
             c->nHidden, c->nHead);
    return BERT_ERROR;
  }
  json_t *jEps = json_object_get(j, "layer_norm_eps");
  c->eps = json_is_number(jEps) ? json_number_value(jEps) : 1e-12;
  json_t *jAct = json_object_get(j, "hidden_act");
  if (jAct && !(json_is_string(jAct) && strcmp(json_string_value(jAct), "gelu") == 0)) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: hidden_act \"%.40s\" is not supported (\"gelu\" is)",
             json_is_string(jAct) ? json_string_value(jAct) : "?");
    return BERT_ERROR;
  }
  json_t *jPos = json_object_get(j, "position_embedding_type");
  if (jPos && !(json_is_string(jPos) && strcmp(json_string_value(jPos), "absolute") == 0)) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: position_embedding_type must be \"absolute\"");
    return BERT_ERROR;
  }
  return BERT_OK;
}

/* The tokenizer's options from tokenizer_config.json (BERT's defaults
** when it is missing). */
static void read_tokenizer_options(json_t *j, BertTokenizerOptions *o) {
  bert_tokenizer_options_default(o);
  if (j == 0) return;
  json_t *v = json_object_get(j, "do_lower_case");
  if (json_is_boolean(v)) o->bLowercase = json_is_true(v);
  v = json_object_get(j, "tokenize_chinese_chars");
  if (json_is_boolean(v)) o->bChineseChars = json_is_true(v);
  v = json_object_get(j, "strip_accents");
  o->bStripAccents = json_is_boolean(v) ? json_is_true(v) : o->bLowercase;
}

/* ---- weights -------------------------------------------------------------- */

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, e = (h >> 10) & 0x1f, m = h & 0x3ff, bits;
  if (e == 0) {
    if (m == 0) {
      bits = sign;
    } else { /* subnormal: normalize it */
      e = 127 - 15 + 1;
      while ((m & 0x400) == 0) {
        m <<= 1;
        e--;
      }
      bits = sign | e << 23 | (m & 0x3ff) << 13;
    }
  } else if (e == 31) {
    bits = sign | 0xffu << 23 | m << 13;
  } else {
    bits = sign | (e + 127 - 15) << 23 | m << 13;
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

/* The tensor zPrefix + zName with shape [d0] or [d0, d1] (d1 = 0), as F32
** values: in place, or a converted copy that m owns. */
static int weight(BertModel *m, const char *zPrefix, const char *zName, int64_t d0, int64_t d1, const float **pp,
                  char *zErr) {
  char zFull[256];
  snprintf(zFull, sizeof zFull, "%s%s", zPrefix, zName);
  const BertTensor *t = bert_safetensors_find(m->pFile, zFull);
  int nDim = d1 ? 2 : 1;
  if (t == 0 || t->nDim != nDim || t->aShape[0] != d0 || (d1 && t->aShape[1] != d1) ||
      (t->dtype != BERT_DTYPE_F32 && t->dtype != BERT_DTYPE_F16 && t->dtype != BERT_DTYPE_BF16)) {
    char zShape[64];
    if (d1) {
      snprintf(zShape, sizeof zShape, "[%lld, %lld]", (long long)d0, (long long)d1);
    } else {
      snprintf(zShape, sizeof zShape, "[%lld]", (long long)d0);
    }
    snprintf(zErr, BERT_ERR_MAX, "model.safetensors: tensor %.200s %s; config.json needs it F32, F16 or BF16 of shape %s",
             zFull, t == 0 ? "is missing" : "has another shape or dtype", zShape);
    return BERT_ERROR;
  }
  size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1);
  if (t->dtype == BERT_DTYPE_F32 && ((uintptr_t)t->pData & 3) == 0) {
    *pp = t->pData;
    return BERT_OK;
  }
  float *a = malloc(sizeof(float) * n);
  float **apNew = realloc(m->apOwned, sizeof(float *) * (size_t)(m->nOwned + 1));
  if (a == 0 || apNew == 0) {
    free(a);
    if (apNew) m->apOwned = apNew;
    return BERT_NOMEM;
  }
  m->apOwned = apNew;
  m->apOwned[m->nOwned++] = a;
  const unsigned char *p = t->pData;
  for (size_t i = 0; i < n; i++) {
    if (t->dtype == BERT_DTYPE_F32) {
      memcpy(&a[i], p + 4 * i, 4);
    } else {
      uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
      if (t->dtype == BERT_DTYPE_F16) {
        a[i] = half_to_float(h);
      } else {
        uint32_t bits = (uint32_t)h << 16;
        memcpy(&a[i], &bits, 4);
      }
    }
  }
  *pp = a;
  return BERT_OK;
}

static int load_weights(BertModel *m, char *zErr) {
  const BertConfig *c = &m->cfg;
  /* A token-classification model keeps the encoder under "bert.". */
  const char *zPre = bert_safetensors_find(m->pFile, "bert.embeddings.word_embeddings.weight") ? "bert." : "";
  int64_t H = c->nHidden, F = c->nInter;
  int rc = weight(m, zPre, "embeddings.word_embeddings.weight", c->nVocab, H, &m->wordEmb, zErr);
  if (rc == BERT_OK) rc = weight(m, zPre, "embeddings.position_embeddings.weight", c->nMaxPos, H, &m->posEmb, zErr);
  if (rc == BERT_OK) {
    rc = weight(m, zPre, "embeddings.token_type_embeddings.weight", c->nTypeVocab, H, &m->typeEmb, zErr);
  }
  if (rc == BERT_OK) rc = weight(m, zPre, "embeddings.LayerNorm.weight", H, 0, &m->embLnG, zErr);
  if (rc == BERT_OK) rc = weight(m, zPre, "embeddings.LayerNorm.bias", H, 0, &m->embLnB, zErr);
  m->aLayer = calloc((size_t)c->nLayer, sizeof(LayerWeights));
  if (rc == BERT_OK && m->aLayer == 0) rc = BERT_NOMEM;
  for (int l = 0; rc == BERT_OK && l < c->nLayer; l++) {
    LayerWeights *w = &m->aLayer[l];
    const struct {
      const char *zName;
      int64_t d0, d1;
      const float **pp;
    } a[] = {
        {"attention.self.query.weight", H, H, &w->qW},     {"attention.self.query.bias", H, 0, &w->qB},
        {"attention.self.key.weight", H, H, &w->kW},       {"attention.self.key.bias", H, 0, &w->kB},
        {"attention.self.value.weight", H, H, &w->vW},     {"attention.self.value.bias", H, 0, &w->vB},
        {"attention.output.dense.weight", H, H, &w->aoW},  {"attention.output.dense.bias", H, 0, &w->aoB},
        {"attention.output.LayerNorm.weight", H, 0, &w->aoLnG},
        {"attention.output.LayerNorm.bias", H, 0, &w->aoLnB},
        {"intermediate.dense.weight", F, H, &w->inW},      {"intermediate.dense.bias", F, 0, &w->inB},
        {"output.dense.weight", H, F, &w->outW},           {"output.dense.bias", H, 0, &w->outB},
        {"output.LayerNorm.weight", H, 0, &w->outLnG},     {"output.LayerNorm.bias", H, 0, &w->outLnB},
    };
    for (size_t i = 0; rc == BERT_OK && i < sizeof a / sizeof a[0]; i++) {
      char zName[128];
      snprintf(zName, sizeof zName, "encoder.layer.%d.%s", l, a[i].zName);
      rc = weight(m, zPre, zName, a[i].d0, a[i].d1, a[i].pp, zErr);
    }
  }
  if (rc == BERT_OK && c->nLabel > 0) {
    rc = weight(m, "", "classifier.weight", c->nLabel, H, &m->clsW, zErr);
    if (rc == BERT_OK) rc = weight(m, "", "classifier.bias", c->nLabel, 0, &m->clsB, zErr);
  }
  return rc;
}

/* ---- opening and closing ------------------------------------------------- */

void bert_model_close(BertModel *m) {
  if (m == 0) return;
  bert_vocab_free(m->pVocab);
  bert_safetensors_close(m->pFile);
  for (int i = 0; i < m->nOwned; i++) free(m->apOwned[i]);
  free(m->apOwned);
  free(m->aLayer);
  for (int i = 0; i < m->cfg.nLabel; i++) free(m->cfg.azLabel[i]);
  free(m->cfg.azLabel);
  free(m);
}

/* id2label of a token-classification model: labels 0..n-1, each once. */
static int read_labels(json_t *jConfig, BertConfig *c, char *zErr) {
  json_t *j = json_object_get(jConfig, "id2label"), *v;
  json_t *jArch = json_object_get(jConfig, "architectures");
  int bTokenClass = 0;
  for (size_t i = 0; json_is_array(jArch) && i < json_array_size(jArch); i++) {
    const char *z = json_string_value(json_array_get(jArch, i));
    if (z && strcmp(z, "BertForTokenClassification") == 0) bTokenClass = 1;
  }
  if (!bTokenClass) return BERT_OK;
  if (!json_is_object(j) || json_object_size(j) == 0 || json_object_size(j) > 4096) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: a BertForTokenClassification model needs id2label");
    return BERT_ERROR;
  }
  int n = (int)json_object_size(j);
  c->azLabel = calloc((size_t)n, sizeof(char *));
  if (c->azLabel == 0) return BERT_NOMEM;
  c->nLabel = n;
  const char *zKey;
  json_object_foreach(j, zKey, v) {
    char *zEnd;
    long id = strtol(zKey, &zEnd, 10);
    if (*zKey == 0 || *zEnd || id < 0 || id >= n || c->azLabel[id] || !json_is_string(v)) {
      snprintf(zErr, BERT_ERR_MAX, "config.json: id2label must map \"0\" to \"%d\" each to a label", n - 1);
      return BERT_ERROR;
    }
    if ((c->azLabel[id] = strdup(json_string_value(v))) == 0) return BERT_NOMEM;
  }
  return BERT_OK;
}

int bert_model_open(const char *zDir, BertModel **ppOut, char *zErr) {
  *ppOut = 0;
  BertModel *m = calloc(1, sizeof(*m));
  if (m == 0) return BERT_NOMEM;
  m->nThread = 1;
  m->pooling = BERT_POOL_MEAN;
  int rc = BERT_OK;
  json_t *jConfig = read_json(zDir, "config.json", 1, zErr, &rc);
  json_t *jTok = rc == BERT_OK ? read_json(zDir, "tokenizer_config.json", 0, zErr, &rc) : 0;
  json_t *jSbert = rc == BERT_OK ? read_json(zDir, "sentence_bert_config.json", 0, zErr, &rc) : 0;
  json_t *jPool = rc == BERT_OK ? read_json(zDir, "1_Pooling/config.json", 0, zErr, &rc) : 0;
  json_t *jModules = 0;
  if (rc == BERT_OK) {
    char zPath[4096];
    snprintf(zPath, sizeof zPath, "%s/modules.json", zDir);
    jModules = json_load_file(zPath, 0, 0);
  }
  if (rc == BERT_OK) rc = read_config(jConfig, &m->cfg, zErr);
  if (rc == BERT_OK) rc = read_labels(jConfig, &m->cfg, zErr);
  if (rc == BERT_OK) {
    read_tokenizer_options(jTok, &m->tok);
    json_t *v = jSbert ? json_object_get(jSbert, "max_seq_length") : 0;
    m->nMaxTokens = json_is_integer(v) ? (int)json_integer_value(v) : 512;
    if (m->nMaxTokens > m->cfg.nMaxPos) m->nMaxTokens = m->cfg.nMaxPos;
    if (m->nMaxTokens < 2) {
      snprintf(zErr, BERT_ERR_MAX, "sentence_bert_config.json: max_seq_length must be at least 2");
      rc = BERT_ERROR;
    }
  }
  if (rc == BERT_OK && jPool) {
    int bMean = json_is_true(json_object_get(jPool, "pooling_mode_mean_tokens"));
    int bCls = json_is_true(json_object_get(jPool, "pooling_mode_cls_token"));
    int bMax = json_is_true(json_object_get(jPool, "pooling_mode_max_tokens"));
    if (bMean + bCls + bMax != 1) {
      snprintf(zErr, BERT_ERR_MAX, "1_Pooling/config.json: one of pooling_mode_mean_tokens, pooling_mode_cls_token "
               "and pooling_mode_max_tokens must be true");
      rc = BERT_ERROR;
    }
    m->pooling = bCls ? BERT_POOL_CLS : bMax ? BERT_POOL_MAX : BERT_POOL_MEAN;
  }
  /* A Normalize module in modules.json; a folder without modules.json
  ** (a bare BERT) is normalized too, as vectors for cosine search are. */
  m->bNormalize = jModules == 0;
  for (size_t i = 0; json_is_array(jModules) && i < json_array_size(jModules); i++) {
    const char *z = json_string_value(json_object_get(json_array_get(jModules, i), "type"));
    if (z && strstr(z, "Normalize")) m->bNormalize = 1;
  }
  json_decref(jConfig);
  json_decref(jTok);
  json_decref(jSbert);
  json_decref(jPool);
  json_decref(jModules);
  char zPath[4096];
  if (rc == BERT_OK) {
    snprintf(zPath, sizeof zPath, "%s/vocab.txt", zDir);
    rc = bert_vocab_load(zPath, &m->pVocab, zErr);
  }
  if (rc == BERT_OK && bert_vocab_size(m->pVocab) != m->cfg.nVocab) {
    snprintf(zErr, BERT_ERR_MAX, "%.300s holds %d tokens; config.json's vocab_size is %d", zPath,
             bert_vocab_size(m->pVocab), m->cfg.nVocab);
    rc = BERT_ERROR;
  }
  if (rc == BERT_OK) {
    snprintf(zPath, sizeof zPath, "%s/model.safetensors", zDir);
    rc = bert_safetensors_open(zPath, &m->pFile, zErr);
  }
  if (rc == BERT_OK) rc = load_weights(m, zErr);
  if (rc != BERT_OK) {
    bert_model_close(m);
    return rc;
  }
  *ppOut = m;
  return BERT_OK;
}

const BertConfig *bert_model_config(const BertModel *m) { return &m->cfg; }
int bert_model_max_tokens(const BertModel *m) { return m->nMaxTokens; }
const BertVocab *bert_model_vocab(const BertModel *m) { return m->pVocab; }

void bert_model_set_threads(BertModel *m, int nThread) { m->nThread = nThread < 1 ? 1 : nThread; }

int bert_model_tokenize(const BertModel *m, const char *z, int n, BertToken **paTok, int *pnTok) {
  return bert_tokenize(m->pVocab, &m->tok, z, n, m->nMaxTokens, paTok, pnTok);
}

/* ---- the forward pass ------------------------------------------------------ */

/* y[r] = x[r] W^T + b for the n rows of x (nIn wide) into y (nOut wide). */
static void dense(const float *x, int n, int nIn, const float *W, const float *b, int nOut, float *y) {
  for (int r = 0; r < n; r++) memcpy(y + (size_t)r * nOut, b, sizeof(float) * (size_t)nOut);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nOut, nIn, 1.0f, x, nIn, W, nIn, 1.0f, y, nOut);
}

/* x[r] = LayerNorm(x[r] + add[r]) for n rows of width h (add may be 0). */
static void layer_norm(float *x, const float *add, int n, int h, const float *g, const float *b, double eps) {
  for (int r = 0; r < n; r++) {
    float *p = x + (size_t)r * h;
    if (add) {
      const float *q = add + (size_t)r * h;
      for (int i = 0; i < h; i++) p[i] += q[i];
    }
    double mean = 0.0, var = 0.0;
    for (int i = 0; i < h; i++) mean += p[i];
    mean /= h;
    for (int i = 0; i < h; i++) var += (p[i] - mean) * (p[i] - mean);
    var /= h;
    float inv = (float)(1.0 / sqrt(var + eps));
    for (int i = 0; i < h; i++) p[i] = ((float)(p[i] - mean) * inv) * g[i] + b[i];
  }
}

/* Self-attention of one text's nTok rows (q, k, v, ctx are its rows of the
** packed [*, H] matrices); s has room for nTok * nTok scores. */
static void attend(const BertConfig *c, int nTok, const float *q, const float *k, const float *v, float *ctx,
                   float *s) {
  int H = c->nHidden, d = H / c->nHead;
  float scale = 1.0f / sqrtf((float)d);
  for (int h = 0; h < c->nHead; h++) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nTok, nTok, d, scale, q + h * d, H, k + h * d, H, 0.0f, s,
                nTok);
    for (int i = 0; i < nTok; i++) {
      float *row = s + (size_t)i * nTok, mx = row[0], sum = 0.0f;
      for (int j = 1; j < nTok; j++) mx = row[j] > mx ? row[j] : mx;
      for (int j = 0; j < nTok; j++) sum += row[j] = expf(row[j] - mx);
      for (int j = 0; j < nTok; j++) row[j] /= sum;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nTok, d, nTok, 1.0f, s, nTok, v + h * d, H, 0.0f,
                ctx + h * d, H);
  }
}

/* The last hidden states [sum of aLen, H] of nSeq texts whose token ids
** lie one after another in aId, into x. */
static int encode(const BertModel *m, int nSeq, const int *aLen, const int *aId, float *x) {
  const BertConfig *c = &m->cfg;
  int H = c->nHidden, F = c->nInter, N = 0, nLongest = 0; /* F: cblas.h makes I complex.h's */
  for (int i = 0; i < nSeq; i++) {
    N += aLen[i];
    if (aLen[i] > nLongest) nLongest = aLen[i];
  }
  float *q = malloc(sizeof(float) * (size_t)N * (size_t)(4 * H + F));
  float *s = malloc(sizeof(float) * (size_t)nLongest * (size_t)nLongest + 1);
  if (q == 0 || s == 0) {
    free(q);
    free(s);
    return BERT_NOMEM;
  }
  float *k = q + (size_t)N * H, *v = k + (size_t)N * H, *t = v + (size_t)N * H, *inter = t + (size_t)N * H;
  /* Embeddings: word + position + token type 0, then LayerNorm. */
  for (int i = 0, r = 0; i < nSeq; i++) {
    for (int p = 0; p < aLen[i]; p++, r++) {
      const float *we = m->wordEmb + (size_t)aId[r] * H, *pe = m->posEmb + (size_t)p * H;
      for (int j = 0; j < H; j++) x[(size_t)r * H + j] = we[j] + pe[j] + m->typeEmb[j];
    }
  }
  layer_norm(x, 0, N, H, m->embLnG, m->embLnB, c->eps);
  for (int l = 0; l < c->nLayer; l++) {
    const LayerWeights *w = &m->aLayer[l];
    dense(x, N, H, w->qW, w->qB, H, q);
    dense(x, N, H, w->kW, w->kB, H, k);
    dense(x, N, H, w->vW, w->vB, H, v);
    for (int i = 0, r = 0; i < nSeq; r += aLen[i++]) {
      size_t o = (size_t)r * H;
      attend(c, aLen[i], q + o, k + o, v + o, t + o, s);
    }
    dense(t, N, H, w->aoW, w->aoB, H, q);
    layer_norm(x, q, N, H, w->aoLnG, w->aoLnB, c->eps);
    dense(x, N, H, w->inW, w->inB, F, inter);
    for (size_t j = 0; j < (size_t)N * F; j++) {
      float z = inter[j];
      inter[j] = 0.5f * z * (1.0f + erff(z * 0.70710678118654752f)); /* GELU, exact */
    }
    dense(inter, N, F, w->outW, w->outB, H, q);
    layer_norm(x, q, N, H, w->outLnG, w->outLnB, c->eps);
  }
  free(q);
  free(s);
  return BERT_OK;
}

int bert_model_embed(const BertModel *m, int nText, const char *const *azText, const int *anText, float *aOut) {
  const BertConfig *c = &m->cfg;
  int H = c->nHidden;
  int *aLen = malloc(sizeof(int) * (size_t)(nText + 1));
  int *aId = malloc(sizeof(int) * ((size_t)nText * (size_t)m->nMaxTokens + 1));
  if (aLen == 0 || aId == 0) {
    free(aLen);
    free(aId);
    return BERT_NOMEM;
  }
  int rc = BERT_OK, N = 0;
  for (int i = 0; rc == BERT_OK && i < nText; i++) {
    BertToken *aTok = 0;
    rc = bert_model_tokenize(m, azText[i], anText[i], &aTok, &aLen[i]);
    for (int j = 0; rc == BERT_OK && j < aLen[i]; j++) aId[N++] = aTok[j].id;
    free(aTok);
  }
  float *x = rc == BERT_OK ? malloc(sizeof(float) * (size_t)N * (size_t)H + 1) : 0;
  if (rc == BERT_OK && x == 0) rc = BERT_NOMEM;
  if (rc == BERT_OK) {
    openblas_set_num_threads(m->nThread);
    rc = encode(m, nText, aLen, aId, x);
  }
  for (int i = 0, r = 0; rc == BERT_OK && i < nText; r += aLen[i++]) {
    float *out = aOut + (size_t)i * H;
    const float *rows = x + (size_t)r * H;
    if (m->pooling == BERT_POOL_CLS) {
      memcpy(out, rows, sizeof(float) * (size_t)H);
    } else {
      for (int j = 0; j < H; j++) {
        double acc = m->pooling == BERT_POOL_MAX ? rows[j] : 0.0;
        for (int p = 0; p < aLen[i]; p++) {
          float e = rows[(size_t)p * H + j];
          acc = m->pooling == BERT_POOL_MAX ? (e > acc ? e : acc) : acc + e;
        }
        out[j] = (float)(m->pooling == BERT_POOL_MAX ? acc : acc / aLen[i]);
      }
    }
    if (m->bNormalize) {
      double norm = 0.0;
      for (int j = 0; j < H; j++) norm += (double)out[j] * out[j];
      norm = sqrt(norm);
      if (norm < 1e-12) norm = 1e-12;
      for (int j = 0; j < H; j++) out[j] = (float)(out[j] / norm);
    }
  }
  free(x);
  free(aLen);
  free(aId);
  return rc;
}
