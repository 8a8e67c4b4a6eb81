/*
** models.c — models a connection loads by name (embed.h, embed section):
** vg_model_load(name, spec), vg_models() and vg_tokenize(text, model).
**
** A loaded model is an embedder under the name the connection gave it,
** found before the built-in and registered ones (vg_embed_conn_find).  It
** lives until the connection closes or the name is loaded again.  The only
** kind today is a BERT encoder read from a sentence-transformers folder
** (ext/bert/).
*/
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

#include "bert/bert.h"
#include "embed/embed.h"

/* The embedder over a BERT model. */
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
  sqlite3_free(m->zPath);
  memset(m, 0, sizeof(*m));
}

void vg_embed_models_clear(EmbedConn *c) {
  for (int i = 0; i < c->nModel; i++) model_free(&c->aModel[i]);
  sqlite3_free(c->aModel);
  c->aModel = 0;
  c->nModel = 0;
}

VgModel *vg_embed_conn_find(EmbedConn *c, const char *zName) {
  for (int i = 0; i < c->nModel; i++) {
    if (strcmp(c->aModel[i].pEmbedder->zName, zName) == 0) return &c->aModel[i];
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
      zErr = sqlite3_mprintf("unknown key \"%s\" in the spec (keys: path, threads)", zKey);
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

/* A model's description as JSON, appended to out. */
static void describe_json(sqlite3_str *out, const VgModel *m) {
  const BertConfig *c = bert_model_config(((BertEmbedder *)m->pEmbedder)->pModel);
  sqlite3_str_appendall(out, "{\"name\":");
  vg_str_append_json(out, m->pEmbedder->zName, -1);
  sqlite3_str_appendf(out, ",\"kind\":\"bert\",\"dims\":%d,\"max_tokens\":%d,\"layers\":%d,\"heads\":%d,"
                           "\"vocab\":%d,\"threads\":%d,\"path\":",
                      m->pEmbedder->nDims, bert_model_max_tokens(((BertEmbedder *)m->pEmbedder)->pModel),
                      c->nLayer, c->nHead, c->nVocab, m->nThread);
  vg_str_append_json(out, m->zPath, -1);
  sqlite3_str_appendall(out, "}");
}

/* vg_model_load(name, spec) -> the model's description (JSON). */
static void fn_model_load(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  EmbedConn *c = sqlite3_user_data(ctx);
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
  char *zPath = 0, zErr[BERT_ERR_MAX] = "";
  int nThread = 1;
  char *zSpecErr = read_spec(sqlite3_context_db_handle(ctx), zSpec, &zPath, &nThread);
  if (zSpecErr || zPath == 0) {
    vg_result_error(ctx, zSpecErr ? SQLITE_ERROR : SQLITE_NOMEM, "vg_model_load", zSpecErr);
    sqlite3_free(zSpecErr);
    sqlite3_free(zPath);
    return;
  }
  BertModel *pModel = 0;
  BertEmbedder *b = 0;
  int rc = bert_model_open(zPath, &pModel, zErr);
  if (rc == BERT_OK) {
    b = sqlite3_malloc64(sizeof(*b));
    if (b) {
      memset(b, 0, sizeof(*b));
      b->zName = sqlite3_mprintf("%s", zName);
    }
    if (b == 0 || b->zName == 0) rc = BERT_NOMEM;
  }
  /* Loading a name again replaces its model; a new name takes a new entry. */
  VgModel *m = rc == BERT_OK ? vg_embed_conn_find(c, zName) : 0;
  if (rc == BERT_OK && m == 0) {
    VgModel *aNew = sqlite3_realloc64(c->aModel, sizeof(VgModel) * (size_t)(c->nModel + 1));
    if (aNew == 0) {
      rc = BERT_NOMEM;
    } else {
      c->aModel = aNew;
      m = &c->aModel[c->nModel++];
      memset(m, 0, sizeof(*m));
    }
  }
  if (rc != BERT_OK) {
    if (b) sqlite3_free(b->zName);
    sqlite3_free(b);
    bert_model_close(pModel);
    sqlite3_free(zPath);
    vg_result_error(ctx, rc == BERT_NOMEM ? SQLITE_NOMEM : SQLITE_ERROR, "vg_model_load", zErr);
    return;
  }
  b->pModel = pModel;
  bert_model_set_threads(pModel, nThread);
  b->base.zName = b->zName;
  b->base.nDims = bert_model_config(pModel)->nHidden;
  b->base.nMaxTokens = bert_model_max_tokens(pModel) - 2;
  b->base.xEmbed = bert_embed;
  b->base.xDestroy = bert_destroy;
  model_free(m); /* the old model under that name, or nothing */
  m->pEmbedder = &b->base;
  m->zPath = zPath;
  m->nThread = nThread;
  sqlite3_str *out = sqlite3_str_new(0);
  describe_json(out, m);
  vg_result_str(ctx, out);
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
    describe_json(out, &c->aModel[i]);
  }
  sqlite3_str_appendall(out, "]");
  vg_result_str(ctx, out);
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
  if (m == 0) {
    vg_result_errorf(ctx, "vg_tokenize",
                     "no model \"%s\" is loaded on this connection: load it first with vg_model_load('%s', "
                     "'/path/to/model-folder')",
                     zModel, zModel);
    return;
  }
  const BertModel *pModel = ((BertEmbedder *)m->pEmbedder)->pModel;
  BertToken *aTok = 0;
  int nTok = 0;
  if (bert_model_tokenize(pModel, z, n, &aTok, &nTok) != BERT_OK) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  const BertVocab *v = bert_model_vocab(pModel);
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

const VgFunction vg_model_functions[] = {
    {"vg_model_load", 2, VG_FUNC_DIRECT, fn_model_load},
    {"vg_models", 0, SQLITE_UTF8, fn_models},
    {"vg_tokenize", 2, SQLITE_UTF8, fn_tokenize},
    {0, 0, 0, 0},
};
