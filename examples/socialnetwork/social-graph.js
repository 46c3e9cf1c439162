// social-graph (A.5.8).
//
// Stores:
//   "social-graph" (Mongo social-graph.social-graph; durable)
//       u/<user_id>                 -> {user_id}                       the user's document
//       fr/<user_id>/<follower_id>  -> {user_id: follower, timestamp}  an element of `followers`
//       fe/<user_id>/<followee_id>  -> {user_id: followee, timestamp}  an element of `followees`
//   "social-graph-cache" (Redis social-graph; relaxed): the sorted sets
//       "<user_id>:followers" and "<user_id>:followees" (member = id, score = follow time),
//       laid out by lib/zset.js.
import { services, store } from "pyrosome";
import { handlerError } from "./lib/errors.js";
import * as z from "./lib/zset.js";

const graph = store("social-graph");
const cache = store("social-graph-cache");

/** InsertUser(req_id, user_id). */
export async function insertUser({ req_id, user_id }) {
  if (!(await graph.putIfAbsent(`u/${user_id}`, { user_id }))) {
    throw handlerError(`Failed to insert social graph for user ${user_id}: duplicate key`);
  }
}

// findAndModify {user_id: owner, <array>.user_id != other} $push {user_id: other, timestamp}:
// no upsert, so a missing document is a silent no-op.
async function pushUnique(array, owner, other, timestamp) {
  if ((await graph.get(`u/${owner}`)) === undefined) return;
  await graph.putIfAbsent(`${array}/${owner}/${other}`, { user_id: other, timestamp });
}

async function pull(array, owner, other) {
  await graph.delete(`${array}/${owner}/${other}`);
}

/** Follow(req_id, user_id, followee_id): three operations at once. */
export async function follow({ req_id, user_id, followee_id }) {
  const ts = Date.now();
  await Promise.all([
    pushUnique("fe", user_id, followee_id, ts),
    pushUnique("fr", followee_id, user_id, ts),
    // The Redis pipeline of two ZADD NX; written whether or not the sets were loaded (A.9 quirk 8).
    Promise.all([
      z.zaddNx(cache, `${user_id}:followees`, followee_id, ts),
      z.zaddNx(cache, `${followee_id}:followers`, user_id, ts),
    ]),
  ]);
}

/** Unfollow(req_id, user_id, followee_id). */
export async function unfollow({ req_id, user_id, followee_id }) {
  await Promise.all([
    pull("fe", user_id, followee_id),
    pull("fr", followee_id, user_id),
    Promise.all([
      z.zrem(cache, `${user_id}:followees`, followee_id),
      z.zrem(cache, `${followee_id}:followers`, user_id),
    ]),
  ]);
}

async function members(array, suffix, user_id, missingIsError) {
  const set = `${user_id}:${suffix}`;
  const cached = await z.zrangeAll(cache, set);
  if (cached.length > 0) return cached;
  if ((await graph.get(`u/${user_id}`)) === undefined) {
    if (missingIsError) throw handlerError("Cannot find user_id in MongoDB.");
    console.warn(`user_id ${user_id} is not found in MongoDB`);
    return [];
  }
  const docs = (await graph.list({ prefix: `${array}/${user_id}/` })).map((e) => e.value);
  // Refill the cache; it was just seen empty.
  await z.zadd(cache, set, docs.map((d) => [d.user_id, d.timestamp]));
  return docs.map((d) => d.user_id);
}

/** GetFollowers(req_id, user_id) -> list<i64>; an unknown user has none. */
export async function getFollowers({ req_id, user_id }) {
  return members("fr", "followers", user_id, false);
}

/** GetFollowees(req_id, user_id) -> list<i64>; an unknown user throws. */
export async function getFollowees({ req_id, user_id }) {
  return members("fe", "followees", user_id, true);
}

async function resolve(req_id, user_name, followee_name) {
  return Promise.all([
    services.user.getUserId({ req_id, username: user_name }),
    services.user.getUserId({ req_id, username: followee_name }),
  ]);
}

/** FollowWithUsername(req_id, user_name, followee_name). */
export async function followWithUsername({ req_id, user_name, followee_name }) {
  const [user_id, followee_id] = await resolve(req_id, user_name, followee_name);
  await follow({ req_id, user_id, followee_id });
}

/** UnfollowWithUsername(req_id, user_name, followee_name). */
export async function unfollowWithUsername({ req_id, user_name, followee_name }) {
  const [user_id, followee_id] = await resolve(req_id, user_name, followee_name);
  await unfollow({ req_id, user_id, followee_id });
}
