/*
** porter.c — Porter's suffix-stripping algorithm for English (M. F. Porter,
** "An algorithm for suffix stripping", Program 14(3), 1980), written from
** the paper's definitions:
**
**   A consonant is a letter other than a, e, i, o, u, and other than y
**   preceded by a consonant.  Any word is [C](VC)^m[V], C a run of
**   consonants and V of vowels; m is its measure.  *v*: the stem has a
**   vowel; *d: it ends with a double consonant; *o: it ends
**   consonant-vowel-consonant, the last not w, x or y.
**
** Each step tries its rules' suffixes and takes the longest that ends the
** word; if that rule's condition fails, the step does nothing (no shorter
** suffix is tried).  The tables below list a step's overlapping suffixes
** longest first, so the first suffix found is the longest.
*/
#include "fulltext/fulltext.h"

#include <string.h>

static int is_consonant(const char *z, int i) {
  switch (z[i]) {
    case 'a': case 'e': case 'i': case 'o': case 'u':
      return 0;
    case 'y':
      return i == 0 || !is_consonant(z, i - 1);
    default:
      return 1;
  }
}

/* m of z[0, n). */
static int measure(const char *z, int n) {
  int m = 0, i = 0;
  while (i < n && is_consonant(z, i)) i++;
  while (i < n) {
    while (i < n && !is_consonant(z, i)) i++;
    if (i >= n) break;
    while (i < n && is_consonant(z, i)) i++;
    m++;
  }
  return m;
}

static int has_vowel(const char *z, int n) {
  for (int i = 0; i < n; i++) {
    if (!is_consonant(z, i)) return 1;
  }
  return 0;
}

/* *d on z[0, n). */
static int ends_double(const char *z, int n) {
  return n >= 2 && z[n - 1] == z[n - 2] && is_consonant(z, n - 1);
}

/* *o on z[0, n). */
static int ends_cvc(const char *z, int n) {
  if (n < 3 || !is_consonant(z, n - 3) || is_consonant(z, n - 2) || !is_consonant(z, n - 1)) {
    return 0;
  }
  return z[n - 1] != 'w' && z[n - 1] != 'x' && z[n - 1] != 'y';
}

static int ends_with(const char *z, int n, const char *zSuffix) {
  int ns = (int)strlen(zSuffix);
  return n >= ns && memcmp(z + n - ns, zSuffix, (size_t)ns) == 0;
}

/* z[0, *pn) with its last nCut bytes replaced by zWith. */
static void replace_end(char *z, int *pn, int nCut, const char *zWith) {
  int nw = (int)strlen(zWith);
  memcpy(z + *pn - nCut, zWith, (size_t)nw);
  *pn += nw - nCut;
}

typedef struct Rule {
  const char *zSuffix;
  const char *zWith;
} Rule;

/* Steps 2 and 3: (m > 0) suffix -> replacement, on the longest suffix. */
static void apply_m0(char *z, int *pn, const Rule *a) {
  for (; a->zSuffix; a++) {
    if (!ends_with(z, *pn, a->zSuffix)) continue;
    int nStem = *pn - (int)strlen(a->zSuffix);
    if (measure(z, nStem) > 0) replace_end(z, pn, *pn - nStem, a->zWith);
    return;
  }
}

static const Rule aStep2[] = {
    {"ational", "ate"}, {"tional", "tion"}, {"enci", "ence"}, {"anci", "ance"},
    {"izer", "ize"},    {"abli", "able"},   {"alli", "al"},   {"entli", "ent"},
    {"eli", "e"},       {"ousli", "ous"},   {"ization", "ize"}, {"ation", "ate"},
    {"ator", "ate"},    {"alism", "al"},    {"iveness", "ive"}, {"fulness", "ful"},
    {"ousness", "ous"}, {"aliti", "al"},    {"iviti", "ive"},   {"biliti", "ble"},
    {0, 0}};

static const Rule aStep3[] = {
    {"icate", "ic"}, {"ative", ""}, {"alize", "al"}, {"iciti", "ic"},
    {"ical", "ic"},  {"ful", ""},   {"ness", ""},    {0, 0}};

/* Step 4: (m > 1) suffix -> nothing; ION only after s or t. */
static const char *const azStep4[] = {
    "al",  "ance", "ence", "er",  "ic",  "able", "ible", "ant", "ement", "ment",
    "ent", "ion",  "ou",   "ism", "ate", "iti",  "ous",  "ive", "ize",   0};

static void step1(char *z, int *pn) {
  int n = *pn;
  /* 1a */
  if (ends_with(z, n, "sses") || ends_with(z, n, "ies")) {
    n -= 2;
  } else if (!ends_with(z, n, "ss") && ends_with(z, n, "s")) {
    n -= 1;
  }
  /* 1b */
  int bTidy = 0;
  if (ends_with(z, n, "eed")) {
    if (measure(z, n - 3) > 0) n -= 1;
  } else if (ends_with(z, n, "ed") && has_vowel(z, n - 2)) {
    n -= 2;
    bTidy = 1;
  } else if (ends_with(z, n, "ing") && has_vowel(z, n - 3)) {
    n -= 3;
    bTidy = 1;
  }
  if (bTidy) {
    if (ends_with(z, n, "at") || ends_with(z, n, "bl") || ends_with(z, n, "iz")) {
      z[n++] = 'e';
    } else if (ends_double(z, n) && z[n - 1] != 'l' && z[n - 1] != 's' && z[n - 1] != 'z') {
      n -= 1;
    } else if (measure(z, n) == 1 && ends_cvc(z, n)) {
      z[n++] = 'e';
    }
  }
  /* 1c */
  if (n >= 1 && z[n - 1] == 'y' && has_vowel(z, n - 1)) z[n - 1] = 'i';
  *pn = n;
}

static void step4(char *z, int *pn) {
  for (int i = 0; azStep4[i]; i++) {
    const char *zs = azStep4[i];
    if (!ends_with(z, *pn, zs)) continue;
    int nStem = *pn - (int)strlen(zs);
    /* Of ement, ment and ent (longest first in the table), only the longest
    ** that ends the word is tried. */
    if (strcmp(zs, "ion") == 0 && !(nStem >= 1 && (z[nStem - 1] == 's' || z[nStem - 1] == 't'))) {
      continue; /* "ion" without s or t before it is no rule; "ou" cannot end it either */
    }
    if (measure(z, nStem) > 1) *pn = nStem;
    return;
  }
}

static void step5(char *z, int *pn) {
  int n = *pn;
  if (n >= 1 && z[n - 1] == 'e') {
    int m = measure(z, n - 1);
    if (m > 1 || (m == 1 && !ends_cvc(z, n - 1))) n -= 1;
  }
  if (n >= 2 && z[n - 1] == 'l' && ends_double(z, n) && measure(z, n) > 1) n -= 1;
  *pn = n;
}

void ft_porter_stem(char *z, int *pn) {
  if (*pn < 3) return;
  step1(z, pn);
  apply_m0(z, pn, aStep2);
  apply_m0(z, pn, aStep3);
  step4(z, pn);
  step5(z, pn);
}
