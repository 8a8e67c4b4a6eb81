/*
** vecguard.c — the extension's entry point, and the only registrar.
** Loading it (".load ./build/vecguard" or sqlite3_load_extension)
** registers, on that connection, what each layer hands over in its header:
** the vector functions, the vg_hnsw virtual table module, the PII
** functions, the embedders, vg_chunk and the embedding queue.  It also owns
** the per-connection state those functions share (VgConn below).
*/
#include "base/base.h"
SQLITE_EXTENSION_INIT1

#include <sodium.h>
#include <stddef.h>
#include <string.h>

#include "vecguard.h" /* the public API (include/), defined here */
#include "vector/vector.h"
#include "table/table.h"
#include "pii/pii.h"
#include "embed/embed.h"
#include "pipeline/pipeline.h"

/* The state one load of the extension gives a connection: each layer's
** part, set up and torn down by that layer.  A function takes its layer's
** part as user data, as does a module its client data.
**
** Its lifetime is a reference count: one per registration that carries a
** part, taken before sqlite3_create_function_v2 / create_module_v2 and
** given back by that registration's xDestroy, plus one that loading holds
** until it is done.  SQLite calls xDestroy exactly once per registration:
** when the registration fails (create_function_v2 and create_module_v2 both
** do), when the same name is registered again — by the application, or by
** a second load, whose registrations replace this one's one by one — or
** when the connection closes; a module's waits for its last table.  So
** the state is freed once, when nothing registered can reach it any more:
** an application that overrides one function leaves the others working on
** it, a failure midway leaves what was registered working, and a second
** load frees the first one's state as its last function is replaced.
** Calls come on one connection, under its mutex: a plain count suffices. */
typedef struct VgConn {
  int nRef;
  EmbedConn embed;
  PiiConn pii;
  QueueConn queue;
} VgConn;

static void conn_unref(VgConn *c) {
  if (--c->nRef > 0) return;
  vg_embed_conn_clear(&c->embed);
  pii_conn_clear(&c->pii);
  vg_queue_conn_clear(&c->queue);
  sqlite3_free(c);
}

/* The PII layer's finder of names (PiiConn.xNer, pCtx the EmbedConn): the
** token-classification models are the embed layer's, and only the
** registrar sees both. */
_Static_assert(VG_NER_PERSON == 0 && VG_NER_LOCATION == 1 && VG_NER_ORGANIZATION == 2 && PII_NER_TYPES == 3,
               "vg_pii_ner_types follows the VG_NER_* order");
static int find_names(void *pCtx, const char *zModel, const char *z, int n, VgPiiFindings *pOut, char **pzErr) {
  VgNerSpan *a = 0;
  int nSpan = 0;
  int rc = vg_model_ner(pCtx, zModel, z, n, &a, &nSpan, pzErr);
  for (int i = 0; rc == SQLITE_OK && i < nSpan; i++) {
    VgPiiFinding f;
    memset(&f, 0, sizeof f);
    f.zEntity = vg_pii_ner_types[a[i].iType];
    f.iStart = a[i].start;
    f.iEnd = a[i].end;
    f.score = a[i].score;
    rc = vg_pii_findings_add(pOut, &f);
  }
  sqlite3_free(a);
  return rc;
}

/* The xDestroy of each part: SQLite gives back the part, the user data. */
#define CONN_OF(p, part) ((VgConn *)(void *)((char *)(p) - offsetof(VgConn, part)))
static void unref_embed(void *p) { conn_unref(CONN_OF(p, embed)); }
static void unref_pii(void *p) { conn_unref(CONN_OF(p, pii)); }
static void unref_queue(void *p) { conn_unref(CONN_OF(p, queue)); }

/* What a registration carries: a part of c and its xDestroy, or nothing. */
typedef struct Part {
  VgConn *c;
  void *p;
  void (*xUnref)(void *);
} Part;

static int add_functions(sqlite3 *db, const VgFunction *a, const Part *s) {
  int rc = SQLITE_OK;
  for (; rc == SQLITE_OK && a->zName; a++) {
    if (s->c) s->c->nRef++;
    rc = sqlite3_create_function_v2(db, a->zName, a->nArg, a->flags, s->p, a->xFunc, 0, 0, s->xUnref);
  }
  return rc;
}

static int add_module(sqlite3 *db, const char *zName, const sqlite3_module *pModule, const Part *s) {
  if (s->c) s->c->nRef++;
  return sqlite3_create_module_v2(db, zName, pModule, s->p, s->xUnref);
}

VG_PUBLIC
int sqlite3_vecguard_init(sqlite3 *db, char **pzErrMsg,
                          const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  /* sqlite3_vtab_in() and STRICT shadow tables arrived in 3.38 and 3.37. */
  if (sqlite3_libversion_number() < 3038000) {
    *pzErrMsg = sqlite3_mprintf("vecguard needs SQLite 3.38.0 or later; this is %s",
                                sqlite3_libversion());
    return SQLITE_ERROR;
  }
  if (sodium_init() < 0) {
    *pzErrMsg = sqlite3_mprintf("vecguard: libsodium failed to initialize");
    return SQLITE_ERROR;
  }
  vg_distance_init();
  VgConn *c = sqlite3_malloc64(sizeof(*c));
  if (c == 0) return SQLITE_NOMEM;
  c->nRef = 1; /* loading's own, given back below */
  vg_embed_conn_init(&c->embed);
  pii_conn_init(&c->pii);
  vg_queue_conn_init(&c->queue);
  c->queue.pModels = &c->embed; /* the queue embeds with the models the connection loads */
  c->pii.xNer = find_names;
  c->pii.pNerCtx = &c->embed;
  const Part none = {0, 0, 0}, embed = {c, &c->embed, unref_embed}, pii = {c, &c->pii, unref_pii},
             queue = {c, &c->queue, unref_queue};
  static const VgFunction *const apQueue[] = {vg_queue_functions, vg_config_functions, vg_ingest_functions,
                                              vg_worker_functions, vg_watch_functions};

  int rc = add_functions(db, vg_vector_functions, &none);
  if (rc == SQLITE_OK) rc = sqlite3_create_module_v2(db, "vg_hnsw", &vg_hnsw_module, 0, 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "vg_hnsw_check", 1, SQLITE_UTF8, 0, vg_hnsw_check_func, 0, 0);
  if (rc == SQLITE_OK) rc = add_functions(db, vg_fulltext_functions, &none);
  if (rc == SQLITE_OK) rc = add_functions(db, vg_pii_functions, &pii);
  if (rc == SQLITE_OK) rc = add_module(db, "vg_pii_scan", &vg_pii_scan_module, &pii);
  if (rc == SQLITE_OK) rc = add_functions(db, vg_embed_functions, &embed);
  if (rc == SQLITE_OK) rc = add_functions(db, vg_model_functions, &embed);
  if (rc == SQLITE_OK) rc = add_module(db, "vg_chunk", &vg_chunk_module, &none);
  for (size_t i = 0; rc == SQLITE_OK && i < sizeof apQueue / sizeof apQueue[0]; i++) {
    rc = add_functions(db, apQueue[i], &queue);
  }
  if (rc == SQLITE_OK) rc = add_module(db, "vg_search", &vg_search_module, &queue);
  conn_unref(c);
  return rc;
}

VG_PUBLIC const char *vecguard_version(void) {
  return VG_VERSION;
}

#ifdef SQLITE_CORE
/* Only where SQLite is linked in (libvecguard.a): the loadable library
** reaches SQLite through the routines its loader passes. */
VG_PUBLIC int vecguard_init(sqlite3 *db, char **pzErrMsg) {
  char *zErr = 0;
  int rc = sqlite3_vecguard_init(db, &zErr, 0);
  if (pzErrMsg) {
    *pzErrMsg = zErr;
  } else {
    sqlite3_free(zErr);
  }
  return rc;
}
#endif
