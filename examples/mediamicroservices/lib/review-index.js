// The review lists of user-review and movie-review: a Mongo document
// {<owner>_id, reviews: [{review_id, timestamp}]} and a Redis sorted set keyed
// by the owner's id, as the social network's user timeline.
//
//   primary (durable): <owner>/<timestamp, 13 digits>/<review_id> -> {review_id, timestamp}
//                      the `reviews` array; a reverse prefix scan lists it newest first
//   cache (relaxed):   the sorted set "<owner>" (lib/zset.js)
//
// <owner> is the id as a string, URI-encoded (movie ids are strings and may hold "/").
import { services } from "pyrosome";
import { pad13 } from "./ids.js";
import * as z from "./zset.js";

export function reviewIndex(primary, cache) {
  const owner = (id) => encodeURIComponent(String(id));
  return {
    /** Appends a review: the document's array, then ZADD NX. */
    async upload(id, review_id, timestamp) {
      const set = owner(id);
      await primary.put(`${set}/${pad13(timestamp)}/${review_id}`, { review_id, timestamp });
      await z.zaddNx(cache, set, review_id, timestamp);
    },

    /** The reviews ranked [start, stop), newest first. */
    async read(req_id, id, start, stop) {
      if (stop <= start || start < 0) return [];
      const set = owner(id);
      const ids = await z.zrevrange(cache, set, start, stop);
      let refill = [];
      if (start + ids.length < stop) {
        // The cache is short: read the document's first `stop` reviews.
        const entries = await primary.list({ prefix: `${set}/`, reverse: true, limit: stop });
        const have = new Set(ids.map(String));
        for (let i = start + ids.length; i < entries.length; i++) {
          const rid = entries[i].value.review_id;
          if (!have.has(String(rid))) ids.push(rid);
        }
        refill = entries.map((e) => [e.value.review_id, e.value.timestamp]);
      }
      const [reviews] = await Promise.all([
        services["review-storage"].readReviews({ req_id, review_ids: ids }),
        refill.length > 0 ? z.zadd(cache, set, refill) : undefined,
      ]);
      return reviews;
    },
  };
}
