/*
** test_tabledef.c — parsing vg_hnsw column definitions (tabledef.c).
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "table/table.h"

static VgTableDef *parse_ok(int n, const char *const *az) {
  VgTableDef *d = 0;
  char *zErr = 0;
  if (vg_tabledef_parse(n, az, &d, &zErr) != SQLITE_OK) fail_msg("%s", zErr);
  return d;
}

static void expect_error(int n, const char *const *az, const char *zNeedle) {
  VgTableDef *d = 0;
  char *zErr = 0;
  if (vg_tabledef_parse(n, az, &d, &zErr) == SQLITE_OK) {
    fail_msg("parsed; expected an error containing '%s'", zNeedle);
  }
  assert_null(d);
  if (zErr == 0 || strstr(zErr, zNeedle) == 0) {
    fail_msg("'%s', expected it to contain '%s'", zErr ? zErr : "(none)", zNeedle);
  }
  sqlite3_free(zErr);
}

static void test_full_example(void **state) {
  (void)state;
  const char *az[] = {"embedding float[384] distance_metric=cosine",
                      "tenant_id text partition key", "content_type text",
                      "created_at integer", "+body text", "score REAL", "+raw",
                      "\"odd name\" boolean", "[br] int", "`bq` float"};
  VgTableDef *d = parse_ok(10, az);
  assert_int_equal(d->nCol, 10);
  assert_int_equal(d->nDims, 384);
  assert_int_equal(d->metric, VG_METRIC_COSINE);
  assert_int_equal(d->iVector, 0);
  assert_int_equal(d->iPartition, 1);
  assert_int_equal(d->nMeta, 6);
  assert_int_equal(d->nAux, 2);
  assert_string_equal(d->aCol[1].zName, "tenant_id");
  assert_int_equal(d->aCol[1].kind, VG_COL_PARTITION);
  assert_int_equal(d->aCol[1].type, VG_TYPE_TEXT);
  assert_int_equal(d->aCol[3].type, VG_TYPE_INTEGER);
  assert_int_equal(d->aCol[3].iStore, 1);
  assert_int_equal(d->aCol[4].kind, VG_COL_AUX);
  assert_int_equal(d->aCol[4].iStore, 0);
  assert_int_equal(d->aCol[6].kind, VG_COL_AUX);
  assert_int_equal(d->aCol[6].type, VG_TYPE_ANY);
  assert_string_equal(d->aCol[7].zName, "odd name");
  assert_int_equal(d->aCol[7].type, VG_TYPE_BOOLEAN);
  assert_string_equal(d->aCol[8].zName, "br");
  assert_string_equal(d->aCol[9].zName, "bq");
  assert_int_equal(d->aCol[9].type, VG_TYPE_REAL);
  char *zDecl = vg_tabledef_declaration(d);
  assert_string_equal(zDecl,
                      "CREATE TABLE x(\"embedding\" BLOB, \"tenant_id\" TEXT, "
                      "\"content_type\" TEXT, \"created_at\" INTEGER, \"body\" TEXT, "
                      "\"score\" REAL, \"raw\" , \"odd name\" INTEGER, \"br\" INTEGER, "
                      "\"bq\" REAL, distance HIDDEN REAL, k HIDDEN INTEGER, ef HIDDEN INTEGER, exact HIDDEN INTEGER)");
  sqlite3_free(zDecl);
  vg_tabledef_free(d);
}

static void test_defaults_and_case(void **state) {
  (void)state;
  const char *az[] = {"  V  FLOAT[ 3 ]  DISTANCE_METRIC = 'IP' "};
  VgTableDef *d = parse_ok(1, az);
  assert_int_equal(d->nDims, 3);
  assert_int_equal(d->metric, VG_METRIC_IP);
  assert_int_equal(d->iPartition, -1);
  vg_tabledef_free(d);
  const char *az2[] = {"v float[2]"};
  d = parse_ok(1, az2);
  assert_int_equal(d->metric, VG_METRIC_L2);
  assert_int_equal(d->hnswM, 16);
  assert_int_equal(d->efConstruction, 200);
  assert_int_equal(d->efSearch, 64);
  vg_tabledef_free(d);
  const char *az3[] = {"ef_search=10", "v float[2]", " HNSW_M = 8 ", "ef_construction=40"};
  d = parse_ok(4, az3);
  assert_int_equal(d->nCol, 1);
  assert_int_equal(d->hnswM, 8);
  assert_int_equal(d->efConstruction, 40);
  assert_int_equal(d->efSearch, 10);
  vg_tabledef_free(d);
}

static void test_option_errors(void **state) {
  (void)state;
  const char *a1[] = {"a float[4]", "hnsw_m=1"};
  expect_error(2, a1, "hnsw_m must be an integer from 2 to 64; got 'hnsw_m=1'");
  const char *a2[] = {"a float[4]", "hnsw_m=65"};
  expect_error(2, a2, "hnsw_m must be an integer from 2 to 64");
  const char *a3[] = {"a float[4]", "ef_search=-5"};
  expect_error(2, a3, "ef_search must be an integer from 1 to 100000");
  const char *a4[] = {"a float[4]", "ef_search=1.5"};
  expect_error(2, a4, "ef_search must be an integer");
  const char *a5[] = {"a float[4]", "ef_construction=abc"};
  expect_error(2, a5, "ef_construction must be an integer");
  const char *a6[] = {"a float[4]", "ef_construction="};
  expect_error(2, a6, "ef_construction must be an integer");
  const char *a7[] = {"a float[4]", "hnsw_m=8", "hnsw_m=8"};
  expect_error(3, a7, "option hnsw_m is given twice");
  const char *a8[] = {"a float[4]", "ef_search=100001"};
  expect_error(2, a8, "from 1 to 100000");
  const char *a9[] = {"a float[4]", "ef_search=10 20"};
  expect_error(2, a9, "ef_search must be an integer");
  const char *a10[] = {"a float[4]", "+ef_search=10"};
  expect_error(2, a10, "unknown table option '+ef_search=10'");
  const char *a11[] = {"a float[4]", "ef text"};
  expect_error(2, a11, "name ef is reserved");
  const char *a12[] = {"a float[4]", "exact integer"};
  expect_error(2, a12, "name exact is reserved");
}

static void test_errors(void **state) {
  (void)state;
  expect_error(0, 0, "no columns");
  const char *a1[] = {"body text"};
  expect_error(1, a1, "needs a vector column");
  const char *a2[] = {"a float[2]", "b float[2]"};
  expect_error(2, a2, "only one vector column");
  const char *a3[] = {"a float[0]"};
  expect_error(1, a3, "dimension 0 is out of range");
  const char *a4[] = {"a float[16385]"};
  expect_error(1, a4, "dimension 16385 is out of range");
  const char *a5[] = {"a float[x]"};
  expect_error(1, a5, "expected float[N]");
  const char *a6[] = {"a int4[4]"};
  expect_error(1, a6, "int4[...] is not supported; use float[N], int8[N] or bit[N]");
  const char *a7[] = {"a float[4] distance_metric=dot"};
  expect_error(1, a7, "unknown distance_metric 'dot'");
  const char *a8[] = {"a float[4] metric=l2"};
  expect_error(1, a8, "unknown option 'metric'");
  const char *a9[] = {"a float[4]", "c varchar"};
  expect_error(2, a9, "unknown type 'varchar'");
  const char *a10[] = {"a float[4]", "c"};
  expect_error(2, a10, "metadata column c needs a type");
  const char *a11[] = {"a float[4]", "c blob"};
  expect_error(2, a11, "metadata column c needs a type");
  const char *a12[] = {"a float[4]", "distance real"};
  expect_error(2, a12, "name distance is reserved");
  const char *a13[] = {"a float[4]", "ROWID integer"};
  expect_error(2, a13, "name ROWID is reserved");
  const char *a14[] = {"a float[4]", "c text", "C integer"};
  expect_error(3, a14, "duplicate column name C");
  const char *a15[] = {"a float[4]", "t text partition key", "u text partition key"};
  expect_error(3, a15, "only one partition key");
  const char *a16[] = {"a float[4]", "t real partition key"};
  expect_error(2, a16, "must be declared text or integer");
  const char *a17[] = {"a float[4]", "+t text partition key"};
  expect_error(2, a17, "auxiliary column cannot be the partition key");
  const char *a18[] = {"a float[4]", "chunk=8"};
  expect_error(2, a18, "unknown table option 'chunk'");
  const char *a19[] = {"a float[4]", "t text primary"};
  expect_error(2, a19, "column t: expected 'primary key'");
  const char *a20[] = {"a float[4]", "\"unterminated text"};
  expect_error(2, a20, "expected a column definition");
  const char *a21[] = {"a float[4]", "t text partition"};
  expect_error(2, a21, "expected 'partition key'");
  const char *a22[] = {"+a float[4]"};
  expect_error(1, a22, "auxiliary column cannot be a vector");
  const char *a23[] = {"a float[4]", "\"\" text"};
  expect_error(2, a23, "cannot be empty");
  /* int8[N] and bit[N]: their metrics, whole bytes, no quantization */
  const char *a24[] = {"a bit[12]"};
  expect_error(1, a24, "bit[12] is not a whole number of bytes; N must be a multiple of 8 (bit[8] or bit[16])");
  const char *a25[] = {"a bit[16] distance_metric=cosine"};
  expect_error(1, a25, "distance_metric cosine does not apply to bit vectors (expected hamming)");
  const char *a26[] = {"a int8[16] distance_metric=hamming"};
  expect_error(1, a26, "distance_metric hamming does not apply to int8 vectors (expected l2, cosine, l1 or ip)");
  const char *a27[] = {"a float[16] distance_metric=l1"};
  expect_error(1, a27, "distance_metric l1 does not apply to float vectors (expected cosine, l2 or ip)");
  const char *a28[] = {"a int8[16]", "quantization=int8"};
  expect_error(2, a28, "quantization=int8 compresses float[N] vectors in memory");
  const char *a29[] = {"a i8[x]"};
  expect_error(1, a29, "expected int8[N]");
}

/* int8[N] (and i8[N]) and bit[N] columns, with their default metrics. */
static void test_int8_and_bit(void **state) {
  (void)state;
  VgTableDef *pDef = 0;
  char *zErr = 0;
  const char *a1[] = {"e int8[384] distance_metric=l1"};
  assert_int_equal(vg_tabledef_parse(1, a1, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->element, VG_ELEMENT_INT8);
  assert_int_equal(pDef->metric, VG_METRIC_L1);
  assert_int_equal(vg_tabledef_vector_bytes(pDef), 384);
  assert_int_equal(vg_tabledef_vectors(pDef), HNSW_I8);
  vg_tabledef_free(pDef);
  const char *a2[] = {"e i8[3]"};
  assert_int_equal(vg_tabledef_parse(1, a2, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->element, VG_ELEMENT_INT8);
  assert_int_equal(pDef->metric, VG_METRIC_L2);
  vg_tabledef_free(pDef);
  const char *a3[] = {"e BIT[1024]", "tag text"};
  assert_int_equal(vg_tabledef_parse(2, a3, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->element, VG_ELEMENT_BIT);
  assert_int_equal(pDef->metric, VG_METRIC_HAMMING);
  assert_int_equal(vg_tabledef_vector_bytes(pDef), 128);
  assert_int_equal(vg_tabledef_vectors(pDef), HNSW_BITS);
  vg_tabledef_free(pDef);
  const char *a4[] = {"e bit[8] distance_metric=hamming"};
  assert_int_equal(vg_tabledef_parse(1, a4, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->metric, VG_METRIC_HAMMING);
  vg_tabledef_free(pDef);
  const char *a5[] = {"e float[4]", "quantization=int8"};
  assert_int_equal(vg_tabledef_parse(2, a5, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->element, VG_ELEMENT_FLOAT32);
  assert_int_equal(vg_tabledef_vectors(pDef), HNSW_INT8);
  assert_int_equal(vg_tabledef_vector_bytes(pDef), 16);
  vg_tabledef_free(pDef);
}

/* A definition read back from the statement sqlite_schema keeps: the same
** columns as from SQLite's own split of the arguments. */
static void test_parse_sql(void **state) {
  (void)state;
  VgTableDef *pDef = 0;
  char *zErr = 0;
  const char *zSql = "CREATE VIRTUAL TABLE \"t(1\" USING vg_hnsw( embedding float[4] distance_metric=cosine ,"
                     " [ten,ant] text partition key, 'x''y' text, \"note\" text, +body text, hnsw_m=8 )";
  assert_int_equal(vg_tabledef_parse_sql(zSql, &pDef, &zErr), SQLITE_OK);
  assert_int_equal(pDef->nCol, 5);
  assert_int_equal(pDef->nDims, 4);
  assert_int_equal(pDef->iPartition, 1);
  assert_string_equal(pDef->aCol[1].zName, "ten,ant");
  assert_string_equal(pDef->aCol[2].zName, "x'y");
  assert_string_equal(pDef->aCol[3].zName, "note");
  assert_int_equal(pDef->aCol[4].kind, VG_COL_AUX);
  assert_int_equal(pDef->hnswM, 8);
  vg_tabledef_free(pDef);
  /* The statement as typed: any spacing and case around the module name. */
  assert_int_equal(vg_tabledef_parse_sql("CREATE VIRTUAL TABLE t\n  using\tVG_HNSW (e float[3])", &pDef, &zErr),
                   SQLITE_OK);
  assert_int_equal(pDef->nDims, 3);
  vg_tabledef_free(pDef);
  static const char *azOther[] = {"CREATE TABLE vg_hnsw(e float[3])", "CREATE VIRTUAL TABLE t USING vg_hnsw2(e float[3])",
                                  "CREATE VIRTUAL TABLE t USING fts5(vg_hnsw)"};
  for (size_t i = 0; i < sizeof azOther / sizeof azOther[0]; i++) {
    assert_int_equal(vg_tabledef_parse_sql(azOther[i], &pDef, &zErr), SQLITE_MISMATCH);
    assert_null(pDef);
    assert_non_null(strstr(zErr, "not a vg_hnsw table"));
    sqlite3_free(zErr);
  }
  assert_int_equal(vg_tabledef_parse_sql("CREATE VIRTUAL TABLE t USING vg_hnsw", &pDef, &zErr), SQLITE_ERROR);
  assert_non_null(strstr(zErr, "no module arguments"));
  sqlite3_free(zErr);
  assert_int_equal(vg_tabledef_parse_sql("CREATE VIRTUAL TABLE t USING vg_hnsw(e float[4]", &pDef, &zErr),
                   SQLITE_ERROR);
  assert_non_null(strstr(zErr, "unbalanced"));
  sqlite3_free(zErr);
}

/* ---- the stored statement against SQLite's own split -------------------
**
** A stand-in vg_hnsw module records the arguments SQLite gives xCreate; the
** definition they make must equal the one read back from sqlite_schema. */

static VgTableDef *pFromSqlite;

static int standin_create(sqlite3 *db, void *pAux, int argc, const char *const *argv, sqlite3_vtab **ppVtab,
                          char **pzErr) {
  (void)pAux;
  (void)pzErr;
  char *zErr = 0;
  vg_tabledef_free(pFromSqlite);
  pFromSqlite = 0;
  if (vg_tabledef_parse(argc - 3, argv + 3, &pFromSqlite, &zErr) != SQLITE_OK) fail_msg("xCreate: %s", zErr);
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(a)");
  if (rc != SQLITE_OK) return rc;
  *ppVtab = sqlite3_malloc(sizeof(sqlite3_vtab));
  memset(*ppVtab, 0, sizeof(sqlite3_vtab));
  return SQLITE_OK;
}

static int standin_disconnect(sqlite3_vtab *p) {
  sqlite3_free(p);
  return SQLITE_OK;
}

static int standin_best_index(sqlite3_vtab *p, sqlite3_index_info *pInfo) {
  (void)p;
  (void)pInfo;
  return SQLITE_OK;
}

static void expect_same_def(const VgTableDef *a, const VgTableDef *b, const char *zSql) {
  char *za = vg_tabledef_declaration(a), *zb = vg_tabledef_declaration(b);
  if (strcmp(za, zb) != 0 || a->nDims != b->nDims || a->metric != b->metric || a->iPartition != b->iPartition ||
      a->hnswM != b->hnswM || a->nAux != b->nAux || a->nMeta != b->nMeta) {
    fail_msg("%s\n  SQLite: %s\n  read back: %s", zSql, za, zb);
  }
  for (int i = 0; i < a->nCol; i++) assert_int_equal(a->aCol[i].kind, b->aCol[i].kind);
  sqlite3_free(za);
  sqlite3_free(zb);
}

static void test_parse_sql_as_sqlite_splits(void **state) {
  (void)state;
  static const sqlite3_module standin = {
      .xCreate = standin_create, .xConnect = standin_create, .xBestIndex = standin_best_index,
      .xDisconnect = standin_disconnect, .xDestroy = standin_disconnect};
  static const char *const azSql[] = {
      /* comments between and inside arguments, as docs/vg_hnsw.md writes them */
      "CREATE VIRTUAL TABLE t1 USING vg_hnsw(\n  embedding float[4] distance_metric=cosine,  -- the vector\n"
      "  tenant_id text partition key,  -- one partition per tenant\n  +body text -- kept, not filtered\n)",
      "CREATE VIRTUAL TABLE t2 USING vg_hnsw(embedding float[2] /* 2-d, for now */, +note /* (a, b) */ text)",
      "CREATE VIRTUAL TABLE t3 USING \"vg_hnsw\"(e float[2])",
      "CREATE VIRTUAL TABLE t4 USING [VG_HNSW] (e float[2], [a,b] text)",
      "CREATE VIRTUAL TABLE t5 USING vg_hnsw(e float[2], , +content text, )",
      "CREATE VIRTUAL TABLE IF NOT EXISTS main.\"t(6\" USING vg_hnsw(e float[3], 'x''y' text, hnsw_m=8)",
      "create virtual table t7 using vg_hnsw(e float[2],c text)--(trailing",
      "CREATE VIRTUAL TABLE t8 /* USING fts5( */ USING vg_hnsw(e float[2])",
      /* '$' goes on a name as in SQLite's identifiers (the fuzz target's t$) */
      "CREATE VIRTUAL TABLE t$9 USING vg_hnsw(e$ float[2], tenant$id text partition key)",
  };
  sqlite3 *db = 0;
  assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
  assert_int_equal(sqlite3_create_module(db, "vg_hnsw", &standin, 0), SQLITE_OK);
  for (size_t i = 0; i < sizeof azSql / sizeof azSql[0]; i++) {
    char *zErr = 0;
    if (sqlite3_exec(db, azSql[i], 0, 0, &zErr) != SQLITE_OK) fail_msg("%s: %s", azSql[i], zErr);
    sqlite3_stmt *p = 0;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_schema ORDER BY rowid DESC LIMIT 1", -1, &p, 0),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(p), SQLITE_ROW);
    VgTableDef *pRead = 0;
    if (vg_tabledef_parse_sql((const char *)sqlite3_column_text(p, 0), &pRead, &zErr) != SQLITE_OK) {
      fail_msg("%s: %s", azSql[i], zErr);
    }
    expect_same_def(pFromSqlite, pRead, azSql[i]);
    vg_tabledef_free(pRead);
    sqlite3_finalize(p);
  }
  /* Another module, with arguments or without, is not ours. */
  static const char *const azOther[] = {"CREATE VIRTUAL TABLE f USING fts4",
                                        "CREATE VIRTUAL TABLE g USING fts4(vg_hnsw, body)",
                                        "CREATE VIRTUAL TABLE \"vg_hnsw\" USING fts4(e)"};
  for (size_t i = 0; i < sizeof azOther / sizeof azOther[0]; i++) {
    VgTableDef *pRead = 0;
    char *zErr = 0;
    assert_int_equal(vg_tabledef_parse_sql(azOther[i], &pRead, &zErr), SQLITE_MISMATCH);
    sqlite3_free(zErr);
  }
  vg_tabledef_free(pFromSqlite);
  pFromSqlite = 0;
  sqlite3_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_full_example),
      cmocka_unit_test(test_defaults_and_case),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_int8_and_bit),
      cmocka_unit_test(test_option_errors),
      cmocka_unit_test(test_parse_sql),
      cmocka_unit_test(test_parse_sql_as_sqlite_splits),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
