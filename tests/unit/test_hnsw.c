/*
** test_hnsw.c — the HNSW graph on its own, against brute force: recall on
** random data for each metric, symmetric links and degree bounds after
** inserts and after deletions with repair, the dirty list naming exactly the
** nodes whose lists changed, recall after churn against a fresh build of
** the same rows, searches restricted by an acceptance test, and the level
** distribution.  Connectivity with copies and near-copies of vectors (at
** several ratios, on a line, in clusters, under churn, at tiny M), and
** hnsw_connect() joining a graph cut in parts.
*/
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vector/vector.h"
#include "hnsw/hnsw.h"

static uint64_t next(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

static double uniform(uint64_t *s) { return (double)(next(s) >> 11) / 9007199254740992.0; }

/* Random data in 8 clusters (the same clusters for every seed, so that
** queries come from the data's distribution). */
static float *random_vectors(int n, int dims, uint64_t seed, int bNormalize) {
  float *a = malloc(sizeof(float) * (size_t)n * dims);
  float centers[8][64];
  uint64_t s = 1;
  for (int c = 0; c < 8; c++) {
    for (int j = 0; j < dims; j++) centers[c][j] = (float)(uniform(&s) * 4 - 2);
  }
  s = seed;
  for (int i = 0; i < n; i++) {
    int c = (int)(next(&s) % 8);
    for (int j = 0; j < dims; j++) a[i * dims + j] = centers[c][j] + (float)(2 * uniform(&s) - 1);
    if (bNormalize) vg_vector_normalize(a + i * dims, dims, a + i * dims);
  }
  return a;
}

static int level_of(const Hnsw *h, uint64_t *s) { return hnsw_level_for(h, 1.0 - uniform(s)); }

static void build_as(HnswVectors vectors, Hnsw *h, const float *a, int n, int dims, vg_metric m,
                     int M, int efc, uint64_t seed, const int *aLive) {
  uint64_t s = seed;
  assert_int_equal(hnsw_init(h, dims, m, M, efc, vectors), HNSW_OK);
  for (int i = 0; i < n; i++) {
    int level = level_of(h, &s);
    if (aLive && !aLive[i]) continue;
    assert_int_equal(hnsw_insert(h, 1000 + i, i, a + (size_t)i * dims, level), HNSW_OK);
  }
}

/* A float32 graph. */
static void build(Hnsw *h, const float *a, int n, int dims, vg_metric m, int M, int efc,
                  uint64_t seed, const int *aLive) {
  build_as(HNSW_FLOAT32, h, a, n, dims, m, M, efc, seed, aLive);
}

static void assert_clean(Hnsw *h) {
  HnswReport r;
  assert_int_equal(hnsw_check(h, &r), HNSW_OK);
  assert_int_equal(r.nodes, h->nLive);
  assert_int_equal(r.oneWay, 0);
  assert_int_equal(r.badLinks, 0);
  assert_int_equal(r.degreeViolations, 0);
  assert_int_equal(r.isolated, 0);
  assert_int_equal(r.unreachable, 0);
  assert_true(r.entryOk);
}

/* Exact k nearest rows (by the prepared distance, ties by rowid) among the
** live ones that pass the optional filter. */
static int brute_force(const float *a, int n, int dims, vg_metric m, const float *q, int k,
                       const int *aLive, const int *aPass, int *aOut) {
  double *d = malloc(sizeof(double) * n);
  int nOut = 0;
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int j = 0; j < dims; j++) {
      double x = a[i * dims + j], y = q[j];
      s += m == VG_METRIC_L2 ? (x - y) * (x - y) : x * y;
    }
    d[i] = m == VG_METRIC_L2 ? s : m == VG_METRIC_COSINE ? 1 - s : -s;
  }
  for (int t = 0; t < k; t++) {
    int best = -1;
    for (int i = 0; i < n; i++) {
      if ((aLive && !aLive[i]) || (aPass && !aPass[i])) continue;
      int bTaken = 0;
      for (int u = 0; u < nOut; u++) bTaken |= aOut[u] == i;
      if (!bTaken && (best < 0 || d[i] < d[best])) best = i;
    }
    if (best < 0) break;
    aOut[nOut++] = best;
  }
  free(d);
  return nOut;
}

/* Mean recall@k of hnsw_search over nQuery random queries. */
static double recall(Hnsw *h, const float *a, int n, int dims, vg_metric m, int k, int ef,
                     const int *aLive, uint64_t seed) {
  int nQuery = 100, nFound = 0, nWant = 0;
  float *aQ = random_vectors(nQuery, dims, seed, m == VG_METRIC_COSINE);
  HnswCand *aRes = malloc(sizeof(HnswCand) * ef);
  int *aExp = malloc(sizeof(int) * k);
  for (int qi = 0; qi < nQuery; qi++) {
    const float *q = aQ + qi * dims;
    int nRes = 0;
    assert_int_equal(hnsw_search(h, q, ef, 0, 0, aRes, &nRes), HNSW_OK);
    int nExp = brute_force(a, n, dims, m, q, k, aLive, 0, aExp);
    for (int i = 1; i < nRes; i++) assert_true(aRes[i - 1].d <= aRes[i].d);
    for (int e = 0; e < nExp; e++) {
      for (int r = 0; r < nRes && r < k; r++) {
        if (h->aRowid[aRes[r].node] == 1000 + aExp[e]) nFound++;
      }
    }
    nWant += nExp;
  }
  free(aQ);
  free(aRes);
  free(aExp);
  return (double)nFound / nWant;
}

static void test_recall_each_metric(void **state) {
  (void)state;
  vg_metric am[] = {VG_METRIC_L2, VG_METRIC_COSINE, VG_METRIC_IP};
  for (int t = 0; t < 3; t++) {
    int n = 3000, dims = 24;
    float *a = random_vectors(n, dims, 7 + t, am[t] == VG_METRIC_COSINE);
    Hnsw h;
    build(&h, a, n, dims, am[t], 12, 100, 11, 0);
    assert_int_equal(h.nLive, n);
    assert_clean(&h);
    double r = recall(&h, a, n, dims, am[t], 10, 64, 0, 99);
    print_message("metric %d recall@10 (ef 64) = %.4f\n", t, r);
    assert_true(r >= (am[t] == VG_METRIC_IP ? 0.90 : 0.97));
    hnsw_free(&h);
    free(a);
  }
}

/* Copy every link list so that changes can be found afterwards. */
static uint32_t *snapshot(const Hnsw *h) {
  size_t nPer = (size_t)(HNSW_MAX_LEVEL + 1) * (size_t)(1 + h->M0);
  uint32_t *a = calloc((size_t)h->nNode, sizeof(uint32_t) * nPer);
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    for (int l = 0; l <= h->aLevel[i]; l++) {
      int n;
      const uint32_t *li = hnsw_links(h, i, l, &n);
      uint32_t *dst = a + i * nPer + (size_t)l * (1 + h->M0);
      dst[0] = (uint32_t)n;
      memcpy(dst + 1, li, sizeof(uint32_t) * n);
    }
  }
  return a;
}

/* Every node whose lists differ from the snapshot is dirty (the storage
** contract: exactly these get written back). */
static void assert_dirty_covers(const Hnsw *h, const uint32_t *aSnap, uint32_t nOld) {
  size_t nPer = (size_t)(HNSW_MAX_LEVEL + 1) * (size_t)(1 + h->M0);
  for (uint32_t i = 0; i < h->nNode && i < nOld; i++) {
    if (!hnsw_is_live(h, i)) continue;
    int bChanged = 0;
    for (int l = 0; l <= h->aLevel[i] && !bChanged; l++) {
      int n;
      const uint32_t *li = hnsw_links(h, i, l, &n);
      const uint32_t *old = aSnap + i * nPer + (size_t)l * (1 + h->M0);
      if ((int)old[0] != n) {
        bChanged = 1;
        break;
      }
      for (int j = 0; j < n; j++) bChanged |= !!memcmp(&old[1 + j], &li[j], 4);
    }
    if (bChanged) assert_true(h->aDirtyMark[i]);
  }
}

static void test_delete_repair_and_dirty(void **state) {
  (void)state;
  int n = 2500, dims = 16;
  float *a = random_vectors(n, dims, 3, 0);
  int *aLive = malloc(sizeof(int) * n);
  for (int i = 0; i < n; i++) aLive[i] = 1;
  Hnsw h;
  build(&h, a, n, dims, VG_METRIC_L2, 8, 64, 5, 0);
  assert_clean(&h);
  uint64_t s = 77;
  for (int step = 0; step < 900; step++) {
    int i = (int)(next(&s) % n);
    uint32_t *snap = snapshot(&h);
    uint32_t nOld = h.nNode;
    hnsw_dirty_clear(&h);
    if (aLive[i]) {
      uint32_t node = hnsw_find(&h, 1000 + i);
      assert_int_not_equal(node, HNSW_NONE);
      assert_int_equal(hnsw_delete(&h, 1000 + i), HNSW_OK);
      aLive[i] = 0;
      assert_int_equal(hnsw_find(&h, 1000 + i), HNSW_NONE);
      /* the deleted node's memory is gone */
      for (int j = 0; j < dims; j++) assert_true(hnsw_vector(&h, node)[j] == 0.0f);
    } else {
      assert_int_equal(hnsw_insert(&h, 1000 + i, i, a + i * dims, level_of(&h, &s)), HNSW_OK);
      aLive[i] = 1;
    }
    assert_dirty_covers(&h, snap, nOld);
    free(snap);
    if (step % 100 == 0) assert_clean(&h);
  }
  assert_clean(&h);
  hnsw_free(&h);
  free(a);
  free(aLive);
}

/* With M = 2 a deletion often leaves a neighbour without links, and its
** repair searches the graph: the deleted node must not be found and linked
** again (it once was, through its upper levels, leaving a link to a freed
** node).  Checked after every deletion, mixed with insertions that reuse
** the freed nodes. */
static void test_delete_never_relinks_the_deleted(void **state) {
  (void)state;
  int n = 800, dims = 4;
  float *a = random_vectors(n, dims, 9, 0);
  for (int M = 2; M <= 3; M++) {
    Hnsw h;
    build(&h, a, n / 2, dims, VG_METRIC_L2, M, 16, 11, 0);
    uint64_t s = 13;
    int nNext = n / 2;
    for (int step = 0; step < 600; step++) {
      int i = (int)(next(&s) % (uint64_t)nNext);
      if (hnsw_find(&h, 1000 + i) != HNSW_NONE) {
        assert_int_equal(hnsw_delete(&h, 1000 + i), HNSW_OK);
      } else if (nNext < n && step % 3 == 0) {
        assert_int_equal(hnsw_insert(&h, 1000 + nNext, nNext, a + (size_t)nNext * dims,
                                     level_of(&h, &s)), HNSW_OK);
        nNext++;
      }
      HnswReport r;
      assert_int_equal(hnsw_check(&h, &r), HNSW_OK);
      if (r.badLinks || r.oneWay) {
        fail_msg("M=%d step %d: %lld bad and %lld one-way links", M, step, r.badLinks, r.oneWay);
      }
    }
    hnsw_free(&h);
  }
  free(a);
}

/* Delete 30% of the rows and insert as many new ones: recall stays within
** a point of an index built from scratch on the same rows. */
static void test_churn_recall(void **state) {
  (void)state;
  int nBase = 3000, n = 3900, dims = 24;
  float *a = random_vectors(n, dims, 21, 1);
  int *aLive = calloc(n, sizeof(int));
  for (int i = 0; i < nBase; i++) aLive[i] = 1;
  Hnsw h;
  build(&h, a, nBase, dims, VG_METRIC_COSINE, 12, 100, 9, 0);
  uint64_t s = 5;
  int nDeleted = 0;
  while (nDeleted < nBase * 3 / 10) {
    int i = (int)(next(&s) % nBase);
    if (!aLive[i]) continue;
    assert_int_equal(hnsw_delete(&h, 1000 + i), HNSW_OK);
    aLive[i] = 0;
    nDeleted++;
  }
  for (int i = nBase; i < n; i++) {
    assert_int_equal(hnsw_insert(&h, 1000 + i, i, a + i * dims, level_of(&h, &s)), HNSW_OK);
    aLive[i] = 1;
  }
  assert_clean(&h);
  Hnsw fresh;
  build(&fresh, a, n, dims, VG_METRIC_COSINE, 12, 100, 9, aLive);
  double rChurn = recall(&h, a, n, dims, VG_METRIC_COSINE, 10, 10, aLive, 1234);
  double rFresh = recall(&fresh, a, n, dims, VG_METRIC_COSINE, 10, 10, aLive, 1234);
  print_message("recall@10 after churn %.4f, fresh build %.4f\n", rChurn, rFresh);
  assert_true(rChurn >= rFresh - 0.01);
  hnsw_free(&h);
  hnsw_free(&fresh);
  free(a);
  free(aLive);
}

static int accept_pass(void *pCtx, uint32_t node) {
  const int *aPass = pCtx;
  return aPass[node];
}

/* With an acceptance test, only accepted nodes come back, and as many as
** min(ef, accepted) when the graph is connected. */
static void test_filtered_search(void **state) {
  (void)state;
  int n = 2000, dims = 16, ef = 40;
  float *a = random_vectors(n, dims, 31, 0);
  Hnsw h;
  build(&h, a, n, dims, VG_METRIC_L2, 8, 64, 3, 0);
  int *aPassRow = malloc(sizeof(int) * n), *aPassNode = calloc(h.nNode, sizeof(int));
  HnswCand *aRes = malloc(sizeof(HnswCand) * ef);
  int *aExp = malloc(sizeof(int) * ef);
  float *aQ = random_vectors(50, dims, 32, 0);
  int aMod[] = {2, 10, 100, 500};
  for (int t = 0; t < 4; t++) {
    int nPass = 0, nFound = 0, nWant = 0;
    for (int i = 0; i < n; i++) {
      aPassRow[i] = i % aMod[t] == 0;
      nPass += aPassRow[i];
      aPassNode[hnsw_find(&h, 1000 + i)] = aPassRow[i];
    }
    for (int qi = 0; qi < 50; qi++) {
      int nRes = 0;
      assert_int_equal(hnsw_search(&h, aQ + qi * dims, ef, accept_pass, aPassNode, aRes, &nRes),
                       HNSW_OK);
      assert_int_equal(nRes, nPass < ef ? nPass : ef);
      for (int r = 0; r < nRes; r++) assert_true(aPassNode[aRes[r].node]);
      int nExp = brute_force(a, n, dims, VG_METRIC_L2, aQ + qi * dims, 10, 0, aPassRow, aExp);
      for (int e = 0; e < nExp; e++) {
        for (int r = 0; r < 10 && r < nRes; r++) nFound += h.aRowid[aRes[r].node] == 1000 + aExp[e];
      }
      nWant += nExp;
    }
    print_message("filter 1/%d: recall@10 %.4f\n", aMod[t], (double)nFound / nWant);
    assert_true((double)nFound / nWant >= 0.95);
  }
  hnsw_free(&h);
  free(a);
  free(aQ);
  free(aPassRow);
  free(aPassNode);
  free(aRes);
  free(aExp);
}

/* Levels follow P(level >= l) = M^-l. */
/* Every element decodes to within half a step of itself, and the error
** bound holds for every node and query, against distances computed in
** double precision from the original vectors. */
static void test_int8_codes_and_bounds(void **state) {
  (void)state;
  vg_metric am[] = {VG_METRIC_L2, VG_METRIC_COSINE, VG_METRIC_IP};
  for (int t = 0; t < 3; t++) {
    int n = 400, dims = 48;
    float *a = random_vectors(n, dims, 21 + t, am[t] == VG_METRIC_COSINE);
    float *q = random_vectors(20, dims, 31 + t, am[t] == VG_METRIC_COSINE);
    Hnsw h;
    build_as(HNSW_INT8, &h, a, n, dims, am[t], 8, 40, 3, 0);
    assert_clean(&h);
    float dec[64];
    double worst = 0, meanBound = 0, meanDist = 0;
    for (int i = 0; i < n; i++) {
      uint32_t node = hnsw_find(&h, 1000 + i);
      const float *x = a + (size_t)i * dims;
      hnsw_decode(&h, node, dec);
      float lo = x[0], hi = x[0];
      for (int j = 1; j < dims; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
      }
      for (int j = 0; j < dims; j++) {
        assert_true(fabs((double)dec[j] - x[j]) <= (hi - lo) / 255.0 * 0.5 + 1e-6);
      }
      for (int qi = 0; qi < 20; qi++) {
        const float *v = q + (size_t)qi * dims;
        double dot = 0, l2 = 0, qn = 0;
        for (int j = 0; j < dims; j++) {
          dot += (double)v[j] * x[j];
          l2 += ((double)v[j] - x[j]) * ((double)v[j] - x[j]);
          qn += (double)v[j] * v[j];
        }
        double exact = am[t] == VG_METRIC_L2 ? sqrt(l2) : am[t] == VG_METRIC_COSINE ? 1 - dot : -dot;
        double approx = hnsw_distance(&h, v, node);
        if (am[t] == VG_METRIC_L2) approx = sqrt(approx);
        double bound = hnsw_distance_error(&h, node, (float)sqrt(qn));
        if (fabs(exact - approx) > bound) {
          fail_msg("metric %d row %d query %d: |%.9g - %.9g| > %.9g", t, i, qi, exact, approx,
                   bound);
        }
        worst = fmax(worst, fabs(exact - approx) / bound);
        meanBound += bound;
        meanDist += fabs(exact);
      }
    }
    print_message("metric %d: worst error / bound %.3f, mean bound / mean |distance| %.4f\n", t,
                  worst, meanBound / meanDist);
    /* A bound is only useful if it is small next to the distances. */
    assert_true(meanBound / meanDist < 0.05);
    hnsw_free(&h);
    free(a);
    free(q);
  }
}

/* An int8 graph keeps the graph's invariants through inserts and deletes,
** searches about as well as a float32 one, and holds a vector in about a
** quarter of the memory. */
static void test_int8_graph(void **state) {
  (void)state;
  int n = 3000, dims = 24;
  float *a = random_vectors(n, dims, 7, 1);
  Hnsw hf, hq;
  build(&hf, a, n, dims, VG_METRIC_COSINE, 12, 100, 11, 0);
  build_as(HNSW_INT8, &hq, a, n, dims, VG_METRIC_COSINE, 12, 100, 11, 0);
  assert_clean(&hq);
  double rf = recall(&hf, a, n, dims, VG_METRIC_COSINE, 10, 64, 0, 99);
  double rq = recall(&hq, a, n, dims, VG_METRIC_COSINE, 10, 64, 0, 99);
  print_message("recall@10 at ef 64 by approximate distance: float32 %.4f, int8 %.4f\n", rf, rq);
  assert_true(rq >= rf - 0.05);
  uint64_t s = 5;
  for (int step = 0; step < 900; step++) {
    int i = (int)(next(&s) % (uint64_t)n);
    if (hnsw_find(&hq, 1000 + i) != HNSW_NONE) {
      assert_int_equal(hnsw_delete(&hq, 1000 + i), HNSW_OK);
    } else {
      assert_int_equal(hnsw_insert(&hq, 1000 + i, i, a + (size_t)i * dims, level_of(&hq, &s)),
                       HNSW_OK);
    }
  }
  assert_clean(&hq);
  hnsw_free(&hf);
  hnsw_free(&hq);
  /* 384 dimensions: 1,536 bytes as float32; as int8, 400 bytes of codes,
  ** scale and error terms, 448 in whole cache lines. */
  assert_int_equal(hnsw_init(&hf, 384, VG_METRIC_COSINE, 16, 10, HNSW_FLOAT32), HNSW_OK);
  assert_int_equal(hnsw_init(&hq, 384, VG_METRIC_COSINE, 16, 10, HNSW_INT8), HNSW_OK);
  assert_int_equal((hf.nodeWords - hf.vecWord) * 4, 1536);
  assert_int_equal((hq.nodeWords - hq.vecWord) * 4, 448);
  hnsw_free(&hf);
  hnsw_free(&hq);
  free(a);
}

/* ---- copies and near-copies -------------------------------------------- */

/* Every node reaches the entry point at level 0 and has a link. */
static void assert_connected(Hnsw *h, const char *zWhat) {
  HnswReport r;
  assert_int_equal(hnsw_check(h, &r), HNSW_OK);
  if (r.unreachable || r.isolated || r.oneWay || r.badLinks || r.degreeViolations ||
      !r.entryOk) {
    fail_msg("%s: %lld unreachable, %lld isolated, %lld one-way, %lld bad, %lld over, entry %d",
             zWhat, r.unreachable, r.isolated, r.oneWay, r.badLinks, r.degreeViolations,
             r.entryOk);
  }
}

static int float_cmp(const void *x, const void *y) {
  float a = *(const float *)x, b = *(const float *)y;
  return a < b ? -1 : a > b;
}

/* The distances from q to every live node, by the graph's own distance (so
** that ties are ties), sorted: brute force. */
static int all_distances(Hnsw *h, const float *q, float *aOut) {
  int n = 0;
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (hnsw_is_live(h, i)) aOut[n++] = hnsw_distance(h, q, i);
  }
  qsort(aOut, (size_t)n, sizeof(float), float_cmp);
  return n;
}

typedef struct SearchStats {
  int nSelfMissed;  /* rows whose own vector found nothing as near as themselves */
  int nTieShort;    /* queries that found fewer nearest ties than exist (up to ef) */
  double recall;    /* recall@10 at ef 64, by distance (a tie counts) */
} SearchStats;

/* Search every live node's own vector (aVec[tag]) and nQuery others: the
** first result must be as near as the node itself, and as many results as
** the graph holds (up to ef) must tie with the nearest distance. */
static SearchStats search_stats(Hnsw *h, const float *aVec, int dims, const float *aQ,
                                int nQuery) {
  SearchStats st = {0, 0, 0};
  int ef = 64, nHit = 0, nWant = 0;
  HnswCand aRes[64];
  float *aAll = malloc(sizeof(float) * h->nNode);
  for (uint32_t i = 0; i < h->nNode; i++) {
    if (!hnsw_is_live(h, i)) continue;
    const float *v = aVec + (size_t)h->aTag[i] * dims;
    int nRes = 0;
    assert_int_equal(hnsw_search(h, v, ef, 0, 0, aRes, &nRes), HNSW_OK);
    if (nRes == 0 || aRes[0].d > hnsw_distance(h, v, i)) st.nSelfMissed++;
  }
  for (int qi = 0; qi < nQuery; qi++) {
    const float *q = aQ + (size_t)qi * dims;
    int nRes = 0, nAll = all_distances(h, q, aAll);
    assert_int_equal(hnsw_search(h, q, ef, 0, 0, aRes, &nRes), HNSW_OK);
    int nTies = 0, nFoundTies = 0;
    while (nTies < nAll && aAll[nTies] == aAll[0]) nTies++;
    for (int r = 0; r < nRes; r++) nFoundTies += aRes[r].d == aAll[0];
    if (nFoundTies < (nTies < ef ? nTies : ef)) st.nTieShort++;
    int k = nAll < 10 ? nAll : 10;
    for (int r = 0; r < nRes && r < k; r++) nHit += aRes[r].d <= aAll[k - 1];
    nWant += k;
  }
  st.recall = nWant ? (double)nHit / nWant : 1.0;
  free(aAll);
  return st;
}

/* n vectors of which a fraction are one vector (all ones), the rest
** uniform in [-1, 1]. */
static float *with_copies(int n, int dims, double fraction, uint64_t seed) {
  float *a = malloc(sizeof(float) * (size_t)n * dims);
  uint64_t s = seed;
  for (int i = 0; i < n; i++) {
    int bCopy = uniform(&s) < fraction;
    for (int j = 0; j < dims; j++) a[i * dims + j] = bCopy ? 1.0f : (float)(2 * uniform(&s) - 1);
  }
  return a;
}

/* Queries: every fourth is the copied vector, the rest uniform. */
static float *copy_queries(int n, int dims, uint64_t seed) {
  float *a = with_copies(n, dims, 0, seed);
  for (int i = 0; i < n; i += 4) {
    for (int j = 0; j < dims; j++) a[i * dims + j] = 1.0f;
  }
  return a;
}

static void build_rows(Hnsw *h, HnswVectors vectors, const float *a, int n, int dims,
                       vg_metric m, int M, int efc, uint64_t seed) {
  uint64_t s = seed;
  assert_int_equal(hnsw_init(h, dims, m, M, efc, vectors), HNSW_OK);
  for (int i = 0; i < n; i++) {
    assert_int_equal(hnsw_insert(h, 1000 + i, i, a + (size_t)i * dims, level_of(h, &s)),
                     HNSW_OK);
  }
}

static void expect_searchable(Hnsw *h, const float *a, int dims, const float *aQ, int nQuery,
                              double minRecall, const char *zWhat) {
  assert_connected(h, zWhat);
  SearchStats st = search_stats(h, a, dims, aQ, nQuery);
  print_message("%s: recall@10 %.4f, %d rows missed themselves, %d queries short of ties\n",
                zWhat, st.recall, st.nSelfMissed, st.nTieShort);
  assert_int_equal(st.nSelfMissed, 0);
  assert_int_equal(st.nTieShort, 0);
  assert_true(st.recall >= minRecall);
}

/* 1%, 10%, 50% and 100% of the rows one vector: once, copies pushed each
** other out of their lists and the rest of the graph out of reach. */
static void test_copies_at_ratios(void **state) {
  (void)state;
  double aFraction[] = {0.01, 0.10, 0.50, 1.0};
  int n = 3000, dims = 8;
  float *aQ = copy_queries(200, dims, 77);
  for (int t = 0; t < 4; t++) {
    float *a = with_copies(n, dims, aFraction[t], 5 + t);
    for (int bInt8 = 0; bInt8 <= 1; bInt8++) {
      Hnsw h;
      char zWhat[64];
      snprintf(zWhat, sizeof zWhat, "%s, %.0f%% copies", bInt8 ? "int8" : "float32",
               aFraction[t] * 100);
      build_rows(&h, bInt8 ? HNSW_INT8 : HNSW_FLOAT32, a, n, dims, VG_METRIC_L2, 16, 200, 3);
      expect_searchable(&h, a, dims, aQ, 200, bInt8 ? 0.9 : 0.97, zWhat);
      hnsw_free(&h);
    }
    free(a);
  }
  free(aQ);
}

/* The same under cosine, where a vector is not at distance 0 from itself
** (1 - its rounded dot product with itself). */
static void test_copies_cosine(void **state) {
  (void)state;
  int n = 3000, dims = 16;
  float *a = with_copies(n, dims, 0.3, 9);
  float *aQ = copy_queries(200, dims, 19);
  for (int i = 0; i < n; i++) vg_vector_normalize(a + i * dims, dims, a + i * dims);
  for (int i = 0; i < 200; i++) vg_vector_normalize(aQ + i * dims, dims, aQ + i * dims);
  Hnsw h;
  build_rows(&h, HNSW_FLOAT32, a, n, dims, VG_METRIC_COSINE, 16, 200, 4);
  expect_searchable(&h, a, dims, aQ, 200, 0.97, "cosine, 30% copies");
  hnsw_free(&h);
  free(a);
  free(aQ);
}

/* Nearly identical vectors on a line, M = 6, ef_construction = 40: steps
** of 2e-9 from 1 along (1, 2, .., 8), in random order, so that rounding to
** float leaves 1,057 distinct vectors among the 2,743, some of them copied
** many times.  (The graph once left 1,987 of them unreachable.) */
static void test_near_copies_on_a_line(void **state) {
  (void)state;
  int n = 2743, dims = 8;
  float *a = malloc(sizeof(float) * (size_t)n * dims);
  uint64_t s = 5;
  for (int i = 0; i < n; i++) {
    double t = (double)(next(&s) % (uint64_t)n) * 2e-9;
    for (int j = 0; j < dims; j++) a[i * dims + j] = (float)(1.0 + t * (j + 1));
  }
  float *aQ = malloc(sizeof(float) * 100 * dims);
  for (int i = 0; i < 100; i++) {
    memcpy(aQ + i * dims, a + (size_t)(i * 27) * dims, sizeof(float) * dims);
  }
  Hnsw h;
  build_rows(&h, HNSW_FLOAT32, a, n, dims, VG_METRIC_L2, 6, 40, 8);
  expect_searchable(&h, a, dims, aQ, 100, 0.9, "near copies on a line, M=6 efc=40");
  hnsw_free(&h);
  free(a);
  free(aQ);
}

/* 60 vectors copied 40 times each, amid 1,000 distinct ones, inserted in
** random order. */
static void test_clusters_of_copies(void **state) {
  (void)state;
  int nSeed = 60, nCopy = 40, nOther = 1000, dims = 12, n = nSeed * nCopy + nOther;
  float *aSeed = with_copies(nSeed, dims, 0, 21);
  float *a = with_copies(n, dims, 0, 22);
  uint64_t s = 23;
  for (int i = 0; i < nSeed * nCopy; i++) {
    int r = (int)(next(&s) % (uint64_t)n);
    memcpy(a + (size_t)r * dims, aSeed + (size_t)(i % nSeed) * dims, sizeof(float) * dims);
  }
  float *aQ = with_copies(200, dims, 0, 24);
  for (int i = 0; i < 200; i += 2) {
    memcpy(aQ + i * dims, aSeed + (i % nSeed) * dims, sizeof(float) * dims);
  }
  Hnsw h;
  build_rows(&h, HNSW_FLOAT32, a, n, dims, VG_METRIC_L2, 8, 64, 25);
  expect_searchable(&h, a, dims, aQ, 200, 0.95, "60 clusters of copies, M=8");
  hnsw_free(&h);
  free(a);
  free(aSeed);
  free(aQ);
}

/* Rounds of deleting a third of the rows and inserting them again, with 30%
** copies: connected after every round and every row finds itself. */
static void test_copies_under_churn(void **state) {
  (void)state;
  int n = 2000, dims = 8;
  float *a = with_copies(n, dims, 0.3, 31);
  float *aQ = copy_queries(100, dims, 32);
  Hnsw h;
  build_rows(&h, HNSW_FLOAT32, a, n, dims, VG_METRIC_L2, 8, 64, 33);
  uint64_t s = 34;
  for (int round = 0; round < 6; round++) {
    for (int i = 0; i < n; i++) {
      if (uniform(&s) >= 1.0 / 3) continue;
      assert_int_equal(hnsw_delete(&h, 1000 + i), HNSW_OK);
    }
    assert_connected(&h, "after the deletes");
    for (int i = 0; i < n; i++) {
      if (hnsw_find(&h, 1000 + i) != HNSW_NONE) continue;
      assert_int_equal(hnsw_insert(&h, 1000 + i, i, a + (size_t)i * dims, level_of(&h, &s)),
                       HNSW_OK);
    }
    assert_connected(&h, "after the inserts");
  }
  expect_searchable(&h, a, dims, aQ, 100, 0.95, "30% copies after 6 rounds of churn");
  hnsw_free(&h);
  free(a);
  free(aQ);
}

/* M = 2 and 3 leave little slack: every deletion and insertion, with and
** without copies, keeps every node reachable. */
static void test_connected_at_small_m(void **state) {
  (void)state;
  int n = 600, dims = 4;
  for (int t = 0; t < 2; t++) {
    float *a = with_copies(n, dims, t == 0 ? 0 : 0.4, 41 + t);
    for (int M = 2; M <= 3; M++) {
      Hnsw h;
      build_rows(&h, HNSW_FLOAT32, a, n / 2, dims, VG_METRIC_L2, M, 16, 43);
      assert_connected(&h, "built");
      uint64_t s = 44;
      for (int step = 0; step < 1500; step++) {
        int i = (int)(next(&s) % (uint64_t)n);
        if (hnsw_find(&h, 1000 + i) != HNSW_NONE) {
          assert_int_equal(hnsw_delete(&h, 1000 + i), HNSW_OK);
        } else {
          assert_int_equal(hnsw_insert(&h, 1000 + i, i, a + (size_t)i * dims, level_of(&h, &s)),
                           HNSW_OK);
        }
        HnswReport r;
        assert_int_equal(hnsw_check(&h, &r), HNSW_OK);
        if (r.unreachable || r.isolated || r.oneWay || r.badLinks) {
          fail_msg("M=%d %s step %d: %lld unreachable, %lld isolated", M,
                   t ? "copies" : "distinct", step, r.unreachable, r.isolated);
        }
      }
      hnsw_free(&h);
    }
    free(a);
  }
}

/* hnsw_connect() joins a graph stored in parts: 300 nodes loaded as three
** separate rings of full lists (no node has room, so links must give way),
** plus two nodes without links. */
static void test_connect_joins_parts(void **state) {
  (void)state;
  int n = 302, dims = 4, M = 2;
  float *a = random_vectors(n, dims, 51, 0);
  Hnsw h;
  assert_int_equal(hnsw_init(&h, dims, VG_METRIC_L2, M, 16, HNSW_FLOAT32), HNSW_OK);
  for (int i = 0; i < n; i++) {
    uint32_t node;
    assert_int_equal(hnsw_load_node(&h, 1000 + i, i, a + i * dims, 0, &node), HNSW_OK);
    assert_int_equal(node, (uint32_t)i);
  }
  /* Level 0 holds 2M = 4 links: each ring node links to 2 on each side. */
  for (int i = 0; i < 300; i++) {
    int base = i / 100 * 100, k = i - base;
    uint32_t aL[4];
    for (int t = 0; t < 4; t++) {
      int off = t < 2 ? t + 1 : -(t - 1);
      aL[t] = (uint32_t)(base + (k + off + 100) % 100);
    }
    hnsw_load_links(&h, (uint32_t)i, 0, aL, 4);
  }
  hnsw_set_entry(&h, 0);
  HnswReport r;
  assert_int_equal(hnsw_check(&h, &r), HNSW_OK);
  assert_int_equal(r.unreachable, 202);
  assert_int_equal(r.isolated, 2);
  hnsw_dirty_clear(&h);
  int nJoined = -1;
  assert_int_equal(hnsw_connect(&h, &nJoined), HNSW_OK);
  assert_int_equal(nJoined, 4);
  assert_connected(&h, "joined");
  assert_true(h.nDirty > 0);
  assert_int_equal(hnsw_connect(&h, &nJoined), HNSW_OK);
  assert_int_equal(nJoined, 0);
  hnsw_free(&h);
  free(a);
}

static void test_level_distribution(void **state) {
  (void)state;
  Hnsw h;
  assert_int_equal(hnsw_init(&h, 4, VG_METRIC_L2, 16, 10, HNSW_FLOAT32), HNSW_OK);
  uint64_t s = 42;
  int nTotal = 400000, aCount[HNSW_MAX_LEVEL + 1] = {0};
  for (int i = 0; i < nTotal; i++) aCount[level_of(&h, &s)]++;
  double atLeast1 = (double)(nTotal - aCount[0]) / nTotal;
  double atLeast2 = (double)(nTotal - aCount[0] - aCount[1]) / nTotal;
  print_message("P(level>=1) = %.5f (1/16 = %.5f), P(level>=2) = %.6f (1/256 = %.6f)\n",
                atLeast1, 1.0 / 16, atLeast2, 1.0 / 256);
  assert_true(fabs(atLeast1 - 1.0 / 16) < 0.002);
  assert_true(fabs(atLeast2 - 1.0 / 256) < 0.0006);
  assert_int_equal(hnsw_level_for(&h, 1.0), 0);
  assert_int_equal(hnsw_level_for(&h, 0.0), HNSW_MAX_LEVEL);
  hnsw_free(&h);
}

/* Small graphs: empty, one node, deleting the entry point, bad arguments. */
static void test_edges(void **state) {
  (void)state;
  Hnsw h;
  HnswCand res[4];
  int nRes = -1;
  float v[2][3] = {{1, 0, 0}, {0, 1, 0}};
  assert_int_equal(hnsw_init(&h, 3, VG_METRIC_L2, 1, 10, HNSW_FLOAT32), HNSW_MISUSE);
  assert_int_equal(hnsw_init(&h, 3, VG_METRIC_L2, HNSW_MAX_M + 1, 10, HNSW_FLOAT32), HNSW_MISUSE);
  assert_int_equal(hnsw_init(&h, 3, VG_METRIC_L2, 2, 10, HNSW_FLOAT32), HNSW_OK);
  assert_int_equal(hnsw_search(&h, v[0], 4, 0, 0, res, &nRes), HNSW_OK);
  assert_int_equal(nRes, 0);
  assert_int_equal(hnsw_insert(&h, 5, 0, v[0], 3), HNSW_OK);
  assert_int_equal(hnsw_insert(&h, 5, 0, v[1], 0), HNSW_MISUSE);
  assert_int_equal(hnsw_insert(&h, 6, 0, v[1], 0), HNSW_OK);
  assert_clean(&h);
  assert_int_equal(h.entry, hnsw_find(&h, 5));
  assert_int_equal(hnsw_delete(&h, 5), HNSW_OK);
  assert_int_equal(h.entry, hnsw_find(&h, 6));
  assert_int_equal(h.maxLevel, 0);
  assert_clean(&h);
  assert_int_equal(hnsw_search(&h, v[0], 4, 0, 0, res, &nRes), HNSW_OK);
  assert_int_equal(nRes, 1);
  assert_int_equal(hnsw_delete(&h, 6), HNSW_OK);
  assert_int_equal(hnsw_delete(&h, 6), HNSW_OK);
  assert_int_equal(h.entry, HNSW_NONE);
  assert_clean(&h);
  hnsw_free(&h);
}

int main(void) {
  vg_distance_init();
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_recall_each_metric), cmocka_unit_test(test_delete_repair_and_dirty),
      cmocka_unit_test(test_churn_recall),       cmocka_unit_test(test_filtered_search),
      cmocka_unit_test(test_level_distribution), cmocka_unit_test(test_edges),
      cmocka_unit_test(test_delete_never_relinks_the_deleted),
      cmocka_unit_test(test_int8_codes_and_bounds), cmocka_unit_test(test_int8_graph),
      cmocka_unit_test(test_copies_at_ratios),      cmocka_unit_test(test_copies_cosine),
      cmocka_unit_test(test_near_copies_on_a_line), cmocka_unit_test(test_clusters_of_copies),
      cmocka_unit_test(test_copies_under_churn),    cmocka_unit_test(test_connected_at_small_m),
      cmocka_unit_test(test_connect_joins_parts),
  };
  return cmocka_run_group_tests(tests, 0, 0);
}
