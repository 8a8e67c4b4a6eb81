/*
** queue.c — the embedding queue's rules (see pipeline.h, queue section): names, transitions
** and the retry delay.  No SQL here.
*/
#include "base/base.h"

#include "pipeline/pipeline.h"

#include <stdint.h>
#include <string.h>

static const char *const azPriority[] = {"high", "medium", "low"};
static const char *const azStatus[] = {"pending", "processing", "done", "failed", "dead"};

static int index_of(const char *const *az, int n, const char *zName) {
  for (int i = 0; zName && i < n; i++) {
    if (strcmp(az[i], zName) == 0) return i;
  }
  return -1;
}

const char *vg_priority_name(int priority) {
  return priority >= 0 && priority < 3 ? azPriority[priority] : "?";
}

int vg_priority_parse(const char *zName) { return index_of(azPriority, 3, zName); }

const char *vg_item_status_name(int status) {
  return status >= 0 && status < VG_ITEM_STATUS_COUNT ? azStatus[status] : "?";
}

int vg_item_status_parse(const char *zName) { return index_of(azStatus, VG_ITEM_STATUS_COUNT, zName); }

const char *vg_queue_finish_refused(const VgItemState *p, int bOwner) {
  if (p->status != VG_ITEM_PROCESSING) return "is not being processed (claim it first)";
  if (!bOwner) return "is leased by another worker";
  return 0;
}

int vg_queue_status_after_fail(const VgItemState *p) {
  return p->attempts >= p->maxAttempts ? VG_ITEM_DEAD : VG_ITEM_FAILED;
}

/* splitmix64: a well-mixed 64-bit value from any input. */
static uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

double vg_queue_retry_delay(long long id, int attempts, double base, double cap) {
  if (attempts < 1) attempts = 1;
  double d = base;
  for (int i = 1; i < attempts && d < cap; i++) d *= 2;
  if (d > cap) d = cap;
  uint64_t r = mix((uint64_t)id * 1000003u + (uint64_t)attempts);
  double jitter = 0.5 + 0.5 * (double)(r >> 11) / 9007199254740992.0; /* [0.5, 1) */
  return d * jitter;
}
