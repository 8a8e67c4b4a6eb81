/*
** pii_sql.h — what the SQL functions of the PII module share: the
** per-connection state (the engine of built-in and custom recognizers, the
** key), argument checks, and the options every function parses.
*/
#ifndef VG_PII_SQL_H
#define VG_PII_SQL_H

#include "pii.h"
#include "pii_policy.h"
#include "pii_redact.h"

/* When the tables the PII functions read may have changed: this
** connection changed rows, or another one committed. */
typedef struct PiiStamp {
  sqlite3_int64 nChanges;
  unsigned int iDataVersion;
} PiiStamp;

/* One per connection, shared (reference counted) by the PII functions and
** the vg_pii_scan module; freed with the connection. */
typedef struct PiiConn {
  int nRef;
  VgPiiEngine *pEngine;   /* built-in + enabled custom recognizers */
  VgPiiRecognizer *aRec;  /* what pEngine was built from */
  int nRec;
  char **azOwned;         /* strings of the custom recognizers */
  int nOwned;
  /* What vg_pii_recognizers looked like when pEngine was built. */
  int bBuilt;
  PiiStamp built;
  int bTable;
  unsigned char aRowsHash[32];
  /* The key vg_pii_set_key set, if any. */
  int bKey;
  VgPiiKey key;
  /* The last key read from vg_pii_keys, and when (read again after any
  ** change to the database). */
  char *zTableKeyName;
  PiiStamp tableKeyStamp;
  VgPiiKey tableKey;
} PiiConn;

void pii_conn_unref(void *p);

/* The connection's engine, brought up to date with vg_pii_recognizers;
** 0 with *pzErr set (or SQLITE_NOMEM in *pRc) on failure. */
VgPiiEngine *pii_conn_engine(PiiConn *c, sqlite3 *db, int *pRc, char **pzErr);

/* Is zEntity reported by one of the engine's recognizers?  Returns its
** name as the engine stores it, or 0. */
const char *pii_conn_entity(PiiConn *c, const char *zEntity);

/* The key to use: pArg (a 32-byte BLOB, or the name of a row of
** vg_pii_keys), else the connection's key, else vg_pii_keys's 'default'
** row.  SQLITE_OK, or an error with *pzErr (which never holds key bytes). */
int pii_conn_key(PiiConn *c, sqlite3 *db, sqlite3_value *pArg, VgPiiKey *pKey, char **pzErr);

/* Does main hold zTable, as the connection's schema knows it? */
int pii_has_table(sqlite3 *db, const char *zTable);

/* Load a key from vg_pii_keys by name. */
int pii_key_from_table(PiiConn *c, sqlite3 *db, const char *zName, VgPiiKey *pKey, char **pzErr);

/* Check one custom recognizer as vg_pii_recognizers holds it; SQLITE_OK or
** SQLITE_ERROR with *pzErr (PCRE2's message and offset for a bad pattern). */
int pii_custom_check(const char *zName, const char *zEntity, const char *zPattern,
                     sqlite3_value *pScore, char **pzErr);

/* Which option keys a function accepts. */
#define PII_OPT_SCAN 0x01   /* types, min_score, language */
#define PII_OPT_REDACT 0x02 /* operator, operators, audit, content_id, policy, key */
#define PII_OPT_POLICY 0x04 /* block, review, min_score, block_score, max_findings, language */

typedef struct PiiOptions {
  VgPiiOptions scan;
  char **azType;         /* scan.azEntity */
  VgPiiOperators ops;
  char **azOpEntity;     /* ops.azEntity */
  VgPiiOperator *aOp;    /* ops.aOp */
  char **azNewValue;     /* replacement texts, one per operator + default */
  int nNewValue;
  int bAudit;
  sqlite3_value *pContentId;
  char *zKeyName;        /* "key": a row of vg_pii_keys */
  VgPiiPolicy policy;
} PiiOptions;

void pii_options_free(void *p);

/* Options from argv[iArg] (parsed once per statement when constant); 0
** with the error set on the context on failure, or defaults when the
** argument is absent or NULL. */
const PiiOptions *pii_options_arg(sqlite3_context *ctx, PiiConn *c, int argc,
                                  sqlite3_value **argv, int iArg, unsigned mask,
                                  const char *zFunc);

/* Parse options (for the table-valued function, which has no auxdata). */
int pii_options_parse(sqlite3 *db, PiiConn *c, const char *zJson, unsigned mask,
                      const char *zFunc, PiiOptions **pp, char **pzErr);


int vg_register_pii_scan_module(sqlite3 *db, PiiConn *c);

#endif
