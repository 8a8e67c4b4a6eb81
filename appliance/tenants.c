/*
** tenants.c — a tenant is DIR/tenants/<id>.db (WAL) holding the table
** `documents`, and a row of keys.db holding its PII key, so the key never
** sits beside the data it protects.
*/
#include "vecguardd.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vecguard.h>

/* What vg_queue_run fills by name (docs/pipeline.md): the text primary key
** is content_type:content_id:chunk_index. */
static const char *kDocumentsTable =
    "CREATE VIRTUAL TABLE documents USING vg_hnsw(embedding float[384] distance_metric=cosine,"
    " id text primary key, content_type text, content_id text, chunk_index integer,"
    " +content text fulltext, +metadata text)";

/* Checked before any path is built: [a-z0-9][a-z0-9_-]{0,63}. */
int vgd_tenant_id_ok(const char *z) {
  size_t n = 0;
  if (!z) return 0;
  for (; z[n]; n++) {
    char c = z[n];
    int ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (n > 0 && (c == '_' || c == '-'));
    if (!ok || n >= VGD_TENANT_MAX) return 0;
  }
  return n > 0;
}

static char *tenant_path(VgdStore *p, const char *zTenant, const char *zSuffix) {
  return vgd_mprintf("%s/tenants/%s.db%s", p->zDir, zTenant, zSuffix);
}

int vgd_tenant_exists(VgdStore *p, const char *zTenant, long long *piSerial) {
  sqlite3_stmt *pStmt = NULL;
  int found = 0;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db, "SELECT serial FROM tenants WHERE id = ?", -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      found = 1;
      if (piSerial) *piSerial = sqlite3_column_int64(pStmt, 0);
    }
  }
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return found;
}

/* Run zSql with one text parameter on keys.db. */
static int store_exec1(VgdStore *p, const char *zSql, const char *zParam) {
  sqlite3_stmt *pStmt = NULL;
  pthread_mutex_lock(&p->mu);
  int rc = sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zParam, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* Fill the tenant's PII key into aKey. */
static int pii_key(VgdStore *p, const char *zTenant, unsigned char *aKey) {
  sqlite3_stmt *pStmt = NULL;
  int ok = 0;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db, "SELECT pii_key FROM tenants WHERE id = ?", -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_bytes(pStmt, 0) == 32) {
      memcpy(aKey, sqlite3_column_blob(pStmt, 0), 32);
      ok = 1;
    }
  }
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return ok;
}

/* A connection on the tenant's file with vecguard set up and aKey as its
** PII key. */
static sqlite3 *open_file(VgdStore *p, const char *zTenant, const unsigned char *aKey, int bCreate, char **pzErr) {
  char *zPath = tenant_path(p, zTenant, "");
  sqlite3 *db = NULL;
  char *zInitErr = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (bCreate ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(zPath, &db, flags, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(db, VGD_BUSY_MS);
    rc = vecguard_init(db, &zInitErr);
  }
  if (rc == SQLITE_OK && bCreate) rc = sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
  if (rc == SQLITE_OK && p->mmapBytes > 0) {
    /* pages read from the mapping, not copied through read(2) */
    char zPragma[64];
    snprintf(zPragma, sizeof zPragma, "PRAGMA mmap_size=%lld", p->mmapBytes);
    rc = sqlite3_exec(db, zPragma, NULL, NULL, NULL);
  }
  if (rc == SQLITE_OK) {
    sqlite3_stmt *pStmt = NULL;
    rc = sqlite3_prepare_v2(db, "SELECT vg_pii_set_key(?)", -1, &pStmt, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_bind_blob(pStmt, 1, aKey, 32, SQLITE_TRANSIENT);
      rc = sqlite3_step(pStmt) == SQLITE_ROW ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(pStmt);
  }
  if (rc != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot open %s: %s", zPath, zInitErr ? zInitErr : db ? sqlite3_errmsg(db) : "out of memory");
    sqlite3_free(zInitErr);
    sqlite3_close(db);
    db = NULL;
  }
  free(zPath);
  return db;
}

sqlite3 *vgd_tenant_open(VgdStore *p, const char *zTenant, char **pzErr) {
  unsigned char aKey[32];
  if (!pii_key(p, zTenant, aKey)) {
    *pzErr = vgd_mprintf("tenant \"%s\" has no PII key in keys.db", zTenant);
    return NULL;
  }
  sqlite3 *db = open_file(p, zTenant, aKey, 0, pzErr);
  sodium_memzero(aKey, sizeof aKey);
  return db;
}

/* List zTenant in keys.db with PII key aKey and make its first API key
** (*pzKey): leftover keys of an earlier tenant of that id (a deletion that
** raced with a key's creation) go first.  SQLITE_CONSTRAINT when it is
** listed already. */
static int register_tenant(VgdStore *p, const char *zTenant, const unsigned char *aKey, char **pzKey, char **pzErr) {
  int rc = store_exec1(p, "DELETE FROM api_keys WHERE tenant = ?", zTenant);
  sqlite3_stmt *pStmt = NULL;
  pthread_mutex_lock(&p->mu);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(p->db, "INSERT INTO tenants(id, pii_key) VALUES (?, ?)", -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_blob(pStmt, 2, aKey, 32, SQLITE_STATIC);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : sqlite3_errcode(p->db) & 0xff;
  }
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  char *zId = NULL;
  if (rc == SQLITE_CONSTRAINT) *pzErr = vgd_mprintf("tenant \"%s\" exists already", zTenant);
  else if (rc != SQLITE_OK) *pzErr = vgd_mprintf("cannot register tenant \"%s\": %s", zTenant, sqlite3_errstr(rc));
  else if (pzKey && vgd_key_create(p, zTenant, "search,ingest", pzKey, &zId, pzErr)) {
    store_exec1(p, "DELETE FROM tenants WHERE id = ?", zTenant); /* not listed without a key */
    rc = SQLITE_ERROR;
  }
  free(zId);
  return rc;
}

/* Overwrite with zeros, fsync, unlink: the bytes do not outlive the tenant
** in the file system's free space through this file at least. */
int vgd_erase_file(const char *zPath) {
  int fd = open(zPath, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT ? 0 : -1;
  struct stat st;
  int rc = fstat(fd, &st);
  static const char aZero[65536];
  for (off_t done = 0; rc == 0 && done < st.st_size;) {
    size_t n = st.st_size - done < (off_t)sizeof aZero ? (size_t)(st.st_size - done) : sizeof aZero;
    ssize_t w = pwrite(fd, aZero, n, done);
    if (w <= 0) rc = -1;
    else done += w;
  }
  if (rc == 0) rc = fsync(fd);
  close(fd);
  if (rc == 0) rc = unlink(zPath);
  return rc;
}

static int erase_tenant_files(VgdStore *p, const char *zTenant) {
  static const char *azSuffix[] = {"", "-wal", "-shm", "-journal"};
  int rc = 0;
  for (int i = 0; i < 4; i++) {
    char *zPath = tenant_path(p, zTenant, azSuffix[i]);
    if (vgd_erase_file(zPath)) rc = -1;
    free(zPath);
  }
  char *zDir = vgd_mprintf("%s/tenants", p->zDir);
  vgd_fsync_path(zDir, 1);
  free(zDir);
  return rc;
}

int vgd_tenant_create(VgdStore *p, const char *zTenant, char **pzKey, char **pzErr) {
  if (vgd_tenant_exists(p, zTenant, NULL)) {
    *pzErr = vgd_mprintf("tenant \"%s\" exists already", zTenant);
    return SQLITE_CONSTRAINT;
  }
  /* The path is claimed with O_EXCL: of two creations of one id (two
  ** requests, or the command line beside a server), one makes the file. */
  char *zPath = tenant_path(p, zTenant, "");
  int fd = open(zPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno, bListed = e == EEXIST && vgd_tenant_exists(p, zTenant, NULL);
    *pzErr = bListed       ? vgd_mprintf("tenant \"%s\" exists already", zTenant)
             : e == EEXIST ? vgd_mprintf("%s exists but keys.db does not list tenant \"%s\": move the file away first",
                                         zPath, zTenant)
                           : vgd_mprintf("cannot create %s: %s", zPath, strerror(e));
    free(zPath);
    return bListed ? SQLITE_CONSTRAINT : SQLITE_CANTOPEN;
  }
  close(fd);
  free(zPath);
  /* The file is made whole before keys.db lists the tenant, so nobody (a
  ** worker, a request) ever finds it listed and half made. */
  unsigned char aKey[32];
  randombytes_buf(aKey, sizeof aKey);
  int rc = SQLITE_OK;
  sqlite3 *db = open_file(p, zTenant, aKey, 1, pzErr);
  if (db) {
    /* vg_queue_stats creates the queue's tables, which a PUT reads first. */
    char *zSql = vgd_mprintf("%s; SELECT vg_queue_stats();", kDocumentsTable);
    int rcExec = sqlite3_exec(db, zSql, NULL, NULL, NULL);
    free(zSql);
    if (rcExec != SQLITE_OK) {
      *pzErr = vgd_mprintf("cannot create the table of tenant \"%s\": %s", zTenant, sqlite3_errmsg(db));
      rc = SQLITE_ERROR;
    }
    sqlite3_close(db);
  } else {
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK) rc = register_tenant(p, zTenant, aKey, pzKey, pzErr);
  sodium_memzero(aKey, sizeof aKey);
  if (rc != SQLITE_OK) erase_tenant_files(p, zTenant);
  return rc;
}

int vgd_tenant_delete(VgdStore *p, const char *zTenant, char **pzErr) {
  if (!vgd_tenant_exists(p, zTenant, NULL)) {
    *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    return SQLITE_NOTFOUND;
  }
  if (erase_tenant_files(p, zTenant)) {
    *pzErr = vgd_mprintf("cannot erase the files of tenant \"%s\": %s", zTenant, strerror(errno));
    return SQLITE_IOERR;
  }
  /* The PII key goes last: with it, the tenant's hashes and encrypted
  ** values anywhere else become unreadable. */
  if (store_exec1(p, "DELETE FROM api_keys WHERE tenant = ?", zTenant) != SQLITE_OK ||
      store_exec1(p, "DELETE FROM tenants WHERE id = ?", zTenant) != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot remove tenant \"%s\" from keys.db", zTenant);
    return SQLITE_ERROR;
  }
  return SQLITE_OK;
}

int vgd_tenant_pii_key(VgdStore *p, const char *zTenant, unsigned char *aKey) {
  return pii_key(p, zTenant, aKey);
}

int vgd_tenant_adopt(VgdStore *p, const char *zTenant, const unsigned char *aKey, char **pzKey, char **pzErr) {
  unsigned char aHave[32];
  if (pzKey) *pzKey = NULL;
  if (pii_key(p, zTenant, aHave)) {
    int bSame = sodium_memcmp(aHave, aKey, 32) == 0;
    sodium_memzero(aHave, sizeof aHave);
    if (bSame) return SQLITE_OK;
    *pzErr = vgd_mprintf("tenant \"%s\" exists here with another PII key: delete it first, or restore elsewhere",
                         zTenant);
    return SQLITE_CONSTRAINT;
  }
  return register_tenant(p, zTenant, aKey, pzKey, pzErr);
}
