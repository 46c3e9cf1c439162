// user-mention (A.5.4): resolves mentioned usernames to ids.
// Reads "user-cache" (Memcached user: "<username>:user_id") first, then
// "user" (Mongo user.user: "name/<username>"); misses are not written back and
// unknown usernames are dropped.
import { store } from "pyrosome";

const cache = store("user-cache");
const users = store("user");

/** ComposeUserMentions(req_id, usernames) -> list<UserMention>. */
export async function composeUserMentions({ req_id, usernames = [] }) {
  if (usernames.length === 0) return [];
  // The multi-get.
  const hits = await Promise.all(usernames.map((u) => cache.get(`${u}:user_id`)));
  const mentions = [];
  const missing = [];
  usernames.forEach((username, i) => {
    if (hits[i] !== undefined) mentions.push({ user_id: hits[i], username });
    else if (!missing.includes(username)) missing.push(username);
  });
  if (missing.length > 0) {
    // The Mongo `username $in [...]` query: each found user once.
    const docs = await Promise.all(missing.map((u) => users.get(`name/${u}`)));
    for (const doc of docs) {
      if (doc !== undefined) mentions.push({ user_id: doc.user_id, username: doc.username });
    }
  }
  return mentions;
}
