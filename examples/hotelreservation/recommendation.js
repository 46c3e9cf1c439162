// recommendation: Recommendation.GetRecommendations(require, lat, lon) -> hotelIds:
// every hotel tied at the minimum distance ("dis"), the maximum rate ("rate") or the
// minimum price ("price").
//
// Store "recommendation" (Mongo recommendation-db.recommendation; durable):
//   <hotelId> -> {hotelId, lat, lon, rate, price}; loaded into memory once per instance.
import { store } from "pyrosome";
import { distanceKm } from "./lib/geo.js";
import { seedOnce } from "./lib/init.js";
import { recommendations } from "./lib/seed.js";

const db = store("recommendation");
let hotels = null;

async function load() {
  await seedOnce(db, () => recommendations().map((h) => [h.hotelId, h]));
  const docs = (await db.list()).map((e) => e.value);
  docs.sort((a, b) => Number(a.hotelId) - Number(b.hotelId) || (a.hotelId < b.hotelId ? -1 : 1));
  return docs;
}

// The ids of the hotels whose score equals the best one (ties all returned).
function best(list, score, better) {
  let top = null;
  for (const h of list) {
    const s = score(h);
    if (top === null || better(s, top)) top = s;
  }
  return list.filter((h) => score(h) === top).map((h) => h.hotelId);
}

/** GetRecommendations({require, lat, lon}) -> list of hotel ids (by id); [] for another `require`. */
export async function getRecommendations({ require, lat, lon }) {
  if (hotels === null) hotels = load();
  const list = await hotels.catch((e) => {
    hotels = null;
    throw e;
  });
  switch (require) {
    case "dis":
      return best(list, (h) => distanceKm(lat, lon, h.lat, h.lon), (a, b) => a < b);
    case "rate":
      return best(list, (h) => h.rate, (a, b) => a > b);
    case "price":
      return best(list, (h) => h.price, (a, b) => a < b);
    default:
      return [];
  }
}
