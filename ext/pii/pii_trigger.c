/*
** pii_trigger.c — one pass over a text that finds where each kind of
** recognizer could match (see VgPiiTrigger in pii.h), so that the PII
** engine runs most patterns over a few windows instead of the whole text.
**
** Prose holds few digit runs, '@' signs or long words; the windows around
** them are a small part of a text, and a byte loop finds them far faster
** than thirty-odd PCRE2 scans would.
**
** Why this cannot lose a finding: every match of a recognizer contains its
** trigger (a property of the matched characters), and a trigger's window
** reaches its margin — the longest match any of its recognizers can make,
** in bytes, plus a few bytes for look-ahead — past the trigger on both
** sides; windows that overlap are merged, so a match that overlaps a
** window lies wholly inside it.  The tests compare windowed scans with
** whole-text scans.
*/
#include "pii/pii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* Margin of each trigger's windows, in bytes (see the recognizers'
** patterns in pii_recognizers.c). */
static const int aMargin[VG_PII_TRIGGER_COUNT] = {
    [VG_PII_NEAR_DIGITS6] = 64,     /* a phone number with an extension: 52 */
    [VG_PII_NEAR_DIGITS4] = 24,     /* an IPv4 address: 15; "GJ 09 AB " before a plate's digits: 9 */
    [VG_PII_NEAR_ID6] = 10,         /* "PR 123612C": 3 before the digits, an NIE's "X-": 2 */
    [VG_PII_NEAR_DATE] = 32,        /* "31st de septiembre de, " before a year: 23 */
    [VG_PII_NEAR_ALNUM4] = 12,      /* a GSTIN: 7 characters before its last digits */
    [VG_PII_NEAR_DIGITS9] = 40,     /* a North American number with "1-" and an extension: 30 */
    [VG_PII_NEAR_DIGITS12] = 32,    /* a card number: 22 */
    [VG_PII_NEAR_DIGITS20] = 96,    /* a CBU: 22 digits, 21 separators of up to 3 bytes */
    [VG_PII_NEAR_IBAN] = 72,        /* 34 characters, a separator between any two */
    [VG_PII_NEAR_AT] = 600,         /* an e-mail address: 64 + 1 + 536 */
    [VG_PII_NEAR_SCHEME] = 8016,    /* a URL: 2,000 characters of up to 4 bytes */
    [VG_PII_NEAR_HEXSEP] = 64,      /* an IPv6 address with an IPv4 tail: 45 */
    [VG_PII_NEAR_LONGWORD] = 88,    /* a bech32 address: 74 */
    [VG_PII_NEAR_JWT] = 13340,      /* 4,099 + 8,195 + 1,024 + 2 dots */
    [VG_PII_NEAR_AWS] = 32,         /* 20 */
    [VG_PII_NEAR_PEM] = 65700,      /* 16,384 characters of up to 4 bytes + armour */
    [VG_PII_NEAR_BEARER] = 4120,    /* "bearer", blanks, 4,096 + padding */
    [VG_PII_NEAR_CODE] = 12,        /* a German plate: three umlauts and "-AB-", 10 before the digits */
};

/* Most bytes a DIGITS trigger allows between two of its digits. */
#define DIGIT_GAP 3

/* Whitespace as PCRE2 sees it (\s without Unicode properties). */
static int is_space(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* E-mail addresses and URLs hold no whitespace: their windows stop at it. */
static int stops_at_space(VgPiiTrigger t) { return t == VG_PII_NEAR_AT || t == VG_PII_NEAR_SCHEME; }

/* Look-ahead and look-behind reach this far past a match. */
#define SLACK 8

void vg_pii_windows_free(VgPiiWindows *aOut, int nTrigger) {
  for (int i = 0; i < nTrigger; i++) {
    sqlite3_free(aOut[i].a);
    memset(&aOut[i], 0, sizeof(aOut[i]));
  }
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static int is_alpha(unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; }
static int is_hex(unsigned char c) { return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'); }
static int is_word(unsigned char c) { return is_digit(c) || is_alpha(c) || c == '_'; }

/* The run of text without whitespace that the last trigger of a kind
** fell in: [s, e), s no further back than the margin reaches. */
typedef struct Run {
  int s, e;
} Run;

typedef struct Finder {
  const unsigned char *z;
  int n;
  unsigned mask;
  VgPiiWindows *aOut;
  int rc;
  Run aRun[VG_PII_TRIGGER_COUNT];
} Finder;

/* Add the window of a trigger at bytes [s, e).  Windows start and end on
** character boundaries; sort_and_merge() orders them at the end. */
static void add(Finder *f, VgPiiTrigger t, int s, int e) {
  if (!(f->mask & (1u << t)) || f->rc != SQLITE_OK) return;
  int from = s - aMargin[t], to = e + aMargin[t];
  if (from < 0) from = 0;
  if (to > f->n) to = f->n;
  if (stops_at_space(t)) {
    /* Triggers come in text order, so each run is measured once (a text
    ** of 1 MB of '@' is one run). */
    Run *r = &f->aRun[t];
    if (!(r->s <= s && s < r->e)) {
      int k = s;
      while (k > from && !is_space(f->z[k - 1])) k--;
      r->s = k;
      k = e;
      while (k < f->n && !is_space(f->z[k])) k++;
      r->e = k;
    }
    if (from < r->s) from = r->s;
    if (to > r->e) to = r->e;
    from = from > SLACK ? from - SLACK : 0;
    to = to + SLACK < f->n ? to + SLACK : f->n;
  }
  while (from > 0 && (f->z[from] & 0xC0) == 0x80) from--;
  while (to < f->n && (f->z[to] & 0xC0) == 0x80) to++;
  VgPiiWindows *w = &f->aOut[t];
  /* Most triggers come in text order: extend the last window if they touch. */
  if (w->n > 0 && from >= w->a[2 * w->n - 2] && from <= w->a[2 * w->n - 1]) {
    if (to > w->a[2 * w->n - 1]) w->a[2 * w->n - 1] = to;
    return;
  }
  if (w->n == w->nAlloc) {
    int nNew = w->nAlloc ? 2 * w->nAlloc : 16;
    int *a = sqlite3_realloc64(w->a, sizeof(int) * 2 * (size_t)nNew);
    if (a == 0) {
      f->rc = SQLITE_NOMEM;
      return;
    }
    w->a = a;
    w->nAlloc = nNew;
  }
  w->a[2 * w->n] = from;
  w->a[2 * w->n + 1] = to;
  w->n++;
}

static int by_start(const void *x, const void *y) {
  const int *a = x, *b = y;
  return (a[0] > b[0]) - (a[0] < b[0]);
}

/* Most lists come already in order (one source adds them in text order):
** those skip the sort. */
static int in_order(const VgPiiWindows *w) {
  for (int i = 1; i < w->n; i++) {
    if (w->a[2 * i] < w->a[2 * i - 2]) return 0;
  }
  return 1;
}

static void sort_and_merge(VgPiiWindows *w) {
  if (w->n < 2) return;
  if (!in_order(w)) qsort(w->a, (size_t)w->n, 2 * sizeof(int), by_start);
  int m = 0;
  for (int i = 1; i < w->n; i++) {
    if (w->a[2 * i] <= w->a[2 * m + 1]) {
      if (w->a[2 * i + 1] > w->a[2 * m + 1]) w->a[2 * m + 1] = w->a[2 * i + 1];
    } else {
      m++;
      w->a[2 * m] = w->a[2 * i];
      w->a[2 * m + 1] = w->a[2 * i + 1];
    }
  }
  w->n = m + 1;
}

/* Call xAt(f, i) at each byte c of the text (memchr is fast where the
** byte is rare). */
static void each_byte(Finder *f, char c, void (*xAt)(Finder *, int)) {
  const unsigned char *p = f->z, *pEnd = f->z + f->n;
  while (f->rc == SQLITE_OK && p < pEnd && (p = memchr(p, c, (size_t)(pEnd - p))) != 0) {
    xAt(f, (int)(p - f->z));
    p++;
  }
}

/* Does the text hold zLit, nLit bytes, at byte i (any case for letters
** when bNoCase)?  HAS_AT takes a string literal. */
#define HAS_AT(f, i, zLit, bNoCase) has_at(f, i, zLit, (int)sizeof(zLit) - 1, bNoCase)
static int has_at(const Finder *f, int i, const char *zLit, int nLit, int bNoCase) {
  if (i < 0 || i + nLit > f->n) return 0;
  for (int k = 0; k < nLit; k++) {
    unsigned char c = f->z[i + k];
    if (bNoCase && c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
    if (c != (unsigned char)zLit[k]) return 0;
  }
  return 1;
}

/* Does [i - nSide, i) and (i, i + nSide] hold hexadecimal digits only? */
static int hex_around(const Finder *f, int i, int nSide) {
  if (i < nSide || i + nSide >= f->n) return 0;
  for (int k = 1; k <= nSide; k++) {
    if (!is_hex(f->z[i - k]) || !is_hex(f->z[i + k])) return 0;
  }
  return 1;
}

static void at_at(Finder *f, int i) { add(f, VG_PII_NEAR_AT, i, i + 1); }

/* Is the ':' at byte i followed by another after at most 4 hexadecimal
** digits?  The first colon of every IPv6 address, and of every MAC address
** written with colons, is. */
static int colon_pair(const Finder *f, int i) {
  for (int k = i + 1; k < f->n && k <= i + 5; k++) {
    if (f->z[k] == ':') return 1;
    if (!is_hex(f->z[k])) return 0;
  }
  return 0;
}

static void at_colon(Finder *f, int i) {
  if (colon_pair(f, i)) add(f, VG_PII_NEAR_HEXSEP, i, i + 1);
  if (HAS_AT(f, i, "://", 0)) add(f, VG_PII_NEAR_SCHEME, i, i + 3);
}
static void at_dash(Finder *f, int i) {
  if (hex_around(f, i, 2)) add(f, VG_PII_NEAR_HEXSEP, i, i + 1);
}
static void at_dot(Finder *f, int i) {
  if (hex_around(f, i, 4)) add(f, VG_PII_NEAR_HEXSEP, i, i + 1);
  if (HAS_AT(f, i - 3, "www.", 0)) add(f, VG_PII_NEAR_SCHEME, i - 3, i + 1);
}
static void at_J(Finder *f, int i) {
  if (HAS_AT(f, i - 2, "eyJ", 0)) add(f, VG_PII_NEAR_JWT, i - 2, i + 1);
}
static void at_K(Finder *f, int i) {
  if (HAS_AT(f, i - 1, "AKIA", 0)) add(f, VG_PII_NEAR_AWS, i - 1, i + 3);
}
static void at_S(Finder *f, int i) {
  if (HAS_AT(f, i - 1, "ASIA", 0)) add(f, VG_PII_NEAR_AWS, i - 1, i + 3);
}
static void at_G(Finder *f, int i) {
  if (HAS_AT(f, i - 7, "-----BEGIN ", 0)) add(f, VG_PII_NEAR_PEM, i - 7, i + 4);
}
static void at_b(Finder *f, int i) {
  if (HAS_AT(f, i, "bearer", 1)) add(f, VG_PII_NEAR_BEARER, i, i + 6);
}

/* The triggers that are literal text, each found from one of its bytes
** (the rarest in prose) with memchr; a byte that starts several triggers
** is looked for once.  '-', '.' and 'b' are common: find_runs() looks at
** them in its pass. */
static void find_literals(Finder *f) {
  static const struct {
    unsigned mask; /* the triggers xAt can add */
    char c;
    void (*xAt)(Finder *, int);
  } a[] = {
      {1u << VG_PII_NEAR_AT, '@', at_at},
      {(1u << VG_PII_NEAR_HEXSEP) | (1u << VG_PII_NEAR_SCHEME), ':', at_colon},
      {1u << VG_PII_NEAR_JWT, 'J', at_J},
      {1u << VG_PII_NEAR_AWS, 'K', at_K},
      {1u << VG_PII_NEAR_AWS, 'S', at_S},
      {1u << VG_PII_NEAR_PEM, 'G', at_G},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    if (f->mask & a[i].mask) each_byte(f, a[i].c, a[i].xAt);
  }
}

/* Could the word of letters and digits z[0, n) be a codice fiscale or a
** bitcoin address? */
static int longword_trigger(const unsigned char *z, int n) {
  if (n == 16) return 1;
  if (n >= 26 && n <= 35 && (z[0] == '1' || z[0] == '3')) return 1;
  return n >= 14 && n <= 74 && (z[0] | 0x20) == 'b' && (z[1] | 0x20) == 'c' && z[2] == '1';
}

/* The state of the digit cluster being read. */
typedef struct Cluster {
  int iFirst, iLast, n;
  int bLetter; /* a digit of the cluster is next to a letter */
} Cluster;

/* Does a month's name (its first three letters, English or Spanish) start
** a word in the 24 bytes before byte i? */
static int month_before(const Finder *f, int i) {
  static const char azMonth[] = "jan feb mar apr may jun jul aug sep oct nov dec ene abr ago set dic ";
  const unsigned char *z = f->z;
  for (int k = i - 3; k >= 0 && k >= i - 24; k--) {
    if ((k > 0 && is_alpha(z[k - 1])) || !is_alpha(z[k]) || !is_alpha(z[k + 1]) ||
        !is_alpha(z[k + 2])) {
      continue;
    }
    char a[3] = {(char)(z[k] | 0x20), (char)(z[k + 1] | 0x20), (char)(z[k + 2] | 0x20)};
    for (const char *m = azMonth; *m; m += 4) {
      if (memcmp(m, a, 3) == 0) return 1;
    }
  }
  return 0;
}

static int is_date_sep(unsigned char c) { return c == '/' || c == '.' || c == '-'; }

/* The length of the run of digits that ends at byte e (exclusive). */
static int run_before(const Finder *f, int e) {
  int k = e;
  while (k > 0 && is_digit(f->z[k - 1])) k--;
  return e - k;
}

/* Does the run of digits z[s, e) end a date of numbers as the birth-date
** recognizer reads them: 1-2, 1-2 and 2 or 4 digits, or 4, 1-2 and 1-2
** joined by '-' (separators '/', '.' or '-')? */
static int date_ends(const Finder *f, int s, int e) {
  int n3 = e - s;
  if (n3 > 4 || s < 4 || !is_date_sep(f->z[s - 1])) return 0;
  int n2 = run_before(f, s - 1), s2 = s - 1 - n2;
  if (n2 < 1 || n2 > 2 || s2 < 2 || !is_date_sep(f->z[s2 - 1])) return 0;
  int n1 = run_before(f, s2 - 1);
  if (n1 == 4) return n3 <= 2 && f->z[s - 1] == '-' && f->z[s2 - 1] == '-';
  return n1 >= 1 && n1 <= 2 && (n3 == 2 || n3 == 4);
}

static void end_cluster(Finder *f, const Cluster *c) {
  if (c->n >= 20) add(f, VG_PII_NEAR_DIGITS20, c->iFirst, c->iLast + 1);
  if (c->n >= 12) add(f, VG_PII_NEAR_DIGITS12, c->iFirst, c->iLast + 1);
  if (c->n >= 9) add(f, VG_PII_NEAR_DIGITS9, c->iFirst, c->iLast + 1);
  if (c->n >= 6) add(f, VG_PII_NEAR_DIGITS6, c->iFirst, c->iLast + 1);
  if (c->n >= 6) add(f, VG_PII_NEAR_ID6, c->iFirst, c->iLast + 1);
  if (c->n >= 4) add(f, VG_PII_NEAR_DIGITS4, c->iFirst, c->iLast + 1);
  if (c->n >= 4 && c->bLetter) add(f, VG_PII_NEAR_ALNUM4, c->iFirst, c->iLast + 1);
}

static int is_upper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
static int is_dash_or_space(unsigned char c) { return c == ' ' || c == '-'; }
static int is_alnum(unsigned char c) { return is_digit(c) || is_alpha(c); }

/* The letters from byte k on (counting stops past nMax), and their case:
** *pCase is 1 when all are upper case, 2 when all are lower, 3 when mixed. */
static int letters_from(const Finder *f, int k, int nMax, int *pCase) {
  int m = 0;
  *pCase = 0;
  while (k + m < f->n && m <= nMax && is_alpha(f->z[k + m])) {
    *pCase |= is_upper(f->z[k + m]) ? 1 : 2;
    m++;
  }
  return m;
}

/* The byte after an optional ' ' or '-' at k. */
static int skip_dash_or_space(const Finder *f, int k) {
  return k < f->n && is_dash_or_space(f->z[k]) ? k + 1 : k;
}

/* "34 ABC 1234", "34abc1234": after the digits, 1-3 letters of one case
** and more digits (4 of them after lower case): Turkish plates. */
static int letters_then_digits(const Finder *f, int e) {
  int cs, k = skip_dash_or_space(f, e), m = letters_from(f, k, 3, &cs);
  if (m < 1 || m > 3 || cs == 3) return 0;
  int j = skip_dash_or_space(f, k + m), d = 0;
  while (j + d < f->n && is_digit(f->z[j + d])) d++;
  return d >= (cs == 1 ? 1 : 4);
}

/* "HH-AB-1234": before the digits, 1-2 capitals between ' ' or '-'
** (German plates). */
static int capitals_between_dashes(const Finder *f, int s) {
  if (s < 3 || !is_dash_or_space(f->z[s - 1])) return 0;
  int k = s - 2;
  while (k >= 0 && s - 2 - k < 3 && is_upper(f->z[k])) k--;
  return s - 2 - k >= 1 && s - 2 - k <= 2 && k >= 0 && is_dash_or_space(f->z[k]);
}

/* "456CV", " 1HQ", "-456cv": 3 digits (or a space and 1) then 2 capitals,
** or '-', 3 digits and 2 lower-case letters, then the word's end
** (Nigerian plates, UK postcodes). */
static int two_letters_after(const Finder *f, int s, int e) {
  const unsigned char *z = f->z;
  if (e + 1 >= f->n || !is_alpha(z[e]) || !is_alpha(z[e + 1])) return 0;
  if (is_upper(z[e]) && is_upper(z[e + 1])) {
    return (e + 2 == f->n || !is_alnum(z[e + 2])) &&
           (e - s == 3 || (e - s == 1 && s > 0 && z[s - 1] == ' '));
  }
  return e - s == 3 && s >= 4 && z[s - 1] == '-' && !is_upper(z[e]) && !is_upper(z[e + 1]);
}

/* "HRB 123": "HRA" or "HRB", any case, before the digits. */
static int register_before(const Finder *f, int s) {
  const unsigned char *z = f->z;
  int k = s > 0 && z[s - 1] == ' ' ? s - 1 : s;
  return k >= 3 && (z[k - 3] | 0x20) == 'h' && (z[k - 2] | 0x20) == 'r' &&
         ((z[k - 1] | 0x20) == 'a' || (z[k - 1] | 0x20) == 'b');
}

/* "AB51 ABC": 2 letters at a word start, 2 digits, 3 letters, one case
** (UK plates). */
static int uk_plate_around(const Finder *f, int s, int e) {
  const unsigned char *z = f->z;
  if (e - s != 2 || s < 2 || !is_alpha(z[s - 1]) || !is_alpha(z[s - 2]) ||
      (s > 2 && is_word(z[s - 3]))) {
    return 0;
  }
  int cs, k = skip_dash_or_space(f, e), m = letters_from(f, k, 3, &cs);
  cs |= (is_upper(z[s - 1]) ? 1 : 2) | (is_upper(z[s - 2]) ? 1 : 2);
  return m == 3 && cs != 3 && (k + 3 == f->n || !is_word(z[k + 3]));
}

/* Is the run of digits z[s, e) part of a plate, a postcode or a register
** number as the CODE recognizers write them?  Each test is implied by one
** recognizer's pattern, so none of their matches is missed. */
static int code_run(const Finder *f, int s, int e) {
  return letters_then_digits(f, e) || capitals_between_dashes(f, s) ||
         two_letters_after(f, s, e) || register_before(f, s) || uk_plate_around(f, s, e);
}

/* A run of digits z[s, e): it joins the cluster being read or starts the
** next one, and may end a date or a code, or start an IBAN or a bech32
** address.  A digit can only be next to a letter at either end of its run. */
static void at_run(Finder *f, Cluster *c, int s, int e) {
  const unsigned char *z = f->z;
  if (c->n > 0 && s - c->iLast - 1 > DIGIT_GAP) {
    end_cluster(f, c);
    c->n = 0;
  }
  if (c->n == 0) {
    c->iFirst = s;
    c->bLetter = 0;
  }
  c->n += e - s;
  c->iLast = e - 1;
  c->bLetter |= (s > 0 && is_alpha(z[s - 1])) || (e < f->n && is_alpha(z[e]));
  if ((f->mask & (1u << VG_PII_NEAR_CODE)) && code_run(f, s, e)) add(f, VG_PII_NEAR_CODE, s, e);
  if ((f->mask & (1u << VG_PII_NEAR_DATE)) &&
      (date_ends(f, s, e) || (e - s == 4 && month_before(f, s)))) {
    add(f, VG_PII_NEAR_DATE, s, e);
  }
  /* A country's two letters at a word start, maybe a space or '-', then two
  ** digits: an IBAN's start ("in 2010" is not one, "at 2010" may be). */
  if (e - s >= 2 && (f->mask & (1u << VG_PII_NEAR_IBAN))) {
    int k = s >= 1 && (z[s - 1] == ' ' || z[s - 1] == '-') ? s - 1 : s;
    if (k >= 2 && is_alpha(z[k - 1]) && is_alpha(z[k - 2]) && (k == 2 || !is_word(z[k - 3])) &&
        vg_iban_country((char)z[k - 2], (char)z[k - 1])) {
      add(f, VG_PII_NEAR_IBAN, k - 2, s + 2);
    }
  }
  /* "bc1" at a word start: a bech32 address may follow. */
  if (z[s] == '1' && s >= 2 && (z[s - 1] | 0x20) == 'c' && (z[s - 2] | 0x20) == 'b' &&
      (s == 2 || !is_word(z[s - 3]))) {
    add(f, VG_PII_NEAR_LONGWORD, s - 2, s + 1);
  }
}

/* Which of the bytes p[0, nb) (nb <= 16) are digits, ASCII letters or
** digits, and bytes that start a common trigger ('-', '.', 'b', 'B'): bit k
** of each mask stands for p[k]. */
typedef struct BlockMasks {
  uint32_t digit, alnum, common;
} BlockMasks;

static void masks_bytewise(const unsigned char *p, int nb, BlockMasks *m) {
  memset(m, 0, sizeof *m);
  for (int k = 0; k < nb; k++) {
    m->digit |= (uint32_t)is_digit(p[k]) << k;
    m->alnum |= (uint32_t)is_alnum(p[k]) << k;
    m->common |= (uint32_t)(p[k] == '-' || p[k] == '.' || (p[k] | 0x20) == 'b') << k;
  }
}

static void block_masks(const unsigned char *p, int nb, BlockMasks *m) {
#ifdef __SSE2__
  if (nb == 16) {
    /* Signed compares: bytes from 0x80 up are negative, so never in range. */
    __m128i x = _mm_loadu_si128((const __m128i *)p);
    __m128i lower = _mm_or_si128(x, _mm_set1_epi8(0x20));
    __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('0' - 1)),
                                  _mm_cmplt_epi8(x, _mm_set1_epi8('9' + 1)));
    __m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
                                  _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
    __m128i common = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('-')),
                                               _mm_cmpeq_epi8(x, _mm_set1_epi8('.'))),
                                  _mm_cmpeq_epi8(lower, _mm_set1_epi8('b')));
    m->digit = (uint32_t)_mm_movemask_epi8(digit);
    m->alnum = (uint32_t)_mm_movemask_epi8(_mm_or_si128(digit, alpha));
    m->common = (uint32_t)_mm_movemask_epi8(common);
    return;
  }
#endif
  masks_bytewise(p, nb, m);
}

/* Measure the word of letters and digits around byte i, add it if it is
** a LONGWORD trigger, and return where it ends. */
static int at_word(Finder *f, int i) {
  int s = i, e = i;
  while (s > 0 && is_alnum(f->z[s - 1])) s--;
  while (e < f->n && is_alnum(f->z[e])) e++;
  if (longword_trigger(f->z + s, e - s)) add(f, VG_PII_NEAR_LONGWORD, s, e);
  return e;
}

/* The common punctuation and letters that start triggers. */
static void at_common(Finder *f, int i) {
  switch (f->z[i]) {
    case '-':
      at_dash(f, i);
      break;
    case '.':
      at_dot(f, i);
      break;
    case 'b':
    case 'B':
      at_b(f, i);
      break;
  }
}

/* The bits of mask m at or past bit k. */
static uint32_t bits_from(uint32_t m, int k) { return k <= 0 ? m : k >= 16 ? 0 : m & (~0u << k); }

/* Digit runs (DIGITS*, dates, codes, IBAN starts, "bc1"), long words and
** common trigger bytes, 16 bytes at a time.  Prose is mostly short words
** without digits: such blocks cost a few instructions.  A word of 16 or
** more letters and digits either fills a block, or ends one block and
** starts the next with 16 or more bytes in the two parts, so the tail of the
** last block and the head of this one tell whether a LONGWORD trigger can
** be here. */
static void find_runs(Finder *f) {
  const unsigned char *z = f->z;
  int n = f->n, iRunEnd = 0, iWordEnd = 0, nTail = 0;
  int bWords = (f->mask & (1u << VG_PII_NEAR_LONGWORD)) != 0;
  /* '-' and '.' start HEXSEP and SCHEME ("www."), 'b' BEARER. */
  int bCommon = (f->mask & ((1u << VG_PII_NEAR_HEXSEP) | (1u << VG_PII_NEAR_SCHEME) |
                            (1u << VG_PII_NEAR_BEARER))) != 0;
  Cluster c = {0, 0, 0, 0};
  for (int i = 0; i < n && f->rc == SQLITE_OK; i += 16) {
    int nb = n - i < 16 ? n - i : 16;
    BlockMasks m;
    block_masks(z + i, nb, &m);
    if (bWords) {
      int nHead = m.alnum == 0xFFFF ? 16 : __builtin_ctz(~m.alnum);
      if (nHead > 0 && nTail + nHead >= 16 && i >= iWordEnd) iWordEnd = at_word(f, i);
      nTail = __builtin_clz(~(m.alnum << 16));
    }
    for (uint32_t d = bits_from(m.digit, iRunEnd - i); d; d = bits_from(d, iRunEnd - i)) {
      int s = i + __builtin_ctz(d), e = s;
      while (e < n && is_digit(z[e])) e++;
      at_run(f, &c, s, e);
      iRunEnd = e;
    }
    for (uint32_t k = bCommon ? m.common : 0; k; k &= k - 1) at_common(f, i + __builtin_ctz(k));
  }
  if (c.n > 0) end_cluster(f, &c);
}

int vg_pii_find_triggers(const char *zText, int n, unsigned mask, VgPiiWindows *aOut) {
  Finder f;
  memset(&f, 0, sizeof f);
  f.z = (const unsigned char *)zText;
  f.n = n;
  f.mask = mask;
  f.aOut = aOut;
  find_runs(&f);
  find_literals(&f);
  for (int t = 0; t < VG_PII_TRIGGER_COUNT; t++) sort_and_merge(&aOut[t]);
  return f.rc;
}
