//! HTTP route matching: which service's `fetch` handler serves a path.
//!
//! A route is a path prefix. A route ending in `/` (`"/api/"`) matches every
//! path starting with it; a route without a trailing slash (`"/hello"`)
//! matches that exact path and everything below it (`"/hello/x"`) but not
//! `"/helloworld"`. `"/"` matches every path. When several routes match, the
//! longest wins.

use super::ServiceSpec;

/// Whether `route` matches request path `path` (see the module docs).
pub fn matches(route: &str, path: &str) -> bool {
    match path.strip_prefix(route) {
        None => false,
        Some(rest) => route.ends_with('/') || rest.is_empty() || rest.starts_with('/'),
    }
}

/// The service whose route is the longest match for `path`. A query string
/// or fragment on `path` is ignored.
pub(crate) fn route<'a>(services: &'a [ServiceSpec], path: &str) -> Option<&'a ServiceSpec> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    services
        .iter()
        .flat_map(|s| s.routes.iter().map(move |r| (r, s)))
        .filter(|(r, _)| matches(r, path))
        .max_by_key(|(r, _)| r.len())
        .map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn trailing_slash_routes_match_by_prefix() {
        assert!(matches("/api/", "/api/"));
        assert!(matches("/api/", "/api/x/y"));
        assert!(!matches("/api/", "/api"));
        assert!(!matches("/api/", "/apix"));
        assert!(matches("/", "/"));
        assert!(matches("/", "/anything/at/all"));
    }

    #[test]
    fn routes_without_trailing_slash_match_whole_segments() {
        assert!(matches("/hello", "/hello"));
        assert!(matches("/hello", "/hello/"));
        assert!(matches("/hello", "/hello/world"));
        assert!(!matches("/hello", "/helloworld"));
        assert!(!matches("/hello", "/hell"));
        assert!(!matches("/hello", "/other/hello"));
    }
}
