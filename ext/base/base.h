/*
** base.h — the internal header of ext/base/: what every layer uses: limits,
** the text-argument and whole-number checks, errors and results of SQL
** functions, what a layer hands the registrar, UTF-8, transactions.
**
** One section per part, in dependency order: limits, text, txn.
** The lowest layer: it includes no other, only the public header
** include/vecguard.h (see docs/architecture.md).
*/
#ifndef VG_BASE_LAYER_H
#define VG_BASE_LAYER_H

#include <sqlite3ext.h>

#include "vecguard.h" /* the public API: its version, its embedder type */

/***************************************************************************
** limits: the version, limits, the checks and results of SQL functions,
** and the entry of the tables of SQL functions each layer hands
** ext/vecguard.c, the only registrar.
**
** Every layer's header includes this one first.  It pulls in sqlite3ext.h
** so that the same sources build both as a loadable extension (the
** default) and linked into a program that calls SQLite directly (compile
** with -DSQLITE_CORE, as the unit tests do).
*/

SQLITE_EXTENSION_INIT3

#define VG_VERSION VECGUARD_VERSION

/* The public API (include/vecguard.h) is all the shared library exports:
** everything else is built with -fvisibility=hidden (see the Makefile). */
#ifdef _WIN32
#define VG_PUBLIC __declspec(dllexport)
#else
#define VG_PUBLIC __attribute__((visibility("default")))
#endif

/* Largest vector dimension accepted anywhere (vg_vector, float[N]). */
#define VG_MAX_DIMS 16384

/* Largest k a KNN query may ask for. */
#define VG_MAX_K 1000000

/* How vg_text_value checks a text argument.  Every text argument must be
** valid UTF-8.  A name — a table, tenant, content type or id, model, metric,
** worker, key, option word — must hold no NUL byte: SQLite compares text by
** all its bytes while C stops at the first NUL, so "victim\0evil" would be
** one tenant to a table and "victim" to code that reads it as a string.
** One rule for every function: names with a NUL are refused; free text
** (VG_TEXT_BODY: what is redacted, embedded, chunked or stored) may hold
** any character and travels with its length. */
#define VG_TEXT_NAME 0     /* no NUL byte */
#define VG_TEXT_JSON 1     /* JSON text: no NUL byte, raw or escaped as \u0000 */
#define VG_TEXT_BODY 2     /* free text: NUL bytes allowed, kept by length */
#define VG_TEXT_NONEMPTY 4 /* (added to the above) not '' */

/* Check v, the argument called zName in messages, under flags: SQLITE_OK
** with its bytes in *pz and their number in *pn (pn may be 0); else
** SQLITE_ERROR with *pzErr saying what is wrong and what to send, or
** SQLITE_NOMEM.  Anything but TEXT is refused: callers that take NULL or
** other types test for them first (result.c). */
int vg_text_value(sqlite3_value *v, const char *zName, int flags, const char **pz, int *pn,
                  char **pzErr);

/* vg_text_value for a scalar function: its text, or 0 with the function's
** error set. */
const char *vg_text_arg(sqlite3_context *ctx, const char *zFunc, sqlite3_value *v, const char *zName, int flags,
                        int *pn);

/* A whole-number argument: an INTEGER, or a REAL with a whole value in
** range (drivers such as better-sqlite3 bind every number as a REAL).
** 1 with *pOut set, or 0 for anything else (result.c). */
int vg_int_value(sqlite3_value *v, sqlite3_int64 *pOut);

/* What a value is, for "...; got ..." in errors: "the integer 5", "the
** real 2.5", "the text 'abc'" (cut at 40 bytes), "a 3-byte blob", "NULL"
** (result.c; sqlite3_free it). */
char *vg_value_describe(sqlite3_value *v);

/* The error "zFunc: zWant; got <what v is>" (result.c). */
void vg_result_bad_value(sqlite3_context *ctx, const char *zFunc, const char *zWant, sqlite3_value *v);

/* Does main hold table zTable (and its column zCol, unless 0)? (db.c) */
int vg_has_table(sqlite3 *db, const char *zTable, const char *zCol);

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
int vg_tvf_error(sqlite3_vtab *pVtab, const char *zFunc, const char *zFormat, ...);

/* The error of a failed database call, with a hint for BUSY_SNAPSHOT
** (result.c). */
void vg_result_db_error(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc);

/* A failure's error: zErr (freed here) when there is one, else the
** database's (vg_result_db_error). */
void vg_result_failure(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc, char *zErr);

/* One SQL function as a layer hands it to ext/vecguard.c, which alone
** registers SQL objects.  A layer's table of them ends with an entry whose
** zName is 0; each function takes that layer's per-connection state as its
** user data (sqlite3_user_data), or none for a layer without one.  Modules
** are handed over as their sqlite3_module, declared in the layer's header. */
typedef struct VgFunction {
  const char *zName;
  int nArg;
  int flags; /* all it is registered with: SQLITE_UTF8 | SQLITE_DETERMINISTIC ... */
  void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
} VgFunction;

/* The flags of most: a function of its arguments alone, safe anywhere; one
** that reads or changes the connection's state or the database, which
** triggers, views and the schema may not call. */
#define VG_FUNC_PURE (SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS)
#define VG_FUNC_DIRECT (SQLITE_UTF8 | SQLITE_DIRECTONLY)

/***************************************************************************
** text: UTF-8 helpers shared by the modules (text.c).
*/

/* Is z[0, n) valid UTF-8 (no overlong forms, surrogates or code points past
** U+10FFFF)?  On failure *piBad (when not 0) is the offset of the first bad
** byte. */
int vg_utf8_valid(const char *z, int n, int *piBad);

/* The characters (bytes that are not continuation bytes) in z[0, n). */
int vg_utf8_count(const char *z, int n);

/***************************************************************************
** txn: a transaction around an SQL function's reads and writes (txn.c):
** BEGIN IMMEDIATE outside one, a savepoint inside one, nothing inside a
** statement that writes (its own rollback covers the function).
**
** xBegun, when not 0, runs first thing in a transaction vg_txn_begin opens
** with BEGIN (never in a savepoint): a caller's cleanup that must run in a
** transaction of its own, once what earlier ones wrote has committed.  Its
** failure rolls the transaction back.
*/

typedef enum VgTxn { VG_TXN_NONE, VG_TXN_BEGIN, VG_TXN_SAVEPOINT } VgTxn;
int vg_txn_begin(sqlite3 *db, int (*xBegun)(sqlite3 *), VgTxn *pMode);

/* Commit (rc == SQLITE_OK) or roll back; returns rc or the commit's error. */
int vg_txn_end(sqlite3 *db, VgTxn mode, int rc);

/* Run xWork(db, pArg, &zErr) in a transaction (vg_txn_begin with xBegun),
** committed when it returns SQLITE_OK, rolled back otherwise.  On failure
** the function's error is set — xWork's message, else the database's as it
** stood before the rollback — and 0 returned; the caller sets the result on
** 1. */
int vg_txn_call(sqlite3_context *ctx, const char *zFunc, int (*xBegun)(sqlite3 *),
                int (*xWork)(sqlite3 *, void *, char **), void *pArg);

#endif
