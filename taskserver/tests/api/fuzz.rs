//! Byte fuzzing over HTTP, driven by proptest (cargo-fuzz needs a nightly
//! toolchain): random request bodies, query strings and path segments. No
//! input may get a 5xx, and every answer is JSON with a sensible status.

use crate::helpers::*;
use proptest::prelude::*;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

/// Bodies: raw bytes, and near-JSON made of fragments that hit the parser's edges.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"title\"".to_string()),
        Just("\"tags\"".to_string()),
        Just("\"due\"".to_string()),
        Just("\"priority\"".to_string()),
        Just("\"email\"".to_string()),
        Just("\"password\"".to_string()),
        Just("\"refresh_token\"".to_string()),
        Just("null".to_string()),
        Just("true".to_string()),
        Just("-0.5e309".to_string()),
        Just("18446744073709551616".to_string()),
        Just("\"\\ud800\"".to_string()),
        Just("\"\\u0000\"".to_string()),
        Just("\"2030-01-01T00:00:00+25:00\"".to_string()),
        "\"[^\"\\\\]{0,12}\"",
    ];
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..300),
        proptest::collection::vec(fragment, 0..40).prop_map(|parts| parts.concat().into_bytes()),
    ]
}

fn query() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("status"),
        Just("q"),
        Just("tag"),
        Just("priority"),
        Just("sort"),
        Just("limit"),
        Just("cursor"),
        Just("x"),
    ];
    let value = "[a-zA-Z0-9%&=+\\-_.~ ]{0,20}";
    proptest::collection::vec((key, value), 0..6).prop_map(|pairs| {
        pairs
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{0,25}",
        "[0-9a-fA-F-]{30,40}",
        "[a-zA-Z0-9%._~-]{0,30}"
    ]
}

#[track_caller]
fn sane(resp: &Resp, what: &str) {
    assert!(resp.status < 500, "{what}: answered {}", resp.short());
    if resp.status != 204 {
        let kind = resp.header(CONTENT_TYPE.as_str()).unwrap_or_default();
        assert!(kind.contains("json"), "{what}: content type {kind:?}");
        assert!(
            serde_json::from_slice::<serde_json::Value>(&resp.body).is_ok(),
            "{what}: the body is not JSON"
        );
    }
}

#[test]
fn no_input_gets_a_server_error() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (app, user) = runtime.block_on(async {
        let app = spawn_app().await;
        let user = app.register().await;
        app.task(&user, "a task to aim at").await;
        (app, user)
    });
    let config = ProptestConfig {
        cases: 200,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(bytes in body(), q in query(), seg in segment(), pick in 0..7usize, typed in any::<bool>())| {
        runtime.block_on(async {
            let (method, path, token) = match pick {
                0 => (Method::POST, "/api/tasks".to_string(), true),
                1 => (Method::PATCH, "/api/tasks/1".to_string(), true),
                2 => (Method::PUT, format!("/api/tasks/{seg}"), true),
                3 => (Method::POST, "/api/auth/login".to_string(), false),
                4 => (Method::POST, "/api/auth/register".to_string(), false),
                5 => (Method::POST, "/api/auth/refresh".to_string(), false),
                _ => (Method::POST, "/api/auth/tokens".to_string(), true),
            };
            let mut request = app.req(method.clone(), &path).body(bytes.clone());
            if token {
                request = request.bearer_auth(&user.token);
            }
            if typed {
                request = request.header(CONTENT_TYPE, "application/json");
            }
            sane(&send(request).await, &format!("{method} {path} with {:?}", String::from_utf8_lossy(&bytes)));
            let listed = send(app.authed(Method::GET, &format!("/api/tasks?{q}"), &user.token)).await;
            sane(&listed, &format!("GET /api/tasks?{q}"));
            let got = send(app.authed(Method::GET, &format!("/api/tasks/{seg}"), &user.token)).await;
            sane(&got, &format!("GET /api/tasks/{seg}"));
        });
    });
}
