//! Behaviour a healthy server does not show on demand (503s, garbage
//! bodies, timeouts), against a scripted HTTP responder.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use taskclient::{Client, Error, RetryPolicy, StatusCode};
use taskcore::{ListQuery, TaskDraft, TaskRef};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers each request with the next scripted response (the last one
/// repeats) and records each request's first line.
struct Scripted {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Scripted {
    async fn start(responses: Vec<&'static str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            let mut index = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut buffer = vec![0u8; 64 * 1024];
                let mut read = 0;
                // Read the head (and whatever body came with it).
                while let Ok(n) = socket.read(&mut buffer[read..]).await {
                    if n == 0 {
                        break;
                    }
                    read += n;
                    if buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let head = String::from_utf8_lossy(&buffer[..read]).to_string();
                log.lock()
                    .expect("lock")
                    .push(head.lines().next().unwrap_or_default().to_string());
                let response = responses[index.min(responses.len() - 1)];
                index += 1;
                if response == "HANG" {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    continue;
                }
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            }
        });
        Self { url, seen }
    }

    fn requests(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }

    fn client(&self) -> Client {
        Client::builder()
            .base_url(&self.url)
            .access_token("t")
            .retry_policy(RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(20),
                ..Default::default()
            })
            .build()
            .expect("client")
    }
}

const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/problem+json\r\ncontent-length: 56\r\nconnection: close\r\n\r\n{\"title\":\"Unavailable\",\"status\":503,\"code\":\"overloaded\"}";
const RATE_LIMITED_1S: &str = "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const RATE_LIMITED_LONG: &str = "HTTP/1.1 429 Too Many Requests\r\nretry-after: 3600\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
const OK_HEALTH: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"status\":\"ok\"}";
const OK_GARBAGE: &str = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot json!";
const TEAPOT_HTML: &str = "HTTP/1.1 418 I'm a teapot\r\ncontent-type: text/html\r\ncontent-length: 13\r\nconnection: close\r\n\r\n<h1>tea</h1>\n";

#[tokio::test]
async fn idempotent_requests_are_retried_on_503_then_succeed() {
    let server = Scripted::start(vec![UNAVAILABLE, UNAVAILABLE, OK_HEALTH]).await;
    let health = server
        .client()
        .health()
        .await
        .expect("third attempt succeeds");
    assert_eq!(health.status, "ok");
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn retries_are_bounded() {
    let server = Scripted::start(vec![UNAVAILABLE]).await;
    let error = server
        .client()
        .get_task(TaskRef::Number(1))
        .await
        .expect_err("always 503");
    match error {
        Error::Other { status, problem } => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(problem.and_then(|p| p.code).as_deref(), Some("overloaded"));
        }
        other => panic!("expected a 503, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn non_idempotent_requests_are_never_retried() {
    let server = Scripted::start(vec![UNAVAILABLE, OK_HEALTH]).await;
    let client = server.client();
    let error = client
        .create_task(&TaskDraft::new("once").expect("valid"))
        .await
        .expect_err("503");
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    let patch = taskcore::TaskPatch::default();
    let server2 = Scripted::start(vec![UNAVAILABLE, OK_HEALTH]).await;
    let error = server2
        .client()
        .update_task(TaskRef::Number(1), &patch, None)
        .await
        .expect_err("503");
    assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server2.requests().len(), 1);
    assert!(server.requests()[0].starts_with("POST /api/tasks "));
    assert!(server2.requests()[0].starts_with("PATCH /api/tasks/1 "));
}

#[tokio::test]
async fn retry_after_is_honoured_and_capped() {
    let server = Scripted::start(vec![RATE_LIMITED_1S, OK_HEALTH]).await;
    let started = Instant::now();
    server.client().health().await.expect("second attempt");
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);

    // An hour is beyond the cap: the error comes back at once, with the delay.
    let server = Scripted::start(vec![RATE_LIMITED_LONG]).await;
    let started = Instant::now();
    match server.client().health().await {
        Err(Error::RateLimited { retry_after }) => {
            assert_eq!(retry_after, Some(Duration::from_secs(3600)))
        }
        other => panic!("expected 429, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn unreadable_responses_are_errors_not_panics() {
    let server = Scripted::start(vec![OK_GARBAGE]).await;
    match server.client().list_tasks(&ListQuery::default()).await {
        Err(Error::InvalidResponse { status, reason }) => {
            assert_eq!(status, StatusCode::OK);
            assert!(reason.contains("JSON"), "{reason}");
        }
        other => panic!("expected an invalid response, got {other:?}"),
    }
    let server = Scripted::start(vec![TEAPOT_HTML]).await;
    match server.client().me().await {
        Err(Error::Other { status, problem }) => {
            assert_eq!(status.as_u16(), 418);
            assert!(problem.is_none());
        }
        other => panic!("expected another status, got {other:?}"),
    }
}

#[tokio::test]
async fn requests_time_out() {
    let server = Scripted::start(vec!["HANG"]).await;
    let client = Client::builder()
        .base_url(&server.url)
        .timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy::none())
        .build()
        .expect("client");
    let started = Instant::now();
    match client.health().await {
        Err(Error::Transport(cause)) => assert!(cause.is_timeout(), "{cause:?}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn requests_carry_the_bearer_token_and_if_match() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let head = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buffer = vec![0u8; 8192];
        let mut read = 0;
        while !buffer[..read].windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buffer[read..]).await.expect("read");
            if n == 0 {
                break;
            }
            read += n;
        }
        let _ = socket
            .write_all(b"HTTP/1.1 204 No Content\r\nconnection: close\r\n\r\n")
            .await;
        String::from_utf8_lossy(&buffer[..read]).to_lowercase()
    });
    let client = Client::builder()
        .base_url(url)
        .access_token("secret-token")
        .user_agent("probe/1")
        .build()
        .expect("client");
    client
        .delete_task(TaskRef::Number(7), Some(3))
        .await
        .expect("204");
    let head = head.await.expect("join");
    assert!(head.starts_with("delete /api/tasks/7 http/1.1"), "{head}");
    assert!(
        head.contains("authorization: bearer secret-token"),
        "{head}"
    );
    assert!(head.contains("if-match: \"3\""), "{head}");
    assert!(head.contains("user-agent: probe/1"), "{head}");
}
