/*
** vtab.h — state shared by the two halves of the vg_hnsw virtual table:
** vtab.c (lifecycle, writes, partition caches) and vtab_query.c (planning,
** KNN search, scans and cursors).
*/
#ifndef VG_VTAB_H
#define VG_VTAB_H

#include "index.h"

typedef struct VgStmtCache VgStmtCache;

typedef struct VgVtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char *zName;
  VgTableDef *pDef;
  VgStore *pStore;
  VgRowReader *pReader; /* reads old rows for UPDATE */
  VgIndex *pIndex;
  VgStmtCache *pStmts; /* query statements kept by vtab_query.c */
  int nMatchChecked;    /* open KNN cursors whose MATCH SQLite checks itself */
} VgVtab;

/* Replace the vtab's error message (printf-style); returns rc. */
int vg_vtab_error(VgVtab *p, int rc, const char *zFormat, ...);

/* Take ownership of zErr as the vtab's error message; returns rc. */
int vg_vtab_set_error(VgVtab *p, int rc, char *zErr);

/* The graph of partition part, current for nonce (see vg_index_graph); errors
** become the vtab's message. */
int vg_vtab_graph(VgVtab *p, sqlite3_int64 part, sqlite3_int64 nonce, Hnsw **ppGraph);

/* Finalize the kept query statements: before the shadow tables are dropped
** or renamed, and when the table is disconnected. */
void vg_vtab_forget_statements(VgVtab *p);

/* Query-side module methods, defined in vtab_query.c. */
int vg_vtab_find_function(sqlite3_vtab *pVtab, int nArg, const char *zName,
                          void (**pxFunc)(sqlite3_context *, int, sqlite3_value **), void **ppArg);
int vg_vtab_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *pInfo);
int vg_cursor_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor);
int vg_cursor_close(sqlite3_vtab_cursor *pCur);
int vg_cursor_filter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr,
                     int argc, sqlite3_value **argv);
int vg_cursor_next(sqlite3_vtab_cursor *pCur);
int vg_cursor_eof(sqlite3_vtab_cursor *pCur);
int vg_cursor_column(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int iCol);
int vg_cursor_rowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid);

#endif
