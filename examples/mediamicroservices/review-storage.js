// review-storage: the reviews.
//
// Stores:
//   "review-storage" (Mongo review; durable)       <review_id> -> {review_id, user_id, req_id, text, movie_id, rating, timestamp}
//   "review-cache"   (Memcached review-storage; relaxed) <review_id> -> the same review, filled on read
import { store } from "pyrosome";
import { ErrorCode, ServiceException, handlerError } from "./lib/errors.js";

const reviews = store("review-storage");
const cache = store("review-cache");

/** StoreReview(req_id, review): inserts the document; the cache is not written. */
export async function storeReview({ req_id, review }) {
  if (!(await reviews.putIfAbsent(String(review.review_id), review))) {
    throw new ServiceException(
      ErrorCode.SE_MONGODB_ERROR,
      `Failed to insert review ${review.review_id} to MongoDB: duplicate key`,
    );
  }
}

/** ReadReviews(req_id, review_ids) -> list<Review>, in input order; all or nothing. */
export async function readReviews({ req_id, review_ids }) {
  if (review_ids.length === 0) return [];
  const keys = review_ids.map(String);
  if (new Set(keys).size !== keys.length) throw handlerError("Review_ids are duplicated");
  // The multi-get from the cache, then the misses from the database.
  const found = await Promise.all(keys.map((k) => cache.get(k)));
  const misses = [];
  found.forEach((r, i) => {
    if (r === undefined) misses.push(i);
  });
  if (misses.length > 0) {
    const fetched = await Promise.all(misses.map((i) => reviews.get(keys[i])));
    const fills = [];
    misses.forEach((i, j) => {
      if (fetched[j] !== undefined) {
        found[i] = fetched[j];
        fills.push({ op: "put", key: keys[i], value: fetched[j] });
      }
    });
    if (fills.length > 0) await cache.batch(fills);
    if (fetched.some((r) => r === undefined)) throw handlerError("Return set incomplete");
  }
  return found;
}
