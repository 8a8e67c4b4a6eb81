/*
** pii_recognizers.c — the built-in PII recognizers, as data (see pii.h).
**
** Scores follow Presidio's scale: 1.0 for a finding a checksum confirms
** with little chance of accident, lower where the pattern and check leave
** more room (a 9-digit number passes a mod-10 check one time in ten), and
** context words add VG_PII_CONTEXT_BOOST.  Patterns are bounded (no nested
** unbounded repetition), so a scan takes time linear in the text.
*/
#include "pii.h"
#include "pii_policy.h"

#include <string.h>

/* Not inside a longer word or number, on either side. */
#define B0 "(?<![\\w])"
#define B1 "(?![\\w])"

/* Context words, English and Spanish (lower case; accents as written). */
#define CTX_PHONE                                                                          \
  "phone|telephone|tel|mobile|cell|cellphone|call|fax|whatsapp|contact|teléfono|telefono|" \
  "celular|móvil|movil|llamar|llame|número|numero"
#define CTX_CARD "card|credit|debit|visa|mastercard|amex|cc|tarjeta|crédito|credito|débito"
#define CTX_ID "id|identity|identification|number|no|nº|número|numero|documento|identidad"

const VgPiiRecognizer vg_pii_builtin[] = {
    {"email", "EMAIL_ADDRESS",
     "(?<![\\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
     "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.){1,8}[A-Za-z]{2,24}(?![\\w-])",
     0, 1.0, "email|e-mail|mail|correo", 0, VG_PII_NEAR_AT},
    {"url", "URL",
     "(?<![\\w@/])(?:(?:https?|ftp)://|www\\.)"
     "(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}\\.){1,10}[A-Za-z]{2,24}|(?:\\d{1,3}\\.){3}\\d{1,3}"
     "|\\[[0-9A-Fa-f:.]{2,45}\\])(?::\\d{1,5})?(?:[/?#][^\\s<>\"'\\x{201C}\\x{201D}]{0,2000})?"
     "(?![\\w.-])",
     0, 0.6, "url|link|website|site|web|enlace|sitio|página", VG_PII_TRIM_PUNCT, VG_PII_NEAR_SCHEME},
    {"ipv4", "IP_ADDRESS",
     "(?<![\\w.])(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}"
     "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(?:/(?:3[0-2]|[12]?\\d))?(?!\\.?\\d|\\w)",
     0, 0.6, "ip|address|ipv4|host|server|servidor|dirección", 0, VG_PII_NEAR_DIGITS4},
    {"ipv6", "IP_ADDRESS",
     "(?<![\\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\\d{1,3}\\.){3}\\d{1,3}|[0-9A-Fa-f]{1,4})?"
     "(?:/\\d{1,3})?(?![\\w:])",
     vg_check_ipv6, 0.6, "ip|address|ipv6|host|server|servidor|dirección", 0, VG_PII_NEAR_HEXSEP},
    {"mac", "MAC_ADDRESS",
     "(?<![\\w:-])(?:[0-9A-Fa-f]{2}([:-])(?:[0-9A-Fa-f]{2}\\1){4}[0-9A-Fa-f]{2}"
     "|[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4}\\.[0-9A-Fa-f]{4})(?![\\w:-])",
     vg_check_mac, 0.6, "mac|address|hardware|ethernet|wifi|dirección", 0, VG_PII_NEAR_HEXSEP},
    {"credit_card", "CREDIT_CARD",
     "(?<![\\w-])(?:\\d{4}([ -]?)\\d{4}\\1\\d{4}(?:\\1\\d{1,7})?|\\d{4}([ -]?)\\d{6}\\2\\d{4,5})(?![\\w-])",
     vg_check_credit_card, 1.0, CTX_CARD, 0, VG_PII_NEAR_DIGITS12},
    {"iban", "IBAN_CODE", B0 "[A-Za-z]{2}[ -]?\\d{2}(?:[ -]?[A-Za-z0-9]){11,30}" B1, vg_check_iban, 1.0,
     "iban|account|bank|cuenta|banco|transferencia", VG_PII_SHRINK, VG_PII_NEAR_IBAN},
    {"us_ssn", "US_SSN", "(?<![\\w-])\\d{3}([- .])\\d{2}\\1\\d{4}(?![\\w-])", vg_check_us_ssn, 0.5,
     "ssn|social|security|ss#|seguro", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_ssn_plain", "US_SSN", B0 "\\d{9}" B1, vg_check_us_ssn, 0.05,
     "ssn|social|security|ss#|seguro", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_itin", "US_ITIN",
     B0 "9\\d{2}([- ]?)(?:5\\d|6[0-5]|7\\d|8[0-8]|9[0-2]|9[4-9])\\1\\d{4}" B1, vg_check_us_itin,
     0.5, "itin|taxpayer|tax", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"aba_routing", "ABA_ROUTING_NUMBER", B0 "\\d{4}-?\\d{4}-?\\d" B1, vg_check_aba_routing, 0.3,
     "aba|routing|bank|transit|rtn", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_npi", "US_NPI", B0 "[12]\\d{3}-?\\d{3}-?\\d{3}" B1, vg_check_us_npi, 0.3,
     "npi|provider|national provider", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"ca_sin", "CA_SIN", B0 "\\d{3}([ -]?)\\d{3}\\1\\d{3}" B1, vg_check_ca_sin, 0.3,
     "sin|social insurance|nas", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"phone_international", "PHONE_NUMBER",
     "(?<![\\w+])\\+\\d{1,3}(?:[ .-]?\\(?\\d{1,4}\\)?){1,2}(?:[ .-]?\\d{2,4}){2,4}" B1, 0, 0.6,
     CTX_PHONE, 0, VG_PII_NEAR_DIGITS6},
    {"phone_nanp", "PHONE_NUMBER",
     "(?<![\\w+(-])(?:\\(\\d{3}\\) ?|\\d{3}[-. ])\\d{3}[-. ]\\d{4}(?![\\w-])", 0, 0.5, CTX_PHONE,
     0, VG_PII_NEAR_DIGITS9},
    {"phone_ar", "PHONE_NUMBER",
     "(?<![\\w+(-])(?:\\(0?(?:11|[23]\\d{2,3})\\)[ -]?|0?(?:11|[23]\\d{2,3})[ -])(?:15[ -]?)?"
     "\\d{3,4}[ -]\\d{4}(?![\\w-])",
     0, 0.4, CTX_PHONE, 0, VG_PII_NEAR_DIGITS9},
    /* Other national formats: 7 to 12 digits in three or more groups, or
    ** after a trunk 0 or an area code in parentheses: a weak finding unless
    ** a context word is near.  Two plain groups ("224 4966", a house
    ** number and more) count only with a context word. */
    {"phone_national", "PHONE_NUMBER",
     "(?<![\\w+(.,/:-])(?<!\\d[ .-])(?:\\(\\d{2,4}\\)[ .-]?\\d{2,5}(?:[ .-]\\d{2,5}){1,4}"
     "|0\\d{1,4}(?:[ .-]\\d{2,7}){1,4}|\\d{2,5}(?:[ .-]\\d{2,5}){2,4})(?![\\w-]|[.,/: ]\\d)",
     vg_check_phone_digits, 0.2, CTX_PHONE "|answering|messages|reach", 0, VG_PII_NEAR_DIGITS6},
    {"phone_short", "PHONE_NUMBER", "(?<![\\w+(.,/:-])(?<!\\d[ .-])\\d{2,5}[ .-]\\d{2,6}(?![\\w-]|[.,/: ]\\d)",
     vg_check_phone_digits, 0.2, CTX_PHONE "|answering|messages|reach", VG_PII_NEEDS_CONTEXT,
     VG_PII_NEAR_DIGITS6},
    {"crypto", "CRYPTO",
     B0 "(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[0-9A-Za-z]{11,71})" B1, vg_check_bitcoin,
     1.0, "bitcoin|btc|wallet|crypto|billetera|cartera", 0, VG_PII_NEAR_LONGWORD},
    {"ar_cuit", "AR_CUIT", "(?<![\\w-])(?:20|23|24|27|30|33|34)-?\\d{8}-?\\d(?![\\w-])",
     vg_check_ar_cuit, 1.0, "cuit|cuil|afip|contribuyente", 0, VG_PII_NEAR_DIGITS9},
    {"ar_dni", "AR_DNI", "(?<![\\w.])\\d{1,2}\\.?\\d{3}\\.?\\d{3}(?![\\w.])", 0, 0.5,
     "dni|documento|d.n.i", VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_DIGITS6},
    {"ar_cbu", "AR_CBU", B0 "\\d(?:[ \\x{2013}-]?\\d){21}" B1, vg_check_ar_cbu, 1.0,
     "cbu|cuenta|banco|transferencia", 0, VG_PII_NEAR_DIGITS20},
    {"uk_nhs", "UK_NHS", B0 "\\d{3}([ -]?)\\d{3}\\1\\d{4}" B1, vg_check_uk_nhs, 0.5,
     "nhs|health|national health", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"es_nif", "ES_NIF", B0 "\\d{8}[ -]?[A-Za-z]" B1, vg_check_es_nif, 1.0,
     "nif|dni|documento|identidad", 0, VG_PII_NEAR_DIGITS6},
    {"es_nie", "ES_NIE", B0 "[XYZxyz][ -]?\\d{7}[ -]?[A-Za-z]" B1, vg_check_es_nie, 1.0,
     "nie|extranjero|identidad", 0, VG_PII_NEAR_DIGITS6},
    {"it_fiscal_code", "IT_FISCAL_CODE",
     B0 "[A-Za-z]{6}[0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z][0-9LMNPQRSTUVlmnpqrstuv]{2}[A-Za-z]"
        "[0-9LMNPQRSTUVlmnpqrstuv]{3}[A-Za-z]" B1,
     vg_check_it_fiscal_code, 1.0, "codice|fiscale|cf", 0, VG_PII_NEAR_LONGWORD},
    {"fi_hetu", "FI_PERSONAL_IDENTITY_CODE", B0 "\\d{6}[-+A-FU-Y]\\d{3}[0-9A-Ya-y]" B1,
     vg_check_fi_hetu, 1.0, "hetu|henkilötunnus|sotu", 0, VG_PII_NEAR_DIGITS9},
    {"se_personnummer", "SE_PERSONNUMMER", B0 "(?:\\d{2})?\\d{6}[-+]?\\d{4}" B1,
     vg_check_se_personnummer, 0.5, "personnummer|pnr", 0, VG_PII_NEAR_DIGITS9},
    {"se_orgnr", "SE_ORGANISATIONSNUMMER", B0 "\\d{6}-?\\d{4}" B1, vg_check_se_orgnr, 0.4,
     "organisationsnummer|orgnr|company|företag", 0, VG_PII_NEAR_DIGITS9},
    {"kr_rrn", "KR_RRN", B0 "\\d{6}-?[1-4]\\d{6}" B1, vg_check_kr_rrn, 0.5,
     "rrn|resident|주민등록번호", 0, VG_PII_NEAR_DIGITS12},
    {"kr_frn", "KR_FRN", B0 "\\d{6}-?[5-8]\\d{6}" B1, vg_check_kr_rrn, 0.5,
     "frn|foreigner|외국인등록번호", 0, VG_PII_NEAR_DIGITS12},
    {"kr_brn", "KR_BRN", B0 "\\d{3}-?\\d{2}-?\\d{5}" B1, vg_check_kr_brn, 0.5,
     "brn|business|사업자등록번호", 0, VG_PII_NEAR_DIGITS9},
    {"tr_national_id", "TR_NATIONAL_ID", B0 "[1-9]\\d{10}" B1, vg_check_tr_tckn, 0.8,
     "tc|kimlik|tckn|vatandaşlık", 0, VG_PII_NEAR_DIGITS9},
    {"pl_pesel", "PL_PESEL", B0 "\\d{11}" B1, vg_check_pl_pesel, 0.5, "pesel", 0, VG_PII_NEAR_DIGITS9},
    {"au_abn", "AU_ABN", B0 "\\d{2} ?\\d{3} ?\\d{3} ?\\d{3}" B1, vg_check_au_abn, 0.5,
     "abn|business number", 0, VG_PII_NEAR_DIGITS9},
    {"au_acn", "AU_ACN", B0 "\\d{3} ?\\d{3} ?\\d{3}" B1, vg_check_au_acn, 0.3,
     "acn|company number", 0, VG_PII_NEAR_DIGITS9},
    {"au_tfn", "AU_TFN", B0 "\\d{3} ?\\d{3} ?\\d{2,3}" B1, vg_check_au_tfn, 0.3,
     "tfn|tax file", 0, VG_PII_NEAR_DIGITS6},
    {"au_medicare", "AU_MEDICARE", B0 "[2-6]\\d{3} ?\\d{5} ?\\d(?: ?\\d)?" B1,
     vg_check_au_medicare, 0.3, "medicare", 0, VG_PII_NEAR_DIGITS9},
    {"in_aadhaar", "IN_AADHAAR", B0 "[2-9]\\d{3}([ -]?)\\d{4}\\1\\d{4}" B1, vg_check_in_aadhaar,
     0.5, "aadhaar|uidai|aadhar", 0, VG_PII_NEAR_DIGITS12},
    {"th_tnin", "TH_TNIN", B0 "\\d([ -]?)\\d{4}\\1\\d{5}\\1\\d{2}\\1\\d" B1, vg_check_th_tnin, 0.5,
     "thai|tnin|บัตรประชาชน", 0, VG_PII_NEAR_DIGITS12},
    {"aws_access_key", "SECRET", B0 "(?:AKIA|ASIA)[0-9A-Z]{16}" B1, 0, 1.0, 0, 0, VG_PII_NEAR_AWS},
    {"private_key", "SECRET",
     "-----BEGIN (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----[\\s\\S]{1,16384}?"
     "-----END (?:[A-Z0-9]{1,16} ){0,3}PRIVATE KEY-----",
     0, 1.0, 0, 0, VG_PII_NEAR_PEM},
    {"jwt", "SECRET",
     "(?<![\\w-])eyJ[A-Za-z0-9_-]{8,4096}\\.eyJ[A-Za-z0-9_-]{8,8192}\\.[A-Za-z0-9_-]{8,1024}"
     "(?![\\w-])",
     0, 1.0, 0, 0, VG_PII_NEAR_JWT},
    {"bearer_token", "SECRET", "(?i:bearer)[ \\t]{1,8}(?<pii>[A-Za-z0-9._~+/-]{16,4096}={0,3})", 0, 0.9, 0,
     0, VG_PII_NEAR_BEARER},
};

const int vg_pii_builtin_count = (int)(sizeof(vg_pii_builtin) / sizeof(vg_pii_builtin[0]));

/* Sensitivity of the types that are not high (see pii_policy.h). */
static const struct {
  const char *zEntity;
  int level;
} aLevel[] = {
    {"EMAIL_ADDRESS", VG_PII_LEVEL_MEDIUM},
    {"PHONE_NUMBER", VG_PII_LEVEL_MEDIUM},
    {"DATE_TIME", VG_PII_LEVEL_MEDIUM},
    {"US_NPI", VG_PII_LEVEL_MEDIUM},
    {"URL", VG_PII_LEVEL_LOW},
    {"IP_ADDRESS", VG_PII_LEVEL_LOW},
    {"MAC_ADDRESS", VG_PII_LEVEL_LOW},
    {"ABA_ROUTING_NUMBER", VG_PII_LEVEL_LOW},
    {"SE_ORGANISATIONSNUMMER", VG_PII_LEVEL_LOW},
    {"KR_BRN", VG_PII_LEVEL_LOW},
    {"AU_ABN", VG_PII_LEVEL_LOW},
    {"AU_ACN", VG_PII_LEVEL_LOW},
};

int vg_pii_entity_level(const char *zEntity) {
  for (size_t i = 0; i < sizeof aLevel / sizeof aLevel[0]; i++) {
    if (strcmp(aLevel[i].zEntity, zEntity) == 0) return aLevel[i].level;
  }
  return VG_PII_LEVEL_HIGH;
}
