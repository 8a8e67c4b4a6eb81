/*
** fuzzutil.h — what the libFuzzer targets in tests/fuzz share: reading
** typed values from the fuzz input, failing with a message (a checker that
** trips aborts, so libFuzzer keeps the input as a crash), an in-memory
** database with the extension registered, and an independent UTF-8 check.
*/
#ifndef VG_FUZZUTIL_H
#define VG_FUZZUTIL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

/* The fuzz input, read front to back; reads past its end give zeros, so a
** short input is still a valid (if dull) program. */
typedef struct FzIn {
  const uint8_t *p;
  size_t n, i;
} FzIn;

uint8_t fz_u8(FzIn *in);
uint32_t fz_u32(FzIn *in);
/* An integer in [lo, hi]. */
int fz_range(FzIn *in, int lo, int hi);
/* Up to nMax bytes: a length byte, then that many bytes (fewer at the
** end of the input).  *pz points into the input. */
size_t fz_bytes(FzIn *in, size_t nMax, const uint8_t **pz);
/* Whatever is left of the input. */
size_t fz_rest(FzIn *in, const uint8_t **pz);

/* Report a checker failure and abort (libFuzzer saves the input). */
void fz_fail(const char *zFormat, ...) __attribute__((noreturn, format(printf, 1, 2)));
#define FZ_CHECK(cond)                                                            \
  do {                                                                            \
    if (!(cond)) fz_fail("%s:%d: check failed: %s", __FILE__, __LINE__, #cond);  \
  } while (0)
/* The same with a message of one's own. */
#define FZ_CHECKF(cond, ...)        \
  do {                              \
    if (!(cond)) fz_fail(__VA_ARGS__); \
  } while (0)

/* An in-memory database with every SQL object of the extension registered
** (the entry point called directly: the sources are linked in). */
sqlite3 *fz_open(void);
/* Run SQL that must succeed (setup, not the thing under test). */
void fz_exec(sqlite3 *db, const char *zSql);

/* Is z[0, n) valid UTF-8 (RFC 3629: no overlong forms, no surrogates,
** nothing past U+10FFFF)?  Written apart from ext/base/text.c on purpose. */
int fz_utf8_valid(const uint8_t *z, size_t n);
/* Characters in z[0, n) of valid UTF-8. */
size_t fz_utf8_chars(const uint8_t *z, size_t n);
/* Byte offset of character iChar of valid UTF-8 z[0, n) (n past the end). */
size_t fz_utf8_offset(const uint8_t *z, size_t n, size_t iChar);

/* Is $FUZZ_TRACE set?  Targets then print what they run, to turn a crash
** file into a reproducer. */
int fz_trace(void);

/* Is there an error message: not NULL, not empty?  (Messages may quote
** the input, so their bytes are not checked.) */
int fz_is_message(const char *z);

#endif
