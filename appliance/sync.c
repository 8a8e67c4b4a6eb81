/*
** sync.c — each tenant's file replicated, compressed and encrypted, to a
** target only the sync key's holder can read (docs/sync.md): an S3-
** compatible bucket or a directory (objstore.c).
**
** What goes: a chain per tenant, a whole snapshot then segments of the
** pages that changed since the push before.  Pages are read from a
** consistent copy made with the online backup API (so the server's
** checkpoints stay its own), hashed, and compared with the hashes of the
** last push kept in DIR/sync.db.  A manifest lists the chain, the hash of
** the whole file it makes, and the objects it no longer needs with the
** time since when: those are deleted once older than the retention.  A
** new snapshot starts a chain when the snapshot is older than the
** retention (so a deleted row leaves the target within a bounded window),
** when the segments outweigh it, or on demand.
**
** An object is zstd-compressed, then sealed with libsodium's secretstream
** (XChaCha20-Poly1305) under the tenant's key, derived from the sync key:
** a 24-byte header, then chunks of [4-byte length][sealed bytes], the last
** tagged FINAL, each chunk's additional data the object's name.  So a
** flipped byte, a cut object, a chunk moved between objects or an object
** of another tenant or number fails to open.  Object names are keyed
** hashes: they say nothing of what is inside.  A tenant's latest manifest
** is <tenant>/manifest; each manifest is also kept under a name derived
** from its number, so a restore that finds manifest N+1 knows that a
** manifest N served as the latest is an old one put back.  The lease,
** <tenant>/lease, names the box that pushes the tenant.
**
** Plain text never reaches the target, and manifests (they carry the
** tenant's PII key) never reach a disk in the clear.
*/
#include "vecguardd.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#define CHUNK (64 * 1024)  /* plaintext bytes per sealed chunk */
#define HASH_BYTES 16      /* a page's hash, to tell changed pages */
#define MAX_SEGMENTS 256   /* a longer chain gets a new snapshot */
#define SEGMENT_MAGIC "VGSEG1\n"

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

/* A work directory of its own in the data directory, or NULL; its name
** carries the process id, so that vgd_sync_sweep knows whose it is. */
static char *work_dir(VgdStore *pStore, char **pzErr) {
  char *zWork = vgd_mprintf("%s/.sync-%ld-XXXXXX", pStore->zDir, (long)getpid());
  if (mkdtemp(zWork)) return zWork;
  *pzErr = vgd_mprintf("cannot make a work directory in %s: %s", pStore->zDir, strerror(errno));
  free(zWork);
  return NULL;
}

/* A work file of plain pages overwritten with zeros, then closed (it has
** no name: closing it frees its blocks, which would keep the bytes). */
static void erase_work_file(FILE *f) {
  static const char aZero[4096];
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0;
  rewind(f);
  for (long done = 0; done < n;) {
    size_t take = n - done < (long)sizeof aZero ? (size_t)(n - done) : sizeof aZero;
    if (fwrite(aZero, 1, take, f) != take) break;
    done += (long)take;
  }
  fflush(f);
  fdatasync(fileno(f));
  fclose(f);
}

/* Every file of a work directory erased, then the directory removed. */
static void erase_work_dir(const char *zWork) {
  DIR *d = opendir(zWork);
  for (struct dirent *e; d && (e = readdir(d));) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    char *zPath = vgd_mprintf("%s/%s", zWork, e->d_name);
    vgd_erase_file(zPath);
    free(zPath);
  }
  if (d) closedir(d);
  rmdir(zWork);
}

void vgd_sync_sweep(const char *zDataDir) {
  DIR *d = opendir(zDataDir);
  for (struct dirent *e; d && (e = readdir(d));) {
    long pid = 0;
    if (strncmp(e->d_name, ".sync-", 6)) continue;
    /* an older name without a pid, or a process that is gone */
    if (sscanf(e->d_name + 6, "%ld-", &pid) == 1 && pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH)) continue;
    char *zWork = vgd_mprintf("%s/%s", zDataDir, e->d_name);
    erase_work_dir(zWork);
    free(zWork);
  }
  if (d) closedir(d);
}

/* ---- opening ---------------------------------------------------------------- */

static const char *zStateSchema =
    "PRAGMA journal_mode=WAL;"
    "CREATE TABLE IF NOT EXISTS sync_state("
    "  tenant TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL DEFAULT 0,"     /* the manifest the hashes are of */
    "  page_size INTEGER NOT NULL DEFAULT 0,"
    "  hashes BLOB,"                        /* HASH_BYTES per page at seq */
    "  synced_at INTEGER,"                  /* unix time of the last push that landed */
    "  attempted_at INTEGER,"
    "  last_error TEXT,"
    "  pending_bytes INTEGER NOT NULL DEFAULT 0," /* of a push that did not land */
    "  bytes_sent INTEGER NOT NULL DEFAULT 0,"
    "  due_at INTEGER,"                     /* a push is due then even without a change */
    "  snapshot_seq INTEGER,"               /* a replica's: the snapshot its base is of */
    "  file_hash TEXT,"                     /* a replica's: its base's file hash */
    "  gone_at INTEGER"                     /* when the box found the tenant deleted */
    ");";

int vgd_sync_open(VgdSync *p, VgdStore *pStore, const VgdObjConfig *pCfg, const char *zKeyFile, long long retention,
                  long long leaseSeconds, char **pzErr) {
  memset(p, 0, sizeof *p);
  p->fdLock = -1;
  p->retention = retention;
  vgd_sync_sweep(pStore->zDir);
  p->leaseSeconds = leaseSeconds;
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
  /* the box's id: made once, kept with the data directory */
  char *zBox = vgd_mprintf("%s/sync.box", pStore->zDir);
  int rc = vgd_key_file_read(zBox, p->box, sizeof p->box, &zErr);
  if (rc == SQLITE_NOTFOUND) {
    free(zErr);
    zErr = NULL;
    rc = vgd_key_file_create(zBox, sizeof p->box, &zErr);
    if (rc == SQLITE_OK) rc = vgd_key_file_read(zBox, p->box, sizeof p->box, &zErr);
  }
  free(zBox);
  if (rc != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot read this box's id: %s", zErr);
    free(zErr);
    vgd_sync_close(p);
    return -1;
  }
  char *zState = vgd_mprintf("%s/sync.db", pStore->zDir);
  rc = sqlite3_open_v2(zState, &p->dbState, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(p->dbState, VGD_BUSY_MS);
    rc = sqlite3_exec(p->dbState, zStateSchema, NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot open %s: %s", zState, p->dbState ? sqlite3_errmsg(p->dbState) : "out of memory");
    free(zState);
    vgd_sync_close(p);
    return -1;
  }
  free(zState);
  char *zLock = vgd_mprintf("%s/sync.lock", pStore->zDir);
  p->fdLock = open(zLock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (p->fdLock < 0) {
    *pzErr = vgd_mprintf("cannot open %s: %s", zLock, strerror(errno));
    free(zLock);
    vgd_sync_close(p);
    return -1;
  }
  free(zLock);
  if (vgd_obj_open(&p->store, pCfg, pzErr)) {
    vgd_sync_close(p);
    return -1;
  }
  return 0;
}

void vgd_sync_close(VgdSync *p) {
  if (p->fdLock >= 0) close(p->fdLock);
  vgd_obj_close(&p->store);
  sqlite3_close(p->dbState);
  sodium_memzero(p, sizeof *p);
  p->fdLock = -1;
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

/* ---- objects ------------------------------------------------------------------ */

/* in, sealed as object zName of zTenant (zAd its additional data), put
** in the target by way of a work file in zWork; *pnBytes its size. */
static int put_object(VgdSync *p, const char *zTenant, const char *zName, const char *zAd, FILE *in,
                      const char *zWork, long long *pnBytes, char **pzErr) {
  FILE *sealed = vgd_work_file(zWork, pzErr);
  if (!sealed) return -1;
  const char *zWhy = seal_stream(p, zTenant, zAd, in, sealed);
  if (!zWhy && fflush(sealed)) zWhy = strerror(errno);
  int rc = 0;
  if (zWhy) {
    *pzErr = vgd_mprintf("cannot seal %s: %s", zName, zWhy);
    rc = -1;
  } else {
    *pnBytes = (long long)ftell(sealed);
    rc = vgd_obj_put(&p->store, zName, sealed, pzErr);
  }
  fclose(sealed);
  return rc;
}

/* Object zName of zTenant (zAd its additional data) from the target,
** opened to out; *pbMissing when there is no such object. */
static int get_object(VgdSync *p, const char *zTenant, const char *zName, const char *zAd, const char *zWork,
                      FILE *out, int *pbMissing, char **pzErr) {
  char *zErr = NULL;
  FILE *in = vgd_obj_read(&p->store, zName, zWork, pbMissing, &zErr);
  if (!in) {
    /* the store or the disk failed: nothing is said of the object */
    *pzErr = vgd_mprintf("cannot read object %s: %s", zName, zErr ? zErr : "?");
    free(zErr);
    return -1;
  }
  const char *zWhy = open_stream(p, zTenant, zAd, in, out);
  if (!zWhy && fflush(out)) zWhy = "the output cannot be written";
  if (zWhy) *pzErr = vgd_mprintf("object %s is refused: %s", zName, zWhy);
  fclose(in);
  return zWhy ? -1 : 0;
}

/* The JSON in object zName of zTenant (zAd its additional data), opened in
** memory; NULL and *pzErr if it cannot be (*pbMissing when there is none). */
static json_t *read_json(VgdSync *p, const char *zTenant, const char *zName, const char *zAd, const char *zWork,
                         int *pbMissing, char **pzErr) {
  char *zPlain = NULL;
  size_t nPlain = 0;
  FILE *out = open_memstream(&zPlain, &nPlain);
  json_t *pOut = NULL;
  *pbMissing = 0;
  int rc = out ? get_object(p, zTenant, zName, zAd, zWork, out, pbMissing, pzErr) : -1;
  if (out) fclose(out);
  if (!out) {
    *pzErr = vgd_mprintf("out of memory");
  } else if (rc == 0) {
    pOut = json_loadb(zPlain, nPlain, 0, NULL);
    const char *zOwner = json_string_value(json_object_get(pOut, "tenant"));
    if (!zOwner || strcmp(zOwner, zTenant)) {
      json_decref(pOut);
      pOut = NULL;
      *pzErr = vgd_mprintf("object %s is refused: it is not tenant \"%s\"'s", zName, zTenant);
    }
  }
  if (zPlain) sodium_memzero(zPlain, nPlain);
  free(zPlain);
  return pOut;
}

/* pJ sealed from memory as object zName (zAd its additional data). */
static int put_json(VgdSync *p, const char *zTenant, const char *zName, const char *zAd, json_t *pJ,
                    const char *zWork, long long *pnBytes, char **pzErr) {
  char *zPlain = json_dumps(pJ, JSON_COMPACT);
  FILE *in = zPlain ? fmemopen(zPlain, strlen(zPlain), "rb") : NULL;
  long long n = 0;
  int rc = in ? put_object(p, zTenant, zName, zAd, in, zWork, &n, pzErr) : -1;
  if (!in) *pzErr = vgd_mprintf("out of memory");
  if (in) fclose(in);
  *pnBytes += n;
  if (zPlain) sodium_memzero(zPlain, strlen(zPlain));
  free(zPlain);
  return rc;
}

/* Manifests' additional data: the same for every copy of one, so a copy
** put back is caught by its number, not by its name. */
static char *manifest_ad(const char *zTenant) {
  return vgd_mprintf("%s/manifest", zTenant);
}

static json_t *read_manifest(VgdSync *p, const char *zTenant, const char *zName, const char *zWork, int *pbMissing,
                             char **pzErr) {
  char *zAd = manifest_ad(zTenant);
  json_t *pM = read_json(p, zTenant, zName, zAd, zWork, pbMissing, pzErr);
  if (!pM && *pbMissing) {
    free(*pzErr);
    *pzErr = vgd_mprintf("no manifest for tenant \"%s\" at %s: sync it first", zTenant, p->store.zWhere);
  }
  free(zAd);
  return pM;
}

static int put_manifest(VgdSync *p, const char *zTenant, const char *zName, json_t *pM, const char *zWork,
                        long long *pnBytes, char **pzErr) {
  char *zAd = manifest_ad(zTenant);
  int rc = put_json(p, zTenant, zName, zAd, pM, zWork, pnBytes, pzErr);
  free(zAd);
  return rc;
}

/* ---- the lease ------------------------------------------------------------------ */

/* This box's id in hex, as leases name it. */
static void box_hex(const VgdSync *p, char zOut[2 * VGD_SYNC_BOX_BYTES + 1]) {
  sodium_bin2hex(zOut, 2 * VGD_SYNC_BOX_BYTES + 1, p->box, sizeof p->box);
}

/* 0 if zTenant's lease names this box; read back after it is written,
** and again before the manifest goes (the store has no conditional
** writes: of two boxes writing at once, the one overwritten finds out). */
static int lease_is_mine(VgdSync *p, const char *zTenant, const char *zWork, char **pzErr) {
  char *zName = vgd_mprintf("%s/lease", zTenant), zBox[2 * VGD_SYNC_BOX_BYTES + 1];
  box_hex(p, zBox);
  int bMissing = 0, rc = 0;
  json_t *pL = read_json(p, zTenant, zName, zName, zWork, &bMissing, pzErr);
  const char *zOwner = json_string_value(json_object_get(pL, "box"));
  if (!pL) {
    rc = -1;
  } else if (!zOwner || strcmp(zOwner, zBox)) {
    *pzErr = vgd_mprintf("tenant \"%s\": another box (%s) took the lease meanwhile; one box writes a tenant",
                         zTenant, zOwner ? zOwner : "?");
    rc = -1;
  }
  json_decref(pL);
  free(zName);
  return rc;
}

/* Hold zTenant for this box: refused while another box's lease runs,
** unless bTakeOver.  The store has no conditional writes, so the lease is
** read back: of two boxes writing at once, the one whose write was
** overwritten finds out. */
static int take_lease(VgdSync *p, const char *zTenant, int bTakeOver, const char *zWork, long long *pnBytes,
                      char **pzErr) {
  char *zName = vgd_mprintf("%s/lease", zTenant), zBox[2 * VGD_SYNC_BOX_BYTES + 1];
  box_hex(p, zBox);
  int bMissing = 0, rc = 0;
  char *zErr = NULL;
  long long now = (long long)time(NULL);
  json_t *pL = read_json(p, zTenant, zName, zName, zWork, &bMissing, &zErr);
  const char *zOwner = json_string_value(json_object_get(pL, "box"));
  long long expires = json_integer_value(json_object_get(pL, "expires"));
  if (!pL && !bMissing && !(bTakeOver && zErr && strstr(zErr, " is refused: "))) {
    /* a lease this key cannot open is not ours to overwrite, but for
    ** --take-over (a store that failed is an error either way) */
    *pzErr = zErr;
    zErr = NULL;
    rc = -1;
  } else if (zOwner && strcmp(zOwner, zBox) && expires > now && !bTakeOver) {
    *pzErr = vgd_mprintf("tenant \"%s\" is pushed by another box (%s) whose lease runs until %lld (%lld s from now); "
                         "one box writes a tenant: stop that one, or, if it is gone for good, push with --take-over",
                         zTenant, zOwner, expires, expires - now);
    rc = -1;
  }
  json_decref(pL);
  free(zErr);
  if (rc == 0) {
    pL = json_pack("{s:s,s:s,s:I,s:I}", "tenant", zTenant, "box", zBox, "taken", (json_int_t)now, "expires",
                   (json_int_t)(now + p->leaseSeconds));
    rc = pL ? put_json(p, zTenant, zName, zName, pL, zWork, pnBytes, pzErr) : -1;
    json_decref(pL);
  }
  if (rc == 0) rc = lease_is_mine(p, zTenant, zWork, pzErr);
  free(zName);
  return rc;
}

/* ---- pages ------------------------------------------------------------------------ */

/* The page size of database file f (its header), or 0. */
static int page_size_of(FILE *f) {
  unsigned char h[100];
  if (fseek(f, 0, SEEK_SET) || fread(h, 1, sizeof h, f) != sizeof h || memcmp(h, "SQLite format 3", 16)) return 0;
  int n = h[16] << 8 | h[17];
  return n == 1 ? 65536 : n >= 512 && n <= 32768 && !(n & (n - 1)) ? n : 0;
}

/* HASH_BYTES per page of file f (of pages of szPage bytes), malloc'd. */
static unsigned char *hash_pages(FILE *f, int szPage, long long *pnPage) {
  unsigned char *aPage = malloc((size_t)szPage), *aHash = NULL;
  long long n = 0, cap = 0;
  int bOk = aPage != NULL && fseek(f, 0, SEEK_SET) == 0;
  while (bOk && fread(aPage, 1, (size_t)szPage, f) == (size_t)szPage) {
    if (n == cap) {
      cap = cap ? cap * 2 : 1024;
      unsigned char *aNew = realloc(aHash, (size_t)cap * HASH_BYTES);
      if (!aNew) {
        bOk = 0;
        break;
      }
      aHash = aNew;
    }
    crypto_generichash(aHash + n * HASH_BYTES, HASH_BYTES, aPage, (size_t)szPage, NULL, 0);
    n++;
  }
  if (ferror(f)) bOk = 0;
  free(aPage);
  if (!bOk || n == 0) {
    free(aHash);
    return NULL;
  }
  *pnPage = n;
  return aHash;
}

/* The hash of a whole file: of its pages' hashes, in order (hex). */
static void file_hash(const unsigned char *aHash, long long nPage, char *zHex) {
  unsigned char h[32];
  crypto_generichash(h, sizeof h, aHash, (size_t)nPage * HASH_BYTES, NULL, 0);
  sodium_bin2hex(zHex, 2 * sizeof h + 1, h, sizeof h);
}

static void put_u32(unsigned char *a, unsigned v) {
  a[0] = (unsigned char)v;
  a[1] = (unsigned char)(v >> 8);
  a[2] = (unsigned char)(v >> 16);
  a[3] = (unsigned char)(v >> 24);
}

static unsigned get_u32(const unsigned char *a) {
  return a[0] | (unsigned)a[1] << 8 | (unsigned)a[2] << 16 | (unsigned)a[3] << 24;
}

/* A segment: SEGMENT_MAGIC, then page size, page count of the file after
** it and number of pages (4 bytes each, little-endian), then each page's
** number and bytes.  The pages of db (nPage of them) whose hash differs
** from aOld's (nOld pages), written to out; *pnSent how many. */
static int write_segment(FILE *db, int szPage, const unsigned char *aHash, long long nPage, const unsigned char *aOld,
                         long long nOld, FILE *out, long long *pnSent) {
  long long nSent = 0;
  for (long long i = 0; i < nPage; i++)
    if (i >= nOld || memcmp(aHash + i * HASH_BYTES, aOld + i * HASH_BYTES, HASH_BYTES)) nSent++;
  unsigned char aHead[8 + 12];
  memcpy(aHead, SEGMENT_MAGIC, 8);
  put_u32(aHead + 8, (unsigned)szPage);
  put_u32(aHead + 12, (unsigned)nPage);
  put_u32(aHead + 16, (unsigned)nSent);
  unsigned char *aPage = malloc((size_t)szPage + 4);
  int rc = aPage && fwrite(aHead, 1, sizeof aHead, out) == sizeof aHead ? 0 : -1;
  for (long long i = 0; rc == 0 && i < nPage; i++) {
    if (i < nOld && !memcmp(aHash + i * HASH_BYTES, aOld + i * HASH_BYTES, HASH_BYTES)) continue;
    put_u32(aPage, (unsigned)(i + 1));
    if (fseek(db, i * szPage, SEEK_SET) || fread(aPage + 4, 1, (size_t)szPage, db) != (size_t)szPage ||
        fwrite(aPage, 1, (size_t)szPage + 4, out) != (size_t)szPage + 4)
      rc = -1;
  }
  free(aPage);
  *pnSent = nSent;
  return rc;
}

/* Segment seg (opened) applied to database file fd: NULL or why not. */
static const char *apply_segment(FILE *seg, int fd, int szPage) {
  unsigned char aHead[20];
  if (fread(aHead, 1, sizeof aHead, seg) != sizeof aHead || memcmp(aHead, SEGMENT_MAGIC, 8))
    return "it is not a segment";
  if ((int)get_u32(aHead + 8) != szPage) return "its page size is not the snapshot's";
  unsigned nPage = get_u32(aHead + 12), n = get_u32(aHead + 16);
  unsigned char *aPage = malloc((size_t)szPage + 4);
  const char *zWhy = aPage ? NULL : "out of memory";
  for (unsigned i = 0; !zWhy && i < n; i++) {
    unsigned pgno;
    if (fread(aPage, 1, (size_t)szPage + 4, seg) != (size_t)szPage + 4) zWhy = "it is cut short";
    else if ((pgno = get_u32(aPage)) < 1 || pgno > nPage) zWhy = "it names a page past the file's end";
    else if (pwrite(fd, aPage + 4, (size_t)szPage, (off_t)(pgno - 1) * szPage) != szPage) zWhy = strerror(errno);
  }
  if (!zWhy && fgetc(seg) != EOF) zWhy = "bytes follow its last page";
  if (!zWhy && ftruncate(fd, (off_t)nPage * szPage)) zWhy = strerror(errno);
  free(aPage);
  return zWhy;
}

/* ---- state kept on the box ------------------------------------------------------ */

/* The hashes of the pages at the tenant's last push (manifest *pSeq). */
static unsigned char *state_load(VgdSync *p, const char *zTenant, long long *pSeq, int *pszPage, long long *pnPage) {
  sqlite3_stmt *pStmt = NULL;
  unsigned char *aHash = NULL;
  *pSeq = 0;
  if (sqlite3_prepare_v2(p->dbState, "SELECT seq, page_size, hashes FROM sync_state WHERE tenant = ?1", -1, &pStmt,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    int n = 0;
    if (sqlite3_step(pStmt) == SQLITE_ROW && (n = sqlite3_column_bytes(pStmt, 2)) > 0 && n % HASH_BYTES == 0 &&
        (aHash = malloc((size_t)n))) {
      memcpy(aHash, sqlite3_column_blob(pStmt, 2), (size_t)n);
      *pSeq = sqlite3_column_int64(pStmt, 0);
      *pszPage = sqlite3_column_int(pStmt, 1);
      *pnPage = n / HASH_BYTES;
    }
  }
  sqlite3_finalize(pStmt);
  return aHash;
}

/* The outcome of a push: on success the new hashes (aHash of nPage), on
** failure zErr and the bytes that wait. */
static void state_save(VgdSync *p, const char *zTenant, long long seq, int szPage, const unsigned char *aHash,
                       long long nPage, long long nSent, const char *zErr, long long nPending, long long dueAt) {
  sqlite3_stmt *pStmt = NULL;
  const char *zSql =
      zErr ? "INSERT INTO sync_state(tenant, attempted_at, last_error, pending_bytes) VALUES (?1, ?6, ?7, ?8) "
             "ON CONFLICT(tenant) DO UPDATE SET attempted_at = ?6, last_error = ?7, pending_bytes = ?8"
           : "INSERT INTO sync_state(tenant, seq, page_size, hashes, synced_at, attempted_at, bytes_sent, due_at) "
             "VALUES (?1, ?2, ?3, ?4, ?6, ?6, ?5, ?9) ON CONFLICT(tenant) DO UPDATE SET seq = ?2, page_size = ?3, "
             "hashes = ?4, synced_at = ?6, attempted_at = ?6, last_error = NULL, pending_bytes = 0, "
             "bytes_sent = bytes_sent + ?5, due_at = ?9, gone_at = NULL";
  if (sqlite3_prepare_v2(p->dbState, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, seq);
    sqlite3_bind_int(pStmt, 3, szPage);
    if (aHash) sqlite3_bind_blob64(pStmt, 4, aHash, (sqlite3_uint64)nPage * HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 5, nSent);
    sqlite3_bind_int64(pStmt, 6, (sqlite3_int64)time(NULL));
    sqlite3_bind_text(pStmt, 7, zErr, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 8, nPending);
    if (dueAt) sqlite3_bind_int64(pStmt, 9, dueAt);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* ---- retention --------------------------------------------------------------------- */

static int on_listed(void *pCtx, const char *zName, long long nBytes, long long mtime, int bDir) {
  (void)nBytes;
  /* a file target's half-written objects carry ".tmp-": listed, they go too */
  if (!bDir) json_object_set_new((json_t *)pCtx, zName, json_integer(mtime));
  return 0;
}

/* The tenant's objects in the target into pObjects: name -> mtime. */
static int list_tenant(VgdSync *p, const char *zTenant, json_t *pObjects, char **pzErr) {
  char *zPrefix = vgd_mprintf("%s/", zTenant);
  int rc = vgd_obj_list(&p->store, zPrefix, on_listed, pObjects, pzErr);
  free(zPrefix);
  return rc;
}

/* pGarbage (array of {object, since}) with pOld's entries that are still
** in the target, plus the objects pListed holds that no manifest needs
** (an object a crash left) since their mtime.  Those due (older than the
** retention) go to pDue instead. */
static void sort_garbage(VgdSync *p, json_t *pOldGarbage, json_t *pListed, json_t *pKeep, json_t *pGarbage,
                         json_t *pDue, long long now) {
  json_t *pSince = json_object();
  size_t i;
  json_t *v;
  json_array_foreach(pOldGarbage, i, v) {
    const char *zName = json_string_value(json_object_get(v, "object"));
    if (zName) json_object_set(pSince, zName, json_object_get(v, "since"));
  }
  const char *zName;
  json_object_foreach(pListed, zName, v) {
    if (json_object_get(pKeep, zName)) continue;
    json_t *pS = json_object_get(pSince, zName);
    long long since = pS ? json_integer_value(pS) : json_integer_value(v);
    if (now - since >= p->retention) json_array_append_new(pDue, json_string(zName));
    else json_array_append_new(pGarbage, json_pack("{s:s,s:I}", "object", zName, "since", (json_int_t)since));
  }
  json_decref(pSince);
}

/* ---- push ------------------------------------------------------------------------ */

static void utc_text(long long t, char *zOut, size_t n) {
  time_t tt = (time_t)t;
  struct tm tm;
  gmtime_r(&tt, &tm);
  strftime(zOut, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int push(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, VgdSyncResult *pRes, char **pzErr);

/* Pushes of one box take turns: two at once would both write the next
** number. */
int vgd_sync_push(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, VgdSyncResult *pRes, char **pzErr) {
  /* polled, so that a server stopping does not wait out a long push of
  ** the sync command */
  while (flock(p->fdLock, LOCK_EX | LOCK_NB)) {
    if (errno != EWOULDBLOCK && errno != EINTR) break;
    if (p->store.pbCancel && *p->store.pbCancel) {
      memset(pRes, 0, sizeof *pRes);
      *pzErr = vgd_mprintf("the push of tenant \"%s\" was cancelled (the server stops)", zTenant);
      return -1;
    }
    usleep(50 * 1000);
  }
  int rc = push(p, pStore, zTenant, flags, pRes, pzErr);
  flock(p->fdLock, LOCK_UN);
  return rc;
}

static int push(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, VgdSyncResult *pRes, char **pzErr) {
  memset(pRes, 0, sizeof *pRes);
  if (flags & VGD_SYNC_LEASE_ONLY) {
    /* an idle tenant keeps its box's lease without a copy of its file */
    char *zWork = work_dir(pStore, pzErr);
    int rc = zWork ? take_lease(p, zTenant, 0, zWork, &pRes->nBytes, pzErr) : -1;
    pRes->bUnchanged = 1;
    pRes->nObjects = rc == 0;
    if (zWork) rmdir(zWork);
    free(zWork);
    return rc;
  }
  unsigned char aPii[32];
  if (!vgd_tenant_pii_key(pStore, zTenant, aPii)) {
    *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    return -1;
  }
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  char *zLatest = vgd_mprintf("%s/manifest", zTenant), *zSnap = vgd_mprintf("%s/snapshot.db", zWork);
  char *zLease = vgd_mprintf("%s/lease", zTenant), *zErr = NULL, *zObject = NULL, *zHist = NULL;
  long long now = (long long)time(NULL), nDb = 0, nPage = 0, nOld = 0, seqLocal = 0, nPut = 0;
  unsigned char *aHash = NULL, *aOld = NULL;
  int bMissing = 0, rc = 0, szPage = 0, szOld = 0;
  json_t *pOld = NULL, *pM = NULL, *pChain = NULL, *pListed = json_object(), *pDue = json_array();
  json_t *pKeep = json_object(), *pGarbage = json_array(), *pOldGarbage = NULL;
  FILE *db = NULL, *plain = NULL;
  char zHash[65] = "";

  /* a consistent copy with the online backup API; the server goes on */
  if (vgd_tenant_backup(pStore, zTenant, zSnap, NULL, &nDb, pzErr) != SQLITE_OK) rc = -1;
  if (rc == 0 && (!(db = fopen(zSnap, "rb")) || !(szPage = page_size_of(db)) ||
                  !(aHash = hash_pages(db, szPage, &nPage)))) {
    *pzErr = vgd_mprintf("cannot read the copy of tenant \"%s\" (%s)", zTenant, db ? "not a database" : strerror(errno));
    rc = -1;
  }
  /* what waits to be sent, should the target not answer */
  long long nPending = 0;
  if (rc == 0) {
    aOld = state_load(p, zTenant, &seqLocal, &szOld, &nOld);
    for (long long i = 0; i < nPage; i++)
      if (!aOld || szOld != szPage || i >= nOld || memcmp(aHash + i * HASH_BYTES, aOld + i * HASH_BYTES, HASH_BYTES))
        nPending += szPage;
  }
  if (rc == 0) {
    rc = take_lease(p, zTenant, flags & VGD_SYNC_TAKE_OVER, zWork, &pRes->nBytes, pzErr);
    pRes->nObjects = rc == 0;
  }
  if (rc == 0) {
    pOld = read_manifest(p, zTenant, zLatest, zWork, &bMissing, &zErr);
    if (!pOld && !bMissing) {
      *pzErr = zErr; /* a manifest this key cannot open: not ours to overwrite */
      zErr = NULL;
      rc = -1;
    }
  }
  long long seq = pOld ? json_integer_value(json_object_get(pOld, "seq")) + 1 : 1;
  json_t *pOldChain = json_object_get(pOld, "chain");
  pOldGarbage = json_deep_copy(json_object_get(pOld, "garbage"));
  if (!json_is_array(pOldGarbage)) {
    json_decref(pOldGarbage);
    pOldGarbage = json_array();
  }
  if (rc == 0) {
    file_hash(aHash, nPage, zHash);
    /* segments only on top of what this box knows the target holds; a
    ** snapshot once the chain's is older than the retention (the data it
    ** holds that later segments replaced then leaves), or outweighed */
    long long nSegBytes = 0, snapBytes = 0, snapAge = 0;
    size_t i;
    json_t *v;
    json_array_foreach(pOldChain, i, v) {
      if (i == 0) snapBytes = json_integer_value(json_object_get(v, "sealed_bytes"));
      if (i == 0) snapAge = now - json_integer_value(json_object_get(v, "created"));
      else nSegBytes += json_integer_value(json_object_get(v, "sealed_bytes"));
    }
    size_t nLinks = json_is_array(pOldChain) ? json_array_size(pOldChain) : 0;
    int bKnown = pOld && aOld && seqLocal == seq - 1 && szOld == szPage && nLinks > 0;
    /* the chain's snapshot past the retention: a change starts a new
    ** chain; no change does too when segments hold what replaced it */
    int bOld = snapAge >= p->retention;
    const char *zOldHash = json_string_value(json_object_get(pOld, "file_hash"));
    pRes->bUnchanged = bKnown && !(bOld && nLinks > 1) && !(flags & VGD_SYNC_COMPACT) && zOldHash &&
                       !strcmp(zOldHash, zHash);
    pRes->bSnapshot = !pRes->bUnchanged && (!bKnown || bOld || (flags & VGD_SYNC_COMPACT) || nSegBytes > snapBytes ||
                                            nLinks > MAX_SEGMENTS);
  }
  /* the objects in the target, for retention */
  if (rc == 0) rc = list_tenant(p, zTenant, pListed, pzErr);
  /* never on top of a latest manifest that is an old one put back (or a
  ** target rolled back under this box): the names of the next number
  ** are taken */
  if (rc == 0 && pOld) {
    char *zNext = object_name(p, zTenant, "manifest", seq);
    if (json_object_get(pListed, zNext)) {
      *pzErr = vgd_mprintf("object %s is refused: it is manifest %lld, but manifest %lld exists (%s): an older "
                           "manifest was put back; not pushing over it",
                           zLatest, seq - 1, seq, zNext);
      rc = -1;
    } else if (seqLocal > seq - 1) {
      *pzErr = vgd_mprintf("object %s is manifest %lld, but this box pushed manifest %lld: the target was rolled "
                           "back; not pushing over it",
                           zLatest, seq - 1, seqLocal);
      rc = -1;
    }
    free(zNext);
  }
  if (rc == 0 && !pRes->bUnchanged) {
    zObject = object_name(p, zTenant, pRes->bSnapshot ? "snapshot" : "segment", seq);
    if (pRes->bSnapshot) {
      pRes->nPages = nPage;
      rewind(db);
      rc = put_object(p, zTenant, zObject, zObject, db, zWork, &nPut, pzErr);
    } else {
      plain = vgd_work_file(zWork, pzErr);
      rc = plain ? 0 : -1;
      if (rc == 0 && (write_segment(db, szPage, aHash, nPage, aOld, nOld, plain, &pRes->nPages) || fflush(plain))) {
        *pzErr = vgd_mprintf("cannot write a segment of tenant \"%s\": %s", zTenant, strerror(errno));
        rc = -1;
      }
      if (rc == 0) {
        nDb = ftell(plain);
        rewind(plain);
        rc = put_object(p, zTenant, zObject, zObject, plain, zWork, &nPut, pzErr);
      }
    }
    pRes->nBytes += nPut;
    pRes->nObjects++;
  }
  /* the chain after this push; what it needs is kept, the rest waits out
  ** the retention from when it stopped being needed */
  if (rc == 0) {
    pChain = pRes->bSnapshot ? json_array() : json_deep_copy(pOldChain);
    if (!pChain) pChain = json_array();
    if (!pRes->bUnchanged)
      json_array_append_new(pChain, json_pack("{s:s,s:s,s:I,s:I,s:I,s:I}", "object", zObject, "kind",
                                              pRes->bSnapshot ? "snapshot" : "segment", "seq", (json_int_t)seq,
                                              "bytes", (json_int_t)nDb, "sealed_bytes", (json_int_t)nPut, "created",
                                              (json_int_t)now));
    size_t i;
    json_t *v;
    json_array_foreach(pChain, i, v) { json_object_set_new(pKeep, json_string_value(json_object_get(v, "object")), json_true()); }
    zHist = object_name(p, zTenant, "manifest", pRes->bUnchanged ? seq - 1 : seq);
    json_object_set_new(pKeep, zLatest, json_true());
    json_object_set_new(pKeep, zHist, json_true());
    json_object_set_new(pKeep, zLease, json_true());
    if (!pRes->bUnchanged) {
      json_array_foreach(pOldChain, i, v) {
        if (!json_object_get(pKeep, json_string_value(json_object_get(v, "object"))))
          json_array_append_new(pOldGarbage, json_pack("{s:O,s:I}", "object", json_object_get(v, "object"), "since",
                                                       (json_int_t)now));
      }
      if (pOld) {
        char *zPrev = object_name(p, zTenant, "manifest", seq - 1);
        json_array_append_new(pOldGarbage, json_pack("{s:s,s:I}", "object", zPrev, "since", (json_int_t)now));
        free(zPrev);
      }
    }
    sort_garbage(p, pOldGarbage, pListed, pKeep, pGarbage, pDue, now);
  }
  if (rc == 0 && !pRes->bUnchanged) {
    char zPii[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)], zNow[32];
    sodium_bin2base64(zPii, sizeof zPii, aPii, sizeof aPii, sodium_base64_VARIANT_ORIGINAL);
    utc_text(now, zNow, sizeof zNow);
    pM = json_pack("{s:i,s:s,s:I,s:s,s:I,s:i,s:I,s:s,s:O,s:O,s:s}", "v", 2, "tenant", zTenant, "seq", (json_int_t)seq,
                   "created", zNow, "created_unix", (json_int_t)now, "page_size", szPage, "pages", (json_int_t)nPage,
                   "file_hash", zHash, "chain", pChain, "garbage", pGarbage, "pii_key", zPii);
    sodium_memzero(zPii, sizeof zPii);
    /* the latest first, then its numbered copy: a reader that finds the
    ** numbered copy of the next number knows its latest was put back, and
    ** one that reads during a push never sees that (the other order made
    ** a replica refuse the latest while the push went on).  A crash
    ** between the two leaves the previous number without its copy: it is
    ** put now, from the latest read above. */
    long long nMan = 0;
    char *zPrev = pOld ? object_name(p, zTenant, "manifest", seq - 1) : NULL;
    rc = pM ? 0 : -1;
    if (rc == 0 && zPrev && !json_object_get(pListed, zPrev))
      rc = put_manifest(p, zTenant, zPrev, pOld, zWork, &nMan, pzErr);
    free(zPrev);
    if (rc == 0) rc = lease_is_mine(p, zTenant, zWork, pzErr);
    if (rc == 0) rc = put_manifest(p, zTenant, zLatest, pM, zWork, &nMan, pzErr);
    if (rc == 0) rc = put_manifest(p, zTenant, zHist, pM, zWork, &nMan, pzErr);
    pRes->nBytes += nMan;
    pRes->nObjects += 2;
  }
  /* past the retention, and needed by no manifest: gone */
  size_t i;
  json_t *v;
  json_array_foreach(pDue, i, v) {
    if (rc) break;
    char *zIgnored = NULL;
    if (vgd_obj_delete(&p->store, json_string_value(v), &zIgnored) == 0) pRes->nDeleted++;
    free(zIgnored);
  }
  /* the next push is due without a change when garbage falls due, or
  ** when the chain's snapshot outlives the retention */
  long long dueAt = 0;
  json_array_foreach(pGarbage, i, v) {
    long long t = json_integer_value(json_object_get(v, "since")) + p->retention;
    if (!dueAt || t < dueAt) dueAt = t;
  }
  if (json_array_size(pChain) > 1) {
    long long t = json_integer_value(json_object_get(json_array_get(pChain, 0), "created")) + p->retention;
    if (!dueAt || t < dueAt) dueAt = t;
  }
  pRes->seq = pRes->bUnchanged ? seq - 1 : seq;
  if (rc == 0) state_save(p, zTenant, pRes->seq, szPage, aHash, nPage, pRes->nBytes, NULL, 0, dueAt);
  else state_save(p, zTenant, 0, 0, NULL, 0, 0, *pzErr, nPending, 0);
  sodium_memzero(aPii, sizeof aPii);
  if (db) fclose(db);
  if (plain) erase_work_file(plain);
  vgd_erase_file(zSnap); /* a plain copy: its bytes do not outlive it */
  rmdir(zWork);
  json_decref(pOld);
  json_decref(pM);
  json_decref(pChain);
  json_decref(pListed);
  json_decref(pDue);
  json_decref(pKeep);
  json_decref(pGarbage);
  json_decref(pOldGarbage);
  free(aHash);
  free(aOld);
  free(zErr);
  free(zObject);
  free(zHist);
  free(zSnap);
  free(zLease);
  free(zLatest);
  free(zWork);
  return rc;
}

void vgd_sync_state_drop(VgdSync *p, const char *zTenant) {
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(p->dbState, "DELETE FROM sync_state WHERE tenant = ?1", -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    sqlite3_step(pStmt);
  }
  sqlite3_finalize(pStmt);
}

/* ---- a deleted tenant's copies ------------------------------------------------ */

json_t *vgd_sync_gone(VgdSync *p, VgdStore *pStore) {
  json_t *pOut = json_array();
  sqlite3_stmt *pStmt = NULL;
  if (sqlite3_prepare_v2(p->dbState, "SELECT tenant FROM sync_state ORDER BY tenant", -1, &pStmt, NULL) == SQLITE_OK)
    while (sqlite3_step(pStmt) == SQLITE_ROW) {
      const char *zTenant = (const char *)sqlite3_column_text(pStmt, 0);
      if (zTenant && vgd_tenant_id_ok(zTenant) && !vgd_tenant_exists(pStore, zTenant, NULL))
        json_array_append_new(pOut, json_string(zTenant));
    }
  sqlite3_finalize(pStmt);
  return pOut;
}

int vgd_sync_forget(VgdSync *p, VgdStore *pStore, const char *zTenant, int flags, int *pnDeleted, char **pzErr) {
  *pnDeleted = 0;
  if (vgd_tenant_exists(pStore, zTenant, NULL)) return 0;
  long long now = (long long)time(NULL), goneAt = 0;
  sqlite3_stmt *pStmt = NULL;
  /* the first round that finds it gone starts the retention */
  if (sqlite3_prepare_v2(p->dbState,
                         "UPDATE sync_state SET gone_at = coalesce(gone_at, ?2) WHERE tenant = ?1 RETURNING gone_at",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, now);
    if (sqlite3_step(pStmt) == SQLITE_ROW) goneAt = sqlite3_column_int64(pStmt, 0);
  }
  sqlite3_finalize(pStmt);
  if (!goneAt || now - goneAt < p->retention) return 0;
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  /* another box that took the tenant over keeps its copies */
  char *zLease = vgd_mprintf("%s/lease", zTenant), zBox[2 * VGD_SYNC_BOX_BYTES + 1], *zErr = NULL;
  box_hex(p, zBox);
  int bMissing = 0, rc = 0;
  json_t *pL = read_json(p, zTenant, zLease, zLease, zWork, &bMissing, &zErr);
  const char *zOwner = json_string_value(json_object_get(pL, "box"));
  if (!pL && !bMissing && !(flags & VGD_SYNC_TAKE_OVER)) {
    *pzErr = zErr;
    zErr = NULL;
    rc = -1;
  } else if (zOwner && strcmp(zOwner, zBox) && !(flags & VGD_SYNC_TAKE_OVER)) {
    *pzErr = vgd_mprintf("tenant \"%s\" was deleted here, but its copies are another box's (%s): left in place",
                         zTenant, zOwner);
    rc = -1;
  }
  json_decref(pL);
  free(zErr);
  /* the latest manifest first (readers then find no tenant rather than a
  ** chain with holes), the lease last */
  json_t *pNames = json_object();
  char *zLatest = vgd_mprintf("%s/manifest", zTenant);
  if (rc == 0) rc = list_tenant(p, zTenant, pNames, pzErr);
  const char *zName;
  json_t *v;
  if (rc == 0 && json_object_get(pNames, zLatest)) rc = vgd_obj_delete(&p->store, zLatest, pzErr);
  json_object_foreach(pNames, zName, v) {
    if (rc) break;
    if (!strcmp(zName, zLease)) continue;
    if (strcmp(zName, zLatest)) rc = vgd_obj_delete(&p->store, zName, pzErr);
    if (rc == 0) (*pnDeleted)++;
  }
  if (rc == 0 && json_object_get(pNames, zLease) && (rc = vgd_obj_delete(&p->store, zLease, pzErr)) == 0)
    (*pnDeleted)++;
  if (rc == 0) vgd_sync_state_drop(p, zTenant);
  if (p->store.zDir && rc == 0) {
    char *zDir = vgd_mprintf("%s/%s", p->store.zDir, zTenant);
    rmdir(zDir);
    free(zDir);
  }
  free(zLatest);
  free(zLease);
  json_decref(pNames);
  rmdir(zWork);
  free(zWork);
  return rc;
}

/* ---- restore ------------------------------------------------------------------------ */

/* The file manifest pM of zTenant describes, built in zOut from its chain
** and checked against the manifest's hash.  baseSeq > 0: zOut holds the
** file of manifest baseSeq, of the same snapshot; only later links are
** applied. */
static int build_file(VgdSync *p, const char *zTenant, json_t *pM, const char *zWork, const char *zOut,
                      long long baseSeq, char **pzErr) {
  json_t *pChain = json_object_get(pM, "chain");
  long long seq = json_integer_value(json_object_get(pM, "seq")), prev = 0;
  int szPage = (int)json_integer_value(json_object_get(pM, "page_size"));
  const char *zLatest = "manifest";
  int rc = 0, bMissing = 0;
  if (!json_is_array(pChain) || json_array_size(pChain) == 0) {
    *pzErr = vgd_mprintf("object %s/%s is refused: it lists no snapshot", zTenant, zLatest);
    return -1;
  }
  int fd = open(zOut, O_RDWR | O_CREAT | (baseSeq ? 0 : O_TRUNC), 0600);
  FILE *out = fd >= 0 ? fdopen(dup(fd), "wb") : NULL;
  if (!out) {
    *pzErr = vgd_mprintf("cannot write %s: %s", zOut, strerror(errno));
    rc = -1;
  }
  size_t i;
  json_t *v;
  json_array_foreach(pChain, i, v) {
    if (rc) break;
    const char *zObject = json_string_value(json_object_get(v, "object"));
    const char *zKind = json_string_value(json_object_get(v, "kind"));
    long long s = json_integer_value(json_object_get(v, "seq"));
    char *zExpect = object_name(p, zTenant, i == 0 ? "snapshot" : "segment", s);
    /* each link is the object of its kind and number, in order */
    if (!zObject || !zKind || strcmp(zKind, i == 0 ? "snapshot" : "segment") || strcmp(zObject, zExpect) || s <= prev ||
        s > seq) {
      *pzErr = vgd_mprintf("object %s/%s is refused: link %zu of its chain is not %s %lld of tenant \"%s\"", zTenant,
                           zLatest, i, i == 0 ? "snapshot" : "segment", s, zTenant);
      rc = -1;
    } else if (s <= baseSeq) {
      /* in the base already */
    } else if (i == 0) {
      rc = get_object(p, zTenant, zObject, zObject, zWork, out, &bMissing, pzErr);
      if (rc == 0 && fflush(out)) rc = -1;
    } else {
      FILE *seg = vgd_work_file(zWork, pzErr);
      rc = seg ? get_object(p, zTenant, zObject, zObject, zWork, seg, &bMissing, pzErr) : -1;
      const char *zWhy = NULL;
      if (rc == 0) {
        rewind(seg);
        zWhy = apply_segment(seg, fd, szPage);
      }
      if (zWhy) {
        *pzErr = vgd_mprintf("object %s is refused: %s", zObject, zWhy);
        rc = -1;
      }
      if (seg) erase_work_file(seg);
    }
    prev = s;
    free(zExpect);
  }
  if (out) fclose(out);
  /* the file made must be the file pushed */
  FILE *in = rc == 0 ? fopen(zOut, "rb") : NULL;
  long long nPage = 0;
  unsigned char *aHash = in && page_size_of(in) == szPage ? hash_pages(in, szPage, &nPage) : NULL;
  char zHash[65] = "";
  if (aHash) file_hash(aHash, nPage, zHash);
  const char *zWant = json_string_value(json_object_get(pM, "file_hash"));
  if (rc == 0 && (!zWant || strcmp(zWant, zHash))) {
    *pzErr = vgd_mprintf("object %s/%s is refused: the file its chain builds is not the file pushed (hash differs)",
                         zTenant, zLatest);
    rc = -1;
  }
  if (in) fclose(in);
  free(aHash);
  if (rc == 0 && fsync(fd)) {
    *pzErr = vgd_mprintf("cannot write %s: %s", zOut, strerror(errno));
    rc = -1;
  }
  if (fd >= 0) close(fd);
  return rc;
}

/* zTenant's latest manifest, checked against a replay; NULL and *pzErr. */
static json_t *latest_manifest(VgdSync *p, const char *zTenant, const char *zWork, int *pbMissing, char **pzErr) {
  char *zLatest = vgd_mprintf("%s/manifest", zTenant);
  json_t *pM = NULL;
  /* a push between the two reads below puts the latest, then its copy:
  ** the next copy found once is read again as the latest before it counts
  ** as a replay */
  for (int iTry = 0; iTry < 2; iTry++) {
    int bMissing = 0;
    json_decref(pM);
    free(*pzErr);
    *pzErr = NULL;
    pM = read_manifest(p, zTenant, zLatest, zWork, &bMissing, pzErr);
    *pbMissing = bMissing;
    if (!pM) break;
    long long seq = json_integer_value(json_object_get(pM, "seq"));
    char *zNext = object_name(p, zTenant, "manifest", seq + 1), *zErr = NULL;
    FILE *f = vgd_obj_read(&p->store, zNext, zWork, &bMissing, &zErr);
    int bReplay = f != NULL;
    if (f) {
      *pzErr = vgd_mprintf("object %s is refused: it is manifest %lld, but manifest %lld exists (%s): an older "
                           "manifest was put back",
                           zLatest, seq, seq + 1, zNext);
      fclose(f);
      json_decref(pM);
      pM = NULL;
    } else if (!bMissing) {
      *pzErr = zErr;
      zErr = NULL;
      json_decref(pM);
      pM = NULL;
    }
    free(zErr);
    free(zNext);
    if (!bReplay) break;
  }
  free(zLatest);
  return pM;
}

/* The PII key a manifest carries, into aPii; 0 if it has none. */
static int manifest_pii_key(json_t *pM, unsigned char *aPii) {
  const char *zPii = json_string_value(json_object_get(pM, "pii_key"));
  size_t nPii = 0;
  return zPii && !sodium_base642bin(aPii, 32, zPii, strlen(zPii), NULL, &nPii, NULL, sodium_base64_VARIANT_ORIGINAL) &&
         nPii == 32;
}

int vgd_sync_restore(VgdSync *p, VgdStore *pStore, const char *zTenant, char **pzKey, long long *piSeq,
                     char **pzErr) {
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  int bMissing = 0;
  json_t *pM = latest_manifest(p, zTenant, zWork, &bMissing, pzErr);
  char *zDb = vgd_mprintf("%s/restored.db", zWork);
  int rc = pM ? build_file(p, zTenant, pM, zWork, zDb, 0, pzErr) : -1;
  /* on a new box the tenant is registered with the PII key it had */
  unsigned char aPii[32];
  if (rc == 0 && !manifest_pii_key(pM, aPii)) {
    *pzErr = vgd_mprintf("object %s/manifest is refused: it holds no PII key", zTenant);
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
  if (rc == 0) *piSeq = json_integer_value(json_object_get(pM, "seq"));
  vgd_erase_file(zDb);
  rmdir(zWork);
  free(zWork);
  free(zDb);
  json_decref(pM);
  return rc;
}

/* ---- pull (a replica) ------------------------------------------------------------ */

int vgd_copy_file(const char *zFrom, const char *zTo, char **pzErr) {
  int fdIn = open(zFrom, O_RDONLY), fdOut = open(zTo, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char aBuf[64 * 1024];
  int rc = fdIn >= 0 && fdOut >= 0 ? 0 : -1;
  for (ssize_t n; rc == 0 && (n = read(fdIn, aBuf, sizeof aBuf)) != 0;)
    if (n < 0 || write(fdOut, aBuf, (size_t)n) != n) rc = -1;
  if (rc == 0 && fsync(fdOut)) rc = -1;
  if (rc) *pzErr = vgd_mprintf("cannot copy %s to %s: %s", zFrom, zTo, strerror(errno));
  if (fdIn >= 0) close(fdIn);
  if (fdOut >= 0) close(fdOut);
  return rc;
}

int vgd_sync_pull(VgdSync *p, VgdStore *pStore, const char *zTenant, const char *zBase, VgdPull *pPull,
                  char **pzErr) {
  char *zWork = work_dir(pStore, pzErr);
  if (!zWork) return -1;
  int bMissing = 0;
  json_t *pM = latest_manifest(p, zTenant, zWork, &bMissing, pzErr);
  int rc = pM ? 0 : bMissing ? VGD_SYNC_NO_TENANT : -1;
  long long seq = json_integer_value(json_object_get(pM, "seq"));
  long long snap = json_integer_value(json_object_get(json_array_get(json_object_get(pM, "chain"), 0), "seq"));
  if (rc == 0 && !manifest_pii_key(pM, pPull->piiKey)) {
    *pzErr = vgd_mprintf("object %s/manifest is refused: it holds no PII key", zTenant);
    rc = -1;
  }
  if (rc == 0) pPull->created = json_integer_value(json_object_get(pM, "created_unix"));
  const char *zHash = json_string_value(json_object_get(pM, "file_hash"));
  if (rc == 0 && seq == pPull->seq && zHash && !strcmp(zHash, pPull->zFileHash) && access(zBase, F_OK) == 0) {
    rc = 1; /* current */
  } else if (rc == 0) {
    char *zTmp = vgd_mprintf("%s/next.db", zWork);
    /* the base holds an earlier state of the same chain: the later links
    ** only; anything else (or a base that does not check out) is built
    ** whole */
    int bIncremental = pPull->seq > 0 && pPull->seq < seq && pPull->snapshotSeq == snap && access(zBase, F_OK) == 0;
    /* the base is renamed over below: its plain pages are erased, not
    ** left in the file system's free space */
    char *zOld = vgd_mprintf("%s/old.db", zWork);
    char *zErr = NULL;
    if (bIncremental && (vgd_copy_file(zBase, zTmp, &zErr) || build_file(p, zTenant, pM, zWork, zTmp, pPull->seq, &zErr)))
      bIncremental = 0;
    free(zErr);
    if (!bIncremental) rc = build_file(p, zTenant, pM, zWork, zTmp, 0, pzErr);
    if (rc == 0 && link(zBase, zOld) && errno != ENOENT) {
      *pzErr = vgd_mprintf("cannot link %s to %s: %s", zBase, zOld, strerror(errno));
      rc = -1;
    }
    if (rc == 0 && rename(zTmp, zBase)) {
      *pzErr = vgd_mprintf("cannot rename %s to %s: %s", zTmp, zBase, strerror(errno));
      rc = -1;
    }
    vgd_erase_file(zOld);
    free(zOld);
    vgd_erase_file(zTmp);
    free(zTmp);
    if (rc == 0) {
      pPull->seq = seq;
      pPull->snapshotSeq = snap;
      snprintf(pPull->zFileHash, sizeof pPull->zFileHash, "%s", zHash ? zHash : "");
    }
  }
  if (rc < 0) sodium_memzero(pPull->piiKey, sizeof pPull->piiKey);
  rmdir(zWork);
  free(zWork);
  json_decref(pM);
  return rc;
}
