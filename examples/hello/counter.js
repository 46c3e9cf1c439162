// Module-level state lives in one instance (as in Workers): a counter per
// instance, not a shared one. Shared state belongs in a store.
let count = 0;

export function increment({ by = 1 } = {}) {
  count += by;
  return count;
}
