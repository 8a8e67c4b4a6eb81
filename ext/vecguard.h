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

/* An SQL function's error: "zFunc: zErr" (SQLite's message for rc when zErr
** is 0), or out of memory when rc is SQLITE_NOMEM (result.c). */
void vg_result_error(sqlite3_context *ctx, int rc, const char *zFunc, const char *zErr);
void vg_result_errorf(sqlite3_context *ctx, const char *zFunc, const char *zFormat, ...);

/* The text built in out as the result (finishing out), or the error it
** ran into: too big or out of memory. */
void vg_result_str(sqlite3_context *ctx, sqlite3_str *out);

/* Append z[0, n) (n < 0: up to its NUL) to out as a JSON string. */
void vg_str_append_json(sqlite3_str *out, const char *z, int n);

/* A table-valued function's error, "zFunc: message", set on its vtab;
** returns SQLITE_ERROR, or SQLITE_NOMEM when the message cannot be made. */
int vg_vtab_errorf(sqlite3_vtab *pVtab, const char *zFunc, const char *zFormat, ...);

/* Registration of each module's SQL objects; each returns an SQLite code. */
int vg_register_vector_functions(sqlite3 *db);
int vg_register_hnsw_module(sqlite3 *db);
int vg_register_check_function(sqlite3 *db);
int vg_register_pii_functions(sqlite3 *db);
int vg_register_embed_functions(sqlite3 *db);
int vg_register_chunk_module(sqlite3 *db);
int vg_register_queue_functions(sqlite3 *db);

#endif
