/*
** test_embedder_api.c — an embedder registered from C through the public
** API (include/vecguard.h) serves vg_embed, vg_configure, vg_queue_run and
** vg_search like the built-in one, and what it returns is checked: a
** family's bad description, a mismatched embedder or a NaN element is an
** error naming the model.  The toy family's vectors are hand-computable:
** [bytes, letters 'a', spaces, 1].
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "vecguard.h"

typedef struct Toy {
  vecguard_embedder base;
  char zName[64];
  int bNan;
  int bSilent; /* fails without a message */
} Toy;

static int nOpen; /* toy embedders open now */

static int toy_embed(vecguard_embedder *p, int nText, const char *const *azText, const int *anText, float *aOut,
                     char **pzErr) {
  (void)pzErr;
  if (((Toy *)p)->bSilent) return SQLITE_ERROR;
  for (int t = 0; t < nText; t++) {
    float *v = aOut + 4 * t;
    v[0] = (float)anText[t];
    v[1] = v[2] = 0;
    for (int i = 0; i < anText[t]; i++) {
      v[1] += azText[t][i] == 'a';
      v[2] += azText[t][i] == ' ';
    }
    v[3] = ((Toy *)p)->bNan ? NAN : 1.0f;
  }
  return SQLITE_OK;
}

static void toy_destroy(vecguard_embedder *p) {
  nOpen--;
  sqlite3_free(p);
}

static int toy_describe(void *pCtx, const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr) {
  assert_ptr_equal(pCtx, &nOpen);
  if (strcmp(zModel, "toy:unknown") == 0) {
    *pzErr = sqlite3_mprintf("no such toy");
    return SQLITE_ERROR;
  }
  *pnDims = strcmp(zModel, "toy:huge") == 0 ? 20000 : 4;
  *pnMaxTokens = 64;
  return SQLITE_OK;
}

static int toy_open(void *pCtx, const char *zModel, vecguard_embedder **ppOut, char **pzErr) {
  (void)pCtx;
  (void)pzErr;
  Toy *p = sqlite3_malloc(sizeof *p);
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof *p);
  /* "toy:renamed" names itself otherwise, which the caches would miss. */
  snprintf(p->zName, sizeof p->zName, "%s", strcmp(zModel, "toy:renamed") == 0 ? "toy" : zModel);
  p->base.zName = p->zName;
  p->base.nDims = strcmp(zModel, "toy:wrong-dims") == 0 ? 5 : 4;
  p->base.nMaxTokens = 64;
  p->base.xEmbed = toy_embed;
  p->base.xDestroy = toy_destroy;
  p->bNan = strcmp(zModel, "toy:nan") == 0;
  p->bSilent = strcmp(zModel, "toy:silent") == 0;
  nOpen++;
  *ppOut = &p->base;
  return SQLITE_OK;
}

static const vecguard_embedder_family toyFamily = {toy_describe, toy_open};

static sqlite3 *open_db(void) {
  sqlite3 *db = 0;
  char *zErr = 0;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  if (vecguard_init(db, &zErr) != SQLITE_OK) fail_msg("vecguard_init: %s", zErr);
  return db;
}

/* The first column of the first row as text, or "Error: <message>". */
static char *one(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *p = 0;
  char *z = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) return sqlite3_mprintf("Error: %s", sqlite3_errmsg(db));
  int rc = sqlite3_step(p);
  if (rc == SQLITE_ROW) {
    z = sqlite3_mprintf("%s", (const char *)sqlite3_column_text(p, 0));
  } else {
    z = sqlite3_mprintf("Error: %s", sqlite3_errmsg(db));
  }
  sqlite3_finalize(p);
  return z;
}

static void expect(sqlite3 *db, const char *zWant, const char *zSql) {
  char *z = one(db, zSql);
  if (strcmp(z, zWant) != 0) fail_msg("%s\n  gave: %s\n  want: %s", zSql, z, zWant);
  sqlite3_free(z);
}

static void expect_error(sqlite3 *db, const char *zNeedle, const char *zSql) {
  char *z = one(db, zSql);
  if (strncmp(z, "Error: ", 7) != 0 || strstr(z, zNeedle) == 0) fail_msg("%s\n  gave: %s\n  want an error with: %s", zSql, z, zNeedle);
  sqlite3_free(z);
}

static void test_vg_embed(void **state) {
  (void)state;
  assert_int_equal(vecguard_register_embedder("toy", &toyFamily, &nOpen), SQLITE_OK);
  sqlite3 *db = open_db();
  expect(db, "[8,4,1,1]", "SELECT vg_vector_json(vg_embed('a banana', 'toy'))");
  expect(db, "[3,0,1,1]", "SELECT vg_vector_json(vg_embed('x y', 'toy:any'))");
  expect_error(db, "model \"toy:nan\" gave element 3 of text 0 as NaN: an embedder's elements must be finite",
               "SELECT vg_embed('x', 'toy:nan')");
  expect_error(db, "model \"toy:wrong-dims\": its family opened an embedder that is not what it described",
               "SELECT vg_embed('x', 'toy:wrong-dims')");
  expect_error(db, "model \"toy:unknown\": no such toy", "SELECT vg_embed('x', 'toy:unknown')");
  expect_error(db, "model \"toy:silent\" failed: SQL logic error", "SELECT vg_embed('x', 'toy:silent')");
  expect_error(db, "model \"toy:renamed\": its family opened an embedder that is not what it described",
               "SELECT vg_embed('x', 'toy:renamed')");
  expect_error(db, "model \"toy:huge\": its family describes it with 20000 dimensions",
               "SELECT vg_embed('x', 'toy:huge')");
  expect_error(db, "model \"toys\" is not loaded on this connection: load it first with vg_model_load('toys', "
               "'/path/to/model-folder') (or a service's JSON spec); every connection has \"hash2\", \"hash\", "
               "\"hash2:DIM\", \"hash:DIM\", \"toy\"",
               "SELECT vg_embed('x', 'toys')");
  /* The built-in model is untouched. */
  expect(db, "16", "SELECT vg_dims(vg_embed('x', 'hash:16'))");
  sqlite3_close(db);
  assert_int_equal(nOpen, 0);
  assert_int_equal(vecguard_register_embedder("toy", 0, 0), SQLITE_OK);
}

static void test_pipeline(void **state) {
  (void)state;
  assert_int_equal(vecguard_register_embedder("toy", &toyFamily, &nOpen), SQLITE_OK);
  sqlite3 *db = open_db();
  assert_int_equal(sqlite3_exec(db,
                                "CREATE VIRTUAL TABLE t USING vg_hnsw(embedding float[4], tenant_id text partition key,"
                                " content_type text, content_id text, chunk_index integer, +content text);"
                                "SELECT vg_pii_set_key(zeroblob(32));",
                                0, 0, 0),
                   SQLITE_OK);
  expect_error(db, "model \"toy:huge\"", "SELECT vg_configure('t', '{\"model\": \"toy:huge\"}')");
  expect(db, "1", "SELECT vg_configure('t', '{\"model\": \"toy\"}') IS NOT NULL");
  expect(db, "1", "SELECT vg_ingest('t', 'acme', 'note', 'n1', 'a cat') > 0");
  expect(db, "1", "SELECT vg_ingest('t', 'acme', 'note', 'n2', 'banana bread and jam') > 0");
  expect(db, "2", "SELECT vg_queue_run(10) ->> '$.done'");
  expect(db, "[5,2,1,1]", "SELECT vg_vector_json(embedding) FROM t WHERE content_id = 'n1'");
  expect(db, "[20,6,3,1]", "SELECT vg_vector_json(embedding) FROM t WHERE content_id = 'n2'");
  /* The query 'a cat' embeds to n1's vector exactly. */
  expect(db, "n1", "SELECT content_id FROM vg_search('t', 'acme', 'a cat', 1)");
  /* An embedder that fails without a reason fails the item with one, and
  ** stores nothing. */
  expect(db, "1", "SELECT vg_configure('t', '{\"model\": \"toy:silent\"}') IS NOT NULL");
  expect(db, "1", "SELECT vg_ingest('t', 'acme', 'note', 'n3', 'a dog') > 0");
  expect(db, "1", "SELECT vg_queue_run(10) ->> '$.failed'");
  expect(db, "model \"toy:silent\" failed: SQL logic error", "SELECT last_error FROM vg_queue WHERE content_id = 'n3'");
  expect(db, "0", "SELECT count(*) FROM t WHERE content_id = 'n3'");
  sqlite3_close(db);
  assert_int_equal(nOpen, 0);
  assert_int_equal(vecguard_register_embedder("toy", 0, 0), SQLITE_OK);
  db = open_db();
  expect_error(db, "model \"toy\" is not loaded on this connection", "SELECT vg_embed('x', 'toy')");
  sqlite3_close(db);
}

static void test_registration_rules(void **state) {
  (void)state;
  static const vecguard_embedder_family noOpen = {toy_describe, 0};
  assert_int_equal(vecguard_register_embedder("hash", &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("hash2", &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("HASH", &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("", &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("a:b", &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder(0, &toyFamily, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("x", &noOpen, 0), SQLITE_MISUSE);
  assert_int_equal(vecguard_register_embedder("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &toyFamily, 0), SQLITE_MISUSE);
  char zName[16];
  for (int i = 0; i < 16; i++) {
    snprintf(zName, sizeof zName, "f%d", i);
    assert_int_equal(vecguard_register_embedder(zName, &toyFamily, &nOpen), SQLITE_OK);
  }
  assert_int_equal(vecguard_register_embedder("one-more", &toyFamily, &nOpen), SQLITE_FULL);
  /* Registering a name again replaces it, and takes no new place. */
  assert_int_equal(vecguard_register_embedder("f3", &toyFamily, &nOpen), SQLITE_OK);
  for (int i = 0; i < 16; i++) {
    snprintf(zName, sizeof zName, "f%d", i);
    assert_int_equal(vecguard_register_embedder(zName, 0, 0), SQLITE_OK);
  }
  assert_int_equal(vecguard_register_embedder("one-more", &toyFamily, &nOpen), SQLITE_OK);
  assert_int_equal(vecguard_register_embedder("one-more", 0, 0), SQLITE_OK);
  assert_string_equal(vecguard_version(), VECGUARD_VERSION);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_vg_embed),
      cmocka_unit_test(test_pipeline),
      cmocka_unit_test(test_registration_rules),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
