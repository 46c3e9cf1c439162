// user (A.5.7): registration, login (HS256 JWT), name -> id resolution.
//
// Stores:
//   "user"       (Mongo user.user)   name/<username> -> {user_id, first_name, last_name, username, salt, password}
//                                    id/<user_id>    -> username   (the unique index on user_id)
//   "user-cache" (Memcached user)    <username>:user_id -> user_id
//                                    <username>:login   -> {password, salt, user_id}
//   "unique-id"                      machine-id claims of the id generator (RegisterUser)
import { env, services, store } from "pyrosome";
import { ErrorCode, ServiceException, handlerError } from "./lib/errors.js";
import { sha256Hex } from "./lib/sha256.js";
import { sign } from "./lib/jwt.js";
import { randomAlnum } from "./lib/random.js";
import { generator } from "./lib/snowflake.js";

const users = store("user");
const cache = store("user-cache");
const nextId = generator(store("unique-id"), "user");

const TTL = "3600";

async function register(req_id, first_name, last_name, username, password, user_id) {
  // Upstream: find the username, then insert. The insert here is conditional
  // on both the username and the user_id, so a lost race cannot create a
  // second user with the same name (A.9 quirk 10 is not kept).
  if ((await users.get(`name/${username}`)) !== undefined) {
    throw handlerError(`User ${username} already existed`);
  }
  const salt = randomAlnum(32);
  const doc = { user_id, first_name, last_name, username, salt, password: sha256Hex(password + salt) };
  const r = await users.batch([
    { op: "putIfAbsent", key: `name/${username}`, value: doc },
    { op: "putIfAbsent", key: `id/${user_id}`, value: username },
  ]);
  if (!r.ok) {
    if (r.conflict === 0) throw handlerError(`User ${username} already existed`);
    throw new ServiceException(
      ErrorCode.SE_MONGODB_ERROR,
      `Failed to insert user ${username} to MongoDB: duplicate key user_id ${user_id}`,
    );
  }
  await services["social-graph"].insertUser({ req_id, user_id });
}

/** RegisterUserWithId(req_id, first_name, last_name, username, password, user_id). */
export async function registerUserWithId({ req_id, first_name, last_name, username, password, user_id }) {
  await register(req_id, first_name, last_name, username, password, user_id);
}

/** RegisterUser(req_id, first_name, last_name, username, password): the id is generated. */
export async function registerUser({ req_id, first_name, last_name, username, password }) {
  const user_id = await nextId();
  await register(req_id, first_name, last_name, username, password, user_id);
  return user_id;
}

/** Login(req_id, username, password) -> JWT. */
export async function login({ req_id, username, password }) {
  let entry = await cache.get(`${username}:login`);
  const miss = entry === undefined;
  if (miss) {
    const doc = await users.get(`name/${username}`);
    if (doc === undefined) {
      throw new ServiceException(ErrorCode.SE_UNAUTHORIZED, `User: ${username} is not registered`);
    }
    entry = { password: doc.password, salt: doc.salt, user_id: doc.user_id };
  }
  if (sha256Hex(password + entry.salt) !== entry.password) {
    throw new ServiceException(ErrorCode.SE_UNAUTHORIZED, "Incorrect username or password");
  }
  const token = sign(
    {
      user_id: String(entry.user_id),
      username,
      timestamp: String(Math.floor(Date.now() / 1000)),
      ttl: TTL,
    },
    env.JWT_SECRET,
  );
  // Cached forever, never invalidated (A.9 quirk 11).
  if (miss) await cache.put(`${username}:login`, entry);
  return token;
}

async function userIdOf(username) {
  const cached = await cache.get(`${username}:user_id`);
  if (cached !== undefined) return cached;
  const doc = await users.get(`name/${username}`);
  if (doc === undefined) throw handlerError(`User: ${username} doesn't exist in MongoDB`);
  await cache.put(`${username}:user_id`, doc.user_id);
  return doc.user_id;
}

/** GetUserId(req_id, username) -> i64. */
export async function getUserId({ req_id, username }) {
  return userIdOf(username);
}

/** ComposeCreatorWithUsername(req_id, username) -> Creator. */
export async function composeCreatorWithUsername({ req_id, username }) {
  return { user_id: await userIdOf(username), username };
}

/** ComposeCreatorWithUserId(req_id, user_id, username) -> Creator; no I/O, no validation (A.9 quirk 7). */
export async function composeCreatorWithUserId({ req_id, user_id, username }) {
  return { user_id, username };
}
