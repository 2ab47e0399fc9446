/* model/json_file.c — reading a JSON file through util's capped reader. */
#include "model/json_file.h"

#include <stdlib.h>

json_t *seal_json_read_file(const char *path, size_t flags, seal_error *e) {
  size_t n;
  char *text = seal_read_file(path, &n, e);
  if (!text) return NULL;
  json_error_t je;
  json_t *root = json_loadb(text, n, flags, &je);
  free(text);
  if (!root) seal_errorf(e, "%s:%d:%d: invalid JSON: %s", path, je.line, je.column, je.text);
  return root;
}

const char *seal_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "an array";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
      return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    case JSON_NULL:
      return "null";
  }
  return "something else";
}
