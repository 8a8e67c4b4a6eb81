/*
** syncd.c — sync inside the server (docs/sync.md#in-the-server).  A box
** (serve with [sync] target) has a thread that pushes each tenant whose
** file changed, every interval, and whatever falls due without a change
** (retention); a push that fails (the store offline, slow, answering 5xx)
** is tried again next interval while the box goes on serving.  A hub
** (serve --replica) pulls tenants read-only: on demand (the first time an
** admin names one) and then every interval, each refreshed by swapping in
** a file built aside, with callers held for the moment of the rename.
**
** The VgdSync (one object store, one sync.db connection) is used under
** syncMu: by the thread, and by a pull on demand.  mu guards the rest,
** held briefly, so a status request never waits for the store.
*/
#include "vecguardd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "mtime of the file:mtime and size of its -wal": changes when it is written. */
static char *file_signature(VgdStore *pStore, const char *zTenant) {
  char *zDb = vgd_mprintf("%s/tenants/%s.db", pStore->zDir, zTenant), *zWal = vgd_mprintf("%s-wal", zDb);
  struct stat a, b;
  memset(&b, 0, sizeof b);
  int bDb = stat(zDb, &a) == 0;
  if (stat(zWal, &b)) memset(&b, 0, sizeof b);
  char *zSig = bDb ? vgd_mprintf("%lld.%ld:%lld.%ld:%lld", (long long)a.st_mtim.tv_sec, a.st_mtim.tv_nsec,
                                 (long long)b.st_mtim.tv_sec, b.st_mtim.tv_nsec, (long long)b.st_size)
                   : NULL;
  free(zWal);
  free(zDb);
  return zSig;
}

/* The unix time a push of zTenant falls due without a change, or 0: when
** retention asks for one, and every 60 intervals in any case (a file's
** times are kept to a clock tick: a write in the tick of the last look,
** that left the WAL's size as it was, would otherwise wait for the next). */
static long long due_at(VgdSyncd *d, const char *zTenant, int *pbNever) {
  sqlite3_stmt *pStmt = NULL;
  long long t = 0;
  *pbNever = 1;
  if (sqlite3_prepare_v2(d->sync.dbState, "SELECT due_at, synced_at, attempted_at FROM sync_state WHERE tenant = ?1",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      t = sqlite3_column_int64(pStmt, 0);
      *pbNever = sqlite3_column_type(pStmt, 1) == SQLITE_NULL;
      long long tSafe = sqlite3_column_int64(pStmt, 2) + 60 * d->interval;
      if (!t || tSafe < t) t = tSafe;
    }
  }
  sqlite3_finalize(pStmt);
  return t;
}

/* The store's tenants as a JSON array, or NULL (logged). */
static json_t *tenants(VgdServer *s) {
  char *zErr = NULL, *zList = vgd_tenant_list(&s->store, &zErr);
  json_t *pList = zList ? json_loads(zList, 0, NULL) : NULL;
  if (!pList) vgd_log("error", "sync", "cannot list the tenants: %s", zErr ? zErr : "out of memory");
  free(zList);
  free(zErr);
  return pList;
}

/* ---- the box: push ----------------------------------------------------------- */

static void push_round(VgdSyncd *d) {
  VgdServer *s = d->pServer;
  char *zErr = NULL;
  json_t *pList = tenants(s);
  if (!pList) return;
  long long now = (long long)time(NULL);
  size_t i;
  json_t *v;
  json_array_foreach(pList, i, v) {
    if (s->bStop || d->bStop) break;
    const char *zTenant = json_string_value(v);
    char *zSig = file_signature(&s->store, zTenant);
    int bNever = 0;
    long long due = due_at(d, zTenant, &bNever);
    pthread_mutex_lock(&d->mu);
    const char *zSeen = json_string_value(json_object_get(d->pSeen, zTenant));
    int bSame = zSig && zSeen && !strcmp(zSig, zSeen);
    long long leased = json_integer_value(json_object_get(d->pLeased, zTenant));
    pthread_mutex_unlock(&d->mu);
    /* the lease lasts 3 intervals and a minute: renewed an interval and a
    ** minute after it was taken, so that a box that misses two rounds
    ** keeps its tenants, idle ones too */
    int bRenew = now >= leased + d->leaseSeconds - 2 * d->interval;
    int flags = 0;
    if (bSame && !bNever && !(due && due <= now)) {
      if (!bRenew) {
        free(zSig);
        continue;
      }
      flags = VGD_SYNC_LEASE_ONLY;
    }
    VgdSyncResult res;
    double t0 = vgd_now();
    /* the signature is taken before the copy: a write during the push
    ** makes the next round push again */
    if (vgd_sync_push(&d->sync, &s->store, zTenant, flags, &res, &zErr) == 0) {
      pthread_mutex_lock(&d->mu);
      json_object_set_new(d->pLeased, zTenant, json_integer(now));
      pthread_mutex_unlock(&d->mu);
      if (flags) {
        free(zSig);
        continue;
      }
      pthread_mutex_lock(&d->mu);
      if (zSig) json_object_set_new(d->pSeen, zTenant, json_string(zSig));
      pthread_mutex_unlock(&d->mu);
      d->nPushes++;
      d->nBytes += res.nBytes;
      d->lastOkAt = (long long)time(NULL);
      if (!res.bUnchanged)
        vgd_log_json("info", "sync", json_pack("{s:s,s:I,s:I,s:i,s:b,s:I,s:i,s:f}", "tenant", zTenant, "seq",
                                               (json_int_t)res.seq, "bytes", (json_int_t)res.nBytes, "objects",
                                               res.nObjects, "snapshot", res.bSnapshot, "pages",
                                               (json_int_t)res.nPages, "deleted", res.nDeleted, "seconds",
                                               vgd_now() - t0));
    } else {
      d->nFailures++;
      vgd_log_json("warn", "sync", json_pack("{s:s,s:s}", "tenant", zTenant, "error", zErr ? zErr : "?"));
    }
    free(zErr);
    zErr = NULL;
    free(zSig);
  }
  json_decref(pList);
  /* tenants deleted here: their copies go once gone for the retention */
  json_t *pGone = vgd_sync_gone(&d->sync, &s->store);
  json_array_foreach(pGone, i, v) {
    int nDeleted = 0;
    if (s->bStop || d->bStop) break;
    if (vgd_sync_forget(&d->sync, &s->store, json_string_value(v), 0, &nDeleted, &zErr))
      vgd_log_json("warn", "sync", json_pack("{s:s,s:s}", "tenant", json_string_value(v), "error", zErr ? zErr : "?"));
    else if (nDeleted)
      vgd_log_json("info", "sync", json_pack("{s:s,s:i}", "tenant_erased", json_string_value(v), "objects", nDeleted));
    free(zErr);
    zErr = NULL;
  }
  json_decref(pGone);
}

/* ---- the hub: pull -------------------------------------------------------------- */

/* What a replica holds of zTenant (sync_state: seq, snapshot_seq). */
static void replica_load(VgdSyncd *d, const char *zTenant, VgdPull *pPull) {
  sqlite3_stmt *pStmt = NULL;
  memset(pPull, 0, sizeof *pPull);
  if (sqlite3_prepare_v2(d->sync.dbState, "SELECT seq, snapshot_seq, file_hash FROM sync_state WHERE tenant = ?1", -1,
                         &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      pPull->seq = sqlite3_column_int64(pStmt, 0);
      pPull->snapshotSeq = sqlite3_column_int64(pStmt, 1);
      const char *zHash = (const char *)sqlite3_column_text(pStmt, 2);
      snprintf(pPull->zFileHash, sizeof pPull->zFileHash, "%s", zHash ? zHash : "");
    }
  }
  sqlite3_finalize(pStmt);
}

static void replica_save(VgdSyncd *d, const char *zTenant, const VgdPull *pPull, const char *zErr) {
  sqlite3_stmt *pStmt = NULL;
  const char *zSql = zErr ? "INSERT INTO sync_state(tenant, attempted_at, last_error) VALUES (?1, ?5, ?6) "
                            "ON CONFLICT(tenant) DO UPDATE SET attempted_at = ?5, last_error = ?6"
                          : "INSERT INTO sync_state(tenant, seq, snapshot_seq, synced_at, attempted_at, file_hash) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?7) ON CONFLICT(tenant) DO UPDATE SET seq = ?2, "
                            "snapshot_seq = ?3, synced_at = ?4, attempted_at = ?5, last_error = NULL, file_hash = ?7";
  if (sqlite3_prepare_v2(d->sync.dbState, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, pPull->seq);
    sqlite3_bind_int64(pStmt, 3, pPull->snapshotSeq);
    sqlite3_bind_int64(pStmt, 4, pPull->created);
    sqlite3_bind_int64(pStmt, 5, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(pStmt, 6, zErr, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 7, pPull->zFileHash, -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* A served tenant whose copies were erased at the source (deleted there):
** erased here too, file, base and keys. */
static int replica_erase(VgdSyncd *d, const char *zTenant, const char *zBase) {
  VgdServer *s = d->pServer;
  char *zErr = NULL;
  vgd_pool_exclude(&s->pool, zTenant, 0);
  int rc = vgd_tenant_delete(&s->store, zTenant, &zErr);
  vgd_pool_include(&s->pool, zTenant);
  vgd_erase_file(zBase);
  vgd_sync_state_drop(&d->sync, zTenant);
  if (rc == SQLITE_OK) {
    vgd_metrics_forget_tenant(&s->metrics, zTenant);
    vgd_log_json("info", "replica", json_pack("{s:s}", "tenant_erased", zTenant));
  } else {
    vgd_log_json("warn", "replica", json_pack("{s:s,s:s}", "tenant", zTenant, "error", zErr ? zErr : "?"));
  }
  free(zErr);
  return rc == SQLITE_OK ? 0 : -1;
}

/* zTenant brought to its latest manifest, under syncMu: the base (DIR/
** replica/<t>.db, never opened by SQLite) updated, then copied beside the
** served file and renamed over it while callers wait. */
static int pull_locked(VgdSyncd *d, const char *zTenant, char **pzErr) {
  VgdServer *s = d->pServer;
  VgdPull pull;
  replica_load(d, zTenant, &pull);
  char *zBase = vgd_mprintf("%s/replica/%s.db", s->store.zDir, zTenant);
  char *zNext = vgd_mprintf("%s/tenants/.%s.next", s->store.zDir, zTenant);
  char *zServed = vgd_mprintf("%s/tenants/%s.db", s->store.zDir, zTenant);
  char *zOld = vgd_mprintf("%s/tenants/.%s.old", s->store.zDir, zTenant);
  int bListed = vgd_tenant_exists(&s->store, zTenant, NULL);
  if (!bListed) pull.seq = 0; /* nothing served: build whole */
  int rc = vgd_sync_pull(&d->sync, &s->store, zTenant, zBase, &pull, pzErr);
  if (rc == VGD_SYNC_NO_TENANT && bListed && replica_erase(d, zTenant, zBase) == 0) {
    free(*pzErr);
    *pzErr = NULL;
    rc = 0;
  } else if (rc == 1 && bListed && access(zServed, F_OK) == 0) {
    replica_save(d, zTenant, &pull, NULL);
    rc = 0;
  } else if (rc >= 0) {
    rc = vgd_copy_file(zBase, zNext, pzErr);
    if (rc == 0) {
      vgd_pool_exclude(&s->pool, zTenant, 1);
      static const char *azSide[] = {"-wal", "-shm"};
      for (int i = 0; i < 2; i++) {
        char *zSide = vgd_mprintf("%s%s", zServed, azSide[i]);
        unlink(zSide);
        free(zSide);
      }
      /* the file served until now is linked aside and erased once out of
      ** use: its plain pages do not stay in the file system's free space */
      if (link(zServed, zOld) && errno != ENOENT) {
        *pzErr = vgd_mprintf("cannot link %s to %s: %s", zServed, zOld, strerror(errno));
        rc = -1;
      }
      if (rc == 0 && rename(zNext, zServed)) {
        *pzErr = vgd_mprintf("cannot rename %s to %s: %s", zNext, zServed, strerror(errno));
        rc = -1;
      }
      if (rc == 0) {
        char *zDir = vgd_mprintf("%s/tenants", s->store.zDir);
        vgd_fsync_path(zDir, 1);
        free(zDir);
      }
      /* listed once its file is in place, with the PII key it was made with */
      if (rc == 0 && !bListed && vgd_tenant_adopt(&s->store, zTenant, pull.piiKey, NULL, pzErr) != SQLITE_OK) rc = -1;
      vgd_pool_include(&s->pool, zTenant);
      vgd_erase_file(zOld);
    }
    unlink(zNext);
    if (rc == 0) {
      d->nPulls++;
      replica_save(d, zTenant, &pull, NULL);
      vgd_log_json("info", "replica", json_pack("{s:s,s:I,s:I}", "tenant", zTenant, "seq", (json_int_t)pull.seq,
                                                "lag_seconds", (json_int_t)(time(NULL) - pull.created)));
    }
  }
  /* a name the target does not know is no failure, and leaves no row */
  if (rc && !(rc == VGD_SYNC_NO_TENANT && !bListed)) {
    d->nFailures++;
    replica_save(d, zTenant, &pull, *pzErr);
  }
  memset(pull.piiKey, 0, sizeof pull.piiKey);
  free(zBase);
  free(zNext);
  free(zServed);
  free(zOld);
  return rc;
}

int vgd_syncd_pull(VgdSyncd *d, const char *zTenant, char **pzErr) {
  pthread_mutex_lock(&d->syncMu);
  int rc = d->bOpen ? pull_locked(d, zTenant, pzErr) : -1;
  if (!d->bOpen) *pzErr = vgd_mprintf("the sync target cannot be used: %s", d->zOpenErr ? d->zOpenErr : "?");
  pthread_mutex_unlock(&d->syncMu);
  return rc;
}

static void pull_round(VgdSyncd *d) {
  VgdServer *s = d->pServer;
  char *zErr = NULL;
  json_t *pList = tenants(s);
  size_t i;
  json_t *v;
  json_array_foreach(pList, i, v) {
    if (s->bStop || d->bStop) break;
    pthread_mutex_lock(&d->syncMu);
    if (pull_locked(d, json_string_value(v), &zErr))
      vgd_log_json("warn", "replica", json_pack("{s:s,s:s}", "tenant", json_string_value(v), "error", zErr ? zErr : "?"));
    pthread_mutex_unlock(&d->syncMu);
    free(zErr);
    zErr = NULL;
  }
  json_decref(pList);
  free(zErr);
}

/* ---- the thread ------------------------------------------------------------------ */

static void *syncd_main(void *pArg) {
  VgdSyncd *d = pArg;
  VgdServer *s = d->pServer;
  pthread_mutex_lock(&d->mu);
  while (!d->bStop) {
    pthread_mutex_unlock(&d->mu);
    pthread_mutex_lock(&d->syncMu);
    if (!d->bOpen) {
      /* a key file or target fixed while the server runs is taken up */
      free(d->zOpenErr);
      d->zOpenErr = NULL;
      d->bOpen = vgd_sync_open(&d->sync, &s->store, &d->cfg, d->zKeyFile, d->retention, d->leaseSeconds,
                               &d->zOpenErr) == 0;
      if (!d->bOpen) vgd_log("error", "sync", "%s", d->zOpenErr);
      else d->sync.store.pbCancel = &d->bStop;
    }
    int bOpen = d->bOpen;
    if (bOpen && !d->bReplica) push_round(d);
    pthread_mutex_unlock(&d->syncMu);
    if (bOpen && d->bReplica) pull_round(d);
    pthread_mutex_lock(&d->mu);
    d->nRounds++;
    pthread_cond_broadcast(&d->cond);
    struct timespec until = vgd_deadline((long)(d->interval * 1000));
    while (!d->bStop && !d->bNow && pthread_cond_timedwait(&d->cond, &d->mu, &until) != ETIMEDOUT) {
    }
    d->bNow = 0;
  }
  pthread_mutex_unlock(&d->mu);
  return NULL;
}

int vgd_syncd_start(VgdSyncd *d, VgdServer *s) {
  d->pServer = s;
  char *zReplica = vgd_mprintf("%s/replica", s->store.zDir);
  int bDir = !d->bReplica || mkdir(zReplica, 0700) == 0 || errno == EEXIST;
  free(zReplica);
  if (!bDir) return -1;
  pthread_mutex_init(&d->mu, NULL);
  pthread_mutex_init(&d->syncMu, NULL);
  pthread_cond_init(&d->cond, NULL);
  d->pSeen = json_object();
  d->pLeased = json_object();
  if (pthread_create(&d->thread, NULL, syncd_main, d)) return -1;
  d->bStarted = 1;
  return 0;
}

void vgd_syncd_stop(VgdSyncd *d) {
  if (!d->bStarted) return;
  pthread_mutex_lock(&d->mu);
  d->bStop = 1;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->mu);
  pthread_join(d->thread, NULL);
  if (d->bOpen) vgd_sync_close(&d->sync);
  free(d->zOpenErr);
  json_decref(d->pSeen);
  json_decref(d->pLeased);
  pthread_mutex_destroy(&d->mu);
  pthread_mutex_destroy(&d->syncMu);
  pthread_cond_destroy(&d->cond);
  d->bStarted = 0;
}

/* ---- status ------------------------------------------------------------------------ */

json_t *vgd_syncd_status(VgdSyncd *d, const char *zTenant) {
  VgdServer *s = d->pServer;
  char *zState = vgd_mprintf("%s/sync.db", s->store.zDir);
  sqlite3 *db = NULL;
  sqlite3_stmt *pStmt = NULL;
  json_t *pOut = json_pack("{s:s,s:s,s:I}", "role", d->bReplica ? "replica" : "box", "target", d->cfg.zTarget,
                           "interval", (json_int_t)d->interval);
  long long now = (long long)time(NULL), synced = 0;
  if (sqlite3_open_v2(zState, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db,
                         "SELECT seq, synced_at, attempted_at, last_error, pending_bytes, bytes_sent "
                         "FROM sync_state WHERE tenant = ?1",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_busy_timeout(db, VGD_BUSY_MS);
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      synced = sqlite3_column_int64(pStmt, 1);
      json_object_set_new(pOut, "seq", json_integer(sqlite3_column_int64(pStmt, 0)));
      json_object_set_new(pOut, "synced_at", sqlite3_column_type(pStmt, 1) == SQLITE_NULL
                                                 ? json_null()
                                                 : json_integer(sqlite3_column_int64(pStmt, 1)));
      json_object_set_new(pOut, "attempted_at", json_integer(sqlite3_column_int64(pStmt, 2)));
      const char *zErr = (const char *)sqlite3_column_text(pStmt, 3);
      json_object_set_new(pOut, "last_error", zErr ? json_string(zErr) : json_null());
      json_object_set_new(pOut, "pending_bytes", json_integer(sqlite3_column_int64(pStmt, 4)));
      json_object_set_new(pOut, "bytes_sent", json_integer(sqlite3_column_int64(pStmt, 5)));
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_close(db);
  free(zState);
  if (!json_object_get(pOut, "seq")) {
    json_object_set_new(pOut, "seq", json_integer(0));
    json_object_set_new(pOut, "synced_at", json_null());
    json_object_set_new(pOut, "last_error", json_null());
    json_object_set_new(pOut, "pending_bytes", json_integer(0));
  }
  /* a box lags from its last push once written since; a replica by the
  ** age of the push it serves */
  long long lag = 0;
  if (d->bReplica) {
    lag = synced ? now - synced : 0;
  } else {
    char *zSig = file_signature(&s->store, zTenant);
    pthread_mutex_lock(&d->mu);
    const char *zSeen = json_string_value(json_object_get(d->pSeen, zTenant));
    int bChanged = !zSeen || !zSig || strcmp(zSeen, zSig);
    pthread_mutex_unlock(&d->mu);
    free(zSig);
    lag = bChanged && synced ? now - synced : 0;
    json_object_set_new(pOut, "changed_since_sync", json_boolean(bChanged));
  }
  json_object_set_new(pOut, "lag_seconds", json_integer(lag < 0 ? 0 : lag));
  return pOut;
}

void vgd_syncd_now(VgdSyncd *d) {
  pthread_mutex_lock(&d->mu);
  d->bNow = 1;
  pthread_cond_broadcast(&d->cond);
  pthread_mutex_unlock(&d->mu);
}
