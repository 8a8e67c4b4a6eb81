/*
** vecguardd.h — the appliance daemon: one SQLite file per tenant behind an
** HTTP JSON API (docs/appliance.md).  The daemon reaches data through SQL
** only, on connections that vecguard_init (libvecguard.a) has set up.
*/
#ifndef VECGUARDD_H
#define VECGUARDD_H

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stddef.h>
#include <time.h>

/* ---- limits ------------------------------------------------------------- */

#define VGD_TENANT_MAX 64           /* [a-z0-9][a-z0-9_-]{0,63} */
/* What a tenant id is, for error messages. */
#define VGD_TENANT_RULE "1 to 64 of a-z, 0-9, '_', '-', starting with a letter or digit"
#define VGD_DOC_ID_MAX 128          /* [A-Za-z0-9][A-Za-z0-9._-]{0,127} */
#define VGD_TYPE_MAX 64             /* [A-Za-z0-9_-]{1,64} */
#define VGD_BODY_LIMIT (1024 * 1024) /* a request body's largest size */
#define VGD_DRAIN_FACTOR 8           /* a body up to 8 x the limit is read before its 413 */
#define VGD_BATCH_MAX 1000          /* lines of a documents:batch */
#define VGD_LIST_MAX 1000           /* documents of a page */
#define VGD_BUSY_MS 5000            /* busy_timeout of every connection */
#define VGD_SECRET_BYTES 32
#define VGD_HASH_BYTES 32
#define VGD_SCOPES_MAX 64           /* "search,ingest,admin" and its NUL, with room */

/* ---- the data directory (keys.c) ---------------------------------------- */

/* The server's key store: DIR/keys.db (tenants, their PII keys, hashes of
** API keys), DIR/secret (the hashing key) and DIR/admin.key. */
typedef struct VgdStore VgdStore;
struct VgdStore {
  char *zDir;
  sqlite3 *db;                 /* DIR/keys.db, shared under mu */
  pthread_mutex_t mu;
  unsigned char secret[VGD_SECRET_BYTES];
  long long mmapBytes;         /* PRAGMA mmap_size of tenant connections */
};

/* What a presented key is allowed. */
typedef struct VgdKey VgdKey;
struct VgdKey {
  char zTenant[VGD_TENANT_MAX + 1]; /* "" for the admin key */
  char zKeyId[17];
  int bAdmin, bSearch, bIngest;     /* scopes */
};

/* Open (creating if needed) the store of zDir; *pzErr (malloc) on failure. */
int vgd_store_open(VgdStore *p, const char *zDir, char **pzErr);
void vgd_store_close(VgdStore *p);
/* 1 and *pKey filled when zKey is a live key, 0 otherwise. */
int vgd_key_check(VgdStore *p, const char *zKey, VgdKey *pKey);
/* A new key for zTenant ("" for admin; a tenant's key takes "search,ingest"
** or a part) with those scopes; *pzKey (malloc) is the key, shown once; *pzId
** its id.  SQLITE_OK; SQLITE_MISUSE for bad scopes; SQLITE_NOTFOUND when
** keys.db does not list zTenant (checked in the insert itself). */
int vgd_key_create(VgdStore *p, const char *zTenant, const char *zScopes, char **pzKey, char **pzId,
                   char **pzErr);
/* Revoke at once; zTenant, if not NULL, must own the key. */
int vgd_key_revoke(VgdStore *p, const char *zTenant, const char *zId, char **pzErr);
/* A new key with zId's scopes (into zScopesOut, VGD_SCOPES_MAX bytes);
** zId stays valid nGraceSeconds more (then *pzExpires, malloc'd).
** SQLITE_NOTFOUND when zId is not a live key (of zTenant, if not NULL). */
int vgd_key_rotate(VgdStore *p, const char *zTenant, const char *zId, long long nGraceSeconds, char **pzKey,
                   char **pzNewId, char **pzExpires, char *zScopesOut, char **pzErr);
/* A new file of n random bytes, mode 0600; SQLITE_CONSTRAINT if zPath
** exists (a key file is never overwritten). */
int vgd_key_file_create(const char *zPath, size_t n, char **pzErr);
/* Exactly n bytes from zPath into a; SQLITE_NOTFOUND if there is no such
** file, SQLITE_CORRUPT if it is not n bytes long. */
int vgd_key_file_read(const char *zPath, unsigned char *a, size_t n, char **pzErr);
/* JSON array of the tenant's keys (no secrets), malloc'd. */
char *vgd_key_list(VgdStore *p, const char *zTenant, char **pzErr);

/* ---- tenants (tenants.c) ------------------------------------------------ */

int vgd_tenant_id_ok(const char *z);
/* 1 if the tenant is registered (and *piSerial its serial), else 0. */
int vgd_tenant_exists(VgdStore *p, const char *zTenant, long long *piSerial);
/* Register, create its file and its first key.  SQLITE_CONSTRAINT when it
** exists already. */
int vgd_tenant_create(VgdStore *p, const char *zTenant, char **pzKey, char **pzErr);
/* Erase its file (zeros, fsync, unlink; -wal, -shm), its keys and row.
** SQLITE_NOTFOUND when there is no such tenant.  The caller has excluded
** the tenant from the pool (or is the only process using the directory). */
int vgd_tenant_delete(VgdStore *p, const char *zTenant, char **pzErr);
/* JSON array of tenant ids, malloc'd. */
char *vgd_tenant_list(VgdStore *p, char **pzErr);
/* Open a connection on the tenant's file with vecguard registered, its
** PII key set and busy_timeout; NULL and *pzErr on failure. */
sqlite3 *vgd_tenant_open(VgdStore *p, const char *zTenant, char **pzErr);

/* The tenant's PII key into aKey (32 bytes); 0 if there is no tenant. */
int vgd_tenant_pii_key(VgdStore *p, const char *zTenant, unsigned char *aKey);
/* Make sure zTenant is registered with PII key aKey: register it (and make
** its first API key, *pzKey, malloc'd) when it is not; SQLITE_OK with
** *pzKey NULL when it is, with that key; an error when with another.
** pzKey NULL: no API key is made (a replica's admin makes them). */
int vgd_tenant_adopt(VgdStore *p, const char *zTenant, const unsigned char *aKey, char **pzKey, char **pzErr);

/* ---- where synced objects go (objstore.c) ------------------------------ */

typedef struct VgdObjConfig VgdObjConfig;
struct VgdObjConfig {
  const char *zTarget;       /* s3://bucket/prefix or file:///path */
  const char *zEndpoint;     /* http(s)://host[:port] of an S3-compatible store; NULL for AWS */
  const char *zRegion;       /* NULL: us-east-1 */
  const char *zAccessKeyEnv; /* names of the environment variables holding the credentials */
  const char *zSecretKeyEnv;
  long long maxBytesPerSecond; /* 0: no cap */
};

/* One target; used by one thread at a time. */
typedef struct VgdObjStore VgdObjStore;
struct VgdObjStore {
  char *zDir;                         /* file://: the directory; NULL for S3 */
  char *zBucket, *zPrefix, *zBase;    /* S3: prefix "" or ending in '/'; base URL ending in '/' */
  char *zSigV4, *zUserPwd;            /* CURLOPT_AWS_SIGV4, CURLOPT_USERPWD */
  char *zWhere;                       /* the target as configured, for messages */
  long long maxBytesPerSecond;
  char zLastEtag[80];                 /* of the last 2xx reply: a part's, for its upload */
  _Atomic int *pbCancel;              /* set: requests under way end, none are retried */
};

/* Called for each object (or, bDir, each folder) under a prefix; a
** nonzero return stops the listing and is returned. */
typedef int (*VgdObjVisit)(void *pCtx, const char *zName, long long nBytes, long long mtime, int bDir);

int vgd_obj_open(VgdObjStore *p, const VgdObjConfig *pCfg, char **pzErr);
void vgd_obj_close(VgdObjStore *p);
/* in (a seekable file, read from its start) as object zName. */
int vgd_obj_put(VgdObjStore *p, const char *zName, FILE *in, char **pzErr);
/* Object zName, readable from its start (a download goes to an unlinked
** work file in zWorkDir); NULL and *pzErr (*pbMissing: there is none). */
FILE *vgd_obj_read(VgdObjStore *p, const char *zName, const char *zWorkDir, int *pbMissing, char **pzErr);
/* Delete object zName; one that is not there is not an error. */
int vgd_obj_delete(VgdObjStore *p, const char *zName, char **pzErr);
/* Objects and folders right under zPrefix ("" or ending in '/'). */
int vgd_obj_list(VgdObjStore *p, const char *zPrefix, VgdObjVisit xVisit, void *pCtx, char **pzErr);
/* An unlinked read-write file in zDir, for work. */
FILE *vgd_work_file(const char *zDir, char **pzErr);

/* ---- sync to a target (sync.c) ------------------------------------------ */

#define VGD_SYNC_KEY_BYTES 32
#define VGD_SYNC_BOX_BYTES 16

typedef struct VgdSync VgdSync;
struct VgdSync {
  unsigned char key[VGD_SYNC_KEY_BYTES]; /* the sync key: the target never sees it */
  unsigned char box[VGD_SYNC_BOX_BYTES]; /* this box's id (DIR/sync.box): the lease's owner */
  VgdObjStore store;
  long long retention;     /* seconds an object no manifest needs is kept */
  long long leaseSeconds;  /* how long a push holds the tenant */
  sqlite3 *dbState;        /* DIR/sync.db: what was sent, per tenant */
  int fdLock;              /* DIR/sync.lock: one push at a time per box (server and command) */
};

/* What a push did. */
typedef struct VgdSyncResult VgdSyncResult;
struct VgdSyncResult {
  long long seq;        /* the manifest's number after it */
  long long nBytes;     /* bytes put */
  int nObjects;         /* objects put */
  int nDeleted;         /* objects deleted (past retention) */
  int bSnapshot;        /* a whole snapshot, not a segment of changed pages */
  int bUnchanged;       /* nothing changed since the last push: nothing sent */
  long long nPages;     /* pages sent */
};

#define VGD_SYNC_COMPACT 1   /* a new snapshot, whatever the chain */
#define VGD_SYNC_TAKE_OVER 2 /* take the tenant's lease from another box */
#define VGD_SYNC_LEASE_ONLY 4 /* renew the lease alone (an idle tenant's) */

/* A new sync key (32 random bytes, 0600) in zFile, which must not exist. */
int vgd_sync_key_create(const char *zFile, char **pzErr);
int vgd_sync_open(VgdSync *p, VgdStore *pStore, const VgdObjConfig *pCfg, const char *zKeyFile, long long retention,
                  long long leaseSeconds, char **pzErr);
void vgd_sync_close(VgdSync *p);
/* zTenant's changes since its last push (or a snapshot) to the target, and
** its manifest (next number); objects past retention deleted. */
int vgd_sync_push(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, VgdSyncResult *pRes, char **pzErr);
/* zTenant's latest state from the target, checked, as its file (no server
** may run on the directory); *pzKey a new API key when the tenant was new
** here, *piSeq the manifest's number. */
int vgd_sync_restore(VgdSync *p, VgdStore *pStore, const char *zTenant, char **pzKey, long long *piSeq,
                     char **pzErr);

/* Forget what DIR/sync.db knows of zTenant. */
void vgd_sync_state_drop(VgdSync *p, const char *zTenant);
/* Tenants this box synced that are no longer here (deleted), JSON array. */
struct json_t *vgd_sync_gone(VgdSync *p, VgdStore *pStore);
/* A deleted tenant's copies: once it has been gone for the retention, every
** object under <target>/<tenant>/ is deleted (the latest manifest first)
** unless another box holds its lease; *pnDeleted how many. */
int vgd_sync_forget(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, int *pnDeleted, char **pzErr);

/* What a replica holds of a tenant, and what its manifest says. */
typedef struct VgdPull VgdPull;
struct VgdPull {
  long long seq;            /* in: the manifest zBase is (0: none); out: the latest */
  long long snapshotSeq;    /* in: zBase's snapshot; out: the latest's */
  long long created;        /* out: when the latest was pushed (unix time) */
  char zFileHash[65];       /* in: zBase's file hash; out: the latest's (a tenant pushed
                            ** again from scratch has the same numbers, not the same hash) */
  unsigned char piiKey[32]; /* out: the tenant's PII key */
};
/* Bring zBase (a file no connection opens) to zTenant's latest manifest:
** from zBase plus the later segments when the chain allows, else whole.
** 1: zBase is the latest already; 0: it is now; VGD_SYNC_NO_TENANT: the
** target has no manifest of zTenant; -1 (or that) and *pzErr. */
#define VGD_SYNC_NO_TENANT (-2)
int vgd_sync_pull(VgdSync *p, VgdStore *pStore, const char *zTenant, const char *zBase, VgdPull *pPull,
                  char **pzErr);

/* Overwrite zPath with zeros, fsync, unlink (none there: 0). */
int vgd_erase_file(const char *zPath);
/* Erase the work directories (DIR/.sync-<pid>-*) of sync processes that
** are gone: a killed push leaves a plain copy of a tenant there. */
void vgd_sync_sweep(const char *zDataDir);
/* zFrom copied to the new (or truncated) file zTo. */
int vgd_copy_file(const char *zFrom, const char *zTo, char **pzErr);

/* ---- backups (backup.c) -------------------------------------------------- */

/* Copy the tenant's file with the online backup API (safe while serving)
** to zTo, or, when zTo is NULL, to DIR/backups/<t>-<UTC time>.db; never
** over an existing file.  *pzName (malloc) is the backup's file name (its
** path when zTo was given), *pnBytes its size. */
int vgd_tenant_backup(VgdStore *p, const char *zTenant, const char *zTo, char **pzName, long long *pnBytes,
                      char **pzErr);
/* Replace the tenant's file by a copy of zFrom, once zFrom passes
** integrity_check and holds the documents table and the queue.  No server
** may run on the directory (the caller holds DIR/serve.lock). */
int vgd_tenant_restore(VgdStore *p, const char *zTenant, const char *zFrom, char **pzErr);

/* ---- the open tenant connections (pool.c) ------------------------------ */

typedef struct VgdPoolConn VgdPoolConn;
struct VgdPoolConn {
  char zTenant[VGD_TENANT_MAX + 1];
  long long iSerial;          /* the tenant's serial: a re-created tenant is another */
  sqlite3 *db;                /* NULL: an empty slot (or one being opened, bBusy) */
  int bBusy;                  /* a request or worker uses it */
  unsigned long long iUsed;   /* when it was last given back, for LRU */
};

#define VGD_EXCLUDED_MAX 16
typedef struct VgdPool VgdPool;
struct VgdPool {
  pthread_mutex_t mu;
  pthread_cond_t cond;        /* a slot was given back */
  int nMax;
  int nPerTenant;             /* connections of one tenant at most */
  VgdPoolConn *a;             /* nMax slots */
  unsigned long long iClock;
  long long nOpened, nEvicted;
  int nExcluded;              /* tenants being deleted, or their file replaced */
  char azExcluded[VGD_EXCLUDED_MAX][VGD_TENANT_MAX + 1];
  int abHeld[VGD_EXCLUDED_MAX]; /* replaced, not deleted: callers wait */
};

int vgd_pool_init(VgdPool *p, int nMax, int nPerTenant);
void vgd_pool_close(VgdPool *p);
/* A connection to zTenant for the caller alone, until vgd_pool_put.
** SQLITE_BUSY when no slot (or none of the tenant's) came free within
** VGD_BUSY_MS. */
int vgd_pool_get(VgdPool *p, VgdStore *pStore, const char *zTenant, long long iSerial, sqlite3 **pDb,
                 char **pzErr);
void vgd_pool_put(VgdPool *p, sqlite3 *db);
/* Keep everyone off zTenant's file (gets say SQLITE_NOTFOUND) until
** vgd_pool_include: waits for its connections in use, closes them all. */
/* bHeld: the file is being replaced; vgd_pool_get waits (up to
** VGD_BUSY_MS) instead of answering SQLITE_NOTFOUND. */
void vgd_pool_exclude(VgdPool *p, const char *zTenant, int bHeld);
void vgd_pool_include(VgdPool *p, const char *zTenant);
void vgd_pool_stats(VgdPool *p, int *pnOpen, int *pnTenants, long long *pnOpened, long long *pnEvicted);

/* ---- the governance report (report.c) ----------------------------------- */

/* The report over [zSince, zUntil] (ISO 8601; NULL: the last 30 days to
** now) into *ppOut.  SQLITE_RANGE when a time is bad (*pzErr names it). */
struct json_t;
int vgd_report(sqlite3 *db, const char *zTenant, const char *zSince, const char *zUntil, struct json_t **ppOut,
               char **pzErr);

/* ---- metrics, limits and logs (metrics.c) ------------------------------- */

#define VGD_N_BUCKET 13
#define VGD_PII_TYPES_MAX 256

typedef struct VgdHistogram VgdHistogram;
struct VgdHistogram {
  unsigned long long aCount[VGD_N_BUCKET]; /* cumulative, as Prometheus wants */
  unsigned long long nCount;
  double sum;
};

/* zRoute and zMethod are static strings, compared by address. */
typedef struct VgdRequestSeries VgdRequestSeries;
struct VgdRequestSeries {
  const char *zRoute, *zMethod;
  unsigned status;
  VgdHistogram latency;
};

typedef struct VgdPiiCount VgdPiiCount;
struct VgdPiiCount {
  char zType[68];
  long long n;
};

/* Pending items of one tenant by priority (high, medium, low). */
typedef struct VgdTenantDepth VgdTenantDepth;
struct VgdTenantDepth {
  char zTenant[VGD_TENANT_MAX + 1];
  long long anPending[3];
};

typedef struct VgdMetrics VgdMetrics;
struct VgdMetrics {
  pthread_mutex_t mu;
  int nRequest, nPii, nDepth;
  VgdRequestSeries *aRequest;
  VgdPiiCount *aPii;
  VgdTenantDepth *aDepth;
  VgdHistogram embed;
  unsigned long long nEmbedded;
};

void vgd_metrics_init(VgdMetrics *m);
void vgd_metrics_free(VgdMetrics *m);
void vgd_metrics_request(VgdMetrics *m, const char *zRoute, const char *zMethod, unsigned status, double seconds);
void vgd_metrics_embed(VgdMetrics *m, int nItems, double seconds);
void vgd_metrics_pii(VgdMetrics *m, const char *zFindings);
void vgd_metrics_queue_depth(VgdMetrics *m, const char *zTenant, const long long *anPending);
void vgd_metrics_forget_tenant(VgdMetrics *m, const char *zTenant);

/* A token bucket per API key: rate tokens a second, up to burst. */
typedef struct VgdBucket VgdBucket;
struct VgdBucket {
  char zKeyId[17];
  double tokens, at;
};
typedef struct VgdLimits VgdLimits;
struct VgdLimits {
  pthread_mutex_t mu;
  double rate, burst; /* rate 0: no limit */
  int n;
  VgdBucket *a;
};
void vgd_limits_init(VgdLimits *p, double rate, double burst);
void vgd_limits_set(VgdLimits *p, double rate, double burst);
void vgd_limits_free(VgdLimits *p);
/* Take a token for zKeyId: 0, or the seconds until one is there (429). */
double vgd_limits_take(VgdLimits *p, const char *zKeyId);

/* One JSON line on stderr {"ts", "level", "event", ...pFields} (stolen). */
void vgd_log_json(const char *zLevel, const char *zEvent, struct json_t *pFields);
void vgd_log(const char *zLevel, const char *zEvent, const char *zFmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- the server (http.c, workers.c) ------------------------------------- */

typedef struct VgdServer VgdServer;
typedef struct VgdSyncd VgdSyncd;
typedef struct VgdWorker VgdWorker;

struct VgdWorker {
  VgdServer *pServer;
  int iWorker;
  pthread_t thread;
};

/* The tenants the workers should visit (workers.c). */
#define VGD_WRITE_LOCKS 64
#define VGD_WORKER_ID "vecguardd" /* the workers' id in vg_queue.worker_id */
typedef struct VgdWork VgdWork;
struct VgdWork {
  pthread_mutex_t mu;
  pthread_cond_t cond; /* a write made a tenant due */
  int n, iNext;        /* iNext: round-robin position */
  struct VgdDue {
    char zTenant[VGD_TENANT_MAX + 1];
    double dueAt;  /* CLOCK_MONOTONIC seconds */
    int bRunning;  /* a worker runs its batch */
    int bNotified; /* written since its batch began */
    int bRelease;  /* first visit since start: end the leases of the last run */
    int nFail;     /* batches failed in a row */
  } *a;
  int bSweep;          /* visit every tenant: at start, on SIGHUP */
  int bSwept;          /* the first sweep since start is done */
};

struct VgdServer {
  VgdStore store;
  VgdPool pool;                /* a connection taken pins its tenant */
  VgdMetrics metrics;
  VgdLimits limits;
  VgdWork work;
  /* A tenant's writes (HTTP writes, a worker's batch) take turns here, by a
  ** hash of the tenant id, instead of sleeping in SQLite's busy handler. */
  pthread_mutex_t aWriteLock[VGD_WRITE_LOCKS];
  _Atomic int bLogRequests;
  _Atomic int nWorkerRunning;  /* for /readyz */
  _Atomic int nInFlight;       /* requests between their first byte and their end */
  _Atomic int bStop;
  int nWorker;
  VgdWorker *aWorker;
  _Atomic int idleMs;
  _Atomic size_t bodyLimit;
  unsigned maxConnections;
  VgdSyncd *pSync;             /* NULL: no [sync] target */
  int bReplica;                /* read-only: writes refused */
};

/* ---- sync in the server (syncd.c) ------------------------------------- */

struct VgdSyncd {
  VgdServer *pServer;
  VgdObjConfig cfg;          /* strings owned by the settings */
  const char *zKeyFile;
  long long interval, retention, leaseSeconds;
  int bReplica;              /* serve --replica: pull, read-only */
  pthread_t thread;
  int bStarted;
  pthread_mutex_t mu;        /* the fields below, and the wait */
  pthread_cond_t cond;
  int bNow;
  _Atomic int bStop;         /* also the object store's cancel flag */
  struct json_t *pSeen;      /* tenant -> its file's signature at its last push */
  struct json_t *pLeased;    /* tenant -> when this box last wrote its lease */
  long long nRounds;
  pthread_mutex_t syncMu;    /* sync, bOpen, zOpenErr */
  VgdSync sync;
  int bOpen;
  char *zOpenErr;
  _Atomic long long nPushes, nPulls, nFailures, nBytes, lastOkAt;
};

int vgd_syncd_start(VgdSyncd *d, VgdServer *s);
void vgd_syncd_stop(VgdSyncd *d);
/* A round now, not at the end of the interval. */
void vgd_syncd_now(VgdSyncd *d);
/* A replica: zTenant pulled (or refreshed) now; VGD_SYNC_NO_TENANT when
** the target has none. */
int vgd_syncd_pull(VgdSyncd *d, const char *zTenant, char **pzErr);
/* GET /v1/tenants/{t}/sync's body. */
struct json_t *vgd_syncd_status(VgdSyncd *d, const char *zTenant);

/* The mutex a tenant's writes (HTTP writes, a worker's batch) take turns on. */
pthread_mutex_t *vgd_write_lock(VgdServer *s, const char *zTenant);
int vgd_workers_start(VgdServer *p);
void vgd_workers_stop(VgdServer *p);
/* zTenant has new work: a worker visits it soon. */
void vgd_work_notify(VgdServer *p, const char *zTenant);
/* Every tenant is due (SIGHUP: work another process may have queued). */
void vgd_work_sweep(VgdServer *p);
/* GET /metrics's body (sqlite3_malloc'd). */
char *vgd_metrics_text(VgdServer *p);

/* Start the HTTP daemon on zListen ("127.0.0.1:PORT"), with TLS when
** zTlsCert and zTlsKey (PEM files) are given; NULL and *pzErr on failure.
** The return value is a struct MHD_Daemon *. */
void *vgd_http_start(VgdServer *p, const char *zListen, const char *zTlsCert, const char *zTlsKey, char **pzErr);
/* The port it listens on (the one the system chose for port 0). */
int vgd_http_port(void *pDaemon);
/* Stop accepting, let requests in flight finish (up to 30 s), stop. */
void vgd_http_stop(VgdServer *p, void *pDaemon);

/* ---- helpers (main.c) --------------------------------------------------- */

char *vgd_mprintf(const char *zFmt, ...) __attribute__((format(printf, 1, 2)));
/* CLOCK_MONOTONIC in seconds. */
double vgd_now(void);
/* CLOCK_REALTIME ms from now, for pthread_cond_timedwait. */
struct timespec vgd_deadline(long ms);
/* fsync a file, or (bDir) a directory so a rename in it lasts. */
int vgd_fsync_path(const char *zPath, int bDir);
/* Grow *pa (of *pn elements of nSize bytes) by one zeroed element: its
** address, or NULL (nothing changed) when memory runs out. */
void *vgd_array_push(void *pa, int *pn, size_t nSize);

#endif
