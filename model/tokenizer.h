/* model/tokenizer.h — byte-level BPE tokenizers, as Hugging Face `tokenizers` runs
 * them (tokenizer.json) and as a GGUF file carries them (model "gpt2").
 *
 * The pipeline for encode, in the order `tokenizers` applies it:
 *   1. added tokens (special or not) written literally in the text are split out
 *      first, leftmost-longest, and become their ids;
 *   2. the remaining text is normalized (NFC, for Qwen2);
 *   3. pre-tokenized: regex splits through PCRE2 (UTF, UCP) in sequence, e.g.
 *      Llama-3's Split regex, then ByteLevel (bytes mapped to printable characters,
 *      with the GPT-2 regex when use_regex is true);
 *   4. each pre-token is merged by BPE rank (lowest rank first, leftmost among
 *      equal ranks; a heap, so long runs stay O(n log n)); with ignore_merges a
 *      pre-token that is itself in the vocabulary is emitted whole.
 * Decode inverts the byte mapping exactly.
 *
 * A seal_tokenizer is immutable once loaded: encode/decode may run from several
 * threads at once. Nothing is cached globally.
 *
 * Not supported (refused at load with a message naming the file and field):
 * models other than BPE, byte_fallback, subword prefixes/suffixes, normalizers
 * other than NFC, pre-tokenizers other than Split (Isolated/Removed), ByteLevel
 * (add_prefix_space false) and Digits; added tokens' lstrip/rstrip/single_word
 * flags are ignored (all false in Llama-3, Qwen2 and SmolLM2). */
#ifndef SEAL_MODEL_TOKENIZER_H
#define SEAL_MODEL_TOKENIZER_H

#include <stdbool.h>
#include <stdint.h>

#include "model/vocab.h"
#include "util/util.h"

typedef struct seal_tokenizer seal_tokenizer;

/* Loads tokenizer.json; a tokenizer_config.json beside it (when present) supplies
 * bos/eos tokens and the chat template. NULL and e filled on any error. */
seal_tokenizer *seal_tokenizer_load_json(const char *tokenizer_json_path, seal_error *e);

/* Builds a tokenizer from a GGUF vocabulary (model "gpt2"). The pre-tokenizer is
 * chosen by v->pre: "llama-bpe"/"llama3" (Llama-3 regex, ignore_merges),
 * "smollm" (digits one by one, then GPT-2 regex), "qwen2" (NFC, Qwen2 regex),
 * "gpt2"/"default"/NULL (GPT-2 regex). Token types 3 (control) become special
 * added tokens, 4 (user-defined) non-special added tokens. */
seal_tokenizer *seal_tokenizer_from_vocab(const seal_vocab *v, seal_error *e);

void seal_tokenizer_free(seal_tokenizer *t);

/* Encodes text (UTF-8; invalid sequences are read as U+FFFD); special/added
 * tokens written literally in the text are split out first and become their ids.
 * Returns the count and sets *ids (malloc'd, never NULL on success; free it).
 * No BOS is added (the chat template or caller adds it). Returns -1 with
 * *ids = NULL only if the regex engine fails (logged), which well-formed
 * patterns do not. */
int seal_tokenizer_encode(const seal_tokenizer *t, const char *text, int32_t **ids);

/* Decodes ids to text (malloc'd, NUL-terminated). skip_special drops special
 * tokens (added tokens flagged special); ids outside the vocabulary are skipped.
 * Bytes are returned as they are, so decoding a sequence piece by piece and
 * concatenating gives the same bytes as decoding it whole (a piece may end inside
 * a UTF-8 character). */
char *seal_tokenizer_decode(const seal_tokenizer *t, const int32_t *ids, int n, int skip_special);

/* The raw vocabulary string of id (byte-level form, e.g. "Ġthe"), NULL if none. */
const char *seal_tokenizer_token_str(const seal_tokenizer *t, int id);
/* The id of a raw vocabulary string or added token; -1 if absent. */
int seal_tokenizer_token_id(const seal_tokenizer *t, const char *token);
/* One more than the largest id (vocabulary and added tokens). */
int seal_tokenizer_vocab_size(const seal_tokenizer *t);
/* Whether id is a special token (skipped by decode with skip_special). */
bool seal_tokenizer_is_special(const seal_tokenizer *t, int id);

/* Ids the tokenizer knows of, -1 when unknown. eos is the end of a turn for
 * instruct models (tokenizer_config.json's eos_token: <|eot_id|>, <|im_end|>);
 * eot is GGUF's tokenizer.ggml.eot_token_id when present. */
int seal_tokenizer_bos_id(const seal_tokenizer *t);
int seal_tokenizer_eos_id(const seal_tokenizer *t);
int seal_tokenizer_eot_id(const seal_tokenizer *t);
/* Whether the model expects a BOS token first (GGUF add_bos_token, or a
 * tokenizer.json post-processor that starts with a special token). */
bool seal_tokenizer_add_bos(const seal_tokenizer *t);
/* The Jinja chat template text (tokenizer_config.json or GGUF), NULL if none. */
const char *seal_tokenizer_chat_template(const seal_tokenizer *t);

#endif
