/*
** fuzz_pii.c — libFuzzer target for PII detection and redaction
** (ext/pii/: the trigger pass, the recognizers and their checks, overlap
** resolution, the operators, encryption; vg_pii_detect, vg_pii_scan,
** vg_pii_redact, vg_pii_hash, vg_pii_decrypt).
**
** Feeds: byte 0 picks how the text is made, byte 1 the options, the rest is
** the text: either the bytes as they are (random bytes: mostly invalid
** UTF-8), or each byte picking a piece from a list of fragments that make
** findings likely (digits, separators, '@', "://", "IBAN", context words,
** multibyte characters), so that the text is valid UTF-8 dense in near
** misses.  The options choose the operator (replace, replace with a
** new_value, mask with a character and keep_last, remove, hash with a
** length, encrypt; or per type), a types filter, min_score and language.
**
** Checks (docs/pii.md):
**   - text that is not valid UTF-8 (by a validator written here) is an error
**     naming UTF-8, from every function; valid text is never refused;
**   - vg_pii_detect's findings lie inside the text, in text order, without
**     overlaps; each one's "text" is the text between its character offsets
**     (decoded here: SQLite's ->> would end it at a \u0000);
**     scores are from 0 to 1, at least min_score, of the wanted types only;
**   - vg_pii_scan gives the same findings, its text column the same bytes;
**   - the engine's trigger windows (vg_pii_find_triggers) are sorted,
**     disjoint, inside the text and on character boundaries, and a scan
**     through them finds exactly what running every recognizer over the
**     whole text finds (bWholeText), finding for finding;
**   - vg_pii_redact's result is the text with each finding replaced as its
**     operator says and every other byte as it was: rebuilt here from the
**     findings ("<TYPE>", new_value, mask characters with the last keep_last
**     characters kept, nothing, "<TYPE_" + the first digits of vg_pii_hash
**     + ">"); encrypted tokens have the documented form and vg_pii_decrypt
**     opens each one to its finding; the result is valid UTF-8.
** Texts may hold NUL bytes: free text is read by its length and every byte
** kept (docs/README.md, "Text arguments"), so they are checked like any.
*/
#include "fuzzutil.h"
#include "pii/pii.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sqlite3 *db;
static VgPiiEngine *pEngine;
static sqlite3_stmt *pDetect, *pFindings, *pScan, *pRedact, *pHash, *pDecrypt;

static sqlite3_stmt *prepare(const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) fz_fail("prepare %s: %s", zSql, sqlite3_errmsg(db));
  return p;
}

/* ---- the text ---------------------------------------------------------------- */

static const char *const azPiece[] = {
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "1", "4111", "1111", "5698", "7654",
    " ", " ", " ", "-", "-", ".", "/", ":", "@", "@", "example.com", "a.b", "ana", "www.", "://",
    "https", "+54 9 11 ", "+90 ", "(212) ", "IBAN ", "GB82 ", "DE89 ", "WEST ", "CUIT ", "DNI ",
    "phone ", "tel ", "born ", "DOB ", "nacimiento ", "March ", "de marzo de ", "1985", "12/03/",
    "AKIA", "eyJ", "bearer ", "-----BEGIN ", "bc1", "1BvBM", "HRB ", "LEG-", "é", "ñ", "€", "中",
    "\xf0\x9f\x99\x82", "\n", "\t", ",", ";", ")", "(", "'", "\"", "X", "Q", "Z", "AB", "ab",
    "00", "000", "123456789", "987-65-4321", "2001:db8::1", "192.168.", "01:23:45:67:89:ab",
    "\xc2\xa0", "\x00"};

/* The text in buf (which holds at least 32 * n bytes). */
static size_t build_text(const uint8_t *z, size_t n, char *buf) {
  size_t m = 0;
  size_t nPiece = sizeof azPiece / sizeof azPiece[0];
  for (size_t i = 0; i < n; i++) {
    const char *p = azPiece[z[i] % nPiece];
    size_t len = strlen(p);
    if (len == 0) { /* "\x00": a NUL byte */
      buf[m++] = 0;
      continue;
    }
    memcpy(buf + m, p, len);
    m += len;
  }
  return m;
}

/* ---- options ----------------------------------------------------------------- */

typedef struct Op {
  int kind;              /* VG_PII_OP_* */
  const char *zNewValue; /* replace */
  const char *zChar;     /* mask */
  int nKeep;             /* mask */
  int nHex;              /* hash */
} Op;

typedef struct Opts {
  char *zScan;   /* vg_pii_detect's options, or 0 */
  char *zRedact; /* vg_pii_redact's options, or 0 */
  Op def;        /* the operator for every type... */
  int bEmailOp;  /* ...but EMAIL_ADDRESS, which gets opEmail */
  Op opEmail;
  int bTypes;    /* only EMAIL_ADDRESS, PHONE_NUMBER, CREDIT_CARD, IBAN_CODE */
  double minScore;
  unsigned lang;
} Opts;

static const char *const azTypes[] = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE"};

static void pick_op(uint8_t b, Op *op) {
  static const char *const azChar[] = {"*", "#", "\xc3\xa9", "\xf0\x9f\x99\x82"};
  memset(op, 0, sizeof(*op));
  op->kind = b % 6 == 5 ? VG_PII_OP_REPLACE : b % 6; /* replace twice as often */
  op->zChar = "*";
  op->nHex = 8;
  if (op->kind == VG_PII_OP_REPLACE && (b & 0x40)) op->zNewValue = (b & 0x80) ? "[gone]" : "";
  if (op->kind == VG_PII_OP_MASK) {
    op->zChar = azChar[(b >> 3) & 3];
    op->nKeep = (b >> 5) & 7;
  }
  if (op->kind == VG_PII_OP_HASH) op->nHex = 8 + ((b >> 3) % 57);
}

static void put_op(sqlite3_str *s, const Op *op) {
  static const char *const azName[] = {"replace", "mask", "remove", "hash", "encrypt"};
  sqlite3_str_appendf(s, "{\"operator\": \"%s\"", azName[op->kind]);
  if (op->zNewValue) sqlite3_str_appendf(s, ", \"new_value\": \"%s\"", op->zNewValue);
  if (op->kind == VG_PII_OP_MASK) sqlite3_str_appendf(s, ", \"char\": \"%s\", \"keep_last\": %d", op->zChar, op->nKeep);
  if (op->kind == VG_PII_OP_HASH) sqlite3_str_appendf(s, ", \"length\": %d", op->nHex);
  sqlite3_str_appendall(s, "}");
}

static void make_opts(FzIn *in, Opts *o) {
  memset(o, 0, sizeof(*o));
  uint8_t b = fz_u8(in), c = fz_u8(in);
  pick_op(c, &o->def);
  o->bTypes = b & 1;
  o->minScore = (b & 2) ? 0.5 : 0.0;
  o->lang = (b & 4) ? ((b & 8) ? VG_PII_LANG_ES : VG_PII_LANG_EN) : 0;
  o->bEmailOp = (b & 16) != 0;
  if (o->bEmailOp) pick_op(fz_u8(in), &o->opEmail);
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "{");
  int n = 0;
  if (o->bTypes) {
    sqlite3_str_appendf(s, "\"types\": [\"%s\", \"%s\", \"%s\", \"%s\"]", azTypes[0], azTypes[1], azTypes[2],
                        azTypes[3]);
    n++;
  }
  if (o->minScore > 0) sqlite3_str_appendf(s, "%s\"min_score\": 0.5", n++ ? ", " : "");
  if (o->lang) sqlite3_str_appendf(s, "%s\"language\": \"%s\"", n++ ? ", " : "", o->lang == VG_PII_LANG_ES ? "es" : "en");
  char *zScanPart = sqlite3_mprintf("%s", sqlite3_str_value(s) ? sqlite3_str_value(s) : "{");
  o->zScan = (b & 32) || n ? sqlite3_mprintf("%s}", zScanPart) : 0;
  if (o->bEmailOp) {
    sqlite3_str_appendf(s, "%s\"operators\": {\"EMAIL_ADDRESS\": ", n++ ? ", " : "");
    put_op(s, &o->opEmail);
    sqlite3_str_appendall(s, ", \"DEFAULT\": ");
    put_op(s, &o->def);
    sqlite3_str_appendall(s, "}");
  } else if (!(c == 0 && !(b & 64))) {
    sqlite3_str_appendf(s, "%s\"operator\": ", n++ ? ", " : "");
    put_op(s, &o->def);
  }
  sqlite3_str_appendall(s, "}");
  o->zRedact = sqlite3_str_finish(s);
  sqlite3_free(zScanPart);
}

static void free_opts(Opts *o) {
  sqlite3_free(o->zScan);
  sqlite3_free(o->zRedact);
}

/* ---- findings ---------------------------------------------------------------- */

typedef struct Finding {
  char zType[64];
  int cStart, cEnd;
  size_t iStart, iEnd; /* bytes, worked out here from the characters */
  double score;
} Finding;

#define MAX_FINDINGS 4096
static Finding aF[MAX_FINDINGS];

static void bind_opts(sqlite3_stmt *p, int i, const char *z) {
  if (z) {
    sqlite3_bind_text(p, i, z, -1, SQLITE_STATIC);
  } else {
    sqlite3_bind_null(p, i);
  }
}

static unsigned hex4(const char *z) {
  unsigned v = 0;
  for (int k = 0; k < 4; k++) {
    char c = z[k];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    FZ_CHECKF(d >= 0, "bad \\u escape in a finding's text");
    v = v * 16 + (unsigned)d;
  }
  return v;
}

/* A JSON string z[0, n), quotes included, decoded (RFC 8259) into a buffer
** kept until the next call; *pn its length (it may hold NUL bytes). */
static const char *json_string(const char *z, size_t n, size_t *pn) {
  static char *zOut;
  static size_t nAlloc;
  if (nAlloc < n + 1) {
    free(zOut);
    nAlloc = 2 * n + 16;
    zOut = malloc(nAlloc);
  }
  FZ_CHECKF(n >= 2 && z[0] == '"' && z[n - 1] == '"', "a finding's text is not a JSON string: %.*s", (int)n, z);
  size_t o = 0;
  for (size_t i = 1; i + 1 < n; i++) {
    if (z[i] != '\\') {
      zOut[o++] = z[i];
      continue;
    }
    FZ_CHECK(i + 2 < n);
    char c = z[++i];
    switch (c) {
      case '"':
      case '\\':
      case '/':
        zOut[o++] = c;
        continue;
      case 'b':
        zOut[o++] = '\b';
        continue;
      case 'f':
        zOut[o++] = '\f';
        continue;
      case 'n':
        zOut[o++] = '\n';
        continue;
      case 'r':
        zOut[o++] = '\r';
        continue;
      case 't':
        zOut[o++] = '\t';
        continue;
      case 'u':
        break;
      default:
        fz_fail("bad escape \\%c in a finding's text", c);
    }
    FZ_CHECK(i + 5 < n);
    unsigned cp = hex4(z + i + 1);
    i += 4;
    if (cp >= 0xD800 && cp < 0xDC00 && i + 7 < n && z[i + 1] == '\\' && z[i + 2] == 'u') {
      unsigned lo = hex4(z + i + 3);
      if (lo >= 0xDC00 && lo < 0xE000) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        i += 6;
      }
    }
    if (cp < 0x80) {
      zOut[o++] = (char)cp;
    } else if (cp < 0x800) {
      zOut[o++] = (char)(0xC0 | (cp >> 6));
      zOut[o++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      zOut[o++] = (char)(0xE0 | (cp >> 12));
      zOut[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      zOut[o++] = (char)(0x80 | (cp & 0x3F));
    } else {
      zOut[o++] = (char)(0xF0 | (cp >> 18));
      zOut[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
      zOut[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
      zOut[o++] = (char)(0x80 | (cp & 0x3F));
    }
  }
  *pn = o;
  return zOut;
}

/* vg_pii_detect's findings, checked on their own; returns how many. */
static int detect(const char *z, size_t n, const Opts *o) {
  sqlite3_reset(pDetect);
  sqlite3_bind_text(pDetect, 1, z, (int)n, SQLITE_STATIC);
  bind_opts(pDetect, 2, o->zScan);
  int rc = sqlite3_step(pDetect);
  FZ_CHECKF(rc == SQLITE_ROW, "vg_pii_detect refused valid UTF-8: %s", sqlite3_errmsg(db));
  FZ_CHECK(sqlite3_column_type(pDetect, 0) == SQLITE_TEXT);
  sqlite3_reset(pFindings);
  sqlite3_bind_value(pFindings, 1, sqlite3_column_value(pDetect, 0));
  size_t nChar = fz_utf8_chars((const uint8_t *)z, n);
  int m = 0;
  while ((rc = sqlite3_step(pFindings)) == SQLITE_ROW) {
    FZ_CHECK(m < MAX_FINDINGS);
    Finding *f = &aF[m];
    const char *zType = (const char *)sqlite3_column_text(pFindings, 0);
    FZ_CHECK(zType && strlen(zType) < sizeof f->zType);
    strcpy(f->zType, zType);
    f->cStart = sqlite3_column_int(pFindings, 1);
    f->cEnd = sqlite3_column_int(pFindings, 2);
    f->score = sqlite3_column_double(pFindings, 4);
    FZ_CHECKF(f->cStart >= 0 && f->cStart < f->cEnd && (size_t)f->cEnd <= nChar,
              "finding %d at characters [%d, %d) of %zu", m, f->cStart, f->cEnd, nChar);
    FZ_CHECKF(m == 0 || f->cStart >= aF[m - 1].cEnd, "finding %d [%d, %d) overlaps or precedes [%d, %d)", m,
              f->cStart, f->cEnd, aF[m - 1].cStart, aF[m - 1].cEnd);
    f->iStart = fz_utf8_offset((const uint8_t *)z, n, (size_t)f->cStart);
    f->iEnd = fz_utf8_offset((const uint8_t *)z, n, (size_t)f->cEnd);
    /* Decoded here: SQLite's ->> ends a string at \u0000. */
    size_t nText = 0;
    const char *zText = json_string((const char *)sqlite3_column_text(pFindings, 3),
                                    (size_t)sqlite3_column_bytes(pFindings, 3), &nText);
    FZ_CHECKF(nText == f->iEnd - f->iStart && memcmp(zText, z + f->iStart, nText) == 0,
              "finding %d's text is not the text at its offsets [%d, %d)", m, f->cStart, f->cEnd);
    FZ_CHECKF(f->score >= 0 && f->score <= 1, "score %g", f->score);
    FZ_CHECKF(f->score >= o->minScore - 0.005, "score %g below min_score %g", f->score, o->minScore);
    if (o->bTypes) {
      int bWanted = 0;
      for (int t = 0; t < 4; t++) bWanted |= strcmp(zType, azTypes[t]) == 0;
      FZ_CHECKF(bWanted, "type %s is not among those asked for", zType);
    }
    m++;
  }
  FZ_CHECKF(rc == SQLITE_DONE, "reading the findings: %s", sqlite3_errmsg(db));
  sqlite3_reset(pDetect);
  return m;
}

static void check_scan_table(const char *z, size_t n, const Opts *o, int m) {
  sqlite3_reset(pScan);
  sqlite3_bind_text(pScan, 1, z, (int)n, SQLITE_STATIC);
  bind_opts(pScan, 2, o->zScan);
  int i = 0, rc;
  while ((rc = sqlite3_step(pScan)) == SQLITE_ROW) {
    FZ_CHECKF(i < m, "vg_pii_scan has more rows than vg_pii_detect has findings (%d)", m);
    const Finding *f = &aF[i];
    FZ_CHECKF(strcmp((const char *)sqlite3_column_text(pScan, 0), f->zType) == 0 &&
                  sqlite3_column_int(pScan, 1) == f->cStart && sqlite3_column_int(pScan, 2) == f->cEnd,
              "vg_pii_scan row %d differs from vg_pii_detect", i);
    FZ_CHECKF((size_t)sqlite3_column_bytes(pScan, 3) == f->iEnd - f->iStart &&
                  memcmp(sqlite3_column_blob(pScan, 3), z + f->iStart, f->iEnd - f->iStart) == 0,
              "vg_pii_scan row %d's text is not the text at its offsets", i);
    double d = sqlite3_column_double(pScan, 4) - f->score;
    FZ_CHECK(d < 0.0051 && d > -0.0051);
    i++;
  }
  FZ_CHECKF(rc == SQLITE_DONE, "vg_pii_scan failed: %s", sqlite3_errmsg(db));
  FZ_CHECKF(i == m, "vg_pii_scan has %d rows, vg_pii_detect %d findings", i, m);
}

/* The engine through its trigger windows against the whole text. */
static void check_engine(const char *z, size_t n, const Opts *o, int m) {
  VgPiiOptions opt = {.azEntity = o->bTypes ? azTypes : 0, .nEntity = o->bTypes ? 4 : 0, .minScore = o->minScore, .lang = o->lang};
  VgPiiFindings fw = {0, 0, 0}, fa = {0, 0, 0};
  char *zErr = 0;
  FZ_CHECKF(vg_pii_engine_scan(pEngine, z, (int)n, &opt, &fw, &zErr) == SQLITE_OK, "scan: %s", zErr);
  opt.bWholeText = 1;
  FZ_CHECKF(vg_pii_engine_scan(pEngine, z, (int)n, &opt, &fa, &zErr) == SQLITE_OK, "whole-text scan: %s", zErr);
  int bSame = fw.n == fa.n;
  for (int i = 0; bSame && i < fw.n; i++) {
    bSame = fw.a[i].iStart == fa.a[i].iStart && fw.a[i].iEnd == fa.a[i].iEnd &&
            strcmp(fw.a[i].zEntity, fa.a[i].zEntity) == 0 && fw.a[i].score == fa.a[i].score;
  }
  if (!bSame) {
    for (int i = 0; i < fw.n; i++) {
      fprintf(stderr, "windows: %s [%d, %d) %.2f\n", fw.a[i].zEntity, fw.a[i].iStart, fw.a[i].iEnd, fw.a[i].score);
    }
    for (int i = 0; i < fa.n; i++) {
      fprintf(stderr, "whole:   %s [%d, %d) %.2f\n", fa.a[i].zEntity, fa.a[i].iStart, fa.a[i].iEnd, fa.a[i].score);
    }
    fz_fail("the trigger windows find %d findings, the whole text %d (or others)", fw.n, fa.n);
  }
  /* And the SQL function reported the same. */
  FZ_CHECKF(fw.n == m, "the engine finds %d, vg_pii_detect %d", fw.n, m);
  for (int i = 0; i < m; i++) {
    FZ_CHECK((size_t)fw.a[i].iStart == aF[i].iStart && (size_t)fw.a[i].iEnd == aF[i].iEnd);
    FZ_CHECK(fw.a[i].cStart == aF[i].cStart && fw.a[i].cEnd == aF[i].cEnd);
  }
  vg_pii_findings_free(&fw);
  vg_pii_findings_free(&fa);

  VgPiiWindows aWin[VG_PII_TRIGGER_COUNT];
  memset(aWin, 0, sizeof aWin);
  unsigned mask = ((1u << VG_PII_TRIGGER_COUNT) - 1) & ~1u;
  FZ_CHECK(vg_pii_find_triggers(z, (int)n, mask, aWin) == SQLITE_OK);
  for (int t = 1; t < VG_PII_TRIGGER_COUNT; t++) {
    const VgPiiWindows *w = &aWin[t];
    for (int k = 0; k < w->n; k++) {
      int a = w->a[2 * k], b = w->a[2 * k + 1];
      FZ_CHECKF(0 <= a && a < b && (size_t)b <= n, "trigger %d window [%d, %d) of %zu bytes", t, a, b, n);
      FZ_CHECKF(k == 0 || a >= w->a[2 * k - 1], "trigger %d windows out of order or overlapping", t);
      FZ_CHECKF(((uint8_t)z[a] & 0xC0) != 0x80 && ((size_t)b == n || ((uint8_t)z[b] & 0xC0) != 0x80),
                "trigger %d window [%d, %d) cuts a character", t, a, b);
    }
  }
  vg_pii_windows_free(aWin, VG_PII_TRIGGER_COUNT);
}

/* ---- redaction --------------------------------------------------------------- */

/* Print z[0, n) escaped, for a failure's report. */
static void show(const char *zLabel, const char *z, size_t n) {
  fprintf(stderr, "%s (%zu bytes): \"", zLabel, n);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)z[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      fputc(c, stderr);
    } else {
      fprintf(stderr, "\\x%02x", c);
    }
  }
  fprintf(stderr, "\"\n");
}

static const Op *op_for(const Opts *o, const char *zType) {
  return o->bEmailOp && strcmp(zType, "EMAIL_ADDRESS") == 0 ? &o->opEmail : &o->def;
}

static int is_b64url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static void check_redact(const char *z, size_t n, const Opts *o, int m) {
  sqlite3_reset(pRedact);
  sqlite3_bind_text(pRedact, 1, z, (int)n, SQLITE_STATIC);
  bind_opts(pRedact, 2, o->zRedact);
  int rc = sqlite3_step(pRedact);
  FZ_CHECKF(rc == SQLITE_ROW, "vg_pii_redact failed: %s\n  options %s", sqlite3_errmsg(db), o->zRedact);
  const char *zOut = (const char *)sqlite3_column_text(pRedact, 0);
  size_t nOut = (size_t)sqlite3_column_bytes(pRedact, 0);
  FZ_CHECKF(fz_utf8_valid((const uint8_t *)zOut, nOut), "vg_pii_redact's result is not valid UTF-8");

  /* Walk the result beside the text: between findings it is the text
  ** itself; at each, what its operator writes. */
  size_t iIn = 0, iOut = 0;
  int bEncrypted = 0;
  /* What vg_pii_decrypt must make of the result: the tokens opened, the
  ** other replacements left. */
  sqlite3_str *pOpened = sqlite3_str_new(0);
  for (int i = 0; i <= m; i++) {
    size_t iEnd = i < m ? aF[i].iStart : n;
    size_t nSame = iEnd - iIn;
    if (!(iOut + nSame <= nOut && memcmp(zOut + iOut, z + iIn, nSame) == 0)) {
      show("text", z, n);
      show("redacted", zOut, nOut);
      for (int k = 0; k < m; k++) {
        fprintf(stderr, "finding %d: %s [%d, %d)\n", k, aF[k].zType, aF[k].cStart, aF[k].cEnd);
      }
      fz_fail("the text before finding %d (bytes %zu to %zu) is not kept as it was\n  options %s", i, iIn, iEnd,
              o->zRedact);
    }
    iOut += nSame;
    sqlite3_str_append(pOpened, z + iIn, (int)nSame);
    if (i == m) break;
    const Finding *f = &aF[i];
    const Op *op = op_for(o, f->zType);
    char *zWant = 0;
    int nWant = -1; /* strlen(zWant), but for masks, which keep NUL bytes */
    switch (op->kind) {
      case VG_PII_OP_REPLACE:
        zWant = op->zNewValue ? sqlite3_mprintf("%s", op->zNewValue) : sqlite3_mprintf("<%s>", f->zType);
        break;
      case VG_PII_OP_MASK: {
        int nChar = f->cEnd - f->cStart, nKeep = op->nKeep < nChar ? op->nKeep : nChar;
        sqlite3_str *s = sqlite3_str_new(0);
        for (int k = 0; k < nChar - nKeep; k++) sqlite3_str_appendall(s, op->zChar);
        size_t iKeep = fz_utf8_offset((const uint8_t *)z, n, (size_t)(f->cEnd - nKeep));
        sqlite3_str_append(s, z + iKeep, (int)(f->iEnd - iKeep));
        nWant = sqlite3_str_length(s);
        zWant = sqlite3_str_finish(s);
        if (zWant == 0) zWant = sqlite3_mprintf("");
        break;
      }
      case VG_PII_OP_REMOVE:
        zWant = sqlite3_mprintf("");
        break;
      case VG_PII_OP_HASH: {
        sqlite3_reset(pHash);
        sqlite3_bind_text(pHash, 1, z + f->iStart, (int)(f->iEnd - f->iStart), SQLITE_STATIC);
        FZ_CHECK(sqlite3_step(pHash) == SQLITE_ROW);
        zWant = sqlite3_mprintf("<%s_%.*s>", f->zType, op->nHex, sqlite3_column_text(pHash, 0));
        sqlite3_reset(pHash);
        break;
      }
      default: {
        /* "<TYPE:enc:" base64url ">": random, so checked by its form. */
        size_t nHead = strlen(f->zType) + 6;
        FZ_CHECKF(iOut + nHead <= nOut && zOut[iOut] == '<' && memcmp(zOut + iOut + 1, f->zType, nHead - 6) == 0 &&
                      memcmp(zOut + iOut + nHead - 5, ":enc:", 5) == 0,
                  "finding %d: no encrypted token", i);
        size_t j = iOut + nHead;
        while (j < nOut && is_b64url(zOut[j])) j++;
        FZ_CHECKF(j > iOut + nHead && j < nOut && zOut[j] == '>', "finding %d: a malformed encrypted token", i);
        iOut = j + 1;
        bEncrypted = 1;
        sqlite3_str_append(pOpened, z + f->iStart, (int)(f->iEnd - f->iStart));
        break;
      }
    }
    if (zWant) {
      if (nWant < 0) nWant = (int)strlen(zWant);
      FZ_CHECKF(iOut + (size_t)nWant <= nOut && memcmp(zOut + iOut, zWant, (size_t)nWant) == 0,
                "finding %d (%s, operator %d) is not replaced by '%s'", i, f->zType, op->kind, zWant);
      iOut += (size_t)nWant;
      sqlite3_str_append(pOpened, zWant, nWant);
      sqlite3_free(zWant);
    }
    iIn = f->iEnd;
  }
  FZ_CHECKF(iOut == nOut, "the redacted text has %zu bytes more than expected", nOut - iOut);

  int nOpened = sqlite3_str_length(pOpened);
  char *zOpened = sqlite3_str_finish(pOpened);
  /* A '<' of the text's own could make a token that does not decrypt: an
  ** error, as documented, so such texts are not decrypted here. */
  if (bEncrypted && memchr(z, '<', n) == 0) {
    sqlite3_reset(pDecrypt);
    sqlite3_bind_text(pDecrypt, 1, zOut, (int)nOut, SQLITE_TRANSIENT);
    FZ_CHECKF(sqlite3_step(pDecrypt) == SQLITE_ROW, "vg_pii_decrypt failed: %s", sqlite3_errmsg(db));
    if (!(sqlite3_column_bytes(pDecrypt, 0) == nOpened &&
          memcmp(sqlite3_column_text(pDecrypt, 0), zOpened ? zOpened : "", (size_t)nOpened) == 0)) {
      show("text", z, n);
      show("redacted", zOut, nOut);
      show("decrypted", (const char *)sqlite3_column_text(pDecrypt, 0), (size_t)sqlite3_column_bytes(pDecrypt, 0));
      fz_fail("vg_pii_decrypt does not give the encrypted findings back");
    }
    sqlite3_reset(pDecrypt);
  }
  sqlite3_free(zOpened);
  sqlite3_reset(pRedact);
}

/* Invalid UTF-8: every function says so. */
static void check_invalid(const char *z, size_t n, const Opts *o) {
  sqlite3_stmt *ap[] = {pDetect, pRedact, pScan};
  const char *azOpt[] = {o->zScan, o->zRedact, o->zScan};
  for (int i = 0; i < 3; i++) {
    sqlite3_reset(ap[i]);
    sqlite3_bind_text(ap[i], 1, z, (int)n, SQLITE_STATIC);
    bind_opts(ap[i], 2, azOpt[i]);
    int rc = sqlite3_step(ap[i]);
    FZ_CHECKF(rc == SQLITE_ERROR, "%s took invalid UTF-8 (rc %d)", sqlite3_sql(ap[i]), rc);
    FZ_CHECKF(strstr(sqlite3_errmsg(db), "UTF-8") != 0, "the error does not name UTF-8: %s", sqlite3_errmsg(db));
    sqlite3_reset(ap[i]);
  }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  db = fz_open();
  fz_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  char *zErr = 0;
  if (vg_pii_engine_new(vg_pii_builtin, vg_pii_builtin_count, &pEngine, &zErr) != SQLITE_OK) {
    fz_fail("engine: %s", zErr);
  }
  pDetect = prepare("SELECT vg_pii_detect(?1, ?2)");
  pFindings = prepare("SELECT value ->> '$.type', value ->> '$.start', value ->> '$.end', value -> '$.text', "
                      "value ->> '$.score' FROM json_each(?1)");
  pScan = prepare("SELECT type, start, \"end\", text, score FROM vg_pii_scan(?1, ?2)");
  pRedact = prepare("SELECT vg_pii_redact(?1, ?2)");
  pHash = prepare("SELECT vg_pii_hash(?1)");
  pDecrypt = prepare("SELECT vg_pii_decrypt(?1)");
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2 || size > 1024) return 0;
  FzIn in = {data, size, 0};
  uint8_t mode = fz_u8(&in);
  Opts o;
  make_opts(&in, &o);
  const uint8_t *zRest;
  size_t nRest = fz_rest(&in, &zRest);
  char *buf = malloc(32 * nRest + 1);
  size_t n;
  if (mode & 1) {
    memcpy(buf, zRest, nRest);
    n = nRest;
  } else {
    n = build_text(zRest, nRest, buf);
  }
  if (!fz_utf8_valid((const uint8_t *)buf, n)) {
    check_invalid(buf, n, &o);
  } else {
    int m = detect(buf, n, &o);
    check_scan_table(buf, n, &o, m);
    check_engine(buf, n, &o, m);
    check_redact(buf, n, &o, m);
  }
  free(buf);
  free_opts(&o);
  return 0;
}
