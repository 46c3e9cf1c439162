// user-timeline (A.5.10).
//
// Stores:
//   "user-timeline" (Mongo user-timeline.user-timeline; durable): the `posts` array of a user,
//       <user_id>/<timestamp, 13 digits>/<post_id> -> {post_id, timestamp}
//       so a reverse prefix scan lists it newest first (the array's order, push at position 0).
//   "user-timeline-cache" (Redis user-timeline; relaxed): the sorted set "<user_id>" (lib/zset.js).
import { services, store } from "pyrosome";
import { pad13 } from "./lib/ids.js";
import * as z from "./lib/zset.js";

const timelines = store("user-timeline");
const cache = store("user-timeline-cache");

/** WriteUserTimeline(req_id, post_id, user_id, timestamp). */
export async function writeUserTimeline({ req_id, post_id, user_id, timestamp }) {
  // findAndModify with upsert: $push at position 0.
  await timelines.put(`${user_id}/${pad13(timestamp)}/${post_id}`, { post_id, timestamp });
  // Then ZADD NX.
  await z.zaddNx(cache, String(user_id), post_id, timestamp);
}

/** ReadUserTimeline(req_id, user_id, start, stop) -> list<Post>: ranks [start, stop), newest first. */
export async function readUserTimeline({ req_id, user_id, start, stop }) {
  if (stop <= start || start < 0) return [];
  const set = String(user_id);
  const ids = await z.zrevrange(cache, set, start, stop);
  let refill = [];
  if (start + ids.length < stop) {
    // The cache is short: read the document, `posts $slice [0, stop]`.
    const entries = await timelines.list({ prefix: `${user_id}/`, reverse: true, limit: stop });
    const have = new Set(ids.map(String));
    for (let i = start + ids.length; i < entries.length; i++) {
      const id = entries[i].value.post_id;
      if (!have.has(String(id))) ids.push(id);
    }
    refill = entries.map((e) => [e.value.post_id, e.value.timestamp]);
  }
  const [posts] = await Promise.all([
    services["post-storage"].readPosts({ req_id, post_ids: ids }),
    refill.length > 0 ? z.zadd(cache, set, refill) : undefined,
  ]);
  return posts;
}
