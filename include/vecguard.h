/*
** vecguard.h — the public C API of vecguard, for programs that link the
** library (libvecguard.a, or vecguard.so) instead of loading it with
** sqlite3_load_extension: the vecguardd daemon, and applications that embed
** SQLite.  Everything else vecguard offers is SQL (docs/README.md).
**
**   #include <vecguard.h>
**   sqlite3_open(":memory:", &db);
**   if (vecguard_init(db, &zErr) != SQLITE_OK) ... zErr says why
**
** To give every connection the functions, register the entry point once:
** sqlite3_auto_extension((void (*)(void))sqlite3_vecguard_init).
** Compile and link with `pkg-config --cflags --libs vecguard` (add --static
** for libvecguard.a's own dependencies).
*/
#ifndef VECGUARD_H
#define VECGUARD_H

#include <sqlite3.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VECGUARD_VERSION "0.1.0"
/* MAJOR * 1000000 + MINOR * 1000 + PATCH, as SQLITE_VERSION_NUMBER. */
#define VECGUARD_VERSION_NUMBER 1000

/* The version of the library linked, "0.1.0": compare with VECGUARD_VERSION
** to catch a header and a library that differ. */
const char *vecguard_version(void);

/* Register vecguard's SQL functions and virtual table modules on db.
** SQLITE_OK, or an SQLite error code with the reason in *pzErrMsg (unless
** pzErrMsg is NULL; free it with sqlite3_free).  In libvecguard.a only: the
** loadable vecguard.so is entered through sqlite3_vecguard_init. */
int vecguard_init(sqlite3 *db, char **pzErrMsg);

/* ---- embedders ------------------------------------------------------------
**
** An embedder turns texts into float32 vectors.  vecguard has one built in
** (the "hash" family: "hash" and "hash:DIM"); a program adds others — a
** trained encoder, a service — by registering a family of models under a
** name.  A model is then named "family" or "family:anything", wherever SQL
** takes a model: vg_embed(text, model), vg_configure's "model", and so
** vg_queue_run and vg_search. */
typedef struct vecguard_embedder vecguard_embedder;
struct vecguard_embedder {
  const char *zName; /* the model name it was opened with, exactly */
  int nDims;         /* 1 to 16384 */
  int nMaxTokens;    /* the longest text it reads, in tokens (runs of non-space) */
  /* Write nText vectors of nDims floats, one after another, to aOut; text i
  ** is anText[i] bytes of UTF-8 at azText[i].  SQLITE_OK, or an SQLite error
  ** code with *pzErr (from sqlite3_malloc) saying which text and why:
  ** SQLITE_ERROR when a text may be at fault (vg_queue_run then tries the
  ** batch's texts one by one, to fail only the culprit), SQLITE_IOERR when
  ** what the model runs on failed as a whole (a service that is down: the
  ** batch's items, and the run's later ones for the model, fail at once).
  ** Every element must be finite and at most 1e16 in magnitude: vecguard
  ** checks, and refuses the batch otherwise. */
  int (*xEmbed)(vecguard_embedder *p, int nText, const char *const *azText, const int *anText,
                float *aOut, char **pzErr);
  void (*xDestroy)(vecguard_embedder *p);
};

typedef struct vecguard_embedder_family vecguard_embedder_family;
struct vecguard_embedder_family {
  /* What model zModel is, without opening it (a trained model's weights are
  ** large): its dimension and the tokens it reads.  SQLITE_ERROR with
  ** *pzErr (from sqlite3_malloc) for a name the family does not know. */
  int (*xDescribe)(void *pCtx, const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr);
  /* Open model zModel: *ppOut an embedder with the dimension and tokens
  ** xDescribe gave, owned by vecguard from then on (it calls xDestroy). */
  int (*xOpen)(void *pCtx, const char *zModel, vecguard_embedder **ppOut, char **pzErr);
};

/* Register family zFamily (letters, digits, '_' and '-'; not "hash") for
** every connection of the process, replacing one of that name; pFamily
** NULL removes it.  pFamily and pCtx must outlive the registration and the
** embedders opened from it.  SQLITE_OK; SQLITE_MISUSE for a bad name or a
** family without xDescribe or xOpen; SQLITE_FULL past 16 families.
** Thread-safe. */
int vecguard_register_embedder(const char *zFamily, const vecguard_embedder_family *pFamily, void *pCtx);

/* The entry point SQLite calls when it loads the extension, and the one to
** pass to sqlite3_auto_extension.  On failure *pzErrMsg (from
** sqlite3_malloc) says why. */
int sqlite3_vecguard_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif

#endif
