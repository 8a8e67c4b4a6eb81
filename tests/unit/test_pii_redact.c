/*
** test_pii_redact.c — the redaction operators, keys, encryption and the
** compliance policy, on findings written by hand (no recognizers), checked
** against expected texts worked out by hand and against libsodium called
** directly as the documentation describes the derivations.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <sodium.h>
#include <string.h>

#include "pii/pii.h"

/* Findings over z at the given byte ranges, all of type zEntity. */
static VgPiiFindings findings(const char *z, const char *zEntity, int n, const int *aRange) {
  VgPiiFindings f = {0, 0, 0};
  f.a = sqlite3_malloc64(sizeof(VgPiiFinding) * (size_t)(n + 1));
  assert_non_null(f.a);
  for (int i = 0; i < n; i++) {
    VgPiiFinding x = {.zEntity = zEntity, .iStart = aRange[2 * i], .iEnd = aRange[2 * i + 1], .score = 1.0};
    /* Character offsets, as the engine gives them: lead bytes before. */
    for (int k = 0; k < x.iEnd; k++) {
      int bLead = ((unsigned char)z[k] & 0xC0) != 0x80;
      x.cStart += bLead && k < x.iStart;
      x.cEnd += bLead;
    }
    f.a[f.n++] = x;
  }
  f.nAlloc = n + 1;
  return f;
}

static char *redact(const char *z, const VgPiiFindings *f, const VgPiiOperator *op,
                    const VgPiiKey *pKey) {
  VgPiiOperators ops = {0, 0, 0, *op};
  sqlite3_str *out = sqlite3_str_new(0);
  assert_int_equal(vg_pii_redact_findings(z, (int)strlen(z), f, &ops, pKey, out), SQLITE_OK);
  return sqlite3_str_finish(out);
}

static void expect_redact(const char *zWant, const char *z, const VgPiiFindings *f,
                          const VgPiiOperator *op) {
  char *zGot = redact(z, f, op, 0);
  assert_string_equal(zGot, zWant);
  sqlite3_free(zGot);
}

static void test_replace_mask_remove(void **state) {
  (void)state;
  /* "Tel: 555-0100 / ñandú@x.io!": the phone is bytes 5..13, the e-mail
  ** 16..28 (two-byte ñ and ú: 12 bytes, 10 characters). */
  const char *z = "Tel: 555-0100 / \xc3\xb1" "and\xc3\xba@x.io!";
  int aRange[] = {5, 13, 16, 28};
  VgPiiFindings f = findings(z, "PHONE_NUMBER", 2, aRange);
  VgPiiOperator op = {VG_PII_OP_REPLACE, 0, "*", 0, 8};
  expect_redact("Tel: <PHONE_NUMBER> / <PHONE_NUMBER>!", z, &f, &op);
  op.zNewValue = "[x]";
  expect_redact("Tel: [x] / [x]!", z, &f, &op);
  op.kind = VG_PII_OP_REMOVE;
  expect_redact("Tel:  / !", z, &f, &op);
  /* Masks count characters, not bytes; the mask character may be any. */
  op.kind = VG_PII_OP_MASK;
  expect_redact("Tel: ******** / **********!", z, &f, &op);
  op.nKeepLast = 4;
  expect_redact("Tel: ****0100 / ******x.io!", z, &f, &op);
  op.nKeepLast = 9;
  expect_redact("Tel: 555-0100 / *" "and\xc3\xba@x.io!", z, &f, &op);
  op.nKeepLast = 0;
  strcpy(op.zMaskChar, "\xe2\x80\xa2"); /* U+2022 */
  char *zGot = redact(z, &f, &op, 0);
  sqlite3_str *want = sqlite3_str_new(0);
  sqlite3_str_appendall(want, "Tel: ");
  for (int i = 0; i < 8; i++) sqlite3_str_appendall(want, "\xe2\x80\xa2");
  sqlite3_str_appendall(want, " / ");
  for (int i = 0; i < 10; i++) sqlite3_str_appendall(want, "\xe2\x80\xa2");
  sqlite3_str_appendall(want, "!");
  char *zWant = sqlite3_str_finish(want);
  assert_string_equal(zGot, zWant);
  sqlite3_free(zWant);
  sqlite3_free(zGot);
  /* No findings: the text comes back unchanged. */
  VgPiiFindings none = {0, 0, 0};
  op.kind = VG_PII_OP_REPLACE;
  expect_redact(z, z, &none, &op);
  vg_pii_findings_free(&f);
}

/* The working keys as pii.h, pii_redact section describes them, computed here directly. */
static void reference_key(const unsigned char *aMaster, const char *zLabel, unsigned char *aOut) {
  crypto_generichash(aOut, 32, (const unsigned char *)zLabel, strlen(zLabel), aMaster, 32);
}

static void test_hash(void **state) {
  (void)state;
  unsigned char aMaster[32];
  for (int i = 0; i < 32; i++) aMaster[i] = (unsigned char)(i * 7 + 1);
  VgPiiKey key;
  vg_pii_key_derive(aMaster, &key);
  unsigned char aHashKey[32], h[32];
  reference_key(aMaster, "vecguard pii hash v1", aHashKey);
  crypto_generichash(h, 32, (const unsigned char *)"ana@example.com", 15, aHashKey, 32);
  char zWant[65], zGot[65];
  sodium_bin2hex(zWant, sizeof zWant, h, 32);
  vg_pii_hash_hex(&key, "ana@example.com", 15, zGot);
  assert_string_equal(zGot, zWant);
  /* The token is the hash's first digits; the same value, the same token. */
  const char *z = "to ana@example.com and ana@example.com";
  int aRange[] = {3, 18, 23, 38};
  VgPiiFindings f = findings(z, "EMAIL_ADDRESS", 2, aRange);
  VgPiiOperator op = {VG_PII_OP_HASH, 0, "*", 0, 8};
  char *zOut = redact(z, &f, &op, &key);
  char *zExpect = sqlite3_mprintf("to <EMAIL_ADDRESS_%.8s> and <EMAIL_ADDRESS_%.8s>", zWant, zWant);
  assert_string_equal(zOut, zExpect);
  sqlite3_free(zOut);
  sqlite3_free(zExpect);
  op.nHashHex = 64;
  zOut = redact(z, &f, &op, &key);
  assert_non_null(strstr(zOut, zWant));
  sqlite3_free(zOut);
  /* Another key, another pseudonym; the key id is not the hash of anything
  ** the hash operator gives. */
  aMaster[0] ^= 1;
  VgPiiKey other;
  vg_pii_key_derive(aMaster, &other);
  vg_pii_hash_hex(&other, "ana@example.com", 15, zGot);
  assert_string_not_equal(zGot, zWant);
  assert_int_equal(strlen(key.zId), 16);
  assert_string_not_equal(key.zId, other.zId);
  /* Unkeyed: plain BLAKE2b-256. */
  crypto_generichash(h, 32, (const unsigned char *)"abc", 3, 0, 0);
  sodium_bin2hex(zWant, sizeof zWant, h, 32);
  vg_pii_hash_hex(0, "abc", 3, zGot);
  assert_string_equal(zGot, zWant);
  vg_pii_findings_free(&f);
}

static void test_encrypt(void **state) {
  (void)state;
  unsigned char aMaster[32];
  randombytes_buf(aMaster, sizeof aMaster);
  VgPiiKey key;
  vg_pii_key_derive(aMaster, &key);
  const char *z = "IBAN GB82 WEST 1234 5698 7654 32 — pagado";
  int aRange[] = {5, 32};
  VgPiiFindings f = findings(z, "IBAN_CODE", 1, aRange);
  VgPiiOperator op = {VG_PII_OP_ENCRYPT, 0, "*", 0, 8};
  char *zEnc = redact(z, &f, &op, &key);
  assert_memory_equal(zEnc, "IBAN <IBAN_CODE:enc:", 20);
  assert_non_null(strstr(zEnc, "> \xe2\x80\x94 pagado"));
  /* The token opens with secretbox under the derived key, done by hand. */
  const char *zB64 = zEnc + 20;
  size_t nB64 = (size_t)(strchr(zB64, '>') - zB64), nBox = 0;
  unsigned char aBox[256], aPlain[256], aEncKey[32];
  assert_int_equal(sodium_base642bin(aBox, sizeof aBox, zB64, nB64, 0, &nBox, 0,
                                     sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                   0);
  reference_key(aMaster, "vecguard pii encrypt v1", aEncKey);
  assert_int_equal(crypto_secretbox_open_easy(aPlain, aBox + 24, nBox - 24, aBox, aEncKey), 0);
  assert_memory_equal(aPlain, "GB82 WEST 1234 5698 7654 32", 27);
  assert_int_equal(nBox - 24 - 16, 27);
  /* Decrypting the whole text gives the original back. */
  sqlite3_str *out = sqlite3_str_new(0);
  int iBad = -1;
  assert_int_equal(vg_pii_decrypt_text(&key, zEnc, (int)strlen(zEnc), out, &iBad), SQLITE_OK);
  char *zDec = sqlite3_str_finish(out);
  assert_string_equal(zDec, z);
  sqlite3_free(zDec);
  /* Two encryptions of one value differ (random nonces). */
  char *zEnc2 = redact(z, &f, &op, &key);
  assert_string_not_equal(zEnc, zEnc2);
  sqlite3_free(zEnc2);
  /* One changed character, or another key: an error at the token's
  ** character offset (5), never a wrong plaintext. */
  char *zBad = sqlite3_mprintf("%s", zEnc);
  zBad[30] = zBad[30] == 'A' ? 'B' : 'A';
  out = sqlite3_str_new(0);
  assert_int_equal(vg_pii_decrypt_text(&key, zBad, (int)strlen(zBad), out, &iBad), SQLITE_ERROR);
  assert_int_equal(iBad, 5);
  sqlite3_free(sqlite3_str_finish(out));
  aMaster[3] ^= 0x40;
  VgPiiKey other;
  vg_pii_key_derive(aMaster, &other);
  out = sqlite3_str_new(0);
  assert_int_equal(vg_pii_decrypt_text(&other, zEnc, (int)strlen(zEnc), out, &iBad), SQLITE_ERROR);
  sqlite3_free(sqlite3_str_finish(out));
  /* Text that only looks like a token is left alone. */
  const char *zPlain = "<b>bold</b> <X:enc> <Y:enc:> a<b";
  out = sqlite3_str_new(0);
  assert_int_equal(vg_pii_decrypt_text(&key, zPlain, (int)strlen(zPlain), out, &iBad), SQLITE_OK);
  zDec = sqlite3_str_finish(out);
  assert_string_equal(zDec, zPlain);
  sqlite3_free(zDec);
  sqlite3_free(zBad);
  sqlite3_free(zEnc);
  vg_pii_findings_free(&f);
}

static void test_policy(void **state) {
  (void)state;
  VgPiiFinding a[] = {
      {"EMAIL_ADDRESS", 0, 0, 1, 0, 1, 1.0, 0}, {"CREDIT_CARD", 0, 2, 3, 2, 3, 1.0, 0},
      {"EMAIL_ADDRESS", 0, 4, 5, 4, 5, 1.0, 0}, {"URL", 0, 6, 7, 6, 7, 0.6, 0},
      {"US_SSN", 0, 8, 9, 8, 9, 0.5, 0},       {"IBAN_CODE", 0, 10, 11, 10, 11, 0.2, 0},
  };
  VgPiiFindings f = {a, 6, 6};
  VgPiiPolicy p;
  vg_pii_policy_default(&p);
  VgPiiAssessment r;
  assert_int_equal(vg_pii_assess(&f, &p, &r), SQLITE_OK);
  /* The IBAN (0.2) is under min_score 0.4: not counted.  The SSN (0.5)
  ** is a blocking type under block_score 0.6: review.  The card blocks. */
  assert_int_equal(r.nType, 4);
  assert_int_equal(r.nCounted, 5);
  assert_string_equal(r.a[0].zEntity, "EMAIL_ADDRESS");
  assert_int_equal(r.a[0].n, 2);
  assert_int_equal(r.a[0].status, VG_PII_REVIEW);
  assert_int_equal(r.a[1].status, VG_PII_BLOCK);
  assert_int_equal(r.a[2].status, VG_PII_ALLOW); /* URL: low */
  assert_int_equal(r.a[3].status, VG_PII_REVIEW);
  assert_false(r.bCompliant);
  assert_true(r.bReview);
  assert_string_equal(vg_pii_risk_name(r.risk), "high");
  assert_string_equal(vg_pii_status_name(&r), "blocked");
  vg_pii_assessment_free(&r);
  /* Only the URL: compliant, low risk, nothing to review. */
  VgPiiFindings fUrl = {a + 3, 1, 1};
  assert_int_equal(vg_pii_assess(&fUrl, &p, &r), SQLITE_OK);
  assert_true(r.bCompliant);
  assert_false(r.bReview);
  assert_string_equal(vg_pii_risk_name(r.risk), "low");
  assert_string_equal(vg_pii_status_name(&r), "compliant");
  vg_pii_assessment_free(&r);
  /* A policy that blocks URLs, reviews nothing, allows one finding. */
  const char *azBlock[] = {"URL"};
  p.azBlock = azBlock;
  p.nBlock = 1;
  p.bBlockSet = 1;
  p.bReviewSet = 1;
  p.nReview = 0;
  p.maxFindings = 1;
  assert_int_equal(vg_pii_assess(&f, &p, &r), SQLITE_OK);
  assert_int_equal(r.a[1].status, VG_PII_ALLOW); /* the card, no longer blocking */
  assert_int_equal(r.a[2].status, VG_PII_BLOCK);
  assert_true(r.bTooMany);
  assert_false(r.bReview);
  vg_pii_assessment_free(&r);
  /* No findings. */
  VgPiiFindings fNone = {0, 0, 0};
  vg_pii_policy_default(&p);
  assert_int_equal(vg_pii_assess(&fNone, &p, &r), SQLITE_OK);
  assert_true(r.bCompliant);
  assert_string_equal(vg_pii_risk_name(r.risk), "none");
  vg_pii_assessment_free(&r);
  assert_int_equal(vg_pii_entity_level("CUSTOM_THING"), VG_PII_LEVEL_HIGH);
  assert_int_equal(vg_pii_entity_level("PHONE_NUMBER"), VG_PII_LEVEL_MEDIUM);
  assert_int_equal(vg_pii_entity_level("TR_PHONE_NUMBER"), VG_PII_LEVEL_MEDIUM);
  assert_int_equal(vg_pii_entity_level("DE_KFZ"), VG_PII_LEVEL_MEDIUM);
  assert_int_equal(vg_pii_entity_level("UK_POSTCODE"), VG_PII_LEVEL_LOW);
  assert_int_equal(vg_pii_entity_level("DE_TAX_ID"), VG_PII_LEVEL_HIGH);
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_replace_mask_remove),
      cmocka_unit_test(test_hash),
      cmocka_unit_test(test_encrypt),
      cmocka_unit_test(test_policy),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
