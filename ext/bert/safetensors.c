/*
** safetensors.c — a safetensors file mapped read-only (bert.h, safetensors
** section): its JSON header read with jansson and every tensor's dtype,
** shape and byte range checked against the file before anything is used.
**
** Format (huggingface/safetensors): 8 bytes, the header's length N as a
** little-endian uint64; N bytes of JSON, an object mapping each tensor's
** name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets into
** the data that follows the header) and an optional "__metadata__"; then
** the data, which the tensors cover exactly, without holes or overlaps.
*/
#include "bert/bert.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A header longer than this is not a model's (the real one is 11 KiB). */
#define ST_MAX_HEADER (64 << 20)

struct BertSafetensors {
  void *pMap;
  size_t nMap;
  int nTensor;
  BertTensor *aTensor; /* sorted by name */
};

static const struct {
  const char *zName;
  int dtype;
  int nByte;
} aDtype[] = {
    {"F32", BERT_DTYPE_F32, 4}, {"F16", BERT_DTYPE_F16, 2}, {"BF16", BERT_DTYPE_BF16, 2},
    {"F64", BERT_DTYPE_OTHER, 8}, {"I64", BERT_DTYPE_OTHER, 8}, {"I32", BERT_DTYPE_OTHER, 4},
    {"I16", BERT_DTYPE_OTHER, 2}, {"I8", BERT_DTYPE_OTHER, 1},  {"U8", BERT_DTYPE_OTHER, 1},
    {"BOOL", BERT_DTYPE_OTHER, 1},
};

const char *bert_dtype_name(int dtype) {
  return dtype == BERT_DTYPE_F32 ? "F32" : dtype == BERT_DTYPE_F16 ? "F16" : dtype == BERT_DTYPE_BF16 ? "BF16" : "other";
}

static int cmp_tensor_name(const void *x, const void *y) {
  return strcmp(((const BertTensor *)x)->zName, ((const BertTensor *)y)->zName);
}

/* By offset, an empty tensor before a tensor that starts where it does. */
static int cmp_tensor_begin(const void *x, const void *y) {
  const BertTensor *a = *(const BertTensor *const *)x, *b = *(const BertTensor *const *)y;
  if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
  return a->nByte < b->nByte ? -1 : a->nByte > b->nByte;
}

void bert_safetensors_close(BertSafetensors *st) {
  if (st == 0) return;
  for (int i = 0; i < st->nTensor; i++) free((char *)st->aTensor[i].zName);
  free(st->aTensor);
  if (st->pMap) munmap(st->pMap, st->nMap);
  free(st);
}

const BertTensor *bert_safetensors_find(const BertSafetensors *st, const char *zName) {
  BertTensor key;
  memset(&key, 0, sizeof key);
  key.zName = zName;
  return bsearch(&key, st->aTensor, (size_t)st->nTensor, sizeof(BertTensor), cmp_tensor_name);
}

int bert_safetensors_count(const BertSafetensors *st) { return st->nTensor; }

const BertTensor *bert_safetensors_tensor(const BertSafetensors *st, int i) { return &st->aTensor[i]; }

/* One header entry into *t; BERT_ERROR with zErr naming the tensor. */
static int read_entry(const char *zPath, const char *zName, json_t *e, BertTensor *t, char *zErr) {
  json_t *jType = json_object_get(e, "dtype"), *jShape = json_object_get(e, "shape");
  json_t *jOff = json_object_get(e, "data_offsets");
  if (!json_is_object(e) || !json_is_string(jType) || !json_is_array(jShape) || !json_is_array(jOff) ||
      json_array_size(jOff) != 2 || !json_is_integer(json_array_get(jOff, 0)) ||
      !json_is_integer(json_array_get(jOff, 1))) {
    snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s: its header entry needs dtype, shape and data_offsets [begin, end]",
             zPath, zName);
    return BERT_ERROR;
  }
  int nElemByte = 0;
  for (size_t i = 0; i < sizeof aDtype / sizeof aDtype[0]; i++) {
    if (strcmp(json_string_value(jType), aDtype[i].zName) == 0) {
      t->dtype = aDtype[i].dtype;
      nElemByte = aDtype[i].nByte;
    }
  }
  if (nElemByte == 0) {
    snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s: unknown dtype \"%.20s\"", zPath, zName, json_string_value(jType));
    return BERT_ERROR;
  }
  if (json_array_size(jShape) > BERT_MAX_DIMS) {
    snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s has %d dimensions (at most %d)", zPath, zName,
             (int)json_array_size(jShape), BERT_MAX_DIMS);
    return BERT_ERROR;
  }
  t->nDim = (int)json_array_size(jShape);
  uint64_t nElem = 1;
  for (int i = 0; i < t->nDim; i++) {
    json_t *d = json_array_get(jShape, (size_t)i);
    if (!json_is_integer(d) || json_integer_value(d) < 0 || json_integer_value(d) > (1LL << 40)) {
      snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s: its shape holds a size that is not a whole number up to 2^40",
               zPath, zName);
      return BERT_ERROR;
    }
    t->aShape[i] = (int64_t)json_integer_value(d);
    nElem *= (uint64_t)t->aShape[i];
    if (nElem > (1ULL << 40)) {
      snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s is larger than 2^40 elements", zPath, zName);
      return BERT_ERROR;
    }
  }
  json_int_t b = json_integer_value(json_array_get(jOff, 0)), e2 = json_integer_value(json_array_get(jOff, 1));
  if (b < 0 || e2 < b || (uint64_t)(e2 - b) != nElem * (uint64_t)nElemByte) {
    snprintf(zErr, BERT_ERR_MAX,
             "%s: tensor %s: data_offsets [%lld, %lld] hold %lld bytes; its dtype %s and shape need %llu", zPath,
             zName, (long long)b, (long long)e2, (long long)(e2 - b), json_string_value(jType),
             (unsigned long long)(nElem * (uint64_t)nElemByte));
    return BERT_ERROR;
  }
  t->begin = (uint64_t)b;
  t->nByte = (uint64_t)(e2 - b);
  return BERT_OK;
}

/* Parse the header and check the tensors' ranges against nData bytes of
** data; on success the tensors, sorted by name, are in st. */
static int read_header(const char *zPath, const char *zJson, size_t nJson, uint64_t nData, BertSafetensors *st,
                       char *zErr) {
  json_error_t err;
  json_t *root = json_loadb(zJson, nJson, JSON_REJECT_DUPLICATES, &err);
  if (root == 0 || !json_is_object(root)) {
    snprintf(zErr, BERT_ERR_MAX, "%s: the header is not a JSON object (%s, byte %d): not a safetensors file?",
             zPath, root ? "another value" : err.text, root ? 0 : err.position);
    json_decref(root);
    return BERT_ERROR;
  }
  size_t nEntry = json_object_size(root);
  st->aTensor = calloc(nEntry + 1, sizeof(BertTensor));
  BertTensor **apByBegin = malloc(sizeof(BertTensor *) * (nEntry + 1));
  int rc = st->aTensor && apByBegin ? BERT_OK : BERT_NOMEM;
  const char *zName;
  json_t *e;
  json_object_foreach(root, zName, e) {
    if (rc != BERT_OK) break;
    if (strcmp(zName, "__metadata__") == 0) continue;
    BertTensor *t = &st->aTensor[st->nTensor];
    rc = read_entry(zPath, zName, e, t, zErr);
    if (rc == BERT_OK && (t->zName = strdup(zName)) == 0) rc = BERT_NOMEM;
    if (rc == BERT_OK) apByBegin[st->nTensor++] = t;
  }
  json_decref(root);
  /* The tensors cover the data exactly: in order of their offsets, each
  ** begins where the one before ends. */
  if (rc == BERT_OK && st->nTensor > 0) {
    qsort(apByBegin, (size_t)st->nTensor, sizeof(BertTensor *), cmp_tensor_begin);
    uint64_t end = 0;
    for (int i = 0; rc == BERT_OK && i < st->nTensor; i++) {
      const BertTensor *t = apByBegin[i];
      if (t->begin != end) {
        snprintf(zErr, BERT_ERR_MAX, "%s: tensor %s begins at data byte %llu, where %s is expected (%s)", zPath,
                 t->zName, (unsigned long long)t->begin, i ? "the previous tensor's end" : "0",
                 t->begin < end ? "tensors overlap" : "a hole in the data");
        rc = BERT_ERROR;
      }
      end = t->begin + t->nByte;
    }
    if (rc == BERT_OK && end > nData) {
      const BertTensor *t = apByBegin[st->nTensor - 1];
      snprintf(zErr, BERT_ERR_MAX,
               "%s: truncated file: its header describes %llu bytes of tensor data (the last, %s, ends at %llu), "
               "and the file holds %llu after its header",
               zPath, (unsigned long long)end, t->zName, (unsigned long long)end, (unsigned long long)nData);
      rc = BERT_ERROR;
    } else if (rc == BERT_OK && end < nData) {
      snprintf(zErr, BERT_ERR_MAX, "%s: %llu bytes after the last tensor's data, which the header does not describe",
               zPath, (unsigned long long)(nData - end));
      rc = BERT_ERROR;
    }
  }
  free(apByBegin);
  if (rc == BERT_OK) qsort(st->aTensor, (size_t)st->nTensor, sizeof(BertTensor), cmp_tensor_name);
  return rc;
}

/* The file's bytes p[0, n) (n >= 8) into st, checked. */
static int parse(const char *zPath, const void *pBytes, size_t n, BertSafetensors *st, char *zErr) {
  const unsigned char *p = pBytes;
  uint64_t nHeader = 0;
  int rc = BERT_OK;
  for (int i = 7; i >= 0; i--) nHeader = nHeader << 8 | p[i];
  if (nHeader < 2 || nHeader > ST_MAX_HEADER) {
    snprintf(zErr, BERT_ERR_MAX, "%s: a header of %llu bytes: not a safetensors file", zPath,
             (unsigned long long)nHeader);
    rc = BERT_ERROR;
  } else if (nHeader > n - 8) {
    snprintf(zErr, BERT_ERR_MAX, "%s: truncated file: its header is %llu bytes, and the file holds %llu after the "
             "header's length", zPath, (unsigned long long)nHeader, (unsigned long long)(n - 8));
    rc = BERT_ERROR;
  } else {
    rc = read_header(zPath, (const char *)p + 8, (size_t)nHeader, n - 8 - nHeader, st, zErr);
    for (int i = 0; rc == BERT_OK && i < st->nTensor; i++) {
      st->aTensor[i].pData = p + 8 + nHeader + st->aTensor[i].begin;
    }
  }
  return rc;
}

int bert_safetensors_open(const char *zPath, BertSafetensors **ppOut, char *zErr) {
  *ppOut = 0;
  BertSafetensors *st = calloc(1, sizeof(*st));
  if (st == 0) return BERT_NOMEM;
  int rc = BERT_OK;
  int fd = open(zPath, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0 || fstat(fd, &sb) != 0) {
    snprintf(zErr, BERT_ERR_MAX, "cannot open %s: %s", zPath, strerror(errno));
    rc = BERT_ERROR;
  } else if (sb.st_size < 8) {
    snprintf(zErr, BERT_ERR_MAX, "%s: truncated file: %lld bytes, less than a safetensors header's 8-byte length",
             zPath, (long long)sb.st_size);
    rc = BERT_ERROR;
  } else {
    st->nMap = (size_t)sb.st_size;
    st->pMap = mmap(0, st->nMap, PROT_READ, MAP_PRIVATE, fd, 0);
    if (st->pMap == MAP_FAILED) {
      st->pMap = 0;
      snprintf(zErr, BERT_ERR_MAX, "cannot map %s: %s", zPath, strerror(errno));
      rc = BERT_ERROR;
    }
  }
  if (fd >= 0) close(fd);
  if (rc == BERT_OK) rc = parse(zPath, st->pMap, st->nMap, st, zErr);
  if (rc != BERT_OK) {
    bert_safetensors_close(st);
    return rc;
  }
  *ppOut = st;
  return BERT_OK;
}

int bert_safetensors_from_memory(const void *pData, size_t nData, BertSafetensors **ppOut, char *zErr) {
  *ppOut = 0;
  if (nData < 8) {
    snprintf(zErr, BERT_ERR_MAX, "(memory): truncated file: %zu bytes, less than a safetensors header's 8-byte "
             "length", nData);
    return BERT_ERROR;
  }
  BertSafetensors *st = calloc(1, sizeof(*st));
  if (st == 0) return BERT_NOMEM;
  int rc = parse("(memory)", pData, nData, st, zErr);
  if (rc != BERT_OK) {
    bert_safetensors_close(st);
    return rc;
  }
  *ppOut = st;
  return BERT_OK;
}
