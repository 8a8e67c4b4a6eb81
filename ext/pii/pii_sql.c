/*
** pii_sql.c — the PII module's SQL functions (docs/pii.md):
**
**   vg_pii_detect(text [, options])    findings as a JSON array
**   vg_pii_redact(text [, options])    the text with findings replaced
**   vg_pii_check(text [, policy])      compliance verdict as a JSON object
**   vg_pii_hash(value [, key])         keyed BLAKE2b-256, hex
**   vg_pii_set_key(key)                the connection's key (BLOB, name, NULL)
**   vg_pii_decrypt(text [, key])       reverses the encrypt operator
**   vg_pii_init()                      creates vg_pii_recognizers, _keys, _log
**   vg_pii_validate_recognizer(name, entity, pattern, score)
**                                      what vg_pii_recognizers' triggers call
**   vg_pii_deny_pattern(words_json)    a pattern matching any of the words
*/
#include "pii/pii.h"

#include <string.h>

/* The schema of the PII tables; sql/pii.sql holds the same statements. */
static const char zSchemaRecognizers[] =
    "CREATE TABLE IF NOT EXISTS vg_pii_recognizers(\n"
    "  name TEXT PRIMARY KEY,\n"
    "  entity TEXT NOT NULL,\n"
    "  pattern TEXT NOT NULL,\n"
    "  score REAL NOT NULL DEFAULT 0.8,\n"
    "  context TEXT,\n"
    "  enabled INTEGER NOT NULL DEFAULT 1\n"
    ");\n"
    "CREATE TRIGGER IF NOT EXISTS vg_pii_recognizers_insert BEFORE INSERT ON vg_pii_recognizers\n"
    "BEGIN SELECT vg_pii_validate_recognizer(NEW.name, NEW.entity, NEW.pattern, NEW.score); END;\n"
    "CREATE TRIGGER IF NOT EXISTS vg_pii_recognizers_update BEFORE UPDATE ON vg_pii_recognizers\n"
    "BEGIN SELECT vg_pii_validate_recognizer(NEW.name, NEW.entity, NEW.pattern, NEW.score); END;\n"
    "CREATE TABLE IF NOT EXISTS vg_pii_keys(\n"
    "  name TEXT PRIMARY KEY,\n"
    "  key BLOB NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32)\n"
    ");\n";

static const char zSchemaLog[] =
    "CREATE TABLE IF NOT EXISTS vg_pii_log(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  logged_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),\n"
    "  content_id ANY,\n"
    "  original_hash TEXT NOT NULL,\n"
    "  result_hash TEXT NOT NULL,\n"
    "  key_id TEXT NOT NULL,\n"
    "  findings TEXT NOT NULL,\n"
    "  operators TEXT NOT NULL,\n"
    "  compliance TEXT NOT NULL CHECK (compliance IN ('compliant', 'review', 'blocked'))\n"
    ");\n";

/* Engine, options and findings of text for one call; 0 on success, else
** the error has been set on the context. */
static int scan_text(sqlite3_context *ctx, int argc, sqlite3_value **argv, unsigned mask,
                     const char *zFunc, const char *z, int n, const PiiOptions **ppOpt,
                     VgPiiFindings *pF) {
  PiiConn *c = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char *zErr = 0;
  int rc = SQLITE_OK;
  VgPiiEngine *e = pii_conn_engine(c, db, &rc, &zErr);
  if (e == 0) {
    vg_result_error(ctx, rc, zFunc, zErr);
    sqlite3_free(zErr);
    return 1;
  }
  const PiiOptions *o = pii_options_arg(ctx, c, argc, argv, 1, mask, zFunc);
  if (o == 0) return 1;
  rc = pii_conn_scan(c, e, o, z, n, pF, &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, zFunc, zErr);
    sqlite3_free(zErr);
    vg_pii_findings_free(pF);
    return 1;
  }
  *ppOpt = o;
  return 0;
}

/* ---- vg_pii_detect ------------------------------------------------------ */

static void fn_pii_detect(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *z;
  int n;
  const PiiOptions *o;
  VgPiiFindings f = {0, 0, 0};
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return; /* NULL in, NULL out */
  if ((z = vg_text_arg(ctx, "vg_pii_detect", argv[0], "the text", VG_TEXT_BODY, &n)) == 0) return;
  if (scan_text(ctx, argc, argv, PII_OPT_SCAN, "vg_pii_detect", z, n, &o, &f)) return;
  sqlite3_str *out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  sqlite3_str_appendchar(out, 1, '[');
  for (int i = 0; i < f.n; i++) {
    const VgPiiFinding *x = &f.a[i];
    sqlite3_str_appendf(out, "%s{\"type\":\"%s\",\"start\":%d,\"end\":%d,\"text\":", i ? "," : "",
                        x->zEntity, x->cStart, x->cEnd);
    vg_str_append_json(out, z + x->iStart, x->iEnd - x->iStart);
    sqlite3_str_appendf(out, ",\"score\":%.2f}", x->score);
  }
  sqlite3_str_appendchar(out, 1, ']');
  vg_pii_findings_free(&f);
  vg_result_str(ctx, out);
}

/* ---- vg_pii_check ------------------------------------------------------- */

static void append_assessment(sqlite3_str *out, const VgPiiAssessment *a, const VgPiiPolicy *p) {
  sqlite3_str_appendf(out, "{\"compliant\":%s,\"risk\":\"%s\",\"findings_by_type\":{",
                      a->bCompliant ? "true" : "false", vg_pii_risk_name(a->risk));
  for (int i = 0; i < a->nType; i++) {
    sqlite3_str_appendf(out, "%s\"%s\":%d", i ? "," : "", a->a[i].zEntity, a->a[i].n);
  }
  sqlite3_str_appendf(out, "},\"requires_review\":%s,\"recommendations\":[",
                      a->bReview ? "true" : "false");
  int nRec = 0;
  for (int i = 0; i < a->nType; i++) {
    const VgPiiTypeCount *t = &a->a[i];
    if (t->status == VG_PII_BLOCK) {
      sqlite3_str_appendf(out,
                          "%s\"%s (%d found) is blocked by the policy: redact it with "
                          "vg_pii_redact before storing, embedding or logging the text\"",
                          nRec++ ? "," : "", t->zEntity, t->n);
    } else if (t->status == VG_PII_REVIEW) {
      sqlite3_str_appendf(out,
                          "%s\"%s (%d found) needs review: keep it only if needed, else "
                          "redact or pseudonymize it (operator hash)\"",
                          nRec++ ? "," : "", t->zEntity, t->n);
    }
  }
  if (a->bTooMany) {
    sqlite3_str_appendf(out, "%s\"%d findings exceed max_findings (%d): redact the text\"",
                        nRec ? "," : "", a->nCounted, p->maxFindings);
  }
  sqlite3_str_appendf(out, "]}");
}

static void fn_pii_check(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *z;
  int n;
  const PiiOptions *o;
  VgPiiFindings f = {0, 0, 0};
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return; /* NULL in, NULL out */
  if ((z = vg_text_arg(ctx, "vg_pii_check", argv[0], "the text", VG_TEXT_BODY, &n)) == 0) return;
  if (scan_text(ctx, argc, argv, PII_OPT_SCAN | PII_OPT_POLICY, "vg_pii_check", z, n, &o, &f)) {
    return;
  }
  VgPiiAssessment a;
  int rc = vg_pii_assess(&f, &o->policy, &a);
  vg_pii_findings_free(&f);
  if (rc != SQLITE_OK) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  sqlite3_str *out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  append_assessment(out, &a, &o->policy);
  vg_pii_assessment_free(&a);
  vg_result_str(ctx, out);
}

/* ---- vg_pii_redact ------------------------------------------------------ */

/* The audit row: hashes (never the text), types with counts, operators,
** and the verdict of the policy on the original text. */
static int write_audit(sqlite3 *db, const PiiOptions *o, const VgPiiKey *pKey, const char *z, int n,
                       const char *zOut, int nOut, const VgPiiFindings *f, char **pzErr) {
  /* Every finding counts in the log, whatever the policy's min_score. */
  VgPiiPolicy all = o->policy;
  all.minScore = 0;
  VgPiiAssessment a, verdict;
  int rc = vg_pii_assess(f, &all, &a);
  if (rc != SQLITE_OK) return rc;
  rc = vg_pii_assess(f, &o->policy, &verdict);
  if (rc != SQLITE_OK) {
    vg_pii_assessment_free(&a);
    return rc;
  }
  sqlite3_str *pTypes = sqlite3_str_new(db), *pOps = sqlite3_str_new(db);
  for (int i = 0; i < a.nType; i++) {
    const char *zEntity = a.a[i].zEntity;
    sqlite3_str_appendf(pTypes, "%s\"%s\":%d", i ? "," : "{", zEntity, a.a[i].n);
    sqlite3_str_appendf(pOps, "%s\"%s\":\"%s\"", i ? "," : "{", zEntity,
                        vg_pii_operator_name(vg_pii_operator_for(&o->ops, zEntity)->kind));
  }
  sqlite3_str_appendall(pTypes, a.nType ? "}" : "{}");
  sqlite3_str_appendall(pOps, a.nType ? "}" : "{}");
  char *zTypes = sqlite3_str_finish(pTypes), *zOps = sqlite3_str_finish(pOps);
  char zOrig[VG_PII_HASH_HEX + 1], zRes[VG_PII_HASH_HEX + 1];
  /* The original is hashed with the key (a short text could otherwise be
  ** guessed from its hash); the result holds no personal data, and its
  ** plain hash lets anyone check a stored copy against the log. */
  vg_pii_hash_hex(pKey, z, n, zOrig);
  vg_pii_hash_hex(0, zOut, nOut, zRes);
  sqlite3_stmt *pStmt = 0;
  rc = zTypes && zOps ? SQLITE_OK : SQLITE_NOMEM;
  if (rc == SQLITE_OK && !vg_has_table(db, "vg_pii_log", 0)) rc = sqlite3_exec(db, zSchemaLog, 0, 0, 0);
  if (rc == SQLITE_OK) {
    rc = sqlite3_prepare_v2(db,
                            "INSERT INTO main.vg_pii_log(content_id, original_hash, result_hash, "
                            "key_id, findings, operators, compliance) VALUES (?,?,?,?,?,?,?)",
                            -1, &pStmt, 0);
  }
  if (rc == SQLITE_OK) {
    if (o->pContentId) sqlite3_bind_value(pStmt, 1, o->pContentId);
    sqlite3_bind_text(pStmt, 2, zOrig, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 3, zRes, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 4, pKey->zId, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 5, zTypes, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 6, zOps, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 7, vg_pii_status_name(&verdict), -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
    rc = sqlite3_finalize(pStmt);
  }
  if (rc != SQLITE_OK && rc != SQLITE_NOMEM) {
    *pzErr = sqlite3_mprintf("cannot write the audit row to vg_pii_log: %s", sqlite3_errmsg(db));
  }
  sqlite3_free(zTypes);
  sqlite3_free(zOps);
  vg_pii_assessment_free(&a);
  vg_pii_assessment_free(&verdict);
  return rc;
}

static void fn_pii_redact(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *z;
  int n;
  const PiiOptions *o;
  VgPiiFindings f = {0, 0, 0};
  PiiConn *c = sqlite3_user_data(ctx);
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return; /* NULL in, NULL out */
  if ((z = vg_text_arg(ctx, "vg_pii_redact", argv[0], "the text", VG_TEXT_BODY, &n)) == 0) return;
  if (scan_text(ctx, argc, argv, PII_OPT_SCAN | PII_OPT_REDACT, "vg_pii_redact", z, n, &o, &f)) {
    return;
  }
  VgPiiKey key;
  memset(&key, 0, sizeof key);
  char *zErr = 0;
  int rc = SQLITE_OK, bKey = o->bAudit || o->zKeyName || vg_pii_operators_need_key(&o->ops, &f);
  if (bKey) {
    /* A key named in the options works as a name argument would. */
    rc = o->zKeyName ? pii_key_from_table(c, db, o->zKeyName, &key, &zErr)
                     : pii_conn_key(c, db, 0, &key, &zErr);
  }
  sqlite3_str *out = sqlite3_str_new(db);
  if (rc == SQLITE_OK) rc = vg_pii_redact_findings(z, n, &f, &o->ops, bKey ? &key : 0, out);
  if (rc == SQLITE_OK && o->bAudit) {
    rc = write_audit(db, o, &key, z, n, sqlite3_str_value(out), sqlite3_str_length(out), &f, &zErr);
  }
  vg_pii_key_wipe(&key);
  vg_pii_findings_free(&f);
  if (rc != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    vg_result_error(ctx, rc, "vg_pii_redact", zErr);
    sqlite3_free(zErr);
    return;
  }
  vg_result_str(ctx, out);
}

/* ---- keys: vg_pii_hash, vg_pii_set_key, vg_pii_decrypt ------------------ */

static int key_arg(sqlite3_context *ctx, int argc, sqlite3_value **argv, int iArg,
                   const char *zFunc, VgPiiKey *pKey) {
  char *zErr = 0;
  int rc = pii_conn_key(sqlite3_user_data(ctx), sqlite3_context_db_handle(ctx),
                        argc > iArg ? argv[iArg] : 0, pKey, &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, zFunc, zErr);
    sqlite3_free(zErr);
    return 1;
  }
  return 0;
}

static void fn_pii_hash(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  int t = sqlite3_value_type(argv[0]);
  if (t == SQLITE_NULL) {
    sqlite3_result_null(ctx);
    return;
  }
  if (t != SQLITE_TEXT && t != SQLITE_BLOB) {
    vg_result_error(ctx, SQLITE_ERROR, "vg_pii_hash", "the value must be text or a blob");
    return;
  }
  VgPiiKey key;
  if (key_arg(ctx, argc, argv, 1, "vg_pii_hash", &key)) return;
  const void *p = t == SQLITE_TEXT ? (const void *)sqlite3_value_text(argv[0])
                                   : sqlite3_value_blob(argv[0]);
  char zHex[VG_PII_HASH_HEX + 1];
  vg_pii_hash_hex(&key, p, sqlite3_value_bytes(argv[0]), zHex);
  vg_pii_key_wipe(&key);
  sqlite3_result_text(ctx, zHex, VG_PII_HASH_HEX, SQLITE_TRANSIENT);
}

/* Returns the key's id (safe to log), or NULL when the key is cleared. */
static void fn_pii_set_key(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  PiiConn *c = sqlite3_user_data(ctx);
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) {
    vg_pii_key_wipe(&c->key);
    c->bKey = 0;
    sqlite3_result_null(ctx);
    return;
  }
  VgPiiKey key;
  if (key_arg(ctx, 1, argv, 0, "vg_pii_set_key", &key)) return;
  c->key = key;
  c->bKey = 1;
  vg_pii_key_wipe(&key);
  sqlite3_result_text(ctx, c->key.zId, -1, SQLITE_TRANSIENT);
}

static void fn_pii_decrypt(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const char *z;
  int n;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return; /* NULL in, NULL out */
  if ((z = vg_text_arg(ctx, "vg_pii_decrypt", argv[0], "the text", VG_TEXT_BODY, &n)) == 0) return;
  VgPiiKey key;
  if (key_arg(ctx, argc, argv, 1, "vg_pii_decrypt", &key)) return;
  sqlite3_str *out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
  int iBad = 0;
  int rc = vg_pii_decrypt_text(&key, z, n, out, &iBad);
  vg_pii_key_wipe(&key);
  if (rc != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    char *zMsg = sqlite3_mprintf("the token at character %d does not decrypt with this key "
                                 "(another key, or the token was changed)",
                                 iBad);
    vg_result_error(ctx, zMsg ? rc : SQLITE_NOMEM, "vg_pii_decrypt", zMsg);
    sqlite3_free(zMsg);
    return;
  }
  vg_result_str(ctx, out);
}

/* ---- tables ------------------------------------------------------------- */

static void fn_pii_init(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  (void)argv;
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  char *zErr = 0;
  int rc = sqlite3_exec(db, zSchemaRecognizers, 0, 0, &zErr);
  if (rc == SQLITE_OK) rc = sqlite3_exec(db, zSchemaLog, 0, 0, &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, "vg_pii_init", zErr);
    sqlite3_free(zErr);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

static void fn_pii_validate_recognizer(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  static const char *const azName[] = {"the name", "the entity type", "the pattern"};
  const char *az[3] = {0, 0, 0};
  char *zErr = 0;
  int rc = SQLITE_OK;
  /* NULL and other types are pii_custom_check's to refuse, by name. */
  for (int i = 0; rc == SQLITE_OK && i < 3; i++) {
    if (sqlite3_value_type(argv[i]) == SQLITE_TEXT) rc = vg_text_value(argv[i], azName[i], VG_TEXT_NAME, &az[i], 0, &zErr);
  }
  if (rc == SQLITE_OK) rc = pii_custom_check(az[0], az[1], az[2], argv[3], &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, "vg_pii_recognizers", zErr);
    sqlite3_free(zErr);
    return;
  }
  sqlite3_result_int(ctx, 1);
}

/* (?i)(?<!\w)(?:\Qword\E|...)(?!\w): the words match literally, whole, in
** any case. */
static void fn_pii_deny_pattern(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_TEXT &&
      vg_text_arg(ctx, "vg_pii_deny_pattern", argv[0], "the words", VG_TEXT_JSON, 0) == 0) {
    return;
  }
  sqlite3 *db = sqlite3_context_db_handle(ctx);
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(db,
                              "SELECT value, type, json_type(?1) FROM json_each(?1)", -1, &pStmt, 0);
  sqlite3_str *out = sqlite3_str_new(db);
  sqlite3_str_appendall(out, "(?i)(?<!\\w)(?:");
  int nWord = 0;
  const char *zErr = 0;
  const char *zShape = "the words must be a JSON array of non-empty strings";
  if (rc == SQLITE_OK) {
    sqlite3_bind_value(pStmt, 1, argv[0]);
    while (sqlite3_step(pStmt) == SQLITE_ROW) {
      const char *zWord = (const char *)sqlite3_column_text(pStmt, 0);
      const char *zType = (const char *)sqlite3_column_text(pStmt, 1);
      const char *zKind = (const char *)sqlite3_column_text(pStmt, 2);
      if (zKind == 0 || strcmp(zKind, "array") != 0 || strcmp(zType, "text") != 0 ||
          zWord[0] == 0) {
        zErr = zShape;
        break;
      }
      sqlite3_str_appendall(out, nWord++ ? "|\\Q" : "\\Q");
      /* \E inside a word would end the quoting: quote it apart. */
      for (const char *p = zWord; *p; p++) {
        if (p[0] == '\\' && p[1] == 'E') {
          sqlite3_str_appendall(out, "\\E\\\\E\\Q");
          p++;
        } else {
          sqlite3_str_appendchar(out, 1, *p);
        }
      }
      sqlite3_str_appendall(out, "\\E");
    }
    rc = sqlite3_finalize(pStmt);
  }
  if (rc == SQLITE_ERROR && zErr == 0) zErr = zShape; /* not JSON */
  if (rc == SQLITE_OK && zErr == 0 && nWord == 0) zErr = "the word list is empty";
  if (zErr) rc = SQLITE_ERROR;
  if (rc != SQLITE_OK) {
    sqlite3_free(sqlite3_str_finish(out));
    vg_result_error(ctx, rc, "vg_pii_deny_pattern", zErr);
    return;
  }
  sqlite3_str_appendall(out, ")(?!\\w)");
  vg_result_str(ctx, out);
}

/* What ext/vecguard.c registers for this layer (pii.h), each function with
** the connection's PiiConn.  Functions that read the connection's
** recognizers or key are not deterministic: both can change between
** statements. */
#define INNOCUOUS (SQLITE_UTF8 | SQLITE_INNOCUOUS)
const VgFunction vg_pii_functions[] = {
    {"vg_pii_detect", 1, INNOCUOUS, fn_pii_detect},
    {"vg_pii_detect", 2, INNOCUOUS, fn_pii_detect},
    {"vg_pii_check", 1, INNOCUOUS, fn_pii_check},
    {"vg_pii_check", 2, INNOCUOUS, fn_pii_check},
    {"vg_pii_redact", 1, SQLITE_UTF8, fn_pii_redact},
    {"vg_pii_redact", 2, SQLITE_UTF8, fn_pii_redact},
    {"vg_pii_hash", 1, SQLITE_UTF8, fn_pii_hash},
    {"vg_pii_hash", 2, SQLITE_UTF8, fn_pii_hash},
    {"vg_pii_set_key", 1, VG_FUNC_DIRECT, fn_pii_set_key},
    {"vg_pii_decrypt", 1, VG_FUNC_DIRECT, fn_pii_decrypt},
    {"vg_pii_decrypt", 2, VG_FUNC_DIRECT, fn_pii_decrypt},
    {"vg_pii_init", 0, VG_FUNC_DIRECT, fn_pii_init},
    {"vg_pii_validate_recognizer", 4, VG_FUNC_PURE, fn_pii_validate_recognizer},
    {"vg_pii_deny_pattern", 1, VG_FUNC_PURE, fn_pii_deny_pattern},
    {0, 0, 0, 0},
};
