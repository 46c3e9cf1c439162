// review: Review.GetReviews(hotelId) -> reviews.
//
// Stores:
//   "review"       (Mongo review-db.reviews; durable)  <hotelId>/<reviewId> -> review
//   "review-cache" (Memcached; relaxed)                 <hotelId> -> [review] (possibly empty)
import { store } from "pyrosome";
import { seedOnce } from "./lib/init.js";
import { reviews } from "./lib/seed.js";

const db = store("review");
const cache = store("review-cache");

/** GetReviews({hotelId}) -> [{reviewId, name, rating, description, images}]. */
export async function getReviews({ hotelId }) {
  await seedOnce(db, () => reviews().map((r) => [`${r.hotelId}/${r.reviewId}`, r]));
  const cached = await cache.get(hotelId);
  if (cached !== undefined) return cached;
  const list = (await db.list({ prefix: `${hotelId}/` })).map(({ value: r }) => ({
    reviewId: r.reviewId,
    name: r.name,
    rating: r.rating,
    description: r.description,
    images: r.images,
  }));
  await cache.put(hotelId, list);
  return list;
}
