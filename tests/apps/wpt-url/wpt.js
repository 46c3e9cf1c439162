// Runs the web-platform-tests URL data (tests/data/wpt-url/, passed in by
// tests/wpt_url.rs) through this runtime's URL, as WPT's
// url-constructor.any.js, url-origin.any.js and url-setters.any.js do.
// Each returns the cases that failed: [[name, what was wrong], ...].

function show(v) {
  return v === undefined ? "undefined" : JSON.stringify(v);
}

const COMPONENTS = ["href", "protocol", "username", "password", "host", "hostname", "port", "pathname", "search", "hash"];

// A case's name: "<input> against <base>", as the url crate names them.
function parseName(c) {
  return "<" + c.input + ">" + (c.base === null || c.base === undefined ? "" : " against <" + c.base + ">");
}

export function parse(cases) {
  const failed = [];
  for (const c of cases) {
    if (typeof c === "string") continue; // a comment
    const name = parseName(c);
    const base = c.base === null ? undefined : c.base;
    let url;
    try {
      url = base === undefined ? new URL(c.input) : new URL(c.input, base);
    } catch (e) {
      if (!c.failure) failed.push([name, "threw " + e]);
      else if (!(e instanceof TypeError)) failed.push([name, "threw " + e + ", not a TypeError"]);
      continue;
    }
    if (c.failure) {
      failed.push([name, "parsed as " + show(url.href) + "; expected a failure"]);
      continue;
    }
    const wrong = [];
    for (const k of COMPONENTS) {
      if (url[k] !== c[k]) wrong.push(k + " " + show(url[k]) + " != " + show(c[k]));
    }
    if ("origin" in c && url.origin !== c.origin) wrong.push("origin " + show(url.origin) + " != " + show(c.origin));
    if ("searchParams" in c && url.searchParams.toString() !== c.searchParams) {
      wrong.push("searchParams " + show(url.searchParams.toString()) + " != " + show(c.searchParams));
    }
    if (wrong.length > 0) failed.push([name, wrong.join("; ")]);
  }
  return failed;
}

export function setters(tests) {
  const failed = [];
  for (const attribute of Object.keys(tests)) {
    if (attribute === "comment") continue;
    for (const c of tests[attribute]) {
      const name = "<" + c.href + "> set " + attribute + " to <" + c.new_value + ">";
      let url;
      try {
        url = new URL(c.href);
        url[attribute] = c.new_value;
      } catch (e) {
        failed.push([name, "threw " + e]);
        continue;
      }
      const wrong = [];
      for (const k of Object.keys(c.expected)) {
        if (url[k] !== c.expected[k]) wrong.push(k + " " + show(url[k]) + " != " + show(c.expected[k]));
      }
      if (wrong.length > 0) failed.push([name, wrong.join("; ")]);
    }
  }
  return failed;
}

// How many cases each file has (the test checks none went missing).
export function count([cases, tests]) {
  let parsing = 0;
  for (const c of cases) if (typeof c !== "string") parsing++;
  let setting = 0;
  for (const attribute of Object.keys(tests)) if (attribute !== "comment") setting += tests[attribute].length;
  return [parsing, setting];
}
