/*
** embed.c — the embedder registry (model name -> embedder), tokens as the
** embedders count them, and the SQL function vg_embed(text [, model]).
*/
#include "vecguard.h"

#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "vector.h"

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

int vg_embedder_open(const char *zModel, VgEmbedder **ppOut, char **pzErr) {
  *ppOut = 0;
  if (strcmp(zModel, "hash") == 0) return vg_embed_hash_open(zModel, 384, ppOut, pzErr);
  if (strncmp(zModel, "hash:", 5) == 0) {
    char *zEnd = 0;
    long nDims = strtol(zModel + 5, &zEnd, 10);
    if (zEnd == zModel + 5 || *zEnd != 0 || nDims < 2 || nDims > VG_MAX_DIMS) {
      *pzErr = sqlite3_mprintf("model \"%s\": the dimension after \"hash:\" must be a whole "
                               "number from 2 to %d",
                               zModel, VG_MAX_DIMS);
      return SQLITE_ERROR;
    }
    return vg_embed_hash_open(zModel, (int)nDims, ppOut, pzErr);
  }
  *pzErr = sqlite3_mprintf("unknown model \"%s\" (there is \"hash\" or \"hash:DIM\")", zModel);
  return SQLITE_ERROR;
}

void vg_embedder_close(VgEmbedder *p) {
  if (p) p->xDestroy(p);
}

/* The model argument is usually a constant: its embedder is kept as
** auxiliary data for the rows of one statement. */
static VgEmbedder *embedder_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *zModel = VG_EMBED_DEFAULT_MODEL;
  if (argc >= 2) {
    if (sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
      sqlite3_result_error(ctx, "vg_embed: the model must be text, such as 'hash:384'", -1);
      return 0;
    }
    zModel = (const char *)sqlite3_value_text(argv[1]);
    VgEmbedder *pKept = sqlite3_get_auxdata(ctx, 1);
    if (pKept && strcmp(pKept->zName, zModel) == 0) return pKept;
  }
  VgEmbedder *p = 0;
  char *zErr = 0;
  int rc = vg_embedder_open(zModel, &p, &zErr);
  if (rc != SQLITE_OK) {
    if (zErr) {
      char *zMsg = sqlite3_mprintf("vg_embed: %s", zErr);
      sqlite3_result_error(ctx, zMsg ? zMsg : "vg_embed: out of memory", -1);
      sqlite3_free(zMsg);
      sqlite3_free(zErr);
    } else {
      sqlite3_result_error_code(ctx, rc);
    }
    return 0;
  }
  if (argc < 2) return p; /* the caller closes it */
  sqlite3_set_auxdata(ctx, 1, p, (void (*)(void *))vg_embedder_close);
  return sqlite3_get_auxdata(ctx, 1);
}

/* vg_embed(text [, model]) -> the text's vector, a float32 BLOB. */
static void fn_embed(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  int eType = sqlite3_value_type(argv[0]);
  if (eType == SQLITE_NULL) return;
  if (eType != SQLITE_TEXT) {
    sqlite3_result_error(ctx, "vg_embed: the text must be TEXT", -1);
    return;
  }
  const char *z = (const char *)sqlite3_value_text(argv[0]);
  int n = sqlite3_value_bytes(argv[0]);
  if (z == 0) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  VgEmbedder *p = embedder_arg(ctx, argc, argv);
  if (p == 0) return;
  float *aVec = sqlite3_malloc64(sizeof(float) * (size_t)p->nDims);
  char *zErr = 0;
  int rc = aVec ? p->xEmbed(p, 1, &z, &n, aVec, &zErr) : SQLITE_NOMEM;
  if (rc == SQLITE_OK) {
    void *pBlob = sqlite3_malloc64(sizeof(float) * (size_t)p->nDims);
    if (pBlob) {
      vg_vector_to_blob(aVec, p->nDims, pBlob);
      sqlite3_result_blob(ctx, pBlob, (int)sizeof(float) * p->nDims, sqlite3_free);
    } else {
      sqlite3_result_error_nomem(ctx);
    }
  } else if (zErr) {
    char *zMsg = sqlite3_mprintf("vg_embed: %s", zErr);
    sqlite3_result_error(ctx, zMsg ? zMsg : "vg_embed: out of memory", -1);
    sqlite3_free(zMsg);
  } else {
    sqlite3_result_error_code(ctx, rc);
  }
  sqlite3_free(zErr);
  sqlite3_free(aVec);
  if (argc < 2) vg_embedder_close(p);
}

int vg_register_embed_functions(sqlite3 *db) {
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS;
  int rc = sqlite3_create_function(db, "vg_embed", 1, flags, 0, fn_embed, 0, 0);
  if (rc == SQLITE_OK) rc = sqlite3_create_function(db, "vg_embed", 2, flags, 0, fn_embed, 0, 0);
  return rc;
}
