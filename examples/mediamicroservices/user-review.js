// user-review: each user's reviews (lib/review-index.js).
//   "user-review"       (Mongo user-review; durable)
//   "user-review-cache" (Redis user-review; relaxed)
import { store } from "pyrosome";
import { reviewIndex } from "./lib/review-index.js";

const index = reviewIndex(store("user-review"), store("user-review-cache"));

/** UploadUserReview(req_id, user_id, review_id, timestamp). */
export async function uploadUserReview({ req_id, user_id, review_id, timestamp }) {
  await index.upload(user_id, review_id, timestamp);
}

/** ReadUserReviews(req_id, user_id, start, stop) -> list<Review>: ranks [start, stop), newest first. */
export async function readUserReviews({ req_id, user_id, start, stop }) {
  return index.read(req_id, user_id, start, stop);
}
