/*
** pii_recognizers.c — the built-in PII recognizers, as data (see pii.h).
**
** Scores follow Presidio's scale: 1.0 for a finding a checksum confirms
** with little chance of accident, lower where the pattern and check leave
** more room (a 9-digit number passes a mod-10 check one time in ten), and
** context words add VG_PII_CONTEXT_BOOST.  Patterns are bounded (no nested
** unbounded repetition), so a scan takes time linear in the text.
*/
#include "pii/pii.h"

#include <string.h>

/* Not inside a longer word or number, on either side. */
#define B0 "(?<![\\w])"
#define B1 "(?![\\w])"

/* Context words, English and Spanish (lower case; accents as written). */
#define CTX_PHONE                                                                          \
  "phone|telephone|tel|mobile|cell|cellphone|call|fax|whatsapp|contact|teléfono|telefono|" \
  "celular|móvil|movil|llamar|llame|número|numero"
#define CTX_SSN "ssn|ssns|ssid|social|security|ss#|seguro"
#define CTX_ITIN "itin|taxpayer|tax|individual|taxid|tin"
#define CTX_US_PASSPORT "passport|passport#|passport number|passport no|travel document"
#define CTX_US_DL "driver|driver's|drivers|license|licence|lic|lic#|dl|dls|driving|permit"
#define CTX_IT_ID "carta|identità|identita|elettronica|cie|documento|riconoscimento|espatrio"
#define CTX_CARD "card|credit|debit|visa|mastercard|amex|cc|tarjeta|crédito|credito|débito"
#define CTX_BIRTH                                                                          \
  "born|birth|birthday|birthdate|date of birth|dob|d.o.b|nacimiento|nacido|nacida|nació|"  \
  "cumpleaños|fecha de nacimiento|geboren|geburtsdatum|geburtstag"
#define MONTHS                                                                             \
  "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"         \
  "sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?|enero|febrero|marzo|abril|"  \
  "mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre)"
#define MONTHS_CAPITAL                                                                     \
  "(?:J(?i:an(?:uary)?|une?|uly?)|F(?i:eb(?:ruary)?)|M(?i:ar(?:ch)?|ay)|A(?i:pr(?:il)?|"      \
  "ug(?:ust)?)|S(?i:ep(?:t(?:ember)?)?)|O(?i:ct(?:ober)?)|N(?i:ov(?:ember)?)|D(?i:ec(?:ember)?))"
#define GSTIN                                                                              \
  "(?:0[1-9]|[12]\\d|3[0-7]|97)[A-Za-z]{5}\\d{4}[A-Za-z][1-9A-Za-z][Zz][0-9A-Za-z]"
#define CTX_GSTIN "gstin|gst|goods and services"
#define CTX_KR_PASSPORT "passport|여권|여권번호"
#define CTX_TR_PHONE                                                                       \
  "telefon|telefonu|telefonum|numara|numarası|numaram|cep|mobil|iletişim|irtibat|phone|tel|" \
  "mobile|cell|call|contact|number|sms|whatsapp"
#define CTX_PH_PHONE                                                                       \
  "mobile|cell|cellphone|celphone|phone|telepono|numero|number|contact|call|tawag|sms|"    \
  "whatsapp|viber"
/* An extension after a number: "x123", " ext. 123". */
#define EXT "(?: ?(?:x|ext\\.?) ?\\d{1,6})?"

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
     vg_check_credit_card, 1.0, CTX_CARD, VG_PII_CLAIM, VG_PII_NEAR_DIGITS12},
    {"iban", "IBAN_CODE", B0 "[A-Za-z]{2}[ -]?\\d{2}(?:[ -]?[A-Za-z0-9]){11,30}" B1, vg_check_iban, 1.0,
     "iban|account|bank|cuenta|banco|transferencia", VG_PII_SHRINK, VG_PII_NEAR_IBAN},
    /* The SSA's format: a number written so that fails the check is a bad
    ** SSN, not something else. */
    {"us_ssn", "US_SSN", "(?<![\\w-])\\d{3}([- .])\\d{2}\\1\\d{4}(?![\\w-])", vg_check_us_ssn, 0.5,
     CTX_SSN, VG_PII_LANG_EN | VG_PII_CLAIM, VG_PII_NEAR_DIGITS9},
    /* What Presidio reports weakly: other groupings, nine digits run
    ** together, areas the SSA never issued. */
    {"us_ssn_weak", "US_SSN",
     "(?<![\\w-])(?:\\d{3}([- .])\\d{2}\\1\\d{4}|\\d{3}-\\d{6}|\\d{5}-\\d{4}|\\d{9})(?![\\w-])",
     vg_check_us_ssn_weak, 0.05, CTX_SSN, VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_itin", "US_ITIN",
     B0 "9\\d{2}([- ]?)(?:5\\d|6[0-5]|7\\d|8[0-8]|9[0-2]|9[4-9])\\1\\d{4}" B1, vg_check_us_itin,
     0.5, CTX_ITIN, VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_itin_weak", "US_ITIN",
     B0 "9\\d{2}[- ]?(?:5\\d|6[0-5]|7\\d|8[0-8]|9[0-2]|9[4-9])[- ]?\\d{4}" B1, vg_check_us_itin,
     0.05, CTX_ITIN, VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"aba_routing", "ABA_ROUTING_NUMBER", B0 "\\d{4}-?\\d{4}-?\\d" B1, vg_check_aba_routing, 0.3,
     "aba|routing|bank|transit|rtn", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"us_npi", "US_NPI", B0 "[12]\\d{3}-?\\d{3}-?\\d{3}" B1, vg_check_us_npi, 0.3,
     "npi|provider|national provider", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"ca_sin", "CA_SIN", B0 "\\d{3}([ -]?)\\d{3}\\1\\d{3}" B1, vg_check_ca_sin, 0.3,
     "sin|social insurance|nas", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    /* Turkish and Philippine numbers score above a generic finding: the
    ** same number is reported as the more precise type. */
    {"tr_phone_number", "TR_PHONE_NUMBER",
     "(?<![\\w+])(?:(?:\\+|00)90[ .-]?(?:\\(0\\)[ .-]?)?|0[ .-]?)\\(?\\d{3}\\)?[ .-]?\\d{3}[ .-]?\\d{2}[ .-]?\\d{2}"
     EXT "(?![\\w-])",
     vg_check_phone_tr, 0.65, CTX_TR_PHONE, 0, VG_PII_NEAR_DIGITS6},
    /* Turkish numbers may be written without the trunk 0. */
    {"tr_phone_number_bare", "TR_PHONE_NUMBER",
     "(?<![\\w+-])\\(?[2-5]\\d{2}\\)?([ .-]?)\\d{3}\\1\\d{2}\\1\\d{2}(?![\\w-])", vg_check_phone_tr, 0.25,
     CTX_TR_PHONE, 0, VG_PII_NEAR_DIGITS6},
    {"ph_mobile_number", "PH_MOBILE_NUMBER",
     "(?<![\\w+])(?:(?:\\+|00)63[ .-]?(?:\\(0\\)[ .-]?)?|0)\\(?\\d{1,3}\\)?(?:[ .-]?\\d{2,4}){2,3}" EXT "(?!\\w)",
     vg_check_phone_ph, 0.65, CTX_PH_PHONE, 0, VG_PII_NEAR_DIGITS6},
    /* E.164: '+' or an international call prefix (00, 011), a country code,
    ** the national number (checked against the plan where there is one). */
    {"phone_international", "PHONE_NUMBER",
     "(?<![\\w+])(?:\\+|0(?:0|11)[ .-]?)\\d{1,3}(?:[ .-]?\\(?\\d{1,4}\\)?){1,2}(?:[ .-]?\\d{2,4}){2,4}" EXT B1,
     vg_check_phone_intl, 0.6, CTX_PHONE, 0, VG_PII_NEAR_DIGITS6},
    {"phone_nanp", "PHONE_NUMBER",
     "(?<![\\w+(-])(?:1[ .-])?(?:\\(\\d{3}\\) ?|\\d{3}[-. ])\\d{3}[-. ]\\d{4}" EXT "(?![\\w-])",
     vg_check_phone_nanp, 0.5, CTX_PHONE, 0, VG_PII_NEAR_DIGITS9},
    /* Ten digits run together, as North American numbers are often stored. */
    {"phone_nanp_plain", "PHONE_NUMBER", "(?<![\\w+-])[2-9]\\d{9}" EXT "(?![\\w-])", vg_check_phone_nanp,
     0.3, CTX_PHONE, 0, VG_PII_NEAR_DIGITS9},
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
     "|0\\d{1,4}(?:[ .-]\\d{2,7}){1,4}|\\d{2,5}(?:[ .-]\\d{2,5}){2,4})(?!\\w|-\\d|[.,/: ]\\d)",
     vg_check_phone_digits, 0.2, CTX_PHONE "|answering|messages|reach", VG_PII_YIELD, VG_PII_NEAR_DIGITS6},
    {"phone_short", "PHONE_NUMBER", "(?<![\\w+(.,/:-])(?<!\\d[ .-])\\d{2,5}[ .-]\\d{2,6}(?!\\w|-\\d|[.,/: ]\\d)",
     vg_check_phone_digits, 0.2, CTX_PHONE "|answering|messages|reach", VG_PII_NEEDS_CONTEXT | VG_PII_YIELD,
     VG_PII_NEAR_DIGITS6},
    {"crypto", "CRYPTO",
     B0 "(?:[13][1-9A-HJ-NP-Za-km-z]{25,34}|(?:bc1|BC1)[0-9A-Za-z]{11,71})" B1, vg_check_bitcoin,
     1.0, "bitcoin|btc|wallet|crypto|billetera|cartera", 0, VG_PII_NEAR_LONGWORD},
    {"ar_cuit", "AR_CUIT", "(?<![\\w-])(?:20|23|24|27|30|33|34)-?\\d{8}-?\\d(?![\\w-])",
     vg_check_ar_cuit, 1.0, "cuit|cuil|afip|contribuyente", 0, VG_PII_NEAR_DIGITS9},
    {"ar_dni", "AR_DNI", "(?<![\\w.])\\d{1,2}\\.?\\d{3}\\.?\\d{3}(?![\\w.])", 0, 0.5,
     "dni|documento|d.n.i", VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_ID6},
    {"ar_cbu", "AR_CBU", B0 "\\d(?:[ \\x{2013}-]?\\d){21}" B1, vg_check_ar_cbu, 1.0,
     "cbu|cuenta|banco|transferencia", 0, VG_PII_NEAR_DIGITS20},
    {"uk_nhs", "UK_NHS", B0 "\\d{3}([ -]?)\\d{3}\\1\\d{4}" B1, vg_check_uk_nhs, 0.5,
     "nhs|health|national health", VG_PII_LANG_EN, VG_PII_NEAR_DIGITS9},
    {"es_nif", "ES_NIF", B0 "\\d{8}[ -]?[A-Za-z]" B1, vg_check_es_nif, 1.0,
     "nif|dni|documento|identidad", 0, VG_PII_NEAR_ID6},
    {"es_nie", "ES_NIE", B0 "[XYZxyz][ -]?\\d{7}[ -]?[A-Za-z]" B1, vg_check_es_nie, 1.0,
     "nie|extranjero|identidad", 0, VG_PII_NEAR_ID6},
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
     "tfn|tax file", 0, VG_PII_NEAR_ID6},
    {"au_medicare", "AU_MEDICARE", B0 "[2-6]\\d{3} ?\\d{5} ?\\d(?: ?\\d)?" B1,
     vg_check_au_medicare, 0.3, "medicare", 0, VG_PII_NEAR_DIGITS9},
    {"in_aadhaar", "IN_AADHAAR", B0 "[2-9]\\d{3}([ -]?)\\d{4}\\1\\d{4}" B1, vg_check_in_aadhaar,
     0.5, "aadhaar|uidai|aadhar", 0, VG_PII_NEAR_DIGITS12},
    {"th_tnin", "TH_TNIN", B0 "\\d([ -]?)\\d{4}\\1\\d{5}\\1\\d{2}\\1\\d" B1, vg_check_th_tnin, 0.5,
     "thai|tnin|บัตรประชาชน", 0, VG_PII_NEAR_DIGITS12},
    /* German identifiers. */
    {"de_tax_id", "DE_TAX_ID", B0 "[1-9]\\d(?: ?\\d{3}){3}" B1, vg_check_de_tax_id, 0.3,
     "steuer-id|steuerid|steueridentifikationsnummer|identifikationsnummer|idnr|tin|tax id",
     0, VG_PII_NEAR_DIGITS9},
    {"de_tax_number", "DE_TAX_NUMBER", B0 "(?:\\d{2,3}/\\d{3,4}/\\d{4,5}|\\d{13})" B1,
     vg_check_de_tax_number, 0.1, "steuernummer|st.-nr|stnr|finanzamt|steuer", 0,
     VG_PII_NEAR_DIGITS9},
    {"de_vat_id", "DE_VAT_ID", B0 "DE ?\\d{3} ?\\d{3} ?\\d{3}" B1, vg_check_de_vat_id, 0.6,
     "ust-idnr|ust-id|ustid|umsatzsteuer|mwst|vat", 0, VG_PII_NEAR_DIGITS9},
    {"de_social_security", "DE_SOCIAL_SECURITY", B0 "\\d{2} ?\\d{6} ?[A-Za-z] ?\\d{3}" B1,
     vg_check_de_social_security, 0.5,
     "rvnr|rentenversicherungsnummer|sozialversicherungsnummer|sozialversicherung|svnr|"
     "versicherungsnummer",
     0, VG_PII_NEAR_ID6},
    {"de_health_insurance", "DE_HEALTH_INSURANCE", B0 "[A-Za-z]\\d{9}" B1,
     vg_check_de_health_insurance, 0.4,
     "kvnr|krankenkasse|krankenversicherung|krankenversichertennummer|versichertennummer|egk|"
     "egk-nummer|health insurance",
     VG_PII_CLAIM, VG_PII_NEAR_ALNUM4},
    {"de_lanr", "DE_LANR", B0 "\\d{9}" B1, vg_check_de_lanr, 0.35, "lanr|arztnummer|arzt", 0,
     VG_PII_NEAR_DIGITS9},
    {"de_passport", "DE_PASSPORT", B0 "(?i:[CFGHJKLMNPRTVWXYZ][0-9CFGHJKLMNPRTVWXYZ]{7})\\d" B1,
     vg_check_de_passport, 0.4, "reisepass|pass-nr|passnummer|pass|passport", 0,
     VG_PII_NEAR_ALNUM4},
    {"de_fuehrerschein", "DE_FUEHRERSCHEIN", B0 "[A-Za-z]{2}\\d{8}[A-Za-z0-9]" B1, 0, 0.2,
     "führerschein|fuehrerschein|fahrerlaubnis|führerscheinnummer|driving licence|driver license",
     0, VG_PII_NEAR_ALNUM4},
    {"de_plz", "DE_PLZ", B0 "\\d{5}" B1, vg_check_de_plz, 0.1, "plz|postleitzahl", VG_PII_NEEDS_CONTEXT,
     VG_PII_NEAR_DIGITS4},
    {"de_handelsregister", "DE_HANDELSREGISTER",
     B0 "(?i:hr[ab]) ?\\d{1,6}" B1, 0, 0.5,
     "handelsregister|registergericht|amtsgericht|registernummer", 0, VG_PII_NEAR_CODE},
    {"de_kfz", "DE_KFZ",
     "(?<![\\w-])[A-Z\\x{C4}\\x{D6}\\x{DC}]{1,3}([ -])[A-Z]{1,2}\\1\\d{1,4}[EH]?(?![\\w-])", 0, 0.2,
     "kennzeichen|kfz|nummernschild|autokennzeichen|license plate|number plate", 0, VG_PII_NEAR_CODE},
    /* United Kingdom. */
    {"uk_nino", "UK_NINO",
     B0 "[A-Za-z]{2} ?\\d{2} ?\\d{2} ?\\d{2} ?[A-Da-d]" B1, vg_check_uk_nino, 0.5,
     "national insurance|nino|ni number|nin|insurance number", 0, VG_PII_NEAR_ID6},
    {"uk_vehicle_registration", "UK_VEHICLE_REGISTRATION",
     B0 "(?:[A-Z]{2}\\d{2}[ -]?[A-Z]{3}|[a-z]{2}\\d{2}[ -]?[a-z]{3})" B1,
     vg_check_uk_vehicle_registration, 0.4,
     "reg|registration|number plate|numberplate|plate|car|vehicle|dvla", 0, VG_PII_NEAR_CODE},
    {"uk_postcode", "UK_POSTCODE",
     B0 "(?:GIR 0AA|[A-PR-UWYZ](?:\\d[A-HJKPSTUW\\d]?|[A-HK-Y]\\d[ABEHMNPRVWXY\\d]?) \\d[ABD-HJLNP-UW-Z]{2})" B1,
     0, 0.1, "postcode|post code|address|london", 0, VG_PII_NEAR_CODE},
    {"uk_driving_licence", "UK_DRIVING_LICENCE",
     B0 "[A-Za-z9]{5}\\d{6}[A-Za-z9]{2}\\d[A-Za-z]{2}" B1, vg_check_uk_driving_licence, 0.5,
     "driving licence|driving license|licence|dvla|driver", 0, VG_PII_NEAR_ALNUM4},
    /* Two letters and seven digits are also Italian passports and identity
    ** cards: a context word tells them apart; without one, the UK's (as
    ** Presidio scores them). */
    {"uk_passport", "UK_PASSPORT", B0 "[A-Za-z]{2}\\d{7}" B1, 0, 0.1,
     "passport|british passport|travel document|hm passport|hmpo", VG_PII_LANG_EN, VG_PII_NEAR_ALNUM4},
    /* United States (numbers of digits alone only with context). */
    {"us_mbi", "US_MBI",
     "(?<![\\w-])(?i:[1-9][AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y\\d]\\d(-?)[AC-HJKMNP-RT-Y][AC-HJKMNP-RT-Y\\d]\\d"
     "\\1[AC-HJKMNP-RT-Y]{2}\\d{2})(?![\\w-])",
     0, 0.4, "medicare|mbi|beneficiary", VG_PII_LANG_EN, VG_PII_NEAR_ALNUM4},
    {"us_passport", "US_PASSPORT", B0 "[A-Za-z]\\d{8}" B1, 0, 0.1, CTX_US_PASSPORT, VG_PII_LANG_EN,
     VG_PII_NEAR_ALNUM4},
    {"us_passport_digits", "US_PASSPORT", B0 "\\d{9}" B1, 0, 0.05, CTX_US_PASSPORT,
     VG_PII_NEEDS_CONTEXT | VG_PII_LANG_EN, VG_PII_NEAR_ID6},
    /* A letter and eight or more digits: many states' licences (Presidio
    ** scores them above a passport's).  A shape with no check: it yields
    ** to a checked format ("M123456789" failing a KVNR's check digit). */
    {"us_driver_license_alnum", "US_DRIVER_LICENSE", B0 "[A-Za-z]\\d{8,14}" B1, 0, 0.3, CTX_US_DL,
     VG_PII_LANG_EN | VG_PII_YIELD, VG_PII_NEAR_ALNUM4},
    /* DEA registration numbers, which prescribers carry. */
    {"medical_license", "MEDICAL_LICENSE", B0 "(?i:[ABCDEFGHJKLMPRSTUX][A-Z9])\\d{7}" B1, vg_check_dea, 0.4,
     "medical|certificate|dea|license|licence|prescriber", 0, VG_PII_NEAR_ALNUM4},
    {"us_driver_license", "US_DRIVER_LICENSE", "(?<![\\w-])[A-Za-z]{0,2}\\d{6,13}(?![\\w-])", 0, 0.1,
     CTX_US_DL, VG_PII_NEEDS_CONTEXT | VG_PII_LANG_EN,
     VG_PII_NEAR_ID6},
    /* India. */
    {"in_pan", "IN_PAN", B0 "[A-Za-z]{3}[ABCFGHJLPTabcfghjlpt][A-Za-z]\\d{4}[A-Za-z]" B1, 0, 0.5,
     "pan|permanent account", 0, VG_PII_NEAR_ALNUM4},
    /* The fourth letter outside the holder types: a weaker finding. */
    {"in_pan_shape", "IN_PAN", B0 "[A-Za-z]{5}\\d{4}[A-Za-z]" B1, 0, 0.1, "pan|permanent account", 0,
     VG_PII_NEAR_ALNUM4},
    {"in_gstin", "IN_GSTIN", B0 GSTIN B1, vg_check_in_gstin, 1.0, CTX_GSTIN,
     0, VG_PII_NEAR_ALNUM4},
    /* GSTINs in examples often carry a made-up check character: the shape
    ** alone is a weaker finding. */
    {"in_gstin_shape", "IN_GSTIN", B0 GSTIN B1, 0, 0.4, CTX_GSTIN, 0,
     VG_PII_NEAR_ALNUM4},
    {"in_voter", "IN_VOTER", B0 "[A-Za-z]{3}\\d{7}" B1, 0, 0.3, "voter|epic|election|electoral", 0,
     VG_PII_NEAR_ALNUM4},
    {"in_passport", "IN_PASSPORT", B0 "[A-Za-z][1-9]\\d ?\\d{4}[1-9]" B1, 0, 0.1,
     "passport|indian passport|passport number", 0, VG_PII_NEAR_ALNUM4},
    {"in_vehicle_registration", "IN_VEHICLE_REGISTRATION",
     B0 "(?:AN|AP|AR|AS|BR|CG|CH|DD|DL|DN|GA|GJ|HP|HR|JH|JK|KA|KL|LA|LD|MH|ML|MN|MP|MZ|NL|OD|OR|"
        "PB|PY|RJ|SK|TN|TR|TS|UK|UP|WB)[ -]?\\d{1,2}[ -]?[A-Z]{1,3}[ -]?\\d{4}" B1,
     0, 0.5, "vehicle|registration|plate|rc", 0, VG_PII_NEAR_DIGITS4},
    /* Italy. */
    {"it_vat_code", "IT_VAT_CODE", B0 "\\d{8}[ _-]?\\d{3}" B1, vg_check_it_vat_code, 0.7,
     "partita iva|p.iva|piva|iva|vat", 0, VG_PII_NEAR_DIGITS9},
    {"it_driver_license", "IT_DRIVER_LICENSE",
     B0 "(?i:[A-Z]{2}\\d{7}[A-Z]|U1[BCDEFGHJKLMNPRSTUWXYZ0-9]{7}[A-Z])" B1, 0, 0.2,
     "patente|guida|licenza|driver|license|licence", 0, VG_PII_NEAR_ALNUM4},
    {"it_passport", "IT_PASSPORT", B0 "[A-Za-z]{2}\\d{7}" B1, 0, 0.01,
     "passaporto|passaporti|elettronico|viaggio|estero|dogana", 0, VG_PII_NEAR_ALNUM4},
    /* Paper cards (two letters, seven digits), electronic ones (CIE 2.0:
    ** seven digits, two letters; 3.0: two letters, five digits, two letters). */
    {"it_identity_card", "IT_IDENTITY_CARD", B0 "(?i:[A-Z]{2} ?\\d{7})" B1, 0, 0.01, CTX_IT_ID, 0,
     VG_PII_NEAR_ID6},
    {"it_identity_card_cie", "IT_IDENTITY_CARD", B0 "(?i:\\d{7}[A-Z]{2}|[A-Z]{2}\\d{5}[A-Z]{2})" B1, 0,
     0.01, CTX_IT_ID, 0, VG_PII_NEAR_ALNUM4},
    /* Spain, Korea, Singapore, the Philippines, Nigeria, Turkey, South Africa. */
    {"es_passport", "ES_PASSPORT", B0 "[A-Za-z]{2,3}\\d{6}" B1, 0, 0.05, "pasaporte|passport", 0,
     VG_PII_NEAR_ALNUM4},
    {"kr_driver_license", "KR_DRIVER_LICENSE",
     B0 "(?:1[1-9]|2[0-68])([ -]?)\\d{2}\\1\\d{6}\\1\\d{2}" B1, 0, 0.5,
     "운전면허|운전면허번호|driver|license|licence", 0, VG_PII_NEAR_DIGITS9},
    {"kr_passport", "KR_PASSPORT", B0 "[MSRODmsrod]\\d{3}[A-Za-z]\\d{4}" B1, 0, 0.1,
     CTX_KR_PASSPORT, 0, VG_PII_NEAR_ALNUM4},
    {"kr_passport_old", "KR_PASSPORT", B0 "[MSRODmsrod]\\d{8}" B1, 0, 0.05, CTX_KR_PASSPORT,
     VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_ALNUM4},
    {"sg_nric_fin", "SG_NRIC_FIN", B0 "[STFGstfg]\\d{7}[A-Za-z]" B1, vg_check_sg_nric_fin, 0.5,
     "nric|fin|ic|identity card", 0, VG_PII_NEAR_ALNUM4},
    {"sg_uen", "SG_UEN", B0 "(?:\\d{8,9}|[RST]\\d{2}[A-Z]{2}\\d{4})[A-Z]" B1, vg_check_sg_uen, 0.5,
     "uen|entity number|acra", 0, VG_PII_NEAR_ALNUM4},
    {"ph_tin", "PH_TIN", B0 "\\d{3}-\\d{3}-\\d{3}(?:-\\d{3,5})?" B1, 0, 0.1,
     "tin|tax|bir|taxpayer|id|rdo", VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_DIGITS9},
    {"ng_vehicle_registration", "NG_VEHICLE_REGISTRATION",
     "(?<![\\w-])(?:[A-Z]{3}[ -]?\\d{3}[A-Z]{2}|[a-z]{3}-\\d{3}[a-z]{2})(?![\\w-])",
     vg_check_ng_vehicle_registration, 0.5, "plate|vehicle|registration|number plate", 0,
     VG_PII_NEAR_CODE},
    {"tr_license_plate", "TR_LICENSE_PLATE",
     "(?<![\\w-])(?:0[1-9]|[1-7]\\d|8[01])(?: ?[A-Z]{1,3} ?\\d{2,4}| ?[a-z]{1,3} ?\\d{4})(?![\\w-])",
     vg_check_tr_license_plate, 0.5, "plaka|plakası|plakasi|araç|arac|license plate|plate", 0,
     VG_PII_NEAR_CODE},
    {"za_id_number", "ZA_ID_NUMBER", B0 "\\d{13}" B1, vg_check_za_id_number, 0.6,
     "identity|id number|south african|rsa|id", 0, VG_PII_NEAR_DIGITS12},
    /* Birth dates (DATE_TIME only with a word that says so). */
    {"birth_date", "DATE_TIME",
     B0 "(?:\\d{1,2}[/.-]\\d{1,2}[/.-](?:\\d{4}|\\d{2})|\\d{4}-\\d{1,2}-\\d{1,2})" B1, vg_check_date,
     0.3, CTX_BIRTH, VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_DATE},
    {"birth_date_words", "DATE_TIME",
     B0 "(?:[12]\\d|3[01]|0?[1-9])(?:st|nd|rd|th)?(?: of| de)? (?i:" MONTHS ")(?: de)?,? \\d{4}" B1, 0,
     0.3, CTX_BIRTH, VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_DATE},
    /* Month first, as English writes it: a capital letter starts the
    ** month (which keeps the scan fast). */
    {"birth_date_month_first", "DATE_TIME",
     B0 MONTHS_CAPITAL "\\.? (?:[12]\\d|3[01]|0?[1-9])(?:st|nd|rd|th)?,? \\d{4}" B1, 0, 0.3, CTX_BIRTH,
     VG_PII_NEEDS_CONTEXT, VG_PII_NEAR_DATE},
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

/* Sensitivity of the types that are not high (see pii.h, pii_policy section). */
static const struct {
  const char *zEntity;
  int level;
} aLevel[] = {
    {"EMAIL_ADDRESS", VG_PII_LEVEL_MEDIUM},
    {"PHONE_NUMBER", VG_PII_LEVEL_MEDIUM},
    {"DATE_TIME", VG_PII_LEVEL_MEDIUM},
    {"US_NPI", VG_PII_LEVEL_MEDIUM},
    {"DE_LANR", VG_PII_LEVEL_MEDIUM},
    {"MEDICAL_LICENSE", VG_PII_LEVEL_MEDIUM},
    {"PH_MOBILE_NUMBER", VG_PII_LEVEL_MEDIUM},
    {"TR_PHONE_NUMBER", VG_PII_LEVEL_MEDIUM},
    /* A plate names a vehicle, and through a register its keeper. */
    {"DE_KFZ", VG_PII_LEVEL_MEDIUM},
    {"UK_VEHICLE_REGISTRATION", VG_PII_LEVEL_MEDIUM},
    {"IN_VEHICLE_REGISTRATION", VG_PII_LEVEL_MEDIUM},
    {"NG_VEHICLE_REGISTRATION", VG_PII_LEVEL_MEDIUM},
    {"TR_LICENSE_PLATE", VG_PII_LEVEL_MEDIUM},
    {"URL", VG_PII_LEVEL_LOW},
    {"IP_ADDRESS", VG_PII_LEVEL_LOW},
    {"MAC_ADDRESS", VG_PII_LEVEL_LOW},
    {"ABA_ROUTING_NUMBER", VG_PII_LEVEL_LOW},
    {"SE_ORGANISATIONSNUMMER", VG_PII_LEVEL_LOW},
    {"KR_BRN", VG_PII_LEVEL_LOW},
    {"AU_ABN", VG_PII_LEVEL_LOW},
    {"AU_ACN", VG_PII_LEVEL_LOW},
    {"DE_HANDELSREGISTER", VG_PII_LEVEL_LOW},
    {"DE_VAT_ID", VG_PII_LEVEL_LOW},
    {"IT_VAT_CODE", VG_PII_LEVEL_LOW},
    {"IN_GSTIN", VG_PII_LEVEL_LOW},
    {"SG_UEN", VG_PII_LEVEL_LOW},
    /* A postcode alone covers a street or more. */
    {"DE_PLZ", VG_PII_LEVEL_LOW},
    {"UK_POSTCODE", VG_PII_LEVEL_LOW},
};

int vg_pii_entity_level(const char *zEntity) {
  for (size_t i = 0; i < sizeof aLevel / sizeof aLevel[0]; i++) {
    if (strcmp(aLevel[i].zEntity, zEntity) == 0) return aLevel[i].level;
  }
  return VG_PII_LEVEL_HIGH;
}
