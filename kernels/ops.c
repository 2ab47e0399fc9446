/* kernels/ops.c — the ops' names, table checks, and choosing a backend by name. */
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

const char *const seal_op_names[SEAL_OP_COUNT] = {
#define OP_NAME(ret, name, params, args) #name,
    SEAL_OPS(OP_NAME)
#undef OP_NAME
};

int seal_op_find(const char *name) {
  for (int op = 0; op < SEAL_OP_COUNT; op++)
    if (!strcmp(seal_op_names[op], name)) return op;
  return -1;
}

seal_op seal_ops_missing(const seal_ops *ops) {
#define OP_PRESENT(ret, name, params, args) \
  if (!ops->name) return SEAL_OP_##name;
  SEAL_OPS(OP_PRESENT)
#undef OP_PRESENT
  return SEAL_OP_COUNT;
}

seal_backend *seal_backend_create(const char *name, seal_error *e) {
  if (!name || !strcmp(name, "auto")) name = seal_backend_default_name();
  if (!strcmp(name, "cpu")) return seal_cpu_backend_create(SEAL_F32, e);
  if (!strcmp(name, "cpu:bf16")) return seal_cpu_backend_create(SEAL_BF16, e);
  if (!strcmp(name, "cpu:q8")) return seal_cpu_backend_create(SEAL_Q8, e);
  if (!strcmp(name, "cpu:q4")) return seal_cpu_backend_create(SEAL_Q4, e);
  if (!strcmp(name, "cuda") || !strncmp(name, "cuda:", 5)) {
#ifdef SEAL_HAVE_CUDA
    int device = 0;
    if (name[4] == ':') {
      char *end;
      device = (int)strtol(name + 5, &end, 10);
      if (*end || end == name + 5 || device < 0) {
        seal_errorf(e, "bad device '%s' (expected cuda or cuda:N)", name);
        return NULL;
      }
    }
    return seal_cuda_backend_create(device, e);
#else
    seal_errorf(e, "backend 'cuda' is not available: seal was built without CUDA");
    return NULL;
#endif
  }
  seal_errorf(e,
              "unknown backend '%s' (expected cpu, cpu:bf16, cpu:q8, cpu:q4, cuda, cuda:N or auto)",
              name);
  return NULL;
}

const char *seal_backend_default_name(void) {
#ifdef SEAL_HAVE_CUDA
  if (seal_cuda_device_count() > 0) return "cuda";
#endif
  return "cpu";
}

void seal_backend_destroy(seal_backend *be) {
  if (be) be->ops->destroy(be);
}
