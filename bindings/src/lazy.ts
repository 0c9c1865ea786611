/**
 * A value made on first use, then kept. The tables this layer reads from the
 * WebAssembly module (its memory, request kinds, lookup statuses) are made this way
 * rather than on import: the web build instantiates the module only in `init()`,
 * after every module of this layer has loaded.
 */
export function lazy<T>(make: () => T): () => T {
  let made = false;
  let value: T | undefined;
  return () => {
    if (!made) {
      value = make();
      made = true;
    }
    return value as T;
  };
}
