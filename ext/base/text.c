/*
** text.c — UTF-8 helpers shared by the modules: is a text valid UTF-8, and
** how many characters does it hold.  SQL offsets (vg_pii_detect,
** vg_chunk) count characters, as SQLite's substr() does.
*/
#include "base/base.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif


int vg_utf8_valid(const char *z, int n, int *piBad) {
  const unsigned char *u = (const unsigned char *)z;
  int i = 0;
  while (i < n) {
    unsigned c = u[i];
    int len;
    unsigned cp;
    if (c < 0x80) {
      /* ASCII runs eight bytes at a time. */
      uint64_t x;
      while (i + 8 <= n && (memcpy(&x, u + i, 8), (x & 0x8080808080808080ULL) == 0)) i += 8;
      if (i < n && u[i] < 0x80) i++;
      continue;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      break;
    }
    if (i + len > n) break;
    int j = 1;
    for (; j < len && (u[i + j] & 0xC0) == 0x80; j++) cp = (cp << 6) | (u[i + j] & 0x3F);
    if (j < len) break;
    /* Overlong forms, surrogates, beyond U+10FFFF. */
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      break;
    }
    i += len;
  }
  if (i < n) {
    if (piBad) *piBad = i;
    return 0;
  }
  return 1;
}

int vg_utf8_count(const char *z, int nByte) {
  int n = 0, i = 0, to = nByte;
#ifdef __SSE2__
  /* Sixteen bytes at a time; a byte counter holds 255 blocks at most. */
  while (to - i >= 16) {
    __m128i acc = _mm_setzero_si128();
    int nBlock = 0;
    for (; to - i >= 16 && nBlock < 255; i += 16, nBlock++) {
      /* As signed bytes, continuation bytes (0x80-0xBF) are below -64. */
      __m128i x = _mm_loadu_si128((const __m128i *)(z + i));
      acc = _mm_sub_epi8(acc, _mm_cmplt_epi8(x, _mm_set1_epi8(-64)));
    }
    __m128i sums = _mm_sad_epu8(acc, _mm_setzero_si128());
    n += 16 * nBlock - (_mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4));
  }
#endif
  for (; i + 8 <= to; i += 8) {
    uint64_t x;
    memcpy(&x, z + i, 8);
    /* A continuation byte has bit 7 set and bit 6 clear. */
    uint64_t cont = x & ~(x << 1) & 0x8080808080808080ULL;
    n += 8 - (int)(((cont >> 7) * 0x0101010101010101ULL) >> 56);
  }
  for (; i < to; i++) n += ((unsigned char)z[i] & 0xC0) != 0x80;
  return n;
}
