// movie-review: each movie's reviews (lib/review-index.js).
//   "movie-review"       (Mongo movie-review; durable)
//   "movie-review-cache" (Redis movie-review; relaxed)
import { store } from "pyrosome";
import { reviewIndex } from "./lib/review-index.js";

const index = reviewIndex(store("movie-review"), store("movie-review-cache"));

/** UploadMovieReview(req_id, movie_id, review_id, timestamp). */
export async function uploadMovieReview({ req_id, movie_id, review_id, timestamp }) {
  await index.upload(movie_id, review_id, timestamp);
}

/** ReadMovieReviews(req_id, movie_id, start, stop) -> list<Review>: ranks [start, stop), newest first. */
export async function readMovieReviews({ req_id, movie_id, start, stop }) {
  return index.read(req_id, movie_id, start, stop);
}
