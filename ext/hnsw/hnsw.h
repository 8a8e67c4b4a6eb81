/*
** hnsw.h — the internal header of ext/hnsw/: the HNSW graph in memory and its
** helpers (a rowid map, a top-k heap).  No SQLite at all: the layer builds
** and is tested alone (the Makefile links test_hnsw, test_i64map and
** test_topk without it), so the graph can be read, reused and reasoned
** about on its own.
**
** One section per part, in dependency order: memory, i64map, topk, hnsw,
** then the internals that hnsw.c and hnsw_repair.c share.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_HNSW_LAYER_H
#define VG_HNSW_LAYER_H

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

/* Only the first part of vector.h: the metrics and distance kernels. */
#define VG_VECTOR_KERNELS_ONLY
#include "vector/vector.h"
#undef VG_VECTOR_KERNELS_ONLY

/***************************************************************************
** memory: the layer's allocator and return codes.
**
** Every allocation of the layer goes through these three names (as Redis's
** rax goes through rax_malloc.h), so that another allocator is one edit
** here.  Memory the layer hands to its callers (a TopK's array, kept by a
** cursor) is released with hnsw_mem_free.
*/

#define hnsw_malloc(n) malloc(n)
#define hnsw_realloc(p, n) realloc((p), (n))
#define hnsw_mem_free(p) free(p)

#define HNSW_OK 0
#define HNSW_NOMEM 1  /* an allocation failed; the structure is unchanged or still valid */
#define HNSW_MISUSE 2 /* bad parameters: a rowid already present, a level out of range */
#define HNSW_FULL 3   /* the graph holds as many nodes as a node number can name */

/***************************************************************************
** i64map: a hash map from 64-bit integer keys to non-negative 64-bit
** values (open addressing, linear probing, no tombstones).
**
** Used to find a row's position in an in-memory vector set by rowid, and a
** partition's cache by partition id.  Values must be >= 0: a negative value
** marks an empty bucket.
*/

typedef struct I64MapEntry {
  int64_t key;
  int64_t val; /* < 0: empty */
} I64MapEntry;

typedef struct I64Map {
  I64MapEntry *a;
  size_t nBucket; /* a power of two, or 0 */
  size_t nUsed;
} I64Map;

void i64map_init(I64Map *p);
void i64map_free(I64Map *p);

/* Make room for n entries without rehashing.  HNSW_OK or HNSW_NOMEM. */
int i64map_reserve(I64Map *p, size_t n);

/* Insert or overwrite; val must be >= 0.  HNSW_OK or HNSW_NOMEM. */
int i64map_put(I64Map *p, int64_t key, int64_t val);

/* The value for key, or -1. */
int64_t i64map_get(const I64Map *p, int64_t key);

/* Remove key if present. */
void i64map_remove(I64Map *p, int64_t key);

/***************************************************************************
** topk: keeps the k nearest (distance, rowid) pairs seen so far.
**
** A max-heap on (distance, rowid): the root is the worst pair kept, so a
** candidate is rejected with one comparison in the common case.  Ties in
** distance go to the smaller rowid, which makes results deterministic.
*/

typedef struct VgHit {
  double distance;
  int64_t rowid;
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
static inline int topk_accepts(const TopK *p, double d, int64_t id) {
  if (p->n < p->k) return 1;
  const VgHit *w = &p->a[0];
  return d < w->distance || (d == w->distance && id < w->rowid);
}

/* Offer a pair.  HNSW_OK or HNSW_NOMEM. */
int topk_push(TopK *p, double d, int64_t id);

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

/* How a graph holds its vectors: float32; 8-bit codes of float32 vectors
** (an int8 graph, above: approximate); or vectors whose elements are
** themselves signed bytes (HNSW_I8) or bits (HNSW_BITS, nDims a multiple
** of 8), held as they are and compared exactly with vg_i8_distance and
** vg_bits_distance.  A graph's queries and vectors are float arrays for the
** first two, and arrays of those bytes for the others. */
typedef enum HnswVectors { HNSW_FLOAT32 = 0, HNSW_INT8 = 1, HNSW_I8 = 2, HNSW_BITS = 3 } HnswVectors;

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
  int64_t *aRowid;
  int64_t *aTag;
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
  int bLoaded;         /* lists set by hnsw_load_links: as stored (see internals) */

  /* scratch */
  uint32_t *aVisited;  /* epoch per node */
  uint32_t visitEpoch;
  uint32_t *aDirty;    /* nodes whose links changed since hnsw_dirty_clear */
  uint32_t nDirty, nDirtyAlloc;
  unsigned char *aDirtyMark;
  HnswHeap cand, result;
  HnswHeap ties, reach; /* copies a search sets aside (see hnswi_search_layer) */
  float *aDecoded;     /* int8 graphs: one vector decoded, for link choices */
} Hnsw;

/* A caller's test of whether a node may appear in search results.  Nodes
** that fail it are still walked through, so the graph stays connected. */
typedef int (*HnswAccept)(void *pCtx, uint32_t node);

/* An empty graph.  HNSW_OK, HNSW_NOMEM, or HNSW_MISUSE for bad
** parameters. */
int hnsw_init(Hnsw *h, int nDims, vg_metric metric, int M, int efConstruction,
              HnswVectors vectors);
void hnsw_free(Hnsw *h);

/* Make room for exactly n nodes (more are added as needed).  HNSW_OK or
** HNSW_NOMEM. */
int hnsw_reserve(Hnsw *h, uint32_t n);

/* The level for a new node, from a uniform u in (0, 1]. */
int hnsw_level_for(const Hnsw *h, double u);

/* Insert a new rowid (not yet present) at the given level and link it.  v is
** copied.  HNSW_OK, HNSW_NOMEM, HNSW_MISUSE for a rowid present or a bad
** level, or HNSW_FULL. */
int hnsw_insert(Hnsw *h, int64_t rowid, int64_t tag, const void *v,
                int level);

/* Unlink rowid, repair its neighbours and free its node (the vector's
** memory is zeroed).  HNSW_OK (also when absent) or HNSW_NOMEM. */
int hnsw_delete(Hnsw *h, int64_t rowid);

/* Search for the ef nearest accepted nodes (accept may be 0: all).  Writes
** up to ef candidates into aOut, nearest first (ties by rowid), and their
** number into *pnOut.  HNSW_OK or HNSW_NOMEM. */
int hnsw_search(Hnsw *h, const void *q, int ef, HnswAccept accept, void *pCtx,
                HnswCand *aOut, int *pnOut);

/* Node of rowid, or HNSW_NONE. */
uint32_t hnsw_find(const Hnsw *h, int64_t rowid);

static inline int hnsw_is_live(const Hnsw *h, uint32_t i) { return h->aLevel[i] >= 0; }

/* The vector of node i of a float32 graph. */
static inline const float *hnsw_vector(const Hnsw *h, uint32_t i) {
  return (const float *)(h->aNode0 + (size_t)i * h->nodeWords + h->vecWord);
}

/* The vector of node i as the graph holds it, in the form of a query
** (for an int8 graph, the floats its codes stand for). */
void hnsw_decode(const Hnsw *h, uint32_t i, void *aOut);

/* The distance from q to node i as a search ranks it: squared for l2, and
** approximate for an int8 graph. */
float hnsw_distance(const Hnsw *h, const void *q, uint32_t i);

/* The distance from q to node i in the metric's own units (l2 not
** squared), as a KNN query returns it: exact, except in an int8 graph. */
float hnsw_metric_distance(const Hnsw *h, const void *q, uint32_t i);

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
int hnsw_load_node(Hnsw *h, int64_t rowid, int64_t tag, const void *v,
                   int level, uint32_t *pNode);

/* Set the links of node i at level l as stored (n <= capacity). */
void hnsw_load_links(Hnsw *h, uint32_t i, int l, const uint32_t *a, int n);

/* Make node i the entry point. */
void hnsw_set_entry(Hnsw *h, uint32_t i);

/* ---- checking --------------------------------------------------------- */

typedef struct HnswReport {
  int64_t nodes;
  int64_t links;             /* list entries, all levels */
  int64_t oneWay;            /* a lists b, b does not list a */
  int64_t badLinks;          /* to self, to a free node, to a node below the level, duplicates */
  int64_t degreeViolations;  /* lists over capacity */
  int64_t isolated;          /* nodes without links while others exist */
  int64_t unreachable;       /* not reachable from the entry point at level 0 */
  int entryOk;                     /* entry point exists and has the top level */
} HnswReport;

/* Check the graph's invariants.  HNSW_OK or HNSW_NOMEM. */
int hnsw_check(Hnsw *h, HnswReport *pReport);

/* Restore the connectivity invariant of a graph that lacks it (one stored
** before it held, say): at each level, link every part that the entry
** point cannot reach to the part it can, near each other.  Costs a walk of
** every level.  *pnJoined (may be 0) receives the number of parts joined;
** the nodes changed are dirty.  HNSW_OK or HNSW_NOMEM. */
int hnsw_connect(Hnsw *h, int *pnJoined);

/***************************************************************************
** internals shared by hnsw.c and hnsw_repair.c: for no other file.
**
** hnsw.c holds the nodes' memory, distances, the link primitives, search,
** insertion and loading; hnsw_repair.c deletion with repair, reconnecting
** a level (hnsw_connect) and checking (hnsw_check).  What both use is here,
** named hnswi_ (i: internal).  What a search or a link choice calls per
** node is static inline, so that both files inline it.
**
** The asserts of these files state invariants documented above (symmetric
** links, lists within capacity, slot bookkeeping).  Test builds compile
** them in; none has a side effect, so a build may define NDEBUG.  What a
** list holds (links both ways, each to a node that has the level) is
** asserted only in a graph this layer linked itself: a loaded graph's
** lists are as stored (bLoaded).  A strict load refuses damage a search
** could trip on (a link to a node below its level, a one-way link: the
** table layer's store_slots.c); a lenient one, for hnsw_check to report,
** keeps it, and walk steps around it.
*/

/* Bytes of a vector in a query's form (and as a float32, I8 or bit graph
** holds it). */
static inline size_t hnswi_vector_bytes(const Hnsw *h) {
  switch (h->vectors) {
    case HNSW_I8:
      return (size_t)h->nDims;
    case HNSW_BITS:
      return (size_t)h->nDims / 8;
    default:
      return sizeof(float) * (size_t)h->nDims;
  }
}

/* The distance under metric m between two vectors in a query's form. */
static inline float hnswi_dist_vec(const Hnsw *h, vg_metric m, const void *pa, const void *pb) {
  if (h->vectors == HNSW_I8) return vg_i8_distance(m, pa, pb, h->nDims, 1);
  if (h->vectors == HNSW_BITS) return vg_bits_distance(pa, pb, h->nDims / 8);
  const float *a = pa, *b = pb;
  switch (m) {
    case VG_METRIC_COSINE:
      return 1.0f - vg_dot(a, b, h->nDims);
    case VG_METRIC_IP:
      return -vg_dot(a, b, h->nDims);
    default:
      return vg_l2sq(a, b, h->nDims);
  }
}

/* An int8 node's vector: LO, STEP, RESID (|x - decoded|), MAG (what
** rounding error scales with, see hnsw_distance_error), then the codes. */
enum { HNSW_CODE_LO, HNSW_CODE_STEP, HNSW_CODE_RESID, HNSW_CODE_MAG, HNSW_CODE_HEAD };

/* The words of node i's block that hold its vector (hnsw_vector's, writable). */
static inline float *hnswi_vector_words(const Hnsw *h, uint32_t i) {
  return (float *)hnsw_vector(h, i);
}

/* The codes of node i of an int8 graph. */
static inline const unsigned char *hnswi_codes(const Hnsw *h, uint32_t i) {
  return (const unsigned char *)(hnswi_vector_words(h, i) + HNSW_CODE_HEAD);
}

/* The bytes of node i of an I8 or bit graph. */
static inline const void *hnswi_bytes(const Hnsw *h, uint32_t i) {
  return (const void *)hnsw_vector(h, i);
}

/* Distance under metric m from the vector q (a query's form) to node i. */
static inline float hnswi_dist_to(const Hnsw *h, vg_metric m, const void *q, uint32_t i) {
  if (h->vectors != HNSW_INT8) return hnswi_dist_vec(h, m, q, hnswi_bytes(h, i));
  const float *w = hnswi_vector_words(h, i);
  const unsigned char *c = hnswi_codes(h, i);
  switch (m) {
    case VG_METRIC_COSINE:
      return 1.0f - vg_dot_code(q, c, w[HNSW_CODE_LO], w[HNSW_CODE_STEP], h->nDims);
    case VG_METRIC_IP:
      return -vg_dot_code(q, c, w[HNSW_CODE_LO], w[HNSW_CODE_STEP], h->nDims);
    default:
      return vg_l2sq_code(q, c, w[HNSW_CODE_LO], w[HNSW_CODE_STEP], h->nDims);
  }
}

/* Node a's vector as floats, to compare with others under linkMetric (see
** hnsw_init).  For an int8 graph it is decoded into h->aDecoded, valid
** until the next call; callers decode once and compare with many. */
static inline const void *hnswi_node_as_query(const Hnsw *h, uint32_t a) {
  if (h->vectors != HNSW_INT8) return hnswi_bytes(h, a);
  hnsw_decode(h, a, h->aDecoded);
  return h->aDecoded;
}

/* The distance links are chosen by, from qa (hnswi_node_as_query's) to b. */
static inline float hnswi_dist_link(const Hnsw *h, const void *qa, uint32_t b) {
  return hnswi_dist_to(h, h->linkMetric, qa, b);
}

/* The list of node i at level l: element 0 is the count.  Only a node's
** own levels have lists (a free node has none). */
static inline uint32_t *hnswi_link_list(const Hnsw *h, uint32_t i, int l) {
  assert(i < h->nNode);
  assert(l >= 0 && (l <= h->aLevel[i] || h->bLoaded));
  if (l == 0) return h->aNode0 + (size_t)i * h->nodeWords;
  return h->apUpper[i] + (size_t)(l - 1) * (size_t)(1 + h->M);
}

/* Does the list a (count first) name x? */
static inline int hnswi_list_has(const uint32_t *a, uint32_t x) {
  for (uint32_t j = 1; j <= a[0]; j++) {
    if (a[j] == x) return 1;
  }
  return 0;
}

/* The number of links of node i at level l. */
static inline int hnswi_degree(const Hnsw *h, uint32_t i, int l) {
  return (int)hnswi_link_list(h, i, l)[0];
}

/* Can node i take one more link at level l? */
static inline int hnswi_has_room(const Hnsw *h, uint32_t i, int l) {
  return hnswi_degree(h, i, l) < hnsw_capacity(h, l);
}

/* n consecutive new epochs for the visited marks; returns the first. */
uint32_t hnswi_visit_begin_range(Hnsw *h, uint32_t n);

/* A new epoch for the visited marks. */
static inline uint32_t hnswi_visit_begin(Hnsw *h) { return hnswi_visit_begin_range(h, 1); }

/* Free node i, which has no links left.  HNSW_OK or HNSW_NOMEM. */
int hnswi_node_release(Hnsw *h, uint32_t i);

/* Link a and b at level l; both have room and neither lists the other. */
int hnswi_join(Hnsw *h, uint32_t a, uint32_t b, int l);

/* Remove the link between a and b at level l, which both list. */
int hnswi_unlink_pair(Hnsw *h, uint32_t a, uint32_t b, int l);

/* Link a and b at level l unless a full list refuses; never disconnects. */
int hnswi_link_pair(Hnsw *h, uint32_t a, uint32_t b, int l);

/* qsort order of candidates: by distance, then node number. */
int hnswi_cand_cmp(const void *x, const void *y);

/* Reorder the runs of equal distances in the sorted a[], salted by salt. */
void hnswi_order_ties(HnswCand *a, int n, uint32_t salt);

/* Algorithm 2 of the paper at level l: the ef nearest accepted in h->result. */
int hnswi_search_layer(Hnsw *h, vg_metric m, const void *q, const uint32_t *aEp, int nEp, int ef,
                       int l, HnswAccept accept, void *pCtx, uint32_t exclude, int nTieMax,
                       float dFloor);

/* Move h->result into a[] (room for ef) nearest first; returns the count. */
int hnswi_take_results(Hnsw *h, HnswCand *a);

#endif
