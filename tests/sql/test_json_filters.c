/*
** test_json_filters.c — filters on keys of JSON metadata, applied inside
** the search, so that a query returns min(k, rows that match).
**
** vg_search: filters by path ("$.lang") on a key that has a column of its
** own and on keys that only the "metadata" column holds (a scalar, an
** array of values, a boolean, a key no item has, two keys at once).  SQL
** KNN: a metadata column filled from the JSON at insert, and rowid IN
** (SELECT ... json_extract ...).  Each answer is compared with a brute
** force over a plain scan of the same rows (vg_distance, ORDER BY, LIMIT),
** rows and distances alike; and the count with min(k, matches).  Then the
** form SQLite applies after the search, which the docs warn about, is shown
** to return fewer.
*/
#include "testdb.h"

#include <stdio.h>
#include <string.h>

static const char *const azLang[] = {"en", "en", "en", "fr", "de", "es"};
static const char *const azWord[] = {"fever", "cough", "rash", "dose", "visit", "clinic", "refund", "screen", "naïve"};

#define N_DOCS 1500
#define K 10

static void test_search_paths(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE docs USING vg_hnsw(embedding float[32] distance_metric=cosine,"
           " tenant_id text partition key, content_id text, chunk_index integer, +content text, lang text,"
           " +metadata text);"
           "SELECT vg_pii_set_key(zeroblob(32)), vg_queue_clock(1000);");
  uint64_t s = 7;
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < N_DOCS; i++) {
    sqlite3_str *x = sqlite3_str_new(0);
    int n = 2 + (int)(tdb_rand(&s) % 8);
    for (int w = 0; w < n; w++) sqlite3_str_appendf(x, "%s ", azWord[tdb_rand(&s) % 9]);
    char *zText = sqlite3_str_finish(x);
    /* Three items in "xx": rarer than k. */
    const char *zLang = i % 500 == 7 ? "xx" : azLang[tdb_rand(&s) % 6];
    tdb_exec(db,
             "SELECT vg_ingest('docs', '%s', 'doc', 'd%d', %Q, json_object('lang', '%s', 'year', %d, 'topic', 't%d',"
             " 'urgent', json(%s)))",
             i % 5 ? "acme" : "globex", i, zText, zLang, 2000 + (int)(tdb_rand(&s) % 25), (int)(tdb_rand(&s) % 7),
             tdb_rand(&s) % 9 == 0 ? "'true'" : "'false'");
    sqlite3_free(zText);
  }
  tdb_exec(db, "COMMIT");
  tdb_expect_text(db, "1500", "SELECT vg_queue_run(10000) ->> 'done'");
  /* The whole metadata object is in the "metadata" column. */
  tdb_expect_text(db, "xx", "SELECT metadata ->> '$.lang' FROM docs WHERE content_id = 'd7'");

  static const struct {
    const char *zFilters; /* vg_search's */
    const char *zWhere;   /* the same on a plain scan */
  } a[] = {
      {"{\"$.lang\": \"xx\"}", "lang = 'xx'"},
      {"{\"$.\\\"lang\\\"\": \"fr\"}", "lang = 'fr'"},
      {"{\"$.topic\": \"t3\"}", "metadata ->> '$.topic' = 't3'"},
      {"{\"$.year\": [2001, 2005, 2017]}", "metadata ->> '$.year' IN (2001, 2005, 2017)"},
      {"{\"$.urgent\": true}", "metadata ->> '$.urgent' = 1"},
      {"{\"$.lang\": \"es\", \"$.year\": 2010}", "lang = 'es' AND metadata ->> '$.year' = 2010"},
      {"{\"$.topic\": \"t1\", \"$.urgent\": true, \"lang\": [\"en\", \"xx\"]}",
       "metadata ->> '$.topic' = 't1' AND metadata ->> '$.urgent' = 1 AND lang IN ('en', 'xx')"},
      {"{\"$.colour\": \"red\"}", "metadata ->> '$.colour' = 'red'"},
      /* JSON keys are case-sensitive: "LANG" is no key of the items (the
      ** column lang is not it). */
      {"{\"$.LANG\": \"xx\"}", "metadata ->> '$.LANG' = 'xx'"},
      /* An empty object filters nothing (it once was "out of memory"). */
      {"{}", "1"},
  };
  static const char *const azQuery[] = {"fever cough", "naïve rash dose", "screen"};
  static const char *const azTenant[] = {"acme", "globex"};
  for (size_t f = 0; f < sizeof a / sizeof a[0]; f++) {
    for (int q = 0; q < 3; q++) {
      for (int t = 0; t < 2; t++) {
        int nMatch = (int)tdb_int(db, "SELECT count(*) FROM docs WHERE tenant_id = '%s' AND %s", azTenant[t],
                                  a[f].zWhere);
        char *zWant = tdb_text(db,
                               "SELECT ifnull(group_concat(rowid || ':' || printf('%%.5f', 1 - d), ' '), '') FROM"
                               " (SELECT rowid, vg_distance(embedding, vg_embed(%Q, 'hash2:32'), 'cosine') AS d"
                               "  FROM docs WHERE tenant_id = '%s' AND %s ORDER BY d, rowid LIMIT %d)",
                               azQuery[q], azTenant[t], a[f].zWhere, K);
        char *zGot = tdb_text(db,
                              "SELECT ifnull(group_concat(target_rowid || ':' || printf('%%.5f', similarity), ' '), '')"
                              " || '|' || count(*) FROM vg_search('docs', '%s', %Q, %d, %Q)",
                              azTenant[t], azQuery[q], K, a[f].zFilters);
        char *zWantAll = sqlite3_mprintf("%s|%d", zWant, nMatch < K ? nMatch : K);
        if (strcmp(zGot, zWantAll) != 0) {
          fail_msg("filters %s, query %s, tenant %s:\n got  %s\n want %s", a[f].zFilters, azQuery[q], azTenant[t], zGot,
                   zWantAll);
        }
        sqlite3_free(zWant);
        sqlite3_free(zGot);
        sqlite3_free(zWantAll);
      }
    }
  }
  /* The rare filter matched fewer than k; a broad one more. */
  assert_int_equal(tdb_int(db, "SELECT count(*) FROM docs WHERE lang = 'xx' AND tenant_id = 'acme'"), 3);

  static const struct {
    const char *zNeedle, *zFilters;
  } e[] = {
      {"vg_search: filter \"$.lang[\" is not a JSON path: write one such as \"$.lang\"", "{\"$.lang[\": 1}"},
      {"vg_search: filter \"$\" is not a JSON path", "{\"$\": 1}"},
      {"vg_search: filter \"$lang\" is not a JSON path", "{\"$lang\": 1}"},
      {"vg_search: cannot filter on \"topic\": it is not a metadata column of the table (a key of the items' "
       "metadata is a path such as \"$.topic\")",
       "{\"topic\": \"t1\"}"},
      {"vg_search: filter \"$.topic\": give a value (text, number, boolean) or an array of values",
       "{\"$.topic\": {\"a\": 1}}"},
  };
  for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
    tdb_expect_error(db, e[i].zNeedle, "SELECT * FROM vg_search('docs', 'acme', 'fever', 5, %Q)", e[i].zFilters);
  }
  /* A table without a "metadata" column: only keys with a column. */
  tdb_exec(db, "CREATE VIRTUAL TABLE bare USING vg_hnsw(embedding float[32], content_id text, lang text)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_search('bare', '', 'fever', 5, '{\"$.lang\": \"en\"}')");
  tdb_expect_error(db,
                   "vg_search: cannot filter on \"$.topic\": table \"bare\" has no metadata column of that name and "
                   "no column \"metadata\" holding the items' metadata",
                   "SELECT * FROM vg_search('bare', '', 'fever', 5, '{\"$.topic\": \"t1\"}')");
  tdb_close(db);
}

/* SQL KNN on JSON kept in an auxiliary column: the two forms the docs
** give, against a brute force; and the form they warn about. */
static void test_sql_knn_forms(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db,
           "CREATE VIRTUAL TABLE items USING vg_hnsw(embedding float[8], tenant_id text partition key,"
           " lang text, +meta text)");
  uint64_t s = 99;
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO items(embedding, tenant_id, lang, meta)"
                                       " VALUES (?1, ?2, ?3 ->> '$.lang', ?3)");
  tdb_exec(db, "BEGIN");
  for (int i = 0; i < 3000; i++) {
    char zVec[200];
    int n = sprintf(zVec, "[");
    for (int d = 0; d < 8; d++) n += sprintf(zVec + n, "%s%.4f", d ? "," : "", tdb_uniform(&s) * 2 - 1);
    sprintf(zVec + n, "]");
    char *zMeta = sqlite3_mprintf("{\"lang\": \"%s\", \"year\": %d}", i % 700 == 3 ? "xx" : azLang[tdb_rand(&s) % 6],
                                  2000 + (int)(tdb_rand(&s) % 25));
    sqlite3_bind_text(pIns, 1, zVec, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(pIns, 2, i % 3 ? "a" : "b", -1, SQLITE_STATIC);
    sqlite3_bind_text(pIns, 3, zMeta, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(pIns) != SQLITE_DONE) fail_msg("insert: %s", sqlite3_errmsg(db));
    sqlite3_reset(pIns);
    sqlite3_free(zMeta);
  }
  sqlite3_finalize(pIns);
  tdb_exec(db, "COMMIT");
  static const struct {
    const char *zKnn;  /* conditions inside the KNN query */
    const char *zScan; /* the same on a plain scan */
  } a[] = {
      {"lang = 'xx'", "lang = 'xx'"},
      {"lang IN ('de', 'es')", "meta ->> '$.lang' IN ('de', 'es')"},
      {"rowid IN (SELECT rowid FROM items WHERE tenant_id = 'a' AND meta ->> '$.year' >= 2022)",
       "meta ->> '$.year' >= 2022"},
      {"rowid IN (SELECT rowid FROM items WHERE tenant_id = 'a' AND json_extract(meta, '$.year') = 2003)"
       " AND lang = 'en'",
       "json_extract(meta, '$.year') = 2003 AND lang = 'en'"},
  };
  for (size_t f = 0; f < sizeof a / sizeof a[0]; f++) {
    for (int q = 0; q < 20; q++) {
      char zQ[200];
      int n = sprintf(zQ, "[");
      for (int d = 0; d < 8; d++) n += sprintf(zQ + n, "%s%.4f", d ? "," : "", tdb_uniform(&s) * 2 - 1);
      sprintf(zQ + n, "]");
      int nMatch = (int)tdb_int(db, "SELECT count(*) FROM items WHERE tenant_id = 'a' AND %s", a[f].zScan);
      char *zWant = tdb_text(db,
                             "SELECT ifnull(group_concat(rowid || ':' || printf('%%.5f', d), ' '), '') FROM"
                             " (SELECT rowid, vg_distance(embedding, '%s', 'l2') AS d FROM items"
                             "  WHERE tenant_id = 'a' AND %s ORDER BY d, rowid LIMIT %d)",
                             zQ, a[f].zScan, K);
      char *zGot = tdb_text(db,
                            "SELECT ifnull(group_concat(rowid || ':' || printf('%%.5f', distance), ' '), '') || '|'"
                            " || count(*) FROM (SELECT rowid, distance FROM items WHERE embedding MATCH '%s' AND k = %d"
                            " AND tenant_id = 'a' AND %s ORDER BY distance)",
                            zQ, K, a[f].zKnn);
      char *zWantAll = sqlite3_mprintf("%s|%d", zWant, nMatch < K ? nMatch : K);
      if (strcmp(zGot, zWantAll) != 0) fail_msg("%s:\n got  %s\n want %s", a[f].zKnn, zGot, zWantAll);
      sqlite3_free(zWant);
      sqlite3_free(zGot);
      sqlite3_free(zWantAll);
    }
  }
  /* The form SQLite applies after the k nearest are chosen: fewer rows. */
  assert_true(tdb_int(db, "SELECT count(*) FROM items WHERE embedding MATCH '[0,0,0,0,0,0,0,0]' AND k = 10"
                          " AND tenant_id = 'a' AND json_extract(meta, '$.lang') = 'de'") < 10);
  assert_true(tdb_int(db, "SELECT count(*) FROM items WHERE tenant_id = 'a' AND lang = 'de'") >= 10);
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_search_paths),
      cmocka_unit_test(test_sql_knn_forms),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
