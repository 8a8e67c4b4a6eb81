/*
** bench_pii.c — quality of vg_pii_detect on the labelled cases in
** ../shared/data/pii-labelled (see its README for the format).
**
** Scoring, as the README asks: a case from Presidio's tests labels only the
** entity type under test, so only findings of that type count there; a
** case marked incomplete is scored by count only (found vs expected, of
** that type); presidio-research rows are labelled with every type, so every
** finding counts.  A finding matches a labelled span of the same type when
** they overlap by at least half of the longer one; each span matches once.
** Prints per-type precision and recall over the types vecguard recognizes,
** and the recall of the others (which need a language model).
*/
#include "benchutil.h"

#include <math.h>

typedef struct Span {
  char zType[40];
  int s, e;
} Span;

typedef struct Tally {
  char zType[40];
  int tp, fp, fn, gold;
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

static int recognized_type(sqlite3 *db, const char *zType) {
  sqlite3_stmt *p;
  sqlite3_prepare_v2(db, "SELECT json_array_length(vg_pii_detect('x', json_object('types', json_array(?1))))",
                     -1, &p, 0);
  sqlite3_bind_text(p, 1, zType, -1, SQLITE_STATIC);
  int ok = sqlite3_step(p) == SQLITE_ROW;
  sqlite3_finalize(p);
  return ok;
}

int main(void) {
  const char *zExt = getenv("VG_EXTENSION"), *zShared = getenv("VG_SHARED");
  if (zExt == 0) bench_die("VG_EXTENSION is not set (run make bench)", 0);
  char zPath[1024];
  snprintf(zPath, sizeof zPath, "%s/data/pii-labelled/pii_cases.jsonl", zShared ? zShared : "../shared");
  FILE *f = fopen(zPath, "r");
  if (f == 0) bench_die("cannot read", zPath);
  sqlite3 *db = bench_open(":memory:", zExt);
  sqlite3_stmt *pCase, *pGold, *pPred;
  if (sqlite3_prepare_v2(db,
                         "SELECT json_extract(?1, '$.text'), json_extract(?1, '$.entity_under_test'), "
                         "json_extract(?1, '$.expected_count'), json_extract(?1, '$.complete')",
                         -1, &pCase, 0) ||
      sqlite3_prepare_v2(db,
                         "SELECT json_extract(value, '$.type'), json_extract(value, '$.start'), "
                         "json_extract(value, '$.end') FROM json_each(?1, '$.spans')",
                         -1, &pGold, 0) ||
      sqlite3_prepare_v2(db,
                         "SELECT json_extract(value, '$.type'), json_extract(value, '$.start'), "
                         "json_extract(value, '$.end') FROM json_each(vg_pii_detect(?1))",
                         -1, &pPred, 0)) {
    bench_die("prepare", sqlite3_errmsg(db));
  }
  static char line[1 << 16];
  int nCase = 0;
  double t0 = bench_now();
  while (fgets(line, sizeof line, f)) {
    Span aGold[64], aPred[64];
    sqlite3_bind_text(pCase, 1, line, -1, SQLITE_STATIC);
    if (sqlite3_step(pCase) != SQLITE_ROW) bench_die("case", sqlite3_errmsg(db));
    char *zText = sqlite3_mprintf("%s", sqlite3_column_text(pCase, 0));
    char *zUnder = sqlite3_column_type(pCase, 1) == SQLITE_NULL
                       ? 0
                       : sqlite3_mprintf("%s", sqlite3_column_text(pCase, 1));
    int nExpected = sqlite3_column_int(pCase, 2), bComplete = sqlite3_column_int(pCase, 3);
    sqlite3_reset(pCase);
    sqlite3_bind_text(pGold, 1, line, -1, SQLITE_STATIC);
    int nGold = collect(pGold, aGold, 64);
    sqlite3_bind_text(pPred, 1, zText, -1, SQLITE_STATIC);
    int nPred = collect(pPred, aPred, 64);
    nCase++;
    if (zUnder && !bComplete) {
      /* By count, of the type under test. */
      int nFound = 0;
      for (int i = 0; i < nPred; i++) nFound += strcmp(aPred[i].zType, zUnder) == 0;
      Tally *t = tally(zUnder);
      t->gold += nExpected;
      t->tp += nFound < nExpected ? nFound : nExpected;
      t->fp += nFound > nExpected ? nFound - nExpected : 0;
      t->fn += nExpected > nFound ? nExpected - nFound : 0;
    } else {
      int aUsed[64] = {0};
      for (int g = 0; g < nGold; g++) tally(aGold[g].zType)->gold++;
      for (int i = 0; i < nPred; i++) {
        if (zUnder && strcmp(aPred[i].zType, zUnder) != 0) continue;
        int hit = -1;
        for (int g = 0; g < nGold && hit < 0; g++) {
          if (!aUsed[g] && strcmp(aGold[g].zType, aPred[i].zType) == 0 && overlaps(&aGold[g], &aPred[i])) hit = g;
        }
        if (hit >= 0) {
          aUsed[hit] = 1;
          tally(aPred[i].zType)->tp++;
        } else {
          tally(aPred[i].zType)->fp++;
          if (getenv("VG_PII_SHOW")) {
            printf("  FP %s at %d..%d in: %s\n", aPred[i].zType, aPred[i].s, aPred[i].e, zText);
          }
        }
      }
      for (int g = 0; g < nGold; g++) {
        if (aUsed[g]) continue;
        tally(aGold[g].zType)->fn++;
        if (getenv("VG_PII_SHOW") && recognized_type(db, aGold[g].zType)) {
          printf("  FN %s in: %s\n", aGold[g].zType, zText);
        }
      }
    }
    sqlite3_free(zText);
    sqlite3_free(zUnder);
  }
  fclose(f);
  double sec = bench_now() - t0;
  printf("bench_pii: %d labelled cases from %s (%.2f s)\n\n", nCase, zPath, sec);
  printf("  %-28s %6s %6s %6s %6s %10s %8s\n", "type", "spans", "TP", "FP", "FN", "precision", "recall");
  int nBelow = 0;
  for (int pass = 0; pass < 2; pass++) {
    if (pass == 1) printf("\n  not recognized by vecguard (need a language model or a gazetteer):\n");
    for (int i = 0; i < nTally; i++) {
      Tally *t = &aTally[i];
      int bOurs = recognized_type(db, t->zType);
      if (bOurs != (pass == 0)) continue;
      double p = t->tp + t->fp ? (double)t->tp / (t->tp + t->fp) : NAN;
      double r = t->tp + t->fn ? (double)t->tp / (t->tp + t->fn) : NAN;
      printf("  %-28s %6d %6d %6d %6d %10.3f %8.3f%s\n", t->zType, t->gold, t->tp, t->fp, t->fn, p, r,
             bOurs && ((p < 0.95) || (r < 0.95)) ? "   below 0.95" : "");
      nBelow += bOurs && ((p < 0.95) || (r < 0.95));
    }
  }
  printf("\n  %d recognized types below 0.95 precision or recall\n", nBelow);
  sqlite3_finalize(pCase);
  sqlite3_finalize(pGold);
  sqlite3_finalize(pPred);
  sqlite3_close(db);
  return 0;
}
