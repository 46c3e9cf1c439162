// Types are erased when the app loads: nothing here is checked at run time
// except by the code itself.

export interface User {
  id: number;
  name: string;
}

/** A positive integer id, or null. */
export function parseId(text: string): number | null {
  const id: number = Number(text);
  return Number.isSafeInteger(id) && id > 0 ? id : null;
}

export function user(id: number): User {
  return { id, name: `user ${id}` };
}
