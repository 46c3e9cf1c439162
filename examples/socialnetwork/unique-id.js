// unique-id (A.5.6): 64-bit post ids. No storage besides the machine-id claim.
import { store } from "pyrosome";
import { generator } from "./lib/snowflake.js";

const nextId = generator(store("unique-id"), "unique-id");

/** ComposeUniqueId(req_id, post_type) -> i64 (post_type is ignored). */
export async function composeUniqueId({ req_id, post_type } = {}) {
  return nextId();
}
