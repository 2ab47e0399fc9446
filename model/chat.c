/* model/chat.c — Llama-3 and ChatML chat templates (see chat.h). */
#include "model/chat.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

/* ---- detection ----------------------------------------------------------------------- */

/* Reads the literal that follows "<|im_start|>system" + newline in a template,
 * up to "<|im_end|>", undoing Jinja string escapes. Returns NULL when the text
 * there is not one plain literal (e.g. "' + messages[0]['content'] + '"). */
static char *literal_until_im_end(const char *p) {
  seal_buf out = {0};
  seal_buf_append(&out, "", 0);
  while (*p && strncmp(p, "<|im_end|>", 10) != 0) {
    char c = *p;
    if (c == '\'' || c == '"') { /* the literal ended: content comes from elsewhere */
      seal_buf_free(&out);
      return NULL;
    }
    if (c == '\\' && p[1]) {
      char esc = p[1];
      c = esc == 'n' ? '\n' : esc == 't' ? '\t' : esc == 'r' ? '\r' : esc;
      p++;
    }
    seal_buf_append(&out, &c, 1);
    p++;
  }
  if (!*p) {
    seal_buf_free(&out);
    return NULL;
  }
  return seal_buf_take(&out);
}

static char *find_default_system(const char *tmpl) {
  static const char marker[] = "<|im_start|>system";
  for (const char *p = strstr(tmpl, marker); p; p = strstr(p + 1, marker)) {
    const char *q = p + strlen(marker);
    if (q[0] == '\\' && q[1] == 'n') {
      q += 2; /* "\n" escaped inside a Jinja literal */
    } else if (q[0] == '\n') {
      q += 1; /* a real newline inside the literal (SmolLM2's template) */
    } else {
      continue;
    }
    char *text = literal_until_im_end(q);
    if (text) return text;
  }
  return NULL;
}

seal_chat_style seal_chat_detect(const char *template_text, seal_chat_format *f) {
  seal_chat_format found = {SEAL_CHAT_NONE, false, NULL};
  if (template_text && strstr(template_text, "<|start_header_id|>")) {
    found.style = SEAL_CHAT_LLAMA3;
    found.date_header = strstr(template_text, "Cutting Knowledge Date") != NULL;
  } else if (template_text && strstr(template_text, "<|im_start|>")) {
    found.style = SEAL_CHAT_CHATML;
    found.default_system = find_default_system(template_text);
  }
  if (f) {
    *f = found;
  } else {
    free(found.default_system);
  }
  return found.style;
}

void seal_chat_format_free(seal_chat_format *f) {
  if (!f) return;
  free(f->default_system);
  f->default_system = NULL;
}

/* ---- Jinja's trim: Python's str.strip() ------------------------------------------------- */

static bool is_python_space(utf8proc_int32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
         c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

/* Appends s without leading and trailing whitespace. */
static void append_trimmed(seal_buf *out, const char *s) {
  const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
  size_t len = strlen(s), start = 0, end = len;
  while (start < len) {
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(p + start, (utf8proc_ssize_t)(len - start), &c);
    if (n <= 0 || !is_python_space(c)) break;
    start += (size_t)n;
  }
  while (end > start) {
    size_t k = end - 1;
    while (k > start && (p[k] & 0xC0) == 0x80) k--; /* back to the character's first byte */
    utf8proc_int32_t c;
    utf8proc_ssize_t n = utf8proc_iterate(p + k, (utf8proc_ssize_t)(end - k), &c);
    if (n <= 0 || (size_t)n != end - k || !is_python_space(c)) break;
    end = k;
  }
  seal_buf_append(out, s + start, end - start);
}

/* ---- rendering ----------------------------------------------------------------------------- */

static bool role_supported(const char *role) {
  return role && (strcmp(role, "system") == 0 || strcmp(role, "user") == 0 ||
                  strcmp(role, "assistant") == 0);
}

static bool is_system(const seal_chat_msg *m) { return strcmp(m->role, "system") == 0; }

/* "%d %b %Y" of today, in the C locale's English month names. */
static void today_string(char out[32]) {
  static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t now = time(NULL);
  struct tm tm;
  localtime_r(&now, &tm);
  snprintf(out, 32, "%02d %s %d", tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900);
}

static void llama3_message(seal_buf *out, const seal_chat_msg *m) {
  seal_buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m->role);
  append_trimmed(out, m->content);
  seal_buf_puts(out, "<|eot_id|>");
}

static void render_llama3(seal_buf *out, const seal_chat_format *f, const seal_chat_msg *msgs,
                          int n, const char *date_string) {
  int first = 0;
  seal_buf_puts(out, "<|begin_of_text|>");
  if (f->date_header) {
    char today[32];
    if (!date_string) {
      today_string(today);
      date_string = today;
    }
    seal_buf_printf(out,
                    "<|start_header_id|>system<|end_header_id|>\n\n"
                    "Cutting Knowledge Date: December 2023\nToday Date: %s\n\n",
                    date_string);
    if (is_system(&msgs[0])) {
      append_trimmed(out, msgs[0].content);
      first = 1;
    }
    seal_buf_puts(out, "<|eot_id|>");
  }
  for (int i = first; i < n; i++) llama3_message(out, &msgs[i]);
}

static void render_chatml(seal_buf *out, const seal_chat_format *f, const seal_chat_msg *msgs,
                          int n) {
  if (f->default_system && !is_system(&msgs[0])) {
    seal_buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", f->default_system);
  }
  for (int i = 0; i < n; i++) {
    seal_buf_printf(out, "<|im_start|>%s\n", msgs[i].role);
    seal_buf_puts(out, msgs[i].content);
    seal_buf_puts(out, "<|im_end|>\n");
  }
}

char *seal_chat_render(const seal_chat_format *f, const seal_chat_msg *msgs, int n,
                       bool add_generation_prompt, const char *date_string, seal_error *e) {
  if (f->style == SEAL_CHAT_NONE) {
    seal_errorf(e, "chat template: not a Llama-3 or ChatML template");
    return NULL;
  }
  if (n < 1) {
    seal_errorf(e, "chat template: the conversation is empty");
    return NULL;
  }
  for (int i = 0; i < n; i++) {
    if (!role_supported(msgs[i].role) || !msgs[i].content) {
      seal_errorf(e, "chat template: message %d has role \"%s\"%s (only system, user, assistant)",
                  i, msgs[i].role ? msgs[i].role : "(null)",
                  msgs[i].content ? "" : " and no content");
      return NULL;
    }
  }
  seal_buf out = {0};
  seal_buf_append(&out, "", 0);
  if (f->style == SEAL_CHAT_LLAMA3) {
    render_llama3(&out, f, msgs, n, date_string);
    if (add_generation_prompt) {
      seal_buf_puts(&out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
    }
  } else {
    render_chatml(&out, f, msgs, n);
    if (add_generation_prompt) seal_buf_puts(&out, "<|im_start|>assistant\n");
  }
  return seal_buf_take(&out);
}
