// url-shorten (A.5.3). Store "url-shorten" stands for Mongo url-shorten.url-shorten:
//   <shortened_url> -> {shortened_url, expanded_url}   (the unique index on shortened_url)
import { store } from "pyrosome";
import { ErrorCode, ServiceException } from "./lib/errors.js";
import { randomAlnum } from "./lib/random.js";

const urls = store("url-shorten");
const PREFIX = "http://short-url/";

/** ComposeUrls(req_id, urls) -> list<Url>, in input order. */
export async function composeUrls({ req_id, urls: expanded = [] }) {
  const result = expanded.map((expanded_url) => ({
    shortened_url: PREFIX + randomAlnum(10),
    expanded_url,
  }));
  if (result.length > 0) {
    // The bulk insert: all or nothing; a duplicate short URL fails it.
    const r = await urls.batch(result.map((u) => ({ op: "putIfAbsent", key: u.shortened_url, value: u })));
    if (!r.ok) {
      throw new ServiceException(
        ErrorCode.SE_MONGODB_ERROR,
        `Failed to insert urls to MongoDB: duplicate key ${result[r.conflict].shortened_url}`,
      );
    }
  }
  return result;
}

/** GetExtendedUrls(req_id, shortened_urls): an empty stub upstream, kept as one. */
export async function getExtendedUrls({ req_id, shortened_urls } = {}) {
  return [];
}
