/* trainer/checkpoint_h5.h — the HDF5 plumbing behind trainer/checkpoint.c, kept
 * apart so the checkpoint code reads as layout rather than as HDF5 calls. Private
 * to the checkpoint files.
 *
 * Every HDF5 call goes through SEAL_H5(ctx, H5Xxx, (args)): a negative return
 * turns into a seal_error naming the checkpoint file, the object being worked
 * on, the call and HDF5's innermost message (the source file:line goes to the
 * debug log); the first failure wins, later ones are ignored (cleanup after a
 * failure often fails too). */
#ifndef SEAL_TRAINER_CHECKPOINT_H5_H
#define SEAL_TRAINER_CHECKPOINT_H5_H

#include <hdf5.h>
#include <stdbool.h>

#include "model/tensors.h"
#include "trainer/run_state.h"
#include "util/util.h"

typedef struct {
  const char *path; /* the checkpoint file, named in every message */
  seal_error *e;
  bool failed;
  char where[384];        /* the HDF5 object being worked on, e.g. "/policy/round_0" */
  H5E_auto2_t saved_func; /* HDF5's error printer, restored by seal_h5_end */
  void *saved_data;
} seal_h5;

/* Silences HDF5's error printing (restored by seal_h5_end) and sets up ctx. */
void seal_h5_begin(seal_h5 *c, const char *path, seal_error *e);
void seal_h5_end(seal_h5 *c);
void seal_h5_where(seal_h5 *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

hid_t seal_h5_check_at(seal_h5 *c, hid_t rc, const char *call, const char *file, int line);
#define SEAL_H5(c, fn, args) seal_h5_check_at((c), (hid_t)(fn args), #fn, __FILE__, __LINE__)
/* Records a failure of our own (bad layout, bad value); returns -1. */
int seal_h5_fail(seal_h5 *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* File access: strong close (closing the file closes whatever an error path left
 * open in it) and no failure on file systems where locking is disabled. */
hid_t seal_h5_fapl(seal_h5 *c);
/* Group creation that remembers link creation order, so tensors come back in
 * the order they were written. */
hid_t seal_h5_create_group(seal_h5 *c, hid_t parent, const char *name);
hid_t seal_h5_open_group(seal_h5 *c, hid_t parent, const char *parent_name, const char *name);
/* Closes any HDF5 identifier (file, group, dataset, attribute, type, space,
 * property list) when it is valid; for cleanup paths. */
void seal_h5_close(hid_t id);

/* ---- attributes: scalar, on any object ------------------------------------ */

int seal_h5_put_str(seal_h5 *c, hid_t obj, const char *name, const char *v); /* UTF-8, vlen */
int seal_h5_put_int(seal_h5 *c, hid_t obj, const char *name, int v);         /* int32 */
int seal_h5_put_u64(seal_h5 *c, hid_t obj, const char *name, uint64_t v);
int seal_h5_put_f32(seal_h5 *c, hid_t obj, const char *name, float v);
int seal_h5_put_f64(seal_h5 *c, hid_t obj, const char *name, double v);

/* Getters fail (naming the object and attribute) when the attribute is missing
 * or of the wrong class. obj_name is for messages. Strings may be stored as
 * variable- or fixed-length. */
int seal_h5_get_str(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, char **out);
/* Into a fixed buffer; a value that does not fit is an error. */
int seal_h5_get_str_buf(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, char *out,
                        size_t size);
int seal_h5_get_int(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, int *out);
int seal_h5_get_u64(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, uint64_t *out);
int seal_h5_get_f32(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, float *out);
int seal_h5_get_f64(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, double *out);

/* ---- tensors ------------------------------------------------------------ */

/* One float32 dataset of the tensor's shape, named by the tensor. */
int seal_h5_write_tensors(seal_h5 *c, hid_t group, const char *group_name,
                          const seal_tensor_set *set);
/* Every dataset of the group, in creation order. Without data, tensors carry
 * their shape only (data NULL): enough to count parameters. */
int seal_h5_read_tensors(seal_h5 *c, hid_t group, const char *group_name, seal_tensor_set *set,
                         bool with_data);

/* ---- tables: 1-D datasets of compound type -------------------------------- */

typedef enum { SEAL_H5_I32, SEAL_H5_F64, SEAL_H5_VSTR, SEAL_H5_STR64, SEAL_H5_U64X4 } seal_h5_kind;
typedef struct {
  const char *name;
  size_t offset; /* in the C struct */
  seal_h5_kind kind;
} seal_h5_field;
typedef struct {
  const seal_h5_field *fields;
  int n_fields;
  size_t row_size; /* sizeof the C struct */
} seal_h5_table;

extern const seal_h5_table seal_h5_round_table;    /* seal_round_record */
extern const seal_h5_table seal_h5_selfedit_table; /* seal_selfedit_record */
extern const seal_h5_table seal_h5_rng_table;      /* seal_rng_record */

/* Writes n rows (an array of the table's C struct) as dataset `name` of group. */
int seal_h5_write_table(seal_h5 *c, hid_t group, const char *name, const seal_h5_table *t,
                        const void *rows, int n, const char *description);
/* Reads dataset `name` into a fresh array (*rows, *n); every field of t must be
 * in the file's type. Variable-length strings are copied into malloc'd memory. */
int seal_h5_read_table(seal_h5 *c, hid_t group, const char *group_name, const char *name,
                       const seal_h5_table *t, void **rows, int *n);

/* ---- internal to the checkpoint files ------------------------------------- */

typedef struct {
  int version;
  char seal_version[32];
  char written[40];
} seal_checkpoint_info;

/* seal_checkpoint_read with a choice of loading tensor data; info may be NULL. */
int seal_checkpoint_read_ex(const char *path, seal_run_state *s, bool tensor_data,
                            seal_checkpoint_info *info, seal_error *e);

#endif
