// rate: Rate.GetRates(hotelIds, inDate, outDate) -> rate plans, sorted by
// roomType.totalRate, highest first. The dates are not used (as upstream).
//
// Stores:
//   "rate"       (Mongo rate-db.inventory; durable)  <hotelId>/<n> -> rate plan
//   "rate-cache" (Memcached; relaxed)                 <hotelId> -> [rate plan] (possibly empty)
import { store } from "pyrosome";
import { seedOnce } from "./lib/init.js";
import { ratePlans } from "./lib/seed.js";

const inventory = store("rate");
const cache = store("rate-cache");

function seeded() {
  return seedOnce(inventory, () => {
    const n = new Map();
    return ratePlans().map((p) => {
      const k = n.get(p.hotelId) ?? 0;
      n.set(p.hotelId, k + 1);
      return [`${p.hotelId}/${k}`, p];
    });
  });
}

/** GetRates({hotelIds, inDate, outDate}) -> [ratePlan]. */
export async function getRates({ hotelIds, inDate, outDate }) {
  await seeded();
  const ids = [...new Set(hotelIds)];
  // The multi-get from the cache, then each miss from the database (filtered
  // by hotelId: the intent before upstream's regression (a), see README.md).
  const cached = await Promise.all(ids.map((id) => cache.get(id)));
  const misses = ids.filter((_, i) => cached[i] === undefined);
  const fetched = await Promise.all(
    misses.map((id) => inventory.list({ prefix: `${id}/` }).then((es) => es.map((e) => e.value))),
  );
  if (misses.length > 0) {
    // Cached even when empty: a hotel without rate plans is not looked up again.
    await cache.batch(misses.map((id, i) => ({ op: "put", key: id, value: fetched[i] })));
  }
  const plans = [];
  let m = 0;
  ids.forEach((_, i) => plans.push(...(cached[i] !== undefined ? cached[i] : fetched[m++])));
  // Stable: equal rates keep the order of the hotel ids asked for.
  plans.sort((a, b) => b.roomType.totalRate - a.roomType.totalRate);
  return plans;
}
