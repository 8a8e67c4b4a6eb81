/*
** fuzzutil.c — helpers shared by the fuzz targets (see fuzzutil.h).
*/
#include "fuzzutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The extension's entry point (ext/vecguard.c); with SQLITE_CORE it needs
** no API routines. */
int sqlite3_vecguard_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

uint8_t fz_u8(FzIn *in) { return in->i < in->n ? in->p[in->i++] : 0; }

uint32_t fz_u32(FzIn *in) {
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) v = (v << 8) | fz_u8(in);
  return v;
}

int fz_range(FzIn *in, int lo, int hi) {
  uint32_t span = (uint32_t)(hi - lo) + 1;
  /* One byte is enough for small ranges and keeps inputs short. */
  uint32_t v = span <= 256 ? fz_u8(in) : fz_u32(in);
  return lo + (int)(v % span);
}

size_t fz_bytes(FzIn *in, size_t nMax, const uint8_t **pz) {
  size_t n = fz_u8(in);
  if (n > nMax) n = nMax;
  if (n > in->n - in->i) n = in->n - in->i;
  *pz = in->p + in->i;
  in->i += n;
  return n;
}

size_t fz_rest(FzIn *in, const uint8_t **pz) {
  *pz = in->p + in->i;
  size_t n = in->n - in->i;
  in->i = in->n;
  return n;
}

void fz_fail(const char *zFormat, ...) {
  va_list ap;
  va_start(ap, zFormat);
  fprintf(stderr, "\n==== FUZZ CHECK FAILED: ");
  vfprintf(stderr, zFormat, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(stderr);
  abort();
}

sqlite3 *fz_open(void) {
  sqlite3 *db = 0;
  char *zErr = 0;
  if (sqlite3_open(":memory:", &db) != SQLITE_OK) fz_fail("cannot open a database");
  if (sqlite3_vecguard_init(db, &zErr, 0) != SQLITE_OK) {
    fz_fail("cannot register the extension: %s", zErr ? zErr : sqlite3_errmsg(db));
  }
  return db;
}

void fz_exec(sqlite3 *db, const char *zSql) {
  char *zErr = 0;
  if (sqlite3_exec(db, zSql, 0, 0, &zErr) != SQLITE_OK) {
    fz_fail("setup statement failed: %s\n  %s", zErr ? zErr : "?", zSql);
  }
}

int fz_utf8_valid(const uint8_t *z, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint8_t c = z[i];
    size_t len;
    uint32_t cp, min;
    if (c <= 0x7F) {
      i++;
      continue;
    }
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return 0;
    }
    if (n - i < len) return 0;
    for (size_t k = 1; k < len; k++) {
      if ((z[i + k] & 0xC0) != 0x80) return 0;
      cp = (cp << 6) | (z[i + k] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    i += len;
  }
  return 1;
}

size_t fz_utf8_chars(const uint8_t *z, size_t n) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) c += (z[i] & 0xC0) != 0x80;
  return c;
}

size_t fz_utf8_offset(const uint8_t *z, size_t n, size_t iChar) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++) {
    if ((z[i] & 0xC0) == 0x80) continue;
    if (c == iChar) return i;
    c++;
  }
  return n;
}

int fz_is_message(const char *z) { return z != 0 && z[0] != 0; }

int fz_trace(void) {
  static int bTrace = -1;
  if (bTrace < 0) bTrace = getenv("FUZZ_TRACE") != 0;
  return bTrace;
}
