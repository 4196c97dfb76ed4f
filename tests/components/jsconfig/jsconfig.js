// Reads configuration through wasi:config/store; the bindings throw the
// store's `error` variant, which weld never returns.
import { get, getAll } from 'wasi:config/store@0.2.0-draft';

export function configGet(key) {
  return get(key);
}

export function configKeys() {
  return getAll().map(([key]) => key).sort();
}
