/* model/peft.c — adapter_config.json: what seal computes, and a clear refusal
 * of every PEFT option that would compute something else. */
#include "model/peft.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/lora.h"

/* Keys that do not change what a trained adapter computes at load time. */
static const char *const harmless_keys[] = {"task_type",
                                            "base_model_name_or_path",
                                            "revision",
                                            "inference_mode",
                                            "auto_mapping",
                                            "lora_dropout",
                                            "layers_pattern",
                                            "megatron_config",
                                            "megatron_core",
                                            "loftq_config",
                                            "eva_config",
                                            "corda_config",
                                            "runtime_config",
                                            "peft_version",
                                            "qalora_group_size",
                                            "arrow_config",
                                            NULL};

static bool is_absent(const json_t *v) { return !v || json_is_null(v); }

/* Empty: absent, null, false, "", [] or {}. */
static bool is_empty(const json_t *v) {
  if (is_absent(v) || json_is_false(v)) return true;
  if (json_is_string(v)) return json_string_length(v) == 0;
  if (json_is_array(v)) return json_array_size(v) == 0;
  if (json_is_object(v)) return json_object_size(v) == 0;
  return false;
}

static int refuse(const char *path, const char *key, const char *why, seal_error *e) {
  return seal_errorf(e, "%s: key '%s': %s; seal computes plain LoRA and cannot load this adapter",
                     path, key, why);
}

/* Options whose only accepted value is "off" (absent, null, false or empty). */
static int check_off(const char *path, json_t *cfg, seal_error *e) {
  static const struct {
    const char *key, *why;
  } off[] = {
      {"use_dora", "DoRA (weight-decomposed LoRA) is not supported"},
      {"fan_in_fan_out", "transposed (Conv1D) base weights are not supported"},
      {"lora_bias", "a bias on lora_B is not supported"},
      {"use_qalora", "QA-LoRA is not supported"},
      {"rank_pattern", "per-module ranks are not supported"},
      {"alpha_pattern", "per-module alphas are not supported"},
      {"modules_to_save", "fully trained extra modules are not supported"},
      {"exclude_modules", "excluded modules are not supported"},
      {"target_parameters", "adapted parameters (not modules) are not supported"},
      {"layers_to_transform", "adapting only some layers is not supported"},
      {"layer_replication", "replicated layers are not supported"},
      {"trainable_token_indices", "trainable token embeddings are not supported"},
      {"alora_invocation_tokens", "activated LoRA is not supported"},
  };
  for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
    if (!is_empty(json_object_get(cfg, off[i].key))) return refuse(path, off[i].key, off[i].why, e);
  return 0;
}

static int check_peft_type(const char *path, json_t *cfg, seal_error *e) {
  json_t *v = json_object_get(cfg, "peft_type");
  if (is_absent(v)) return 0;
  if (!json_is_string(v) || strcmp(json_string_value(v), "LORA") != 0)
    return refuse(path, "peft_type",
                  json_is_string(v) ? "only LORA adapters are supported" : "must be \"LORA\"", e);
  return 0;
}

static int check_bias(const char *path, json_t *cfg, seal_error *e) {
  json_t *v = json_object_get(cfg, "bias");
  if (is_absent(v) || (json_is_string(v) && strcmp(json_string_value(v), "none") == 0)) return 0;
  return refuse(path, "bias", "trained biases (\"all\", \"lora_only\") are not supported", e);
}

/* true, false and "gaussian" only initialise A differently; the others
 * (pissa, olora, corda, loftq, eva, orthogonal...) rewrite the base weights. */
static int check_init(const char *path, json_t *cfg, seal_error *e) {
  json_t *v = json_object_get(cfg, "init_lora_weights");
  if (is_absent(v) || json_is_boolean(v) ||
      (json_is_string(v) && strcmp(json_string_value(v), "gaussian") == 0))
    return 0;
  return refuse(path, "init_lora_weights",
                "this initialisation changes the base weights the adapter was trained on", e);
}

static int read_rank(const char *path, json_t *cfg, seal_peft_config *out, seal_error *e) {
  json_t *r = json_object_get(cfg, "r");
  if (!json_is_integer(r))
    return seal_errorf(e, "%s: key 'r' must be a positive integer (the LoRA rank)", path);
  json_int_t v = json_integer_value(r);
  if (v < 1 || v > INT32_MAX)
    return seal_errorf(e, "%s: key 'r' = %lld is out of range (1 to %d)", path, (long long)v,
                       INT32_MAX);
  out->r = (int)v;
  json_t *a = json_object_get(cfg, "lora_alpha");
  if (!json_is_number(a)) return seal_errorf(e, "%s: key 'lora_alpha' must be a number", path);
  double alpha = json_number_value(a);
  if (!(alpha > 0) || !isfinite((float)alpha))
    return seal_errorf(e, "%s: key 'lora_alpha' = %g must be a finite number above 0", path, alpha);
  out->alpha = (float)alpha;
  json_t *rs = json_object_get(cfg, "use_rslora");
  if (!is_absent(rs) && !json_is_boolean(rs))
    return seal_errorf(e, "%s: key 'use_rslora' must be true or false", path);
  out->rslora = json_is_true(rs);
  return 0;
}

/* A PEFT target name is matched against module names' last component, so only
 * the exact projection names count ("q" or a full path would adapt nothing, or
 * something else, in PEFT). */
static int exact_target(const char *name) {
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if (strcmp(name, seal_lora_target_name((seal_lora_target)t)) == 0) return t;
  return -1;
}

static int read_targets(const char *path, json_t *cfg, seal_peft_config *out, seal_error *e) {
  json_t *jt = json_object_get(cfg, "target_modules");
  out->targets = 0;
  if (json_is_string(jt)) {
    if (strcmp(json_string_value(jt), "all-linear") == 0) {
      out->targets = (1u << SEAL_LORA_N_TARGETS) - 1;
      return 0;
    }
    return seal_errorf(e,
                       "%s: key 'target_modules': \"%s\" (a regular expression for PEFT) is not "
                       "supported; give a list of q_proj, k_proj, v_proj, o_proj, gate_proj, "
                       "up_proj, down_proj, or \"all-linear\"",
                       path, json_string_value(jt));
  }
  if (!json_is_array(jt) || json_array_size(jt) == 0)
    return seal_errorf(e, "%s: key 'target_modules' must be a non-empty list of module names",
                       path);
  size_t i;
  json_t *it;
  json_array_foreach(jt, i, it) {
    int t = json_is_string(it) ? exact_target(json_string_value(it)) : -1;
    if (t < 0)
      return seal_errorf(e,
                         "%s: key 'target_modules[%zu]': unsupported target module %s (seal adapts "
                         "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)",
                         path, i, json_is_string(it) ? json_string_value(it) : "(not a string)");
    out->targets |= 1u << t;
  }
  return 0;
}

static bool is_known_key(const char *key) {
  static const char *const used[] = {"peft_type",
                                     "r",
                                     "lora_alpha",
                                     "use_rslora",
                                     "target_modules",
                                     "bias",
                                     "use_dora",
                                     "fan_in_fan_out",
                                     "lora_bias",
                                     "use_qalora",
                                     "rank_pattern",
                                     "alpha_pattern",
                                     "modules_to_save",
                                     "exclude_modules",
                                     "target_parameters",
                                     "layers_to_transform",
                                     "layer_replication",
                                     "trainable_token_indices",
                                     "alora_invocation_tokens",
                                     "init_lora_weights",
                                     NULL};
  for (int i = 0; used[i]; i++)
    if (strcmp(key, used[i]) == 0) return true;
  for (int i = 0; harmless_keys[i]; i++)
    if (strcmp(key, harmless_keys[i]) == 0) return true;
  return false;
}

static void warn_unknown_keys(const char *path, json_t *cfg) {
  const char *key;
  json_t *v;
  json_object_foreach(cfg, key, v) {
    if (!is_known_key(key) && !is_empty(v))
      seal_warn("%s: key '%s' is unknown to seal and ignored", path, key);
  }
}

int seal_peft_config_parse(const char *text, size_t len, const char *path, seal_peft_config *out,
                           seal_error *e) {
  memset(out, 0, sizeof *out);
  json_error_t je;
  json_t *cfg = json_loadb(text, len, 0, &je);
  if (!cfg) return seal_errorf(e, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
  int rc = 0;
  if (!json_is_object(cfg))
    rc = seal_errorf(e, "%s: not a JSON object", path);
  else if (check_peft_type(path, cfg, e) != 0 || check_off(path, cfg, e) != 0 ||
           check_bias(path, cfg, e) != 0 || check_init(path, cfg, e) != 0 ||
           read_rank(path, cfg, out, e) != 0 || read_targets(path, cfg, out, e) != 0)
    rc = -1;
  if (rc == 0) warn_unknown_keys(path, cfg);
  json_decref(cfg);
  return rc;
}

int seal_peft_config_read(const char *path, seal_peft_config *out, seal_error *e) {
  size_t n;
  char *text = seal_read_file(path, &n, e);
  if (!text) return -1;
  int rc = seal_peft_config_parse(text, n, path, out, e);
  free(text);
  return rc;
}
