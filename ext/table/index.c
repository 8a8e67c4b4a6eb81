/*
** index.c — per-partition HNSW graphs cached in memory, and the writes that
** keep them and the shadow tables in step (see table.h, index section).
*/
#include "table/table.h"

#include <sodium.h>
#include <string.h>

typedef struct PartGraph {
  sqlite3_int64 part;
  sqlite3_int64 nonce;
  int bWhole;     /* known connected (hnsw.h's invariant) since it was loaded */
  Hnsw graph;
  void *pDerived; /* see vg_index_derived */
  void (*xFreeDerived)(void *);
} PartGraph;

static void derived_clear(PartGraph *g) {
  if (g->pDerived) g->xFreeDerived(g->pDerived);
  g->pDerived = 0;
  g->xFreeDerived = 0;
}

struct VgIndex {
  VgStore *pStore;
  const VgTableDef *pDef;
  PartGraph **apGraph;
  int nGraph, nGraphAlloc;
  I64Map byPart; /* partition id -> index in apGraph */
};

int vg_index_open(VgStore *pStore, const VgTableDef *pDef, VgIndex **ppIndex) {
  VgIndex *x = sqlite3_malloc64(sizeof(*x));
  *ppIndex = x;
  if (x == 0) return SQLITE_NOMEM;
  memset(x, 0, sizeof(*x));
  x->pStore = pStore;
  x->pDef = pDef;
  i64map_init(&x->byPart);
  return SQLITE_OK;
}

static void graph_drop(VgIndex *x, sqlite3_int64 part) {
  sqlite3_int64 idx = i64map_get(&x->byPart, part);
  if (idx < 0) return;
  PartGraph *g = x->apGraph[idx];
  derived_clear(g);
  hnsw_free(&g->graph);
  sqlite3_free(g);
  i64map_remove(&x->byPart, part);
  int last = x->nGraph - 1;
  if (idx != last) {
    x->apGraph[idx] = x->apGraph[last];
    i64map_put(&x->byPart, x->apGraph[idx]->part, idx);
  }
  x->nGraph--;
}

void vg_index_close(VgIndex *x) {
  if (x == 0) return;
  while (x->nGraph > 0) graph_drop(x, x->apGraph[x->nGraph - 1]->part);
  sqlite3_free(x->apGraph);
  i64map_free(&x->byPart);
  sqlite3_free(x);
}

static PartGraph *graph_cached(VgIndex *x, sqlite3_int64 part) {
  sqlite3_int64 idx = i64map_get(&x->byPart, part);
  return idx < 0 ? 0 : x->apGraph[idx];
}

/* Forget graphs whose partition has changed or gone since they were
** loaded, so that no stale copy of an erased vector stays in memory. */
static int graph_sweep(VgIndex *x, char **pzErr) {
  for (int i = x->nGraph - 1; i >= 0; i--) {
    PartGraph *g = x->apGraph[i];
    VgPart part;
    char *zErr = 0;
    int rc = vg_store_part_get(x->pStore, g->part, &part, &zErr);
    if (rc == SQLITE_CORRUPT_VTAB) { /* the partition is gone */
      sqlite3_free(zErr);
      graph_drop(x, g->part);
      continue;
    }
    if (rc != SQLITE_OK) {
      *pzErr = zErr;
      return rc;
    }
    if (part.nonce != g->nonce) graph_drop(x, g->part);
  }
  return SQLITE_OK;
}

static int graph_load(VgIndex *x, const VgPart *pPart, PartGraph **ppGraph, char **pzErr) {
  graph_drop(x, pPart->id);
  int rc = graph_sweep(x, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (x->nGraph == x->nGraphAlloc) {
    int nNew = x->nGraphAlloc ? x->nGraphAlloc * 2 : 8;
    PartGraph **aNew = sqlite3_realloc64(x->apGraph, sizeof(PartGraph *) * nNew);
    if (aNew == 0) return SQLITE_NOMEM;
    x->apGraph = aNew;
    x->nGraphAlloc = nNew;
  }
  PartGraph *g = sqlite3_malloc64(sizeof(*g));
  if (g == 0) return SQLITE_NOMEM;
  memset(g, 0, sizeof(*g));
  g->part = pPart->id;
  g->nonce = pPart->nonce;
  const VgTableDef *d = x->pDef;
  rc = vg_hnsw_rc(hnsw_init(&g->graph, d->nDims, d->metric, d->hnswM, d->efConstruction,
                            vg_tabledef_vectors(d)));
  if (rc == SQLITE_OK) rc = vg_store_load_partition(x->pStore, pPart, &g->graph, 0, pzErr);
  if (rc == SQLITE_OK) rc = vg_hnsw_rc(i64map_put(&x->byPart, pPart->id, x->nGraph));
  if (rc != SQLITE_OK) {
    hnsw_free(&g->graph);
    sqlite3_free(g);
    return rc;
  }
  x->apGraph[x->nGraph++] = g;
  *ppGraph = g;
  return SQLITE_OK;
}

/* The graph of pPart as stored now. */
static int graph_for(VgIndex *x, const VgPart *pPart, PartGraph **ppGraph, char **pzErr) {
  PartGraph *g = graph_cached(x, pPart->id);
  if (g && g->nonce == pPart->nonce) {
    *ppGraph = g;
    return SQLITE_OK;
  }
  return graph_load(x, pPart, ppGraph, pzErr);
}

/* The graph of pPart, about to be written: its dirty list cleared and, the
** first time after a load, made whole (hnsw_connect), so that a graph stored
** in pieces — by a version before the connectivity invariant — is mended by
** the first write to its partition, the mended links going out with it. */
static int graph_for_write(VgIndex *x, const VgPart *pPart, PartGraph **ppGraph, char **pzErr) {
  int rc = graph_for(x, pPart, ppGraph, pzErr);
  if (rc != SQLITE_OK) return rc;
  PartGraph *g = *ppGraph;
  hnsw_dirty_clear(&g->graph);
  if (!g->bWhole) {
    rc = vg_hnsw_rc(hnsw_connect(&g->graph, 0));
    g->bWhole = rc == SQLITE_OK;
  }
  return rc;
}

int vg_index_graph(VgIndex *x, sqlite3_int64 part, sqlite3_int64 nonce, Hnsw **ppGraph,
                   char **pzErr) {
  PartGraph *g = graph_cached(x, part);
  if (g == 0 || g->nonce != nonce) {
    VgPart p;
    int rc = vg_store_part_get(x->pStore, part, &p, pzErr);
    if (rc == SQLITE_OK) rc = graph_load(x, &p, &g, pzErr);
    if (rc != SQLITE_OK) return rc;
  }
  *ppGraph = &g->graph;
  return SQLITE_OK;
}

void *vg_index_derived(VgIndex *x, sqlite3_int64 part) {
  PartGraph *g = graph_cached(x, part);
  return g ? g->pDerived : 0;
}

void vg_index_set_derived(VgIndex *x, sqlite3_int64 part, void *pData, void (*xFree)(void *)) {
  PartGraph *g = graph_cached(x, part);
  if (g == 0) {
    xFree(pData);
    return;
  }
  derived_clear(g);
  g->pDerived = pData;
  g->xFreeDerived = xFree;
}

/* ---- writes ------------------------------------------------------------ */

static int draw_level(const Hnsw *h) {
  uint64_t r;
  randombytes_buf(&r, sizeof r);
  return hnsw_level_for(h, (double)((r >> 11) + 1) / 9007199254740992.0);
}

/* Write the link lists of every node the last graph change touched. */
static int write_dirty(VgIndex *x, Hnsw *h, char **pzErr) {
  sqlite3_int64 aRowid[2 * VG_HNSW_MAX_M];
  for (uint32_t k = 0; k < h->nDirty; k++) {
    uint32_t i = h->aDirty[k];
    if (!hnsw_is_live(h, i)) continue; /* a deleted node: its slot is erased */
    VgSlot slot;
    vg_slot_from_tag(h->aTag[i], h->aLevel[i], &slot);
    for (int l = 0; l <= h->aLevel[i]; l++) {
      int n;
      const uint32_t *a = hnsw_links(h, i, l, &n);
      for (int j = 0; j < n; j++) aRowid[j] = h->aRowid[a[j]];
      int rc = vg_store_write_links(x->pStore, &slot, l, aRowid, n, pzErr);
      if (rc != SQLITE_OK) return rc;
    }
  }
  hnsw_dirty_clear(h);
  return SQLITE_OK;
}

/* Save the partition's count and entry point; the cached graph moves to
** the new nonce with it. */
static int part_save(VgIndex *x, VgPart *pPart, PartGraph *g, char **pzErr) {
  Hnsw *h = &g->graph;
  VgPartChange ch;
  pPart->bEntry = h->entry != HNSW_NONE;
  pPart->entry = pPart->bEntry ? h->aRowid[h->entry] : 0;
  pPart->entryLevel = h->maxLevel;
  int rc = vg_store_part_save(x->pStore, pPart, &ch, pzErr);
  if (rc != SQLITE_OK) return rc;
  if (ch.nonceAfter == 0) {
    graph_drop(x, pPart->id);
  } else {
    g->nonce = pPart->nonce = ch.nonceAfter;
    derived_clear(g);
  }
  return SQLITE_OK;
}

/* Add pRow to partition pPart. */
static int insert_into(VgIndex *x, VgPart *pPart, const VgRow *pRow, const void *aPrep,
                       char **pzErr) {
  PartGraph *g;
  VgSlot slot;
  int rc = graph_for_write(x, pPart, &g, pzErr);
  int level = rc == SQLITE_OK ? draw_level(&g->graph) : 0;
  if (rc == SQLITE_OK) rc = vg_store_slot_alloc(x->pStore, pPart, level, &slot, pzErr);
  if (rc != SQLITE_OK) {
    graph_drop(x, pPart->id); /* mended links may be unwritten */
    return rc;
  }
  Hnsw *h = &g->graph;
  rc = vg_hnsw_rc(hnsw_insert(h, pRow->rowid, vg_slot_tag(&slot), aPrep, level));
  if (rc == SQLITE_OK) rc = vg_store_put_row(x->pStore, 0, pRow, pPart->id, &slot, pzErr);
  if (rc == SQLITE_OK) rc = write_dirty(x, h, pzErr);
  if (rc == SQLITE_OK) {
    pPart->nRows++;
    rc = part_save(x, pPart, g, pzErr);
  }
  if (rc != SQLITE_OK) graph_drop(x, pPart->id); /* ahead of storage now */
  return rc;
}

int vg_index_insert(VgIndex *x, const VgRow *pRow, const void *aPrep, sqlite3_int64 *pPart,
                    char **pzErr) {
  VgPart part;
  int bFound;
  int rc = vg_store_part_find(x->pStore, &pRow->partition, 1, &part, &bFound, pzErr);
  if (rc == SQLITE_OK) rc = insert_into(x, &part, pRow, aPrep, pzErr);
  if (rc == SQLITE_OK && pPart) *pPart = part.id;
  vg_store_end_write(x->pStore);
  return rc;
}

static int delete_row(VgIndex *x, sqlite3_int64 rowid, char **pzErr) {
  VgPart part;
  VgSlot slot;
  PartGraph *g;
  sqlite3_int64 partId;
  int bFound = 0;
  int rc = vg_store_locate(x->pStore, rowid, &partId, &slot, &bFound, pzErr);
  if (rc != SQLITE_OK || !bFound) return rc;
  rc = vg_store_part_get(x->pStore, partId, &part, pzErr);
  if (rc == SQLITE_OK) rc = graph_for_write(x, &part, &g, pzErr);
  if (rc != SQLITE_OK) {
    graph_drop(x, partId); /* mended links may be unwritten */
    return rc;
  }
  Hnsw *h = &g->graph;
  rc = vg_hnsw_rc(hnsw_delete(h, rowid));
  if (rc == SQLITE_OK) rc = vg_store_slot_erase(x->pStore, part.id, &slot, pzErr);
  if (rc == SQLITE_OK) rc = vg_store_delete_row(x->pStore, rowid, pzErr);
  if (rc == SQLITE_OK) rc = write_dirty(x, h, pzErr);
  if (rc == SQLITE_OK) {
    part.nRows--;
    rc = part_save(x, &part, g, pzErr);
  }
  if (rc != SQLITE_OK) graph_drop(x, part.id);
  return rc;
}

int vg_index_delete(VgIndex *x, sqlite3_int64 rowid, char **pzErr) {
  int rc = delete_row(x, rowid, pzErr);
  vg_store_end_write(x->pStore);
  return rc;
}

/* Same rowid, same partition: rewrite the row in its slot; a new vector
** also moves the node in the graph (same level, so the same slot fits). */
static int update_in_place(VgIndex *x, VgPart *pPart, const VgSlot *pSlot, const VgRow *pRow,
                           const void *aPrep, int bNewVector, char **pzErr) {
  PartGraph *g;
  int rc = graph_for_write(x, pPart, &g, pzErr);
  if (rc != SQLITE_OK) {
    graph_drop(x, pPart->id);
    return rc;
  }
  Hnsw *h = &g->graph;
  if (bNewVector) {
    rc = vg_hnsw_rc(hnsw_delete(h, pRow->rowid));
    if (rc == SQLITE_OK) rc = vg_hnsw_rc(hnsw_insert(h, pRow->rowid, vg_slot_tag(pSlot), aPrep, pSlot->level));
  }
  if (rc == SQLITE_OK) rc = vg_store_put_row(x->pStore, 1, pRow, pPart->id, pSlot, pzErr);
  if (rc == SQLITE_OK) rc = write_dirty(x, h, pzErr);
  if (rc == SQLITE_OK) rc = part_save(x, pPart, g, pzErr);
  if (rc != SQLITE_OK) graph_drop(x, pPart->id);
  return rc;
}

int vg_index_update(VgIndex *x, sqlite3_int64 oldRowid, const VgRow *pRow,
                    const void *aPrep, int bNewVector, sqlite3_int64 *pPart, char **pzErr) {
  VgPart part;
  VgSlot slot;
  sqlite3_int64 partId;
  int bFound = 0, bSamePart = 0;
  int rc = vg_store_locate(x->pStore, oldRowid, &partId, &slot, &bFound, pzErr);
  if (rc == SQLITE_OK && !bFound) {
    *pzErr = sqlite3_mprintf("the shadow tables are corrupt: the row to update (rowid %lld) "
                             "is missing",
                             oldRowid);
    rc = SQLITE_CORRUPT_VTAB;
  }
  if (rc == SQLITE_OK && oldRowid == pRow->rowid) {
    rc = vg_store_part_find(x->pStore, &pRow->partition, 0, &part, &bSamePart, pzErr);
    bSamePart = bSamePart && part.id == partId;
  }
  if (rc == SQLITE_OK) {
    if (bSamePart) {
      rc = update_in_place(x, &part, &slot, pRow, aPrep, bNewVector, pzErr);
    } else {
      /* A new rowid or partition: the row moves to a new slot. */
      rc = delete_row(x, oldRowid, pzErr);
      if (rc == SQLITE_OK) rc = vg_store_part_find(x->pStore, &pRow->partition, 1, &part,
                                                   &bFound, pzErr);
      if (rc == SQLITE_OK) rc = insert_into(x, &part, pRow, aPrep, pzErr);
    }
  }
  if (rc == SQLITE_OK && pPart) *pPart = part.id;
  vg_store_end_write(x->pStore);
  return rc;
}
