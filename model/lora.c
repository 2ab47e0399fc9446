/* model/lora.c — LoRA adapters: layout, PEFT initialisation, merging, and the
 * PEFT on-disk format. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/loader.h"
#include "model/lora.h"
#include "model/peft.h"

/* Everything about a target, in seal_lora_target order. */
static const struct {
  const char *short_name;   /* jobs and the command line: "q" */
  const char *peft_name;    /* PEFT's module: "q_proj" */
  const char *block;        /* where PEFT finds the module: "self_attn" or "mlp" */
  seal_layer_weight weight; /* the frozen base weight it adapts */
} target_info[SEAL_LORA_N_TARGETS] = {
    {"q", "q_proj", "self_attn", SEAL_W_wq},    {"k", "k_proj", "self_attn", SEAL_W_wk},
    {"v", "v_proj", "self_attn", SEAL_W_wv},    {"o", "o_proj", "self_attn", SEAL_W_wo},
    {"gate", "gate_proj", "mlp", SEAL_W_wgate}, {"up", "up_proj", "mlp", SEAL_W_wup},
    {"down", "down_proj", "mlp", SEAL_W_wdown},
};

const char *seal_lora_target_name(seal_lora_target t) { return target_info[t].peft_name; }
const char *seal_lora_target_short(seal_lora_target t) { return target_info[t].short_name; }

int seal_lora_target_parse(const char *s) {
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if (!strcmp(s, target_info[t].short_name) || !strcmp(s, target_info[t].peft_name)) return t;
  return -1;
}

char *seal_lora_targets_format(unsigned mask, char *buf, size_t size) {
  size_t at = 0;
  buf[0] = '\0';
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if ((mask & SEAL_LORA_BIT(t)) && at < size)
      at +=
          (size_t)snprintf(buf + at, size - at, "%s%s", at ? ", " : "", target_info[t].short_name);
  return buf;
}

int seal_lora_targets_add(unsigned *mask, const char *name, char *err, size_t err_size) {
  int t = seal_lora_target_parse(name);
  if (t < 0) {
    char known[SEAL_LORA_TARGETS_TEXT];
    seal_lora_targets_format(SEAL_LORA_ALL_TARGETS, known, sizeof known);
    snprintf(err, err_size, "unknown LoRA target \"%s\" (one of: %s)", name, known);
    return -1;
  }
  if (*mask & SEAL_LORA_BIT(t)) {
    snprintf(err, err_size, "target \"%s\" is listed twice", name);
    return -1;
  }
  *mask |= SEAL_LORA_BIT(t);
  return 0;
}

/* Cuts the blanks around s in place. */
static char *trim(char *s) {
  s += strspn(s, " \t");
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t')) s[--n] = '\0';
  return s;
}

int seal_lora_targets_parse(const char *list, unsigned *mask, char *err, size_t err_size) {
  *mask = 0;
  if (!strcmp(list, "all")) return *mask = SEAL_LORA_ALL_TARGETS, 0;
  if (!list[strspn(list, " \t")]) return snprintf(err, err_size, "needs at least one target"), -1;
  int rc = 0;
  char *copy = seal_strdup(list);
  for (char *name = copy, *next; name && !rc; name = next) {
    next = strchr(name, ',');
    if (next) *next++ = '\0';
    rc = seal_lora_targets_add(mask, trim(name), err, err_size);
  }
  free(copy);
  return rc;
}

void *seal_lora_base_weight(const seal_model *m, int layer, seal_lora_target t, int *out, int *in) {
  SEAL_CHECK((unsigned)t < SEAL_LORA_N_TARGETS, "bad LoRA target %d", (int)t);
  const char *name;
  int64_t rows, cols;
  seal_layer_weight i = target_info[t].weight;
  seal_layer_weight_spec(&m->cfg, i, &name, &rows, &cols);
  *out = (int)rows, *in = (int)cols;
  return *seal_layer_weight_ref(&m->layers[layer], i);
}

void seal_lora_create(seal_lora *lora, const seal_model *m, int r, float alpha, unsigned targets) {
  seal_lora_create_multi(lora, m, 1, r, alpha, targets);
}

seal_lora seal_lora_view(const seal_lora *multi, int g) {
  SEAL_CHECK(g >= 0 && g < multi->n_adapters, "adapter %d of %d", g, multi->n_adapters);
  seal_lora v = *multi;
  v.params = multi->params + (size_t)g * multi->n_per;
  v.grads = multi->grads + (size_t)g * multi->n_per;
  v.n_adapters = 1;
  v.n_params = multi->n_per;
  v.owns = 0;
  return v;
}

void seal_lora_create_multi(seal_lora *lora, const seal_model *m, int G, int r, float alpha,
                            unsigned targets) {
  memset(lora, 0, sizeof *lora);
  SEAL_CHECK(r > 0, "LoRA rank must be positive, got %d", r);
  SEAL_CHECK(G > 0, "a multi-adapter needs at least one adapter, got %d", G);
  lora->r = r;
  lora->alpha = alpha;
  lora->scale = alpha / (float)r;
  lora->targets = targets;
  lora->n_layers = m->cfg.n_layers;
  lora->be = m->be;
  lora->sites = seal_calloc((size_t)lora->n_layers * SEAL_LORA_N_TARGETS, sizeof *lora->sites);
  size_t off = 0;
  for (int layer = 0; layer < lora->n_layers; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      seal_lora_site *s = &lora->sites[layer * SEAL_LORA_N_TARGETS + t];
      s->a_off = s->b_off = SIZE_MAX;
      seal_lora_base_weight(m, layer, (seal_lora_target)t, &s->out, &s->in);
      if (!(targets & SEAL_LORA_BIT(t))) continue;
      s->a_off = off;
      off += (size_t)r * (size_t)s->in; /* A [r, in] */
      s->b_off = off;
      off += (size_t)s->out * (size_t)r; /* B [out, r] */
    }
  lora->n_adapters = G;
  lora->n_per = off;
  lora->n_params = off * (size_t)G;
  lora->owns = 1;
  lora->params =
      lora->be->ops->alloc(lora->be, (lora->n_params ? lora->n_params : 1) * sizeof(float));
  lora->grads =
      lora->be->ops->alloc(lora->be, (lora->n_params ? lora->n_params : 1) * sizeof(float));
  lora->be->ops->fill(lora->be, lora->params, SEAL_F32, 0.0f, lora->n_params);
  lora->be->ops->fill(lora->be, lora->grads, SEAL_F32, 0.0f, lora->n_params);
}

void seal_lora_free(seal_lora *lora) {
  if (!lora->be || !lora->owns) return;
  lora->be->ops->free(lora->be, lora->params);
  lora->be->ops->free(lora->be, lora->grads);
  free(lora->sites);
  memset(lora, 0, sizeof *lora);
}

/* Operations on one adapter's named tensors take a single adapter (or a view). */
static void require_single(const seal_lora *lora, const char *what) {
  SEAL_CHECK(lora->n_adapters == 1, "%s needs a single adapter (take a view of adapter g), got %d",
             what, lora->n_adapters);
}

void seal_lora_init(seal_lora *lora, seal_rng *rng) {
  require_single(lora, "seal_lora_init");
  float *host = seal_calloc(lora->n_params ? lora->n_params : 1, sizeof(float));
  for (int layer = 0; layer < lora->n_layers; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      const seal_lora_site *s = &lora->sites[layer * SEAL_LORA_N_TARGETS + t];
      if (s->a_off == SIZE_MAX) continue;
      /* kaiming_uniform_(a=sqrt(5)) on A [r, in]: bound = 1/sqrt(fan_in) */
      double bound = 1.0 / sqrt((double)s->in);
      for (size_t i = 0; i < (size_t)lora->r * (size_t)s->in; i++)
        host[s->a_off + i] = (float)((2.0 * seal_rng_uniform(rng) - 1.0) * bound);
    }
  lora->be->ops->to_device(lora->be, lora->params, SEAL_F32, host, lora->n_params);
  free(host);
}

void seal_lora_zero_grads(seal_lora *lora) {
  lora->be->ops->fill(lora->be, lora->grads, SEAL_F32, 0.0f, lora->n_params);
}

void seal_lora_merge(seal_lora *lora, seal_model *m) {
  require_single(lora, "seal_lora_merge");
  for (int layer = 0; layer < lora->n_layers; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      if (!seal_lora_has(lora, layer, (seal_lora_target)t)) continue;
      int out, in;
      void *W = seal_lora_base_weight(m, layer, (seal_lora_target)t, &out, &in);
      m->be->ops->lora_merge(m->be, W, seal_lora_A(lora, layer, t), seal_lora_B(lora, layer, t),
                             out, in, lora->r, lora->scale);
    }
}

char *seal_lora_peft_name(int layer, seal_lora_target t, char which) {
  return seal_asprintf("base_model.model.model.layers.%d.%s.%s.lora_%c.weight", layer,
                       target_info[t].block, target_info[t].peft_name, which);
}

int seal_lora_peft_name_parse(const char *name, int *layer, seal_lora_target *t, char *which) {
  static const char prefix[] = "base_model.model.model.layers.";
  if (strncmp(name, prefix, sizeof prefix - 1)) return -1;
  const char *p = name + sizeof prefix - 1;
  char *end;
  long n = strtol(p, &end, 10);
  if (end == p || *end != '.' || n < 0 || n > 1000000) return -1;
  char block[16], proj[16];
  int used = 0;
  if (sscanf(end, ".%15[^.].%15[^.].lora_%c.weight%n", block, proj, which, &used) != 3 ||
      end[used] != '\0' || (*which != 'A' && *which != 'B'))
    return -1;
  for (int k = 0; k < SEAL_LORA_N_TARGETS; k++)
    if (!strcmp(proj, target_info[k].peft_name) && !strcmp(block, target_info[k].block)) {
      *layer = (int)n;
      *t = (seal_lora_target)k;
      return 0;
    }
  return -1;
}

int seal_lora_tensors_shape(const seal_tensor_set *s, int *rank, unsigned *mask, seal_error *e) {
  *rank = 0;
  *mask = 0;
  for (int i = 0; i < s->n; i++) {
    const seal_host_tensor *x = &s->items[i];
    int layer;
    seal_lora_target t;
    char which;
    if (seal_lora_peft_name_parse(x->name, &layer, &t, &which))
      return seal_errorf(e, "'%s' is not a PEFT LoRA tensor name", x->name);
    if (x->ndim != 2 || x->shape[0] <= 0 || x->shape[1] <= 0)
      return seal_errorf(e, "tensor '%s' is not a non-empty matrix", x->name);
    int r = (int)(which == 'A' ? x->shape[0] : x->shape[1]); /* A [r, in], B [out, r] */
    if (*rank && r != *rank)
      return seal_errorf(e, "tensor '%s' has rank %d, the adapter's others %d", x->name, r, *rank);
    *rank = r;
    *mask |= SEAL_LORA_BIT(t);
  }
  if (!*mask) return seal_errorf(e, "the adapter has no LoRA tensors");
  return 0;
}

void seal_lora_to_tensors(const seal_lora *lora, seal_tensor_set *out) {
  require_single(lora, "seal_lora_to_tensors");
  float *host = seal_malloc((lora->n_params ? lora->n_params : 1) * sizeof(float));
  lora->be->ops->to_host(lora->be, host, lora->params, SEAL_F32, lora->n_params);
  for (int layer = 0; layer < lora->n_layers; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      const seal_lora_site *s = &lora->sites[layer * SEAL_LORA_N_TARGETS + t];
      if (s->a_off == SIZE_MAX) continue;
      int64_t shape_a[2] = {lora->r, s->in}, shape_b[2] = {s->out, lora->r};
      size_t na = (size_t)lora->r * (size_t)s->in, nb = (size_t)s->out * (size_t)lora->r;
      float *a = seal_malloc(na * sizeof(float)), *b = seal_malloc(nb * sizeof(float));
      memcpy(a, host + s->a_off, na * sizeof(float));
      memcpy(b, host + s->b_off, nb * sizeof(float));
      char *name_a = seal_lora_peft_name(layer, (seal_lora_target)t, 'A');
      char *name_b = seal_lora_peft_name(layer, (seal_lora_target)t, 'B');
      seal_tensors_add(out, name_a, 2, shape_a, a);
      seal_tensors_add(out, name_b, 2, shape_b, b);
      free(name_a);
      free(name_b);
    }
  free(host);
}

/* Copies one named [rows, cols] tensor into host[off..]. */
static int take_tensor(const seal_tensor_set *s, const char *name, int64_t rows, int64_t cols,
                       float *dst, seal_error *e) {
  const seal_host_tensor *t = seal_tensors_find(s, name);
  if (!t) return seal_errorf(e, "adapter has no tensor '%s'", name);
  if (t->ndim != 2 || t->shape[0] != rows || t->shape[1] != cols)
    return seal_errorf(e, "adapter tensor '%s' has the wrong shape (expected [%lld, %lld])", name,
                       (long long)rows, (long long)cols);
  memcpy(dst, t->data, (size_t)(rows * cols) * sizeof(float));
  return 0;
}

int seal_lora_from_tensors(seal_lora *lora, const seal_tensor_set *s, seal_error *e) {
  require_single(lora, "seal_lora_from_tensors");
  float *host = seal_calloc(lora->n_params ? lora->n_params : 1, sizeof(float));
  int rc = 0;
  for (int layer = 0; layer < lora->n_layers && !rc; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS && !rc; t++) {
      const seal_lora_site *site = seal_lora_site_of(lora, layer, (seal_lora_target)t);
      if (site->a_off == SIZE_MAX) continue;
      char *na = seal_lora_peft_name(layer, (seal_lora_target)t, 'A');
      char *nb = seal_lora_peft_name(layer, (seal_lora_target)t, 'B');
      rc = take_tensor(s, na, lora->r, site->in, host + site->a_off, e);
      if (!rc) rc = take_tensor(s, nb, site->out, lora->r, host + site->b_off, e);
      free(na);
      free(nb);
    }
  if (!rc) lora->be->ops->to_device(lora->be, lora->params, SEAL_F32, host, lora->n_params);
  free(host);
  return rc;
}

int seal_lora_save_peft(const seal_lora *lora, const char *dir, const char *base_model_path,
                        seal_error *e) {
  if (seal_mkdirs(dir, e)) return -1;
  seal_tensor_set ts = {0};
  seal_lora_to_tensors(lora, &ts);
  char *st_path = seal_path_join(dir, "adapter_model.safetensors");
  const char *meta[] = {"format", "pt", NULL};
  int rc = seal_safetensors_write(st_path, &ts, meta, e);
  free(st_path);
  seal_tensors_free(&ts);
  if (rc) return -1;

  json_t *doc = json_object();
  json_t *targets = json_array();
  for (int t = 0; t < SEAL_LORA_N_TARGETS; t++)
    if (lora->targets & SEAL_LORA_BIT(t))
      json_array_append_new(targets, json_string(target_info[t].peft_name));
  json_object_set_new(doc, "peft_type", json_string("LORA"));
  json_object_set_new(doc, "task_type", json_string("CAUSAL_LM"));
  json_object_set_new(doc, "base_model_name_or_path",
                      base_model_path ? json_string(base_model_path) : json_null());
  json_object_set_new(doc, "r", json_integer(lora->r));
  json_object_set_new(doc, "lora_alpha", json_real(lora->alpha));
  json_object_set_new(doc, "lora_dropout", json_real(0.0));
  json_object_set_new(doc, "bias", json_string("none"));
  json_object_set_new(doc, "fan_in_fan_out", json_false());
  json_object_set_new(doc, "use_rslora", json_false());
  json_object_set_new(doc, "inference_mode", json_true());
  json_object_set_new(doc, "target_modules", targets);
  char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
  json_decref(doc);
  char *cfg_path = seal_path_join(dir, "adapter_config.json");
  rc = seal_write_file_atomic(cfg_path, text, strlen(text), false, e);
  free(cfg_path);
  free(text);
  return rc;
}

static bool is_adapter_tensor(const seal_model *m, const seal_peft_config *pc, const char *name) {
  bool found = false;
  for (int layer = 0; layer < m->cfg.n_layers && !found; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS && !found; t++)
      for (int k = 0; k < 2 && !found && (pc->targets >> t & 1u); k++) {
        char *want = seal_lora_peft_name(layer, (seal_lora_target)t, k ? 'B' : 'A');
        found = strcmp(want, name) == 0;
        free(want);
      }
  return found;
}

/* The adapter file's tensors against what the config and the model imply,
 * before anything is allocated for them (a claimed r of 300000 would otherwise
 * allocate gigabytes first): every lora_A [r, in] and lora_B [out, r] present
 * with its shape, and nothing else (a DoRA magnitude or a bias the config did
 * not declare would be silently dropped). */
static int check_adapter_tensors(const seal_model *m, const seal_peft_config *pc,
                                 const seal_tensor_set *ts, const char *path, seal_error *e) {
  int expected = 0;
  for (int layer = 0; layer < m->cfg.n_layers; layer++)
    for (int t = 0; t < SEAL_LORA_N_TARGETS; t++) {
      if (!(pc->targets >> t & 1u)) continue;
      int out, in;
      seal_lora_base_weight(m, layer, (seal_lora_target)t, &out, &in);
      const int64_t want[2][2] = {{pc->r, in}, {out, pc->r}};
      for (int k = 0; k < 2; k++) {
        char *name = seal_lora_peft_name(layer, (seal_lora_target)t, k ? 'B' : 'A');
        const seal_host_tensor *h = seal_tensors_find(ts, name);
        int rc = 0;
        if (!h)
          rc = seal_errorf(e, "%s: no tensor '%s'", path, name);
        else if (h->ndim != 2 || h->shape[0] != want[k][0] || h->shape[1] != want[k][1])
          rc = seal_errorf(e, "%s: tensor '%s' has the wrong shape (r = %d implies [%lld, %lld])",
                           path, name, pc->r, (long long)want[k][0], (long long)want[k][1]);
        free(name);
        if (rc) return rc;
        expected++;
      }
    }
  for (int i = 0; i < ts->n && ts->n > expected; i++)
    if (!is_adapter_tensor(m, pc, ts->items[i].name))
      return seal_errorf(e,
                         "%s: unexpected tensor '%s' (a plain LoRA adapter holds only lora_A and "
                         "lora_B of its target modules)",
                         path, ts->items[i].name);
  return 0;
}

int seal_lora_load_peft(seal_lora *lora, const seal_model *m, const char *dir, seal_error *e) {
  char *cfg_path = seal_path_join(dir, "adapter_config.json");
  seal_peft_config pc;
  int rc = seal_peft_config_read(cfg_path, &pc, e);
  free(cfg_path);
  if (rc) return -1;
  seal_tensor_set ts = {0};
  char *st_path = seal_path_join(dir, "adapter_model.safetensors");
  rc = seal_safetensors_read(st_path, &ts, e);
  if (!rc) rc = check_adapter_tensors(m, &pc, &ts, st_path, e);
  if (!rc && seal_weights_check_enabled()) rc = seal_tensors_check_finite(&ts, st_path, e);
  free(st_path);
  if (rc) {
    seal_tensors_free(&ts);
    return -1;
  }
  seal_lora_create(lora, m, pc.r, pc.alpha, pc.targets);
  if (pc.rslora) lora->scale = pc.alpha / sqrtf((float)pc.r);
  rc = seal_lora_from_tensors(lora, &ts, e);
  seal_tensors_free(&ts);
  if (rc) seal_lora_free(lora);
  return rc;
}
