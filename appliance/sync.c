/*
** sync.c — each tenant's file replicated, compressed and encrypted, to a
** target the sync key's holder alone can read (docs/sync.md).  This part:
** whole snapshots to a file:// target, and restore from them.
**
** An object is zstd-compressed, then sealed with libsodium's secretstream
** (XChaCha20-Poly1305) under the tenant's key, derived from the sync key:
** a 24-byte header, then chunks of [4-byte length][sealed bytes], the last
** tagged FINAL, each chunk's additional data the object's name.  So a
** flipped byte, a cut object, a chunk moved between objects or an object
** of another tenant fails to open.  Object names are keyed hashes: they
** say nothing of what is inside.  A tenant's latest manifest is
** <tenant>/manifest; each manifest is also kept under a name derived from
** its sequence number, so a restore that finds manifest N+1 knows that a
** manifest N served as the latest is an old one put back.
**
** Manifests (they carry the tenant's PII key) are sealed from memory and
** opened into memory: their plain text never reaches a disk.  An object is
** written beside its name in the target and renamed, so a target on
** another file system (a USB stick) works, and a half-written object never
** carries a name; work files go in the data directory.
*/
#include "vecguardd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define CHUNK (64 * 1024) /* plaintext bytes per sealed chunk */

/* ---- keys and names ------------------------------------------------------ */

int vgd_sync_key_create(const char *zFile, char **pzErr) {
  int rc = vgd_key_file_create(zFile, VGD_SYNC_KEY_BYTES, pzErr);
  if (rc == SQLITE_CONSTRAINT) {
    char *zWhy = *pzErr;
    *pzErr = vgd_mprintf("%s (a sync key is never overwritten: it is the only way to read the copies)", zWhy);
    free(zWhy);
  }
  return rc == SQLITE_OK ? 0 : -1;
}

int vgd_sync_open(VgdSync *p, const char *zTarget, const char *zKeyFile, char **pzErr) {
  memset(p, 0, sizeof *p);
  if (!zTarget || strncmp(zTarget, "file://", 7) || zTarget[7] != '/') {
    *pzErr = vgd_mprintf("[sync] target \"%s\": send file:///absolute/path (s3:// targets are not built yet)",
                         zTarget ? zTarget : "");
    return -1;
  }
  if (!zKeyFile) {
    *pzErr = vgd_mprintf("[sync] key_file is missing: make one with vecguardd sync-key create FILE");
    return -1;
  }
  char *zErr = NULL;
  if (vgd_key_file_read(zKeyFile, p->key, sizeof p->key, &zErr) != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot read the sync key: %s (vecguardd sync-key create FILE makes one)", zErr);
    free(zErr);
    return -1;
  }
  p->zDir = vgd_mprintf("%s", zTarget + 7);
  if (mkdir(p->zDir, 0700) && errno != EEXIST) {
    *pzErr = vgd_mprintf("cannot create the target %s: %s", p->zDir, strerror(errno));
    vgd_sync_close(p);
    return -1;
  }
  return 0;
}

void vgd_sync_close(VgdSync *p) {
  free(p->zDir);
  sodium_memzero(p, sizeof *p);
}

/* A key of zTenant for zPurpose, from the sync key. */
static void tenant_key(const VgdSync *p, const char *zTenant, const char *zPurpose, unsigned char *aOut) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, p->key, sizeof p->key, 32);
  crypto_generichash_update(&st, (const unsigned char *)zPurpose, strlen(zPurpose) + 1);
  crypto_generichash_update(&st, (const unsigned char *)zTenant, strlen(zTenant) + 1);
  crypto_generichash_final(&st, aOut, 32);
}

/* "<tenant>/<32 hex digits>": the object of zKind and seq. */
static char *object_name(const VgdSync *p, const char *zTenant, const char *zKind, long long seq) {
  unsigned char aKey[32], aHash[16];
  char zHex[33], zMsg[64];
  tenant_key(p, zTenant, "vecguard sync names", aKey);
  snprintf(zMsg, sizeof zMsg, "%s:%lld", zKind, seq);
  crypto_generichash(aHash, sizeof aHash, (const unsigned char *)zMsg, strlen(zMsg), aKey, sizeof aKey);
  sodium_bin2hex(zHex, sizeof zHex, aHash, sizeof aHash);
  sodium_memzero(aKey, sizeof aKey);
  return vgd_mprintf("%s/%s", zTenant, zHex);
}

static char *object_path(const VgdSync *p, const char *zName) {
  return vgd_mprintf("%s/%s", p->zDir, zName);
}

/* A work directory of its own in the data directory, or NULL. */
static char *work_dir(VgdStore *pStore, char **pzErr) {
  char *zWork = vgd_mprintf("%s/.sync-XXXXXX", pStore->zDir);
  if (mkdtemp(zWork)) return zWork;
  *pzErr = vgd_mprintf("cannot make a work directory in %s: %s", pStore->zDir, strerror(errno));
  free(zWork);
  return NULL;
}

/* ---- sealing -------------------------------------------------------------- */

static int write_all(FILE *f, const void *a, size_t n) {
  return fwrite(a, 1, n, f) == n ? 0 : -1;
}

/* Seal n bytes as one chunk (bFinal: the last) under the stream state. */
static int seal_chunk(crypto_secretstream_xchacha20poly1305_state *st, const unsigned char *a, size_t n, int bFinal,
                      const char *zName, FILE *out) {
  unsigned char *c = malloc(n + crypto_secretstream_xchacha20poly1305_ABYTES);
  unsigned long long nc = 0;
  if (!c) return -1;
  crypto_secretstream_xchacha20poly1305_push(st, c, &nc, a, n, (const unsigned char *)zName, strlen(zName),
                                             bFinal ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
  unsigned char aLen[4] = {(unsigned char)nc, (unsigned char)(nc >> 8), (unsigned char)(nc >> 16),
                           (unsigned char)(nc >> 24)};
  int rc = write_all(out, aLen, 4) || write_all(out, c, (size_t)nc) ? -1 : 0;
  free(c);
  return rc;
}

/* in, compressed and sealed as object zName, to out: NULL, or why not. */
static const char *seal_stream(const VgdSync *p, const char *zTenant, const char *zName, FILE *in, FILE *out) {
  unsigned char aKey[32], aHeader[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_state st;
  ZSTD_CCtx *z = ZSTD_createCCtx();
  size_t nIn = ZSTD_CStreamInSize(), nOutCap = ZSTD_CStreamOutSize();
  unsigned char *aIn = malloc(nIn), *aOut = malloc(nOutCap), *aPlain = malloc(CHUNK);
  size_t nPlain = 0;
  const char *zWhy = z && aIn && aOut && aPlain ? NULL : "out of memory";
  tenant_key(p, zTenant, "vecguard sync data", aKey);
  if (!zWhy) {
    crypto_secretstream_xchacha20poly1305_init_push(&st, aHeader, aKey);
    if (write_all(out, aHeader, sizeof aHeader)) zWhy = "it cannot be written";
    ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3);
  }
  /* compressed bytes fill plaintext chunks; a full one is sealed when more
  ** follow, so the last sealed chunk is the one tagged FINAL */
  for (int bEof = 0; !zWhy && !bEof;) {
    size_t n = fread(aIn, 1, nIn, in);
    bEof = n < nIn;
    if (bEof && ferror(in)) zWhy = "its source cannot be read";
    ZSTD_inBuffer zin = {aIn, n, 0};
    for (int bDone = 0; !zWhy && !bDone;) {
      ZSTD_outBuffer zout = {aOut, nOutCap, 0};
      size_t left = ZSTD_compressStream2(z, &zout, &zin, bEof ? ZSTD_e_end : ZSTD_e_continue);
      if (ZSTD_isError(left)) zWhy = "zstd failed";
      for (size_t i = 0; !zWhy && i < zout.pos;) {
        if (nPlain == CHUNK) {
          if (seal_chunk(&st, aPlain, nPlain, 0, zName, out)) zWhy = "it cannot be written";
          nPlain = 0;
        }
        size_t take = zout.pos - i < CHUNK - nPlain ? zout.pos - i : CHUNK - nPlain;
        memcpy(aPlain + nPlain, aOut + i, take);
        nPlain += take;
        i += take;
      }
      bDone = bEof ? left == 0 : zin.pos == zin.size;
    }
  }
  if (!zWhy && seal_chunk(&st, aPlain, nPlain, 1, zName, out)) zWhy = "it cannot be written";
  sodium_memzero(aKey, sizeof aKey);
  sodium_memzero(&st, sizeof st);
  if (aPlain) sodium_memzero(aPlain, CHUNK);
  ZSTD_freeCCtx(z);
  free(aIn);
  free(aOut);
  free(aPlain);
  return zWhy;
}

/* Object zName read from in, opened (decrypted, decompressed) to out: NULL,
** or why it is refused.  Any change to the object is refused here. */
static const char *open_stream(const VgdSync *p, const char *zTenant, const char *zName, FILE *in, FILE *out) {
  unsigned char aKey[32], aHeader[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  crypto_secretstream_xchacha20poly1305_state st;
  ZSTD_DCtx *z = ZSTD_createDCtx();
  size_t nOutCap = ZSTD_DStreamOutSize();
  unsigned char *aC = malloc(CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES), *aM = malloc(CHUNK);
  unsigned char *aOut = malloc(nOutCap);
  const char *zWhy = NULL;
  tenant_key(p, zTenant, "vecguard sync data", aKey);
  if (!z || !aC || !aM || !aOut) zWhy = "out of memory";
  else if (fread(aHeader, 1, sizeof aHeader, in) != sizeof aHeader ||
           crypto_secretstream_xchacha20poly1305_init_pull(&st, aHeader, aKey))
    zWhy = "its header is cut or wrong";
  for (int bFinal = 0; !zWhy && !bFinal;) {
    unsigned char aLen[4];
    if (fread(aLen, 1, 4, in) != 4) {
      zWhy = "it is cut short (no final chunk)";
      break;
    }
    size_t nc = aLen[0] | (size_t)aLen[1] << 8 | (size_t)aLen[2] << 16 | (size_t)aLen[3] << 24;
    unsigned long long nm = 0;
    unsigned char tag = 0;
    if (nc < crypto_secretstream_xchacha20poly1305_ABYTES || nc > CHUNK + crypto_secretstream_xchacha20poly1305_ABYTES ||
        fread(aC, 1, nc, in) != nc) {
      zWhy = "it is cut short, or a chunk's length is wrong";
    } else if (crypto_secretstream_xchacha20poly1305_pull(&st, aM, &nm, &tag, aC, nc, (const unsigned char *)zName,
                                                          strlen(zName))) {
      zWhy = "a chunk fails its authentication (changed, moved, or another tenant's)";
    } else {
      bFinal = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
      ZSTD_inBuffer zin = {aM, (size_t)nm, 0};
      while (!zWhy && zin.pos < zin.size) {
        ZSTD_outBuffer zout = {aOut, nOutCap, 0};
        if (ZSTD_isError(ZSTD_decompressStream(z, &zout, &zin))) zWhy = "its content does not decompress";
        else if (write_all(out, aOut, zout.pos)) zWhy = "the output cannot be written";
      }
    }
  }
  if (!zWhy && fgetc(in) != EOF) zWhy = "bytes follow its final chunk";
  sodium_memzero(aKey, sizeof aKey);
  sodium_memzero(&st, sizeof st);
  if (aM) sodium_memzero(aM, CHUNK);
  ZSTD_freeDCtx(z);
  free(aC);
  free(aM);
  free(aOut);
  return zWhy;
}

/* ---- the file:// target ---------------------------------------------------- */

/* in, sealed as object zName of zTenant (zAd its additional data), put in
** the target: written beside its name, synced, renamed.  *pnBytes its size. */
static int put_object(const VgdSync *p, const char *zTenant, const char *zName, const char *zAd, FILE *in,
                      long long *pnBytes, char **pzErr) {
  char *zPath = object_path(p, zName), *zTmp = vgd_mprintf("%s.tmp-%ld", zPath, (long)getpid());
  char *zDir = vgd_mprintf("%s/%s", p->zDir, zTenant);
  const char *zWhy = mkdir(zDir, 0700) && errno != EEXIST ? strerror(errno) : NULL;
  FILE *out = zWhy ? NULL : fopen(zTmp, "wb");
  if (!zWhy && !out) zWhy = strerror(errno);
  if (!zWhy) zWhy = seal_stream(p, zTenant, zAd, in, out);
  if (!zWhy && (fflush(out) || fsync(fileno(out)))) zWhy = strerror(errno);
  if (!zWhy) *pnBytes = (long long)ftell(out);
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

/* Object zName of zTenant (zAd its additional data) from the target,
** opened to out; *pbMissing when there is no such object. */
static int get_object(const VgdSync *p, const char *zTenant, const char *zName, const char *zAd, FILE *out,
                      int *pbMissing, char **pzErr) {
  char *zPath = object_path(p, zName);
  FILE *in = fopen(zPath, "rb");
  *pbMissing = !in && errno == ENOENT;
  const char *zWhy = in ? open_stream(p, zTenant, zAd, in, out) : strerror(errno);
  if (!zWhy && fflush(out)) zWhy = "the output cannot be written";
  if (zWhy) *pzErr = vgd_mprintf("object %s is refused: %s", zName, zWhy);
  if (in) fclose(in);
  free(zPath);
  return zWhy ? -1 : 0;
}

static int has_object(const VgdSync *p, const char *zName) {
  char *zPath = object_path(p, zName);
  struct stat st;
  int b = stat(zPath, &st) == 0;
  free(zPath);
  return b;
}

/* ---- manifests ---------------------------------------------------------------- */

/* The manifest's additional data: the same for every copy of it, so a copy
** put back is caught by its number, not by its name. */
static char *manifest_ad(const char *zTenant) {
  return vgd_mprintf("%s/manifest", zTenant);
}

/* The JSON in manifest zName of zTenant, opened in memory; NULL and *pzErr
** if it cannot be (*pbMissing when there is none). */
static json_t *read_manifest(const VgdSync *p, const char *zTenant, const char *zName, int *pbMissing, char **pzErr) {
  char *zPlain = NULL, *zAd = manifest_ad(zTenant);
  size_t nPlain = 0;
  FILE *out = open_memstream(&zPlain, &nPlain);
  json_t *pOut = NULL;
  int rc = out ? get_object(p, zTenant, zName, zAd, out, pbMissing, pzErr) : -1;
  if (out) fclose(out);
  if (!out) {
    *pbMissing = 0;
    *pzErr = vgd_mprintf("out of memory");
  } else if (*pbMissing) {
    free(*pzErr);
    *pzErr = vgd_mprintf("no manifest for tenant \"%s\" at %s: sync it first", zTenant, p->zDir);
  } else if (rc == 0) {
    pOut = json_loadb(zPlain, nPlain, 0, NULL);
    const char *zOwner = json_string_value(json_object_get(pOut, "tenant"));
    if (!zOwner || strcmp(zOwner, zTenant)) {
      json_decref(pOut);
      pOut = NULL;
      *pzErr = vgd_mprintf("object %s is refused: it is not tenant \"%s\"'s manifest", zName, zTenant);
    }
  }
  if (zPlain) sodium_memzero(zPlain, nPlain);
  free(zPlain);
  free(zAd);
  return pOut;
}

/* pM sealed from memory as manifest zName; its size added to *pnBytes. */
static int put_manifest(const VgdSync *p, const char *zTenant, const char *zName, json_t *pM, long long *pnBytes,
                        char **pzErr) {
  char *zPlain = json_dumps(pM, JSON_COMPACT), *zAd = manifest_ad(zTenant);
  FILE *in = zPlain ? fmemopen(zPlain, strlen(zPlain), "rb") : NULL;
  long long n = 0;
  int rc = in ? put_object(p, zTenant, zName, zAd, in, &n, pzErr) : -1;
  if (!in) *pzErr = vgd_mprintf("out of memory");
  if (in) fclose(in);
  *pnBytes += n;
  if (zPlain) sodium_memzero(zPlain, strlen(zPlain));
  free(zPlain);
  free(zAd);
  return rc;
}

/* ---- push ------------------------------------------------------------------------ */

int vgd_sync_push(VgdSync *p, VgdStore *pStore, const char *zTenant, long long *pnBytes, int *pnObjects,
                  char **pzErr) {
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  char *zLatest = vgd_mprintf("%s/manifest", zTenant);
  int bMissing = 0;
  long long seq = 1;
  char *zErr = NULL;
  json_t *pOld = read_manifest(p, zTenant, zLatest, &bMissing, &zErr);
  int rc = 0;
  if (pOld) seq = json_integer_value(json_object_get(pOld, "seq")) + 1;
  else if (!bMissing) {
    *pzErr = zErr; /* a manifest this key cannot open: not ours to overwrite */
    zErr = NULL;
    rc = -1;
  }
  free(zErr);
  json_decref(pOld);
  char *zSnap = vgd_mprintf("%s/snapshot.db", zWork);
  char *zObject = object_name(p, zTenant, "snapshot", seq), *zHist = object_name(p, zTenant, "manifest", seq);
  long long nDb = 0, nBytes = 0;
  unsigned char aPii[32];
  if (rc == 0 && !vgd_tenant_pii_key(pStore, zTenant, aPii)) {
    *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    rc = -1;
  }
  /* a consistent snapshot with the online backup API; the server goes on */
  if (rc == 0 && vgd_tenant_backup(pStore, zTenant, zSnap, NULL, &nDb, pzErr) != SQLITE_OK) rc = -1;
  FILE *in = rc == 0 ? fopen(zSnap, "rb") : NULL;
  if (rc == 0 && !in) {
    *pzErr = vgd_mprintf("cannot read %s: %s", zSnap, strerror(errno));
    rc = -1;
  }
  if (rc == 0) rc = put_object(p, zTenant, zObject, zObject, in, &nBytes, pzErr);
  if (in) fclose(in);
  if (rc == 0) {
    char zPii[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(zPii, sizeof zPii, aPii, sizeof aPii, sodium_base64_VARIANT_ORIGINAL);
    time_t now = time(NULL);
    struct tm tm;
    char zNow[32];
    gmtime_r(&now, &tm);
    strftime(zNow, sizeof zNow, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_t *pM = json_pack("{s:i,s:s,s:I,s:s,s:{s:s,s:I,s:I},s:s}", "v", 1, "tenant", zTenant, "seq", (json_int_t)seq,
                           "created", zNow, "snapshot", "object", zObject, "bytes", (json_int_t)nDb, "sealed_bytes",
                           (json_int_t)nBytes, "pii_key", zPii);
    sodium_memzero(zPii, sizeof zPii);
    /* the numbered copy first, then the latest: a crash between leaves
    ** the old latest, which the numbered copy shows to be old */
    rc = put_manifest(p, zTenant, zHist, pM, &nBytes, pzErr);
    if (rc == 0) rc = put_manifest(p, zTenant, zLatest, pM, &nBytes, pzErr);
    json_decref(pM);
  }
  sodium_memzero(aPii, sizeof aPii);
  if (rc == 0) {
    *pnBytes = nBytes;
    *pnObjects = 3;
  }
  unlink(zSnap);
  rmdir(zWork);
  free(zSnap);
  free(zWork);
  free(zObject);
  free(zHist);
  free(zLatest);
  return rc;
}

/* ---- restore ------------------------------------------------------------------------ */

int vgd_sync_restore(VgdSync *p, VgdStore *pStore, const char *zTenant, char **pzKey, long long *piSeq,
                     char **pzErr) {
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  char *zLatest = vgd_mprintf("%s/manifest", zTenant);
  int bMissing = 0, rc = 0;
  json_t *pM = read_manifest(p, zTenant, zLatest, &bMissing, pzErr);
  long long seq = pM ? json_integer_value(json_object_get(pM, "seq")) : 0;
  char *zNext = object_name(p, zTenant, "manifest", seq + 1);
  if (!pM) {
    rc = -1;
  } else if (has_object(p, zNext)) {
    *pzErr = vgd_mprintf("object %s is refused: it is manifest %lld, but manifest %lld exists (%s): an older manifest "
                         "was put back",
                         zLatest, seq, seq + 1, zNext);
    rc = -1;
  }
  const char *zObject = pM ? json_string_value(json_object_get(json_object_get(pM, "snapshot"), "object")) : NULL;
  char *zExpect = object_name(p, zTenant, "snapshot", seq);
  if (rc == 0 && (!zObject || strcmp(zObject, zExpect))) {
    *pzErr = vgd_mprintf("object %s is refused: its snapshot is not snapshot %lld of tenant \"%s\"", zLatest, seq,
                         zTenant);
    rc = -1;
  }
  char *zDb = vgd_mprintf("%s/restored.db", zWork);
  if (rc == 0) {
    FILE *out = fopen(zDb, "wb");
    if (!out) *pzErr = vgd_mprintf("cannot write %s: %s", zDb, strerror(errno));
    rc = out ? get_object(p, zTenant, zObject, zObject, out, &bMissing, pzErr) : -1;
    if (out && fclose(out) && rc == 0) {
      *pzErr = vgd_mprintf("cannot write %s: %s", zDb, strerror(errno));
      rc = -1;
    }
  }
  /* on a new box the tenant is registered with the PII key it had */
  unsigned char aPii[32];
  size_t nPii = 0;
  const char *zPii = pM ? json_string_value(json_object_get(pM, "pii_key")) : NULL;
  if (rc == 0 && (!zPii || sodium_base642bin(aPii, sizeof aPii, zPii, strlen(zPii), NULL, &nPii, NULL,
                                             sodium_base64_VARIANT_ORIGINAL) || nPii != 32)) {
    *pzErr = vgd_mprintf("object %s is refused: it holds no PII key", zLatest);
    rc = -1;
  }
  if (rc == 0) rc = vgd_tenant_adopt(pStore, zTenant, aPii, pzKey, pzErr) == SQLITE_OK ? 0 : -1;
  sodium_memzero(aPii, sizeof aPii);
  if (rc == 0 && vgd_tenant_restore(pStore, zTenant, zDb, pzErr) != SQLITE_OK) {
    rc = -1;
    if (*pzKey) {
      /* registered for this restore: not left listed without its file */
      char *zIgnored = NULL;
      vgd_tenant_delete(pStore, zTenant, &zIgnored);
      free(zIgnored);
      free(*pzKey);
      *pzKey = NULL;
    }
  }
  if (rc == 0) *piSeq = seq;
  unlink(zDb);
  rmdir(zWork);
  free(zWork);
  free(zDb);
  free(zExpect);
  free(zNext);
  free(zLatest);
  json_decref(pM);
  return rc;
}
