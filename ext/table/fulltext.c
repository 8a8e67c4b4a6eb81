/*
** fulltext.c — the full-text index of a vg_hnsw table: the SQL function
** that shows a text's terms.
*/
#include "vector/vector.h"
#include "fulltext/fulltext.h"
#include "table/table.h"

typedef struct TermsOut {
  sqlite3_str *s;
  int n;
} TermsOut;

static int append_term(void *pCtx, const char *z, int n) {
  TermsOut *o = pCtx;
  sqlite3_str_appendchar(o->s, 1, o->n++ ? ',' : '[');
  vg_str_append_json(o->s, z, n);
  return sqlite3_str_errcode(o->s);
}

/* vg_fulltext_terms(text): the terms a fulltext column indexes text under,
** as a JSON array, in order (repeats kept). */
static void fulltext_terms_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  if (sqlite3_value_type(argv[0]) == SQLITE_NULL) return;
  int n = 0;
  const char *z = vg_text_arg(ctx, "vg_fulltext_terms", argv[0], "the text", VG_TEXT_BODY, &n);
  if (z == 0) return;
  TermsOut o = {sqlite3_str_new(sqlite3_context_db_handle(ctx)), 0};
  int rc = ft_tokenize(z, n, append_term, &o);
  if (rc == SQLITE_OK) sqlite3_str_appendall(o.s, o.n ? "]" : "[]");
  vg_result_str(ctx, o.s);
}

const VgFunction vg_fulltext_functions[] = {
    {"vg_fulltext_terms", 1, VG_FUNC_PURE, fulltext_terms_func},
    {0, 0, 0, 0},
};
