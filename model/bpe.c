/* model/bpe.c — the BPE half of the tokenizer: hash maps for the vocabulary and
 * the merges, GPT-2's byte-to-character mapping, and the merge loop.
 *
 * The merge loop is the one `tokenizers` runs (Word::merge_all): a min-heap of
 * candidate merges ordered by (rank, position); popping a candidate that is
 * stale (its left symbol was merged away or its right neighbour changed) skips
 * it; applying a merge pushes the new pairs with the neighbours. A word of n
 * bytes costs O(n log n), so a 10k-character run of digits or spaces is cheap. */
#include <stdlib.h>
#include <string.h>

#include "model/tokenizer_internal.h"

/* ---- hashing --------------------------------------------------------------------- */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

static size_t capacity_for(size_t expected) {
  size_t cap = 16;
  while (cap < expected * 2 + 1) cap <<= 1;
  return cap;
}

/* ---- string map -------------------------------------------------------------------- */

void tok_strmap_init(tok_strmap *m, size_t expected) {
  m->cap = capacity_for(expected);
  m->n = 0;
  m->keys = seal_calloc(m->cap, sizeof *m->keys);
  m->lens = seal_calloc(m->cap, sizeof *m->lens);
  m->vals = seal_calloc(m->cap, sizeof *m->vals);
}

void tok_strmap_free(tok_strmap *m) {
  if (m->keys) {
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
  }
  free(m->keys);
  free(m->lens);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

static size_t strmap_bucket(const tok_strmap *m, const char *key, size_t len) {
  size_t mask = m->cap - 1;
  size_t i = (size_t)mix64(seal_fnv1a(key, len, 0xcbf29ce484222325ULL)) & mask;
  while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0)) {
    i = (i + 1) & mask;
  }
  return i;
}

static void strmap_grow(tok_strmap *m) {
  tok_strmap bigger;
  tok_strmap_init(&bigger, m->cap); /* doubles the capacity */
  for (size_t i = 0; i < m->cap; i++) {
    if (!m->keys[i]) continue;
    size_t j = strmap_bucket(&bigger, m->keys[i], m->lens[i]);
    bigger.keys[j] = m->keys[i];
    bigger.lens[j] = m->lens[i];
    bigger.vals[j] = m->vals[i];
    bigger.n++;
  }
  free(m->keys);
  free(m->lens);
  free(m->vals);
  *m = bigger;
}

bool tok_strmap_put(tok_strmap *m, const char *key, size_t len, int32_t val) {
  if ((m->n + 1) * 2 > m->cap) strmap_grow(m);
  size_t i = strmap_bucket(m, key, len);
  if (m->keys[i]) return false;
  char *copy = seal_malloc(len + 1);
  memcpy(copy, key, len);
  copy[len] = '\0';
  m->keys[i] = copy;
  m->lens[i] = len;
  m->vals[i] = val;
  m->n++;
  return true;
}

int32_t tok_strmap_get(const tok_strmap *m, const char *key, size_t len) {
  if (m->cap == 0) return -1;
  size_t i = strmap_bucket(m, key, len);
  return m->keys[i] ? m->vals[i] : -1;
}

/* ---- pair map ------------------------------------------------------------------------ */

#define TOK_PAIR_EMPTY UINT64_MAX

static uint64_t pair_key(int32_t left, int32_t right) {
  return ((uint64_t)(uint32_t)left << 32) | (uint32_t)right;
}

void tok_pairmap_init(tok_pairmap *m, size_t expected) {
  m->cap = capacity_for(expected);
  m->n = 0;
  m->keys = seal_malloc(m->cap * sizeof *m->keys);
  for (size_t i = 0; i < m->cap; i++) m->keys[i] = TOK_PAIR_EMPTY;
  m->ranks = seal_calloc(m->cap, sizeof *m->ranks);
  m->merged = seal_calloc(m->cap, sizeof *m->merged);
}

void tok_pairmap_free(tok_pairmap *m) {
  free(m->keys);
  free(m->ranks);
  free(m->merged);
  memset(m, 0, sizeof *m);
}

static size_t pairmap_bucket(const tok_pairmap *m, uint64_t key) {
  size_t mask = m->cap - 1;
  size_t i = (size_t)mix64(key) & mask;
  while (m->keys[i] != TOK_PAIR_EMPTY && m->keys[i] != key) i = (i + 1) & mask;
  return i;
}

void tok_pairmap_put(tok_pairmap *m, int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((m->n + 1) * 2 > m->cap) {
    tok_pairmap bigger;
    tok_pairmap_init(&bigger, m->cap);
    for (size_t i = 0; i < m->cap; i++) {
      if (m->keys[i] == TOK_PAIR_EMPTY) continue;
      size_t j = pairmap_bucket(&bigger, m->keys[i]);
      bigger.keys[j] = m->keys[i];
      bigger.ranks[j] = m->ranks[i];
      bigger.merged[j] = m->merged[i];
      bigger.n++;
    }
    tok_pairmap_free(m);
    *m = bigger;
  }
  uint64_t key = pair_key(left, right);
  size_t i = pairmap_bucket(m, key);
  if (m->keys[i] == key) return; /* `tokenizers` also keeps the first */
  m->keys[i] = key;
  m->ranks[i] = rank;
  m->merged[i] = merged;
  m->n++;
}

bool tok_pairmap_get(const tok_pairmap *m, int32_t left, int32_t right, int32_t *rank,
                     int32_t *merged) {
  if (m->cap == 0) return false;
  uint64_t key = pair_key(left, right);
  size_t i = pairmap_bucket(m, key);
  if (m->keys[i] != key) return false;
  *rank = m->ranks[i];
  *merged = m->merged[i];
  return true;
}

/* ---- GPT-2 bytes_to_unicode ------------------------------------------------------------ */

/* Printable bytes ('!'..'~', '¡'..'¬', '®'..'ÿ') stand for themselves; the other 68
 * bytes, in order, take code points 256, 257, ...: 0x00-0x20 -> 256-288,
 * 0x7F-0xA0 -> 289-322, 0xAD -> 323. */
static bool byte_is_printable(int b) {
  return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_cp(uint8_t b) {
  if (byte_is_printable(b)) return b;
  if (b <= 0x20) return 256u + b;
  if (b <= 0xA0) return 256u + 33u + (uint32_t)(b - 0x7F);
  return 323; /* 0xAD, the soft hyphen */
}

int tok_cp_to_byte(uint32_t cp) {
  if (cp < 256) return byte_is_printable((int)cp) ? (int)cp : -1;
  if (cp <= 288) return (int)(cp - 256);
  if (cp <= 322) return (int)(cp - 289 + 0x7F);
  if (cp == 323) return 0xAD;
  return -1;
}

void tok_bytes_to_bytelevel(const uint8_t *bytes, size_t n, seal_buf *buf) {
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = tok_byte_to_cp(bytes[i]);
    char utf8[2];
    if (cp < 0x80) {
      utf8[0] = (char)cp;
      seal_buf_append(buf, utf8, 1);
    } else { /* every mapped code point is below 0x800: two bytes */
      utf8[0] = (char)(0xC0 | (cp >> 6));
      utf8[1] = (char)(0x80 | (cp & 0x3F));
      seal_buf_append(buf, utf8, 2);
    }
  }
  if (n == 0) seal_buf_append(buf, "", 0);
}

/* ---- the merge loop ---------------------------------------------------------------------- */

struct tok_merge {
  int32_t rank, pos, merged;
};

static bool merge_before(const struct tok_merge *a, const struct tok_merge *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(tok_bpe_work *w, struct tok_merge m) {
  if (w->heap_n == w->heap_cap) {
    w->heap_cap = w->heap_cap ? w->heap_cap * 2 : 64;
    w->heap = seal_realloc(w->heap, w->heap_cap * sizeof *w->heap);
  }
  size_t i = w->heap_n++;
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!merge_before(&m, &w->heap[parent])) break;
    w->heap[i] = w->heap[parent];
    i = parent;
  }
  w->heap[i] = m;
}

static struct tok_merge heap_pop(tok_bpe_work *w) {
  struct tok_merge top = w->heap[0];
  struct tok_merge last = w->heap[--w->heap_n];
  size_t i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= w->heap_n) break;
    if (child + 1 < w->heap_n && merge_before(&w->heap[child + 1], &w->heap[child])) child++;
    if (!merge_before(&w->heap[child], &last)) break;
    w->heap[i] = w->heap[child];
    i = child;
  }
  if (w->heap_n > 0) w->heap[i] = last;
  return top;
}

void tok_bpe_work_free(tok_bpe_work *w) {
  free(w->id);
  free(w->prev);
  free(w->next);
  free(w->heap);
  seal_buf_free(&w->text);
  memset(w, 0, sizeof *w);
}

static void push_id(int32_t id, int32_t **out, int *n_out, int *cap_out) {
  if (*n_out == *cap_out) {
    *cap_out = *cap_out ? *cap_out * 2 : 64;
    *out = seal_realloc(*out, (size_t)*cap_out * sizeof **out);
  }
  (*out)[(*n_out)++] = id;
}

/* Pushes the merge of the symbol at pos with its right neighbour, if one exists. */
static void push_pair(const seal_tokenizer *t, tok_bpe_work *w, int32_t pos) {
  if (pos < 0) return;
  int32_t right = w->next[pos];
  if (right < 0) return;
  int32_t rank, merged;
  if (tok_pairmap_get(&t->merges, w->id[pos], w->id[right], &rank, &merged)) {
    heap_push(w, (struct tok_merge){rank, pos, merged});
  }
}

/* Loads the word's bytes as one symbol each, dropping bytes without a token when
 * there is no unk token (as `tokenizers` does). Returns the symbol count. */
static int32_t load_symbols(const seal_tokenizer *t, tok_bpe_work *w, const uint8_t *bytes,
                            size_t n) {
  if (n > w->cap) {
    w->cap = n;
    w->id = seal_realloc(w->id, n * sizeof *w->id);
    w->prev = seal_realloc(w->prev, n * sizeof *w->prev);
    w->next = seal_realloc(w->next, n * sizeof *w->next);
  }
  int32_t count = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t id = t->byte_id[bytes[i]];
    if (id < 0) id = t->unk_id;
    if (id < 0) continue;
    w->id[count] = id;
    w->prev[count] = count - 1;
    w->next[count] = count + 1;
    count++;
  }
  if (count > 0) w->next[count - 1] = -1;
  return count;
}

void tok_bpe_word(const seal_tokenizer *t, tok_bpe_work *w, const uint8_t *bytes, size_t n,
                  int32_t **out, int *n_out, int *cap_out) {
  if (n == 0) return;
  if (t->ignore_merges) {
    w->text.len = 0;
    tok_bytes_to_bytelevel(bytes, n, &w->text);
    int32_t id = tok_strmap_get(&t->vocab, w->text.data, w->text.len);
    if (id >= 0) {
      push_id(id, out, n_out, cap_out);
      return;
    }
  }
  int32_t count = load_symbols(t, w, bytes, n);
  w->heap_n = 0;
  for (int32_t i = 0; i + 1 < count; i++) push_pair(t, w, i);
  while (w->heap_n > 0) {
    struct tok_merge top = heap_pop(w);
    int32_t pos = top.pos, right = w->next[pos];
    if (w->id[pos] < 0 || right < 0) continue; /* merged away, or now last */
    int32_t rank, merged;
    if (!tok_pairmap_get(&t->merges, w->id[pos], w->id[right], &rank, &merged) ||
        merged != top.merged) {
      continue; /* stale: a neighbour changed since this was pushed */
    }
    w->id[pos] = merged;
    w->id[right] = -1;
    w->next[pos] = w->next[right];
    if (w->next[pos] >= 0) w->prev[w->next[pos]] = pos;
    push_pair(t, w, w->prev[pos]);
    push_pair(t, w, pos);
  }
  for (int32_t i = 0; i < count; i++) {
    if (w->id[i] >= 0) push_id(w->id[i], out, n_out, cap_out);
  }
}
