/*
** workers.c — N threads embed the tenants' queues: one vg_queue_run batch
** per tenant in turn, so a tenant with a long queue does not starve others.
** Only tenants with work are visited: a write marks its tenant due, a batch
** that leaves items keeps it due (at once, or in a second for items that
** wait on a lease or a backoff), and at start and on SIGHUP all tenants
** are looked at, for work left by a crash or written by another process.
** So a thousand idle tenants cost nothing, and their connections do not
** crowd the pool.  Workers take their connections from the pool, as
** requests do.
*/
#include "vecguardd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* One batch for zTenant: the number of items claimed, -1 if the batch
** failed; *pnLeft the items left to do (-1 when the tenant is gone or
** unreadable). */
static int run_batch(VgdWorker *w, const char *zTenant, int bRelease, long long *pnLeft) {
  VgdServer *s = w->pServer;
  int nClaimed = 0;
  *pnLeft = -1;
  long long iSerial;
  sqlite3 *db = NULL;
  char *zErr = NULL;
  if (vgd_tenant_exists(&s->store, zTenant, &iSerial) &&
      vgd_pool_get(&s->pool, &s->store, zTenant, iSerial, &db, &zErr) != SQLITE_OK) {
    vgd_log("error", "worker", "worker %d: %s", w->iWorker, zErr);
    free(zErr);
  }
  sqlite3_stmt *pStmt = NULL;
  /* Only this process works on its tenants' files (serve.lock): items that
  ** a worker of an earlier run held were left by a crash or a kill. */
  if (db && bRelease && sqlite3_prepare_v2(db, "SELECT vg_queue_release('" VGD_WORKER_ID "')", -1, &pStmt, NULL) ==
                            SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_int(pStmt, 0) > 0)
    vgd_log_json("info", "release", json_pack("{s:i}", "items", sqlite3_column_int(pStmt, 0)));
  sqlite3_finalize(pStmt);
  pStmt = NULL;
  double t0 = vgd_now();
  /* After a batch that found the file busy past the timeout (it loses the
  ** races of SQLite's busy handler to a steady stream of PUTs), the next
  ** takes its turn with the tenant's HTTP writes.  Not always: a batch
  ** holding the turn keeps PUTs from queueing items, so batches stay
  ** small and ingest slows down (13 PUTs/s instead of 88 on 100,000
  ** documents). */
  pthread_mutex_t *pLock = bRelease ? vgd_write_lock(s, zTenant) : NULL;
  if (pLock) pthread_mutex_lock(pLock);
  if (db && sqlite3_prepare_v2(db, "SELECT vg_queue_run(64, '" VGD_WORKER_ID "')", -1, &pStmt, NULL) == SQLITE_OK) {
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      json_t *pSummary = json_loads((const char *)sqlite3_column_text(pStmt, 0), 0, NULL);
      nClaimed = (int)json_integer_value(json_object_get(pSummary, "claimed"));
      json_decref(pSummary);
      if (nClaimed) vgd_metrics_embed(&s->metrics, nClaimed, vgd_now() - t0);
    } else {
      /* a busy file, a model not loaded: try later (settle backs off) */
      int rc = sqlite3_errcode(db);
      nClaimed = rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? -2 : -1;
      if (nClaimed == -1 || bRelease)
        vgd_log("warn", "worker", "worker %d: tenant %s: %s", w->iWorker, zTenant, sqlite3_errmsg(db));
    }
  }
  sqlite3_finalize(pStmt);
  if (pLock) pthread_mutex_unlock(pLock);
  /* what is left, by priority, for vecguardd_queue_pending */
  pStmt = NULL;
  if (db && sqlite3_prepare_v2(db,
                               "SELECT coalesce(sum(priority = 'high'), 0), coalesce(sum(priority = 'medium'), 0),"
                               " coalesce(sum(priority = 'low'), 0) FROM vg_queue"
                               " WHERE status IN ('pending', 'failed', 'processing')",
                               -1, &pStmt, NULL) == SQLITE_OK &&
      sqlite3_step(pStmt) == SQLITE_ROW) {
    long long an[3];
    for (int i = 0; i < 3; i++) an[i] = sqlite3_column_int64(pStmt, i);
    vgd_metrics_queue_depth(&s->metrics, zTenant, an);
    *pnLeft = an[0] + an[1] + an[2];
  }
  sqlite3_finalize(pStmt);
  vgd_pool_put(&s->pool, db);
  return nClaimed;
}

/* ---- the due tenants ------------------------------------------------------ */

/* Mark zTenant due now, under mu: its entry, or NULL when memory ran out
** (a write's next notice, or a sweep, finds it). */
static struct VgdDue *due_now(VgdWork *p, const char *zTenant, double now) {
  int i;
  for (i = 0; i < p->n && strcmp(p->a[i].zTenant, zTenant); i++) {
  }
  struct VgdDue *e = i < p->n ? &p->a[i] : vgd_array_push(&p->a, &p->n, sizeof *e);
  if (!e) return NULL;
  snprintf(e->zTenant, sizeof e->zTenant, "%s", zTenant);
  e->dueAt = now;
  e->bNotified = 1;
  return e;
}

void vgd_work_notify(VgdServer *s, const char *zTenant) {
  pthread_mutex_lock(&s->work.mu);
  due_now(&s->work, zTenant, vgd_now());
  pthread_mutex_unlock(&s->work.mu);
  pthread_cond_signal(&s->work.cond);
}

/* Every tenant due, from keys.db. */
static void sweep(VgdServer *s) {
  char *zErr = NULL;
  char *zList = vgd_tenant_list(&s->store, &zErr);
  json_t *pList = zList ? json_loads(zList, 0, NULL) : NULL;
  size_t i;
  json_t *v;
  double now = vgd_now();
  pthread_mutex_lock(&s->work.mu);
  json_array_foreach(pList, i, v) {
    struct VgdDue *e = due_now(&s->work, json_string_value(v), now);
    if (e && !s->work.bSwept) e->bRelease = 1;
  }
  s->work.bSwept = 1;
  s->work.bSweep = 0;
  pthread_mutex_unlock(&s->work.mu);
  if (!pList) vgd_log("error", "worker", "cannot list the tenants: %s", zErr ? zErr : "out of memory");
  json_decref(pList);
  free(zList);
  free(zErr);
}

pthread_mutex_t *vgd_write_lock(VgdServer *s, const char *zTenant) {
  unsigned h = 5381;
  for (const char *z = zTenant; *z; z++) h = h * 33 + (unsigned char)*z;
  return &s->aWriteLock[h % VGD_WRITE_LOCKS];
}

/* The next due tenant not being run, after the last one taken (round
** robin), into zTenant; 0 if none is due. */
static int take_due(VgdServer *s, char *zTenant, int *pbRelease) {
  VgdWork *p = &s->work;
  double now = vgd_now();
  int iFound = -1;
  for (int j = 0; j < p->n && iFound < 0; j++) {
    int i = (p->iNext + j) % p->n;
    if (!p->a[i].bRunning && p->a[i].dueAt <= now) iFound = i;
  }
  if (iFound < 0) return 0;
  p->iNext = iFound + 1;
  p->a[iFound].bRunning = 1;
  p->a[iFound].bNotified = 0;
  *pbRelease = p->a[iFound].bRelease;
  p->a[iFound].bRelease = 0;
  strcpy(zTenant, p->a[iFound].zTenant);
  return 1;
}

/* After a batch: due again at once when it claimed items, in a second when
** items wait on leases or backoff, and dropped when nothing is left (unless
** a write came meanwhile). */
static void settle(VgdServer *s, const char *zTenant, int nClaimed, long long nLeft) {
  VgdWork *p = &s->work;
  double now = vgd_now();
  for (int i = 0; i < p->n; i++) {
    if (strcmp(p->a[i].zTenant, zTenant)) continue;
    p->a[i].bRunning = 0;
    p->a[i].nFail = nClaimed == -1 ? p->a[i].nFail + 1 : nClaimed == -2 ? p->a[i].nFail : 0;
    /* a batch that failed may leave its items leased to this worker for
    ** the lease's 300 s: the next visit ends those leases first (one
    ** worker runs a tenant at a time, so they are this batch's) */
    if (nClaimed < 0) p->a[i].bRelease = 1;
    /* a failing tenant is tried again after 2, 4, ... 64 s, not every
    ** second (nor logged every second); a busy one at once, in its turn */
    if (nClaimed == -1) p->a[i].dueAt = now + (double)(1 << (p->a[i].nFail < 6 ? p->a[i].nFail : 6));
    else if (nClaimed == -2) p->a[i].dueAt = now;
    else if (p->a[i].bNotified || nClaimed > 0) p->a[i].dueAt = now;
    else if (nLeft > 0) p->a[i].dueAt = now + 1.0;
    else {
      /* kept in order, so the round robin goes on where it was */
      memmove(&p->a[i], &p->a[i + 1], (size_t)(p->n - i - 1) * sizeof p->a[0]);
      p->n--;
      if (p->iNext > i) p->iNext--;
    }
    break;
  }
}

static void *worker_main(void *pArg) {
  VgdWorker *w = pArg;
  VgdServer *s = w->pServer;
  char zTenant[VGD_TENANT_MAX + 1];
  s->nWorkerRunning++;
  while (!s->bStop) {
    pthread_mutex_lock(&s->work.mu);
    int bSweep = s->work.bSweep;
    pthread_mutex_unlock(&s->work.mu);
    if (bSweep) sweep(s);
    pthread_mutex_lock(&s->work.mu);
    int bRelease = 0;
    int bFound = take_due(s, zTenant, &bRelease);
    if (!bFound) {
      /* until a write signals, or idle_ms (work due later, a sweep, stop) */
      struct timespec ts = vgd_deadline(s->idleMs);
      pthread_cond_timedwait(&s->work.cond, &s->work.mu, &ts);
    }
    pthread_mutex_unlock(&s->work.mu);
    if (!bFound) continue;
    long long nLeft;
    int nClaimed = run_batch(w, zTenant, bRelease, &nLeft);
    pthread_mutex_lock(&s->work.mu);
    settle(s, zTenant, nClaimed, nLeft);
    pthread_mutex_unlock(&s->work.mu);
  }
  s->nWorkerRunning--;
  return NULL;
}

void vgd_work_sweep(VgdServer *s) {
  pthread_mutex_lock(&s->work.mu);
  s->work.bSweep = 1;
  pthread_mutex_unlock(&s->work.mu);
  pthread_cond_broadcast(&s->work.cond);
}

int vgd_workers_start(VgdServer *p) {
  pthread_mutex_init(&p->work.mu, NULL);
  pthread_cond_init(&p->work.cond, NULL);
  p->work.bSweep = 1; /* every tenant once at start */
  if (p->nWorker == 0) return 0;
  p->aWorker = calloc(p->nWorker, sizeof *p->aWorker);
  if (!p->aWorker) return -1;
  for (int i = 0; i < p->nWorker; i++) {
    p->aWorker[i].pServer = p;
    p->aWorker[i].iWorker = i;
    if (pthread_create(&p->aWorker[i].thread, NULL, worker_main, &p->aWorker[i])) {
      p->nWorker = i;
      return -1;
    }
  }
  return 0;
}

/* bStop is set: each finishes its batch. */
void vgd_workers_stop(VgdServer *p) {
  pthread_mutex_lock(&p->work.mu);
  pthread_cond_broadcast(&p->work.cond);
  pthread_mutex_unlock(&p->work.mu);
  for (int i = 0; i < p->nWorker; i++) pthread_join(p->aWorker[i].thread, NULL);
  free(p->work.a);
  pthread_mutex_destroy(&p->work.mu);
  pthread_cond_destroy(&p->work.cond);
  free(p->aWorker);
  p->aWorker = NULL;
  p->nWorker = 0;
}
