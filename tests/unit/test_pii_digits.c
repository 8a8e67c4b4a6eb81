/*
** test_pii_digits.c — the identifier rules of pii_digits.c against three
** references: values worked out by hand (the arithmetic is in the
** comments), the lists of valid and invalid IBAN, CUIT and CBU numbers that
** python-stdnum's tests carry (read from ../shared/data/pii-labelled), and
** properties every check digit has: for any prefix exactly one final digit
** is valid, and the schemes that promise it catch every single-digit error.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pii/pii.h"
#include "shared_data.h"

static int ok(VgPiiCheck f, const char *z) { return f(z, (int)strlen(z)); }

static void test_hand_computed(void **state) {
  (void)state;
  /* Luhn 79927398713: doubled from the right 1,8->16->7,3,7->14->5,9,
  ** 2->4,7,9->18->9,9,7->14->5... sum 70. */
  assert_true(ok(vg_check_luhn, "79927398713"));
  assert_false(ok(vg_check_luhn, "79927398710"));
  assert_true(ok(vg_check_credit_card, "4111 1111 1111 1111"));
  assert_true(ok(vg_check_credit_card, "5500-0000-0000-0004"));
  assert_false(ok(vg_check_credit_card, "4111 1111 1111 1112"));  /* Luhn */
  assert_false(ok(vg_check_credit_card, "1111 1111 1111 1117"));  /* no issuer */
  assert_false(ok(vg_check_credit_card, "4111x1111 1111 1111"));  /* not a separator */
  assert_true(ok(vg_check_iban, "GB82 WEST 1234 5698 7654 32"));
  assert_true(ok(vg_check_iban, "DE89370400440532013000"));
  assert_false(ok(vg_check_iban, "DE8937040044053201300"));  /* DE is 22 long */
  assert_false(ok(vg_check_iban, "DE88370400440532013000")); /* mod 97 */
  assert_false(ok(vg_check_iban, "QQ89370400440532013000")); /* no such country */
  /* The trigger's country test agrees with the check: any case, registry only. */
  assert_true(vg_iban_country('D', 'E') && vg_iban_country('g', 'b') && vg_iban_country('a', 't'));
  assert_false(vg_iban_country('I', 'N') || vg_iban_country('Q', 'Q') || vg_iban_country('t', 'o'));
  assert_false(vg_iban_country('@', 'E') || vg_iban_country('`', 'e')); /* not letters */
  assert_true(ok(vg_check_us_ssn, "536-22-1234"));
  assert_false(ok(vg_check_us_ssn, "666-22-1234")); /* area 666 */
  assert_false(ok(vg_check_us_ssn, "936-22-1234")); /* area 9xx */
  assert_false(ok(vg_check_us_ssn, "536-00-1234")); /* group 00 */
  assert_false(ok(vg_check_us_ssn, "536-22-0000")); /* serial 0000 */
  assert_false(ok(vg_check_us_ssn, "078-05-1120")); /* the wallet card */
  assert_true(ok(vg_check_us_itin, "912-70-1234"));
  assert_false(ok(vg_check_us_itin, "912-69-1234"));
  /* ABA 011000015: 3(0+0+0) + 7(1+0+1) + (1+0+5) = 20. */
  assert_true(ok(vg_check_aba_routing, "011000015"));
  assert_false(ok(vg_check_aba_routing, "011000016"));
  assert_false(ok(vg_check_aba_routing, "991000015")); /* no such district */
  /* NPI 1245319599: Luhn over 808401245319599 sums to 80. */
  assert_true(ok(vg_check_us_npi, "1245319599"));
  assert_false(ok(vg_check_us_npi, "1245319598"));
  /* SIN 130 692 544: 4+8+5+4+9+3+0+6+1 = 40. */
  assert_true(ok(vg_check_ca_sin, "130 692 544"));
  assert_false(ok(vg_check_ca_sin, "830 692 541"));
  /* CUIT 20-12345678-6: 5,4,3,2,7,6,5,4,3,2 . 2012345678 = 148; 148 mod 11
  ** = 5; 11 - 5 = 6. */
  assert_true(ok(vg_check_ar_cuit, "20-12345678-6"));
  assert_false(ok(vg_check_ar_cuit, "20-12345678-7"));
  assert_false(ok(vg_check_ar_cuit, "21-12345678-6")); /* no such type */
  /* CBU 0140339601630201381276: 7,1,3,9,7,1,3 . 0140339 = 64, check 6;
  ** the second block's check is its last digit. */
  assert_true(ok(vg_check_ar_cbu, "0140339601630201381276"));
  assert_false(ok(vg_check_ar_cbu, "0140339501630201381276"));
  /* NHS 943 476 5919: 10..2 . 943476591 = 299; 299 mod 11 = 2; 11 - 2 = 9. */
  assert_true(ok(vg_check_uk_nhs, "943 476 5919"));
  assert_false(ok(vg_check_uk_nhs, "943 476 5918"));
  /* DNI 12345678 mod 23 = 14: Z.  NIE X1234567: 1234567 mod 23 = 19: L. */
  assert_true(ok(vg_check_es_nif, "12345678Z"));
  assert_true(ok(vg_check_es_nif, "12345678-z"));
  assert_false(ok(vg_check_es_nif, "12345678T"));
  assert_true(ok(vg_check_es_nie, "X1234567L"));
  assert_false(ok(vg_check_es_nie, "X1234567T"));
  /* RSSMRA85T10A562S: odd positions 8+12+8+19+14+1+13+5, even
  ** 18+12+0+5+1+0+6: 122 mod 26 = 18: S. */
  assert_true(ok(vg_check_it_fiscal_code, "RSSMRA85T10A562S"));
  assert_false(ok(vg_check_it_fiscal_code, "RSSMRA85T10A562T"));
  assert_false(ok(vg_check_it_fiscal_code, "RSSMRA8ST10A562S")); /* letter in a digit place */
  /* HETU 131052-308T: 131052308 mod 31 = 25: T. */
  assert_true(ok(vg_check_fi_hetu, "131052-308T"));
  assert_true(ok(vg_check_fi_hetu, "131052Y308T")); /* 2023 century sign */
  assert_false(ok(vg_check_fi_hetu, "131052-308U"));
  assert_false(ok(vg_check_fi_hetu, "311352-308T")); /* month 13 */
  /* 811218-9876: Luhn 6+5+8+9+8+2+2+2+1+7 = 50. */
  assert_true(ok(vg_check_se_personnummer, "811218-9876"));
  assert_true(ok(vg_check_se_personnummer, "198112189876"));
  assert_false(ok(vg_check_se_personnummer, "811218-9877"));
  assert_false(ok(vg_check_se_personnummer, "811318-9873")); /* month 13, Luhn ok */
  assert_true(ok(vg_check_se_orgnr, "556703-7485"));
  assert_false(ok(vg_check_se_orgnr, "811218-9876")); /* a person's number */
  assert_true(ok(vg_check_kr_rrn, "960121-1234567"));
  assert_false(ok(vg_check_kr_rrn, "961321-1234567")); /* month 13 */
  assert_false(ok(vg_check_kr_rrn, "960121-9234567")); /* sex digit 9 */
  /* TCKN 10000000146: (1+0+0+0+1)*7 - 0 = 14 -> 4; 1+1+4 = 6. */
  assert_true(ok(vg_check_tr_tckn, "10000000146"));
  assert_false(ok(vg_check_tr_tckn, "10000000156"));
  assert_false(ok(vg_check_tr_tckn, "00000000000"));
  /* PESEL 44051401458: 1,3,7,9 . 4405140145 = 102; 10 - 2 = 8. */
  assert_true(ok(vg_check_pl_pesel, "44051401458"));
  assert_false(ok(vg_check_pl_pesel, "44051401459"));
  /* ABN 51 824 753 556: (5-1)*10 + 1 + 24 + 10 + 28 + 63 + 55 + 39 + 75 +
  ** 85 + 114 = 534 = 6 * 89. */
  assert_true(ok(vg_check_au_abn, "51 824 753 556"));
  assert_false(ok(vg_check_au_abn, "51 824 753 557"));
  /* ACN 004 085 616: 8..1 . 00408561 = 84; 10 - 4 = 6. */
  assert_true(ok(vg_check_au_acn, "004 085 616"));
  assert_false(ok(vg_check_au_acn, "004 085 617"));
  /* TFN 123 456 782: 1,4,3,7,5,8,6,9,10 . = 253 = 23 * 11. */
  assert_true(ok(vg_check_au_tfn, "123 456 782"));
  assert_false(ok(vg_check_au_tfn, "123 456 783"));
  /* Medicare 2123 45670 1: 1,3,7,9,1,3,7,9 . 21234567 = 170: check 0. */
  assert_true(ok(vg_check_au_medicare, "2123 45670 1"));
  assert_false(ok(vg_check_au_medicare, "2123 45671 1"));
  /* TNIN 1234567890121: 13..2 . 123456789012 = 352 = 32 * 11: check 1. */
  assert_true(ok(vg_check_th_tnin, "1234567890121"));
  assert_false(ok(vg_check_th_tnin, "1234567890122"));
  /* BRN 104-86-56659: 1,3,7,1,3,7,1,3,5 . = 139, + 5*5/10 = 141: check 9. */
  assert_true(ok(vg_check_kr_brn, "104-86-56659"));
  assert_false(ok(vg_check_kr_brn, "104-86-56658"));
  /* The first block's address (base58check) and two segwit addresses. */
  assert_true(ok(vg_check_bitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
  assert_false(ok(vg_check_bitcoin, "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
  assert_true(ok(vg_check_bitcoin, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"));
  assert_false(ok(vg_check_bitcoin, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdp"));
  assert_false(ok(vg_check_bitcoin, "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzWf5mdq")); /* mixed case */
  assert_true(ok(vg_check_bitcoin,
                 "bc1p5d7rjq7g6rdk2yhzks9smlaqtedr4dekq08ge8ztwac72sfr9rusxg3297"));
  /* Thai province 99 does not exist, though the check digit is right
  ** (13,12,...,2 . 199456789012 = 249; 11 - 249 mod 11 = 4). */
  assert_false(ok(vg_check_th_tnin, "1994567890124"));
  /* NPI placeholders: Luhn holds over 80840 1111111112, but nine 1s name no one. */
  assert_false(ok(vg_check_us_npi, "1111111112"));
  assert_true(ok(vg_check_us_npi, "1003000126"));
  /* MAC: broadcast and null are not devices. */
  assert_true(ok(vg_check_mac, "00:1A:2b:3C:4d:5E"));
  assert_false(ok(vg_check_mac, "FF:FF:FF:FF:FF:FF"));
  assert_false(ok(vg_check_mac, "00-00-00-00-00-00"));
  assert_true(ok(vg_check_mac, "0011.2233.4455"));
  /* IPv6, with a prefix length; bare "::" is the unspecified address. */
  assert_true(ok(vg_check_ipv6, "::"));
  assert_true(ok(vg_check_ipv6, "::1/128"));
  assert_true(ok(vg_check_ipv6, "2001:db8::/32"));
  assert_false(ok(vg_check_ipv6, "2001:db8::/129"));
  assert_false(ok(vg_check_ipv6, "2001:db8::/"));
  assert_false(ok(vg_check_ipv6, "2001:db8:::1"));
  /* Phone digits: 7 to 12, and not a date or a number grouped in thousands. */
  assert_true(ok(vg_check_phone_digits, "0688 872 49 99"));
  assert_true(ok(vg_check_phone_digits, "01.84.17.61.18"));
  assert_false(ok(vg_check_phone_digits, "2024-01-15"));
  assert_false(ok(vg_check_phone_digits, "15.01.2024"));
  assert_false(ok(vg_check_phone_digits, "30.123.456"));
  assert_false(ok(vg_check_phone_digits, "123 456"));           /* 6 digits */
  assert_false(ok(vg_check_phone_digits, "1234 5678 9012 3"));  /* 13 */
  assert_false(ok(vg_check_phone_digits, "777 7777"));          /* one digit repeated */
}

/* Read a JSON string value after "key": at z; returns a malloc'd copy
** (escapes other than \" \\ are not in the stdnum rows). */
static char *json_string(const char *zLine, const char *zKey) {
  const char *p = strstr(zLine, zKey);
  if (p == 0) return 0;
  p = strchr(p + strlen(zKey), '"');
  if (p == 0) return 0;
  p++;
  char *z = malloc(strlen(p) + 1);
  int n = 0;
  while (*p && *p != '"') {
    if (*p == '\\' && p[1]) p++;
    z[n++] = *p++;
  }
  z[n] = 0;
  return z;
}

/* python-stdnum's valid and invalid numbers for IBAN, CUIT and CBU. */
static void test_stdnum_lists(void **state) {
  (void)state;
  FILE *f = shared_open("pii-labelled/pii_cases.jsonl");
  static char line[1 << 16];
  struct {
    const char *zType;
    VgPiiCheck check;
    int nValid, nInvalid;
  } a[] = {{"IBAN_CODE", vg_check_iban, 0, 0},
           {"AR_CUIT", vg_check_ar_cuit, 0, 0},
           {"AR_CBU", vg_check_ar_cbu, 0, 0}};
  while (fgets(line, sizeof line, f)) {
    if (!strstr(line, "python-stdnum")) continue;
    char *zText = json_string(line, "\"text\":");
    char *zType = json_string(line, "\"entity_under_test\":");
    int bValid = strstr(line, "\"expected_count\": 0") == 0;
    for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
      if (zType == 0 || strcmp(zType, a[i].zType) != 0) continue;
      int got = a[i].check(zText, (int)strlen(zText));
      if (got != bValid) fail_msg("%s %s: expected %s", zType, zText, bValid ? "valid" : "invalid");
      if (bValid) {
        a[i].nValid++;
      } else {
        a[i].nInvalid++;
      }
    }
    free(zText);
    free(zType);
  }
  fclose(f);
  for (size_t i = 0; i < sizeof a / sizeof a[0]; i++) {
    print_message("%s: %d valid and %d invalid numbers agree\n", a[i].zType, a[i].nValid,
                  a[i].nInvalid);
    assert_true(a[i].nValid >= 10);
  }
}

/* For a random prefix, try every last digit: exactly one is valid.  With
** bSingle, every change of one digit of a valid number makes it invalid. */
static void check_digit_properties(const char *zName, VgPiiCheck f, const char *zShape, int bSingle,
                                   uint64_t *s) {
  int n = (int)strlen(zShape);
  char z[64];
  int nTried = 0;
  for (int t = 0; t < 1000; t++) {
    for (int i = 0; i < n; i++) {
      *s ^= *s << 13;
      *s ^= *s >> 7;
      *s ^= *s << 17;
      z[i] = zShape[i] == '#' ? (char)('0' + *s % 10) : zShape[i];
    }
    z[n] = 0;
    int nValid = 0, iValid = -1;
    for (int c = 0; c < 10; c++) {
      z[n - 1] = (char)('0' + c);
      if (f(z, n)) {
        nValid++;
        iValid = c;
      }
    }
    if (nValid == 0) continue; /* a prefix the scheme leaves without a check */
    if (nValid != 1) fail_msg("%s: %d valid check digits for %s", zName, nValid, z);
    nTried++;
    z[n - 1] = (char)('0' + iValid);
    if (!bSingle) continue;
    for (int i = 0; i < n; i++) {
      if (zShape[i] != '#') continue;
      char keep = z[i];
      for (char c = '0'; c <= '9'; c++) {
        if (c == keep) continue;
        z[i] = c;
        if (f(z, n)) fail_msg("%s: one changed digit still valid: %s", zName, z);
      }
      z[i] = keep;
    }
  }
  if (nTried < 30) fail_msg("%s: only %d prefixes had a valid check digit", zName, nTried);
}


/* The rules added for the labelled set's other national identifiers. */
static void test_more_identifiers(void **state) {
  (void)state;
  /* Steuer-ID 1234567890-3, ISO 7064 MOD 11,10: the product runs 10, 2, 8,
  ** 2, 1, 1, 3, 9, 3, 4, 8; 11 - 8 = 3. */
  assert_true(ok(vg_check_de_tax_id, "12345678903"));
  assert_false(ok(vg_check_de_tax_id, "12345678901"));
  assert_false(ok(vg_check_de_tax_id, "02345678903")); /* leading 0 */
  assert_false(ok(vg_check_de_tax_id, "11111111111"));
  assert_true(ok(vg_check_de_vat_id, "DE 136 695 976"));
  assert_true(ok(vg_check_de_vat_id, "DE129273398"));
  assert_false(ok(vg_check_de_vat_id, "DE136695975"));
  assert_false(ok(vg_check_de_vat_id, "AT136695976"));
  assert_true(ok(vg_check_de_tax_number, "0981508150999")); /* Bavaria, 09 */
  assert_false(ok(vg_check_de_tax_number, "0081508150001")); /* no state 00 */
  assert_false(ok(vg_check_de_tax_number, "1781508150001")); /* no state 17 */
  assert_true(ok(vg_check_de_tax_number, "123/456/78901"));
  assert_false(ok(vg_check_de_tax_number, "12/345/678"));
  /* RVNR 15 070649 C 10 3: C = 03; weights 2121 2121 2121 (2,1,2,5,7,1,...)
  ** give 2 5 0 35 0 6 8 9 0 3 2 0, digit sums 2+5+0+8+0+6+8+9+0+3+2+0 = 43. */
  assert_true(ok(vg_check_de_social_security, "15070649C103"));
  assert_false(ok(vg_check_de_social_security, "15070649C100"));
  assert_false(ok(vg_check_de_social_security, "15070049C103")); /* month 00 */
  assert_false(ok(vg_check_de_social_security, "150706491103")); /* no letter */
  /* Day 55 = 5 + 50; K = 11; the digit sums come to 51. */
  assert_true(ok(vg_check_de_social_security, "38551285K051"));
  /* KVNR M 12345678 5: M = 13; 1 3 1 2 3 4 5 6 7 8 times 1 2 1 2 ..., digit
  ** sums 1+6+1+4+3+8+5+3+7+7 = 45. */
  assert_true(ok(vg_check_de_health_insurance, "M123456785"));
  assert_true(ok(vg_check_de_health_insurance, "a123456780"));
  assert_false(ok(vg_check_de_health_insurance, "M123456789"));
  assert_false(ok(vg_check_de_health_insurance, "1123456785"));
  /* LANR 100000 6 01: 1*4 = 4; (10 - 4) mod 10 = 6. */
  assert_true(ok(vg_check_de_lanr, "100000601"));
  assert_false(ok(vg_check_de_lanr, "100000401"));
  assert_false(ok(vg_check_de_lanr, "100000600")); /* specialty 00 */
  /* Passport C01X00T4 1: 12*7 + 0 + 1 + 33*7 + 0 + 0 + 29*7 + 4*3 = 531. */
  assert_true(ok(vg_check_de_passport, "C01X00T41"));
  assert_false(ok(vg_check_de_passport, "C01X00T47"));
  assert_false(ok(vg_check_de_passport, "F12345678"));  /* 211: check 1 */
  assert_false(ok(vg_check_de_passport, "CFGHJKLM1"));  /* too few digits */
  assert_true(ok(vg_check_de_plz, "10115"));
  assert_false(ok(vg_check_de_plz, "00000"));
  assert_false(ok(vg_check_de_plz, "99999"));
  assert_true(ok(vg_check_tr_license_plate, "34 ABC 1234"));
  assert_true(ok(vg_check_tr_license_plate, "06 A 123"));
  assert_true(ok(vg_check_tr_license_plate, "34 abc 1234"));
  assert_false(ok(vg_check_tr_license_plate, "50 X 10"));     /* no X */
  assert_false(ok(vg_check_tr_license_plate, "34 AB 12"));    /* 2 letters, 2 digits */
  assert_false(ok(vg_check_tr_license_plate, "34 and 1234")); /* a word */
  assert_false(ok(vg_check_tr_license_plate, "34 aBc 1234")); /* mixed case */
  assert_true(ok(vg_check_uk_vehicle_registration, "AB51 ABC"));
  assert_true(ok(vg_check_uk_vehicle_registration, "ln14-hgt"));
  assert_false(ok(vg_check_uk_vehicle_registration, "AB49 ABC")); /* age 49 */
  assert_false(ok(vg_check_uk_vehicle_registration, "AB51 AIB")); /* I */
  assert_false(ok(vg_check_uk_vehicle_registration, "ZB51 ABC")); /* region Z */
  assert_false(ok(vg_check_uk_vehicle_registration, "CD28 and")); /* mixed case */
  assert_true(ok(vg_check_uk_nino, "PR 123612C"));
  assert_true(ok(vg_check_uk_nino, "tw987654a"));
  assert_false(ok(vg_check_uk_nino, "nt 99 88 77 a")); /* prefix NT */
  assert_false(ok(vg_check_uk_nino, "UV987654B"));     /* first letter U */
  assert_false(ok(vg_check_uk_nino, "AB123456E"));     /* suffix E */
  /* SMIT9 8 01 01 5: the 1980s, January 1st, 1985; women's months +50. */
  assert_true(ok(vg_check_uk_driving_licence, "SMIT9801015JK2CD"));
  assert_true(ok(vg_check_uk_driving_licence, "SMIT9851015JK2CD"));
  assert_false(ok(vg_check_uk_driving_licence, "SMIT9813015JK2CD")); /* month 13 */
  assert_false(ok(vg_check_uk_driving_licence, "SMIT9801325JK2CD")); /* day 32 */
  assert_true(ok(vg_check_ng_vehicle_registration, "APP-456CV"));
  assert_true(ok(vg_check_ng_vehicle_registration, "app-456cv"));
  assert_false(ok(vg_check_ng_vehicle_registration, "App-456cv"));
  assert_false(ok(vg_check_ng_vehicle_registration, "the-100th"));
  /* GSTIN 27AAPFU0939F1Z V, the form's own example. */
  assert_true(ok(vg_check_in_gstin, "27AAPFU0939F1ZV"));
  assert_false(ok(vg_check_in_gstin, "27AAPFU0939F1ZW"));
  assert_false(ok(vg_check_in_gstin, "27ABCDE1234F1Z5"));
  assert_true(ok(vg_check_it_vat_code, "01333550323"));
  assert_true(ok(vg_check_it_vat_code, "01333550_323"));
  assert_false(ok(vg_check_it_vat_code, "01333550324"));
  assert_false(ok(vg_check_it_vat_code, "00000000000"));
  assert_false(ok(vg_check_it_vat_code, "01333552006")); /* office 200 (Luhn holds) */
  /* NRIC S 1234567: 2+14+18+20+20+18+14 = 106, 106 mod 11 = 7 -> D; the T
  ** series adds 4: 110 mod 11 = 0 -> J. */
  assert_true(ok(vg_check_sg_nric_fin, "S1234567D"));
  assert_true(ok(vg_check_sg_nric_fin, "T1234567J"));
  assert_false(ok(vg_check_sg_nric_fin, "S1234567A"));
  assert_false(ok(vg_check_sg_nric_fin, "A1234567Z"));
  /* UEN 12345678: 10+8+27+12+40+12+49+8 = 166, 166 mod 11 = 1 -> M. */
  assert_true(ok(vg_check_sg_uen, "12345678M"));
  assert_false(ok(vg_check_sg_uen, "12345678X"));
  assert_true(ok(vg_check_sg_uen, "201434292D"));
  assert_true(ok(vg_check_sg_uen, "T16RF0037C"));
  assert_true(ok(vg_check_sg_uen, "R16RF0037F"));
  assert_false(ok(vg_check_sg_uen, "T16RF0037F"));
  assert_true(ok(vg_check_za_id_number, "8001015009087"));
  assert_false(ok(vg_check_za_id_number, "8001015009086")); /* Luhn */
  assert_false(ok(vg_check_za_id_number, "8013015009082")); /* month 13 */
  assert_false(ok(vg_check_za_id_number, "8001015009384")); /* citizenship 3 */
  assert_true(ok(vg_check_date, "03/04/1990"));
  assert_true(ok(vg_check_date, "12/31/1990")); /* month first */
  assert_true(ok(vg_check_date, "1990-12-31"));
  assert_true(ok(vg_check_date, "3.4.90"));
  assert_false(ok(vg_check_date, "31/02/1990"));
  assert_false(ok(vg_check_date, "1990-13-01"));
  assert_false(ok(vg_check_date, "12/05/1850"));
}

static void test_check_digit_properties(void **state) {
  (void)state;
  uint64_t s = 20261121;
  check_digit_properties("luhn", vg_check_luhn, "4##############", 1, &s);
  check_digit_properties("aba", vg_check_aba_routing, "0########", 1, &s);
  check_digit_properties("cuit", vg_check_ar_cuit, "20#########", 1, &s);
  check_digit_properties("nhs", vg_check_uk_nhs, "##########", 1, &s);
  check_digit_properties("pesel", vg_check_pl_pesel, "850101#####", 0, &s);
  check_digit_properties("aadhaar", vg_check_in_aadhaar, "2###########", 1, &s);
  check_digit_properties("tckn", vg_check_tr_tckn, "1##########", 0, &s);
  check_digit_properties("acn", vg_check_au_acn, "#########", 0, &s);
  check_digit_properties("th", vg_check_th_tnin, "11###########", 0, &s);
  check_digit_properties("brn", vg_check_kr_brn, "##########", 0, &s);
  check_digit_properties("steuer-id", vg_check_de_tax_id, "1##########", 1, &s);
  check_digit_properties("ust-idnr", vg_check_de_vat_id, "DE#########", 1, &s);
  check_digit_properties("kvnr", vg_check_de_health_insurance, "A#########", 1, &s);
  check_digit_properties("partita iva", vg_check_it_vat_code, "#######001#", 1, &s);
  check_digit_properties("za id", vg_check_za_id_number, "800101####0##", 1, &s);
}

/* Garbage never passes and never reads past n. */
static void test_garbage(void **state) {
  (void)state;
  VgPiiCheck all[] = {vg_check_luhn,       vg_check_credit_card, vg_check_iban,
                      vg_check_us_ssn,     vg_check_us_itin,     vg_check_aba_routing,
                      vg_check_us_npi,     vg_check_ca_sin,      vg_check_ar_cuit,
                      vg_check_ar_cbu,     vg_check_uk_nhs,      vg_check_es_nif,
                      vg_check_es_nie,     vg_check_it_fiscal_code, vg_check_fi_hetu,
                      vg_check_se_personnummer, vg_check_se_orgnr, vg_check_kr_rrn,
                      vg_check_tr_tckn,    vg_check_pl_pesel,    vg_check_au_abn,
                      vg_check_au_acn,     vg_check_au_tfn,      vg_check_au_medicare,
                      vg_check_in_aadhaar, vg_check_th_tnin,     vg_check_kr_brn,
                      vg_check_bitcoin,    vg_check_de_tax_id,   vg_check_de_vat_id,
                      vg_check_de_tax_number, vg_check_de_social_security,
                      vg_check_de_health_insurance, vg_check_de_lanr, vg_check_de_passport,
                      vg_check_de_plz,     vg_check_tr_license_plate,
                      vg_check_uk_vehicle_registration, vg_check_uk_nino,
                      vg_check_uk_driving_licence, vg_check_ng_vehicle_registration,
                      vg_check_in_gstin,   vg_check_it_vat_code, vg_check_sg_nric_fin,
                      vg_check_sg_uen,     vg_check_za_id_number, vg_check_date};
  const char *azBad[] = {"", "-", "   ", "abc", "\xe2\x80", "12\xc2", "1234567890123456789012345678901234567890123456789012345678901234567890"};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    for (size_t j = 0; j < sizeof azBad / sizeof azBad[0]; j++) {
      assert_false(all[i](azBad[j], (int)strlen(azBad[j])));
    }
    /* A valid-looking prefix cut short must not be read beyond n. */
    char *z = malloc(4);
    memcpy(z, "4111", 4);
    assert_false(all[i](z, 4));
    free(z);
  }
}

int main(void) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hand_computed),
      cmocka_unit_test(test_stdnum_lists),
      cmocka_unit_test(test_more_identifiers),
      cmocka_unit_test(test_check_digit_properties),
      cmocka_unit_test(test_garbage),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
