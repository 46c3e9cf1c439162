// movie-info: a movie's record.
//   "movie-info"       (Mongo movie-info; durable) <movie_id> -> {movie_id, title, casts: [{cast_id, character,
//                      cast_info_id}], plot_id, thumbnail_ids, photo_ids, video_ids, avg_rating, num_rating}
//   "movie-info-cache" (Memcached; relaxed)        the same, filled on read
import { store } from "pyrosome";
import { handlerError } from "./lib/errors.js";
import { readOne } from "./lib/cached.js";

const infos = store("movie-info");
const cache = store("movie-info-cache");

/** WriteMovieInfo(req_id, movie_id, title, casts, plot_id, thumbnail_ids, photo_ids, video_ids, avg_rating, num_rating). */
export async function writeMovieInfo({ req_id, ...info }) {
  const doc = {
    movie_id: info.movie_id,
    title: info.title,
    casts: info.casts,
    plot_id: info.plot_id,
    thumbnail_ids: info.thumbnail_ids,
    photo_ids: info.photo_ids,
    video_ids: info.video_ids,
    avg_rating: info.avg_rating,
    num_rating: info.num_rating,
  };
  await infos.put(doc.movie_id, doc);
  await cache.delete(doc.movie_id);
}

const missing = (movie_id) => () => handlerError(`Movie_id: ${movie_id} doesn't exist in MongoDB`);

/** ReadMovieInfo(req_id, movie_id) -> MovieInfo. */
export async function readMovieInfo({ req_id, movie_id }) {
  return readOne(infos, cache, movie_id, missing(movie_id));
}

/**
 * UpdateRating(req_id, movie_id, sum_uncommitted_rating, num_uncommitted_rating):
 * folds uncommitted ratings into avg_rating / num_rating. Nothing calls it
 * (upstream neither), so ratings stay uncommitted.
 */
export async function updateRating({ req_id, movie_id, sum_uncommitted_rating, num_uncommitted_rating }) {
  const doc = await infos.get(movie_id);
  if (doc === undefined) throw missing(movie_id)();
  const num = doc.num_rating + num_uncommitted_rating;
  const avg_rating = num === 0 ? 0 : (doc.avg_rating * doc.num_rating + sum_uncommitted_rating) / num;
  await infos.put(movie_id, { ...doc, avg_rating, num_rating: num });
  await cache.delete(movie_id);
}
