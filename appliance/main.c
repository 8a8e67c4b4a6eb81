/*
** main.c — vecguardd's command line: serve, tenant and key commands.
** Usage errors exit 2, naming what is wrong and what to send.
*/
#include "vecguardd.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

char *vgd_mprintf(const char *zFmt, ...) {
  va_list ap;
  va_start(ap, zFmt);
  char *z = NULL;
  if (vasprintf(&z, zFmt, ap) < 0) z = NULL;
  va_end(ap);
  if (!z) abort(); /* out of memory: nothing sensible is left to do */
  return z;
}

double vgd_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct timespec vgd_deadline(long ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = ts.tv_nsec + (long long)ms * 1000000;
  ts.tv_sec += (time_t)(ns / 1000000000);
  ts.tv_nsec = (long)(ns % 1000000000);
  return ts;
}

int vgd_fsync_path(const char *zPath, int bDir) {
  int fd = open(zPath, (bDir ? O_RDONLY | O_DIRECTORY : O_RDWR) | O_CLOEXEC);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

void *vgd_array_push(void *pa, int *pn, size_t nSize) {
  void **ppa = pa;
  char *a = realloc(*ppa, (size_t)(*pn + 1) * nSize);
  if (!a) return NULL;
  *ppa = a;
  memset(a + (size_t)*pn * nSize, 0, nSize);
  return a + (size_t)(*pn)++ * nSize;
}

static const char *kUsage =
    "usage:\n"
    "  vecguardd serve --data-dir DIR --listen 127.0.0.1:PORT [--config FILE] [--workers N] [--replica]\n"
    "      (--replica: serve [sync] target's tenants read-only)\n"
    "    (N embedding threads, default 1; 0 serves the API and embeds nothing)\n"
    "  vecguardd tenant create|delete ID --data-dir DIR\n"
    "  vecguardd tenant list --data-dir DIR\n"
    "  vecguardd key create TENANT --data-dir DIR [--scopes search,ingest,admin]\n"
    "  vecguardd key list TENANT --data-dir DIR\n"
    "  vecguardd key revoke KEY_ID --data-dir DIR\n"
    "  vecguardd key rotate KEY_ID --data-dir DIR [--grace SECONDS]   (the old key lives SECONDS more, default 86400)\n"
    "  vecguardd backup --data-dir DIR --tenant T --to FILE\n"
    "  vecguardd restore --data-dir DIR --tenant T --from FILE   (no server may run on DIR)\n"
    "  vecguardd sync-key create FILE   (32 random bytes: the key of every synced copy; keep it apart)\n"
    "  vecguardd sync --config FILE --data-dir DIR [--tenant T | --all] [--compact] [--take-over]\n"
    "      (changes since the last sync, or a snapshot, to [sync] target)\n"
    "  vecguardd restore --config FILE --data-dir DIR --tenant T [--from s3://B/P | file:///P]\n"
    "      (from [sync] target; no server may run on DIR)\n"
    "  vecguardd check --data-dir DIR [--tenant T]   (integrity_check and vg_hnsw_check of every tenant; safe while serving)\n"
    "  vecguardd COMMAND --help\n"
    "The admin key is written to DIR/admin.key on first use of DIR (docs/appliance.md).\n";

static int usage_error(const char *zFmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *zFmt, ...) {
  va_list ap;
  va_start(ap, zFmt);
  fputs("vecguardd: ", stderr);
  vfprintf(stderr, zFmt, ap);
  fputs("\n", stderr);
  va_end(ap);
  fputs(kUsage, stderr);
  return 2;
}

/* Settings: built-in defaults, then the INI file, then the environment
** (VECGUARDD_<SECTION>_<NAME>), then the command line. */
typedef struct Settings Settings;
struct Settings {
  char *zConfig;
  char *zDataDir, *zListen, *zScopes;
  char *zTenant, *zTo, *zFrom; /* backup, restore */
  char *zTlsCert, *zTlsKey;
  char *zSyncTarget, *zSyncEndpoint, *zSyncRegion, *zSyncAccessEnv, *zSyncSecretEnv, *zSyncKeyFile;
  long long syncInterval, syncRetention, syncMaxBytesPerSecond;
  int bAll;       /* sync --all */
  int syncFlags;  /* sync --compact, --take-over */
  int bReplica;   /* serve --replica */
  long long nWorkers, idleMs, bodyLimit, maxOpenFiles, maxConnections;
  long long ratePerSecond, rateBurst, logRequests;
  long long connectionsPerTenant, mmapBytes;
  long long graceSeconds; /* key rotate */
  char zError[600];       /* why the settings did not load */
};

/* One config key: a string, or a whole number in [iMin, iMax]. */
typedef struct SettingDef SettingDef;
struct SettingDef {
  const char *zSection, *zName;
  size_t offset;
  int bString;
  long long iMin, iMax;
};

#define STR(s, n, f) {s, n, offsetof(Settings, f), 1, 0, 0}
#define NUM(s, n, f, lo, hi) {s, n, offsetof(Settings, f), 0, lo, hi}
static const SettingDef aSettingDef[] = {
    STR("server", "data_dir", zDataDir),
    STR("server", "listen", zListen),
    NUM("server", "workers", nWorkers, 0, 64),
    NUM("server", "max_body_bytes", bodyLimit, 1, 64 * 1024 * 1024),
    NUM("server", "max_open_files", maxOpenFiles, 64, 1048576),
    NUM("server", "max_connections", maxConnections, 1, 16384),
    NUM("server", "connections_per_tenant", connectionsPerTenant, 1, 64),
    NUM("server", "mmap_bytes", mmapBytes, 0, 1LL << 40),
    STR("server", "tls_cert", zTlsCert),
    STR("server", "tls_key", zTlsKey),
    NUM("workers", "idle_ms", idleMs, 1, 60000),
    NUM("limits", "requests_per_second", ratePerSecond, 0, 1000000),
    NUM("limits", "burst", rateBurst, 1, 1000000),
    NUM("log", "requests", logRequests, 0, 1),
    STR("sync", "target", zSyncTarget),
    STR("sync", "endpoint", zSyncEndpoint),
    STR("sync", "region", zSyncRegion),
    STR("sync", "access_key_env", zSyncAccessEnv),
    STR("sync", "secret_key_env", zSyncSecretEnv),
    STR("sync", "key_file", zSyncKeyFile),
    NUM("sync", "interval", syncInterval, 1, 86400 * 30),
    NUM("sync", "retention", syncRetention, 0, 86400 * 3650),
    NUM("sync", "max_bytes_per_second", syncMaxBytesPerSecond, 0, 1LL << 40),
};
#undef STR
#undef NUM
#define N_SETTING_DEF (sizeof aSettingDef / sizeof aSettingDef[0])

static int set_string(char **pz, const char *zValue) {
  free(*pz);
  *pz = strdup(zValue);
  return 1;
}

static void settings_free(Settings *p) {
  for (size_t i = 0; i < N_SETTING_DEF; i++)
    if (aSettingDef[i].bString) free(*(char **)((char *)p + aSettingDef[i].offset));
  free(p->zConfig);
  free(p->zScopes);
  free(p->zTenant);
  free(p->zTo);
  free(p->zFrom);
}

static void settings_defaults(Settings *p) {
  memset(p, 0, sizeof *p);
  p->nWorkers = 1;
  p->idleMs = 200;
  p->bodyLimit = VGD_BODY_LIMIT;
  p->maxOpenFiles = 1024;
  p->maxConnections = 256;
  p->ratePerSecond = 1000;
  p->rateBurst = 2000;
  p->logRequests = 1;
  p->graceSeconds = 86400;
  long nCpu = sysconf(_SC_NPROCESSORS_ONLN);
  p->connectionsPerTenant = nCpu > 2 ? (nCpu < 64 ? nCpu : 64) : 2;
  p->mmapBytes = 1LL << 30;
  p->syncInterval = 300;
  p->syncRetention = 7 * 86400;
}

/* Set zSection.zName from zValue; 0 and a message naming zWhere if bad. */
static int setting_apply(Settings *p, const char *zSection, const char *zName, const char *zValue,
                         const char *zWhere) {
  for (size_t i = 0; i < N_SETTING_DEF; i++) {
    const SettingDef *d = &aSettingDef[i];
    if (strcmp(d->zSection, zSection) || strcmp(d->zName, zName)) continue;
    if (d->bString) return set_string((char **)((char *)p + d->offset), zValue);
    char *zEnd;
    errno = 0;
    long long v = strtoll(zValue, &zEnd, 10);
    if (errno || zEnd == zValue || *zEnd || v < d->iMin || v > d->iMax) {
      if (!p->zError[0])
        snprintf(p->zError, sizeof p->zError, "%s%s[%s] %s must be a whole number from %lld to %lld; got \"%.100s\"",
                 zWhere, zWhere[0] ? ": " : "", zSection, zName, d->iMin, d->iMax, zValue);
      return 0;
    }
    *(long long *)((char *)p + d->offset) = v;
    return 1;
  }
  if (!p->zError[0])
    snprintf(p->zError, sizeof p->zError, "%s%sunknown setting [%.60s] %.60s (docs/appliance.md lists the settings)",
             zWhere, zWhere[0] ? ": " : "", zSection, zName);
  return 0;
}

static int on_ini(void *pArg, const char *zSection, const char *zName, const char *zValue) {
  Settings *p = pArg;
  return setting_apply(p, zSection, zName, zValue, ""); /* settings_load names the file and line */
}

/* VECGUARDD_SERVER_LISTEN=... overrides [server] listen; 0 after an error. */
static int settings_from_env(Settings *p) {
  for (size_t i = 0; i < N_SETTING_DEF; i++) {
    char zVar[96];
    snprintf(zVar, sizeof zVar, "VECGUARDD_%s_%s", aSettingDef[i].zSection, aSettingDef[i].zName);
    for (char *z = zVar; *z; z++)
      if (*z >= 'a' && *z <= 'z') *z = (char)(*z - 'a' + 'A');
    const char *zValue = getenv(zVar);
    if (zValue && !setting_apply(p, aSettingDef[i].zSection, aSettingDef[i].zName, zValue, zVar)) return 0;
  }
  return 1;
}

/* The INI file (if any) and the environment over the defaults; 2 and
** p->zError saying what is wrong. */
static int settings_load(Settings *p) {
  p->zError[0] = 0;
  if (p->zConfig) {
    int line = ini_parse(p->zConfig, on_ini, p);
    char zWhy[sizeof p->zError];
    snprintf(zWhy, sizeof zWhy, "%s", p->zError);
    if (line < 0) snprintf(p->zError, sizeof p->zError, "cannot read the config file %s", p->zConfig);
    else if (line > 0) snprintf(p->zError, sizeof p->zError, "%.200s: bad line %d%s%.300s", p->zConfig, line,
                                zWhy[0] ? ": " : "", zWhy);
    if (line != 0) return 2;
  }
  return settings_from_env(p) ? 0 : 2;
}

/* Options after the command's words; positional words into azArg. */
static int parse_options(int argc, char **argv, Settings *p, const char **azArg, int nArgMax, int *pnArg,
                         int *pbHelp) {
  const char *zConfig = NULL;
  char *zDir = NULL, *zListen = NULL;
  int nWorkers = 0, rc = 0;
  *pnArg = 0;
  for (int i = 0; i < argc && rc == 0; i++) {
    const char *z = argv[i];
    int bValue = !strcmp(z, "--data-dir") || !strcmp(z, "--listen") || !strcmp(z, "--config") ||
                 !strcmp(z, "--workers") || !strcmp(z, "--scopes") || !strcmp(z, "--tenant") ||
                 !strcmp(z, "--to") || !strcmp(z, "--from") || !strcmp(z, "--grace");
    if (!strcmp(z, "--help") || !strcmp(z, "-h")) {
      *pbHelp = 1;
    } else if (bValue && i + 1 >= argc) {
      rc = usage_error("%s needs a value", z);
    } else if (!strcmp(z, "--data-dir")) {
      zDir = argv[++i];
    } else if (!strcmp(z, "--listen")) {
      zListen = argv[++i];
    } else if (!strcmp(z, "--config")) {
      zConfig = argv[++i];
    } else if (!strcmp(z, "--tenant")) {
      set_string(&p->zTenant, argv[++i]);
      /* before any command builds a path or looks a file up with it */
      if (!vgd_tenant_id_ok(p->zTenant)) rc = usage_error("bad tenant id \"%s\": send " VGD_TENANT_RULE, p->zTenant);
    } else if (!strcmp(z, "--to")) {
      set_string(&p->zTo, argv[++i]);
    } else if (!strcmp(z, "--from")) {
      set_string(&p->zFrom, argv[++i]);
    } else if (!strcmp(z, "--grace")) {
      char *zEnd;
      p->graceSeconds = strtoll(argv[++i], &zEnd, 10);
      if (*zEnd || p->graceSeconds < 0 || p->graceSeconds > 604800)
        rc = usage_error("--grace takes seconds from 0 to 604800 (a week)");
    } else if (!strcmp(z, "--scopes")) {
      set_string(&p->zScopes, argv[++i]);
    } else if (!strcmp(z, "--workers")) {
      char *zEnd;
      nWorkers = (int)strtol(argv[++i], &zEnd, 10);
      if (*zEnd || nWorkers < 0 || nWorkers > 64) rc = usage_error("--workers takes a number from 0 to 64");
      if (nWorkers == 0) nWorkers = -1; /* set, to none */
    } else if (!strcmp(z, "--all")) {
      p->bAll = 1;
    } else if (!strcmp(z, "--replica")) {
      p->bReplica = 1;
    } else if (!strcmp(z, "--compact")) {
      p->syncFlags |= VGD_SYNC_COMPACT;
    } else if (!strcmp(z, "--take-over")) {
      p->syncFlags |= VGD_SYNC_TAKE_OVER;
    } else if (z[0] == '-') {
      rc = usage_error("unknown option %s", z);
    } else if (*pnArg < nArgMax) {
      azArg[(*pnArg)++] = z;
    } else {
      rc = usage_error("unexpected argument \"%s\"", z);
    }
  }
  if (rc == 0 && zConfig) set_string(&p->zConfig, zConfig);
  if (rc == 0 && settings_load(p) != 0) rc = usage_error("%s", p->zError);
  if (zDir) set_string(&p->zDataDir, zDir);
  if (zListen) set_string(&p->zListen, zListen);
  if (nWorkers) p->nWorkers = nWorkers < 0 ? 0 : nWorkers;
  return rc;
}

/* serve holds DIR/serve.lock: a second server, or a tenant deleted from the
** command line under a running one, would race the server's open files. */
static int lock_dir(const char *zDir, int bWait) {
  char *zPath = vgd_mprintf("%s/serve.lock", zDir);
  int fd = open(zPath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  free(zPath);
  if (fd >= 0 && flock(fd, LOCK_EX | (bWait ? 0 : LOCK_NB)) != 0) {
    close(fd);
    fd = -1;
  }
  return fd;
}

/* systemd's readiness protocol without libsystemd: one datagram with zState
** to the unix socket named by $NOTIFY_SOCKET ('@' is the abstract
** namespace).  Without the variable (not under Type=notify) it does nothing. */
static void notify_systemd(const char *zState) {
  const char *zSock = getenv("NOTIFY_SOCKET");
  struct sockaddr_un addr;
  size_t n = zSock ? strlen(zSock) : 0;
  if (n < 2 || n >= sizeof addr.sun_path || (zSock[0] != '/' && zSock[0] != '@')) return;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, zSock, n);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = 0;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  if (sendto(fd, zState, strlen(zState), 0, (struct sockaddr *)&addr,
             (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) < 0)
    vgd_log("warn", "systemd", "cannot notify systemd at %s: %s", zSock, strerror(errno));
  close(fd);
}

/* SIGHUP: the config file and environment again.  Limits, body size,
** logging and the workers' idle time change at once; keys are read from
** keys.db on every request anyway.  The rest needs a restart. */
static void reload(VgdServer *s, Settings *st) {
  Settings fresh;
  settings_defaults(&fresh);
  if (st->zConfig) set_string(&fresh.zConfig, st->zConfig);
  if (settings_load(&fresh) != 0) {
    vgd_log("error", "reload", "%s: keeping the running settings", fresh.zError);
  } else {
    vgd_limits_set(&s->limits, (double)fresh.ratePerSecond, (double)fresh.rateBurst);
    s->bodyLimit = (size_t)fresh.bodyLimit;
    s->bLogRequests = (int)fresh.logRequests;
    s->idleMs = (int)fresh.idleMs;
    st->ratePerSecond = fresh.ratePerSecond;
    st->rateBurst = fresh.rateBurst;
    vgd_log_json("info", "reload",
                 json_pack("{s:I,s:I,s:I,s:b,s:s}", "requests_per_second", (json_int_t)fresh.ratePerSecond, "burst",
                           (json_int_t)fresh.rateBurst, "max_body_bytes", (json_int_t)fresh.bodyLimit, "log_requests",
                           (int)fresh.logRequests, "note",
                           "listen, workers, max_open_files, max_connections, connections_per_tenant, mmap_bytes and tls change at "
                           "restart"));
  }
  settings_free(&fresh);
}

/* restore --from s3://… or file://…: from a sync target, not a backup. */
static int is_sync_url(const char *z) {
  return z && (!strncmp(z, "s3://", 5) || !strncmp(z, "file://", 7));
}

/* The [sync] settings as the object store takes them; zTarget overrides
** the configured target (restore --from URL). */
static VgdObjConfig sync_config(const Settings *st, const char *zTarget) {
  VgdObjConfig cfg = {zTarget ? zTarget : st->zSyncTarget, st->zSyncEndpoint, st->zSyncRegion, st->zSyncAccessEnv,
                      st->zSyncSecretEnv, st->syncMaxBytesPerSecond};
  return cfg;
}

/* A push holds a tenant for three intervals: a box that misses two syncs
** keeps it. */
static long long lease_seconds(const Settings *st) {
  return 3 * st->syncInterval + 60;
}

static int serve(Settings *st) {
  if (!st->zListen) return usage_error("serve needs --listen 127.0.0.1:PORT");
  VgdServer s;
  memset(&s, 0, sizeof s);
  char *zErr = NULL;
  if (vgd_store_open(&s.store, st->zDataDir, &zErr)) {
    vgd_log("error", "start", "%s", zErr);
    free(zErr);
    vgd_store_close(&s.store);
    return 1;
  }
  int fdLock = lock_dir(st->zDataDir, 0);
  if (fdLock < 0) {
    vgd_log("error", "start", "%s is served by another vecguardd already", st->zDataDir);
    vgd_store_close(&s.store);
    return 1;
  }
  vgd_sync_sweep(st->zDataDir); /* what a killed push left */
  /* Each open tenant holds up to 3 descriptors (file, -wal, -shm); the
  ** HTTP connections, keys.db and the process's own take the rest. */
  long long nBudget = (st->maxOpenFiles - st->maxConnections - 32) / 3;
  struct rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)st->maxOpenFiles) {
    lim.rlim_cur = lim.rlim_max < (rlim_t)st->maxOpenFiles ? lim.rlim_max : (rlim_t)st->maxOpenFiles;
    setrlimit(RLIMIT_NOFILE, &lim);
  }
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < (rlim_t)st->maxOpenFiles) {
    vgd_log("error", "start", "max_open_files is %lld but the process may open only %llu files: lower it, or raise "
                    "LimitNOFILE= in the unit", st->maxOpenFiles, (unsigned long long)lim.rlim_cur);
    nBudget = 0;
  } else if (nBudget < 4) {
    vgd_log("error", "start", "max_open_files %lld leaves too few for tenants after %lld connections: send at "
                    "least %lld", st->maxOpenFiles, st->maxConnections, st->maxConnections + 32 + 12);
    nBudget = 0;
  }
  if (nBudget == 0 || vgd_pool_init(&s.pool, (int)nBudget, (int)st->connectionsPerTenant)) {
    vgd_store_close(&s.store);
    close(fdLock);
    return 1;
  }
  s.store.mmapBytes = st->mmapBytes;
  for (int i = 0; i < VGD_WRITE_LOCKS; i++) pthread_mutex_init(&s.aWriteLock[i], NULL);
  s.nWorker = (int)st->nWorkers;
  s.idleMs = (int)st->idleMs;
  s.maxConnections = (unsigned)st->maxConnections;
  s.bodyLimit = (size_t)st->bodyLimit;
  s.bLogRequests = (int)st->logRequests;
  vgd_metrics_init(&s.metrics);
  vgd_limits_init(&s.limits, (double)st->ratePerSecond, (double)st->rateBurst);
  VgdSyncd syncd;
  memset(&syncd, 0, sizeof syncd);
  if (st->bReplica && !st->zSyncTarget) {
    vgd_log("error", "start", "--replica serves the tenants of [sync] target: set it in --config");
    vgd_pool_close(&s.pool);
    vgd_store_close(&s.store);
    close(fdLock);
    return 1;
  }
  if (st->zSyncTarget) {
    syncd.cfg = sync_config(st, NULL);
    syncd.zKeyFile = st->zSyncKeyFile;
    syncd.interval = st->syncInterval;
    syncd.retention = st->syncRetention;
    syncd.leaseSeconds = lease_seconds(st);
    syncd.bReplica = st->bReplica;
    s.pSync = &syncd;
    s.bReplica = st->bReplica;
    if (st->bReplica) s.nWorker = 0; /* nothing is written, nothing embedded */
  }
  /* Every thread inherits the mask; the main thread alone takes the signals. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);
  int rc = 1;
  void *pHttp = NULL;
  if (vgd_workers_start(&s)) {
    vgd_log("error", "start", "cannot start the workers");
  } else if (s.pSync && vgd_syncd_start(&syncd, &s)) {
    vgd_log("error", "start", "cannot start the sync thread");
  } else if (!(pHttp = vgd_http_start(&s, st->zListen, st->zTlsCert, st->zTlsKey, &zErr))) {
    vgd_log("error", "start", "%s", zErr);
  } else {
    vgd_log_json("info", "start",
                 json_pack("{s:s,s:s,s:i,s:i,s:i,s:i,s:b,s:s?,s:b}", "data_dir", st->zDataDir, "listen", st->zListen,
                           "port", vgd_http_port(pHttp), "workers", s.nWorker, "max_open_tenant_connections",
                           s.pool.nMax, "connections_per_tenant", s.pool.nPerTenant, "tls", st->zTlsCert != NULL,
                           "sync_target", st->zSyncTarget, "replica", st->bReplica));
    notify_systemd("READY=1");
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP) {
      notify_systemd("RELOADING=1");
      reload(&s, st);
      vgd_work_sweep(&s);
      if (s.pSync) vgd_syncd_now(&syncd); /* and a sync round */
      notify_systemd("READY=1");
    }
    vgd_log_json("info", "stop", json_pack("{s:i}", "signal", sig));
    notify_systemd("STOPPING=1");
    rc = 0;
  }
  if (pHttp) vgd_http_stop(&s, pHttp);
  s.bStop = 1;
  vgd_workers_stop(&s);
  /* after the workers: what they wrote last is pushed at the next start */
  vgd_syncd_stop(&syncd);
  vgd_pool_close(&s.pool);
  for (int i = 0; i < VGD_WRITE_LOCKS; i++) pthread_mutex_destroy(&s.aWriteLock[i]);
  vgd_metrics_free(&s.metrics);
  vgd_limits_free(&s.limits);
  vgd_store_close(&s.store);
  close(fdLock);
  free(zErr);
  return rc;
}

static int print_or_fail(char *zOut, char *zErr) {
  if (zOut) printf("%s\n", zOut);
  else fprintf(stderr, "vecguardd: %s\n", zErr ? zErr : "out of memory");
  free(zOut);
  free(zErr);
  return zOut ? 0 : 1;
}

static int admin_command(const char *zCmd, const char **azArg, int nArg, Settings *st) {
  const char *zVerb = nArg > 0 ? azArg[0] : "";
  const char *zName = nArg > 1 ? azArg[1] : NULL;
  int bTenant = !strcmp(zCmd, "tenant");
  int bNeedsName = !(bTenant && !strcmp(zVerb, "list"));
  int bKeyId = !strcmp(zVerb, "revoke") || !strcmp(zVerb, "rotate");
  if (strcmp(zVerb, "create") && strcmp(zVerb, "list") && strcmp(zVerb, "delete") && !bKeyId)
    return usage_error("%s needs a verb: %s", zCmd, bTenant ? "create, list, delete" : "create, list, revoke, rotate");
  if (bTenant && bKeyId) return usage_error("tenant has no verb %s", zVerb);
  if (!bTenant && !strcmp(zVerb, "delete")) return usage_error("key has no verb delete: use revoke KEY_ID");
  if (bNeedsName && !zName) return usage_error("%s %s needs an id", zCmd, zVerb);
  if (!bNeedsName && zName) return usage_error("unexpected argument \"%s\"", zName);
  if (zName && !bKeyId && !vgd_tenant_id_ok(zName))
    return usage_error("bad tenant id \"%s\": send " VGD_TENANT_RULE, zName);
  VgdStore store;
  char *zErr = NULL, *zKey = NULL, *zId = NULL;
  int rc = 1;
  if (vgd_store_open(&store, st->zDataDir, &zErr)) {
    fprintf(stderr, "vecguardd: %s\n", zErr);
    free(zErr);
    vgd_store_close(&store);
    return 1;
  }
  if (bTenant && !strcmp(zVerb, "create")) {
    if (vgd_tenant_create(&store, zName, &zKey, &zErr) == SQLITE_OK) {
      printf("{\"tenant\": \"%s\", \"key\": \"%s\"}\n", zName, zKey);
      rc = 0;
    }
  } else if (bTenant && !strcmp(zVerb, "delete")) {
    int fdLock = lock_dir(st->zDataDir, 0);
    if (fdLock < 0) zErr = vgd_mprintf("a vecguardd serves %s: delete with DELETE /v1/tenants/%s", st->zDataDir, zName);
    else if (vgd_tenant_delete(&store, zName, &zErr) == SQLITE_OK) rc = 0;
    if (fdLock >= 0) close(fdLock);
  } else if (bTenant) {
    char *zOut = vgd_tenant_list(&store, &zErr);
    rc = print_or_fail(zOut, zErr);
    zErr = NULL;
  } else if (!strcmp(zVerb, "create")) {
    if (!vgd_tenant_exists(&store, zName, NULL)) zErr = vgd_mprintf("no tenant \"%s\"", zName);
    else if (vgd_key_create(&store, zName, st->zScopes ? st->zScopes : "search,ingest", &zKey, &zId, &zErr) == 0) {
      printf("{\"tenant\": \"%s\", \"key_id\": \"%s\", \"key\": \"%s\"}\n", zName, zId, zKey);
      rc = 0;
    }
  } else if (!strcmp(zVerb, "list")) {
    if (!vgd_tenant_exists(&store, zName, NULL)) zErr = vgd_mprintf("no tenant \"%s\"", zName);
    else {
      char *zOut = vgd_key_list(&store, zName, &zErr);
      rc = print_or_fail(zOut, zErr);
      zErr = NULL;
    }
  } else if (!strcmp(zVerb, "rotate")) {
    char *zExpires = NULL;
    char zScopes[VGD_SCOPES_MAX];
    if (vgd_key_rotate(&store, NULL, zName, st->graceSeconds, &zKey, &zId, &zExpires, zScopes, &zErr) == SQLITE_OK) {
      printf("{\"key_id\": \"%s\", \"key\": \"%s\", \"old_key_expires_at\": \"%s\"}\n", zId, zKey, zExpires);
      rc = 0;
    }
    free(zExpires);
  } else if (vgd_key_revoke(&store, NULL, zName, &zErr) == 0) {
    rc = 0;
  }
  if (rc && zErr) fprintf(stderr, "vecguardd: %s\n", zErr);
  free(zErr);
  free(zKey);
  free(zId);
  vgd_store_close(&store);
  return rc;
}

/* backup: online, a server may run; restore: the directory's lock is held
** throughout, so no server starts on a half-replaced tenant. */
static int backup_command(const char *zCmd, Settings *st) {
  int bRestore = !strcmp(zCmd, "restore");
  const char *zFile = bRestore ? st->zFrom : st->zTo;
  if (!st->zTenant) return usage_error("%s needs --tenant T", zCmd);
  if (!zFile) return usage_error("%s needs %s FILE", zCmd, bRestore ? "--from" : "--to");
  VgdStore store;
  char *zErr = NULL, *zName = NULL;
  long long nBytes = 0;
  int rc = 1, fdLock = -1;
  if (vgd_store_open(&store, st->zDataDir, &zErr)) {
  } else if (!bRestore) {
    if (vgd_tenant_backup(&store, st->zTenant, zFile, &zName, &nBytes, &zErr) == SQLITE_OK) {
      printf("{\"backup\": \"%s\", \"bytes\": %lld}\n", zName, nBytes);
      rc = 0;
    }
  } else if ((fdLock = lock_dir(st->zDataDir, 0)) < 0) {
    zErr = vgd_mprintf("a vecguardd serves %s: stop it before restoring", st->zDataDir);
  } else if (vgd_tenant_restore(&store, st->zTenant, zFile, &zErr) == SQLITE_OK) {
    rc = 0;
  }
  if (rc && zErr) fprintf(stderr, "vecguardd: %s\n", zErr);
  if (fdLock >= 0) close(fdLock);
  free(zErr);
  free(zName);
  vgd_store_close(&store);
  return rc;
}

/* The tenants a command works on: zTenant alone, or (NULL) every one. */
static json_t *tenant_selection(VgdStore *p, const char *zTenant, char **pzErr) {
  if (zTenant) return json_pack("[s]", zTenant);
  char *zList = vgd_tenant_list(p, pzErr);
  json_t *pList = zList ? json_loads(zList, 0, NULL) : NULL;
  free(zList);
  return pList;
}

/* check: each tenant's file through PRAGMA integrity_check and its
** documents table through vg_hnsw_check, read only, so a server may run.
** One JSON line per tenant; exit 1 if any is not ok. */
static int check_command(Settings *st) {
  VgdStore store;
  char *zErr = NULL;
  if (vgd_store_open(&store, st->zDataDir, &zErr)) {
    fprintf(stderr, "vecguardd: %s\n", zErr);
    free(zErr);
    vgd_store_close(&store);
    return 1;
  }
  if (st->zTenant && !vgd_tenant_exists(&store, st->zTenant, NULL)) {
    fprintf(stderr, "vecguardd: no tenant \"%s\"\n", st->zTenant);
    vgd_store_close(&store);
    return 1;
  }
  json_t *pList = tenant_selection(&store, st->zTenant, &zErr);
  int rc = pList ? 0 : 1;
  if (!pList) fprintf(stderr, "vecguardd: %s\n", zErr ? zErr : "cannot list the tenants");
  size_t i;
  json_t *v;
  json_array_foreach(pList, i, v) {
    const char *zTenant = json_string_value(v);
    sqlite3 *db = vgd_tenant_open(&store, zTenant, &zErr);
    json_t *pOut = json_pack("{s:s}", "tenant", zTenant);
    int bOk = db != NULL;
    for (int j = 0; db && j < 2; j++) {
      static const char *azSql[] = {"PRAGMA integrity_check", "SELECT vg_hnsw_check('documents')"};
      sqlite3_stmt *pStmt = NULL;
      json_t *pResult = NULL;
      if (sqlite3_prepare_v2(db, azSql[j], -1, &pStmt, NULL) == SQLITE_OK) {
        /* integrity_check: "ok", or one row per problem (up to 100) */
        pResult = j == 0 ? json_array() : NULL;
        while (sqlite3_step(pStmt) == SQLITE_ROW) {
          const char *z = (const char *)sqlite3_column_text(pStmt, 0);
          if (j == 0) json_array_append_new(pResult, json_string(z ? z : ""));
          else pResult = z ? json_loads(z, 0, NULL) : NULL;
        }
      }
      int bErr = sqlite3_finalize(pStmt) != SQLITE_OK || !pResult;
      if (bErr) {
        json_decref(pResult);
        pResult = json_pack("{s:s}", "error", sqlite3_errmsg(db));
        bOk = 0;
      } else if (j == 0) {
        int bClean = json_array_size(pResult) == 1 && !strcmp(json_string_value(json_array_get(pResult, 0)), "ok");
        bOk = bOk && bClean;
        if (bClean) {
          json_decref(pResult);
          pResult = json_string("ok");
        }
      } else {
        bOk = bOk && json_is_true(json_object_get(pResult, "ok"));
      }
      json_object_set_new(pOut, j == 0 ? "integrity_check" : "hnsw_check", pResult);
    }
    if (!db) {
      json_object_set_new(pOut, "error", json_string(zErr ? zErr : "cannot open"));
      free(zErr);
      zErr = NULL;
    }
    json_object_set_new(pOut, "ok", json_boolean(bOk));
    char *zLine = json_dumps(pOut, JSON_COMPACT);
    printf("%s\n", zLine);
    free(zLine);
    json_decref(pOut);
    sqlite3_close(db);
    if (!bOk) rc = 1;
  }
  json_decref(pList);
  free(zErr);
  vgd_store_close(&store);
  return rc;
}

/* A tenant's failure in sync: on stderr, and in the summary's "failed";
** *pzErr freed.  1, the command's exit status. */
static int sync_failed(json_t *pFailed, const char *zTenant, char **pzErr) {
  const char *zWhy = *pzErr ? *pzErr : "out of memory";
  fprintf(stderr, "vecguardd: %s\n", zWhy);
  json_array_append_new(pFailed, json_pack("{s:s,s:s}", "tenant", zTenant, "error", zWhy));
  free(*pzErr);
  *pzErr = NULL;
  return 1;
}

/* sync: each tenant (or one) to the target, one JSON line in all. */
static int sync_command(Settings *st) {
  if (!st->zTenant == !st->bAll) return usage_error("sync needs --tenant T or --all");
  if (!st->zSyncTarget) return usage_error("sync needs [sync] target in --config (s3://bucket/prefix or file:///path)");
  VgdStore store;
  VgdSync sync;
  char *zErr = NULL;
  int rc = 1;
  double t0 = vgd_now();
  VgdObjConfig cfg = sync_config(st, NULL);
  memset(&sync, 0, sizeof sync);
  sync.fdLock = -1;
  if (vgd_store_open(&store, st->zDataDir, &zErr) == 0 &&
      vgd_sync_open(&sync, &store, &cfg, st->zSyncKeyFile, st->syncRetention, lease_seconds(st), &zErr) == 0) {
    json_t *pList = tenant_selection(&store, st->zTenant, &zErr);
    long long nBytes = 0, nPages = 0;
    int nObjects = 0, nTenants = 0, nSnapshots = 0, nDeleted = 0;
    size_t i;
    json_t *v;
    rc = pList ? 0 : 1;
    json_t *pFailed = json_array();
    json_array_foreach(pList, i, v) {
      VgdSyncResult res;
      /* one tenant failing (another box's lease, say) does not stop the rest */
      if (vgd_sync_push(&sync, &store, json_string_value(v), st->syncFlags, &res, &zErr)) {
        rc = sync_failed(pFailed, json_string_value(v), &zErr);
        continue;
      }
      nBytes += res.nBytes;
      nObjects += res.nObjects;
      nPages += res.nPages;
      nSnapshots += res.bSnapshot;
      nDeleted += res.nDeleted;
      nTenants++;
    }
    /* --all: tenants deleted here lose their copies once gone for the
    ** retention */
    json_t *pGone = st->bAll && pList ? vgd_sync_gone(&sync, &store) : NULL;
    int nErased = 0;
    json_array_foreach(pGone, i, v) {
      int nDel = 0;
      if (vgd_sync_forget(&sync, &store, json_string_value(v), st->syncFlags, &nDel, &zErr)) {
        rc = sync_failed(pFailed, json_string_value(v), &zErr);
      } else if (nDel) {
        nErased++;
        nDeleted += nDel;
      }
    }
    json_decref(pGone);
    if (pList) {
      json_t *pOut = json_pack("{s:i,s:I,s:i,s:i,s:I,s:i,s:f}", "tenants", nTenants, "bytes", (json_int_t)nBytes,
                               "objects", nObjects, "snapshots", nSnapshots, "pages", (json_int_t)nPages, "deleted",
                               nDeleted, "seconds", vgd_now() - t0);
      if (nErased) json_object_set_new(pOut, "erased_tenants", json_integer(nErased));
      if (json_array_size(pFailed)) json_object_set(pOut, "failed", pFailed);
      char *zOut = json_dumps(pOut, JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(4));
      if (zOut) printf("%s\n", zOut);
      free(zOut);
      json_decref(pOut);
    }
    json_decref(pFailed);
    json_decref(pList);
  }
  if (rc && zErr) fprintf(stderr, "vecguardd: %s\n", zErr);
  free(zErr);
  vgd_sync_close(&sync);
  vgd_store_close(&store);
  return rc;
}

/* restore from the sync target (or --from URL): DIR's lock held throughout. */
static int sync_restore_command(Settings *st, const char *zFrom) {
  if (!st->zTenant) return usage_error("restore needs --tenant T");
  VgdStore store;
  VgdSync sync;
  char *zErr = NULL, *zKey = NULL;
  long long seq = 0;
  int rc = 1, fdLock = -1;
  VgdObjConfig cfg = sync_config(st, zFrom);
  memset(&sync, 0, sizeof sync);
  sync.fdLock = -1;
  if (vgd_store_open(&store, st->zDataDir, &zErr)) {
  } else if ((fdLock = lock_dir(st->zDataDir, 0)) < 0) {
    zErr = vgd_mprintf("a vecguardd serves %s: stop it before restoring", st->zDataDir);
  } else if (vgd_sync_open(&sync, &store, &cfg, st->zSyncKeyFile, st->syncRetention, lease_seconds(st), &zErr) == 0 &&
             vgd_sync_restore(&sync, &store, st->zTenant, &zKey, &seq, &zErr) == 0) {
    if (zKey) printf("{\"tenant\": \"%s\", \"seq\": %lld, \"key\": \"%s\"}\n", st->zTenant, seq, zKey);
    else printf("{\"tenant\": \"%s\", \"seq\": %lld}\n", st->zTenant, seq);
    rc = 0;
  }
  if (rc && zErr) fprintf(stderr, "vecguardd: %s\n", zErr);
  if (fdLock >= 0) close(fdLock);
  free(zErr);
  free(zKey);
  vgd_sync_close(&sync);
  vgd_store_close(&store);
  return rc;
}

int main(int argc, char **argv) {
  umask(077); /* tenant files, keys.db and their -wal are the owner's alone */
  if (argc < 2) return usage_error("no command");
  const char *zCmd = argv[1];
  if (!strcmp(zCmd, "--help") || !strcmp(zCmd, "-h") || !strcmp(zCmd, "help")) {
    fputs(kUsage, stdout);
    return 0;
  }
  int bBackup = !strcmp(zCmd, "backup") || !strcmp(zCmd, "restore");
  int bCheck = !strcmp(zCmd, "check"), bSync = !strcmp(zCmd, "sync");
  if (!strcmp(zCmd, "sync-key")) {
    if (argc != 4 || strcmp(argv[2], "create")) return usage_error("sync-key needs: create FILE");
    char *zErr = NULL;
    if (vgd_sync_key_create(argv[3], &zErr) == 0) return 0;
    fprintf(stderr, "vecguardd: %s\n", zErr);
    free(zErr);
    return 1;
  }
  if (strcmp(zCmd, "serve") && strcmp(zCmd, "tenant") && strcmp(zCmd, "key") && !bBackup && !bCheck && !bSync)
    return usage_error("unknown command \"%s\" (commands: serve, tenant, key, backup, restore, check, sync, "
                       "sync-key)", zCmd);
  Settings st;
  settings_defaults(&st);
  const char *azArg[2];
  int nArg = 0, bHelp = 0;
  int nMax = strcmp(zCmd, "serve") && !bBackup && !bCheck && !bSync ? 2 : 0;
  int rc = parse_options(argc - 2, argv + 2, &st, azArg, nMax, &nArg, &bHelp);
  if (rc == 0 && bHelp) {
    fputs(kUsage, stdout);
  } else if (rc == 0 && !st.zDataDir) {
    rc = usage_error("%s needs --data-dir DIR (or data_dir in --config)", zCmd);
  } else if (rc == 0) {
    rc = bSync                                             ? sync_command(&st)
         : !strcmp(zCmd, "restore") && is_sync_url(st.zFrom) ? sync_restore_command(&st, st.zFrom)
         : !strcmp(zCmd, "restore") && !st.zFrom && st.zSyncTarget ? sync_restore_command(&st, NULL)
         : bCheck ? check_command(&st) : bBackup ? backup_command(zCmd, &st) : strcmp(zCmd, "serve") ? admin_command(zCmd, azArg, nArg, &st) : serve(&st);
  }
  settings_free(&st);
  return rc;
}
