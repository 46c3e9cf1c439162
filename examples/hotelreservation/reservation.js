// reservation: Reservation.CheckAvailability and MakeReservation.
//
// Stores:
//   "reservation" (Mongo reservation-db; durable)
//       number/<hotelId>                          -> {hotelId, numberOfRoom}  (the capacity)
//       res/<hotelId>/<inDate>/<outDate>/<uniq>    -> {hotelId, customerName, inDate, outDate, number}
//                                                     one document per night booked
//   "reservation-cache" (Memcached; relaxed)
//       <hotelId>_cap                             -> capacity
//       <hotelId>_<night end>_<night end>         -> rooms booked that night (upstream's key:
//                                                     the night [d, d+1) is "<id>_<d+1>_<d+1>")
import { store } from "pyrosome";
import { nights } from "./lib/dates.js";
import { seedOnce } from "./lib/init.js";
import { capacities, reservations } from "./lib/seed.js";

const db = store("reservation");
const cache = store("reservation-cache");

const resPrefix = (hotelId, night) => `res/${hotelId}/${night.start}/${night.end}/`;
const nightKey = (hotelId, night) => `${hotelId}_${night.end}_${night.end}`;

function seeded() {
  return seedOnce(db, () => [
    ...reservations().map((r) => [`${resPrefix(r.hotelId, { start: r.inDate, end: r.outDate })}seed`, r]),
    ...capacities().map((c) => [`number/${c.hotelId}`, c]),
  ]);
}

// Rooms booked for a night, from the database: the sum over its documents.
async function bookedInDb(hotelId, night) {
  const docs = await db.list({ prefix: resPrefix(hotelId, night) });
  return docs.reduce((sum, e) => sum + e.value.number, 0);
}

// The capacity of a hotel, from the cache, else the database (then cached); 0 when unknown.
async function capacity(hotelId) {
  const cached = await cache.get(`${hotelId}_cap`);
  if (cached !== undefined) return cached;
  const doc = await db.get(`number/${hotelId}`);
  const cap = doc === undefined ? 0 : doc.numberOfRoom;
  if (doc !== undefined) await cache.put(`${hotelId}_cap`, cap);
  return cap;
}

function uniqueSuffix() {
  return `${Date.now().toString(36)}-${crypto.randomUUID()}`;
}

/**
 * MakeReservation({customerName, hotelIds, inDate, outDate, roomNumber}) -> [hotelId] when
 * booked, [] when some night has not `roomNumber` rooms left.
 *
 * As upstream: night by night, the rooms booked (cache, else the sum of the night's
 * documents) and the capacity (cache, else the database) are read; if booked + rooms
 * exceeds the capacity nothing is written. Otherwise the cached counts are updated and one
 * document per night is inserted (here in one atomic, durable batch). The check and the
 * writes are not one transaction (as upstream): concurrent bookings of a hotel's last rooms
 * can overbook it.
 */
export async function makeReservation({ customerName, hotelIds, inDate, outDate, roomNumber }) {
  await seeded();
  const hotelId = hotelIds[0];
  const stay = nights(inDate, outDate);
  const counts = [];
  for (const night of stay) {
    let count = await cache.get(nightKey(hotelId, night));
    if (count === undefined) count = await bookedInDb(hotelId, night);
    counts.push(count + roomNumber);
    const cap = await capacity(hotelId);
    if (count + roomNumber > cap) return [];
  }
  if (stay.length > 0) {
    await cache.batch(stay.map((night, i) => ({ op: "put", key: nightKey(hotelId, night), value: counts[i] })));
    const uniq = uniqueSuffix();
    await db.batch(
      stay.map((night) => ({
        op: "put",
        key: resPrefix(hotelId, night) + uniq,
        value: { hotelId, customerName, inDate: night.start, outDate: night.end, number: roomNumber },
      })),
    );
  }
  return [hotelId];
}

/**
 * CheckAvailability({customerName, hotelIds, inDate, outDate, roomNumber}) -> the hotel ids
 * (in the order asked) with `roomNumber` rooms left every night of the stay.
 */
export async function checkAvailability({ hotelIds, inDate, outDate, roomNumber }) {
  await seeded();
  const ids = [...new Set(hotelIds)];
  const stay = nights(inDate, outDate);
  // Capacities: the multi-get, then the misses from the database ({hotelId: {$in: misses}}).
  const caps = await Promise.all(ids.map((id) => cache.get(`${id}_cap`)));
  const capMisses = ids.filter((_, i) => caps[i] === undefined);
  if (capMisses.length > 0) {
    const docs = await Promise.all(capMisses.map((id) => db.get(`number/${id}`)));
    const fills = [];
    capMisses.forEach((id, j) => {
      if (docs[j] !== undefined) fills.push({ op: "put", key: `${id}_cap`, value: docs[j].numberOfRoom });
    });
    ids.forEach((id, i) => {
      if (caps[i] === undefined) {
        const doc = docs[capMisses.indexOf(id)];
        caps[i] = doc === undefined ? 0 : doc.numberOfRoom;
      }
    });
    if (fills.length > 0) await cache.batch(fills);
  }
  // Booked counts of every (hotel, night): the multi-get, then the misses from the database.
  const cells = [];
  ids.forEach((id, i) => stay.forEach((night) => cells.push({ i, id, night })));
  const counts = await Promise.all(cells.map((c) => cache.get(nightKey(c.id, c.night))));
  const missing = cells.filter((_, j) => counts[j] === undefined);
  if (missing.length > 0) {
    const fetched = await Promise.all(missing.map((c) => bookedInDb(c.id, c.night)));
    let m = 0;
    cells.forEach((_, j) => {
      if (counts[j] === undefined) counts[j] = fetched[m++];
    });
    await cache.batch(missing.map((c, j) => ({ op: "put", key: nightKey(c.id, c.night), value: fetched[j] })));
  }
  const ok = ids.map(() => true);
  cells.forEach((c, j) => {
    if (counts[j] + roomNumber > caps[c.i]) ok[c.i] = false;
  });
  return ids.filter((_, i) => ok[i]);
}
