/*
** queue.h — the embedding queue's rules, apart from SQL: priorities, the
** states an item goes through, what each event does to it, and the retry
** delay.  queue_sql.c keeps the items in the vg_queue table and applies
** these rules; the unit tests check them on their own.
**
**   enqueue -> pending --claim--> processing --complete--> done
**                 ^                   |  \--fail--> failed (retry later)
**                 |                   |             or dead (no attempts left)
**                 +-- lease expired --+
**
** An item is claimable when it is pending or failed and due, or when it is
** processing and its lease has run out (the worker holding it died).  A claim
** counts as an attempt, so an item that kills its workers ends dead too.
** Enqueueing and claiming are single SQL statements in queue_sql.c (each must
** be atomic across processes); the rules for finishing an item are here.
*/
#ifndef VG_QUEUE_H
#define VG_QUEUE_H

typedef enum VgPriority { VG_PRIORITY_HIGH = 0, VG_PRIORITY_MEDIUM = 1, VG_PRIORITY_LOW = 2 } VgPriority;

typedef enum VgItemStatus {
  VG_ITEM_PENDING = 0,
  VG_ITEM_PROCESSING,
  VG_ITEM_DONE,
  VG_ITEM_FAILED,
  VG_ITEM_DEAD,
  VG_ITEM_STATUS_COUNT
} VgItemStatus;

/* Names as stored in vg_queue; parsing returns -1 for an unknown name. */
const char *vg_priority_name(int priority);
int vg_priority_parse(const char *zName);
const char *vg_item_status_name(int status);
int vg_item_status_parse(const char *zName);

/* What the queue knows of an item when an event comes. */
typedef struct VgItemState {
  int status;
  int attempts;      /* claims so far */
  int maxAttempts;
} VgItemState;

/* May the worker that holds the item finish it (complete or fail)?
** bOwner: the item's worker_id is the caller's.  Returns 0 when it may,
** else a message (static) saying why not. */
const char *vg_queue_finish_refused(const VgItemState *p, int bOwner);

/* The status after a failure, and when to try again: after the n-th
** attempt fails, the delay is min(cap, base * 2^(n-1)) seconds times a
** factor from 0.5 to 1 drawn from the item id and n (so that items that
** failed together do not all come back together, yet reruns agree). */
int vg_queue_status_after_fail(const VgItemState *p);
double vg_queue_retry_delay(long long id, int attempts, double base, double cap);

#define VG_QUEUE_RETRY_BASE 30.0    /* seconds */
#define VG_QUEUE_RETRY_CAP 3600.0   /* seconds */
#define VG_QUEUE_MAX_ATTEMPTS 5
#define VG_QUEUE_LEASE 300.0        /* seconds, when the claim gives none */
#define VG_QUEUE_MAX_CONTENT 10000000 /* bytes of content per item */

#endif
