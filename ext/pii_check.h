/*
** pii_check.h — the check-digit and structure rules of personal identifiers
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
#ifndef VG_PII_CHECK_H
#define VG_PII_CHECK_H

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

#endif
