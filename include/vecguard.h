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

/* The entry point SQLite calls when it loads the extension, and the one to
** pass to sqlite3_auto_extension.  On failure *pzErrMsg (from
** sqlite3_malloc) says why. */
int sqlite3_vecguard_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

#ifdef __cplusplus
}
#endif

#endif
