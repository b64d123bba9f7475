//! The route table: which paths exist and which methods each serves.

use http::Method;

/// A path the API serves, with its path parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Endpoint<'a> {
    /// `/api/auth/register`
    Register,
    /// `/api/auth/login`
    Login,
    /// `/api/auth/refresh`
    Refresh,
    /// `/api/auth/logout`
    Logout,
    /// `/api/auth/me`
    Me,
    /// `/api/auth/tokens`
    ApiTokens,
    /// `/api/auth/tokens/{id}`
    ApiToken(&'a str),
    /// `/api/tasks`
    Tasks,
    /// `/api/tasks/{id}`
    Task(&'a str),
    /// `/healthz`
    Health,
    /// `/readyz`
    Ready,
    /// `/metrics`
    Metrics,
    /// `/api/openapi.json`
    OpenApi,
    /// Any other path under `/api/`: a 404 of ours.
    UnknownApi,
}

/// Route labels, in [`Endpoint::index`] order (for metrics and logs).
pub const ROUTE_NAMES: [&str; 14] = [
    "/api/auth/register",
    "/api/auth/login",
    "/api/auth/refresh",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/auth/tokens",
    "/api/auth/tokens/{id}",
    "/api/tasks",
    "/api/tasks/{id}",
    "/healthz",
    "/readyz",
    "/metrics",
    "/api/openapi.json",
    "unmatched",
];

impl<'a> Endpoint<'a> {
    /// The endpoint of a path; `None` for paths that are not ours at all
    /// (left to the host application).
    pub fn resolve(path: &'a str) -> Option<Self> {
        let endpoint = match path {
            "/healthz" => Self::Health,
            "/readyz" => Self::Ready,
            "/metrics" => Self::Metrics,
            _ => {
                let rest = path.strip_prefix("/api/")?;
                match rest.split('/').collect::<SmallPath>().as_slice() {
                    ["auth", "register"] => Self::Register,
                    ["auth", "login"] => Self::Login,
                    ["auth", "refresh"] => Self::Refresh,
                    ["auth", "logout"] => Self::Logout,
                    ["auth", "me"] => Self::Me,
                    ["auth", "tokens"] => Self::ApiTokens,
                    ["auth", "tokens", id] if !id.is_empty() => Self::ApiToken(id),
                    ["tasks"] => Self::Tasks,
                    ["tasks", id] if !id.is_empty() => Self::Task(id),
                    ["openapi.json"] => Self::OpenApi,
                    _ => Self::UnknownApi,
                }
            }
        };
        Some(endpoint)
    }

    /// The methods it serves, as an `Allow` header value.
    pub fn allow(&self) -> &'static str {
        match self {
            Self::Register | Self::Login | Self::Refresh | Self::Logout => "POST, OPTIONS",
            Self::ApiTokens | Self::Tasks => "GET, POST, OPTIONS",
            Self::ApiToken(_) => "DELETE, OPTIONS",
            Self::Me => "GET, DELETE, OPTIONS",
            Self::Task(_) => "GET, PUT, PATCH, DELETE, OPTIONS",
            Self::Health | Self::Ready | Self::Metrics | Self::OpenApi => "GET, OPTIONS",
            Self::UnknownApi => "",
        }
    }

    /// Whether it serves `method`.
    pub fn serves(&self, method: &Method) -> bool {
        let name = method.as_str();
        self.allow().split(", ").any(|m| m == name)
    }

    /// Its position in [`ROUTE_NAMES`].
    pub fn index(&self) -> usize {
        match self {
            Self::Register => 0,
            Self::Login => 1,
            Self::Refresh => 2,
            Self::Logout => 3,
            Self::Me => 4,
            Self::ApiTokens => 5,
            Self::ApiToken(_) => 6,
            Self::Tasks => 7,
            Self::Task(_) => 8,
            Self::Health => 9,
            Self::Ready => 10,
            Self::Metrics => 11,
            Self::OpenApi => 12,
            Self::UnknownApi => 13,
        }
    }

    /// The route label.
    pub fn name(&self) -> &'static str {
        ROUTE_NAMES[self.index()]
    }
}

/// Path segments without a heap allocation. A path deeper than any route
/// yields no segments, which matches nothing.
struct SmallPath<'a> {
    segments: [&'a str; 3],
    len: usize,
}

impl<'a> FromIterator<&'a str> for SmallPath<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(iter: I) -> Self {
        let mut path = SmallPath {
            segments: [""; 3],
            len: 0,
        };
        for segment in iter {
            match path.segments.get_mut(path.len) {
                Some(slot) => *slot = segment,
                None => {
                    return SmallPath {
                        segments: [""; 3],
                        len: 0,
                    };
                }
            }
            path.len += 1;
        }
        path
    }
}

impl<'a> SmallPath<'a> {
    fn as_slice(&self) -> &[&'a str] {
        &self.segments[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        assert_eq!(Endpoint::resolve("/api/tasks"), Some(Endpoint::Tasks));
        assert_eq!(Endpoint::resolve("/api/tasks/7"), Some(Endpoint::Task("7")));
        assert_eq!(Endpoint::resolve("/api/tasks/"), Some(Endpoint::UnknownApi));
        assert_eq!(
            Endpoint::resolve("/api/tasks/7/x"),
            Some(Endpoint::UnknownApi)
        );
        assert_eq!(
            Endpoint::resolve("/api/a/b/c/d/e"),
            Some(Endpoint::UnknownApi)
        );
        assert_eq!(Endpoint::resolve("/"), None);
        assert_eq!(Endpoint::resolve("/hello"), None);
        assert!(Endpoint::Task("1").serves(&Method::PATCH));
        assert!(!Endpoint::Tasks.serves(&Method::DELETE));
        assert!(Endpoint::Me.serves(&Method::DELETE));
        assert!(!Endpoint::Me.serves(&Method::POST));
    }
}
