// frontend: the nginx gateway of the media microservices. /wrk2-api/* are
// upstream's routes (no auth); /wrk2-api/page/read, /user-review/read and
// /movie-review/read are this port's additions (upstream's gateway exposes no
// read path at all).
import { services } from "pyrosome";
import { parseI64, randomReqId } from "./lib/ids.js";

const TEXT = "text/plain; charset=utf-8";
const JSON_TYPE = "application/json; charset=utf-8";

class BadRequest extends Error {}

// ngx.say: the body and a newline.
function say(status, body, headers = {}) {
  return new Response(body + "\n", { status, headers: { "content-type": TEXT, ...headers } });
}

function json(value) {
  return say(200, JSON.stringify(value), { "content-type": JSON_TYPE });
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
  if (n === null) throw new BadRequest(`Invalid arguments: ${name} must be a 64-bit integer`);
  return n;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

function int32(v, name) {
  const n = typeof v === "string" && /^-?[0-9]+$/.test(v) ? Number(v) : v;
  if (!Number.isInteger(n) || n < I32_MIN || n > I32_MAX) {
    throw new BadRequest(`Invalid arguments: ${name} must be a 32-bit integer`);
  }
  return n;
}

async function form(request) {
  return new URLSearchParams(await request.text());
}

// The JSON bodies of the write routes: an object with every field of `names` present.
async function body(request, names) {
  let v;
  try {
    v = JSON.parse(await request.text());
  } catch {
    throw new BadRequest("Invalid arguments: the body must be a JSON object");
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new BadRequest("Invalid arguments: the body must be a JSON object");
  }
  for (const n of names) if (v[n] === undefined || v[n] === null) throw new BadRequest("Incomplete arguments");
  return v;
}

function string(v, name) {
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v !== "string" || v === "") throw new BadRequest(`Invalid arguments: ${name} must be a non-empty string`);
  return v;
}

function strings(v, name) {
  if (!Array.isArray(v)) throw new BadRequest(`Invalid arguments: ${name} must be an array`);
  return v.map((s, i) => (typeof s === "string" ? s : string(s, `${name}[${i}]`)));
}

async function call(prefix, fn) {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof BadRequest) throw e;
    return say(500, `${prefix}: ${e && e.message !== undefined ? e.message : e}`);
  }
}

// ---- JSON shapes: 64-bit ids as decimal strings, as the social network's gateway ----

function reviewJson(r) {
  return {
    review_id: String(r.review_id),
    user_id: String(r.user_id),
    req_id: String(r.req_id),
    text: r.text,
    movie_id: r.movie_id,
    rating: r.rating,
    timestamp: String(r.timestamp),
  };
}

function movieInfoJson(m) {
  return {
    movie_id: m.movie_id,
    title: m.title,
    casts: m.casts.map((c) => ({ cast_id: c.cast_id, character: c.character, cast_info_id: String(c.cast_info_id) })),
    plot_id: String(m.plot_id),
    thumbnail_ids: m.thumbnail_ids,
    photo_ids: m.photo_ids,
    video_ids: m.video_ids,
    avg_rating: m.avg_rating,
    num_rating: m.num_rating,
  };
}

function castInfoJson(c) {
  return { cast_info_id: String(c.cast_info_id), name: c.name, gender: c.gender, intro: c.intro };
}

// ---- routes ----------------------------------------------------------------------

async function registerUser(req_id, p) {
  const f = required(p, ["first_name", "last_name", "username", "password"]);
  return call("User registration failure", async () => {
    await services.user.registerUser({ req_id, ...f });
    return say(200, "Success!");
  });
}

async function registerMovie(req_id, p) {
  const f = required(p, ["title", "movie_id"]);
  return call("Movie registration failure", async () => {
    await services["movie-id"].registerMovieId({ req_id, title: f.title, movie_id: f.movie_id });
    return say(200, "Success!");
  });
}

// Four concurrent branches, as nginx spawns them; the response waits for all
// four (the one that completes the review also stores it). 500 if any failed.
async function composeReview(req_id, p) {
  const f = required(p, ["username", "password", "title", "rating", "text"]);
  const rating = int32(f.rating, "rating");
  const results = await Promise.allSettled([
    services.user.uploadUserWithUsername({ req_id, username: f.username }),
    services["movie-id"].uploadMovieId({ req_id, title: f.title, rating }),
    services.text.uploadText({ req_id, text: f.text }),
    services["unique-id"].uploadUniqueId({ req_id }),
  ]);
  const failed = results.find((r) => r.status === "rejected");
  if (failed === undefined) return new Response(null, { status: 200 });
  // The review will never be complete: drop the parts that did arrive
  // (upstream's keys expire after 10 s).
  await services["compose-review"].discard({ req_id }).catch(() => {});
  const e = failed.reason;
  return say(500, `Compose review failure: ${e && e.message !== undefined ? e.message : e}`);
}

async function writeMovieInfo(req_id, request) {
  const names = ["movie_id", "title", "casts", "plot_id", "thumbnail_ids", "photo_ids", "video_ids", "avg_rating", "num_rating"];
  const b = await body(request, names);
  if (!Array.isArray(b.casts)) throw new BadRequest("Invalid arguments: casts must be an array");
  const casts = b.casts.map((c, i) => {
    if (c === null || typeof c !== "object") throw new BadRequest(`Invalid arguments: casts[${i}] must be an object`);
    if (c.cast_id === undefined || c.character === undefined || c.cast_info_id === undefined) {
      throw new BadRequest("Incomplete arguments");
    }
    return {
      cast_id: int32(c.cast_id, `casts[${i}].cast_id`),
      character: String(c.character),
      cast_info_id: id(c.cast_info_id, `casts[${i}].cast_info_id`),
    };
  });
  if (typeof b.avg_rating !== "number") throw new BadRequest("Invalid arguments: avg_rating must be a number");
  const args = {
    req_id,
    movie_id: string(b.movie_id, "movie_id"),
    title: string(b.title, "title"),
    casts,
    plot_id: id(b.plot_id, "plot_id"),
    thumbnail_ids: strings(b.thumbnail_ids, "thumbnail_ids"),
    photo_ids: strings(b.photo_ids, "photo_ids"),
    video_ids: strings(b.video_ids, "video_ids"),
    avg_rating: b.avg_rating,
    num_rating: int32(b.num_rating, "num_rating"),
  };
  return call("Movie info write failure", async () => {
    await services["movie-info"].writeMovieInfo(args);
    return say(200, "Success!");
  });
}

async function writeCastInfo(req_id, request) {
  const b = await body(request, ["cast_info_id", "name", "gender", "intro"]);
  if (typeof b.gender !== "boolean") throw new BadRequest("Invalid arguments: gender must be a boolean");
  const args = {
    req_id,
    cast_info_id: id(b.cast_info_id, "cast_info_id"),
    name: String(b.name),
    gender: b.gender,
    intro: String(b.intro),
  };
  return call("Cast info write failure", async () => {
    await services["cast-info"].writeCastInfo(args);
    return say(200, "Success!");
  });
}

async function writePlot(req_id, request) {
  const b = await body(request, ["plot_id", "plot"]);
  const args = { req_id, plot_id: id(b.plot_id, "plot_id"), plot: String(b.plot) };
  return call("Plot write failure", async () => {
    await services.plot.writePlot(args);
    return say(200, "Success!");
  });
}

// [start, stop) of a read route.
function range(p, startName, stopName) {
  const f = required(p, [startName, stopName]);
  return [int32(f[startName], startName), int32(f[stopName], stopName)];
}

async function readPage(req_id, p) {
  const { movie_id } = required(p, ["movie_id"]);
  const [review_start, review_stop] = range(p, "review_start", "review_stop");
  return call("Read page failure", async () => {
    const page = await services.page.readPage({ req_id, movie_id, review_start, review_stop });
    return json({
      movie_info: movieInfoJson(page.movie_info),
      reviews: page.reviews.map(reviewJson),
      cast_infos: page.cast_infos.map(castInfoJson),
      plot: page.plot,
    });
  });
}

async function readUserReviews(req_id, p) {
  const user_id = id(required(p, ["user_id"]).user_id, "user_id");
  const [start, stop] = range(p, "start", "stop");
  return call("Read user reviews failure", async () =>
    json((await services["user-review"].readUserReviews({ req_id, user_id, start, stop })).map(reviewJson)));
}

async function readMovieReviews(req_id, p) {
  const { movie_id } = required(p, ["movie_id"]);
  const [start, stop] = range(p, "start", "stop");
  return call("Read movie reviews failure", async () =>
    json((await services["movie-review"].readMovieReviews({ req_id, movie_id, start, stop })).map(reviewJson)));
}

const POST = new Map(Object.entries({
  "/wrk2-api/user/register": async (req_id, request) => registerUser(req_id, await form(request)),
  "/wrk2-api/movie/register": async (req_id, request) => registerMovie(req_id, await form(request)),
  "/wrk2-api/review/compose": async (req_id, request) => composeReview(req_id, await form(request)),
  "/wrk2-api/movie-info/write": writeMovieInfo,
  "/wrk2-api/cast-info/write": writeCastInfo,
  "/wrk2-api/plot/write": writePlot,
}));

const GET = new Map(Object.entries({
  "/wrk2-api/page/read": (req_id, url) => readPage(req_id, url.searchParams),
  "/wrk2-api/user-review/read": (req_id, url) => readUserReviews(req_id, url.searchParams),
  "/wrk2-api/movie-review/read": (req_id, url) => readMovieReviews(req_id, url.searchParams),
}));

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const req_id = randomReqId();
    try {
      const post = POST.get(url.pathname);
      if (post !== undefined) {
        if (request.method !== "POST") return say(405, "Method not allowed", { allow: "POST" });
        return await post(req_id, request);
      }
      const get = GET.get(url.pathname);
      if (get !== undefined) {
        if (request.method !== "GET") return say(405, "Method not allowed", { allow: "GET" });
        return await get(req_id, url);
      }
      return say(404, "Not found");
    } catch (e) {
      if (e instanceof BadRequest) return say(400, e.message);
      throw e;
    }
  },
};
