// attractions: Attractions.NearbyRest / NearbyMus / NearbyCinema(hotelId) -> ids of the
// k = 5 nearest restaurants, museums or cinemas within 10 km of the hotel.
//
// Store "attractions" (Mongo attractions-db; durable):
//   hotel/<id>, restaurant/<id>, museum/<id>, cinema/<id> -> {.., lat, lon}
// The points are loaded into memory once per instance. attractions-db knows hotels 1-6
// only and has no cinemas (as upstream): another hotel has nothing nearby.
import { store } from "pyrosome";
import { K, RADIUS_KM, kNearest } from "./lib/geo.js";
import { seedOnce } from "./lib/init.js";
import { attractions } from "./lib/seed.js";

const db = store("attractions");
let index = null;

function seedEntries() {
  const a = attractions();
  return [
    ...a.hotels.map((h) => [`hotel/${h.hotelId}`, h]),
    ...a.restaurants.map((r) => [`restaurant/${r.restaurantId}`, r]),
    ...a.museums.map((m) => [`museum/${m.museumId}`, m]),
    ...a.cinemas.map((c) => [`cinema/${c.cinemaId}`, c]),
  ];
}

async function load() {
  await seedOnce(db, seedEntries);
  const kinds = { hotel: "hotelId", restaurant: "restaurantId", museum: "museumId", cinema: "cinemaId" };
  const out = { hotel: new Map(), restaurant: [], museum: [], cinema: [] };
  for (const { key, value } of await db.list()) {
    const kind = key.slice(0, key.indexOf("/"));
    const field = kinds[kind];
    if (field === undefined) continue;
    const p = { id: value[field], lat: value.lat, lon: value.lon };
    if (kind === "hotel") out.hotel.set(p.id, p);
    else out[kind].push(p);
  }
  for (const kind of ["restaurant", "museum", "cinema"]) out[kind].sort((a, b) => Number(a.id) - Number(b.id));
  return out;
}

async function nearby(kind, hotelId) {
  if (index === null) index = load();
  const idx = await index.catch((e) => {
    index = null;
    throw e;
  });
  // An unknown hotel is looked up at (0, 0), as upstream's zero-valued document.
  const h = idx.hotel.get(hotelId) ?? { lat: 0, lon: 0 };
  return kNearest(idx[kind], h.lat, h.lon, K, RADIUS_KM);
}

/** NearbyRest({hotelId}) -> restaurant ids. */
export async function nearbyRest({ hotelId }) {
  return nearby("restaurant", hotelId);
}

/** NearbyMus({hotelId}) -> museum ids. */
export async function nearbyMus({ hotelId }) {
  return nearby("museum", hotelId);
}

/** NearbyCinema({hotelId}) -> cinema ids. */
export async function nearbyCinema({ hotelId }) {
  return nearby("cinema", hotelId);
}
