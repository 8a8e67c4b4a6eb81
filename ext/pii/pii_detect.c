/*
** pii_detect.c — the PII engine: compiling recognizers with PCRE2's JIT,
** scanning a text with them, scoring by context, and resolving overlaps
** (see pii.h).
*/
#include "pii/pii.h"
#include "base/base.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct VgPiiEngine {
  int n;
  const VgPiiRecognizer *aRec;
  pcre2_code **apCode;
  int *abJit;  /* JIT compiled: use pcre2_jit_match */
  int *aGroup; /* the group named "pii", or 0 for the whole match */
  uint32_t nMaxGroup; /* the most capture groups of any pattern */
  unsigned maskAll;   /* the triggers of all recognizers */
};

void vg_pii_findings_free(VgPiiFindings *p) {
  sqlite3_free(p->a);
  memset(p, 0, sizeof(*p));
}

int vg_pii_findings_add(VgPiiFindings *p, const VgPiiFinding *f) {
  if (p->n == p->nAlloc) {
    int nNew = p->nAlloc ? 2 * p->nAlloc : 16;
    VgPiiFinding *a = sqlite3_realloc64(p->a, sizeof(VgPiiFinding) * (size_t)nNew);
    if (a == 0) return SQLITE_NOMEM;
    p->a = a;
    p->nAlloc = nNew;
  }
  p->a[p->n++] = *f;
  return SQLITE_OK;
}

void vg_pii_engine_free(VgPiiEngine *e) {
  if (e == 0) return;
  for (int i = 0; i < e->n; i++) pcre2_code_free(e->apCode[i]);
  sqlite3_free(e->apCode);
  sqlite3_free(e->abJit);
  sqlite3_free(e->aGroup);
  sqlite3_free(e);
}

/* Compile one pattern; 0 with *pzErr (PCRE2's message and offset) if bad. */
static pcre2_code *compile_pattern(const char *zPattern, char **pzErr) {
  int err = 0;
  PCRE2_SIZE off = 0;
  pcre2_code *pCode = pcre2_compile((PCRE2_SPTR)zPattern, PCRE2_ZERO_TERMINATED,
                                    PCRE2_UTF | PCRE2_NO_UTF_CHECK, &err, &off, 0);
  if (pCode == 0) {
    PCRE2_UCHAR zMsg[256];
    pcre2_get_error_message(err, zMsg, sizeof zMsg);
    *pzErr = sqlite3_mprintf("bad pattern at offset %d: %s", (int)off, (const char *)zMsg);
  }
  return pCode;
}

int vg_pii_pattern_check(const char *zPattern, char **pzErr) {
  if (!vg_utf8_valid(zPattern, (int)strlen(zPattern), 0)) {
    *pzErr = sqlite3_mprintf("bad pattern: not valid UTF-8");
    return SQLITE_ERROR;
  }
  pcre2_code *pCode = compile_pattern(zPattern, pzErr);
  if (pCode == 0) return *pzErr ? SQLITE_ERROR : SQLITE_NOMEM;
  pcre2_code_free(pCode);
  return SQLITE_OK;
}

int vg_pii_engine_new(const VgPiiRecognizer *a, int n, VgPiiEngine **ppEngine, char **pzErr) {
  *ppEngine = 0;
  VgPiiEngine *e = sqlite3_malloc64(sizeof(*e));
  if (e == 0) return SQLITE_NOMEM;
  memset(e, 0, sizeof(*e));
  e->aRec = a;
  e->apCode = sqlite3_malloc64(sizeof(pcre2_code *) * (size_t)(n + 1));
  e->abJit = sqlite3_malloc64(sizeof(int) * (size_t)(n + 1));
  e->aGroup = sqlite3_malloc64(sizeof(int) * (size_t)(n + 1));
  if (e->apCode == 0 || e->abJit == 0 || e->aGroup == 0) {
    vg_pii_engine_free(e);
    return SQLITE_NOMEM;
  }
  for (int i = 0; i < n; i++) {
    char *zErr = 0;
    pcre2_code *pCode = compile_pattern(a[i].zPattern, &zErr);
    if (pCode == 0) {
      *pzErr = sqlite3_mprintf("recognizer %s: %s", a[i].zName, zErr);
      sqlite3_free(zErr);
      vg_pii_engine_free(e);
      return SQLITE_ERROR;
    }
    e->apCode[e->n] = pCode;
    /* Without JIT (an unsupported CPU) the interpreter gives the same answers. */
    e->abJit[e->n] = pcre2_jit_compile(pCode, PCRE2_JIT_COMPLETE) == 0;
    int g = pcre2_substring_number_from_name(pCode, (PCRE2_SPTR) "pii");
    e->aGroup[e->n] = g > 0 ? g : 0;
    uint32_t nGroup = 0;
    pcre2_pattern_info(pCode, PCRE2_INFO_CAPTURECOUNT, &nGroup);
    if (nGroup > e->nMaxGroup) e->nMaxGroup = nGroup;
    e->maskAll |= 1u << a[i].trigger;
    e->n++;
  }
  *ppEngine = e;
  return SQLITE_OK;
}

/* ---- context ------------------------------------------------------------ */

/* Bytes of text looked at before and after a finding for context words
** (about five words each way). */
#define CONTEXT_BEFORE 48
#define CONTEXT_AFTER 32

static int is_word_byte(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

/* Does word w (nw bytes, lower case) occur as a whole word in a[0..n)?
** (Every candidate finding asks, for each of its words: memchr finds the
** places the first byte stands.) */
static int has_word(const unsigned char *a, int n, const char *w, int nw) {
  if (nw > n) return 0;
  const unsigned char *p = a, *pEnd = a + n - nw + 1;
  for (; p < pEnd && (p = memchr(p, (unsigned char)w[0], (size_t)(pEnd - p))) != 0; p++) {
    int i = (int)(p - a);
    if (memcmp(p + 1, w + 1, (size_t)nw - 1) != 0) continue;
    if ((i == 0 || !is_word_byte(a[i - 1])) && (i + nw == n || !is_word_byte(a[i + nw]))) {
      return 1;
    }
  }
  return 0;
}

/* Is one of zContext's words near bytes [s, e) of z? */
static int near_context(const char *z, int n, int s, int e, const char *zContext) {
  unsigned char a[CONTEXT_BEFORE + CONTEXT_AFTER + 1];
  int nA = 0;
  int from = s > CONTEXT_BEFORE ? s - CONTEXT_BEFORE : 0;
  int to = e + CONTEXT_AFTER < n ? e + CONTEXT_AFTER : n;
  for (int i = from; i < s; i++) {
    unsigned char c = (unsigned char)z[i];
    a[nA++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
  }
  a[nA++] = ' '; /* the finding itself is not context */
  for (int i = e; i < to; i++) {
    unsigned char c = (unsigned char)z[i];
    a[nA++] = c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
  }
  for (const char *w = zContext; *w;) {
    const char *wEnd = strchr(w, '|');
    int nw = wEnd ? (int)(wEnd - w) : (int)strlen(w);
    if (nw > 0 && has_word(a, nA, w, nw)) return 1;
    w += nw + (wEnd != 0);
  }
  return 0;
}

/* ---- scanning ----------------------------------------------------------- */

static int wanted(const VgPiiRecognizer *r, const VgPiiOptions *o) {
  if (o->lang && (r->flags & (VG_PII_LANG_EN | VG_PII_LANG_ES)) && !(r->flags & o->lang)) return 0;
  if (o->azEntity == 0) return 1;
  for (int i = 0; i < o->nEntity; i++) {
    if (strcmp(o->azEntity[i], r->zEntity) == 0) return 1;
  }
  return 0;
}

/* The next character boundary after byte i. */
static int next_char(const char *z, int n, int i) {
  i++;
  while (i < n && ((unsigned char)z[i] & 0xC0) == 0x80) i++;
  return i;
}

/* A PCRE2 resource limit: an error, never a silent miss. */
static int match_error(const VgPiiRecognizer *r, int m, int at, char **pzErr) {
  PCRE2_UCHAR zMsg[256];
  pcre2_get_error_message(m, zMsg, sizeof zMsg);
  *pzErr = sqlite3_mprintf("recognizer %s failed at byte %d: %s", r->zName, at, (const char *)zMsg);
  return SQLITE_ERROR;
}

/* Run recognizer i over bytes [from, to) of z (n bytes in all: context
** words and look-behinds see the whole text), appending confirmed, scored
** candidates. */
static int scan_window(VgPiiEngine *e, int i, const char *z, int n, int from, int to,
                       const VgPiiOptions *o, pcre2_match_data *md, VgPiiFindings *pCand,
                       VgPiiFindings *pClaim, char **pzErr) {
  const VgPiiRecognizer *r = &e->aRec[i];
  PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
  int start = from, rc = SQLITE_OK;
  while (start < to && rc == SQLITE_OK) {
    int m = e->abJit[i] ? pcre2_jit_match(e->apCode[i], (PCRE2_SPTR)z, (PCRE2_SIZE)to,
                                          (PCRE2_SIZE)start, PCRE2_NO_UTF_CHECK, md, 0)
                        : pcre2_match(e->apCode[i], (PCRE2_SPTR)z, (PCRE2_SIZE)to,
                                      (PCRE2_SIZE)start, PCRE2_NO_UTF_CHECK, md, 0);
    if (m == PCRE2_ERROR_NOMATCH) break;
    if (m < 0) return match_error(r, m, start, pzErr);
    int ms = (int)ov[0], me = (int)ov[1];
    if (to < n && me + 16 >= to) {
      /* The match may owe something to the window's end (a word that
      ** seemed to stop there): it counts only as the whole text has it. */
      m = pcre2_match(e->apCode[i], (PCRE2_SPTR)z, (PCRE2_SIZE)n, (PCRE2_SIZE)ms,
                      PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, md, 0);
      if (m == PCRE2_ERROR_NOMATCH) {
        start = next_char(z, to, ms);
        continue;
      }
      if (m < 0) return match_error(r, m, ms, pzErr);
      me = (int)ov[1];
    }
    int g = e->aGroup[i];
    if (g >= m || ov[2 * g] == PCRE2_UNSET) g = 0;
    int s = (int)ov[2 * g], f = (int)ov[2 * g + 1];
    if (r->flags & VG_PII_TRIM_PUNCT) {
      while (f > s && strchr(".,;:!?)]'\"", z[f - 1])) f--;
    }
    int bOk = f > s && (r->check == 0 || r->check(z + s, f - s));
    int bShrunk = 0;
    for (int k = f - 1; !bOk && (r->flags & VG_PII_SHRINK) && k > s; k--) {
      if (z[k] != ' ' && z[k] != '-') continue;
      int e2 = k;
      while (e2 > s && (z[e2 - 1] == ' ' || z[e2 - 1] == '-')) e2--;
      if (e2 > s && r->check(z + s, e2 - s)) {
        f = e2;
        bOk = bShrunk = 1;
      }
    }
    if (r->flags & VG_PII_CLAIM) {
      VgPiiFinding fd = {.zEntity = r->zEntity, .iRecognizer = i, .iStart = s, .iEnd = f};
      rc = vg_pii_findings_add(pClaim, &fd);
    }
    if (bOk && pCand) {
      double score = r->score;
      int bContext = r->zContext && near_context(z, n, s, f, r->zContext);
      if (bContext) {
        score += VG_PII_CONTEXT_BOOST;
        if (score < VG_PII_CONTEXT_FLOOR) score = VG_PII_CONTEXT_FLOOR;
        if (score > 1.0) score = 1.0;
      }
      if ((r->flags & VG_PII_NEEDS_CONTEXT) && !bContext) bOk = 0;
      if (bOk && score >= o->minScore) {
        VgPiiFinding fd = {.zEntity = r->zEntity, .iRecognizer = i, .iStart = s, .iEnd = f, .score = score};
        rc = vg_pii_findings_add(pCand, &fd);
      }
    }
    /* A confirmed finding is passed over; an unconfirmed match may hide a
    ** real one starting inside it. */
    start = bShrunk ? f : bOk && me > ms ? me : next_char(z, to, ms);
  }
  return rc;
}

/* Drop the candidates of VG_PII_YIELD recognizers that overlap a claim. */
static void drop_yielding(const VgPiiEngine *e, VgPiiFindings *pCand, const VgPiiFindings *pClaim) {
  if (pClaim->n == 0) return;
  int m = 0;
  for (int i = 0; i < pCand->n; i++) {
    const VgPiiFinding *f = &pCand->a[i];
    int bDrop = 0;
    if (!f->bFromModel && (e->aRec[f->iRecognizer].flags & VG_PII_YIELD)) {
      for (int k = 0; k < pClaim->n && !bDrop; k++) {
        bDrop = f->iStart < pClaim->a[k].iEnd && pClaim->a[k].iStart < f->iEnd;
      }
    }
    if (!bDrop) pCand->a[m++] = *f;
  }
  pCand->n = m;
}

static int by_priority(const void *x, const void *y) {
  const VgPiiFinding *a = x, *b = y;
  /* A name a model found inside a URL or an address must not take the
  ** place of the whole, which a pattern confirmed. */
  if (a->bFromModel != b->bFromModel) return a->bFromModel - b->bFromModel;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  int la = a->iEnd - a->iStart, lb = b->iEnd - b->iStart;
  if (la != lb) return la > lb ? -1 : 1;
  if (a->iStart != b->iStart) return a->iStart < b->iStart ? -1 : 1;
  return a->iRecognizer - b->iRecognizer;
}

static int by_position(const void *x, const void *y) {
  const VgPiiFinding *a = x, *b = y;
  return a->iStart < b->iStart ? -1 : a->iStart > b->iStart;
}

/* Keep the candidates that win their overlaps, in text order, with their
** character offsets. */
static int resolve(const char *z, VgPiiFindings *pCand, VgPiiFindings *pOut) {
  if (pCand->n == 0) return SQLITE_OK;
  qsort(pCand->a, (size_t)pCand->n, sizeof(VgPiiFinding), by_priority);
  /* Which bytes a kept finding covers, over the span the candidates cover
  ** (a bit each: the span can be the whole text). */
  int lo = pCand->a[0].iStart, hi = pCand->a[0].iEnd;
  for (int i = 1; i < pCand->n; i++) {
    if (pCand->a[i].iStart < lo) lo = pCand->a[i].iStart;
    if (pCand->a[i].iEnd > hi) hi = pCand->a[i].iEnd;
  }
  size_t nTaken = (size_t)(hi - lo) / 8 + 1;
  unsigned char *aTaken = sqlite3_malloc64(nTaken);
  if (aTaken == 0) return SQLITE_NOMEM;
  memset(aTaken, 0, nTaken);
  int nFirst = pOut->n, rc = SQLITE_OK;
  for (int i = 0; i < pCand->n && rc == SQLITE_OK; i++) {
    VgPiiFinding *f = &pCand->a[i];
    int bFree = 1;
    for (int k = f->iStart - lo; k < f->iEnd - lo && bFree; k++) bFree = !(aTaken[k / 8] & (1u << (k % 8)));
    if (!bFree) continue;
    for (int k = f->iStart - lo; k < f->iEnd - lo; k++) aTaken[k / 8] |= (unsigned char)(1u << (k % 8));
    rc = vg_pii_findings_add(pOut, f);
  }
  sqlite3_free(aTaken);
  if (rc != SQLITE_OK) return rc;
  VgPiiFinding *a = pOut->a + nFirst;
  int m = pOut->n - nFirst;
  qsort(a, (size_t)m, sizeof(VgPiiFinding), by_position);
  /* One walk over the text turns byte offsets into character offsets. */
  int iByte = 0, iChar = 0;
  for (int j = 0; j < m; j++) {
    iChar += vg_utf8_count(z + iByte, a[j].iStart - iByte);
    iByte = a[j].iStart;
    a[j].cStart = iChar;
    a[j].cEnd = iChar + vg_utf8_count(z + a[j].iStart, a[j].iEnd - a[j].iStart);
  }
  return SQLITE_OK;
}

/* A scan keeps the triggers it needs as bits of an unsigned. */
_Static_assert(VG_PII_TRIGGER_COUNT <= 32, "a trigger mask holds 32 triggers");

int vg_pii_engine_scan(VgPiiEngine *e, const char *z, int n, const VgPiiOptions *pOpt,
                       VgPiiFindings *pOut, char **pzErr) {
  static const VgPiiOptions defaults = {0};
  const VgPiiOptions *o = pOpt ? pOpt : &defaults;
  VgPiiWindows aWin[VG_PII_TRIGGER_COUNT];
  memset(aWin, 0, sizeof aWin);
  /* Without a filter every recognizer runs (one call per short row is
  ** common: no per-recognizer test then). */
  int bAll = o->lang == 0 && o->azEntity == 0;
  unsigned mask = bAll ? e->maskAll : 0;
  /* A recognizer that claims runs even when its type is not wanted: its
  ** claims hold whatever is asked for. */
  for (int i = 0; i < e->n && !bAll; i++) {
    if (wanted(&e->aRec[i], o) || (e->aRec[i].flags & VG_PII_CLAIM)) mask |= 1u << e->aRec[i].trigger;
  }
  mask &= ~1u; /* VG_PII_ANYWHERE has no windows */
  if (o->bWholeText) mask = 0;
  int rc = mask ? vg_pii_find_triggers(z, n, mask, aWin) : SQLITE_OK;
  pcre2_match_data *md = rc == SQLITE_OK ? pcre2_match_data_create(e->nMaxGroup + 1, 0) : 0;
  if (md == 0) rc = SQLITE_NOMEM;
  VgPiiFindings cand = {0, 0, 0}, claim = {0, 0, 0};
  for (int i = 0; i < e->n && rc == SQLITE_OK; i++) {
    const VgPiiRecognizer *r = &e->aRec[i];
    VgPiiFindings *pCand = &cand;
    if (!bAll && !wanted(r, o)) {
      if (!(r->flags & VG_PII_CLAIM)) continue;
      pCand = 0; /* its claims only */
    }
    if (!(mask & (1u << r->trigger))) {
      rc = scan_window(e, i, z, n, 0, n, o, md, pCand, &claim, pzErr);
      continue;
    }
    const VgPiiWindows *w = &aWin[r->trigger];
    for (int k = 0; k < w->n && rc == SQLITE_OK; k++) {
      rc = scan_window(e, i, z, n, w->a[2 * k], w->a[2 * k + 1], o, md, pCand, &claim, pzErr);
    }
  }
  drop_yielding(e, &cand, &claim);
  for (int i = 0; i < o->nExtra && rc == SQLITE_OK; i++) {
    VgPiiFinding f = o->aExtra[i];
    VgPiiRecognizer r = {0};
    r.zEntity = f.zEntity;
    if (f.score < o->minScore || (o->azEntity && !wanted(&r, o))) continue;
    f.iRecognizer = e->n + i;
    f.bFromModel = 1;
    rc = vg_pii_findings_add(&cand, &f);
  }
  if (rc == SQLITE_OK) rc = resolve(z, &cand, pOut);
  vg_pii_findings_free(&cand);
  vg_pii_findings_free(&claim);
  vg_pii_windows_free(aWin, VG_PII_TRIGGER_COUNT);
  pcre2_match_data_free(md);
  return rc;
}
