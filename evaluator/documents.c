/* evaluator/documents.c — files to documents, split to fit a token budget. */
#include "evaluator/documents.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "evaluator/grade.h" /* seal_py_strip */
#include "evaluator/squad.h"

long seal_utf8_first_invalid(const char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    utf8proc_int32_t cp;
    utf8proc_ssize_t len =
        utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(n - i), &cp);
    if (len <= 0) return (long)i;
    i += (size_t)len;
  }
  return -1;
}

/* ---- splitting ------------------------------------------------------------ */

typedef struct {
  int budget;
  seal_token_count_fn count;
  void *user;
} fit_ctx;

static bool fits(const fit_ctx *f, const char *s, size_t n) {
  if (f->budget <= 0 || !f->count) return true;
  char *t = seal_malloc(n + 1);
  memcpy(t, s, n);
  t[n] = '\0';
  bool ok = f->count(f->user, t) <= f->budget;
  free(t);
  return ok;
}

/* Where the unit starting at s [n] ends at split level `level` (the separator
 * stays with the unit before it, so the units concatenate back to s). */
static size_t unit_end(const char *s, size_t n, int level) {
  for (size_t i = 0; i < n; i++) {
    char c = s[i], next = i + 1 < n ? s[i + 1] : '\0';
    bool end = false;
    if (level == 0) end = c == '\n' && next == '\n'; /* a blank line: paragraphs */
    if (level == 1) end = c == '\n';                 /* lines */
    if (level == 2) end = (c == '.' || c == '!' || c == '?') && isspace((unsigned char)next);
    if (level == 3) end = isspace((unsigned char)c);
    if (!end) continue;
    while (i + 1 < n && isspace((unsigned char)s[i + 1])) i++; /* the whole run of space */
    return i + 1;
  }
  return n;
}

/* The longest prefix of s [n] that fits, cut at a UTF-8 character boundary;
 * at least one character, so splitting always makes progress. */
static size_t longest_fitting_prefix(const fit_ctx *f, const char *s, size_t n) {
  size_t lo = 1, hi = n; /* lo: known to be taken (one byte at least), hi: upper bound */
  while (lo < n && ((unsigned char)s[lo] & 0xC0) == 0x80) lo++; /* a whole first character */
  while (lo < hi) {
    size_t mid = lo + (hi - lo + 1) / 2;
    while (mid < n && ((unsigned char)s[mid] & 0xC0) == 0x80) mid++;
    if (mid > hi) mid = hi;
    if (fits(f, s, mid))
      lo = mid;
    else
      hi = mid - 1;
    while (hi > lo && hi < n && ((unsigned char)s[hi] & 0xC0) == 0x80) hi--;
  }
  return lo;
}

static void add_piece(const char *s, size_t n, char ***pieces, int *count) {
  char *t = seal_malloc(n + 1);
  memcpy(t, s, n);
  t[n] = '\0';
  char *stripped = seal_py_strip(t);
  free(t);
  if (!stripped[0]) {
    free(stripped);
    return;
  }
  *pieces = seal_realloc(*pieces, (size_t)(*count + 1) * sizeof(char *));
  (*pieces)[(*count)++] = stripped;
}

/* Splits s [n] into pieces that fit, at the coarsest separators that work:
 * whole units packed greedily; a unit too big alone is split one level finer. */
static void split_to_fit(const fit_ctx *f, const char *s, size_t n, int level, char ***pieces,
                         int *count) {
  if (fits(f, s, n)) {
    add_piece(s, n, pieces, count);
    return;
  }
  if (level > 3) { /* inside a word: the longest prefix that fits, repeatedly */
    size_t take = longest_fitting_prefix(f, s, n);
    add_piece(s, take, pieces, count);
    if (take < n) split_to_fit(f, s + take, n - take, level, pieces, count);
    return;
  }
  size_t start = 0, packed_end = 0; /* s[start, packed_end) fits */
  while (packed_end < n) {
    size_t end = packed_end + unit_end(s + packed_end, n - packed_end, level);
    if (fits(f, s + start, end - start)) {
      packed_end = end;
      continue;
    }
    if (packed_end > start) { /* close the pack before this unit */
      add_piece(s + start, packed_end - start, pieces, count);
      start = packed_end;
      continue;
    }
    split_to_fit(f, s + start, end - start, level + 1, pieces, count); /* too big alone */
    start = packed_end = end;
  }
  if (packed_end > start) add_piece(s + start, packed_end - start, pieces, count);
}

/* ---- files ------------------------------------------------------------------ */

static bool ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

/* The first Markdown heading ("# Title", any level), or the file name without
 * its extension. Caller frees. */
static char *document_title(const char *path, const char *text) {
  for (const char *line = text; line && *line;
       line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (line[0] != '#') continue;
    const char *t = line;
    while (*t == '#') t++;
    if (*t != ' ' && *t != '\t') continue;
    const char *end = strchr(t, '\n');
    size_t len = end ? (size_t)(end - t) : strlen(t);
    char *raw = seal_malloc(len + 1);
    memcpy(raw, t, len);
    raw[len] = '\0';
    char *title = seal_py_strip(raw);
    free(raw);
    if (title[0]) return title;
    free(title);
  }
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const char *dot = strrchr(base, '.');
  size_t len = dot && dot != base ? (size_t)(dot - base) : strlen(base);
  char *title = seal_malloc(len + 1);
  memcpy(title, base, len);
  title[len] = '\0';
  return title;
}

/* "\r\n" and lone "\r" become "\n", in place. */
static void normalise_newlines(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    if (*r == '\r') {
      *w++ = '\n';
      if (r[1] == '\n') r++;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

static void add_document(seal_documents *out, const char *path, const char *title, const char *text,
                         const fit_ctx *f) {
  char **parts = NULL;
  int n = 0;
  split_to_fit(f, text, strlen(text), 0, &parts, &n);
  out->docs = seal_realloc(out->docs, (size_t)(out->n + n + 1) * sizeof *out->docs);
  for (int i = 0; i < n; i++)
    out->docs[out->n++] = (seal_document){.source = seal_strdup(path),
                                          .title = seal_strdup(title),
                                          .text = parts[i],
                                          .part = i,
                                          .n_parts = n};
  free(parts);
}

static int load_squad(const char *path, const fit_ctx *f, seal_documents *out, seal_error *e) {
  seal_squad sq;
  if (seal_squad_load(path, &sq, e)) return -1;
  for (int i = 0; i < sq.n_passages; i++) {
    char *text = seal_py_strip(sq.passages[i].context);
    if (text[0]) add_document(out, path, sq.passages[i].title, text, f);
    free(text);
  }
  seal_squad_free(&sq);
  return 0;
}

int seal_documents_load(const char *path, int max_tokens, seal_token_count_fn count, void *user,
                        seal_documents *out, seal_error *e) {
  fit_ctx f = {.budget = max_tokens, .count = count, .user = user};
  if (ends_with(path, ".json")) return load_squad(path, &f, out, e);
  size_t size;
  char *raw = seal_read_file(path, &size, e);
  if (!raw) return -1;
  if (strlen(raw) != size) {
    size_t at = strlen(raw);
    free(raw);
    return seal_errorf(e, "%s: byte %zu: a NUL byte; this is not a text file", path, at);
  }
  long bad = seal_utf8_first_invalid(raw, size);
  if (bad >= 0) {
    free(raw);
    return seal_errorf(e, "%s: byte %ld: not valid UTF-8 (save the file as UTF-8)", path, bad);
  }
  normalise_newlines(raw);
  char *text = seal_py_strip(raw);
  free(raw);
  if (!text[0]) {
    free(text);
    return seal_errorf(e, "%s: the file has no text to learn from", path);
  }
  char *title = document_title(path, text);
  add_document(out, path, title, text, &f);
  free(title);
  free(text);
  return 0;
}

void seal_documents_free(seal_documents *d) {
  for (int i = 0; i < d->n; i++) {
    free(d->docs[i].source);
    free(d->docs[i].title);
    free(d->docs[i].text);
  }
  free(d->docs);
  memset(d, 0, sizeof *d);
}
