/*
** embed.h — the internal header of ext/embed/: embedders (the built-in hash
** model), tokens and chunks, vg_embed and vg_chunk.
**
** One section per part, in dependency order: embed.  The BERT encoder
** itself is the bert layer's (ext/bert/); models.c loads it by name.
** Layers below this one only (see docs/architecture.md; make check-layers).
*/
#ifndef VG_EMBED_LAYER_H
#define VG_EMBED_LAYER_H

#include "base/base.h"


/***************************************************************************
** embed: the interface every embedder (text in, float32 vector out)
** implements, and the registry that opens one by its model name.
**
** An embedder has a name, a dimension, and the longest input it reads, in
** tokens; it embeds a batch of texts in one call, so that a model that is
** faster on batches (a transformer on OpenBLAS) gets them.  Text longer than
** nMaxTokens is cut there: callers split it first with vg_chunk.
**
** Model names: "hash" (feature hashing, 384 dimensions) or "hash:DIM".
*/

#define VG_EMBED_DEFAULT_MODEL "hash:384"

/* The public interface (include/vecguard.h) is the internal one. */
typedef struct vecguard_embedder VgEmbedder;

/* Open the embedder named zModel: a "hash" model, or one of a family a
** program registered (vecguard_register_embedder).  An unknown name or a bad
** dimension fails with a message naming the models there are. */
int vg_embedder_open(const char *zModel, VgEmbedder **ppOut, char **pzErr);
void vg_embedder_close(VgEmbedder *p);

/* The models every connection has, as a list for messages: '"hash2",
** "hash", "hash2:DIM", "hash:DIM"' and the registered families (to free). */
char *vg_embedder_known(void);

/* What model zModel would be, without opening it (a trained model's weights
** are large): its dimension and the tokens it reads.  An unknown name or a
** bad dimension fails as vg_embedder_open does. */
int vg_embedder_describe(const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr);

/* p->xEmbed, and then a check of what it wrote: every element finite and
** within VG_MAX_ELEMENT, so that a registered embedder cannot put a vector
** into a table that no distance could compare. */
int vg_embedder_embed(VgEmbedder *p, int nText, const char *const *azText, const int *anText, float *aOut,
                      char **pzErr);

/* The feature-hashing embedders (embed_hash.c): model "hash" or "hash2";
** nDims from 2 to VG_MAX_DIMS, as vg_embedder_open checks. */
#define VG_EMBED_HASH_MAX_TOKENS 512
enum { VG_EMBED_HASH = 0, VG_EMBED_HASH2 = 1 };
int vg_embed_hash_open(int iModel, int nDims, VgEmbedder **ppOut);

/* Tokens as the embedders and vg_chunk count them: maximal runs of bytes
** that are not ASCII whitespace (so a token never splits a character).
** Returns the number of tokens in z[0, n); when aStart is not 0, the byte
** offsets where the first nMax of them start and end go to aStart and aEnd. */
int vg_tokens(const char *z, int n, int nMax, int *aStart, int *aEnd);

/* The chunks vg_chunk cuts z[0, n) into: chunk k is tokens k*(nMax-nOverlap)
** to k*(nMax-nOverlap)+nMax-1 (the last one stops at the last token), from
** its first token's first byte to its last token's last byte.  Their byte
** offsets go to *paStart and *paEnd (one sqlite3_malloc'd block holds both:
** free *paStart), their number to *pnChunk (0 for a text without tokens).
** 1 <= nMax, 0 <= nOverlap < nMax. */
int vg_chunk_spans(const char *z, int n, int nMax, int nOverlap, int **paStart, int **paEnd, int *pnChunk);

/* A model the connection loaded by name (models.c): what it is, under
** that name.  A sentence encoder or a service embeds (pEmbedder); a
** token-classification model finds names for the PII functions (vg_model_ner)
** and has no embedder. */
enum { VG_MODEL_BERT = 1, VG_MODEL_NER, VG_MODEL_SERVICE };
typedef struct VgModel {
  char *zName;
  int eKind;                 /* VG_MODEL_* */
  VgEmbedder *pEmbedder;     /* 0 for VG_MODEL_NER */
  struct BertModel *pBert;   /* VG_MODEL_BERT (owned by pEmbedder) and VG_MODEL_NER (owned here) */
  char *zInfo;               /* its description for vg_models(), a JSON object */
} VgModel;

/* The name a table is bound to when its vectors come from outside:
** vg_queue_run leaves its items to vg_queue_claim and vg_queue_complete. */
#define VG_MODEL_EXTERNAL "external"

/* This layer's part of the per-connection state (ext/vecguard.c owns the
** whole): the default model's embedder, opened on first use and kept for
** the connection (embed.c), and the models loaded by name (models.c). */
typedef struct EmbedConn {
  VgEmbedder *pDefault;
  VgModel *aModel;
  int nModel;
} EmbedConn;
void vg_embed_conn_init(EmbedConn *c);
void vg_embed_conn_clear(EmbedConn *c);

/* The model the connection loaded as zName, or 0 (models.c). */
VgModel *vg_embed_conn_find(EmbedConn *c, const char *zName);
void vg_embed_models_clear(EmbedConn *c);

/* What model zModel is on this connection: one it loaded (an embedding
** kind), else a built-in or registered one (vg_embedder_describe).
** SQLITE_NOTFOUND with *pzErr when zModel is a name a model could be
** loaded under but this connection has not loaded one (the message says
** how); SQLITE_ERROR for a token-classification model or a bad name. */
int vg_model_describe(EmbedConn *c, const char *zModel, int *pnDims, int *pnMaxTokens, char **pzErr);

/* The embedder of zModel: a loaded model's (borrowed: the connection owns
** it), else 0 with SQLITE_OK, and the caller opens a built-in one; errors
** as vg_model_describe's. */
int vg_model_embedder(EmbedConn *c, const char *zModel, VgEmbedder **pp, char **pzErr);

/* The chunks e reads z[0, n) in, at most nMax of its tokens each, the
** next starting nOverlap tokens before the end of the one before: for a
** built-in or registered embedder (e 0 or not a loaded one), vg_chunk_spans;
** for a BERT encoder, word pieces, a chunk ending and starting where words
** do (a word longer than nMax pieces is cut), so that a chunk's text read
** again gives the same pieces and the window never cuts it short. */
int vg_model_chunk_spans(VgEmbedder *e, const char *z, int n, int nMax, int nOverlap, int **paStart, int **paEnd,
                         int *pnChunk);

/* An entity a token-classification model found (vg_model_ner). */
typedef struct VgNerSpan {
  int start, end;  /* bytes of the text */
  int iType;       /* VG_NER_PERSON, ... */
  double score;
} VgNerSpan;
enum { VG_NER_PERSON = 0, VG_NER_LOCATION, VG_NER_ORGANIZATION };

/* The entities model zModel (a token-classification model this connection
** loaded) finds in z[0, n), in text order, into *paSpan (sqlite3_malloc'd).
** SQLITE_NOTFOUND when no model of that name is loaded (no message),
** SQLITE_ERROR with *pzErr when it is not a token-classification model. */
int vg_model_ner(EmbedConn *c, const char *zModel, const char *z, int n, VgNerSpan **paSpan, int *pnSpan,
                 char **pzErr);

/* OpenAI-compatible embedding services (service.c): an embedder over
** POST {url}/embeddings, from the JSON spec vg_model_load was given; its
** description (JSON, without the key) into *pzInfo. */
int vg_service_open(sqlite3 *db, const char *zName, const char *zSpec, VgEmbedder **ppOut, char **pzInfo,
                    char **pzErr);

/* What ext/vecguard.c registers for this layer: vg_embed, which takes the
** EmbedConn (embed.c), and the module vg_chunk, which takes none (chunk.c). */
extern const VgFunction vg_embed_functions[];
/* And vg_model_load, vg_models and vg_tokenize, which take it too (models.c). */
extern const VgFunction vg_model_functions[];
extern const sqlite3_module vg_chunk_module;

#endif
