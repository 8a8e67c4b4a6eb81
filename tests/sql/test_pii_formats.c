/*
** test_pii_formats.c — the recognizers built from published formats
** (issue 19): telephone numbers against each country's numbering plan and
** E.164, Turkish and Philippine numbers, bad SSNs that must not become
** phone numbers, passports, licences and identity cards with and without
** their context words, DEA numbers, card layouts.  Every number here was
** made up from the format's rules, not taken from the labelled data: each
** text must give exactly the findings listed (type, start, end), in text
** order.
*/
#include "testdb.h"

#include <stdlib.h>
#include <string.h>

typedef struct Case {
  const char *zText;
  const char *zWant; /* "TYPE start end; ..." or "" for nothing */
} Case;

/* The findings of vg_pii_detect as "TYPE start end; ...". */
static void expect_cases(sqlite3 *db, const Case *a, size_t n, const char *zOpt) {
  for (size_t i = 0; i < n; i++) {
    char *zSql = sqlite3_mprintf(
        "SELECT coalesce(group_concat((value ->> '$.type') || ' ' || (value ->> '$.start') || ' ' || "
        "(value ->> '$.end'), '; '), '') FROM json_each(vg_pii_detect(%Q, %Q))",
        a[i].zText, zOpt);
    tdb_expect_text(db, a[i].zWant, "%s", zSql);
    sqlite3_free(zSql);
  }
}

static void test_phone_plans(void **state) {
  (void)state;
  static const Case a[] = {
      /* North America: NXX area and exchange codes, "1-", extensions. */
      {"call (212) 555-0187", "PHONE_NUMBER 5 19"},
      {"call 212.555.0187 x204", "PHONE_NUMBER 5 22"},
      {"call 1-212-555-0187", "PHONE_NUMBER 5 19"},
      {"fax 6175550187", "PHONE_NUMBER 4 14"},
      {"ref 6170550188", ""}, /* exchange 055: no such number */
      /* '+' and international call prefixes, country by country. */
      {"+1-617-555-0187x1234", "PHONE_NUMBER 0 20"},
      {"dial 001-617-555-0187", "PHONE_NUMBER 5 21"},
      {"dial 011 44 20 7946 0321", "PHONE_NUMBER 5 24"},
      {"+44 20 7946 0321", "PHONE_NUMBER 0 16"},
      {"+44 (0)20 7946 0321", "PHONE_NUMBER 0 19"},
      {"+49 30 9018 2746", "PHONE_NUMBER 0 16"},
      {"+49 171 5550123", "PHONE_NUMBER 0 15"},
      {"+33 6 12 34 56 78", "PHONE_NUMBER 0 17"},
      {"+39 06 6982 1234", "PHONE_NUMBER 0 16"},
      {"+39 347 555 0123", "PHONE_NUMBER 0 16"},
      {"+34 612 345 678", "PHONE_NUMBER 0 15"},
      {"+91 98765 43210", "PHONE_NUMBER 0 15"},
      {"+82 10 5555 0123", "PHONE_NUMBER 0 16"},
      {"+61 4 1234 5678", "PHONE_NUMBER 0 15"},
      {"+65 8123 4567", "PHONE_NUMBER 0 13"},
      {"+55 21 98765 4321", "PHONE_NUMBER 0 17"},
      {"+52 55 1234 5678", "PHONE_NUMBER 0 16"},
      {"+972 52 555 0123", "PHONE_NUMBER 0 16"},
      {"+41 (0)44 668 1800", "PHONE_NUMBER 0 18"},
  };
  /* Not in the plan: a French number has nine digits after 33, a
  ** Spanish one starts 6 to 9; 999 is no country code.  (Other types may
  ** take such numbers: AU_ACN's check passes on 112 345 678.) */
  static const Case b[] = {
      {"+33 6 12 34 56 7", ""},
      {"+34 112 345 678", ""},
      {"+999 1234 5678", ""},
  };
  sqlite3 *db = tdb_open(":memory:");
  expect_cases(db, a, sizeof a / sizeof a[0], "{}");
  expect_cases(db, b, sizeof b / sizeof b[0], "{\"types\": [\"PHONE_NUMBER\"]}");
  tdb_close(db);
}

static void test_tr_ph_numbers(void **state) {
  (void)state;
  static const Case a[] = {
      /* Turkey: mobiles 5xx, Istanbul 212/216, Ankara 312, Van 432; with
      ** +90, a trunk 0, or neither. */
      {"+90 542 555 12 34", "TR_PHONE_NUMBER 0 17"},
      {"tel 0216 555 12 34", "TR_PHONE_NUMBER 4 18"},
      {"0 (312) 5551234", "TR_PHONE_NUMBER 0 15"},
      {"5441551234", "TR_PHONE_NUMBER 0 10"}, /* 155: no North American exchange */
      {"432-555-12-34", "TR_PHONE_NUMBER 0 13"},
      /* The Philippines: mobiles 9xx after +63 or the trunk 0. */
      {"+63 917 555 0123", "PH_MOBILE_NUMBER 0 16"},
      {"+63 (905) 555 0123", "PH_MOBILE_NUMBER 0 18"},
      {"cell 09281234567", "PH_MOBILE_NUMBER 5 16"},
      {"+63 2 8555 0123", "PH_MOBILE_NUMBER 0 15"},
      /* (Below: written without the trunk 0, a Philippine mobile is no
      ** number of its plan; eleven digits after the 0 are one too many.) */
  };
  /* Turkey: no such area (7xx), a digit short, a digit long (0712 555 12
  ** 34 may still be another country's number: PHONE_NUMBER). */
  static const Case b[] = {{"0712 555 12 34", ""}, {"544555123", ""}, {"+90 544 555 12 345", ""}};
  static const Case c[] = {{"9175550123", ""}, {"091755501234", ""}};
  sqlite3 *db = tdb_open(":memory:");
  expect_cases(db, a, sizeof a / sizeof a[0], "{}");
  expect_cases(db, b, sizeof b / sizeof b[0], "{\"types\": [\"TR_PHONE_NUMBER\"]}");
  expect_cases(db, c, sizeof c / sizeof c[0], "{\"types\": [\"PH_MOBILE_NUMBER\"]}");
  tdb_close(db);
}

/* A number in the SSA's layout whose check fails is a bad SSN: never a
** phone number, whatever the types asked for. */
static void test_ssn_not_phone(void **state) {
  (void)state;
  static const Case a[] = {
      {"Social Security 123-45-6789", ""},
      {"Social Security 666-12-3456", ""},
      {"Social Security 000-12-3456", ""},
      {"Social Security 536-00-3456", ""},
      /* Areas from 900 were never issued, but Presidio's recognizer lets
      ** them through: a weak SSN, raised by the context words. */
      {"Social Security 905-12-3456", "US_SSN 16 27"},
      /* With an ITIN's group they are ITINs. */
      {"ITIN 912-70-3456", "US_ITIN 5 16"},
      {"SSN 536-22-3456", "US_SSN 4 15"},
      {"SSN 536-223456 and 53622-3456", "US_SSN 4 14; US_SSN 19 29"},
      /* A card layout failing Luhn is not a phone number either. */
      {"card 4111 1111 1112", ""},
  };
  sqlite3 *db = tdb_open(":memory:");
  expect_cases(db, a, sizeof a / sizeof a[0], "{}");
  /* Asked for phone numbers only, the SSN's claim still holds. */
  static const Case b[] = {{"Social Security 123-45-6789", ""}, {"call 536-22-3456", ""}};
  expect_cases(db, b, sizeof b / sizeof b[0], "{\"types\": [\"PHONE_NUMBER\"]}");
  static const Case c[] = {{"Social Security 123-45-6789", ""}};
  expect_cases(db, c, 1, "{\"language\": \"es\"}");
  tdb_close(db);
}

static void test_documents(void **state) {
  (void)state;
  static const Case a[] = {
      /* Two letters and seven digits: UK passport without a word near;
      ** the Italian words make it an Italian passport or identity card. */
      {"YZ5550123", "UK_PASSPORT 0 9"},
      {"passaporto YZ5550123", "IT_PASSPORT 11 20"},
      {"carta d'identità YZ5550123", "IT_IDENTITY_CARD 17 26"},
      {"carta d'identità YZ 5550123", "IT_IDENTITY_CARD 17 27"},
      {"CIE 5550123YZ e YZ55501YZ", "IT_IDENTITY_CARD 4 13; IT_IDENTITY_CARD 16 25"},
      {"YZ55501234", ""},
      /* Italian licence: two letters, seven digits, a letter; or U1 and
      ** eight letters or digits. */
      {"patente YZ5550123Q", "IT_DRIVER_LICENSE 8 18"},
      {"U1H5550B2Q", "IT_DRIVER_LICENSE 0 10"},
      /* A letter and eight digits: a US licence, or a passport with the
      ** word; nine digits alone only with a word. */
      {"Q55501234", "US_DRIVER_LICENSE 0 9"},
      {"passport Q55501234", "US_PASSPORT 9 18"},
      {"passport 555012345", "US_PASSPORT 9 18"},
      {"driver license 5550123457", "US_DRIVER_LICENSE 15 25"},
      /* India and Spain. */
      {"passport N5550123", "IN_PASSPORT 9 17"},
      {"pasaporte QRS555012", "ES_PASSPORT 10 19"},
      /* DEA numbers: the check digit of AB1234563 is 3 (1+3+5 + 2*(2+4+6) = 33). */
      {"DEA AB1234563", "MEDICAL_LICENSE 4 13"},
      {"DEA B91234563", "MEDICAL_LICENSE 4 13"},
  };
  sqlite3 *db = tdb_open(":memory:");
  expect_cases(db, a, sizeof a / sizeof a[0], "{\"min_score\": 0.01}");
  /* A DEA number whose check fails is none (its shape is also a passport's). */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('DEA AB1234564', "
                               "'{\"types\": [\"MEDICAL_LICENSE\"]}'))"),
                   0);
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('order 5550123457', "
                               "'{\"types\": [\"US_DRIVER_LICENSE\", \"US_PASSPORT\"]}'))"),
                   0);
  /* Without a word, shapes alone are weak findings. */
  assert_int_equal(tdb_int(db, "SELECT json_array_length(vg_pii_detect('YZ5550123', '{\"min_score\": 0.2}'))"), 0);
  tdb_close(db);
}

static void test_cards(void **state) {
  (void)state;
  static const Case a[] = {
      {"4111-1111-1111-1111", "CREDIT_CARD 0 19"},
      {"4111 1111 1111 1111", "CREDIT_CARD 0 19"},
      {"4111111111111111", "CREDIT_CARD 0 16"},
      {"3782 822463 10005", "CREDIT_CARD 0 17"},
      {"5555-5555-5555-4444", "CREDIT_CARD 0 19"},
      {"4111-1111-1111-1112", ""},
  };
  sqlite3 *db = tdb_open(":memory:");
  expect_cases(db, a, sizeof a / sizeof a[0], "{}");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_phone_plans),  cmocka_unit_test(test_tr_ph_numbers),
      cmocka_unit_test(test_ssn_not_phone), cmocka_unit_test(test_documents),
      cmocka_unit_test(test_cards),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
