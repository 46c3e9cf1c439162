// geo: Geo.Nearby(lat, lon) -> hotelIds, the k = 5 nearest hotels within 10 km.
//
// Store "geo" (Mongo geo-db.geo; durable): <hotelId> -> {hotelId, lat, lon}.
// Loaded into memory once per instance, as upstream builds its index at start.
import { store } from "pyrosome";
import { K, RADIUS_KM, kNearest } from "./lib/geo.js";
import { seedOnce } from "./lib/init.js";
import { geoPoints } from "./lib/seed.js";

const geo = store("geo");
let index = null;

async function load() {
  await seedOnce(geo, () => geoPoints().map((p) => [p.hotelId, p]));
  const docs = (await geo.list()).map((e) => e.value);
  // Hotel order: numeric id (the seed order), so ties come out as inserted.
  docs.sort((a, b) => Number(a.hotelId) - Number(b.hotelId) || (a.hotelId < b.hotelId ? -1 : 1));
  return docs.map((d) => ({ id: d.hotelId, lat: d.lat, lon: d.lon }));
}

/** Nearby({lat, lon}) -> list of hotel ids, nearest first. */
export async function nearby({ lat, lon }) {
  if (index === null) index = load();
  const points = await index.catch((e) => {
    index = null;
    throw e;
  });
  return kNearest(points, lat, lon, K, RADIUS_KM);
}
