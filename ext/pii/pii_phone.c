/*
** pii_phone.c — telephone numbers checked against numbering plans (see
** pii.h, pii_digits section): ITU-T E.164 country calling codes, and for
** the countries covered, which national significant numbers (NSN) exist,
** the trunk prefix national numbers are dialled with, and whether a
** national number may be written without it.
**
** The plans are coarse summaries of each regulator's plan as
** libphonenumber's metadata records it: leading digits and lengths, not
** every block.  A number written with '+' (or an international call
** prefix) names its country; a number written nationally is checked
** against the plan of the country its recognizer is for.
*/
#include "pii/pii.h"

#include <string.h>

/* The assigned E.164 country calling codes.  They form a prefix code: a
** number's first digits match at most one. */
static const char azCountryCode[] =
    " 1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 60 61"
    " 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 211 212 213 216 218 220 221 222 223 224"
    " 225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 244 245 246"
    " 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 264 265 266 267 268 269"
    " 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 372 373 374 375 376"
    " 377 378 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 506 507 508"
    " 509 590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 681"
    " 682 683 685 686 687 688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882"
    " 883 886 888 960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 979 992"
    " 993 994 995 996 998 ";

/* A country's plan.  zNsn lists the numbers that exist, separated by
** spaces, each as leading digits and a length range: "5[03-5]/10" is ten
** digits starting 50, 53, 54 or 55; "[2-9]/6-11" six to eleven starting
** 2 to 9.  A class [..] holds digits and ranges; '.' is any digit. */
typedef struct PhonePlan {
  const char *zCc;
  char cTrunk;        /* the trunk prefix, or 0 where there is none */
  int bTrunkOptional; /* national numbers are also written without it */
  const char *zNsn;
} PhonePlan;

static const PhonePlan aPlan[] = {
    /* North America: area code and exchange code NXX, no N11 codes. */
    {"1", '1', 1, "[2-9][0-8].[2-9]/10"},
    {"44", '0', 0, "1/9-10 2/10 3/10 5/10 7/10 8/9-10 9/10"},
    {"49", '0', 0, "1[5-7]/10-11 [2-9]/6-11"},
    {"33", '0', 0, "[1-9]/9"},
    {"39", 0, 0, "0/6-11 3/9-10"},
    {"34", 0, 0, "[6-9]/9"},
    {"41", '0', 0, "[2-9]/9"},
    {"91", '0', 1, "[6-9]/10 [1-5][0-9][2-7]/10"},
    {"90", '0', 1,
     "21[26]/10 2[28][2468]/10 2[3-5][268]/10 2[67][246]/10 3[13][28]/10 3[24-6][2468]/10 "
     "3[78][02468]/10 392/10 4[16][246]/10 4[23578][2468]/10 44[26]/10 5[03-5]/10 51[06]/10 "
     "524/10 56[24]/10 57[245]/10 59[46]/10 850/10"},
    {"63", '0', 0,
     "90[5-9]/10 91[0-24-9]/10 9[235-7]/10 94[2-9]/10 98[135-9]/10 99[1-9]/10 81[37]/10 "
     "89[5-8]/10 2/9 [3-7][2-8]/9 8[2-8]/9"},
    {"82", '0', 0, "1[016-9]/9-10 2[1-9]/8-9 3[1-3][1-9]/9-10 [46][1-4][1-9]/9-10 5[1-5][1-9]/9-10 70/10"},
    {"61", '0', 0, "[2378]/9 4/9"},
    {"65", 0, 0, "[3689]/8"},
    {"55", '0', 0, "[1-9][1-9][2-5]/10 [1-9][1-9]9/11"},
    {"52", 0, 0, "[2-9]/10"},
    {"972", '0', 0, "[2-489]/8 5/9 7/9"},
    {"81", '0', 0, "[1-9]/9 [6-9]0[1-9]/10"},
    {"86", '0', 0, "1[3-9]/11 [2-9]/9-11 10/10"},
};

/* Does the digit c match the class at *pz?  Moves *pz past it. */
static int class_match(const char **pz, char c) {
  const char *z = *pz;
  if (*z != '[') {
    *pz = z + 1;
    return *z == '.' || *z == c;
  }
  int bMatch = 0;
  for (z++; *z && *z != ']'; z++) {
    if (z[1] == '-' && z[2] && z[2] != ']') {
      bMatch |= c >= z[0] && c <= z[2];
      z += 2;
    } else {
      bMatch |= c == *z;
    }
  }
  *pz = *z ? z + 1 : z;
  return bMatch;
}

/* Does the NSN a[0..n) (digits as characters) exist in plan p? */
static int nsn_valid(const PhonePlan *p, const char *a, int n) {
  for (const char *z = p->zNsn; *z;) {
    int bMatch = 1, k = 0;
    while (*z && *z != '/') {
      if (!class_match(&z, k < n ? a[k] : 0) || k >= n) bMatch = 0;
      k++;
    }
    int lo = 0, hi;
    for (z += *z == '/'; *z >= '0' && *z <= '9'; z++) lo = lo * 10 + (*z - '0');
    hi = lo;
    if (*z == '-') {
      for (hi = 0, z++; *z >= '0' && *z <= '9'; z++) hi = hi * 10 + (*z - '0');
    }
    if (bMatch && n >= lo && n <= hi) return 1;
    while (*z == ' ') z++;
  }
  return 0;
}

static const PhonePlan *plan_for(const char *zCc) {
  for (size_t i = 0; i < sizeof aPlan / sizeof aPlan[0]; i++) {
    if (strcmp(aPlan[i].zCc, zCc) == 0) return &aPlan[i];
  }
  return 0;
}

/* How the number was written. */
typedef struct PhoneText {
  char a[24];   /* its digits, without an extension */
  int n;
  int bPlus;    /* it starts with '+' */
  int bTrunk0;  /* "(0)" after the country code: a trunk prefix shown, not dialled */
} PhoneText;

/* Read z[0..n): digits and the separators people write (space, '-',
** '.', '/', parentheses), up to an extension ("x12", "ext. 12").  0 for
** anything else, or too many digits. */
static int read_phone(const char *z, int n, PhoneText *t) {
  memset(t, 0, sizeof *t);
  int i = 0;
  if (n > 0 && z[0] == '+') {
    t->bPlus = 1;
    i = 1;
  }
  for (; i < n; i++) {
    char c = z[i];
    if (c >= '0' && c <= '9') {
      if (t->n == (int)sizeof t->a) return 0;
      t->a[t->n++] = c;
    } else if (c == '(' && i + 2 < n && z[i + 1] == '0' && z[i + 2] == ')' && t->bPlus) {
      t->bTrunk0 = 1;
      i += 2;
    } else if (c == 'x' || c == 'X' || c == 'e' || c == 'E') {
      break;
    } else if (!strchr(" -./()", c)) {
      return 0;
    }
  }
  return t->n > 0;
}

/* The country code at the start of a[0..n): its length, 0 if none. */
static int country_code(const char *a, int n, char *zCc) {
  for (int k = 1; k <= 3 && k < n; k++) {
    char z[6] = " ";
    memcpy(z + 1, a, (size_t)k);
    z[k + 1] = ' ';
    z[k + 2] = 0;
    if (strstr(azCountryCode, z)) {
      memcpy(zCc, a, (size_t)k);
      zCc[k] = 0;
      return k;
    }
  }
  return 0;
}

static int all_same_char(const char *a, int n) {
  for (int i = 1; i < n; i++) {
    if (a[i] != a[0]) return 0;
  }
  return 1;
}

/* An international number: '+', or an international call prefix (00, or
** 011 from North America), a country code, the NSN.  A covered country's
** NSN must exist in its plan; another's must make 8 to 15 digits in all
** (E.164's limit). */
static int international(const PhoneText *t, const char *zWantCc) {
  const char *a = t->a;
  int n = t->n;
  if (!t->bPlus) {
    if (n > 3 && memcmp(a, "011", 3) == 0) {
      a += 3, n -= 3;
    } else if (n > 2 && a[0] == '0' && a[1] == '0') {
      a += 2, n -= 2;
    } else {
      return 0;
    }
  }
  char zCc[4];
  int k = country_code(a, n, zCc);
  if (k == 0 || all_same_char(a + k, n - k)) return 0;
  if (zWantCc && strcmp(zCc, zWantCc) != 0) return 0;
  const PhonePlan *p = plan_for(zCc);
  if (p == 0) return n >= 8 && n <= 15;
  return nsn_valid(p, a + k, n - k);
}

/* A national number of the country whose code is zCc: with its trunk
** prefix, or without it where the plan allows. */
static int national(const PhoneText *t, const char *zCc) {
  const PhonePlan *p = plan_for(zCc);
  if (t->bPlus || p == 0 || all_same_char(t->a, t->n)) return 0;
  if (p->cTrunk && t->a[0] == p->cTrunk && nsn_valid(p, t->a + 1, t->n - 1)) return 1;
  return (p->cTrunk == 0 || p->bTrunkOptional) && nsn_valid(p, t->a, t->n);
}

int vg_check_phone_intl(const char *z, int n) {
  PhoneText t;
  return read_phone(z, n, &t) && international(&t, 0);
}

int vg_check_phone_nanp(const char *z, int n) {
  PhoneText t;
  return read_phone(z, n, &t) && (international(&t, "1") || national(&t, "1"));
}

int vg_check_phone_tr(const char *z, int n) {
  PhoneText t;
  return read_phone(z, n, &t) && (international(&t, "90") || national(&t, "90"));
}

/* Written nationally, only a mobile number (0 and ten digits from 8 or 9)
** is told apart from other countries' numbers with a trunk 0. */
int vg_check_phone_ph(const char *z, int n) {
  PhoneText t;
  if (!read_phone(z, n, &t)) return 0;
  if (international(&t, "63")) return 1;
  return t.n == 11 && (t.a[1] == '8' || t.a[1] == '9') && national(&t, "63");
}
