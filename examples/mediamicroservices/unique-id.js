// unique-id: 64-bit review ids (the scheme of lib/snowflake.js), uploaded to
// compose-review. No storage besides the machine-id claim.
import { services, store } from "pyrosome";
import { generator } from "./lib/snowflake.js";

const nextId = generator(store("unique-id"), "unique-id");

/** UploadUniqueId(req_id): generates review_id, then compose-review.UploadUniqueId. */
export async function uploadUniqueId({ req_id }) {
  const review_id = await nextId();
  await services["compose-review"].uploadUniqueId({ req_id, review_id });
}
