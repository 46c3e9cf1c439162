// profile: Profile.GetProfiles(hotelIds, locale) -> hotels. The locale is
// not used (as upstream).
//
// Stores:
//   "profile"       (Mongo profile-db.hotels; durable)  <hotelId> -> hotel profile
//   "profile-cache" (Memcached; relaxed)                 <hotelId> -> the same profile
import { store } from "pyrosome";
import { seedOnce } from "./lib/init.js";
import { profiles } from "./lib/seed.js";

const hotels = store("profile");
const cache = store("profile-cache");

/** GetProfiles({hotelIds, locale}) -> [hotel], in the order asked; unknown ids are left out. */
export async function getProfiles({ hotelIds, locale }) {
  await seedOnce(hotels, () => profiles().map((h) => [h.id, h]));
  const ids = [...new Set(hotelIds)];
  const found = await Promise.all(ids.map((id) => cache.get(id)));
  const misses = [];
  found.forEach((h, i) => {
    if (h === undefined) misses.push(i);
  });
  if (misses.length > 0) {
    const fetched = await Promise.all(misses.map((i) => hotels.get(ids[i])));
    const fills = [];
    misses.forEach((i, j) => {
      found[i] = fetched[j];
      if (fetched[j] !== undefined) fills.push({ op: "put", key: ids[i], value: fetched[j] });
    });
    if (fills.length > 0) await cache.batch(fills);
  }
  return found.filter((h) => h !== undefined);
}
