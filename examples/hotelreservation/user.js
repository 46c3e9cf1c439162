// user: User.CheckUser(username, password) -> correct: the hex SHA-256 of the
// password compared with the stored one.
//
// Store "user" (Mongo user-db.user; durable): <username> -> {username, password: hex SHA-256}.
// Loaded into a map once per instance, as upstream.
import { store } from "pyrosome";
import { seedOnce } from "./lib/init.js";
import { USERS, userPasswords } from "./lib/seed.js";

const db = store("user");
const encoder = new TextEncoder();
let users = null;

async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
  let s = "";
  for (const b of digest) s += b.toString(16).padStart(2, "0");
  return s;
}

async function load() {
  // Checked first: hashing 501 passwords only to find them stored is wasted work.
  if ((await db.get(`Cornell_${USERS - 1}`)) === undefined) {
    await seedOnce(db, () =>
      Promise.all(
        userPasswords().map(async (u) => [u.username, { username: u.username, password: await sha256Hex(u.password) }]),
      ),
    );
  }
  const map = new Map();
  for (const e of await db.list()) map.set(e.value.username, e.value.password);
  return map;
}

/** CheckUser({username, password}) -> boolean; false for an unknown user. */
export async function checkUser({ username, password }) {
  if (users === null) users = load();
  const map = await users.catch((e) => {
    users = null;
    throw e;
  });
  const hash = await sha256Hex(password);
  const stored = map.get(username);
  return stored !== undefined && stored === hash;
}
