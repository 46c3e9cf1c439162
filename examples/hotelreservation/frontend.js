// frontend: upstream's HTTP front end (port 5000 there). Every route is a GET
// with query parameters and answers JSON (errors: 400/500 with a text line).
//
//   /hotels?inDate&outDate&lat&lon[&locale]          search, availability, profiles -> GeoJSON
//   /recommendations?require&lat&lon[&locale]         recommendation, profiles -> GeoJSON
//   /user?username&password                           {"message": ...}
//   /reservation?inDate&outDate&hotelId&customerName&username&password[&number]
//   /review, /restaurants, /museums, /cinema ?username&password&hotelId
import { services } from "pyrosome";
import { isDateFormat, parseDate } from "./lib/dates.js";

const CORS = { "access-control-allow-origin": "*" };

class BadRequest extends Error {}

// Go's http.Error: the text and a newline, as text/plain.
function error(status, text) {
  return new Response(text + "\n", {
    status,
    headers: { ...CORS, "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" },
  });
}

// json.NewEncoder(w).Encode: the JSON and a newline.
function json(value) {
  return new Response(JSON.stringify(value) + "\n", {
    headers: { ...CORS, "content-type": "application/json" },
  });
}

function need(p, names, message) {
  const out = names.map((n) => p.get(n) ?? "");
  if (out.some((v) => v === "")) throw new BadRequest(message);
  return out;
}

// strconv.ParseFloat; upstream ignores the error (0).
function float(s) {
  const v = Number(s);
  return Number.isFinite(v) ? v : 0;
}

// A float32, as upstream's search request carries lat/lon.
const float32 = (s) => Math.fround(float(s));

// Upstream's geoJSONResponse (keys in encoding/json's order).
function geoJson(hotels) {
  return {
    features: hotels.map((h) => ({
      geometry: { coordinates: [h.address.lon, h.address.lat], type: "Point" },
      id: h.id,
      properties: { name: h.name, phone_number: h.phoneNumber },
      type: "Feature",
    })),
    type: "FeatureCollection",
  };
}

async function search(p) {
  const [inDate, outDate] = need(p, ["inDate", "outDate"], "Please specify inDate/outDate params");
  const [lat, lon] = need(p, ["lat", "lon"], "Please specify location params").map(float32);
  const locale = p.get("locale") || "en";
  const hotelIds = await services.search.nearby({ lat, lon, inDate, outDate });
  const available = await services.reservation.checkAvailability({
    customerName: "",
    hotelIds,
    inDate,
    outDate,
    roomNumber: 1,
  });
  return json(geoJson(await services.profile.getProfiles({ hotelIds: available, locale })));
}

async function recommend(p) {
  const [lat, lon] = need(p, ["lat", "lon"], "Please specify location params").map(float);
  const require = p.get("require");
  if (require !== "dis" && require !== "rate" && require !== "price") {
    throw new BadRequest("Please specify require params");
  }
  const hotelIds = await services.recommendation.getRecommendations({ require, lat, lon });
  const locale = p.get("locale") || "en";
  return json(geoJson(await services.profile.getProfiles({ hotelIds, locale })));
}

const credentials = (p) => need(p, ["username", "password"], "Please specify username and password");

async function user(p) {
  const [username, password] = credentials(p);
  const correct = await services.user.checkUser({ username, password });
  return json({ message: correct ? "Login successfully!" : "Failed. Please check your username and password. " });
}

async function reserve(p) {
  const [inDate, outDate] = need(p, ["inDate", "outDate"], "Please specify inDate/outDate params");
  if (!isDateFormat(inDate) || !isDateFormat(outDate)) {
    throw new BadRequest("Please check inDate/outDate format (YYYY-MM-DD)");
  }
  // Not upstream, which books nothing yet answers success for these: a date that is not in
  // the calendar, or a stay of no night.
  const a = parseDate(inDate);
  const b = parseDate(outDate);
  if (a === null || b === null) throw new BadRequest("Please check inDate/outDate: not a valid date");
  if (b <= a) throw new BadRequest("Please check inDate/outDate: outDate must be after inDate");
  const [hotelId] = need(p, ["hotelId"], "Please specify hotelId params");
  const [customerName] = need(p, ["customerName"], "Please specify customerName params");
  const [username, password] = credentials(p);
  // strconv.Atoi; upstream ignores the error (0 rooms).
  const num = p.get("number") ?? "";
  const roomNumber = /^[+-]?[0-9]+$/.test(num) ? Number(num) : 0;
  if (roomNumber < 0) throw new BadRequest("Please check number: it cannot be negative");

  const correct = await services.user.checkUser({ username, password });
  let message = correct ? "Reserve successfully!" : "Failed. Please check your username and password. ";
  // As upstream: the reservation is made even when the login failed (only the message differs).
  const booked = await services.reservation.makeReservation({
    customerName,
    hotelIds: [hotelId],
    inDate,
    outDate,
    roomNumber,
  });
  if (booked.length === 0) message = "Failed. Already reserved. ";
  return json({ message });
}

// /review and the attraction routes: the login is checked but, as upstream, its result
// does not change the answer, which reports only the count.
async function listing(p, fetchIds, what, none) {
  const [username, password] = credentials(p);
  await services.user.checkUser({ username, password });
  const [hotelId] = need(p, ["hotelId"], "Please specify hotelId params");
  const n = (await fetchIds(hotelId)).length;
  return json({ message: n === 0 ? none : `Have ${what} = ${n}` });
}

const ROUTES = {
  "/hotels": search,
  "/recommendations": recommend,
  "/user": user,
  "/reservation": reserve,
  "/review": (p) =>
    listing(p, async (hotelId) => services.review.getReviews({ hotelId }), "reviews", "Failed. No Reviews. "),
  "/restaurants": (p) =>
    listing(p, (hotelId) => services.attractions.nearbyRest({ hotelId }), "restaurants", "Failed. No Restaurants. "),
  "/museums": (p) =>
    listing(p, (hotelId) => services.attractions.nearbyMus({ hotelId }), "museums", "Failed. No Museums. "),
  "/cinema": (p) =>
    listing(p, (hotelId) => services.attractions.nearbyCinema({ hotelId }), "cinemas", "Failed. No Cinemas. "),
};

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const route = ROUTES[url.pathname];
    if (route === undefined) return error(404, "404 page not found");
    try {
      return await route(url.searchParams);
    } catch (e) {
      if (e instanceof BadRequest) return error(400, e.message);
      // A failed call: upstream answers the gRPC error's text with 500.
      return error(500, e && e.message !== undefined ? e.message : String(e));
    }
  },
};
