// compose-review: the fan-in of the compose-review flow. Four concurrent
// branches upload the five parts of a review (review_id, user_id, movie_id,
// text, rating); the upload that completes the set composes the review and,
// within its own call chain, stores it three ways in parallel.
//
// Store "compose-review" (upstream: the compose-review Memcached, a
// per-request aggregator; relaxed):
//   <req_id>:<part>     -> the part's value
//   <req_id>:composed   -> 1: the claim of the upload that composed the review
//
// Upstream creates "<req_id>:counter" with ADD and INCRs it after each part;
// the upload that raises it to 5 composes. The store has no INCR, so here
// every upload writes its part, then reads all five: the one that finds them
// all claims the review with putIfAbsent("<req_id>:composed"). Reads see every
// acknowledged write, so the last part's upload always finds all five; when
// several uploads find them (they finished at about the same moment),
// putIfAbsent lets exactly one compose. The parts are deleted once the review
// is stored (upstream lets them expire after 10 s); the claim is kept, so a
// late upload can never claim the same request again.
import { services, store } from "pyrosome";

const parts = store("compose-review");
export const PARTS = ["review_id", "user_id", "movie_id", "text", "rating"];

async function upload(req_id, part, value) {
  await parts.put(`${req_id}:${part}`, value);
  const values = await Promise.all(PARTS.map((p) => parts.get(`${req_id}:${p}`)));
  if (values.some((v) => v === undefined)) return;
  if (!(await parts.putIfAbsent(`${req_id}:composed`, 1))) return;
  const [review_id, user_id, movie_id, text, rating] = values;
  const timestamp = Date.now();
  const review = { review_id, user_id, req_id, text, movie_id, rating, timestamp };
  await Promise.all([
    services["review-storage"].storeReview({ req_id, review }),
    services["user-review"].uploadUserReview({ req_id, user_id, review_id, timestamp }),
    services["movie-review"].uploadMovieReview({ req_id, movie_id, review_id, timestamp }),
  ]);
  await discard({ req_id });
}

/** UploadUniqueId(req_id, review_id). */
export async function uploadUniqueId({ req_id, review_id }) {
  await upload(req_id, "review_id", review_id);
}

/** UploadUserId(req_id, user_id). */
export async function uploadUserId({ req_id, user_id }) {
  await upload(req_id, "user_id", user_id);
}

/** UploadMovieId(req_id, movie_id). */
export async function uploadMovieId({ req_id, movie_id }) {
  await upload(req_id, "movie_id", movie_id);
}

/** UploadText(req_id, text). */
export async function uploadText({ req_id, text }) {
  await upload(req_id, "text", text);
}

/** UploadRating(req_id, rating). */
export async function uploadRating({ req_id, rating }) {
  await upload(req_id, "rating", rating);
}

/**
 * Deletes the parts of a request (not upstream: its keys expire after 10 s).
 * The composing upload calls it once the review is stored; the gateway calls
 * it when a branch failed and the review will never be complete.
 */
export async function discard({ req_id }) {
  await parts.batch(PARTS.map((p) => ({ op: "delete", key: `${req_id}:${p}` })));
}
