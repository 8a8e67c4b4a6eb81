/*
** embed.c — the embedder registry (model name -> embedder: the hash model,
** or a family a program registered), tokens as the embedders count them,
** and the SQL function vg_embed(text [, model]).
*/
#include "base/base.h"

#include <pthread.h>
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

/* A hash model's dimension from its name ("hash", "hash2", or either with
** ":DIM"), and which one it is in *piModel; 0 when the name is another
** model's, -1 (with *pzErr) when it is a bad hash name. */
static int hash_model_dims(const char *zModel, int *piModel, char **pzErr) {
  int iModel = strncmp(zModel, "hash2", 5) == 0 ? VG_EMBED_HASH2 : VG_EMBED_HASH;
  const char *zRest = zModel + (iModel == VG_EMBED_HASH2 ? 5 : 4);
  if (strncmp(zModel, "hash", 4) != 0 || (*zRest != 0 && *zRest != ':')) return 0;
  *piModel = iModel;
  if (*zRest == 0) return 384;
  char *zEnd = 0;
  long nDims = strtol(zRest + 1, &zEnd, 10);
  if (zEnd == zRest + 1 || *zEnd != 0 || nDims < 2 || nDims > VG_MAX_DIMS) {
    *pzErr = sqlite3_mprintf("model \"%s\": the dimension after \"%.*s:\" must be a whole "
                             "number from 2 to %d",
                             zModel, (int)(zRest - zModel), zModel, VG_MAX_DIMS);
    return -1;
  }
  return (int)nDims;
}

/* ---- families a program registered (vecguard_register_embedder) ---- */

#define MAX_FAMILIES 16
typedef struct Family {
  char zName[32];
  const vecguard_embedder_family *pFamily;
  void *pCtx;
} Family;
/* Process-wide, as the program that registers them is. */
static Family aFamily[MAX_FAMILIES];
static int nFamily;
static pthread_mutex_t familyMutex = PTHREAD_MUTEX_INITIALIZER;

static int family_name_ok(const char *z) {
  int n = 0;
  for (; z[n]; n++) {
    unsigned char c = (unsigned char)z[n];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) {
      return 0;
    }
  }
  return n >= 1 && n < (int)sizeof aFamily[0].zName && sqlite3_stricmp(z, "hash") != 0 &&
         sqlite3_stricmp(z, "hash2") != 0;
}

VG_PUBLIC int vecguard_register_embedder(const char *zFamily, const vecguard_embedder_family *pFamily,
                                         void *pCtx) {
  if (zFamily == 0 || !family_name_ok(zFamily)) return SQLITE_MISUSE;
  if (pFamily && (pFamily->xDescribe == 0 || pFamily->xOpen == 0)) return SQLITE_MISUSE;
  int rc = SQLITE_OK;
  pthread_mutex_lock(&familyMutex);
  int i = 0;
  while (i < nFamily && strcmp(aFamily[i].zName, zFamily) != 0) i++;
  if (pFamily == 0) {
    if (i < nFamily) aFamily[i] = aFamily[--nFamily];
  } else if (i == nFamily && nFamily == MAX_FAMILIES) {
    rc = SQLITE_FULL;
  } else {
    if (i == nFamily) nFamily++;
    memcpy(aFamily[i].zName, zFamily, strlen(zFamily) + 1);
    aFamily[i].pFamily = pFamily;
    aFamily[i].pCtx = pCtx;
  }
  pthread_mutex_unlock(&familyMutex);
  return rc;
}

/* The family model zModel ("family" or "family:...") belongs to; 0 when
** none is registered. */
static int find_family(const char *zModel, Family *pOut) {
  size_t n = strcspn(zModel, ":");
  int bFound = 0;
  pthread_mutex_lock(&familyMutex);
  for (int i = 0; i < nFamily && !bFound; i++) {
    if (strlen(aFamily[i].zName) == n && memcmp(aFamily[i].zName, zModel, n) == 0) {
      *pOut = aFamily[i];
      bFound = 1;
    }
  }
  pthread_mutex_unlock(&familyMutex);
  return bFound;
}

char *vg_embedder_known(void) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "\"hash2\", \"hash\", \"hash2:DIM\", \"hash:DIM\"");
  pthread_mutex_lock(&familyMutex);
  for (int i = 0; i < nFamily; i++) sqlite3_str_appendf(s, ", \"%s\"", aFamily[i].zName);
  pthread_mutex_unlock(&familyMutex);
  return sqlite3_str_finish(s);
}

/* "unknown model ..." naming the models there are. */
static char *unknown_model(const char *zModel) {
  char *zKnown = vg_embedder_known();
  char *z = zKnown ? sqlite3_mprintf("unknown model \"%s\" (there are %s; or a model this connection loads by name "
                                     "with vg_model_load)",
                                     zModel, zKnown)
                   : 0;
  sqlite3_free(zKnown);
  return z;
}

/* What model zModel is: the hash model's dimension, or a registered
** family's description, checked.  *pFamily is set for a family's model. */
static int describe(const char *zModel, int *pnDims, int *pnMaxTokens, Family *pFamily, int *pbFamily,
                    int *piHash, char **pzErr) {
  *pbFamily = 0;
  int nDims = hash_model_dims(zModel, piHash, pzErr);
  if (nDims < 0) return SQLITE_ERROR;
  if (nDims > 0) {
    *pnDims = nDims;
    *pnMaxTokens = VG_EMBED_HASH_MAX_TOKENS;
    return SQLITE_OK;
  }
  if (!find_family(zModel, pFamily)) {
    *pzErr = unknown_model(zModel);
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  *pbFamily = 1;
  int nMaxTokens = 0;
  char *zErr = 0;
  int rc = pFamily->pFamily->xDescribe(pFamily->pCtx, zModel, &nDims, &nMaxTokens, &zErr);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("model \"%s\": %s", zModel, zErr ? zErr : sqlite3_errstr(rc));
    sqlite3_free(zErr);
    return rc;
  }
  sqlite3_free(zErr);
  if (nDims < 1 || nDims > VG_MAX_DIMS || nMaxTokens < 1) {
    *pzErr = sqlite3_mprintf("model \"%s\": its family describes it with %d dimensions and %d tokens; "
                             "an embedder needs 1 to %d dimensions and at least 1 token",
                             zModel, nDims, nMaxTokens, VG_MAX_DIMS);
    return SQLITE_ERROR;
  }
  *pnDims = nDims;
  *pnMaxTokens = nMaxTokens;
  return SQLITE_OK;
}

int vg_embedder_describe(const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr) {
  Family f;
  int bFamily, iHash;
  return describe(zModel, pnDims, pnMaxTokens, &f, &bFamily, &iHash, pzErr);
}

int vg_embedder_open(const char *zModel, VgEmbedder **ppOut, char **pzErr) {
  *ppOut = 0;
  int nDims = 0, nMaxTokens = 0, bFamily = 0, iHash = 0;
  Family f;
  int rc = describe(zModel, &nDims, &nMaxTokens, &f, &bFamily, &iHash, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (!bFamily) return vg_embed_hash_open(iHash, nDims, ppOut);
  VgEmbedder *p = 0;
  char *zErr = 0;
  rc = f.pFamily->xOpen(f.pCtx, zModel, &p, &zErr);
  if (rc != SQLITE_OK || p == 0) {
    *pzErr = sqlite3_mprintf("model \"%s\": %s", zModel,
                             zErr ? zErr : rc != SQLITE_OK ? sqlite3_errstr(rc) : "its family opened nothing");
    sqlite3_free(zErr);
    if (p && p->xDestroy) p->xDestroy(p);
    return rc != SQLITE_OK ? rc : SQLITE_ERROR;
  }
  sqlite3_free(zErr);
  /* The name is what caches find it by (vg_embed's auxdata, the queue's). */
  if (p->zName == 0 || strcmp(p->zName, zModel) != 0 || p->xEmbed == 0 || p->xDestroy == 0 ||
      p->nDims != nDims || p->nMaxTokens != nMaxTokens) {
    *pzErr = sqlite3_mprintf("model \"%s\": its family opened an embedder that is not what it described "
                             "(%d dimensions and %d tokens described, a name, xEmbed and xDestroy needed); "
                             "it has %d dimensions, %d tokens, the name \"%s\"%s%s",
                             zModel, nDims, nMaxTokens, p->nDims, p->nMaxTokens, p->zName ? p->zName : "(none)",
                             p->xEmbed ? "" : ", no xEmbed", p->xDestroy ? "" : ", no xDestroy");
    if (p->xDestroy) p->xDestroy(p);
    return SQLITE_ERROR;
  }
  *ppOut = p;
  return SQLITE_OK;
}

int vg_embedder_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText, float *aOut,
                      char **pzErr) {
  int rc = p->xEmbed(p, nText, azText, anText, aOut, pzErr);
  if (rc != SQLITE_OK) {
    /* Callers record *pzErr on the item: an embedder that gave no reason
    ** still fails it, naming the model. */
    if (*pzErr == 0 && rc != SQLITE_NOMEM) {
      *pzErr = sqlite3_mprintf("model \"%s\" failed: %s", p->zName, sqlite3_errstr(rc));
    }
    return rc;
  }
  for (int t = 0; t < nText; t++) {
    for (int i = 0; i < p->nDims; i++) {
      float x = aOut[(size_t)t * (size_t)p->nDims + (size_t)i];
      if (!(x >= -VG_MAX_ELEMENT && x <= VG_MAX_ELEMENT)) { /* NaN fails both */
        *pzErr = sqlite3_mprintf("model \"%s\" gave element %d of text %d as %g: an embedder's elements must be "
                                 "finite and at most 1e16 in magnitude",
                                 p->zName, i, t, (double)x);
        return SQLITE_ERROR;
      }
    }
  }
  return SQLITE_OK;
}

void vg_embedder_close(VgEmbedder *p) {
  if (p) p->xDestroy(p);
}

/* The default model's embedder is kept for the connection (EmbedConn); a
** model given as an argument is usually a constant, and its embedder is
** kept as auxiliary data for the rows of one statement. */
void vg_embed_conn_init(EmbedConn *c) {
  memset(c, 0, sizeof(*c));
}

void vg_embed_conn_clear(EmbedConn *c) {
  vg_embedder_close(c->pDefault);
  c->pDefault = 0;
  vg_embed_models_clear(c);
}

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
    /* A model the connection loaded goes first; the connection owns it. */
    VgModel *m = vg_embed_conn_find(c, zModel);
    if (m && m->pEmbedder) return m->pEmbedder;
    VgEmbedder *pKept = sqlite3_get_auxdata(ctx, 1);
    if (pKept && strcmp(pKept->zName, zModel) == 0) return pKept;
  }
  VgEmbedder *p = 0;
  char *zErr = 0;
  int rc = vg_embedder_open(zModel, &p, &zErr);
  if (rc == SQLITE_ERROR) {
    /* A name this connection could load, or a model that does not embed,
    ** says so. */
    char *zWhy = 0;
    int nDims, nMax, rcWhy = vg_model_describe(c, zModel, &nDims, &nMax, &zWhy);
    if (rcWhy != SQLITE_OK && zWhy) {
      sqlite3_free(zErr);
      zErr = zWhy;
    } else {
      sqlite3_free(zWhy);
    }
  }
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
  int rc = aVec ? vg_embedder_embed(p, 1, &z, &n, aVec, &zErr) : SQLITE_NOMEM;
  /* A service that is down is this call's failure: SQLite would take an
  ** I/O error for the disk's, and roll back the caller's transaction. */
  if ((rc & 0xff) == SQLITE_IOERR) rc = SQLITE_ERROR;
  if (rc == SQLITE_OK) {
    vg_vector_to_blob(aVec, p->nDims, aVec);
    sqlite3_result_blob(ctx, aVec, (int)sizeof(float) * p->nDims, sqlite3_free);
  } else {
    vg_result_error(ctx, rc, "vg_embed", zErr);
    sqlite3_free(aVec);
  }
  sqlite3_free(zErr);
}

/* What ext/vecguard.c registers for vg_embed (embed.h), with the EmbedConn. */
/* vg_embed(text, model) is not deterministic: a model loaded by name can be
** loaded again from another folder, so an index or a generated column over
** it could go stale.  Nor is it innocuous: the model can be a service, and a
** trigger or view of a schema not trusted must not send text over the
** network (PRAGMA trusted_schema).  vg_embed(text) always means hash:384. */
const VgFunction vg_embed_functions[] = {
    {"vg_embed", 1, VG_FUNC_PURE, fn_embed},
    {"vg_embed", 2, SQLITE_UTF8, fn_embed},
    {0, 0, 0, 0},
};
