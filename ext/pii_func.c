/*
** pii_func.c — the SQL face of PII detection:
**
**   vg_pii_detect(text [, options_json])  -> JSON array of findings
**       [{"type":..., "start":..., "end":..., "text":..., "score":...}, ...]
**       start and end are 0-based character offsets, end exclusive.
**
** options_json is an object with any of:
**   "types":     ["EMAIL_ADDRESS", ...]  report only these entity types
**   "min_score": 0.5                     drop findings scored below this
**   "language":  "en" | "es"             use the recognizers for that language
** Unknown keys, unknown types and values of the wrong kind are errors.
** NULL text gives NULL; text that is not TEXT, or not valid UTF-8, is an
** error.  Options given as a constant are parsed once per statement.
*/
#include <string.h>

#include "pii.h"

/* What a connection's PII functions share: the engine of the built-in
** recognizers, compiled on first use and freed with the connection (each
** registered function holds a reference). */
typedef struct PiiConn {
  int nRef;
  VgPiiEngine *pEngine;
} PiiConn;

static void pii_conn_unref(void *p) {
  PiiConn *c = p;
  if (--c->nRef > 0) return;
  vg_pii_engine_free(c->pEngine);
  sqlite3_free(c);
}

/* The connection's engine, or 0 with the error set. */
static VgPiiEngine *conn_engine(sqlite3_context *ctx, const char *zFunc) {
  PiiConn *c = sqlite3_user_data(ctx);
  if (c->pEngine) return c->pEngine;
  char *zErr = 0;
  int rc = vg_pii_engine_new(vg_pii_builtin, vg_pii_builtin_count, &c->pEngine, &zErr);
  if (rc == SQLITE_NOMEM) {
    sqlite3_result_error_nomem(ctx);
  } else if (rc != SQLITE_OK) {
    char *zMsg = sqlite3_mprintf("%s: %s", zFunc, zErr ? zErr : "cannot compile recognizers");
    sqlite3_result_error(ctx, zMsg ? zMsg : zFunc, -1);
    sqlite3_free(zMsg);
  }
  sqlite3_free(zErr);
  return c->pEngine;
}

/* Parsed options.  azType points at the built-in recognizers' names, each
** distinct type once, so it never holds more than there are recognizers. */
typedef struct ParsedOptions {
  VgPiiOptions opt;
  const char *azType[64];
} ParsedOptions;

static int known_type(const char *z) {
  for (int i = 0; i < vg_pii_builtin_count; i++) {
    if (strcmp(vg_pii_builtin[i].zEntity, z) == 0) return i;
  }
  return -1;
}

/* Add a type to the "types" list unless it is there already. */
static void add_type(ParsedOptions *p, const char *zEntity) {
  for (int i = 0; i < p->opt.nEntity; i++) {
    if (p->azType[i] == zEntity) return;
  }
  if (p->opt.nEntity < (int)(sizeof p->azType / sizeof p->azType[0])) {
    p->azType[p->opt.nEntity++] = zEntity;
  }
}

/* Read one option from json_each's row (key, value, type). */
static int option_set(ParsedOptions *p, sqlite3_stmt *pRow, const char *zFunc, char **pzErr) {
  const char *zKey = (const char *)sqlite3_column_text(pRow, 0);
  const char *zType = (const char *)sqlite3_column_text(pRow, 2);
  if (zKey == 0) zKey = "";
  if (strcmp(zKey, "min_score") == 0) {
    double d = sqlite3_column_double(pRow, 1);
    if ((strcmp(zType, "real") != 0 && strcmp(zType, "integer") != 0) || d < 0 || d > 1) {
      *pzErr = sqlite3_mprintf("%s: min_score must be a number from 0 to 1", zFunc);
      return SQLITE_ERROR;
    }
    p->opt.minScore = d;
  } else if (strcmp(zKey, "language") == 0) {
    const char *z = (const char *)sqlite3_column_text(pRow, 1);
    if (strcmp(zType, "text") == 0 && strcmp(z, "en") == 0) {
      p->opt.lang = VG_PII_LANG_EN;
    } else if (strcmp(zType, "text") == 0 && strcmp(z, "es") == 0) {
      p->opt.lang = VG_PII_LANG_ES;
    } else {
      *pzErr = sqlite3_mprintf("%s: language must be \"en\" or \"es\"", zFunc);
      return SQLITE_ERROR;
    }
  } else if (strcmp(zKey, "types") == 0) {
    if (strcmp(zType, "array") != 0) {
      *pzErr = sqlite3_mprintf("%s: types must be an array of entity type names", zFunc);
      return SQLITE_ERROR;
    }
    p->opt.azEntity = p->azType; /* filled from the array's elements by the caller */
  } else {
    *pzErr = sqlite3_mprintf("%s: unknown option \"%s\" (options: types, min_score, language)",
                             zFunc, zKey);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

/* Parse options_json with json_each (and json_each over "types"). */
static int options_parse(sqlite3 *db, const char *zJson, const char *zFunc, ParsedOptions **pp,
                         char **pzErr) {
  ParsedOptions *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT key, value, type, json_type(?1) FROM json_each(?1) "
                              "UNION ALL SELECT '#type', value, type, NULL FROM "
                              "json_each(?1, '$.types') WHERE json_type(?1, '$.types') = 'array'",
                              -1, &pStmt, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zJson, -1, SQLITE_STATIC);
    while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) {
      const char *zKey = (const char *)sqlite3_column_text(pStmt, 0);
      const char *zTop = (const char *)sqlite3_column_text(pStmt, 3);
      if (zKey && strcmp(zKey, "#type") == 0) {
        const char *zName = (const char *)sqlite3_column_text(pStmt, 1);
        int i = zName && strcmp((const char *)sqlite3_column_text(pStmt, 2), "text") == 0
                    ? known_type(zName)
                    : -1;
        if (i < 0) {
          *pzErr = sqlite3_mprintf("%s: unknown entity type %s in types", zFunc,
                                   zName ? zName : "(not text)");
          rc = SQLITE_ERROR;
        } else {
          add_type(p, vg_pii_builtin[i].zEntity);
        }
      } else if (zTop && strcmp(zTop, "object") != 0) {
        *pzErr = sqlite3_mprintf("%s: options must be a JSON object", zFunc);
        rc = SQLITE_ERROR;
      } else {
        rc = option_set(p, pStmt, zFunc, pzErr);
      }
    }
    int rcStep = sqlite3_finalize(pStmt);
    if (rc == SQLITE_OK && rcStep != SQLITE_OK) {
      *pzErr = sqlite3_mprintf("%s: options are not valid JSON", zFunc);
      rc = SQLITE_ERROR;
    }
  }
  if (rc != SQLITE_OK) {
    sqlite3_free(p);
    return rc;
  }
  *pp = p;
  return SQLITE_OK;
}

/* Append s (n bytes) as a JSON string. */
static void json_append_string(sqlite3_str *out, const char *s, int n) {
  sqlite3_str_appendchar(out, 1, '"');
  for (int i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      sqlite3_str_appendchar(out, 1, '\\');
      sqlite3_str_appendchar(out, 1, (char)c);
    } else if (c < 0x20) {
      sqlite3_str_appendf(out, "\\u%04x", c);
    } else {
      sqlite3_str_appendchar(out, 1, (char)c);
    }
  }
  sqlite3_str_appendchar(out, 1, '"');
}

/* The text argument: NULL (returns 1, result NULL), an error (returns 1),
** or valid UTF-8 text in *pz, *pn (returns 0). */
static int text_arg(sqlite3_context *ctx, sqlite3_value *v, const char *zFunc, const char **pz,
                    int *pn) {
  static const char *const azType[] = {"", "an integer", "a real", "text", "a blob", "NULL"};
  int t = sqlite3_value_type(v);
  if (t == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return 1;
  }
  if (t != SQLITE_TEXT) {
    char *zMsg = sqlite3_mprintf("%s: the text must be TEXT; got %s", zFunc, azType[t]);
    sqlite3_result_error(ctx, zMsg ? zMsg : zFunc, -1);
    sqlite3_free(zMsg);
    return 1;
  }
  *pz = (const char *)sqlite3_value_text(v);
  *pn = sqlite3_value_bytes(v);
  int iBad = 0;
  if (*pz == 0) {
    sqlite3_result_error_nomem(ctx);
    return 1;
  }
  if (!vg_utf8_valid(*pz, *pn, &iBad)) {
    char *zMsg = sqlite3_mprintf("%s: the text is not valid UTF-8 (byte %d)", zFunc, iBad);
    sqlite3_result_error(ctx, zMsg ? zMsg : zFunc, -1);
    sqlite3_free(zMsg);
    return 1;
  }
  return 0;
}

/* Options from argument iArg (cached for constant arguments); 0 with the
** error set on failure, or a pointer to defaults when absent or NULL. */
static const VgPiiOptions *options_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv,
                                       int iArg, const char *zFunc) {
  static const VgPiiOptions defaults = {0, 0, 0.0, 0};
  if (argc <= iArg || sqlite3_value_type(argv[iArg]) == SQLITE_NULL) return &defaults;
  ParsedOptions *p = sqlite3_get_auxdata(ctx, iArg);
  if (p) return &p->opt;
  char *zErr = 0;
  int rc = options_parse(sqlite3_context_db_handle(ctx), (const char *)sqlite3_value_text(argv[iArg]),
                         zFunc, &p, &zErr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_NOMEM) {
      sqlite3_result_error_nomem(ctx);
    } else {
      sqlite3_result_error(ctx, zErr ? zErr : zFunc, -1);
    }
    sqlite3_free(zErr);
    return 0;
  }
  sqlite3_set_auxdata(ctx, iArg, p, sqlite3_free);
  /* set_auxdata may free p at once (a non-constant argument): read it again. */
  ParsedOptions *pKept = sqlite3_get_auxdata(ctx, iArg);
  if (pKept) return &pKept->opt;
  return 0; /* out of memory, reported by SQLite */
}

static void fn_pii_detect(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *z;
  int n;
  if (text_arg(ctx, argv[0], "vg_pii_detect", &z, &n)) return;
  const VgPiiOptions *o = options_arg(ctx, argc, argv, 1, "vg_pii_detect");
  if (o == 0) return;
  VgPiiEngine *e = conn_engine(ctx, "vg_pii_detect");
  if (e == 0) return;
  VgPiiFindings f = {0, 0, 0};
  char *zErr = 0;
  int rc = vg_pii_scan(e, z, n, o, &f, &zErr);
  if (rc != SQLITE_OK) {
    if (rc == SQLITE_NOMEM) {
      sqlite3_result_error_nomem(ctx);
    } else {
      char *zMsg = sqlite3_mprintf("vg_pii_detect: %s", zErr ? zErr : "the scan failed");
      sqlite3_result_error(ctx, zMsg ? zMsg : "vg_pii_detect: the scan failed", -1);
      sqlite3_free(zMsg);
    }
    sqlite3_free(zErr);
    vg_pii_findings_free(&f);
    return;
  }
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendchar(out, 1, '[');
  for (int i = 0; i < f.n; i++) {
    const VgPiiFinding *x = &f.a[i];
    sqlite3_str_appendf(out, "%s{\"type\":\"%s\",\"start\":%d,\"end\":%d,\"text\":", i ? "," : "",
                        x->zEntity, x->cStart, x->cEnd);
    json_append_string(out, z + x->iStart, x->iEnd - x->iStart);
    sqlite3_str_appendf(out, ",\"score\":%.2f}", x->score);
  }
  sqlite3_str_appendchar(out, 1, ']');
  vg_pii_findings_free(&f);
  if (sqlite3_str_errcode(out) != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    sqlite3_result_error_nomem(ctx);
    return;
  }
  int nOut = sqlite3_str_length(out);
  sqlite3_result_text(ctx, sqlite3_str_finish(out), nOut, sqlite3_free);
}

int vg_register_pii_functions(sqlite3 *db) {
  static const struct {
    const char *zName;
    int nArg;
    void (*xFunc)(sqlite3_context *, int, sqlite3_value **);
  } aFunc[] = {{"vg_pii_detect", 1, fn_pii_detect}, {"vg_pii_detect", 2, fn_pii_detect}};
  PiiConn *c = sqlite3_malloc64(sizeof(*c));
  if (c == 0) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  c->nRef = 1; /* held here until every function is registered */
  int flags = SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, rc = SQLITE_OK;
  for (size_t i = 0; i < sizeof aFunc / sizeof aFunc[0] && rc == SQLITE_OK; i++) {
    c->nRef++;
    rc = sqlite3_create_function_v2(db, aFunc[i].zName, aFunc[i].nArg, flags, c, aFunc[i].xFunc,
                                    0, 0, pii_conn_unref);
    /* On failure SQLite has already called the destructor once. */
  }
  pii_conn_unref(c);
  return rc;
}
