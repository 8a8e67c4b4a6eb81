/*
** index.h — the HNSW index of a vg_hnsw table, kept in step with storage.
**
** Each partition's graph is loaded from its slots on first use and kept in
** memory while the partition's nonce in storage matches the one it was
** loaded at.  Every write stores a fresh random nonce, so a rollback (of a
** transaction, a savepoint or a failed statement) and another connection's
** commit both make the cached graph stale, and it is loaded again rather
** than trusted.
**
** Writes go through here: each changes the graph in memory, then writes to
** storage the new row and exactly the link lists the change touched (the
** graph's dirty list), then the partition's count, entry point and nonce.
** If any step fails, the cached graph is dropped; SQLite rolls storage back.
*/
#ifndef VG_INDEX_H
#define VG_INDEX_H

#include "store.h"

typedef struct VgIndex VgIndex;

int vg_index_open(VgStore *pStore, const VgTableDef *pDef, VgIndex **ppIndex);
void vg_index_close(VgIndex *x);

/* The graph of partition part, current for nonce; loaded when missing or
** stale.  Valid until the next call into the index. */
int vg_index_graph(VgIndex *x, sqlite3_int64 part, sqlite3_int64 nonce, Hnsw **ppGraph,
                   char **pzErr);

/* Data a reader derives from a partition's graph and rows as they are now
** (a filter's mask over the nodes, say).  It is freed with xFree, and
** vg_index_derived returns 0, once the partition changes in any way or its
** graph is dropped.  Setting it on a partition whose graph is not cached
** frees pData at once. */
void *vg_index_derived(VgIndex *x, sqlite3_int64 part);
void vg_index_set_derived(VgIndex *x, sqlite3_int64 part, void *pData, void (*xFree)(void *));

/* aPrep is the row's vector prepared for the metric (normalized for
** cosine); pRow->aVec is the vector as given, which is what is stored. */
int vg_index_insert(VgIndex *x, const VgRow *pRow, const float *aPrep, char **pzErr);
/* Deleting a missing rowid does nothing. */
int vg_index_delete(VgIndex *x, sqlite3_int64 rowid, char **pzErr);
/* Replace row oldRowid by pRow (whose rowid, if different, must be free).
** bNewVector: the vector differs from the stored one. */
int vg_index_update(VgIndex *x, sqlite3_int64 oldRowid, const VgRow *pRow,
                    const float *aPrep, int bNewVector, char **pzErr);

#endif
