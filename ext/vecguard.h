/*
** vecguard.h — limits and registration entry points shared by the modules of
** the vecguard SQLite extension.
**
** Every .c file of the extension includes this header first.  It pulls in
** sqlite3ext.h so that the same sources build both as a loadable extension
** (the default) and linked into a program that calls SQLite directly
** (compile with -DSQLITE_CORE, as the unit tests do).
*/
#ifndef VECGUARD_H
#define VECGUARD_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#define VG_VERSION "0.1.0"

/* Largest vector dimension accepted anywhere (vg_vector, float[N]). */
#define VG_MAX_DIMS 16384

/* Largest k a KNN query may ask for. */
#define VG_MAX_K 1000000

/* Registration of each module's SQL objects; each returns an SQLite code. */
int vg_register_vector_functions(sqlite3 *db);
int vg_register_hnsw_module(sqlite3 *db);
int vg_register_check_function(sqlite3 *db);
int vg_register_pii_functions(sqlite3 *db);
int vg_register_embed_functions(sqlite3 *db);
int vg_register_chunk_module(sqlite3 *db);
int vg_register_queue_functions(sqlite3 *db);

#endif
