/*
** test_text_args.c — one rule for every text argument (base.h,
** vg_text_value): a name, identifier or option that holds a NUL byte is
** refused, naming the argument; JSON may not hold one raw or as \u0000;
** free text keeps every byte after a NUL.
**
** The test feeds a NUL-bearing value to each text parameter of every SQL
** function and table-valued function, and first checks that its list
** covers every function and module the extension registers (from
** pragma_function_list and pragma_module_list), so a new function without
** an entry here fails.
*/
#include "testdb.h"

#include <stdio.h>
#include <string.h>

/* How a parameter must treat a NUL byte. */
enum {
  NAME,   /* refused: "<func>: NUL byte in <arg>" */
  JSON,   /* refused raw and as \u0000 */
  VECTOR, /* refused as malformed JSON, never read as the part before it */
  BODY,   /* kept: zCheck, with the value in it, must give 1 */
  NONE    /* the function takes no text: it is listed so the check of
          ** coverage knows it was thought of */
};

typedef struct TextParam {
  const char *zFunc;
  int nArg;
  int kind;
  const char *zArg; /* the argument's name in messages */
  const char *zSql; /* a call, %s where the value goes (BODY: a check giving 1) */
  const char *zValue; /* a value that works, '|' where the NUL goes */
} TextParam;

static const TextParam aParam[] = {
    /* vector functions */
    {"vg_vector", 1, VECTOR, 0, "SELECT vg_vector(%s)", "[1,2]|"},
    {"vg_vector_json", 1, VECTOR, 0, "SELECT vg_vector_json(%s)", "[1,2]|"},
    {"vg_vector_json", 2, VECTOR, 0, "SELECT vg_vector_json(%s, 'int8')", "[1,2]|"},
    {"vg_vector_json", 2, NAME, "the type", "SELECT vg_vector_json('[1,2]', %s)", "int8|x"},
    {"vg_dims", 1, VECTOR, 0, "SELECT vg_dims(%s)", "[1,2]|,3]"},
    {"vg_normalize", 1, VECTOR, 0, "SELECT vg_normalize(%s)", "[1,2]|"},
    {"vg_distance", 2, VECTOR, 0, "SELECT vg_distance(%s, '[1,2]')", "[1,2]|"},
    {"vg_distance", 3, VECTOR, 0, "SELECT vg_distance('[1,2]', %s, 'l2')", "[1,2]|"},
    {"vg_distance", 3, NAME, "the metric", "SELECT vg_distance('[1,2]', '[2,1]', %s)", "cosine|x"},
    {"vg_version", 0, NONE, 0, 0, 0},
    /* embedders and chunks */
    {"vg_embed", 1, BODY, 0, "SELECT vg_embed(%s) <> vg_embed('fever') AND vg_embed(%s) <> vg_embed('fever cough')",
     "fever|cough"},
    {"vg_embed", 2, NAME, "the model", "SELECT vg_embed('fever', %s)", "hash:16|junk"},
    {"vg_embed", 2, BODY, 0, "SELECT vg_embed(%s, 'hash:16') <> vg_embed('fever', 'hash:16')", "fever|cough"},
    {"vg_model_load", 2, NAME, "the name", "SELECT vg_model_load(%s, '/nonexistent')", "minilm|junk"},
    {"vg_model_load", 2, NAME, "the spec", "SELECT vg_model_load('m', %s)", "/nonexistent|/junk"},
    {"vg_models", 0, NONE, 0, 0, 0},
    /* (its text is checked by tests/reference/test_bert_forward.py, which
    ** has a model to load) */
    {"vg_tokenize", 2, NAME, "the model", "SELECT vg_tokenize('x', %s)", "minilm|junk"},
    {"vg_chunk", 3, BODY, 0,
     "SELECT group_concat(start || '-' || \"end\" || ':' || hex(text), ' ') = '0-7:6F6E650074776F 8-13:7468726565'"
     " FROM vg_chunk(%s, 1, 0)",
     "one|two three"},
    /* the index */
    {"vg_hnsw_check", 1, NAME, "the table", "SELECT vg_hnsw_check(%s)", "notes|junk"},
    {"vg_fulltext_terms", 1, BODY, 0, "SELECT vg_fulltext_terms(%s) = '[\"fever\",\"cough\"]'", "fever|cough"},
    {"vg_hnsw", 0, NAME, "the partition key tenant_id",
     "INSERT INTO notes(embedding, tenant_id) VALUES (vg_embed('x', 'hash:16'), %s)", "acme|evil"},
    /* PII */
    {"vg_pii_detect", 1, BODY, 0,
     "SELECT vg_pii_detect(%s) = '[{\"type\":\"EMAIL_ADDRESS\",\"start\":6,\"end\":21,\"text\":\"bob@example.com\","
     "\"score\":1.00}]'",
     "mail| bob@example.com"},
    {"vg_pii_detect", 2, JSON, "the options", "SELECT vg_pii_detect('x', %s)", "{\"types\": [\"EMAIL_ADDRESS|\"]}"},
    {"vg_pii_check", 1, BODY, 0,
     "SELECT json_extract(vg_pii_check(%s), '$.findings_by_type.EMAIL_ADDRESS') = 1", "mail| bob@example.com"},
    {"vg_pii_check", 2, JSON, "the options", "SELECT vg_pii_check('x', %s)", "{\"block\": [\"EMAIL_ADDRESS|\"]}"},
    {"vg_pii_redact", 1, BODY, 0, "SELECT hex(vg_pii_redact(%s)) = hex('mail' || char(0) || ' <EMAIL_ADDRESS>')",
     "mail| bob@example.com"},
    {"vg_pii_redact", 2, JSON, "the options", "SELECT vg_pii_redact('x', %s)",
     "{\"operator\": {\"operator\": \"replace\", \"new_value\": \"gone|\"}}"},
    {"vg_pii_hash", 1, BODY, 0, "SELECT vg_pii_hash(%s) = vg_pii_hash(x'6100620063')", "a|b|c"},
    {"vg_pii_hash", 2, NAME, "the key name", "SELECT vg_pii_hash('x', %s)", "default|x"},
    {"vg_pii_set_key", 1, NAME, "the key name", "SELECT vg_pii_set_key(%s)", "default|x"},
    {"vg_pii_decrypt", 1, BODY, 0,
     "SELECT hex(vg_pii_decrypt(vg_pii_redact(%s, '{\"operator\": \"encrypt\"}'))) = hex(%s)",
     "x| bob@example.com"},
    {"vg_pii_decrypt", 2, NAME, "the key name", "SELECT vg_pii_decrypt('x', %s)", "default|x"},
    {"vg_pii_init", 0, NONE, 0, 0, 0},
    {"vg_pii_validate_recognizer", 4, NAME, "the name", "SELECT vg_pii_validate_recognizer(%s, 'EMP_ID', 'E\\d+', 0.5)",
     "emp|x"},
    {"vg_pii_validate_recognizer", 4, NAME, "the entity type",
     "SELECT vg_pii_validate_recognizer('emp', %s, 'E\\d+', 0.5)", "EMP_ID|X"},
    {"vg_pii_validate_recognizer", 4, NAME, "the pattern",
     "SELECT vg_pii_validate_recognizer('emp', 'EMP_ID', %s, 0.5)", "E\\d+|("},
    {"vg_pii_deny_pattern", 1, JSON, "the words", "SELECT vg_pii_deny_pattern(%s)", "[\"acme|corp\"]"},
    {"vg_pii_scan", 1, BODY, 0, "SELECT group_concat(type || ':' || start) = 'EMAIL_ADDRESS:6' FROM vg_pii_scan(%s)",
     "mail| bob@example.com"},
    {"vg_pii_scan", 2, JSON, "the options", "SELECT * FROM vg_pii_scan('x', %s)", "{\"types\": [\"URL|\"]}"},
    /* the queue */
    {"vg_queue_init", 0, NONE, 0, 0, 0},
    {"vg_queue_clock", 0, NONE, 0, 0, 0},
    {"vg_queue_clock", 1, NONE, 0, 0, 0},
    {"vg_enqueue", 5, NAME, "the target table", "SELECT vg_enqueue(%s, 'acme', 'note', 'n9', 'text')", "notes|junk"},
    {"vg_enqueue", 5, NAME, "tenant_id", "SELECT vg_enqueue('notes', %s, 'note', 'n9', 'text')", "acme|evil"},
    {"vg_enqueue", 5, NAME, "content_type", "SELECT vg_enqueue('notes', 'acme', %s, 'n9', 'text')", "note|x"},
    {"vg_enqueue", 5, NAME, "content_id", "SELECT vg_enqueue('notes', 'acme', 'note', %s, 'text')", "n1|x"},
    {"vg_enqueue", 5, BODY, 0,
     "SELECT vg_enqueue('notes', 'acme', 'note', 'n9', %s) > 0 AND (SELECT hex(content) FROM vg_queue_items"
     " WHERE content_id = 'n9') = hex(%s)",
     "before|after"},
    {"vg_enqueue", 6, JSON, "metadata", "SELECT vg_enqueue('notes', 'acme', 'note', 'n9', 'text', %s)",
     "{\"lang\": \"en|\"}"},
    {"vg_enqueue", 7, NAME, "the priority", "SELECT vg_enqueue('notes', 'acme', 'note', 'n9', 'text', NULL, %s)",
     "high|x"},
    {"vg_ingest", 5, NAME, "the target table", "SELECT vg_ingest(%s, 'acme', 'note', 'n9', 'text')", "notes|junk"},
    {"vg_ingest", 5, NAME, "tenant_id", "SELECT vg_ingest('notes', %s, 'note', 'n9', 'text')", "acme|evil"},
    {"vg_ingest", 5, NAME, "content_type", "SELECT vg_ingest('notes', 'acme', %s, 'n9', 'text')", "note|x"},
    {"vg_ingest", 5, NAME, "content_id", "SELECT vg_ingest('notes', 'acme', 'note', %s, 'text')", "n1|x"},
    {"vg_ingest", 5, BODY, 0,
     "SELECT vg_ingest('notes', 'acme', 'note', 'n8', %s) > 0 AND (SELECT hex(content) FROM vg_queue_items"
     " WHERE content_id = 'n8') = hex(%s)",
     "before|after"},
    {"vg_ingest", 6, JSON, "metadata", "SELECT vg_ingest('notes', 'acme', 'note', 'n9', 'text', %s)",
     "{\"lang\": \"en|\"}"},
    {"vg_ingest", 7, NAME, "the priority", "SELECT vg_ingest('notes', 'acme', 'note', 'n9', 'text', NULL, %s)",
     "high|x"},
    {"vg_queue_claim", 2, NAME, "worker_id", "SELECT vg_queue_claim(%s, 1)", "w1|x"},
    {"vg_queue_claim", 3, NAME, "worker_id", "SELECT vg_queue_claim(%s, 1, 60)", "w1|x"},
    {"vg_queue_complete", 2, VECTOR, 0, "SELECT vg_queue_complete(2, %s)", "[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16]|"},
    {"vg_queue_complete", 3, NAME, "worker_id", "SELECT vg_queue_complete(1, vg_embed('x', 'hash:16'), %s)", "w1|x"},
    {"vg_queue_fail", 2, NAME, "the error", "SELECT vg_queue_fail(1, %s)", "timeout|x"},
    {"vg_queue_fail", 3, NAME, "worker_id", "SELECT vg_queue_fail(1, 'timeout', %s)", "w1|x"},
    {"vg_queue_release", 1, NAME, "worker_id", "SELECT vg_queue_release(%s)", "w1|x"},
    {"vg_queue_stats", 0, NONE, 0, 0, 0},
    {"vg_queue_stats", 1, NAME, "tenant_id", "SELECT vg_queue_stats(%s)", "acme|evil"},
    {"vg_queue_run", 1, NONE, 0, 0, 0},
    {"vg_queue_run", 2, NAME, "worker_id", "SELECT vg_queue_run(1, %s)", "w1|x"},
    {"vg_queue_run", 3, JSON, "the options", "SELECT vg_queue_run(1, NULL, %s)", "{\"batch\": 5|\"}"},
    /* the pipeline */
    {"vg_configure", 1, NAME, "the table", "SELECT vg_configure(%s)", "notes|junk"},
    {"vg_configure", 2, JSON, "the settings", "SELECT vg_configure('notes', %s)", "{\"model\": \"hash:16|\"}"},
    {"vg_watch", 3, NAME, "the source table", "SELECT vg_watch(%s, 'notes', '{\"text\": \"body\"}')", "visits|x"},
    {"vg_watch", 3, NAME, "the target table", "SELECT vg_watch('visits', %s, '{\"text\": \"body\"}')", "notes|x"},
    {"vg_watch", 3, JSON, "the options", "SELECT vg_watch('visits', 'notes', %s)", "{\"text\": \"body|\"}"},
    {"vg_unwatch", 1, NAME, "the source table", "SELECT vg_unwatch(%s)", "visits|x"},
    {"vg_watch_drain", 0, NONE, 0, 0, 0},
    {"vg_search", 4, NAME, "the table", "SELECT * FROM vg_search(%s, 'acme', 'fever', 5)", "notes|junk"},
    {"vg_search", 4, NAME, "tenant_id", "SELECT * FROM vg_search('notes', %s, 'fever', 5)", "acme|evil"},
    {"vg_search", 4, BODY, 0,
     "SELECT group_concat(target_rowid) = (SELECT group_concat(target_rowid) FROM vg_search('notes', 'acme',"
     " 'fever' || char(0) || 'cough', 5)) AND count(*) > 0 FROM vg_search('notes', 'acme', %s, 5)",
     "fever|cough"},
    {"vg_search", 5, JSON, "the filters", "SELECT * FROM vg_search('notes', 'acme', 'fever', 5, %s)",
     "{\"content_type\": \"note|\"}"},
    {"vg_search", 6, JSON, "the options", "SELECT * FROM vg_search('notes', 'acme', 'fever', 5, NULL, %s)",
     "{\"mode\": \"vector|\"}"},
};

#define N_PARAM (int)(sizeof aParam / sizeof aParam[0])

/* The value as an SQL expression: '|' becomes a NUL byte (char(0)), or the
** JSON escape \u0000 when bEscape. */
static char *value_sql(const char *zValue, int bEscape) {
  sqlite3_str *s = sqlite3_str_new(0);
  sqlite3_str_appendchar(s, 1, '\'');
  for (const char *p = zValue; *p; p++) {
    if (*p == '|') {
      sqlite3_str_appendall(s, bEscape ? "\\u0000" : "' || char(0) || '");
    } else if (*p == '\'') {
      sqlite3_str_appendall(s, "''");
    } else {
      sqlite3_str_appendchar(s, 1, *p);
    }
  }
  sqlite3_str_appendchar(s, 1, '\'');
  return sqlite3_str_finish(s);
}

/* The value without its NUL: what a C-string reader would have taken. */
static char *value_cut_sql(const char *zValue) {
  char *zCut = sqlite3_mprintf("%.*s", (int)(strchr(zValue, '|') - zValue), zValue);
  char *zSql = sqlite3_mprintf("'%q'", zCut);
  sqlite3_free(zCut);
  return zSql;
}

/* Whom the error names: the function, or the table whose write it checks. */
static const char *who(const TextParam *t) {
  if (strcmp(t->zFunc, "vg_hnsw") == 0) return "notes";
  if (strcmp(t->zFunc, "vg_pii_validate_recognizer") == 0) return "vg_pii_recognizers";
  return t->zFunc;
}

static sqlite3 *setup(void) {
  sqlite3 *db = tdb_open_notes();
  tdb_exec(db,
           "SELECT vg_queue_clock(1000);"
           "CREATE TABLE visits(id INTEGER PRIMARY KEY, tenant TEXT, body TEXT);"
           "SELECT vg_ingest('notes', 'acme', 'note', 'n1', 'fever and cough');"
           "SELECT vg_queue_run(10);"
           "SELECT vg_enqueue('notes', 'acme', 'note', 'n2', 'headache');"
           "SELECT vg_queue_claim('w1', 1);");
  return db;
}

/* Every registered vg_ function (name and argument count) and module has an
** entry. */
static void test_every_function_listed(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  sqlite3_stmt *p = tdb_prepare(db,
                                "SELECT name, narg FROM pragma_function_list WHERE name LIKE 'vg\\_%%' ESCAPE '\\'"
                                " UNION SELECT name, 0 FROM pragma_module_list WHERE name LIKE 'vg\\_%%' ESCAPE '\\'");
  int nSeen = 0;
  while (sqlite3_step(p) == SQLITE_ROW) {
    const char *zName = (const char *)sqlite3_column_text(p, 0);
    int nArg = sqlite3_column_int(p, 1), bFound = 0;
    for (int i = 0; i < N_PARAM && !bFound; i++) {
      /* Modules are listed with any count: their parameters are columns. */
      int bModule = strcmp(zName, "vg_hnsw") == 0 || strcmp(zName, "vg_chunk") == 0 ||
                    strcmp(zName, "vg_search") == 0 || strcmp(zName, "vg_pii_scan") == 0;
      bFound = strcmp(aParam[i].zFunc, zName) == 0 && (bModule || aParam[i].nArg == nArg);
    }
    if (!bFound) fail_msg("%s with %d arguments has no entry in aParam", zName, nArg);
    nSeen++;
  }
  sqlite3_finalize(p);
  assert_true(nSeen >= 50);
  tdb_close(db);
}

static void test_nul_in_every_text_argument(void **state) {
  (void)state;
  for (int i = 0; i < N_PARAM; i++) {
    const TextParam *t = &aParam[i];
    if (t->kind == NONE) continue;
    /* A fresh database each time: an accepted call changes nothing for the
    ** next. */
    sqlite3 *db = setup();
    char *zVal = value_sql(t->zValue, 0);
    sqlite3_int64 nQueued = tdb_int(db, "SELECT count(*) FROM vg_queue");
    sqlite3_int64 nRows = tdb_int(db, "SELECT count(*) FROM notes");
    if (t->kind == BODY) {
      tdb_expect_text(db, "1", t->zSql, zVal, zVal);
    } else if (t->kind == VECTOR) {
      tdb_expect_error(db, "malformed JSON vector", t->zSql, zVal);
    } else {
      const char *zWho = who(t);
      char *zNeedle = sqlite3_mprintf("%s: NUL byte in %s (at byte %d)", zWho, t->zArg,
                                      (int)(strchr(t->zValue, '|') - t->zValue));
      tdb_expect_error(db, zNeedle, t->zSql, zVal);
      sqlite3_free(zNeedle);
      if (t->kind == JSON) {
        char *zEsc = value_sql(t->zValue, 1);
        zNeedle = sqlite3_mprintf("%s: \\u0000 in %s (at byte", zWho, t->zArg);
        tdb_expect_error(db, zNeedle, t->zSql, zEsc);
        sqlite3_free(zNeedle);
        sqlite3_free(zEsc);
      }
      /* Refused means nothing written. */
      assert_int_equal(tdb_int(db, "SELECT count(*) FROM vg_queue"), nQueued);
      assert_int_equal(tdb_int(db, "SELECT count(*) FROM notes"), nRows);
    }
    sqlite3_free(zVal);
    tdb_close(db);
  }
}

/* The names refused above are not quietly the names before their NUL: the
** part before it works (so the refusal is the NUL's). */
static void test_part_before_nul_works(void **state) {
  (void)state;
  for (int i = 0; i < N_PARAM; i++) {
    const TextParam *t = &aParam[i];
    if (t->kind != NAME || strstr(t->zValue, "|(") || strcmp(t->zFunc, "vg_hnsw_check") == 0) continue;
    if (strcmp(t->zFunc, "vg_pii_set_key") == 0 || strcmp(t->zFunc, "vg_pii_hash") == 0 ||
        strcmp(t->zFunc, "vg_pii_decrypt") == 0 || strcmp(t->zFunc, "vg_unwatch") == 0) {
      continue; /* need a key row or a watch first: covered by their own tests */
    }
    sqlite3 *db = setup();
    char *zCut = value_cut_sql(t->zValue);
    char *zSql = sqlite3_mprintf(t->zSql, zCut);
    char *zErr = 0;
    int rc = sqlite3_exec(db, zSql, 0, 0, &zErr);
    /* Some calls fail later for reasons of their own (a worker that holds
    ** nothing): never for a NUL. */
    if (rc != SQLITE_OK && zErr && strstr(zErr, "NUL")) fail_msg("%s -> %s", zSql, zErr);
    sqlite3_free(zErr);
    sqlite3_free(zSql);
    sqlite3_free(zCut);
    tdb_close(db);
  }
}

/* The reproducer: a tenant with a NUL read and wrote tenant
** 'victim'. */
static void test_nul_tenant_reaches_no_one(void **state) {
  (void)state;
  sqlite3 *db = setup();
  tdb_exec(db, "INSERT INTO notes(rowid, embedding, tenant_id, content) VALUES"
               " (100, vg_embed('victim fever', 'hash:16'), 'victim', 'victim secret')");
  tdb_expect_error(db, "vg_search: NUL byte in tenant_id",
                   "SELECT content FROM vg_search('notes', 'victim' || char(0) || 'evil', 'fever', 5)");
  tdb_expect_error(db, "vg_ingest: NUL byte in tenant_id",
                   "SELECT vg_ingest('notes', 'victim' || char(0) || 'evil', 'note', 'e1', 'injected fever')");
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM notes WHERE tenant_id = 'victim' AND rowid <> 100");
  /* The table refuses the tenant too, and a query for it finds nothing. */
  tdb_expect_error(db, "notes: NUL byte in the partition key tenant_id (at byte 6)",
                   "INSERT INTO notes(embedding, tenant_id) VALUES (vg_embed('x', 'hash:16'), 'victim' || char(0) || 'x')");
  tdb_expect_text(db, "0",
                  "SELECT count(*) FROM notes WHERE embedding MATCH vg_embed('fever', 'hash:16') AND k = 5"
                  " AND tenant_id = 'victim' || char(0) || 'evil'");
  /* A content id with a NUL does not replace item n1. */
  tdb_expect_error(db, "vg_ingest: NUL byte in content_id",
                   "SELECT vg_ingest('notes', 'acme', 'note', 'n1' || char(0) || 'x', 'replaced')");
  tdb_expect_text(db, "done|1|fever and cough", "SELECT q.status || '|' || q.attempts || '|' || n.content FROM vg_queue AS q"
                                                " JOIN notes AS n ON n.content_id = q.content_id WHERE q.content_id = 'n1'");
  /* Text after a NUL reaches the table. */
  tdb_exec(db, "SELECT vg_ingest('notes', 'acme', 'note', 'n5', 'before' || char(0) || ' after words')");
  tdb_exec(db, "SELECT vg_queue_run(10)");
  tdb_expect_text(db, "6265666F72650020616674657220776F726473",
                  "SELECT hex(content) FROM notes WHERE content_id = 'n5'");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_function_listed),
      cmocka_unit_test(test_nul_in_every_text_argument),
      cmocka_unit_test(test_part_before_nul_works),
      cmocka_unit_test(test_nul_tenant_reaches_no_one),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
