/*
** pii_redact.c — redaction operators, pseudonyms and encryption of
** findings (see pii.h, pii_redact section).
*/
#include "pii/pii.h"

#include <sodium.h>
#include <string.h>

/* ---- keys --------------------------------------------------------------- */

/* Each working key is BLAKE2b-256 keyed with the master key over a label,
** so one master key serves both purposes without relating their outputs. */
static void derive(const unsigned char *aMaster, const char *zLabel, unsigned char *aOut,
                   size_t nOut) {
  crypto_generichash(aOut, nOut, (const unsigned char *)zLabel, strlen(zLabel), aMaster,
                     VG_PII_KEY_BYTES);
}

void vg_pii_key_derive(const unsigned char *aMaster, VgPiiKey *pKey) {
  unsigned char aId[8];
  derive(aMaster, "vecguard pii hash v1", pKey->aHash, sizeof pKey->aHash);
  derive(aMaster, "vecguard pii encrypt v1", pKey->aEncrypt, sizeof pKey->aEncrypt);
  derive(aMaster, "vecguard pii key id v1", aId, sizeof aId);
  sodium_bin2hex(pKey->zId, sizeof pKey->zId, aId, sizeof aId);
}

void vg_pii_key_wipe(VgPiiKey *pKey) { sodium_memzero(pKey, sizeof(*pKey)); }

void vg_pii_hash_hex(const VgPiiKey *pKey, const void *z, int n, char *zOut) {
  unsigned char h[VG_PII_HASH_HEX / 2];
  crypto_generichash(h, sizeof h, (const unsigned char *)z, (unsigned long long)n,
                     pKey ? pKey->aHash : 0, pKey ? sizeof pKey->aHash : 0);
  sodium_bin2hex(zOut, VG_PII_HASH_HEX + 1, h, sizeof h);
}

/* ---- operators ---------------------------------------------------------- */

static const char *const azOperator[] = {"replace", "mask", "remove", "hash", "encrypt"};

const char *vg_pii_operator_name(VgPiiOpKind kind) { return azOperator[kind]; }

int vg_pii_operator_kind(const char *z, VgPiiOpKind *pKind) {
  for (int i = 0; i < (int)(sizeof azOperator / sizeof azOperator[0]); i++) {
    if (strcmp(azOperator[i], z) == 0) {
      *pKind = (VgPiiOpKind)i;
      return 1;
    }
  }
  return 0;
}

const VgPiiOperator *vg_pii_operator_for(const VgPiiOperators *p, const char *zEntity) {
  for (int i = 0; i < p->n; i++) {
    if (strcmp(p->azEntity[i], zEntity) == 0) return &p->aOp[i];
  }
  return &p->def;
}

int vg_pii_operators_need_key(const VgPiiOperators *p, const VgPiiFindings *f) {
  for (int i = 0; i < f->n; i++) {
    VgPiiOpKind k = vg_pii_operator_for(p, f->a[i].zEntity)->kind;
    if (k == VG_PII_OP_HASH || k == VG_PII_OP_ENCRYPT) return 1;
  }
  return 0;
}

static int is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* Mask characters for all but the last nKeepLast of the nChar characters
** of z[0..n). */
static void put_mask(const char *z, int n, int nChar, const VgPiiOperator *op, sqlite3_str *out) {
  int nKeep = op->nKeepLast < nChar ? op->nKeepLast : nChar, iKept = n;
  for (int k = 0; k < nKeep;) k += !is_continuation((unsigned char)z[--iKept]);
  for (int i = 0; i < nChar - nKeep; i++) sqlite3_str_appendall(out, op->zMaskChar);
  sqlite3_str_append(out, z + iKept, n - iKept);
}

/* "<TYPE:enc:" base64url(nonce || secretbox(value)) ">". */
static int put_encrypted(const char *zEntity, const char *z, int n, const VgPiiKey *pKey,
                         sqlite3_str *out) {
  size_t nBox = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + (size_t)n;
  size_t nB64 = sodium_base64_encoded_len(nBox, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  unsigned char *aBox = sqlite3_malloc64(nBox + nB64);
  if (aBox == 0) return SQLITE_NOMEM;
  char *zB64 = (char *)aBox + nBox;
  randombytes_buf(aBox, crypto_secretbox_NONCEBYTES);
  crypto_secretbox_easy(aBox + crypto_secretbox_NONCEBYTES, (const unsigned char *)z,
                        (unsigned long long)n, aBox, pKey->aEncrypt);
  sodium_bin2base64(zB64, nB64, aBox, nBox, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sqlite3_str_appendf(out, "<%s:enc:%s>", zEntity, zB64);
  sqlite3_free(aBox);
  return SQLITE_OK;
}

static int put_replacement(const VgPiiFinding *f, const char *z, const VgPiiOperator *op,
                           const VgPiiKey *pKey, sqlite3_str *out) {
  const char *zValue = z + f->iStart;
  int nValue = f->iEnd - f->iStart;
  char zHex[VG_PII_HASH_HEX + 1];
  switch (op->kind) {
    case VG_PII_OP_REPLACE:
      if (op->zNewValue) {
        sqlite3_str_appendall(out, op->zNewValue);
      } else {
        sqlite3_str_appendf(out, "<%s>", f->zEntity);
      }
      break;
    case VG_PII_OP_MASK:
      put_mask(zValue, nValue, f->cEnd - f->cStart, op, out);
      break;
    case VG_PII_OP_REMOVE:
      break;
    case VG_PII_OP_HASH:
      vg_pii_hash_hex(pKey, zValue, nValue, zHex);
      sqlite3_str_appendf(out, "<%s_%.*s>", f->zEntity, op->nHashHex, zHex);
      break;
    case VG_PII_OP_ENCRYPT:
      return put_encrypted(f->zEntity, zValue, nValue, pKey, out);
  }
  return SQLITE_OK;
}

int vg_pii_redact_findings(const char *z, int n, const VgPiiFindings *f,
                           const VgPiiOperators *pOps, const VgPiiKey *pKey, sqlite3_str *out) {
  int iCopied = 0, rc = SQLITE_OK;
  for (int i = 0; i < f->n && rc == SQLITE_OK; i++) {
    const VgPiiFinding *x = &f->a[i];
    sqlite3_str_append(out, z + iCopied, x->iStart - iCopied);
    rc = put_replacement(x, z, vg_pii_operator_for(pOps, x->zEntity), pKey, out);
    iCopied = x->iEnd;
  }
  sqlite3_str_append(out, z + iCopied, n - iCopied);
  if (rc == SQLITE_OK) rc = sqlite3_str_errcode(out);
  return rc;
}

/* ---- decryption --------------------------------------------------------- */

/* If an encrypted token "<TYPE:enc:B64>" starts at z[i], its length and
** (in *piB64, *pnB64) where its base64 lies; else 0. */
static int token_at(const char *z, int n, int i, int *piB64, int *pnB64) {
  int j = i + 1;
  while (j < n && ((z[j] >= 'A' && z[j] <= 'Z') || (z[j] >= '0' && z[j] <= '9') || z[j] == '_')) {
    j++;
  }
  if (j == i + 1 || j + 5 > n || memcmp(z + j, ":enc:", 5) != 0) return 0;
  j += 5;
  int iB64 = j;
  while (j < n && ((z[j] >= 'A' && z[j] <= 'Z') || (z[j] >= 'a' && z[j] <= 'z') ||
                   (z[j] >= '0' && z[j] <= '9') || z[j] == '_' || z[j] == '-')) {
    j++;
  }
  if (j == iB64 || j >= n || z[j] != '>') return 0;
  *piB64 = iB64;
  *pnB64 = j - iB64;
  return j + 1 - i;
}

/* Decrypt base64 zB64[0..nB64) and append the value; 0 if it does not
** authenticate (or is not base64 of a box). */
static int put_decrypted(const VgPiiKey *pKey, const char *zB64, int nB64, sqlite3_str *out,
                         int *pbNoMem) {
  size_t nMax = (size_t)nB64 * 3 / 4 + 3, nBox = 0;
  unsigned char *aBox = sqlite3_malloc64(nMax * 2);
  if (aBox == 0) {
    *pbNoMem = 1;
    return 0;
  }
  unsigned char *aPlain = aBox + nMax;
  size_t nHead = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES;
  int bOk = sodium_base642bin(aBox, nMax, zB64, (size_t)nB64, 0, &nBox, 0,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 &&
            nBox >= nHead &&
            crypto_secretbox_open_easy(aPlain, aBox + crypto_secretbox_NONCEBYTES,
                                       nBox - crypto_secretbox_NONCEBYTES, aBox,
                                       pKey->aEncrypt) == 0;
  if (bOk) sqlite3_str_append(out, (const char *)aPlain, (int)(nBox - nHead));
  sodium_memzero(aPlain, nMax);
  sqlite3_free(aBox);
  return bOk;
}

int vg_pii_decrypt_text(const VgPiiKey *pKey, const char *z, int n, sqlite3_str *out,
                        int *piBadChar) {
  int iCopied = 0, nChar = 0, bNoMem = 0;
  for (int i = 0; i < n; i++) {
    nChar += !is_continuation((unsigned char)z[i]);
    int iB64, nB64, nToken;
    if (z[i] != '<' || (nToken = token_at(z, n, i, &iB64, &nB64)) == 0) continue;
    sqlite3_str_append(out, z + iCopied, i - iCopied);
    if (!put_decrypted(pKey, z + iB64, nB64, out, &bNoMem)) {
      if (bNoMem) return SQLITE_NOMEM;
      *piBadChar = nChar - 1;
      return SQLITE_ERROR;
    }
    i += nToken - 1;
    nChar += nToken - 1; /* the token is ASCII */
    iCopied = i + 1;
  }
  sqlite3_str_append(out, z + iCopied, n - iCopied);
  return sqlite3_str_errcode(out);
}
