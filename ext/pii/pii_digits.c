/*
** pii_digits.c — check-digit and structure rules of personal identifiers
** (see pii.h, pii_digits section).  Each rule first reads the characters it
** is about into a small array, skipping separators, then does its
** arithmetic.
*/
#include "pii/pii.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <string.h>

/* Length of a separator at z (of n bytes): space, '-', '.', '/', a no-break
** space, an en or em dash; 0 when z[0] is none of them. */
static int separator_len(const unsigned char *z, int n) {
  if (z[0] == ' ' || z[0] == '-' || z[0] == '.' || z[0] == '/') return 1;
  if (n >= 2 && z[0] == 0xC2 && z[1] == 0xA0) return 2;
  if (n >= 3 && z[0] == 0xE2 && z[1] == 0x80 && (z[2] == 0x93 || z[2] == 0x94)) return 3;
  return 0;
}

/* The digits and letters of z (letters upper-cased) into a[], at most nMax;
** -1 for any other character or too many. */
static int chars_of(const char *z, int n, char *a, int nMax) {
  const unsigned char *u = (const unsigned char *)z;
  int m = 0;
  for (int i = 0; i < n;) {
    int s = separator_len(u + i, n - i);
    if (s) {
      i += s;
      continue;
    }
    unsigned char c = u[i++];
    if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 'a' + 'A');
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) || m == nMax) return -1;
    a[m++] = (char)c;
  }
  return m;
}

/* Exactly the digits of z, as numbers, when there are from nMin to nMax of
** them and nothing else but separators; else -1. */
static int digits_of(const char *z, int n, int *d, int nMin, int nMax) {
  char a[64];
  int m = chars_of(z, n, a, nMax < 64 ? nMax : 64);
  if (m < nMin) return -1;
  for (int i = 0; i < m; i++) {
    if (a[i] < '0' || a[i] > '9') return -1;
    d[i] = a[i] - '0';
  }
  return m;
}

/* sum(d[i] * w[i]) for i < n. */
static int weighted(const int *d, const int *w, int n) {
  int s = 0;
  for (int i = 0; i < n; i++) s += d[i] * w[i];
  return s;
}

static int luhn_ok(const int *d, int n) {
  int s = 0;
  for (int i = n - 1, bDouble = 0; i >= 0; i--, bDouble = !bDouble) {
    int x = bDouble ? 2 * d[i] : d[i];
    s += x > 9 ? x - 9 : x;
  }
  return s % 10 == 0;
}

static int all_same(const int *d, int n) {
  for (int i = 1; i < n; i++) {
    if (d[i] != d[0]) return 0;
  }
  return 1;
}

/* A two-digit number from d[i], d[i+1]. */
static int two(const int *d, int i) { return 10 * d[i] + d[i + 1]; }

static int valid_day_month(int day, int month) {
  static const int aDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month >= 1 && month <= 12 && day >= 1 && day <= aDays[month - 1];
}

/* A digit or capital letter as a number: 0-9, then A = 10 to Z = 35. */
static int alnum_value(char c) { return c <= '9' ? c - '0' : c - 'A' + 10; }

/* Are a[0..n) all digits?  Then their values go to d[] (when d is not 0). */
static int as_digits(const char *a, int n, int *d) {
  for (int i = 0; i < n; i++) {
    if (a[i] < '0' || a[i] > '9') return 0;
    if (d) d[i] = a[i] - '0';
  }
  return 1;
}

/* The runs of digits of z[0..n) (whatever lies between them), their lengths
** and values (which stop growing past 99999: the rules read days, months and
** years); -1 when there are more than nMax. */
static int digit_groups(const char *z, int n, int *aLen, int *aVal, int nMax) {
  int nGroup = 0;
  for (int i = 0; i < n; i++) {
    if (z[i] < '0' || z[i] > '9') continue;
    if (i == 0 || z[i - 1] < '0' || z[i - 1] > '9') {
      if (nGroup == nMax) return -1;
      aLen[nGroup] = aVal[nGroup] = 0;
      nGroup++;
    }
    aLen[nGroup - 1]++;
    if (aVal[nGroup - 1] < 100000) aVal[nGroup - 1] = aVal[nGroup - 1] * 10 + (z[i] - '0');
  }
  return nGroup;
}

int vg_check_luhn(const char *z, int n) {
  int d[32];
  int m = digits_of(z, n, d, 2, 32);
  return m > 0 && luhn_ok(d, m);
}

int vg_check_credit_card(const char *z, int n) {
  int d[19];
  int m = digits_of(z, n, d, 12, 19);
  if (m < 0 || !luhn_ok(d, m) || all_same(d, m)) return 0;
  int p2 = two(d, 0), p4 = 100 * p2 + two(d, 2);
  /* Visa; Mastercard 51-55 and 2221-2720; Amex, Diners, JCB (3x);
  ** Discover, UnionPay, Maestro (5x, 6x); UATP (1x, 15 digits). */
  return d[0] == 4 || d[0] == 3 || d[0] == 5 || d[0] == 6 || (p4 >= 2221 && p4 <= 2720) ||
         (d[0] == 1 && m == 15);
}

/* IBAN lengths by country (ISO 13616 registry). */
static const char *const iban_lengths =
    "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24DE22DJ27DK18DO28EE20"
    "EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30"
    "KZ20LB28LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24"
    "PL28PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28TL23TN24TR26UA29"
    "VA22VG24XK20YE30";

static int iban_length(const char *a) {
  for (const char *p = iban_lengths; *p; p += 4) {
    if (p[0] == a[0] && p[1] == a[1]) return (p[2] - '0') * 10 + (p[3] - '0');
  }
  return 0;
}

int vg_iban_country(char c1, char c2) {
  char a[2] = {(char)(c1 & ~0x20), (char)(c2 & ~0x20)};
  return iban_length(a) != 0;
}

/* The shape of the domestic account number (BBAN) for the countries where
** it is fixed and well known: runs of n digits, a capital letters, c either. */
static const char *const bban_shapes[] = {
    "AT16n", "BA16n", "BE12n", "BG4a6n8c", "CZ20n", "DE18n",   "DK14n", "EE16n",
    "ES20n", "FI14n", "GB4a14n", "HR17n", "HU24n", "IE4a14n", "LT16n", "LV4a13c",
    "MT4a5n18c", "NL4a10n", "NO11n", "PL24n", "PT21n", "RO4a16c", "SE20n", "SI15n", "SK20n"};

static int bban_shape_ok(const char *a, int m) {
  for (size_t i = 0; i < sizeof bban_shapes / sizeof bban_shapes[0]; i++) {
    const char *p = bban_shapes[i];
    if (p[0] != a[0] || p[1] != a[1]) continue;
    int k = 4;
    for (p += 2; *p;) {
      int run = 0;
      while (*p >= '0' && *p <= '9') run = run * 10 + (*p++ - '0');
      char cls = *p++;
      for (; run > 0; run--, k++) {
        if (k >= m) return 0;
        int bDigit = a[k] >= '0' && a[k] <= '9';
        if ((cls == 'n' && !bDigit) || (cls == 'a' && bDigit)) return 0;
      }
    }
    return k == m;
  }
  return 1;
}

int vg_check_iban(const char *z, int n) {
  char a[40];
  int m = chars_of(z, n, a, 34);
  if (m < 15 || m != iban_length(a) || a[2] < '0' || a[2] > '9' || a[3] < '0' || a[3] > '9' ||
      !bban_shape_ok(a, m)) {
    return 0;
  }
  /* Country and check digits move to the end; letters count as 10..35. */
  int r = 0;
  for (int k = 0; k < m; k++) {
    char c = a[(k + 4) % m];
    r = (c <= '9' ? r * 10 : r * 100) + alnum_value(c);
    r %= 97;
  }
  return r == 1;
}

int vg_check_us_ssn(const char *z, int n) {
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0 || all_same(d, 9)) return 0;
  int area = 100 * d[0] + two(d, 1), group = two(d, 3), serial = 100 * two(d, 5) + two(d, 7);
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return 0;
  /* Numbers printed in advertisements and examples, never issued as ids. */
  if ((area == 78 && group == 5 && serial == 1120) || (area == 219 && group == 9 && serial == 9999) ||
      (area == 123 && group == 45 && serial == 6789)) {
    return 0;
  }
  return 1;
}

int vg_check_us_itin(const char *z, int n) {
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0 || d[0] != 9) return 0;
  int g = two(d, 3);
  return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) || g >= 94;
}

int vg_check_aba_routing(const char *z, int n) {
  static const int w[] = {3, 7, 1, 3, 7, 1, 3, 7, 1};
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0 || all_same(d, 9)) return 0;
  int p = two(d, 0);
  /* Federal Reserve districts 00-12, thrifts 21-32, electronic 61-72, 80. */
  if (!(p <= 12 || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80)) return 0;
  return weighted(d, w, 9) % 10 == 0;
}

int vg_check_us_npi(const char *z, int n) {
  int d[15] = {8, 0, 8, 4, 0};
  if (digits_of(z, n, d + 5, 10, 10) < 0 || (d[5] != 1 && d[5] != 2)) return 0;
  /* 111111111x and the like are placeholders, not providers. */
  if (all_same(d + 5, 9)) return 0;
  return luhn_ok(d, 15);
}

int vg_check_ca_sin(const char *z, int n) {
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0 || d[0] == 0 || d[0] == 8) return 0;
  return luhn_ok(d, 9);
}

int vg_check_ar_cuit(const char *z, int n) {
  static const int w[] = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
  int d[11];
  if (digits_of(z, n, d, 11, 11) < 0) return 0;
  int p = two(d, 0);
  if (p != 20 && p != 23 && p != 24 && p != 27 && p != 30 && p != 33 && p != 34) return 0;
  int r = 11 - weighted(d, w, 10) % 11;
  if (r == 11) r = 0;
  return r != 10 && r == d[10];
}

int vg_check_ar_cbu(const char *z, int n) {
  static const int w1[] = {7, 1, 3, 9, 7, 1, 3};
  static const int w2[] = {3, 9, 7, 1, 3, 9, 7, 1, 3, 9, 7, 1, 3};
  int d[22];
  if (digits_of(z, n, d, 22, 22) < 0) return 0;
  int c1 = (10 - weighted(d, w1, 7) % 10) % 10;
  int c2 = (10 - weighted(d + 8, w2, 13) % 10) % 10;
  return c1 == d[7] && c2 == d[21];
}

int vg_check_uk_nhs(const char *z, int n) {
  static const int w[] = {10, 9, 8, 7, 6, 5, 4, 3, 2};
  int d[10];
  if (digits_of(z, n, d, 10, 10) < 0 || all_same(d, 10)) return 0;
  int r = 11 - weighted(d, w, 9) % 11;
  if (r == 11) r = 0;
  return r != 10 && r == d[9];
}

/* A Spanish number and its control letter: a[from..8) are digits following
** the value lead, a[8] the letter (number mod 23, in a fixed alphabet). */
static int es_control_ok(const char *a, long lead, int from) {
  long number = lead;
  for (int i = from; i < 8; i++) {
    if (a[i] < '0' || a[i] > '9') return 0;
    number = number * 10 + (a[i] - '0');
  }
  return a[8] == "TRWAGMYFPDXBNJZSQVHLCKE"[number % 23];
}

int vg_check_es_nif(const char *z, int n) {
  char a[9];
  return chars_of(z, n, a, 9) == 9 && es_control_ok(a, 0, 0);
}

/* X, Y and Z stand for a leading 0, 1 and 2. */
int vg_check_es_nie(const char *z, int n) {
  char a[9];
  return chars_of(z, n, a, 9) == 9 && a[0] >= 'X' && a[0] <= 'Z' && es_control_ok(a, a[0] - 'X', 1);
}

int vg_check_it_fiscal_code(const char *z, int n) {
  /* Values of a character in an odd position (1st, 3rd, ...), for digits
  ** 0-9 and letters A-Z alike (a digit counts as the letter at its index). */
  static const int odd[26] = {1,  0,  5,  7,  9,  13, 15, 17, 19, 21, 2,  4,  18,
                              20, 11, 3,  6,  8,  12, 14, 16, 10, 22, 25, 24, 23};
  /* Positions that hold letters; the others hold digits or, for a code
  ** changed to avoid a clash (omocodia), one of the letters LMNPQRSTUV. */
  static const char shape[] = "LLLLLLDDLDDLDDDL";
  char a[16];
  if (chars_of(z, n, a, 16) != 16) return 0;
  int s = 0;
  for (int i = 0; i < 15; i++) {
    char c = a[i];
    int bDigit = c >= '0' && c <= '9';
    if (shape[i] == 'L' && bDigit) return 0;
    if (shape[i] == 'D' && !bDigit && !strchr("LMNPQRSTUV", c)) return 0;
    int v = bDigit ? c - '0' : c - 'A';
    s += i % 2 == 0 ? odd[v] : v;
  }
  return a[15] >= 'A' && a[15] <= 'Z' && a[15] == 'A' + s % 26;
}

int vg_check_fi_hetu(const char *z, int n) {
  if (n != 11) return 0;
  /* DDMMYY, the century sign, the individual number ZZZ, the check. */
  long number = 0;
  for (int i = 0; i < 10; i++) {
    if (i == 6) continue;
    if (z[i] < '0' || z[i] > '9') return 0;
    number = number * 10 + (z[i] - '0');
  }
  /* Century signs: + for the 1800s, - Y X W V U for the 1900s, A B C D E F
  ** for the 2000s (the letters since 2023). */
  if (z[6] == 0 || !strchr("+-YXWVUABCDEF", z[6])) return 0;
  int day = (z[0] - '0') * 10 + (z[1] - '0'), month = (z[2] - '0') * 10 + (z[3] - '0');
  int individual = (z[7] - '0') * 100 + (z[8] - '0') * 10 + (z[9] - '0');
  if (!valid_day_month(day, month) || individual < 2) return 0;
  char c = z[10];
  if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
  return c == "0123456789ABCDEFHJKLMNPRSTUVWXY"[number % 31];
}

int vg_check_se_personnummer(const char *z, int n) {
  int d[10];
  /* YYMMDD-NNNC (+ for those over 100) or YYYYMMDDNNNC. */
  char a[12];
  int m = 0;
  for (int i = 0; i < n; i++) {
    if (z[i] == '-' || z[i] == '+') {
      if (i != n - 5) return 0;
      continue;
    }
    if (z[i] < '0' || z[i] > '9' || m == 12) return 0;
    a[m++] = z[i];
  }
  if (m != 10 && m != 12) return 0;
  for (int i = 0; i < 10; i++) d[i] = a[m - 10 + i] - '0';
  int month = two(d, 2), day = two(d, 4);
  if (day > 60) day -= 60; /* samordningsnummer */
  return valid_day_month(day, month) && luhn_ok(d, 10);
}

int vg_check_se_orgnr(const char *z, int n) {
  int d[10];
  if (digits_of(z, n, d, 10, 10) < 0 || d[2] < 2) return 0;
  return luhn_ok(d, 10);
}

/* Korean RRN and foreigner registration number.  Since October 2020 the
** last digit is no longer a check digit, so only the date and the digit
** for sex and century are checked. */
int vg_check_kr_rrn(const char *z, int n) {
  int d[13];
  if (digits_of(z, n, d, 13, 13) < 0) return 0;
  return valid_day_month(two(d, 4), two(d, 2)) && d[6] >= 1 && d[6] <= 8;
}

int vg_check_tr_tckn(const char *z, int n) {
  int d[11];
  if (digits_of(z, n, d, 11, 11) < 0 || d[0] == 0) return 0;
  int odd = d[0] + d[2] + d[4] + d[6] + d[8], even = d[1] + d[3] + d[5] + d[7];
  int c10 = ((odd * 7 - even) % 10 + 10) % 10;
  int s = 0;
  for (int i = 0; i < 10; i++) s += d[i];
  return c10 == d[9] && s % 10 == d[10];
}

int vg_check_pl_pesel(const char *z, int n) {
  static const int w[] = {1, 3, 7, 9, 1, 3, 7, 9, 1, 3};
  int d[11];
  if (digits_of(z, n, d, 11, 11) < 0) return 0;
  /* The month carries the century: +80 1800s, +0 1900s, +20 2000s, ... */
  if (!valid_day_month(two(d, 4), two(d, 2) % 20)) return 0;
  return (10 - weighted(d, w, 10) % 10) % 10 == d[10];
}

int vg_check_au_abn(const char *z, int n) {
  static const int w[] = {10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19};
  int d[11];
  if (digits_of(z, n, d, 11, 11) < 0 || d[0] == 0) return 0;
  d[0] -= 1;
  return weighted(d, w, 11) % 89 == 0;
}

int vg_check_au_acn(const char *z, int n) {
  static const int w[] = {8, 7, 6, 5, 4, 3, 2, 1};
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0) return 0;
  return (10 - weighted(d, w, 8) % 10) % 10 == d[8];
}

int vg_check_au_tfn(const char *z, int n) {
  static const int w9[] = {1, 4, 3, 7, 5, 8, 6, 9, 10};
  static const int w8[] = {10, 7, 8, 4, 6, 3, 5, 1};
  int d[9];
  int m = digits_of(z, n, d, 8, 9);
  if (m < 0 || all_same(d, m)) return 0;
  return weighted(d, m == 9 ? w9 : w8, m) % 11 == 0;
}

int vg_check_au_medicare(const char *z, int n) {
  static const int w[] = {1, 3, 7, 9, 1, 3, 7, 9};
  int d[11];
  int m = digits_of(z, n, d, 10, 11);
  if (m < 0 || d[0] < 2 || d[0] > 6) return 0;
  return weighted(d, w, 8) % 10 == d[8];
}

/* Verhoeff's dihedral check (Aadhaar). */
int vg_check_in_aadhaar(const char *z, int n) {
  static const unsigned char mul[10][10] = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
      {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
      {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
      {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
      {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}};
  static const unsigned char perm[8][10] = {
      {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
      {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
      {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
      {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}};
  int d[12];
  if (digits_of(z, n, d, 12, 12) < 0 || d[0] < 2) return 0;
  int c = 0;
  for (int i = 0; i < 12; i++) c = mul[c][perm[i % 8][d[11 - i]]];
  return c == 0;
}

int vg_check_th_tnin(const char *z, int n) {
  static const int w[] = {13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2};
  int d[13];
  if (digits_of(z, n, d, 13, 13) < 0 || d[0] == 0 || d[0] == 9) return 0;
  /* Digits 2-3 are a province code, 10 to 96. */
  int province = d[1] * 10 + d[2];
  if (province < 10 || province > 96) return 0;
  return (11 - weighted(d, w, 12) % 11) % 10 == d[12];
}

int vg_check_kr_brn(const char *z, int n) {
  static const int w[] = {1, 3, 7, 1, 3, 7, 1, 3, 5};
  int d[10];
  if (digits_of(z, n, d, 10, 10) < 0) return 0;
  int s = weighted(d, w, 9) + d[8] * 5 / 10;
  return (10 - s % 10) % 10 == d[9];
}

int vg_check_mac(const char *z, int n) {
  /* The broadcast and the null address name no device. */
  int nHex = 0, nF = 0, n0 = 0;
  for (int i = 0; i < n; i++) {
    char c = z[i];
    if (c == ':' || c == '-' || c == '.') continue;
    nHex++;
    nF += c == 'f' || c == 'F';
    n0 += c == '0';
  }
  return nHex == 12 && nF < 12 && n0 < 12;
}

int vg_check_phone_digits(const char *zIn, int nIn) {
  /* An area code in parentheses: "(99) 645-791". */
  char z[64];
  int n = 0, d[12];
  for (int i = 0; i < nIn; i++) {
    if (zIn[i] == '(' || zIn[i] == ')') continue;
    if (n == (int)sizeof z) return 0;
    z[n++] = zIn[i];
  }
  int m = digits_of(z, n, d, 7, 12);
  if (m < 0 || all_same(d, m)) return 0;
  int aLen[8], aVal[8], nGroup = digit_groups(z, n, aLen, aVal, 8), bOnlyDots = 1;
  if (nGroup < 0) return 0;
  for (int i = 0; i < n; i++) bOnlyDots &= (z[i] >= '0' && z[i] <= '9') || z[i] == '.';
  /* Dates: 2024-01-15, 15.01.2024, 01/15/2024. */
  if (nGroup == 3 && aLen[0] == 4 && aLen[1] == 2 && aLen[2] == 2 &&
      valid_day_month(aVal[2], aVal[1])) {
    return 0;
  }
  if (nGroup == 3 && aLen[0] == 2 && aLen[1] == 2 && aLen[2] == 4 &&
      (valid_day_month(aVal[0], aVal[1]) || valid_day_month(aVal[1], aVal[0]))) {
    return 0;
  }
  /* 30.123.456: a number with '.' between thousands. */
  int bThousands = bOnlyDots && nGroup > 1 && aLen[0] <= 3;
  for (int i = 1; i < nGroup; i++) bThousands &= aLen[i] == 3;
  return !bThousands;
}

/* ---- bitcoin addresses -------------------------------------------------- */

static int base58check_ok(const char *z, int n) {
  static const char alphabet[] = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
  unsigned char b[25] = {0};
  if (n < 26 || n > 35) return 0;
  for (int i = 0; i < n; i++) {
    const char *p = z[i] ? strchr(alphabet, z[i]) : 0;
    if (p == 0) return 0;
    unsigned carry = (unsigned)(p - alphabet);
    for (int j = 24; j >= 0; j--) {
      carry += 58u * b[j];
      b[j] = (unsigned char)(carry & 0xff);
      carry >>= 8;
    }
    if (carry) return 0; /* more than 25 bytes */
  }
  /* Leading '1's stand for leading zero bytes, and must match them. */
  int nOnes = 0, nZero = 0;
  while (nOnes < n && z[nOnes] == '1') nOnes++;
  while (nZero < 25 && b[nZero] == 0) nZero++;
  if (nOnes != nZero) return 0;
  if (b[0] != 0x00 && b[0] != 0x05) return 0; /* P2PKH, P2SH on the main network */
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, b, 21);
  crypto_hash_sha256(h, h, sizeof h);
  return memcmp(h, b + 21, 4) == 0;
}

static unsigned bech32_polymod(const unsigned char *v, int n) {
  static const unsigned gen[5] = {0x3b6a57b2u, 0x26508e6du, 0x1ea119fau, 0x3d4233ddu,
                                  0x2a1462b3u};
  unsigned chk = 1;
  for (int i = 0; i < n; i++) {
    unsigned top = chk >> 25;
    chk = ((chk & 0x1ffffffu) << 5) ^ v[i];
    for (int j = 0; j < 5; j++) {
      if ((top >> j) & 1) chk ^= gen[j];
    }
  }
  return chk;
}

/* A segwit address "bc1...": bech32 for witness version 0, bech32m above. */
static int bech32_ok(const char *z, int n) {
  static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
  unsigned char v[96];
  if (n < 14 || n > 74) return 0;
  int bLower = 0, bUpper = 0;
  for (int i = 0; i < n; i++) {
    bLower |= z[i] >= 'a' && z[i] <= 'z';
    bUpper |= z[i] >= 'A' && z[i] <= 'Z';
  }
  if (bLower && bUpper) return 0;
  if ((z[0] | 0x20) != 'b' || (z[1] | 0x20) != 'c' || z[2] != '1') return 0;
  /* The human-readable part "bc", expanded, then the data. */
  v[0] = v[1] = 3;
  v[2] = 0;
  v[3] = 'b' & 31;
  v[4] = 'c' & 31;
  int m = 5;
  for (int i = 3; i < n; i++) {
    char c = (char)(z[i] | 0x20);
    const char *p = c ? strchr(charset, c) : 0;
    if (p == 0) return 0;
    v[m++] = (unsigned char)(p - charset);
  }
  int version = v[5];
  unsigned want = version == 0 ? 1u : 0x2bc830a3u;
  if (version > 16) return 0;
  return bech32_polymod(v, m) == want;
}

int vg_check_bitcoin(const char *z, int n) {
  if (n >= 3 && (z[0] | 0x20) == 'b' && (z[1] | 0x20) == 'c' && z[2] == '1') return bech32_ok(z, n);
  return base58check_ok(z, n);
}

int vg_check_ipv6(const char *z, int n) {
  char a[64];
  unsigned char addr[16];
  /* An optional prefix length: "/0" to "/128". */
  int nAddr = n;
  for (int i = 0; i < n; i++) {
    if (z[i] != '/') continue;
    int nDigit = n - i - 1, len = 0;
    if (nDigit < 1 || nDigit > 3) return 0;
    for (int k = i + 1; k < n; k++) {
      if (z[k] < '0' || z[k] > '9') return 0;
      len = len * 10 + z[k] - '0';
    }
    if (len > 128) return 0;
    nAddr = i;
    break;
  }
  if (nAddr < 2 || nAddr >= (int)sizeof a) return 0;
  memcpy(a, z, (size_t)nAddr);
  a[nAddr] = 0;
  return inet_pton(AF_INET6, a, addr) == 1;
}

/* ---- German identifiers --------------------------------------------------- */

/* ISO 7064 MOD 11,10 over d[0..n): the check digit that follows. */
static int mod11_10(const int *d, int n) {
  int product = 10;
  for (int i = 0; i < n; i++) {
    int s = (d[i] + product) % 10;
    product = (2 * (s ? s : 10)) % 11;
  }
  return (11 - product) % 10;
}

/* Steuerliche Identifikationsnummer: 11 digits, no leading 0. */
int vg_check_de_tax_id(const char *z, int n) {
  int d[11];
  if (digits_of(z, n, d, 11, 11) < 0 || d[0] == 0 || all_same(d, 10)) return 0;
  return mod11_10(d, 10) == d[10];
}

/* Umsatzsteuer-Identifikationsnummer: "DE" and 9 digits. */
int vg_check_de_vat_id(const char *z, int n) {
  char a[11];
  int d[9];
  if (chars_of(z, n, a, 11) != 11 || a[0] != 'D' || a[1] != 'E' || !as_digits(a + 2, 9, d)) {
    return 0;
  }
  return mod11_10(d, 8) == d[8];
}

/* Steuernummer: a state's form with '/' (10 or 11 digits), or the 13-digit
** federal form, which starts with the state's number 01-16. */
int vg_check_de_tax_number(const char *z, int n) {
  int d[13];
  if (memchr(z, '/', (size_t)n)) return digits_of(z, n, d, 10, 11) > 0;
  return digits_of(z, n, d, 13, 13) > 0 && two(d, 0) >= 1 && two(d, 0) <= 16;
}

/* A letter as two digits, A = 01 to Z = 26. */
static void letter_digits(char c, int *d) {
  d[0] = (alnum_value(c) - 9) / 10;
  d[1] = (alnum_value(c) - 9) % 10;
}

/* The sum of the digits of a number below 100. */
static int cross_sum(int x) { return x / 10 + x % 10; }

/* Rentenversicherungsnummer: area (2 digits), birth date DDMMYY, the
** initial of the birth name, a serial (2 digits), a check digit. */
int vg_check_de_social_security(const char *z, int n) {
  static const int w[] = {2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1};
  char a[12];
  int d[13];
  if (chars_of(z, n, a, 12) != 12 || a[8] < 'A' || !as_digits(a, 8, d) ||
      !as_digits(a + 9, 3, d + 10)) {
    return 0;
  }
  letter_digits(a[8], d + 8);
  /* The day of birth is also issued plus 50. */
  int day = two(d, 2) > 50 ? two(d, 2) - 50 : two(d, 2);
  if (!valid_day_month(day, two(d, 4))) return 0;
  int s = 0;
  for (int i = 0; i < 12; i++) s += cross_sum(d[i] * w[i]);
  return s % 10 == d[12];
}

/* Krankenversichertennummer: a letter, 8 digits, a check digit. */
int vg_check_de_health_insurance(const char *z, int n) {
  char a[10];
  int d[11];
  if (chars_of(z, n, a, 10) != 10 || a[0] < 'A' || !as_digits(a + 1, 9, d + 2)) return 0;
  letter_digits(a[0], d);
  int s = 0;
  for (int i = 0; i < 10; i++) s += cross_sum(d[i] * (i % 2 ? 2 : 1));
  return s % 10 == d[10];
}

/* Lebenslange Arztnummer: a 6-digit number, its check digit (weights 4
** and 9), a 2-digit specialty. */
int vg_check_de_lanr(const char *z, int n) {
  static const int w[] = {4, 9, 4, 9, 4, 9};
  int d[9];
  if (digits_of(z, n, d, 9, 9) < 0 || two(d, 7) == 0) return 0;
  return (10 - weighted(d, w, 6) % 10) % 10 == d[6];
}

/* ICAO 9303 check digit (weights 7, 3, 1; letters A = 10 .. Z = 35). */
static int icao_check(const char *a, int n) {
  static const int w[] = {7, 3, 1};
  int s = 0;
  for (int i = 0; i < n; i++) s += alnum_value(a[i]) * w[i % 3];
  return s % 10;
}

/* Reisepass: a letter, 7 letters or digits, a check digit; at least five
** digits in all (the recognizer's trigger is a cluster of digits). */
int vg_check_de_passport(const char *z, int n) {
  char a[9];
  int nDigit = 0;
  if (chars_of(z, n, a, 9) != 9 || a[8] < '0' || a[8] > '9') return 0;
  for (int i = 0; i < 9; i++) nDigit += a[i] <= '9';
  return nDigit >= 5 && icao_check(a, 8) == a[8] - '0';
}

/* Postleitzahl: 01001 to 99998. */
int vg_check_de_plz(const char *z, int n) {
  int d[5];
  if (digits_of(z, n, d, 5, 5) < 0) return 0;
  int v = 10000 * d[0] + 1000 * d[1] + 100 * d[2] + 10 * d[3] + d[4];
  return v >= 1001 && v <= 99998;
}

/* ---- vehicle plates and other letter-and-digit codes ---------------------- */

/* Are the letters of z all upper case or all lower case? */
static int one_case(const char *z, int n) {
  int nUpper = 0, nLower = 0;
  for (int i = 0; i < n; i++) {
    nUpper += z[i] >= 'A' && z[i] <= 'Z';
    nLower += z[i] >= 'a' && z[i] <= 'z';
  }
  return nUpper == 0 || nLower == 0;
}

/* Is z[0..n) (lower case letters) a common short word or unit of English,
** Spanish, German or Turkish, which prose puts between numbers? */
static int short_word(const char *z, int n) {
  static const char *const azWord[] = {
      "a",  "an",  "and", "are", "as",  "at",  "be",  "by", "cm", "de",  "del", "do",  "el",
      "en", "es",  "et",  "for", "he",  "i",   "if",  "in", "is", "it",  "kg",  "km",  "la",
      "le", "los", "me",  "mg",  "ml",  "mm",  "my",  "nd", "no", "of",  "on",  "or",  "per",
      "rd", "se",  "so",  "st",  "th",  "the", "to",  "un", "und", "up", "us",  "ve",  "vs",
      "we", "y",   "ya",  "yr",  "ile", "mit", "von", "zu", "bis"};
  for (size_t i = 0; i < sizeof azWord / sizeof azWord[0]; i++) {
    if ((int)strlen(azWord[i]) == n && memcmp(azWord[i], z, (size_t)n) == 0) return 1;
  }
  return 0;
}

/* Turkish plate: province 01-81, 1-3 letters (no Q, W, X), 2-4 digits: 3
** or 4 after one or two letters.  Lower-case letters must not be a word. */
int vg_check_tr_license_plate(const char *z, int n) {
  int i = 0, nLetter = 0, nDigit = 0, iLetter;
  while (i < n && (z[i] < 'A' || (z[i] > 'Z' && z[i] < 'a'))) i++;
  iLetter = i;
  for (; i < n && ((z[i] | 0x20) >= 'a' && (z[i] | 0x20) <= 'z'); i++) {
    if (strchr("QWXqwx", z[i])) return 0;
    nLetter++;
  }
  for (; i < n; i++) nDigit += z[i] >= '0' && z[i] <= '9';
  if (nLetter < 1 || nLetter > 3 || !one_case(z, n)) return 0;
  if (z[iLetter] >= 'a' && short_word(z + iLetter, nLetter)) return 0;
  return nLetter == 3 ? nDigit >= 2 && nDigit <= 4 : nDigit >= 3 && nDigit <= 4;
}

/* United Kingdom plate since 2001: region (2 letters), age (2 digits:
** March 02-29, September 51-79, issued up to 2029), 3 letters; no I or Q,
** no Z in the region. */
int vg_check_uk_vehicle_registration(const char *z, int n) {
  char a[7];
  if (chars_of(z, n, a, 7) != 7 || !one_case(z, n)) return 0;
  for (int i = 0; i < 7; i++) {
    int bDigit = a[i] <= '9';
    if (bDigit != (i == 2 || i == 3)) return 0;
    if (a[i] == 'I' || a[i] == 'Q' || (i == 0 && a[i] == 'Z')) return 0;
  }
  int age = (a[2] - '0') * 10 + (a[3] - '0');
  return (age >= 2 && age <= 29) || (age >= 51 && age <= 79);
}

/* National Insurance number: a valid two-letter prefix, 6 digits, A-D. */
int vg_check_uk_nino(const char *z, int n) {
  char a[9];
  if (chars_of(z, n, a, 9) != 9 || a[0] < 'A' || a[1] < 'A' || !as_digits(a + 2, 6, 0) ||
      a[8] < 'A' || a[8] > 'D' || strchr("DFIQUV", a[0]) || strchr("DFIOQUV", a[1])) {
    return 0;
  }
  static const char *const azBad[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
  for (size_t i = 0; i < sizeof azBad / sizeof azBad[0]; i++) {
    if (a[0] == azBad[i][0] && a[1] == azBad[i][1]) return 0;
  }
  return 1;
}

/* Driving licence: surname (5, padded with 9), decade, month (+50 for
** women), day, year, initials (2), a digit, 2 check letters. */
int vg_check_uk_driving_licence(const char *z, int n) {
  char a[16];
  int d[6];
  if (chars_of(z, n, a, 16) != 16 || !as_digits(a + 5, 6, d)) return 0;
  int month = two(d, 1) > 50 ? two(d, 1) - 50 : two(d, 1);
  return valid_day_month(two(d, 3), month);
}

/* Nigerian plate: LGA code (3 letters), 3 digits, 2 letters; in lower case
** not a word before the digits nor an ordinal after them ("the 100th"). */
int vg_check_ng_vehicle_registration(const char *z, int n) {
  char a[8];
  if (chars_of(z, n, a, 8) != 8 || !one_case(z, n)) return 0;
  for (int i = 0; i < 8; i++) {
    if ((a[i] <= '9') != (i >= 3 && i <= 5)) return 0;
  }
  if (z[0] >= 'A' && z[0] <= 'Z') return 1;
  return !short_word(z, 3) && !short_word(z + n - 2, 2);
}

/* Indian GSTIN: state, PAN, entity number, 'Z', a check character (mod 36,
** weights 1 and 2). */
int vg_check_in_gstin(const char *z, int n) {
  char a[15];
  if (chars_of(z, n, a, 15) != 15) return 0;
  int s = 0;
  for (int i = 0; i < 14; i++) {
    int v = alnum_value(a[i]) * (i % 2 ? 2 : 1);
    s += v / 36 + v % 36;
  }
  int c = (36 - s % 36) % 36;
  return a[14] == (c < 10 ? '0' + c : 'A' + c - 10);
}

/* Partita IVA: 11 digits (written with spaces, '-' or '_' between groups),
** Luhn, an office code 001-100, 120, 121, 888 or 999. */
int vg_check_it_vat_code(const char *z, int n) {
  int d[11], m = 0;
  for (int i = 0; i < n; i++) {
    if (z[i] == ' ' || z[i] == '-' || z[i] == '_') continue;
    if (z[i] < '0' || z[i] > '9' || m == 11) return 0;
    d[m++] = z[i] - '0';
  }
  if (m != 11 || all_same(d, 11)) return 0;
  int office = 100 * d[7] + two(d, 8);
  if (!((office >= 1 && office <= 100) || office == 120 || office == 121 || office == 888 ||
        office == 999)) {
    return 0;
  }
  return luhn_ok(d, 11);
}

/* Singapore NRIC/FIN: S, T, F or G, 7 digits, a check letter. */
int vg_check_sg_nric_fin(const char *z, int n) {
  static const int w[] = {2, 7, 6, 5, 4, 3, 2};
  char a[9];
  int d[7];
  if (chars_of(z, n, a, 9) != 9 || !strchr("STFG", a[0]) || !as_digits(a + 1, 7, d)) return 0;
  int s = (weighted(d, w, 7) + (a[0] == 'T' || a[0] == 'G' ? 4 : 0)) % 11;
  const char *zTable = a[0] == 'S' || a[0] == 'T' ? "JZIHGFEDCBA" : "XWUTRQPNMLK";
  return a[8] == zTable[s];
}

/* Singapore UEN: a business (8 digits), a local company (year and 5
** digits) or another entity (T/S/R, year, type, 4 digits), then a check
** letter. */
int vg_check_sg_uen(const char *z, int n) {
  static const int wBusiness[] = {10, 4, 9, 3, 8, 2, 7, 1};
  static const int wCompany[] = {10, 8, 6, 4, 9, 7, 5, 3, 1};
  static const int wOther[] = {4, 3, 5, 3, 10, 2, 2, 5, 7};
  static const char zOther[] = "ABCDEFGHJKLMNPQRSTUVWX0123456789";
  char a[10];
  int d[9], m = chars_of(z, n, a, 10), nDigit = 0;
  if (m < 9 || a[m - 1] < 'A') return 0;
  while (nDigit < m - 1 && a[nDigit] <= '9') {
    d[nDigit] = a[nDigit] - '0';
    nDigit++;
  }
  if (m == 9 && nDigit == 8) return a[8] == "XMKECAWLJDB"[weighted(d, wBusiness, 8) % 11];
  if (m == 10 && nDigit == 9) return a[9] == "ZKCMDNERGWH"[weighted(d, wCompany, 9) % 11];
  if (m != 10 || !strchr("RST", a[0])) return 0;
  int s = 0;
  for (int i = 0; i < 9; i++) {
    const char *p = strchr(zOther, a[i]);
    if (p == 0) return 0;
    s += (int)(p - zOther) * wOther[i];
  }
  return a[9] == zOther[((s - 5) % 11 + 11) % 11];
}

/* South African identity number: birth date YYMMDD, 4 digits, citizenship
** (0, 1 or 2), a digit, Luhn. */
int vg_check_za_id_number(const char *z, int n) {
  int d[13];
  if (digits_of(z, n, d, 13, 13) < 0 || d[10] > 2) return 0;
  return valid_day_month(two(d, 4), two(d, 2)) && luhn_ok(d, 13);
}

/* A date of numbers: day, month, year (or month, day, year; or year, month,
** day), the year of 2 or 4 digits. */
int vg_check_date(const char *z, int n) {
  int aVal[3], aLen[3];
  if (digit_groups(z, n, aLen, aVal, 3) != 3) return 0;
  if (aLen[0] == 4) return aLen[2] <= 2 && valid_day_month(aVal[2], aVal[1]);
  if (aLen[2] != 2 && aLen[2] != 4) return 0;
  if (aLen[2] == 4 && (aVal[2] < 1880 || aVal[2] > 2099)) return 0;
  return valid_day_month(aVal[0], aVal[1]) || valid_day_month(aVal[1], aVal[0]);
}

/* US SSN as Microsoft Presidio's recognizer lets one through: one kind of
** separator, not one digit repeated, no zero group or serial, none of the
** numbers known from advertisements and examples, not an ITIN.  Looser
** than vg_check_us_ssn (other areas from 900 pass), for a weak finding. */
int vg_check_us_ssn_weak(const char *z, int n) {
  static const char *const azSample[] = {"000", "666", "123456789", "98765432", "078051120"};
  char cSep = 0;
  int d[9];
  for (int i = 0; i < n; i++) {
    if (z[i] >= '0' && z[i] <= '9') continue;
    if (cSep && z[i] != cSep) return 0;
    cSep = z[i];
  }
  if (digits_of(z, n, d, 9, 9) < 0 || all_same(d, 9)) return 0;
  if (two(d, 3) == 0 || two(d, 5) * 100 + two(d, 7) == 0) return 0;
  /* Areas 900-999 with an ITIN's group are ITINs. */
  if (vg_check_us_itin(z, n)) return 0;
  char a[10];
  for (int i = 0; i < 9; i++) a[i] = (char)('0' + d[i]);
  a[9] = 0;
  for (size_t i = 0; i < sizeof azSample / sizeof azSample[0]; i++) {
    if (strncmp(a, azSample[i], strlen(azSample[i])) == 0) return 0;
  }
  return 1;
}

/* DEA registration number: two letters (the registrant's type, then the
** initial of the name, or '9' for some registrants), six digits and a check
** digit: the last digit of d1 + d3 + d5 + 2 (d2 + d4 + d6). */
int vg_check_dea(const char *z, int n) {
  char a[9];
  int d[7];
  if (chars_of(z, n, a, 9) != 9 || a[0] < 'A' || !strchr("ABCDEFGHJKLMPRSTUX", a[0]) ||
      !as_digits(a + 2, 7, d) || (a[1] < 'A' && a[1] != '9')) {
    return 0;
  }
  return (d[0] + d[2] + d[4] + 2 * (d[1] + d[3] + d[5])) % 10 == d[6];
}
