/*
** shared_data.h — the evaluation data the unit tests read from ../shared
** (beside the checkout; $VG_SHARED names another folder).  A clean clone
** without it still passes `make test`: a test that needs a missing file is
** skipped, and says so with the word SKIPPED, which CI (which has the data)
** refuses.  Include after <cmocka.h>.
*/
#ifndef VG_SHARED_DATA_H
#define VG_SHARED_DATA_H

#include <stdio.h>
#include <stdlib.h>

/* $VG_SHARED/<zRel> (default ../shared) opened for reading, or the current
** test skipped when it cannot be. */
static inline FILE *shared_open_file(const char *zRel) {
  const char *zShared = getenv("VG_SHARED");
  char zPath[2048];
  snprintf(zPath, sizeof zPath, "%s/%s", zShared ? zShared : "../shared", zRel);
  FILE *f = fopen(zPath, "r");
  if (f == 0) {
    print_message("SKIPPED: cannot read %s: the evaluation data that sits beside the checkout as "
                  "../shared (see README.md); set VG_SHARED to its folder\n", zPath);
    skip();
  }
  return f;
}

/* $VG_SHARED/data/<zRel>: an evaluation set. */
static inline FILE *shared_open(const char *zRel) {
  char zPath[1000];
  snprintf(zPath, sizeof zPath, "data/%s", zRel);
  return shared_open_file(zPath);
}

/* The path of $VG_SHARED/<zRel> into zOut[0, nOut). */
static inline void shared_path(const char *zRel, char *zOut, size_t nOut) {
  const char *zShared = getenv("VG_SHARED");
  snprintf(zOut, nOut, "%s/%s", zShared ? zShared : "../shared", zRel);
}

#endif
