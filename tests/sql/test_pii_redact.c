/*
** test_pii_redact.c — redaction, keys, encryption, compliance, the audit
** log, custom recognizers and vg_pii_scan through SQL: each operator and
** option and every error they give, redacted texts rebuilt independently
** from vg_pii_detect's offsets, keys from every source, a second
** connection adding a recognizer, and the schema against sql/pii.sql.
*/
#include "testdb.h"

#include <stdlib.h>
#include <string.h>

/* Byte offset of character iChar in z. */
static int byte_of_char(const char *z, int iChar) {
  int i = 0;
  for (int c = 0; z[i] && c < iChar; c++) {
    i++;
    while (((unsigned char)z[i] & 0xC0) == 0x80) i++;
  }
  return i;
}

/* vg_pii_redact(z) must equal z with each finding of vg_pii_detect(z)
** replaced by <TYPE>, built here from the character offsets.  Returns the
** number of findings. */
static int expect_redaction_matches_detection(sqlite3 *db, const char *z) {
  sqlite3_stmt *p = tdb_prepare(db, "SELECT value->>'start', value->>'end', value->>'type' FROM "
                                    "json_each(vg_pii_detect(?1))");
  sqlite3_bind_text(p, 1, z, -1, SQLITE_STATIC);
  sqlite3_str *want = sqlite3_str_new(0);
  int iCopied = 0, nFound = 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    int s = byte_of_char(z, sqlite3_column_int(p, 0)), e = byte_of_char(z, sqlite3_column_int(p, 1));
    assert_true(s >= iCopied && e > s);
    sqlite3_str_append(want, z + iCopied, s - iCopied);
    sqlite3_str_appendf(want, "<%s>", sqlite3_column_text(p, 2));
    iCopied = e;
    nFound++;
  }
  sqlite3_finalize(p);
  sqlite3_str_appendall(want, z + iCopied);
  char *zWant = sqlite3_str_finish(want);
  p = tdb_prepare(db, "SELECT vg_pii_redact(?1)");
  sqlite3_bind_text(p, 1, z, -1, SQLITE_STATIC);
  assert_int_equal(sqlite3_step(p), SQLITE_ROW);
  const char *zGot = (const char *)sqlite3_column_text(p, 0);
  if (strcmp(zGot, zWant) != 0) fail_msg("redact %s\n  got  %s\n  want %s", z, zGot, zWant);
  sqlite3_finalize(p);
  sqlite3_free(zWant);
  return nFound;
}

static void test_operators(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  const char *zText = "'Écrivez à ana@example.com, tel +54 9 11 4567-8901, tarjeta 4111 1111 1111 1111 🙂'";
  tdb_expect_text(db, "Écrivez à <EMAIL_ADDRESS>, tel <PHONE_NUMBER>, tarjeta <CREDIT_CARD> 🙂", "SELECT vg_pii_redact(%s)", zText);
  tdb_expect_text(db, "Écrivez à ***************, tel ******************, tarjeta ******************* 🙂", "SELECT vg_pii_redact(%s, '{\"operator\": \"mask\"}')", zText);
  tdb_expect_text(db, "Écrivez à ●●●●●●●●●●●.com, tel +54 9 11 4567-8901, tarjeta ●●●●●●●●●●●●●●●1111 🙂", "SELECT vg_pii_redact(%s, '{\"operator\": {\"operator\": \"mask\", "
                              "\"char\": \"●\", \"keep_last\": 4}, \"types\": [\"EMAIL_ADDRESS\", "
                              "\"CREDIT_CARD\"]}')",
                              zText);
  tdb_expect_text(db, "Écrivez à , tel [tel], tarjeta <CREDIT_CARD> 🙂", "SELECT vg_pii_redact(%s, '{\"operators\": {\"EMAIL_ADDRESS\": "
                              "\"remove\", \"PHONE_NUMBER\": {\"operator\": \"replace\", "
                              "\"new_value\": \"[tel]\"}}}')",
                              zText);
  tdb_expect_text(db, "Écrivez à <EMAIL_ADDRESS>, tel ##################, tarjeta ################### 🙂", "SELECT vg_pii_redact(%s, '{\"operators\": {\"DEFAULT\": {\"operator\": "
                              "\"mask\", \"char\": \"#\"}, \"EMAIL_ADDRESS\": \"replace\"}}')",
                              zText);
  /* NULL, empty, and text without findings. */
  assert_int_equal(tdb_int(db, "SELECT vg_pii_redact(NULL) IS NULL"), 1);
  tdb_expect_text(db, "", "SELECT vg_pii_redact('')");
  tdb_expect_text(db, "nada que ver 12:30 v1.2.3", "SELECT vg_pii_redact('nada que ver 12:30 v1.2.3')");
  /* Redaction leaves every byte outside the findings as it was, checked on
  ** mixed texts against detection's own offsets. */
  static const char *azPart[] = {
      "Hola ", "ñandú ", "🙂 ", "a@b.io ", "4111-1111-1111-1111 ", "IBAN DE89 3704 0044 0532 0130 00 ",
      "x", "CUIT 20-12345678-6 ", "日本語 ", "192.168.1.20 ", "\t\n", "ssn 536-22-1234 ",
      "+1 (415) 555-0100 ", "é", "https://example.org/ruta?q=1 ", "12.345.678 ", "DNI 30.123.456 ",
  };
  uint64_t seed = 42;
  int nFound = 0;
  for (int t = 0; t < 200; t++) {
    sqlite3_str *s = sqlite3_str_new(0);
    int nPart = 1 + (int)(tdb_rand(&seed) % 8);
    for (int i = 0; i < nPart; i++) {
      sqlite3_str_appendall(s, azPart[tdb_rand(&seed) % (sizeof azPart / sizeof azPart[0])]);
    }
    char *z = sqlite3_str_finish(s);
    nFound += expect_redaction_matches_detection(db, z);
    sqlite3_free(z);
  }
  /* Most texts hold some findings: the comparison was not of empty lists. */
  assert_true(nFound > 200);
  tdb_close(db);
}

static void test_operator_errors(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  static const struct {
    const char *zOptions, *zError;
  } a[] = {
      {"{\"operator\": \"blur\"}", "vg_pii_redact: unknown operator \"blur\" (operators: replace, mask, remove, hash, encrypt)"},
      {"{\"operator\": 3}", "vg_pii_redact: an operator must be a name (\"mask\") or an object"},
      {"{\"operator\": {\"char\": \"#\"}}", "vg_pii_redact: an operator object needs \"operator\": a name"},
      {"{\"operator\": {\"operator\": \"mask\", \"char\": \"##\"}}", "vg_pii_redact: mask: char must be one character"},
      {"{\"operator\": {\"operator\": \"mask\", \"keep_last\": -1}}", "vg_pii_redact: mask: keep_last must be a whole number, 0 or more"},
      {"{\"operator\": {\"operator\": \"mask\", \"keep_last\": 1.5}}", "vg_pii_redact: mask: keep_last must be a whole number, 0 or more"},
      {"{\"operator\": {\"operator\": \"hash\", \"length\": 7}}", "vg_pii_redact: hash: length must be a whole number from 8 to 64"},
      {"{\"operator\": {\"operator\": \"hash\", \"length\": 65}}", "vg_pii_redact: hash: length must be a whole number from 8 to 64"},
      {"{\"operator\": {\"operator\": \"remove\", \"char\": \"#\"}}", "vg_pii_redact: unknown field \"char\" for operator remove (it takes no other field)"},
      {"{\"operator\": {\"operator\": \"replace\", \"new_value\": 5}}", "vg_pii_redact: replace: new_value must be text"},
      {"{\"operators\": [\"mask\"]}", "vg_pii_redact: operators must be an object"},
      {"{\"operators\": {\"PASSWORD\": \"mask\"}}", "vg_pii_redact: unknown entity type PASSWORD in operators"},
      {"{\"audit\": \"yes\"}", "vg_pii_redact: audit must be true or false"},
      {"{\"content_id\": [1]}", "vg_pii_redact: content_id must be text or an integer"},
      {"{\"policy\": 1}", "vg_pii_redact: policy must be an object"},
      {"{\"policy\": {\"blok\": []}}", "vg_pii_redact: unknown policy option \"blok\""},
      {"{\"policy\": {\"block\": [\"NOPE\"]}}", "vg_pii_redact: unknown entity type NOPE in block"},
      {"{\"key\": 5}", "vg_pii_redact: key must be the name of a row of vg_pii_keys"},
      {"{\"block\": []}", "vg_pii_redact: unknown option \"block\""},
      {"[]", "vg_pii_redact: options must be a JSON object"},
      {"{", "vg_pii_redact: options are not valid JSON"},
  };
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    tdb_expect_error(db, a[i].zError, "SELECT vg_pii_redact('a@b.io', '%q')", a[i].zOptions);
  }
  tdb_expect_error(db, "vg_pii_redact: options must be a JSON object (as text)",
                   "SELECT vg_pii_redact('a@b.io', 7)");
  tdb_expect_error(db, "vg_pii_redact: the text must be text; got a blob", "SELECT vg_pii_redact(x'41')");
  tdb_expect_error(db, "vg_pii_redact: the text is not valid UTF-8 (at byte 0)",
                   "SELECT vg_pii_redact(CAST(x'c3' AS TEXT))");
  tdb_close(db);
}

static void test_keys(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  /* No key anywhere: hashing and encrypting refuse, naming the remedy. */
  const char *zNoKey = "no key: set one with vg_pii_set_key(randomblob(32)) or add a 'default' row to vg_pii_keys";
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_hash('a')");
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_redact('a@b.io', '{\"operator\": \"hash\"}')");
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_redact('a@b.io', '{\"operator\": \"encrypt\"}')");
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_redact('a@b.io', '{\"audit\": true}')");
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_decrypt('x')");
  /* ... but an operator that needs no key works, and so does a text with
  ** nothing to hash. */
  tdb_expect_text(db, "<EMAIL_ADDRESS>", "SELECT vg_pii_redact('a@b.io')");
  tdb_expect_text(db, "nothing", "SELECT vg_pii_redact('nothing', '{\"operator\": \"hash\"}')");
  /* Bad keys: the message gives sizes, never bytes. */
  tdb_expect_error(db, "vg_pii_set_key: a key must be a 32-byte BLOB (like randomblob(32)) or the name of a row of vg_pii_keys; got a 31-byte BLOB",
                   "SELECT vg_pii_set_key(x'%s')", "73656372657473656372657473656372657473656372657473656372657473");
  tdb_expect_error(db, "vg_pii_set_key: no key named 'k1': there is no vg_pii_keys table",
                   "SELECT vg_pii_set_key('k1')");
  tdb_expect_error(db, "vg_pii_set_key: a key must be a 32-byte BLOB or the name of a row of vg_pii_keys",
                   "SELECT vg_pii_set_key(12)");
  /* A key set on the connection: the pseudonym is the hash's first digits,
  ** the same for the same value, different for another value. */
  const char *zKeyA = "x'000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'";
  char *zId = tdb_text(db, "SELECT vg_pii_set_key(%s)", zKeyA);
  assert_int_equal(strlen(zId), 16);
  char *zHash = tdb_text(db, "SELECT vg_pii_hash('ana@example.com')");
  assert_int_equal(strlen(zHash), 64);
  char *zWant = sqlite3_mprintf("<EMAIL_ADDRESS_%.8s> y <EMAIL_ADDRESS_%.8s>", zHash, zHash);
  tdb_expect_text(db, zWant, "SELECT vg_pii_redact('ana@example.com y ana@example.com', '{\"operator\": \"hash\"}')");
  sqlite3_free(zWant);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com') = vg_pii_hash('ana@example.con')"), 0);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com') = vg_pii_hash(CAST('ana@example.com' AS BLOB))"), 1);
  /* The same key in another connection gives the same pseudonyms and id. */
  sqlite3 *db2 = tdb_open(":memory:");
  char *zId2 = tdb_text(db2, "SELECT vg_pii_set_key(%s)", zKeyA);
  assert_string_equal(zId, zId2);
  char *zHash2 = tdb_text(db2, "SELECT vg_pii_hash('ana@example.com')");
  assert_string_equal(zHash, zHash2);
  sqlite3_free(zHash2);
  sqlite3_free(zId2);
  tdb_close(db2);
  /* A key given as an argument wins over the connection's. */
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com', zeroblob(32)) = '%s'", zHash), 0);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com', %s) = '%s'", zKeyA, zHash), 1);
  tdb_expect_error(db, "vg_pii_hash: the value must be text or a blob", "SELECT vg_pii_hash(5)");
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash(NULL) IS NULL"), 1);
  /* Keys from vg_pii_keys: by name, and 'default' when the connection has none. */
  tdb_exec(db, "SELECT vg_pii_init(); INSERT INTO vg_pii_keys VALUES ('tenant7', %s), ('default', zeroblob(32))", zKeyA);
  tdb_expect_error(db, "CHECK constraint failed", "INSERT INTO vg_pii_keys VALUES ('short', x'00')");
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com', 'tenant7') = '%s'", zHash), 1);
  tdb_expect_error(db, "vg_pii_hash: no key named 'tenant8' in vg_pii_keys", "SELECT vg_pii_hash('a', 'tenant8')");
  /* A key read from the table during a statement over rows is read again
  ** once the table changes, in this connection or another one. */
  tdb_exec(db, "CREATE TABLE v(x); INSERT INTO v VALUES ('a'), ('b')");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE vg_pii_hash(x, 'tenant7') = vg_pii_hash(x, %s)", zKeyA), 2);
  tdb_exec(db, "UPDATE vg_pii_keys SET key = zeroblob(32) WHERE name = 'tenant7'");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE vg_pii_hash(x, 'tenant7') = vg_pii_hash(x, zeroblob(32))"), 2);
  tdb_exec(db, "UPDATE vg_pii_keys SET key = %s WHERE name = 'tenant7'", zKeyA);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM v WHERE vg_pii_hash(x, 'tenant7') = vg_pii_hash(x, %s)", zKeyA), 2);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_set_key(NULL) IS NULL"), 1);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com') = vg_pii_hash('ana@example.com', zeroblob(32))"), 1);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_redact('ana@example.com', '{\"operator\": \"hash\", \"key\": \"tenant7\"}') = '<EMAIL_ADDRESS_%.8s>'", zHash), 1);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_set_key('tenant7') = '%s'", zId), 1);
  assert_int_equal(tdb_int(db, "SELECT vg_pii_hash('ana@example.com') = '%s'", zHash), 1);
  tdb_exec(db, "DELETE FROM vg_pii_keys WHERE name = 'default'; SELECT vg_pii_set_key(NULL)");
  tdb_expect_error(db, zNoKey, "SELECT vg_pii_hash('a')");
  /* vg_pii_set_key cannot run from a view or trigger (a schema someone else
  ** wrote must not change the key). */
  tdb_exec(db, "CREATE VIEW setter AS SELECT vg_pii_set_key(zeroblob(32))");
  tdb_expect_error(db, "unsafe use of vg_pii_set_key()", "SELECT * FROM setter");
  sqlite3_free(zHash);
  sqlite3_free(zId);
  tdb_close(db);
}

/* Another connection's change to a key reaches a connection that has read
** it before. */
static void test_key_from_another_connection(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("keys.db");
  sqlite3 *db = tdb_open(zPath), *other = tdb_open(zPath);
  tdb_exec(db, "SELECT vg_pii_init(); INSERT INTO vg_pii_keys VALUES ('k', zeroblob(32));"
               "CREATE TABLE v(x); INSERT INTO v VALUES ('a'), ('b')");
  const char *zSql = "SELECT count(*) FROM v WHERE vg_pii_hash(x, 'k') = vg_pii_hash(x, zeroblob(32))";
  assert_int_equal(tdb_int(db, "%s", zSql), 2);
  tdb_exec(other, "UPDATE vg_pii_keys SET key = randomblob(32) WHERE name = 'k'");
  assert_int_equal(tdb_int(db, "%s", zSql), 0);
  tdb_close(other);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_encrypt(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  const char *zText = "'IBAN GB82 WEST 1234 5698 7654 32 y ana@example.com — ñ'";
  tdb_exec(db, "CREATE TABLE t AS SELECT vg_pii_redact(%s, '{\"operator\": \"encrypt\"}') AS r", zText);
  assert_int_equal(tdb_int(db, "SELECT r LIKE 'IBAN <IBAN_CODE:enc:%%> y <EMAIL_ADDRESS:enc:%%> — ñ' FROM t"), 1);
  assert_int_equal(tdb_int(db, "SELECT instr(r, 'ana@') + instr(r, 'WEST') FROM t"), 0);
  tdb_expect_text(db, "IBAN GB82 WEST 1234 5698 7654 32 y ana@example.com — ñ", "SELECT vg_pii_decrypt(r) FROM t");
  /* Another key, or a changed token: an error, never a wrong value. */
  tdb_expect_error(db, "vg_pii_decrypt: the token at character 5 does not decrypt with this key",
                   "SELECT vg_pii_decrypt(r, randomblob(32)) FROM t");
  tdb_expect_error(db, "vg_pii_decrypt: the token at character 5 does not decrypt with this key",
                   "SELECT vg_pii_decrypt(replace(r, '<IBAN_CODE:enc:', '<IBAN_CODE:enc:A')) FROM t");
  tdb_expect_text(db, "sin tokens <b>", "SELECT vg_pii_decrypt('sin tokens <b>')");
  /* Decryption reveals data: not from views or triggers. */
  tdb_exec(db, "CREATE VIEW reveal AS SELECT vg_pii_decrypt(r) FROM t");
  tdb_expect_error(db, "unsafe use of vg_pii_decrypt()", "SELECT * FROM reveal");
  tdb_close(db);
}

static void test_check(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_expect_text(db, "{\"compliant\":true,\"risk\":\"none\",\"findings_by_type\":{},\"requires_review\":false,\"recommendations\":[]}",
              "SELECT vg_pii_check('nothing personal here')");
  tdb_expect_text(db, "1|low|{\"URL\":1}|0|[]",
              "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'findings_by_type') || '|' || "
              "(j->>'requires_review') || '|' || (j->>'recommendations') "
              "FROM (SELECT vg_pii_check('see https://example.org/x') AS j)");
  tdb_expect_text(db, "0|high|{\"CREDIT_CARD\":2,\"EMAIL_ADDRESS\":1}|1|2",
              "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'findings_by_type') || '|' || "
              "(j->>'requires_review') || '|' || json_array_length(j->'recommendations') FROM (SELECT vg_pii_check('4111 1111 1111 "
              "1111, a@b.io, 5500 0000 0000 0004') AS j)");
  /* A policy: cards reviewed, e-mails blocked. */
  tdb_expect_text(db, "0|high|1",
              "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'requires_review') FROM (SELECT "
              "vg_pii_check('4111 1111 1111 1111, a@b.io', '{\"block\": [\"EMAIL_ADDRESS\"], "
              "\"review\": [\"CREDIT_CARD\"]}') AS j)");
  /* Compliant by this policy, but cards are high-risk data all the same. */
  tdb_expect_text(db, "1|high|1",
              "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'requires_review') FROM (SELECT "
              "vg_pii_check('4111 1111 1111 1111', '{\"block\": [], \"review\": [\"CREDIT_CARD\"]}') AS j)");
  /* The phone scores 0.5 without context: under block_score 0.6 it is a
  ** question for review when phones block; under min_score 0.6, not counted. */
  tdb_expect_text(db, "1|1", "SELECT (j->>'compliant') || '|' || (j->>'requires_review') FROM (SELECT "
                         "vg_pii_check('ref 212-555-0187', '{\"block\": [\"PHONE_NUMBER\"]}') AS j)");
  tdb_expect_text(db, "1|0|{}", "SELECT (j->>'compliant') || '|' || (j->>'requires_review') || '|' || (j->>'findings_by_type') FROM "
                            "(SELECT vg_pii_check('ref 212-555-0187', '{\"min_score\": 0.6}') AS j)");
  tdb_expect_text(db, "0|medium", "SELECT (j->>'compliant') || '|' || (j->>'risk') FROM (SELECT "
                              "vg_pii_check('https://a.io https://b.io', '{\"max_findings\": 1}') AS j)");
  /* A plate is medium and needs review by default; a VAT id is low. */
  tdb_expect_text(db, "1|medium|1", "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'requires_review') "
                                  "FROM (SELECT vg_pii_check('car registration AB12 CDE') AS j)");
  tdb_expect_text(db, "1|low|0", "SELECT (j->>'compliant') || '|' || (j->>'risk') || '|' || (j->>'requires_review') "
                               "FROM (SELECT vg_pii_check('USt-IdNr. DE136695976') AS j)");
  tdb_expect_error(db, "vg_pii_check: unknown option \"operator\"", "SELECT vg_pii_check('x', '{\"operator\": \"mask\"}')");
  tdb_expect_error(db, "vg_pii_check: max_findings must be a whole number, 0 or more",
                   "SELECT vg_pii_check('x', '{\"max_findings\": -2}')");
  tdb_expect_error(db, "vg_pii_check: block_score must be a number from 0 to 1",
                   "SELECT vg_pii_check('x', '{\"block_score\": true}')");
  tdb_expect_error(db, "vg_pii_check: the text must be text; got a real", "SELECT vg_pii_check(1.5)");
  tdb_close(db);
}

static void test_audit(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("audit.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_exec(db, "CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);"
               "INSERT INTO docs VALUES (1, 'write to ana.secret@example.com or card 4111 1111 1111 1111'),"
               "(2, 'nothing here'), (3, 'call +54 9 11 4567-8901 and +54 9 11 4567-8902')");
  /* No audit unless asked. */
  tdb_exec(db, "SELECT vg_pii_redact(body) FROM docs");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'vg_pii_log'"), 0);
  tdb_exec(db, "CREATE TABLE clean AS SELECT id, vg_pii_redact(body, json_object('audit', json('true'), "
               "'content_id', 'doc-' || id, 'operators', json_object('EMAIL_ADDRESS', 'hash'))) AS body FROM docs");
  tdb_expect_text(db,
              "doc-1|{\"EMAIL_ADDRESS\":1,\"CREDIT_CARD\":1}|{\"EMAIL_ADDRESS\":\"hash\",\"CREDIT_CARD\":\"replace\"}|blocked\n"
              "doc-2|{}|{}|compliant\n"
              "doc-3|{\"PHONE_NUMBER\":2}|{\"PHONE_NUMBER\":\"replace\"}|review",
              "SELECT group_concat(content_id || '|' || findings || '|' || operators || '|' || compliance, char(10)) "
              "FROM (SELECT * FROM vg_pii_log ORDER BY id)");
  /* Hashes: the original's is keyed (vg_pii_hash of the text), the result's
  ** is the same under any key; the key id is the connection's. */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_pii_log l JOIN docs d ON l.content_id = 'doc-' || d.id "
                               "WHERE l.original_hash = vg_pii_hash(d.body) AND length(l.result_hash) = 64 "
                               "AND l.key_id = vg_pii_set_key(zeroblob(32))"),
                   3);
  tdb_exec(db, "SELECT vg_pii_set_key(randomblob(32)); SELECT vg_pii_redact(body, json_object('audit', 1, "
               "'content_id', id, 'operators', json_object('EMAIL_ADDRESS', 'hash'))) FROM docs");
  /* Under the new key the originals hash differently; the results are the
  ** same texts (and hashes) except doc 1's, whose e-mail pseudonym changed. */
  assert_int_equal(tdb_int(db, "SELECT count(DISTINCT original_hash) FROM vg_pii_log"), 6);
  assert_int_equal(tdb_int(db, "SELECT count(DISTINCT result_hash) FROM vg_pii_log"), 4);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_pii_log a JOIN vg_pii_log b ON a.content_id = 'doc-' || "
                               "b.content_id WHERE a.result_hash = b.result_hash"),
                   2);
  tdb_expect_text(db, "integer", "SELECT typeof(content_id) FROM vg_pii_log WHERE id = 4");
  /* The log holds no personal data: not in its rows, and not in the file
  ** once the source rows are gone. */
  tdb_exec(db, "DROP TABLE docs; VACUUM");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_pii_log WHERE findings || operators || "
                               "original_hash || result_hash || key_id LIKE '%%ana.secret%%'"),
                   0);
  tdb_close(db);
  long n = 0;
  char *zFile = tdb_read_file(zPath, &n);
  assert_null(memmem(zFile, (size_t)n, "ana.secret", 10));
  assert_null(memmem(zFile, (size_t)n, "4111 1111", 9));
  assert_null(memmem(zFile, (size_t)n, "4567-8901", 9));
  assert_non_null(memmem(zFile, (size_t)n, "<CREDIT_CARD>", 13));
  free(zFile);
  /* A read-only database: the audit row cannot be written, and that is an
  ** error, not a silent skip. */
  sqlite3 *ro = 0;
  char *zUri = sqlite3_mprintf("file:%s?mode=ro", zPath);
  assert_int_equal(sqlite3_open_v2(zUri, &ro, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, 0), SQLITE_OK);
  sqlite3_enable_load_extension(ro, 1);
  assert_int_equal(sqlite3_load_extension(ro, getenv("VG_EXTENSION"), 0, 0), SQLITE_OK);
  tdb_exec(ro, "SELECT vg_pii_set_key(zeroblob(32))");
  tdb_expect_error(ro, "vg_pii_redact: cannot write the audit row to vg_pii_log: attempt to write a readonly database",
                   "SELECT vg_pii_redact('a@b.io', '{\"audit\": true}')");
  sqlite3_close(ro);
  sqlite3_free(zUri);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_custom_recognizers(void **state) {
  (void)state;
  char *zPath = tdb_temp_path("custom.db");
  sqlite3 *db = tdb_open(zPath);
  sqlite3 *other = tdb_open(zPath);
  const char *zText = "'staff EMP-123456 and emp-654321, case ZX-99'";
  tdb_exec(db, "SELECT vg_pii_init()");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s))", zText), 0);
  /* A row counts at once, in this connection and in another one. */
  assert_int_equal(tdb_int(other, "SELECT json_array_length(vg_pii_detect(%s))", zText), 0);
  tdb_exec(db, "INSERT INTO vg_pii_recognizers(name, entity, pattern, score, context) "
               "VALUES ('employee', 'EMPLOYEE_ID', '(?i)\\bEMP-\\d{6}\\b', 0.5, 'staff, Employee')");
  tdb_expect_text(db, "[{\"type\":\"EMPLOYEE_ID\",\"start\":6,\"end\":16,\"text\":\"EMP-123456\",\"score\":0.85},"
                  "{\"type\":\"EMPLOYEE_ID\",\"start\":21,\"end\":31,\"text\":\"emp-654321\",\"score\":0.85}]", "SELECT vg_pii_detect(%s)", zText);
  assert_int_equal(tdb_int(other, "SELECT json_array_length(vg_pii_detect(%s))", zText), 2);
  /* Custom types work in options and operators. */
  tdb_expect_text(db, "1", "SELECT vg_pii_redact(%s, '{\"operators\": {\"EMPLOYEE_ID\": "
                                       "{\"operator\": \"mask\", \"keep_last\": 4}}}') = "
                                       "'staff ******3456 and ******4321, case ZX-99'",
                                       zText);
  /* A deny list is a pattern too. */
  tdb_exec(db, "INSERT INTO vg_pii_recognizers(name, entity, pattern, score) "
               "VALUES ('cases', 'CASE_NAME', vg_pii_deny_pattern('[\"ZX-99\", \"a.b (c)\"]'), 0.9)");
  tdb_expect_text(db, "CASE_NAME|zx-99\nCASE_NAME|A.B (C)",
              "SELECT group_concat(type || '|' || text, char(10)) FROM vg_pii_scan('zx-99 ZX-990 aXb (c) A.B (C)', "
              "'{\"types\": [\"CASE_NAME\"]}')");
  /* Disabled rows and deleted rows stop counting. */
  tdb_exec(db, "UPDATE vg_pii_recognizers SET enabled = 0 WHERE name = 'employee'");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s))", zText), 1);
  assert_int_equal(tdb_int(other, "SELECT json_array_length(vg_pii_detect(%s))", zText), 1);
  /* Bad rows are refused by the table's triggers, with PCRE2's message. */
  tdb_expect_error(db, "vg_pii_recognizers: recognizer bad: bad pattern at offset 7: missing closing parenthesis",
                   "INSERT INTO vg_pii_recognizers(name, entity, pattern) VALUES ('bad', 'X', 'ab(c\\d+')");
  tdb_expect_error(db, "vg_pii_recognizers: recognizer lower: the entity type must be 1 to 64 of A-Z, 0-9 and _",
                   "INSERT INTO vg_pii_recognizers(name, entity, pattern) VALUES ('lower', 'employee', 'x')");
  tdb_expect_error(db, "vg_pii_recognizers: recognizer s: the score must be a number from 0 to 1",
                   "INSERT INTO vg_pii_recognizers(name, entity, pattern, score) VALUES ('s', 'X', 'x', 1.5)");
  tdb_expect_error(db, "vg_pii_recognizers: recognizer employee: bad pattern at offset 1",
                   "UPDATE vg_pii_recognizers SET pattern = '[' WHERE name = 'employee'");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_pii_recognizers"), 2);
  /* A table made by hand has no triggers: a bad row is an error at use,
  ** naming it, until it is fixed. */
  tdb_exec(db, "DROP TABLE vg_pii_recognizers");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s))", zText), 0);
  tdb_exec(db, "CREATE TABLE vg_pii_recognizers(name TEXT PRIMARY KEY, entity TEXT, pattern TEXT, score REAL, "
               "context TEXT, enabled INTEGER DEFAULT 1); INSERT INTO vg_pii_recognizers VALUES ('oops', 'OOPS', "
               "'a[b', 0.5, NULL, 1), ('fine', 'FINE', 'ZX-\\d+', 0.5, NULL, 1)");
  tdb_expect_error(db, "vg_pii_detect: vg_pii_recognizers: recognizer oops: bad pattern at offset 3",
                   "SELECT vg_pii_detect('x')");
  tdb_expect_error(db, "vg_pii_scan: vg_pii_recognizers: recognizer oops: bad pattern",
                   "SELECT * FROM vg_pii_scan('x')");
  tdb_exec(db, "UPDATE vg_pii_recognizers SET enabled = 0 WHERE name = 'oops'");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s))", zText), 1);
  tdb_close(other);
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_scan(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  /* The rows are vg_pii_detect's findings, value for value. */
  tdb_exec(db, "CREATE TABLE t(x); INSERT INTO t VALUES ('né 4111 1111 1111 1111, a@b.io 🙂 +1 415 555 0100'),"
               "('nada'), ('IBAN DE89 3704 0044 0532 0130 00 y CUIT 20-12345678-6'), (NULL)");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM t, json_each(vg_pii_detect(t.x)) j LEFT JOIN vg_pii_scan(t.x) s "
                               "ON s.rowid = j.key + 1 WHERE s.type IS NOT j.value->>'type' OR s.start IS NOT "
                               "j.value->>'start' OR s.\"end\" IS NOT j.value->>'end' OR s.text IS NOT "
                               "j.value->>'text' OR s.score IS NOT j.value->>'score'"),
                   0);
  assert_int_equal(tdb_int(db, "SELECT sum(json_array_length(vg_pii_detect(x))) FROM t"), 5);
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM t, vg_pii_scan(t.x)"), 5);
  tdb_expect_text(db, "EMAIL_ADDRESS|24|30", "SELECT type || '|' || start || '|' || \"end\" FROM vg_pii_scan("
                                         "(SELECT x FROM t WHERE rowid = 1), '{\"types\": [\"EMAIL_ADDRESS\"]}')");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_pii_scan(NULL)"), 0);
  tdb_expect_error(db, "vg_pii_scan: the text must be text", "SELECT * FROM vg_pii_scan(5)");
  tdb_expect_error(db, "vg_pii_scan: the text is not valid UTF-8 (at byte 1)",
                   "SELECT * FROM vg_pii_scan(CAST(x'61ff' AS TEXT))");
  tdb_expect_error(db, "vg_pii_scan: unknown option \"x\"", "SELECT * FROM vg_pii_scan('a', '{\"x\": 1}')");
  tdb_expect_error(db, "vg_pii_scan: options must be a JSON object (as text)", "SELECT * FROM vg_pii_scan('a', 1)");
  tdb_expect_error(db, "vg_pii_scan: give the text", "SELECT * FROM vg_pii_scan");
  tdb_expect_error(db, "no such module", "CREATE VIRTUAL TABLE s USING vg_pii_scan");
  tdb_close(db);
}

static void test_deny_pattern_and_schema(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_expect_text(db, "(?i)(?<!\\w)(?:\\Qa.b\\E|\\Qx\\E\\\\E\\Qy\\E)(?!\\w)",
              "SELECT vg_pii_deny_pattern('[\"a.b\", \"x\\\\Ey\"]')");
  tdb_expect_error(db, "vg_pii_deny_pattern: the word list is empty", "SELECT vg_pii_deny_pattern('[]')");
  tdb_expect_error(db, "vg_pii_deny_pattern: the words must be a JSON array of non-empty strings",
                   "SELECT vg_pii_deny_pattern('[\"a\", 1]')");
  tdb_expect_error(db, "vg_pii_deny_pattern: the words must be a JSON array of non-empty strings",
                   "SELECT vg_pii_deny_pattern('{\"a\": \"b\"}')");
  tdb_expect_error(db, "vg_pii_deny_pattern: the words must be a JSON array of non-empty strings",
                   "SELECT vg_pii_deny_pattern('[\"a\"')");
  /* vg_pii_init() makes what sql/pii.sql makes, and is idempotent. */
  tdb_exec(db, "SELECT vg_pii_init(); SELECT vg_pii_init()");
  tdb_expect_schema_file(db, "pii.sql", "table vg_pii_log");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_operators),
      cmocka_unit_test(test_operator_errors),
      cmocka_unit_test(test_keys),
      cmocka_unit_test(test_key_from_another_connection),
      cmocka_unit_test(test_encrypt),
      cmocka_unit_test(test_check),
      cmocka_unit_test(test_audit),
      cmocka_unit_test(test_custom_recognizers),
      cmocka_unit_test(test_scan),
      cmocka_unit_test(test_deny_pattern_and_schema),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
