// text: passes the review's text on to compose-review. No storage.
import { services } from "pyrosome";

/** UploadText(req_id, text). */
export async function uploadText({ req_id, text }) {
  await services["compose-review"].uploadText({ req_id, text });
}
