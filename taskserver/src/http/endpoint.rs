//! The route table: every endpoint's facts in one row of [`ROUTES`].
//!
//! The dispatcher, the `Allow` header, the metrics' route names and the
//! order-of-checks rules (rate limits, authentication, API tokens, bodies)
//! all read this table, and a test holds it equal to `openapi.json`; adding
//! an endpoint is one row here, one [`Op`] and its handler.

use http::Method;

/// Who may call an operation (the 401 and 403 checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Auth {
    /// No token needed.
    None,
    /// Any bearer token: a session's access token or an API token.
    Bearer,
    /// A bearer token that is not an API token (403 `api_token_not_allowed`).
    Session,
}

/// Which rate limit counts an operation's requests (the 429 check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// Not limited before the handler.
    None,
    /// The per-client limit on login, register and refresh requests.
    Credentials,
}

/// What body an operation reads (the 400/413/415 checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// None; whatever is sent is not read.
    None,
    /// A JSON object; an empty body is passed on as absent, for the
    /// handler to refuse or accept (400 by default).
    Object,
    /// A JSON object or nothing at all (empty or white space).
    Optional,
}

/// The handler an operation runs, once every check has passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Register,
    Login,
    Refresh,
    Logout,
    Me,
    DeleteAccount,
    ListApiTokens,
    CreateApiToken,
    RevokeApiToken,
    ListTasks,
    CreateTask,
    GetTask,
    ReplaceTask,
    UpdateTask,
    DeleteTask,
    ListProjects,
    Changes,
    Events,
    Health,
    Ready,
    Metrics,
    OpenApi,
}

/// One method of a route, with the rules its requests pass.
#[derive(Debug)]
pub struct Operation {
    /// The method.
    pub method: Method,
    /// The handler.
    pub op: Op,
    /// Who may call it.
    pub auth: Auth,
    /// Which rate limit counts it.
    pub limit: Limit,
    /// Whether it is refused (403 `local_accounts_disabled`) on a server
    /// without local accounts.
    pub local_accounts: bool,
    /// The body it reads.
    pub body: BodyKind,
}

impl Operation {
    /// Whether an API token may call it.
    pub fn api_tokens_allowed(&self) -> bool {
        self.auth != Auth::Session
    }
}

/// A path the API serves: its pattern, name and methods.
#[derive(Debug)]
pub struct Route {
    /// The path as `openapi.json` writes it; a `{...}` segment is a
    /// parameter matching any one non-empty segment.
    pub pattern: &'static str,
    /// The label in metrics and logs.
    pub name: &'static str,
    /// The methods it serves, in `Allow` order.
    pub operations: &'static [Operation],
}

impl Route {
    /// The `Allow` header's value: the methods, then `OPTIONS`.
    pub fn allow(&self) -> String {
        let mut allow = String::new();
        for operation in self.operations {
            allow.push_str(operation.method.as_str());
            allow.push_str(", ");
        }
        allow.push_str("OPTIONS");
        allow
    }

    /// The operation serving `method`, if any.
    pub fn operation(&self, method: &Method) -> Option<&'static Operation> {
        // `operations` is `'static` data; reborrow through it, not `self`.
        let operations: &'static [Operation] = self.operations;
        operations.iter().find(|o| o.method == *method)
    }
}

const fn op(method: Method, op: Op, auth: Auth, body: BodyKind) -> Operation {
    Operation {
        method,
        op,
        auth,
        limit: Limit::None,
        local_accounts: false,
        body,
    }
}

/// A local-account operation: no token, rate limited, refused without local accounts.
const fn credentials(op: Op) -> Operation {
    Operation {
        method: Method::POST,
        op,
        auth: Auth::None,
        limit: Limit::Credentials,
        local_accounts: true,
        body: BodyKind::Object,
    }
}

const fn public_get(op: Op) -> Operation {
    self::op(Method::GET, op, Auth::None, BodyKind::None)
}

/// Every endpoint, in the order metrics list them.
pub const ROUTES: &[Route] = {
    use Auth::{Bearer, Session};
    use BodyKind::{None as NoBody, Object, Optional};
    use Method as M;
    &[
        Route {
            pattern: "/api/auth/register",
            name: "/api/auth/register",
            operations: &[credentials(Op::Register)],
        },
        Route {
            pattern: "/api/auth/login",
            name: "/api/auth/login",
            operations: &[credentials(Op::Login)],
        },
        Route {
            pattern: "/api/auth/refresh",
            name: "/api/auth/refresh",
            operations: &[credentials(Op::Refresh)],
        },
        Route {
            pattern: "/api/auth/logout",
            name: "/api/auth/logout",
            operations: &[op(M::POST, Op::Logout, Session, Optional)],
        },
        Route {
            pattern: "/api/auth/me",
            name: "/api/auth/me",
            operations: &[
                op(M::GET, Op::Me, Bearer, NoBody),
                // A local account confirms with its password; an external
                // user's token is enough.
                op(M::DELETE, Op::DeleteAccount, Session, Optional),
            ],
        },
        Route {
            pattern: "/api/auth/tokens",
            name: "/api/auth/tokens",
            operations: &[
                op(M::GET, Op::ListApiTokens, Session, NoBody),
                op(M::POST, Op::CreateApiToken, Session, Object),
            ],
        },
        Route {
            pattern: "/api/auth/tokens/{id}",
            name: "/api/auth/tokens/{id}",
            operations: &[op(M::DELETE, Op::RevokeApiToken, Session, NoBody)],
        },
        Route {
            pattern: "/api/tasks",
            name: "/api/tasks",
            operations: &[
                op(M::GET, Op::ListTasks, Bearer, NoBody),
                op(M::POST, Op::CreateTask, Bearer, Object),
            ],
        },
        Route {
            pattern: "/api/tasks/{id}",
            name: "/api/tasks/{id}",
            operations: &[
                op(M::GET, Op::GetTask, Bearer, NoBody),
                op(M::PUT, Op::ReplaceTask, Bearer, Object),
                op(M::PATCH, Op::UpdateTask, Bearer, Object),
                op(M::DELETE, Op::DeleteTask, Bearer, NoBody),
            ],
        },
        Route {
            pattern: "/api/projects",
            name: "/api/projects",
            operations: &[op(M::GET, Op::ListProjects, Bearer, NoBody)],
        },
        Route {
            pattern: "/api/changes",
            name: "/api/changes",
            operations: &[op(M::GET, Op::Changes, Bearer, NoBody)],
        },
        Route {
            pattern: "/api/events",
            name: "/api/events",
            operations: &[op(M::GET, Op::Events, Bearer, NoBody)],
        },
        Route {
            pattern: "/healthz",
            name: "/healthz",
            operations: &[public_get(Op::Health)],
        },
        Route {
            pattern: "/readyz",
            name: "/readyz",
            operations: &[public_get(Op::Ready)],
        },
        Route {
            pattern: "/metrics",
            name: "/metrics",
            operations: &[public_get(Op::Metrics)],
        },
        Route {
            pattern: "/api/openapi.json",
            name: "/api/openapi.json",
            operations: &[public_get(Op::OpenApi)],
        },
    ]
};

/// The metrics and log label of a path under `/api/` that no route serves.
pub const UNMATCHED: &str = "unmatched";

/// Where a request path leads.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint<'a> {
    /// The route, or `None` for a path under `/api/` that no route serves
    /// (a 404 of ours).
    pub route: Option<&'static Route>,
    /// The route's position in [`ROUTES`] (`ROUTES.len()` when unmatched).
    pub index: usize,
    /// The path parameter, for a pattern that has one.
    pub param: Option<&'a str>,
}

impl<'a> Endpoint<'a> {
    /// The endpoint of a path; `None` for paths that are not ours at all
    /// (left to the host application).
    pub fn resolve(path: &'a str) -> Option<Self> {
        let ours = path.starts_with("/api/")
            || ROUTES
                .iter()
                .any(|r| !r.pattern.starts_with("/api/") && r.pattern == path);
        if !ours {
            return None;
        }
        for (index, route) in ROUTES.iter().enumerate() {
            if let Some(param) = matches(route.pattern, path) {
                return Some(Self {
                    route: Some(route),
                    index,
                    param,
                });
            }
        }
        Some(Self::unmatched())
    }

    /// The endpoint [`resolve`](Self::resolve) found for `path` at
    /// `index`, again, without scanning the table: the filter that decides
    /// whether a path is ours resolves it once and passes the index on.
    pub fn at(index: usize, path: &'a str) -> Self {
        match ROUTES.get(index) {
            Some(route) => Self {
                route: Some(route),
                index,
                param: matches(route.pattern, path).flatten(),
            },
            None => Self::unmatched(),
        }
    }

    /// A path under `/api/` that no route serves.
    pub fn unmatched() -> Self {
        Self {
            route: None,
            index: ROUTES.len(),
            param: None,
        }
    }

    /// The route label, for metrics and logs.
    pub fn name(&self) -> &'static str {
        self.route.map_or(UNMATCHED, |r| r.name)
    }

    /// Whether one of the route's methods runs `op`.
    pub fn serves(&self, op: Op) -> bool {
        self.route
            .is_some_and(|r| r.operations.iter().any(|o| o.op == op))
    }
}

/// Whether `path` matches `pattern`: `Some` with the parameter's value (if
/// the pattern has one), `None` when it does not match.
///
/// A pattern has at most one parameter, a whole segment: the text before
/// it and after it must be the path's, and what is between one non-empty
/// segment. (Comparing slices, not splitting both into segments: this runs
/// on every request, twice.)
fn matches<'a>(pattern: &str, path: &'a str) -> Option<Option<&'a str>> {
    let Some(open) = pattern.find('{') else {
        return (pattern == path).then_some(None);
    };
    let close = pattern[open..].find('}')? + open;
    let value = path
        .strip_prefix(&pattern[..open])?
        .strip_suffix(&pattern[close + 1..])?;
    (!value.is_empty() && !value.contains('/')).then_some(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::collections::BTreeSet;

    fn route(path: &str) -> Option<(&'static str, Option<&str>)> {
        Endpoint::resolve(path).map(|e| (e.name(), e.param))
    }

    #[test]
    fn paths_resolve() {
        assert_eq!(route("/api/tasks"), Some(("/api/tasks", None)));
        assert_eq!(route("/api/tasks/7"), Some(("/api/tasks/{id}", Some("7"))));
        assert_eq!(route("/api/projects"), Some(("/api/projects", None)));
        assert_eq!(route("/api/projects/Home"), Some((UNMATCHED, None)));
        assert_eq!(route("/api/tasks/"), Some((UNMATCHED, None)));
        assert_eq!(route("/api/tasks/7/x"), Some((UNMATCHED, None)));
        assert_eq!(route("/api/a/b/c/d/e"), Some((UNMATCHED, None)));
        assert_eq!(route("/api/"), Some((UNMATCHED, None)));
        assert_eq!(route("/healthz"), Some(("/healthz", None)));
        assert_eq!(route("/healthz/"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route("/hello"), None);
        assert_eq!(route("/api"), None);
    }

    #[test]
    fn methods_and_allow() {
        let of = |path| {
            Endpoint::resolve(path)
                .and_then(|e| e.route)
                .expect("a route")
        };
        assert!(of("/api/tasks/1").operation(&Method::PATCH).is_some());
        assert!(of("/api/tasks").operation(&Method::DELETE).is_none());
        assert!(of("/api/auth/me").operation(&Method::DELETE).is_some());
        assert!(of("/api/auth/me").operation(&Method::POST).is_none());
        assert_eq!(
            of("/api/tasks/1").allow(),
            "GET, PUT, PATCH, DELETE, OPTIONS"
        );
        assert_eq!(of("/healthz").allow(), "GET, OPTIONS");
    }

    #[test]
    fn names_are_unique() {
        let names: BTreeSet<&str> = ROUTES.iter().map(|r| r.name).chain([UNMATCHED]).collect();
        assert_eq!(names.len(), ROUTES.len() + 1);
    }

    /// The table and the OpenAPI document name the same paths and methods,
    /// and agree on who may call each (and on the errors that implies), so
    /// an endpoint missing from either fails here.
    #[test]
    fn the_table_is_the_openapi_document() {
        let doc: Value =
            serde_json::from_str(include_str!("../../openapi.json")).expect("openapi.json is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let documented: BTreeSet<(String, String)> = paths
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|k| *k != "parameters" && !k.starts_with("x-"))
                    .map(move |m| (path.clone(), m.to_uppercase()))
            })
            .collect();
        let table: BTreeSet<(String, String)> = ROUTES
            .iter()
            .flat_map(|r| {
                r.operations
                    .iter()
                    .map(|o| (r.pattern.to_string(), o.method.as_str().to_string()))
            })
            .collect();
        assert_eq!(
            table, documented,
            "the route table and openapi.json disagree on paths and methods"
        );

        for route in ROUTES {
            for operation in route.operations {
                let method = operation.method.as_str().to_lowercase();
                let doc = &paths[route.pattern][&method];
                let what = format!("{} {}", operation.method, route.pattern);
                // No `security` means the document's default: bearer.
                let public = doc["security"].as_array().is_some_and(Vec::is_empty);
                assert_eq!(public, operation.auth == Auth::None, "{what}: auth");
                let answers = |status: &str| doc["responses"].get(status).is_some();
                if operation.auth != Auth::None {
                    assert!(answers("401"), "{what}: 401 is documented");
                }
                if !operation.api_tokens_allowed() || operation.local_accounts {
                    assert!(answers("403"), "{what}: 403 is documented");
                }
                if operation.limit != Limit::None {
                    assert!(answers("429"), "{what}: 429 is documented");
                }
                if operation.body != BodyKind::None {
                    for status in ["400", "413", "415", "422"] {
                        assert!(answers(status), "{what}: {status} is documented");
                    }
                    assert!(doc.get("requestBody").is_some(), "{what}: a request body");
                } else {
                    assert!(doc.get("requestBody").is_none(), "{what}: no request body");
                }
            }
        }
    }

    /// Metrics label their series with the table's names, and nothing else.
    #[test]
    fn metrics_use_the_table_names() {
        let metrics = crate::http::metrics::Metrics::default();
        for index in 0..=ROUTES.len() {
            metrics.record(index, 200, std::time::Duration::from_millis(1));
        }
        metrics.record(ROUTES.len() + 1, 200, std::time::Duration::from_millis(1));
        let labels: BTreeSet<String> = metrics
            .render()
            .lines()
            .filter_map(|l| l.split("route=\"").nth(1))
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_string)
            .collect();
        let names: BTreeSet<String> = ROUTES
            .iter()
            .map(|r| r.name.to_string())
            .chain([UNMATCHED.to_string()])
            .collect();
        assert_eq!(labels, names);
    }
}
