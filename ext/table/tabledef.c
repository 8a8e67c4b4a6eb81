/*
** tabledef.c — parsing the column definitions of a vg_hnsw table (see
** table.h, tabledef section).
**
** Each module argument is one column definition.  It is split into tokens:
** identifiers (bare or quoted with "", [], `` or ''), numbers, and the
** punctuation [ ] = +, with whitespace and SQL comments between them.
** Keywords are case-insensitive, as everywhere in SQL.
*/
#include "table/table.h"

#include <stddef.h>
#include <stdlib.h>

#include <string.h>
#include <strings.h>

typedef enum { TK_END, TK_WORD, TK_QUOTED, TK_NUMBER, TK_PUNCT, TK_BAD } tk_type;

typedef struct Token {
  tk_type type;
  const char *z;
  int n;
} Token;

typedef struct Lexer {
  const char *z;
  int i;
} Lexer;

static int is_word_char(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c >= 0x80;
}

/* A word goes on through '$' as SQLite's identifiers do (t$ is one name;
** a '$' that starts a token is a parameter, not a word). */
static int is_word_next(unsigned char c) {
  return is_word_char(c) || c == '$';
}

static int sql_token(const char *z, int *pbSkip);
static const char *sql_skip(const char *z);

static Token lex_next(Lexer *p) {
  Token t = {TK_END, 0, 0};
  const char *z = p->z;
  /* Whitespace and comments, which SQLite leaves inside an argument. */
  p->i = (int)(sql_skip(z + p->i) - z);
  char c = z[p->i];
  t.z = z + p->i;
  if (c == 0) return t;
  if (c == '[' || c == ']' || c == '=' || c == '+') {
    /* "[" starts a quoted name only where a name is expected; the parser
    ** asks for names through lex_name(), so here it is punctuation. */
    t.type = TK_PUNCT;
    t.n = 1;
    p->i++;
    return t;
  }
  if (c == '"' || c == '`' || c == '\'') {
    int j = p->i + 1;
    for (;;) {
      if (z[j] == 0) {
        t.type = TK_BAD;
        t.n = j - p->i;
        p->i = j;
        return t;
      }
      if (z[j] == c) {
        if (z[j + 1] == c) {
          j += 2;
          continue;
        }
        break;
      }
      j++;
    }
    t.type = TK_QUOTED;
    t.n = j + 1 - p->i;
    p->i = j + 1;
    return t;
  }
  if (is_word_char((unsigned char)c)) {
    int j = p->i;
    int allDigits = 1;
    while (is_word_next((unsigned char)z[j])) {
      if (z[j] < '0' || z[j] > '9') allDigits = 0;
      j++;
    }
    t.type = allDigits ? TK_NUMBER : TK_WORD;
    t.n = j - p->i;
    p->i = j;
    return t;
  }
  t.type = TK_BAD;
  t.n = 1;
  p->i++;
  return t;
}

/* A column name: a word, a quoted identifier, or [bracketed]. */
static Token lex_name(Lexer *p) {
  Token t = lex_next(p);
  if (t.type == TK_PUNCT && t.z[0] == '[') {
    const char *zEnd = strchr(t.z + 1, ']');
    if (zEnd == 0) {
      t.type = TK_BAD;
      return t;
    }
    t.type = TK_QUOTED;
    t.n = (int)(zEnd + 1 - t.z);
    p->i = (int)(zEnd + 1 - p->z);
  }
  return t;
}

static Token lex_peek(Lexer *p) {
  int save = p->i;
  Token t = lex_next(p);
  p->i = save;
  return t;
}

static int tok_is(Token t, const char *zWord) {
  return (t.type == TK_WORD || t.type == TK_PUNCT) &&
         (int)strlen(zWord) == t.n && strncasecmp(t.z, zWord, t.n) == 0;
}

/* The unquoted text of a name token, from sqlite3_malloc64(). */
static char *token_name(Token t) {
  if (t.type == TK_WORD) return sqlite3_mprintf("%.*s", t.n, t.z);
  char q = t.z[0] == '[' ? ']' : t.z[0];
  char *zOut = sqlite3_malloc64(t.n + 1);
  if (zOut == 0) return 0;
  int j = 0;
  for (int i = 1; i < t.n - 1; i++) {
    zOut[j++] = t.z[i];
    if (t.z[i] == q && q != ']') i++; /* doubled quote */
  }
  zOut[j] = 0;
  return zOut;
}

const char *vg_value_type_name(vg_value_type t) {
  switch (t) {
    case VG_TYPE_INTEGER:
      return "integer";
    case VG_TYPE_REAL:
      return "real";
    case VG_TYPE_TEXT:
      return "text";
    case VG_TYPE_BLOB:
      return "blob";
    case VG_TYPE_BOOLEAN:
      return "boolean";
    default:
      return "any";
  }
}

static int parse_scalar_type(Token t, vg_value_type *pType) {
  static const struct {
    const char *zName;
    vg_value_type type;
  } names[] = {
      {"text", VG_TYPE_TEXT},       {"integer", VG_TYPE_INTEGER},
      {"int", VG_TYPE_INTEGER},     {"real", VG_TYPE_REAL},
      {"float", VG_TYPE_REAL},      {"double", VG_TYPE_REAL},
      {"boolean", VG_TYPE_BOOLEAN}, {"bool", VG_TYPE_BOOLEAN},
      {"blob", VG_TYPE_BLOB},       {"any", VG_TYPE_ANY},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
    if (tok_is(t, names[i].zName)) {
      *pType = names[i].type;
      return 1;
    }
  }
  return 0;
}

static const char *const reserved_names[] = {"rowid", "oid",      "_rowid_", "distance",
                                             "k",     "ef",       "exact"};

/* Index options: name, where the value goes (an int in VgTableDef), and
** what it may be: an integer in [iMin, iMax], or, when azWord is set, one
** of those words (stored as its index). */
typedef struct IndexOption {
  const char *zName;
  size_t offset;
  int iMin, iMax;
  const char *const *azWord;
} IndexOption;

/* In the order of VG_QUANT_*. */
static const char *const quantization_words[] = {"none", "int8", 0};

static const IndexOption index_options[] = {
    {"hnsw_m", offsetof(VgTableDef, hnswM), 2, VG_HNSW_MAX_M, 0},
    {"ef_construction", offsetof(VgTableDef, efConstruction), 1, VG_MAX_EF, 0},
    {"ef_search", offsetof(VgTableDef, efSearch), 1, VG_MAX_EF, 0},
    {"quantization", offsetof(VgTableDef, quantization), 0, 0, quantization_words},
    /* sqlite-vec's vectors per chunk; slots and chunks here are sized by
    ** the page (docs/storage.md), so it has nothing to set. */
    {"chunk_size", offsetof(VgTableDef, chunkSize), 8, 1 << 20, 0},
};

/* The value token v (followed by nothing) for option o, or -1. */
static int option_value(const IndexOption *o, Token v, int bEnd) {
  if (!bEnd) return -1;
  if (o->azWord) {
    for (int w = 0; o->azWord[w]; w++) {
      if (tok_is(v, o->azWord[w])) return w;
    }
    return -1;
  }
  char *zEnd = 0;
  long long n = v.type == TK_NUMBER && v.n <= 9 ? strtoll(v.z, &zEnd, 10) : 0;
  if (v.type != TK_NUMBER || zEnd != v.z + v.n || n < o->iMin || n > o->iMax) return -1;
  return (int)n;
}

/* Parse "name=value" for one of index_options; name is already read. */
static int parse_option(Lexer *lx, Token name, const char *zArg, VgTableDef *pDef,
                        unsigned *pSeen, char **pzErr) {
  for (size_t i = 0; i < sizeof(index_options) / sizeof(index_options[0]); i++) {
    const IndexOption *o = &index_options[i];
    if (!tok_is(name, o->zName)) continue;
    if (*pSeen & (1u << i)) {
      *pzErr = sqlite3_mprintf("vg_hnsw: option %s is given twice", o->zName);
      return SQLITE_ERROR;
    }
    *pSeen |= 1u << i;
    lex_next(lx); /* '=' */
    Token v = lex_next(lx);
    int value = option_value(o, v, lex_next(lx).type == TK_END);
    if (value < 0 && o->azWord) {
      *pzErr = sqlite3_mprintf("vg_hnsw: %s must be %s or %s; got '%s'", o->zName, o->azWord[0],
                               o->azWord[1], zArg);
      return SQLITE_ERROR;
    }
    if (value < 0) {
      *pzErr = sqlite3_mprintf("vg_hnsw: %s must be an integer from %d to %d; got '%s'",
                               o->zName, o->iMin, o->iMax, zArg);
      return SQLITE_ERROR;
    }
    *(int *)((char *)pDef + o->offset) = value;
    return SQLITE_OK;
  }
  *pzErr = sqlite3_mprintf(
      "vg_hnsw: unknown table option '%.*s' (options: hnsw_m, ef_construction, ef_search, "
      "quantization, chunk_size)",
      name.n, name.z);
  return SQLITE_ERROR;
}

/* The rest of "<zWhat> key" after column pCol's type, checked: the word
** key and nothing after it, not an auxiliary column, no other such column
** (iExisting), a text or integer type.  The partition key and the primary
** key share these rules. */
static int key_clause(Lexer *lx, const VgTableDef *pDef, const VgColumn *pCol, int bAux, const char *zWhat,
                      int iExisting, char **pzErr) {
  int bPrimary = zWhat[1] == 'r';
  if (!tok_is(lex_next(lx), "key") || lex_next(lx).type != TK_END) {
    *pzErr = sqlite3_mprintf("vg_hnsw: column %s: expected '%s key'", pCol->zName, zWhat);
  } else if (bAux && bPrimary) {
    *pzErr = sqlite3_mprintf("vg_hnsw: column %s: an auxiliary column cannot be the primary key; write %s %s "
                             "primary key",
                             pCol->zName, pCol->zName, pCol->type == VG_TYPE_INTEGER ? "integer" : "text");
  } else if (bAux) {
    *pzErr = sqlite3_mprintf("vg_hnsw: column %s: an auxiliary column cannot be the %s key", pCol->zName, zWhat);
  } else if (iExisting >= 0) {
    *pzErr = sqlite3_mprintf("vg_hnsw: only one %s key %sis allowed (%s and %s)%s", zWhat, bPrimary ? "column " : "",
                             pDef->aCol[iExisting].zName, pCol->zName,
                             bPrimary ? "; with a partition key the key is unique within each partition" : "");
  } else if (pCol->type != VG_TYPE_TEXT && pCol->type != VG_TYPE_INTEGER) {
    *pzErr = sqlite3_mprintf("vg_hnsw: %s key %s must be declared text or integer", zWhat, pCol->zName);
  } else {
    return SQLITE_OK;
  }
  return SQLITE_ERROR;
}

/* The metrics a column of element type e takes, for messages. */
static const char *metric_choices(vg_element e) {
  switch (e) {
    case VG_ELEMENT_INT8:
      return "l2, cosine, l1 or ip";
    case VG_ELEMENT_BIT:
      return "hamming";
    default:
      return "cosine, l2 or ip";
  }
}

/* Parse the vector type "float[N]", "int8[N]" or "bit[N]" (sqlite-vec's
** names, and its aliases float32, f32, i8) and its options into pDef. */
static int parse_vector_column(Lexer *lx, Token type, const char *zName,
                               VgTableDef *pDef, char **pzErr) {
  if (tok_is(type, "float") || tok_is(type, "float32") || tok_is(type, "f32")) {
    pDef->element = VG_ELEMENT_FLOAT32;
  } else if (tok_is(type, "int8") || tok_is(type, "i8")) {
    pDef->element = VG_ELEMENT_INT8;
  } else if (tok_is(type, "bit")) {
    pDef->element = VG_ELEMENT_BIT;
  } else {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: vector column %s: type %.*s[...] is not supported; use float[N], int8[N] or "
        "bit[N]",
        zName, type.n, type.z);
    return SQLITE_ERROR;
  }
  const char *zType = pDef->element == VG_ELEMENT_FLOAT32 ? "float"
                      : pDef->element == VG_ELEMENT_INT8  ? "int8"
                                                          : "bit";
  lex_next(lx); /* '[' */
  Token num = lex_next(lx);
  Token close = lex_next(lx);
  if (num.type != TK_NUMBER || !tok_is(close, "]")) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: vector column %s: expected %s[N] with N a positive integer",
        zName, zType);
    return SQLITE_ERROR;
  }
  long long nDims = 0;
  for (int i = 0; i < num.n && nDims <= VG_MAX_DIMS; i++) {
    nDims = nDims * 10 + (num.z[i] - '0');
  }
  if (nDims < 1 || nDims > VG_MAX_DIMS) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: vector column %s: dimension %.*s is out of range (1 to %d)",
        zName, num.n, num.z, VG_MAX_DIMS);
    return SQLITE_ERROR;
  }
  if (pDef->element == VG_ELEMENT_BIT && nDims % 8 != 0) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: vector column %s: bit[%lld] is not a whole number of bytes; N must be a "
        "multiple of 8 (bit[%lld] or bit[%lld])",
        zName, nDims, nDims / 8 * 8, nDims / 8 * 8 + 8);
    return SQLITE_ERROR;
  }
  pDef->nDims = (int)nDims;
  pDef->metric = pDef->element == VG_ELEMENT_BIT ? VG_METRIC_HAMMING : VG_METRIC_L2;
  const char *zChoices = metric_choices(pDef->element);
  for (;;) {
    Token opt = lex_next(lx);
    if (opt.type == TK_END) break;
    if (!tok_is(opt, "distance_metric")) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: vector column %s: unknown option '%.*s' (expected "
          "distance_metric=%s)",
          zName, opt.n, opt.z, zChoices);
      return SQLITE_ERROR;
    }
    Token eq = lex_next(lx);
    Token val = lex_next(lx);
    if (!tok_is(eq, "=") || (val.type != TK_WORD && val.type != TK_NUMBER &&
                             val.type != TK_QUOTED)) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: vector column %s: expected distance_metric=%s", zName, zChoices);
      return SQLITE_ERROR;
    }
    const char *zv = val.z;
    int nv = val.n;
    if (val.type == TK_QUOTED) {
      zv++;
      nv -= 2;
    }
    if (vg_metric_parse(zv, nv, &pDef->metric) != SQLITE_OK) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: vector column %s: unknown distance_metric '%.*s' (expected %s)", zName, nv,
          zv, zChoices);
      return SQLITE_ERROR;
    }
    if (!vg_metric_allowed(pDef->element, pDef->metric)) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: vector column %s: distance_metric %.*s does not apply to %s vectors "
          "(expected %s)",
          zName, nv, zv, zType, zChoices);
      return SQLITE_ERROR;
    }
  }
  return SQLITE_OK;
}

/* Parse one module argument: an option, or the next column of pDef. */
static int parse_column(const char *zArg, VgTableDef *pDef, unsigned *pSeen, char **pzErr) {
  Lexer lx = {zArg, 0};
  VgColumn *pCol = &pDef->aCol[pDef->nCol];
  int bAux = 0;
  if (tok_is(lex_peek(&lx), "+")) {
    lex_next(&lx);
    bAux = 1;
  }
  Token name = lex_name(&lx);
  if (name.type != TK_WORD && name.type != TK_QUOTED) {
    *pzErr = sqlite3_mprintf("vg_hnsw: expected a column definition, got '%s'", zArg);
    return SQLITE_ERROR;
  }
  if (tok_is(lex_peek(&lx), "=")) {
    if (bAux || name.type != TK_WORD) {
      *pzErr = sqlite3_mprintf("vg_hnsw: unknown table option '%s'", zArg);
      return SQLITE_ERROR;
    }
    return parse_option(&lx, name, zArg, pDef, pSeen, pzErr);
  }
  pCol->zName = token_name(name);
  if (pCol->zName == 0) return SQLITE_NOMEM;
  pDef->nCol++;
  if (pCol->zName[0] == 0) {
    *pzErr = sqlite3_mprintf("vg_hnsw: a column name cannot be empty");
    return SQLITE_ERROR;
  }
  for (size_t i = 0; i < sizeof(reserved_names) / sizeof(reserved_names[0]); i++) {
    if (sqlite3_stricmp(pCol->zName, reserved_names[i]) == 0) {
      *pzErr = sqlite3_mprintf("vg_hnsw: the column name %s is reserved", pCol->zName);
      return SQLITE_ERROR;
    }
  }
  for (int i = 0; i < pDef->nCol - 1; i++) {
    if (sqlite3_stricmp(pCol->zName, pDef->aCol[i].zName) == 0) {
      *pzErr = sqlite3_mprintf("vg_hnsw: duplicate column name %s", pCol->zName);
      return SQLITE_ERROR;
    }
  }

  Token type = lex_next(&lx);
  if (type.type == TK_WORD && tok_is(lex_peek(&lx), "[")) {
    if (bAux) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: column %s: an auxiliary column cannot be a vector", pCol->zName);
      return SQLITE_ERROR;
    }
    if (pDef->iVector >= 0) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: only one vector column is supported (%s and %s)",
          pDef->aCol[pDef->iVector].zName, pCol->zName);
      return SQLITE_ERROR;
    }
    pCol->kind = VG_COL_VECTOR;
    pDef->iVector = pDef->nCol - 1;
    return parse_vector_column(&lx, type, pCol->zName, pDef, pzErr);
  }

  pCol->type = VG_TYPE_ANY;
  if (type.type != TK_END) {
    if (type.type != TK_WORD || !parse_scalar_type(type, &pCol->type)) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: column %s: unknown type '%.*s' (expected text, integer, real, "
          "boolean%s)",
          pCol->zName, type.n, type.z, bAux ? ", blob or any" : "");
      return SQLITE_ERROR;
    }
  }
  Token t1 = lex_next(&lx);
  if (tok_is(t1, "fulltext")) {
    if (lex_next(&lx).type != TK_END) {
      *pzErr = sqlite3_mprintf("vg_hnsw: column %s: nothing may follow 'fulltext'", pCol->zName);
      return SQLITE_ERROR;
    }
    if (pCol->type != VG_TYPE_TEXT) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: column %s: fulltext indexes text; declare it %s%s text fulltext",
          pCol->zName, bAux ? "+" : "", pCol->zName);
      return SQLITE_ERROR;
    }
    if (pDef->iFulltext >= 0) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: only one fulltext column is allowed (%s and %s); put the texts to search "
          "together in one column",
          pDef->aCol[pDef->iFulltext].zName, pCol->zName);
      return SQLITE_ERROR;
    }
    pCol->bFulltext = 1;
    pDef->iFulltext = pDef->nCol - 1;
    t1 = lex_next(&lx); /* TK_END */
  } else if (tok_is(t1, "primary")) {
    /* sqlite-vec's grammar: id text primary key, id integer primary key. */
    int rc = key_clause(&lx, pDef, pCol, bAux, "primary", pDef->iPrimaryKey, pzErr);
    if (rc != SQLITE_OK) return rc;
    pCol->bPrimaryKey = 1;
    pDef->iPrimaryKey = pDef->nCol - 1;
    t1.type = TK_END; /* on to the metadata column it is */
  } else if (tok_is(t1, "partition")) {
    int rc = key_clause(&lx, pDef, pCol, bAux, "partition", pDef->iPartition, pzErr);
    if (rc != SQLITE_OK) return rc;
    pCol->kind = VG_COL_PARTITION;
    pDef->iPartition = pDef->nCol - 1;
    return SQLITE_OK;
  }
  if (t1.type != TK_END) {
    *pzErr = sqlite3_mprintf("vg_hnsw: column %s: unexpected '%.*s'", pCol->zName,
                             t1.n, t1.z);
    return SQLITE_ERROR;
  }
  if (bAux) {
    if (pDef->nAux >= VG_MAX_AUX) {
      *pzErr = sqlite3_mprintf("vg_hnsw: at most %d auxiliary columns", VG_MAX_AUX);
      return SQLITE_ERROR;
    }
    pCol->kind = VG_COL_AUX;
    pCol->iStore = pDef->nAux++;
    return SQLITE_OK;
  }
  if (type.type == TK_END || pCol->type == VG_TYPE_ANY || pCol->type == VG_TYPE_BLOB) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: metadata column %s needs a type: text, integer, real or boolean "
        "(prefix it with + to store any value without filtering)",
        pCol->zName);
    return SQLITE_ERROR;
  }
  if (pDef->nMeta >= VG_MAX_METADATA) {
    *pzErr = sqlite3_mprintf("vg_hnsw: at most %d metadata columns", VG_MAX_METADATA);
    return SQLITE_ERROR;
  }
  pCol->kind = VG_COL_METADATA;
  pCol->iStore = pDef->nMeta++;
  return SQLITE_OK;
}

int vg_tabledef_parse(int nArg, const char *const *azArg, VgTableDef **ppDef,
                      char **pzErr) {
  *ppDef = 0;
  if (nArg <= 0) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: no columns; a table needs a vector column such as "
        "embedding float[384]");
    return SQLITE_ERROR;
  }
  VgTableDef *pDef = sqlite3_malloc64(sizeof(*pDef));
  if (pDef == 0) return SQLITE_NOMEM;
  memset(pDef, 0, sizeof(*pDef));
  pDef->iVector = -1;
  pDef->iPartition = -1;
  pDef->iFulltext = -1;
  pDef->iPrimaryKey = -1;
  pDef->hnswM = VG_DEFAULT_HNSW_M;
  pDef->efConstruction = VG_DEFAULT_EF_CONSTRUCTION;
  pDef->efSearch = VG_DEFAULT_EF_SEARCH;
  pDef->aCol = sqlite3_malloc64(sizeof(VgColumn) * (sqlite3_uint64)nArg);
  if (pDef->aCol == 0) {
    sqlite3_free(pDef);
    return SQLITE_NOMEM;
  }
  memset(pDef->aCol, 0, sizeof(VgColumn) * (size_t)nArg);
  int rc = SQLITE_OK;
  unsigned seen = 0;
  for (int i = 0; i < nArg && rc == SQLITE_OK; i++) {
    rc = parse_column(azArg[i], pDef, &seen, pzErr);
  }
  if (rc == SQLITE_OK && pDef->iVector < 0) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: the table needs a vector column such as embedding float[384]");
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && pDef->quantization != VG_QUANT_NONE &&
      pDef->element != VG_ELEMENT_FLOAT32) {
    *pzErr = sqlite3_mprintf(
        "vg_hnsw: quantization=int8 compresses float[N] vectors in memory; %s[%d] vectors are "
        "held as they are (leave the option out)",
        pDef->element == VG_ELEMENT_INT8 ? "int8" : "bit", pDef->nDims);
    rc = SQLITE_ERROR;
  }
  for (int i = 0; rc == SQLITE_OK && pDef->iFulltext >= 0 && i < pDef->nCol; i++) {
    const char *z = pDef->aCol[i].zName;
    if (sqlite3_stricmp(z, "score") == 0 || sqlite3_stricmp(z, "vector_weight") == 0) {
      *pzErr = sqlite3_mprintf(
          "vg_hnsw: the column name %s is reserved in a table with a fulltext column "
          "(a hidden column of full-text and hybrid queries)", z);
      rc = SQLITE_ERROR;
    }
  }
  if (rc != SQLITE_OK) {
    vg_tabledef_free(pDef);
    return rc;
  }
  *ppDef = pDef;
  return SQLITE_OK;
}

int vg_tabledef_prepare(const VgTableDef *d, void *a) {
  if (d->metric != VG_METRIC_COSINE) return 1;
  if (d->element == VG_ELEMENT_FLOAT32) return vg_vector_normalize(a, d->nDims, a);
  /* int8: cosine divides by the norm, which must not be 0 */
  const signed char *b = a;
  for (int i = 0; i < d->nDims; i++) {
    if (b[i] != 0) return 1;
  }
  return 0;
}

void vg_tabledef_free(VgTableDef *pDef) {
  if (pDef == 0) return;
  for (int i = 0; i < pDef->nCol; i++) sqlite3_free(pDef->aCol[i].zName);
  sqlite3_free(pDef->aCol);
  sqlite3_free(pDef);
}

const char *vg_value_type_sql(vg_value_type t) {
  switch (t) {
    case VG_TYPE_INTEGER:
    case VG_TYPE_BOOLEAN:
      return "INTEGER";
    case VG_TYPE_REAL:
      return "REAL";
    case VG_TYPE_TEXT:
      return "TEXT";
    case VG_TYPE_BLOB:
      return "BLOB";
    default:
      return 0;
  }
}

static const char *declared_type(const VgColumn *pCol) {
  if (pCol->kind == VG_COL_VECTOR) return "BLOB";
  const char *z = vg_value_type_sql(pCol->type);
  return z ? z : "";
}

static const struct {
  const char *zName, *zType;
} hidden_columns[] = {
    {"distance", "REAL"}, {"k", "INTEGER"}, {"ef", "INTEGER"}, {"exact", "INTEGER"},
    {"score", "REAL"}, {"vector_weight", "REAL"}};

const char *vg_tabledef_hidden_name(const VgTableDef *pDef, int iCol) {
  return hidden_columns[iCol - VG_HIDDEN_DISTANCE(pDef)].zName;
}

char *vg_tabledef_declaration(const VgTableDef *pDef) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendall(s, "CREATE TABLE x(");
  for (int i = 0; i < pDef->nCol; i++) {
    sqlite3_str_appendf(s, "%s\"%w\" %s", i ? ", " : "", pDef->aCol[i].zName,
                        declared_type(&pDef->aCol[i]));
  }
  for (int i = 0; i < VG_HIDDEN_COUNT(pDef); i++) {
    sqlite3_str_appendf(s, ", %s HIDDEN %s", hidden_columns[i].zName, hidden_columns[i].zType);
  }
  sqlite3_str_appendall(s, ")");
  return sqlite3_str_finish(s);
}

/* ---- reading the stored statement ----------------------------------
**
** sqlite_schema keeps a virtual table's CREATE statement as it was typed.
** SQLite hands xCreate each module argument as the text from its first
** token to the end of its last one, split at commas outside parentheses:
** whitespace and comments between arguments vanish, an argument without
** tokens is dropped, and the module name may be quoted.  The scanner below
** reads the statement by the same rules, so that a definition read back
** is the one xCreate was given. */

/* The length of the SQL token at z (never 0 before the NUL): a quoted
** string or identifier ('', "", ``, []), a run of word characters, or one
** other character.  *pbSkip is set for whitespace and comments. */
static int sql_token(const char *z, int *pbSkip) {
  *pbSkip = 0;
  if (z[0] == ' ' || (z[0] >= '\t' && z[0] <= '\r')) {
    int n = 1;
    while (z[n] == ' ' || (z[n] >= '\t' && z[n] <= '\r')) n++;
    *pbSkip = 1;
    return n;
  }
  if (z[0] == '-' && z[1] == '-') {
    int n = 2;
    while (z[n] && z[n] != '\n') n++;
    *pbSkip = 1;
    return n;
  }
  if (z[0] == '/' && z[1] == '*') {
    int n = 2;
    while (z[n] && !(z[n] == '*' && z[n + 1] == '/')) n++;
    *pbSkip = 1;
    return z[n] ? n + 2 : n;
  }
  if (z[0] == '\'' || z[0] == '"' || z[0] == '`' || z[0] == '[') {
    char cEnd = z[0] == '[' ? ']' : z[0];
    int n = 1;
    for (; z[n]; n++) {
      if (z[n] != cEnd) continue;
      if (cEnd != ']' && z[n + 1] == cEnd) {
        n++; /* a doubled quote stands for one */
        continue;
      }
      return n + 1;
    }
    return n;
  }
  if (is_word_char((unsigned char)z[0])) {
    int n = 1;
    while (is_word_next((unsigned char)z[n])) n++;
    return n;
  }
  return 1;
}

/* z past any whitespace and comments. */
static const char *sql_skip(const char *z) {
  int bSkip = 1;
  while (*z) {
    int n = sql_token(z, &bSkip);
    if (!bSkip) break;
    z += n;
  }
  return z;
}

/* The next token at or after *pz that is not whitespace or a comment;
** *pz moves past it.  Returns its start (at the NUL when there is none). */
static const char *sql_next(const char **pz, int *pn) {
  int bSkip;
  const char *z = sql_skip(*pz);
  *pn = *z ? sql_token(z, &bSkip) : 0;
  *pz = z + *pn;
  return z;
}

/* Is token z[0, n) zWord, in any case, and (bName) also in quotes, as a
** name may be? */
static int sql_is(const char *z, int n, const char *zWord, int bName) {
  if (bName && n >= 2 && (z[0] == '"' || z[0] == '`' || z[0] == '[' || z[0] == '\'')) {
    z++;
    n -= 2; /* a name with a doubled quote inside is no name compared here */
  }
  return (int)strlen(zWord) == n && sqlite3_strnicmp(z, zWord, n) == 0;
}

int vg_tabledef_parse_sql(const char *zSql, VgTableDef **ppDef, char **pzErr) {
  *ppDef = 0;
  /* CREATE VIRTUAL TABLE [IF NOT EXISTS] [schema .] name USING module */
  const char *z = zSql, *t;
  int n;
  static const char *const azHead[] = {"create", "virtual", "table"};
  for (int i = 0; i < 3; i++) {
    t = sql_next(&z, &n);
    if (!sql_is(t, n, azHead[i], 0)) goto not_ours;
  }
  t = sql_next(&z, &n);
  if (sql_is(t, n, "if", 0)) {
    sql_next(&z, &n);
    sql_next(&z, &n);
    t = sql_next(&z, &n);
  }
  const char *zAfter = z;
  t = sql_next(&z, &n);
  if (n == 1 && t[0] == '.') {
    sql_next(&z, &n);
  } else {
    z = zAfter;
  }
  t = sql_next(&z, &n);
  if (!sql_is(t, n, "using", 0)) goto not_ours;
  t = sql_next(&z, &n);
  if (!sql_is(t, n, "vg_hnsw", 1)) goto not_ours;
  t = sql_next(&z, &n);
  if (n != 1 || t[0] != '(') {
    *pzErr = sqlite3_mprintf("vg_hnsw: no module arguments in: %s", zSql);
    return SQLITE_ERROR;
  }
  int nArg = 0, nAlloc = 8, rc = SQLITE_OK, depth = 0;
  char **azArg = sqlite3_malloc64(sizeof(char *) * (size_t)nAlloc);
  if (azArg == 0) return SQLITE_NOMEM;
  const char *zStart = 0, *zEnd = 0; /* the argument's first token, and the end of its last */
  for (;;) {
    t = sql_next(&z, &n);
    if (n == 0) break;
    int bClose = n == 1 && t[0] == ')' && depth == 0;
    if ((n == 1 && t[0] == ',' && depth == 0) || bClose) {
      if (zStart) {
        if (nArg == nAlloc) {
          char **a = sqlite3_realloc64(azArg, sizeof(char *) * (size_t)(nAlloc *= 2));
          if (a == 0) {
            rc = SQLITE_NOMEM;
            break;
          }
          azArg = a;
        }
        azArg[nArg] = sqlite3_mprintf("%.*s", (int)(zEnd - zStart), zStart);
        if (azArg[nArg++] == 0) {
          rc = SQLITE_NOMEM;
          break;
        }
      }
      zStart = 0;
      if (bClose) break;
      continue;
    }
    if (n == 1 && t[0] == '(') depth++;
    if (n == 1 && t[0] == ')') depth--;
    if (zStart == 0) zStart = t;
    zEnd = t + n;
  }
  if (rc == SQLITE_OK && n == 0) {
    *pzErr = sqlite3_mprintf("vg_hnsw: unbalanced module arguments in: %s", zSql);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) rc = vg_tabledef_parse(nArg, (const char *const *)azArg, ppDef, pzErr);
  for (int i = 0; i < nArg; i++) sqlite3_free(azArg[i]);
  sqlite3_free(azArg);
  return rc;

not_ours:
  *pzErr = sqlite3_mprintf("not a vg_hnsw table: %s", zSql);
  return *pzErr ? SQLITE_MISMATCH : SQLITE_NOMEM;
}
