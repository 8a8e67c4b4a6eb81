/*
** store_slots.c — the slots of a vg_hnsw table (T_chunks, T_free): each
** row's vector and HNSW links in a fixed-size slot of its level's class,
** slots allocated from chunks and reused from the free list, link lists
** rewritten in place, erased slots, and a partition's graph loaded from its
** slots (see table.h, store section, for the slot layout).
**
** Links are rowids, so a stored graph needs no renumbering, and they sit in
** the slot, so rewriting a list in place erases the rowids it dropped.
*/
#include "table/table.h"

#include <sodium.h>
#include <string.h>

/* Chunks start small so that a tenant with three rows does not own a large
** chunk, and double up to this many bytes of slots. */
#define VG_CHUNK_MIN_SLOTS 4
#define VG_CHUNK_MAX_BYTES (128 * 1024)

/* ---- slots ------------------------------------------------------------- */

sqlite3_int64 vg_slot_tag(const VgSlot *pSlot) {
  return pSlot->chunk * VG_SLOT_TAG_SLOTS + pSlot->iSlot;
}

void vg_slot_from_tag(sqlite3_int64 tag, int level, VgSlot *pSlot) {
  pSlot->chunk = tag / VG_SLOT_TAG_SLOTS;
  pSlot->iSlot = (int)(tag % VG_SLOT_TAG_SLOTS);
  pSlot->level = level;
}

static int page_size(VgStore *p, int *pnPage, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_stmt(p, VG_S_PAGE_SIZE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = store_step(p, pStmt, pzErr);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return rc;
  *pnPage = rc == SQLITE_ROW ? sqlite3_column_int(pStmt, 0) : 65536;
  sqlite3_reset(pStmt);
  return SQLITE_OK;
}

/* Slots in a new chunk of the given level: small for a small partition,
** doubling with its expected number of nodes at that level. */
static int chunk_capacity(VgStore *p, sqlite3_int64 nRows, int level) {
  int nMax = VG_CHUNK_MAX_BYTES / store_slot_bytes(p->pDef, level);
  if (nMax < 1) nMax = 1;
  for (int l = 0; l < level; l++) nRows /= p->pDef->hnswM;
  int n = VG_CHUNK_MIN_SLOTS < nMax ? VG_CHUNK_MIN_SLOTS : nMax;
  while (n < nRows && n * 2 <= nMax) n *= 2;
  return n;
}

/* Add a chunk of the given level to partition pPart and put all but its
** first slot on the free list; the first slot is returned for use. */
static int chunk_new(VgStore *p, const VgPart *pPart, int level, sqlite3_int64 *pChunk,
                     char **pzErr) {
  int nPage = 0;
  int rc = page_size(p, &nPage, pzErr);
  if (rc != SQLITE_OK) return rc;
  int nSlots = chunk_capacity(p, pPart->nRows, level);
  sqlite3_stmt *pStmt;
  rc = store_stmt(p, VG_S_CHUNK_NEW, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int(pStmt, 2, nPage - 35); /* see table.h, store section: slots live on overflow pages */
  sqlite3_bind_int64(pStmt, 3, (sqlite3_int64)nSlots * store_slot_bytes(p->pDef, level));
  sqlite3_bind_int(pStmt, 4, level);
  rc = store_run(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  *pChunk = sqlite3_last_insert_rowid(p->db);
  if (nSlots > 1) {
    rc = store_stmt(p, VG_S_FREE_ADD_RANGE, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, pPart->id);
    sqlite3_bind_int64(pStmt, 2, *pChunk);
    sqlite3_bind_int(pStmt, 3, 1);
    sqlite3_bind_int(pStmt, 4, nSlots - 1);
    sqlite3_bind_int(pStmt, 5, level);
    rc = store_run(p, pStmt, pzErr);
  }
  return rc;
}

int vg_store_slot_alloc(VgStore *p, const VgPart *pPart, int level, VgSlot *pSlot,
                        char **pzErr) {
  sqlite3_stmt *pStmt;
  pSlot->level = level;
  int rc = store_stmt(p, VG_S_FREE_TAKE, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int(pStmt, 2, level);
  rc = store_step(p, pStmt, pzErr);
  if (rc == SQLITE_DONE) {
    sqlite3_reset(pStmt);
    pSlot->iSlot = 0;
    return chunk_new(p, pPart, level, &pSlot->chunk, pzErr);
  }
  if (rc != SQLITE_ROW) return rc;
  pSlot->chunk = sqlite3_column_int64(pStmt, 0);
  pSlot->iSlot = sqlite3_column_int(pStmt, 1);
  sqlite3_reset(pStmt);
  rc = store_stmt(p, VG_S_FREE_DEL, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pPart->id);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->iSlot);
  sqlite3_bind_int(pStmt, 4, level);
  return store_run(p, pStmt, pzErr);
}

/* Write nByte bytes at offset iOff of chunk's slots, in place, through the
** store's write handle (kept open until vg_store_end_write). */
int store_chunk_write(VgStore *p, sqlite3_int64 chunk, const void *a, int nByte, int iOff,
                       int *pnChunkBytes, char **pzErr) {
  int rc = SQLITE_OK;
  for (int attempt = 0; attempt < 2; attempt++) {
    if (p->pWrite) {
      rc = sqlite3_blob_reopen(p->pWrite, chunk);
      if (rc != SQLITE_OK) {
        /* Expired by a change to T_chunks, or no such chunk: open afresh. */
        sqlite3_blob_close(p->pWrite);
        p->pWrite = 0;
      }
    }
    if (p->pWrite == 0) {
      rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots", chunk, 1,
                             &p->pWrite);
      if (rc == SQLITE_ERROR) return store_corrupt(p, pzErr, "a slot's chunk is missing", chunk);
      if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
    }
    int nChunk = sqlite3_blob_bytes(p->pWrite);
    if (pnChunkBytes) *pnChunkBytes = nChunk;
    if (iOff < 0 || iOff + nByte > nChunk) {
      return store_corrupt(p, pzErr, "a slot lies past the end of its chunk", chunk);
    }
    rc = sqlite3_blob_write(p->pWrite, a, nByte, iOff);
    if (rc != SQLITE_ABORT) break;
    sqlite3_blob_close(p->pWrite);
    p->pWrite = 0;
  }
  return rc == SQLITE_OK ? SQLITE_OK : store_sql_error(p, rc, pzErr);
}

void vg_store_end_write(VgStore *p) {
  if (p->pWrite) sqlite3_blob_close(p->pWrite);
  p->pWrite = 0;
}

/* Return a slot to the free list, or drop its chunk when it was the last
** slot in use.  The slot must already be zeroed. */
static int slot_release(VgStore *p, sqlite3_int64 part, const VgSlot *pSlot,
                        int nChunkSlots, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_stmt(p, VG_S_FREE_COUNT, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->level);
  rc = store_step(p, pStmt, pzErr);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
  sqlite3_int64 nFree = sqlite3_column_int64(pStmt, 0);
  sqlite3_reset(pStmt);
  if (nFree + 1 < nChunkSlots) {
    rc = store_stmt(p, VG_S_FREE_ADD, &pStmt, pzErr);
    if (rc != SQLITE_OK) return rc;
    sqlite3_bind_int64(pStmt, 1, part);
    sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
    sqlite3_bind_int(pStmt, 3, pSlot->iSlot);
    sqlite3_bind_int(pStmt, 4, pSlot->level);
    return store_run(p, pStmt, pzErr);
  }
  /* Every slot is zero: the chunk's pages can go. */
  rc = store_stmt(p, VG_S_FREE_DROP_CHUNK, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, part);
  sqlite3_bind_int64(pStmt, 2, pSlot->chunk);
  sqlite3_bind_int(pStmt, 3, pSlot->level);
  rc = store_run(p, pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  rc = store_stmt(p, VG_S_CHUNK_DROP, &pStmt, pzErr);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_int64(pStmt, 1, pSlot->chunk);
  return store_run(p, pStmt, pzErr);
}

int vg_store_slot_erase(VgStore *p, sqlite3_int64 part, const VgSlot *pSlot, char **pzErr) {
  int nSlot = store_slot_bytes(p->pDef, pSlot->level);
  unsigned char *aZero = sqlite3_malloc64(nSlot);
  if (aZero == 0) return SQLITE_NOMEM;
  memset(aZero, 0, nSlot);
  int nChunk = 0;
  int rc = store_chunk_write(p, pSlot->chunk, aZero, nSlot, pSlot->iSlot * nSlot, &nChunk, pzErr);
  sqlite3_free(aZero);
  if (rc != SQLITE_OK) return rc;
  return slot_release(p, part, pSlot, nChunk / nSlot, pzErr);
}

int vg_store_write_links(VgStore *p, const VgSlot *pSlot, int l, const sqlite3_int64 *aRowid,
                         int n, char **pzErr) {
  int nByte = l == 0 ? p->nLinks0 : p->nLinksUp;
  unsigned char aBuf[4 + 8 * 2 * VG_HNSW_MAX_M];
  memset(aBuf, 0, nByte);
  for (int i = 0; i < 4; i++) aBuf[i] = (unsigned char)((unsigned)n >> (8 * i));
  for (int j = 0; j < n; j++) {
    sqlite3_uint64 u = (sqlite3_uint64)aRowid[j];
    for (int i = 0; i < 8; i++) aBuf[4 + 8 * j + i] = (unsigned char)(u >> (8 * i));
  }
  int nSlot = store_slot_bytes(p->pDef, pSlot->level);
  return store_chunk_write(p, pSlot->chunk, aBuf, nByte, pSlot->iSlot * nSlot + store_links_offset(p, l),
                     0, pzErr);
}

/* ---- bulk reading ------------------------------------------------------ */

static sqlite3_uint64 get_u64(const unsigned char *a) {
  sqlite3_uint64 u = 0;
  for (int i = 0; i < 8; i++) u |= (sqlite3_uint64)a[i] << (8 * i);
  return u;
}

static unsigned get_u32(const unsigned char *a) {
  return (unsigned)a[0] | ((unsigned)a[1] << 8) | ((unsigned)a[2] << 16) |
         ((unsigned)a[3] << 24);
}

static sqlite3_int64 slot_rowid(const unsigned char *aSlot) {
  return (sqlite3_int64)get_u64(aSlot + VG_SLOT_ROWID);
}

/* n little-endian float32 values at z into aOut (which may be z itself). */
static void floats_from_le(const unsigned char *z, int n, float *aOut) {
  for (int i = 0; i < n; i++) {
    unsigned int u = get_u32(z + 4 * i);
    memcpy(&aOut[i], &u, 4);
  }
}

void store_slot_vector(const VgTableDef *pDef, const unsigned char *aSlot, void *aOut) {
  if (pDef->element == VG_ELEMENT_FLOAT32) {
    floats_from_le(aSlot + VG_SLOT_VECTOR, pDef->nDims, aOut);
  } else {
    memcpy(aOut, aSlot + VG_SLOT_VECTOR, (size_t)vg_tabledef_vector_bytes(pDef));
  }
}

static int open_chunk_blob(VgStore *p, sqlite3_int64 chunk, sqlite3_blob **ppBlob,
                           char **pzErr) {
  int rc;
  if (*ppBlob) {
    rc = sqlite3_blob_reopen(*ppBlob, chunk);
    if (rc == SQLITE_OK) return SQLITE_OK;
    sqlite3_blob_close(*ppBlob); /* a failed reopen leaves the handle aborted */
    *ppBlob = 0;
  }
  rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots", chunk, 0, ppBlob);
  if (rc == SQLITE_ERROR) return store_corrupt(p, pzErr, "a row's chunk is missing", chunk);
  if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  return SQLITE_OK;
}

/* The first nBuf bytes (at least up to the rowid) of slot iSlot of a chunk
** of the given level into pBuf, through the read handle *ppBlob (opened or
** moved here), checking that the slot holds rowid. */
int store_slot_read(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 chunk, sqlite3_int64 iSlot,
                     int level, sqlite3_int64 rowid, unsigned char *pBuf, int nBuf,
                     char **pzErr) {
  int nSlot = store_slot_bytes(p->pDef, level), rc = SQLITE_OK;
  for (int attempt = 0; attempt < 2; attempt++) {
    rc = open_chunk_blob(p, chunk, ppBlob, pzErr);
    if (rc != SQLITE_OK) return rc;
    if ((iSlot + 1) * nSlot > sqlite3_blob_bytes(*ppBlob) || iSlot < 0) {
      return store_corrupt(p, pzErr, "a row's slot lies past the end of its chunk", rowid);
    }
    rc = sqlite3_blob_read(*ppBlob, pBuf, nBuf, (int)(iSlot * nSlot));
    if (rc != SQLITE_ABORT) break;
    /* The handle expired because the chunk row changed: open it again. */
    sqlite3_blob_close(*ppBlob);
    *ppBlob = 0;
  }
  if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  if (memcmp(pBuf, VG_SLOT_MAGIC, 4) != 0 || slot_rowid(pBuf) != rowid ||
      pBuf[VG_SLOT_LEVEL] != level) {
    return store_corrupt(p, pzErr, "a row's slot does not hold it", rowid);
  }
  return SQLITE_OK;
}

int vg_store_slot_vector(VgStore *p, sqlite3_blob **ppBlob, sqlite3_int64 tag, int level,
                         sqlite3_int64 rowid, float *aOut, char **pzErr) {
  VgSlot slot;
  vg_slot_from_tag(tag, level, &slot);
  unsigned char aHead[VG_SLOT_KEY]; /* magic, level, rowid: not the key */
  int rc = store_slot_read(p, ppBlob, slot.chunk, slot.iSlot, level, rowid, aHead, VG_SLOT_KEY, pzErr);
  if (rc != SQLITE_OK) return rc;
  /* The handle is on the slot's chunk already. */
  int off = slot.iSlot * store_slot_bytes(p->pDef, level) + VG_SLOT_VECTOR;
  rc = sqlite3_blob_read(*ppBlob, aOut, 4 * p->pDef->nDims, off);
  if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  floats_from_le((const unsigned char *)aOut, p->pDef->nDims, aOut);
  return SQLITE_OK;
}

/* The nodes found, the partition's row count and its rows must agree;
** anything else means a shadow table was damaged. */
static int check_partition_counts(VgStore *p, sqlite3_int64 part, sqlite3_int64 nNodes,
                                  VgLoadReport *pReport, char **pzErr) {
  sqlite3_stmt *pStmt;
  int rc = store_step_by_id(p, VG_S_PART_COUNTS, part, &pStmt, pzErr);
  if (rc != SQLITE_ROW) return rc == SQLITE_DONE ? SQLITE_ERROR : rc;
  sqlite3_int64 nRows = sqlite3_column_int64(pStmt, 0);
  sqlite3_int64 nRecords = sqlite3_column_int64(pStmt, 1);
  sqlite3_reset(pStmt);
  if (pReport) {
    pReport->nCounted = nRows;
    pReport->nRecords = nRecords;
    return SQLITE_OK;
  }
  if (nRows == nNodes && nRecords == nNodes) return SQLITE_OK;
  if (pzErr && *pzErr == 0) {
    *pzErr = sqlite3_mprintf(
        "%s: the shadow tables are corrupt: partition %lld counts %lld rows, %s holds "
        "%lld and %s holds %lld vectors",
        p->zName, part, nRows, p->azTable[VG_T_ROWS], nRecords, p->azTable[VG_T_CHUNKS], nNodes);
  }
  return SQLITE_CORRUPT_VTAB;
}

/* Link lists read from slots, kept as rowids until every node is known. */
typedef struct RawLinks {
  sqlite3_int64 *a; /* per node and level: count, then the rowids */
  sqlite3_int64 n, nAlloc;
  sqlite3_int64 *aStart; /* per node number: where its lists start in a */
  uint32_t nStart;
} RawLinks;

static int raw_reserve(sqlite3_int64 **pa, sqlite3_int64 *pnAlloc, sqlite3_int64 nNeed) {
  if (nNeed <= *pnAlloc) return SQLITE_OK;
  sqlite3_int64 nNew = *pnAlloc ? *pnAlloc * 2 : 1024;
  while (nNew < nNeed) nNew *= 2;
  sqlite3_int64 *a = sqlite3_realloc64(*pa, sizeof(sqlite3_int64) * (size_t)nNew);
  if (a == 0) return SQLITE_NOMEM;
  *pa = a;
  *pnAlloc = nNew;
  return SQLITE_OK;
}

/* A damaged slot: an error, or a count in the check's report. */
static int load_damage(VgStore *p, VgLoadReport *pReport, sqlite3_int64 *pCount,
                       char **pzErr, const char *zWhat, sqlite3_int64 id) {
  if (pReport == 0) return store_corrupt(p, pzErr, zWhat, id);
  (*pCount)++;
  return SQLITE_OK;
}

/* Add the node held by one slot to h and its lists to pRaw. */
static int load_slot(VgStore *p, Hnsw *h, const unsigned char *aSlot, int level,
                     sqlite3_int64 tag, void *aVec, RawLinks *pRaw, VgLoadReport *pReport,
                     char **pzErr) {
  const VgTableDef *d = p->pDef;
  sqlite3_int64 rowid = slot_rowid(aSlot);
  sqlite3_int64 *pBad = pReport ? &pReport->badSlots : 0;
  if (aSlot[VG_SLOT_LEVEL] != level) {
    return load_damage(p, pReport, pBad, pzErr, "a slot's level differs from its chunk's", rowid);
  }
  store_slot_vector(d, aSlot, aVec);
  if (d->metric == VG_METRIC_COSINE && !vg_tabledef_prepare(d, aVec)) {
    return load_damage(p, pReport, pBad, pzErr, "a stored vector is zero under the cosine metric",
                       rowid);
  }
  uint32_t node;
  int rc = vg_hnsw_rc(hnsw_load_node(h, rowid, tag, aVec, level, &node));
  if (rc == SQLITE_MISUSE) return load_damage(p, pReport, pBad, pzErr, "two slots hold a row", rowid);
  if (rc != SQLITE_OK) return rc;
  if (node >= pRaw->nStart) {
    sqlite3_int64 nAlloc = pRaw->nStart;
    rc = raw_reserve(&pRaw->aStart, &nAlloc, (sqlite3_int64)node + 1);
    if (rc != SQLITE_OK) return rc;
    pRaw->nStart = (uint32_t)nAlloc;
  }
  pRaw->aStart[node] = pRaw->n;
  rc = raw_reserve(&pRaw->a, &pRaw->nAlloc, pRaw->n + (level + 1) * (1 + 2 * d->hnswM));
  if (rc != SQLITE_OK) return rc;
  for (int l = 0; l <= level; l++) {
    const unsigned char *z = aSlot + store_links_offset(p, l);
    unsigned n = get_u32(z);
    if ((int)n > hnsw_capacity(h, l)) {
      rc = load_damage(p, pReport, pReport ? &pReport->overfull : 0, pzErr,
                       "a link list is longer than its capacity", rowid);
      if (rc != SQLITE_OK) return rc;
      n = 0;
    }
    pRaw->a[pRaw->n++] = n;
    for (unsigned j = 0; j < n; j++) pRaw->a[pRaw->n++] = (sqlite3_int64)get_u64(z + 4 + 8 * j);
  }
  return SQLITE_OK;
}

/* A node and a level, scrambled under a key drawn per load (splitmix64's
** finalizer): what load_links_symmetric sums. */
static uint64_t link_mark(uint64_t key, uint32_t node, int l) {
  uint64_t x = key ^ ((uint64_t)node << 4 | (uint64_t)l);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* Does every node that a node links to link back?  A one-way link outlives
** the deletion of the row it names (the deleted node's own lists say whom
** to unlink) and a search would then follow it into a freed node; so a
** strict load refuses one (vg_hnsw_check counts them).  Each link a -> b at
** level l adds mark(b, l) to a's sum and takes mark(a, l) from b's: with
** links both ways every sum is zero, and a one-way link leaves two sums
** off zero but with odds of 2^-64 (the key is random).  One pass over the
** lists: a scan of each list per link doubled the first query's time. */
static int load_links_symmetric(VgStore *p, Hnsw *h, char **pzErr) {
  uint64_t key;
  uint64_t *aSum = sqlite3_malloc64(sizeof(uint64_t) * (h->nNode + (size_t)1));
  if (aSum == 0) return SQLITE_NOMEM;
  memset(aSum, 0, sizeof(uint64_t) * h->nNode);
  randombytes_buf(&key, sizeof key);
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    for (int l = 0; l <= h->aLevel[i]; l++) {
      int n;
      const uint32_t *a = hnsw_links(h, i, l, &n);
      uint64_t self = link_mark(key, i, l);
      for (int j = 0; j < n; j++) {
        aSum[i] += link_mark(key, a[j], l);
        aSum[a[j]] -= self;
      }
    }
  }
  int rc = SQLITE_OK;
  for (uint32_t i = 0; i < h->nNode && rc == SQLITE_OK; i++) {
    if (aSum[i] != 0) {
      rc = store_corrupt(p, pzErr, "a link is one-way: the row it names does not link back",
                         h->aRowid[i]);
    }
  }
  sqlite3_free(aSum);
  return rc;
}

/* Turn the stored rowids into node numbers. */
static int load_links(VgStore *p, Hnsw *h, RawLinks *pRaw, VgLoadReport *pReport,
                      char **pzErr) {
  uint32_t aNode[2 * VG_HNSW_MAX_M];
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    const sqlite3_int64 *z = pRaw->a + pRaw->aStart[i];
    for (int l = 0; l <= h->aLevel[i]; l++) {
      int n = (int)*z++, nGood = 0;
      for (int j = 0; j < n; j++) {
        uint32_t e = hnsw_find(h, z[j]);
        if (e == HNSW_NONE) {
          int rc = load_damage(p, pReport, pReport ? &pReport->dangling : 0, pzErr,
                               "a link names a row that is not in the partition", h->aRowid[i]);
          if (rc != SQLITE_OK) return rc;
          continue;
        }
        if (pReport == 0 && (e == i || h->aLevel[e] < l)) {
          /* A search would follow it into a list the node does not have;
          ** a lenient load keeps it for hnsw_check to count as a bad link. */
          return store_corrupt(p, pzErr, "a link names its own row or a row below the link's level",
                               h->aRowid[i]);
        }
        aNode[nGood++] = e;
      }
      hnsw_load_links(h, i, l, aNode, nGood);
      z += n;
    }
  }
  return pReport ? SQLITE_OK : load_links_symmetric(p, h, pzErr);
}

static int load_entry(VgStore *p, Hnsw *h, const VgPart *pPart, VgLoadReport *pReport,
                      char **pzErr) {
  uint32_t e = pPart->bEntry ? hnsw_find(h, pPart->entry) : HNSW_NONE;
  int bOk = pPart->bEntry ? e != HNSW_NONE && h->aLevel[e] == pPart->entryLevel
                          : h->nLive == 0;
  if (pReport) pReport->entryOk = bOk;
  if (!bOk && pReport == 0) {
    return store_corrupt(p, pzErr, "the partition's entry point is not one of its nodes", pPart->id);
  }
  hnsw_set_entry(h, e);
  return SQLITE_OK;
}

int vg_store_load_partition(VgStore *p, const VgPart *pPart, Hnsw *h, VgLoadReport *pReport,
                            char **pzErr) {
  const VgTableDef *d = p->pDef;
  sqlite3_stmt *pList = 0;
  sqlite3_blob *pBlob = 0;
  unsigned char *aBuf = 0;
  int nBuf = 0;
  RawLinks raw;
  memset(&raw, 0, sizeof(raw));
  if (pReport) memset(pReport, 0, sizeof(*pReport));
  float *aVec = sqlite3_malloc64(sizeof(float) * d->nDims);
  if (aVec == 0) return SQLITE_NOMEM;
  int rc = vg_hnsw_rc(hnsw_reserve(h, (uint32_t)(pPart->nRows > 0 ? pPart->nRows : 1)));
  if (rc == SQLITE_OK) rc = store_stmt(p, VG_S_CHUNK_LIST, &pList, pzErr);
  if (rc != SQLITE_OK) goto done;
  sqlite3_bind_int64(pList, 1, pPart->id);
  while ((rc = sqlite3_step(pList)) == SQLITE_ROW) {
    sqlite3_int64 chunk = sqlite3_column_int64(pList, 0);
    int level = sqlite3_column_int(pList, 1);
    if (level < 0 || level > HNSW_MAX_LEVEL) {
      rc = store_corrupt(p, pzErr, "a chunk has an impossible level", chunk);
      goto done;
    }
    int nSlot = store_slot_bytes(d, level);
    rc = open_chunk_blob(p, chunk, &pBlob, pzErr);
    if (rc != SQLITE_OK) goto done;
    int n = sqlite3_blob_bytes(pBlob);
    if (n % nSlot != 0 || n / nSlot >= VG_SLOT_TAG_SLOTS) {
      rc = store_corrupt(p, pzErr, "a chunk's size is not a whole number of slots", chunk);
      goto done;
    }
    if (n > nBuf) {
      unsigned char *aNew = sqlite3_realloc64(aBuf, n);
      if (aNew == 0) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      aBuf = aNew;
      nBuf = n;
    }
    rc = sqlite3_blob_read(pBlob, aBuf, n, 0);
    if (rc != SQLITE_OK) {
      store_sql_error(p, rc, pzErr);
      goto done;
    }
    for (int i = 0; i < n / nSlot && rc == SQLITE_OK; i++) {
      const unsigned char *aSlot = aBuf + (size_t)i * nSlot;
      if (memcmp(aSlot, VG_SLOT_MAGIC, 4) != 0) continue;
      VgSlot slot = {chunk, i, level};
      rc = load_slot(p, h, aSlot, level, vg_slot_tag(&slot), aVec, &raw, pReport, pzErr);
    }
    if (rc != SQLITE_OK) goto done;
  }
  if (rc != SQLITE_DONE) {
    store_sql_error(p, rc, pzErr);
    goto done;
  }
  rc = load_links(p, h, &raw, pReport, pzErr);
  if (rc == SQLITE_OK) rc = load_entry(p, h, pPart, pReport, pzErr);
  if (rc == SQLITE_OK) rc = check_partition_counts(p, pPart->id, h->nLive, pReport, pzErr);
done:
  if (pBlob) sqlite3_blob_close(pBlob);
  if (pList) sqlite3_reset(pList);
  if (aBuf) sodium_memzero(aBuf, nBuf);
  sqlite3_free(aBuf);
  sqlite3_free(aVec);
  sqlite3_free(raw.a);
  sqlite3_free(raw.aStart);
  return rc;
}

/* ---- erasing every slot (vg_store_destroy) --------------------------- */

/* Overwrite every slot of every chunk with zeros, in place. */
int store_erase_slots(VgStore *p, char **pzErr) {
  sqlite3_stmt *pList = 0;
  sqlite3_blob *pBlob = 0;
  unsigned char *aZero = 0;
  int nZero = 0;
  char *zSql = sqlite3_mprintf("SELECT id FROM %s", p->azTable[VG_T_CHUNKS]);
  int rc = zSql ? sqlite3_prepare_v2(p->db, zSql, -1, &pList, 0) : SQLITE_NOMEM;
  sqlite3_free(zSql);
  if (rc != SQLITE_OK) return store_sql_error(p, rc, pzErr);
  while (rc == SQLITE_OK && (rc = sqlite3_step(pList)) == SQLITE_ROW) {
    rc = sqlite3_blob_open(p->db, p->zSchema, p->zChunkTable, "slots",
                           sqlite3_column_int64(pList, 0), 1, &pBlob);
    if (rc != SQLITE_OK) break;
    int n = sqlite3_blob_bytes(pBlob);
    if (n > nZero) {
      sqlite3_free(aZero);
      aZero = sqlite3_malloc64(n);
      nZero = aZero ? n : 0;
      if (aZero == 0) {
        rc = SQLITE_NOMEM;
        break;
      }
      memset(aZero, 0, n);
    }
    rc = sqlite3_blob_write(pBlob, aZero, n, 0);
    sqlite3_blob_close(pBlob);
    pBlob = 0;
  }
  if (rc == SQLITE_DONE) rc = SQLITE_OK;
  if (rc != SQLITE_OK) store_sql_error(p, rc, pzErr);
  if (pBlob) sqlite3_blob_close(pBlob);
  sqlite3_finalize(pList);
  sqlite3_free(aZero);
  return rc;
}
