/*
** backup.c — a tenant's file copied with SQLite's online backup API, while
** the server goes on serving, and restored from such a copy when no server
** runs (docs/appliance.md#backups).
*/
#include "vecguardd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* The directory part of zPath ("." for none), malloc'd. */
static char *dir_of(const char *zPath) {
  const char *zSlash = strrchr(zPath, '/');
  if (!zSlash) return vgd_mprintf(".");
  return vgd_mprintf("%.*s", zSlash == zPath ? 1 : (int)(zSlash - zPath), zPath);
}

/* Copy database zFrom into the new file zTo with the backup API.  One step
** of all the pages: the copy is one snapshot, and in WAL mode the source's
** writers go on meanwhile.  The copy is left in WAL mode, as tenants are. */
static int copy_db(const char *zFrom, int bFromReadOnly, const char *zTo, char **pzErr) {
  sqlite3 *pSrc = NULL, *pDst = NULL, *pErrDb = NULL;
  int rc = sqlite3_open_v2(zFrom, &pSrc, bFromReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE, NULL);
  pErrDb = pSrc;
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(pSrc, VGD_BUSY_MS);
    rc = sqlite3_open_v2(zTo, &pDst, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    pErrDb = pDst;
  }
  if (rc == SQLITE_OK) {
    sqlite3_backup *pBackup = sqlite3_backup_init(pDst, "main", pSrc, "main");
    if (!pBackup) {
      rc = sqlite3_errcode(pDst);
    } else {
      /* A writer mid-checkpoint can hold the source briefly: retry ~5 s. */
      for (int i = 0; (rc = sqlite3_backup_step(pBackup, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED; i++) {
        if (i == 100) break;
        sqlite3_sleep(50);
      }
      int rcFinish = sqlite3_backup_finish(pBackup);
      rc = rc == SQLITE_DONE ? rcFinish : rc;
    }
  }
  if (rc == SQLITE_OK) rc = sqlite3_exec(pDst, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
  if (rc != SQLITE_OK)
    *pzErr = vgd_mprintf("cannot copy %s to %s: %s", zFrom, zTo, pErrDb ? sqlite3_errmsg(pErrDb) : "out of memory");
  sqlite3_close(pSrc);
  /* the last connection closing checkpoints the copy's WAL into the file */
  if (pDst && sqlite3_close(pDst) != SQLITE_OK && rc == SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot close %s", zTo);
    rc = SQLITE_ERROR;
  }
  if (rc == SQLITE_OK && vgd_fsync_path(zTo, 0)) {
    *pzErr = vgd_mprintf("cannot fsync %s: %s", zTo, strerror(errno));
    rc = SQLITE_IOERR;
  }
  return rc;
}

int vgd_tenant_backup(VgdStore *p, const char *zTenant, const char *zTo, char **pzName, long long *pnBytes,
                      char **pzErr) {
  static _Atomic unsigned nSeq; /* two backups at once never share a temp file */
  if (!vgd_tenant_exists(p, zTenant, NULL)) {
    *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    return SQLITE_NOTFOUND;
  }
  char *zPath = NULL, *zName = NULL;
  if (zTo) {
    zPath = vgd_mprintf("%s", zTo);
  } else {
    char *zDir = vgd_mprintf("%s/backups", p->zDir);
    if (mkdir(zDir, 0700) && errno != EEXIST) {
      *pzErr = vgd_mprintf("cannot create %s: %s", zDir, strerror(errno));
      free(zDir);
      return SQLITE_CANTOPEN;
    }
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    char zStamp[32];
    strftime(zStamp, sizeof zStamp, "%Y%m%dT%H%M%S", &tm);
    zName = vgd_mprintf("%s-%s.%03ldZ.db", zTenant, zStamp, (long)(tv.tv_usec / 1000));
    zPath = vgd_mprintf("%s/%s", zDir, zName);
    free(zDir);
  }
  char *zSrc = vgd_mprintf("%s/tenants/%s.db", p->zDir, zTenant);
  char *zTmp = vgd_mprintf("%s.tmp-%ld-%u", zPath, (long)getpid(), nSeq++);
  int rc = copy_db(zSrc, 0, zTmp, pzErr);
  /* link, not rename: an existing file (--to FILE, or a backup of the same
  ** millisecond) is never replaced. */
  if (rc == SQLITE_OK && link(zTmp, zPath)) {
    int e = errno;
    *pzErr = vgd_mprintf("cannot create %s: %s", zPath, strerror(e));
    rc = e == EEXIST ? SQLITE_CONSTRAINT : SQLITE_CANTOPEN;
  }
  /* linked: the name goes; not: a plain copy that failed, erased */
  if (rc == SQLITE_OK) unlink(zTmp);
  else vgd_erase_file(zTmp);
  struct stat st;
  if (rc == SQLITE_OK && stat(zPath, &st) == 0) {
    char *zDir = dir_of(zPath);
    vgd_fsync_path(zDir, 1);
    free(zDir);
    *pnBytes = (long long)st.st_size;
    if (pzName) *pzName = zName ? zName : vgd_mprintf("%s", zPath);
    zName = NULL;
  }
  free(zName);
  free(zPath);
  free(zSrc);
  free(zTmp);
  return rc;
}

/* A vecguard tenant's file: intact, with the documents table and the queue. */
static int check_tenant_file(const char *zFile, char **pzErr) {
  sqlite3 *db = NULL;
  sqlite3_stmt *pStmt = NULL;
  int rc = sqlite3_open_v2(zFile, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc == SQLITE_OK) rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    rc = sqlite3_step(pStmt);
    const char *z = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(pStmt, 0) : NULL;
    if (z && strcmp(z, "ok")) *pzErr = vgd_mprintf("%s fails the integrity check: %s", zFile, z);
    rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  sqlite3_finalize(pStmt);
  pStmt = NULL;
  if (rc == SQLITE_OK && !*pzErr)
    rc = sqlite3_prepare_v2(db, "SELECT count(*) FROM sqlite_schema WHERE name IN ('documents', 'vg_queue')", -1,
                            &pStmt, NULL);
  if (rc == SQLITE_OK && pStmt) {
    rc = sqlite3_step(pStmt);
    if (rc == SQLITE_ROW && sqlite3_column_int(pStmt, 0) != 2)
      *pzErr = vgd_mprintf("%s is not a vecguardd tenant's database (no documents table or no queue)", zFile);
    rc = rc == SQLITE_ROW ? SQLITE_OK : rc;
  }
  /* a file that is not a database fails here, with SQLITE_NOTADB */
  if (rc != SQLITE_OK && !*pzErr)
    *pzErr = vgd_mprintf("%s is not a vecguardd tenant's database: %s", zFile, db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  return *pzErr ? SQLITE_ERROR : SQLITE_OK;
}

int vgd_tenant_restore(VgdStore *p, const char *zTenant, const char *zFrom, char **pzErr) {
  if (!vgd_tenant_exists(p, zTenant, NULL)) {
    /* a new tenant would get a new PII key, not the one the copy was made with */
    *pzErr = vgd_mprintf("no tenant \"%s\" in this data directory: a copy is restored where its PII key is",
                         zTenant);
    return SQLITE_NOTFOUND;
  }
  int rc = check_tenant_file(zFrom, pzErr);
  if (rc != SQLITE_OK) return rc;
  char *zPath = vgd_mprintf("%s/tenants/%s.db", p->zDir, zTenant);
  /* In the tenants' directory, so the rename below stays on one file system;
  ** a dot name is no tenant's. */
  char *zTmp = vgd_mprintf("%s/tenants/.%s.restore-%ld", p->zDir, zTenant, (long)getpid());
  unlink(zTmp);
  rc = copy_db(zFrom, 1, zTmp, pzErr);
  if (rc == SQLITE_OK) {
    /* The old file's WAL would be replayed onto the new file: fold it into
    ** the old file (gone at the rename) and drop it first. */
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(zPath, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK)
      sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL);
    sqlite3_close(db);
    static const char *azSuffix[] = {"-wal", "-shm", "-journal"};
    for (int i = 0; i < 3 && rc == SQLITE_OK; i++) {
      char *zSide = vgd_mprintf("%s%s", zPath, azSuffix[i]);
      if (unlink(zSide) && errno != ENOENT) {
        *pzErr = vgd_mprintf("cannot remove %s: %s", zSide, strerror(errno));
        rc = SQLITE_IOERR;
      }
      free(zSide);
    }
  }
  if (rc == SQLITE_OK && rename(zTmp, zPath)) {
    *pzErr = vgd_mprintf("cannot rename %s to %s: %s", zTmp, zPath, strerror(errno));
    rc = SQLITE_IOERR;
  }
  if (rc == SQLITE_OK) {
    char *zDir = vgd_mprintf("%s/tenants", p->zDir);
    vgd_fsync_path(zDir, 1);
    free(zDir);
  } else {
    vgd_erase_file(zTmp);
  }
  free(zPath);
  free(zTmp);
  return rc;
}
