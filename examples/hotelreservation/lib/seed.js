// The seed data of upstream's hotelReservation (DeathStarBench, GPL-2.0; see
// README.md, "Data"), generated deterministically. Each service writes the
// part it owns into its own store the first time it is used (lib/init.js),
// as upstream's services insert theirs into MongoDB at start-up.
//
// Facts only: the six San Francisco hotels' names, addresses, phone numbers
// and coordinates, and the generation rules for hotels 7..80. The texts are
// short descriptions written for this port.

export const HOTELS = 80;
export const USERS = 501; // Cornell_0 .. Cornell_500

// Six real hotels (upstream's fixed entries). `geo` is the point of the geo
// and attractions indexes; `profileLat` the latitude of the profile's address,
// which upstream gives differently for hotel 3 (37.7834 vs 37.7854).
const FIXED = [
  { id: "1", name: "Clift Hotel", phone: "(415) 775-4700", street: ["495", "Geary St"], zip: "94102", lat: 37.7867, lon: -122.4112, rate: 109, price: 150 },
  { id: "2", name: "W San Francisco", phone: "(415) 777-5300", street: ["181", "3rd St"], zip: "94103", lat: 37.7854, lon: -122.4005, rate: 139, price: 120 },
  { id: "3", name: "Hotel Zetta", phone: "(415) 543-8555", street: ["55", "5th St"], zip: "94103", lat: 37.7854, lon: -122.4071, profileLat: 37.7834, rate: 109, price: 190 },
  { id: "4", name: "Hotel Vitale", phone: "(415) 278-3700", street: ["8", "Mission St"], zip: "94105", lat: 37.7936, lon: -122.393, rate: 129, price: 160 },
  { id: "5", name: "Phoenix Hotel", phone: "(415) 776-1380", street: ["601", "Eddy St"], zip: "94109", lat: 37.7831, lon: -122.4181, rate: 119, price: 140 },
  { id: "6", name: "St. Regis San Francisco", phone: "(415) 284-4000", street: ["125", "3rd St"], zip: "94109", lat: 37.7863, lon: -122.4015, rate: 149, price: 200 },
];

// Coordinates rounded to 1e-6 degrees (about 0.1 m), so that they print as
// the decimals they are meant to be.
const round6 = (x) => Math.round(x * 1e6) / 1e6;

/** Hotel i (1..80): {id, lat, lon} as upstream's geo-db. */
export function point(i) {
  if (i <= 6) {
    const h = FIXED[i - 1];
    return { hotelId: h.id, lat: h.lat, lon: h.lon };
  }
  return { hotelId: String(i), lat: round6(37.7835 + (i / 500) * 3), lon: round6(-122.41 + (i / 500) * 4) };
}

/** geo-db.geo: every hotel's point. */
export function geoPoints() {
  const out = [];
  for (let i = 1; i <= HOTELS; i++) out.push(point(i));
  return out;
}

/** profile-db.hotels: one profile per hotel (the same name and street for hotels 7..80, as upstream). */
export function profiles() {
  const out = [];
  for (let i = 1; i <= HOTELS; i++) {
    const h = i <= 6 ? FIXED[i - 1] : { ...FIXED[5], phone: `(415) 284-40${i}` };
    const p = point(i);
    out.push({
      id: String(i),
      name: h.name,
      phoneNumber: h.phone,
      description: `${h.name}, ${h.street[0]} ${h.street[1]}, San Francisco.`,
      address: {
        streetNumber: h.street[0],
        streetName: h.street[1],
        city: "San Francisco",
        state: "CA",
        country: "United States",
        postalCode: h.zip,
        lat: i <= 6 ? (h.profileLat ?? h.lat) : p.lat,
        lon: p.lon,
      },
    });
  }
  return out;
}

function roomType(rate, inclusive, code, description) {
  return { bookableRate: rate, code, roomDescription: description, totalRate: rate, totalRateInclusive: inclusive };
}

// Hotels 7..80 with i % 3 == 0: the rate by i % 5 (0: 109, 1: 120, 2: 124, 3: 132, 4: 232)
// and its tax-inclusive total.
const BY_MOD5 = [
  [109, 123.17],
  [120, 140],
  [124, 144],
  [132, 158],
  [232, 258],
];

/** rate-db.inventory: rate plans for hotels 1-3 and for i in 7..80 divisible by 3. */
export function ratePlans() {
  const out = [
    { hotelId: "1", code: "RACK", inDate: "2015-04-09", outDate: "2015-04-10", roomType: roomType(109, 123.17, "KNG", "King sized bed") },
    { hotelId: "2", code: "RACK", inDate: "2015-04-09", outDate: "2015-04-10", roomType: roomType(139, 153.09, "QN", "Queen sized bed") },
    { hotelId: "3", code: "RACK", inDate: "2015-04-09", outDate: "2015-04-10", roomType: roomType(109, 123.17, "KNG", "King sized bed") },
  ];
  for (let i = 7; i <= HOTELS; i++) {
    if (i % 3 !== 0) continue;
    const [rate, inclusive] = BY_MOD5[i % 5];
    out.push({
      hotelId: String(i),
      code: "RACK",
      inDate: "2015-04-09",
      outDate: i % 2 === 0 ? "2015-04-17" : "2015-04-24",
      roomType: roomType(rate, inclusive, "KNG", "King sized bed"),
    });
  }
  return out;
}

/** reservation-db.number: rooms per hotel (200; for i >= 7: 300 when i%3==1, 250 when i%3==2). */
export function capacities() {
  const out = [];
  for (let i = 1; i <= HOTELS; i++) {
    let n = 200;
    if (i >= 7 && i % 3 === 1) n = 300;
    else if (i >= 7 && i % 3 === 2) n = 250;
    out.push({ hotelId: String(i), numberOfRoom: n });
  }
  return out;
}

/** reservation-db.reservation: the one seeded reservation. */
export function reservations() {
  return [{ hotelId: "4", customerName: "Alice", inDate: "2015-04-09", outDate: "2015-04-10", number: 1 }];
}

/** recommendation-db.recommendation: point, rate and price of each hotel. */
export function recommendations() {
  const out = [];
  for (let i = 1; i <= HOTELS; i++) {
    const p = point(i);
    let rate = 135;
    let price = 179;
    if (i <= 6) {
      // Upstream gives hotel 3's recommendation the profile's latitude.
      const h = FIXED[i - 1];
      rate = h.rate;
      price = h.price;
      p.lat = h.profileLat ?? h.lat;
    } else if (i % 3 === 0) {
      [rate, price] = BY_MOD5[i % 5];
    }
    out.push({ hotelId: p.hotelId, lat: p.lat, lon: p.lon, rate, price });
  }
  return out;
}

/** user-db.user: Cornell_<i>, password str(i) repeated 10 times (stored as hex SHA-256). */
export function userPasswords() {
  const out = [];
  for (let i = 0; i < USERS; i++) out.push({ username: `Cornell_${i}`, password: String(i).repeat(10) });
  return out;
}

/** review-db.reviews: four reviews of hotel 1, two of hotel 2. */
export function reviews() {
  const ratings = [
    ["1", 3.4],
    ["1", 4.4],
    ["1", 4.2],
    ["1", 3.9],
    ["2", 4.2],
    ["2", 3.7],
  ];
  return ratings.map(([hotelId, rating], k) => ({
    reviewId: String(k + 1),
    hotelId,
    name: `Person ${k + 1}`,
    rating,
    description: `Review ${k + 1} of hotel ${hotelId}.`,
    images: { url: "some url", default: false },
  }));
}

/** attractions-db: the hotels it knows (1-6), restaurants and museums; no cinemas (as upstream). */
export function attractions() {
  const hotels = FIXED.map((h) => ({ hotelId: h.id, lat: h.lat, lon: h.lon }));
  const restaurants = [
    ["1", 37.7867, -122.4112, "R1", 3.5, "fusion"],
    ["2", 37.7857, -122.4012, "R2", 3.9, "italian"],
    ["3", 37.7847, -122.3912, "R3", 4.5, "sushi"],
    ["4", 37.7862, -122.4212, "R4", 3.2, "sushi"],
    ["5", 37.7839, -122.4052, "R5", 4.9, "fusion"],
    ["6", 37.7831, -122.3812, "R6", 4.1, "american"],
  ].map(([id, lat, lon, name, rating, type]) => ({ restaurantId: id, lat, lon, restaurantName: name, rating, type }));
  const museums = [
    ["1", 35.7867, -122.4112, "M1", "history"],
    ["2", 36.7867, -122.5112, "M2", "history"],
    ["3", 38.7867, -122.4612, "M3", "nature"],
    ["4", 37.7867, -122.4912, "M4", "nature"],
    ["5", 36.9867, -122.4212, "M5", "nature"],
    ["6", 37.3867, -122.5012, "M6", "technology"],
  ].map(([id, lat, lon, name, type]) => ({ museumId: id, lat, lon, museumName: name, type }));
  return { hotels, restaurants, museums, cinemas: [] };
}
