/*
** pipeline.h — the internal header of ext/pipeline/: the embedding queue and
** the pipeline around it (settings, vg_ingest, vg_queue_run, vg_search,
** vg_watch), which reach vg_hnsw and PII through SQL.
**
** One section per part, in dependency order: queue, queue_sql, queue_tables,
** queue_items, table_config, watch, sql.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_PIPELINE_LAYER_H
#define VG_PIPELINE_LAYER_H

#include "base/base.h"
#include "table/table.h"

/***************************************************************************
** queue: the embedding queue's rules, apart from SQL: priorities, the
** states an item goes through, what each event does to it, and the retry
** delay.  queue_items.c keeps the items in the vg_queue table and applies
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
** Enqueueing and claiming are single SQL statements in queue_items.c (each
** must be atomic across processes); the rules for finishing an item are here.
*/

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

/***************************************************************************
** queue_sql: the pipeline's part of the per-connection state, which every
** SQL function and module of this layer takes as its user data (the
** functions themselves: the sql section), and the queue's clock.
*/

/* ext/vecguard.c owns the whole per-connection state, and frees it with the
** connection; this part is set up and torn down here (queue_sql.c). */
typedef struct QueueConn {
  int bClock;     /* "now" is fixed at rClock (vg_queue_clock) */
  double rClock;
  char *zWorker;  /* the worker id of this connection's last claim */
  char zRunWorker[32]; /* the worker id vg_queue_run claims as */
  struct vecguard_embedder *pEmbedder; /* the last built-in model vg_queue_run or vg_search used */
  struct EmbedConn *pModels; /* the connection's loaded models (ext/vecguard.c sets it) */
} QueueConn;
void vg_queue_conn_init(QueueConn *q);
void vg_queue_conn_clear(QueueConn *q);

/* The embedder of model zModel: one the connection loaded (borrowed), the
** kept built-in one when it is that model, else a new one that replaces
** it.  SQLITE_NOTFOUND with *pzErr for a name the connection has not
** loaded (vg_model_describe). */
int vg_queue_embedder(QueueConn *q, const char *zModel, struct vecguard_embedder **pp, char **pzErr);

/* Seconds since 1970, or the time vg_queue_clock fixed. */
double vg_queue_now(const QueueConn *q);

/***************************************************************************
** queue_tables: the queue's tables (queue_tables.c; sql/queue.sql holds
** the same schema), and what a transaction of the pipeline does first.
*/

/* Create the queue's tables unless they exist.  A queue made by an earlier
** version, which kept the items' texts in vg_queue, is SQLITE_ERROR with
** *pzErr saying to run vg_queue_init(), which upgrades it. */
int vg_queue_ensure(sqlite3 *db, char **pzErr);

/* vg_queue_init()'s work, inside its transaction (vg_txn_call): create the
** tables, or upgrade a queue an earlier version made. */
int vg_queue_create(sqlite3 *db, void *pArg, char **pzErr);
/* Is the queue this version's, with nothing for vg_queue_init() to do? */
int vg_queue_is_current(sqlite3 *db);

/* Delete the tombstones of erased texts.  Every transaction of the
** pipeline runs it first: it is the xBegun each passes to vg_txn_begin
** and vg_txn_call, which run it only in a transaction they open with
** BEGIN. */
int vg_queue_sweep(sqlite3 *db);

/* How a text sits in vg_queue_text (see queue_tables.c): after a zero pad
** as long as the most a page keeps of a record, and an item's text is its
** one row whose content is still TEXT (for item expression ITEM). */
#define VG_QUEUE_TEXT_PAD "zeroblob((SELECT page_size FROM pragma_page_size) - 35)"
#define VG_QUEUE_ITEM_TEXT(ITEM) \
  "(SELECT t.content FROM main.vg_queue_text AS t WHERE t.item_id = " ITEM " AND typeof(t.content) = 'text')"

/***************************************************************************
** queue_items: the queue's items as the C code handles them: checked and
** put in, claimed, read, stored and done, or failed (queue_items.c), for
** the queue's SQL functions, vg_ingest and the worker vg_queue_run.
*/

/* The definition of vg_hnsw table zTable in main; SQLITE_ERROR with *pzErr
** when there is no such table or it is not a vg_hnsw table. */
int vg_target_def(sqlite3 *db, const char *zTable, VgTableDef **ppDef, char **pzErr);

/* Why the table cannot take tenant zTenant (a message to free), or 0: a
** partitioned table needs a tenant, any other takes only ''. */
char *vg_tenant_refused(const VgTableDef *pDef, const char *zTable, const char *zTenant);

/* An item to enqueue; its arguments already checked. */
typedef struct VgNewItem {
  const char *zTable, *zTenant, *zType, *zContentId;
  const char *zContent;
  int nContent;
  const char *zMetadata; /* a JSON object, or 0 */
  int priority;
  char zIdBuf[24]; /* a whole REAL content_id as an integer's text */
} VgNewItem;

/* Check the arguments (table, tenant_id, content_type, content_id, text
** [, metadata [, priority]]) of vg_enqueue or vg_ingest into *pNew; zText
** names the text in messages.  0 with the error set when one is bad. */
int vg_item_args(sqlite3_context *ctx, const char *zFunc, const char *zText, int argc,
                 sqlite3_value **argv, VgNewItem *pNew);

/* Is the item fit for its table: a tenant the table keeps apart, metadata
** that is a JSON object?  SQLITE_ERROR with *pzErr when not. */
int vg_item_check(sqlite3 *db, const VgNewItem *pNew, const VgTableDef *pDef, char **pzErr);

/* Add the item, or start it over (see vg_enqueue), with its text in
** vg_queue_text; its id in *pId.  Two writes: the caller holds the
** transaction (vg_txn_begin). */
int vg_queue_put(sqlite3 *db, const QueueConn *q, const VgNewItem *pNew, sqlite3_int64 *pId, char **pzErr);

/* An item as it is read to be finished. */
typedef struct VgQueueItem {
  sqlite3_int64 id;
  VgItemState st;
  char *zWorker, *zTenant, *zTable, *zType, *zContentId, *zMetadata;
  char *zContent; /* its text from vg_queue_text, or 0 when it has none (done) */
  int nContent;   /* zContent's bytes: it may hold NUL */
} VgQueueItem;

/* Why item id cannot be embedded: it has no text (a message to free). */
char *vg_queue_textless(sqlite3_int64 id);

/* A copy of column i of the row, all its bytes and a NUL after them (0 for
** NULL; *pbOom set when out of memory). */
char *vg_column_dup(sqlite3_stmt *p, int i, int *pbOom);

/* Read item id; SQLITE_NOTFOUND when there is none. */
int vg_queue_item_read(sqlite3 *db, sqlite3_int64 id, VgQueueItem *it);
void vg_queue_item_clear(VgQueueItem *it);

/* Claim up to n items for zWorker (one statement), none of a table named
** in zSkip (a JSON array of names, or 0); their ids, in claim order, in
** *paId (sqlite3_free it). */
int vg_queue_claim_ids(sqlite3 *db, const char *zWorker, double now, double lease, int n, const char *zSkip,
                       sqlite3_int64 **paId, int *pnId);

/* The same claim, the items appended to out as a JSON array of objects, in
** claim order (vg_queue_claim). */
int vg_queue_claim_json(sqlite3 *db, const char *zWorker, double now, double lease, int n, sqlite3_str *out);

/* Store the item's vectors, one per chunk (aVec: nChunk * dims floats;
** chunk k is it->zContent's bytes aStart[k] to aEnd[k]), in place of those
** it stored before, and mark it done, which erases its text from
** vg_queue_text (the trigger vg_queue_erase_finished), finished at now.  The
** caller holds the transaction. */
int vg_queue_store(sqlite3 *db, const VgQueueItem *it, const VgTableDef *pDef, int nChunk, const float *aVec,
                   const int *aStart, const int *aEnd, double now);

/* Does worker zWorker still hold item id from the claim that made its
** attempts count nAttempts?  (Its lease may have run out and passed on.) */
int vg_queue_held(sqlite3 *db, sqlite3_int64 id, const char *zWorker, int nAttempts, int *pbHeld);

/* Was rc a refusal of the values given (a metadata value of the wrong
** type, a table dropped meanwhile, a text vg_ingest takes not), as opposed
** to the database failing?  The item or row is then failed alone. */
int vg_refused_by_values(int rc);

/* Record a failed attempt: failed with a retry time, or dead.  The new
** status goes to *pStatus.  The caller holds the transaction. */
int vg_queue_record_failure(sqlite3 *db, const QueueConn *q, const VgQueueItem *it,
                            const char *zError, int *pStatus);

/***************************************************************************
** table_config: a table's pipeline settings (table_config.c).
*/

/* A table's settings, defaults filled in. */
typedef struct VgTableConfig {
  VgTableDef *pDef;
  char *zModel;        /* the embedder's model name */
  int bModelStored;    /* named by the table's row, not the default */
  char *zRedact;       /* vg_pii_redact's options for vg_ingest, a JSON object */
  int nChunkTokens;    /* tokens per chunk, at most the model's window */
  int nChunkOverlap;   /* tokens a chunk shares with the one before */
  int nModelDims, nModelMaxTokens;
  int bExternal;       /* model "external": vg_queue_run leaves the items alone */
  char *zMissing;      /* the model is a name this connection has not loaded: why it cannot embed */
} VgTableConfig;

/* The settings of vg_hnsw table zTable, checked against it (the model's
** dimension is the table's); SQLITE_ERROR with *pzErr when they do not
** fit or there is no such table.  A model q's connection has not loaded
** (or any loaded name, when q is 0) is no error: p->zMissing says why it
** cannot embed, so that the table still takes items. */
int vg_config_load(sqlite3 *db, const QueueConn *q, const char *zTable, VgTableConfig *p, char **pzErr);
/* Record p's model as the table's if its row names none (so that a table
** keeps the default it started with); in the caller's write transaction. */
int vg_config_keep_model(sqlite3 *db, const char *zTable, const VgTableConfig *p, char **pzErr);
void vg_config_clear(VgTableConfig *p);

/***************************************************************************
** watch: what vg_watch's triggers leave for the extension (watch.c).  The
** triggers are plain SQL, so any connection can write a watched table; they
** record in vg_watch_log the keys of changed rows (to ingest) and the
** vectors of deleted ones (to delete), which vg_watch_drain brings in.
*/

#define VG_WATCH_LOG_SCHEMA                                                                        \
  "CREATE TABLE IF NOT EXISTS main.vg_watch_log(\n"                                                \
  "  id INTEGER PRIMARY KEY,\n"                                                                    \
  "  source_table TEXT NOT NULL,\n"                                                                \
  "  source_key,\n"                                                                                \
  "  tenant_id TEXT,\n"                                                                            \
  "  target_table TEXT,\n"                                                                         \
  "  target_rowid INTEGER,\n"                                                                      \
  "  error TEXT\n"                                                                                 \
  ");\n"                                                                                           \
  "CREATE INDEX IF NOT EXISTS main.vg_watch_log_rows ON vg_watch_log(source_table, source_key)\n"  \
  "  WHERE target_rowid IS NULL;\n"                                                                \
  "CREATE INDEX IF NOT EXISTS main.vg_watch_log_vectors ON vg_watch_log(target_table, target_rowid)\n" \
  "  WHERE target_rowid IS NOT NULL;\n"

/* What a drain did, for vg_queue_run's summary. */
typedef struct VgWatchTally {
  int nRows;            /* source rows sent to vg_ingest */
  int nErased;          /* vector rows deleted */
  int nErrors;          /* rows refused (left in the log, tried again next time) */
  sqlite3_str *pErrors; /* the first of them, as JSON objects separated by commas; 0 when none */
} VgWatchTally;

/* Bring the watched tables' changes in: delete the vectors the log lists,
** send the changed rows as they are now to vg_ingest, and remake triggers
** an earlier version made; in a transaction of its own (vg_txn_begin).  A
** row vg_ingest refuses stays in the log with its error and is counted in
** t; only the database's failures are returned. */
int vg_watch_drain(sqlite3 *db, VgWatchTally *t);
/* t as JSON {"rows", "erased", "refused", "errors"} (t's errors handed over). */
void vg_watch_tally_json(sqlite3_str *out, VgWatchTally *t);
void vg_watch_tally_clear(VgWatchTally *t);

/* The rowids of zTable's vectors (of tenant zTenant, unless 0) whose
** source rows are gone and that the next drain deletes, in order
** (sqlite3_free *paRowid). */
int vg_watch_pending_erasures(sqlite3 *db, const char *zTable, const char *zTenant, sqlite3_int64 **paRowid,
                              int *pn);

/***************************************************************************
** sql: what ext/vecguard.c registers for this layer, each function and
** the module taking the connection's QueueConn as user data.
*/

extern const VgFunction vg_queue_functions[];  /* vg_queue_*, vg_enqueue (queue_sql.c) */
extern const VgFunction vg_config_functions[]; /* vg_configure (table_config.c) */
extern const VgFunction vg_ingest_functions[]; /* vg_ingest (ingest.c) */
extern const VgFunction vg_worker_functions[]; /* vg_queue_run (worker.c) */
extern const VgFunction vg_watch_functions[];  /* vg_watch, vg_unwatch (watch.c) */
extern const sqlite3_module vg_search_module;  /* vg_search (search.c) */

#endif
