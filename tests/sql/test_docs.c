/*
** test_docs.c — runs the examples in the Markdown files of docs/.
**
** In each file, every ```sql block runs in order on one fresh in-memory
** database with the extension loaded (lines starting with "." are shell
** commands and are skipped).  When an ```output block follows, the output
** must match it exactly: one line per row, columns joined by "|", NULL as
** nothing (the sqlite3 shell's list mode), and "Error: <message>" for a
** statement that fails.  A block without an output block must not fail.
*/
#include "testdb.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Run the statements of zSql, appending what the shell would print. */
static void run_block(sqlite3 *db, const char *zSql, sqlite3_str *out) {
  const char *z = zSql;
  while (*z) {
    sqlite3_stmt *p = 0;
    const char *zTail = 0;
    if (sqlite3_prepare_v2(db, z, -1, &p, &zTail) != SQLITE_OK) {
      sqlite3_str_appendf(out, "Error: %s\n", sqlite3_errmsg(db));
      /* skip to the end of the failing statement */
      const char *zSemi = strchr(z, ';');
      z = zSemi ? zSemi + 1 : z + strlen(z);
      continue;
    }
    z = zTail;
    if (p == 0) continue; /* whitespace or a comment */
    int rc;
    while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
      for (int i = 0; i < sqlite3_column_count(p); i++) {
        const char *zV = (const char *)sqlite3_column_text(p, i);
        sqlite3_str_appendf(out, "%s%s", i ? "|" : "", zV ? zV : "");
      }
      sqlite3_str_appendchar(out, 1, '\n');
    }
    if (rc != SQLITE_DONE) sqlite3_str_appendf(out, "Error: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(p);
  }
}

/* The body of the fenced block opening at *pz (after its ``` line). */
static char *fenced_body(char **pz, int bDropDotLines) {
  char *z = *pz;
  sqlite3_str *s = sqlite3_str_new(0);
  while (*z && strncmp(z, "```", 3) != 0) {
    char *zEol = strchr(z, '\n');
    int n = zEol ? (int)(zEol - z) + 1 : (int)strlen(z);
    if (!(bDropDotLines && z[0] == '.')) sqlite3_str_append(s, z, n);
    z += n;
  }
  if (*z == 0) fail_msg("unterminated code block");
  char *zEol = strchr(z, '\n');
  *pz = zEol ? zEol + 1 : z + strlen(z);
  char *zBody = sqlite3_str_finish(s);
  return zBody ? zBody : sqlite3_mprintf("");
}

static int run_file(const char *zPath) {
  char *zDoc = tdb_read_file(zPath, 0);
  sqlite3 *db = tdb_open(":memory:");
  int nBlock = 0, nChecked = 0;
  char *z = zDoc;
  while ((z = strstr(z, "```sql\n")) != 0) {
    int iLine = 1;
    for (char *c = zDoc; c < z; c++) iLine += *c == '\n';
    z += 7;
    char *zSql = fenced_body(&z, 1);
    sqlite3_str *out = sqlite3_str_new(0);
    run_block(db, zSql, out);
    char *zGot = sqlite3_str_finish(out);
    if (zGot == 0) zGot = sqlite3_mprintf("");
    char *zNext = z;
    while (*zNext == '\n') zNext++;
    if (strncmp(zNext, "```output\n", 10) == 0) {
      z = zNext + 10;
      char *zWant = fenced_body(&z, 0);
      if (strcmp(zWant, zGot) != 0) {
        fail_msg("%s:%d: the example's output differs\n--- documented:\n%s--- actual:\n%s",
                 zPath, iLine, zWant, zGot);
      }
      sqlite3_free(zWant);
      nChecked++;
    } else if (strstr(zGot, "Error: ")) {
      fail_msg("%s:%d: the example fails:\n%s", zPath, iLine, zGot);
    }
    nBlock++;
    sqlite3_free(zSql);
    sqlite3_free(zGot);
  }
  tdb_close(db);
  free(zDoc);
  printf("  %s: %d examples, %d with checked output\n", zPath, nBlock, nChecked);
  return nBlock;
}

static void test_doc_examples(void **state) {
  (void)state;
  const char *zDir = getenv("VG_DOCS");
  if (zDir == 0) zDir = "docs";
  DIR *d = opendir(zDir);
  if (d == 0) fail_msg("cannot open %s", zDir);
  struct dirent *e;
  int nFile = 0, nBlock = 0;
  while ((e = readdir(d)) != 0) {
    size_t n = strlen(e->d_name);
    if (n < 3 || strcmp(e->d_name + n - 3, ".md") != 0) continue;
    char *zPath = sqlite3_mprintf("%s/%s", zDir, e->d_name);
    nBlock += run_file(zPath);
    nFile++;
    sqlite3_free(zPath);
  }
  closedir(d);
  assert_true(nFile >= 2 && nBlock >= 20);
}

int main(void) {
  const struct CMUnitTest tests[] = {cmocka_unit_test(test_doc_examples)};
  return cmocka_run_group_tests(tests, 0, 0);
}
