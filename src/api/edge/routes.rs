//! The API's routes as the OpenAPI document lists them: which operation a request is for
//! (before the router runs, so limits can apply by operation) and which methods a path has
//! (the `Allow` header of a 405). Read from the spec, so a new route needs no table here.
use std::sync::Arc;

use poem::http::Method;

use crate::api::metrics::colon_params;

/// One path template of the spec, with its methods and their operation ids.
struct Template {
    /// `/v1/mints/{id}` as `["v1", "mints", None]`: `None` matches any one segment.
    segments: Vec<Option<String>>,
    operations: Vec<(Method, String)>,
    /// The template as metrics label it (`/v1/mints/:id`).
    pattern: Arc<str>,
}

impl Template {
    fn matches(&self, path: &[&str]) -> bool {
        self.segments.len() == path.len()
            && self
                .segments
                .iter()
                .zip(path)
                .all(|(want, got)| want.as_deref().is_none_or(|w| w == *got))
    }

    /// Literal segments: the router prefers `/v1/dead-letters/retry` to a `{param}` there.
    fn literals(&self) -> usize {
        self.segments.iter().filter(|s| s.is_some()).count()
    }
}

pub struct Routes(Vec<Template>);

impl Routes {
    /// The routes of `spec` (the OpenAPI document, as JSON).
    pub fn from_spec(spec: &str) -> Routes {
        let spec: serde_json::Value = serde_json::from_str(spec).unwrap_or_default();
        let templates = spec["paths"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, operations)| Template {
                segments: split(path)
                    .into_iter()
                    .map(|s| (!s.starts_with('{')).then(|| s.to_owned()))
                    .collect(),
                operations: operations
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter_map(|(method, op)| {
                        let method = method.to_uppercase().parse::<Method>().ok()?;
                        Some((method, op["operationId"].as_str()?.to_owned()))
                    })
                    .collect(),
                pattern: colon_params(path).into(),
            })
            .collect();
        Routes(templates)
    }

    /// The template `path` is routed to, if the spec has one.
    fn template(&self, path: &str) -> Option<&Template> {
        let path = split(path);
        self.0
            .iter()
            .filter(|t| t.matches(&path))
            .max_by_key(|t| t.literals())
    }

    /// The operation id of `method` on `path` (HEAD counts as GET, as the router serves it).
    pub fn operation(&self, method: &Method, path: &str) -> Option<&str> {
        let method = if method == Method::HEAD {
            &Method::GET
        } else {
            method
        };
        self.template(path)?
            .operations
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, id)| id.as_str())
    }

    /// The template of `path` as metrics label it, for answers given before the router ran.
    pub fn pattern(&self, path: &str) -> Option<Arc<str>> {
        self.template(path).map(|t| t.pattern.clone())
    }

    /// The `Allow` value of `path`: its methods, and HEAD wherever GET is.
    pub fn allow(&self, path: &str) -> Option<String> {
        let template = self.template(path)?;
        let mut methods: Vec<&str> = template
            .operations
            .iter()
            .map(|(m, _)| m.as_str())
            .collect();
        if methods.contains(&"GET") {
            methods.push("HEAD");
        }
        Some(methods.join(", "))
    }
}

fn split(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Routes {
        Routes::from_spec(&crate::api::spec_json())
    }

    #[test]
    fn requests_map_to_their_operation() {
        let r = routes();
        let id = "0193f0c4-0000-7000-8000-000000000000";
        assert_eq!(
            r.operation(&Method::GET, &format!("/v1/mints/{id}")),
            Some("get_mint")
        );
        assert_eq!(r.operation(&Method::HEAD, "/ready"), Some("ready"));
        assert_eq!(r.operation(&Method::POST, "/v1/mints"), Some("create_mint"));
        assert_eq!(
            r.operation(&Method::POST, "/v1/dead-letters/retry"),
            Some("retry_dead_letters")
        );
        assert_eq!(r.operation(&Method::DELETE, "/v1/mints"), None);
        assert_eq!(r.operation(&Method::GET, "/nowhere"), None);
        assert_eq!(
            r.pattern("/queue/item/7").as_deref(),
            Some("/queue/item/:queueId")
        );
    }

    #[test]
    fn allow_lists_the_methods_of_a_path() {
        let r = routes();
        let allow = r.allow("/v1/mints").unwrap();
        assert!(allow.contains("GET") && allow.contains("POST") && allow.contains("HEAD"));
        assert_eq!(r.allow("/x402/mint").unwrap(), "POST");
        assert_eq!(r.allow("/nowhere"), None);
    }
}
