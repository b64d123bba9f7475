//! Fixtures: a server on a fresh data directory, users and tasks in one line,
//! responses with their problem+json checks, forged tokens and raw HTTP.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;
use taskserver::Config;
use taskserver::config::Switch;

/// The HS256 key every in-process test server signs with, so tests can forge tokens.
pub const SECRET: &str = "integration-tests-secret-0123456789abcdef";
/// Where in-process test servers listen: a free port on loopback.
pub const EPHEMERAL: ([u8; 4], u16) = ([127, 0, 0, 1], 0);
/// The password of every fixture user.
pub const PASSWORD: &str = "correct horse battery staple";

/// The store behind a test binary's in-process servers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(dead_code)] // each test binary picks one
pub enum Backend {
    /// The embedded store, in the app's temporary directory.
    Sled,
    /// A PostgreSQL database of its own, made from `TASKSERVER_TEST_DATABASE_URL`.
    Postgres,
}

/// A new, empty PostgreSQL database on the test server, dropped with the value.
pub async fn test_database() -> taskcore::store::postgres::testing::TestDatabase {
    let base = taskcore::store::postgres::testing::test_database_url()
        .expect("TASKSERVER_TEST_DATABASE_URL names the PostgreSQL server for these tests");
    taskcore::store::postgres::testing::TestDatabase::create(&base)
        .await
        .expect("a test database")
}

/// A running server on its own temporary data directory (or database).
pub struct App {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// A client without cookies or redirects.
    pub http: reqwest::Client,
    server: Option<taskserver::RunningServer>,
    /// The data directory; removed when the app is dropped.
    pub dir: tempfile::TempDir,
    /// The configuration the server runs with (for a restart).
    config: Option<Config>,
    /// The app's PostgreSQL database, dropped after the server (fields
    /// drop in order).
    _database: Option<taskcore::store::postgres::testing::TestDatabase>,
}

/// The default test server: fixed secret, rate limits off.
pub async fn spawn_app() -> App {
    spawn_with(|_| {}).await
}

/// A test server whose configuration `tweak` adjusts first.
pub async fn spawn_with(tweak: impl FnOnce(&mut Config)) -> App {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = Config::new(dir.path().join("data"))
        .listen(EPHEMERAL)
        .jwt_secret(SECRET)
        .auth_rate_limit(Switch::Off);
    let database = match crate::BACKEND {
        Backend::Sled => None,
        Backend::Postgres => Some(test_database().await),
    };
    if let Some(database) = &database {
        config.database_url = Some(database.url.parse().expect("a postgres:// URL"));
    }
    tweak(&mut config);
    let server = taskserver::start(config.clone())
        .await
        .expect("the server starts");
    let url = server.url();
    App {
        url,
        http: client(),
        server: Some(server),
        dir,
        config: Some(config),
        _database: database,
    }
}

impl App {
    /// A client for a server running elsewhere (the built binary).
    pub fn remote(url: &str) -> App {
        let dir = tempfile::tempdir().expect("tempdir");
        App {
            url: url.to_string(),
            http: client(),
            server: None,
            dir,
            config: None,
            _database: None,
        }
    }
}

/// A reqwest client that does nothing on its own (no redirects).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client")
}

/// A registered user and their first session.
#[derive(Clone, Debug)]
pub struct User {
    /// The user's id.
    pub id: String,
    /// The normalised email.
    pub email: String,
    /// The session's access token.
    pub token: String,
    /// The session's refresh token.
    pub refresh: String,
}

impl User {
    /// The user from a session body.
    pub fn from_session(session: &Value) -> Self {
        Self {
            id: s(&session["user"]["id"]),
            email: s(&session["user"]["email"]),
            token: s(&session["access_token"]),
            refresh: s(&session["refresh_token"]),
        }
    }
}

/// A string field, or a panic naming what was there instead.
pub fn s(value: &Value) -> String {
    value
        .as_str()
        .unwrap_or_else(|| panic!("expected a string, got {value}"))
        .to_string()
}

/// An email no other test uses.
pub fn unique_email() -> String {
    format!("u{}@example.com", uuid::Uuid::now_v7().simple())
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as received.
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as JSON (panics with the body otherwise).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                self.text()
            )
        })
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The start of the body, for failure messages.
    pub fn short(&self) -> String {
        self.text().chars().take(400).collect()
    }

    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }

    /// Every value of a header, comma lists split, lower-cased and trimmed.
    pub fn header_list(&self, name: &str) -> Vec<String> {
        self.headers
            .get_all(name)
            .iter()
            .flat_map(|v| {
                v.to_str()
                    .expect("ascii header")
                    .split(',')
                    .map(|p| p.trim().to_ascii_lowercase())
            })
            .collect()
    }

    /// Asserts the status, showing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body: {}",
            self.text()
        );
        self
    }

    /// Asserts an RFC 9457 problem with this status and code, and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> Value {
        self.expect(status);
        let ct = self.header("content-type").unwrap_or_default();
        assert!(
            ct.starts_with("application/problem+json"),
            "content-type {ct:?}; body {}",
            self.text()
        );
        let body = self.json();
        assert_eq!(body["code"], code, "problem {body}");
        assert_eq!(body["status"], status, "problem {body}");
        assert_eq!(body["type"], "about:blank", "problem {body}");
        assert!(
            body["title"].as_str().is_some_and(|t| !t.is_empty()),
            "problem without title: {body}"
        );
        assert_eq!(
            body.get("errors").is_some(),
            code == "validation_failed",
            "`errors` only for validation: {body}"
        );
        body
    }

    /// Asserts a 422 naming `field` among its errors.
    #[track_caller]
    pub fn invalid(&self, field: &str) -> Value {
        let body = self.problem(422, "validation_failed");
        let errors = body["errors"].as_array().expect("errors array");
        assert!(
            errors.iter().any(|e| e["field"]
                .as_str()
                .is_some_and(|f| f == field || f.starts_with(&format!("{field}[")))),
            "no error for {field}: {body}"
        );
        body
    }

    /// Asserts a 401 with `WWW-Authenticate: Bearer` and the code; `error="invalid_token"`
    /// exactly when `token_sent`.
    #[track_caller]
    pub fn unauthorized(&self, code: &str, token_sent: bool) {
        self.problem(401, code);
        let challenge = self
            .header("www-authenticate")
            .expect("WWW-Authenticate on a 401");
        assert!(challenge.starts_with("Bearer"), "challenge {challenge:?}");
        assert_eq!(
            challenge.contains("error=\"invalid_token\""),
            token_sent,
            "challenge {challenge:?}"
        );
    }
}

/// Sends a request and reads the whole response.
pub async fn send(request: RequestBuilder) -> Resp {
    read(request.send().await.expect("the request is answered")).await
}

/// Reads the whole of a response.
pub async fn read(response: reqwest::Response) -> Resp {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("body").to_vec();
    Resp {
        status,
        headers,
        body,
    }
}

impl App {
    /// A request to `path` on this server.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.url))
    }

    /// A request with a bearer token.
    pub fn authed(&self, method: Method, path: &str, token: &str) -> RequestBuilder {
        self.req(method, path).bearer_auth(token)
    }

    /// A request with an optional token and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Resp {
        let mut request = self.req(method, path);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        send(request).await
    }

    /// `GET path` as a user.
    pub async fn get(&self, u: &User, path: &str) -> Resp {
        self.call(Method::GET, path, Some(&u.token), None).await
    }

    /// `POST path` with a JSON body as a user.
    pub async fn post(&self, u: &User, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(&u.token), Some(&body))
            .await
    }

    /// `PUT path` with a JSON body as a user.
    pub async fn put(&self, u: &User, path: &str, body: Value) -> Resp {
        self.call(Method::PUT, path, Some(&u.token), Some(&body))
            .await
    }

    /// `PATCH path` with a JSON body as a user.
    pub async fn patch(&self, u: &User, path: &str, body: Value) -> Resp {
        self.call(Method::PATCH, path, Some(&u.token), Some(&body))
            .await
    }

    /// `DELETE path` as a user.
    pub async fn delete(&self, u: &User, path: &str) -> Resp {
        self.call(Method::DELETE, path, Some(&u.token), None).await
    }

    /// `POST /api/auth/register`.
    pub async fn register_as(&self, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password});
        self.call(Method::POST, "/api/auth/register", None, Some(&body))
            .await
    }

    /// `POST /api/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Resp {
        let body = json!({"email": email, "password": password});
        self.call(Method::POST, "/api/auth/login", None, Some(&body))
            .await
    }

    /// `POST /api/auth/refresh`.
    pub async fn refresh(&self, refresh_token: &str) -> Resp {
        let body = json!({"refresh_token": refresh_token});
        self.call(Method::POST, "/api/auth/refresh", None, Some(&body))
            .await
    }

    /// A new user with a fresh session.
    pub async fn register(&self) -> User {
        let session = self
            .register_as(&unique_email(), PASSWORD)
            .await
            .expect(201)
            .json();
        User::from_session(&session)
    }

    /// Creates a task from a body and returns it (asserting 201).
    pub async fn create(&self, u: &User, body: Value) -> Value {
        self.post(u, "/api/tasks", body).await.expect(201).json()
    }

    /// Creates a task with just a title.
    pub async fn task(&self, u: &User, title: &str) -> Value {
        self.create(u, json!({"title": title})).await
    }

    /// Fetches a task by id or number (asserting 200).
    pub async fn fetch(&self, u: &User, id: &Value) -> Value {
        self.get(u, &task_path(id)).await.expect(200).json()
    }

    /// `GET /api/tasks?query` as a user.
    pub async fn list(&self, u: &User, query: &str) -> Resp {
        self.get(u, &format!("/api/tasks?{query}")).await
    }

    /// Walks every page of a list and returns the tasks in order.
    pub async fn list_all(&self, u: &User, query: &str) -> Vec<Value> {
        let mut tasks = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let q = match &cursor {
                Some(c) => format!("{query}&cursor={c}"),
                None => query.to_string(),
            };
            let page = self.list(u, &q).await.expect(200).json();
            tasks.extend(page["tasks"].as_array().expect("tasks").iter().cloned());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => return tasks,
            }
        }
    }

    /// Sends raw bytes on a fresh connection and reads the response.
    pub async fn raw(&self, request: Vec<u8>) -> RawResp {
        let addr = self.url.trim_start_matches("http://").to_string();
        tokio::task::spawn_blocking(move || raw_http(&addr, &request))
            .await
            .expect("raw request")
    }

    /// `http://ADDR` of the metrics address, when the server was started
    /// with `metrics_listen`.
    pub fn metrics_url(&self) -> Option<String> {
        let addr = self.server.as_ref()?.metrics_addr?;
        Some(format!("http://{addr}"))
    }

    /// Stops the server gracefully but keeps its store (data directory or
    /// database), for the binary's tools to work on.
    pub async fn shut_down(&mut self) {
        if let Some(server) = self.server.take() {
            server
                .shutdown()
                .await
                .expect("the store flushes at shutdown");
        }
    }

    /// The flags that select this app's store, as the binary's tools take them.
    pub fn store_args(&self) -> Vec<String> {
        let config = self.config.as_ref().expect("an in-process server");
        match &config.database_url {
            Some(url) => vec!["--database-url".into(), url.expose().to_string()],
            None => vec![
                "--data-dir".into(),
                config.data_dir.to_str().expect("utf-8 path").to_string(),
            ],
        }
    }

    /// Stops the server gracefully.
    pub async fn stop(mut self) {
        if let Some(server) = self.server.take() {
            server
                .shutdown()
                .await
                .expect("the store flushes at shutdown");
        }
    }

    /// Stops the server and starts another on the same store (data
    /// directory or database) and configuration, which `tweak` adjusts.
    pub async fn restart(mut self, tweak: impl FnOnce(&mut Config)) -> App {
        if let Some(server) = self.server.take() {
            server
                .shutdown()
                .await
                .expect("the store flushes at shutdown");
        }
        let mut config = self.config.take().expect("an in-process server");
        tweak(&mut config);
        let server = taskserver::start(config.clone())
            .await
            .expect("the server starts again");
        App {
            url: server.url(),
            http: client(),
            server: Some(server),
            dir: self.dir,
            config: Some(config),
            _database: self._database,
        }
    }
}

/// Every `sort=` value the list accepts, in both directions.
pub const SORTS: [&str; 10] = [
    "created", "-created", "due", "-due", "priority", "-priority", "title", "-title", "updated",
    "-updated",
];

/// `/api/tasks/{id}` for a task's id (a JSON string) or number.
pub fn task_path(id: &Value) -> String {
    match id {
        Value::String(id) => format!("/api/tasks/{id}"),
        other => format!("/api/tasks/{other}"),
    }
}

/// A response read off a raw connection.
#[derive(Debug)]
pub struct RawResp {
    /// The status code.
    pub status: u16,
    /// Header lines, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResp {
    /// A header's value, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }

    /// Asserts the status and, for an error, the problem code.
    #[track_caller]
    pub fn expect(&self, status: u16, code: Option<&str>) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        let body = self.json();
        if let Some(code) = code {
            assert!(
                self.header("content-type")
                    .is_some_and(|c| c.starts_with("application/problem+json"))
            );
            assert_eq!(body["code"], code, "{body}");
        }
        body
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "status {}: not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

fn raw_http(addr: &str, request: &[u8]) -> RawResp {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    // A server may answer and close before reading a body it refuses: read anyway.
    let _ = stream.write_all(request);
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
            // The server may reset after answering a body it refused to read.
            Err(_) if !data.is_empty() => break,
            Err(e) => panic!("read: {e}"),
        }
        if let Some(resp) = parse_raw(&data) {
            return resp;
        }
    }
    parse_raw(&data)
        .unwrap_or_else(|| panic!("incomplete response: {}", String::from_utf8_lossy(&data)))
}

/// Parses a complete response, or `None` while more bytes are needed.
fn parse_raw(data: &[u8]) -> Option<RawResp> {
    let end = data.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&data[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &data[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length") {
        let len: usize = len.parse().ok()?;
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else {
        return None;
    };
    Some(RawResp {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&data[..line_end]).into_owned();
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if data.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// A raw HTTP/1.1 request with header lines (`Name: value`) and a body sent
/// either with `Content-Length` or chunked in pieces of `chunk` bytes.
pub fn raw_request(
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
    chunk: Option<usize>,
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for h in headers {
        out.push_str(h);
        out.push_str("\r\n");
    }
    let mut out = match chunk {
        None => format!("{out}Content-Length: {}\r\n\r\n", body.len()).into_bytes(),
        Some(_) => format!("{out}Transfer-Encoding: chunked\r\n\r\n").into_bytes(),
    };
    match chunk {
        None => out.extend_from_slice(body),
        Some(size) => {
            for piece in body.chunks(size) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        }
    }
    out
}

/// The claims of a JWT, read without checking it.
pub fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
        .expect("JSON claims")
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A JWT with this header and claims, signed with HMAC (`HS256` or `HS512`) under `key`.
pub fn forge_with(header: &Value, claims: &Value, key: &str) -> String {
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("json"));
    let message = format!("{}.{}", b64(header), b64(claims));
    let algorithm = match header["alg"].as_str() {
        Some("HS512") => aws_lc_rs::hmac::HMAC_SHA512,
        _ => aws_lc_rs::hmac::HMAC_SHA256,
    };
    let tag = aws_lc_rs::hmac::sign(
        &aws_lc_rs::hmac::Key::new(algorithm, key.as_bytes()),
        message.as_bytes(),
    );
    format!("{message}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// An HS256 JWT with these claims under the test secret.
pub fn forge(claims: &Value) -> String {
    forge_with(&json!({"alg": "HS256", "typ": "JWT"}), claims, SECRET)
}

/// Valid claims for a user's session, good for 10 minutes.
pub fn good_claims(u: &User) -> Value {
    let c = claims_of(&u.token);
    json!({"sub": c["sub"], "sid": c["sid"], "iat": now(), "exp": now() + 600, "iss": "taskserver", "aud": "taskserver"})
}

/// A copy of `value` with `key` set (or removed when `new` is null).
pub fn with(value: &Value, key: &str, new: Value) -> Value {
    let mut value = value.clone();
    let map = value.as_object_mut().expect("object");
    if new.is_null() {
        map.remove(key);
    } else {
        map.insert(key.to_string(), new);
    }
    value
}

/// Asserts an RFC 3339 UTC time with `Z`.
#[track_caller]
pub fn assert_time(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("time expected, got {value}"));
    assert!(text.ends_with('Z'), "not UTC with Z: {text}");
    chrono::DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|e| panic!("not RFC 3339 ({e}): {text}"));
}

/// The tasks of a page.
pub fn tasks_of(page: &Value) -> Vec<Value> {
    page["tasks"].as_array().expect("tasks array").clone()
}

/// The ids of some tasks.
pub fn ids(tasks: &[Value]) -> Vec<String> {
    tasks.iter().map(|t| s(&t["id"])).collect()
}

/// Every field of a task response, since projects and recurrence.
pub const TASK_FIELDS: [&str; 15] = [
    "id",
    "number",
    "title",
    "description",
    "completed",
    "priority",
    "due",
    "tags",
    "created_at",
    "updated_at",
    "completed_at",
    "version",
    "project",
    "recur",
    "series",
];

/// Asserts that a task response has exactly [`TASK_FIELDS`]; `what` names
/// the response in the failure.
#[track_caller]
pub fn assert_task_fields(task: &Value, what: &str) {
    let mut keys: Vec<&str> = task
        .as_object()
        .expect("a task object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = TASK_FIELDS.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "{what}: task fields of {task}");
}

impl App {
    /// Another server on this app's store and configuration, running next
    /// to it (on PostgreSQL: a second replica of one database).
    #[allow(dead_code)] // only the PostgreSQL suite has replicas
    pub async fn replica(&self) -> App {
        let config = self.config.clone().expect("an in-process server");
        let server = taskserver::start(config.clone())
            .await
            .expect("the replica starts");
        App {
            url: server.url(),
            http: client(),
            server: Some(server),
            dir: tempfile::tempdir().expect("tempdir"),
            config: Some(config),
            _database: None,
        }
    }

    /// `GET /api/changes?query` as a user.
    pub async fn changes(&self, u: &User, query: &str) -> Resp {
        self.get(u, &format!("/api/changes?{query}")).await
    }

    /// Reads the change feed after `since` (a full sync for `None`) until
    /// `more` is false: every change, and the last cursor.
    pub async fn changes_all(&self, u: &User, since: Option<&str>) -> (Vec<Value>, String) {
        let mut changes = Vec::new();
        let mut cursor = since.map(str::to_string);
        loop {
            let query = match &cursor {
                Some(c) => format!("since={c}"),
                None => String::new(),
            };
            let page = self.changes(u, &query).await.expect(200).json();
            changes.extend(page["changes"].as_array().expect("changes").iter().cloned());
            cursor = Some(s(&page["cursor"]));
            if page["more"] == false {
                return (changes, cursor.unwrap_or_default());
            }
        }
    }

    /// The user's current feed cursor (after everything so far).
    pub async fn feed_cursor(&self, u: &User) -> String {
        self.changes_all(u, None).await.1
    }

    /// Opens `GET /api/events?query` with a token and extra headers,
    /// asserting 200 and the event-stream content type.
    pub async fn events(&self, token: &str, query: &str, headers: &[(&str, &str)]) -> Events {
        let response = self.open_events(token, query, headers).await;
        assert_eq!(response.status(), 200, "the stream opens");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert_eq!(content_type, "text/event-stream");
        Events {
            response,
            buffer: Vec::new(),
        }
    }

    /// `GET /api/events?query` as sent, whatever the answer.
    pub async fn open_events(
        &self,
        token: &str,
        query: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self
            .authed(Method::GET, &format!("/api/events?{query}"), token)
            .header("accept", "text/event-stream");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send().await.expect("the request is answered")
    }
}

/// One frame of a Server-Sent Events stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A comment line's text (after `:`).
    Comment(String),
    /// An event: its id, its name and its data as JSON.
    Event {
        /// `id:`.
        id: String,
        /// `event:`.
        event: String,
        /// `data:`, parsed.
        data: Value,
    },
}

/// An open event stream, read frame by frame.
pub struct Events {
    /// The response, read chunk by chunk.
    pub response: reqwest::Response,
    buffer: Vec<u8>,
}

impl Events {
    /// The next frame, `None` when the server ended the stream; fails the
    /// test when nothing comes within `wait`.
    pub async fn next_within(&mut self, wait: Duration) -> Option<Frame> {
        tokio::time::timeout(wait, self.next())
            .await
            .unwrap_or_else(|_| panic!("no frame and no end within {wait:?}"))
    }

    /// The next frame, or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some(end) = self.buffer.windows(2).position(|w| w == b"\n\n") {
                let frame: Vec<u8> = self.buffer.drain(..end + 2).collect();
                return Some(parse_frame(&frame[..end]));
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// The next event, skipping comments (fails the test on the stream's
    /// end, or when none comes within `wait`).
    pub async fn event_within(&mut self, wait: Duration) -> (String, String, Value) {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(Frame::Event { id, event, data }) => return (id, event, data),
                Some(Frame::Comment(_)) => continue,
                None => panic!("the stream ended while an event was expected"),
            }
        }
    }

    /// Waits for the server to end the stream, skipping what comes before;
    /// fails the test when it is still open after `wait`.
    pub async fn end_within(&mut self, wait: Duration) -> Vec<Frame> {
        let mut seen = Vec::new();
        let ended = tokio::time::timeout(wait, async {
            while let Some(frame) = self.next().await {
                seen.push(frame);
            }
        })
        .await;
        assert!(ended.is_ok(), "the stream is still open after {wait:?}");
        seen
    }
}

/// One frame's lines: a comment, or `id`, `event` and `data` fields.
fn parse_frame(frame: &[u8]) -> Frame {
    let text = std::str::from_utf8(frame).expect("an SSE frame is UTF-8");
    let (mut id, mut event, mut data) = (None, None, None);
    for line in text.split('\n') {
        if let Some(comment) = line.strip_prefix(':') {
            return Frame::Comment(comment.trim().to_string());
        }
        let (field, value) = line.split_once(": ").unwrap_or((line, ""));
        match field {
            "id" => id = Some(value.to_string()),
            "event" => event = Some(value.to_string()),
            "data" => {
                assert!(data.is_none(), "one data line per event: {text}");
                data = Some(serde_json::from_str(value).expect("data is JSON"));
            }
            other => panic!("unexpected field {other:?} in {text:?}"),
        }
    }
    Frame::Event {
        id: id.unwrap_or_else(|| panic!("an event without id: {text}")),
        event: event.unwrap_or_else(|| panic!("an event without a name: {text}")),
        data: data.unwrap_or_else(|| panic!("an event without data: {text}")),
    }
}

/// Reads a raw connection until the server closes it: how many bytes came,
/// and whether it was closed (false: still open after 5 s of silence).
pub async fn read_until_closed(stream: tokio::net::TcpStream) -> (usize, bool) {
    use std::io::{ErrorKind, Read};
    let mut stream = stream.into_std().expect("std stream");
    tokio::task::spawn_blocking(move || {
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let mut received = 0usize;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match stream.read(&mut buf) {
                Ok(0) => return (received, true),
                Ok(n) => received += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return (received, false);
                }
                Err(_) => return (received, true),
            }
        }
    })
    .await
    .expect("read")
}
