/* trainer/checkpoint_h5.c — checked HDF5 calls, scalar attributes, tensor
 * datasets and compound tables for the checkpoint (see checkpoint_h5.h). */
#include "trainer/checkpoint_h5.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- context and errors ---------------------------------------------------- */

void seal_h5_begin(seal_h5 *c, const char *path, seal_error *e) {
  memset(c, 0, sizeof *c);
  c->path = path;
  c->e = e;
  snprintf(c->where, sizeof c->where, "/");
  /* HDF5 prints its whole error stack to stderr by default; we report one line. */
  H5Eget_auto2(H5E_DEFAULT, &c->saved_func, &c->saved_data);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void seal_h5_end(seal_h5 *c) {
  H5Eclear2(H5E_DEFAULT);
  H5Eset_auto2(H5E_DEFAULT, c->saved_func, c->saved_data);
}

void seal_h5_where(seal_h5 *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->where, sizeof c->where, fmt, ap);
  va_end(ap);
}

/* The innermost entry of HDF5's error stack: where the problem was detected, and
 * the most specific description ("truncated file: eof = ..."). */
static herr_t innermost(unsigned n, const H5E_error2_t *err, void *data) {
  char *out = data;
  if (n == 0 && err->desc) snprintf(out, 256, "%s", err->desc);
  return 0;
}

static void hdf5_message(char out[256]) {
  out[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost, out);
  H5Eclear2(H5E_DEFAULT);
  if (!out[0]) snprintf(out, 256, "no details from HDF5");
}

/* The message names the file, what was being done and HDF5's words; the C
 * source line is for the debug log (SEAL_LOG=debug), not for the user. */
hid_t seal_h5_check_at(seal_h5 *c, hid_t rc, const char *call, const char *file, int line) {
  if (rc >= 0) return rc;
  char msg[256];
  hdf5_message(msg);
  seal_debug("%s: %s failed at %s:%d", c->path, call, file, line);
  if (!c->failed) seal_errorf(c->e, "%s: %s: %s failed: %s", c->path, c->where, call, msg);
  c->failed = true;
  return rc;
}

int seal_h5_fail(seal_h5 *c, const char *fmt, ...) {
  if (!c->failed && c->e) {
    char msg[800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    seal_errorf(c->e, "%s: %s", c->path, msg);
  }
  c->failed = true;
  return -1;
}

void seal_h5_close(hid_t id) {
  if (id < 0 || H5Iis_valid(id) <= 0) return;
  switch (H5Iget_type(id)) {
    case H5I_FILE:
      H5Fclose(id);
      break;
    case H5I_GROUP:
      H5Gclose(id);
      break;
    case H5I_DATASET:
      H5Dclose(id);
      break;
    case H5I_ATTR:
      H5Aclose(id);
      break;
    case H5I_DATATYPE:
      H5Tclose(id);
      break;
    case H5I_DATASPACE:
      H5Sclose(id);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id);
      break;
    default:
      break;
  }
}

/* ---- files and groups ------------------------------------------------------ */

hid_t seal_h5_fapl(seal_h5 *c) {
  hid_t fapl = SEAL_H5(c, H5Pcreate, (H5P_FILE_ACCESS));
  if (fapl < 0) return -1;
  if (SEAL_H5(c, H5Pset_fclose_degree, (fapl, H5F_CLOSE_STRONG)) < 0) goto fail;
#if H5_VERSION_GE(1, 12, 1) || (H5_VERSION_GE(1, 10, 7) && !H5_VERSION_GE(1, 11, 0))
  /* Lustre and NFS mounts often have locking disabled; HDF5 would refuse to open. */
  if (SEAL_H5(c, H5Pset_file_locking, (fapl, 1, 1)) < 0) goto fail;
#endif
  return fapl;
fail:
  H5Pclose(fapl);
  return -1;
}

hid_t seal_h5_create_group(seal_h5 *c, hid_t parent, const char *name) {
  hid_t gcpl = SEAL_H5(c, H5Pcreate, (H5P_GROUP_CREATE));
  if (gcpl < 0) return -1;
  hid_t g = -1;
  if (SEAL_H5(c, H5Pset_link_creation_order,
              (gcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED)) >= 0)
    g = SEAL_H5(c, H5Gcreate2, (parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT));
  H5Pclose(gcpl);
  return g;
}

hid_t seal_h5_open_group(seal_h5 *c, hid_t parent, const char *parent_name, const char *name) {
  const char *sep = strcmp(parent_name, "/") ? "/" : "";
  htri_t exists = SEAL_H5(c, H5Lexists, (parent, name, H5P_DEFAULT));
  if (exists < 0) return -1;
  if (!exists) {
    seal_h5_fail(c, "not a complete seal checkpoint: group %s%s%s is missing", parent_name, sep,
                 name);
    return -1;
  }
  H5O_info_t info;
#if H5_VERSION_GE(1, 12, 0)
  if (SEAL_H5(c, H5Oget_info_by_name3, (parent, name, &info, H5O_INFO_BASIC, H5P_DEFAULT)) < 0)
    return -1;
#else
  if (SEAL_H5(c, H5Oget_info_by_name2, (parent, name, &info, H5O_INFO_BASIC, H5P_DEFAULT)) < 0)
    return -1;
#endif
  if (info.type != H5O_TYPE_GROUP) {
    seal_h5_fail(c, "%s%s%s should be a group", parent_name, sep, name);
    return -1;
  }
  return SEAL_H5(c, H5Gopen2, (parent, name, H5P_DEFAULT));
}

/* ---- attributes ------------------------------------------------------------ */

static int put_attr(seal_h5 *c, hid_t obj, const char *name, hid_t file_type, hid_t mem_type,
                    const void *value) {
  hid_t space = SEAL_H5(c, H5Screate, (H5S_SCALAR));
  if (space < 0) return -1;
  int rc = -1;
  hid_t a = SEAL_H5(c, H5Acreate2, (obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT));
  if (a >= 0) {
    if (SEAL_H5(c, H5Awrite, (a, mem_type, value)) >= 0) rc = 0;
    H5Aclose(a);
  }
  H5Sclose(space);
  return rc;
}

static hid_t vstr_type(seal_h5 *c) {
  hid_t t = SEAL_H5(c, H5Tcopy, (H5T_C_S1));
  if (t < 0) return -1;
  if (SEAL_H5(c, H5Tset_size, (t, H5T_VARIABLE)) < 0 ||
      SEAL_H5(c, H5Tset_cset, (t, H5T_CSET_UTF8)) < 0) {
    H5Tclose(t);
    return -1;
  }
  return t;
}

int seal_h5_put_str(seal_h5 *c, hid_t obj, const char *name, const char *v) {
  hid_t t = vstr_type(c);
  if (t < 0) return -1;
  const char *p = v ? v : "";
  int rc = put_attr(c, obj, name, t, t, &p);
  H5Tclose(t);
  return rc;
}

int seal_h5_put_int(seal_h5 *c, hid_t obj, const char *name, int v) {
  return put_attr(c, obj, name, H5T_STD_I32LE, H5T_NATIVE_INT, &v);
}
int seal_h5_put_u64(seal_h5 *c, hid_t obj, const char *name, uint64_t v) {
  return put_attr(c, obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, &v);
}
int seal_h5_put_f32(seal_h5 *c, hid_t obj, const char *name, float v) {
  return put_attr(c, obj, name, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, &v);
}
int seal_h5_put_f64(seal_h5 *c, hid_t obj, const char *name, double v) {
  return put_attr(c, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v);
}

/* Opens attribute `name` of obj after checking that it exists and is of the
 * expected class; the message names the object and attribute. */
static hid_t open_attr(seal_h5 *c, hid_t obj, const char *obj_name, const char *name,
                       H5T_class_t want, const char *want_name) {
  htri_t exists = SEAL_H5(c, H5Aexists, (obj, name));
  if (exists < 0) return -1;
  if (!exists) {
    seal_h5_fail(c, "not a complete seal checkpoint: %s has no attribute '%s'", obj_name, name);
    return -1;
  }
  hid_t a = SEAL_H5(c, H5Aopen, (obj, name, H5P_DEFAULT));
  if (a < 0) return -1;
  hid_t t = SEAL_H5(c, H5Aget_type, (a));
  H5T_class_t cls = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (t >= 0) H5Tclose(t);
  hid_t space = SEAL_H5(c, H5Aget_space, (a));
  hssize_t npoints = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  if (space >= 0) H5Sclose(space);
  if (c->failed) {
    H5Aclose(a);
    return -1;
  }
  if (cls != want || npoints != 1) {
    H5Aclose(a);
    seal_h5_fail(c, "attribute '%s' of %s should be a single %s", name, obj_name, want_name);
    return -1;
  }
  return a;
}

int seal_h5_get_str(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, char **out) {
  *out = NULL;
  hid_t a = open_attr(c, obj, obj_name, name, H5T_STRING, "string");
  if (a < 0) return -1;
  hid_t ft = SEAL_H5(c, H5Aget_type, (a));
  int rc = -1;
  if (ft >= 0 && H5Tis_variable_str(ft) > 0) {
    hid_t mt = vstr_type(c);
    char *v = NULL;
    if (mt >= 0 && SEAL_H5(c, H5Aread, (a, mt, &v)) >= 0) {
      *out = seal_strdup(v ? v : "");
      H5free_memory(v);
      rc = 0;
    }
    seal_h5_close(mt);
  } else if (ft >= 0) {
    size_t n = H5Tget_size(ft); /* fixed length: n bytes, maybe without a NUL */
    hid_t mt = SEAL_H5(c, H5Tcopy, (H5T_C_S1));
    char *v = seal_calloc(n + 1, 1);
    if (mt >= 0 && SEAL_H5(c, H5Tset_size, (mt, n + 1)) >= 0 &&
        SEAL_H5(c, H5Aread, (a, mt, v)) >= 0) {
      *out = v;
      v = NULL;
      rc = 0;
    }
    free(v);
    seal_h5_close(mt);
  }
  seal_h5_close(ft);
  H5Aclose(a);
  return rc;
}

int seal_h5_get_str_buf(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, char *out,
                        size_t size) {
  char *v;
  if (seal_h5_get_str(c, obj, obj_name, name, &v) != 0) return -1;
  size_t n = strlen(v);
  int rc = 0;
  if (n >= size)
    rc = seal_h5_fail(c, "attribute '%s' of %s is %zu bytes long, at most %zu allowed", name,
                      obj_name, n, size - 1);
  else
    memcpy(out, v, n + 1);
  free(v);
  return rc;
}

static int get_number(seal_h5 *c, hid_t obj, const char *obj_name, const char *name,
                      H5T_class_t cls, hid_t mem_type, void *out) {
  hid_t a = open_attr(c, obj, obj_name, name, cls, cls == H5T_INTEGER ? "integer" : "float");
  if (a < 0) return -1;
  int rc = SEAL_H5(c, H5Aread, (a, mem_type, out)) < 0 ? -1 : 0;
  H5Aclose(a);
  return rc;
}

int seal_h5_get_int(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, int *out) {
  return get_number(c, obj, obj_name, name, H5T_INTEGER, H5T_NATIVE_INT, out);
}
int seal_h5_get_u64(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, uint64_t *out) {
  return get_number(c, obj, obj_name, name, H5T_INTEGER, H5T_NATIVE_UINT64, out);
}
int seal_h5_get_f32(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, float *out) {
  return get_number(c, obj, obj_name, name, H5T_FLOAT, H5T_NATIVE_FLOAT, out);
}
int seal_h5_get_f64(seal_h5 *c, hid_t obj, const char *obj_name, const char *name, double *out) {
  return get_number(c, obj, obj_name, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, out);
}

/* ---- tensors --------------------------------------------------------------- */

static int write_tensor(seal_h5 *c, hid_t group, const seal_host_tensor *t) {
  hsize_t dims[SEAL_MAX_DIMS];
  for (int d = 0; d < t->ndim; d++) dims[d] = (hsize_t)t->shape[d];
  hid_t space = t->ndim == 0 ? SEAL_H5(c, H5Screate, (H5S_SCALAR))
                             : SEAL_H5(c, H5Screate_simple, (t->ndim, dims, NULL));
  if (space < 0) return -1;
  int rc = -1;
  hid_t ds =
      SEAL_H5(c, H5Dcreate2,
              (group, t->name, H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (ds >= 0) {
    if (seal_tensor_numel(t) == 0 ||
        SEAL_H5(c, H5Dwrite, (ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data)) >= 0)
      rc = 0;
    H5Dclose(ds);
  }
  H5Sclose(space);
  return rc;
}

int seal_h5_write_tensors(seal_h5 *c, hid_t group, const char *group_name,
                          const seal_tensor_set *set) {
  for (int i = 0; i < set->n; i++) {
    const seal_host_tensor *t = &set->items[i];
    seal_h5_where(c, "%s/%s", group_name, t->name);
    /* A '/' would silently create subgroups; "." is the group itself. */
    if (!t->name[0] || strchr(t->name, '/') || !strcmp(t->name, "."))
      return seal_h5_fail(c, "%s: tensor name '%s' cannot be an HDF5 dataset name", group_name,
                          t->name);
    if (t->ndim < 0 || t->ndim > SEAL_MAX_DIMS)
      return seal_h5_fail(c, "%s/%s: %d dimensions", group_name, t->name, t->ndim);
    if (write_tensor(c, group, t) != 0) return -1;
  }
  return 0;
}

/* Link names of a group, in creation order when the group tracks it (ours do),
 * else in name order. */
typedef struct {
  char **names;
  int n, cap;
} name_list;

static herr_t collect_name(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  (void)g, (void)info;
  name_list *l = data;
  if (l->n == l->cap) {
    l->cap = l->cap ? 2 * l->cap : 16;
    l->names = seal_realloc(l->names, (size_t)l->cap * sizeof *l->names);
  }
  l->names[l->n++] = seal_strdup(name);
  return 0;
}

static void free_names(name_list *l) {
  for (int i = 0; i < l->n; i++) free(l->names[i]);
  free(l->names);
}

static int list_links(seal_h5 *c, hid_t group, name_list *l) {
  hid_t gcpl = SEAL_H5(c, H5Gget_create_plist, (group));
  if (gcpl < 0) return -1;
  unsigned flags = 0;
  herr_t rc = SEAL_H5(c, H5Pget_link_creation_order, (gcpl, &flags));
  H5Pclose(gcpl);
  if (rc < 0) return -1;
  H5_index_t index = (flags & H5P_CRT_ORDER_TRACKED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
  hsize_t idx = 0;
  return SEAL_H5(c, H5Literate, (group, index, H5_ITER_INC, &idx, collect_name, l)) < 0 ? -1 : 0;
}

/* Tensors larger than this many elements are refused as damage: 2^32 floats
 * (16 GiB) is far beyond any LoRA matrix or optimizer moment a run holds. */
#define SEAL_MAX_TENSOR_ELEMENTS ((int64_t)1 << 32)

/* The dataset's shape into shape[ndim] and its element count, or -1 (a failure
 * recorded) when the dims overflow, exceed the cap, or do not match the bytes
 * the dataset actually stores: checked before anything is allocated for it. */
static int64_t checked_shape(seal_h5 *c, hid_t ds, hid_t type, hid_t space, int ndim,
                             const char *group_name, const char *name, int64_t *shape) {
  hsize_t dims[SEAL_MAX_DIMS];
  if (SEAL_H5(c, H5Sget_simple_extent_dims, (space, dims, NULL)) < 0) return -1;
  int64_t numel = 1;
  for (int d = 0; d < ndim; d++) {
    if (dims[d] > (hsize_t)SEAL_MAX_TENSOR_ELEMENTS ||
        (dims[d] > 0 && numel > SEAL_MAX_TENSOR_ELEMENTS / (int64_t)dims[d])) {
      seal_h5_fail(c, "%s/%s: dimension %d of %llu makes more than %lld elements", group_name, name,
                   d, (unsigned long long)dims[d], (long long)SEAL_MAX_TENSOR_ELEMENTS);
      return -1;
    }
    shape[d] = (int64_t)dims[d];
    numel *= shape[d];
  }
  size_t elem = H5Tget_size(type);
  hsize_t stored = H5Dget_storage_size(ds); /* 0 also for "none allocated" */
  if (elem == 0 || elem > 16 || stored != (hsize_t)numel * elem) {
    seal_h5_fail(c,
                 "%s/%s: its shape holds %lld elements of %zu bytes but the file stores %llu "
                 "bytes for it",
                 group_name, name, (long long)numel, elem, (unsigned long long)stored);
    return -1;
  }
  return numel;
}

static int read_tensor(seal_h5 *c, hid_t group, const char *group_name, const char *name,
                       seal_tensor_set *set, bool with_data) {
  seal_h5_where(c, "%s/%s", group_name, name);
  hid_t ds = SEAL_H5(c, H5Dopen2, (group, name, H5P_DEFAULT));
  if (ds < 0) return -1;
  hid_t type = SEAL_H5(c, H5Dget_type, (ds));
  hid_t space = SEAL_H5(c, H5Dget_space, (ds));
  int rc = -1;
  if (c->failed) goto out;
  if (H5Tget_class(type) != H5T_FLOAT) {
    seal_h5_fail(c, "%s/%s is not a float tensor", group_name, name);
    goto out;
  }
  int ndim = SEAL_H5(c, H5Sget_simple_extent_ndims, (space));
  if (ndim < 0) goto out;
  if (ndim > SEAL_MAX_DIMS) {
    seal_h5_fail(c, "%s/%s has %d dimensions, at most %d supported", group_name, name, ndim,
                 SEAL_MAX_DIMS);
    goto out;
  }
  int64_t shape[SEAL_MAX_DIMS];
  int64_t numel = checked_shape(c, ds, type, space, ndim, group_name, name, shape);
  if (numel < 0) goto out;
  float *data = NULL;
  if (with_data) {
    data = seal_malloc((size_t)numel * sizeof(float));
    if (numel > 0 &&
        SEAL_H5(c, H5Dread, (ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data)) < 0) {
      free(data);
      goto out;
    }
  }
  seal_tensors_add(set, name, ndim, shape, data);
  rc = 0;
out:
  seal_h5_close(space);
  seal_h5_close(type);
  H5Dclose(ds);
  return rc;
}

int seal_h5_read_tensors(seal_h5 *c, hid_t group, const char *group_name, seal_tensor_set *set,
                         bool with_data) {
  seal_h5_where(c, "%s", group_name);
  name_list l = {0};
  int rc = list_links(c, group, &l);
  for (int i = 0; rc == 0 && i < l.n; i++)
    rc = read_tensor(c, group, group_name, l.names[i], set, with_data);
  free_names(&l);
  return rc;
}

/* ---- tables ---------------------------------------------------------------- */

#define FIELD(type, member, kind) \
  { #member, offsetof(type, member), kind }

static const seal_h5_field round_fields[] = {
    FIELD(seal_round_record, round, SEAL_H5_I32),
    FIELD(seal_round_record, contexts, SEAL_H5_I32),
    FIELD(seal_round_record, mean_reward, SEAL_H5_F64),
    FIELD(seal_round_record, kept, SEAL_H5_I32),
    FIELD(seal_round_record, accuracy, SEAL_H5_F64),
    FIELD(seal_round_record, seconds, SEAL_H5_F64),
};
const seal_h5_table seal_h5_round_table = {round_fields, SEAL_ARRAY_LEN(round_fields),
                                           sizeof(seal_round_record)};

static const seal_h5_field selfedit_fields[] = {
    FIELD(seal_selfedit_record, context_id, SEAL_H5_I32),
    FIELD(seal_selfedit_record, sample, SEAL_H5_I32),
    FIELD(seal_selfedit_record, repeat, SEAL_H5_I32),
    FIELD(seal_selfedit_record, reward, SEAL_H5_F64),
    FIELD(seal_selfedit_record, label_reward, SEAL_H5_F64),
    FIELD(seal_selfedit_record, n_examples, SEAL_H5_I32),
    FIELD(seal_selfedit_record, ok, SEAL_H5_I32),
    FIELD(seal_selfedit_record, attempts, SEAL_H5_I32),
    FIELD(seal_selfedit_record, reason, SEAL_H5_VSTR),
    FIELD(seal_selfedit_record, metrics, SEAL_H5_VSTR),
    FIELD(seal_selfedit_record, text, SEAL_H5_VSTR),
};
const seal_h5_table seal_h5_selfedit_table = {selfedit_fields, SEAL_ARRAY_LEN(selfedit_fields),
                                              sizeof(seal_selfedit_record)};

static const seal_h5_field rng_fields[] = {
    FIELD(seal_rng_record, name, SEAL_H5_STR64),
    {"state", offsetof(seal_rng_record, s), SEAL_H5_U64X4},
};
const seal_h5_table seal_h5_rng_table = {rng_fields, SEAL_ARRAY_LEN(rng_fields),
                                         sizeof(seal_rng_record)};

/* The HDF5 type of one field: native in memory, little-endian in the file. */
static hid_t field_type(seal_h5 *c, seal_h5_kind kind, bool file) {
  switch (kind) {
    case SEAL_H5_I32:
      return SEAL_H5(c, H5Tcopy, (file ? H5T_STD_I32LE : H5T_NATIVE_INT));
    case SEAL_H5_F64:
      return SEAL_H5(c, H5Tcopy, (file ? H5T_IEEE_F64LE : H5T_NATIVE_DOUBLE));
    case SEAL_H5_VSTR:
      return vstr_type(c);
    case SEAL_H5_STR64: {
      hid_t t = SEAL_H5(c, H5Tcopy, (H5T_C_S1));
      if (t >= 0 && (SEAL_H5(c, H5Tset_size, (t, 64)) < 0 ||
                     SEAL_H5(c, H5Tset_cset, (t, H5T_CSET_UTF8)) < 0)) {
        H5Tclose(t);
        return -1;
      }
      return t;
    }
    case SEAL_H5_U64X4: {
      hsize_t four = 4;
      return SEAL_H5(c, H5Tarray_create2, (file ? H5T_STD_U64LE : H5T_NATIVE_UINT64, 1, &four));
    }
  }
  return -1;
}

/* The compound type of a table: the C struct's layout in memory, packed in the file. */
static hid_t table_type(seal_h5 *c, const seal_h5_table *t, bool file) {
  hid_t member[16];
  SEAL_CHECK(t->n_fields <= SEAL_ARRAY_LEN(member), "a table of %d fields", t->n_fields);
  size_t size = 0;
  for (int i = 0; i < t->n_fields; i++) {
    member[i] = field_type(c, t->fields[i].kind, file);
    if (member[i] < 0) {
      for (int j = 0; j < i; j++) H5Tclose(member[j]);
      return -1;
    }
    size += H5Tget_size(member[i]);
  }
  hid_t ct = SEAL_H5(c, H5Tcreate, (H5T_COMPOUND, file ? size : t->row_size));
  size_t offset = 0;
  for (int i = 0; i < t->n_fields; i++) {
    if (ct >= 0 &&
        SEAL_H5(c, H5Tinsert,
                (ct, t->fields[i].name, file ? offset : t->fields[i].offset, member[i])) < 0) {
      H5Tclose(ct);
      ct = -1;
    }
    offset += H5Tget_size(member[i]);
    H5Tclose(member[i]);
  }
  return ct;
}

int seal_h5_write_table(seal_h5 *c, hid_t group, const char *name, const seal_h5_table *t,
                        const void *rows, int n, const char *description) {
  hid_t ft = table_type(c, t, true);
  hid_t mt = table_type(c, t, false);
  hsize_t dims[1] = {(hsize_t)n};
  hid_t space = SEAL_H5(c, H5Screate_simple, (1, dims, NULL));
  hid_t ds = -1;
  int rc = -1;
  if (c->failed) goto out;
  ds = SEAL_H5(c, H5Dcreate2, (group, name, ft, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  if (ds < 0) goto out;
  if (n > 0 && SEAL_H5(c, H5Dwrite, (ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, rows)) < 0) goto out;
  rc = seal_h5_put_str(c, ds, "description", description);
out:
  seal_h5_close(ds);
  seal_h5_close(space);
  seal_h5_close(mt);
  seal_h5_close(ft);
  return rc;
}

/* Checks that the dataset is a 1-D compound table holding every field of t. */
static int check_table(seal_h5 *c, hid_t ds, const char *full, const seal_h5_table *t,
                       hssize_t *n) {
  hid_t ft = SEAL_H5(c, H5Dget_type, (ds));
  hid_t space = SEAL_H5(c, H5Dget_space, (ds));
  int rc = -1;
  if (c->failed) goto out;
  if (H5Tget_class(ft) != H5T_COMPOUND || H5Sget_simple_extent_ndims(space) != 1) {
    seal_h5_fail(c, "%s should be a 1-D table of compound type", full);
    goto out;
  }
  for (int i = 0; i < t->n_fields; i++) {
    if (H5Tget_member_index(ft, t->fields[i].name) < 0) {
      H5Eclear2(H5E_DEFAULT);
      seal_h5_fail(c, "table %s has no field '%s'", full, t->fields[i].name);
      goto out;
    }
  }
  *n = SEAL_H5(c, H5Sget_simple_extent_npoints, (space));
  rc = *n < 0 ? -1 : 0;
out:
  seal_h5_close(space);
  seal_h5_close(ft);
  return rc;
}

/* HDF5 allocated the variable-length strings; the state owns malloc'd copies. */
static void copy_vlen_strings(const seal_h5_table *t, void *rows, int n) {
  for (int f = 0; f < t->n_fields; f++) {
    if (t->fields[f].kind != SEAL_H5_VSTR) continue;
    for (int i = 0; i < n; i++) {
      char **p = (char **)((char *)rows + (size_t)i * t->row_size + t->fields[f].offset);
      *p = seal_strdup(*p ? *p : "");
    }
  }
}

int seal_h5_read_table(seal_h5 *c, hid_t group, const char *group_name, const char *name,
                       const seal_h5_table *t, void **rows, int *n) {
  *rows = NULL;
  *n = 0;
  char full[256];
  snprintf(full, sizeof full, "%s%s%s", group_name, strcmp(group_name, "/") ? "/" : "", name);
  seal_h5_where(c, "%s", full);
  htri_t exists = SEAL_H5(c, H5Lexists, (group, name, H5P_DEFAULT));
  if (exists < 0) return -1;
  if (!exists) return seal_h5_fail(c, "not a complete seal checkpoint: table %s is missing", full);
  hid_t ds = SEAL_H5(c, H5Dopen2, (group, name, H5P_DEFAULT));
  if (ds < 0) return -1;
  hssize_t count = 0;
  hid_t mt = -1, space = -1;
  int rc = -1;
  if (check_table(c, ds, full, t, &count) != 0) goto out;
  if (count > 1 << 30) {
    seal_h5_fail(c, "table %s has %lld rows", full, (long long)count);
    goto out;
  }
  void *buf = seal_calloc((size_t)count, t->row_size);
  mt = table_type(c, t, false);
  space = SEAL_H5(c, H5Dget_space, (ds));
  if (c->failed ||
      (count > 0 && SEAL_H5(c, H5Dread, (ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)) < 0)) {
    free(buf);
    goto out;
  }
  /* Keep HDF5's strings until copied, then hand them back to HDF5. */
  void *copy = seal_malloc((size_t)count * t->row_size);
  memcpy(copy, buf, (size_t)count * t->row_size);
  copy_vlen_strings(t, copy, (int)count);
  if (count > 0) {
#if H5_VERSION_GE(1, 12, 0) /* 1.10 declares H5Treclaim but does not export it */
    H5Treclaim(mt, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(mt, space, H5P_DEFAULT, buf);
#endif
  }
  free(buf);
  *rows = copy;
  *n = (int)count;
  rc = 0;
out:
  seal_h5_close(space);
  seal_h5_close(mt);
  H5Dclose(ds);
  return rc;
}
