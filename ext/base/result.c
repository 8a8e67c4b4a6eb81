/*
** result.c — what every SQL function does at its edges, one way for all of
** them: text arguments checked by one rule (vg_text_value), whole numbers
** by another (vg_int_value); errors as
** "vg_function: what is wrong", or SQLite's out-of-memory error, for scalar
** and table-valued functions alike, and a failed database call's error;
** text built in an sqlite3_str as a result; JSON strings.
*/
#include "base/base.h"

#include <stdarg.h>
#include <string.h>

/* "an integer", "a blob"... for sqlite3_value_type() codes. */
static const char *type_phrase(int eType) {
  static const char *const az[] = {"", "an integer", "a real", "text", "a blob", "NULL"};
  return eType >= 1 && eType <= 5 ? az[eType] : "another value";
}

char *vg_value_describe(sqlite3_value *v) {
  int n = sqlite3_value_bytes(v);
  switch (sqlite3_value_type(v)) {
    case SQLITE_INTEGER:
      return sqlite3_mprintf("the integer %lld", sqlite3_value_int64(v));
    case SQLITE_FLOAT:
      return sqlite3_mprintf("the real %!.17g", sqlite3_value_double(v));
    case SQLITE_TEXT:
      return sqlite3_mprintf("the text '%.*s%s'", n > 40 ? 40 : n,
                             (const char *)sqlite3_value_text(v), n > 40 ? "..." : "");
    case SQLITE_BLOB:
      return sqlite3_mprintf("a %d-byte blob", n);
    default:
      return sqlite3_mprintf("NULL");
  }
}

void vg_result_bad_value(sqlite3_context *ctx, const char *zFunc, const char *zWant, sqlite3_value *v) {
  char *zGot = vg_value_describe(v);
  if (zGot == 0) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  vg_result_errorf(ctx, zFunc, "%s; got %s", zWant, zGot);
  sqlite3_free(zGot);
}

/* Offset of the first \u0000 escape in JSON text z[0, n), or -1.  Escaped
** backslashes are stepped over, so a literal "\\u0000" is not one. */
static int json_nul_escape(const char *z, int n) {
  for (int i = 0; i + 1 < n; i++) {
    if (z[i] != '\\') continue;
    if (z[i + 1] == 'u' && i + 6 <= n && memcmp(z + i + 2, "0000", 4) == 0) return i;
    i++; /* the escaped character */
  }
  return -1;
}

int vg_int_value(sqlite3_value *v, sqlite3_int64 *pOut) {
  int eType = sqlite3_value_type(v);
  if (eType == SQLITE_INTEGER) {
    *pOut = sqlite3_value_int64(v);
    return 1;
  }
  if (eType != SQLITE_FLOAT) return 0;
  double r = sqlite3_value_double(v);
  /* 2^63 is the first double past int64; NaN fails both comparisons. */
  if (!(r >= -9223372036854775808.0 && r < 9223372036854775808.0) || r != (double)(sqlite3_int64)r) return 0;
  *pOut = (sqlite3_int64)r;
  return 1;
}

int vg_text_value(sqlite3_value *v, const char *zName, int flags, const char **pz, int *pn,
                  char **pzErr) {
  int eType = sqlite3_value_type(v);
  if (eType != SQLITE_TEXT) {
    *pzErr = sqlite3_mprintf("%s must be text; got %s", zName, type_phrase(eType));
    return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  }
  const char *z = (const char *)sqlite3_value_text(v);
  int n = sqlite3_value_bytes(v), iBad = 0;
  if (z == 0) return SQLITE_NOMEM;
  if ((flags & VG_TEXT_NONEMPTY) && n == 0) {
    *pzErr = sqlite3_mprintf("%s must not be empty", zName);
  } else if (!vg_utf8_valid(z, n, &iBad)) {
    *pzErr = sqlite3_mprintf("%s is not valid UTF-8 (at byte %d)", zName, iBad);
  } else if ((flags & VG_TEXT_BODY) == 0 && (int)strlen(z) < n) {
    *pzErr = sqlite3_mprintf("NUL byte in %s (at byte %d): %s", zName, (int)strlen(z),
                             (flags & VG_TEXT_JSON) ? "JSON text cannot hold one" : "send it without one");
  } else if ((flags & VG_TEXT_JSON) && (iBad = json_nul_escape(z, n)) >= 0) {
    *pzErr = sqlite3_mprintf("\\u0000 in %s (at byte %d): SQLite's JSON functions end a string there; "
                             "leave it out",
                             zName, iBad);
  } else {
    *pz = z;
    if (pn) *pn = n;
    return SQLITE_OK;
  }
  return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
}

const char *vg_text_arg(sqlite3_context *ctx, const char *zFunc, sqlite3_value *v, const char *zName, int flags,
                        int *pn) {
  const char *z = 0;
  char *zErr = 0;
  int rc = vg_text_value(v, zName, flags, &z, pn, &zErr);
  if (rc != SQLITE_OK) vg_result_error(ctx, rc, zFunc, zErr);
  sqlite3_free(zErr);
  return rc == SQLITE_OK ? z : 0;
}

void vg_result_error(sqlite3_context *ctx, int rc, const char *zFunc, const char *zErr) {
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  char *zMsg = sqlite3_mprintf("%s: %s", zFunc, zErr ? zErr : sqlite3_errstr(rc));
  sqlite3_result_error(ctx, zMsg ? zMsg : zFunc, -1);
  sqlite3_free(zMsg);
}

void vg_result_errorf(sqlite3_context *ctx, const char *zFunc, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  vg_result_error(ctx, zMsg ? SQLITE_ERROR : SQLITE_NOMEM, zFunc, zMsg);
  sqlite3_free(zMsg);
}

void vg_result_db_error(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc) {
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (sqlite3_extended_errcode(db) == SQLITE_BUSY_SNAPSHOT) {
    /* The calling statement holds a read transaction that cannot become a
    ** write one: another connection wrote since it began. */
    vg_result_errorf(ctx, zFunc,
                  "another connection wrote while this statement was reading; call %s in a statement "
                  "that reads no table (SELECT %s(...)) or inside BEGIN IMMEDIATE",
                  zFunc, zFunc);
    sqlite3_result_error_code(ctx, SQLITE_BUSY);
    return;
  }
  /* A rollback since the failure may have cleared the connection's message:
  ** then SQLite's text for the code is the best there is. */
  vg_result_error(ctx, rc, zFunc, sqlite3_errcode(db) == SQLITE_OK ? sqlite3_errstr(rc) : sqlite3_errmsg(db));
  sqlite3_result_error_code(ctx, rc);
}

void vg_result_failure(sqlite3_context *ctx, const char *zFunc, sqlite3 *db, int rc, char *zErr) {
  if (zErr) {
    vg_result_error(ctx, rc, zFunc, zErr);
  } else {
    vg_result_db_error(ctx, zFunc, db, rc);
  }
  sqlite3_free(zErr);
}

void vg_result_str(sqlite3_context *ctx, sqlite3_str *out) {
  int rc = sqlite3_str_errcode(out);
  if (rc != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    if (rc == SQLITE_TOOBIG) {
      sqlite3_result_error_toobig(ctx);
    } else {
      sqlite3_result_error_nomem(ctx);
    }
    return;
  }
  int n = sqlite3_str_length(out);
  sqlite3_result_text(ctx, sqlite3_str_finish(out), n, sqlite3_free);
}

void vg_str_append_json(sqlite3_str *out, const char *z, int n) {
  if (n < 0) n = (int)strlen(z);
  sqlite3_str_appendchar(out, 1, '"');
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c == '"' || c == '\\') {
      sqlite3_str_appendchar(out, 1, '\\');
      sqlite3_str_appendchar(out, 1, (char)c);
    } else if (c < 0x20) {
      sqlite3_str_appendf(out, "\\u%04x", c);
    } else {
      sqlite3_str_appendchar(out, 1, (char)c);
    }
  }
  sqlite3_str_appendchar(out, 1, '"');
}

int vg_tvf_error(sqlite3_vtab *pVtab, const char *zFunc, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = zMsg ? sqlite3_mprintf("%s: %s", zFunc, zMsg) : 0;
  sqlite3_free(zMsg);
  return pVtab->zErrMsg ? SQLITE_ERROR : SQLITE_NOMEM;
}
