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

#include <assert.h>
#include <cblas.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct LayerWeights {
  float *qkvW, *qkvB; /* attention.self.{query,key,value} stacked: one product for all three */
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
  if (!(c->eps > 0.0 && c->eps < 1.0)) {
    snprintf(zErr, BERT_ERR_MAX, "config.json: layer_norm_eps must be a number above 0 and below 1");
    return BERT_ERROR;
  }
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

/* The tensor zPrefix + zName, checked: shape [d0] or [d0, d1] (d1 = 0),
** F32, F16 or BF16.  0, with zErr naming it and what it should be. */
static const BertTensor *tensor_checked(const BertModel *m, const char *zPrefix, const char *zName, int64_t d0,
                                        int64_t d1, char *zErr) {
  char zFull[256];
  snprintf(zFull, sizeof zFull, "%s%s", zPrefix, zName);
  const BertTensor *t = bert_safetensors_find(m->pFile, zFull);
  int nDim = d1 ? 2 : 1;
  if (t && t->nDim == nDim && t->aShape[0] == d0 && (!d1 || t->aShape[1] == d1) &&
      (t->dtype == BERT_DTYPE_F32 || t->dtype == BERT_DTYPE_F16 || t->dtype == BERT_DTYPE_BF16)) {
    return t;
  }
  char zShape[64];
  if (d1) {
    snprintf(zShape, sizeof zShape, "[%lld, %lld]", (long long)d0, (long long)d1);
  } else {
    snprintf(zShape, sizeof zShape, "[%lld]", (long long)d0);
  }
  snprintf(zErr, BERT_ERR_MAX, "model.safetensors: tensor %.200s %s; config.json needs it F32, F16 or BF16 of shape %s",
           zFull, t == 0 ? "is missing" : "has another shape or dtype", zShape);
  return 0;
}

/* A checked tensor's values as F32 into a (its whole size). */
static void tensor_to_f32(const BertTensor *t, float *a) {
  const unsigned char *p = t->pData;
  size_t n = (size_t)(t->nByte / (t->dtype == BERT_DTYPE_F32 ? 4 : 2));
  if (t->dtype == BERT_DTYPE_F32) {
    memcpy(a, p, t->nByte);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
    if (t->dtype == BERT_DTYPE_F16) {
      a[i] = half_to_float(h);
    } else {
      uint32_t bits = (uint32_t)h << 16;
      memcpy(&a[i], &bits, 4);
    }
  }
}

/* The tensor zPrefix + zName (tensor_checked) as F32 values: in place, or
** a converted copy that m owns. */
static int weight(BertModel *m, const char *zPrefix, const char *zName, int64_t d0, int64_t d1, const float **pp,
                  char *zErr) {
  const BertTensor *t = tensor_checked(m, zPrefix, zName, d0, d1, zErr);
  if (t == 0) return BERT_ERROR;
  if (t->dtype == BERT_DTYPE_F32 && ((uintptr_t)t->pData & 3) == 0) {
    *pp = t->pData;
    return BERT_OK;
  }
  float *a = malloc(sizeof(float) * (size_t)d0 * (size_t)(d1 ? d1 : 1));
  float **apNew = realloc(m->apOwned, sizeof(float *) * (size_t)(m->nOwned + 1));
  if (apNew) m->apOwned = apNew;
  if (a == 0 || apNew == 0) {
    free(a);
    return BERT_NOMEM;
  }
  m->apOwned[m->nOwned++] = a;
  tensor_to_f32(t, a);
  *pp = a;
  return BERT_OK;
}

/* Layer l's query, key and value weights and biases, converted into the
** stacked arrays w->qkvW [3H, H] and w->qkvB [3H]. */
static int stack_qkv(BertModel *m, const char *zPre, int l, LayerWeights *w, char *zErr) {
  static const char *const azPart[] = {"query", "key", "value"};
  int64_t H = m->cfg.nHidden;
  w->qkvW = malloc(sizeof(float) * 3 * (size_t)H * (size_t)H);
  w->qkvB = malloc(sizeof(float) * 3 * (size_t)H);
  if (w->qkvW == 0 || w->qkvB == 0) return BERT_NOMEM;
  for (int i = 0; i < 3; i++) {
    char zName[128];
    snprintf(zName, sizeof zName, "encoder.layer.%d.attention.self.%s.weight", l, azPart[i]);
    const BertTensor *tW = tensor_checked(m, zPre, zName, H, H, zErr);
    snprintf(zName, sizeof zName, "encoder.layer.%d.attention.self.%s.bias", l, azPart[i]);
    const BertTensor *tB = tW ? tensor_checked(m, zPre, zName, H, 0, zErr) : 0;
    if (tB == 0) return BERT_ERROR;
    tensor_to_f32(tW, w->qkvW + (size_t)i * (size_t)(H * H));
    tensor_to_f32(tB, w->qkvB + (size_t)i * (size_t)H);
  }
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
        {"attention.output.dense.weight", H, H, &w->aoW},  {"attention.output.dense.bias", H, 0, &w->aoB},
        {"attention.output.LayerNorm.weight", H, 0, &w->aoLnG},
        {"attention.output.LayerNorm.bias", H, 0, &w->aoLnB},
        {"intermediate.dense.weight", F, H, &w->inW},      {"intermediate.dense.bias", F, 0, &w->inB},
        {"output.dense.weight", H, F, &w->outW},           {"output.dense.bias", H, 0, &w->outB},
        {"output.LayerNorm.weight", H, 0, &w->outLnG},     {"output.LayerNorm.bias", H, 0, &w->outLnB},
    };
    rc = stack_qkv(m, zPre, l, w, zErr);
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
  for (int l = 0; m->aLayer && l < m->cfg.nLayer; l++) {
    free(m->aLayer[l].qkvW);
    free(m->aLayer[l].qkvB);
  }
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
    snprintf(zErr, BERT_ERR_MAX, "config.json: a BertForTokenClassification model needs id2label, an object of 1 "
             "to 4096 labels");
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
    if (!(*zKey >= '0' && *zKey <= '9') || *zEnd || id < 0 || id >= n || c->azLabel[id] || !json_is_string(v)) {
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
    json_error_t err;
    jModules = json_load_file(zPath, 0, &err);
    FILE *f = jModules ? 0 : fopen(zPath, "r");
    if (f) {
      fclose(f);
      snprintf(zErr, BERT_ERR_MAX, "%.300s: not valid JSON (%.100s, line %d)", zPath, err.text, err.line);
      rc = BERT_ERROR;
    }
  }
  if (rc == BERT_OK) rc = read_config(jConfig, &m->cfg, zErr);
  if (rc == BERT_OK) rc = read_labels(jConfig, &m->cfg, zErr);
  if (rc == BERT_OK) {
    read_tokenizer_options(jTok, &m->tok);
    json_t *v = jSbert ? json_object_get(jSbert, "max_seq_length") : 0;
    json_int_t nMax = json_is_integer(v) ? json_integer_value(v) : 512;
    if (nMax < 3 || nMax > 65536) {
      snprintf(zErr, BERT_ERR_MAX, "sentence_bert_config.json: max_seq_length must be a whole number from 3 to 65536");
      rc = BERT_ERROR;
    }
    m->nMaxTokens = nMax > m->cfg.nMaxPos ? m->cfg.nMaxPos : (int)nMax;
    if (rc == BERT_OK && m->nMaxTokens < 3) {
      /* [CLS], [SEP] and at least one token of the text. */
      snprintf(zErr, BERT_ERR_MAX, "config.json: max_position_embeddings %d leaves no room for a text's tokens "
               "between [CLS] and [SEP] (at least 3 are needed)", m->cfg.nMaxPos);
      rc = BERT_ERROR;
    }
  }
  if (rc == BERT_OK && jPool) {
    int bMean = json_is_true(json_object_get(jPool, "pooling_mode_mean_tokens"));
    int bCls = json_is_true(json_object_get(jPool, "pooling_mode_cls_token"));
    int bMax = json_is_true(json_object_get(jPool, "pooling_mode_max_tokens"));
    int bOther = json_is_true(json_object_get(jPool, "pooling_mode_mean_sqrt_len_tokens")) ||
                 json_is_true(json_object_get(jPool, "pooling_mode_weightedmean_tokens")) ||
                 json_is_true(json_object_get(jPool, "pooling_mode_lasttoken"));
    if (bMean + bCls + bMax != 1 || bOther) {
      snprintf(zErr, BERT_ERR_MAX, "1_Pooling/config.json: exactly one of pooling_mode_mean_tokens, "
               "pooling_mode_cls_token and pooling_mode_max_tokens must be true (other modes are not supported)");
      rc = BERT_ERROR;
    }
    m->pooling = bCls ? BERT_POOL_CLS : bMax ? BERT_POOL_MAX : BERT_POOL_MEAN;
  }
  /* modules.json: the Transformer, Pooling and (optionally) Normalize
  ** modules, nothing else (a Dense projection, say, is not run here, so
  ** such a model is refused rather than embedded wrongly).  A folder
  ** without it (a bare BERT) is normalized, as vectors for cosine are. */
  m->bNormalize = jModules == 0;
  if (rc == BERT_OK && jModules && !json_is_array(jModules)) {
    snprintf(zErr, BERT_ERR_MAX, "modules.json: not a JSON array of modules");
    rc = BERT_ERROR;
  }
  for (size_t i = 0; rc == BERT_OK && json_is_array(jModules) && i < json_array_size(jModules); i++) {
    const char *z = json_string_value(json_object_get(json_array_get(jModules, i), "type"));
    if (z && strcmp(z, "sentence_transformers.models.Normalize") == 0) {
      m->bNormalize = 1;
    } else if (z == 0 || (strcmp(z, "sentence_transformers.models.Transformer") != 0 &&
                          strcmp(z, "sentence_transformers.models.Pooling") != 0)) {
      snprintf(zErr, BERT_ERR_MAX, "modules.json: module %d is \"%.80s\"; only Transformer, Pooling and Normalize "
               "are supported", (int)i, z ? z : "?");
      rc = BERT_ERROR;
    }
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
  if (rc == BERT_OK && bert_vocab_size(m->pVocab) > m->cfg.nVocab) {
    snprintf(zErr, BERT_ERR_MAX, "%.300s holds %d tokens, more than config.json's vocab_size %d", zPath,
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

/* OpenBLAS keeps one thread count for the process: set here, not per
** call, so that embedding never changes it under another thread's product. */
void bert_model_set_threads(BertModel *m, int nThread) {
  m->nThread = nThread < 1 ? 1 : nThread;
  if (openblas_get_num_threads() != m->nThread) openblas_set_num_threads(m->nThread);
}

int bert_model_tokenize(const BertModel *m, const char *z, int n, BertToken **paTok, int *pnTok) {
  return bert_tokenize(m->pVocab, &m->tok, z, n, m->nMaxTokens, paTok, pnTok);
}

int bert_model_tokenize_all(const BertModel *m, const char *z, int n, BertToken **paTok, int *pnTok) {
  /* A piece holds at least one byte of the text, so n + 2 tokens hold all. */
  return bert_tokenize(m->pVocab, &m->tok, z, n, n > INT_MAX - 2 ? INT_MAX : n + 2, paTok, pnTok);
}

/* ---- the forward pass ------------------------------------------------------ */

/* y[r] = x[r] W^T + b for the n rows of x (nIn wide) into y (nOut wide). */
static void dense(const float *x, int n, int nIn, const float *W, const float *b, int nOut, float *y) {
  for (int r = 0; r < n; r++) memcpy(y + (size_t)r * nOut, b, sizeof(float) * (size_t)nOut);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, nOut, nIn, 1.0f, x, nIn, W, nIn, 1.0f, y, nOut);
}

/* ---- the elementwise parts, written to vectorize ----------------------------
** exp and erf below are polynomial approximations of float accuracy
** (relative error of exp about 2e-7; absolute error of erf 1.5e-7, from
** Abramowitz and Stegun 7.1.26), in loops without calls, which the
** compiler turns into vector code (target_clones: AVX-512, AVX2, SSE2). */

#define BERT_KERNEL __attribute__((target_clones("avx512f", "avx2", "default")))

/* e^x for x <= 0 (softmax's x - max): 2^n e^r with |r| <= ln 2 / 2. */
static inline float exp_neg(float x) {
  x = x < -87.0f ? -87.0f : x;
  float n = (x * 1.44269504f + 12582912.0f) - 12582912.0f; /* round to nearest */
  float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
  float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666667f + r * (0.041666668f + r * (0.008333334f +
                                                                                     r * 0.0013888889f)))));
  int32_t e = ((int32_t)n + 127) << 23;
  float scale;
  memcpy(&scale, &e, 4);
  return p * scale;
}

/* GELU, exactly as BERT defines it (with erf, not the tanh form):
** 0.5 z (1 + erf(z / sqrt 2)), over a[0, n). */
BERT_KERNEL static void gelu(float *a, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float z = a[i], x = z * 0.70710678118654752f, ax = x < 0.0f ? -x : x;
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float y = 1.0f - (((((1.061405429f * t - 1.453152027f) * t) + 1.421413741f) * t - 0.284496736f) * t +
                      0.254829592f) * t * exp_neg(-ax * ax);
    a[i] = 0.5f * z * (1.0f + (x < 0.0f ? -y : y));
  }
}

/* Reductions keep LANES partial results, one per vector lane: the compiler
** may not reorder a float sum itself. */
#define LANES 16

static inline float sum_of(const float *a, int n) {
  float acc[LANES] = {0.0f}, sum = 0.0f;
  int j = 0;
  for (; j + LANES <= n; j += LANES) {
    for (int l = 0; l < LANES; l++) acc[l] += a[j + l];
  }
  for (; j < n; j++) sum += a[j];
  for (int l = 0; l < LANES; l++) sum += acc[l];
  return sum;
}

static inline float max_of(const float *a, int n) {
  float acc[LANES], mx = a[0];
  for (int l = 0; l < LANES; l++) acc[l] = a[0];
  int j = 0;
  for (; j + LANES <= n; j += LANES) {
    for (int l = 0; l < LANES; l++) acc[l] = a[j + l] > acc[l] ? a[j + l] : acc[l];
  }
  for (; j < n; j++) mx = a[j] > mx ? a[j] : mx;
  for (int l = 0; l < LANES; l++) mx = acc[l] > mx ? acc[l] : mx;
  return mx;
}

/* Each of the n rows of s (width w) becomes its softmax. */
BERT_KERNEL static void softmax_rows(float *s, int n, int w) {
  for (int i = 0; i < n; i++) {
    float *row = s + (size_t)i * w, mx = max_of(row, w);
    for (int j = 0; j < w; j++) row[j] = exp_neg(row[j] - mx);
    float inv = 1.0f / sum_of(row, w);
    for (int j = 0; j < w; j++) row[j] *= inv;
  }
}

/* x[r] = LayerNorm(x[r] + add[r]) for n rows of width h (add may be 0). */
BERT_KERNEL static void layer_norm(float *x, const float *add, int n, int h, const float *g, const float *b,
                                   double eps) {
  for (int r = 0; r < n; r++) {
    float *p = x + (size_t)r * h;
    if (add) {
      const float *q = add + (size_t)r * h;
      for (int i = 0; i < h; i++) p[i] += q[i];
    }
    float mean = sum_of(p, h) / (float)h, acc[LANES] = {0.0f}, var = 0.0f;
    int i = 0;
    for (; i + LANES <= h; i += LANES) {
      for (int l = 0; l < LANES; l++) acc[l] += (p[i + l] - mean) * (p[i + l] - mean);
    }
    for (; i < h; i++) var += (p[i] - mean) * (p[i] - mean);
    for (int l = 0; l < LANES; l++) var += acc[l];
    float inv = (float)(1.0 / sqrt((double)(var / (float)h) + eps));
    for (int i = 0; i < h; i++) p[i] = (p[i] - mean) * inv * g[i] + b[i];
  }
}

/* Self-attention of one text's nTok rows: qkv is its rows of the packed
** [*, 3H] product (each row: query, key, value), ctx its rows of the
** [*, H] output; s has room for nTok * nTok scores. */
static void attend(const BertConfig *c, int nTok, const float *qkv, float *ctx, float *s) {
  int H = c->nHidden, d = H / c->nHead;
  float scale = 1.0f / sqrtf((float)d);
  for (int h = 0; h < c->nHead; h++) {
    const float *q = qkv + h * d, *k = qkv + H + h * d, *v = qkv + 2 * H + h * d;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nTok, nTok, d, scale, q, 3 * H, k, 3 * H, 0.0f, s, nTok);
    softmax_rows(s, nTok, nTok);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nTok, d, nTok, 1.0f, s, nTok, v, 3 * H, 0.0f, ctx + h * d,
                H);
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
  float *qkv = malloc(sizeof(float) * (size_t)N * (size_t)(5 * H + F));
  float *s = malloc(sizeof(float) * (size_t)nLongest * (size_t)nLongest + 1);
  if (qkv == 0 || s == 0) {
    free(qkv);
    free(s);
    return BERT_NOMEM;
  }
  float *t = qkv + (size_t)N * 3 * H, *u = t + (size_t)N * H, *inter = u + (size_t)N * H;
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
    dense(x, N, H, w->qkvW, w->qkvB, 3 * H, qkv);
    for (int i = 0, r = 0; i < nSeq; r += aLen[i++]) {
      attend(c, aLen[i], qkv + (size_t)r * 3 * H, t + (size_t)r * H, s);
    }
    dense(t, N, H, w->aoW, w->aoB, H, u);
    layer_norm(x, u, N, H, w->aoLnG, w->aoLnB, c->eps);
    dense(x, N, H, w->inW, w->inB, F, inter);
    gelu(inter, (size_t)N * F);
    dense(inter, N, F, w->outW, w->outB, H, u);
    layer_norm(x, u, N, H, w->outLnG, w->outLnB, c->eps);
  }
  free(qkv);
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
  if (rc == BERT_OK) rc = encode(m, nText, aLen, aId, x);
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

/* ---- token classification ---------------------------------------------------
** A text of any length is read whole: its word pieces are cut into windows
** of the model's length (less [CLS] and [SEP]), each ending where a word
** ends when it can, and each window runs alone through the encoder.  A
** word takes the label of its first piece, as Hugging Face's "first"
** aggregation does. */

/* Windows encoded in one call: packed, so memory stays bounded for a long
** text. */
#define NER_WINDOWS_PER_CALL 16

static int is_continuation(const BertVocab *v, int id) {
  const char *z = bert_vocab_token(v, id);
  return z[0] == '#' && z[1] == '#';
}

int bert_model_label_words(const BertModel *m, const char *z, int n, BertWord **paWord, int *pnWord) {
  const BertConfig *c = &m->cfg;
  *paWord = 0;
  *pnWord = 0;
  if (c->nLabel == 0) return BERT_ERROR;
  BertToken *aTok = 0;
  int nTok = 0;
  int rc = bert_model_tokenize_all(m, z, n, &aTok, &nTok);
  if (rc != BERT_OK) return rc;
  BertToken *aPiece = aTok + 1; /* without [CLS] and [SEP] */
  int nPiece = nTok - 2, W = m->nMaxTokens - 2, H = c->nHidden;
  assert(W >= 1); /* bert_model_open refuses a model with less room */
  BertWord *aWord = malloc(sizeof(BertWord) * (size_t)(nPiece > 0 ? nPiece : 1));
  int *aId = malloc(sizeof(int) * (size_t)NER_WINDOWS_PER_CALL * (size_t)m->nMaxTokens);
  int aLen[NER_WINDOWS_PER_CALL], aFrom[NER_WINDOWS_PER_CALL];
  float *x = malloc(sizeof(float) * (size_t)NER_WINDOWS_PER_CALL * (size_t)m->nMaxTokens * (size_t)H);
  float *aLogit = malloc(sizeof(float) * (size_t)c->nLabel);
  if (aWord == 0 || aId == 0 || x == 0 || aLogit == 0) rc = BERT_NOMEM;
  int nWord = 0;
  for (int s = 0; rc == BERT_OK && s < nPiece;) {
    /* Cut up to NER_WINDOWS_PER_CALL windows from piece s on. */
    int nWin = 0, N = 0;
    while (nWin < NER_WINDOWS_PER_CALL && s < nPiece) {
      int e = s + W < nPiece ? s + W : nPiece;
      if (e < nPiece) {
        int e2 = e;
        while (e2 > s && is_continuation(m->pVocab, aPiece[e2].id)) e2--;
        if (e2 > s) e = e2; /* else one word longer than a window: cut it */
      }
      aFrom[nWin] = s;
      aLen[nWin] = e - s + 2;
      aId[N++] = aTok[0].id;
      for (int i = s; i < e; i++) aId[N++] = aPiece[i].id;
      aId[N++] = aTok[nTok - 1].id;
      nWin++;
      s = e;
    }
    rc = encode(m, nWin, aLen, aId, x);
    for (int w = 0, r = 0; rc == BERT_OK && w < nWin; r += aLen[w++]) {
      for (int i = 0; i < aLen[w] - 2; i++) {
        const BertToken *t = &aPiece[aFrom[w] + i];
        if (is_continuation(m->pVocab, t->id) && nWord > 0) {
          aWord[nWord - 1].end = t->end;
          continue;
        }
        dense(x + (size_t)(r + 1 + i) * H, 1, H, m->clsW, m->clsB, c->nLabel, aLogit);
        int best = 0;
        for (int k = 1; k < c->nLabel; k++) {
          if (aLogit[k] > aLogit[best]) best = k;
        }
        double sum = 0.0;
        for (int k = 0; k < c->nLabel; k++) sum += exp((double)aLogit[k] - aLogit[best]);
        BertWord *pw = &aWord[nWord++];
        pw->start = t->start;
        pw->end = t->end;
        pw->label = best;
        pw->prob = 1.0 / sum;
      }
    }
  }
  free(aTok);
  free(aId);
  free(x);
  free(aLogit);
  if (rc != BERT_OK) {
    free(aWord);
    return rc;
  }
  *paWord = aWord;
  *pnWord = nWord;
  return BERT_OK;
}
