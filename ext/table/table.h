/*
** table.h — the internal header of ext/table/: the vg_hnsw virtual table: its
** definition, metadata values, shadow-table storage, per-partition index
** caches, writes, KNN queries, vg_hnsw_check.
**
** One section per part, in dependency order: tabledef, value, store, index,
** fulltext, knn, vtab.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_TABLE_LAYER_H
#define VG_TABLE_LAYER_H

#include "vector/vector.h"
#include "hnsw/hnsw.h"
#include "fulltext/fulltext.h"

/* The hnsw layer's return code (HNSW_OK, ...) as SQLite's. */
static inline int vg_hnsw_rc(int rc) {
  switch (rc) {
    case HNSW_OK: return SQLITE_OK;
    case HNSW_NOMEM: return SQLITE_NOMEM;
    case HNSW_FULL: return SQLITE_FULL;
    default: return SQLITE_MISUSE;
  }
}

/***************************************************************************
** tabledef: the definition of a vg_hnsw table, parsed from the arguments
** of CREATE VIRTUAL TABLE ... USING vg_hnsw(...).
**
** The grammar follows sqlite-vec's vec0 so that its users feel at home:
**
**   embedding float[384] distance_metric=cosine   -- the vector column
**   tenant_id text partition key                  -- optional, at most one
**   content_type text                             -- metadata: filterable
**   +body text                                    -- auxiliary: stored only
**   hnsw_m=16 ef_construction=200 ef_search=64    -- index options
**   quantization=int8                             -- int8 vectors in memory
**   +body text fulltext                           -- text with a BM25 index
**
** The parser knows nothing of storage; store.c maps the columns to shadow
** tables and vtab.c to the declared schema.
*/

typedef enum vg_col_kind {
  VG_COL_VECTOR,
  VG_COL_PARTITION,
  VG_COL_METADATA,
  VG_COL_AUX
} vg_col_kind;

/* The value type a column accepts; vg_value_coerce (value section) applies it. */
typedef enum vg_value_type {
  VG_TYPE_ANY,
  VG_TYPE_INTEGER,
  VG_TYPE_REAL,
  VG_TYPE_TEXT,
  VG_TYPE_BLOB,
  VG_TYPE_BOOLEAN
} vg_value_type;

typedef struct VgColumn {
  char *zName;        /* the name as the user wrote it, unquoted */
  vg_col_kind kind;
  vg_value_type type; /* unused for the vector column */
  int iStore;         /* metadata: m<iStore>; auxiliary: a<iStore> */
  int bFulltext;      /* declared fulltext: indexed for BM25 */
  int bPrimaryKey;    /* declared primary key: a metadata column, unique per partition */
} VgColumn;

typedef struct VgTableDef {
  int nCol;        /* user columns, in declaration order */
  VgColumn *aCol;
  int iVector;     /* index in aCol of the vector column */
  int iPartition;  /* index in aCol of the partition key, or -1 */
  int iFulltext;   /* index in aCol of the fulltext column, or -1 */
  int iPrimaryKey; /* index in aCol of the primary key, or -1 */
  int nMeta;       /* number of metadata columns */
  int nAux;        /* number of auxiliary columns */
  int nDims;       /* elements per vector */
  vg_element element; /* float[N], int8[N] or bit[N] */
  vg_metric metric;
  int hnswM;          /* hnsw_m: links per node (2x at level 0) */
  int efConstruction; /* ef_construction: candidates when linking */
  int efSearch;       /* ef_search: default candidates when searching */
  int quantization;   /* VG_QUANT_*: how the in-memory index holds vectors */
  int chunkSize;      /* sqlite-vec's chunk_size=: accepted, so its schemas carry over, and unused */
} VgTableDef;

#define VG_QUANT_NONE 0 /* float32, as stored */
#define VG_QUANT_INT8 1 /* 8-bit codes; exact vectors are read from the file */

/* How the table's graphs hold its vectors: int8[N] and bit[N] vectors as
** they are; float[N] ones as float32, or as codes under quantization=int8. */
static inline HnswVectors vg_tabledef_vectors(const VgTableDef *d) {
  switch (d->element) {
    case VG_ELEMENT_INT8:
      return HNSW_I8;
    case VG_ELEMENT_BIT:
      return HNSW_BITS;
    default:
      return d->quantization == VG_QUANT_INT8 ? HNSW_INT8 : HNSW_FLOAT32;
  }
}

/* Prepare vector a (floats or bytes, as VgRow.aVec) for the metric in
** place, as the graph holds it: a float vector is normalized for cosine.
** Returns 0 for a vector cosine cannot take (a zero vector). */
int vg_tabledef_prepare(const VgTableDef *d, void *a);

/* Bytes of one of the table's vectors, as stored and returned. */
static inline int vg_tabledef_vector_bytes(const VgTableDef *d) {
  return vg_element_bytes(d->element, d->nDims);
}

#define VG_DEFAULT_HNSW_M 16
#define VG_DEFAULT_EF_CONSTRUCTION 200
#define VG_DEFAULT_EF_SEARCH 64
#define VG_HNSW_MAX_M HNSW_MAX_M /* the graph's bound: arrays sized by it hold its lists */
#define VG_MAX_EF 100000

/* Hidden columns follow the user columns in the declared schema. */
#define VG_HIDDEN_DISTANCE(def) ((def)->nCol)
#define VG_HIDDEN_K(def) ((def)->nCol + 1)
#define VG_HIDDEN_EF(def) ((def)->nCol + 2)
#define VG_HIDDEN_EXACT(def) ((def)->nCol + 3)
/* Only a table with a fulltext column has these (a column of an older
** table may be named score). */
#define VG_HIDDEN_SCORE(def) ((def)->nCol + 4)
#define VG_HIDDEN_WEIGHT(def) ((def)->nCol + 5)
#define VG_HIDDEN_COUNT(def) ((def)->iFulltext >= 0 ? 6 : 4)

/* The name of hidden column iCol (VG_HIDDEN_DISTANCE .. VG_HIDDEN_EXACT). */
const char *vg_tabledef_hidden_name(const VgTableDef *pDef, int iCol);

/* Limits on the number of columns of each kind. */
#define VG_MAX_METADATA 64
#define VG_MAX_AUX 64

/* Parse the module arguments (argv[3..argc-1] of xCreate/xConnect). */
int vg_tabledef_parse(int nArg, const char *const *azArg, VgTableDef **ppDef,
                      char **pzErr);
void vg_tabledef_free(VgTableDef *pDef);

/* The definition of a table from its CREATE VIRTUAL TABLE statement (as
** sqlite_schema keeps it): the module arguments are split as SQLite splits
** them (at commas outside parentheses and quotes) and parsed as above.
** SQLITE_MISMATCH when the statement does not make a vg_hnsw table. */
int vg_tabledef_parse_sql(const char *zSql, VgTableDef **ppDef, char **pzErr);

/* The CREATE TABLE statement to pass to sqlite3_declare_vtab(). */
char *vg_tabledef_declaration(const VgTableDef *pDef);

const char *vg_value_type_name(vg_value_type t);

/* The SQL type a value type is stored as ("INTEGER" for boolean), or 0 for
** VG_TYPE_ANY. */
const char *vg_value_type_sql(vg_value_type t);

/***************************************************************************
** value: column values on their way into and out of storage.
**
** A VgValue is a plain copy of an SQL value (or a pointer to bytes that the
** caller keeps alive), so that values read from storage and values given to
** xUpdate travel the same way.  vg_value_coerce() applies the rules of a
** STRICT table column, so that a value the shadow tables would refuse is
** refused before anything is written, with a message naming the column.
*/

typedef struct VgValue {
  int type;           /* SQLITE_NULL, _INTEGER, _FLOAT, _TEXT or _BLOB */
  sqlite3_int64 i;
  double r;
  const void *p;      /* text or blob bytes */
  int n;              /* their length */
  sqlite3_value *pOwner; /* a copy that owns p, freed by vg_value_clear */
  void *pAlloc;          /* or memory that owns p, freed by vg_value_clear */
} VgValue;

/* Copy v (which must stay alive while the VgValue is used, for text/blob). */
void vg_value_from_sqlite(sqlite3_value *v, VgValue *pOut);

/* Convert v to what a column of type t stores, into pOut, which the caller
** must vg_value_clear().  On a value the type refuses, returns SQLITE_ERROR
** and sets *pzErr to "column <zCol> is <type>; got <what>". */
int vg_value_coerce(sqlite3_value *v, vg_value_type t, const char *zCol,
                    VgValue *pOut, char **pzErr);

/* Make pVal own its bytes (a copy), so that it outlives their source. */
int vg_value_own(VgValue *pVal);

void vg_value_clear(VgValue *p);


int vg_value_bind(sqlite3_stmt *pStmt, int iParam, const VgValue *p);
void vg_value_result(sqlite3_context *ctx, const VgValue *p);

/***************************************************************************
** store: the shadow tables behind a vg_hnsw table (store.c: the tables,
** T_config, T_partitions; store_slots.c: T_chunks, T_free, links, loading
** graphs; store_rows.c: T_rows and reading rows; store_query.c: the SQL
** of reads, declared in the vtab section).
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

#define VG_FORMAT_VERSION 2

typedef struct VgStore VgStore;
typedef struct VgRowReader VgRowReader;

/* A row to write.  Values must already be coerced to their column types. */
typedef struct VgRow {
  sqlite3_int64 rowid;
  VgValue partition; /* SQLITE_NULL type when the table has no partition key */
  VgValue *aMeta;    /* nMeta values */
  VgValue *aAux;     /* nAux values */
  const void *aVec;  /* nDims elements, as given by the user: floats for a
                     ** float[N] column, else the bytes stored */
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
/* The rowid of the row whose primary key is pKey in the partition whose
** value is pPart (NULL for a table without partitions), or 0 in *pbFound. */
int vg_store_find_key(VgStore *p, const VgValue *pPart, const VgValue *pKey, sqlite3_int64 *pRowid, int *pbFound,
                      char **pzErr);
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
/* The vector as stored (vg_tabledef_vector_bytes: little-endian float32,
** int8 or bit bytes), valid until the next seek; also copied into aOut when
** it is not 0 (as floats for a float[N] column, see store_slot_vector). */
int vg_reader_vector(VgRowReader *r, const unsigned char **paBytes, void *aOut,
                     char **pzErr);
/* The decrypted auxiliary value, valid until the next seek. */
int vg_reader_aux(VgRowReader *r, int iAux, VgValue **ppVal, char **pzErr);
/* The value of column c (partition key, metadata or auxiliary; not the
** vector) of the row the reader is on, borrowed: valid until the next seek
** (vg_value_own makes it last). */
int vg_reader_value(VgRowReader *r, const VgColumn *c, VgValue *pOut, char **pzErr);

/* What vg_hnsw_check reads (hnsw_check.c).  The definition of table zName
** as far as its T_config records it (dimensions, metric, M), for reading
** its storage without the virtual table (store.c). */
int vg_store_read_def(sqlite3 *db, const char *zSchema, const char *zName, VgTableDef *pDef,
                      char **pzErr);
/* The first partition id (bFirst) or the one after `after`, by id:
** SQLITE_ROW with *pId set, or SQLITE_DONE (store.c). */
int vg_store_part_next(VgStore *p, int bFirst, sqlite3_int64 after, sqlite3_int64 *pId);
/* Count partition part's rows into *pnRows, and into *pnWithoutNode those
** whose record does not name the slot of their node in h (store_rows.c). */
int vg_store_check_rows(VgStore *p, sqlite3_int64 part, const Hnsw *h, sqlite3_int64 *pnRows,
                        sqlite3_int64 *pnWithoutNode);
/* Rows whose partition is missing (store_rows.c). */
int vg_store_count_orphans(VgStore *p, sqlite3_int64 *pnOrphans);

/* ---- internals of the storage files (store*.c only) ---- */

/* Slot layout (little-endian).  A node of HNSW level L lives in a slot of
** class L, held by chunks of that class:
**   [0,4)    "VGS2" when the slot holds a row, zero when free
**   [4]      L, the node's level
**   [5,8)    zero
**   [8,16)   rowid
**   [16,48)  the row's key for its auxiliary values
**   [48,..)  the vector, float32 (4*nDims bytes)
**   then one link list per level 0..L: a uint32 count and room for the
**   level's capacity of int64 rowids (2M at level 0, M above); entries past
**   the count are zero. */
#define VG_SLOT_MAGIC "VGS2"
#define VG_SLOT_LEVEL 4
#define VG_SLOT_ROWID 8
#define VG_SLOT_KEY 16
#define VG_SLOT_VECTOR 48
#define VG_SLOT_FIXED 48
#define VG_KEY_BYTES 32

/* The shadow tables, and the statements the store keeps on them. */
enum { VG_T_CONFIG, VG_T_PARTITIONS, VG_T_ROWS, VG_T_CHUNKS, VG_T_FREE, VG_T_COUNT };
enum {
  VG_S_PART_FIND,
  VG_S_PART_BY_ID,
  VG_S_PART_NEW,
  VG_S_PART_SET,
  VG_S_PART_DROP,
  VG_S_PART_NEXT,
  VG_S_FREE_TAKE,
  VG_S_FREE_DEL,
  VG_S_FREE_ADD,
  VG_S_FREE_ADD_RANGE,
  VG_S_FREE_COUNT,
  VG_S_FREE_DROP_CHUNK,
  VG_S_CHUNK_NEW,
  VG_S_CHUNK_DROP,
  VG_S_CHUNK_LIST,
  VG_S_PART_COUNTS,
  VG_S_ROW_LOCATE,
  VG_S_ROW_INSERT,
  VG_S_ROW_UPDATE,
  VG_S_ROW_DELETE,
  VG_S_ROW_MAX,
  VG_S_ROW_BY_KEY,
  VG_S_PAGE_SIZE,
  VG_S_COUNT
};

struct VgStore {
  sqlite3 *db;
  char *zSchema;
  char *zName;
  const VgTableDef *pDef; /* owned by the virtual table */
  int nLinks0, nLinksUp;  /* bytes of a link list at level 0 and above */
  sqlite3_blob *pWrite;   /* write handle on T_chunks.slots, during a write */
  char *azTable[VG_T_COUNT]; /* quoted, schema-qualified names */
  char *zChunkTable;      /* T_chunks unquoted, for sqlite3_blob_open() */
  sqlite3_stmt *aStmt[VG_S_COUNT];
};

/* store.c: errors, the slot layout's sizes and the kept statements. */
/* Copy the connection's latest error into *pzErr and return rc. */
int store_sql_error(VgStore *p, int rc, char **pzErr);
/* "T: the shadow tables are corrupt: zWhat (rowid N)"; SQLITE_CORRUPT_VTAB. */
int store_corrupt(VgStore *p, char **pzErr, const char *zWhat, sqlite3_int64 rowid);
/* Bytes of a slot of level class `level`. */
int store_slot_bytes(const VgTableDef *pDef, int level);
/* Offset within a slot of the link list of level l. */
int store_links_offset(const VgStore *p, int l);
/* Statement VG_S_*, prepared on first use and kept. */
int store_stmt(VgStore *p, int e, sqlite3_stmt **ppStmt, char **pzErr);
/* Run a statement that returns no row of interest, then reset it. */
int store_run(VgStore *p, sqlite3_stmt *pStmt, char **pzErr);
/* Step a query expected to give at most one row: SQLITE_ROW or
** SQLITE_DONE; the caller reads the row and resets the statement. */
int store_step(VgStore *p, sqlite3_stmt *pStmt, char **pzErr);
/* store_step on statement e with ?1 bound to id; the statement in *ppStmt. */
int store_step_by_id(VgStore *p, int e, sqlite3_int64 id, sqlite3_stmt **ppStmt, char **pzErr);

/* store_slots.c: reading and writing slot bytes. */
/* Write nByte bytes at offset iOff of chunk's slots, in place, through the
** store's write handle (kept open until vg_store_end_write). */
int store_chunk_write(VgStore *p, sqlite3_int64 chunk, const void *a, int nByte, int iOff,
                      int *pnChunkBytes, char **pzErr);
/* The vector held in a slot's bytes: floats for a float[N] column, else
** its bytes. */
void store_slot_vector(const VgTableDef *pDef, const unsigned char *aSlot, void *aOut);
/* The first nBuf bytes (at least up to the rowid) of slot iSlot of a chunk
** of the given level into pBuf, through the read handle *ppBlob (opened or
** moved here), checking that the slot holds rowid. */
int store_slot_read(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 chunk, sqlite3_int64 iSlot,
                    int level, sqlite3_int64 rowid, unsigned char *pBuf, int nBuf, char **pzErr);
/* Overwrite every slot of every chunk with zeros, in place. */
int store_erase_slots(VgStore *p, char **pzErr);

/***************************************************************************
** index: the HNSW index of a vg_hnsw table, kept in step with storage.
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

/* aPrep is the row's vector prepared for the metric (vg_tabledef_prepare:
** a float vector normalized for cosine); pRow->aVec is the vector as given,
** which is what is stored.
** *pPart (unless pPart is 0) is set to the partition the row went to. */
int vg_index_insert(VgIndex *x, const VgRow *pRow, const void *aPrep, sqlite3_int64 *pPart,
                    char **pzErr);
/* Deleting a missing rowid does nothing. */
int vg_index_delete(VgIndex *x, sqlite3_int64 rowid, char **pzErr);
/* Replace row oldRowid by pRow (whose rowid, if different, must be free).
** bNewVector: the vector differs from the stored one. */
int vg_index_update(VgIndex *x, sqlite3_int64 oldRowid, const VgRow *pRow,
                    const void *aPrep, int bNewVector, sqlite3_int64 *pPart, char **pzErr);

/***************************************************************************
** fulltext: the BM25 index of a table's fulltext column (fulltext.c; the
** terms, chunk bytes and formula are the fulltext layer's).  Its shadow
** tables, statistics and pending rows are described in fulltext.c.
*/

/* Pending rows of a partition merged into its posting lists at once. */
#define VG_FT_MERGE_ROWS 256

enum { VG_FT_T_STAT, VG_FT_T_POST, VG_FT_T_PEND, VG_FT_T_COUNT };
enum {
  VG_FT_S_STAT_GET,
  VG_FT_S_STAT_SET,
  VG_FT_S_STAT_DEL,
  VG_FT_S_PEND_ADD,
  VG_FT_S_PEND_GET,
  VG_FT_S_PEND_DEL,
  VG_FT_S_PEND_LIST,
  VG_FT_S_PEND_CLEAR,
  VG_FT_S_POST_LIST,
  VG_FT_S_POST_AT,
  VG_FT_S_POST_CUT,
  VG_FT_S_POST_DEL,
  VG_FT_S_POST_PUT,
  VG_FT_S_COUNT
};

typedef struct VgFulltext {
  sqlite3 *db;
  char *zSchema, *zName;
  char *azTable[VG_FT_T_COUNT]; /* quoted, schema-qualified */
  sqlite3_stmt *aStmt[VG_FT_S_COUNT];
} VgFulltext;

/* A partition's statistics: rows whose text is not NULL, their terms in
** all, and how many are pending. */
typedef struct VgFtStat {
  sqlite3_int64 nRows, nTerms, nPending;
} VgFtStat;

/* A text's distinct terms (a row's or a query's), by hash, with their counts. */
typedef struct VgFtTerm {
  int64_t hash;
  uint32_t tf;
} VgFtTerm;

/* A chunk of a posting list, as a query reads it: decoded only if the
** query needs its rows.  Its largest tf and smallest row length bound the
** BM25 weight of every posting in it. */
typedef struct VgFtChunk {
  int64_t first; /* its first rowid; it ends before the next chunk's */
  uint32_t maxTf, minLen;
  int n;         /* postings */
  int nByte;     /* > 0: encoded, at aByte + iData; 0: decoded, at aPost + iData */
  size_t iData;
} VgFtChunk;

/* The posting lists of a query's terms in one partition: term t's chunks
** are aChunk[aStart[t], aStart[t + 1]), by rowid.  Pending rows' postings
** come decoded, merged with the chunks whose rowids they fall among. */
typedef struct VgFtPostings {
  VgFulltext *f;
  sqlite3_int64 part;
  VgFtChunk *aChunk;
  int *aStart;
  int nTerm;
  unsigned char *aByte;
  FtPosting *aPost;
} VgFtPostings;

int vg_fulltext_create(sqlite3 *db, const char *zSchema, const char *zName, char **pzErr);
int vg_fulltext_open(sqlite3 *db, const char *zSchema, const char *zName, VgFulltext **ppF);
void vg_fulltext_close(VgFulltext *f);
int vg_fulltext_drop(VgFulltext *f, char **pzErr);
int vg_fulltext_rename(VgFulltext *f, const char *zNewName, char **pzErr);
int vg_fulltext_is_shadow_suffix(const char *zSuffix);

/* Index row rowid of partition part, whose text is z[0, n); and take it
** out again (given the same text).  A NULL text is never indexed. */
int vg_fulltext_add(VgFulltext *f, sqlite3_int64 part, sqlite3_int64 rowid, const char *z, int n,
                    char **pzErr);
int vg_fulltext_remove(VgFulltext *f, sqlite3_int64 part, sqlite3_int64 rowid, const char *z,
                       int n, char **pzErr);

int vg_fulltext_stat(VgFulltext *f, sqlite3_int64 part, VgFtStat *pStat, char **pzErr);
/* A query text's terms (*pnTerm is 0 when it has none: only stop words or
** punctuation); *paTerm from sqlite3_malloc. */
int vg_fulltext_query_terms(const char *z, int n, VgFtTerm **paTerm, int *pnTerm);
/* The posting lists of each term in partition part. */
int vg_fulltext_postings(VgFulltext *f, sqlite3_int64 part, const VgFtTerm *aTerm, int nTerm,
                         VgFtPostings *pOut, char **pzErr);
/* The postings of chunk c of p: *paOut points into p, or to aBuf (room for
** c->n) where an encoded chunk is decoded.  SQLITE_CORRUPT_VTAB when the
** chunk is damaged or reaches the next chunk of its list (pNext; 0 for the
** last). */
int vg_fulltext_chunk(const VgFtPostings *p, const VgFtChunk *c, const VgFtChunk *pNext,
                      FtPosting *aBuf, const FtPosting **paOut, char **pzErr);
void vg_fulltext_postings_free(VgFtPostings *p);

/* What vg_hnsw_check finds of the index against the rows: each row's text
** tokenized again gives the postings and statistics expected. */
typedef struct VgFtCheck {
  sqlite3_int64 rows;                 /* rows with a text */
  sqlite3_int64 postings, expectedPostings;
  sqlite3_int64 partitionsDiffering;  /* whose postings differ from the rows' */
  sqlite3_int64 statMismatches;       /* partitions whose statistics are wrong */
  sqlite3_int64 badChunks;            /* chunks or pending records that do not decode */
  sqlite3_int64 orphans;              /* index rows of partitions that do not exist */
  sqlite3_int64 unreadable;           /* rows whose text could not be read */
} VgFtCheck;

int vg_fulltext_check(VgFulltext *f, VgStore *pStore, const VgTableDef *pDef, VgFtCheck *pOut,
                      char **pzErr);

/***************************************************************************
** knn: the KNN engine (knn.c): the k nearest rows to a query vector over
** one partition's graph at a time, with filters, distance conditions and a
** rowid list; vtab_query.c turns a query's terms into a VgKnnSpec and runs
** it over each partition the query names.
*/

/* A condition on the distance (distance <op> value), checked in C. */
#define VG_KNN_DIST_NULL 0   /* compared with NULL: never true */
#define VG_KNN_DIST_NUMBER 1 /* r holds the number */
#define VG_KNN_DIST_ABOVE 2  /* text or a blob, which SQLite orders above every number */
typedef struct VgKnnDist {
  int op;   /* SQLITE_INDEX_CONSTRAINT_EQ, NE, LT, LE, GT or GE */
  int kind; /* VG_KNN_DIST_* */
  double r;
} VgKnnDist;

/* Does distance d pass every condition of a[0..n)? */
int vg_knn_distance_passes(double d, const VgKnnDist *a, int n);

typedef struct VgKnnSpec {
  const char *zTable;   /* begins every message */
  const void *aQuery;   /* prepared for the metric (vg_tabledef_prepare): floats
                        ** for a float[N] column, else its bytes */
  int nDims;
  vg_element element;
  vg_metric metric;
  int k, ef;            /* 1 <= k; ef below k counts as k */
  int exact;            /* 1 brute force, 0 graph, -1 whichever costs less */
  const VgKnnDist *aDist;
  int nDist;
  const sqlite3_int64 *aRowid; /* sorted: only these rowids may match; 0: any */
  int nRowid;
  /* int8 graphs: read node i's exact vector into aOut (nDims floats);
  ** SQLITE_OK, or an error with *pzErr set (or 0). */
  int (*xExact)(void *pCtx, const Hnsw *h, uint32_t i, float *aOut, char **pzErr);
  void *pExactCtx;
  /* Where each partition's last filter mask is remembered (0: nowhere),
  ** under aFilterKey: the filter statement's text and values, or 0 when
  ** the filter is not to be remembered. */
  VgIndex *pIndex;
  const char *aFilterKey;
  int nFilterKey;
} VgKnnSpec;

typedef struct VgKnn VgKnn;

/* A search for pSpec, which must outlive it (its arrays are not copied). */
int vg_knn_new(const VgKnnSpec *pSpec, VgKnn **ppKnn);
void vg_knn_free(VgKnn *q);

/* Search partition part, whose graph is h, and keep the nearest rows found.
** pRows, when not 0, lists the rowids that pass the query's filters, with
** the partition bound to ?1.  SQLITE_OK, or an error with *pzErr set to
** "table: message" (or 0). */
int vg_knn_partition(VgKnn *q, Hnsw *h, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr);

/* The rows kept, nearest first (ties by rowid); the caller owns *paHit and
** frees it with hnsw_mem_free.  The search keeps nothing afterwards. */
void vg_knn_take(VgKnn *q, VgHit **paHit, int *pnHit);

/***************************************************************************
** lexical: the BM25 query engine (lexical.c): the k rows of the highest
** score over one partition at a time, with filters and a rowid list, as
** the KNN engine does for vectors.
*/

typedef struct VgLexSpec {
  const char *zTable;   /* begins every message */
  VgFulltext *pFulltext;
  const VgFtTerm *aTerm; /* the query's terms, by hash */
  int nTerm;
  int k;
  double k1, b;         /* BM25's parameters */
  const sqlite3_int64 *aRowid; /* sorted: only these rowids may match; 0: any */
  int nRowid;
} VgLexSpec;

typedef struct VgLex VgLex;

int vg_lex_new(const VgLexSpec *pSpec, VgLex **ppLex);
void vg_lex_free(VgLex *q);
/* Score partition part's rows and keep the best.  pRows, when not 0, lists
** the rowids that pass the query's filters, with the partition bound to ?1. */
int vg_lex_partition(VgLex *q, sqlite3_int64 part, sqlite3_stmt *pRows, char **pzErr);
/* The rows kept, highest score first (ties by rowid), each hit's distance
** field holding its score; the caller frees *paHit with hnsw_mem_free. */
void vg_lex_take(VgLex *q, VgHit **paHit, int *pnHit);
/* Rows aRowid[0, nRowid) (sorted, distinct) of the next partition searched
** are scored whatever their bounds, into aScore (0: no query term), and
** compete for the k best as any row does.  The arrays must last until then. */
void vg_lex_force(VgLex *q, const sqlite3_int64 *aRowid, int nRowid, double *aScore);

/* qsort's and bsearch's order of sqlite3_int64 values (vtab_query.c). */
int vg_cmp_i64(const void *x, const void *y);

/* A hybrid query ranks the union of the vector and the full-text query's
** best VG_HYBRID_DEPTH rows (or k, if more) by
**   w * (s - min s) / (max s - min s) + (1 - w) * bm25 / max bm25
** where s = -distance and the extremes are over that union, bm25 is 0 for a
** row without a query term, and w the query's vector_weight, by default
** VG_HYBRID_VECTOR_WEIGHT (docs/fulltext.md gives the measurements behind
** both). */
#define VG_HYBRID_DEPTH 100
#define VG_HYBRID_VECTOR_WEIGHT 0.2

/***************************************************************************
** vtab: state shared by the files of the vg_hnsw virtual table: vtab.c
** (lifecycle, writes), vtab_query.c (planning, KNN queries and scans, the
** cursor) and store_query.c (the SQL those reads run).
*/

typedef struct VgStmtCache VgStmtCache; /* store_query.c */

typedef struct VgVtab {
  sqlite3_vtab base;
  sqlite3 *db;
  char *zName;
  VgTableDef *pDef;
  VgStore *pStore;
  VgRowReader *pReader; /* reads old rows for UPDATE */
  VgIndex *pIndex;
  VgFulltext *pFulltext; /* the fulltext column's index, or 0 */
  VgStmtCache *pStmts; /* query statements kept by store_query.c */
  int nMatchChecked;    /* open KNN cursors whose MATCH SQLite checks itself */
} VgVtab;

/* A vg_hnsw table's error: the message as formatted (callers begin it with
** the table's name) replaces the last one; returns rc.  Table-valued
** functions use vg_tvf_error (base.h), which adds the function's name. */
int vg_table_error(VgVtab *p, int rc, const char *zFormat, ...);

/* A vector for the table's vector column from v (not NULL): floats for a
** float[N] column, else its bytes, in *paVec (from sqlite3_malloc64), with
** its number of elements (checked by the caller).  zWhat names it in
** messages; errors are the vtab's (vtab.c). */
int vg_vtab_vector(VgVtab *p, sqlite3_value *v, const char *zWhat, void **paVec, int *pnDims);

/* Take ownership of zErr as the vtab's error message; returns rc. */
int vg_vtab_set_error(VgVtab *p, int rc, char *zErr);

/* The graph of partition part, current for nonce (see vg_index_graph); errors
** become the vtab's message. */
int vg_vtab_graph(VgVtab *p, sqlite3_int64 part, sqlite3_int64 nonce, Hnsw **ppGraph);

/* Finalize the kept query statements: before the shadow tables are dropped
** or renamed, and when the table is disconnected. */
void vg_vtab_forget_statements(VgVtab *p);

/* A term of a query plan: what one xFilter argument is (vtab_query.c). */
typedef struct VgTerm {
  char kind;   /* Q K D P M R */
  int iCol;    /* user column for P and M */
  int op;      /* SQLITE_INDEX_CONSTRAINT_* */
  int bIn;     /* the argument is an all-at-once IN list */
  char *zColl; /* collation, or 0 for BINARY */
} VgTerm;

/* The statements a read runs over the shadow tables (store_query.c), each
** borrowed from the table's kept statements and given back with
** vg_query_return (0 is ignored); errors become the vtab's message.
**   partitions: p.id, p.nonce of the partitions the P terms name;
**   candidates: r.id of partition ?1's rows that pass the M and R terms
**     (but term iSkip), and in *paKey (unless paKey is 0) the key that the
**     KNN engine remembers their mask under (VgKnnSpec.aFilterKey);
**   scan: r.id and whether its partition is missing, for every row that
**     passes the P, M and R terms, by rowid. */
int vg_query_partitions(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        sqlite3_stmt **ppStmt);
int vg_query_candidates(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                        int iSkip, sqlite3_stmt **ppStmt, char **paKey, int *pnKey);
int vg_query_scan(VgVtab *p, const VgTerm *aTerm, int nTerm, sqlite3_value **argv,
                  sqlite3_stmt **ppStmt);
void vg_query_return(VgVtab *p, sqlite3_stmt *pStmt);

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

/* What ext/vecguard.c registers for this layer: the vg_hnsw module
** (vtab.c), the SQL function vg_hnsw_check(table) (hnsw_check.c) and
** vg_fulltext_terms(text) (fulltext.c). */
extern const sqlite3_module vg_hnsw_module;
void vg_hnsw_check_func(sqlite3_context *ctx, int argc, sqlite3_value **argv);
extern const VgFunction vg_fulltext_functions[];

#endif
