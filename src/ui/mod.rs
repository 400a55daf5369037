//! The operators' dashboard at `/ui`: one HTML page, a stylesheet and vanilla JavaScript
//! modules, all compiled into the binary (no CDN, no build step), that read the JSON API and
//! its event streams from the browser. Outside the OpenAPI spec: it is a page, not an API.
use std::sync::OnceLock;

use poem::http::{StatusCode, header};
use poem::web::Path;
use poem::{Request, Response, Route, get, handler};
use sha2::{Digest, Sha256};

/// One file of the dashboard.
struct Asset {
    /// Its path under `/ui/`.
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

const ASSETS: &[Asset] = &[
    asset("index.html", HTML, include_str!("assets/index.html")),
    asset("style.css", CSS, include_str!("assets/style.css")),
    asset("js/app.js", JS, include_str!("assets/js/app.js")),
    asset("js/api.js", JS, include_str!("assets/js/api.js")),
    asset("js/dom.js", JS, include_str!("assets/js/dom.js")),
    asset("js/events.js", JS, include_str!("assets/js/events.js")),
    asset("js/overview.js", JS, include_str!("assets/js/overview.js")),
    asset(
        "js/workflows.js",
        JS,
        include_str!("assets/js/workflows.js"),
    ),
    asset("js/timeline.js", JS, include_str!("assets/js/timeline.js")),
    asset(
        "js/dead_letters.js",
        JS,
        include_str!("assets/js/dead_letters.js"),
    ),
    asset("js/settings.js", JS, include_str!("assets/js/settings.js")),
    asset("js/webhooks.js", JS, include_str!("assets/js/webhooks.js")),
    asset("js/health.js", JS, include_str!("assets/js/health.js")),
    asset("js/doctor.js", JS, include_str!("assets/js/doctor.js")),
    asset("js/activity.js", JS, include_str!("assets/js/activity.js")),
    asset("js/charts.js", JS, include_str!("assets/js/charts.js")),
];

const fn asset(name: &'static str, content_type: &'static str, body: &'static str) -> Asset {
    Asset {
        name,
        content_type,
        body,
    }
}

/// The page may talk to this server only: no inline script, no third-party anything, no
/// framing (it carries an API key or the admin token).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The dashboard's routes, to be nested at `/ui`: `/ui` and `/ui/` are the page.
pub fn routes() -> Route {
    Route::new().at("/*path", get(file))
}

#[handler]
fn file(req: &Request, Path(path): Path<String>) -> Response {
    let name = match path.as_str() {
        "" | "/" => "index.html",
        other => other,
    };
    match ASSETS.iter().find(|a| a.name == name) {
        Some(a) => serve(req, a),
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .content_type("application/json; charset=utf-8")
            .body(
                serde_json::json!({
                    "code": "not_found",
                    "message": format!("no dashboard file `{path}`"),
                })
                .to_string(),
            ),
    }
}

/// Answers with the file, or 304 when the browser's copy is current. Every response is
/// revalidated (`no-cache`), so a new binary's page is never mixed with an old cached module.
fn serve(req: &Request, asset: &Asset) -> Response {
    let etag = etag(asset);
    let builder = Response::builder()
        .header(header::CACHE_CONTROL, "no-cache")
        .header(header::ETAG, etag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
        .header(header::REFERRER_POLICY, "no-referrer");
    let fresh = req
        .header(header::IF_NONE_MATCH)
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    if fresh {
        return builder.status(StatusCode::NOT_MODIFIED).finish();
    }
    let builder = if asset.content_type == HTML {
        builder.header(header::CONTENT_SECURITY_POLICY, CSP)
    } else {
        builder
    };
    builder.content_type(asset.content_type).body(asset.body)
}

/// A strong validator per file: a hash of its content, computed once.
fn etag(asset: &Asset) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &hex::encode(Sha256::digest(a.body))[..16]))
            .collect()
    });
    let i = ASSETS
        .iter()
        .position(|a| a.name == asset.name)
        .expect("a known asset");
    &tags[i]
}

#[cfg(test)]
mod tests {
    use super::ASSETS;

    /// A file added under `assets/` but not to `ASSETS` would be a 404 in the page.
    #[test]
    fn every_asset_file_is_served() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ui/assets");
        let mut dirs = vec![root.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let name = path.strip_prefix(&root).unwrap().to_str().unwrap();
                assert!(
                    ASSETS.iter().any(|a| a.name == name),
                    "{name} is not in ASSETS"
                );
            }
        }
    }
}
