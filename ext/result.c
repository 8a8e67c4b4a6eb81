/*
** result.c — error results of the SQL functions, one form for all of them:
** "vg_function: what is wrong", or SQLite's out-of-memory error, for
** scalar and table-valued functions alike; text built in an sqlite3_str as
** a result; JSON strings.
*/
#include "vecguard.h"

#include <stdarg.h>
#include <string.h>

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

int vg_vtab_errorf(sqlite3_vtab *pVtab, const char *zFunc, const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  char *zMsg = sqlite3_vmprintf(zFormat, ap);
  va_end(ap);
  sqlite3_free(pVtab->zErrMsg);
  pVtab->zErrMsg = zMsg ? sqlite3_mprintf("%s: %s", zFunc, zMsg) : 0;
  sqlite3_free(zMsg);
  return pVtab->zErrMsg ? SQLITE_ERROR : SQLITE_NOMEM;
}
