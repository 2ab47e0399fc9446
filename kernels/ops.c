/* kernels/ops.c — choosing a backend by name. */
#include <stdlib.h>
#include <string.h>

#include "kernels/ops.h"

seal_backend *seal_backend_create(const char *name, seal_error *e) {
  if (!name || !strcmp(name, "auto")) name = seal_backend_default_name();
  if (!strcmp(name, "cpu")) return seal_cpu_backend_create(e);
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
  seal_errorf(e, "unknown backend '%s' (expected cpu, cuda, cuda:N or auto)", name);
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
