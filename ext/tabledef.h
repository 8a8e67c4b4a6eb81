/*
** tabledef.h — the definition of a vg_hnsw table, parsed from the arguments
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
**
** The parser knows nothing of storage; store.c maps the columns to shadow
** tables and vtab.c to the declared schema.
*/
#ifndef VG_TABLEDEF_H
#define VG_TABLEDEF_H

#include "vector.h"

typedef enum vg_col_kind {
  VG_COL_VECTOR,
  VG_COL_PARTITION,
  VG_COL_METADATA,
  VG_COL_AUX
} vg_col_kind;

/* The value type a column accepts; see vg_value_check() in store.h. */
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
} VgColumn;

typedef struct VgTableDef {
  int nCol;        /* user columns, in declaration order */
  VgColumn *aCol;
  int iVector;     /* index in aCol of the vector column */
  int iPartition;  /* index in aCol of the partition key, or -1 */
  int nMeta;       /* number of metadata columns */
  int nAux;        /* number of auxiliary columns */
  int nDims;       /* elements per vector */
  vg_metric metric;
  int hnswM;          /* hnsw_m: links per node (2x at level 0) */
  int efConstruction; /* ef_construction: candidates when linking */
  int efSearch;       /* ef_search: default candidates when searching */
  int quantization;   /* VG_QUANT_*: how the in-memory index holds vectors */
} VgTableDef;

#define VG_QUANT_NONE 0 /* float32, as stored */
#define VG_QUANT_INT8 1 /* 8-bit codes; exact vectors are read from the file */

#define VG_DEFAULT_HNSW_M 16
#define VG_DEFAULT_EF_CONSTRUCTION 200
#define VG_DEFAULT_EF_SEARCH 64
#define VG_HNSW_MAX_M 64
#define VG_MAX_EF 100000

/* Hidden columns follow the user columns in the declared schema. */
#define VG_HIDDEN_DISTANCE(def) ((def)->nCol)
#define VG_HIDDEN_K(def) ((def)->nCol + 1)
#define VG_HIDDEN_EF(def) ((def)->nCol + 2)
#define VG_HIDDEN_EXACT(def) ((def)->nCol + 3)

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

#endif
