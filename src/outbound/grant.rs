//! Which origins a service may fetch from: the `fetch = [...]` grant of
//! `[services.NAME]` in `pyrosome.toml`, parsed into [`OriginPattern`]s,
//! and the [`Policy`] that checks every URL a fetch would reach (the first
//! and every redirect) against them.

use std::fmt;

use url::Url;

use crate::engine::JsError;

/// One granted origin: `scheme://host[:port]`, or `scheme://*.domain[:port]`
/// for every subdomain of `domain` (at any depth; not `domain` itself).
/// The port is the scheme's default when not written; it must match
/// exactly.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OriginPattern {
    /// `http` or `https`.
    scheme: String,
    /// The host as the URL parser serializes it (lower case, punycode; an
    /// IPv6 address in brackets). Without the `*.` of a wildcard.
    host: String,
    /// The port, explicit or the scheme's default.
    port: u16,
    /// `*.host`: any subdomain of `host`.
    wildcard: bool,
}

impl OriginPattern {
    /// Parses a grant as written in the manifest. `Err` completes
    /// "grant X ...".
    pub fn parse(text: &str) -> Result<OriginPattern, String> {
        let Some((scheme, rest)) = text.split_once("://") else {
            return Err(
                "is not an origin: write it as scheme://host[:port], e.g. \"https://api.example.com\""
                    .to_owned(),
            );
        };
        let scheme = scheme.to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!(
                "has scheme {scheme:?}: only \"http\" and \"https\" origins can be granted"
            ));
        }
        let (wildcard, rest) = match rest.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        if rest.starts_with('*') || rest.contains("*") {
            return Err(
                "has a '*' that is not a leading \"*.\" label: a wildcard grant is written \
                 \"https://*.example.com\" (every subdomain of example.com)"
                    .to_owned(),
            );
        }
        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| format!("is not a valid origin ({e})"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("has credentials: a grant is only scheme://host[:port]".to_owned());
        }
        if url.path() != "/" || rest.contains('?') || rest.contains('#') {
            let after_host = rest.find(['/', '?', '#']).map_or("", |i| &rest[i..]);
            return Err(format!(
                "is not an origin: remove {after_host:?} (a grant is scheme://host[:port], and \
                 allows every path under it)"
            ));
        }
        let Some(host) = url.host() else {
            return Err("has no host".to_owned());
        };
        if wildcard && !matches!(host, url::Host::Domain(_)) {
            return Err(
                "has a wildcard on an IP address: \"*.\" only goes before a domain name".to_owned(),
            );
        }
        if wildcard && !url.host_str().is_some_and(|h| h.contains('.')) {
            return Err(
                "has a wildcard over a top-level domain: write at least two labels after \"*.\""
                    .to_owned(),
            );
        }
        let port = url
            .port_or_known_default()
            .ok_or_else(|| "has no port".to_owned())?;
        Ok(OriginPattern {
            scheme,
            host: url.host_str().unwrap_or_default().to_owned(),
            port,
            wildcard,
        })
    }

    /// Whether `url` is on a granted origin.
    pub fn matches(&self, url: &Url) -> bool {
        if url.scheme() != self.scheme || url.port_or_known_default() != Some(self.port) {
            return false;
        }
        let Some(host) = url.host_str() else {
            return false;
        };
        if !self.wildcard {
            return host == self.host;
        }
        matches!(url.host(), Some(url::Host::Domain(_)))
            && host.len() > self.host.len() + 1
            && host.ends_with(&self.host)
            && host.as_bytes()[host.len() - self.host.len() - 1] == b'.'
    }
}

impl fmt::Display for OriginPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://", self.scheme)?;
        if self.wildcard {
            f.write_str("*.")?;
        }
        f.write_str(&self.host)?;
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port != default {
            write!(f, ":{}", self.port)?;
        }
        Ok(())
    }
}

/// What one service may fetch, and how much of a response body it may read.
#[derive(Clone, Debug)]
pub struct Policy {
    service: String,
    grants: Vec<OriginPattern>,
    body_limit: usize,
}

impl Policy {
    /// The policy of `service`: its grants and its response body limit in
    /// bytes.
    pub fn new(service: impl Into<String>, grants: Vec<OriginPattern>, body_limit: usize) -> Self {
        Policy {
            service: service.into(),
            grants,
            body_limit,
        }
    }

    /// The service.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// The largest response body the service may read, in bytes.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// `Ok` if the service may fetch `url`, else the TypeError its `fetch()`
    /// rejects with, naming the service and its grants. `from` is the URL
    /// whose response redirected to `url`.
    pub fn check(&self, url: &Url, from: Option<&Url>) -> Result<(), JsError> {
        if self.grants.iter().any(|g| g.matches(url)) {
            return Ok(());
        }
        let mut message = format!("fetch to {} ", shown(url));
        if let Some(from) = from {
            message.push_str(&format!("(redirected from {}) ", shown(from)));
        }
        let origin = url.origin().ascii_serialization();
        let service = &self.service;
        if self.grants.is_empty() {
            message.push_str(&format!(
                "is not allowed for service \"{service}\" (it has no fetch grants; to allow it, \
                 add fetch = [\"{origin}\"] under [services.{service}] in pyrosome.toml)"
            ));
        } else {
            let grants: Vec<String> = self.grants.iter().map(|g| format!("\"{g}\"")).collect();
            message.push_str(&format!(
                "is not allowed for service \"{service}\" (its grants: {}; to allow it, add \
                 \"{origin}\" to fetch under [services.{service}] in pyrosome.toml)",
                grants.join(", ")
            ));
        }
        Err(JsError::new("TypeError", message))
    }
}

/// A URL as error messages show it: without its query and fragment, which
/// may hold secrets (API keys, tokens) that must not reach the log.
pub(crate) fn shown(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn pattern(s: &str) -> OriginPattern {
        OriginPattern::parse(s).unwrap_or_else(|e| panic!("{s} {e}"))
    }

    #[test]
    fn exact_origins_match_scheme_host_and_port() {
        let p = pattern("https://api.example.com");
        assert!(p.matches(&url("https://api.example.com/v1/x?y=1")));
        assert!(p.matches(&url("https://API.example.com:443/")));
        assert!(!p.matches(&url("http://api.example.com/")));
        assert!(!p.matches(&url("https://api.example.com:8443/")));
        assert!(!p.matches(&url("https://x.api.example.com/")));
        assert!(!p.matches(&url("https://api.example.com.evil.com/")));
        let local = pattern("http://127.0.0.1:9200/");
        assert!(local.matches(&url("http://127.0.0.1:9200/_search")));
        assert!(!local.matches(&url("http://127.0.0.1:9201/")));
        assert!(!local.matches(&url("http://localhost:9200/")));
        assert_eq!(local.to_string(), "http://127.0.0.1:9200");
        assert_eq!(
            pattern("HTTPS://Api.Example.com:443").to_string(),
            "https://api.example.com"
        );
        assert!(pattern("http://[::1]:8080").matches(&url("http://[::1]:8080/")));
    }

    #[test]
    fn a_wildcard_covers_subdomains_only() {
        let p = pattern("https://*.example.com");
        assert!(p.matches(&url("https://a.example.com/")));
        assert!(p.matches(&url("https://a.b.example.com/")));
        assert!(!p.matches(&url("https://example.com/")));
        assert!(!p.matches(&url("https://badexample.com/")));
        assert!(!p.matches(&url("http://a.example.com/")));
        assert_eq!(p.to_string(), "https://*.example.com");
    }

    #[test]
    fn malformed_grants_say_why() {
        for (text, why) in [
            ("api.example.com", "scheme://host"),
            ("ftp://example.com", "only \"http\" and \"https\""),
            ("https://example.com/v1", "remove \"/v1\""),
            ("https://example.com?x", "remove \"?x\""),
            ("https://user@example.com", "credentials"),
            ("https://*", "'*'"),
            ("https://a.*.com", "'*'"),
            ("https://*.com", "top-level"),
            ("http://*.127.0.0.1", "IP address"),
            ("https://exa mple.com", "not a valid origin"),
        ] {
            let e = OriginPattern::parse(text).expect_err(text);
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn refusals_name_the_service_and_its_grants_without_the_query() {
        let policy = Policy::new("x", vec![pattern("https://api.example.com")], 1);
        assert!(
            policy
                .check(&url("https://api.example.com/a"), None)
                .is_ok()
        );
        let e = policy
            .check(&url("https://evil.com/?key=secret"), None)
            .expect_err("refused");
        assert_eq!(e.name, "TypeError");
        assert_eq!(
            e.message,
            "fetch to https://evil.com/ is not allowed for service \"x\" (its grants: \
             \"https://api.example.com\"; to allow it, add \"https://evil.com\" to fetch under \
             [services.x] in pyrosome.toml)"
        );
        let e = policy
            .check(
                &url("http://evil.com:81/x"),
                Some(&url("https://api.example.com/r?t=1")),
            )
            .expect_err("refused");
        assert!(
            e.message.starts_with(
                "fetch to http://evil.com:81/x (redirected from https://api.example.com/r) is not allowed"
            ),
            "{}",
            e.message
        );
        let none = Policy::new("y", Vec::new(), 1);
        let e = none
            .check(&url("https://a.com/"), None)
            .expect_err("refused");
        assert!(
            e.message.contains("it has no fetch grants"),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("fetch = [\"https://a.com\"]"),
            "{}",
            e.message
        );
    }
}
