/* model/tokenizer_internal.h — what tokenizer.c, bpe.c and pretok.c share: the
 * tokenizer's layout, its hash maps, the BPE merge step and the pre-tokenizer.
 * Not for use outside those files. */
#ifndef SEAL_MODEL_TOKENIZER_INTERNAL_H
#define SEAL_MODEL_TOKENIZER_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/tokenizer.h"

/* ---- hash maps ------------------------------------------------------------- */

/* Byte string -> id, open addressing. Keys are copied into the map. */
typedef struct {
  char **keys;   /* [cap], NULL for empty buckets */
  size_t *lens;  /* [cap] */
  int32_t *vals; /* [cap] */
  size_t cap, n; /* cap is a power of two, kept over 2n */
} tok_strmap;

void tok_strmap_init(tok_strmap *m, size_t expected);
void tok_strmap_free(tok_strmap *m);
/* Inserts key -> val; returns false (and leaves the map) if key is present. */
bool tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val);
/* The id of key, or -1. */
int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len);

/* (left id, right id) -> (merge rank, merged id). */
typedef struct {
  uint64_t *keys;  /* [cap], TOK_PAIR_EMPTY for empty buckets */
  int32_t *ranks;  /* [cap] */
  int32_t *merged; /* [cap] */
  size_t cap, n;
} tok_pairmap;

void tok_pairmap_init(tok_pairmap *m, size_t expected);
void tok_pairmap_free(tok_pairmap *m);
/* Inserts; a pair already present keeps its first (lowest) rank. */
void tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged);
/* Finds the pair; returns false if absent. */
bool tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                     int32_t *merged);

/* ---- the tokenizer ----------------------------------------------------------- */

enum { TOK_ADDED = 1, TOK_SPECIAL = 2 };

typedef enum { TOK_SPLIT_ISOLATED, TOK_SPLIT_REMOVED } tok_split_behavior;

/* One regex split of the pre-tokenizer. */
typedef struct {
  pcre2_code *re;
  tok_split_behavior behavior;
} tok_split;

typedef struct {
  char *content;
  size_t len;
  int32_t id;
} tok_added;

struct seal_tokenizer {
  int n_vocab;          /* one more than the largest id */
  char **id_str;        /* [n_vocab] token strings, NULL for unused ids */
  uint8_t *id_flags;    /* [n_vocab] TOK_ADDED | TOK_SPECIAL */
  tok_strmap vocab;     /* the BPE model's vocabulary: byte-level string -> id */
  tok_strmap added_map; /* added token content -> id */
  tok_pairmap merges;   /* (left, right) -> (rank, merged) */
  int32_t byte_id[256]; /* id of the one-character token of each byte, -1 if absent */
  int32_t unk_id;       /* used for bytes without a token; -1: such bytes are dropped */
  bool ignore_merges;

  tok_added *added; /* [n_added] sorted by first byte, then longest first */
  int n_added;
  int added_first[257]; /* added[added_first[b] .. added_first[b+1]) start with byte b */

  bool nfc;
  tok_split *splits; /* [n_splits] applied in order */
  int n_splits;

  int bos_id, eos_id, eot_id;
  bool add_bos;
  char *chat_template;
};

/* ---- byte-level mapping (GPT-2 bytes_to_unicode) ----------------------------------- */

/* The code point GPT-2 maps byte b to. */
uint32_t tok_byte_to_cp(uint8_t b);
/* The byte a code point stands for, or -1 if it is not in the mapping. */
int tok_cp_to_byte(uint32_t cp);
/* Appends the byte-level form of bytes[0..n) to buf (NUL-terminated). */
void tok_bytes_to_bytelevel(const uint8_t *bytes, size_t n, seal_buf *buf);

/* ---- BPE ----------------------------------------------------------------------- */

/* Scratch space reused across words of one encode call. */
typedef struct {
  int32_t *id, *prev, *next; /* [cap] symbols of the word being merged; id -1 = merged away */
  struct tok_merge *heap;    /* [heap_cap] */
  size_t cap, heap_cap, heap_n;
  seal_buf text; /* byte-level form of the word, for ignore_merges */
} tok_bpe_work;

void tok_bpe_work_free(tok_bpe_work *w);
/* Appends the ids of one pre-token (raw bytes) to *out (length *n, capacity *cap). */
void tok_bpe_word(const seal_tokenizer *t, tok_bpe_work *w, const uint8_t *bytes, size_t n,
                  int32_t **out, int *n_out, int *cap_out);

/* ---- pre-tokenizer --------------------------------------------------------------- */

extern const char *const TOK_GPT2_REGEX;
extern const char *const TOK_LLAMA3_REGEX;
extern const char *const TOK_QWEN2_REGEX;

/* Compiles a regex split (UTF, UCP; JIT when available); literal when is_literal.
 * Returns -1 with e naming `where` on a bad pattern. */
int tok_add_split(seal_tokenizer *t, const char *pattern, bool is_literal,
                  tok_split_behavior behavior, const char *where, seal_error *e);
/* Sorts the added tokens and builds the first-byte index. */
void tok_index_added(seal_tokenizer *t);

/* Calls fn(piece, len, ctx) for every pre-token of a text segment that holds no
 * added token (normalized first when t->nfc). Returns -1 if the regex engine
 * fails (logged). */
typedef void (*tok_piece_fn)(const uint8_t *piece, size_t len, void *ctx);
int tok_pretokenize(const seal_tokenizer *t, const char *segment, size_t len, tok_piece_fn fn,
                    void *ctx);

/* Finds the leftmost-longest added token in text[0..len); returns its index in
 * t->added and sets *at, or -1 if none. */
int tok_find_added(const seal_tokenizer *t, const char *text, size_t len, size_t *at);

#endif
