// post-storage (A.5.9).
//
// Stores:
//   "post"       (Mongo post.post; durable)      <post_id> -> the post document
//   "post-cache" (Memcached post-storage; relaxed) <post_id> -> the same document, filled on read only
import { store } from "pyrosome";
import { ErrorCode, ServiceException, handlerError } from "./lib/errors.js";

const posts = store("post");
const cache = store("post-cache");

/** StorePost(req_id, post): inserts the document; the cache is not written. */
export async function storePost({ req_id, post }) {
  if (!(await posts.putIfAbsent(String(post.post_id), post))) {
    throw new ServiceException(
      ErrorCode.SE_MONGODB_ERROR,
      `Failed to insert post ${post.post_id} to MongoDB: duplicate key`,
    );
  }
}

/** ReadPost(req_id, post_id) -> Post. */
export async function readPost({ req_id, post_id }) {
  const key = String(post_id);
  const cached = await cache.get(key);
  if (cached !== undefined) return cached;
  const post = await posts.get(key);
  if (post === undefined) throw handlerError(`Post_id: ${post_id} doesn't exist in MongoDB`);
  await cache.put(key, post);
  return post;
}

/** ReadPosts(req_id, post_ids) -> list<Post>, in input order; all or nothing. */
export async function readPosts({ req_id, post_ids }) {
  if (post_ids.length === 0) return [];
  const keys = post_ids.map(String);
  if (new Set(keys).size !== keys.length) throw handlerError("Post_ids are duplicated");
  // The multi-get from the cache, then the misses from the database.
  const found = await Promise.all(keys.map((k) => cache.get(k)));
  const misses = [];
  found.forEach((p, i) => {
    if (p === undefined) misses.push(i);
  });
  if (misses.length > 0) {
    const fetched = await Promise.all(misses.map((i) => posts.get(keys[i])));
    const fills = [];
    misses.forEach((i, j) => {
      if (fetched[j] !== undefined) {
        found[i] = fetched[j];
        fills.push({ op: "put", key: keys[i], value: fetched[j] });
      }
    });
    // The cache sets; awaited before reporting an incomplete set, as upstream.
    const filled = fills.length > 0 ? cache.batch(fills) : Promise.resolve();
    if (fetched.some((p) => p === undefined)) {
      await filled;
      throw handlerError("Return set incomplete");
    }
    await filled;
  }
  return found;
}
