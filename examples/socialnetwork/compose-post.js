// compose-post (A.5.1): a 4-way fan-out, then three writes one after another.
import { services } from "pyrosome";

/** ComposePost(req_id, username, user_id, text, media_ids, media_types, post_type). */
export async function composePost({ req_id, username, user_id, text, media_ids = [], media_types = [], post_type }) {
  const timestamp = Date.now();
  const [textResult, creator, media, post_id] = await Promise.all([
    services.text.composeText({ req_id, text }),
    services.user.composeCreatorWithUserId({ req_id, user_id, username }),
    services.media.composeMedia({ req_id, media_types, media_ids }),
    services["unique-id"].composeUniqueId({ req_id, post_type }),
  ]);
  const post = {
    post_id,
    creator,
    req_id,
    text: textResult.text,
    user_mentions: textResult.user_mentions,
    media,
    urls: textResult.urls,
    timestamp,
    post_type,
  };
  const user_mentions_id = textResult.user_mentions.map((m) => m.user_id);
  // Sequential since upstream ef64f0e: a timeline must not point at a post not yet stored.
  await services["post-storage"].storePost({ req_id, post });
  await services["user-timeline"].writeUserTimeline({ req_id, post_id, user_id, timestamp });
  await services["home-timeline"].writeHomeTimeline({ req_id, post_id, user_id, timestamp, user_mentions_id });
}
