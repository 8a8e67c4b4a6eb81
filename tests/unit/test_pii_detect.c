/*
** test_pii_detect.c — the PII engine's trigger windows against a second
** way of scanning: every recognizer run over the whole text
** (bWholeText).  The two must give the same findings, finding for finding,
** on the labelled cases of ../shared/data/pii-labelled, on prose from
** ../shared/data/beir-scifact with those cases spliced in, and on random
** texts dense in digits, separators, hexadecimal, '@', ':' and the
** literals the triggers look for.  Also: the windows themselves are
** sorted, disjoint, inside the text and on character boundaries.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii/pii.h"
#include "shared_data.h"
#include "base/base.h"

static VgPiiEngine *pEngine;

/* Findings of the whole-text scans by recognizer: one that never finds
** anything is not being compared. */
static int anByRec[256];

static uint64_t next_rand(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Both scans of z must agree; returns the number of findings. */
static int expect_same(const char *z, int n) {
  VgPiiOptions whole = {.bWholeText = 1}, windowed = {0};
  VgPiiFindings a = {0, 0, 0}, b = {0, 0, 0};
  char *zErr = 0;
  assert_int_equal(vg_pii_engine_scan(pEngine, z, n, &whole, &a, &zErr), SQLITE_OK);
  assert_int_equal(vg_pii_engine_scan(pEngine, z, n, &windowed, &b, &zErr), SQLITE_OK);
  int bSame = a.n == b.n;
  for (int i = 0; bSame && i < a.n; i++) {
    bSame = a.a[i].iStart == b.a[i].iStart && a.a[i].iEnd == b.a[i].iEnd &&
            a.a[i].iRecognizer == b.a[i].iRecognizer && a.a[i].score == b.a[i].score &&
            a.a[i].cStart == b.a[i].cStart && a.a[i].cEnd == b.a[i].cEnd;
  }
  if (!bSame) {
    for (int i = 0; i < a.n; i++) {
      printf("  whole    %s %d..%d\n", a.a[i].zEntity, a.a[i].iStart, a.a[i].iEnd);
    }
    for (int i = 0; i < b.n; i++) {
      printf("  windowed %s %d..%d\n", b.a[i].zEntity, b.a[i].iStart, b.a[i].iEnd);
    }
    fail_msg("windowed and whole-text scans differ on (%d bytes): %.*s", n, n > 400 ? 400 : n, z);
  }
  int nFound = a.n;
  for (int i = 0; i < a.n; i++) anByRec[a.a[i].iRecognizer]++;
  vg_pii_findings_free(&a);
  vg_pii_findings_free(&b);
  return nFound;
}

/* The text field of each line of a JSON-lines file (enough JSON for the
** shared files: the value of "text" up to its closing quote, with \" \\ \n
** \t and \uXXXX below 0x80 or as UTF-8). */
static char *json_text_field(const char *zLine) {
  const char *p = strstr(zLine, "\"text\": \"");
  if (p == 0) return 0;
  p += 9;
  size_t nAlloc = strlen(p) + 1, n = 0;
  char *z = malloc(nAlloc);
  while (*p && *p != '"') {
    if (*p != '\\') {
      z[n++] = *p++;
      continue;
    }
    p++;
    char c = *p++;
    if (c == 'n') {
      z[n++] = '\n';
    } else if (c == 't') {
      z[n++] = '\t';
    } else if (c == 'u') {
      unsigned cp = 0;
      sscanf(p, "%4x", &cp);
      p += 4;
      if (cp >= 0xD800 && cp <= 0xDFFF) cp = '?'; /* surrogate halves: not needed here */
      if (cp < 0x80) {
        z[n++] = (char)cp;
      } else if (cp < 0x800) {
        z[n++] = (char)(0xC0 | (cp >> 6));
        z[n++] = (char)(0x80 | (cp & 0x3F));
      } else {
        z[n++] = (char)(0xE0 | (cp >> 12));
        z[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        z[n++] = (char)(0x80 | (cp & 0x3F));
      }
    } else {
      z[n++] = c;
    }
  }
  z[n] = 0;
  return z;
}

/* Up to nMax texts of a shared JSON-lines file. */
static char **read_texts(const char *zRel, int nMax, int *pn) {
  FILE *f = shared_open(zRel);
  char **az = malloc(sizeof(char *) * (size_t)nMax);
  static char line[1 << 20];
  int n = 0;
  while (n < nMax && fgets(line, sizeof line, f)) {
    char *z = json_text_field(line);
    if (z && vg_utf8_valid(z, (int)strlen(z), 0)) {
      az[n++] = z;
    } else {
      free(z);
    }
  }
  fclose(f);
  *pn = n;
  return az;
}

static void free_texts(char **az, int n) {
  for (int i = 0; i < n; i++) free(az[i]);
  free(az);
}

/* Did the texts of ../shared run through the comparison? */
static int bSharedCompared;

static void test_labelled_cases(void **state) {
  (void)state;
  int n = 0, nFound = 0;
  char **az = read_texts("pii-labelled/pii_cases.jsonl", 5000, &n);
  assert_true(n > 1000);
  for (int i = 0; i < n; i++) nFound += expect_same(az[i], (int)strlen(az[i]));
  /* And all of them in one text, where windows meet and merge. */
  size_t nAll = 0;
  for (int i = 0; i < n; i++) nAll += strlen(az[i]) + 1;
  char *zAll = malloc(nAll + 1), *p = zAll;
  for (int i = 0; i < n; i++) p += sprintf(p, "%s%c", az[i], i % 3 ? ' ' : '\n');
  int nAllFound = expect_same(zAll, (int)(p - zAll));
  printf("  %d findings in %d cases, %d in all of them at once\n", nFound, n, nAllFound);
  assert_true(nFound > 500 && nAllFound > 500);
  free(zAll);
  free_texts(az, n);
}

static void test_prose_with_cases(void **state) {
  (void)state;
  int nDoc = 0, nCase = 0;
  fclose(shared_open("pii-labelled/pii_cases.jsonl")); /* before anything is held */
  char **azDoc = read_texts("beir-scifact/corpus.jsonl", 400, &nDoc);
  char **azCase = read_texts("pii-labelled/pii_cases.jsonl", 5000, &nCase);
  uint64_t seed = 7;
  for (int i = 0; i < nDoc; i++) {
    /* A case spliced in at a random word boundary of the document. */
    const char *zDoc = azDoc[i], *zCase = azCase[next_rand(&seed) % (uint64_t)nCase];
    int nD = (int)strlen(zDoc), at = nD ? (int)(next_rand(&seed) % (uint64_t)nD) : 0;
    while (at > 0 && zDoc[at] != ' ') at--;
    char *z = malloc((size_t)nD + strlen(zCase) + 3);
    int nZ = sprintf(z, "%.*s %s %s", at, zDoc, zCase, zDoc + at);
    expect_same(z, nZ);
    free(z);
  }
  free_texts(azDoc, nDoc);
  free_texts(azCase, nCase);
  bSharedCompared = 1;
}

/* Random texts from pieces that trip the triggers and the patterns. */
static void test_random_texts(void **state) {
  (void)state;
  static const char *azPiece[] = {
      "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "12", "345", "2024", " ", " ", "-", ".", "/",
      ":", "::", "(", ")", "+", "@", "_", "a", "B", "cf", "DE", "GB82 ", "X", "\xe2\x80\x93",
      "\xc3\xa9", "\xf0\x9f\x99\x82", "\n", "www.", "https://", "bc1", "eyJ", "AKIA", "ASIA",
      "-----BEGIN ", "PRIVATE KEY-----", "-----END ", "bearer ", "Bearer ", "ab:cd:ef:01:23:45",
      "fe80::", "1.2.3.4", "a@b.io", "4111 1111 1111 1111", "20-12345678-6", "536-22-1234",
      "DE89 3704 0044 0532 0130 00", "1BoatSLRHtKNngkdXEeobR76b53LETtpyT", "RSSMRA85T10A562S",
      "0110599520000001234567", "+54 9 11 4567-8901", "(415) 555-0100", "AB", "ef", "word ",
      "HRB ", "hrb", "HH-", "AB ", "abc ", "C", "T", "S", "W1A", " 1HQ", "0AA", "cv", "CV",
      "born ", "March ", "May", "de ", "marzo", "th", "passport ", "licence ", "plz ", "tel ",
      "\xc3\x84", "34 ", "A ", "\xeb\x8a\x94",
      /* Whole examples of the recognizers the pieces above rarely build. */
      " DNI 30.123.456 ", " GSTIN 27AAPFU0939F1ZV ", " patente AA0123456B ",
      " passaporto AA1234567 ", " NRIC S1234567D ", " born 12 March 1985 ", " DOB March 12, 1985 ",
      " -----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY----- ",
      " eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyIjoidmVjZ3VhcmQifQ.c2lnbmF0dXJlLXNpZ25hdHVyZQ ",
  };
  int nPiece = (int)(sizeof azPiece / sizeof azPiece[0]);
  uint64_t seed = 12345;
  char z[4096];
  int nFound = 0;
  for (int t = 0; t < 20000; t++) {
    int n = 0, nWant = 20 + (int)(next_rand(&seed) % 400);
    while (n < nWant) {
      const char *p = azPiece[next_rand(&seed) % (uint64_t)nPiece];
      int k = (int)strlen(p);
      if (n + k >= (int)sizeof z) break;
      memcpy(z + n, p, (size_t)k);
      n += k;
    }
    z[n] = 0;
    nFound += expect_same(z, n);
  }
  assert_true(nFound > 3000);
}

/* Every built-in recognizer found something in the texts compared above
** (runs after them). */
static void test_every_recognizer_compared(void **state) {
  (void)state;
  if (!bSharedCompared) {
    print_message("SKIPPED: the texts of ../shared did not run (see above), and the random ones alone "
                  "do not reach every recognizer\n");
    skip();
  }
  assert_true(vg_pii_builtin_count <= (int)(sizeof anByRec / sizeof anByRec[0]));
  for (int i = 0; i < vg_pii_builtin_count; i++) {
    if (anByRec[i] == 0) fail_msg("recognizer %s found nothing in the compared texts", vg_pii_builtin[i].zName);
  }
}

/* Character offsets far into a text of 1- to 4-byte characters (the count
** runs in blocks of 16 bytes, summed every 4,080): each finding's offsets
** against a count of the bytes that start characters. */
static void test_char_offsets(void **state) {
  (void)state;
  static const char *azPiece[] = {"a", " ", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  char *z = malloc(200000);
  assert_non_null(z);
  int n = 0, nMail = 0;
  uint64_t seed = 7;
  for (int i = 0; i < 40000; i++) {
    const char *p = i % 997 == 996 ? " ana@example.com " : azPiece[next_rand(&seed) % 5];
    nMail += i % 997 == 996;
    size_t m = strlen(p);
    memcpy(z + n, p, m);
    n += (int)m;
  }
  VgPiiFindings f = {0, 0, 0};
  char *zErr = 0;
  assert_int_equal(vg_pii_engine_scan(pEngine, z, n, 0, &f, &zErr), SQLITE_OK);
  assert_int_equal(f.n, nMail);
  for (int k = 0; k < f.n; k++) {
    int nStart = 0, nEnd = 0;
    for (int i = 0; i < f.a[k].iEnd; i++) {
      int bStarts = (z[i] & 0xC0) != 0x80;
      nStart += bStarts && i < f.a[k].iStart;
      nEnd += bStarts;
    }
    assert_int_equal(f.a[k].cStart, nStart);
    assert_int_equal(f.a[k].cEnd, nEnd);
  }
  vg_pii_findings_free(&f);
  free(z);
}

static void test_windows(void **state) {
  (void)state;
  const char *z = "pay 4111 1111 1111 1111 to ana@example.com \xc3\xa9\xc3\xa9 via https://x.io/p "
                  "ab-cd-ef-01-23-45 RSSMRA85T10A562S no digits here at all";
  int n = (int)strlen(z);
  VgPiiWindows aWin[VG_PII_TRIGGER_COUNT];
  memset(aWin, 0, sizeof aWin);
  assert_int_equal(vg_pii_find_triggers(z, n, ~0u, aWin), SQLITE_OK);
  for (int t = 0; t < VG_PII_TRIGGER_COUNT; t++) {
    for (int k = 0; k < aWin[t].n; k++) {
      int s = aWin[t].a[2 * k], e = aWin[t].a[2 * k + 1];
      assert_true(0 <= s && s < e && e <= n);
      if (k > 0) assert_true(aWin[t].a[2 * k - 1] < s);
      assert_true((z[s] & 0xC0) != 0x80);
      assert_true(e == n || (z[e] & 0xC0) != 0x80);
    }
  }
  /* One digit cluster, one '@', one scheme, one MAC, one 16-letter word. */
  assert_int_equal(aWin[VG_PII_NEAR_DIGITS6].n, 1);
  assert_int_equal(aWin[VG_PII_NEAR_AT].n, 1);
  assert_int_equal(aWin[VG_PII_NEAR_SCHEME].n, 1);
  assert_int_equal(aWin[VG_PII_NEAR_LONGWORD].n, 1);
  assert_int_equal(aWin[VG_PII_NEAR_JWT].n, 0);
  /* The e-mail window stops at the spaces around the address (plus slack). */
  assert_true(aWin[VG_PII_NEAR_AT].a[0] >= 27 - 8 - 1);
  assert_true(aWin[VG_PII_NEAR_AT].a[1] <= 43 + 8 + 1);
  vg_pii_windows_free(aWin, VG_PII_TRIGGER_COUNT);
}

int main(void) {
  char *zErr = 0;
  if (vg_pii_engine_new(vg_pii_builtin, vg_pii_builtin_count, &pEngine, &zErr) != SQLITE_OK) {
    fprintf(stderr, "engine: %s\n", zErr ? zErr : "?");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_windows),
      cmocka_unit_test(test_char_offsets),
      cmocka_unit_test(test_labelled_cases),
      cmocka_unit_test(test_prose_with_cases),
      cmocka_unit_test(test_random_texts),
      cmocka_unit_test(test_every_recognizer_compared),
  };
  int rc = cmocka_run_group_tests(tests, 0, 0);
  vg_pii_engine_free(pEngine);
  return rc;
}
