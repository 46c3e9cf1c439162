// rating: records an uncommitted rating and uploads it to compose-review,
// both at once.
//
// Store "rating" (upstream: Redis, INCRBY "<movie_id>:uncommit_sum" rating and
// INCR "<movie_id>:uncommit_num"; relaxed). The store has no atomic increment,
// and a read-modify-write would lose concurrent ratings, so each rating is
// one entry and the two counters are a scan of the movie's entries:
//   uncommit/<movie_id>/<req_id> -> rating
// Nothing reads them upstream (MovieInfo.UpdateRating is never called);
// uncommitted() is here for that use.
import { services, store } from "pyrosome";

const ratings = store("rating");
const prefix = (movie_id) => `uncommit/${encodeURIComponent(movie_id)}/`;

/** UploadRating(req_id, movie_id, rating). */
export async function uploadRating({ req_id, movie_id, rating }) {
  await Promise.all([
    services["compose-review"].uploadRating({ req_id, rating }),
    ratings.put(prefix(movie_id) + req_id, rating),
  ]);
}

/** The uncommitted sum and count of a movie's ratings ("<movie_id>:uncommit_sum" / ":uncommit_num"). */
export async function uncommitted({ req_id, movie_id }) {
  const entries = await ratings.list({ prefix: prefix(movie_id) });
  return { sum: entries.reduce((s, e) => s + e.value, 0), num: entries.length };
}
