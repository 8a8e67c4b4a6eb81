/*
** bm25.c — the BM25 formula (fulltext.h, bm25 section).
*/
#include "fulltext/fulltext.h"

#include <math.h>

double ft_bm25_idf(int64_t nRows, int64_t df) {
  /* Lucene's form: never negative, even for a term in every row. */
  return log(1.0 + ((double)nRows - (double)df + 0.5) / ((double)df + 0.5));
}

double ft_bm25_term(double idf, uint32_t tf, uint32_t len, double avgLen, double k1, double b) {
  double norm = avgLen > 0.0 ? (double)len / avgLen : 1.0;
  return idf * (double)tf * (k1 + 1.0) / ((double)tf + k1 * (1.0 - b + b * norm));
}
