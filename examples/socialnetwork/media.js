// media (A.5.5): zips media ids and types. No storage.
import { handlerError } from "./lib/errors.js";

/** ComposeMedia(req_id, media_types, media_ids) -> list<Media>. */
export async function composeMedia({ req_id, media_types = [], media_ids = [] }) {
  if (media_types.length !== media_ids.length) {
    throw handlerError("The lengths of media_id list and media_type list are not equal");
  }
  return media_ids.map((media_id, i) => ({ media_id, media_type: media_types[i] }));
}
