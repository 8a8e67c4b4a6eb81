/*
** wordpiece.c — the WordPiece tokenizer (bert.h, tokenizer section): the
** vocabulary, normalization, the split into words and the greedy cut into
** pieces.
*/
#include "bert/bert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct BertVocab {
  int nToken;
  char **azToken;   /* id -> token, each NUL-terminated, in one block with pText */
  int *anToken;     /* id -> its bytes */
  uint32_t *aSlot;  /* open addressing: id + 1, or 0 for an empty slot */
  uint32_t mask;    /* slots - 1 (a power of two) */
  int nMaxChars;    /* the longest token's characters, "##" left out */
  int idUnk, idCls, idSep;
};

void bert_tokenizer_options_default(BertTokenizerOptions *p) {
  p->bCleanText = 1;
  p->bChineseChars = 1;
  p->bStripAccents = 1;
  p->bLowercase = 1;
  p->nMaxWordChars = 100;
}

/* ---- the vocabulary ------------------------------------------------------ */

static uint32_t hash_bytes(const char *z, int n) {
  uint32_t h = 2166136261u; /* FNV-1a */
  for (int i = 0; i < n; i++) h = (h ^ (unsigned char)z[i]) * 16777619u;
  return h;
}

static int utf8_chars(const char *z, int n) {
  int c = 0;
  for (int i = 0; i < n; i++) c += ((unsigned char)z[i] & 0xc0) != 0x80;
  return c;
}

int bert_vocab_find(const BertVocab *v, const char *z, int n) {
  for (uint32_t i = hash_bytes(z, n) & v->mask;; i = (i + 1) & v->mask) {
    uint32_t s = v->aSlot[i];
    if (s == 0) return -1;
    int id = (int)s - 1;
    if (v->anToken[id] == n && memcmp(v->azToken[id], z, (size_t)n) == 0) return id;
  }
}

int bert_vocab_size(const BertVocab *v) { return v->nToken; }

const char *bert_vocab_token(const BertVocab *v, int id) { return v->azToken[id]; }

void bert_vocab_free(BertVocab *v) {
  if (v == 0) return;
  free(v->azToken);
  free(v->anToken);
  free(v->aSlot);
  free(v);
}

int bert_vocab_new(const char *const *azToken, int nToken, BertVocab **ppVocab, char *zErr) {
  *ppVocab = 0;
  if (nToken < 3 || nToken > (1 << 24)) {
    snprintf(zErr, BERT_ERR_MAX, "a vocabulary holds from 3 to %d tokens, not %d", 1 << 24, nToken);
    return BERT_ERROR;
  }
  size_t nByte = 0;
  for (int i = 0; i < nToken; i++) nByte += strlen(azToken[i]) + 1;
  uint32_t nSlot = 1;
  while (nSlot < 2u * (uint32_t)nToken) nSlot *= 2;
  BertVocab *v = calloc(1, sizeof(*v));
  if (v == 0) return BERT_NOMEM;
  /* One block: the pointers, then the tokens' bytes. */
  v->azToken = malloc(sizeof(char *) * (size_t)nToken + nByte);
  v->anToken = malloc(sizeof(int) * (size_t)nToken);
  v->aSlot = calloc(nSlot, sizeof(uint32_t));
  if (v->azToken == 0 || v->anToken == 0 || v->aSlot == 0) {
    bert_vocab_free(v);
    return BERT_NOMEM;
  }
  v->nToken = nToken;
  v->mask = nSlot - 1;
  char *p = (char *)(v->azToken + nToken);
  for (int id = 0; id < nToken; id++) {
    int n = (int)strlen(azToken[id]);
    memcpy(p, azToken[id], (size_t)n + 1);
    v->azToken[id] = p;
    v->anToken[id] = n;
    p += n + 1;
    if (bert_vocab_find(v, azToken[id], n) >= 0) {
      snprintf(zErr, BERT_ERR_MAX, "token %d (\"%.40s\") is in the vocabulary twice", id, azToken[id]);
      bert_vocab_free(v);
      return BERT_ERROR;
    }
    uint32_t i = hash_bytes(azToken[id], n) & v->mask;
    while (v->aSlot[i]) i = (i + 1) & v->mask;
    v->aSlot[i] = (uint32_t)id + 1;
    int nChars = utf8_chars(azToken[id], n) - (n >= 2 && memcmp(azToken[id], "##", 2) == 0 ? 2 : 0);
    if (nChars > v->nMaxChars) v->nMaxChars = nChars;
  }
  static const char *const azSpecial[] = {"[UNK]", "[CLS]", "[SEP]"};
  int *aidSpecial[] = {&v->idUnk, &v->idCls, &v->idSep};
  for (int i = 0; i < 3; i++) {
    *aidSpecial[i] = bert_vocab_find(v, azSpecial[i], (int)strlen(azSpecial[i]));
    if (*aidSpecial[i] < 0) {
      snprintf(zErr, BERT_ERR_MAX, "the vocabulary has no %s token", azSpecial[i]);
      bert_vocab_free(v);
      return BERT_ERROR;
    }
  }
  *ppVocab = v;
  return BERT_OK;
}

int bert_vocab_load(const char *zPath, BertVocab **ppVocab, char *zErr) {
  *ppVocab = 0;
  FILE *f = fopen(zPath, "rb");
  if (f == 0) {
    snprintf(zErr, BERT_ERR_MAX, "cannot open %s", zPath);
    return BERT_ERROR;
  }
  char *zText = 0;
  size_t n = 0, nAlloc = 0;
  int rc = BERT_OK;
  for (;;) {
    if (n + 65536 > nAlloc) {
      nAlloc = nAlloc ? 2 * nAlloc : 1 << 20;
      char *zNew = realloc(zText, nAlloc + 1);
      if (zNew == 0) {
        rc = BERT_NOMEM;
        break;
      }
      zText = zNew;
    }
    size_t got = fread(zText + n, 1, nAlloc - n, f);
    n += got;
    if (got == 0) break;
  }
  if (rc == BERT_OK && ferror(f)) {
    snprintf(zErr, BERT_ERR_MAX, "cannot read %s", zPath);
    rc = BERT_ERROR;
  }
  fclose(f);
  /* Lines, each cut at its trailing whitespace, NUL-terminated in place. */
  const char **azToken = 0;
  int nToken = 0, nTokenAlloc = 0;
  for (size_t i = 0; rc == BERT_OK && i < n;) {
    size_t j = i;
    while (j < n && zText[j] != '\n') j++;
    size_t e = j;
    while (e > i && (zText[e - 1] == ' ' || zText[e - 1] == '\t' || zText[e - 1] == '\r')) e--;
    if (memchr(zText + i, 0, e - i) != 0) {
      snprintf(zErr, BERT_ERR_MAX, "%s: line %d holds a NUL byte (a vocab.txt has one token per line)", zPath,
               nToken + 1);
      rc = BERT_ERROR;
      break;
    }
    zText[e] = 0;
    if (nToken == nTokenAlloc) {
      nTokenAlloc = nTokenAlloc ? 2 * nTokenAlloc : 32768;
      const char **aNew = realloc(azToken, sizeof(char *) * (size_t)nTokenAlloc);
      if (aNew == 0) {
        rc = BERT_NOMEM;
        break;
      }
      azToken = aNew;
    }
    azToken[nToken++] = zText + i;
    i = j + 1;
  }
  if (rc == BERT_OK) rc = bert_vocab_new(azToken, nToken, ppVocab, zErr);
  if (rc == BERT_ERROR && zErr[0] && strncmp(zErr, zPath, strlen(zPath)) != 0) {
    char zMsg[BERT_ERR_MAX];
    snprintf(zMsg, sizeof zMsg, "%s: %s", zPath, zErr);
    memcpy(zErr, zMsg, sizeof zMsg);
  }
  free(azToken);
  free(zText);
  return rc;
}

/* ---- normalization ------------------------------------------------------- */

/* A character of the normalized text and the input bytes it came from. */
typedef struct NormChar {
  int32_t c;
  int start, end;
} NormChar;

typedef struct NormText {
  NormChar *a;
  int n, nAlloc;
} NormText;

static int norm_add(NormText *t, int32_t c, int start, int end) {
  if (t->n == t->nAlloc) {
    int nNew = t->nAlloc ? 2 * t->nAlloc : 64;
    NormChar *aNew = realloc(t->a, sizeof(NormChar) * (size_t)nNew);
    if (aNew == 0) return BERT_NOMEM;
    t->a = aNew;
    t->nAlloc = nNew;
  }
  t->a[t->n++] = (NormChar){c, start, end};
  return BERT_OK;
}

/* Whitespace as the tokenizers library counts it: tab, newline, carriage
** return and Unicode's White_Space (the Z* categories; the other
** White_Space characters are controls that cleaning drops first). */
static int is_space(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r' || c == ' ') return 1;
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_ZS || k == UTF8PROC_CATEGORY_ZL || k == UTF8PROC_CATEGORY_ZP;
}

static int is_control(int32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return 0;
  utf8proc_category_t k = utf8proc_category(c);
  return k == UTF8PROC_CATEGORY_CC || k == UTF8PROC_CATEGORY_CF || k == UTF8PROC_CATEGORY_CO ||
         k == UTF8PROC_CATEGORY_CS || k == UTF8PROC_CATEGORY_CN;
}

static int is_punctuation(int32_t c) {
  if (c < 128) return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  utf8proc_category_t k = utf8proc_category(c);
  return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* The CJK Unified Ideographs blocks and their extensions and compatibility
** ideographs, as the tokenizers library lists them. */
static int is_cjk(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Append c (from input bytes [start, end)) after accents and case. */
static int norm_emit(NormText *t, const BertTokenizerOptions *o, int32_t c, int start, int end) {
  int32_t aDec[32];
  int nDec = 1;
  aDec[0] = c;
  if (o->bStripAccents) {
    int boundclass = 0;
    utf8proc_ssize_t k = utf8proc_decompose_char(c, aDec, 32, UTF8PROC_DECOMPOSE, &boundclass);
    if (k < 1 || k > 32) {
      aDec[0] = c; /* no decomposition is longer than 4 */
      k = 1;
    }
    nDec = (int)k;
  }
  for (int i = 0; i < nDec; i++) {
    int32_t d = aDec[i];
    if (o->bStripAccents && utf8proc_category(d) == UTF8PROC_CATEGORY_MN) continue;
    if (o->bLowercase) d = utf8proc_tolower(d);
    if (norm_add(t, d, start, end) != BERT_OK) return BERT_NOMEM;
  }
  return BERT_OK;
}

/* Normalize z[start, end) (offsets are into z) onto t. */
static int normalize(const BertTokenizerOptions *o, const char *z, int start, int end, NormText *t) {
  for (int i = start; i < end;) {
    int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)z + i, end - i, &c);
    if (k < 1) {
      c = 0xFFFD;
      k = 1;
    }
    int from = i, to = i + (int)k; /* the character's bytes */
    i = to;
    if (o->bCleanText) {
      if (c == 0 || c == 0xFFFD || is_control(c)) continue;
      if (is_space(c)) c = ' ';
    }
    int rc;
    if (o->bChineseChars && is_cjk(c)) {
      rc = norm_add(t, ' ', from, to);
      if (rc == BERT_OK) rc = norm_emit(t, o, c, from, to);
      if (rc == BERT_OK) rc = norm_add(t, ' ', from, to);
    } else {
      rc = norm_emit(t, o, c, from, to);
    }
    if (rc != BERT_OK) return rc;
  }
  return BERT_OK;
}

/* ---- words and pieces ---------------------------------------------------- */

typedef struct TokenOut {
  BertToken *a;
  int n, nMax;
} TokenOut;

static void out_add(TokenOut *o, int id, int start, int end) {
  if (o->n < o->nMax) o->a[o->n++] = (BertToken){id, start, end};
}

/* Cut the word w[0, nw) into pieces.  zBuf has room for the word's UTF-8
** twice over and 2 bytes more; aOff for nw + 1 offsets. */
static void word_pieces(const BertVocab *v, const BertTokenizerOptions *o, const NormChar *w, int nw, char *zBuf,
                        int *aOff, TokenOut *out) {
  if (nw > o->nMaxWordChars) {
    out_add(out, v->idUnk, w[0].start, w[nw - 1].end);
    return;
  }
  /* The word's UTF-8, and where each character starts in it; then room
  ** for "##" and a piece. */
  char *zWord = zBuf;
  int nByte = 0;
  for (int i = 0; i < nw; i++) {
    aOff[i] = nByte;
    nByte += (int)utf8proc_encode_char(w[i].c, (utf8proc_uint8_t *)zWord + nByte);
  }
  aOff[nw] = nByte;
  char *zSuffix = zBuf + nByte;
  memcpy(zSuffix, "##", 2);
  int nFirst = out->n;
  for (int s = 0; s < nw;) {
    int id = -1, e = s + v->nMaxChars < nw ? s + v->nMaxChars : nw;
    for (; e > s && id < 0; e--) {
      int nPiece = aOff[e] - aOff[s];
      if (s == 0) {
        id = bert_vocab_find(v, zWord, nPiece);
      } else {
        memcpy(zSuffix + 2, zWord + aOff[s], (size_t)nPiece);
        id = bert_vocab_find(v, zSuffix, nPiece + 2);
      }
    }
    if (id < 0) {
      /* The word cannot be cut: it is one [UNK]. */
      out->n = nFirst;
      out_add(out, v->idUnk, w[0].start, w[nw - 1].end);
      return;
    }
    e++; /* the loop stepped past the piece's end */
    out_add(out, id, w[s].start, w[e - 1].end);
    s = e;
  }
}

/* The special tokens the tokenizers library matches in the text as it is,
** before normalizing (its "added tokens"): each is its own id. */
static const char *const azSpecial[] = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};

/* The first special token of the vocabulary at or after z[i], before n:
** its offset (n if none) and id. */
static int next_special(const BertVocab *v, const char *z, int i, int n, int *pId, int *pLen) {
  for (; i < n; i++) {
    if (z[i] != '[') continue;
    for (size_t k = 0; k < sizeof azSpecial / sizeof azSpecial[0]; k++) {
      int len = (int)strlen(azSpecial[k]);
      if (i + len <= n && memcmp(z + i, azSpecial[k], (size_t)len) == 0) {
        int id = bert_vocab_find(v, azSpecial[k], len);
        if (id >= 0) {
          *pId = id;
          *pLen = len;
          return i;
        }
      }
    }
  }
  return n;
}

/* Normalize, split and cut z[start, end) onto out. */
static int tokenize_span(const BertVocab *v, const BertTokenizerOptions *o, const char *z, int start, int end,
                         NormText *t, char **pzBuf, int **paOff, int *pnRoom, TokenOut *out) {
  t->n = 0;
  int rc = normalize(o, z, start, end, t);
  if (rc != BERT_OK) return rc;
  if (t->n > *pnRoom) {
    /* Word buffers for the longest word there can be in the span. */
    free(*pzBuf);
    free(*paOff);
    *pzBuf = malloc((size_t)t->n * 8 + 8);
    *paOff = malloc(sizeof(int) * ((size_t)t->n + 1));
    *pnRoom = *pzBuf && *paOff ? t->n : 0;
    if (*pnRoom == 0) return BERT_NOMEM;
  }
  for (int i = 0; i < t->n && out->n < out->nMax;) {
    if (is_space(t->a[i].c)) {
      i++;
      continue;
    }
    int j = i + 1;
    if (!is_punctuation(t->a[i].c)) {
      while (j < t->n && !is_space(t->a[j].c) && !is_punctuation(t->a[j].c)) j++;
    }
    word_pieces(v, o, t->a + i, j - i, *pzBuf, *paOff, out);
    i = j;
  }
  return BERT_OK;
}

/* Spans are normalized a piece at a time, each ending at an ASCII space
** (which always ends a word), so that a long text is read only as far as
** the tokens kept need. */
#define SPAN_BYTES 4096

int bert_tokenize(const BertVocab *v, const BertTokenizerOptions *o, const char *z, int n, int nMax,
                  BertToken **paTok, int *pnTok) {
  NormText t = {0, 0, 0};
  TokenOut out = {0, 0, 0};
  char *zBuf = 0;
  int *aOff = 0, nRoom = 0, rc = BERT_OK;
  *paTok = 0;
  *pnTok = 0;
  if (nMax < 2) nMax = 2;
  out.a = malloc(sizeof(BertToken) * (size_t)nMax);
  if (out.a == 0) return BERT_NOMEM;
  out.nMax = nMax - 1; /* room for [SEP] */
  out_add(&out, v->idCls, 0, 0);
  for (int i = 0; rc == BERT_OK && i < n && out.n < out.nMax;) {
    int idSpecial = 0, nSpecial = 0;
    int iSpecial = next_special(v, z, i, n, &idSpecial, &nSpecial);
    while (rc == BERT_OK && i < iSpecial && out.n < out.nMax) {
      int e = i + SPAN_BYTES < iSpecial ? i + SPAN_BYTES : iSpecial;
      while (e < iSpecial && !(z[e] == ' ' || z[e] == '\t' || z[e] == '\n' || z[e] == '\r')) e++;
      rc = tokenize_span(v, o, z, i, e, &t, &zBuf, &aOff, &nRoom, &out);
      i = e;
    }
    if (rc == BERT_OK && iSpecial < n) {
      out_add(&out, idSpecial, iSpecial, iSpecial + nSpecial);
      i = iSpecial + nSpecial;
    }
  }
  out.nMax = nMax;
  out_add(&out, v->idSep, n, n);
  free(t.a);
  free(zBuf);
  free(aOff);
  if (rc != BERT_OK) {
    free(out.a);
    return rc;
  }
  *paTok = out.a;
  *pnTok = out.n;
  return BERT_OK;
}
