/*
** fulltext.h — the internal header of ext/fulltext/: what a full-text index
** needs that has nothing to do with where it is kept: the words of a text
** (tokenizer, stop words, Porter stemmer), their hashes, the byte format of
** a posting list, and the BM25 formula.
**
** Like the hnsw layer, it uses no SQLite (make check-layers proves it), so
** it is tested alone; the table layer keeps the index in shadow tables and
** runs queries (ext/table/fulltext.c, lexical.c).
**
** One section per part, in dependency order: terms, posting lists, bm25.
*/
#ifndef VG_FULLTEXT_LAYER_H
#define VG_FULLTEXT_LAYER_H

#include <stddef.h>
#include <stdint.h>

#define FT_OK 0
#define FT_NOMEM 7 /* as SQLITE_NOMEM, so callers may pass it on */

/***************************************************************************
** terms: the words a text is indexed and searched by (tokenize.c,
** porter.c).
**
**   1. Tokens are maximal runs of letters, digits and combining marks
**      (Unicode categories L*, N*, M*); anything else separates them.  A
**      CJK ideograph is a token by itself, since those scripts put no space
**      between words.
**   2. Each token is folded: compatibility decomposition, case folding and
**      marks stripped (utf8proc: NFKD, casefold, stripmark), so that "Café",
**      "CAFE" and "café" are one word, and a full-width "Ａ" is "a".
**   3. English stop words (FT_STOP_WORDS) are dropped.
**   4. Tokens of 3 or more ASCII letters are reduced by Porter's stemmer
**      (M. F. Porter, "An algorithm for suffix stripping", 1980):
**      "connected", "connection" and "connecting" become "connect".
**   5. A term longer than FT_MAX_TERM bytes is cut at a character boundary.
** The same text always gives the same terms: a row's terms are found again
** from its text when it is deleted, and a query's by the same steps.
*/

#define FT_MAX_TERM 64

/* The stop words (Lucene's English set), space-separated, for the docs. */
#define FT_STOP_WORDS                                                              \
  "a an and are as at be but by for if in into is it no not of on or such that " \
  "the their then there these they this to was will with"

/* Called with each term of a text, in order (not 0-terminated); a
** non-zero return stops the walk and is returned by ft_tokenize. */
typedef int (*FtTermFn)(void *pCtx, const char *zTerm, int nTerm);

/* Walk the terms of z[0, n), which must be valid UTF-8 (callers check).
** FT_OK, FT_NOMEM, or what xTerm returned. */
int ft_tokenize(const char *z, int n, FtTermFn xTerm, void *pCtx);

/* Reduce z[0, *pn), lower-case ASCII letters, in place by Porter's
** algorithm; *pn becomes the stem's length.  Words of fewer than 3 letters
** are left as they are. */
void ft_porter_stem(char *z, int *pn);

/* Is z[0, n) (folded, before stemming) a stop word? */
int ft_is_stop_word(const char *z, int n);

/* The 64-bit hash a term is indexed under (its bytes never are: the index
** keeps hashes, so no word of a text is written to the file by it). */
int64_t ft_term_hash(const char *z, int n);

/***************************************************************************
** posting lists: which rows hold a term (postings.c).
**
** A list is kept in chunks of rows sorted by rowid; a chunk's bytes are, for
** each row, three varints: the rowid's distance from the previous row's (the
** first row's from the chunk's first rowid, so 0), the term's count in the
** row (tf) and the row's length in terms.  Keeping the length with each
** posting lets BM25 score a row without reading anything else.
**
** A varint is 7 bits per byte, low bits first, the high bit set on every
** byte but the last; at most 10 bytes for a 64-bit value.
*/

typedef struct FtPosting {
  int64_t rowid;
  uint32_t tf;  /* occurrences of the term in the row, at least 1 */
  uint32_t len; /* terms in the row, at least tf */
} FtPosting;

#define FT_VARINT_MAX 10
#define FT_POSTING_MAX (3 * FT_VARINT_MAX) /* bytes one posting may take */

int ft_varint_put(unsigned char *p, uint64_t v);
/* The varint at p[0, nByte) into *pv: its length, or 0 when it is cut off
** or longer than FT_VARINT_MAX. */
int ft_varint_get(const unsigned char *p, int nByte, uint64_t *pv);

/* Bytes a[0, n) take in a chunk whose first rowid is a[0].rowid. */
int ft_postings_size(const FtPosting *a, int n);
/* Write a[0, n) (sorted by rowid, no rowid twice) into p, which has room
** for ft_postings_size() bytes; returns that size. */
int ft_postings_encode(const FtPosting *a, int n, unsigned char *p);
/* Read the n postings of a chunk whose first rowid is `first` from
** p[0, nByte) into a[0, n).  0, or -1 when the bytes are not n postings
** that start at `first`, grow strictly, and have 1 <= tf <= len. */
int ft_postings_decode(const unsigned char *p, int nByte, int64_t first, int n, FtPosting *a);

/***************************************************************************
** bm25: the Okapi BM25 ranking function (bm25.c), as Lucene and Anserini
** compute it:
**
**   score(row, query) = sum over the query's distinct terms t (a term given
**   twice counts once: docs/fulltext.md has the measurement) of
**       idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avgLen))
**   idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
**
** N is the number of rows indexed in the partition, df those holding t,
** tf the count of t in the row, len the row's terms and avgLen their mean
** over the partition.  Statistics are per partition: one tenant's rows never
** change another's scores.
*/

#define FT_BM25_K1 0.9 /* Anserini's defaults, which measured best on SciFact's */
#define FT_BM25_B 0.4  /* training queries among the usual settings (docs/fulltext.md) */

double ft_bm25_idf(int64_t nRows, int64_t df);

/* A query works out what depends only on the partition and the term once:
** the length norm k1 * (1 - b + b * len / avgLen) as a + c * len
** (ft_bm25_norm), and idf * (k1 + 1); then a posting's weight is
** ft_bm25_weight(idf * (k1 + 1), a, c, tf, len). */
void ft_bm25_norm(double avgLen, double k1, double b, double *pA, double *pC);
static inline double ft_bm25_weight(double idfK1, double a, double c, uint32_t tf, uint32_t len) {
  return idfK1 * (double)tf / ((double)tf + a + c * (double)len);
}

#endif
