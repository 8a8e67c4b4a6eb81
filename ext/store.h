/*
** store.h — the shadow tables behind a vg_hnsw table.
**
** For a table T in schema S the store keeps, in S:
**
**   T_config      key/value: format version, dimensions, metric, slot layout
**   T_partitions  one row per partition: its key value, row count, a nonce
**                 that changes on every write (caches compare it), and the
**                 HNSW entry point
**   T_rows        one row per table row: partition, slot address, metadata
**                 values in plain form (indexed for filters), auxiliary
**                 values encrypted under the row's key
**   T_chunks      fixed-size slots holding each row's rowid, key, vector and
**                 HNSW links; a chunk holds slots of one level class
**   T_free        free slots, reused before new chunks are added
**
** Erasure.  SQLite moves B-tree cells between pages when it rebalances and
** does not clear the space a moved cell leaves behind, even with
** PRAGMA secure_delete, so a deleted row's bytes can survive in the file.
** Two rules make erasure real instead:
**   1. Each T_chunks record starts with a zero pad at least as long as the
**      most a page keeps locally, so slot bytes live only on overflow pages,
**      which never move; deleting or updating a row overwrites its slot in
**      place with sqlite3_blob_write().  The HNSW links live in the slots
**      too, so a deleted row's rowid leaves its neighbours' lists the same
**      way.
**   2. Auxiliary values are stored encrypted (XChaCha20) under a random key
**      held in the row's slot, and each write uses a new key; once the slot
**      is overwritten, any stale copy of the ciphertext is unreadable.
** Metadata and partition values are index keys and stay in plain form: they
** are not covered, and the documentation says so.
*/
#ifndef VG_STORE_H
#define VG_STORE_H

#include "hnsw.h"
#include "value.h"

#define VG_FORMAT_VERSION 2

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

/* ---- partitions ---- */

typedef struct VgPart {
  sqlite3_int64 id, nonce, nRows;
  int bEntry;          /* the partition has an entry point (it has rows) */
  sqlite3_int64 entry; /* rowid of the HNSW entry point */
  int entryLevel;
} VgPart;

/* The partition with key value pKey; created (empty) when missing and
** bCreate is set.  *pbFound says whether it existed. */
int vg_store_part_find(VgStore *p, const VgValue *pKey, int bCreate, VgPart *pPart,
                       int *pbFound, char **pzErr);
/* The partition with id (SQLITE_CORRUPT_VTAB when missing). */
int vg_store_part_get(VgStore *p, sqlite3_int64 id, VgPart *pPart, char **pzErr);
/* Record pPart's row count and entry point under a new nonce, or remove the
** partition when it has no rows.  pPart->nonce is the nonce it had. */
int vg_store_part_save(VgStore *p, const VgPart *pPart, VgPartChange *pChange,
                       char **pzErr);

/* ---- slots: one per row, holding its vector and its HNSW links ---- */

typedef struct VgSlot {
  sqlite3_int64 chunk;
  int iSlot; /* index within the chunk */
  int level; /* the node's level, which is also the chunk's slot class */
} VgSlot;

/* Slots per chunk stay below this, so that a slot packs into one integer
** (the tag an HNSW node carries). */
#define VG_SLOT_TAG_SLOTS 65536
sqlite3_int64 vg_slot_tag(const VgSlot *pSlot);
void vg_slot_from_tag(sqlite3_int64 tag, int level, VgSlot *pSlot);

int vg_store_slot_alloc(VgStore *p, const VgPart *pPart, int level, VgSlot *pSlot,
                        char **pzErr);
/* Overwrite a slot with zeros in place and free it. */
int vg_store_slot_erase(VgStore *p, sqlite3_int64 part, const VgSlot *pSlot, char **pzErr);

/* Write pRow's vector (with a fresh row key) into its slot and its record
** into T_rows (bUpdate: the record exists).  Links are left as they are. */
int vg_store_put_row(VgStore *p, int bUpdate, const VgRow *pRow, sqlite3_int64 part,
                     const VgSlot *pSlot, char **pzErr);
/* Rewrite the link list of level l in a slot: n rowids, the rest zeroed. */
int vg_store_write_links(VgStore *p, const VgSlot *pSlot, int l, const sqlite3_int64 *aRowid,
                         int n, char **pzErr);
/* Delete rowid's record from T_rows (its slot is erased separately). */
int vg_store_delete_row(VgStore *p, sqlite3_int64 rowid, char **pzErr);
/* Where rowid is stored; *pbFound says whether it exists. */
int vg_store_locate(VgStore *p, sqlite3_int64 rowid, sqlite3_int64 *pPart, VgSlot *pSlot,
                    int *pbFound, char **pzErr);
/* Close the write handle a write may have left open (end of xUpdate). */
void vg_store_end_write(VgStore *p);

/* The vector stored for rowid in the slot named by tag (a graph node's tag;
** level is the node's level), as the user gave it, into aOut (nDims
** floats).  *ppBlob is the caller's read handle on T_chunks, opened or moved
** here and closed by the caller before the statement ends.
** SQLITE_CORRUPT_VTAB when the slot does not hold rowid. */
int vg_store_slot_vector(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 tag, int level,
                         sqlite3_int64 rowid, float *aOut, char **pzErr);

/* ---- loading ---- */

/* What a lenient load (vg_hnsw_check) found wrong instead of failing. */
typedef struct VgLoadReport {
  sqlite3_int64 badSlots;  /* wrong level, zero cosine vector, rowid held twice */
  sqlite3_int64 overfull;  /* link lists longer than their capacity */
  sqlite3_int64 dangling;  /* links to rowids that are not in the partition */
  sqlite3_int64 nCounted;  /* the partition's n_rows */
  sqlite3_int64 nRecords;  /* its records in T_rows */
  int entryOk;             /* the stored entry point is a node of its level */
} VgLoadReport;

/* Load partition pPart's nodes (vectors prepared for the metric) and links
** into the empty graph h.  Without pReport any damage is an error;
** with it, damage is counted there and the rest is loaded. */
int vg_store_load_partition(VgStore *p, const VgPart *pPart, Hnsw *h, VgLoadReport *pReport,
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
