/*
** metrics.c — what the server counts, kept in memory and written in
** Prometheus' text format for GET /metrics; the JSON log lines on stderr;
** the per-key token buckets that answer 429.
*/
#include "vecguardd.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Latency buckets in seconds: fine below 10 ms, where searches live. */
static const double aBucket[VGD_N_BUCKET] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5};

static void histogram_add(VgdHistogram *h, double seconds) {
  for (int i = 0; i < VGD_N_BUCKET; i++)
    if (seconds <= aBucket[i]) h->aCount[i]++;
  h->nCount++;
  h->sum += seconds;
}

void vgd_metrics_init(VgdMetrics *m) {
  memset(m, 0, sizeof *m);
  pthread_mutex_init(&m->mu, NULL);
}

void vgd_metrics_free(VgdMetrics *m) {
  free(m->aRequest);
  free(m->aPii);
  free(m->aDepth);
  pthread_mutex_destroy(&m->mu);
}

void vgd_metrics_request(VgdMetrics *m, const char *zRoute, const char *zMethod, unsigned status, double seconds) {
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nRequest; i++) {
    VgdRequestSeries *p = &m->aRequest[i];
    if (p->zRoute == zRoute && p->zMethod == zMethod && p->status == status) break;
  }
  VgdRequestSeries *p = i < m->nRequest ? &m->aRequest[i] : vgd_array_push(&m->aRequest, &m->nRequest, sizeof *p);
  if (p && !p->zRoute) {
    p->zRoute = zRoute;
    p->zMethod = zMethod;
    p->status = status;
  }
  if (p) histogram_add(&p->latency, seconds);
  pthread_mutex_unlock(&m->mu);
}

void vgd_metrics_embed(VgdMetrics *m, int nItems, double seconds) {
  pthread_mutex_lock(&m->mu);
  histogram_add(&m->embed, seconds);
  m->nEmbedded += nItems;
  pthread_mutex_unlock(&m->mu);
}

/* zFindings is vg_pii_log.findings: {"TYPE": count, ...}. */
void vgd_metrics_pii(VgdMetrics *m, const char *zFindings) {
  json_t *p = zFindings ? json_loads(zFindings, 0, NULL) : NULL;
  const char *zType;
  json_t *v;
  pthread_mutex_lock(&m->mu);
  json_object_foreach(p, zType, v) {
    int i;
    for (i = 0; i < m->nPii && strcmp(m->aPii[i].zType, zType); i++) {
    }
    /* Types are the recognizers' (up to 64 characters); a table this size
    ** holds them all, and a flood of custom ones stops at the bound. */
    if (i == m->nPii && (m->nPii == VGD_PII_TYPES_MAX || strlen(zType) >= sizeof m->aPii[0].zType)) continue;
    VgdPiiCount *c = i < m->nPii ? &m->aPii[i] : vgd_array_push(&m->aPii, &m->nPii, sizeof *c);
    if (!c) continue;
    if (!c->zType[0]) snprintf(c->zType, sizeof c->zType, "%s", zType);
    c->n += json_integer_value(v);
  }
  pthread_mutex_unlock(&m->mu);
  json_decref(p);
}

void vgd_metrics_queue_depth(VgdMetrics *m, const char *zTenant, const long long *anPending) {
  pthread_mutex_lock(&m->mu);
  int i;
  for (i = 0; i < m->nDepth && strcmp(m->aDepth[i].zTenant, zTenant); i++) {
  }
  VgdTenantDepth *d = i < m->nDepth ? &m->aDepth[i] : vgd_array_push(&m->aDepth, &m->nDepth, sizeof *d);
  if (d) {
    snprintf(d->zTenant, sizeof d->zTenant, "%s", zTenant);
    memcpy(d->anPending, anPending, sizeof d->anPending);
  }
  pthread_mutex_unlock(&m->mu);
}

void vgd_metrics_forget_tenant(VgdMetrics *m, const char *zTenant) {
  pthread_mutex_lock(&m->mu);
  for (int i = 0; i < m->nDepth; i++)
    if (!strcmp(m->aDepth[i].zTenant, zTenant)) m->aDepth[i] = m->aDepth[--m->nDepth];
  pthread_mutex_unlock(&m->mu);
}

static void write_histogram(sqlite3_str *s, const char *zName, const char *zLabels, const VgdHistogram *h) {
  for (int i = 0; i < VGD_N_BUCKET; i++)
    sqlite3_str_appendf(s, "%s_bucket{%s%sle=\"%g\"} %llu\n", zName, zLabels, zLabels[0] ? "," : "", aBucket[i],
                        h->aCount[i]);
  sqlite3_str_appendf(s, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", zName, zLabels, zLabels[0] ? "," : "", h->nCount);
  sqlite3_str_appendf(s, "%s_sum%s%s%s %.9g\n", zName, zLabels[0] ? "{" : "", zLabels, zLabels[0] ? "}" : "", h->sum);
  sqlite3_str_appendf(s, "%s_count%s%s%s %llu\n", zName, zLabels[0] ? "{" : "", zLabels, zLabels[0] ? "}" : "",
                      h->nCount);
}

char *vgd_metrics_text(VgdServer *srv) {
  VgdMetrics *m = &srv->metrics;
  int nOpen, nTenants;
  long long nOpened, nEvicted;
  vgd_pool_stats(&srv->pool, &nOpen, &nTenants, &nOpened, &nEvicted);
  sqlite3_str *s = sqlite3_str_new(NULL);
  pthread_mutex_lock(&m->mu);
  sqlite3_str_appendall(s, "# HELP vecguardd_http_requests_total HTTP requests answered, by route, method and status.\n"
                           "# TYPE vecguardd_http_requests_total counter\n");
  for (int i = 0; i < m->nRequest; i++)
    sqlite3_str_appendf(s, "vecguardd_http_requests_total{route=\"%s\",method=\"%s\",status=\"%u\"} %llu\n",
                        m->aRequest[i].zRoute, m->aRequest[i].zMethod, m->aRequest[i].status,
                        m->aRequest[i].latency.nCount);
  sqlite3_str_appendall(s, "# HELP vecguardd_http_request_duration_seconds Time from a request's headers to its "
                           "reply, by route, method and status.\n"
                           "# TYPE vecguardd_http_request_duration_seconds histogram\n");
  for (int i = 0; i < m->nRequest; i++) {
    char zLabels[160];
    snprintf(zLabels, sizeof zLabels, "route=\"%s\",method=\"%s\",status=\"%u\"", m->aRequest[i].zRoute,
             m->aRequest[i].zMethod, m->aRequest[i].status);
    write_histogram(s, "vecguardd_http_request_duration_seconds", zLabels, &m->aRequest[i].latency);
  }
  unsigned long long nLimited = 0; /* the 429s are the rate limit's alone */
  for (int i = 0; i < m->nRequest; i++)
    if (m->aRequest[i].status == 429) nLimited += m->aRequest[i].latency.nCount;
  sqlite3_str_appendf(s,
                      "# HELP vecguardd_rate_limited_requests_total Requests refused with 429 by a key's token "
                      "bucket.\n# TYPE vecguardd_rate_limited_requests_total counter\n"
                      "vecguardd_rate_limited_requests_total %llu\n",
                      nLimited);
  sqlite3_str_appendall(s, "# HELP vecguardd_embed_batch_seconds Time of a worker's vg_queue_run batch.\n"
                           "# TYPE vecguardd_embed_batch_seconds histogram\n");
  write_histogram(s, "vecguardd_embed_batch_seconds", "", &m->embed);
  sqlite3_str_appendf(s,
                      "# HELP vecguardd_embedded_items_total Queue items the workers processed.\n"
                      "# TYPE vecguardd_embedded_items_total counter\nvecguardd_embedded_items_total %llu\n",
                      m->nEmbedded);
  sqlite3_str_appendall(s, "# HELP vecguardd_pii_findings_total PII findings in ingested documents, by type.\n"
                           "# TYPE vecguardd_pii_findings_total counter\n");
  for (int i = 0; i < m->nPii; i++)
    sqlite3_str_appendf(s, "vecguardd_pii_findings_total{type=\"%s\"} %lld\n", m->aPii[i].zType, m->aPii[i].n);
  static const char *azPriority[3] = {"high", "medium", "low"};
  sqlite3_str_appendall(s, "# HELP vecguardd_queue_pending Pending queue items over all tenants, by priority, as "
                           "the workers last saw them.\n# TYPE vecguardd_queue_pending gauge\n");
  for (int j = 0; j < 3; j++) {
    long long n = 0;
    for (int i = 0; i < m->nDepth; i++) n += m->aDepth[i].anPending[j];
    sqlite3_str_appendf(s, "vecguardd_queue_pending{priority=\"%s\"} %lld\n", azPriority[j], n);
  }
  pthread_mutex_unlock(&m->mu);
  sqlite3_str_appendf(s,
                      "# HELP vecguardd_open_tenants Tenants with an open connection.\n"
                      "# TYPE vecguardd_open_tenants gauge\nvecguardd_open_tenants %d\n"
                      "# HELP vecguardd_open_connections Open tenant connections (max_open_files bounds them).\n"
                      "# TYPE vecguardd_open_connections gauge\nvecguardd_open_connections %d\n"
                      "# HELP vecguardd_connection_limit The most tenant connections open at once.\n"
                      "# TYPE vecguardd_connection_limit gauge\nvecguardd_connection_limit %d\n"
                      "# HELP vecguardd_connections_opened_total Tenant connections opened.\n"
                      "# TYPE vecguardd_connections_opened_total counter\nvecguardd_connections_opened_total %lld\n"
                      "# HELP vecguardd_connections_evicted_total Idle tenant connections closed to make room.\n"
                      "# TYPE vecguardd_connections_evicted_total counter\nvecguardd_connections_evicted_total %lld\n",
                      nTenants, nOpen, srv->pool.nMax, nOpened, nEvicted);
  VgdSyncd *d = srv->pSync;
  if (d)
    sqlite3_str_appendf(s,
                        "# HELP vecguardd_sync_pushes_total Tenant pushes to the sync target that landed.\n"
                        "# TYPE vecguardd_sync_pushes_total counter\nvecguardd_sync_pushes_total %lld\n"
                        "# HELP vecguardd_sync_pulls_total Tenant files a replica pulled or refreshed.\n"
                        "# TYPE vecguardd_sync_pulls_total counter\nvecguardd_sync_pulls_total %lld\n"
                        "# HELP vecguardd_sync_failures_total Pushes or pulls that failed (tried again next "
                        "interval).\n# TYPE vecguardd_sync_failures_total counter\nvecguardd_sync_failures_total "
                        "%lld\n"
                        "# HELP vecguardd_sync_bytes_total Bytes put in the sync target.\n"
                        "# TYPE vecguardd_sync_bytes_total counter\nvecguardd_sync_bytes_total %lld\n"
                        "# HELP vecguardd_sync_last_success_timestamp_seconds When a push last landed (0: never).\n"
                        "# TYPE vecguardd_sync_last_success_timestamp_seconds gauge\n"
                        "vecguardd_sync_last_success_timestamp_seconds %lld\n",
                        (long long)d->nPushes, (long long)d->nPulls, (long long)d->nFailures, (long long)d->nBytes,
                        (long long)d->lastOkAt);
  return sqlite3_str_finish(s);
}

/* ---- rate limits ------------------------------------------------------- */

void vgd_limits_init(VgdLimits *p, double rate, double burst) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  p->rate = rate;
  p->burst = burst;
}

void vgd_limits_set(VgdLimits *p, double rate, double burst) {
  pthread_mutex_lock(&p->mu);
  p->rate = rate;
  p->burst = burst;
  pthread_mutex_unlock(&p->mu);
}

void vgd_limits_free(VgdLimits *p) {
  free(p->a);
  pthread_mutex_destroy(&p->mu);
}

double vgd_limits_take(VgdLimits *p, const char *zKeyId) {
  double wait = 0, now = vgd_now();
  pthread_mutex_lock(&p->mu);
  if (p->rate > 0) {
    int i;
    for (i = 0; i < p->n && strcmp(p->a[i].zKeyId, zKeyId); i++) {
    }
    /* only authenticated keys get here, so the table is as long as keys.db */
    VgdBucket *b = i < p->n ? &p->a[i] : vgd_array_push(&p->a, &p->n, sizeof *b);
    if (b && !b->zKeyId[0]) {
      snprintf(b->zKeyId, sizeof b->zKeyId, "%s", zKeyId);
      b->tokens = p->burst;
      b->at = now;
    }
    if (b) {
      b->tokens = fmin(p->burst, b->tokens + (now - b->at) * p->rate);
      b->at = now;
      if (b->tokens >= 1) b->tokens -= 1;
      else wait = (1 - b->tokens) / p->rate;
    }
  }
  pthread_mutex_unlock(&p->mu);
  return wait;
}

/* ---- log lines ----------------------------------------------------------- */

static pthread_mutex_t logMutex = PTHREAD_MUTEX_INITIALIZER;

void vgd_log_json(const char *zLevel, const char *zEvent, json_t *pFields) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char zTime[80];
  snprintf(zTime, sizeof zTime, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000));
  json_t *p = json_pack("{s:s,s:s,s:s}", "ts", zTime, "level", zLevel, "event", zEvent);
  if (pFields) json_object_update(p, pFields);
  char *z = json_dumps(p, JSON_COMPACT | JSON_ENSURE_ASCII);
  if (z) {
    /* one write per line, so lines of several threads do not interleave */
    pthread_mutex_lock(&logMutex);
    fprintf(stderr, "%s\n", z);
    pthread_mutex_unlock(&logMutex);
  }
  free(z);
  json_decref(p);
  json_decref(pFields);
}

void vgd_log(const char *zLevel, const char *zEvent, const char *zFmt, ...) {
  char zMsg[1024];
  va_list ap;
  va_start(ap, zFmt);
  vsnprintf(zMsg, sizeof zMsg, zFmt, ap);
  va_end(ap);
  json_t *p = json_object();
  /* a message quoting bytes that are not UTF-8 still makes a line */
  json_t *pMsg = json_string(zMsg);
  json_object_set_new(p, "message", pMsg ? pMsg : json_string("(the message is not UTF-8)"));
  vgd_log_json(zLevel, zEvent, p);
}
