// Module hooks (run off-thread by Node): "pyrosome" resolves to this
// adapter's pyrosome.mjs, and the app's .js files load as ES modules (the
// app folder has no package.json saying so, and needs none under Pyrosome).
const ADAPTER = new URL("./pyrosome.mjs", import.meta.url).href;
let appUrl = null;

export async function initialize(data) {
  appUrl = data?.appUrl ?? null;
}

export async function resolve(specifier, context, next) {
  if (specifier === "pyrosome") return { url: ADAPTER, shortCircuit: true };
  return next(specifier, context);
}

export async function load(url, context, next) {
  if (appUrl !== null && url.startsWith(appUrl) && /\.m?js$/.test(url)) {
    return next(url, { ...context, format: "module" });
  }
  return next(url, context);
}
