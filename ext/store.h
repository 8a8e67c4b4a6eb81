/*
** store.h — the shadow tables behind a vg_hnsw table.
**
** For a table T in schema S the store keeps, in S:
**
**   T_config      key/value: format version, dimensions, metric, slot layout
**   T_partitions  one row per partition: its key value, row count, a nonce
**                 that changes on every write (caches compare it), and the
**                 HNSW entry point (filled by the index)
**   T_rows        one row per table row: partition, slot address, metadata
**                 values in plain form (indexed for filters), auxiliary
**                 values encrypted under the row's key
**   T_chunks      fixed-size slots holding each row's rowid, key and vector
**   T_free        free slots, reused before new chunks are added
**   T_graph       HNSW adjacency, one row per node (filled by the index)
**
** Erasure.  SQLite moves B-tree cells between pages when it rebalances and
** does not clear the space a moved cell leaves behind, even with
** PRAGMA secure_delete, so a deleted row's bytes can survive in the file.
** Two rules make erasure real instead:
**   1. Each T_chunks record starts with a zero pad at least as long as the
**      most a page keeps locally, so slot bytes live only on overflow pages,
**      which never move; deleting or updating a row overwrites its slot in
**      place with sqlite3_blob_write().
**   2. Auxiliary values are stored encrypted (XChaCha20) under a random key
**      held in the row's slot, and each write uses a new key; once the slot
**      is overwritten, any stale copy of the ciphertext is unreadable.
** Metadata and partition values are index keys and stay in plain form: they
** are not covered, and the documentation says so.
*/
#ifndef VG_STORE_H
#define VG_STORE_H

#include "value.h"
#include "vecset.h"

#define VG_FORMAT_VERSION 1

typedef struct VgStore VgStore;
typedef struct VgRowReader VgRowReader;

/* A row to write.  Values must already be coerced to their column types. */
typedef struct VgRow {
  sqlite3_int64 rowid;
  VgValue partition; /* SQLITE_NULL type when the table has no partition key */
  VgValue *aMeta;    /* nMeta values */
  VgValue *aAux;     /* nAux values */
  const float *aVec; /* nDims elements, as given by the user */
} VgRow;

/* What a write did to a partition, so that caches can follow it: a cache
** that was current at nonceBefore may apply the change and move to
** nonceAfter; any other cache of that partition is stale. */
typedef struct VgPartChange {
  sqlite3_int64 part;        /* 0: no partition changed */
  sqlite3_int64 nonceBefore; /* 0 when the partition was created */
  sqlite3_int64 nonceAfter;  /* 0 when the partition was removed */
} VgPartChange;

/* Create the shadow tables (xCreate). */
int vg_store_create(sqlite3 *db, const char *zSchema, const char *zName,
                    const VgTableDef *pDef, char **pzErr);

/* Attach to existing shadow tables, checking the format (xConnect). */
int vg_store_connect(sqlite3 *db, const char *zSchema, const char *zName,
                     const VgTableDef *pDef, VgStore **ppStore, char **pzErr);
void vg_store_disconnect(VgStore *p);

/* Overwrite every slot, then drop the shadow tables (xDestroy). */
int vg_store_destroy(VgStore *p, char **pzErr);

/* Rename the shadow tables for ALTER TABLE ... RENAME (xRename). */
int vg_store_rename(VgStore *p, const char *zNewName, char **pzErr);

/* The suffixes of the shadow tables, for xShadowName. */
int vg_store_is_shadow_suffix(const char *zSuffix);

/* "schema"."T_<suffix>", quoted, owned by the store. */
const char *vg_store_table(VgStore *p, const char *zSuffix);

/* Does rowid exist?  The rowid an INSERT without one would get. */
int vg_store_row_exists(VgStore *p, sqlite3_int64 rowid, int *pbExists, char **pzErr);
int vg_store_next_rowid(VgStore *p, sqlite3_int64 *pRowid, char **pzErr);

int vg_store_insert(VgStore *p, const VgRow *pRow, VgPartChange *pChange,
                    char **pzErr);
int vg_store_delete(VgStore *p, sqlite3_int64 rowid, VgPartChange *pChange,
                    char **pzErr);
/* Replace the row oldRowid by pRow (whose rowid may differ; it must be free).
** Up to two partitions change: aChange[1].part is 0 when only one did. */
int vg_store_update(VgStore *p, sqlite3_int64 oldRowid, const VgRow *pRow,
                    VgPartChange aChange[2], char **pzErr);

/* Load every vector of partition part into pSet, prepared for the metric
** (normalized for cosine). */
int vg_store_load_partition(VgStore *p, sqlite3_int64 part, VecSet *pSet,
                            char **pzErr);

/* Reading rows one at a time. */
int vg_reader_open(VgStore *p, VgRowReader **ppReader);
void vg_reader_close(VgRowReader *r);
/* SQLITE_ROW when found, SQLITE_DONE when there is no such row. */
int vg_reader_seek(VgRowReader *r, sqlite3_int64 rowid, char **pzErr);
/* Let go of statements and blob handles (before writing). */
void vg_reader_release(VgRowReader *r);
sqlite3_int64 vg_reader_part_id(VgRowReader *r);
sqlite3_value *vg_reader_partition(VgRowReader *r);
sqlite3_value *vg_reader_meta(VgRowReader *r, int iMeta);
/* The vector as little-endian float32 bytes (4*nDims), valid until the next
** seek; also decoded into floats when aOut is not 0. */
int vg_reader_vector(VgRowReader *r, const unsigned char **paBytes, float *aOut,
                     char **pzErr);
/* The decrypted auxiliary value, valid until the next seek. */
int vg_reader_aux(VgRowReader *r, int iAux, VgValue **ppVal, char **pzErr);

#endif
