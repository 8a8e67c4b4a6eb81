/*
** vecguard.c — the extension's entry point.  Loading it
** (".load ./build/vecguard" or sqlite3_load_extension) registers, on that
** connection, the vector functions, the vg_hnsw virtual table module, the
** PII functions, the embedders, vg_chunk and the embedding queue.
*/
#include "base/base.h"
SQLITE_EXTENSION_INIT1

#include <sodium.h>

#include "vecguard.h" /* the public API (include/), defined here */
#include "vector/vector.h"
#include "table/table.h"

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
  int rc = vg_register_vector_functions(db);
  if (rc == SQLITE_OK) rc = sqlite3_create_module_v2(db, "vg_hnsw", &vg_hnsw_module, 0, 0);
  if (rc == SQLITE_OK)
    rc = sqlite3_create_function(db, "vg_hnsw_check", 1, SQLITE_UTF8, 0, vg_hnsw_check_func, 0, 0);
  if (rc == SQLITE_OK) rc = vg_register_pii_functions(db);
  if (rc == SQLITE_OK) rc = vg_register_embed_functions(db);
  if (rc == SQLITE_OK) rc = vg_register_chunk_module(db);
  if (rc == SQLITE_OK) rc = vg_register_queue_functions(db);
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
