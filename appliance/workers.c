/*
** workers.c — N threads embed every tenant's queue: one vg_queue_run batch
** per tenant in turn, so a tenant with a long queue does not starve others.
** Workers take their connections from the pool, as requests do.
*/
#include "vecguardd.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


static double now_seconds(void);

/* One batch for zTenant: the number of items claimed. */
static int run_batch(VgdWorker *w, const char *zTenant) {
  VgdServer *s = w->pServer;
  int nClaimed = 0;
  pthread_rwlock_rdlock(&s->tenantLock);
  long long iSerial;
  sqlite3 *db = NULL;
  char *zErr = NULL;
  if (vgd_tenant_exists(&s->store, zTenant, &iSerial) &&
      vgd_pool_get(&s->pool, &s->store, zTenant, iSerial, &db, &zErr) != SQLITE_OK) {
    vgd_log("error", "worker", "worker %d: %s", w->iWorker, zErr);
    free(zErr);
  }
  sqlite3_stmt *pStmt = NULL;
  double t0 = now_seconds();
  if (db && sqlite3_prepare_v2(db, "SELECT vg_queue_run(64)", -1, &pStmt, NULL) == SQLITE_OK) {
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      json_t *pSummary = json_loads((const char *)sqlite3_column_text(pStmt, 0), 0, NULL);
      nClaimed = (int)json_integer_value(json_object_get(pSummary, "claimed"));
      json_decref(pSummary);
      if (nClaimed) vgd_metrics_embed(&s->metrics, nClaimed, now_seconds() - t0);
    } else {
      /* "nothing to do" for a model not loaded, or a busy file: try later */
      vgd_log("warn", "worker", "worker %d: tenant %s: %s", w->iWorker, zTenant, sqlite3_errmsg(db));
    }
  }
  sqlite3_finalize(pStmt);
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
  }
  sqlite3_finalize(pStmt);
  vgd_pool_put(&s->pool, db);
  pthread_rwlock_unlock(&s->tenantLock);
  return nClaimed;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static void *worker_main(void *pArg) {
  VgdWorker *w = pArg;
  VgdServer *s = w->pServer;
  s->nWorkerRunning++;
  while (!s->bStop) {
    char *zErr = NULL;
    char *zList = vgd_tenant_list(&s->store, &zErr);
    json_t *pList = zList ? json_loads(zList, 0, NULL) : NULL;
    free(zList);
    free(zErr);
    size_t n = json_array_size(pList);
    int nClaimed = 0;
    /* Start where the last round stopped, one batch per tenant. */
    for (size_t i = 0; i < n && !s->bStop; i++) {
      const char *zTenant = json_string_value(json_array_get(pList, (w->iNext + i) % n));
      if (zTenant) nClaimed += run_batch(w, zTenant);
    }
    if (n) w->iNext = (w->iNext + 1) % (int)n;
    json_decref(pList);
    for (int slept = 0; nClaimed == 0 && slept < s->idleMs && !s->bStop; slept += 20) sleep_ms(20);
  }
  s->nWorkerRunning--;
  return NULL;
}

int vgd_workers_start(VgdServer *p) {
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
  for (int i = 0; i < p->nWorker; i++) pthread_join(p->aWorker[i].thread, NULL);
  free(p->aWorker);
  p->aWorker = NULL;
  p->nWorker = 0;
}
