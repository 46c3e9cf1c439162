// Reads through a Memcached-tier store in front of a Mongo-tier store: the
// cache first, then the database for the misses, then the fetched documents
// set in the cache (as upstream's cast-info, plot and movie-info services).

/** One document by key; `missing()` makes the error thrown when it does not exist. */
export async function readOne(primary, cache, key, missing) {
  const cached = await cache.get(key);
  if (cached !== undefined) return cached;
  const doc = await primary.get(key);
  if (doc === undefined) throw missing();
  await cache.put(key, doc);
  return doc;
}

/** Documents by keys, in order; `incomplete()` makes the error thrown when any is missing. */
export async function readMany(primary, cache, keys, incomplete) {
  if (keys.length === 0) return [];
  const found = await Promise.all(keys.map((k) => cache.get(k)));
  const misses = [];
  found.forEach((d, i) => {
    if (d === undefined) misses.push(i);
  });
  if (misses.length === 0) return found;
  const fetched = await Promise.all(misses.map((i) => primary.get(keys[i])));
  const fills = [];
  misses.forEach((i, j) => {
    if (fetched[j] !== undefined) {
      found[i] = fetched[j];
      fills.push({ op: "put", key: keys[i], value: fetched[j] });
    }
  });
  if (fills.length > 0) await cache.batch(fills);
  if (fetched.some((d) => d === undefined)) throw incomplete();
  return found;
}
