/*
** embed.c — the embedder registry (model name -> embedder), tokens as the
** embedders count them, and the SQL function vg_embed(text [, model]).
*/
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"
#include "vector/vector.h"

static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

int vg_tokens(const char *z, int n, int nMax, int *aStart, int *aEnd) {
  int nTok = 0, i = 0;
  while (i < n) {
    while (i < n && is_space((unsigned char)z[i])) i++;
    if (i == n) break;
    int s = i;
    while (i < n && !is_space((unsigned char)z[i])) i++;
    if (aStart && nTok < nMax) {
      aStart[nTok] = s;
      aEnd[nTok] = i;
    }
    nTok++;
  }
  return nTok;
}

/* The hash model's dimension from its name; 0 when the name is another
** model's, -1 (with *pzErr) when it is a bad hash name. */
static int hash_model_dims(const char *zModel, char **pzErr) {
  if (strcmp(zModel, "hash") == 0) return 384;
  if (strncmp(zModel, "hash:", 5) != 0) return 0;
  char *zEnd = 0;
  long nDims = strtol(zModel + 5, &zEnd, 10);
  if (zEnd == zModel + 5 || *zEnd != 0 || nDims < 2 || nDims > VG_MAX_DIMS) {
    *pzErr = sqlite3_mprintf("model \"%s\": the dimension after \"hash:\" must be a whole "
                             "number from 2 to %d",
                             zModel, VG_MAX_DIMS);
    return -1;
  }
  return (int)nDims;
}

int vg_embedder_describe(const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr) {
  int nDims = hash_model_dims(zModel, pzErr);
  if (nDims < 0) return SQLITE_ERROR;
  if (nDims == 0) {
    *pzErr = sqlite3_mprintf("unknown model \"%s\" (there is \"hash\" or \"hash:DIM\")", zModel);
    return SQLITE_ERROR;
  }
  *pnDims = nDims;
  *pnMaxTokens = VG_EMBED_HASH_MAX_TOKENS;
  return SQLITE_OK;
}

int vg_embedder_open(const char *zModel, VgEmbedder **ppOut, char **pzErr) {
  *ppOut = 0;
  int nDims = 0, nMaxTokens = 0;
  int rc = vg_embedder_describe(zModel, &nDims, &nMaxTokens, pzErr);
  if (rc != SQLITE_OK) return rc;
  return vg_embed_hash_open(nDims, ppOut);
}

void vg_embedder_close(VgEmbedder *p) {
  if (p) p->xDestroy(p);
}

/* The default model's embedder, opened on first use and kept for the
** connection; a model given as an argument is usually a constant, and its
** embedder is kept as auxiliary data for the rows of one statement. */
typedef struct EmbedConn {
  VgEmbedder *pDefault;
} EmbedConn;

static VgEmbedder *embedder_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  EmbedConn *c = sqlite3_user_data(ctx);
  if (argc < 2 && c->pDefault) return c->pDefault;
  const char *zModel = VG_EMBED_DEFAULT_MODEL;
  if (argc >= 2) {
    if (sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
      vg_result_error(ctx, SQLITE_ERROR, "vg_embed", "the model must be text, such as 'hash:384'");
      return 0;
    }
    zModel = vg_text_arg(ctx, "vg_embed", argv[1], "the model", VG_TEXT_NAME, 0);
    if (zModel == 0) return 0;
    VgEmbedder *pKept = sqlite3_get_auxdata(ctx, 1);
    if (pKept && strcmp(pKept->zName, zModel) == 0) return pKept;
  }
  VgEmbedder *p = 0;
  char *zErr = 0;
  int rc = vg_embedder_open(zModel, &p, &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, "vg_embed", zErr);
    sqlite3_free(zErr);
    return 0;
  }
  if (argc < 2) return c->pDefault = p;
  sqlite3_set_auxdata(ctx, 1, p, (void (*)(void *))vg_embedder_close);
  return sqlite3_get_auxdata(ctx, 1);
}

/* vg_embed(text [, model]) -> the text's vector, a float32 BLOB. */
static void fn_embed(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  int n = 0;
  const char *z = vg_text_arg(ctx, "vg_embed", argv[0], "the text", VG_TEXT_BODY, &n);
  if (z == 0) return;
  VgEmbedder *p = embedder_arg(ctx, argc, argv);
  if (p == 0) return;
  /* The vector becomes the BLOB in place (vg_vector_to_blob allows it). */
  float *aVec = sqlite3_malloc64(sizeof(float) * (size_t)p->nDims);
  char *zErr = 0;
  int rc = aVec ? p->xEmbed(p, 1, &z, &n, aVec, &zErr) : SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    vg_vector_to_blob(aVec, p->nDims, aVec);
    sqlite3_result_blob(ctx, aVec, (int)sizeof(float) * p->nDims, sqlite3_free);
  } else {
    vg_result_error(ctx, rc, "vg_embed", zErr);
    sqlite3_free(aVec);
  }
  sqlite3_free(zErr);
}

static void embed_conn_free(void *p) {
  EmbedConn *c = p;
  vg_embedder_close(c->pDefault);
  sqlite3_free(c);
}

int vg_register_embed_functions(sqlite3 *db) {
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  EmbedConn *c = sqlite3_malloc64(sizeof(*c));
  if (c == 0) return SQLITE_NOMEM;
  c->pDefault = 0;
  /* The first registered owns c: SQLite frees it with the connection, or at
  ** once if the registration fails. */
  int rc = sqlite3_create_function_v2(db, "vg_embed", 1, flags, c, fn_embed, 0, 0, embed_conn_free);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "vg_embed", 2, flags, c, fn_embed, 0, 0);
  return rc;
}
