// user: registration (salted SHA-256) and the user branch of compose-review.
//
// Stores:
//   "user"       (Mongo user; durable)   name/<username> -> {user_id, first_name, last_name, username, salt, password}
//                                        id/<user_id>    -> username   (the unique index on user_id)
//   "user-cache" (Memcached user; relaxed) <username>:user_id, <username>:password, <username>:salt
//                                        (three keys, unlike the social network's single ":login")
//   "unique-id"                          machine-id claims of the id generator (RegisterUser)
import { services, store } from "pyrosome";
import { ErrorCode, ServiceException, handlerError } from "./lib/errors.js";
import { sha256Hex } from "./lib/sha256.js";
import { randomAlnum } from "./lib/random.js";
import { generator } from "./lib/snowflake.js";

const users = store("user");
const cache = store("user-cache");
const nextId = generator(store("unique-id"), "user");

async function register(first_name, last_name, username, password, user_id) {
  // Upstream finds the username, then inserts. The insert is conditional on
  // both the username and the user_id, so a lost race cannot make two users
  // of one name.
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
  return user_id;
}

/** RegisterUser(req_id, first_name, last_name, username, password) -> user_id (generated). */
export async function registerUser({ req_id, first_name, last_name, username, password }) {
  return register(first_name, last_name, username, password, await nextId());
}

/** RegisterUserWithId(req_id, first_name, last_name, username, password, user_id). */
export async function registerUserWithId({ req_id, first_name, last_name, username, password, user_id }) {
  await register(first_name, last_name, username, password, user_id);
}

/** UploadUserWithUserId(req_id, user_id): no lookup, straight to compose-review. */
export async function uploadUserWithUserId({ req_id, user_id }) {
  await services["compose-review"].uploadUserId({ req_id, user_id });
}

/**
 * UploadUserWithUsername(req_id, username): "<username>:user_id" from the
 * cache, else the database (then the three cache keys are set), then
 * compose-review.UploadUserId. The password is not checked (upstream neither).
 */
export async function uploadUserWithUsername({ req_id, username }) {
  let user_id = await cache.get(`${username}:user_id`);
  if (user_id === undefined) {
    const doc = await users.get(`name/${username}`);
    if (doc === undefined) throw handlerError(`User: ${username} doesn't exist in MongoDB`);
    user_id = doc.user_id;
    await cache.batch([
      { op: "put", key: `${username}:user_id`, value: user_id },
      { op: "put", key: `${username}:password`, value: doc.password },
      { op: "put", key: `${username}:salt`, value: doc.salt },
    ]);
  }
  await services["compose-review"].uploadUserId({ req_id, user_id });
}

/**
 * Login(req_id, username, password) -> user_id: checks the salted hash
 * (cache first, then the database). Upstream returns a JWT; no route of
 * this benchmark calls Login, so it returns the user id instead.
 */
export async function login({ req_id, username, password }) {
  const [user_id, hashed, salt] = await Promise.all(
    ["user_id", "password", "salt"].map((k) => cache.get(`${username}:${k}`)),
  );
  let entry = { user_id, password: hashed, salt };
  if (user_id === undefined || hashed === undefined || salt === undefined) {
    const doc = await users.get(`name/${username}`);
    if (doc === undefined) {
      throw new ServiceException(ErrorCode.SE_UNAUTHORIZED, `User: ${username} is not registered`);
    }
    entry = { user_id: doc.user_id, password: doc.password, salt: doc.salt };
  }
  if (sha256Hex(password + entry.salt) !== entry.password) {
    throw new ServiceException(ErrorCode.SE_UNAUTHORIZED, "Incorrect username or password");
  }
  return entry.user_id;
}
