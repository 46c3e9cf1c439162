// text (A.5.2): extracts mentions and URLs, shortens the URLs and resolves the
// mentions concurrently, and rewrites the text with the short URLs.
import { services } from "pyrosome";

const MENTION = /@[a-zA-Z0-9\-_]+/g;
const URL_RE = /(http:\/\/|https:\/\/)([a-zA-Z0-9_!~*'().&=+$%-]+)/g;

/** ComposeText(req_id, text) -> {text, user_mentions, urls}. */
export async function composeText({ req_id, text }) {
  const usernames = [];
  for (const m of text.matchAll(MENTION)) usernames.push(m[0].slice(1));
  const found = [...text.matchAll(URL_RE)];

  const [urls, user_mentions] = await Promise.all([
    services["url-shorten"].composeUrls({ req_id, urls: found.map((m) => m[0]) }),
    services["user-mention"].composeUserMentions({ req_id, usernames }),
  ]);

  let updated = text;
  if (found.length > 0) {
    // Each segment before a URL, then its short form; the tail after the
    // last URL is dropped, as upstream does (A.9 quirk 3).
    updated = "";
    let pos = 0;
    found.forEach((m, i) => {
      updated += text.slice(pos, m.index) + urls[i].shortened_url;
      pos = m.index + m[0].length;
    });
  }
  return { text: updated, user_mentions, urls };
}
