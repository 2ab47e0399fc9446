/* model/lora.h — LoRA adapters with PEFT's semantics.
 *
 * For a targeted projection y = x W^T, the adapter adds scale * (x A^T) B^T with
 * A [r, in] (kaiming-uniform at init, as PEFT) and B [out, r] (zero at init),
 * scale = alpha / r. All parameters live in one contiguous f32 buffer on the
 * backend (and their gradients in another), so one call clips, steps or
 * all-reduces the whole adapter. */
#ifndef SEAL_MODEL_LORA_H
#define SEAL_MODEL_LORA_H

#include "model/model.h"

/* The projections an adapter may target, in PEFT's module order. A set of
 * targets is a bit mask with SEAL_LORA_BIT(t) set when t is adapted. */
typedef enum {
  SEAL_LORA_Q,
  SEAL_LORA_K,
  SEAL_LORA_V,
  SEAL_LORA_O,
  SEAL_LORA_GATE,
  SEAL_LORA_UP,
  SEAL_LORA_DOWN,
  SEAL_LORA_N_TARGETS
} seal_lora_target;

#define SEAL_LORA_BIT(t) (1u << (t))
#define SEAL_LORA_ALL_TARGETS (SEAL_LORA_BIT(SEAL_LORA_N_TARGETS) - 1u)
/* Room for seal_lora_targets_format of any mask. */
#define SEAL_LORA_TARGETS_TEXT 32

/* PEFT module names: "q_proj", ..., "down_proj". */
const char *seal_lora_target_name(seal_lora_target t);
/* Short names, as job files and the command line write them: "q", ..., "down". */
const char *seal_lora_target_short(seal_lora_target t);
/* Parses a short or a PEFT name ("q", "q_proj", "gate", "gate_proj"...); -1
 * when unknown. */
int seal_lora_target_parse(const char *s);
/* Adds the target `name` (short or PEFT) to *mask. An unknown name or one
 * already in the mask is refused: -1, with the reason in err. */
int seal_lora_targets_add(unsigned *mask, const char *name, char *err, size_t err_size);
/* A comma-separated list of names ("q,v", "q_proj, v_proj") or "all" to a
 * mask of at least one target, none twice: 0, or -1 with the reason in err. */
int seal_lora_targets_parse(const char *list, unsigned *mask, char *err, size_t err_size);
/* The mask's short names joined by ", " ("q, v"), which targets_parse reads
 * back; buf of SEAL_LORA_TARGETS_TEXT chars suffices. Returns buf. */
char *seal_lora_targets_format(unsigned mask, char *buf, size_t size);

/* Where one adapter attaches: one (layer, target), with its projection's
 * shape and the offsets of its A and B in the parameter buffer. */
typedef struct {
  size_t a_off, b_off; /* offsets into params/grads, in floats; SIZE_MAX when untargeted */
  int in, out;         /* the projection's shape */
} seal_lora_site;

typedef struct {
  int r;
  float alpha, scale; /* scale = alpha / r */
  unsigned targets;   /* SEAL_LORA_BIT(t) set when target t is adapted */
  int n_layers;
  seal_lora_site *sites; /* [n_layers * SEAL_LORA_N_TARGETS] */
  int n_adapters;        /* G independent adapters of one layout (batched multi-LoRA) */
  size_t n_per;          /* parameters of one adapter */
  size_t n_params;       /* n_adapters * n_per */
  float *params;         /* f32 [n_adapters, n_per] on the backend */
  float *grads;          /* f32 [n_adapters, n_per] on the backend */
  seal_backend *be;
  int owns; /* 0 for a view (seal_lora_view): nothing to free */
} seal_lora;

/* Lays out an adapter for the model's shapes; parameters zero, gradients zero. */
void seal_lora_create(seal_lora *lora, const seal_model *m, int r, float alpha, unsigned targets);
/* G adapters of the same shape in one buffer, trained together over one frozen
 * base (each training sequence says which adapter it feeds: the inner loops of
 * several self-edits share every base GEMM). */
void seal_lora_create_multi(seal_lora *lora, const seal_model *m, int G, int r, float alpha,
                            unsigned targets);
/* Adapter g of a multi-adapter as a single adapter sharing its memory: init,
 * answering, saving and merging work on views. Nothing to free. */
seal_lora seal_lora_view(const seal_lora *multi, int g);
void seal_lora_free(seal_lora *lora);
/* PEFT's initialisation: A kaiming-uniform (a = sqrt(5): bound 1/sqrt(in)), B zero. */
void seal_lora_init(seal_lora *lora, seal_rng *rng);
void seal_lora_zero_grads(seal_lora *lora);

static inline bool seal_lora_has(const seal_lora *lora, int layer, seal_lora_target t) {
  return lora && (lora->targets & SEAL_LORA_BIT(t)) && layer < lora->n_layers;
}
static inline const seal_lora_site *seal_lora_site_of(const seal_lora *lora, int layer,
                                                      seal_lora_target t) {
  return &lora->sites[layer * SEAL_LORA_N_TARGETS + t];
}
/* Parameters and gradients of adapter g (0 for a single adapter). */
static inline float *seal_lora_A_of(const seal_lora *lora, int g, int layer, seal_lora_target t) {
  return lora->params + (size_t)g * lora->n_per + seal_lora_site_of(lora, layer, t)->a_off;
}
static inline float *seal_lora_B_of(const seal_lora *lora, int g, int layer, seal_lora_target t) {
  return lora->params + (size_t)g * lora->n_per + seal_lora_site_of(lora, layer, t)->b_off;
}
static inline float *seal_lora_dA_of(const seal_lora *lora, int g, int layer, seal_lora_target t) {
  return lora->grads + (size_t)g * lora->n_per + seal_lora_site_of(lora, layer, t)->a_off;
}
static inline float *seal_lora_dB_of(const seal_lora *lora, int g, int layer, seal_lora_target t) {
  return lora->grads + (size_t)g * lora->n_per + seal_lora_site_of(lora, layer, t)->b_off;
}
static inline float *seal_lora_A(const seal_lora *lora, int layer, seal_lora_target t) {
  return lora->params + seal_lora_site_of(lora, layer, t)->a_off;
}
static inline float *seal_lora_B(const seal_lora *lora, int layer, seal_lora_target t) {
  return lora->params + seal_lora_site_of(lora, layer, t)->b_off;
}
static inline float *seal_lora_dA(const seal_lora *lora, int layer, seal_lora_target t) {
  return lora->grads + seal_lora_site_of(lora, layer, t)->a_off;
}
static inline float *seal_lora_dB(const seal_lora *lora, int layer, seal_lora_target t) {
  return lora->grads + seal_lora_site_of(lora, layer, t)->b_off;
}

/* The frozen base weight a target adapts in a layer, with its shape. */
void *seal_lora_base_weight(const seal_model *m, int layer, seal_lora_target t, int *out, int *in);

/* W += scale * B A for every adapted projection: the adapter becomes part of
 * the base (used after each ReST-EM round). */
void seal_lora_merge(seal_lora *lora, seal_model *m);

/* The adapter as named host tensors with PEFT's names
 * ("base_model.model.model.layers.{i}.self_attn.q_proj.lora_A.weight"). */
void seal_lora_to_tensors(const seal_lora *lora, seal_tensor_set *out);
/* Loads values from PEFT-named host tensors; every site must be present. */
int seal_lora_from_tensors(seal_lora *lora, const seal_tensor_set *s, seal_error *e);

/* PEFT's tensor name of a site's A or B ('A', 'B'):
 * "base_model.model.model.layers.{layer}.{self_attn|mlp}.{q_proj...}.lora_{A|B}.weight",
 * malloc'd. */
char *seal_lora_peft_name(int layer, seal_lora_target t, char which);
/* Splits such a name; -1 when it is not one. */
int seal_lora_peft_name_parse(const char *name, int *layer, seal_lora_target *t, char *which);
/* Rank and targets of an adapter held as PEFT-named host tensors: every tensor
 * must be a PEFT LoRA matrix, all of one rank, at least one. */
int seal_lora_tensors_shape(const seal_tensor_set *s, int *rank, unsigned *targets, seal_error *e);

/* PEFT format: dir/adapter_model.safetensors + dir/adapter_config.json. */
int seal_lora_save_peft(const seal_lora *lora, const char *dir, const char *base_model_path,
                        seal_error *e);
/* Reads a PEFT adapter directory for the model (r, alpha, targets from its
 * adapter_config.json). */
int seal_lora_load_peft(seal_lora *lora, const seal_model *m, const char *dir, seal_error *e);

#endif
