/*
** pii_options.c — the options_json argument of the PII functions, read
** with SQLite's own JSON functions (json_each, json_type).  Each function
** accepts a set of keys (pii.h, pii_sql section); an unknown key, a value of the wrong
** kind or an unknown entity type is an error naming it.
**
**   detection:  "types": [...], "min_score": 0.5, "language": "en" | "es"
**   redaction:  "operator": op, "operators": {"TYPE": op, "DEFAULT": op},
**               "audit": true, "content_id": ..., "policy": {...}, "key": "name"
**   policy:     "block": [...], "review": [...], "min_score", "block_score",
**               "max_findings"
**   op:         "replace" | "mask" | "remove" | "hash" | "encrypt", or an object
**               {"operator": "mask", "char": "#", "keep_last": 4},
**               {"operator": "replace", "new_value": "[gone]"},
**               {"operator": "hash", "length": 12}
*/
#include "pii/pii.h"

#include <string.h>

void pii_options_free(void *pArg) {
  PiiOptions *p = pArg;
  if (p == 0) return;
  for (int i = 0; i < p->scan.nEntity; i++) sqlite3_free(p->azType[i]);
  sqlite3_free(p->azType);
  for (int i = 0; i < p->ops.n; i++) sqlite3_free(p->azOpEntity[i]);
  sqlite3_free(p->azOpEntity);
  sqlite3_free(p->aOp);
  for (int i = 0; i < p->nNewValue; i++) sqlite3_free(p->azNewValue[i]);
  sqlite3_free(p->azNewValue);
  sqlite3_value_free(p->pContentId);
  sqlite3_free(p->zKeyName);
  sqlite3_free(p->zNer);
  for (int i = 0; i < p->policy.nBlock; i++) sqlite3_free((char *)p->policy.azBlock[i]);
  sqlite3_free((void *)p->policy.azBlock);
  for (int i = 0; i < p->policy.nReview; i++) sqlite3_free((char *)p->policy.azReview[i]);
  sqlite3_free((void *)p->policy.azReview);
  sqlite3_free(p);
}

/* What a parse needs at hand. */
typedef struct Parse {
  sqlite3 *db;
  PiiConn *c;
  const char *zJson;
  const char *zFunc;
  char **pzErr;
  PiiOptions *p;
} Parse;

static int fail(Parse *x, char *zMsg) {
  *x->pzErr = zMsg;
  return zMsg ? SQLITE_ERROR : SQLITE_NOMEM;
}

/* json_type of zPath in the options, in zType (16 bytes). */
static int json_kind(Parse *x, const char *zPath, char *zType) {
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(x->db, "SELECT json_type(?1, ?2)", -1, &pStmt, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(pStmt, 1, x->zJson, -1, SQLITE_STATIC);
  sqlite3_bind_text(pStmt, 2, zPath, -1, SQLITE_STATIC);
  zType[0] = 0;
  if (sqlite3_step(pStmt) == SQLITE_ROW) {
    const char *z = (const char *)sqlite3_column_text(pStmt, 0);
    if (z) sqlite3_snprintf(16, zType, "%s", z);
  }
  rc = sqlite3_finalize(pStmt);
  if (rc == SQLITE_ERROR) return fail(x, sqlite3_mprintf("options are not valid JSON"));
  return rc;
}

/* Call xMember(x, key, row) for each member of the object or array at
** zPath; the row's columns are key, value, type. */
static int each_member(Parse *x, const char *zPath, void *pArg,
                       int (*xMember)(Parse *, void *, sqlite3_stmt *)) {
  sqlite3_stmt *pStmt = 0;
  int rc = sqlite3_prepare_v2(x->db, "SELECT key, value, type FROM json_each(?1, ?2)", -1, &pStmt, 0);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(pStmt, 1, x->zJson, -1, SQLITE_STATIC);
  sqlite3_bind_text(pStmt, 2, zPath, -1, SQLITE_STATIC);
  while (rc == SQLITE_OK && sqlite3_step(pStmt) == SQLITE_ROW) rc = xMember(x, pArg, pStmt);
  int rcFinal = sqlite3_finalize(pStmt);
  if (rc == SQLITE_OK && rcFinal != SQLITE_OK) {
    rc = rcFinal == SQLITE_ERROR ? fail(x, sqlite3_mprintf("options are not valid JSON")) : rcFinal;
  }
  return rc;
}

static const char *col_text(sqlite3_stmt *pRow, int i) {
  const char *z = (const char *)sqlite3_column_text(pRow, i);
  return z ? z : "";
}

static int is_number(sqlite3_stmt *pRow) {
  const char *zType = col_text(pRow, 2);
  return strcmp(zType, "integer") == 0 || strcmp(zType, "real") == 0;
}

/* ---- lists of entity types ---------------------------------------------- */

typedef struct TypeList {
  char ***pazType;
  int *pnType;
  const char *zKey;
} TypeList;

static int add_list_type(Parse *x, void *pArg, sqlite3_stmt *pRow) {
  TypeList *l = pArg;
  const char *zName = col_text(pRow, 1);
  if (strcmp(col_text(pRow, 2), "text") != 0 || pii_conn_entity(x->c, zName) == 0) {
    return fail(x, sqlite3_mprintf("unknown entity type %s in %s",
                                   strcmp(col_text(pRow, 2), "text") == 0 ? zName : "(not text)",
                                   l->zKey));
  }
  for (int i = 0; i < *l->pnType; i++) {
    if (strcmp((*l->pazType)[i], zName) == 0) return SQLITE_OK;
  }
  char **az = sqlite3_realloc64(*l->pazType, sizeof(char *) * (size_t)(*l->pnType + 1));
  if (az == 0) return SQLITE_NOMEM;
  *l->pazType = az;
  if ((az[*l->pnType] = sqlite3_mprintf("%s", zName)) == 0) return SQLITE_NOMEM;
  (*l->pnType)++;
  return SQLITE_OK;
}

static int read_type_list(Parse *x, const char *zKey, const char *zPath, sqlite3_stmt *pRow,
                          char ***pazType, int *pnType) {
  if (strcmp(col_text(pRow, 2), "array") != 0) {
    return fail(x, sqlite3_mprintf("%s must be an array of entity type names", zKey));
  }
  TypeList l = {pazType, pnType, zKey};
  char *zFull = sqlite3_mprintf("%s.%s", zPath, zKey);
  if (zFull == 0) return SQLITE_NOMEM;
  int rc = each_member(x, zFull, &l, add_list_type);
  sqlite3_free(zFull);
  return rc;
}

/* ---- operators ---------------------------------------------------------- */

static int op_kind(Parse *x, const char *zName, VgPiiOpKind *pKind) {
  if (vg_pii_operator_kind(zName, pKind)) return SQLITE_OK;
  return fail(x, sqlite3_mprintf("unknown operator \"%s\" (operators: replace, mask, remove, "
                                 "hash, encrypt)",
                                 zName));
}

static void op_defaults(VgPiiOperator *op, VgPiiOpKind kind) {
  VgPiiOperator def = VG_PII_OPERATOR_INIT(kind);
  *op = def;
}

/* Fields of an operator object, read after its "operator" member. */
static int op_field(Parse *x, void *pArg, sqlite3_stmt *pRow) {
  VgPiiOperator *op = pArg;
  const char *zKey = col_text(pRow, 0), *zType = col_text(pRow, 2);
  if (strcmp(zKey, "operator") == 0) return SQLITE_OK;
  if (strcmp(zKey, "char") == 0 && op->kind == VG_PII_OP_MASK) {
    const char *z = col_text(pRow, 1);
    int n = sqlite3_column_bytes(pRow, 1), nChar = 0;
    for (int i = 0; i < n; i++) nChar += ((unsigned char)z[i] & 0xC0) != 0x80;
    if (strcmp(zType, "text") != 0 || nChar != 1 || n > 4) {
      return fail(x, sqlite3_mprintf("mask: char must be one character"));
    }
    memcpy(op->zMaskChar, z, (size_t)n);
    op->zMaskChar[n] = 0;
  } else if (strcmp(zKey, "keep_last") == 0 && op->kind == VG_PII_OP_MASK) {
    sqlite3_int64 v = sqlite3_column_int64(pRow, 1);
    if (strcmp(zType, "integer") != 0 || v < 0 || v > 1000000) {
      return fail(x, sqlite3_mprintf("mask: keep_last must be a whole number, 0 or more"));
    }
    op->nKeepLast = (int)v;
  } else if (strcmp(zKey, "length") == 0 && op->kind == VG_PII_OP_HASH) {
    sqlite3_int64 v = sqlite3_column_int64(pRow, 1);
    if (strcmp(zType, "integer") != 0 || v < 8 || v > VG_PII_HASH_HEX) {
      return fail(x, sqlite3_mprintf("hash: length must be a whole number from 8 to %d",
                                     VG_PII_HASH_HEX));
    }
    op->nHashHex = (int)v;
  } else if (strcmp(zKey, "new_value") == 0 && op->kind == VG_PII_OP_REPLACE) {
    if (strcmp(zType, "text") != 0) return fail(x, sqlite3_mprintf("replace: new_value must be text"));
    PiiOptions *p = x->p;
    char **az = sqlite3_realloc64(p->azNewValue, sizeof(char *) * (size_t)(p->nNewValue + 1));
    if (az == 0) return SQLITE_NOMEM;
    p->azNewValue = az;
    if ((az[p->nNewValue] = sqlite3_mprintf("%s", col_text(pRow, 1))) == 0) return SQLITE_NOMEM;
    op->zNewValue = az[p->nNewValue++];
  } else {
    static const char *const azFields[] = {"new_value", "char, keep_last", "no other field",
                                           "length", "no other field"};
    return fail(x, sqlite3_mprintf("unknown field \"%s\" for operator %s (it takes %s)", zKey,
                                   vg_pii_operator_name(op->kind), azFields[op->kind]));
  }
  return SQLITE_OK;
}

/* An operator given as a name or an object at zPath (the row's value). */
static int read_operator(Parse *x, const char *zPath, sqlite3_stmt *pRow, VgPiiOperator *op) {
  const char *zType = col_text(pRow, 2);
  VgPiiOpKind kind;
  int rc;
  if (strcmp(zType, "text") == 0) {
    rc = op_kind(x, col_text(pRow, 1), &kind);
    if (rc == SQLITE_OK) op_defaults(op, kind);
    return rc;
  }
  if (strcmp(zType, "object") != 0) {
    return fail(x, sqlite3_mprintf("an operator must be a name (\"mask\") or an object "
                                   "({\"operator\": \"mask\", ...})"));
  }
  char *zOpPath = sqlite3_mprintf("%s.operator", zPath);
  if (zOpPath == 0) return SQLITE_NOMEM;
  sqlite3_stmt *pStmt = 0;
  rc = sqlite3_prepare_v2(x->db, "SELECT json_extract(?1, ?2), json_type(?1, ?2)", -1, &pStmt, 0);
  if (rc == SQLITE_OK) {
    sqlite3_bind_text(pStmt, 1, x->zJson, -1, SQLITE_STATIC);
    sqlite3_bind_text(pStmt, 2, zOpPath, -1, SQLITE_STATIC);
    if (sqlite3_step(pStmt) == SQLITE_ROW && strcmp(col_text(pStmt, 1), "text") == 0) {
      rc = op_kind(x, col_text(pStmt, 0), &kind);
    } else {
      rc = fail(x, sqlite3_mprintf("an operator object needs \"operator\": a name"));
    }
  }
  sqlite3_finalize(pStmt);
  sqlite3_free(zOpPath);
  if (rc != SQLITE_OK) return rc;
  op_defaults(op, kind);
  return each_member(x, zPath, op, op_field);
}

static int add_type_operator(Parse *x, void *pArg, sqlite3_stmt *pRow) {
  (void)pArg;
  PiiOptions *p = x->p;
  const char *zEntity = col_text(pRow, 0);
  char *zPath = sqlite3_mprintf("$.operators.\"%w\"", zEntity);
  if (zPath == 0) return SQLITE_NOMEM;
  int rc;
  if (strcmp(zEntity, "DEFAULT") == 0) {
    rc = read_operator(x, zPath, pRow, &p->ops.def);
  } else if (pii_conn_entity(x->c, zEntity) == 0) {
    rc = fail(x, sqlite3_mprintf("unknown entity type %s in operators", zEntity));
  } else {
    VgPiiOperator *aOp = sqlite3_realloc64(p->aOp, sizeof(VgPiiOperator) * (size_t)(p->ops.n + 1));
    char **az = aOp ? sqlite3_realloc64(p->azOpEntity, sizeof(char *) * (size_t)(p->ops.n + 1)) : 0;
    if (aOp) {
      p->aOp = aOp;
      p->ops.aOp = aOp;
    }
    if (az) p->azOpEntity = az;
    p->ops.azEntity = (const char *const *)p->azOpEntity;
    rc = aOp && az ? read_operator(x, zPath, pRow, &aOp[p->ops.n]) : SQLITE_NOMEM;
    if (rc == SQLITE_OK) {
      az[p->ops.n] = sqlite3_mprintf("%s", zEntity);
      rc = az[p->ops.n] ? SQLITE_OK : SQLITE_NOMEM;
      if (rc == SQLITE_OK) p->ops.n++;
    }
  }
  sqlite3_free(zPath);
  return rc;
}

/* ---- the keys ----------------------------------------------------------- */

static int read_score(Parse *x, sqlite3_stmt *pRow, const char *zKey, double *pd) {
  double d = sqlite3_column_double(pRow, 1);
  if (!is_number(pRow) || d < 0 || d > 1) {
    return fail(x, sqlite3_mprintf("%s must be a number from 0 to 1", zKey));
  }
  *pd = d;
  return SQLITE_OK;
}

static int policy_member(Parse *x, const char *zPath, sqlite3_stmt *pRow, int *pbKnown) {
  VgPiiPolicy *pol = &x->p->policy;
  const char *zKey = col_text(pRow, 0);
  *pbKnown = 1;
  if (strcmp(zKey, "block") == 0) {
    pol->bBlockSet = 1;
    return read_type_list(x, zKey, zPath, pRow, (char ***)&pol->azBlock, &pol->nBlock);
  }
  if (strcmp(zKey, "review") == 0) {
    pol->bReviewSet = 1;
    return read_type_list(x, zKey, zPath, pRow, (char ***)&pol->azReview, &pol->nReview);
  }
  if (strcmp(zKey, "min_score") == 0) return read_score(x, pRow, zKey, &pol->minScore);
  if (strcmp(zKey, "block_score") == 0) return read_score(x, pRow, zKey, &pol->blockScore);
  if (strcmp(zKey, "max_findings") == 0) {
    sqlite3_int64 v = sqlite3_column_int64(pRow, 1);
    if (strcmp(col_text(pRow, 2), "integer") != 0 || v < 0 || v > 1000000000) {
      return fail(x, sqlite3_mprintf("max_findings must be a whole number, 0 or more"));
    }
    pol->maxFindings = (int)v;
    return SQLITE_OK;
  }
  *pbKnown = 0;
  return SQLITE_OK;
}

static int nested_policy_member(Parse *x, void *pArg, sqlite3_stmt *pRow) {
  (void)pArg;
  int bKnown;
  int rc = policy_member(x, "$.policy", pRow, &bKnown);
  if (rc == SQLITE_OK && !bKnown) {
    rc = fail(x, sqlite3_mprintf("unknown policy option \"%s\" (options: block, review, "
                                 "min_score, block_score, max_findings)",
                                 col_text(pRow, 0)));
  }
  return rc;
}

static int scan_member(Parse *x, sqlite3_stmt *pRow, int *pbKnown) {
  PiiOptions *p = x->p;
  const char *zKey = col_text(pRow, 0);
  *pbKnown = 1;
  if (strcmp(zKey, "min_score") == 0) return read_score(x, pRow, zKey, &p->scan.minScore);
  if (strcmp(zKey, "language") == 0) {
    const char *z = col_text(pRow, 1);
    int bText = strcmp(col_text(pRow, 2), "text") == 0;
    if (bText && strcmp(z, "en") == 0) {
      p->scan.lang = VG_PII_LANG_EN;
    } else if (bText && strcmp(z, "es") == 0) {
      p->scan.lang = VG_PII_LANG_ES;
    } else {
      return fail(x, sqlite3_mprintf("language must be \"en\" or \"es\""));
    }
    return SQLITE_OK;
  }
  if (strcmp(zKey, "ner") == 0) {
    if (strcmp(col_text(pRow, 2), "text") != 0) {
      return fail(x, sqlite3_mprintf("ner must name a token-classification model loaded with vg_model_load"));
    }
    sqlite3_free(p->zNer);
    p->zNer = sqlite3_mprintf("%s", col_text(pRow, 1));
    return p->zNer ? SQLITE_OK : SQLITE_NOMEM;
  }
  if (strcmp(zKey, "types") == 0) {
    int rc = read_type_list(x, zKey, "$", pRow, &p->azType, &p->scan.nEntity);
    p->scan.azEntity = (const char *const *)p->azType;
    /* An empty list asks for nothing; keep azEntity non-zero to say so. */
    if (rc == SQLITE_OK && p->azType == 0) {
      p->azType = sqlite3_malloc64(sizeof(char *));
      if (p->azType == 0) return SQLITE_NOMEM;
      p->scan.azEntity = (const char *const *)p->azType;
    }
    return rc;
  }
  *pbKnown = 0;
  return SQLITE_OK;
}

static int redact_member(Parse *x, sqlite3_stmt *pRow, int *pbKnown) {
  PiiOptions *p = x->p;
  const char *zKey = col_text(pRow, 0), *zType = col_text(pRow, 2);
  *pbKnown = 1;
  if (strcmp(zKey, "operator") == 0) return read_operator(x, "$.operator", pRow, &p->ops.def);
  if (strcmp(zKey, "operators") == 0) {
    if (strcmp(zType, "object") != 0) {
      return fail(x, sqlite3_mprintf("operators must be an object: {\"TYPE\": operator, ...}"));
    }
    return each_member(x, "$.operators", 0, add_type_operator);
  }
  if (strcmp(zKey, "audit") == 0) {
    if (strcmp(zType, "true") == 0 || strcmp(zType, "false") == 0) {
      p->bAudit = strcmp(zType, "true") == 0;
    } else if (strcmp(zType, "integer") == 0 && sqlite3_column_int64(pRow, 1) >= 0 &&
               sqlite3_column_int64(pRow, 1) <= 1) {
      p->bAudit = sqlite3_column_int(pRow, 1);
    } else {
      return fail(x, sqlite3_mprintf("audit must be true or false"));
    }
    return SQLITE_OK;
  }
  if (strcmp(zKey, "content_id") == 0) {
    if (strcmp(zType, "text") != 0 && strcmp(zType, "integer") != 0) {
      return fail(x, sqlite3_mprintf("content_id must be text or an integer"));
    }
    sqlite3_value_free(p->pContentId);
    p->pContentId = sqlite3_value_dup(sqlite3_column_value(pRow, 1));
    return p->pContentId ? SQLITE_OK : SQLITE_NOMEM;
  }
  if (strcmp(zKey, "key") == 0) {
    if (strcmp(zType, "text") != 0) {
      return fail(x, sqlite3_mprintf("key must be the name of a row of vg_pii_keys"));
    }
    sqlite3_free(p->zKeyName);
    p->zKeyName = sqlite3_mprintf("%s", col_text(pRow, 1));
    return p->zKeyName ? SQLITE_OK : SQLITE_NOMEM;
  }
  if (strcmp(zKey, "policy") == 0) {
    if (strcmp(zType, "object") != 0) return fail(x, sqlite3_mprintf("policy must be an object"));
    return each_member(x, "$.policy", 0, nested_policy_member);
  }
  *pbKnown = 0;
  return SQLITE_OK;
}

typedef struct TopLevel {
  unsigned mask;
} TopLevel;

static int top_member(Parse *x, void *pArg, sqlite3_stmt *pRow) {
  unsigned mask = ((TopLevel *)pArg)->mask;
  int bKnown = 0, rc = SQLITE_OK;
  if (mask & PII_OPT_POLICY) {
    rc = policy_member(x, "$", pRow, &bKnown);
    /* In vg_pii_check, min_score also leaves findings out of the scan. */
    if (rc == SQLITE_OK && bKnown && strcmp(col_text(pRow, 0), "min_score") == 0) {
      x->p->scan.minScore = x->p->policy.minScore;
    }
  }
  if (rc == SQLITE_OK && !bKnown && (mask & PII_OPT_SCAN)) rc = scan_member(x, pRow, &bKnown);
  if (rc == SQLITE_OK && !bKnown && (mask & PII_OPT_REDACT)) rc = redact_member(x, pRow, &bKnown);
  if (rc == SQLITE_OK && !bKnown) {
    rc = fail(x, sqlite3_mprintf("unknown option \"%s\" (options: %s%s%s)", col_text(pRow, 0),
                                 mask & PII_OPT_SCAN ? "types, min_score, language, ner" : "",
                                 mask & PII_OPT_REDACT
                                     ? ", operator, operators, audit, content_id, policy, key"
                                     : "",
                                 mask & PII_OPT_POLICY
                                     ? ", block, review, block_score, max_findings"
                                     : ""));
  }
  return rc;
}

int pii_options_parse(sqlite3 *db, PiiConn *c, const char *zJson, unsigned mask,
                      const char *zFunc, PiiOptions **pp, char **pzErr) {
  *pp = 0;
  PiiOptions *p = sqlite3_malloc64(sizeof(*p));
  if (p == 0) return SQLITE_NOMEM;
  memset(p, 0, sizeof(*p));
  op_defaults(&p->ops.def, VG_PII_OP_REPLACE);
  vg_pii_policy_default(&p->policy);
  Parse x = {db, c, zJson, zFunc, pzErr, p};
  char zType[16];
  int rc = json_kind(&x, "$", zType);
  if (rc == SQLITE_OK && strcmp(zType, "object") != 0) {
    rc = fail(&x, sqlite3_mprintf("options must be a JSON object"));
  }
  TopLevel top = {mask};
  if (rc == SQLITE_OK) rc = each_member(&x, "$", &top, top_member);
  if (rc != SQLITE_OK) {
    pii_options_free(p);
    return rc;
  }
  *pp = p;
  return SQLITE_OK;
}

const PiiOptions *pii_options_arg(sqlite3_context *ctx, PiiConn *c, int argc,
                                  sqlite3_value **argv, int iArg, unsigned mask,
                                  const char *zFunc) {
  static const PiiOptions defaults = {.ops = {.def = VG_PII_OPERATOR_INIT(VG_PII_OP_REPLACE)},
                                      .policy = VG_PII_POLICY_INIT};
  if (argc <= iArg || sqlite3_value_type(argv[iArg]) == SQLITE_NULL) return &defaults;
  PiiOptions *p = sqlite3_get_auxdata(ctx, iArg);
  if (p) return p;
  if (sqlite3_value_type(argv[iArg]) != SQLITE_TEXT) {
    vg_result_error(ctx, SQLITE_ERROR, zFunc, "options must be a JSON object (as text)");
    return 0;
  }
  const char *zJson = vg_text_arg(ctx, zFunc, argv[iArg], "the options", VG_TEXT_JSON, 0);
  if (zJson == 0) return 0;
  char *zErr = 0;
  int rc = pii_options_parse(sqlite3_context_db_handle(ctx), c, zJson, mask, zFunc, &p, &zErr);
  if (rc != SQLITE_OK) {
    vg_result_error(ctx, rc, zFunc, zErr);
    sqlite3_free(zErr);
    return 0;
  }
  sqlite3_set_auxdata(ctx, iArg, p, pii_options_free);
  /* set_auxdata frees p at once when it cannot keep it (out of memory):
  ** read it again. */
  PiiOptions *pKept = sqlite3_get_auxdata(ctx, iArg);
  if (pKept == 0) sqlite3_result_error_nomem(ctx);
  return pKept;
}
