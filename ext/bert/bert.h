/*
** bert.h — the internal header of ext/bert/: a BERT-family sentence encoder
** (all-MiniLM-L6-v2 and others of its architecture), apart from where its
** files come from and from SQL: the WordPiece tokenizer, safetensors
** files, and the model (a folder's files and the forward pass).
**
** Like the hnsw and fulltext layers, it uses no SQLite (make check-layers
** proves it), so it is tested alone; the embed layer reads a model folder's
** files and wraps the encoder as an embedder.
**
** One section per part, in dependency order: tokenizer, safetensors, model.
*/
#ifndef VG_BERT_LAYER_H
#define VG_BERT_LAYER_H

#include <stddef.h>
#include <stdint.h>

#define BERT_OK 0
#define BERT_ERROR 1
#define BERT_NOMEM 7 /* as SQLITE_NOMEM, so callers may pass it on */

/* Error messages go to a caller's buffer of this size. */
#define BERT_ERR_MAX 512

/***************************************************************************
** tokenizer: text to WordPiece ids, as Hugging Face's tokenizers library
** does with a BertNormalizer, a BertPreTokenizer, a WordPiece model and the
** [CLS] ... [SEP] template (wordpiece.c).
**
**   0. The special tokens [CLS], [SEP], [PAD], [UNK] and [MASK] of the
**      vocabulary, written in the text exactly so, are tokens of their own
**      (the library's "added tokens", matched before anything else).
**   1. Normalize, character by character:
**      - clean: drop NUL, U+FFFD and characters of category Cc, Cf, Co, Cs
**        or Cn (except tab, newline and carriage return); whitespace (tab,
**        newline, carriage return and Z*) becomes a space;
**      - a CJK ideograph gets a space on each side;
**      - strip accents: canonical decomposition (NFD), nonspacing marks
**        (Mn) dropped, so "Café" is "Cafe" and Hangul falls into jamo;
**      - lower-case.
**      Unicode data comes from utf8proc.  When lower-casing is off (a cased
**      model), accents are kept unless asked for.
**   2. Split on spaces; each punctuation character (ASCII punctuation, or
**      category P*) is a word of its own.
**   3. WordPiece: a word is cut greedily into the longest pieces in the
**      vocabulary, pieces after the first prefixed "##"; a word longer than
**      nMaxWordChars characters, or one that cannot be cut, is [UNK].
**   4. [CLS] first and [SEP] last, cut to nMax tokens in all.
** Each token keeps the bytes of the input it came from.
*/

typedef struct BertTokenizerOptions {
  int bCleanText;     /* step 1, clean */
  int bChineseChars;  /* step 1, CJK ideographs spaced */
  int bStripAccents;  /* step 1, NFD and Mn dropped */
  int bLowercase;     /* step 1, lower-case */
  int nMaxWordChars;  /* step 3: longer words are [UNK] (100) */
} BertTokenizerOptions;

/* all-MiniLM-L6-v2's (and bert-base-uncased's) options. */
void bert_tokenizer_options_default(BertTokenizerOptions *p);

typedef struct BertVocab BertVocab;

/* A vocabulary of nToken tokens, id i being azToken[i] (copied): they must
** be distinct and hold [UNK], [CLS] and [SEP].  Errors go to zErr. */
int bert_vocab_new(const char *const *azToken, int nToken, BertVocab **ppVocab, char *zErr);
/* The vocabulary of a vocab.txt file: one token per line, id = line number
** from 0 (trailing whitespace of a line is not part of its token). */
int bert_vocab_load(const char *zPath, BertVocab **ppVocab, char *zErr);
void bert_vocab_free(BertVocab *v);

int bert_vocab_size(const BertVocab *v);
/* The id of the token z[0, n), or -1. */
int bert_vocab_find(const BertVocab *v, const char *z, int n);
/* The token of id (0 <= id < bert_vocab_size(v)). */
const char *bert_vocab_token(const BertVocab *v, int id);

/* A token and the bytes of the input it came from: [start, end) (empty at
** the start for [CLS], at the end for [SEP]). */
typedef struct BertToken {
  int id;
  int start, end;
} BertToken;

/* The tokens of z[0, n) (UTF-8; a byte that is not is dropped as U+FFFD
** would be), at most nMax >= 2 of them, into *paTok (malloc'd; the caller
** frees it) and their number into *pnTok.  Returns BERT_OK or BERT_NOMEM. */
int bert_tokenize(const BertVocab *v, const BertTokenizerOptions *o, const char *z, int n, int nMax,
                  BertToken **paTok, int *pnTok);

/***************************************************************************
** safetensors: a model's weights, mapped read-only and checked
** (safetensors.c).  Opening a file checks its header against the file: the
** JSON parses, each tensor has a known dtype, a shape and a byte range of
** exactly its size, the ranges cover the data without holes or overlaps,
** and the file is as long as the header says ("truncated file" otherwise).
** A tensor's bytes are used where they lie in the mapping (zero copy).
*/

#define BERT_MAX_DIMS 8

enum { BERT_DTYPE_F32 = 1, BERT_DTYPE_F16, BERT_DTYPE_BF16, BERT_DTYPE_OTHER };
const char *bert_dtype_name(int dtype);

typedef struct BertTensor {
  const char *zName;
  int dtype; /* BERT_DTYPE_* */
  int nDim;
  int64_t aShape[BERT_MAX_DIMS];
  uint64_t begin, nByte; /* within the data after the header */
  const void *pData;     /* in the mapping (not aligned beyond a byte) */
} BertTensor;

typedef struct BertSafetensors BertSafetensors;

int bert_safetensors_open(const char *zPath, BertSafetensors **ppOut, char *zErr);
/* The same checks on a file's bytes in memory, which must outlive *ppOut. */
int bert_safetensors_from_memory(const void *pData, size_t nData, BertSafetensors **ppOut, char *zErr);
void bert_safetensors_close(BertSafetensors *st);
/* The tensor named zName, or 0. */
const BertTensor *bert_safetensors_find(const BertSafetensors *st, const char *zName);
/* The tensors, by name. */
int bert_safetensors_count(const BertSafetensors *st);
const BertTensor *bert_safetensors_tensor(const BertSafetensors *st, int i);

/***************************************************************************
** model: a BERT encoder from a sentence-transformers folder (model.c):
** config.json, vocab.txt, tokenizer_config.json, sentence_bert_config.json,
** 1_Pooling/config.json, modules.json and model.safetensors.  A text is
** tokenized (cut to max_seq_length tokens), run through the embeddings
** and the encoder layers (self-attention, GELU, LayerNorm), pooled (mean
** over its tokens, or as the folder says) and L2-normalized when the
** folder has a Normalize module.  Matrix products are OpenBLAS's sgemm.
** A BertForTokenClassification folder (id2label in config.json, the
** encoder's tensors under "bert.", a "classifier") loads too.
*/

enum { BERT_POOL_MEAN = 0, BERT_POOL_CLS, BERT_POOL_MAX };

typedef struct BertConfig {
  int nVocab, nHidden, nLayer, nHead, nInter, nMaxPos, nTypeVocab;
  double eps;     /* layer_norm_eps */
  int nLabel;     /* a token-classification head's labels (0: none) */
  char **azLabel; /* id2label */
} BertConfig;

typedef struct BertModel BertModel;

/* Open the model in folder zDir: every file checked, every tensor the
** config needs present with its shape (an error names what is wrong). */
int bert_model_open(const char *zDir, BertModel **ppOut, char *zErr);
void bert_model_close(BertModel *m);

const BertConfig *bert_model_config(const BertModel *m);
/* The most tokens a text is read to, [CLS] and [SEP] included. */
int bert_model_max_tokens(const BertModel *m);
const BertVocab *bert_model_vocab(const BertModel *m);
/* OpenBLAS threads for the products: OpenBLAS keeps one count for the
** whole process, so this sets it for every model (the last call wins). */
void bert_model_set_threads(BertModel *m, int nThread);

/* A text's tokens, as the model reads them (bert_tokenize, cut to
** bert_model_max_tokens). */
int bert_model_tokenize(const BertModel *m, const char *z, int n, BertToken **paTok, int *pnTok);
/* All of a text's tokens, uncut ([CLS] first, [SEP] last). */
int bert_model_tokenize_all(const BertModel *m, const char *z, int n, BertToken **paTok, int *pnTok);

/* The sentence vectors of nText texts, nHidden floats each, into aOut. */
int bert_model_embed(const BertModel *m, int nText, const char *const *azText, const int *anText, float *aOut);

/* A word of a text (a first piece and its "##" pieces: bytes [start, end))
** and the label a token-classification model gives it: its first piece's
** most likely label (the lowest id on a tie) and that label's softmax
** probability. */
typedef struct BertWord {
  int start, end;
  int label;
  double prob;
} BertWord;

/* The words of the whole of z[0, n) (no cut: windows of the model's
** length, each ending at a word's end when one fits, run one by one) with
** their labels, into *paWord (malloc'd; the caller frees it).  BERT_ERROR
** for a model without a token-classification head. */
int bert_model_label_words(const BertModel *m, const char *z, int n, BertWord **paWord, int *pnWord);

#endif
