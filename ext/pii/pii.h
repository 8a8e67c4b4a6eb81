/*
** pii.h — the internal header of ext/pii/: personal data: check digits,
** recognizers, detection, redaction operators, policies, keys and the audit
** log, and their SQL functions.
**
** One section per part, in dependency order: pii_digits, pii, pii_policy,
** pii_redact, pii_sql.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_PII_LAYER_H
#define VG_PII_LAYER_H

#include "base/base.h"

/***************************************************************************
** pii_digits: the check-digit and structure rules of personal identifiers
** (credit cards, IBANs, national ids, crypto addresses), for the PII
** recognizers to confirm what their patterns find.
**
** Every rule has the same shape, so that a recognizer table can name it:
** it takes the candidate text as found (z, n bytes, not NUL-terminated),
** reads the characters the rule is about (digits, letters) and skips the
** separators people write between groups (space, '-', '.', '/'), and
** returns 1 when the identifier is valid, 0 when it is not.  Anything else
** in the text, or the wrong number of characters, makes it invalid.  The
** rules are pure functions: no allocation, no state.
*/

typedef int (*VgPiiCheck)(const char *z, int n);

int vg_check_luhn(const char *z, int n);        /* any length 2..32 (payment cards: 12..19) */
int vg_check_credit_card(const char *z, int n); /* Luhn, 12..19 digits, a known issuer prefix */
int vg_check_iban(const char *z, int n);        /* country length and ISO 7064 mod 97-10 */
int vg_iban_country(char c1, char c2);           /* do IBANs start c1 c2 (any case)? */
int vg_check_us_ssn(const char *z, int n);      /* area, group and serial not reserved */
int vg_check_us_itin(const char *z, int n);     /* 9xx, group 50-65, 70-88, 90-92, 94-99 */
int vg_check_aba_routing(const char *z, int n); /* weights 3, 7, 1 */
int vg_check_us_npi(const char *z, int n);      /* Luhn over 80840 + the 10 digits */
int vg_check_ca_sin(const char *z, int n);      /* Luhn, 9 digits, not starting 0 or 8 */
int vg_check_ar_cuit(const char *z, int n);     /* CUIT/CUIL: type prefix and mod 11 */
int vg_check_ar_cbu(const char *z, int n);      /* two blocks, weights 7139 */
int vg_check_uk_nhs(const char *z, int n);      /* mod 11, weights 10..2 */
int vg_check_es_nif(const char *z, int n);      /* DNI number and its letter (mod 23) */
int vg_check_es_nie(const char *z, int n);      /* X/Y/Z, number, letter */
int vg_check_it_fiscal_code(const char *z, int n); /* codice fiscale check letter */
int vg_check_fi_hetu(const char *z, int n);     /* date, century sign, mod 31 character */
int vg_check_se_personnummer(const char *z, int n); /* date and Luhn over 10 digits */
int vg_check_se_orgnr(const char *z, int n);    /* organisationsnummer: Luhn, third digit >= 2 */
int vg_check_kr_rrn(const char *z, int n);      /* date, sex digit, weighted mod 11 */
int vg_check_tr_tckn(const char *z, int n);     /* T.C. kimlik no: two check digits */
int vg_check_pl_pesel(const char *z, int n);    /* date and weights 1379 */
int vg_check_au_abn(const char *z, int n);      /* weighted mod 89 */
int vg_check_au_acn(const char *z, int n);      /* weights 8..1, complement mod 10 */
int vg_check_au_tfn(const char *z, int n);      /* weighted mod 11 */
int vg_check_au_medicare(const char *z, int n); /* weights 1379 on the first 8 digits */
int vg_check_in_aadhaar(const char *z, int n);  /* Verhoeff, 12 digits, not starting 0 or 1 */
int vg_check_th_tnin(const char *z, int n);     /* weights 13..2 mod 11 */
int vg_check_kr_brn(const char *z, int n);      /* business registration number */
int vg_check_bitcoin(const char *z, int n);     /* base58check (P2PKH, P2SH) or bech32/bech32m */
int vg_check_mac(const char *z, int n);         /* not the broadcast or null address */
int vg_check_phone_digits(const char *z, int n); /* 7..12 digits, not a date */
int vg_check_ipv6(const char *z, int n);        /* an IPv6 address (inet_pton), optional /prefix */
int vg_check_de_tax_id(const char *z, int n);   /* Steuer-ID: ISO 7064 MOD 11,10 */
int vg_check_de_vat_id(const char *z, int n);   /* USt-IdNr: DE, 9 digits, MOD 11,10 */
int vg_check_de_tax_number(const char *z, int n); /* Steuernummer: NNN/NNN/NNNNN or 13 digits */
int vg_check_de_social_security(const char *z, int n); /* RVNR: birth date, letter, weights */
int vg_check_de_health_insurance(const char *z, int n); /* KVNR: letter, 9 digits, weights 1 2 */
int vg_check_de_lanr(const char *z, int n);     /* Arztnummer: weights 4 9 */
int vg_check_de_passport(const char *z, int n); /* ICAO 9303 check digit */
int vg_check_de_plz(const char *z, int n);      /* 01001-99998 */
int vg_check_tr_license_plate(const char *z, int n); /* province, letters, digits */
int vg_check_uk_vehicle_registration(const char *z, int n); /* region, age, letters */
int vg_check_uk_nino(const char *z, int n);     /* prefix rules, suffix A-D */
int vg_check_uk_driving_licence(const char *z, int n); /* the birth date inside */
int vg_check_ng_vehicle_registration(const char *z, int n); /* one case, not words */
int vg_check_in_gstin(const char *z, int n);    /* mod 36 check character */
int vg_check_it_vat_code(const char *z, int n); /* Luhn and office code */
int vg_check_sg_nric_fin(const char *z, int n); /* weights 2765432, letter tables */
int vg_check_sg_uen(const char *z, int n);      /* three forms, weighted mod 11 letters */
int vg_check_za_id_number(const char *z, int n); /* birth date, citizenship, Luhn */
int vg_check_date(const char *z, int n);        /* a valid day and month (d/m/y, m/d/y, y-m-d) */
int vg_check_us_ssn_weak(const char *z, int n); /* what Presidio's SSN recognizer does not reject */
int vg_check_dea(const char *z, int n);         /* DEA registration number: letters, check digit */

/* Telephone numbers against numbering plans (pii_phone.c): '+' or an
** international prefix (00, 011), an E.164 country code and, for the
** countries covered, a national significant number their plan has;
** nationally written numbers of one country, with its trunk prefix or,
** where the plan allows, without.  An extension ("x123") is not read. */
int vg_check_phone_intl(const char *z, int n);  /* any country code */
int vg_check_phone_nanp(const char *z, int n);  /* North America (+1): NXX NXX XXXX */
int vg_check_phone_tr(const char *z, int n);    /* Turkey (+90) */
int vg_check_phone_ph(const char *z, int n);    /* the Philippines (+63) */

/***************************************************************************
** pii: finding personal data in text.
**
** A recognizer is data: an entity type (Microsoft Presidio's names, so
** results compare with Presidio's), a PCRE2 pattern, an optional check
** (pii.h, pii_digits section) that confirms what the pattern found, a score, and context
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

/* Recognizer flags. */
#define VG_PII_NEEDS_CONTEXT 0x01 /* reported only with a context word near */
#define VG_PII_LANG_EN 0x02       /* with a language hint, only for English */
#define VG_PII_LANG_ES 0x04       /* ... only for Spanish (both bits: either) */
#define VG_PII_TRIM_PUNCT 0x08    /* drop trailing . , ; : ! ? ) from the finding */
#define VG_PII_SHRINK 0x10        /* a failed check is retried without trailing groups
                                  ** (cut at a space or '-'): "IBAN ... X" */
#define VG_PII_CLAIM 0x20     /* the pattern is a published format: a match claims
                                  ** its span, whether its check passes or not, from ... */
#define VG_PII_YIELD 0x40     /* ... a heuristic rule, which finds nothing that
                                  ** overlaps a claim ("123-45-6789" is a bad SSN,
                                  ** not a phone number) */

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
  int bFromModel;   /* a model's (VgPiiOptions.aExtra): a pattern's finding wins an overlap */
} VgPiiFinding;

typedef struct VgPiiFindings {
  VgPiiFinding *a;
  int n, nAlloc;
} VgPiiFindings;

void vg_pii_findings_free(VgPiiFindings *p);
/* Append a copy of f. */
int vg_pii_findings_add(VgPiiFindings *p, const VgPiiFinding *f);

typedef struct VgPiiOptions {
  const char *const *azEntity; /* report only these types; 0: all */
  int nEntity;
  double minScore;             /* drop findings scored below this */
  unsigned lang;               /* VG_PII_LANG_EN, VG_PII_LANG_ES, or 0 for any */
  int bWholeText;              /* ignore triggers, run every pattern everywhere
                               ** (the reference the tests compare with) */
  const VgPiiFinding *aExtra;  /* candidates found otherwise (a model's names), byte
                               ** offsets, weighed with the recognizers' */
  int nExtra;
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

/* Find personal data in z (n bytes of valid UTF-8; see vg_utf8_valid in
** base.h, text section) and append the findings, overlaps resolved, in text order.  SQLITE_OK,
** SQLITE_NOMEM, or SQLITE_ERROR with *pzErr naming the recognizer and
** PCRE2's error (a pattern that hit one of its limits). */
int vg_pii_engine_scan(VgPiiEngine *e, const char *z, int n, const VgPiiOptions *pOpt,
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

/***************************************************************************
** pii_policy: judging a text's findings against a policy: which entity
** types block a text, which need a person to look, and how risky it is.
**
** Each entity type has a sensitivity level (pii_recognizers.c): high for
** payment data, bank accounts, government identifiers and secrets; medium
** for contact details and birth dates; low for network addresses and
** business registration numbers.  By default high types block and medium
** types need review.  Nothing here knows SQL.
*/

#define VG_PII_LEVEL_LOW 1
#define VG_PII_LEVEL_MEDIUM 2
#define VG_PII_LEVEL_HIGH 3

/* The level of an entity type; types not built in (custom recognizers)
** are high, so that a new kind of data blocks until a policy says else. */
int vg_pii_entity_level(const char *zEntity);

typedef struct VgPiiPolicy {
  const char *const *azBlock; /* types that block; used when bBlockSet */
  int nBlock, bBlockSet;      /* unset: the high types */
  const char *const *azReview;
  int nReview, bReviewSet;    /* unset: the medium types */
  double minScore;            /* findings scored below are not counted */
  double blockScore;          /* a blocking finding below this needs review instead */
  int maxFindings;            /* more counted findings are not compliant; -1: no limit */
} VgPiiPolicy;

#define VG_PII_POLICY_MIN_SCORE 0.4
#define VG_PII_POLICY_BLOCK_SCORE 0.6

/* The default policy, as an initializer. */
#define VG_PII_POLICY_INIT                                                         \
  {                                                                                \
    .minScore = VG_PII_POLICY_MIN_SCORE, .blockScore = VG_PII_POLICY_BLOCK_SCORE, \
    .maxFindings = -1                                                              \
  }

void vg_pii_policy_default(VgPiiPolicy *p);

#define VG_PII_ALLOW 0
#define VG_PII_REVIEW 1
#define VG_PII_BLOCK 2

typedef struct VgPiiTypeCount {
  const char *zEntity;
  int n;      /* counted findings */
  int status; /* VG_PII_ALLOW, VG_PII_REVIEW or VG_PII_BLOCK */
  int level;
} VgPiiTypeCount;

typedef struct VgPiiAssessment {
  int bCompliant;
  int bReview;
  int risk;     /* 0 none, else the VG_PII_LEVEL_* reached */
  int nCounted;
  int bTooMany; /* more than maxFindings */
  VgPiiTypeCount *a; /* one per type found, in order of first finding */
  int nType;
} VgPiiAssessment;

/* Judge findings; SQLITE_OK or SQLITE_NOMEM.  Free with
** vg_pii_assessment_free. */
int vg_pii_assess(const VgPiiFindings *f, const VgPiiPolicy *p, VgPiiAssessment *pOut);
void vg_pii_assessment_free(VgPiiAssessment *p);

/* "none", "low", "medium", "high". */
const char *vg_pii_risk_name(int risk);
/* "compliant", "review", "blocked": the overall status. */
const char *vg_pii_status_name(const VgPiiAssessment *p);

/***************************************************************************
** pii_redact: turning findings into redacted text, and the keyed
** operations redaction needs: pseudonyms (keyed BLAKE2b) and reversible
** encryption (libsodium secretbox).
**
** A connection's key is 32 bytes of master key material; two working keys
** are derived from it, one to hash and one to encrypt, so a pseudonym says
** nothing about a ciphertext.  Nothing here knows SQL.
*/

#define VG_PII_KEY_BYTES 32  /* master key length */
#define VG_PII_HASH_HEX 64   /* hex digits of a full pseudonym hash */

typedef struct VgPiiKey {
  unsigned char aHash[32];    /* BLAKE2b key for pseudonyms */
  unsigned char aEncrypt[32]; /* secretbox key */
  char zId[17];               /* key id: 16 hex digits, safe to log */
} VgPiiKey;

/* Derive the working keys and the id from VG_PII_KEY_BYTES of master key. */
void vg_pii_key_derive(const unsigned char *aMaster, VgPiiKey *pKey);
/* Forget a key (overwrites it). */
void vg_pii_key_wipe(VgPiiKey *pKey);

/* The keyed BLAKE2b-256 of z[0..n) as VG_PII_HASH_HEX hex digits and a NUL
** (zOut holds VG_PII_HASH_HEX + 1 bytes).  With pKey 0 the hash is unkeyed
** (for hashes of text that holds no personal data). */
void vg_pii_hash_hex(const VgPiiKey *pKey, const void *z, int n, char *zOut);

typedef enum VgPiiOpKind {
  VG_PII_OP_REPLACE, /* "<TYPE>" or a given text */
  VG_PII_OP_MASK,    /* as many mask characters as the finding has characters */
  VG_PII_OP_REMOVE,  /* nothing */
  VG_PII_OP_HASH,    /* "<TYPE_xxxxxxxx>", the start of vg_pii_hash(finding) */
  VG_PII_OP_ENCRYPT  /* "<TYPE:enc:...>", which vg_pii_decrypt reverses */
} VgPiiOpKind;

/* "replace", "mask", ...: an operator's name in options and the audit log. */
const char *vg_pii_operator_name(VgPiiOpKind kind);
/* The operator named z; 0 when there is none. */
int vg_pii_operator_kind(const char *z, VgPiiOpKind *pKind);

typedef struct VgPiiOperator {
  VgPiiOpKind kind;
  const char *zNewValue; /* replace: the text put in, or 0 for "<TYPE>" */
  char zMaskChar[5];     /* mask: one character, UTF-8, NUL-terminated */
  int nKeepLast;         /* mask: characters left as they are at the end */
  int nHashHex;          /* hash: hex digits in the token, 8..64 */
} VgPiiOperator;

/* An operator of the given kind with its fields' defaults, as an
** initializer. */
#define VG_PII_OPERATOR_INIT(k) {.kind = (k), .zMaskChar = "*", .nHashHex = 8}

/* The operator for each entity type: a list of exceptions and a default. */
typedef struct VgPiiOperators {
  int n;
  const char *const *azEntity;
  const VgPiiOperator *aOp;
  VgPiiOperator def;
} VgPiiOperators;

const VgPiiOperator *vg_pii_operator_for(const VgPiiOperators *p, const char *zEntity);

/* Does any finding's operator need the key? */
int vg_pii_operators_need_key(const VgPiiOperators *p, const VgPiiFindings *f);

/* Append to out the text z[0..n) with each finding (in text order, not
** overlapping, with its character offsets) replaced as its operator says; bytes outside findings are
** copied unchanged.  pKey may be 0 when no operator needs it.  SQLITE_OK
** or SQLITE_NOMEM. */
int vg_pii_redact_findings(const char *z, int n, const VgPiiFindings *f,
                           const VgPiiOperators *pOps, const VgPiiKey *pKey, sqlite3_str *out);

/* Append to out the text z[0..n) with every "<TYPE:enc:...>" token
** decrypted.  SQLITE_OK, SQLITE_NOMEM, or SQLITE_ERROR with *piBadChar the character
** offset of a token that does not decrypt under pKey. */
int vg_pii_decrypt_text(const VgPiiKey *pKey, const char *z, int n, sqlite3_str *out,
                        int *piBadChar);

/***************************************************************************
** pii_sql: what the SQL functions of the PII module share: the
** per-connection state (the engine of built-in and custom recognizers, the
** key), argument checks, and the options every function parses.
*/

/* When the tables the PII functions read may have changed: this
** connection changed rows, or another one committed. */
typedef struct PiiStamp {
  sqlite3_int64 nChanges;
  unsigned int iDataVersion;
} PiiStamp;

/* This layer's part of the per-connection state (ext/vecguard.c owns the
** whole, and frees it with the connection): what the PII functions and the
** vg_pii_scan module share. */
typedef struct PiiConn {
  VgPiiEngine *pEngine;   /* built-in + enabled custom recognizers */
  VgPiiRecognizer *aRec;  /* what pEngine was built from */
  int nRec;
  char **azOwned;         /* strings of the custom recognizers */
  int nOwned;
  /* What vg_pii_recognizers looked like when pEngine was built. */
  int bBuilt;
  PiiStamp built;
  int bTable;
  unsigned char aRowsHash[32];
  /* The key vg_pii_set_key set, if any. */
  int bKey;
  VgPiiKey key;
  /* The last key read from vg_pii_keys, and when (read again after any
  ** change to the database). */
  char *zTableKeyName;
  PiiStamp tableKeyStamp;
  VgPiiKey tableKey;
  /* Names, places and organisations: the models that find them are the
  ** embed layer's, which this one may not reach, so the registrar hands
  ** over a finder (ext/vecguard.c).  It appends the findings of model
  ** zModel in z[0, n) to pOut (byte offsets, static type names), or
  ** returns SQLITE_NOTFOUND when no model of that name is loaded. */
  int (*xNer)(void *pCtx, const char *zModel, const char *z, int n, VgPiiFindings *pOut, char **pzErr);
  void *pNerCtx;
} PiiConn;

void pii_conn_init(PiiConn *c);
void pii_conn_clear(PiiConn *c);

/* The connection's engine, brought up to date with vg_pii_recognizers;
** 0 with *pzErr set (or SQLITE_NOMEM in *pRc) on failure. */
VgPiiEngine *pii_conn_engine(PiiConn *c, sqlite3 *db, int *pRc, char **pzErr);

/* Is zEntity reported by one of the engine's recognizers, or by a
** token-classification model (PERSON, LOCATION, ORGANIZATION)?  Returns
** its name as the engine stores it, or 0. */
const char *pii_conn_entity(PiiConn *c, const char *zEntity);

/* The model option "ner" names by default, and the types such a model
** finds, in the order of embed.h's VG_NER_* (ext/vecguard.c maps one to
** the other). */
#define PII_NER_MODEL "ner"
#define PII_NER_TYPES 3
extern const char *const vg_pii_ner_types[PII_NER_TYPES];

/* The findings in z[0, n) under options o (0: the defaults): engine e's
** recognizers' and, weighed with them, those of the token-classification
** model o names (or PII_NER_MODEL) when the types asked for need it.  No
** such model loaded: none of its types, or an error when o named one. */
struct PiiOptions;
int pii_conn_scan(PiiConn *c, VgPiiEngine *e, const struct PiiOptions *o, const char *z, int n, VgPiiFindings *pOut,
                  char **pzErr);

/* The key to use: pArg (a 32-byte BLOB, or the name of a row of
** vg_pii_keys), else the connection's key, else vg_pii_keys's 'default'
** row.  SQLITE_OK, or an error with *pzErr (which never holds key bytes). */
int pii_conn_key(PiiConn *c, sqlite3 *db, sqlite3_value *pArg, VgPiiKey *pKey, char **pzErr);

/* Load a key from vg_pii_keys by name. */
int pii_key_from_table(PiiConn *c, sqlite3 *db, const char *zName, VgPiiKey *pKey, char **pzErr);

/* Check one custom recognizer as vg_pii_recognizers holds it; SQLITE_OK or
** SQLITE_ERROR with *pzErr (PCRE2's message and offset for a bad pattern). */
int pii_custom_check(const char *zName, const char *zEntity, const char *zPattern,
                     sqlite3_value *pScore, char **pzErr);

/* Which option keys a function accepts. */
#define PII_OPT_SCAN 0x01   /* types, min_score, language, ner */
#define PII_OPT_REDACT 0x02 /* operator, operators, audit, content_id, policy, key */
#define PII_OPT_POLICY 0x04 /* block, review, min_score, block_score, max_findings, language */

typedef struct PiiOptions {
  VgPiiOptions scan;
  char **azType;         /* scan.azEntity */
  VgPiiOperators ops;
  char **azOpEntity;     /* ops.azEntity */
  VgPiiOperator *aOp;    /* ops.aOp */
  char **azNewValue;     /* replacement texts, one per operator + default */
  int nNewValue;
  int bAudit;
  sqlite3_value *pContentId;
  char *zKeyName;        /* "key": a row of vg_pii_keys */
  char *zNer;            /* "ner": the token-classification model, or 0 */
  VgPiiPolicy policy;
} PiiOptions;

void pii_options_free(void *p);

/* Options from argv[iArg] (parsed once per statement when constant); 0
** with the error set on the context on failure, or defaults when the
** argument is absent or NULL. */
const PiiOptions *pii_options_arg(sqlite3_context *ctx, PiiConn *c, int argc,
                                  sqlite3_value **argv, int iArg, unsigned mask,
                                  const char *zFunc);

/* Parse options (for the table-valued function, which has no auxdata). */
int pii_options_parse(sqlite3 *db, PiiConn *c, const char *zJson, unsigned mask,
                      const char *zFunc, PiiOptions **pp, char **pzErr);

/* What ext/vecguard.c registers for this layer, each taking the PiiConn:
** the SQL functions (pii_sql.c) and the module vg_pii_scan (pii_scan.c). */
extern const VgFunction vg_pii_functions[];
extern const sqlite3_module vg_pii_scan_module;

#endif
