/*
** pii_redact.h — turning findings into redacted text, and the keyed
** operations redaction needs: pseudonyms (keyed BLAKE2b) and reversible
** encryption (libsodium secretbox).
**
** A connection's key is 32 bytes of master key material; two working keys
** are derived from it, one to hash and one to encrypt, so a pseudonym says
** nothing about a ciphertext.  Nothing here knows SQL.
*/
#ifndef VG_PII_REDACT_H
#define VG_PII_REDACT_H

#include "pii.h"

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

#endif
