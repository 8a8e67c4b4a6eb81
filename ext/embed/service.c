/*
** service.c — OpenAI-compatible embedding services as embedders (embed.h,
** embed section): vg_model_load(name, '{"provider": "openai", ...}').
**
** POST {url}/embeddings with {"model": ..., "input": [texts]} is the API
** that OpenAI, DeepInfra, Ollama, llama.cpp's server, vLLM and
** text-embeddings-inference all speak.  A batch goes in requests of at most
** `batch` texts.  A request that times out, cannot connect or gets a 5xx is
** tried again after a delay that doubles (with jitter, so that workers that
** failed together do not return together); a 429 waits as long as its
** Retry-After says.  Any other 4xx, a reply that is not JSON, or one with
** the wrong number of vectors or of values fails at once: trying again
** would get the same.  A failed batch is the caller's failure: the queue
** keeps the items and retries them later, as for any failure.
**
** The API key comes from an environment variable or a file named in the
** spec, never from the spec itself (SQL text ends up in shell histories
** and logs), and never goes into a message: every error is scrubbed of it.
*/
#include "base/base.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed/embed.h"

/* Limits of the spec's settings, and what the service may send back. */
#define SERVICE_MAX_BATCH 2048
#define SERVICE_MAX_RETRY_AFTER 60     /* seconds a 429 may ask us to wait */
#define SERVICE_MAX_BACKOFF_MS 30000
/* A reply's bytes: room for its vectors' numbers as JSON writes them,
** and some. */
#define SERVICE_REPLY_BYTES(nText, nDims) (65536 + (size_t)(nText) * (size_t)(nDims) * 32)
#define SERVICE_MAX_KEY 4096

typedef struct Service {
  VgEmbedder base;
  char *zName;
  char *zUrl;    /* {url}/embeddings */
  char *zShown;  /* zUrl as messages show it: credentials and query masked */
  char *zModel;
  char *zKey;    /* 0: no Authorization header */
  int nBatch, nTimeoutMs, nRetry, nBackoffMs;
  CURL *pCurl;   /* kept between requests, for keep-alive */
} Service;

/* ---- the spec ----------------------------------------------------------- */

typedef struct ServiceSpec {
  char *zProvider, *zUrl, *zModel, *zKeyEnv, *zKeyFile;
  int nDims, nBatch, nTimeoutMs, nRetry, nBackoffMs, nMaxTokens;
} ServiceSpec;

static void spec_clear(ServiceSpec *s) {
  sqlite3_free(s->zProvider);
  sqlite3_free(s->zUrl);
  sqlite3_free(s->zModel);
  sqlite3_free(s->zKeyEnv);
  sqlite3_free(s->zKeyFile);
}

static const char zSpecKeys[] =
    "provider, url, model, dims, api_key_env, api_key_file, batch, timeout_ms, retries, backoff_ms, max_tokens";

/* One member of the spec. */
static char *spec_member(ServiceSpec *s, const char *zKey, const char *zType, sqlite3_stmt *p) {
  static const struct {
    const char *zKey;
    size_t iOff;
    int lo, hi;
  } aInt[] = {
      {"dims", offsetof(ServiceSpec, nDims), 1, VG_MAX_DIMS},
      {"batch", offsetof(ServiceSpec, nBatch), 1, SERVICE_MAX_BATCH},
      {"timeout_ms", offsetof(ServiceSpec, nTimeoutMs), 1, 600000},
      {"retries", offsetof(ServiceSpec, nRetry), 0, 10},
      {"backoff_ms", offsetof(ServiceSpec, nBackoffMs), 0, SERVICE_MAX_BACKOFF_MS},
      {"max_tokens", offsetof(ServiceSpec, nMaxTokens), 1, 100000},
  };
  static const struct {
    const char *zKey;
    size_t iOff;
  } aText[] = {
      {"provider", offsetof(ServiceSpec, zProvider)}, {"url", offsetof(ServiceSpec, zUrl)},
      {"model", offsetof(ServiceSpec, zModel)},       {"api_key_env", offsetof(ServiceSpec, zKeyEnv)},
      {"api_key_file", offsetof(ServiceSpec, zKeyFile)},
  };
  for (size_t i = 0; i < sizeof aInt / sizeof aInt[0]; i++) {
    if (strcmp(zKey, aInt[i].zKey) != 0) continue;
    sqlite3_int64 v = sqlite3_column_int64(p, 3);
    if (strcmp(zType, "integer") != 0 || v < aInt[i].lo || v > aInt[i].hi) {
      return sqlite3_mprintf("%s must be a whole number from %d to %d", zKey, aInt[i].lo, aInt[i].hi);
    }
    *(int *)((char *)s + aInt[i].iOff) = (int)v;
    return 0;
  }
  for (size_t i = 0; i < sizeof aText / sizeof aText[0]; i++) {
    if (strcmp(zKey, aText[i].zKey) != 0) continue;
    const char *z = (const char *)sqlite3_column_text(p, 3);
    if (strcmp(zType, "text") != 0 || z == 0 || z[0] == 0 || (int)strlen(z) != sqlite3_column_bytes(p, 3)) {
      return sqlite3_mprintf("%s must be non-empty text without a NUL", zKey);
    }
    char **pz = (char **)((char *)s + aText[i].iOff);
    sqlite3_free(*pz);
    *pz = sqlite3_mprintf("%s", z);
    return *pz ? 0 : sqlite3_mprintf("out of memory");
  }
  if (strcmp(zKey, "api_key") == 0) {
    return sqlite3_mprintf("the spec must not hold the key itself (SQL text reaches shell histories and logs): "
                           "name an environment variable with api_key_env or a file with api_key_file");
  }
  return sqlite3_mprintf("unknown key \"%s\" in the spec (keys: %s)", zKey, zSpecKeys);
}

static char *spec_read(sqlite3 *db, const char *zSpec, ServiceSpec *s) {
  memset(s, 0, sizeof(*s));
  s->nBatch = 64;
  s->nTimeoutMs = 30000;
  s->nRetry = 3;
  s->nBackoffMs = 500;
  s->nMaxTokens = 512;
  sqlite3_stmt *p = 0;
  if (sqlite3_prepare_v2(db, "SELECT 1, f.key, f.type, f.value FROM json_each(?1) AS f", -1, &p, 0) != SQLITE_OK) {
    return sqlite3_mprintf("%s", sqlite3_errmsg(db));
  }
  sqlite3_bind_text(p, 1, zSpec, -1, SQLITE_STATIC);
  char *zErr = 0;
  while (zErr == 0 && sqlite3_step(p) == SQLITE_ROW) {
    zErr = spec_member(s, (const char *)sqlite3_column_text(p, 1), (const char *)sqlite3_column_text(p, 2), p);
  }
  sqlite3_finalize(p);
  if (zErr) return zErr;
  if (s->zProvider == 0 || strcmp(s->zProvider, "openai") != 0) {
    return sqlite3_mprintf("provider must be \"openai\" (the POST {url}/embeddings API that OpenAI, Ollama, "
                           "llama.cpp, vLLM and text-embeddings-inference speak)");
  }
  if (s->zUrl == 0 || (sqlite3_strnicmp(s->zUrl, "http://", 7) != 0 && sqlite3_strnicmp(s->zUrl, "https://", 8) != 0)) {
    return sqlite3_mprintf("url must be the service's base URL, http:// or https://, such as "
                           "\"http://127.0.0.1:11434/v1\"");
  }
  if (s->zModel == 0) return sqlite3_mprintf("model must name the service's model, such as \"nomic-embed-text\"");
  if (s->nDims == 0) {
    return sqlite3_mprintf("dims must give the dimension of the service's vectors (checked on every reply)");
  }
  if (s->zKeyEnv && s->zKeyFile) return sqlite3_mprintf("give api_key_env or api_key_file, not both");
  return 0;
}

/* The key the spec names, or 0 when it names none; an error otherwise. */
/* A key goes into a header line: no control characters or spaces. */
static int key_ok(const char *z) {
  for (; *z; z++) {
    if ((unsigned char)*z <= ' ' || *z == 0x7f) return 0;
  }
  return 1;
}

static char *key_read(const ServiceSpec *s, char **pzKey) {
  *pzKey = 0;
  if (s->zKeyEnv) {
    const char *z = getenv(s->zKeyEnv);
    if (z == 0 || z[0] == 0) {
      return sqlite3_mprintf("api_key_env: the environment variable %s is not set (or empty) in this process",
                             s->zKeyEnv);
    }
    if (strlen(z) > SERVICE_MAX_KEY) return sqlite3_mprintf("api_key_env: %s is longer than %d bytes", s->zKeyEnv,
                                                            SERVICE_MAX_KEY);
    *pzKey = sqlite3_mprintf("%s", z);
  } else if (s->zKeyFile) {
    FILE *f = fopen(s->zKeyFile, "r");
    if (f == 0) return sqlite3_mprintf("api_key_file: cannot open %s: %s", s->zKeyFile, strerror(errno));
    char zLine[SERVICE_MAX_KEY + 2];
    int bRead = fgets(zLine, sizeof zLine, f) != 0;
    fclose(f);
    size_t n = bRead ? strcspn(zLine, "\r\n") : 0;
    zLine[n] = 0;
    if (n == 0 || n > SERVICE_MAX_KEY) {
      sodium_memzero(zLine, sizeof zLine);
      return sqlite3_mprintf("api_key_file: the first line of %s must hold the key (1 to %d bytes)", s->zKeyFile,
                             SERVICE_MAX_KEY);
    }
    *pzKey = sqlite3_mprintf("%s", zLine);
    sodium_memzero(zLine, sizeof zLine);
  } else {
    return 0;
  }
  if (*pzKey && !key_ok(*pzKey)) {
    sodium_memzero(*pzKey, strlen(*pzKey));
    sqlite3_free(*pzKey);
    *pzKey = 0;
    return sqlite3_mprintf("%s: the key holds a space or a control character", s->zKeyEnv ? "api_key_env" :
                                                                                              "api_key_file");
  }
  return *pzKey ? 0 : sqlite3_mprintf("out of memory");
}

/* ---- requests ----------------------------------------------------------- */

/* zMsg with every occurrence of the key replaced; takes zMsg.  The
** search goes on after each replacement, which may itself hold the key
** ("key" is a key some local servers take). */
static char *scrub(const Service *s, char *zMsg) {
  if (zMsg == 0 || s->zKey == 0) return zMsg;
  size_t nKey = strlen(s->zKey);
  sqlite3_str *out = sqlite3_str_new(0);
  const char *z = zMsg, *zHit;
  while ((zHit = strstr(z, s->zKey)) != 0) {
    sqlite3_str_append(out, z, (int)(zHit - z));
    sqlite3_str_appendall(out, "[key]");
    z = zHit + nKey;
  }
  sqlite3_str_appendall(out, z);
  sqlite3_free(zMsg);
  return sqlite3_str_finish(out);
}

/* A reply, as it arrives. */
typedef struct Reply {
  char *a;
  size_t n, nAlloc, nMax;
  int bTooBig;
  long nRetryAfter; /* seconds, or -1 */
} Reply;

static size_t on_body(char *p, size_t size, size_t n, void *pArg) {
  Reply *r = pArg;
  size_t nNew = size * n;
  if (r->n + nNew > r->nMax) {
    r->bTooBig = 1;
    return 0; /* curl stops with CURLE_WRITE_ERROR */
  }
  if (r->n + nNew + 1 > r->nAlloc) {
    size_t nAlloc = (r->n + nNew + 1) * 2;
    char *a = sqlite3_realloc64(r->a, nAlloc);
    if (a == 0) return 0;
    r->a = a;
    r->nAlloc = nAlloc;
  }
  memcpy(r->a + r->n, p, nNew);
  r->n += nNew;
  r->a[r->n] = 0;
  return nNew;
}

static size_t on_header(char *p, size_t size, size_t n, void *pArg) {
  Reply *r = pArg;
  size_t nByte = size * n;
  if (nByte > 12 && sqlite3_strnicmp(p, "Retry-After:", 12) == 0) {
    char zVal[32];
    size_t nVal = nByte - 12 < sizeof zVal - 1 ? nByte - 12 : sizeof zVal - 1;
    memcpy(zVal, p + 12, nVal);
    zVal[nVal] = 0;
    char *zEnd = 0;
    long v = strtol(zVal, &zEnd, 10);
    /* Seconds only; an HTTP date falls back on our own backoff. */
    r->nRetryAfter = zEnd != zVal && v >= 0 ? v : -1;
  }
  return nByte;
}

/* The request body for texts az[0, n). */
static char *request_body(const Service *s, int n, const char *const *az, const int *an, char **pzErr) {
  json_t *jInput = json_array();
  json_t *jBody = json_pack("{s:s, s:o}", "model", s->zModel, "input", jInput);
  char *zOut = 0;
  for (int i = 0; jBody && i < n; i++) {
    /* The text as the embedder reads it: cut after nMaxTokens words. */
    int nTok = vg_tokens(az[i], an[i], 0, 0, 0), nUse = an[i];
    if (nTok > s->base.nMaxTokens) {
      int *aOff = sqlite3_malloc64(sizeof(int) * 2 * (size_t)s->base.nMaxTokens);
      if (aOff == 0) break;
      vg_tokens(az[i], an[i], s->base.nMaxTokens, aOff, aOff + s->base.nMaxTokens);
      nUse = aOff[2 * s->base.nMaxTokens - 1];
      sqlite3_free(aOff);
    }
    json_t *jText = json_stringn(az[i], (size_t)nUse);
    if (jText == 0) {
      *pzErr = sqlite3_mprintf("text %d is not valid UTF-8: a service takes JSON text", i);
      json_decref(jBody);
      return 0;
    }
    json_array_append_new(jInput, jText);
  }
  if (jBody && (int)json_array_size(jInput) == n) zOut = json_dumps(jBody, JSON_COMPACT);
  json_decref(jBody);
  return zOut;
}

/* The vectors of a reply to n texts into aOut; an error otherwise. */
static char *reply_vectors(const Service *s, const Reply *r, int n, float *aOut) {
  json_error_t err;
  json_t *j = json_loadb(r->a ? r->a : "", r->n, 0, &err);
  json_t *jData = json_object_get(j, "data");
  char *zErr = 0;
  if (j == 0 || !json_is_array(jData)) {
    zErr = sqlite3_mprintf("the reply is not valid JSON with a \"data\" array (%s)", j ? "no data" : err.text);
  } else if ((int)json_array_size(jData) != n) {
    zErr = sqlite3_mprintf("the reply returned %d embeddings for %d texts", (int)json_array_size(jData), n);
  }
  unsigned char *aSeen = zErr ? 0 : sqlite3_malloc64((size_t)n + 1);
  if (zErr == 0 && aSeen == 0) zErr = sqlite3_mprintf("out of memory");
  if (aSeen) memset(aSeen, 0, (size_t)n);
  for (int i = 0; zErr == 0 && i < n; i++) {
    json_t *e = json_array_get(jData, (size_t)i);
    json_t *jIndex = json_object_get(e, "index"), *jVec = json_object_get(e, "embedding");
    /* Replies may come in any order: "index" says whose vector it is. */
    json_int_t k = jIndex ? (json_is_integer(jIndex) ? json_integer_value(jIndex) : -1) : i;
    if (k < 0 || k >= n || aSeen[k]) {
      zErr = sqlite3_mprintf("the reply's item %d has index %lld: each of 0 to %d is expected once", i, (long long)k,
                             n - 1);
    } else if (!json_is_array(jVec)) {
      zErr = sqlite3_mprintf("the reply's item %d has no \"embedding\" array (ask for float vectors, not base64)", i);
    } else if ((int)json_array_size(jVec) != s->base.nDims) {
      zErr = sqlite3_mprintf("the reply's embedding %d has %d values: dimension mismatch, the spec says dims %d",
                             (int)k, (int)json_array_size(jVec), s->base.nDims);
    }
    for (int d = 0; zErr == 0 && d < s->base.nDims; d++) {
      json_t *x = json_array_get(jVec, (size_t)d);
      if (!json_is_number(x)) {
        zErr = sqlite3_mprintf("the reply's embedding %d has a value %d that is not a number", (int)k, d);
      } else {
        aOut[(size_t)k * (size_t)s->base.nDims + (size_t)d] = (float)json_number_value(x);
      }
    }
    if (zErr == 0) aSeen[k] = 1;
  }
  sqlite3_free(aSeen);
  json_decref(j);
  return zErr;
}

/* What the service's error body says, if it says something: OpenAI's
** {"error": {"message": ...}}, or a short plain body.  Scrubbed of the key
** before it is cut short, so that no part of the key is left at the cut. */
static char *reply_message(const Service *s, const Reply *r) {
  if (r->n == 0) return sqlite3_mprintf("%s", "");
  json_t *j = json_loadb(r->a, r->n, 0, 0);
  json_t *jErr = json_object_get(j, "error");
  const char *z = json_string_value(json_is_object(jErr) ? json_object_get(jErr, "message") : jErr);
  char *zWhole = scrub(s, sqlite3_mprintf("%s", z ? z : r->a));
  json_decref(j);
  char *zOut = zWhole ? sqlite3_mprintf(": %.*s", z ? 300 : 200, zWhole) : 0;
  sqlite3_free(zWhole);
  return zOut;
}

/* Free the headers, the key's line zeroed first. */
static void headers_free(struct curl_slist *p) {
  for (struct curl_slist *q = p; q; q = q->next) sodium_memzero(q->data, strlen(q->data));
  curl_slist_free_all(p);
}

/* One request for texts az[0, n), tried as the retry rules say.  *pbWhole
** is set when the failure is the service's as a whole (unreachable, timing
** out, 5xx, 429), not the texts'. */
static char *post_batch(Service *s, int n, const char *const *az, const int *an, float *aOut, int *pbWhole) {
  char *zErr = 0;
  char *zBody = request_body(s, n, az, an, &zErr);
  if (zBody == 0) return zErr ? zErr : sqlite3_mprintf("out of memory");
  /* No "Expect: 100-continue": curl would wait a second on a large body. */
  struct curl_slist *pHead = curl_slist_append(0, "Content-Type: application/json");
  struct curl_slist *pExpect = pHead ? curl_slist_append(pHead, "Expect:") : 0;
  if (pExpect == 0) {
    curl_slist_free_all(pHead);
    pHead = 0;
  }
  if (pHead && s->zKey) {
    char *zAuth = sqlite3_mprintf("Authorization: Bearer %s", s->zKey);
    struct curl_slist *p2 = zAuth ? curl_slist_append(pHead, zAuth) : 0;
    if (zAuth) sodium_memzero(zAuth, strlen(zAuth));
    sqlite3_free(zAuth);
    if (p2 == 0) {
      headers_free(pHead);
      pHead = 0;
    } else {
      pHead = p2;
    }
  }
  if (pHead == 0) {
    free(zBody);
    return sqlite3_mprintf("out of memory");
  }
  long nDelay = s->nBackoffMs;
  size_t nReplyMax = SERVICE_REPLY_BYTES(n, s->base.nDims);
  for (int iTry = 0;; iTry++) {
    Reply r = {0, 0, 0, nReplyMax, 0, -1};
    CURL *c = s->pCurl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, s->zUrl);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, pHead);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, zBody);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)s->nTimeoutMs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    CURLcode cc = curl_easy_perform(c);
    long nStatus = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &nStatus);
    int bRetry = 0;
    long nWait = -1; /* ms: -1 is our own backoff */
    sqlite3_free(zErr);
    zErr = 0;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
      zErr = sqlite3_mprintf("POST %s timed out after %d ms", s->zShown, s->nTimeoutMs);
      bRetry = 1;
    } else if (cc != CURLE_OK && r.bTooBig) {
      zErr = sqlite3_mprintf("POST %s: the reply is longer than %zu bytes, too long for %d vectors of %d values",
                             s->zShown, nReplyMax, n, s->base.nDims);
    } else if (cc != CURLE_OK) {
      /* curl's own words, not its error buffer, which holds timings. */
      zErr = sqlite3_mprintf("could not reach %s (%s)", s->zShown, curl_easy_strerror(cc));
      /* A bad URL or certificate stays bad on the next attempt. */
      bRetry = cc != CURLE_URL_MALFORMAT && cc != CURLE_UNSUPPORTED_PROTOCOL && cc != CURLE_OUT_OF_MEMORY &&
               cc != CURLE_PEER_FAILED_VERIFICATION && cc != CURLE_SSL_CACERT_BADFILE &&
               cc != CURLE_SSL_CERTPROBLEM && cc != CURLE_SSL_CONNECT_ERROR;
    } else if (nStatus == 200) {
      zErr = reply_vectors(s, &r, n, aOut);
    } else {
      char *zWhy = reply_message(s, &r);
      zErr = sqlite3_mprintf("POST %s: HTTP %ld%s", s->zShown, nStatus, zWhy ? zWhy : "");
      sqlite3_free(zWhy);
      if (nStatus == 429 && r.nRetryAfter > SERVICE_MAX_RETRY_AFTER) {
        char *z = sqlite3_mprintf("%s (the service asks to wait %ld s, longer than the %d s waited here)", zErr,
                                  r.nRetryAfter, SERVICE_MAX_RETRY_AFTER);
        sqlite3_free(zErr);
        zErr = z;
      } else if (nStatus == 429) {
        bRetry = 1;
        if (r.nRetryAfter >= 0) nWait = r.nRetryAfter * 1000;
      } else {
        bRetry = nStatus >= 500;
      }
    }
    sqlite3_free(r.a);
    *pbWhole = bRetry || (nStatus == 429);
    if (zErr == 0 || !bRetry || iTry >= s->nRetry) {
      if (zErr && iTry > 0) {
        char *z = sqlite3_mprintf("%s (after %d attempts)", zErr, iTry + 1);
        sqlite3_free(zErr);
        zErr = z;
      }
      break;
    }
    if (nWait < 0) {
      /* Jitter: a factor from 0.5 to 1. */
      unsigned int u = 0;
      sqlite3_randomness(sizeof u, &u);
      nWait = nDelay / 2 + (long)((double)(nDelay - nDelay / 2) * (u / 4294967296.0));
      nDelay = nDelay * 2 > SERVICE_MAX_BACKOFF_MS ? SERVICE_MAX_BACKOFF_MS : nDelay * 2;
    }
    sqlite3_sleep((int)nWait);
  }
  headers_free(pHead);
  free(zBody);
  return zErr;
}

static int service_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText, float *aOut,
                         char **pzErr) {
  Service *s = (Service *)p;
  for (int i = 0; i < nText; i += s->nBatch) {
    int n = nText - i < s->nBatch ? nText - i : s->nBatch;
    int bWhole = 0;
    char *zErr = post_batch(s, n, azText + i, anText + i, aOut + (size_t)i * (size_t)p->nDims, &bWhole);
    if (zErr) {
      *pzErr = scrub(s, sqlite3_mprintf("model \"%s\": %s", s->zName, zErr));
      sqlite3_free(zErr);
      /* The queue then fails the batch's items together, instead of
      ** trying each alone against a service that is down. */
      return bWhole ? SQLITE_IOERR : SQLITE_ERROR;
    }
  }
  return SQLITE_OK;
}

static void service_destroy(VgEmbedder *p) {
  Service *s = (Service *)p;
  if (s->pCurl) curl_easy_cleanup(s->pCurl);
  if (s->zKey) sodium_memzero(s->zKey, strlen(s->zKey));
  sqlite3_free(s->zKey);
  sqlite3_free(s->zName);
  sqlite3_free(s->zUrl);
  sqlite3_free(s->zShown);
  sqlite3_free(s->zModel);
  sqlite3_free(s);
}

/* ---- opening one -------------------------------------------------------- */

static pthread_once_t curlOnce = PTHREAD_ONCE_INIT;
static int curlInitRc;
static void curl_init_once(void) { curlInitRc = (int)curl_global_init(CURL_GLOBAL_DEFAULT); }

/* zUrl with what may be secret masked, for messages and vg_models: the
** user and password before '@' and the query string (some services take
** a key there). */
static char *url_shown(const char *zUrl) {
  const char *zHost = strstr(zUrl, "://") ? strstr(zUrl, "://") + 3 : zUrl;
  size_t nAuthority = strcspn(zHost, "/?#");
  const char *zAt = memchr(zHost, '@', nAuthority);
  const char *zQuery = strchr(zHost, '?');
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_append(out, zUrl, (int)(zHost - zUrl));
  if (zAt) sqlite3_str_appendall(out, "[credentials]@");
  const char *zRest = zAt ? zAt + 1 : zHost;
  sqlite3_str_append(out, zRest, zQuery ? (int)(zQuery - zRest) : (int)strlen(zRest));
  if (zQuery) sqlite3_str_appendall(out, "?[query]");
  return sqlite3_str_finish(out);
}

static char *service_info(const Service *s, const ServiceSpec *spec) {
  sqlite3_str *out = sqlite3_str_new(0);
  sqlite3_str_appendall(out, "{\"name\":");
  vg_str_append_json(out, s->zName, -1);
  sqlite3_str_appendf(out, ",\"kind\":\"openai\",\"dims\":%d,\"max_tokens\":%d,\"url\":", s->base.nDims,
                      s->base.nMaxTokens);
  char *zShown = url_shown(spec->zUrl);
  vg_str_append_json(out, zShown ? zShown : "", -1);
  sqlite3_free(zShown);
  sqlite3_str_appendall(out, ",\"model\":");
  vg_str_append_json(out, s->zModel, -1);
  sqlite3_str_appendf(out, ",\"batch\":%d,\"timeout_ms\":%d,\"retries\":%d}", s->nBatch, s->nTimeoutMs, s->nRetry);
  return sqlite3_str_finish(out);
}

int vg_service_open(sqlite3 *db, const char *zName, const char *zSpec, VgEmbedder **ppOut, char **pzInfo,
                    char **pzErr) {
  *ppOut = 0;
  *pzInfo = 0;
  ServiceSpec spec;
  char *zKey = 0;
  *pzErr = spec_read(db, zSpec, &spec);
  if (*pzErr == 0) *pzErr = key_read(&spec, &zKey);
  pthread_once(&curlOnce, curl_init_once);
  if (*pzErr == 0 && curlInitRc != CURLE_OK) *pzErr = sqlite3_mprintf("libcurl failed to initialize");
  Service *s = *pzErr ? 0 : sqlite3_malloc64(sizeof(*s));
  if (s) {
    memset(s, 0, sizeof(*s));
    /* {url}/embeddings, before any query string (Azure's api-version). */
    size_t nUrl = strcspn(spec.zUrl, "?");
    const char *zQuery = spec.zUrl + nUrl;
    while (nUrl > 0 && spec.zUrl[nUrl - 1] == '/') nUrl--;
    s->zName = sqlite3_mprintf("%s", zName);
    /* The base URL, as OpenAI's clients take it; a URL that already ends in
    ** the endpoint is taken as it is. */
    int bEndpoint = nUrl >= 11 && sqlite3_strnicmp(spec.zUrl + nUrl - 11, "/embeddings", 11) == 0;
    s->zUrl = sqlite3_mprintf("%.*s%s%s", (int)nUrl, spec.zUrl, bEndpoint ? "" : "/embeddings", zQuery);
    s->zShown = s->zUrl ? url_shown(s->zUrl) : 0;
    s->zModel = sqlite3_mprintf("%s", spec.zModel);
    s->zKey = zKey;
    zKey = 0;
    s->nBatch = spec.nBatch;
    s->nTimeoutMs = spec.nTimeoutMs;
    s->nRetry = spec.nRetry;
    s->nBackoffMs = spec.nBackoffMs;
    s->pCurl = curl_easy_init();
    s->base.zName = s->zName;
    s->base.nDims = spec.nDims;
    s->base.nMaxTokens = spec.nMaxTokens;
    s->base.xEmbed = service_embed;
    s->base.xDestroy = service_destroy;
    *pzInfo = s->zName && s->zUrl && s->zShown && s->zModel && s->pCurl ? service_info(s, &spec) : 0;
  }
  int rc = *pzErr ? SQLITE_ERROR : SQLITE_OK;
  if (rc == SQLITE_OK && (s == 0 || *pzInfo == 0)) rc = SQLITE_NOMEM;
  if (rc != SQLITE_OK && s) service_destroy(&s->base);
  if (rc == SQLITE_OK) *ppOut = &s->base;
  if (zKey) sodium_memzero(zKey, strlen(zKey));
  sqlite3_free(zKey);
  spec_clear(&spec);
  return rc;
}
