/*
** pii_scan.c — vg_pii_scan, the table-valued form of vg_pii_detect:
**
**   SELECT type, start, "end", text, score FROM vg_pii_scan(text [, options]);
**
** One row per finding, in text order, with the same values vg_pii_detect
** puts in its JSON.  An eponymous-only virtual table: it exists on every
** connection that loaded the extension and cannot be created by name.
*/
#include "pii/pii.h"

#include <string.h>

#define COL_TYPE 0
#define COL_START 1
#define COL_END 2
#define COL_TEXT 3
#define COL_SCORE 4
#define COL_INPUT 5
#define COL_OPTIONS 6

typedef struct ScanVtab {
  sqlite3_vtab base;
  sqlite3 *db;
  PiiConn *c;
} ScanVtab;

typedef struct ScanCursor {
  sqlite3_vtab_cursor base;
  char *zText;       /* a copy of the input */
  int nText;
  char *zOptions;    /* a copy of the options, or 0 */
  VgPiiFindings f;
  char **azEntity;   /* each finding's type, copied: the engine may be rebuilt */
  int i;
} ScanCursor;

static int scan_connect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                        sqlite3_vtab **ppVtab, char **pzErr) {
  (void)argc;
  (void)argv;
  (void)pzErr;
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(type TEXT, start INTEGER, \"end\" INTEGER, "
                                "text TEXT, score REAL, input HIDDEN, options HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  ScanVtab *v = sqlite3_malloc64(sizeof(*v));
  if (v == 0) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  v->db = db;
  v->c = pAux;
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = &v->base;
  return SQLITE_OK;
}

static int scan_disconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* The input must be given (an equality on the hidden column); the options
** may be. */
static int scan_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *p) {
  (void)pVtab;
  int iInput = -1, iOptions = -1;
  for (int i = 0; i < p->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &p->aConstraint[i];
    if (c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (c->iColumn == COL_INPUT) {
      if (!c->usable) return SQLITE_CONSTRAINT;
      iInput = i;
    } else if (c->iColumn == COL_OPTIONS) {
      if (!c->usable) return SQLITE_CONSTRAINT;
      iOptions = i;
    }
  }
  if (iInput < 0) {
    /* A plan without the text: the worst choice, and an error if taken. */
    p->idxNum = -1;
    p->estimatedCost = 1e99;
    return SQLITE_OK;
  }
  p->aConstraintUsage[iInput].argvIndex = 1;
  p->aConstraintUsage[iInput].omit = 1;
  if (iOptions >= 0) {
    p->aConstraintUsage[iOptions].argvIndex = 2;
    p->aConstraintUsage[iOptions].omit = 1;
  }
  p->idxNum = iOptions >= 0;
  p->estimatedCost = 1000;
  p->estimatedRows = 10;
  p->orderByConsumed = 0;
  return SQLITE_OK;
}

static int scan_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  (void)pVtab;
  ScanCursor *pCur = sqlite3_malloc64(sizeof(*pCur));
  if (pCur == 0) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static void cursor_reset(ScanCursor *pCur) {
  for (int i = 0; i < pCur->f.n; i++) sqlite3_free(pCur->azEntity ? pCur->azEntity[i] : 0);
  sqlite3_free(pCur->azEntity);
  vg_pii_findings_free(&pCur->f);
  sqlite3_free(pCur->zText);
  sqlite3_free(pCur->zOptions);
  pCur->azEntity = 0;
  pCur->zText = 0;
  pCur->zOptions = 0;
  pCur->nText = 0;
  pCur->i = 0;
}

static int scan_close(sqlite3_vtab_cursor *pCursor) {
  cursor_reset((ScanCursor *)pCursor);
  sqlite3_free(pCursor);
  return SQLITE_OK;
}

static int fail(ScanVtab *v, int rc, char *zErr) {
  if (rc != SQLITE_NOMEM) {
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = sqlite3_mprintf("vg_pii_scan: %s", zErr ? zErr : sqlite3_errstr(rc));
  }
  sqlite3_free(zErr);
  return rc;
}

/* A copy of the input, valid UTF-8 text; SQLITE_DONE for NULL (no rows). */
static int read_input(ScanVtab *v, ScanCursor *pCur, sqlite3_value *pIn) {
  const char *z = 0;
  int n = 0;
  char *zErr = 0;
  if (sqlite3_value_type(pIn) == SQLITE_NULL) return SQLITE_DONE;
  int rc = vg_text_value(pIn, "the text", VG_TEXT_BODY, &z, &n, &zErr);
  if (rc != SQLITE_OK) return fail(v, rc, zErr);
  pCur->zText = sqlite3_malloc64((size_t)n + 1);
  if (pCur->zText == 0) return SQLITE_NOMEM;
  memcpy(pCur->zText, z, (size_t)n + 1);
  pCur->nText = n;
  return SQLITE_OK;
}

static int scan_filter(sqlite3_vtab_cursor *pCursor, int idxNum, const char *idxStr, int argc,
                       sqlite3_value **argv) {
  (void)idxStr;
  (void)argc;
  ScanCursor *pCur = (ScanCursor *)pCursor;
  ScanVtab *v = (ScanVtab *)pCursor->pVtab;
  cursor_reset(pCur);
  if (idxNum < 0) {
    return fail(v, SQLITE_ERROR, sqlite3_mprintf("give the text, as in vg_pii_scan(text)"));
  }
  int rc = read_input(v, pCur, argv[0]);
  if (rc == SQLITE_DONE) return SQLITE_OK;
  if (rc != SQLITE_OK) return rc;
  char *zErr = 0;
  VgPiiEngine *e = pii_conn_engine(v->c, v->db, &rc, &zErr);
  if (e == 0) return fail(v, rc, zErr);
  PiiOptions *o = 0;
  if (idxNum && sqlite3_value_type(argv[1]) != SQLITE_NULL) {
    if (sqlite3_value_type(argv[1]) != SQLITE_TEXT) {
      return fail(v, SQLITE_ERROR, sqlite3_mprintf("options must be a JSON object (as text)"));
    }
    const char *zJson = 0;
    rc = vg_text_value(argv[1], "the options", VG_TEXT_JSON, &zJson, 0, &zErr);
    if (rc == SQLITE_OK) rc = pii_options_parse(v->db, v->c, zJson, PII_OPT_SCAN, "vg_pii_scan", &o, &zErr);
    if (rc != SQLITE_OK) return fail(v, rc, zErr);
    if ((pCur->zOptions = sqlite3_mprintf("%s", zJson)) == 0) {
      pii_options_free(o);
      return SQLITE_NOMEM;
    }
  }
  rc = pii_conn_scan(v->c, e, o, pCur->zText, pCur->nText, &pCur->f, &zErr);
  pii_options_free(o);
  if (rc != SQLITE_OK) return fail(v, rc, zErr);
  pCur->azEntity = sqlite3_malloc64(sizeof(char *) * (size_t)(pCur->f.n + 1));
  if (pCur->azEntity == 0) return SQLITE_NOMEM;
  memset(pCur->azEntity, 0, sizeof(char *) * (size_t)(pCur->f.n + 1));
  for (int i = 0; i < pCur->f.n; i++) {
    pCur->azEntity[i] = sqlite3_mprintf("%s", pCur->f.a[i].zEntity);
    if (pCur->azEntity[i] == 0) return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

static int scan_next(sqlite3_vtab_cursor *pCursor) {
  ((ScanCursor *)pCursor)->i++;
  return SQLITE_OK;
}

static int scan_eof(sqlite3_vtab_cursor *pCursor) {
  ScanCursor *pCur = (ScanCursor *)pCursor;
  return pCur->i >= pCur->f.n;
}

static int scan_column(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx, int iCol) {
  ScanCursor *pCur = (ScanCursor *)pCursor;
  const VgPiiFinding *x = &pCur->f.a[pCur->i];
  switch (iCol) {
    case COL_TYPE:
      sqlite3_result_text(ctx, pCur->azEntity[pCur->i], -1, SQLITE_TRANSIENT);
      break;
    case COL_START:
      sqlite3_result_int(ctx, x->cStart);
      break;
    case COL_END:
      sqlite3_result_int(ctx, x->cEnd);
      break;
    case COL_TEXT:
      sqlite3_result_text(ctx, pCur->zText + x->iStart, x->iEnd - x->iStart, SQLITE_TRANSIENT);
      break;
    case COL_SCORE:
      /* Rounded as vg_pii_detect prints it, so the two forms agree. */
      sqlite3_result_double(ctx, (double)(long long)(x->score * 100 + 0.5) / 100);
      break;
    case COL_INPUT:
      sqlite3_result_text(ctx, pCur->zText, pCur->nText, SQLITE_TRANSIENT);
      break;
    default:
      if (pCur->zOptions) sqlite3_result_text(ctx, pCur->zOptions, -1, SQLITE_TRANSIENT);
      break;
  }
  return SQLITE_OK;
}

static int scan_rowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid) {
  *pRowid = ((ScanCursor *)pCursor)->i + 1;
  return SQLITE_OK;
}

const sqlite3_module vg_pii_scan_module = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = scan_connect,
    .xBestIndex = scan_best_index,
    .xDisconnect = scan_disconnect,
    .xDestroy = scan_disconnect,
    .xOpen = scan_open,
    .xClose = scan_close,
    .xFilter = scan_filter,
    .xNext = scan_next,
    .xEof = scan_eof,
    .xColumn = scan_column,
    .xRowid = scan_rowid,
};
