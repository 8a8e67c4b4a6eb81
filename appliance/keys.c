/*
** keys.c — the server's key store: DIR/secret, DIR/keys.db, DIR/admin.key.
** API keys are kept only as BLAKE2b keyed with the secret, so a copy of
** keys.db alone lets no one in.
*/
#include "vecguardd.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kSchema =
    "CREATE TABLE IF NOT EXISTS tenants("
    "  serial INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
    "  pii_key BLOB NOT NULL, created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ')));"
    "CREATE TABLE IF NOT EXISTS api_keys("
    "  key_id TEXT PRIMARY KEY, tenant TEXT NOT NULL, hash BLOB NOT NULL, scopes TEXT NOT NULL,"
    "  created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ')), revoked_at TEXT, expires_at TEXT);";

/* A key is live until revoked_at, or until expires_at (set by a rotation). */
#define KEY_LIVE "revoked_at IS NULL AND (expires_at IS NULL OR expires_at > strftime('%Y-%m-%dT%H:%M:%SZ'))"

int vgd_key_file_create(const char *zPath, size_t n, char **pzErr) {
  int fd = open(zPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    *pzErr = vgd_mprintf("cannot create %s: %s", zPath, strerror(errno));
    return errno == EEXIST ? SQLITE_CONSTRAINT : SQLITE_CANTOPEN;
  }
  unsigned char a[64];
  randombytes_buf(a, n < sizeof a ? n : sizeof a);
  int ok = n <= sizeof a && write(fd, a, n) == (ssize_t)n && fsync(fd) == 0;
  sodium_memzero(a, sizeof a);
  close(fd);
  if (!ok) {
    *pzErr = vgd_mprintf("cannot write %s: %s", zPath, strerror(errno));
    unlink(zPath);
    return SQLITE_IOERR;
  }
  return SQLITE_OK;
}

int vgd_key_file_read(const char *zPath, unsigned char *a, size_t n, char **pzErr) {
  int fd = open(zPath, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *pzErr = vgd_mprintf("cannot open %s: %s", zPath, strerror(errno));
    return errno == ENOENT ? SQLITE_NOTFOUND : SQLITE_CANTOPEN;
  }
  struct stat st;
  int ok = fstat(fd, &st) == 0 && st.st_size == (off_t)n && read(fd, a, n) == (ssize_t)n;
  close(fd);
  if (ok) return SQLITE_OK;
  sodium_memzero(a, n);
  *pzErr = vgd_mprintf("%s is not %zu bytes", zPath, n);
  return SQLITE_CORRUPT;
}

/* Read the secret, creating it (0600) on first run. */
static int load_secret(VgdStore *p, char **pzErr) {
  char *zPath = vgd_mprintf("%s/secret", p->zDir);
  int rc = vgd_key_file_read(zPath, p->secret, sizeof p->secret, pzErr);
  if (rc == SQLITE_NOTFOUND) {
    free(*pzErr);
    *pzErr = NULL;
    rc = vgd_key_file_create(zPath, sizeof p->secret, pzErr);
    if (rc == SQLITE_CONSTRAINT) {
      /* another process made it meanwhile: it is the one */
      free(*pzErr);
      *pzErr = NULL;
      rc = SQLITE_OK;
    }
    if (rc == SQLITE_OK) rc = vgd_key_file_read(zPath, p->secret, sizeof p->secret, pzErr);
  }
  if (rc == SQLITE_CORRUPT) {
    char *zWhy = *pzErr;
    *pzErr = vgd_mprintf("%s: restore it or remove the data directory", zWhy);
    free(zWhy);
  }
  free(zPath);
  return rc == SQLITE_OK ? 0 : -1;
}

/* On first run, an admin key into DIR/admin.key (0600). */
static int ensure_admin_key(VgdStore *p, char **pzErr) {
  char *zPath = vgd_mprintf("%s/admin.key", p->zDir);
  struct stat st;
  int rc = 0;
  if (stat(zPath, &st) != 0) {
    char *zKey = NULL, *zId = NULL;
    rc = vgd_key_create(p, "", "admin", &zKey, &zId, pzErr);
    if (rc == 0) {
      int fd = open(zPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
      size_t n = strlen(zKey);
      if (fd < 0 || write(fd, zKey, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        *pzErr = vgd_mprintf("cannot write %s: %s", zPath, strerror(errno));
        rc = -1;
      }
      if (fd >= 0) close(fd);
      sodium_memzero(zKey, n);
    }
    free(zKey);
    free(zId);
  }
  free(zPath);
  return rc;
}

int vgd_store_open(VgdStore *p, const char *zDir, char **pzErr) {
  memset(p, 0, sizeof *p);
  pthread_mutex_init(&p->mu, NULL);
  p->zDir = strdup(zDir);
  if (sodium_init() < 0) {
    *pzErr = vgd_mprintf("libsodium failed to initialise");
    return -1;
  }
  char *zTenants = vgd_mprintf("%s/tenants", zDir);
  int okDirs = (mkdir(zDir, 0700) == 0 || errno == EEXIST) && (mkdir(zTenants, 0700) == 0 || errno == EEXIST);
  free(zTenants);
  if (!okDirs) {
    *pzErr = vgd_mprintf("cannot create the data directory %s: %s", zDir, strerror(errno));
    return -1;
  }
  if (load_secret(p, pzErr)) return -1;
  char *zDb = vgd_mprintf("%s/keys.db", zDir);
  int rc = sqlite3_open_v2(zDb, &p->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
  free(zDb);
  if (rc == SQLITE_OK) {
    sqlite3_busy_timeout(p->db, VGD_BUSY_MS);
    rc = sqlite3_exec(p->db, "PRAGMA journal_mode=WAL; PRAGMA secure_delete=ON;", NULL, NULL, NULL);
  }
  if (rc == SQLITE_OK) rc = sqlite3_exec(p->db, kSchema, NULL, NULL, NULL);
  /* keys.db of a version before rotation */
  if (rc == SQLITE_OK && sqlite3_exec(p->db, "SELECT expires_at FROM api_keys LIMIT 0", NULL, NULL, NULL) != SQLITE_OK)
    rc = sqlite3_exec(p->db, "ALTER TABLE api_keys ADD COLUMN expires_at TEXT", NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    *pzErr = vgd_mprintf("cannot open %s/keys.db: %s", zDir, p->db ? sqlite3_errmsg(p->db) : "out of memory");
    return -1;
  }
  return ensure_admin_key(p, pzErr);
}

void vgd_store_close(VgdStore *p) {
  sqlite3_close(p->db);
  p->db = NULL;
  free(p->zDir);
  p->zDir = NULL;
  sodium_memzero(p->secret, sizeof p->secret);
  pthread_mutex_destroy(&p->mu);
}

static void key_hash(VgdStore *p, const char *zKey, unsigned char *aOut) {
  crypto_generichash(aOut, VGD_HASH_BYTES, (const unsigned char *)zKey, strlen(zKey), p->secret, sizeof p->secret);
}

static int is_hex(const char *z, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!((z[i] >= '0' && z[i] <= '9') || (z[i] >= 'a' && z[i] <= 'f'))) return 0;
  return 1;
}

/* Keys read "vgk_" + 16 hex digits (the id, to find the row) + "_" + 64. */
#define KEY_LEN (4 + 16 + 1 + 64)

int vgd_key_check(VgdStore *p, const char *zKey, VgdKey *pKey) {
  memset(pKey, 0, sizeof *pKey);
  if (strlen(zKey) != KEY_LEN || memcmp(zKey, "vgk_", 4) || zKey[20] != '_' || !is_hex(zKey + 4, 16) ||
      !is_hex(zKey + 21, 64))
    return 0;
  char zId[17];
  memcpy(zId, zKey + 4, 16);
  zId[16] = 0;
  unsigned char aHash[VGD_HASH_BYTES];
  key_hash(p, zKey, aHash);
  int ok = 0;
  sqlite3_stmt *pStmt = NULL;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db, "SELECT tenant, hash, scopes FROM api_keys WHERE key_id = ? AND " KEY_LIVE, -1,
                         &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_bytes(pStmt, 1) == VGD_HASH_BYTES &&
        sodium_memcmp(sqlite3_column_blob(pStmt, 1), aHash, VGD_HASH_BYTES) == 0) {
      const char *zT = (const char *)sqlite3_column_text(pStmt, 0);
      const char *zS = (const char *)sqlite3_column_text(pStmt, 2);
      if (zT && zS && strlen(zT) <= VGD_TENANT_MAX) {
        strcpy(pKey->zTenant, zT);
        strcpy(pKey->zKeyId, zId);
        pKey->bAdmin = strstr(zS, "admin") != NULL;
        pKey->bSearch = strstr(zS, "search") != NULL;
        pKey->bIngest = strstr(zS, "ingest") != NULL;
        ok = 1;
      }
    }
  }
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return ok;
}

/* Scopes: a comma list of search, ingest, admin; normalised into aOut. */
static int scopes_ok(const char *z, char *aOut, size_t nOut) {
  static const char *azScope[] = {"search", "ingest", "admin"};
  int seen[3] = {0, 0, 0};
  const char *zEnd;
  for (; *z; z = *zEnd ? zEnd + 1 : zEnd) {
    zEnd = strchr(z, ',');
    if (!zEnd) zEnd = z + strlen(z);
    int i;
    for (i = 0; i < 3; i++)
      if ((size_t)(zEnd - z) == strlen(azScope[i]) && !memcmp(z, azScope[i], zEnd - z)) break;
    if (i == 3) return 0;
    seen[i] = 1;
  }
  aOut[0] = 0;
  for (int i = 0; i < 3; i++)
    if (seen[i]) snprintf(aOut + strlen(aOut), nOut - strlen(aOut), "%s%s", aOut[0] ? "," : "", azScope[i]);
  return aOut[0] != 0;
}

int vgd_key_create(VgdStore *p, const char *zTenant, const char *zScopes, char **pzKey, char **pzId,
                   char **pzErr) {
  char zNorm[64];
  if (!scopes_ok(zScopes, zNorm, sizeof zNorm) || (zTenant[0] && strstr(zNorm, "admin"))) {
    *pzErr = zTenant[0] ? vgd_mprintf("bad scopes \"%s\": a tenant's key takes a comma list of search, ingest",
                                      zScopes)
                        : vgd_mprintf("bad scopes \"%s\": send a comma list of search, ingest, admin", zScopes);
    return SQLITE_MISUSE;
  }
  unsigned char aRand[8 + 32];
  char zHex[2 * sizeof aRand + 1];
  randombytes_buf(aRand, sizeof aRand);
  sodium_bin2hex(zHex, sizeof zHex, aRand, sizeof aRand);
  sodium_memzero(aRand, sizeof aRand);
  char *zKey = vgd_mprintf("vgk_%.16s_%s", zHex, zHex + 16);
  char *zId = vgd_mprintf("%.16s", zHex);
  sodium_memzero(zHex, sizeof zHex);
  unsigned char aHash[VGD_HASH_BYTES];
  key_hash(p, zKey, aHash);
  sqlite3_stmt *pStmt = NULL;
  pthread_mutex_lock(&p->mu);
  /* Only for a tenant listed now: a key made while its tenant is deleted
  ** must not outlive it. */
  int rc = sqlite3_prepare_v2(p->db,
                              "INSERT INTO api_keys(key_id, tenant, hash, scopes) SELECT ?1, ?2, ?3, ?4"
                              " WHERE ?2 = '' OR EXISTS (SELECT 1 FROM tenants WHERE id = ?2)",
                              -1, &pStmt, NULL);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zTenant, -1, SQLITE_STATIC);
    sqlite3_bind_blob(pStmt, 3, aHash, sizeof aHash, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 4, zNorm, -1, SQLITE_STATIC);
    rc = sqlite3_step(pStmt) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    if (rc == SQLITE_OK && sqlite3_changes(p->db) == 0) {
      rc = SQLITE_NOTFOUND;
      *pzErr = vgd_mprintf("no tenant \"%s\"", zTenant);
    }
  }
  if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND) *pzErr = vgd_mprintf("cannot store the key: %s", sqlite3_errmsg(p->db));
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  if (rc != SQLITE_OK) {
    sodium_memzero(zKey, strlen(zKey));
    free(zKey);
    free(zId);
    return rc;
  }
  *pzKey = zKey;
  *pzId = zId;
  return 0;
}

static char *no_live_key(const char *zId, const char *zTenant) {
  return zTenant ? vgd_mprintf("no live key \"%s\" of tenant \"%s\": send an id that the key list shows", zId, zTenant)
                 : vgd_mprintf("no live key \"%s\": send an id that the key list shows", zId);
}

int vgd_key_revoke(VgdStore *p, const char *zTenant, const char *zId, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  int rc = -1;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db,
                         "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ') "
                         "WHERE key_id = ?1 AND (?2 IS NULL OR tenant = ?2) AND " KEY_LIVE,
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    if (zTenant) sqlite3_bind_text(pStmt, 2, zTenant, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_DONE) {
      if (sqlite3_changes(p->db) == 1) rc = 0;
      else *pzErr = no_live_key(zId, zTenant);
    }
  }
  if (rc && !*pzErr) *pzErr = vgd_mprintf("cannot revoke: %s", sqlite3_errmsg(p->db));
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return rc;
}

/* The live key zId's tenant and scopes, under mu; 0 if there is none. */
static int live_key(VgdStore *p, const char *zId, char *zTenant, char *zScopes, size_t nScopes) {
  sqlite3_stmt *pStmt = NULL;
  int ok = 0;
  if (sqlite3_prepare_v2(p->db, "SELECT tenant, scopes FROM api_keys WHERE key_id = ? AND " KEY_LIVE, -1, &pStmt,
                         NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW && sqlite3_column_bytes(pStmt, 0) <= VGD_TENANT_MAX &&
        (size_t)sqlite3_column_bytes(pStmt, 1) < nScopes) {
      strcpy(zTenant, (const char *)sqlite3_column_text(pStmt, 0));
      strcpy(zScopes, (const char *)sqlite3_column_text(pStmt, 1));
      ok = 1;
    }
  }
  sqlite3_finalize(pStmt);
  return ok;
}

int vgd_key_rotate(VgdStore *p, const char *zTenant, const char *zId, long long nGraceSeconds, char **pzKey,
                   char **pzNewId, char **pzExpires, char *zScopesOut, char **pzErr) {
  char zOwner[VGD_TENANT_MAX + 1], zScopes[VGD_SCOPES_MAX];
  pthread_mutex_lock(&p->mu);
  int ok = live_key(p, zId, zOwner, zScopes, sizeof zScopes) && (!zTenant || !strcmp(zTenant, zOwner));
  pthread_mutex_unlock(&p->mu);
  if (!ok) {
    *pzErr = no_live_key(zId, zTenant);
    return SQLITE_NOTFOUND;
  }
  snprintf(zScopesOut, VGD_SCOPES_MAX, "%s", zScopes);
  if (vgd_key_create(p, zOwner, zScopes, pzKey, pzNewId, pzErr)) return SQLITE_ERROR;
  /* The old key keeps working for the grace period, never longer than it
  ** would have anyway. */
  sqlite3_stmt *pStmt = NULL;
  int rc = SQLITE_ERROR;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db,
                         "UPDATE api_keys SET expires_at = min(coalesce(expires_at, '9999'),"
                         " strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?2 || ' seconds')) WHERE key_id = ?1"
                         " RETURNING expires_at",
                         -1, &pStmt, NULL) == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, zId, -1, SQLITE_STATIC);
    sqlite3_bind_int64(pStmt, 2, nGraceSeconds);
    if (sqlite3_step(pStmt) == SQLITE_ROW) {
      *pzExpires = strdup((const char *)sqlite3_column_text(pStmt, 0));
      rc = SQLITE_OK;
    }
  }
  if (rc != SQLITE_OK) *pzErr = vgd_mprintf("cannot rotate: %s", sqlite3_errmsg(p->db));
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  if (rc != SQLITE_OK) {
    /* no key the caller never saw stays live */
    char *zIgnored = NULL;
    vgd_key_revoke(p, NULL, *pzNewId, &zIgnored);
    free(zIgnored);
    sodium_memzero(*pzKey, strlen(*pzKey));
    free(*pzKey);
    free(*pzNewId);
    *pzKey = *pzNewId = NULL;
  }
  return rc;
}

/* The first column of every row of zSql (one text parameter) as JSON. */
static char *json_query(VgdStore *p, const char *zSql, const char *zParam, char **pzErr) {
  sqlite3_stmt *pStmt = NULL;
  char *zOut = NULL;
  pthread_mutex_lock(&p->mu);
  if (sqlite3_prepare_v2(p->db, zSql, -1, &pStmt, NULL) == SQLITE_OK) {
    if (zParam) sqlite3_bind_text(pStmt, 1, zParam, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW) zOut = strdup((const char *)sqlite3_column_text(pStmt, 0));
  }
  if (!zOut) *pzErr = vgd_mprintf("cannot read keys.db: %s", sqlite3_errmsg(p->db));
  sqlite3_finalize(pStmt);
  pthread_mutex_unlock(&p->mu);
  return zOut;
}

char *vgd_key_list(VgdStore *p, const char *zTenant, char **pzErr) {
  return json_query(p,
                    "SELECT json_group_array(json_object('key_id', key_id, 'scopes', scopes, 'created_at', "
                    "created_at, 'revoked_at', revoked_at, 'expires_at', expires_at)) FROM (SELECT * FROM api_keys WHERE tenant = ? "
                    "ORDER BY created_at, key_id)",
                    zTenant, pzErr);
}

char *vgd_tenant_list(VgdStore *p, char **pzErr) {
  return json_query(p, "SELECT json_group_array(id) FROM (SELECT id FROM tenants ORDER BY id)", NULL, pzErr);
}
