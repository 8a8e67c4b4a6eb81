/*
** bench_bert.c — the BERT encoder's speed and memory on a model of
** all-MiniLM-L6-v2's real size (6 layers, hidden 384, 12 heads,
** intermediate 1536, its real vocabulary from ../shared) with random
** weights, written to a temporary folder in the real tensor layout: the
** time of a forward pass does not depend on the weights' values.
**
** Texts of 10 (short), 60 (medium) and 256 (long) tokens, [CLS] and [SEP]
** included, cut from a fixed English passage; batches of 1, 8 and 32; 1 and
** 2 OpenBLAS threads.  Prints texts/s and resident memory.  Target: at
** least 200 medium texts/s on 2 cores.
**
** It links the bert layer directly (no SQLite): what it times is the
** encoder, tokenization included, without SQL around it.
*/
#include "bert/bert.h"
#include "benchutil.h"

#include <math.h>
#include <sys/stat.h>

#define H 384
#define LAYERS 6
#define INTER 1536
#define MAXPOS 512

static const char *zPassage =
    "Semantic search finds documents by meaning rather than by exact words, which helps a clinic's staff find "
    "the note about a patient's persistent dry cough even when they search for a lingering respiratory "
    "symptom. An edge appliance runs the whole pipeline offline: the text is scrubbed of personal data, cut "
    "into chunks, embedded by a small transformer and written to an index inside the database file, so that a "
    "backup or a copy carries everything and nothing leaves the box. The encoder reads at most two hundred and "
    "fifty six word pieces of each chunk, mean pools the last hidden states over the tokens and normalises the "
    "result, and the index compares those vectors by cosine distance. Shops use the same appliance for their "
    "product catalogues, vehicles for maintenance logs and field kits for survey reports, each tenant kept in a "
    "file of its own. When the network returns, the files are synchronised, encrypted, to object storage, from "
    "which another box can restore them or a hub can serve them read-only to many readers at once, and an "
    "erased row is gone from every copy. Researchers measured the retrieval quality on scientific claims and "
    "abstracts, comparing keyword ranking, dense vectors and the fusion of both, and found that the fusion "
    "ranks better than either alone on most of their queries.";

/* Resident and peak resident memory, in MiB, from /proc/self/status. */
static void memory_mib(double *pRss, double *pPeak) {
  FILE *f = fopen("/proc/self/status", "r");
  char zLine[256];
  *pRss = *pPeak = 0.0;
  while (f && fgets(zLine, sizeof zLine, f)) {
    long kb;
    if (sscanf(zLine, "VmRSS: %ld kB", &kb) == 1) *pRss = kb / 1024.0;
    if (sscanf(zLine, "VmHWM: %ld kB", &kb) == 1) *pPeak = kb / 1024.0;
  }
  if (f) fclose(f);
}

/* The folder: the shared config, tokenizer files and vocabulary, and
** model.safetensors with every tensor of the real layout, random values. */
static void write_model(const char *zDir, const char *zShared) {
  static const char *const azCopy[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                                       "sentence_bert_config.json", "modules.json", "1_Pooling/config.json"};
  char zPath[1200];
  snprintf(zPath, sizeof zPath, "%s/1_Pooling", zDir);
  mkdir(zPath, 0700);
  for (size_t i = 0; i < sizeof azCopy / sizeof azCopy[0]; i++) {
    char zFrom[1200];
    snprintf(zFrom, sizeof zFrom, "%s/models/all-MiniLM-L6-v2/%s", zShared, azCopy[i]);
    FILE *in = fopen(zFrom, "rb");
    if (in == 0) {
      printf("bench_bert: SKIPPED: cannot read %s (the shared model files sit beside the checkout as ../shared; "
             "set VG_SHARED)\n", zFrom);
      exit(0);
    }
    snprintf(zPath, sizeof zPath, "%s/%s", zDir, azCopy[i]);
    FILE *out = fopen(zPath, "wb");
    char aBuf[65536];
    size_t n;
    while ((n = fread(aBuf, 1, sizeof aBuf, in)) > 0) fwrite(aBuf, 1, n, out);
    fclose(in);
    fclose(out);
  }
  /* The tensors, as the real header lists them. */
  struct {
    char zName[96];
    int d0, d1;
  } a[128];
  int n = 0;
#define T(x, y, ...) (snprintf(a[n].zName, sizeof a[n].zName, __VA_ARGS__), a[n].d0 = (x), a[n].d1 = (y), n++)
  T(30522, H, "embeddings.word_embeddings.weight");
  T(MAXPOS, H, "embeddings.position_embeddings.weight");
  T(2, H, "embeddings.token_type_embeddings.weight");
  T(H, 0, "embeddings.LayerNorm.weight");
  T(H, 0, "embeddings.LayerNorm.bias");
  for (int l = 0; l < LAYERS; l++) {
    static const char *const azQkv[] = {"query", "key", "value"};
    for (int i = 0; i < 3; i++) {
      T(H, H, "encoder.layer.%d.attention.self.%s.weight", l, azQkv[i]);
      T(H, 0, "encoder.layer.%d.attention.self.%s.bias", l, azQkv[i]);
    }
    T(H, H, "encoder.layer.%d.attention.output.dense.weight", l);
    T(H, 0, "encoder.layer.%d.attention.output.dense.bias", l);
    T(H, 0, "encoder.layer.%d.attention.output.LayerNorm.weight", l);
    T(H, 0, "encoder.layer.%d.attention.output.LayerNorm.bias", l);
    T(INTER, H, "encoder.layer.%d.intermediate.dense.weight", l);
    T(INTER, 0, "encoder.layer.%d.intermediate.dense.bias", l);
    T(H, INTER, "encoder.layer.%d.output.dense.weight", l);
    T(H, 0, "encoder.layer.%d.output.dense.bias", l);
    T(H, 0, "encoder.layer.%d.output.LayerNorm.weight", l);
    T(H, 0, "encoder.layer.%d.output.LayerNorm.bias", l);
  }
#undef T
  static char zJson[65536];
  size_t nJson = 0, off = 0;
  zJson[nJson++] = '{';
  for (int i = 0; i < n; i++) {
    size_t nByte = 4 * (size_t)a[i].d0 * (size_t)(a[i].d1 ? a[i].d1 : 1);
    char zShape[64];
    if (a[i].d1) {
      snprintf(zShape, sizeof zShape, "%d,%d", a[i].d0, a[i].d1);
    } else {
      snprintf(zShape, sizeof zShape, "%d", a[i].d0);
    }
    nJson += (size_t)snprintf(zJson + nJson, sizeof zJson - nJson,
                              "%s\"%s\":{\"dtype\":\"F32\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}", i ? "," : "",
                              a[i].zName, zShape, off, off + nByte);
    off += nByte;
  }
  zJson[nJson++] = '}';
  while (nJson % 8) zJson[nJson++] = ' ';
  snprintf(zPath, sizeof zPath, "%s/model.safetensors", zDir);
  FILE *f = fopen(zPath, "wb");
  if (f == 0) bench_die("cannot write", zPath);
  unsigned char aLen[8];
  for (int i = 0; i < 8; i++) aLen[i] = (unsigned char)((uint64_t)nJson >> (8 * i));
  fwrite(aLen, 1, 8, f);
  fwrite(zJson, 1, nJson, f);
  /* Values of the size trained weights have; LayerNorm gains near 1. */
  uint64_t s = 0x9e3779b97f4a7c15ull;
  float aBuf[4096];
  for (int i = 0; i < n; i++) {
    size_t nElem = (size_t)a[i].d0 * (size_t)(a[i].d1 ? a[i].d1 : 1);
    int bGain = strstr(a[i].zName, "LayerNorm.weight") != 0;
    for (size_t j = 0; j < nElem;) {
      size_t k = 0;
      for (; k < 4096 && j < nElem; k++, j++) aBuf[k] = (bGain ? 1.0f : 0.0f) + 0.05f * bench_uniform(&s);
      fwrite(aBuf, sizeof(float), k, f);
    }
  }
  fclose(f);
}

/* A text of exactly nTok tokens ([CLS] and [SEP] included): the passage
** cut at the end of its (nTok - 2)th word piece. */
static char *text_of(const BertModel *m, int nTok) {
  BertToken *aTok = 0;
  int n = 0;
  if (bert_model_tokenize(m, zPassage, (int)strlen(zPassage), &aTok, &n) != BERT_OK || n < nTok) {
    bench_die("the passage is too short", 0);
  }
  int nByte = aTok[nTok - 2].end;
  free(aTok);
  char *z = malloc((size_t)nByte + 1);
  memcpy(z, zPassage, (size_t)nByte);
  z[nByte] = 0;
  if (bert_model_tokenize(m, z, nByte, &aTok, &n) != BERT_OK || n != nTok) bench_die("cutting a text", z);
  free(aTok);
  return z;
}

int main(void) {
  const char *zShared = getenv("VG_SHARED") ? getenv("VG_SHARED") : "../shared";
  char zDir[] = "/tmp/vg_bench_bert.XXXXXX";
  if (mkdtemp(zDir) == 0) bench_die("mkdtemp", 0);
  double rss0, peak0, rss1, peak1;
  memory_mib(&rss0, &peak0);
  double t0 = bench_now();
  write_model(zDir, zShared);
  double tWrite = bench_now() - t0;
  BertModel *m = 0;
  char zErr[BERT_ERR_MAX];
  t0 = bench_now();
  if (bert_model_open(zDir, &m, zErr) != BERT_OK) bench_die("open", zErr);
  double tOpen = bench_now() - t0;
  memory_mib(&rss1, &peak1);
  printf("bench_bert: the BERT encoder, all-MiniLM-L6-v2's shape (6 layers, hidden 384, 12 heads, intermediate 1536,"
         " vocabulary 30522), random F32 weights\n");
  printf("  model written in %.2f s, opened (mapped, every tensor checked) in %.1f ms; resident memory %.1f MiB"
         " before, %.1f MiB after opening\n\n", tWrite, tOpen * 1000, rss0, rss1);
  static const struct {
    const char *zName;
    int nTok;
  } aLen[] = {{"short", 10}, {"medium", 60}, {"long", 256}};
  static const int aBatch[] = {1, 8, 32};
  char *azText[3];
  for (int i = 0; i < 3; i++) azText[i] = text_of(m, aLen[i].nTok);
  const char *azBatch[32];
  int anBatch[32];
  float *aOut = malloc(sizeof(float) * 32 * H);
  double aMedium2 = 0.0;
  printf("  texts/s (tokenizing, the forward pass, pooling, normalising)\n");
  printf("  threads | batch |   short (10) |  medium (60) |   long (256)\n");
  printf("  --------+-------+--------------+--------------+-------------\n");
  for (int nThread = 1; nThread <= 2; nThread++) {
    bert_model_set_threads(m, nThread);
    for (int b = 0; b < 3; b++) {
      printf("  %7d | %5d |", nThread, aBatch[b]);
      for (int l = 0; l < 3; l++) {
        for (int i = 0; i < aBatch[b]; i++) {
          azBatch[i] = azText[l];
          anBatch[i] = (int)strlen(azText[l]);
        }
        bert_model_embed(m, aBatch[b], azBatch, anBatch, aOut); /* warm-up */
        int nDone = 0;
        double tStart = bench_now(), t;
        do {
          if (bert_model_embed(m, aBatch[b], azBatch, anBatch, aOut) != BERT_OK) bench_die("embed", 0);
          nDone += aBatch[b];
          t = bench_now() - tStart;
        } while (t < 1.0);
        double rate = nDone / t;
        if (nThread == 2 && l == 1 && rate > aMedium2) aMedium2 = rate;
        printf(" %12.1f |", rate);
      }
      printf("\n");
    }
  }
  double rss2, peak2;
  memory_mib(&rss2, &peak2);
  printf("\n  resident memory after the runs %.1f MiB, peak %.1f MiB (the weights are mapped from the file: "
         "90.9 MB of it)\n", rss2, peak2);
  printf("  target: >= 200 medium texts/s on 2 threads: best %.1f, %s\n", aMedium2,
         aMedium2 >= 200.0 ? "met" : "NOT met");
  for (int i = 0; i < 3; i++) free(azText[i]);
  free(aOut);
  bert_model_close(m);
  static const char *const azFile[] = {"config.json", "vocab.txt", "tokenizer_config.json",
                                       "sentence_bert_config.json", "modules.json", "1_Pooling/config.json",
                                       "model.safetensors"};
  for (size_t i = 0; i < sizeof azFile / sizeof azFile[0]; i++) {
    char zPath[1200];
    snprintf(zPath, sizeof zPath, "%s/%s", zDir, azFile[i]);
    unlink(zPath);
  }
  char zPool[1200];
  snprintf(zPool, sizeof zPool, "%s/1_Pooling", zDir);
  rmdir(zPool);
  rmdir(zDir);
  return 0;
}
