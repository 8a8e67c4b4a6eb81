/*
** test_embed.c — vg_embed and vg_chunk through SQL.
**
** vg_chunk on random texts of 1- to 4-byte characters and random
** whitespace, checked against what SQLite itself computes: each chunk's
** text must be substr(input, start + 1, end - start) (SQLite counts
** characters), chunks must hold at most max_tokens tokens, consecutive
** chunks must share exactly overlap tokens, and together they must give
** back the text's tokens in order.
*/
#include "testdb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_embed_sql(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_expect_text(db, "1536", "SELECT length(vg_embed('hello world'))");
  tdb_expect_text(db, "68", "SELECT length(vg_embed('hello world', 'hash:17'))");
  /* Unit length, and the same bytes on every call and every connection. */
  tdb_expect_text(db, "1", "SELECT abs(vg_distance(vg_embed('a b c'), vg_embed('a b c'), 'cosine')) < 1e-6");
  tdb_expect_text(db, "1", "SELECT abs(vg_distance(vg_embed('x y z'), zeroblob(1536), 'l2') - 1.0) < 1e-6");
  sqlite3 *db2 = tdb_open(":memory:");
  char *zA = tdb_text(db, "SELECT hex(vg_embed('Résumé of the patient', 'hash:32'))");
  char *zB = tdb_text(db2, "SELECT hex(vg_embed('Résumé of the patient', 'hash:32'))");
  assert_string_equal(zA, zB);
  sqlite3_free(zA);
  sqlite3_free(zB);
  tdb_close(db2);
  /* Related texts are closer than unrelated ones. */
  tdb_expect_text(db, "1", "SELECT vg_distance(vg_embed('the patient had a fever'), vg_embed('The patients had fevers.'), "
                           "'cosine') < vg_distance(vg_embed('the patient had a fever'), "
                           "vg_embed('stock prices fell sharply'), 'cosine')");
  tdb_expect_text(db, "1", "SELECT vg_embed(NULL) IS NULL");
  tdb_expect_error(db, "vg_embed: the text must be text", "SELECT vg_embed(42)");
  tdb_expect_error(db, "vg_embed: the text has no words to embed", "SELECT vg_embed(' ?! ')");
  tdb_expect_error(db, "vg_embed: model \"bert\" is not loaded on this connection", "SELECT vg_embed('x', 'bert')");
  tdb_expect_error(db, "vg_embed: model \"hash:0\"", "SELECT vg_embed('x', 'hash:0')");
  tdb_expect_error(db, "vg_embed: the model must be text", "SELECT vg_embed('x', 384)");
  /* A model that changes from row to row. */
  tdb_expect_text(db, "8,12", "SELECT group_concat(length(vg_embed('x', m))) FROM (SELECT 'hash:2' AS m UNION ALL "
                              "SELECT 'hash:3' ORDER BY 1)");
  tdb_close(db);
}

static void test_chunk_errors(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_expect_text(db, "0|0|5|3|a b c", "SELECT chunk_index || '|' || start || '|' || \"end\" || '|' || tokens || "
                                       "'|' || text FROM vg_chunk('a b c d e f g', 3, 1) WHERE chunk_index = 0");
  tdb_expect_text(db, "3", "SELECT count(*) FROM vg_chunk('a b c d e f g', 3, 1)");
  tdb_expect_text(db, "e f g", "SELECT text FROM vg_chunk('a b c d e f g', 3, 1) WHERE chunk_index = 2");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_chunk(NULL, 3)");
  tdb_expect_text(db, "0", "SELECT count(*) FROM vg_chunk(' \t\n ', 3)");
  tdb_expect_error(db, "vg_chunk: give the text and max_tokens", "SELECT * FROM vg_chunk('a')");
  tdb_expect_error(db, "vg_chunk: max_tokens must be a whole number from 1", "SELECT * FROM vg_chunk('a', 0)");
  tdb_expect_error(db, "vg_chunk: max_tokens must be a whole number from 1", "SELECT * FROM vg_chunk('a', '3')");
  tdb_expect_error(db, "vg_chunk: overlap must be a whole number from 0 to max_tokens - 1",
                   "SELECT * FROM vg_chunk('a', 3, 3)");
  tdb_expect_error(db, "vg_chunk: overlap must be", "SELECT * FROM vg_chunk('a', 3, -1)");
  tdb_expect_error(db, "vg_chunk: the text must be text", "SELECT * FROM vg_chunk(x'61', 3)");
  tdb_expect_error(db, "vg_chunk: the text is not valid UTF-8 (at byte 1)",
                   "SELECT * FROM vg_chunk(CAST(x'61ff' AS TEXT), 3)");
  tdb_close(db);
}

/* A random text: tokens of 1-6 characters of 1 to 4 bytes, between runs of
** whitespace (sometimes none at the ends). */
static char *random_text(uint64_t *pSeed, int nTok) {
  static const char *azChar[] = {"a", "Z", "7", ".", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80"};
  static const char *azSpace[] = {" ", "  ", "\t", "\n", " \n "};
  char *z = malloc((size_t)nTok * 40 + 16);
  int n = 0;
  if (tdb_rand(pSeed) % 2) z[n++] = ' ';
  for (int t = 0; t < nTok; t++) {
    if (t > 0) n += sprintf(z + n, "%s", azSpace[tdb_rand(pSeed) % 5]);
    int nc = 1 + (int)(tdb_rand(pSeed) % 6);
    for (int c = 0; c < nc; c++) n += sprintf(z + n, "%s", azChar[tdb_rand(pSeed) % 7]);
  }
  if (tdb_rand(pSeed) % 2) z[n++] = '\n';
  z[n] = 0;
  return z;
}

static void test_chunk_random(void **state) {
  (void)state;
  sqlite3 *db = tdb_open(":memory:");
  tdb_exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, body TEXT, max_tokens INT, overlap INT)");
  uint64_t seed = 99;
  sqlite3_stmt *pIns = tdb_prepare(db, "INSERT INTO t(body, max_tokens, overlap) VALUES (?, ?, ?)");
  for (int i = 0; i < 200; i++) {
    int nTok = 1 + (int)(tdb_rand(&seed) % 60);
    int nMax = 1 + (int)(tdb_rand(&seed) % 12);
    int nOverlap = (int)(tdb_rand(&seed) % (uint64_t)nMax);
    char *z = random_text(&seed, nTok);
    sqlite3_bind_text(pIns, 1, z, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(pIns, 2, nMax);
    sqlite3_bind_int(pIns, 3, nOverlap);
    assert_int_equal(sqlite3_step(pIns), SQLITE_DONE);
    sqlite3_reset(pIns);
    free(z);
  }
  sqlite3_finalize(pIns);
  tdb_exec(db, "CREATE TEMP TABLE c AS SELECT t.id, t.max_tokens, t.overlap, c.* FROM t, "
               "vg_chunk(t.body, t.max_tokens, t.overlap) AS c");
  /* Each chunk's text is the input's characters [start, end), and starts and
  ** ends with a token (no whitespace at either end). */
  tdb_expect_text(db, "0", "SELECT count(*) FROM c JOIN t USING (id) WHERE c.text IS NOT "
                           "substr(t.body, c.start + 1, c.\"end\" - c.start) OR c.text <> trim(c.text, ' ' || "
                           "char(9, 10))");
  tdb_expect_text(db, "0", "SELECT count(*) FROM c WHERE tokens > max_tokens OR tokens < 1");
  /* The token lists, compared with those SQLite's json and string functions
  ** give: split each chunk's text on whitespace. */
  tdb_exec(db,
           "CREATE TEMP TABLE tok AS WITH RECURSIVE "
           "s(id, chunk_index, rest, n, tok) AS ("
           "  SELECT id, chunk_index, replace(replace(text, char(9), ' '), char(10), ' ') || ' ', 0, NULL FROM c "
           "  UNION ALL SELECT id, chunk_index, ltrim(substr(rest, instr(rest, ' ') + 1)), n + 1, "
           "  substr(rest, 1, instr(rest, ' ') - 1) FROM s WHERE rest <> '') "
           "SELECT id, chunk_index, n, tok FROM s WHERE tok IS NOT NULL AND tok <> ''");
  tdb_expect_text(db, "0", "SELECT count(*) FROM c WHERE tokens <> (SELECT count(*) FROM tok WHERE tok.id = c.id AND "
                           "tok.chunk_index = c.chunk_index)");
  /* Consecutive chunks share exactly overlap tokens: chunk k+1's first
  ** tokens are chunk k's last ones. */
  tdb_expect_text(db, "0",
                  "SELECT count(*) FROM c AS a JOIN c AS b ON b.id = a.id AND b.chunk_index = a.chunk_index + 1 "
                  "WHERE a.tokens <> a.max_tokens OR EXISTS (SELECT 1 FROM tok AS x JOIN tok AS y ON y.id = x.id "
                  "AND y.chunk_index = b.chunk_index AND y.n = x.n - (a.tokens - a.overlap) WHERE x.id = a.id AND "
                  "x.chunk_index = a.chunk_index AND x.n > a.tokens - a.overlap AND x.tok <> y.tok)");
  /* Every text's tokens come back in order: the first chunk's, then each
  ** later chunk's tokens past its overlap. */
  tdb_exec(db, "CREATE TEMP TABLE whole AS WITH RECURSIVE "
               "s(id, rest, n, tok) AS ("
               "  SELECT id, replace(replace(body, char(9), ' '), char(10), ' ') || ' ', 0, NULL FROM t "
               "  UNION ALL SELECT id, ltrim(substr(rest, instr(rest, ' ') + 1)), n + 1, "
               "  substr(rest, 1, instr(rest, ' ') - 1) FROM s WHERE rest <> '') "
               "SELECT id, group_concat(tok, ' ') AS toks FROM (SELECT * FROM s WHERE tok IS NOT NULL AND tok <> '' "
               "ORDER BY id, n) GROUP BY id");
  tdb_expect_text(db, "0", "SELECT count(*) FROM whole WHERE toks IS NOT (SELECT group_concat(tok, ' ') FROM "
                           "(SELECT tok.tok FROM tok JOIN c USING (id, chunk_index) WHERE tok.id = whole.id AND "
                           "(tok.chunk_index = 0 OR tok.n > c.overlap) ORDER BY tok.chunk_index, tok.n))");
  tdb_expect_text(db, "200", "SELECT count(DISTINCT id) FROM c");
  tdb_close(db);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_embed_sql),
      cmocka_unit_test(test_chunk_errors),
      cmocka_unit_test(test_chunk_random),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
