/*
** pool.c — the tenant connections that requests and workers share.  At
** most nMax are open at once, so a box with thousands of tenants stays
** inside its file-descriptor budget: an idle connection is reused by the
** next user of its tenant, and the least recently used idle one is closed
** when a slot is needed.  A tenant has at most nPerTenant, since each holds
** its own copy of the tenant's index (and loading it is the slow part of a
** first search).  A connection has one user at a time.
*/
#include "vecguardd.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int vgd_pool_init(VgdPool *p, int nMax, int nPerTenant) {
  memset(p, 0, sizeof *p);
  p->a = calloc((size_t)nMax, sizeof *p->a);
  if (!p->a) return -1;
  p->nMax = nMax;
  p->nPerTenant = nPerTenant;
  pthread_mutex_init(&p->mu, NULL);
  pthread_cond_init(&p->cond, NULL);
  return 0;
}

void vgd_pool_close(VgdPool *p) {
  for (int i = 0; i < p->nMax; i++) sqlite3_close(p->a[i].db);
  free(p->a);
  pthread_mutex_destroy(&p->mu);
  pthread_cond_destroy(&p->cond);
  memset(p, 0, sizeof *p);
}

/* Close an idle connection: its slot is empty again. */
static void close_slot(VgdPoolConn *c) {
  sqlite3_close(c->db);
  c->db = NULL;
  c->zTenant[0] = 0;
}

/* 1 if zTenant is excluded, 2 if held (its file being replaced), else 0. */
static int excluded(VgdPool *p, const char *zTenant) {
  for (int i = 0; i < p->nExcluded; i++)
    if (!strcmp(p->azExcluded[i], zTenant)) return p->abHeld[i] ? 2 : 1;
  return 0;
}

/* A slot for a new connection, under mu: an empty one, else the least
** recently used idle one (closed), else -1. */
static int free_slot(VgdPool *p) {
  int iLru = -1;
  for (int i = 0; i < p->nMax; i++) {
    VgdPoolConn *c = &p->a[i];
    if (!c->bBusy && !c->db) return i;
    if (!c->bBusy && (iLru < 0 || c->iUsed < p->a[iLru].iUsed)) iLru = i;
  }
  if (iLru >= 0) {
    close_slot(&p->a[iLru]);
    p->nEvicted++;
  }
  return iLru;
}

int vgd_pool_get(VgdPool *p, VgdStore *pStore, const char *zTenant, long long iSerial, sqlite3 **pDb,
                 char **pzErr) {
  struct timespec deadline = vgd_deadline(VGD_BUSY_MS);
  *pDb = NULL;
  pthread_mutex_lock(&p->mu);
  int iSlot = -1;
  for (;;) {
    int eExcluded = excluded(p, zTenant);
    if (eExcluded == 2) {
      if (pthread_cond_timedwait(&p->cond, &p->mu, &deadline) == ETIMEDOUT) {
        pthread_mutex_unlock(&p->mu);
        *pzErr = vgd_mprintf("tenant \"%s\" is being refreshed: try again", zTenant);
        return SQLITE_BUSY;
      }
      continue;
    }
    if (eExcluded) {
      pthread_mutex_unlock(&p->mu);
      *pzErr = vgd_mprintf("tenant \"%s\" is being deleted", zTenant);
      return SQLITE_NOTFOUND;
    }
    int nMine = 0; /* the tenant's connections in use (or being opened) */
    for (int i = 0; i < p->nMax; i++) {
      VgdPoolConn *c = &p->a[i];
      if ((!c->db && !c->bBusy) || strcmp(c->zTenant, zTenant)) continue;
      if (c->bBusy) {
        nMine++;
      } else if (c->iSerial != iSerial) {
        close_slot(c); /* a tenant deleted and created again */
      } else {
        c->bBusy = 1;
        *pDb = c->db;
        pthread_mutex_unlock(&p->mu);
        return SQLITE_OK;
      }
    }
    /* Each connection of a vg_hnsw table holds its own copy of the index,
    ** so a tenant gets no more than nPerTenant: past that, wait for one. */
    if (nMine < p->nPerTenant && (iSlot = free_slot(p)) >= 0) break;
    if (pthread_cond_timedwait(&p->cond, &p->mu, &deadline) == ETIMEDOUT) {
      pthread_mutex_unlock(&p->mu);
      *pzErr = nMine >= p->nPerTenant
                   ? vgd_mprintf("the %d connections of tenant \"%s\" stayed in use for %d s: try again later", nMine,
                                 zTenant, VGD_BUSY_MS / 1000)
                   : vgd_mprintf("all %d tenant connections stayed in use for %d s: try again later", p->nMax,
                                 VGD_BUSY_MS / 1000);
      return SQLITE_BUSY;
    }
  }
  /* Opened outside the lock: it reads keys.db and sets up the extension. */
  VgdPoolConn *c = &p->a[iSlot];
  c->bBusy = 1;
  snprintf(c->zTenant, sizeof c->zTenant, "%s", zTenant);
  c->iSerial = iSerial;
  pthread_mutex_unlock(&p->mu);
  sqlite3 *db = vgd_tenant_open(pStore, zTenant, pzErr);
  /* The caller read iSerial before: the tenant may have been deleted (and
  ** created again) since; its file is then not the caller's. */
  long long iNow = -1;
  int rc = SQLITE_OK;
  if (!vgd_tenant_exists(pStore, zTenant, &iNow) || iNow != iSerial) {
    sqlite3_close(db);
    db = NULL;
    free(*pzErr);
    *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    rc = SQLITE_NOTFOUND;
  } else if (!db) {
    rc = SQLITE_ERROR;
  }
  pthread_mutex_lock(&p->mu);
  c->db = db;
  if (db) p->nOpened++;
  else c->bBusy = 0, c->zTenant[0] = 0; /* an empty slot again */
  pthread_mutex_unlock(&p->mu);
  if (!db) pthread_cond_broadcast(&p->cond);
  *pDb = db;
  return rc;
}

void vgd_pool_put(VgdPool *p, sqlite3 *db) {
  if (!db) return;
  /* The next user starts outside any transaction this one left open. */
  if (!sqlite3_get_autocommit(db)) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->nMax; i++)
    if (p->a[i].db == db) {
      p->a[i].bBusy = 0;
      p->a[i].iUsed = ++p->iClock;
      break;
    }
  pthread_mutex_unlock(&p->mu);
  /* waiters may want another tenant (an idle slot to close) or this one */
  pthread_cond_broadcast(&p->cond);
}

void vgd_pool_exclude(VgdPool *p, const char *zTenant, int bHeld) {
  pthread_mutex_lock(&p->mu);
  while (p->nExcluded == VGD_EXCLUDED_MAX) pthread_cond_wait(&p->cond, &p->mu);
  p->abHeld[p->nExcluded] = bHeld;
  snprintf(p->azExcluded[p->nExcluded++], VGD_TENANT_MAX + 1, "%s", zTenant);
  for (;;) {
    int nBusy = 0;
    for (int i = 0; i < p->nMax; i++) {
      VgdPoolConn *c = &p->a[i];
      if (strcmp(c->zTenant, zTenant) || (!c->db && !c->bBusy)) continue;
      if (c->bBusy) nBusy++;
      else close_slot(c);
    }
    if (nBusy == 0) break;
    /* a request or batch under way: its vgd_pool_put wakes us */
    pthread_cond_wait(&p->cond, &p->mu);
  }
  pthread_mutex_unlock(&p->mu);
}

void vgd_pool_include(VgdPool *p, const char *zTenant) {
  pthread_mutex_lock(&p->mu);
  for (int i = 0; i < p->nExcluded; i++)
    if (!strcmp(p->azExcluded[i], zTenant)) {
      memmove(p->azExcluded[i], p->azExcluded[i + 1], (size_t)(p->nExcluded - i - 1) * sizeof p->azExcluded[0]);
      memmove(&p->abHeld[i], &p->abHeld[i + 1], (size_t)(p->nExcluded - i - 1) * sizeof p->abHeld[0]);
      p->nExcluded--;
      break;
    }
  pthread_mutex_unlock(&p->mu);
  pthread_cond_broadcast(&p->cond);
}

void vgd_pool_stats(VgdPool *p, int *pnOpen, int *pnTenants, long long *pnOpened, long long *pnEvicted) {
  pthread_mutex_lock(&p->mu);
  int nOpen = 0, nTenants = 0;
  for (int i = 0; i < p->nMax; i++) {
    if (!p->a[i].db) continue;
    nOpen++;
    int j;
    for (j = 0; j < i && !(p->a[j].db && !strcmp(p->a[j].zTenant, p->a[i].zTenant)); j++) {
    }
    if (j == i) nTenants++;
  }
  *pnOpen = nOpen;
  *pnTenants = nTenants;
  *pnOpened = p->nOpened;
  *pnEvicted = p->nEvicted;
  pthread_mutex_unlock(&p->mu);
}
