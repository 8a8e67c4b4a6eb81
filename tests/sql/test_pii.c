/*
** test_pii.c — vg_pii_detect through SQL: findings with character offsets
** (multibyte text), the choice among overlapping recognizers, context
** words, the options (types, min_score, language) and every error they can
** give, NULL and non-text arguments, invalid UTF-8, and long pathological
** inputs, checked against answers worked out by hand.
*/
#include "testdb.h"

#include <stdlib.h>
#include <string.h>

static void test_findings(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  /* 'é' is two bytes: the card starts at character 3, byte 4. */
  tdb_expect_text(db,
              "[{\"type\":\"CREDIT_CARD\",\"start\":3,\"end\":22,\"text\":\"4111 1111 1111 1111\","
              "\"score\":1.00}]",
              "SELECT vg_pii_detect('né 4111 1111 1111 1111.')");
  /* A failing checksum is no finding. */
  tdb_expect_text(db, "[]", "SELECT vg_pii_detect('né 4111 1111 1111 1112.')");
  tdb_expect_text(db, "[]", "SELECT vg_pii_detect('')");
  /* Several types, in text order; JSON special characters in the text. */
  tdb_expect_text(db,
              "EMAIL_ADDRESS|a.b@example.org|7|22\nIBAN_CODE|DE89370400440532013000|29|51\n"
              "AR_CUIT|20-12345678-6|58|71",
              "SELECT group_concat(json_extract(value, '$.type') || '|' || json_extract(value, "
              "'$.text') || '|' || json_extract(value, '$.start') || '|' || json_extract(value, "
              "'$.end'), char(10)) FROM json_each(vg_pii_detect('\"mail\" a.b@example.org, iban "
              "DE89370400440532013000, cuit 20-12345678-6'))");
  /* 130 692 544 passes both the SIN (Luhn) and the ACN check (8..1 . 13069254
  ** = 136, check 4): one finding; "SIN" nearby makes it CA_SIN at 0.3 + 0.35. */
  tdb_expect_text(db, "CA_SIN|0.65",
              "SELECT json_extract(value, '$.type') || '|' || json_extract(value, '$.score') FROM "
              "json_each(vg_pii_detect('SIN: 130 692 544'))");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('ref 130 692 544'))"), 1);
  /* A DNI is reported only with a context word. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('mi DNI es 30.123.456'))"), 1);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('pagó 30.123.456 pesos'))"), 0);
  /* A private key block, found from its "-----BEGIN " line. */
  tdb_expect_text(db, "SECRET|5|91",
                  "SELECT group_concat(value ->> '$.type' || '|' || (value ->> '$.start') || '|' || "
                  "(value ->> '$.end')) FROM json_each(vg_pii_detect('key: -----BEGIN PRIVATE KEY-----' "
                  "|| char(10) || 'MIIBVQIBADANBgkqhkiG9w0BAQEFAASC' || char(10) || "
                  "'-----END PRIVATE KEY----- end'))");
  /* Version numbers, times, dates and amounts are not phone numbers. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('v1.2.3.4.5 at 10:30:15 on "
                               "2024-01-15 for 1,234,567.89 EUR'))"),
                   0);
  tdb_close(db);
}


/* The national identifiers, plates and birth dates: each text gives exactly
** the types listed (in text order), worked out from the rules by hand.
** Weak findings (below 0.3: a near miss may still be a national phone
** number) are left out. */
static void test_national_types(void **state) {
  (void)state;
  static const struct {
    const char *zText, *zTypes;
  } a[] = {
      {"Steuer-ID 12345678903, not 12345678901", "DE_TAX_ID"},
      {"USt-IdNr DE 136 695 976 or DE 136 695 975", "DE_VAT_ID"},
      {"RVNR 15070649C103, 15070049C103", "DE_SOCIAL_SECURITY"},
      {"KVNR A000500015 and M123456789", "DE_HEALTH_INSURANCE"},
      {"Pass-Nr. C01X00T41 / C01X00T47", "DE_PASSPORT"},
      {"Amtsgericht HRB 123456; HRC 12345", "DE_HANDELSREGISTER"},
      {"PLZ 80331 München", "DE_PLZ"},
      {"Es kamen 80331 Besucher", ""},
      {"Kennzeichen HH-AB-1234, not B 1234", "DE_KFZ"},
      {"NINO PR 123612C; UV 98 76 54 B", "UK_NINO"},
      {"reg AB51 ABC, AB49 ABC, CD28 and", "UK_VEHICLE_REGISTRATION"},
      {"Medicare 1EG4-TE5-MK73, 1SG4-TE5-MK73", "US_MBI"},
      {"GSTIN 27AAPFU0939F1ZV", "IN_GSTIN"},
      {"P.IVA 01333550323 and 01333550324", "IT_VAT_CODE"},
      {"license 11-22-123456-12, 99-22-123456-12", "KR_DRIVER_LICENSE"},
      {"NRIC S1234567D, S1234567A", "SG_NRIC_FIN"},
      {"UEN 201434292D T16RF0037C T16RF0037F", "SG_UEN,SG_UEN"},
      {"APP-456CV, AB-1234CD, the-100th", "NG_VEHICLE_REGISTRATION"},
      {"Plaka 34 ABC 1234 ve 06 JK 567; 82 ABC 123; between 20 and 30",
       "TR_LICENSE_PLATE,TR_LICENSE_PLATE"},
      {"ID 8001015009087 / 8013015009082", "ZA_ID_NUMBER"},
      /* A letter and eight digits: a passport with the word near, else a
      ** driver licence (Presidio's scores: 0.3 against 0.1). */
      {"passport A12803456", "US_PASSPORT"},
      {"ref A12803456", "US_DRIVER_LICENSE"},
      {"driver license H12234567", "US_DRIVER_LICENSE"},
      {"She was born on 12 March 1985.", "DATE_TIME"},
      {"The trial ran from 12 March 1985.", ""},
      {"DOB: 03/04/1990; fecha de nacimiento 12 de marzo de 1985", "DATE_TIME,DATE_TIME"},
      {"born 31/02/1990", ""},
  };
  sqlite3 *db = tdb_open(":memory:");
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    char *zSql = sqlite3_mprintf(
        "SELECT coalesce(group_concat(value ->> '$.type', ','), '') FROM json_each(vg_pii_detect(%Q, '{\"min_score\": 0.3}'))",
        a[i].zText);
    tdb_expect_text(db, a[i].zTypes, "%s", zSql);
    sqlite3_free(zSql);
  }
  tdb_close(db);
}

static void test_options(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  const char *zText = "'call 212-555-0187 or write to a@b.io'";
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s))", zText), 2);
  tdb_expect_text(db, "EMAIL_ADDRESS",
              "SELECT json_extract(vg_pii_detect('call 212-555-0187 or write to a@b.io', "
              "'{\"types\": [\"EMAIL_ADDRESS\"]}'), '$[0].type')");
  /* The phone scores 0.5 + 0.35 for "call"; the e-mail 1.0. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s, '{\"min_score\": 0.9}'))", zText), 1);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s, '{\"min_score\": 0.8}'))", zText), 2);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s, '{}'))", zText), 2);
  /* A finding scored exactly min_score is kept: the URL scores 0.60. */
  tdb_expect_text(db, "[{\"type\":\"URL\",\"start\":4,\"end\":28,\"text\":\"https://example.com/page\",\"score\":0.60}]",
                  "SELECT vg_pii_detect('see https://example.com/page', '{\"min_score\": 0.6}')");
  tdb_expect_text(db, "[]", "SELECT vg_pii_detect('see https://example.com/page', '{\"min_score\": 0.61}')");
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(%s, NULL))", zText), 2);
  /* US-only recognizers are skipped for Spanish. */
  tdb_expect_text(db, "US_SSN", "SELECT group_concat(value ->> '$.type') FROM json_each(vg_pii_detect('ssn 536-22-1234'))");
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM json_each(vg_pii_detect('ssn 536-22-1234', "
                               "'{\"language\": \"es\"}')) WHERE value ->> '$.type' = 'US_SSN'"),
                   0);
  /* Options from a column (not constant) work row by row. */
  tdb_exec(db, "CREATE TABLE o(j); INSERT INTO o VALUES ('{\"min_score\": 0.9}'), ('{}')");
  assert_int_equal(tdb_int(db, "SELECT sum(json_array_length(vg_pii_detect(%s, j))) FROM o", zText), 3);
  tdb_expect_error(db, "vg_pii_detect: unknown option \"minscore\" (options: types, min_score, language, ner)",
                   "SELECT vg_pii_detect('x', '{\"minscore\": 1}')");
  tdb_expect_error(db, "vg_pii_detect: min_score must be a number from 0 to 1",
                   "SELECT vg_pii_detect('x', '{\"min_score\": 2}')");
  tdb_expect_error(db, "vg_pii_detect: min_score must be a number from 0 to 1",
                   "SELECT vg_pii_detect('x', '{\"min_score\": \"high\"}')");
  tdb_expect_error(db, "vg_pii_detect: language must be \"en\" or \"es\"",
                   "SELECT vg_pii_detect('x', '{\"language\": \"fr\"}')");
  tdb_expect_error(db, "vg_pii_detect: unknown entity type PASSWORD in types",
                   "SELECT vg_pii_detect('x', '{\"types\": [\"PASSWORD\"]}')");
  tdb_expect_error(db, "vg_pii_detect: types must be an array of entity type names",
                   "SELECT vg_pii_detect('x', '{\"types\": \"EMAIL_ADDRESS\"}')");
  tdb_expect_error(db, "vg_pii_detect: options must be a JSON object",
                   "SELECT vg_pii_detect('x', '[1, 2]')");
  tdb_expect_error(db, "vg_pii_detect: options are not valid JSON",
                   "SELECT vg_pii_detect('x', '{\"types\": [')");
  tdb_close(db);
}

/* Overlapping findings: the higher score wins; at equal scores the longer
** span, then the earlier start, then the recognizer listed first (built-in
** ones before custom ones, custom ones by name). */
static void test_overlap_ties(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  const char *zFind = "SELECT group_concat(value ->> 'type' || ':' || (value ->> 'start') || '-' || (value ->> 'end'), ' ')"
                      " FROM json_each(vg_pii_detect('x AB1234CD y'))";
  tdb_exec(db, "SELECT vg_pii_init()");
  tdb_exec(db, "INSERT INTO vg_pii_recognizers(name, entity, pattern, score) VALUES"
               " ('b_left', 'LEFT_ID', 'AB\\d{4}', 0.9), ('a_right', 'RIGHT_ID', '\\d{4}CD', 0.9)");
  tdb_expect_text(db, "LEFT_ID:2-8", "%s", zFind); /* equal length: the earlier start */
  tdb_exec(db, "UPDATE vg_pii_recognizers SET score = 0.95 WHERE name = 'a_right'");
  tdb_expect_text(db, "RIGHT_ID:4-10", "%s", zFind); /* the higher score */
  tdb_exec(db, "UPDATE vg_pii_recognizers SET score = 0.9 WHERE name = 'a_right';"
               "INSERT INTO vg_pii_recognizers(name, entity, pattern, score) VALUES ('c_whole', 'WHOLE_ID', 'AB\\d{4}CD', 0.9)");
  tdb_expect_text(db, "WHOLE_ID:2-10", "%s", zFind); /* the longer span */
  tdb_exec(db, "DELETE FROM vg_pii_recognizers WHERE name = 'c_whole';"
               "INSERT INTO vg_pii_recognizers(name, entity, pattern, score) VALUES ('z_same', 'SAME_ID', 'AB\\d{4}', 0.9)");
  tdb_expect_text(db, "LEFT_ID:2-8", "%s", zFind); /* the same span: the first by name */
  tdb_exec(db, "UPDATE vg_pii_recognizers SET name = 'a_same' WHERE name = 'z_same'");
  tdb_expect_text(db, "SAME_ID:2-8", "%s", zFind);
  /* Redaction replaces only the winner's span. */
  tdb_expect_text(db, "x <SAME_ID>CD y", "SELECT vg_pii_redact('x AB1234CD y')");
  tdb_close(db);
}

static void test_bad_input(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  assert_int_equal(tdb_int(db, "SELECT vg_pii_detect(NULL) IS NULL"), 1);
  tdb_expect_error(db, "vg_pii_detect: the text must be text; got an integer", "SELECT vg_pii_detect(12)");
  tdb_expect_error(db, "vg_pii_detect: the text must be text; got a blob", "SELECT vg_pii_detect(x'00')");
  tdb_expect_error(db, "vg_pii_detect: the text is not valid UTF-8 (at byte 1)",
                   "SELECT vg_pii_detect(CAST(x'61ff62' AS TEXT))");
  tdb_expect_error(db, "vg_pii_detect: the text is not valid UTF-8 (at byte 2)",
                   "SELECT vg_pii_detect(CAST(x'6161c0af' AS TEXT))"); /* overlong '/' */
  /* Long pathological texts end, and their answers are right: 200,000
  ** digits hold no finding with word boundaries inside; '@' and one long
  ** word neither. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(replace(hex(zeroblob(100000)), '0', '7')))"), 0);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(replace(hex(zeroblob(100000)), '0', '@')))"), 0);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(replace(hex(zeroblob(100000)), '00', 'ab')))"), 0);
  /* A card after a long run of digits and spaces is still found. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect(replace(hex(zeroblob(50000)), '00', '1 ') || ' 4111 1111 1111 1111'))"), 1);
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_findings),
      cmocka_unit_test(test_national_types),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_overlap_ties),
      cmocka_unit_test(test_bad_input),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
