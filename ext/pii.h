/*
** pii.h — finding personal data in text.
**
** A recognizer is data: an entity type (Microsoft Presidio's names, so
** results compare with Presidio's), a PCRE2 pattern, an optional check
** (pii_check.h) that confirms what the pattern found, a score, and context
** words that raise the score when one appears near the finding (some
** recognizers report only then).  An engine holds a set of recognizers
** compiled with PCRE2's JIT; a scan runs them over a text, keeps what passes,
** and resolves overlaps: the higher score wins, then the longer finding,
** then the earlier one.
**
** Texts are UTF-8.  Findings carry byte offsets (for cutting the text) and
** 0-based character offsets, end exclusive (what callers report).  Nothing
** here knows SQL.
*/
#ifndef VG_PII_H
#define VG_PII_H

#include "pii_check.h"
#include "vecguard.h"

/* Recognizer flags. */
#define VG_PII_NEEDS_CONTEXT 0x01 /* reported only with a context word near */
#define VG_PII_LANG_EN 0x02       /* with a language hint, only for English */
#define VG_PII_LANG_ES 0x04       /* ... only for Spanish (both bits: either) */
#define VG_PII_TRIM_PUNCT 0x08    /* drop trailing . , ; : ! ? ) from the finding */
#define VG_PII_SHRINK 0x10        /* a failed check is retried without trailing groups
                                  ** (cut at a space or '-'): "IBAN ... X" */

/* Where every match of a recognizer lies: near a trigger that
** pii_trigger.c finds in one pass over the text, so that the recognizer's
** pattern runs only there.  A trigger is a property of the matched text
** itself (its digits, an '@'), so a match cannot hide from its trigger;
** VG_PII_ANYWHERE (custom recognizers) scans the whole text. */
typedef enum VgPiiTrigger {
  VG_PII_ANYWHERE,
  VG_PII_NEAR_DIGITS6,  /* >= 6 digits, at most 3 bytes between neighbours */
  VG_PII_NEAR_DIGITS4,  /* >= 4 such digits */
  VG_PII_NEAR_ID6,      /* >= 6 such digits, for identifiers shorter than phones */
  VG_PII_NEAR_ALNUM4,   /* >= 4 such digits, one of them next to a letter */
  VG_PII_NEAR_DATE,     /* digits in a date's shape (12/03/1985, 1985-03-12), or
                        ** a year after a month's name (12 March 1985) */
  VG_PII_NEAR_DIGITS9,  /* >= 9 such digits */
  VG_PII_NEAR_DIGITS12, /* >= 12 such digits */
  VG_PII_NEAR_DIGITS20, /* >= 20 such digits */
  VG_PII_NEAR_IBAN,     /* two letters then two digits, at a word start */
  VG_PII_NEAR_AT,       /* '@' */
  VG_PII_NEAR_SCHEME,   /* "://" or "www." */
  VG_PII_NEAR_HEXSEP,   /* ':', up to 4 hex digits, ':'; '-' or '.' between hex digits */
  VG_PII_NEAR_LONGWORD, /* a word of letters and digits that could be a codice
                        ** fiscale (16 long) or a bitcoin address (26-35 from
                        ** '1' or '3', or 14-74 from "bc1") */
  VG_PII_NEAR_JWT,      /* "eyJ" */
  VG_PII_NEAR_AWS,      /* "AKIA" or "ASIA" */
  VG_PII_NEAR_PEM,      /* "-----BEGIN " */
  VG_PII_NEAR_BEARER,   /* "bearer", any case */
  VG_PII_NEAR_CODE,     /* digits in the shape of a plate, a postcode or a
                        ** register number (see code_run in pii_trigger.c) */
  VG_PII_TRIGGER_COUNT
} VgPiiTrigger;

typedef struct VgPiiRecognizer {
  const char *zName;    /* unique, for custom recognizers and debugging */
  const char *zEntity;  /* the entity type reported */
  const char *zPattern; /* PCRE2 (UTF); the group named "pii", if any, is the finding */
  VgPiiCheck check;     /* confirms a match, or 0 */
  double score;         /* the score of a confirmed finding without context */
  const char *zContext; /* context words, lower case, separated by '|', or 0 */
  unsigned flags;
  VgPiiTrigger trigger; /* where its matches lie */
} VgPiiRecognizer;

/* How much a context word raises a score (as Presidio does), and the
** smallest score a finding with context gets. */
#define VG_PII_CONTEXT_BOOST 0.35
#define VG_PII_CONTEXT_FLOOR 0.4

typedef struct VgPiiFinding {
  const char *zEntity;
  int iRecognizer;
  int iStart, iEnd; /* bytes */
  int cStart, cEnd; /* characters */
  double score;
} VgPiiFinding;

typedef struct VgPiiFindings {
  VgPiiFinding *a;
  int n, nAlloc;
} VgPiiFindings;

void vg_pii_findings_free(VgPiiFindings *p);

typedef struct VgPiiOptions {
  const char *const *azEntity; /* report only these types; 0: all */
  int nEntity;
  double minScore;             /* drop findings scored below this */
  unsigned lang;               /* VG_PII_LANG_EN, VG_PII_LANG_ES, or 0 for any */
  int bWholeText;              /* ignore triggers, run every pattern everywhere
                               ** (the reference the tests compare with) */
} VgPiiOptions;

typedef struct VgPiiEngine VgPiiEngine;

/* Compile a recognizers (the array must outlive the engine).  A bad pattern
** fails with PCRE2's message and offset in *pzErr. */
int vg_pii_engine_new(const VgPiiRecognizer *a, int n, VgPiiEngine **ppEngine, char **pzErr);
void vg_pii_engine_free(VgPiiEngine *e);

/* Does zPattern (NUL-terminated) compile?  SQLITE_OK, SQLITE_NOMEM, or
** SQLITE_ERROR with PCRE2's message and offset in *pzErr. */
int vg_pii_pattern_check(const char *zPattern, char **pzErr);

/* The built-in recognizers. */
extern const VgPiiRecognizer vg_pii_builtin[];
extern const int vg_pii_builtin_count;

/* Find personal data in z (n bytes of valid UTF-8; see vg_utf8_valid in text.h) and
** append the findings, overlaps resolved, in text order.  SQLITE_OK,
** SQLITE_NOMEM, or SQLITE_ERROR with *pzErr naming the recognizer and
** PCRE2's error (a pattern that hit one of its limits). */
int vg_pii_scan(VgPiiEngine *e, const char *z, int n, const VgPiiOptions *pOpt,
                VgPiiFindings *pOut, char **pzErr);

/* Windows of the text where a trigger's recognizers can match: sorted,
** disjoint byte ranges [a[2i], a[2i+1]). */
typedef struct VgPiiWindows {
  int *a;
  int n, nAlloc;
} VgPiiWindows;

/* Find the triggers in z[0..n): aOut[t] for each trigger t whose bit is set
** in mask (1 << t).  SQLITE_OK or SQLITE_NOMEM. */
int vg_pii_find_triggers(const char *z, int n, unsigned mask, VgPiiWindows *aOut);
void vg_pii_windows_free(VgPiiWindows *aOut, int nTrigger);

#endif
