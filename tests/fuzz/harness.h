/* tests/fuzz/harness.h — what the fuzz harnesses share. Each harness
 * (tests/fuzz/fuzz_NAME.c) defines LLVMFuzzerTestOneInput and feeds the input
 * to one parser the way a user's file reaches it: most parsers read a path, so
 * the bytes go to a file in a per-process temporary directory first. Built with
 * libFuzzer under clang (`make fuzz`), or with replay_main.c into a plain
 * program that runs each seed and saved crash once (the `fuzz_*` ctests). */
#ifndef SEAL_TESTS_FUZZ_HARNESS_H
#define SEAL_TESTS_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The harness's scratch directory, made on first use and removed at exit. */
const char *fuzz_dir(void);
/* Writes data to fuzz_dir()/name (replacing it); returns the path (static
 * storage per name slot: valid until the next call with the same name). */
const char *fuzz_put(const char *name, const uint8_t *data, size_t size);
/* The input as a NUL-terminated string (owned by the caller). */
char *fuzz_text(const uint8_t *data, size_t size);
/* A file of the source tree (the build passes SEAL_SOURCE_DIR). */
const char *fuzz_source(const char *rel);
/* Copies a source-tree file into fuzz_dir()/name. */
void fuzz_copy(const char *rel, const char *name);
/* Quiet logging: errors are the expected outcome of most inputs. */
void fuzz_quiet(void);

#endif
