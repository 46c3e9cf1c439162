// movie-id: title -> movie_id, registration, and the movie branch of compose-review.
//
// Stores:
//   "movie-id"       (Mongo movie-id; durable)  title/<title> -> {movie_id, title}
//                                                id/<movie_id> -> title (movie ids are unique too)
//   "movie-id-cache" (Memcached; relaxed)       <title> -> movie_id (the raw title is the key)
import { services, store } from "pyrosome";
import { ErrorCode, ServiceException, handlerError } from "./lib/errors.js";

const movies = store("movie-id");
const cache = store("movie-id-cache");

/** RegisterMovieId(req_id, title, movie_id). */
export async function registerMovieId({ req_id, title, movie_id }) {
  if ((await movies.get(`title/${title}`)) !== undefined) {
    throw handlerError(`Movie ${title} already existed in MongoDB`);
  }
  const r = await movies.batch([
    { op: "putIfAbsent", key: `title/${title}`, value: { movie_id, title } },
    { op: "putIfAbsent", key: `id/${movie_id}`, value: title },
  ]);
  if (!r.ok) {
    if (r.conflict === 0) throw handlerError(`Movie ${title} already existed in MongoDB`);
    throw new ServiceException(
      ErrorCode.SE_MONGODB_ERROR,
      `Failed to insert movie ${title} to MongoDB: duplicate key movie_id ${movie_id}`,
    );
  }
}

/**
 * UploadMovieId(req_id, title, rating): resolves the title (cache, then the
 * database, filling the cache on a miss), then concurrently
 * compose-review.UploadMovieId and rating.UploadRating.
 */
export async function uploadMovieId({ req_id, title, rating }) {
  let movie_id = await cache.get(title);
  if (movie_id === undefined) {
    const doc = await movies.get(`title/${title}`);
    if (doc === undefined) throw handlerError(`Movie ${title} is not found in MongoDB`);
    movie_id = doc.movie_id;
    await cache.put(title, movie_id);
  }
  await Promise.all([
    services["compose-review"].uploadMovieId({ req_id, movie_id }),
    services.rating.uploadRating({ req_id, movie_id, rating }),
  ]);
}
