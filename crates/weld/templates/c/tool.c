// The {{name}} tool. wit-bindgen generates gen/{{name_snake}}.h from
// wit/{{name}}.wit: one `exports_{{name_snake}}_FUNCTION` per exported
// function, implemented here. Arguments are owned by the callee (free them);
// results are allocated with malloc and freed by the generated code. A WIT
// `result<T, E>` is a bool: true with *ret set, or false with *err set (the
// tool error the model sees).

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "{{name_snake}}.h"

bool exports_{{name_snake}}_greet({{name_snake}}_string_t *name, {{name_snake}}_string_t *ret,
                                  {{name_snake}}_string_t *err) {
  size_t i = 0;
  while (i < name->len && (name->ptr[i] == ' ' || name->ptr[i] == '\t')) i++;
  if (i == name->len) {
    {{name_snake}}_string_free(name);
    {{name_snake}}_string_dup(err, "name is empty: say who to greet");
    return false;
  }
  size_t len = name->len + sizeof "Hello, !";
  char *text = malloc(len);
  snprintf(text, len, "Hello, %.*s!", (int)name->len, (const char *)name->ptr);
  ret->ptr = (uint8_t *)text;
  ret->len = strlen(text);
  {{name_snake}}_string_free(name);
  return true;
}
