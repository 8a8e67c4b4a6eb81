/*
** value.c — column values and STRICT-style type coercion (see table.h, value section).
*/
#include "table/table.h"

#include <math.h>
#include <string.h>

void vg_value_from_sqlite(sqlite3_value *v, VgValue *pOut) {
  memset(pOut, 0, sizeof(*pOut));
  pOut->type = sqlite3_value_type(v);
  switch (pOut->type) {
    case SQLITE_INTEGER:
      pOut->i = sqlite3_value_int64(v);
      break;
    case SQLITE_FLOAT:
      pOut->r = sqlite3_value_double(v);
      break;
    case SQLITE_TEXT:
      pOut->p = sqlite3_value_text(v);
      pOut->n = sqlite3_value_bytes(v);
      break;
    case SQLITE_BLOB:
      pOut->p = sqlite3_value_blob(v);
      pOut->n = sqlite3_value_bytes(v);
      break;
    default:
      break;
  }
}

void vg_value_clear(VgValue *p) {
  if (p->pOwner) sqlite3_value_free(p->pOwner);
  sqlite3_free(p->pAlloc);
  memset(p, 0, sizeof(*p));
}

int vg_value_own(VgValue *pVal) {
  if (pVal->type != SQLITE_TEXT && pVal->type != SQLITE_BLOB) return SQLITE_OK;
  void *pCopy = sqlite3_malloc64(pVal->n + 1);
  if (pCopy == 0) return SQLITE_NOMEM;
  if (pVal->n) memcpy(pCopy, pVal->p, pVal->n);
  ((char *)pCopy)[pVal->n] = 0;
  if (pVal->pOwner) sqlite3_value_free(pVal->pOwner);
  sqlite3_free(pVal->pAlloc);
  pVal->pOwner = 0;
  pVal->pAlloc = pCopy;
  pVal->p = pCopy;
  return SQLITE_OK;
}

static int refuse(sqlite3_value *v, vg_value_type t, const char *zCol, char **pzErr) {
  char *zWhat = vg_value_describe(v);
  *pzErr = sqlite3_mprintf("column %s is %s; got %s", zCol, vg_value_type_name(t),
                           zWhat ? zWhat : "a value");
  sqlite3_free(zWhat);
  return SQLITE_ERROR;
}

/* An integral double that fits in int64 converts exactly. */
static int real_to_integer(double r, sqlite3_int64 *pI) {
  if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0)) return 0;
  if (r != floor(r)) return 0;
  *pI = (sqlite3_int64)r;
  return 1;
}

/* v converted by numeric affinity (text that looks like a number becomes a
** number), exactly as SQLite converts it, into pOut. */
static int numeric_value(sqlite3_value *v, VgValue *pOut) {
  if (sqlite3_value_type(v) != SQLITE_TEXT) {
    vg_value_from_sqlite(v, pOut);
    return SQLITE_OK;
  }
  sqlite3_value *pCopy = sqlite3_value_dup(v);
  if (pCopy == 0) return SQLITE_NOMEM;
  sqlite3_value_numeric_type(pCopy);
  vg_value_from_sqlite(pCopy, pOut);
  if (pOut->type == SQLITE_TEXT) {
    pOut->pOwner = pCopy;
  } else {
    sqlite3_value_free(pCopy);
  }
  return SQLITE_OK;
}

int vg_value_coerce(sqlite3_value *v, vg_value_type t, const char *zCol,
                    VgValue *pOut, char **pzErr) {
  int rc;
  memset(pOut, 0, sizeof(*pOut));
  int type = sqlite3_value_type(v);
  if (type == SQLITE_NULL || t == VG_TYPE_ANY) {
    vg_value_from_sqlite(v, pOut);
    return SQLITE_OK;
  }
  switch (t) {
    case VG_TYPE_INTEGER:
    case VG_TYPE_BOOLEAN:
      if (type == SQLITE_BLOB) return refuse(v, t, zCol, pzErr);
      rc = numeric_value(v, pOut);
      if (rc != SQLITE_OK) return rc;
      if (pOut->type == SQLITE_FLOAT && real_to_integer(pOut->r, &pOut->i)) {
        pOut->type = SQLITE_INTEGER;
      }
      if (pOut->type != SQLITE_INTEGER ||
          (t == VG_TYPE_BOOLEAN && pOut->i != 0 && pOut->i != 1)) {
        vg_value_clear(pOut);
        return refuse(v, t, zCol, pzErr);
      }
      return SQLITE_OK;
    case VG_TYPE_REAL:
      if (type == SQLITE_BLOB) return refuse(v, t, zCol, pzErr);
      rc = numeric_value(v, pOut);
      if (rc != SQLITE_OK) return rc;
      if (pOut->type == SQLITE_INTEGER) {
        pOut->r = (double)pOut->i;
        pOut->type = SQLITE_FLOAT;
      }
      if (pOut->type != SQLITE_FLOAT) {
        vg_value_clear(pOut);
        return refuse(v, t, zCol, pzErr);
      }
      return SQLITE_OK;
    case VG_TYPE_TEXT:
      if (type == SQLITE_BLOB) return refuse(v, t, zCol, pzErr);
      if (type == SQLITE_TEXT) {
        vg_value_from_sqlite(v, pOut);
        return SQLITE_OK;
      } else {
        /* SQLite's own rendering of the number, as a TEXT column stores it */
        sqlite3_value *pCopy = sqlite3_value_dup(v);
        if (pCopy == 0) return SQLITE_NOMEM;
        pOut->type = SQLITE_TEXT;
        pOut->p = sqlite3_value_text(pCopy);
        pOut->n = sqlite3_value_bytes(pCopy);
        pOut->pOwner = pCopy;
        return pOut->p ? SQLITE_OK : SQLITE_NOMEM;
      }
    case VG_TYPE_BLOB:
      if (type != SQLITE_BLOB) return refuse(v, t, zCol, pzErr);
      vg_value_from_sqlite(v, pOut);
      return SQLITE_OK;
    default:
      vg_value_from_sqlite(v, pOut);
      return SQLITE_OK;
  }
}

int vg_value_bind(sqlite3_stmt *pStmt, int iParam, const VgValue *p) {
  switch (p->type) {
    case SQLITE_INTEGER:
      return sqlite3_bind_int64(pStmt, iParam, p->i);
    case SQLITE_FLOAT:
      return sqlite3_bind_double(pStmt, iParam, p->r);
    case SQLITE_TEXT:
      return sqlite3_bind_text(pStmt, iParam, p->p, p->n, SQLITE_STATIC);
    case SQLITE_BLOB:
      /* a NULL pointer would bind NULL, not an empty blob */
      if (p->n == 0) return sqlite3_bind_zeroblob(pStmt, iParam, 0);
      return sqlite3_bind_blob(pStmt, iParam, p->p, p->n, SQLITE_STATIC);
    default:
      return sqlite3_bind_null(pStmt, iParam);
  }
}

void vg_value_result(sqlite3_context *ctx, const VgValue *p) {
  switch (p->type) {
    case SQLITE_INTEGER:
      sqlite3_result_int64(ctx, p->i);
      break;
    case SQLITE_FLOAT:
      sqlite3_result_double(ctx, p->r);
      break;
    case SQLITE_TEXT:
      sqlite3_result_text(ctx, p->p, p->n, SQLITE_TRANSIENT);
      break;
    case SQLITE_BLOB:
      if (p->n == 0) {
        sqlite3_result_zeroblob(ctx, 0);
      } else {
        sqlite3_result_blob(ctx, p->p, p->n, SQLITE_TRANSIENT);
      }
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
}
