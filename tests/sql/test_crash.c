/*
** test_crash.c — a writer process killed with SIGKILL at random moments
** leaves a database that is whole: PRAGMA integrity_check is ok,
** vg_hnsw_check() finds the index clean and matching its rows, the vg_hnsw
** table holds exactly what an ordinary table written in the same
** transactions holds, and no transaction the writer saw commit is lost.
**
** The table has a fulltext column, so its BM25 index is checked the same
** way (vg_hnsw_check compares it with the rows' texts; full-text queries
** return min(k, matches)).
**
** The writer runs random transactions (inserts, replaces, deletes, vector,
** text and partition updates, a savepoint rolled back, a search and a
** full-text search that fill caches) in a child process and reports each commit through a pipe; this
** process kills it, checks the file, and starts the next writer on it.
** Kills per journal mode: $VG_CRASH_KILLS (default 5; make crash-test runs
** 50 in each mode).  Each run prints its seed; $VG_CRASH_SEED repeats it.
*/
#include "testdb.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DIMS 16
#define MAX_ROWID 4000

/* ---- the writer (child process: no cmocka here, errors exit) ---------- */

static void writer_exec(sqlite3 *db, const char *zSql) {
  char *zErr = 0;
  if (sqlite3_exec(db, zSql, 0, 0, &zErr) != SQLITE_OK) {
    fprintf(stderr, "writer: %s: %s\n", zSql, zErr ? zErr : "?");
    _exit(2);
  }
}

static sqlite3_stmt *writer_prepare(sqlite3 *db, const char *zSql) {
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, zSql, -1, &p, 0) != SQLITE_OK) {
    fprintf(stderr, "writer: %s: %s\n", zSql, sqlite3_errmsg(db));
    _exit(2);
  }
  return p;
}

static void writer_step(sqlite3_stmt *p) {
  int rc;
  while ((rc = sqlite3_step(p)) == SQLITE_ROW) {
  }
  if (rc != SQLITE_DONE) {
    fprintf(stderr, "writer: %s: %s\n", sqlite3_sql(p), sqlite3_errmsg(sqlite3_db_handle(p)));
    _exit(2);
  }
  sqlite3_reset(p);
}

/* The words of the texts (the checks count rows holding "fever"). */
static const char *const azWord[] = {"fever", "cough", "rash", "pain", "nausea", "chills", "the", "of"};

/* One random change, made alike to v and ref. */
static void writer_change(sqlite3_stmt *const *aStmt, uint64_t *s) {
  static const char *const azTenant[] = {"a", "b", "c"};
  float e[DIMS];
  char zBody[200];
  for (int i = 0; i < DIMS; i++) e[i] = (float)(tdb_uniform(s) * 2.0 - 1.0);
  int nWord = (int)(tdb_rand(s) % 12), n = 0;
  zBody[0] = 0;
  for (int i = 0; i < nWord; i++) {
    n += snprintf(zBody + n, sizeof zBody - (size_t)n, "%s%s", i ? " " : "", azWord[tdb_rand(s) % 8]);
  }
  sqlite3_int64 id = 1 + (sqlite3_int64)(tdb_rand(s) % MAX_ROWID);
  const char *zTenant = azTenant[tdb_rand(s) % 3];
  int op = (int)(tdb_rand(s) % 11);
  /* replace, delete, vector, tenant, text */
  int iStmt = op < 6 ? 0 : op < 8 ? 2 : op < 9 ? 4 : op < 10 ? 6 : 8;
  for (int t = 0; t < 2; t++) {
    sqlite3_stmt *p = aStmt[iStmt + t];
    sqlite3_bind_int64(p, 1, id);
    if (iStmt == 0 || iStmt == 4) sqlite3_bind_blob(p, 2, e, sizeof e, SQLITE_TRANSIENT);
    if (iStmt == 0) sqlite3_bind_text(p, 3, zTenant, -1, SQLITE_STATIC);
    if (iStmt == 0) sqlite3_bind_text(p, 4, zBody, -1, SQLITE_TRANSIENT);
    if (iStmt == 6) sqlite3_bind_text(p, 2, zTenant, -1, SQLITE_STATIC);
    if (iStmt == 8) sqlite3_bind_text(p, 2, zBody, -1, SQLITE_TRANSIENT);
    writer_step(p);
  }
}

static void writer(const char *zPath, uint64_t seed, int fd) {
  sqlite3 *db = 0;
  char *zErr = 0;
  if (sqlite3_open(zPath, &db) != SQLITE_OK) _exit(2);
  sqlite3_enable_load_extension(db, 1);
  if (sqlite3_load_extension(db, getenv("VG_EXTENSION"), 0, &zErr) != SQLITE_OK) _exit(2);
  sqlite3_busy_timeout(db, 10000);
  static const char *const azSql[] = {
      "INSERT OR REPLACE INTO v(rowid, e, tenant, body) VALUES (?1, ?2, ?3, ?4)",
      "INSERT OR REPLACE INTO ref(rowid, e, tenant, body) VALUES (?1, ?2, ?3, ?4)",
      "DELETE FROM v WHERE rowid = ?1",
      "DELETE FROM ref WHERE rowid = ?1",
      "UPDATE v SET e = ?2 WHERE rowid = ?1",
      "UPDATE ref SET e = ?2 WHERE rowid = ?1",
      "UPDATE v SET tenant = ?2 WHERE rowid = ?1",
      "UPDATE ref SET tenant = ?2 WHERE rowid = ?1",
      "UPDATE v SET body = ?2 WHERE rowid = ?1",
      "UPDATE ref SET body = ?2 WHERE rowid = ?1",
      "SELECT rowid FROM v WHERE e MATCH ?1 AND k = 5 AND tenant = 'a'",
      "INSERT INTO log(n) VALUES (?1)",
      "SELECT coalesce(max(n), 0) FROM log",
      "SELECT rowid FROM v WHERE body MATCH 'fever cough' AND k = 5 AND tenant = 'b'",
  };
  enum { N_STMT = sizeof azSql / sizeof azSql[0], S_SEARCH = 10, S_LOG = 11, S_MAX = 12, S_TEXT = 13 };
  sqlite3_stmt *aStmt[N_STMT];
  for (int i = 0; i < N_STMT; i++) aStmt[i] = writer_prepare(db, azSql[i]);
  if (sqlite3_step(aStmt[S_MAX]) != SQLITE_ROW) _exit(2);
  sqlite3_int64 n = sqlite3_column_int64(aStmt[S_MAX], 0);
  sqlite3_reset(aStmt[S_MAX]);
  uint64_t s = seed;
  for (;;) {
    writer_exec(db, "BEGIN");
    int nOps = 1 + (int)(tdb_rand(&s) % 40);
    for (int i = 0; i < nOps; i++) writer_change(aStmt, &s);
    if (tdb_rand(&s) % 4 == 0) {
      writer_exec(db, "SAVEPOINT sp");
      for (int i = 0; i < 10; i++) writer_change(aStmt, &s);
      writer_exec(db, "ROLLBACK TO sp; RELEASE sp");
    }
    float q[DIMS];
    for (int i = 0; i < DIMS; i++) q[i] = (float)tdb_uniform(&s);
    sqlite3_bind_blob(aStmt[S_SEARCH], 1, q, sizeof q, SQLITE_TRANSIENT);
    writer_step(aStmt[S_SEARCH]);
    writer_step(aStmt[S_TEXT]);
    sqlite3_bind_int64(aStmt[S_LOG], 1, ++n);
    writer_step(aStmt[S_LOG]);
    writer_exec(db, "COMMIT");
    if (write(fd, &n, sizeof n) != (ssize_t)sizeof n) _exit(2);
  }
}

/* ---- the checks (this process) ----------------------------------------- */

/* The last commit number the killed writer reported, or 0. */
static sqlite3_int64 last_reported(int fd) {
  sqlite3_int64 n = 0, x;
  while (read(fd, &x, sizeof x) == (ssize_t)sizeof x) n = x;
  return n;
}

static void check_database(const char *zPath, sqlite3_int64 nCommitted, int iKill) {
  sqlite3 *db = tdb_open(zPath);
  char *z = tdb_text(db, "PRAGMA integrity_check");
  if (strcmp(z, "ok") != 0) fail_msg("kill %d: integrity_check: %s", iKill, z);
  sqlite3_free(z);
  z = tdb_text(db, "SELECT vg_hnsw_check('v')");
  if (strstr(z, "\"ok\":true") == 0) fail_msg("kill %d: vg_hnsw_check: %s", iKill, z);
  sqlite3_free(z);
  sqlite3_int64 nDiff = tdb_int(db, "SELECT count(*) FROM ("
                                    "SELECT * FROM (SELECT rowid, e, tenant, body FROM v EXCEPT "
                                    "SELECT rowid, e, tenant, body FROM ref) UNION ALL "
                                    "SELECT * FROM (SELECT rowid, e, tenant, body FROM ref EXCEPT "
                                    "SELECT rowid, e, tenant, body FROM v))");
  if (nDiff != 0) fail_msg("kill %d: %lld rows differ between v and ref", iKill, nDiff);
  sqlite3_int64 nLog = tdb_int(db, "SELECT coalesce(max(n), 0) FROM log");
  if (nLog < nCommitted) {
    fail_msg("kill %d: transaction %lld committed, but the file ends at %lld", iKill, nCommitted,
             nLog);
  }
  /* a search per partition through whatever path it takes returns
  ** min(k, rows) rows */
  for (const char *zT = "abc"; *zT; zT++) {
    sqlite3_int64 nRows = tdb_int(db, "SELECT count(*) FROM ref WHERE tenant = '%c'", *zT);
    sqlite3_int64 nGot = tdb_int(db, "SELECT count(*) FROM v WHERE e MATCH vg_vector('[%s]') "
                                     "AND k = 50 AND tenant = '%c'",
                                 "1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1", *zT);
    assert_int_equal(nGot, nRows < 50 ? nRows : 50);
    /* and a full-text search returns min(k, rows holding the word) */
    sqlite3_int64 nFever = tdb_int(db, "SELECT count(*) FROM ref WHERE tenant = '%c' AND "
                                       "(' ' || body || ' ') LIKE '%% fever %%'", *zT);
    nGot = tdb_int(db, "SELECT count(*) FROM v WHERE body MATCH 'fever' AND k = 50 AND tenant = '%c'", *zT);
    assert_int_equal(nGot, nFever < 50 ? nFever : 50);
  }
  tdb_close(db);
}

static void crash_loop(const char *zJournal) {
  const char *zKills = getenv("VG_CRASH_KILLS");
  int nKills = zKills ? atoi(zKills) : 5;
  char *zPath = tdb_temp_path("crash.db");
  sqlite3 *db = tdb_open(zPath);
  tdb_exec(db, "PRAGMA journal_mode=%s", zJournal);
  tdb_exec(db, "CREATE VIRTUAL TABLE v USING vg_hnsw(e float[%d], tenant text partition key, +body text fulltext);"
               "CREATE TABLE ref(e BLOB, tenant TEXT, body TEXT);"
               "CREATE TABLE log(n INTEGER PRIMARY KEY)", DIMS);
  tdb_close(db);
  const char *zSeed = getenv("VG_CRASH_SEED"); /* to repeat a run's kill times */
  uint64_t s = zSeed ? strtoull(zSeed, 0, 10) : (uint64_t)time(0) * 2654435761u + (uint64_t)getpid();
  printf("  %s: %d kills, seed %llu\n", zJournal, nKills, (unsigned long long)s);
  sqlite3_int64 nMaxCommitted = 0;
  for (int iKill = 1; iKill <= nKills; iKill++) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    uint64_t seed = tdb_rand(&s);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      close(fd[0]);
      writer(zPath, seed, fd[1]);
    }
    close(fd[1]);
    /* the first writer runs longer, to grow the graph past exact search */
    long ms = (iKill == 1 ? 1500 : 20) + (long)(tdb_rand(&s) % 400);
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&t, 0);
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
      fail_msg("kill %d: the writer ended on its own (status %d)", iKill, status);
    }
    sqlite3_int64 n = last_reported(fd[0]);
    close(fd[0]);
    if (n > nMaxCommitted) nMaxCommitted = n;
    check_database(zPath, nMaxCommitted, iKill);
  }
  db = tdb_open(zPath);
  printf("  %s: %lld transactions committed, %lld rows at the end\n", zJournal,
         tdb_int(db, "SELECT max(n) FROM log"), tdb_int(db, "SELECT count(*) FROM v"));
  tdb_close(db);
  tdb_remove_db(zPath);
  sqlite3_free(zPath);
}

static void test_crash_wal(void **state) {
  (void)state;
  crash_loop("wal");
}

static void test_crash_rollback_journal(void **state) {
  (void)state;
  crash_loop("delete");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_crash_wal),
      cmocka_unit_test(test_crash_rollback_journal),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
