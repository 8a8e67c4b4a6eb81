/*
** text.h — UTF-8 helpers shared by the modules (text.c).
*/
#ifndef VG_TEXT_H
#define VG_TEXT_H

/* Is z[0, n) valid UTF-8 (no overlong forms, surrogates or code points past
** U+10FFFF)?  On failure *piBad (when not 0) is the offset of the first bad
** byte. */
int vg_utf8_valid(const char *z, int n, int *piBad);

/* The characters (bytes that are not continuation bytes) in z[0, n). */
int vg_utf8_count(const char *z, int n);

#endif
