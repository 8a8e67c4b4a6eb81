/*
** bench_pii.c — the PII functions: quality on the labelled cases in
** ../shared/data/pii-labelled, redaction speed on 10 MB of mixed text, and
** pathological inputs; the npm package redact-pii on the same inputs in the
** same run (bench/peer_redact_pii.js, when VG_REDACT_PII names its
** node_modules folder).
**
** Scoring, as the data's README asks: a case from Presidio's tests labels
** only the entity type under test, so only findings of that type count
** there; a case marked incomplete is scored by count only (found vs
** expected, of that type); presidio-research rows are labelled with every
** type, so every finding counts.  A finding matches a labelled span of the
** same type when they overlap by at least half of the longer one; each span
** matches once.  presidio-research labels its URLs (https://host/path)
** DOMAIN_NAME; they are scored as URL.  As the README suggests, a span
** that Presidio's own test accepts with a score below 0.5 (a weak match:
** an unformatted number, a failed checksum) is optional: finding it or not
** changes nothing: column rec; column rec* counts them as required spans
** (found or missed), as a judge that takes every span may.
**
** The mixed text: abstracts from ../shared/data/beir-scifact (repeated to
** 10 MB) with one labelled case after every fourth abstract.
*/
#include "benchutil.h"

#include <math.h>

#define MAX_SPANS 64

typedef struct Span {
  char zType[40];
  int s, e;
  int bOptional; /* a weak match in Presidio's own test: neither hit nor miss */
} Span;

typedef struct Case {
  char *zText;
  char *zUnder; /* entity under test, or 0 */
  int nExpected, bComplete;
  Span aGold[MAX_SPANS];
  int nGold;
} Case;

typedef struct Tally {
  char zType[40];
  int gold, optional;
  int tp[2], fp[2], fn[2]; /* [0] vecguard, [1] redact-pii */
  int optHit;              /* vecguard: optional spans found */
} Tally;

static Tally aTally[256];
static int nTally;

static Tally *tally(const char *zType) {
  for (int i = 0; i < nTally; i++) {
    if (strcmp(aTally[i].zType, zType) == 0) return &aTally[i];
  }
  if (nTally == 256) bench_die("too many types", zType);
  Tally *t = &aTally[nTally++];
  memset(t, 0, sizeof *t);
  snprintf(t->zType, sizeof t->zType, "%.39s", zType);
  return t;
}

static int collect(sqlite3_stmt *p, Span *a, int nMax) {
  int n = 0;
  while (sqlite3_step(p) == SQLITE_ROW && n < nMax) {
    const char *z = (const char *)sqlite3_column_text(p, 0);
    snprintf(a[n].zType, sizeof a[n].zType, "%.39s", z ? z : "");
    a[n].s = sqlite3_column_int(p, 1);
    a[n].e = sqlite3_column_int(p, 2);
    a[n].bOptional = sqlite3_column_count(p) > 3 && sqlite3_column_type(p, 3) != SQLITE_NULL &&
                     sqlite3_column_double(p, 3) < 0.5;
    n++;
  }
  sqlite3_reset(p);
  return n;
}

static int overlaps(const Span *a, const Span *b) {
  int lo = a->s > b->s ? a->s : b->s, hi = a->e < b->e ? a->e : b->e;
  int la = a->e - a->s, lb = b->e - b->s;
  return hi > lo && 2 * (hi - lo) >= (la > lb ? la : lb);
}

static char *read_file(const char *zPath, long *pn) {
  FILE *f = fopen(zPath, "rb");
  if (f == 0) return 0;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *z = malloc((size_t)n + 1);
  if (fread(z, 1, (size_t)n, f) != (size_t)n) bench_die("cannot read", zPath);
  z[n] = 0;
  fclose(f);
  if (pn) *pn = n;
  return z;
}

static Case *read_cases(sqlite3 *db, const char *zPath, int *pn) {
  FILE *f = fopen(zPath, "r");
  if (f == 0) bench_die("cannot read", zPath);
  sqlite3_stmt *pCase, *pGold;
  if (sqlite3_prepare_v2(db,
                         "SELECT ?1 ->> '$.text', ?1 ->> '$.entity_under_test', "
                         "?1 ->> '$.expected_count', ?1 ->> '$.complete'",
                         -1, &pCase, 0) ||
      /* The lowest score Presidio's test accepts for the span: a number for
      ** all spans, or one number or [low, high] per span. */
      sqlite3_prepare_v2(db,
                         "SELECT value ->> '$.type', value ->> '$.start', value ->> '$.end', "
                         "CASE json_type(?1, '$.presidio_expected_score') "
                         "WHEN 'array' THEN coalesce(?1 ->> ('$.presidio_expected_score[' || key || '][0]'), "
                         "?1 ->> ('$.presidio_expected_score[' || key || ']')) "
                         "ELSE ?1 ->> '$.presidio_expected_score' END "
                         "FROM json_each(?1, '$.spans')",
                         -1, &pGold, 0)) {
    bench_die("prepare", sqlite3_errmsg(db));
  }
  static char line[1 << 16];
  int n = 0, nAlloc = 0;
  Case *a = 0;
  while (fgets(line, sizeof line, f)) {
    if (n == nAlloc) a = realloc(a, sizeof(Case) * (size_t)(nAlloc = nAlloc ? 2 * nAlloc : 1024));
    Case *c = &a[n++];
    memset(c, 0, sizeof *c);
    sqlite3_bind_text(pCase, 1, line, -1, SQLITE_STATIC);
    if (sqlite3_step(pCase) != SQLITE_ROW) bench_die("case", sqlite3_errmsg(db));
    c->zText = strdup((const char *)sqlite3_column_text(pCase, 0));
    if (sqlite3_column_type(pCase, 1) != SQLITE_NULL) {
      c->zUnder = strdup((const char *)sqlite3_column_text(pCase, 1));
    }
    c->nExpected = sqlite3_column_int(pCase, 2);
    c->bComplete = sqlite3_column_int(pCase, 3);
    sqlite3_reset(pCase);
    sqlite3_bind_text(pGold, 1, line, -1, SQLITE_STATIC);
    c->nGold = collect(pGold, c->aGold, MAX_SPANS);
    /* presidio-research writes its URLs (scheme, host, path) as DOMAIN_NAME. */
    for (int g = 0; g < c->nGold; g++) {
      if (strcmp(c->aGold[g].zType, "DOMAIN_NAME") == 0) strcpy(c->aGold[g].zType, "URL");
    }
  }
  fclose(f);
  sqlite3_finalize(pCase);
  sqlite3_finalize(pGold);
  *pn = n;
  return a;
}

/* Score one engine's findings on one case. */
static void score(const Case *c, const Span *aPred, int nPred, int iEngine, int bShow) {
  if (iEngine == 0) {
    if (c->zUnder && !c->bComplete) {
      tally(c->zUnder)->gold += c->nExpected;
    } else {
      for (int g = 0; g < c->nGold; g++) {
        if (c->aGold[g].bOptional) {
          tally(c->aGold[g].zType)->optional++;
        } else {
          tally(c->aGold[g].zType)->gold++;
        }
      }
    }
  }
  if (c->zUnder && !c->bComplete) {
    int nFound = 0;
    for (int i = 0; i < nPred; i++) nFound += strcmp(aPred[i].zType, c->zUnder) == 0;
    Tally *t = tally(c->zUnder);
    t->tp[iEngine] += nFound < c->nExpected ? nFound : c->nExpected;
    t->fp[iEngine] += nFound > c->nExpected ? nFound - c->nExpected : 0;
    t->fn[iEngine] += c->nExpected > nFound ? c->nExpected - nFound : 0;
    return;
  }
  int aUsed[MAX_SPANS] = {0};
  for (int i = 0; i < nPred; i++) {
    if (c->zUnder && strcmp(aPred[i].zType, c->zUnder) != 0) continue;
    int hit = -1;
    for (int g = 0; g < c->nGold && hit < 0; g++) {
      if (!aUsed[g] && strcmp(c->aGold[g].zType, aPred[i].zType) == 0 &&
          overlaps(&c->aGold[g], &aPred[i])) {
        hit = g;
      }
    }
    if (hit >= 0) {
      aUsed[hit] = 1;
      if (!c->aGold[hit].bOptional) tally(aPred[i].zType)->tp[iEngine]++;
      if (c->aGold[hit].bOptional && iEngine == 0) tally(aPred[i].zType)->optHit++;
    } else {
      tally(aPred[i].zType)->fp[iEngine]++;
      if (bShow) printf("  FP %s at %d..%d in: %s\n", aPred[i].zType, aPred[i].s, aPred[i].e, c->zText);
    }
  }
  for (int g = 0; g < c->nGold; g++) {
    if (aUsed[g] || c->aGold[g].bOptional) continue;
    tally(c->aGold[g].zType)->fn[iEngine]++;
    if (bShow) printf("  FN %s in: %s\n", c->aGold[g].zType, c->zText);
  }
}

static int recognized_type(sqlite3 *db, const char *zType) {
  sqlite3_stmt *p;
  sqlite3_prepare_v2(db, "SELECT vg_pii_detect('x', json_object('types', json_array(?1)))", -1, &p, 0);
  sqlite3_bind_text(p, 1, zType, -1, SQLITE_STATIC);
  int ok = sqlite3_step(p) == SQLITE_ROW;
  sqlite3_finalize(p);
  return ok;
}

static double ratio(int a, int b) { return b ? (double)a / b : NAN; }

/* Types that are not a country's: the rest are pooled as national
** identifiers. */
static int core_type(const char *zType) {
  static const char *const az[] = {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS",
                                   "URL", "MAC_ADDRESS", "CRYPTO", "DATE_TIME", "US_SSN", "SECRET",
                                   "PERSON", "LOCATION", "ORGANIZATION"};
  for (size_t i = 0; i < sizeof az / sizeof az[0]; i++) {
    if (strcmp(az[i], zType) == 0) return 1;
  }
  return 0;
}

static void print_quality(sqlite3 *db, int bPeer) {
  int nTp = 0, nFp = 0, nFn = 0, nOpt = 0, nOptHit = 0;
  printf("  %-28s %5s %4s | %-27s | %s\n", "", "", "", "vecguard", bPeer ? "redact-pii" : "");
  printf("  %-28s %5s %4s | %4s %4s %4s %4s %4s %4s | %s\n", "type", "spans", "opt", "TP", "FP", "FN", "prec",
         "rec", "rec*", bPeer ? "prec  rec" : "");
  int nBelow = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) printf("\n  not recognized by vecguard (need a language model or a gazetteer):\n");
    for (int i = 0; i < nTally; i++) {
      Tally *t = &aTally[i];
      int bOurs = recognized_type(db, t->zType);
      if (bOurs != (pass == 0)) continue;
      if (bOurs && !core_type(t->zType)) {
        nTp += t->tp[0], nFp += t->fp[0], nFn += t->fn[0], nOpt += t->optional, nOptHit += t->optHit;
      }
      double p = ratio(t->tp[0], t->tp[0] + t->fp[0]), r = ratio(t->tp[0], t->tp[0] + t->fn[0]);
      int bBelow = bOurs && ((t->tp[0] + t->fp[0] > 0 && p < 0.95) || (t->tp[0] + t->fn[0] > 0 && r < 0.95));
      nBelow += bBelow;
      /* rec*: the optional spans counted too, as if every span were required. */
      double rAll = ratio(t->tp[0] + t->optHit, t->tp[0] + t->fn[0] + t->optional);
      printf("  %-28s %5d %4d | %4d %4d %4d %4.2f %4.2f %4.2f |", t->zType, t->gold, t->optional, t->tp[0],
             t->fp[0], t->fn[0], p, r, rAll);
      if (bPeer && t->tp[1] + t->fp[1] > 0) {
        printf(" %4.2f %4.2f", ratio(t->tp[1], t->tp[1] + t->fp[1]), ratio(t->tp[1], t->tp[1] + t->fn[1]));
      } else if (bPeer) {
        printf("    - %4.2f", ratio(t->tp[1], t->tp[1] + t->fn[1]));
      }
      printf("%s\n", bBelow ? "   below 0.95" : "");
    }
  }
  printf("\n  %d recognized types below 0.95 precision or recall\n", nBelow);
  printf("  national identifiers pooled (recognized types but %s): prec %.2f rec %.2f rec* %.2f\n",
         "e-mail, phone, card, IBAN, IP, URL, MAC, crypto, date, SSN, secrets, names", ratio(nTp, nTp + nFp),
         ratio(nTp, nTp + nFn), ratio(nTp + nOptHit, nTp + nFn + nOpt));
}

/* 10 MB: abstracts, and a labelled case after every fourth. */
static char *mixed_text(sqlite3 *db, const char *zShared, const Case *aCase, int nCase, int *pn) {
  char zPath[1024];
  snprintf(zPath, sizeof zPath, "%s/data/beir-scifact/corpus.jsonl", zShared);
  FILE *f = fopen(zPath, "r");
  if (f == 0) bench_die("cannot read", zPath);
  sqlite3_stmt *p;
  sqlite3_prepare_v2(db, "SELECT ?1 ->> '$.text'", -1, &p, 0);
  sqlite3_str *s = sqlite3_str_new(0);
  static char line[1 << 20];
  int k = 0;
  while (sqlite3_str_length(s) < 10 << 20) {
    if (!fgets(line, sizeof line, f)) {
      rewind(f);
      continue;
    }
    sqlite3_bind_text(p, 1, line, -1, SQLITE_STATIC);
    if (sqlite3_step(p) == SQLITE_ROW) sqlite3_str_appendf(s, "%s\n\n", sqlite3_column_text(p, 0));
    sqlite3_reset(p);
    if (++k % 4 == 0) sqlite3_str_appendf(s, "%s\n\n", aCase[(k / 4) % nCase].zText);
  }
  fclose(f);
  sqlite3_finalize(p);
  *pn = sqlite3_str_length(s);
  return sqlite3_str_finish(s);
}

/* Seconds for one call of zSql on the text (best of nRun). */
static double time_call(sqlite3 *db, const char *zSql, const char *z, int n, int nRun, int *pnOut) {
  sqlite3_stmt *p;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0)) bench_die("prepare", sqlite3_errmsg(db));
  double best = 1e99;
  for (int r = 0; r < nRun; r++) {
    sqlite3_bind_text(p, 1, z, n, SQLITE_STATIC);
    double t0 = bench_now();
    if (sqlite3_step(p) != SQLITE_ROW) bench_die(zSql, sqlite3_errmsg(db));
    double t = bench_now() - t0;
    if (pnOut) *pnOut = sqlite3_column_bytes(p, 0);
    if (t < best) best = t;
    sqlite3_reset(p);
  }
  sqlite3_finalize(p);
  return best;
}

static void throughput(sqlite3 *db, const char *z, int n) {
  double mb = n / 1048576.0;
  int nOut = 0;
  double tRedact = time_call(db, "SELECT vg_pii_redact(?1)", z, n, 3, &nOut);
  double tDetect = time_call(db, "SELECT vg_pii_detect(?1)", z, n, 3, 0);
  double tHash = time_call(db, "SELECT vg_pii_redact(?1, '{\"operator\": \"hash\"}')", z, n, 3, 0);
  printf("  vg_pii_redact, one call on the whole text:      %7.1f MB/s  (%.3f s; %d bytes out)\n",
         mb / tRedact, tRedact, nOut);
  printf("  vg_pii_detect, one call:                        %7.1f MB/s\n", mb / tDetect);
  printf("  vg_pii_redact with operator hash:               %7.1f MB/s\n", mb / tHash);
  /* The same text as rows of a table, one call per paragraph. */
  bench_exec(db, "CREATE TEMP TABLE para(t TEXT)");
  sqlite3_stmt *pIns;
  sqlite3_prepare_v2(db, "INSERT INTO para VALUES (?1)", -1, &pIns, 0);
  bench_exec(db, "BEGIN");
  int nPara = 0;
  for (const char *p = z, *pEnd = z + n; p < pEnd;) {
    const char *q = strstr(p, "\n\n");
    if (q == 0 || q > pEnd) q = pEnd;
    sqlite3_bind_text(pIns, 1, p, (int)(q - p), SQLITE_STATIC);
    sqlite3_step(pIns);
    sqlite3_reset(pIns);
    nPara++;
    p = q + 2;
  }
  bench_exec(db, "COMMIT");
  sqlite3_finalize(pIns);
  sqlite3_stmt *pSum;
  sqlite3_prepare_v2(db, "SELECT sum(length(vg_pii_redact(t))) FROM para", -1, &pSum, 0);
  double best = 1e99;
  for (int r = 0; r < 3; r++) {
    double t0 = bench_now();
    sqlite3_step(pSum);
    double t = bench_now() - t0;
    sqlite3_reset(pSum);
    if (t < best) best = t;
  }
  sqlite3_finalize(pSum);
  printf("  vg_pii_redact per paragraph (%d rows):       %7.1f MB/s\n", nPara, mb / best);
}

/* Pathological inputs at 1 and 2 MB: time grows with size, not its square. */
static void pathological(sqlite3 *db) {
  static const struct {
    const char *zWhat, *zUnit;
  } a[] = {{"digits", "7"}, {"@", "@"}, {"no spaces", "a"}, {"digit, space", "9 "}, {"'1.'", "1."}};
  printf("  %-14s %10s %10s %8s\n", "input", "1 MB", "2 MB", "2MB/1MB");
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    double t[2];
    for (int k = 0; k < 2; k++) {
      int n = (1 << 20) * (k + 1), nUnit = (int)strlen(a[i].zUnit);
      char *z = malloc((size_t)n + 1);
      for (int j = 0; j < n; j++) z[j] = a[i].zUnit[j % nUnit];
      z[n] = 0;
      t[k] = time_call(db, "SELECT vg_pii_redact(?1)", z, n, 2, 0);
      free(z);
    }
    printf("  %-14s %8.1f ms %8.1f ms %8.2f\n", a[i].zWhat, t[0] * 1e3, t[1] * 1e3, t[1] / t[0]);
  }
}

/* redact-pii: spans per case and timings from peer_redact_pii.js. */
static int run_peer(sqlite3 *db, const char *zCases, const char *zText, int n, Case *aCase, int nCase) {
  const char *zModules = getenv("VG_REDACT_PII"), *zSrc = getenv("VG_BENCH_SRC");
  const char *zDir = getenv("VG_BENCH_DIR");
  if (zModules == 0 || zModules[0] == 0 || zSrc == 0 || zDir == 0) return 0;
  char zTextPath[1024], zOut[1024];
  snprintf(zTextPath, sizeof zTextPath, "%s/mixed.txt", zDir);
  snprintf(zOut, sizeof zOut, "%s/redact_pii.json", zDir);
  FILE *f = fopen(zTextPath, "wb");
  if (f == 0 || fwrite(zText, 1, (size_t)n, f) != (size_t)n) bench_die("cannot write", zTextPath);
  fclose(f);
  char *zCmd = sqlite3_mprintf("node '%s/peer_redact_pii.js' '%s' '%s' '%s' '%s'", zSrc, zModules,
                               zCases, zTextPath, zOut);
  int rc = system(zCmd);
  sqlite3_free(zCmd);
  char *zJson = rc == 0 ? read_file(zOut, 0) : 0;
  if (zJson == 0) return 0;
  sqlite3_stmt *p;
  sqlite3_prepare_v2(db,
                     "SELECT c.key, s.value ->> '$.type', s.value ->> '$.start', s.value ->> '$.end' "
                     "FROM json_each(?1, '$.cases') c LEFT JOIN json_each(c.value) s",
                     -1, &p, 0);
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  Span aPred[MAX_SPANS];
  int iCase = 0, nPred = 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    int k = sqlite3_column_int(p, 0);
    if (k != iCase) {
      if (iCase < nCase) score(&aCase[iCase], aPred, nPred, 1, 0);
      iCase = k;
      nPred = 0;
    }
    if (sqlite3_column_type(p, 1) != SQLITE_NULL && nPred < MAX_SPANS) {
      snprintf(aPred[nPred].zType, sizeof aPred[nPred].zType, "%.39s", sqlite3_column_text(p, 1));
      aPred[nPred].s = sqlite3_column_int(p, 2);
      aPred[nPred].e = sqlite3_column_int(p, 3);
      nPred++;
    }
  }
  if (iCase < nCase) score(&aCase[iCase], aPred, nPred, 1, 0);
  sqlite3_finalize(p);
  sqlite3_prepare_v2(db, "SELECT ?1 ->> '$.mixed.seconds', ?1 ->> '$.unaligned'", -1, &p, 0);
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  sqlite3_step(p);
  printf("  redact-pii, one call on the whole text:         %7.1f MB/s  (%.3f s; %d cases not aligned)\n",
         n / 1048576.0 / sqlite3_column_double(p, 0), sqlite3_column_double(p, 0),
         sqlite3_column_int(p, 1));
  sqlite3_finalize(p);
  printf("\n  redact-pii on pathological inputs (it backtracks; larger sizes take minutes):\n");
  sqlite3_prepare_v2(db,
                     "SELECT value ->> '$.what', value ->> '$.bytes', value ->> '$.seconds' FROM "
                     "json_each(?1, '$.patho')",
                     -1, &p, 0);
  sqlite3_bind_text(p, 1, zJson, -1, SQLITE_STATIC);
  while (sqlite3_step(p) == SQLITE_ROW) {
    printf("  %-14s %6d bytes %9.1f ms\n", sqlite3_column_text(p, 0), sqlite3_column_int(p, 1),
           sqlite3_column_double(p, 2) * 1e3);
  }
  sqlite3_finalize(p);
  free(zJson);
  return 1;
}

int main(void) {
  const char *zExt = getenv("VG_EXTENSION"), *zShared = getenv("VG_SHARED");
  if (zExt == 0) bench_die("VG_EXTENSION is not set (run make bench)", 0);
  if (zShared == 0) zShared = "../shared";
  char zPath[1024];
  snprintf(zPath, sizeof zPath, "%s/data/pii-labelled/pii_cases.jsonl", zShared);
  sqlite3 *db = bench_open(":memory:", zExt);
  bench_exec(db, "SELECT vg_pii_set_key(randomblob(32))");
  int nCase = 0;
  Case *aCase = read_cases(db, zPath, &nCase);

  sqlite3_stmt *pPred;
  sqlite3_prepare_v2(db,
                     "SELECT value ->> '$.type', value ->> '$.start', value ->> '$.end' "
                     "FROM json_each(vg_pii_detect(?1))",
                     -1, &pPred, 0);
  double t0 = bench_now();
  for (int i = 0; i < nCase; i++) {
    Span aPred[MAX_SPANS];
    sqlite3_bind_text(pPred, 1, aCase[i].zText, -1, SQLITE_STATIC);
    int nPred = collect(pPred, aPred, MAX_SPANS);
    score(&aCase[i], aPred, nPred, 0, getenv("VG_PII_SHOW") != 0);
  }
  double tCases = bench_now() - t0;
  sqlite3_finalize(pPred);

  int n = 0;
  char *zText = mixed_text(db, zShared, aCase, nCase, &n);
  printf("bench_pii: %d labelled cases from %s (%.2f s)\n", nCase, zPath, tCases);
  printf("\n== redaction speed: %.1f MB of abstracts from beir-scifact with a labelled case after "
         "every fourth, all recognizers, one core\n",
         n / 1048576.0);
  throughput(db, zText, n);
  int bPeer = run_peer(db, zPath, zText, n, aCase, nCase);
  if (!bPeer) printf("  (redact-pii did not run: left out)\n");
  printf("\n== pathological inputs, vg_pii_redact\n");
  pathological(db);
  printf("\n== quality on the labelled cases (precision and recall per type; presidio-research's "
         "DOMAIN_NAME spans, which are URLs, scored as URL)\n");
  print_quality(db, bPeer);
  sqlite3_free(zText);
  for (int i = 0; i < nCase; i++) {
    free(aCase[i].zText);
    free(aCase[i].zUnder);
  }
  free(aCase);
  sqlite3_close(db);
  return 0;
}
