//! CORS for the configured origins only: other origins get no CORS headers,
//! and their preflights a 403.

use super::endpoint::Route;
use super::problem::ApiError;
use bytes::Bytes;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_METHOD, ALLOW,
    HeaderMap, HeaderValue, ORIGIN, VARY,
};
use http::{Response, StatusCode};

const ALLOWED_METHODS: &str = "GET, POST, PUT, PATCH, DELETE";
const ALLOWED_HEADERS: &str =
    "Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID, x-request-id";
const EXPOSED_HEADERS: &str = "ETag, Link, Location, Retry-After, x-request-id";

/// The request's `Origin`, when it is one of `allowed`.
pub fn allowed_origin<'h>(headers: &'h HeaderMap, allowed: &[String]) -> Option<&'h HeaderValue> {
    let origin = headers.get(ORIGIN)?;
    let text = origin.to_str().ok()?;
    allowed.iter().any(|a| a == text).then_some(origin)
}

/// Answers an `OPTIONS` request: a preflight from an allowed origin gets
/// the CORS grant, one from another origin a 403; a plain `OPTIONS` the
/// route's `Allow` list.
pub fn options(
    headers: &HeaderMap,
    allowed: &[String],
    route: &Route,
) -> Result<Response<Bytes>, ApiError> {
    let mut response = Response::new(Bytes::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let preflight =
        headers.contains_key(ORIGIN) && headers.contains_key(ACCESS_CONTROL_REQUEST_METHOD);
    if !preflight {
        if let Ok(allow) = HeaderValue::try_from(route.allow()) {
            response.headers_mut().insert(ALLOW, allow);
        }
        return Ok(response);
    }
    if allowed_origin(headers, allowed).is_none() {
        return Err(ApiError::OriginNotAllowed);
    }
    let h = response.headers_mut();
    h.insert(
        ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    h.insert(
        ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
    Ok(response)
}

/// Adds the CORS headers of an allowed origin to any response.
pub fn decorate<B>(response: &mut Response<B>, origin: Option<HeaderValue>) {
    let h = response.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        h.insert(
            ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}
