/*
** chunk.c — vg_chunk, a text cut into pieces of at most max_tokens tokens,
** each sharing its first overlap tokens with the end of the one before:
**
**   SELECT chunk_index, start, "end", tokens, text
**     FROM vg_chunk(text, max_tokens [, overlap]);
**
** Tokens are runs of non-whitespace (vg_tokens in embed.h), as the
** embedders count them, so a chunk of max_tokens tokens fits an embedder
** whose window is that long.  A chunk's text runs from its first token's
** first byte to its last token's last byte: chunks never split a character,
** and the text between tokens is kept.  start and end are 0-based character
** offsets, end exclusive, as in vg_pii_scan.  An eponymous-only table.
*/
#include "base/base.h"

#include <string.h>

#include "embed/embed.h"

#define COL_INDEX 0
#define COL_START 1
#define COL_END 2
#define COL_TOKENS 3
#define COL_TEXT 4
#define COL_INPUT 5
#define COL_MAX 6
#define COL_OVERLAP 7

/* Largest max_tokens accepted. */
#define CHUNK_MAX_TOKENS 1000000

int vg_chunk_spans(const char *z, int n, int nMax, int nOverlap, int **paStart, int **paEnd, int *pnChunk) {
  *paStart = *paEnd = 0;
  *pnChunk = 0;
  int nTok = vg_tokens(z, n, 0, 0, 0);
  int nStep = nMax - nOverlap;
  /* Chunks start at tokens 0, nStep, 2*nStep, ... until one reaches the end. */
  int nChunk = nTok <= nMax ? (nTok > 0) : 1 + (nTok - nMax + nStep - 1) / nStep;
  int *aTok = sqlite3_malloc64(sizeof(int) * 2 * ((size_t)nTok + 1));
  int *aSpan = sqlite3_malloc64(sizeof(int) * 2 * ((size_t)nChunk + 1));
  if (aTok == 0 || aSpan == 0) {
    sqlite3_free(aTok);
    sqlite3_free(aSpan);
    return SQLITE_NOMEM;
  }
  int *aTokEnd = aTok + nTok + 1;
  vg_tokens(z, n, nTok, aTok, aTokEnd);
  for (int k = 0; k < nChunk; k++) {
    int iFirst = k * nStep, iLast = iFirst + nMax - 1;
    if (iLast > nTok - 1) iLast = nTok - 1;
    aSpan[k] = aTok[iFirst];
    aSpan[nChunk + 1 + k] = aTokEnd[iLast];
  }
  sqlite3_free(aTok);
  *paStart = aSpan;
  *paEnd = aSpan + nChunk + 1;
  *pnChunk = nChunk;
  return SQLITE_OK;
}

typedef struct ChunkCursor {
  sqlite3_vtab_cursor base;
  char *zText; /* a copy of the input */
  int nText;
  int *aStart, *aEnd;   /* the chunks' byte offsets (vg_chunk_spans) */
  int *aCStart, *aCEnd; /* the same as character offsets */
  int nChunk;
  int nTok; /* tokens in the text */
  int nMax, nOverlap;
  int iChunk; /* the current chunk */
} ChunkCursor;

static int chunk_connect(sqlite3 *db, void *pAux, int argc, const char *const *argv,
                         sqlite3_vtab **ppVtab, char **pzErr) {
  (void)pAux;
  (void)argc;
  (void)argv;
  (void)pzErr;
  int rc = sqlite3_declare_vtab(db,
                                "CREATE TABLE x(chunk_index INTEGER, start INTEGER, \"end\" INTEGER, "
                                "tokens INTEGER, text TEXT, input HIDDEN, max_tokens HIDDEN, "
                                "overlap HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  sqlite3_vtab *v = sqlite3_malloc64(sizeof(*v));
  if (v == 0) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  sqlite3_vtab_config(db, SQLITE_VTAB_INNOCUOUS);
  *ppVtab = v;
  return SQLITE_OK;
}

static int chunk_disconnect(sqlite3_vtab *pVtab) {
  sqlite3_free(pVtab);
  return SQLITE_OK;
}

/* The text and max_tokens must be given, overlap may be: idxNum is 1
** with it, 0 without, -1 for a plan that lacks a required argument. */
static int chunk_best_index(sqlite3_vtab *pVtab, sqlite3_index_info *p) {
  (void)pVtab;
  int aiArg[3] = {-1, -1, -1};
  for (int i = 0; i < p->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &p->aConstraint[i];
    if (c->op != SQLITE_INDEX_CONSTRAINT_EQ || c->iColumn < COL_INPUT) continue;
    if (!c->usable) return SQLITE_CONSTRAINT;
    aiArg[c->iColumn - COL_INPUT] = i;
  }
  if (aiArg[0] < 0 || aiArg[1] < 0) {
    p->idxNum = -1;
    p->estimatedCost = 1e99;
    return SQLITE_OK;
  }
  for (int k = 0; k < 3; k++) {
    if (aiArg[k] < 0) continue;
    p->aConstraintUsage[aiArg[k]].argvIndex = k + 1;
    p->aConstraintUsage[aiArg[k]].omit = 1;
  }
  p->idxNum = aiArg[2] >= 0;
  p->estimatedCost = 100;
  p->estimatedRows = 10;
  return SQLITE_OK;
}

static int chunk_open(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  (void)pVtab;
  ChunkCursor *pCur = sqlite3_malloc64(sizeof(*pCur));
  if (pCur == 0) return SQLITE_NOMEM;
  memset(pCur, 0, sizeof(*pCur));
  *ppCursor = &pCur->base;
  return SQLITE_OK;
}

static void cursor_reset(ChunkCursor *pCur) {
  sqlite3_free(pCur->zText);
  sqlite3_free(pCur->aStart);
  sqlite3_free(pCur->aCStart);
  memset((char *)pCur + sizeof(pCur->base), 0, sizeof(*pCur) - sizeof(pCur->base));
}

static int chunk_close(sqlite3_vtab_cursor *pCursor) {
  cursor_reset((ChunkCursor *)pCursor);
  sqlite3_free(pCursor);
  return SQLITE_OK;
}

/* An integer argument from nLo to nHi. */
static int int_arg(sqlite3_value *p, int nLo, int nHi, int *pOut) {
  sqlite3_int64 v;
  if (!vg_int_value(p, &v)) return 0;
  if (v < nLo || v > nHi) return 0;
  *pOut = (int)v;
  return 1;
}

static int read_args(sqlite3_vtab_cursor *pCursor, int argc, sqlite3_value **argv) {
  ChunkCursor *pCur = (ChunkCursor *)pCursor;
  int iBad = !int_arg(argv[1], 1, CHUNK_MAX_TOKENS, &pCur->nMax) ? 1
             : argc > 2 && !int_arg(argv[2], 0, pCur->nMax - 1, &pCur->nOverlap) ? 2 : 0;
  if (iBad) {
    char *zGot = vg_value_describe(argv[iBad]);
    int rc = zGot == 0 ? SQLITE_NOMEM
             : iBad == 1 ? vg_tvf_error(pCursor->pVtab, "vg_chunk", "max_tokens must be a whole number from 1 to %d; got %s",
                                        CHUNK_MAX_TOKENS, zGot)
                         : vg_tvf_error(pCursor->pVtab, "vg_chunk",
                                        "overlap must be a whole number from 0 to max_tokens - 1; got %s", zGot);
    sqlite3_free(zGot);
    return rc;
  }
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return SQLITE_DONE;
  const char *z = 0;
  int n = 0;
  char *zErr = 0;
  int rc = vg_text_value(argv[0], "the text", VG_TEXT_BODY, &z, &n, &zErr);
  if (rc == SQLITE_ERROR) rc = vg_tvf_error(pCursor->pVtab, "vg_chunk", "%s", zErr);
  sqlite3_free(zErr);
  if (rc != SQLITE_OK) return rc;
  pCur->zText = sqlite3_malloc64((size_t)n + 1);
  if (pCur->zText == 0) return SQLITE_NOMEM;
  memcpy(pCur->zText, z, (size_t)n + 1);
  pCur->nText = n;
  return SQLITE_OK;
}

/* aChar[k]: the characters before byte aByte[k], for n ascending offsets. */
static void char_offsets(const char *z, const int *aByte, int n, int *aChar) {
  int iByte = 0, nChar = 0;
  for (int k = 0; k < n; k++) {
    nChar += vg_utf8_count(z + iByte, aByte[k] - iByte);
    iByte = aByte[k];
    aChar[k] = nChar;
  }
}

/* The chunks' byte offsets, and their character offsets. */
static int find_chunks(ChunkCursor *pCur) {
  int rc = vg_chunk_spans(pCur->zText, pCur->nText, pCur->nMax, pCur->nOverlap, &pCur->aStart, &pCur->aEnd,
                          &pCur->nChunk);
  if (rc != SQLITE_OK) return rc;
  pCur->aCStart = sqlite3_malloc64(sizeof(int) * 2 * ((size_t)pCur->nChunk + 1));
  if (pCur->aCStart == 0) return SQLITE_NOMEM;
  pCur->aCEnd = pCur->aCStart + pCur->nChunk + 1;
  char_offsets(pCur->zText, pCur->aStart, pCur->nChunk, pCur->aCStart);
  char_offsets(pCur->zText, pCur->aEnd, pCur->nChunk, pCur->aCEnd);
  pCur->nTok = vg_tokens(pCur->zText, pCur->nText, 0, 0, 0);
  return SQLITE_OK;
}

static int chunk_filter(sqlite3_vtab_cursor *pCursor, int idxNum, const char *idxStr, int argc,
                        sqlite3_value **argv) {
  (void)idxStr;
  ChunkCursor *pCur = (ChunkCursor *)pCursor;
  cursor_reset(pCur);
  if (idxNum < 0) {
    return vg_tvf_error(pCursor->pVtab, "vg_chunk", "give the text and max_tokens, as in vg_chunk(text, 256, 32)");
  }
  int rc = read_args(pCursor, argc, argv);
  if (rc == SQLITE_DONE) return SQLITE_OK;
  return rc == SQLITE_OK ? find_chunks(pCur) : rc;
}

static int chunk_next(sqlite3_vtab_cursor *pCursor) {
  ((ChunkCursor *)pCursor)->iChunk++;
  return SQLITE_OK;
}

static int chunk_eof(sqlite3_vtab_cursor *pCursor) {
  ChunkCursor *pCur = (ChunkCursor *)pCursor;
  return pCur->iChunk >= pCur->nChunk;
}

static int chunk_column(sqlite3_vtab_cursor *pCursor, sqlite3_context *ctx, int iCol) {
  ChunkCursor *pCur = (ChunkCursor *)pCursor;
  int k = pCur->iChunk, s = pCur->aStart[k], e = pCur->aEnd[k];
  int nLeft = pCur->nTok - k * (pCur->nMax - pCur->nOverlap);
  switch (iCol) {
    case COL_INDEX:
      sqlite3_result_int(ctx, k);
      break;
    case COL_START:
      sqlite3_result_int(ctx, pCur->aCStart[k]);
      break;
    case COL_END:
      sqlite3_result_int(ctx, pCur->aCEnd[k]);
      break;
    case COL_TOKENS:
      sqlite3_result_int(ctx, nLeft < pCur->nMax ? nLeft : pCur->nMax);
      break;
    case COL_TEXT:
      sqlite3_result_text(ctx, pCur->zText + s, e - s, SQLITE_TRANSIENT);
      break;
    case COL_INPUT:
      sqlite3_result_text(ctx, pCur->zText, pCur->nText, SQLITE_TRANSIENT);
      break;
    case COL_MAX:
      sqlite3_result_int(ctx, pCur->nMax);
      break;
    default:
      sqlite3_result_int(ctx, pCur->nOverlap);
      break;
  }
  return SQLITE_OK;
}

static int chunk_rowid(sqlite3_vtab_cursor *pCursor, sqlite3_int64 *pRowid) {
  *pRowid = ((ChunkCursor *)pCursor)->iChunk + 1;
  return SQLITE_OK;
}

const sqlite3_module vg_chunk_module = {
    .iVersion = 0,
    .xCreate = 0, /* eponymous only */
    .xConnect = chunk_connect,
    .xBestIndex = chunk_best_index,
    .xDisconnect = chunk_disconnect,
    .xDestroy = chunk_disconnect,
    .xOpen = chunk_open,
    .xClose = chunk_close,
    .xFilter = chunk_filter,
    .xNext = chunk_next,
    .xEof = chunk_eof,
    .xColumn = chunk_column,
    .xRowid = chunk_rowid,
};
