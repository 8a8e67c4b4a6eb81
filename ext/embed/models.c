/*
** models.c — models a connection loads by name (embed.h, embed section):
** vg_model_load(name, spec), vg_models() and vg_tokenize(text, model), and
** what the other layers ask of them (vg_model_describe, vg_model_embedder,
** vg_model_chunk_spans, vg_model_ner).
**
** A loaded model lives until the connection closes or the name is loaded
** again.  Three kinds: a BERT sentence encoder read from a
** sentence-transformers folder (ext/bert/), a BERT token-classification
** model (a BertForTokenClassification folder: names, places and
** organisations for the PII functions), and an OpenAI-compatible embedding
** service (service.c).  A loaded name is found before the built-in and
** registered models.
*/
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

#include "bert/bert.h"
#include "embed/embed.h"

/* The embedder over a BERT sentence encoder. */
typedef struct BertEmbedder {
  VgEmbedder base;
  char *zName;
  BertModel *pModel;
} BertEmbedder;

static int bert_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText, float *aOut,
                      char **pzErr) {
  (void)pzErr;
  int rc = bert_model_embed(((BertEmbedder *)p)->pModel, nText, azText, anText, aOut);
  return rc == BERT_OK ? SQLITE_OK : SQLITE_NOMEM;
}

static void bert_destroy(VgEmbedder *p) {
  BertEmbedder *b = (BertEmbedder *)p;
  bert_model_close(b->pModel);
  sqlite3_free(b->zName);
  sqlite3_free(b);
}

static void model_free(VgModel *m) {
  vg_embedder_close(m->pEmbedder);
  if (m->eKind == VG_MODEL_NER) bert_model_close(m->pBert);
  sqlite3_free(m->zName);
  sqlite3_free(m->zInfo);
  memset(m, 0, sizeof(*m));
}

void vg_embed_models_clear(EmbedConn *c) {
  for (int i = 0; i < c->nModel; i++) model_free(&c->aModel[i]);
  sqlite3_free(c->aModel);
  c->aModel = 0;
  c->nModel = 0;
}

VgModel *vg_embed_conn_find(EmbedConn *c, const char *zName) {
  for (int i = 0; c && i < c->nModel; i++) {
    if (strcmp(c->aModel[i].zName, zName) == 0) return &c->aModel[i];
  }
  return 0;
}

/* A name a model may be loaded under: letters, digits, '_', '-' and '.',
** up to 64, and not a built-in model's. */
static int model_name_ok(const char *z) {
  int n = 0;
  for (; z[n]; n++) {
    unsigned char ch = (unsigned char)z[n];
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
          ch == '-' || ch == '.')) {
      return 0;
    }
  }
  return n >= 1 && n <= 64 && sqlite3_stricmp(z, "hash") != 0 && sqlite3_stricmp(z, "hash2") != 0 &&
         sqlite3_stricmp(z, "external") != 0;
}

/* The spec's folder and thread count: a path, or a JSON object {"path":
** ..., "threads": N}.  0, or an error message. */
static char *read_spec(sqlite3 *db, const char *zSpec, char **pzPath, int *pnThread) {
  *pnThread = 1;
  if (zSpec[0] != '{') {
    *pzPath = sqlite3_mprintf("%s", zSpec);
    return 0;
  }
  sqlite3_stmt *p = 0;
  char *zErr = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT json_type(?1) = 'object', f.key, f.type, f.value"
                              " FROM (SELECT 1) LEFT JOIN json_each(?1) AS f",
                              -1, &p, 0);
  if (rc != SQLITE_OK) return sqlite3_mprintf("%s", sqlite3_errmsg(db));
  sqlite3_bind_text(p, 1, zSpec, -1, SQLITE_STATIC);
  int step;
  while (zErr == 0 && (step = sqlite3_step(p)) == SQLITE_ROW) {
    if (!sqlite3_column_int(p, 0)) {
      zErr = sqlite3_mprintf("the spec must be a folder's path or a JSON object such as '{\"path\": "
                             "\"/models/all-MiniLM-L6-v2\", \"threads\": 2}'");
      break;
    }
    const char *zKey = (const char *)sqlite3_column_text(p, 1);
    const char *zType = (const char *)sqlite3_column_text(p, 2);
    if (zKey == 0) break;
    if (strcmp(zKey, "path") == 0 && strcmp(zType, "text") == 0 &&
        (int)strlen((const char *)sqlite3_column_text(p, 3)) == sqlite3_column_bytes(p, 3)) {
      sqlite3_free(*pzPath);
      *pzPath = sqlite3_mprintf("%s", sqlite3_column_text(p, 3));
    } else if (strcmp(zKey, "threads") == 0 && strcmp(zType, "integer") == 0 && sqlite3_column_int64(p, 3) >= 1 &&
               sqlite3_column_int64(p, 3) <= 64) {
      *pnThread = sqlite3_column_int(p, 3);
    } else if (strcmp(zKey, "path") == 0 || strcmp(zKey, "threads") == 0) {
      zErr = sqlite3_mprintf("%s must be %s", zKey,
                             zKey[0] == 'p' ? "the model folder's path, as text without a NUL"
                                            : "a whole number from 1 to 64");
    } else {
      zErr = sqlite3_mprintf("unknown key \"%s\" in the spec (keys: path, threads; a service's spec has "
                             "\"provider\": \"openai\")",
                             zKey);
    }
  }
  if (zErr == 0 && step != SQLITE_DONE) {
    zErr = sqlite3_mprintf("the spec is not valid JSON (%s): give a folder's path or {\"path\": \"<folder>\"}",
                           sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  if (zErr == 0 && *pzPath == 0) zErr = sqlite3_mprintf("the spec names no path: give {\"path\": \"<folder>\"}");
  return zErr;
}

/* A BERT folder's description as JSON. */
static char *bert_info(const char *zName, int eKind, const BertModel *pModel, const char *zPath, int nThread) {
  const BertConfig *c = bert_model_config(pModel);
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendall(out, "{\"name\":");
  vg_str_append_json(out, zName, -1);
  sqlite3_str_appendf(out, ",\"kind\":\"%s\",", eKind == VG_MODEL_NER ? "ner" : "bert");
  if (eKind == VG_MODEL_BERT) sqlite3_str_appendf(out, "\"dims\":%d,", c->nHidden);
  sqlite3_str_appendf(out, "\"max_tokens\":%d,\"layers\":%d,\"heads\":%d,\"vocab\":%d,\"threads\":%d,",
                      bert_model_max_tokens(pModel), c->nLayer, c->nHead, c->nVocab, nThread);
  if (eKind == VG_MODEL_NER) {
    sqlite3_str_appendall(out, "\"labels\":[");
    for (int i = 0; i < c->nLabel; i++) {
      if (i) sqlite3_str_appendall(out, ",");
      vg_str_append_json(out, c->azLabel[i], -1);
    }
    sqlite3_str_appendall(out, "],");
  }
  sqlite3_str_appendall(out, "\"path\":");
  vg_str_append_json(out, zPath, -1);
  sqlite3_str_appendall(out, "}");
  return sqlite3_str_finish(out);
}

/* Open the model a BERT folder spec names into m (zeroed): a sentence
** encoder, or a token-classification model when the folder has a head.
** An error message (sqlite3_malloc'd) into *pzErr. */
static int load_bert(sqlite3 *db, const char *zName, const char *zSpec, VgModel *m, char **pzErr) {
  char *zPath = 0, zErr[BERT_ERR_MAX] = "";
  int nThread = 1;
  *pzErr = read_spec(db, zSpec, &zPath, &nThread);
  if (*pzErr || zPath == 0) {
    sqlite3_free(zPath);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  BertModel *pModel = 0;
  int rc = bert_model_open(zPath, &pModel, zErr);
  if (rc != BERT_OK) {
    sqlite3_free(zPath);
    if (rc != BERT_NOMEM) *pzErr = sqlite3_mprintf("%s", zErr);
    return rc == BERT_NOMEM ? SQLITE_NOMEM : SQLITE_ERROR;
  }
  bert_model_set_threads(pModel, nThread);
  m->eKind = bert_model_config(pModel)->nLabel > 0 ? VG_MODEL_NER : VG_MODEL_BERT;
  m->pBert = pModel;
  m->zInfo = bert_info(zName, m->eKind, pModel, zPath, nThread);
  sqlite3_free(zPath);
  if (m->eKind == VG_MODEL_NER) return m->zInfo ? SQLITE_OK : SQLITE_NOMEM;
  BertEmbedder *b = sqlite3_malloc64(sizeof(*b));
  if (b == 0) {
    bert_model_close(pModel);
    return SQLITE_NOMEM;
  }
  memset(b, 0, sizeof(*b));
  b->pModel = pModel;
  b->zName = sqlite3_mprintf("%s", zName);
  b->base.zName = b->zName;
  b->base.nDims = bert_model_config(pModel)->nHidden;
  b->base.nMaxTokens = bert_model_max_tokens(pModel) - 2;
  b->base.xEmbed = bert_embed;
  b->base.xDestroy = bert_destroy;
  m->pEmbedder = &b->base; /* owns pModel from here */
  return b->zName && m->zInfo ? SQLITE_OK : SQLITE_NOMEM;
}

/* Is the spec a service's (a JSON object with a provider)? */
static int spec_is_service(sqlite3 *db, const char *zSpec) {
  sqlite3_stmt *p = 0;
  int bService = 0;
  if (zSpec[0] == '{' && sqlite3_prepare_v2(db, "SELECT json_valid(?1) AND json_type(?1, '$.provider') IS NOT NULL",
                                            -1, &p, 0) == SQLITE_OK) {
    sqlite3_bind_text(p, 1, zSpec, -1, SQLITE_STATIC);
    bService = sqlite3_step(p) == SQLITE_ROW && sqlite3_column_int(p, 0);
  }
  sqlite3_finalize(p);
  return bService;
}

/* vg_model_load(name, spec) -> the model's description (JSON). */
static void fn_model_load(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  EmbedConn *c = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  const char *zName = vg_text_arg(ctx, "vg_model_load", argv[0], "the name", VG_TEXT_NAME, 0);
  if (zName == 0) return;
  if (!model_name_ok(zName)) {
    vg_result_errorf(ctx, "vg_model_load",
                     "the name must be 1 to 64 letters, digits, '_', '-' or '.', and not hash, hash2 or external "
                     "(for example 'minilm')");
    return;
  }
  const char *zSpec = vg_text_arg(ctx, "vg_model_load", argv[1], "the spec", VG_TEXT_NAME | VG_TEXT_NONEMPTY, 0);
  if (zSpec == 0) return;
  VgModel new;
  memset(&new, 0, sizeof new);
  char *zErr = 0;
  int rc = (new.zName = sqlite3_mprintf("%s", zName)) ? SQLITE_OK : SQLITE_NOMEM;
  if (rc == SQLITE_OK && spec_is_service(db, zSpec)) {
    new.eKind = VG_MODEL_SERVICE;
    rc = vg_service_open(db, zName, zSpec, &new.pEmbedder, &new.zInfo, &zErr);
  } else if (rc == SQLITE_OK) {
    rc = load_bert(db, zName, zSpec, &new, &zErr);
  }
  /* Loading a name again replaces its model; a new name takes a new entry. */
  VgModel *m = rc == SQLITE_OK ? vg_embed_conn_find(c, zName) : 0;
  if (rc == SQLITE_OK && m == 0) {
    VgModel *aNew = sqlite3_realloc64(c->aModel, sizeof(VgModel) * (size_t)(c->nModel + 1));
    if (aNew == 0) {
      rc = SQLITE_NOMEM;
    } else {
      c->aModel = aNew;
      m = &c->aModel[c->nModel++];
      memset(m, 0, sizeof(*m));
    }
  }
  if (rc != SQLITE_OK) {
    model_free(&new);
    vg_result_error(ctx, rc, "vg_model_load", zErr);
    sqlite3_free(zErr);
    return;
  }
  model_free(m); /* the old model under that name, or nothing */
  *m = new;
  sqlite3_result_text(ctx, m->zInfo, -1, SQLITE_TRANSIENT);
}

/* vg_models() -> the connection's models, as a JSON array. */
static void fn_models(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  EmbedConn *c = sqlite3_user_data(ctx);
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendall(out, "[");
  for (int i = 0; i < c->nModel; i++) {
    if (i) sqlite3_str_appendall(out, ",");
    sqlite3_str_appendall(out, c->aModel[i].zInfo);
  }
  sqlite3_str_appendall(out, "]");
  vg_result_str(ctx, out);
}

/* "no model ... is loaded" for a name a model could be loaded under. */
static char *not_loaded(const char *zModel) {
  char *zKnown = vg_embedder_known();
  char *z = zKnown ? sqlite3_mprintf("model \"%s\" is not loaded on this connection: load it first with "
                                     "vg_model_load('%s', '/path/to/model-folder') (or a service's JSON spec); "
                                     "every connection has %s",
                                     zModel, zModel, zKnown)
                   : 0;
  sqlite3_free(zKnown);
  return z;
}

/* vg_tokenize(text, model) -> the tokens the model reads, as a JSON array
** of {"token", "id", "start", "end"} (bytes of the text). */
static void fn_tokenize(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  EmbedConn *c = sqlite3_user_data(ctx);
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  int n = 0;
  const char *z = vg_text_arg(ctx, "vg_tokenize", argv[0], "the text", VG_TEXT_BODY, &n);
  if (z == 0) return;
  const char *zModel = vg_text_arg(ctx, "vg_tokenize", argv[1], "the model", VG_TEXT_NAME, 0);
  if (zModel == 0) return;
  VgModel *m = vg_embed_conn_find(c, zModel);
  if (m == 0 && !model_name_ok(zModel)) {
    vg_result_errorf(ctx, "vg_tokenize",
                     "\"%s\" is not a model loaded with vg_model_load: the built-in models read whitespace-"
                     "separated words (see vg_chunk)",
                     zModel);
    return;
  }
  if (m == 0 || m->pBert == 0) {
    char *zErr = m ? sqlite3_mprintf("model \"%s\" is a service: its tokenizer runs there", zModel)
                   : not_loaded(zModel);
    vg_result_error(ctx, zErr ? SQLITE_ERROR : SQLITE_NOMEM, "vg_tokenize", zErr);
    sqlite3_free(zErr);
    return;
  }
  BertToken *aTok = 0;
  int nTok = 0;
  if (bert_model_tokenize(m->pBert, z, n, &aTok, &nTok) != BERT_OK) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  const BertVocab *v = bert_model_vocab(m->pBert);
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendall(out, "[");
  for (int i = 0; i < nTok; i++) {
    sqlite3_str_appendall(out, i ? ",{\"token\":" : "{\"token\":");
    vg_str_append_json(out, bert_vocab_token(v, aTok[i].id), -1);
    sqlite3_str_appendf(out, ",\"id\":%d,\"start\":%d,\"end\":%d}", aTok[i].id, aTok[i].start, aTok[i].end);
  }
  sqlite3_str_appendall(out, "]");
  free(aTok);
  vg_result_str(ctx, out);
}

/* ---- what the other layers ask ------------------------------------------ */

static char *not_an_embedder(const char *zModel) {
  return sqlite3_mprintf("model \"%s\" is a token-classification model: it finds names for the PII functions "
                         "(vg_pii_detect), it does not embed",
                         zModel);
}

int vg_model_embedder(EmbedConn *c, const char *zModel, VgEmbedder **pp, char **pzErr) {
  VgModel *m = vg_embed_conn_find(c, zModel);
  *pp = m ? m->pEmbedder : 0;
  if (*pp) return SQLITE_OK;
  /* Not a loaded embedder: a built-in or registered model (SQLITE_OK), or
  ** vg_model_describe's error saying why not. */
  int nDims = 0, nMaxTokens = 0;
  return vg_model_describe(c, zModel, &nDims, &nMaxTokens, pzErr);
}

int vg_model_describe(EmbedConn *c, const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr) {
  VgModel *m = vg_embed_conn_find(c, zModel);
  if (m && m->pEmbedder == 0) {
    *pzErr = not_an_embedder(zModel);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  if (m) {
    *pnDims = m->pEmbedder->nDims;
    *pnMaxTokens = m->pEmbedder->nMaxTokens;
    return SQLITE_OK;
  }
  int rc = vg_embedder_describe(zModel, pnDims, pnMaxTokens, pzErr);
  if (rc == SQLITE_ERROR && model_name_ok(zModel)) {
    /* Not a built-in or registered model: one this connection may load. */
    sqlite3_free(*pzErr);
    *pzErr = not_loaded(zModel);
    rc = *pzErr ? SQLITE_NOTFOUND : SQLITE_NOMEM;
  }
  return rc;
}

int vg_model_chunk_spans(VgEmbedder *e, const char *z, int n, int nMax, int nOverlap, int **paStart, int **paEnd,
                         int *pnChunk) {
  if (e == 0 || e->xEmbed != bert_embed) return vg_chunk_spans(z, n, nMax, nOverlap, paStart, paEnd, pnChunk);
  const BertModel *pModel = ((BertEmbedder *)e)->pModel;
  BertToken *aTok = 0;
  int nTok = 0;
  *paStart = *paEnd = 0;
  *pnChunk = 0;
  if (bert_model_tokenize_all(pModel, z, n, &aTok, &nTok) != BERT_OK) return SQLITE_NOMEM;
  const BertToken *aPiece = aTok + 1; /* without [CLS] and [SEP] */
  int nPiece = nTok - 2;
  const BertVocab *v = bert_model_vocab(pModel);
  /* At most one chunk per piece: each starts after the last one's start. */
  int *aSpan = sqlite3_malloc64(sizeof(int) * 2 * ((size_t)nPiece + 1));
  if (aSpan == 0) {
    free(aTok);
    return SQLITE_NOMEM;
  }
#define WORD_STARTS(i) ((i) >= nPiece || strncmp(bert_vocab_token(v, aPiece[i].id), "##", 2) != 0)
  int nChunk = 0;
  for (int s = 0; s < nPiece;) {
    int end = s + nMax < nPiece ? s + nMax : nPiece;
    int e2 = end;
    while (e2 > s && !WORD_STARTS(e2)) e2--;
    if (e2 > s) end = e2;
    aSpan[nChunk] = aPiece[s].start;
    aSpan[nPiece + 1 + nChunk] = aPiece[end - 1].end;
    nChunk++;
    if (end == nPiece) break;
    int next = end - nOverlap;
    while (next > s && !WORD_STARTS(next)) next--;
    s = next > s ? next : end;
  }
#undef WORD_STARTS
  free(aTok);
  *paStart = aSpan;
  *paEnd = aSpan + nPiece + 1;
  *pnChunk = nChunk;
  return SQLITE_OK;
}

/* The entity type a label names, from its name after any "B-"/"I-"/"E-"/
** "S-" prefix; -1 for outside and for types not reported (MISC, ...). */
static int ner_type(const char *z) {
  static const struct {
    const char *zName;
    int iType;
  } aMap[] = {{"PER", VG_NER_PERSON},   {"PERSON", VG_NER_PERSON},         {"LOC", VG_NER_LOCATION},
              {"LOCATION", VG_NER_LOCATION}, {"GPE", VG_NER_LOCATION},     {"ORG", VG_NER_ORGANIZATION},
              {"ORGANIZATION", VG_NER_ORGANIZATION}};
  for (size_t i = 0; i < sizeof aMap / sizeof aMap[0]; i++) {
    if (sqlite3_stricmp(z, aMap[i].zName) == 0) return aMap[i].iType;
  }
  return -1;
}

/* A label's scheme part: 'B', 'I', 'E', 'S' (BILOU's 'U' and 'L' read as
** 'S' and 'E'), or 'I' for a bare type; its type into *piType (-1: none). */
static char ner_label(const char *zLabel, int *piType) {
  char cTag = 'I';
  if (zLabel[0] && zLabel[1] == '-' && strchr("BIESLU", zLabel[0])) {
    cTag = zLabel[0] == 'U' ? 'S' : zLabel[0] == 'L' ? 'E' : zLabel[0];
    zLabel += 2;
  }
  *piType = ner_type(zLabel);
  return cTag;
}

int vg_model_ner(EmbedConn *c, const char *zModel, const char *z, int n, VgNerSpan **paSpan, int *pnSpan,
                 char **pzErr) {
  *paSpan = 0;
  *pnSpan = 0;
  VgModel *m = vg_embed_conn_find(c, zModel);
  if (m == 0) return SQLITE_NOTFOUND;
  if (m->eKind != VG_MODEL_NER) {
    *pzErr = sqlite3_mprintf("model \"%s\" is not a token-classification model (load a BertForTokenClassification "
                             "folder, whose config.json has id2label, to find names)",
                             zModel);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  BertWord *aWord = 0;
  int nWord = 0;
  if (bert_model_label_words(m->pBert, z, n, &aWord, &nWord) != BERT_OK) return SQLITE_NOMEM;
  const BertConfig *cfg = bert_model_config(m->pBert);
  VgNerSpan *aSpan = sqlite3_malloc64(sizeof(VgNerSpan) * (size_t)(nWord > 0 ? nWord : 1));
  if (aSpan == 0) {
    free(aWord);
    return SQLITE_NOMEM;
  }
  int nSpan = 0, bOpen = 0, nIn = 0; /* bOpen: aSpan[nSpan - 1] may go on; nIn: its words */
  double rSum = 0.0;
  for (int w = 0; w <= nWord; w++) {
    int iType = -1;
    char cTag = w < nWord ? ner_label(cfg->azLabel[aWord[w].label], &iType) : 'O';
    int bContinue = bOpen && iType >= 0 && (cTag == 'I' || cTag == 'E') && aSpan[nSpan - 1].iType == iType;
    if (!bContinue && nIn > 0) {
      aSpan[nSpan - 1].score = rSum / nIn; /* close the entity */
      bOpen = 0;
      nIn = 0;
    }
    if (iType < 0) continue;
    if (!bContinue) {
      aSpan[nSpan].start = aWord[w].start;
      aSpan[nSpan].iType = iType;
      nSpan++;
      rSum = 0.0;
    }
    aSpan[nSpan - 1].end = aWord[w].end;
    rSum += aWord[w].prob;
    nIn++;
    bOpen = cTag != 'S' && cTag != 'E';
  }
  free(aWord);
  *paSpan = aSpan;
  *pnSpan = nSpan;
  return SQLITE_OK;
}

const VgFunction vg_model_functions[] = {
    {"vg_model_load", 2, VG_FUNC_DIRECT, fn_model_load},
    {"vg_models", 0, SQLITE_UTF8, fn_models},
    {"vg_tokenize", 2, SQLITE_UTF8, fn_tokenize},
    {0, 0, 0, 0},
};
