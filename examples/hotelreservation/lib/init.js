// Seeding a store on first use, as upstream's services insert their seed
// documents at start-up when they are missing.
//
// seedOnce(store, entries) writes every [key, value] of `entries()` with
// putIfAbsent in one atomic batch, unless the last key is already there.
// `entries` is a function, called only when the store is checked (once per
// instance): building the seed on every call was the costliest part of a
// profile lookup.
// Instances that race both try; the loser's batch conflicts and changes
// nothing. The promise is kept per store, so an instance checks once.
const done = new Map();

export function seedOnce(store, entries) {
  let p = done.get(store.name);
  if (p === undefined) {
    p = (async () => {
      const list = await entries();
      const last = list[list.length - 1][0];
      if ((await store.get(last)) !== undefined) return;
      await store.batch(list.map(([key, value]) => ({ op: "putIfAbsent", key, value })));
    })();
    // A failure is not remembered: the next call tries again.
    p.catch(() => done.delete(store.name));
    done.set(store.name, p);
  }
  return p;
}
