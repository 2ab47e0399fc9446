/* kernels/cpu/cpu.h — the CPU reference backend's functions (float32, host
 * memory). Shared between the files of kernels/cpu/ and its tests. */
#ifndef SEAL_KERNELS_CPU_H
#define SEAL_KERNELS_CPU_H

#include "kernels/ops.h"

/* The table of CPU operations, filled in kernels/cpu/backend.c. */
extern const seal_ops seal_cpu_ops;

#endif
