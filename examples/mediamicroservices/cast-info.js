// cast-info: the people of a movie's cast.
//   "cast-info"       (Mongo cast-info; durable)  <cast_info_id> -> {cast_info_id, name, gender, intro}
//   "cast-info-cache" (Memcached; relaxed)        the same, filled on read
import { store } from "pyrosome";
import { handlerError } from "./lib/errors.js";
import { readMany } from "./lib/cached.js";

const casts = store("cast-info");
const cache = store("cast-info-cache");

/** WriteCastInfo(req_id, cast_info_id, name, gender, intro): inserts or replaces; the cache entry is dropped. */
export async function writeCastInfo({ req_id, cast_info_id, name, gender, intro }) {
  const key = String(cast_info_id);
  await casts.put(key, { cast_info_id, name, gender, intro });
  await cache.delete(key);
}

/** ReadCastInfo(req_id, cast_ids) -> list<CastInfo>, in order; all or nothing. */
export async function readCastInfo({ req_id, cast_ids }) {
  return readMany(casts, cache, cast_ids.map(String), () => handlerError("cast-info-service return set incomplete"));
}
