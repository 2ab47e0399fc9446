/* model/pretok.c — the tokenizer's text side before BPE: splitting out added
 * tokens, NFC normalization (utf8proc), and regex pre-tokenization (PCRE2 in UTF
 * mode with Unicode properties, so \p{L}, \p{N} and \s mean what they mean in
 * `tokenizers`' Oniguruma patterns). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "model/tokenizer_internal.h"

/* GPT-2's pattern, as the ByteLevel pre-tokenizer uses it when use_regex is true. */
const char *const TOK_GPT2_REGEX =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/* Llama-3's Split pattern (tokenizer.json of Llama-3.x). */
const char *const TOK_LLAMA3_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/* Qwen2's Split pattern: as Llama-3's, but digits one at a time. */
const char *const TOK_QWEN2_REGEX =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

int tok_add_split(seal_tokenizer *t, const char *pattern, bool is_literal,
                  tok_split_behavior behavior, const char *where, seal_error *e) {
  int errcode = 0;
  PCRE2_SIZE erroffset = 0;
  uint32_t options = PCRE2_UTF | PCRE2_UCP | (is_literal ? PCRE2_LITERAL : 0);
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, options, &errcode,
                                 &erroffset, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(errcode, msg, sizeof msg);
    return seal_errorf(e, "%s: bad regex at offset %zu: %s", where, (size_t)erroffset,
                       (const char *)msg);
  }
  pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if unavailable */
  t->splits = seal_realloc(t->splits, (size_t)(t->n_splits + 1) * sizeof *t->splits);
  t->splits[t->n_splits++] = (tok_split){re, behavior};
  return 0;
}

/* ---- added tokens ------------------------------------------------------------------ */

static int compare_added(const void *pa, const void *pb) {
  const tok_added *a = pa, *b = pb;
  uint8_t fa = (uint8_t)a->content[0], fb = (uint8_t)b->content[0];
  if (fa != fb) return fa < fb ? -1 : 1;
  if (a->len != b->len) return a->len > b->len ? -1 : 1; /* longest first */
  return a->id < b->id ? -1 : (a->id > b->id);
}

void tok_index_added(seal_tokenizer *t) {
  /* Empty contents can never match; drop them from the matcher. */
  int kept = 0;
  for (int i = 0; i < t->n_added; i++) {
    if (t->added[i].len > 0) {
      t->added[kept++] = t->added[i];
    } else {
      free(t->added[i].content);
    }
  }
  t->n_added = kept;
  if (kept > 0) qsort(t->added, (size_t)kept, sizeof *t->added, compare_added);
  int k = 0;
  for (int b = 0; b <= 256; b++) {
    while (k < kept && (uint8_t)t->added[k].content[0] < b) k++;
    t->added_first[b] = k;
  }
}

int tok_find_added(const seal_tokenizer *t, const char *text, size_t len, size_t *at) {
  if (t->n_added == 0) return -1;
  for (size_t i = 0; i < len; i++) {
    uint8_t b = (uint8_t)text[i];
    for (int k = t->added_first[b]; k < t->added_first[b + 1]; k++) {
      const tok_added *a = &t->added[k];
      if (a->len <= len - i && memcmp(text + i, a->content, a->len) == 0) {
        *at = i;
        return k; /* the longest at the leftmost position that has any */
      }
    }
  }
  return -1;
}

/* ---- regex splits ------------------------------------------------------------------------ */

typedef struct {
  size_t start, end;
} span;

typedef struct {
  span *v;
  size_t n, cap;
} spans;

static void spans_push(spans *s, size_t start, size_t end) {
  if (end <= start) return; /* `tokenizers` drops empty pieces */
  if (s->n == s->cap) {
    s->cap = s->cap ? s->cap * 2 : 64;
    s->v = seal_realloc(s->v, s->cap * sizeof *s->v);
  }
  s->v[s->n++] = (span){start, end};
}

static size_t next_char(const uint8_t *text, size_t len, size_t i) {
  i++;
  while (i < len && (text[i] & 0xC0) == 0x80) i++;
  return i;
}

/* Splits text[piece] by one regex into out. The piece is matched on its own, as
 * `tokenizers` does, so lookaheads see its end. */
static int split_piece(const tok_split *sp, const uint8_t *text, span piece, pcre2_match_data *md,
                       spans *out) {
  const uint8_t *sub = text + piece.start;
  size_t len = piece.end - piece.start, last = 0, off = 0;
  while (off <= len) {
    int rc = pcre2_match(sp->re, sub, len, off, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      seal_warn("tokenizer: regex match failed: %s", (const char *)msg);
      return -1;
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    size_t m0 = ov[0], m1 = ov[1];
    if (m1 == m0) { /* an empty match splits nothing; step over one character */
      if (m0 >= len) break;
      off = next_char(sub, len, m0);
      continue;
    }
    spans_push(out, piece.start + last, piece.start + m0);
    if (sp->behavior == TOK_SPLIT_ISOLATED) spans_push(out, piece.start + m0, piece.start + m1);
    last = off = m1;
  }
  spans_push(out, piece.start + last, piece.end);
  return 0;
}

static int apply_splits(const seal_tokenizer *t, const uint8_t *text, size_t len, spans *cur) {
  spans next = {0};
  int rc = 0;
  cur->n = 0;
  spans_push(cur, 0, len);
  for (int s = 0; s < t->n_splits && rc == 0; s++) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->splits[s].re, NULL);
    SEAL_CHECK(md, "out of memory creating PCRE2 match data");
    next.n = 0;
    for (size_t i = 0; i < cur->n && rc == 0; i++) {
      rc = split_piece(&t->splits[s], text, cur->v[i], md, &next);
    }
    pcre2_match_data_free(md);
    spans tmp = *cur;
    *cur = next;
    next = tmp;
  }
  free(next.v);
  return rc;
}

int tok_pretokenize(const seal_tokenizer *t, const char *segment, size_t len, tok_piece_fn fn,
                    void *ctx) {
  if (len == 0) return 0;
  uint8_t *normalized = NULL;
  const uint8_t *text = (const uint8_t *)segment;
  if (t->nfc) {
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)segment, (utf8proc_ssize_t)len,
                                      &normalized, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    if (n < 0) {
      seal_warn("tokenizer: NFC normalization failed: %s", utf8proc_errmsg(n));
      return -1;
    }
    text = normalized;
    len = (size_t)n;
  }
  spans pieces = {0};
  int rc = apply_splits(t, text, len, &pieces);
  if (rc == 0) {
    for (size_t i = 0; i < pieces.n; i++) {
      fn(text + pieces.v[i].start, pieces.v[i].end - pieces.v[i].start, ctx);
    }
  }
  free(pieces.v);
  free(normalized);
  return rc;
}
