/*
** hnsw.h — the internal header of ext/hnsw/: the HNSW graph in memory and its
** helpers (a rowid map, a top-k heap); no SQL.
**
** One section per part, in dependency order: i64map, topk, hnsw.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_HNSW_LAYER_H
#define VG_HNSW_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "base/base.h"
#include "vector/vector.h"

/***************************************************************************
** i64map: a hash map from 64-bit integer keys to non-negative 64-bit
** values (open addressing, linear probing, no tombstones).
**
** Used to find a row's position in an in-memory vector set by rowid, and a
** partition's cache by partition id.  Values must be >= 0: a negative value
** marks an empty bucket.
*/

typedef struct I64MapEntry {
  sqlite3_int64 key;
  sqlite3_int64 val; /* < 0: empty */
} I64MapEntry;

typedef struct I64Map {
  I64MapEntry *a;
  size_t nBucket; /* a power of two, or 0 */
  size_t nUsed;
} I64Map;

void i64map_init(I64Map *p);
void i64map_free(I64Map *p);

/* Make room for n entries without rehashing.  SQLITE_OK or SQLITE_NOMEM. */
int i64map_reserve(I64Map *p, size_t n);

/* Insert or overwrite; val must be >= 0.  SQLITE_OK or SQLITE_NOMEM. */
int i64map_put(I64Map *p, sqlite3_int64 key, sqlite3_int64 val);

/* The value for key, or -1. */
sqlite3_int64 i64map_get(const I64Map *p, sqlite3_int64 key);

/* Remove key if present. */
void i64map_remove(I64Map *p, sqlite3_int64 key);

/***************************************************************************
** topk: keeps the k nearest (distance, rowid) pairs seen so far.
**
** A max-heap on (distance, rowid): the root is the worst pair kept, so a
** candidate is rejected with one comparison in the common case.  Ties in
** distance go to the smaller rowid, which makes results deterministic.
*/

typedef struct VgHit {
  double distance;
  sqlite3_int64 rowid;
} VgHit;

typedef struct TopK {
  int k;       /* pairs to keep */
  int n;       /* pairs kept */
  int nAlloc;  /* allocated, grows up to k */
  VgHit *a;
} TopK;

void topk_init(TopK *p, int k);
void topk_free(TopK *p);

/* Would (d, id) be kept?  Cheap test before computing anything else. */
static inline int topk_accepts(const TopK *p, double d, sqlite3_int64 id) {
  if (p->n < p->k) return 1;
  const VgHit *w = &p->a[0];
  return d < w->distance || (d == w->distance && id < w->rowid);
}

/* Offer a pair.  SQLITE_OK or SQLITE_NOMEM. */
int topk_push(TopK *p, double d, sqlite3_int64 id);

/* Sort the kept pairs nearest first; the heap is unusable afterwards
** except through p->a[0..n-1]. */
void topk_sort(TopK *p);

/***************************************************************************
** hnsw: a Hierarchical Navigable Small World graph (Malkov & Yashunin)
** over the vectors of one partition, held in memory.
**
** Two departures from the paper, which the rest of vecguard relies on:
**
**   Links are symmetric: a lists b at level l exactly when b lists a.  So a
**   deleted node's former neighbours are known without a scan, each of them
**   is rewritten without the deleted rowid (erasure), and a check can
**   report every one-way link as damage.
**
**   Deletion is real: the node is unlinked and each former neighbour gets a
**   new link among the others, so recall does not decay under churn.
**
** And one invariant: every level's graph is connected, so every node can be
** reached from the entry point at level 0 (hnsw_check counts the nodes
** that cannot).  It holds by construction, for any multiset of vectors:
**
**   A link is dropped (to make room in a full list) only with proof that
**   its two ends stay connected without it: a path of two or three links
**   around it, or a link from the dropped end to the node being linked in.
**   A full list with no link to give up that way refuses the new link,
**   except from a node without links (a new one): then its lowest ranked
**   link is moved to the new node, which links both former ends.
**
**   A deletion leaves its former neighbours connected to one another:
**   shown by links or common neighbours among them, or made so by linking
**   the nearest pairs of the groups that are not, or failing that by a walk
**   of the level (hnsw_connect's) that links each part it cannot reach.
**
** Copies of one vector (or vectors the metric cannot tell apart) are at
** equal distance from everything, so the neighbour-choosing heuristic
** cannot rank them: a list gives at most a quarter of its links to copies
** of its own node, picked in an order salted per node.  A search sets
** copies aside as it meets them (a node exactly as far as the node linking
** to it), walks through them for their links elsewhere, and adds them to
** its results at the end, so that many copies neither fill its list of
** candidates nor stop it.
**
** Every change records the nodes whose link lists it touched (the dirty
** list), so that the caller writes exactly those back to storage.  The graph
** knows nothing of SQL: a node carries its rowid and an opaque 64-bit tag
** that the caller uses as the node's storage address.
**
** A graph holds its vectors as float32, or as 8-bit codes (an int8 graph):
** per vector, lo = its smallest element, step = (largest - lo) / 255, and
** element i stands for lo + step * code[i].  A 384-dimensional vector then
** takes 400 bytes instead of 1536, and a search reads a quarter of the
** memory.  Distances to an int8 graph's nodes are approximate;
** hnsw_distance_error() bounds how far each can be from the exact one, so
** a caller holding the exact vectors elsewhere can re-rank the candidates
** and know which ones cannot matter.  The graph keeps no float copy.
**
** Distances inside the graph are "prepared" distances: 1 - dot for cosine
** (vectors must be normalized by the caller), squared L2 for l2, -dot for
** inner product.  They order neighbours exactly as the real distances do.
*/

#define HNSW_NONE UINT32_MAX

/* Highest level a node may have; levels above it would need 10^15 rows at
** the smallest M. */
#define HNSW_MAX_LEVEL 15

/* Largest M (links per node above level 0; 2M at level 0). */
#define HNSW_MAX_M 64

typedef enum HnswVectors { HNSW_FLOAT32 = 0, HNSW_INT8 = 1 } HnswVectors;

typedef struct HnswCand {
  float d;
  uint32_t node;
} HnswCand;

/* A growable binary heap of candidates (min or max on d). */
typedef struct HnswHeap {
  HnswCand *a;
  int n, nAlloc;
} HnswHeap;

typedef struct Hnsw {
  int nDims;
  vg_metric metric;     /* for searches */
  vg_metric linkMetric; /* for choosing links */
  int M;               /* links per node and level above 0 */
  int M0;              /* links per node at level 0 (2M) */
  int efConstruction;  /* candidates considered when linking a new node */
  double mL;           /* level multiplier, 1/ln(M) */
  HnswVectors vectors;

  uint32_t nNode;      /* node slots used, live or free */
  uint32_t nAlloc;     /* node slots allocated */
  uint32_t nLive;
  sqlite3_int64 *aRowid;
  sqlite3_int64 *aTag;
  signed char *aLevel; /* -1: free slot */
  /* Per node, in one block of nodeWords 32-bit words: the level-0 list
  ** (count, then M0 node numbers), padding, then the vector from word
  ** vecWord (int8 graphs: lo, step, the error terms, then the codes).  Blocks are whole cache lines: a search reads a node's vector,
  ** then its links, from the same place. */
  uint32_t *aNode0;
  void *pNode0Mem;     /* the allocation aNode0 is aligned within */
  size_t nodeWords;
  size_t vecWord;
  uint32_t **apUpper;  /* per node: levels 1..level, each count + M numbers */
  uint32_t *aFree;     /* free node slots, reused first */
  uint32_t nFree, nFreeAlloc;
  I64Map index;        /* rowid -> node */

  uint32_t entry;      /* HNSW_NONE when empty */
  int maxLevel;        /* level of the entry point, -1 when empty */

  /* scratch */
  uint32_t *aVisited;  /* epoch per node */
  uint32_t visitEpoch;
  uint32_t *aDirty;    /* nodes whose links changed since hnsw_dirty_clear */
  uint32_t nDirty, nDirtyAlloc;
  unsigned char *aDirtyMark;
  HnswHeap cand, result;
  HnswHeap ties, reach; /* copies a search sets aside (see search_layer) */
  float *aDecoded;     /* int8 graphs: one vector decoded, for link choices */
} Hnsw;

/* A caller's test of whether a node may appear in search results.  Nodes
** that fail it are still walked through, so the graph stays connected. */
typedef int (*HnswAccept)(void *pCtx, uint32_t node);

/* An empty graph.  SQLITE_OK, SQLITE_NOMEM, or SQLITE_MISUSE for bad
** parameters. */
int hnsw_init(Hnsw *h, int nDims, vg_metric metric, int M, int efConstruction,
              HnswVectors vectors);
void hnsw_free(Hnsw *h);

/* Make room for exactly n nodes (more are added as needed).  SQLITE_OK or
** SQLITE_NOMEM. */
int hnsw_reserve(Hnsw *h, uint32_t n);

/* The level for a new node, from a uniform u in (0, 1]. */
int hnsw_level_for(const Hnsw *h, double u);

/* Insert a new rowid (not yet present) at the given level and link it.  v is
** copied.  SQLITE_OK, SQLITE_NOMEM, or SQLITE_MISUSE for a rowid present. */
int hnsw_insert(Hnsw *h, sqlite3_int64 rowid, sqlite3_int64 tag, const float *v,
                int level);

/* Unlink rowid, repair its neighbours and free its node (the vector's
** memory is zeroed).  SQLITE_OK (also when absent) or SQLITE_NOMEM. */
int hnsw_delete(Hnsw *h, sqlite3_int64 rowid);

/* Search for the ef nearest accepted nodes (accept may be 0: all).  Writes
** up to ef candidates into aOut, nearest first (ties by rowid), and their
** number into *pnOut.  SQLITE_OK or SQLITE_NOMEM. */
int hnsw_search(Hnsw *h, const float *q, int ef, HnswAccept accept, void *pCtx,
                HnswCand *aOut, int *pnOut);

/* Node of rowid, or HNSW_NONE. */
uint32_t hnsw_find(const Hnsw *h, sqlite3_int64 rowid);

static inline int hnsw_is_live(const Hnsw *h, uint32_t i) { return h->aLevel[i] >= 0; }

/* The vector of node i of a float32 graph. */
static inline const float *hnsw_vector(const Hnsw *h, uint32_t i) {
  return (const float *)(h->aNode0 + (size_t)i * h->nodeWords + h->vecWord);
}

/* The vector of node i as the graph holds it, as floats (for an int8
** graph, the values its codes stand for). */
void hnsw_decode(const Hnsw *h, uint32_t i, float *aOut);

/* The distance from q to node i as a search ranks it: squared for l2, and
** approximate for an int8 graph. */
float hnsw_distance(const Hnsw *h, const float *q, uint32_t i);

/* For an int8 graph: a bound on |exact - approximate| distance from a
** query of norm qNorm to node i, in the metric's own units (not squared
** for l2), rounding included.  0 for a float32 graph. */
float hnsw_distance_error(const Hnsw *h, uint32_t i, float qNorm);

/* The link list of node i at level l: *pn entries. */
const uint32_t *hnsw_links(const Hnsw *h, uint32_t i, int l, int *pn);

/* Capacity of a link list at level l. */
static inline int hnsw_capacity(const Hnsw *h, int l) { return l == 0 ? h->M0 : h->M; }

/* The dirty list. */
void hnsw_dirty_clear(Hnsw *h);

/* ---- loading a stored graph ------------------------------------------- */

/* Add a node without links.  *pNode receives its number. */
int hnsw_load_node(Hnsw *h, sqlite3_int64 rowid, sqlite3_int64 tag, const float *v,
                   int level, uint32_t *pNode);

/* Set the links of node i at level l as stored (n <= capacity). */
void hnsw_load_links(Hnsw *h, uint32_t i, int l, const uint32_t *a, int n);

/* Make node i the entry point. */
void hnsw_set_entry(Hnsw *h, uint32_t i);

/* ---- checking --------------------------------------------------------- */

typedef struct HnswReport {
  sqlite3_int64 nodes;
  sqlite3_int64 links;             /* list entries, all levels */
  sqlite3_int64 oneWay;            /* a lists b, b does not list a */
  sqlite3_int64 badLinks;          /* to self, to a free node, to a node below the level, duplicates */
  sqlite3_int64 degreeViolations;  /* lists over capacity */
  sqlite3_int64 isolated;          /* nodes without links while others exist */
  sqlite3_int64 unreachable;       /* not reachable from the entry point at level 0 */
  int entryOk;                     /* entry point exists and has the top level */
} HnswReport;

/* Check the graph's invariants.  SQLITE_OK or SQLITE_NOMEM. */
int hnsw_check(Hnsw *h, HnswReport *pReport);

/* Restore the connectivity invariant of a graph that lacks it (one stored
** before it held, say): at each level, link every part that the entry
** point cannot reach to the part it can, near each other.  Costs a walk of
** every level.  *pnJoined (may be 0) receives the number of parts joined;
** the nodes changed are dirty.  SQLITE_OK or SQLITE_NOMEM. */
int hnsw_connect(Hnsw *h, int *pnJoined);

#endif
