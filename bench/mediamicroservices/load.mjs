#!/usr/bin/env node
// Loads the media microservices through their HTTP API (either deployment),
// as upstream's setup scripts do:
//   1. registers users 1..1000 (/wrk2-api/user/register: first_name_i, last_name_i,
//      username_i, password_i; the ids are generated), as register_users.sh;
//   2. writes the movie catalogue, as write_movie_info.py does with its TMDB files:
//      for every person of the casts /wrk2-api/cast-info/write, then for every movie
//      /wrk2-api/plot/write, /wrk2-api/movie-info/write and /wrk2-api/movie/register
//      (title -> movie_id).
//
// Upstream's TMDB files (movies, casts) are not part of DeathStarBench's repository
// and not shipped here. The catalogue is generated instead, deterministically
// (mulberry32, --seed, default 1): 1,000 movies with TMDB-like records: ids, titles
// of 1-4 words from fixed word lists, some with a subtitle, some with ":", "'", "&", "-", digits or an
// accented letter (so the workload's URL-encoded titles exercise decoding), 3-12
// cast members each (cast_id, character, cast_info_id) from 4,000 people, a plot of
// 30-80 words, one thumbnail id, avg_rating 0-10, num_rating 0-5000. Every title is
// unique; `--titles` prints them, one a line, for the load generator.
//
// Usage: node load.mjs --target http://127.0.0.1:8080 [--concurrency 32] [--seed 1]
//        node load.mjs --titles > titles.txt
import http from "node:http";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    target: { type: "string", default: "http://127.0.0.1:8080" },
    concurrency: { type: "string", default: "32" },
    seed: { type: "string", default: "1" },
    users: { type: "string", default: "1000" },
    movies: { type: "string", default: "1000" },
    titles: { type: "boolean", default: false },
  },
});

function mulberry32(seed) {
  let a = seed >>> 0;
  return function () {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const randint = (rng, lo, hi) => lo + Math.floor(rng() * (hi - lo + 1));
const pick = (rng, list) => list[Math.floor(rng() * list.length)];

const ADJ = ["Dark", "Silent", "Last", "Lost", "Golden", "Broken", "Hidden", "Red", "Wild", "Final", "Secret",
  "Little", "Eternal", "Crimson", "Frozen", "Burning", "Distant", "Empty", "Fallen", "Iron", "Midnight", "Sweet",
  "Strange", "Bright", "Cold", "Lonely", "Savage", "Quiet", "Electric", "Forgotten"];
const NOUN = ["Night", "River", "Kingdom", "Road", "Summer", "City", "Heart", "Storm", "Mountain", "Dream", "Garden",
  "Shadow", "Island", "Empire", "Ocean", "Winter", "Star", "Forest", "Door", "Machine", "Letter", "Voyage", "Mirror",
  "Harbor", "Crown", "Station", "Desert", "Song", "Hunter", "Circus"];
const EXTRA = ["Part II", "Returns", "Reloaded", "Origins", "The Beginning", "1984", "Redux", "Forever", "Revenge",
  "Café Society", "Noël", "Rock & Roll", "Twenty-One", "Zero"];
const FIRST = ["Ada", "Ben", "Chloé", "Dev", "Eva", "Finn", "Grace", "Hugo", "Iris", "Jon", "Kira", "Leo", "Maya",
  "Nils", "Olga", "Paul", "Quinn", "Rosa", "Sam", "Tara", "Umar", "Vera", "Will", "Xena", "Yuki", "Zoë"];
const LAST = ["Abbott", "Baker", "Castro", "Dubois", "Evans", "Fischer", "García", "Hughes", "Ito", "Jensen",
  "Kowalski", "Lopez", "Müller", "Novak", "O'Brien", "Park", "Quinto", "Rossi", "Silva", "Tanaka", "Ueda", "Vargas",
  "Weber", "Xu", "Young", "Zimmer"];
const WORDS = ["a", "the", "young", "man", "woman", "discovers", "secret", "that", "changes", "everything", "family",
  "war", "love", "journey", "across", "dangerous", "world", "must", "find", "way", "home", "before", "time", "runs",
  "out", "friends", "city", "crime", "past", "future", "unlikely", "hero", "against", "all", "odds"];

/** The generated catalogue: {movies: [...], people: [...]} (see the header). */
export function catalogue(seed = 1, count = 1000) {
  const rng = mulberry32(seed);
  const PEOPLE = 4000;
  const people = [];
  for (let p = 1; p <= PEOPLE; p++) {
    people.push({
      cast_info_id: 10000 + p,
      name: `${pick(rng, FIRST)} ${pick(rng, LAST)}`,
      gender: rng() < 0.5,
      intro: `/profile_${10000 + p}.jpg`,
    });
  }
  const titles = new Set();
  const movies = [];
  for (let i = 0; i < count; i++) {
    let title;
    const words = randint(rng, 1, 3);
    const parts = [];
    if (words >= 2 || rng() < 0.5) parts.push(rng() < 0.3 ? "The" : pick(rng, ADJ));
    parts.push(pick(rng, NOUN));
    if (words === 3) parts.push(rng() < 0.5 ? `of ${pick(rng, NOUN)}` : `${pick(rng, NOUN)}'s`);
    title = parts.join(" ");
    if (rng() < 0.3) title += `: ${pick(rng, EXTRA)}`;
    for (let n = 2; titles.has(title); n++) title = `${parts.join(" ")} ${n}`;
    titles.add(title);
    const movie_id = String(100 + i * 13);
    const casts = [];
    const castCount = randint(rng, 3, 12);
    for (let c = 0; c < castCount; c++) {
      casts.push({ cast_id: c + 1, character: `${pick(rng, FIRST)} ${pick(rng, LAST)}`, cast_info_id: people[randint(rng, 0, PEOPLE - 1)].cast_info_id });
    }
    let plot = "";
    const plotWords = randint(rng, 30, 80);
    for (let w = 0; w < plotWords; w++) plot += (w === 0 ? "" : " ") + pick(rng, WORDS);
    movies.push({
      movie_id,
      title,
      casts,
      plot_id: Number(movie_id),
      plot: plot.charAt(0).toUpperCase() + plot.slice(1) + ".",
      thumbnail_ids: [`/poster_${movie_id}.jpg`],
      photo_ids: [],
      video_ids: [],
      avg_rating: Math.round(rng() * 100) / 10,
      num_rating: randint(rng, 0, 5000),
    });
  }
  // Only the people some cast refers to are written (TMDB's credits files hold those).
  const used = new Set(movies.flatMap((m) => m.casts.map((c) => c.cast_info_id)));
  return { movies, people: people.filter((p) => used.has(p.cast_info_id)) };
}

const { movies, people } = catalogue(Number(args.seed), Number(args.movies));
if (args.titles) {
  process.stdout.write(movies.map((m) => m.title).join("\n") + "\n");
  process.exit(0);
}

const target = new URL(args.target);
const concurrency = Number(args.concurrency);
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

function post(path, body, type) {
  return new Promise((resolve, reject) => {
    const buf = Buffer.from(body);
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port || 80,
        method: "POST",
        path,
        headers: { "content-type": type, "content-length": buf.length },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on("error", reject);
    req.end(buf);
  });
}

// Runs `count` requests made by `make(i)` ([path, body, content type]) with
// `concurrency` in flight; any failure makes the exit status 1.
async function phase(name, count, make) {
  const t0 = performance.now();
  let next = 0;
  let failed = 0;
  let firstError = null;
  async function worker() {
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const [path, body, type] = make(i);
      let r;
      try {
        r = await post(path, body, type);
      } catch (e) {
        r = { status: 0, text: String(e) };
      }
      if (r.status !== 200) {
        failed++;
        firstError ??= `${path} ${body.slice(0, 80)} -> ${r.status} ${r.text.trim()}`;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
  const s = (performance.now() - t0) / 1000;
  console.error(`${name}: ${count} requests in ${s.toFixed(1)} s (${(count / s).toFixed(0)}/s), ${failed} failed`);
  if (firstError) console.error(`  first failure: ${firstError}`);
  if (failed > 0) process.exitCode = 1;
  return { count, seconds: s, failed };
}

const FORM = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";
const enc = encodeURIComponent;
const users = Number(args.users);
console.error(`media: ${users} users, ${movies.length} movies, ${people.length} cast members; target ${target.origin}`);
const summary = { users, movies: movies.length, people: people.length };
summary.register_users = await phase("register users", users, (i) => [
  "/wrk2-api/user/register",
  `first_name=first_name_${i + 1}&last_name=last_name_${i + 1}&username=username_${i + 1}&password=password_${i + 1}`,
  FORM,
]);
summary.cast_info = await phase("cast info", people.length, (i) => [
  "/wrk2-api/cast-info/write",
  JSON.stringify(people[i]),
  JSON_TYPE,
]);
summary.plots = await phase("plots", movies.length, (i) => [
  "/wrk2-api/plot/write",
  JSON.stringify({ plot_id: movies[i].plot_id, plot: movies[i].plot }),
  JSON_TYPE,
]);
summary.movie_info = await phase("movie info", movies.length, (i) => {
  const { plot, ...info } = movies[i];
  return ["/wrk2-api/movie-info/write", JSON.stringify(info), JSON_TYPE];
});
summary.register_movies = await phase("register movies", movies.length, (i) => [
  "/wrk2-api/movie/register",
  `title=${enc(movies[i].title)}&movie_id=${enc(movies[i].movie_id)}`,
  FORM,
]);
agent.destroy();
console.log(JSON.stringify(summary));
