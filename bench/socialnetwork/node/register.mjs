// `node --import ./register.mjs`: installs the module hooks (hooks.mjs) that
// give the service files their "pyrosome" module and load them as ES modules.
import { register } from "node:module";

register("./hooks.mjs", import.meta.url, { data: { appUrl: process.env.PYROSOME_APP_URL ?? null } });
