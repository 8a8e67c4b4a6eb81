/*
** value.h — column values on their way into and out of storage.
**
** A VgValue is a plain copy of an SQL value (or a pointer to bytes that the
** caller keeps alive), so that values read from storage and values given to
** xUpdate travel the same way.  vg_value_coerce() applies the rules of a
** STRICT table column, so that a value the shadow tables would refuse is
** refused before anything is written, with a message naming the column.
*/
#ifndef VG_VALUE_H
#define VG_VALUE_H

#include "tabledef.h"

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

/* "the integer 5", "the text 'abc'", "NULL"... for error messages. */
char *vg_value_describe(sqlite3_value *v);

int vg_value_bind(sqlite3_stmt *pStmt, int iParam, const VgValue *p);
void vg_value_result(sqlite3_context *ctx, const VgValue *p);

#endif
