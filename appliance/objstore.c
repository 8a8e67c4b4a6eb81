/*
** objstore.c — where sync's objects go: a directory (file:///path, a
** mounted disk or a USB stick) or an S3-compatible bucket (s3://bucket/
** prefix), behind one small interface: put, open for reading, delete,
** list.  Objects arrive here already sealed (sync.c): the store sees
** ciphertext and keyed-hash names only.
**
** S3 requests are signed with SigV4 by libcurl (CURLOPT_AWS_SIGV4), which
** leaves the payload's hash to the caller: every request carries
** x-amz-content-sha256.  A request that fails for a reason that may pass
** (no connection, a timeout, 429, 500, 502, 503, 504) is tried again after
** a backoff with full jitter; objects larger than a part go up in parts
** (multipart upload), each part retried on its own.
*/
#include "vecguardd.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <dirent.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PART_BYTES (8 * 1024 * 1024) /* S3 wants parts of 5 MiB at least */
#define MAX_ATTEMPTS 5

/* ---- opening ---------------------------------------------------------- */

/* A name or prefix the store's URLs carry as written: no encoding needed. */
static int plain_name(const char *z) {
  for (; *z; z++)
    if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/", *z)) return 0;
  return 1;
}

int vgd_obj_open(VgdObjStore *p, const VgdObjConfig *pCfg, char **pzErr) {
  memset(p, 0, sizeof *p);
  const char *zT = pCfg->zTarget ? pCfg->zTarget : "";
  if (!strncmp(zT, "file://", 7)) {
    if (zT[7] != '/') {
      *pzErr = vgd_mprintf("[sync] target \"%s\": a file target is file:///absolute/path", zT);
      return -1;
    }
    p->zDir = vgd_mprintf("%s", zT + 7);
    if (mkdir(p->zDir, 0700) && errno != EEXIST) {
      *pzErr = vgd_mprintf("cannot create the target %s: %s", p->zDir, strerror(errno));
      vgd_obj_close(p);
      return -1;
    }
    p->zWhere = vgd_mprintf("%s", zT);
    return 0;
  }
  if (strncmp(zT, "s3://", 5)) {
    *pzErr = vgd_mprintf("[sync] target \"%s\": send s3://bucket/prefix or file:///absolute/path", zT);
    return -1;
  }
  const char *zBucket = zT + 5, *zSlash = strchr(zBucket, '/');
  int nBucket = zSlash ? (int)(zSlash - zBucket) : (int)strlen(zBucket);
  const char *zPrefix = zSlash ? zSlash + 1 : "";
  int nPrefix = (int)strlen(zPrefix);
  while (nPrefix > 0 && zPrefix[nPrefix - 1] == '/') nPrefix--;
  p->zBucket = vgd_mprintf("%.*s", nBucket, zBucket);
  p->zPrefix = vgd_mprintf("%.*s%s", nPrefix, zPrefix, nPrefix ? "/" : "");
  if (nBucket < 3 || nBucket > 63 || !plain_name(p->zBucket) || strchr(p->zBucket, '/') || !plain_name(p->zPrefix) ||
      strstr(p->zPrefix, "//")) {
    *pzErr = vgd_mprintf("[sync] target \"%s\": the bucket is 3 to 63 of a-z, 0-9, '.', '-' and the prefix of "
                         "letters, digits, '.', '_', '-', '/'",
                         zT);
    vgd_obj_close(p);
    return -1;
  }
  const char *zRegion = pCfg->zRegion && *pCfg->zRegion ? pCfg->zRegion : "us-east-1";
  const char *zAk = pCfg->zAccessKeyEnv ? getenv(pCfg->zAccessKeyEnv) : NULL;
  const char *zSk = pCfg->zSecretKeyEnv ? getenv(pCfg->zSecretKeyEnv) : NULL;
  if (!zAk || !*zAk || !zSk || !*zSk || strchr(zAk, ':')) {
    *pzErr = vgd_mprintf("[sync] an s3:// target needs credentials: access_key_env and secret_key_env name "
                         "environment variables that hold them (%s=%s, %s=%s)",
                         pCfg->zAccessKeyEnv ? pCfg->zAccessKeyEnv : "access_key_env unset",
                         zAk && *zAk ? "set" : "empty", pCfg->zSecretKeyEnv ? pCfg->zSecretKeyEnv : "secret_key_env unset",
                         zSk && *zSk ? "set" : "empty");
    vgd_obj_close(p);
    return -1;
  }
  if (!plain_name(zRegion)) {
    *pzErr = vgd_mprintf("[sync] region \"%s\": send a region name such as us-east-1", zRegion);
    vgd_obj_close(p);
    return -1;
  }
  const char *zEnd = pCfg->zEndpoint;
  if (zEnd && *zEnd) {
    size_t n = strlen(zEnd);
    while (n > 0 && zEnd[n - 1] == '/') n--;
    if (strncmp(zEnd, "http://", 7) && strncmp(zEnd, "https://", 8)) {
      *pzErr = vgd_mprintf("[sync] endpoint \"%s\": send http://host:port or https://host", zEnd);
      vgd_obj_close(p);
      return -1;
    }
    /* an endpoint of its own: path-style, as S3-compatible stores expect */
    p->zBase = vgd_mprintf("%.*s/%s/", (int)n, zEnd, p->zBucket);
  } else {
    p->zBase = vgd_mprintf("https://%s.s3.%s.amazonaws.com/", p->zBucket, zRegion);
  }
  p->zSigV4 = vgd_mprintf("aws:amz:%s:s3", zRegion);
  p->zUserPwd = vgd_mprintf("%s:%s", zAk, zSk);
  p->maxBytesPerSecond = pCfg->maxBytesPerSecond;
  p->zWhere = vgd_mprintf("%s", zT);
  return 0;
}

void vgd_obj_close(VgdObjStore *p) {
  free(p->zDir);
  free(p->zBucket);
  free(p->zPrefix);
  free(p->zBase);
  free(p->zSigV4);
  if (p->zUserPwd) sodium_memzero(p->zUserPwd, strlen(p->zUserPwd));
  free(p->zUserPwd);
  free(p->zWhere);
  memset(p, 0, sizeof *p);
}

/* ---- the file:// target ---------------------------------------------- */

static char *file_path(const VgdObjStore *p, const char *zName) {
  return vgd_mprintf("%s/%s", p->zDir, zName);
}

/* in copied beside its name, synced, renamed: a half-written object
** never carries a name, and another file system than in's works. */
static int file_put(VgdObjStore *p, const char *zName, FILE *in, char **pzErr) {
  char *zPath = file_path(p, zName), *zTmp = vgd_mprintf("%s.tmp-%ld", zPath, (long)getpid());
  char *zDir = vgd_mprintf("%s", zPath);
  *strrchr(zDir, '/') = 0;
  const char *zWhy = mkdir(zDir, 0700) && errno != EEXIST ? strerror(errno) : NULL;
  FILE *out = zWhy ? NULL : fopen(zTmp, "wb");
  if (!zWhy && !out) zWhy = strerror(errno);
  char aBuf[64 * 1024];
  for (size_t n; !zWhy && (n = fread(aBuf, 1, sizeof aBuf, in)) > 0;)
    if (fwrite(aBuf, 1, n, out) != n) zWhy = strerror(errno);
  if (!zWhy && ferror(in)) zWhy = "its source cannot be read";
  if (!zWhy && (fflush(out) || fsync(fileno(out)))) zWhy = strerror(errno);
  if (out && fclose(out) && !zWhy) zWhy = strerror(errno);
  if (!zWhy && rename(zTmp, zPath)) zWhy = strerror(errno);
  if (!zWhy) vgd_fsync_path(zDir, 1);
  if (zWhy) {
    *pzErr = vgd_mprintf("cannot put %s: %s", zPath, zWhy);
    unlink(zTmp);
  }
  free(zDir);
  free(zTmp);
  free(zPath);
  return zWhy ? -1 : 0;
}

/* ---- S3 requests ------------------------------------------------------- */

typedef struct Buf Buf;
struct Buf {
  char *a;
  size_t n, cap;
};

static int buf_add(Buf *b, const void *a, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = (b->n + n + 1) * 2;
    char *aNew = realloc(b->a, cap);
    if (!aNew) return -1;
    b->a = aNew;
    b->cap = cap;
  }
  memcpy(b->a + b->n, a, n);
  b->n += n;
  b->a[b->n] = 0;
  return 0;
}

/* One request's reply: a 2xx body goes to out when given, else to body. */
typedef struct Reply Reply;
struct Reply {
  CURL *curl;
  FILE *out;
  Buf body;
  int bWriteFailed;
  char zEtag[80]; /* a part's ETag, for the list that completes an upload */
};

static size_t on_reply_header(char *a, size_t size, size_t n, void *pCtx) {
  Reply *r = pCtx;
  size_t len = size * n;
  if (len > 5 && !strncasecmp(a, "etag:", 5)) {
    size_t i = 5, j = len;
    while (i < j && (a[i] == ' ' || a[i] == '\t')) i++;
    while (j > i && (a[j - 1] == '\r' || a[j - 1] == '\n' || a[j - 1] == ' ')) j--;
    snprintf(r->zEtag, sizeof r->zEtag, "%.*s", (int)(j - i), a + i);
  }
  return len;
}

static size_t on_reply_bytes(char *a, size_t size, size_t n, void *pCtx) {
  Reply *r = pCtx;
  long status = 0;
  curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &status);
  if (r->out && status / 100 == 2) {
    if (fwrite(a, size, n, r->out) != n) {
      r->bWriteFailed = 1;
      return 0;
    }
    return n;
  }
  if (r->body.n < 64 * 1024 * 1024 && buf_add(&r->body, a, size * n) == 0) return n;
  return 0;
}

typedef struct Upload Upload;
struct Upload {
  const unsigned char *a;
  size_t n, at;
};

static size_t on_upload_bytes(char *a, size_t size, size_t n, void *pCtx) {
  Upload *u = pCtx;
  size_t take = u->n - u->at < size * n ? u->n - u->at : size * n;
  memcpy(a, u->a + u->at, take);
  u->at += take;
  return take;
}

/* A request under way ends when the server stops. */
static int on_progress(void *pCtx, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
  (void)a, (void)b, (void)c, (void)d;
  const VgdObjStore *p = pCtx;
  return p->pbCancel && *p->pbCancel;
}

static int cancelled(const VgdObjStore *p) {
  return p->pbCancel && *p->pbCancel;
}

static void sha256_hex(const unsigned char *a, size_t n, char *zHex) {
  unsigned char h[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(h, a, n);
  sodium_bin2hex(zHex, 2 * sizeof h + 1, h, sizeof h);
}

/* The text between <zTag> and </zTag> from *pz on, XML entities decoded,
** malloc'd; *pz moves past it.  NULL when there is none. */
static char *xml_next(const char **pz, const char *zTag) {
  char zOpen[64], zClose[64];
  snprintf(zOpen, sizeof zOpen, "<%s>", zTag);
  snprintf(zClose, sizeof zClose, "</%s>", zTag);
  const char *zA = strstr(*pz, zOpen), *zB = zA ? strstr(zA, zClose) : NULL;
  if (!zB) return NULL;
  zA += strlen(zOpen);
  char *zOut = malloc((size_t)(zB - zA) + 1), *q = zOut;
  if (!zOut) return NULL;
  static const char *aEnt[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}};
  for (const char *s = zA; s < zB;) {
    int bDone = 0;
    for (size_t i = 0; *s == '&' && i < sizeof aEnt / sizeof aEnt[0] && !bDone; i++) {
      size_t n = strlen(aEnt[i][0]);
      if (!strncmp(s, aEnt[i][0], n)) {
        *q++ = aEnt[i][1][0];
        s += n;
        bDone = 1;
      }
    }
    if (!bDone) *q++ = *s++;
  }
  *q = 0;
  *pz = zB + strlen(zClose);
  return zOut;
}

/* Milliseconds to wait before attempt i (1, 2, …): full jitter on an
** exponential ceiling, so boxes that lost the store together come back
** spread out. */
static unsigned backoff_ms(int i) {
  unsigned ceiling = 200u << (i < 5 ? i : 5);
  if (ceiling > 5000) ceiling = 5000;
  return ceiling / 4 + randombytes_uniform(ceiling - ceiling / 4);
}

/* One S3 request, tried up to MAX_ATTEMPTS times: zMethod on the object
** zKey (under the prefix; "" for the bucket), zQuery ("" or "a=b&c=d",
** sorted and encoded as SigV4 signs it), with body a[n].  *pStatus the
** last HTTP status (0: no reply); 2xx bodies go to out when given (it is
** rewound for each attempt), others and out-less ones to pBody. */
static int s3_request(VgdObjStore *p, const char *zMethod, const char *zKey, const char *zQuery,
                      const unsigned char *a, size_t n, const char *zContentType, FILE *out, long *pStatus, Buf *pBody,
                      char **pzErr) {
  char zHash[65], *zUrl = vgd_mprintf("%s%s%s%s%s", p->zBase, *zKey ? p->zPrefix : "", zKey, *zQuery ? "?" : "",
                                      zQuery);
  char *zHashHeader = NULL;
  sha256_hex(a ? a : (const unsigned char *)"", a ? n : 0, zHash);
  zHashHeader = vgd_mprintf("x-amz-content-sha256: %s", zHash);
  char *zType = vgd_mprintf("Content-Type: %s", zContentType ? zContentType : "application/octet-stream");
  int rc = -1;
  *pStatus = 0;
  for (int attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    Reply r = {curl_easy_init(), out, {0}, 0, ""};
    if (!r.curl) {
      free(*pzErr);
      *pzErr = vgd_mprintf("out of memory");
      break;
    }
    if (out) {
      rewind(out);
      if (ftruncate(fileno(out), 0)) {
        free(*pzErr);
        *pzErr = vgd_mprintf("cannot write a work file: %s", strerror(errno));
        curl_easy_cleanup(r.curl);
        break;
      }
    }
    struct curl_slist *pH = curl_slist_append(NULL, zHashHeader);
    /* set, not blanked: curl signs a blanked header as empty, and sends none */
    pH = curl_slist_append(pH, zType);
    Upload up = {a, a ? n : 0, 0};
    curl_easy_setopt(r.curl, CURLOPT_URL, zUrl);
    curl_easy_setopt(r.curl, CURLOPT_AWS_SIGV4, p->zSigV4);
    curl_easy_setopt(r.curl, CURLOPT_USERPWD, p->zUserPwd);
    curl_easy_setopt(r.curl, CURLOPT_HTTPHEADER, pH);
    curl_easy_setopt(r.curl, CURLOPT_WRITEFUNCTION, on_reply_bytes);
    curl_easy_setopt(r.curl, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_HEADERFUNCTION, on_reply_header);
    curl_easy_setopt(r.curl, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(r.curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r.curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(r.curl, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(r.curl, CURLOPT_XFERINFODATA, p);
    curl_easy_setopt(r.curl, CURLOPT_CONNECTTIMEOUT, 10L);
    /* a store that stalls is left, not waited for: below 1 KB/s for 30 s */
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_LIMIT,
                     p->maxBytesPerSecond > 0 && p->maxBytesPerSecond < 2048 ? (long)(p->maxBytesPerSecond / 2) : 1024L);
    curl_easy_setopt(r.curl, CURLOPT_LOW_SPEED_TIME, 30L);
    if (p->maxBytesPerSecond > 0) {
      curl_easy_setopt(r.curl, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)p->maxBytesPerSecond);
      curl_easy_setopt(r.curl, CURLOPT_MAX_RECV_SPEED_LARGE, (curl_off_t)p->maxBytesPerSecond);
    }
    if (!strcmp(zMethod, "PUT")) {
      curl_easy_setopt(r.curl, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(r.curl, CURLOPT_READFUNCTION, on_upload_bytes);
      curl_easy_setopt(r.curl, CURLOPT_READDATA, &up);
      curl_easy_setopt(r.curl, CURLOPT_INFILESIZE_LARGE, (curl_off_t)up.n);
    } else if (!strcmp(zMethod, "POST")) {
      curl_easy_setopt(r.curl, CURLOPT_POSTFIELDS, a ? (const char *)a : "");
      curl_easy_setopt(r.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)up.n);
    } else if (strcmp(zMethod, "GET")) {
      curl_easy_setopt(r.curl, CURLOPT_CUSTOMREQUEST, zMethod);
    }
    CURLcode cc = curl_easy_perform(r.curl);
    curl_easy_getinfo(r.curl, CURLINFO_RESPONSE_CODE, pStatus);
    curl_easy_cleanup(r.curl);
    curl_slist_free_all(pH);
    int bRetry = 0;
    free(*pzErr);
    *pzErr = NULL;
    if (r.bWriteFailed) {
      *pzErr = vgd_mprintf("cannot write a work file: %s", strerror(errno));
    } else if (cc != CURLE_OK) {
      *pzErr = vgd_mprintf("%s %s: %s", zMethod, zUrl, curl_easy_strerror(cc));
      bRetry = 1;
      *pStatus = 0;
    } else if (*pStatus / 100 == 2) {
      rc = 0;
      memcpy(p->zLastEtag, r.zEtag, sizeof p->zLastEtag);
    } else {
      const char *z = r.body.a ? r.body.a : "";
      char *zCode = xml_next(&z, "Code");
      z = r.body.a ? r.body.a : "";
      char *zMsg = xml_next(&z, "Message");
      *pzErr = vgd_mprintf("%s %s: HTTP %ld%s%s%s%s", zMethod, zUrl, *pStatus, zCode ? " " : "", zCode ? zCode : "",
                           zMsg ? ": " : "", zMsg ? zMsg : "");
      free(zCode);
      free(zMsg);
      bRetry = *pStatus == 408 || *pStatus == 429 || *pStatus >= 500;
    }
    if (pBody && rc == 0) {
      free(pBody->a);
      *pBody = r.body;
    } else {
      free(r.body.a);
    }
    if (rc == 0 || !bRetry || cancelled(p)) break;
    for (unsigned ms = attempt < MAX_ATTEMPTS ? backoff_ms(attempt) : 0; ms > 0 && !cancelled(p);) {
      unsigned step = ms < 50 ? ms : 50;
      usleep(step * 1000u);
      ms -= step;
    }
  }
  free(zType);
  free(zHashHeader);
  free(zUrl);
  return rc;
}

/* Up to n bytes of in into a, or -1 when it cannot be read. */
static long long read_up_to(FILE *in, unsigned char *a, size_t n) {
  size_t got = fread(a, 1, n, in);
  return got < n && ferror(in) ? -1 : (long long)got;
}

/* A multipart upload of in (its first part already in a[n]). */
static int s3_put_parts(VgdObjStore *p, const char *zName, FILE *in, unsigned char *a, size_t n, char **pzErr) {
  long status = 0;
  Buf body = {0};
  if (s3_request(p, "POST", zName, "uploads=", NULL, 0, NULL, NULL, &status, &body, pzErr)) return -1;
  const char *z = body.a ? body.a : "";
  char *zId = xml_next(&z, "UploadId");
  free(body.a);
  memset(&body, 0, sizeof body);
  if (!zId) {
    *pzErr = vgd_mprintf("POST %s?uploads: no UploadId in the reply", zName);
    return -1;
  }
  char *zIdEnc = curl_easy_escape(NULL, zId, 0);
  Buf done = {0};
  int rc = buf_add(&done, "<CompleteMultipartUpload>", 25);
  for (int iPart = 1; rc == 0 && n > 0; iPart++) {
    char *zQuery = vgd_mprintf("partNumber=%d&uploadId=%s", iPart, zIdEnc);
    rc = s3_request(p, "PUT", zName, zQuery, a, n, NULL, NULL, &status, NULL, pzErr);
    free(zQuery);
    if (rc == 0) {
      char *zPart = vgd_mprintf("<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>", iPart, p->zLastEtag);
      rc = buf_add(&done, zPart, strlen(zPart));
      free(zPart);
    }
    if (rc == 0) {
      long long got = read_up_to(in, a, PART_BYTES);
      if (got < 0) {
        *pzErr = vgd_mprintf("cannot read a work file: %s", strerror(errno));
        rc = -1;
      }
      n = got < 0 ? 0 : (size_t)got;
    }
  }
  if (rc == 0) rc = buf_add(&done, "</CompleteMultipartUpload>", 26);
  if (rc && !*pzErr) *pzErr = vgd_mprintf("out of memory");
  char *zQuery = vgd_mprintf("uploadId=%s", zIdEnc);
  if (rc == 0)
    rc = s3_request(p, "POST", zName, zQuery, (unsigned char *)done.a, done.n, "application/xml", NULL, &status, &body,
                    pzErr);
  /* S3 can answer 200 to a complete that failed, with an error body */
  if (rc == 0 && body.a && strstr(body.a, "<Error>")) {
    *pzErr = vgd_mprintf("completing the upload of %s failed: %.200s", zName, body.a);
    rc = -1;
  }
  if (rc) {
    /* the parts would be kept (and billed) until aborted */
    char *zIgnored = NULL;
    s3_request(p, "DELETE", zName, zQuery, NULL, 0, NULL, NULL, &status, NULL, &zIgnored);
    free(zIgnored);
  }
  free(body.a);
  free(done.a);
  free(zQuery);
  curl_free(zIdEnc);
  free(zId);
  return rc;
}

static int s3_put(VgdObjStore *p, const char *zName, FILE *in, char **pzErr) {
  unsigned char *a = malloc(PART_BYTES);
  if (!a) {
    *pzErr = vgd_mprintf("out of memory");
    return -1;
  }
  long long n = read_up_to(in, a, PART_BYTES);
  int rc = -1;
  long status = 0;
  if (n < 0) {
    *pzErr = vgd_mprintf("cannot read a work file: %s", strerror(errno));
  } else if (n < PART_BYTES || feof(in) || (fgetc(in) == EOF && !ferror(in))) {
    rc = s3_request(p, "PUT", zName, "", a, (size_t)n, NULL, NULL, &status, NULL, pzErr);
  } else {
    fseek(in, -1, SEEK_CUR);
    rc = s3_put_parts(p, zName, in, a, (size_t)n, pzErr);
  }
  free(a);
  return rc;
}

/* ---- the interface ------------------------------------------------------ */

int vgd_obj_put(VgdObjStore *p, const char *zName, FILE *in, char **pzErr) {
  rewind(in);
  return p->zDir ? file_put(p, zName, in, pzErr) : s3_put(p, zName, in, pzErr);
}

FILE *vgd_work_file(const char *zWorkDir, char **pzErr) {
  int fd = open(zWorkDir, O_TMPFILE | O_RDWR, 0600);
  FILE *f = fd >= 0 ? fdopen(fd, "w+b") : NULL;
  if (!f) {
    *pzErr = vgd_mprintf("cannot make a work file in %s: %s", zWorkDir, strerror(errno));
    if (fd >= 0) close(fd);
  }
  return f;
}

FILE *vgd_obj_read(VgdObjStore *p, const char *zName, const char *zWorkDir, int *pbMissing, char **pzErr) {
  *pbMissing = 0;
  if (p->zDir) {
    char *zPath = file_path(p, zName);
    FILE *f = fopen(zPath, "rb");
    if (!f) {
      *pbMissing = errno == ENOENT;
      *pzErr = vgd_mprintf("cannot read %s: %s", zPath, strerror(errno));
    }
    free(zPath);
    return f;
  }
  FILE *f = vgd_work_file(zWorkDir, pzErr);
  long status = 0;
  if (f && s3_request(p, "GET", zName, "", NULL, 0, NULL, f, &status, NULL, pzErr)) {
    /* NoSuchKey, not NoSuchBucket: a wrong bucket is an error, not an
    ** empty target */
    *pbMissing = status == 404 && *pzErr && strstr(*pzErr, "NoSuchKey");
    fclose(f);
    return NULL;
  }
  if (f && fflush(f)) {
    *pzErr = vgd_mprintf("cannot write a work file: %s", strerror(errno));
    fclose(f);
    return NULL;
  }
  if (f) rewind(f);
  return f;
}

int vgd_obj_delete(VgdObjStore *p, const char *zName, char **pzErr) {
  if (p->zDir) {
    char *zPath = file_path(p, zName);
    int rc = unlink(zPath) && errno != ENOENT ? -1 : 0;
    if (rc) *pzErr = vgd_mprintf("cannot delete %s: %s", zPath, strerror(errno));
    free(zPath);
    return rc;
  }
  long status = 0;
  return s3_request(p, "DELETE", zName, "", NULL, 0, NULL, NULL, &status, NULL, pzErr);
}

/* Every object under zPrefix/ of a file:// target (one level: tenants'
** objects are not nested). */
static int file_list(VgdObjStore *p, const char *zPrefix, VgdObjVisit xVisit, void *pCtx, char **pzErr) {
  char *zDir = file_path(p, zPrefix);
  size_t n = strlen(zDir);
  while (n > 0 && zDir[n - 1] == '/') zDir[--n] = 0;
  DIR *d = opendir(zDir);
  int rc = 0;
  if (!d && errno != ENOENT) {
    *pzErr = vgd_mprintf("cannot list %s: %s", zDir, strerror(errno));
    rc = -1;
  }
  for (struct dirent *e; rc == 0 && d && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    char *zPath = vgd_mprintf("%s/%s", zDir, e->d_name), *zName = vgd_mprintf("%s%s", zPrefix, e->d_name);
    struct stat st;
    if (stat(zPath, &st) == 0) rc = xVisit(pCtx, zName, (long long)st.st_size, st.st_mtime, S_ISDIR(st.st_mode));
    free(zPath);
    free(zName);
  }
  if (d) closedir(d);
  free(zDir);
  return rc;
}

/* "2026-12-07T04:12:01.000Z" as seconds since the epoch, or 0. */
static time_t iso_time(const char *z) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  if (!z || !strptime(z, "%Y-%m-%dT%H:%M:%S", &tm)) return 0;
  return timegm(&tm);
}

static int s3_list(VgdObjStore *p, const char *zPrefix, VgdObjVisit xVisit, void *pCtx, char **pzErr) {
  char *zFull = vgd_mprintf("%s%s", p->zPrefix, zPrefix), *zFullEnc = curl_easy_escape(NULL, zFull, 0);
  char *zToken = NULL;
  int rc = 0;
  do {
    char *zTokEnc = zToken ? curl_easy_escape(NULL, zToken, 0) : NULL;
    /* SigV4 signs the query sorted by name */
    char *zQuery = zTokEnc ? vgd_mprintf("continuation-token=%s&delimiter=%%2F&list-type=2&prefix=%s", zTokEnc, zFullEnc)
                           : vgd_mprintf("delimiter=%%2F&list-type=2&prefix=%s", zFullEnc);
    long status = 0;
    Buf body = {0};
    rc = s3_request(p, "GET", "", zQuery, NULL, 0, NULL, NULL, &status, &body, pzErr);
    free(zQuery);
    curl_free(zTokEnc);
    free(zToken);
    zToken = NULL;
    const char *z = body.a ? body.a : "";
    size_t nSkip = strlen(p->zPrefix);
    for (char *zC; rc == 0 && (zC = xml_next(&z, "Contents"));) {
      const char *zz = zC;
      char *zKey = xml_next(&zz, "Key");
      zz = zC;
      char *zSize = xml_next(&zz, "Size");
      zz = zC;
      char *zMod = xml_next(&zz, "LastModified");
      if (zKey && strlen(zKey) > nSkip)
        rc = xVisit(pCtx, zKey + nSkip, zSize ? atoll(zSize) : 0, iso_time(zMod), 0);
      free(zKey);
      free(zSize);
      free(zMod);
      free(zC);
    }
    z = body.a ? body.a : "";
    for (char *zC; rc == 0 && (zC = xml_next(&z, "CommonPrefixes"));) {
      const char *zz = zC;
      char *zKey = xml_next(&zz, "Prefix");
      if (zKey && strlen(zKey) > nSkip) {
        size_t n = strlen(zKey);
        if (zKey[n - 1] == '/') zKey[n - 1] = 0;
        rc = xVisit(pCtx, zKey + nSkip, 0, 0, 1);
      }
      free(zKey);
      free(zC);
    }
    z = body.a ? body.a : "";
    char *zTrunc = xml_next(&z, "IsTruncated");
    z = body.a ? body.a : "";
    if (rc == 0 && zTrunc && !strcmp(zTrunc, "true")) zToken = xml_next(&z, "NextContinuationToken");
    free(zTrunc);
    free(body.a);
  } while (rc == 0 && zToken);
  free(zToken);
  curl_free(zFullEnc);
  free(zFull);
  return rc;
}

int vgd_obj_list(VgdObjStore *p, const char *zPrefix, VgdObjVisit xVisit, void *pCtx, char **pzErr) {
  return p->zDir ? file_list(p, zPrefix, xVisit, pCtx, pzErr) : s3_list(p, zPrefix, xVisit, pCtx, pzErr);
}
