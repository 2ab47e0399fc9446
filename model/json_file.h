/* model/json_file.h — a JSON file read the one safe way: a regular file under
 * util's size cap (never a FIFO or a device), then parsed, with errors that name
 * the file, line and column. Every JSON file model/ reads comes through here. */
#ifndef SEAL_MODEL_JSON_FILE_H
#define SEAL_MODEL_JSON_FILE_H

#include <jansson.h>

#include "util/util.h"

/* flags: jansson's decoding flags (e.g. JSON_REJECT_DUPLICATES). NULL with e
 * filled when the file cannot be read or is not valid JSON. */
json_t *seal_json_read_file(const char *path, size_t flags, seal_error *e);

/* What a JSON value is, for messages: "an object", "an array", "a string",
 * "a number", "a boolean", "null". */
const char *seal_json_type_name(const json_t *v);

#endif
