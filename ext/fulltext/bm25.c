/*
** bm25.c — the BM25 formula (fulltext.h, bm25 section).
*/
#include "fulltext/fulltext.h"

#include <math.h>

double ft_bm25_idf(int64_t nRows, int64_t df) {
  /* Lucene's form: never negative, even for a term in every row. */
  return log(1.0 + ((double)nRows - (double)df + 0.5) / ((double)df + 0.5));
}

void ft_bm25_norm(double avgLen, double k1, double b, double *pA, double *pC) {
  /* No row has terms when avgLen is 0: any norm will do. */
  *pA = avgLen > 0.0 ? k1 * (1.0 - b) : k1;
  *pC = avgLen > 0.0 ? k1 * b / avgLen : 0.0;
}
