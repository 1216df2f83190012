//! What a path is by its name: a health check or a metrics scrape (`data/health-paths.tsv` and
//! the health words), a static file or an API, a login page. A name is a prior for the probe
//! rules, never a verdict: what the log shows about sessions outranks it.

use regex::{RegexSet, RegexSetBuilder};

use super::agents::TableError;
use super::normalize::{is_health_segment, is_login_segment};

/// The table, as shipped.
const TABLE: &str = include_str!("../../data/health-paths.tsv");
/// Its file, for messages.
const FILE: &str = "data/health-paths.tsv";

/// An endpoint that creates no session by its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A health check (`/health`, `/actuator/health/readiness`, `/livez`, Rails' `/up`).
    Health,
    /// A metrics scrape (`/metrics`, `/actuator/prometheus`, `/federate`).
    Scrape,
}

/// The compiled table of health and scrape endpoints, with the user's `--health-path`s.
#[derive(Clone, Debug)]
pub struct Endpoints {
    set: RegexSet,
    kinds: Vec<Endpoint>,
    /// Exact paths named with `--health-path`.
    extra: Vec<String>,
}

impl Endpoints {
    /// The built-in table, plus `health_paths` (exact paths, `--health-path`).
    ///
    /// # Errors
    /// When the embedded table is malformed (a test keeps it from shipping so).
    pub fn builtin(health_paths: Vec<String>) -> Result<Self, TableError> {
        let mut patterns = Vec::new();
        let mut kinds = Vec::new();
        for (i, line) in TABLE.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let err = |reason: &str| TableError { file: FILE, line: i + 1, reason: reason.to_owned() };
            let mut cols = line.split('\t');
            let kind = match cols.next() {
                Some("health") => Endpoint::Health,
                Some("scrape") => Endpoint::Scrape,
                _ => return Err(err("unknown kind")),
            };
            let pattern = cols.next().filter(|p| !p.is_empty()).ok_or_else(|| err("no pattern"))?;
            patterns.push(format!("^(?:{pattern})$"));
            kinds.push(kind);
        }
        let set = RegexSetBuilder::new(&patterns).case_insensitive(true).build().map_err(|e| TableError {
            file: FILE,
            line: 0,
            reason: e.to_string(),
        })?;
        Ok(Endpoints { set, kinds, extra: health_paths })
    }

    /// What `path` (a path template) is by its name, if a health or scrape endpoint.
    #[must_use]
    pub fn classify(&self, path: &str) -> Option<Endpoint> {
        if self.extra.iter().any(|h| h == path) {
            return Some(Endpoint::Health);
        }
        // Most paths match none: `is_match` stops at the first match and lists none, where
        // `matches` runs every pattern to the end.
        if self.set.is_match(path) {
            if let Some(i) = self.set.matches(path).iter().next() {
                return self.kinds.get(i).copied();
            }
        }
        is_health_segment(path.trim_end_matches('/').rsplit('/').next().unwrap_or(""))
            .then_some(Endpoint::Health)
    }

    /// True when `path` is a health endpoint by its name.
    #[must_use]
    pub fn is_health(&self, path: &str) -> bool {
        self.classify(path) == Some(Endpoint::Health)
    }
}

/// Extensions of static files, which no framework gives a session.
const STATIC_EXTENSIONS: [&str; 22] = [
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "ico", "webp", "avif", "woff", "woff2",
    "ttf", "eot", "otf", "pdf", "zip", "gz", "mp4", "webm",
];

/// The extension of a path's last segment (`/a/app.js` → `js`).
fn extension(path: &str) -> Option<&str> {
    let last = path.rsplit('/').next()?;
    last.rsplit_once('.').map(|(_, e)| e)
}

/// Paths that create no session by their name, besides health and scrape endpoints: static
/// assets, `/robots.txt`, `/favicon.ico`, sitemaps and feeds, API and JSON endpoints.
#[must_use]
pub fn is_sessionless_by_name(path: &str) -> bool {
    // Compared without regard to case, with no lowercased copy: every probe's path is asked.
    let starts = |prefix: &str| path.get(..prefix.len()).is_some_and(|p| p.eq_ignore_ascii_case(prefix));
    extension(path).is_some_and(|e| {
        STATIC_EXTENSIONS
            .iter()
            .chain(&["json", "xml", "txt", "rss", "atom"])
            .any(|x| x.eq_ignore_ascii_case(e))
    }) || path.eq_ignore_ascii_case("/api")
        || path.as_bytes().windows(5).any(|w| w.eq_ignore_ascii_case(b"/api/"))
        || starts("/graphql")
        || starts("/static/")
        || starts("/assets/")
        // RFC 8615 metadata (OpenID configuration, JWKS, security.txt, ACME challenges).
        || starts("/.well-known/")
}

/// True when a segment of `path` is a login or auth word (`/login`, `/oauth2/authorize`).
#[must_use]
pub fn is_login_path(path: &str) -> bool {
    path.split('/').any(is_login_segment)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Endpoints {
        Endpoints::builtin(vec!["/custom-check".to_owned()]).unwrap()
    }

    #[test]
    fn health_endpoints_by_name() {
        let t = table();
        for p in [
            "/health",
            "/healthz",
            "/livez",
            "/readyz",
            "/actuator/health",
            "/actuator/health/liveness",
            "/shop/actuator/health/readiness",
            "/health/liveness",
            "/health/readiness",
            "/-/healthy",
            "/-/liveness",
            "/-/readiness",
            "/up",
            "/ht/",
            "/server-status",
            "/nginx_status",
            "/api/v1/health",
            "/ping.html",
            "/status",
            "/custom-check",
            "/__lbheartbeat__",
            "/grpc.health.v1.Health/Check",
        ] {
            assert_eq!(t.classify(p), Some(Endpoint::Health), "{p}");
        }
        for p in [
            "/metrics",
            "/actuator/prometheus",
            "/federate",
            "/shop/actuator/prometheus",
            "/metrics/cadvisor",
        ] {
            assert_eq!(t.classify(p), Some(Endpoint::Scrape), "{p}");
        }
        for p in [
            "/",
            "/login",
            "/healthy-food/recipes",
            "/dashboard",
            "/orders/:id",
            "/upload",
            "/update",
            "/users/up",
        ] {
            assert_eq!(t.classify(p), None, "{p}");
        }
    }

    #[test]
    fn sessionless_by_name() {
        for p in [
            "/robots.txt",
            "/favicon.ico",
            "/static/app.js",
            "/api/orders",
            "/v1/api/x",
            "/data.json",
            "/sitemap.xml",
            "/assets/logo.png",
            "/blog/feed.rss",
            "/.well-known/openid-configuration",
        ] {
            assert!(is_sessionless_by_name(p), "{p}");
        }
        for p in ["/", "/login", "/dashboard", "/orders/:id", "/admin", "/blog/feed"] {
            assert!(!is_sessionless_by_name(p), "{p}");
        }
    }

    proptest::proptest! {
        /// Names are compared without regard to case: as on a lowercased copy of the path.
        #[test]
        fn sessionless_by_name_ignores_case(
            parts in proptest::collection::vec(
                proptest::sample::select(vec!["/", "API", "api", "/Api/", "x", ".", ".Well-Known/", "JSON", "Js", "static", "/ASSETS/", "GraphQL", "é", "txt"]),
                0..8,
            ),
        ) {
            let path: String = parts.concat();
            let lower = path.to_ascii_lowercase();
            let reference = extension(&lower).is_some_and(|e| {
                STATIC_EXTENSIONS.contains(&e) || matches!(e, "json" | "xml" | "txt" | "rss" | "atom")
            }) || lower == "/api"
                || lower.contains("/api/")
                || lower.starts_with("/graphql")
                || lower.starts_with("/static/")
                || lower.starts_with("/assets/")
                || lower.starts_with("/.well-known/");
            proptest::prop_assert_eq!(is_sessionless_by_name(&path), reference, "{}", path);
        }
    }

    #[test]
    fn login_paths() {
        assert!(is_login_path("/login"));
        assert!(is_login_path("/oauth2/authorize"));
        assert!(!is_login_path("/dashboard"));
    }
}
