/* tests/fuzz/fuzz_checkpoint_h5.c — the checkpoint reader with the checksum
 * resealed after each mutation, so libhdf5 and seal's reading of the HDF5
 * structure see the mutated bytes (see fuzz_checkpoint.c). */
#define FUZZ_RESEAL 1
#include "fuzz_checkpoint.c"
