// search: Search.Nearby(lat, lon, inDate, outDate) -> hotelIds: geo, then
// rate; the ids are those of the rate plans (so, nearby hotels with a rate
// plan, highest rate first).
import { services } from "pyrosome";

/** Nearby({lat, lon, inDate, outDate}) -> list of hotel ids. */
export async function nearby({ lat, lon, inDate, outDate }) {
  const hotelIds = await services.geo.nearby({ lat, lon });
  const plans = await services.rate.getRates({ hotelIds, inDate, outDate });
  return plans.map((p) => p.hotelId);
}
