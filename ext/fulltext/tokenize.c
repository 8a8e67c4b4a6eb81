/*
** tokenize.c — a text's terms (fulltext.h, terms section): tokens split on
** Unicode categories, folded by utf8proc, stop words dropped, English words
** stemmed, each term hashed.
*/
#include "fulltext/fulltext.h"

#include <string.h>
#include <utf8proc.h>

/* Decomposition, case folding and marks stripped: what makes "Café" and
** "CAFE" one word (utf8proc_decompose_char applies them per character). */
#define FOLD_OPTIONS (UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK)

/* No character decomposes into more code points than this (U+FDFA, the
** longest, gives 18). */
#define FOLD_MAX 32

static int is_word_category(utf8proc_category_t c) {
  return (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) || /* letters */
         (c >= UTF8PROC_CATEGORY_MN && c <= UTF8PROC_CATEGORY_ME) || /* marks */
         (c >= UTF8PROC_CATEGORY_ND && c <= UTF8PROC_CATEGORY_NO);   /* numbers */
}

/* CJK ideographs, which stand for words and are written without spaces
** (the blocks BERT's tokenizer splits on). */
static int is_ideograph(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* The term being built: folded bytes, cut at FT_MAX_TERM. */
typedef struct TermBuf {
  char a[FT_MAX_TERM + 4];
  int n;
  int bAscii; /* only ASCII letters so far */
} TermBuf;

static void term_add(TermBuf *t, int32_t c) {
  unsigned char buf[4];
  /* Whether the word is all letters is decided on all of it, cut or not. */
  if (!(c >= 'a' && c <= 'z')) t->bAscii = 0;
  int n = (int)utf8proc_encode_char(c, buf);
  if (t->n + n > FT_MAX_TERM) return; /* cut: the rest of the token is dropped */
  memcpy(t->a + t->n, buf, (size_t)n);
  t->n += n;
}

/* Fold character c into the term: its decomposition's letters and digits,
** case-folded (marks are stripped by utf8proc). */
static void term_fold(TermBuf *t, int32_t c) {
  if (c < 0x80) {
    term_add(t, (c >= 'A' && c <= 'Z') ? c + 32 : c);
    return;
  }
  utf8proc_int32_t aOut[FOLD_MAX];
  int last = 0;
  utf8proc_ssize_t n = utf8proc_decompose_char(c, aOut, FOLD_MAX, FOLD_OPTIONS, &last);
  if (n < 0 || n > FOLD_MAX) return;
  for (utf8proc_ssize_t i = 0; i < n; i++) {
    utf8proc_category_t cat = utf8proc_category(aOut[i]);
    if ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
        (cat >= UTF8PROC_CATEGORY_ND && cat <= UTF8PROC_CATEGORY_NO)) {
      term_add(t, aOut[i]);
    }
  }
}

/* Hand the finished term to xTerm, unless it is empty or a stop word. */
static int term_emit(TermBuf *t, FtTermFn xTerm, void *pCtx) {
  int n = t->n, rc = FT_OK;
  if (n > 0 && !ft_is_stop_word(t->a, n)) {
    if (t->bAscii && n >= 3) ft_porter_stem(t->a, &n);
    rc = xTerm(pCtx, t->a, n);
  }
  t->n = 0;
  t->bAscii = 1;
  return rc;
}

int ft_tokenize(const char *z, int n, FtTermFn xTerm, void *pCtx) {
  TermBuf t;
  t.n = 0;
  t.bAscii = 1;
  const unsigned char *p = (const unsigned char *)z;
  int i = 0, rc = FT_OK;
  while (i < n && rc == FT_OK) {
    int32_t c;
    int nc;
    if (p[i] < 0x80) {
      c = p[i];
      nc = 1;
    } else {
      utf8proc_int32_t cp;
      utf8proc_ssize_t r = utf8proc_iterate(p + i, n - i, &cp);
      if (r <= 0) { /* not UTF-8 (callers check): a separator */
        rc = term_emit(&t, xTerm, pCtx);
        i++;
        continue;
      }
      c = cp;
      nc = (int)r;
    }
    i += nc;
    int bWord = c < 0x80 ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
                         : is_word_category(utf8proc_category(c));
    if (!bWord) {
      rc = term_emit(&t, xTerm, pCtx);
    } else if (c >= 0x80 && is_ideograph(c)) {
      rc = term_emit(&t, xTerm, pCtx);
      if (rc == FT_OK) {
        term_fold(&t, c);
        rc = term_emit(&t, xTerm, pCtx);
      }
    } else {
      term_fold(&t, c);
    }
  }
  if (rc == FT_OK) rc = term_emit(&t, xTerm, pCtx);
  return rc;
}

int ft_is_stop_word(const char *z, int n) {
  /* Each stop word with a space on each side, so that a match is a whole
  ** word; terms of more than 5 bytes are never stop words. */
  static const char zStop[] = " " FT_STOP_WORDS " ";
  if (n < 1 || n > 5 || memchr(z, 0, (size_t)n)) return 0; /* a NUL would end the key early */
  char aKey[8];
  aKey[0] = ' ';
  memcpy(aKey + 1, z, (size_t)n);
  aKey[n + 1] = ' ';
  aKey[n + 2] = 0;
  return strstr(zStop, aKey) != 0;
}

/* FNV-1a, then a 64-bit finalizer (splitmix64's) so that every bit of the
** hash depends on every byte. */
int64_t ft_term_hash(const char *z, int n) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (int i = 0; i < n; i++) {
    h ^= (unsigned char)z[i];
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return (int64_t)h;
}
