/*
** postings.c — varints and the bytes of a posting-list chunk (fulltext.h,
** posting lists section).
*/
#include "fulltext/fulltext.h"

int ft_varint_put(unsigned char *p, uint64_t v) {
  int n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  return n;
}

int ft_varint_get(const unsigned char *p, int nByte, uint64_t *pv) {
  uint64_t v = 0;
  for (int i = 0; i < nByte && i < FT_VARINT_MAX; i++) {
    v |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if ((p[i] & 0x80) == 0) {
      /* The tenth byte holds only the 64th bit. */
      if (i == FT_VARINT_MAX - 1 && p[i] > 1) return 0;
      *pv = v;
      return i + 1;
    }
  }
  return 0;
}

static int varint_len(uint64_t v) {
  int n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

int ft_postings_size(const FtPosting *a, int n) {
  int nByte = 0;
  for (int i = 0; i < n; i++) {
    uint64_t d = i ? (uint64_t)a[i].rowid - (uint64_t)a[i - 1].rowid : 0;
    nByte += varint_len(d) + varint_len(a[i].tf) + varint_len(a[i].len);
  }
  return nByte;
}

int ft_postings_encode(const FtPosting *a, int n, unsigned char *p) {
  int nByte = 0;
  for (int i = 0; i < n; i++) {
    /* Unsigned arithmetic: rowids span all of int64, their gaps fit uint64. */
    uint64_t d = i ? (uint64_t)a[i].rowid - (uint64_t)a[i - 1].rowid : 0;
    nByte += ft_varint_put(p + nByte, d);
    nByte += ft_varint_put(p + nByte, a[i].tf);
    nByte += ft_varint_put(p + nByte, a[i].len);
  }
  return nByte;
}

/* The varint at p[*pOff, nByte) into *pv, moving *pOff past it; 0 when it
** is damaged.  Most are one or two bytes (a row's length): those cases stay
** inline. */
static inline int get_varint(const unsigned char *p, int nByte, int *pOff, uint64_t *pv) {
  int off = *pOff;
  if (off < nByte && p[off] < 0x80) {
    *pv = p[off];
    *pOff = off + 1;
    return 1;
  }
  if (off + 1 < nByte && p[off + 1] < 0x80) {
    *pv = (uint64_t)(p[off] & 0x7f) | (uint64_t)p[off + 1] << 7;
    *pOff = off + 2;
    return 2;
  }
  int k = ft_varint_get(p + off, nByte - off, pv);
  *pOff = off + k;
  return k;
}

int ft_postings_decode(const unsigned char *p, int nByte, int64_t first, int n, FtPosting *a) {
  int off = 0;
  uint64_t prev = (uint64_t)first;
  for (int i = 0; i < n; i++) {
    uint64_t d, tf, len;
    if (off + 3 <= nByte && (p[off] | p[off + 1] | p[off + 2]) < 0x80) {
      /* The common posting: three one-byte varints. */
      d = p[off];
      tf = p[off + 1];
      len = p[off + 2];
      off += 3;
    } else if (!get_varint(p, nByte, &off, &d) || !get_varint(p, nByte, &off, &tf) ||
               !get_varint(p, nByte, &off, &len)) {
      return -1;
    }
    /* The first posting is the chunk's first rowid; each next one is
    ** above the one before (a gap that wraps past INT64_MAX comes out
    ** below it). */
    uint64_t r = prev + d;
    if (i == 0 ? d != 0 : (int64_t)r <= (int64_t)prev) return -1;
    if (tf < 1 || tf > len || len > UINT32_MAX) return -1;
    a[i].rowid = (int64_t)r;
    a[i].tf = (uint32_t)tf;
    a[i].len = (uint32_t)len;
    prev = r;
  }
  return off == nByte ? 0 : -1;
}
