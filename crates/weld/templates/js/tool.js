// The {{name}} tool. componentize-js maps each function exported by
// wit/{{name}}.wit to this module's export of the same name in camelCase.
// A WIT `result<T, string>` is returned by returning T, and its error (the
// tool error the model sees) by throwing the message.

export function greet(name) {
  if (name.trim() === "") {
    throw "name is empty: say who to greet";
  }
  return `Hello, ${name}!`;
}
