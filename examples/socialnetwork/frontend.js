// frontend: the nginx-thrift gateway of A.7. Each route makes one call to a
// backend service. /wrk2-api/* are the benchmark routes (no auth); /api/* are
// the browser routes (auth by the `login_token` JWT cookie, CORS).
import { env, services } from "pyrosome";
import { parseI64, randomReqId } from "./lib/ids.js";
import { verify } from "./lib/jwt.js";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers":
    "DNT,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,Content-Type,Range",
  "access-control-expose-headers": "Content-Length,Content-Range",
};

class BadRequest extends Error {}

// ngx.say: the body and a newline.
function say(status, body, headers = {}) {
  return new Response(body + "\n", { status, headers: { "content-type": TEXT, ...headers } });
}

function redirect(location, headers = {}) {
  return new Response(null, { status: 302, headers: { location, ...headers } });
}

// A field is empty when absent or "".
const empty = (v) => v === null || v === undefined || v === "";

function required(params, names) {
  const out = {};
  for (const n of names) {
    const v = params.get(n);
    if (empty(v)) throw new BadRequest("Incomplete arguments");
    out[n] = v;
  }
  return out;
}

function id(v, name) {
  const n = parseI64(v);
  if (n === null) throw new BadRequest(`Invalid arguments: ${name} must be an integer`);
  return n;
}

function int(v, name) {
  if (!/^-?[0-9]+$/.test(v)) throw new BadRequest(`Invalid arguments: ${name} must be an integer`);
  return Number(v);
}

async function form(request) {
  return new URLSearchParams(await request.text());
}

// The timeline JSON of A.7: ids and timestamps as strings, post_type a number.
function postJson(p) {
  return {
    post_id: String(p.post_id),
    creator: { user_id: String(p.creator.user_id), username: p.creator.username },
    req_id: String(p.req_id),
    text: p.text,
    user_mentions: p.user_mentions.map((m) => ({ user_id: String(m.user_id), username: m.username })),
    media: p.media.map((m) => ({ media_id: String(m.media_id), media_type: m.media_type })),
    urls: p.urls.map((u) => ({ shortened_url: u.shortened_url, expanded_url: u.expanded_url })),
    timestamp: String(p.timestamp),
    post_type: p.post_type,
  };
}

function timeline(posts, headers = {}) {
  return say(200, JSON.stringify(posts.map(postJson)), { "content-type": JSON_TYPE, ...headers });
}

// media_ids / media_types: JSON arrays, used only when both are non-empty.
function media(params) {
  const ids = params.get("media_ids");
  const types = params.get("media_types");
  if (empty(ids) || empty(types)) return { media_ids: [], media_types: [] };
  let idList, typeList;
  try {
    idList = JSON.parse(ids);
    typeList = JSON.parse(types);
  } catch {
    throw new BadRequest("Invalid arguments: media_ids and media_types must be JSON arrays");
  }
  if (!Array.isArray(idList) || !Array.isArray(typeList)) {
    throw new BadRequest("Invalid arguments: media_ids and media_types must be JSON arrays");
  }
  return { media_ids: idList.map((v) => id(v, "media_ids")), media_types: typeList.map(String) };
}

async function call(prefix, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    return say(500, `${prefix}: ${e && e.message !== undefined ? e.message : e}`);
  }
}

// ---- /wrk2-api/ ---------------------------------------------------------

async function register(req_id, p) {
  const f = required(p, ["first_name", "last_name", "username", "password", "user_id"]);
  const user_id = id(f.user_id, "user_id");
  return call("User registration failure", async () => {
    await services.user.registerUserWithId({ req_id, ...f, user_id });
    return say(200, "Success!");
  });
}

// Ids take precedence over names.
async function followLike(req_id, p, verb, byId, byName, done) {
  const prefix = `${verb} Failed`;
  if (!empty(p.get("user_id")) && !empty(p.get("followee_id"))) {
    const user_id = id(p.get("user_id"), "user_id");
    const followee_id = id(p.get("followee_id"), "followee_id");
    return call(prefix, async () => {
      await services["social-graph"][byId]({ req_id, user_id, followee_id });
      return done();
    });
  }
  if (!empty(p.get("user_name")) && !empty(p.get("followee_name"))) {
    const user_name = p.get("user_name");
    const followee_name = p.get("followee_name");
    return call(prefix, async () => {
      await services["social-graph"][byName]({ req_id, user_name, followee_name });
      return done();
    });
  }
  throw new BadRequest("Incomplete arguments");
}

async function compose(req_id, p, creator) {
  const f = creator ?? required(p, ["username", "user_id"]);
  const { text, post_type } = required(p, ["text", "post_type"]);
  const args = {
    req_id,
    username: f.username,
    user_id: id(f.user_id, "user_id"),
    text,
    ...media(p),
    post_type: int(post_type, "post_type"),
  };
  return call("compost_post failure", async () => {
    await services["compose-post"].composePost(args);
    return say(200, "Successfully upload post");
  });
}

async function readTimeline(req_id, service, method, prefix, user_id, p, headers) {
  const f = required(p, ["start", "stop"]);
  const args = { req_id, user_id: id(user_id, "user_id"), start: int(f.start, "start"), stop: int(f.stop, "stop") };
  return call(prefix, async () => timeline(await services[service][method](args), headers));
}

async function wrk2(request, url, req_id) {
  switch (url.pathname) {
    case "/wrk2-api/user/register":
      return register(req_id, await form(request));
    case "/wrk2-api/user/follow":
      return followLike(req_id, await form(request), "Follow", "follow", "followWithUsername", () => say(200, "Success!"));
    case "/wrk2-api/user/unfollow":
      return followLike(req_id, await form(request), "Unfollow", "unfollow", "unfollowWithUsername", () => say(200, "Success!"));
    case "/wrk2-api/post/compose":
      return compose(req_id, await form(request));
    case "/wrk2-api/home-timeline/read": {
      const p = url.searchParams;
      const { user_id } = required(p, ["user_id"]);
      return readTimeline(req_id, "home-timeline", "readHomeTimeline", "Get home-timeline failure", user_id, p);
    }
    case "/wrk2-api/user-timeline/read": {
      const p = url.searchParams;
      const { user_id } = required(p, ["user_id"]);
      return readTimeline(req_id, "user-timeline", "readUserTimeline", "Get user-timeline failure", user_id, p);
    }
    default:
      return say(404, "Not found");
  }
}

// ---- /api/ (browser routes) -------------------------------------------------

function cookie(request, name) {
  const header = request.headers.get("cookie");
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return null;
}

// The user of a valid, unexpired login token, or null.
function session(request) {
  const claims = verify(cookie(request, "login_token"), env.JWT_SECRET);
  if (claims === null) return null;
  const issued = Number(claims.timestamp);
  const ttl = Number(claims.ttl);
  if (!Number.isFinite(issued) || !Number.isFinite(ttl) || issued + ttl < Date.now() / 1000) return null;
  if (empty(claims.user_id) || empty(claims.username)) return null;
  return { user_id: claims.user_id, username: claims.username };
}

async function api(request, url, req_id) {
  if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
  const unauthorized = () => say(401, "Login token expired, please log in again", CORS);
  switch (url.pathname) {
    case "/api/user/register": {
      const f = required(await form(request), ["first_name", "last_name", "username", "password"]);
      return call("User registration failure", async () => {
        await services.user.registerUser({ req_id, ...f });
        return redirect("../../index.html", CORS);
      });
    }
    case "/api/user/login": {
      const f = required(await form(request), ["username", "password"]);
      return call("User login failure", async () => {
        const token = await services.user.login({ req_id, ...f });
        const expires = new Date(Date.now() + 86400 * 1000).toUTCString();
        return redirect(`../../main.html?username=${encodeURIComponent(f.username)}`, {
          ...CORS,
          "set-cookie": `login_token=${token}; Path=/; Expires=${expires}`,
        });
      });
    }
    case "/api/user/follow":
      return followLike(req_id, await form(request), "Follow", "follow", "followWithUsername", () =>
        redirect("../../contact.html", CORS));
    case "/api/user/unfollow":
      return followLike(req_id, await form(request), "Unfollow", "unfollow", "unfollowWithUsername", () =>
        redirect("../../contact.html", CORS));
    case "/api/post/compose": {
      const user = session(request);
      if (user === null) return unauthorized();
      return compose(req_id, await form(request), user);
    }
    case "/api/home-timeline/read":
    case "/api/user-timeline/read": {
      const user = session(request);
      if (user === null) return unauthorized();
      const home = url.pathname === "/api/home-timeline/read";
      return readTimeline(
        req_id,
        home ? "home-timeline" : "user-timeline",
        home ? "readHomeTimeline" : "readUserTimeline",
        home ? "Get home-timeline failure" : "Get user-timeline failure",
        user.user_id,
        url.searchParams,
        CORS,
      );
    }
    case "/api/user/get_follower":
    case "/api/user/get_followee": {
      const user = session(request);
      if (user === null) return unauthorized();
      const followers = url.pathname === "/api/user/get_follower";
      const user_id = id(user.user_id, "user_id");
      return call(followers ? "Get followers failure" : "Get followees failure", async () => {
        const ids = followers
          ? await services["social-graph"].getFollowers({ req_id, user_id })
          : await services["social-graph"].getFollowees({ req_id, user_id });
        const field = followers ? "follower_id" : "followee_id";
        const body = JSON.stringify(ids.map((v) => ({ [field]: String(v) })));
        return say(200, body, { "content-type": JSON_TYPE, ...CORS });
      });
    }
    default:
      return say(404, "Not found", CORS);
  }
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const req_id = randomReqId();
    try {
      if (url.pathname.startsWith("/wrk2-api/")) return await wrk2(request, url, req_id);
      if (url.pathname.startsWith("/api/")) return await api(request, url, req_id);
      return say(404, "Not found");
    } catch (e) {
      if (e instanceof BadRequest) return say(400, e.message);
      throw e;
    }
  },
};
