// Prepares a hotel reservation deployment (Pyrosome or the Node.js baseline)
// through its HTTP API: the first requests make every service write its seed
// data (examples/hotelreservation/lib/seed.js), then a fixed grid of searches
// and recommendations over the workload's area fills the caches (rates,
// profiles, capacities and the nightly counts of April 9-24, 2015).
//
//   node bench/hotelreservation/load.mjs --target http://127.0.0.1:8080 [--warm-only]
//
// Prints progress on stderr and a JSON summary on stdout. Exits non-zero when
// a request fails or an answer is not what the seed data gives.
import http from "node:http";
import { parseArgs } from "node:util";

const { values: args } = parseArgs({
  options: {
    target: { type: "string", default: "http://127.0.0.1:8080" },
    "warm-only": { type: "boolean", default: false },
    concurrency: { type: "string", default: "8" },
  },
});
const target = new URL(args.target);
const agent = new http.Agent({ keepAlive: true, maxSockets: Number(args.concurrency) });

function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: target.hostname, port: target.port, path, agent }, (res) => {
      const chunks = [];
      res.on("data", (c) => chunks.push(c));
      res.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        if (res.statusCode !== 200) reject(new Error(`GET ${path}: ${res.statusCode} ${body.trim()}`));
        else resolve(JSON.parse(body));
      });
    });
    req.on("error", reject);
  });
}

async function all(paths) {
  const n = Number(args.concurrency);
  let next = 0;
  const out = new Array(paths.length);
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < paths.length) {
        const i = next++;
        out[i] = await get(paths[i]);
      }
    }),
  );
  return out;
}

function expect(what, got, want) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
}

const t0 = performance.now();
const summary = {};
if (!args["warm-only"]) {
  // One request per service that seeds its store, checked against the seed data.
  const cred = "username=Cornell_1&password=1111111111";
  const [login, reviews, rest, rate] = await all([
    `/user?${cred}`,
    `/review?hotelId=1&${cred}`,
    `/restaurants?hotelId=1&${cred}`,
    "/recommendations?require=rate&lat=38.0235&lon=-122.095",
  ]);
  expect("login", login.message, "Login successfully!");
  expect("reviews of hotel 1", reviews.message, "Have reviews = 4");
  expect("restaurants near hotel 1", rest.message, "Have restaurants = 5");
  expect("highest-rate hotels", rate.features.map((f) => f.id).join(","), "9,24,39,54,69");
  const near = await get("/hotels?inDate=2015-04-09&outDate=2015-04-10&lat=37.7867&lon=-122.4112");
  expect("hotels near hotel 1", near.features.map((f) => f.id).join(","), "2,1,3");
  summary.seed_s = +((performance.now() - t0) / 1000).toFixed(2);
  console.error(`seed: every service seeded in ${summary.seed_s} s`);
}

// The cache-filling grid: every 0.02 degrees over the workload's area
// (lat 38.0235 +- 0.2405, lon -122.095 - 0.157 .. + 0.168).
const t1 = performance.now();
const paths = [];
for (let lat = 37.783; lat <= 38.264; lat += 0.02) {
  for (let lon = -122.252; lon <= -121.927; lon += 0.02) {
    const p = `lat=${lat.toFixed(4)}&lon=${lon.toFixed(4)}`;
    paths.push(`/hotels?inDate=2015-04-09&outDate=2015-04-24&${p}`, `/recommendations?require=dis&${p}`);
  }
}
for (const require of ["rate", "price"]) paths.push(`/recommendations?require=${require}&lat=38.0235&lon=-122.095`);
const answers = await all(paths);
const hotels = new Set(answers.flatMap((a) => a.features.map((f) => f.id)));
summary.warm_requests = paths.length;
summary.warm_hotels = hotels.size;
summary.warm_s = +((performance.now() - t1) / 1000).toFixed(2);
console.error(`warm caches: ${paths.length} requests, ${hotels.size} hotels, ${summary.warm_s} s`);
agent.destroy();
console.log(JSON.stringify(summary));
