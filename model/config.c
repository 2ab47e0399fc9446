/* model/config.c — a transformer's shape from Hugging Face's config.json, with
 * transformers' defaults, and RoPE inverse frequencies computed exactly as
 * transformers computes them (float32 arithmetic in the same order). */
#include "model/config.h"

#include "model/json_file.h"

#include <math.h>
#include <string.h>

/* ---- config.json ------------------------------------------------------- */

static const char *json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    default:
      return "null";
  }
}

/* A key that is absent or null counts as missing: transformers treats null as
 * "use the default" (e.g. head_dim: null). */
static json_t *get_present(json_t *obj, const char *key) {
  json_t *v = obj ? json_object_get(obj, key) : NULL;
  return v && !json_is_null(v) ? v : NULL;
}

/* Reads an integer key; when absent, required keys are an error and optional
 * ones take `def`. `where` prefixes nested keys ("rope_scaling."). */
static int get_int(const char *path, json_t *obj, const char *where, const char *key, bool required,
                   long long def, long long *out, seal_error *e) {
  json_t *v = get_present(obj, key);
  if (!v) {
    if (required) return seal_errorf(e, "%s: missing key '%s%s'", path, where, key);
    *out = def;
    return 0;
  }
  if (!json_is_integer(v))
    return seal_errorf(e, "%s: key '%s%s' must be an integer, not %s", path, where, key,
                       json_type_name(v));
  *out = json_integer_value(v);
  return 0;
}

static int get_num(const char *path, json_t *obj, const char *where, const char *key, bool required,
                   double def, double *out, seal_error *e) {
  json_t *v = get_present(obj, key);
  if (!v) {
    if (required) return seal_errorf(e, "%s: missing key '%s%s'", path, where, key);
    *out = def;
    return 0;
  }
  if (!json_is_number(v))
    return seal_errorf(e, "%s: key '%s%s' must be a number, not %s", path, where, key,
                       json_type_name(v));
  *out = json_number_value(v);
  return 0;
}

static int get_bool(const char *path, json_t *obj, const char *key, bool def, bool *out,
                    seal_error *e) {
  json_t *v = get_present(obj, key);
  if (!v) {
    *out = def;
    return 0;
  }
  if (!json_is_boolean(v))
    return seal_errorf(e, "%s: key '%s' must be a boolean, not %s", path, key, json_type_name(v));
  *out = json_is_true(v);
  return 0;
}

/* Narrows to int, rejecting values that do not fit. */
static int to_int(const char *path, const char *key, long long v, int *out, seal_error *e) {
  if (v < INT32_MIN || v > INT32_MAX)
    return seal_errorf(e, "%s: key '%s' is out of range (%lld)", path, key, v);
  *out = (int)v;
  return 0;
}

static int parse_arch(const char *path, json_t *root, seal_arch *arch, seal_error *e) {
  json_t *archs = get_present(root, "architectures");
  if (!archs) return seal_errorf(e, "%s: missing key 'architectures'", path);
  if (!json_is_array(archs))
    return seal_errorf(e, "%s: key 'architectures' must be an array of strings, not %s", path,
                       json_type_name(archs));
  size_t i;
  json_t *a;
  json_array_foreach(archs, i, a) {
    if (!json_is_string(a))
      return seal_errorf(e, "%s: key 'architectures[%zu]' must be a string, not %s", path, i,
                         json_type_name(a));
    const char *s = json_string_value(a);
    if (strcmp(s, "LlamaForCausalLM") == 0) {
      *arch = SEAL_ARCH_LLAMA;
      return 0;
    }
    if (strcmp(s, "Qwen2ForCausalLM") == 0) {
      *arch = SEAL_ARCH_QWEN2;
      return 0;
    }
  }
  json_t *first = json_array_get(archs, 0);
  return seal_errorf(e,
                     "%s: key 'architectures': unsupported architecture '%s' (seal reads "
                     "LlamaForCausalLM and Qwen2ForCausalLM)",
                     path, first ? json_string_value(first) : "(empty list)");
}

static int parse_sizes(const char *path, json_t *root, seal_model_config *cfg, seal_error *e) {
  static const char *const keys[] = {"vocab_size", "hidden_size", "intermediate_size",
                                     "num_hidden_layers", "num_attention_heads"};
  int *dst[] = {&cfg->vocab_size, &cfg->hidden, &cfg->intermediate, &cfg->n_layers, &cfg->n_heads};
  for (int i = 0; i < 5; i++) {
    long long v;
    if (get_int(path, root, "", keys[i], true, 0, &v, e) != 0) return -1;
    if (to_int(path, keys[i], v, dst[i], e) != 0) return -1;
  }
  long long kv, hd, maxpos;
  long long maxpos_default = cfg->arch == SEAL_ARCH_QWEN2 ? 32768 : 2048;
  if (get_int(path, root, "", "num_key_value_heads", false, cfg->n_heads, &kv, e) != 0 ||
      to_int(path, "num_key_value_heads", kv, &cfg->n_kv_heads, e) != 0)
    return -1;
  long long hd_default = cfg->n_heads > 0 ? cfg->hidden / cfg->n_heads : 0;
  if (get_int(path, root, "", "head_dim", false, hd_default, &hd, e) != 0 ||
      to_int(path, "head_dim", hd, &cfg->head_dim, e) != 0)
    return -1;
  if (get_int(path, root, "", "max_position_embeddings", false, maxpos_default, &maxpos, e) != 0 ||
      to_int(path, "max_position_embeddings", maxpos, &cfg->max_position, e) != 0)
    return -1;
  double eps;
  if (get_num(path, root, "", "rms_norm_eps", false, 1e-6, &eps, e) != 0) return -1;
  cfg->rms_eps = (float)eps;
  return 0;
}

/* Only what seal computes is accepted: SiLU MLPs, full attention everywhere. */
static int check_unsupported(const char *path, json_t *root, seal_model_config *cfg,
                             seal_error *e) {
  json_t *act = get_present(root, "hidden_act");
  if (act && (!json_is_string(act) || strcmp(json_string_value(act), "silu") != 0))
    return seal_errorf(e, "%s: key 'hidden_act': only \"silu\" is supported", path);
  bool flag = false;
  if (get_bool(path, root, "mlp_bias", false, &flag, e) != 0) return -1;
  if (flag) return seal_errorf(e, "%s: key 'mlp_bias': MLP biases are not supported", path);
  if (get_bool(path, root, "use_sliding_window", false, &flag, e) != 0) return -1;
  if (flag)
    return seal_errorf(e, "%s: key 'use_sliding_window': sliding-window attention is not supported",
                       path);
  if (cfg->arch == SEAL_ARCH_QWEN2) {
    cfg->attn_bias = true; /* Qwen2 always has q/k/v biases (and none on o_proj) */
    return 0;
  }
  if (get_bool(path, root, "attention_bias", false, &flag, e) != 0) return -1;
  if (flag)
    return seal_errorf(e,
                       "%s: key 'attention_bias': a Llama attention bias also sits on o_proj, "
                       "which seal does not support",
                       path);
  cfg->attn_bias = false;
  return 0;
}

static int parse_llama3_rope(const char *path, json_t *rp, const char *where,
                             seal_model_config *cfg, seal_error *e) {
  double factor, low, high;
  long long orig;
  if (get_num(path, rp, where, "factor", true, 0, &factor, e) != 0 ||
      get_num(path, rp, where, "low_freq_factor", true, 0, &low, e) != 0 ||
      get_num(path, rp, where, "high_freq_factor", true, 0, &high, e) != 0 ||
      get_int(path, rp, where, "original_max_position_embeddings", false, cfg->max_position, &orig,
              e) != 0)
    return -1;
  cfg->rope_llama3 = true;
  cfg->rope_factor = (float)factor;
  cfg->rope_low_freq_factor = (float)low;
  cfg->rope_high_freq_factor = (float)high;
  return to_int(path, "original_max_position_embeddings", orig, &cfg->rope_original_max_position,
                e);
}

/* rope_theta and scaling: transformers 5 nests both in `rope_parameters`; older
 * configs have a top-level rope_theta and a `rope_scaling` object. */
static int parse_rope(const char *path, json_t *root, seal_model_config *cfg, seal_error *e) {
  const char *where = "rope_parameters.";
  json_t *rp = get_present(root, "rope_parameters");
  if (!rp) rp = get_present(root, "rope_scaling"), where = "rope_scaling.";
  if (rp && !json_is_object(rp))
    return seal_errorf(e, "%s: key '%.*s' must be an object, not %s", path, (int)strlen(where) - 1,
                       where, json_type_name(rp));
  double theta;
  if (get_num(path, root, "", "rope_theta", false, 10000.0, &theta, e) != 0) return -1;
  if (get_num(path, rp, where, "rope_theta", false, theta, &theta, e) != 0) return -1;
  cfg->rope_theta = (float)theta;
  cfg->rope_llama3 = false;
  if (!rp) return 0;
  double partial;
  if (get_num(path, rp, where, "partial_rotary_factor", false, 1.0, &partial, e) != 0) return -1;
  if (partial != 1.0)
    return seal_errorf(e, "%s: key '%spartial_rotary_factor': only 1.0 is supported", path, where);
  json_t *type = get_present(rp, "rope_type");
  if (!type) type = get_present(rp, "type");
  if (!type) return 0;
  if (!json_is_string(type))
    return seal_errorf(e, "%s: key '%srope_type' must be a string, not %s", path, where,
                       json_type_name(type));
  const char *t = json_string_value(type);
  if (strcmp(t, "default") == 0) return 0;
  if (strcmp(t, "llama3") == 0) return parse_llama3_rope(path, rp, where, cfg, e);
  return seal_errorf(e, "%s: key '%srope_type': '%s' is not supported (default, llama3 are)", path,
                     where, t);
}

/* A token id as an int: an integer in [0, INT32_MAX]; a negative id or one
 * that would be truncated from 64 bits is refused, naming the key. */
static int token_id(const char *path, const char *key, json_t *v, int *out, seal_error *e) {
  if (!json_is_integer(v))
    return seal_errorf(e, "%s: key '%s' must be an integer, not %s", path, key, json_type_name(v));
  json_int_t id = json_integer_value(v);
  if (id < 0 || id > INT32_MAX)
    return seal_errorf(e, "%s: key '%s' = %lld is not a token id", path, key, (long long)id);
  *out = (int)id;
  return 0;
}

static int parse_token_ids(const char *path, json_t *root, seal_model_config *cfg, seal_error *e) {
  bool llama = cfg->arch == SEAL_ARCH_LLAMA;
  /* transformers' defaults: Llama bos 1 / eos 2, Qwen2 none. An explicit null is none. */
  json_t *bos = json_object_get(root, "bos_token_id");
  cfg->bos_id = !bos ? (llama ? 1 : -1) : -1;
  if (bos && !json_is_null(bos) && token_id(path, "bos_token_id", bos, &cfg->bos_id, e) != 0)
    return -1;
  json_t *eos = json_object_get(root, "eos_token_id");
  cfg->n_eos = 0;
  if (!eos) {
    if (llama) cfg->eos_ids[cfg->n_eos++] = 2;
    return 0;
  }
  if (json_is_null(eos)) return 0;
  if (json_is_integer(eos))
    return token_id(path, "eos_token_id", eos, &cfg->eos_ids[cfg->n_eos++], e);
  if (!json_is_array(eos))
    return seal_errorf(e, "%s: key 'eos_token_id' must be an integer or a list, not %s", path,
                       json_type_name(eos));
  if (json_array_size(eos) > SEAL_MAX_EOS)
    return seal_errorf(e, "%s: key 'eos_token_id': more than %d ids", path, SEAL_MAX_EOS);
  size_t i;
  json_t *v;
  json_array_foreach(eos, i, v) {
    char key[48];
    snprintf(key, sizeof key, "eos_token_id[%zu]", i);
    if (token_id(path, key, v, &cfg->eos_ids[cfg->n_eos++], e) != 0) return -1;
  }
  return 0;
}

static int parse_config(const char *path, json_t *root, seal_model_config *cfg, seal_error *e) {
  if (!json_is_object(root)) return seal_errorf(e, "%s: not a JSON object", path);
  if (parse_arch(path, root, &cfg->arch, e) != 0) return -1;
  if (parse_sizes(path, root, cfg, e) != 0) return -1;
  if (check_unsupported(path, root, cfg, e) != 0) return -1;
  if (parse_rope(path, root, cfg, e) != 0) return -1;
  if (get_bool(path, root, "tie_word_embeddings", false, &cfg->tie_embeddings, e) != 0) return -1;
  if (parse_token_ids(path, root, cfg, e) != 0) return -1;
  return seal_config_validate(cfg, path, e);
}

int seal_config_load_hf(const char *config_json_path, seal_model_config *cfg, seal_error *e) {
  memset(cfg, 0, sizeof *cfg);
  json_t *root = seal_json_read_file(config_json_path, JSON_REJECT_DUPLICATES, e);
  if (!root) return -1;
  int rc = parse_config(config_json_path, root, cfg, e);
  json_decref(root);
  return rc;
}

/* ---- checks ------------------------------------------------------------ */

int seal_config_validate(const seal_model_config *cfg, const char *origin, seal_error *e) {
  if (cfg->arch != SEAL_ARCH_LLAMA && cfg->arch != SEAL_ARCH_QWEN2)
    return seal_errorf(e, "%s: unknown architecture %d", origin, (int)cfg->arch);
  const struct {
    const char *name;
    int v;
  } pos[] = {{"vocab_size", cfg->vocab_size},
             {"hidden_size", cfg->hidden},
             {"intermediate_size", cfg->intermediate},
             {"num_hidden_layers", cfg->n_layers},
             {"num_attention_heads", cfg->n_heads},
             {"num_key_value_heads", cfg->n_kv_heads},
             {"head_dim", cfg->head_dim},
             {"max_position_embeddings", cfg->max_position}};
  for (size_t i = 0; i < sizeof pos / sizeof pos[0]; i++)
    if (pos[i].v <= 0)
      return seal_errorf(e, "%s: %s must be positive, is %d", origin, pos[i].name, pos[i].v);
  if (cfg->n_heads % cfg->n_kv_heads != 0)
    return seal_errorf(e, "%s: num_attention_heads %d is not a multiple of num_key_value_heads %d",
                       origin, cfg->n_heads, cfg->n_kv_heads);
  if (cfg->head_dim % 2 != 0)
    return seal_errorf(e, "%s: head_dim %d is odd (RoPE rotates pairs)", origin, cfg->head_dim);
  if (!(cfg->rms_eps > 0) || !isfinite(cfg->rms_eps))
    return seal_errorf(e, "%s: rms_norm_eps must be positive, is %g", origin, cfg->rms_eps);
  if (!(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta))
    return seal_errorf(e, "%s: rope_theta must be positive, is %g", origin, cfg->rope_theta);
  if (cfg->rope_llama3) {
    if (!(cfg->rope_factor > 0) || !(cfg->rope_low_freq_factor > 0) ||
        !(cfg->rope_high_freq_factor > cfg->rope_low_freq_factor) ||
        cfg->rope_original_max_position <= 0)
      return seal_errorf(e,
                         "%s: llama3 rope scaling needs factor > 0, 0 < low_freq_factor < "
                         "high_freq_factor, original_max_position_embeddings > 0 (have %g, %g, "
                         "%g, %d)",
                         origin, cfg->rope_factor, cfg->rope_low_freq_factor,
                         cfg->rope_high_freq_factor, cfg->rope_original_max_position);
  }
  if (cfg->n_eos < 0 || cfg->n_eos > SEAL_MAX_EOS)
    return seal_errorf(e, "%s: %d eos ids (at most %d)", origin, cfg->n_eos, SEAL_MAX_EOS);
  for (int i = 0; i < cfg->n_eos; i++)
    if (cfg->eos_ids[i] < 0 || cfg->eos_ids[i] >= cfg->vocab_size)
      return seal_errorf(e, "%s: eos_token_id %d is outside the vocabulary (%d)", origin,
                         cfg->eos_ids[i], cfg->vocab_size);
  if (cfg->bos_id < -1)
    return seal_errorf(e, "%s: bos_token_id %d is negative", origin, cfg->bos_id);
  if (cfg->bos_id >= cfg->vocab_size)
    return seal_errorf(e, "%s: bos_token_id %d is outside the vocabulary (%d)", origin, cfg->bos_id,
                       cfg->vocab_size);
  return 0;
}

bool seal_config_is_eos(const seal_model_config *cfg, int token) {
  for (int i = 0; i < cfg->n_eos; i++)
    if (cfg->eos_ids[i] == token) return true;
  return false;
}

/* ---- RoPE -------------------------------------------------------------- */

/* transformers' _compute_default_rope_parameters and _compute_llama3_parameters,
 * step by step in float32 as torch evaluates them: `scalar / tensor` is
 * tensor.reciprocal() * scalar, Python-float scalars are rounded to float32
 * before they meet a float32 tensor, and Python-side arithmetic between plain
 * numbers stays double. */
void seal_rope_inv_freq(const seal_model_config *cfg, float *inv_freq) {
  const int dim = cfg->head_dim;
  const float base = cfg->rope_theta;
  for (int i = 0; i < dim / 2; i++) {
    float expo = (float)(2 * i) / (float)dim;
    inv_freq[i] = 1.0f / powf(base, expo);
  }
  if (!cfg->rope_llama3) return;
  const double old_ctx = cfg->rope_original_max_position;
  const double low = cfg->rope_low_freq_factor, high = cfg->rope_high_freq_factor;
  const float factor = cfg->rope_factor;
  const float low_freq_wavelen = (float)(old_ctx / low);
  const float high_freq_wavelen = (float)(old_ctx / high);
  const float two_pi = (float)(2.0 * M_PI);
  for (int i = 0; i < dim / 2; i++) {
    const float inv = inv_freq[i];
    const float wavelen = (1.0f / inv) * two_pi;
    float llama = wavelen > low_freq_wavelen ? inv / factor : inv;
    const float smooth = ((1.0f / wavelen) * (float)old_ctx - (float)low) / (float)(high - low);
    const float smoothed = (1.0f - smooth) * llama / factor + smooth * llama;
    const bool medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
    inv_freq[i] = medium ? smoothed : llama;
  }
}
