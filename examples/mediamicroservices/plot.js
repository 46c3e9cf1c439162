// plot: a movie's plot text.
//   "plot"       (Mongo plot; durable)  <plot_id> -> plot (a string)
//   "plot-cache" (Memcached; relaxed)   the same, filled on read
import { store } from "pyrosome";
import { handlerError } from "./lib/errors.js";
import { readOne } from "./lib/cached.js";

const plots = store("plot");
const cache = store("plot-cache");

/** WritePlot(req_id, plot_id, plot): inserts or replaces; the cache entry is dropped. */
export async function writePlot({ req_id, plot_id, plot }) {
  const key = String(plot_id);
  await plots.put(key, plot);
  await cache.delete(key);
}

/** ReadPlot(req_id, plot_id) -> string. */
export async function readPlot({ req_id, plot_id }) {
  return readOne(plots, cache, String(plot_id), () => handlerError(`Plot_id: ${plot_id} doesn't exist in MongoDB`));
}
