// home-timeline (A.5.11). Store "home-timeline" (Redis home-timeline; relaxed; the only
// store of home timelines, never trimmed): the sorted set "<user_id>" per user (lib/zset.js).
import { services, store } from "pyrosome";
import * as z from "./lib/zset.js";

const timelines = store("home-timeline");

/** WriteHomeTimeline(req_id, post_id, user_id, timestamp, user_mentions_id). */
export async function writeHomeTimeline({ req_id, post_id, user_id, timestamp, user_mentions_id = [] }) {
  const followers = await services["social-graph"].getFollowers({ req_id, user_id });
  // The set union of followers and mentioned users; the author is not added.
  const targets = new Map();
  for (const id of followers) targets.set(String(id), id);
  for (const id of user_mentions_id) targets.set(String(id), id);
  // One pipeline: ZADD NX "<id>" timestamp post_id, for each.
  await z.zaddNxMany(timelines, [...targets.keys()].map((id) => [id, post_id, timestamp]));
}

/** ReadHomeTimeline(req_id, user_id, start, stop) -> list<Post>: ranks [start, stop), newest first. */
export async function readHomeTimeline({ req_id, user_id, start, stop }) {
  if (stop <= start || start < 0) return [];
  const ids = await z.zrevrange(timelines, String(user_id), start, stop);
  // Made even when the list is empty.
  return services["post-storage"].readPosts({ req_id, post_ids: ids });
}
