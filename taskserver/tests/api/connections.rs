//! The connection edge: at most `--max-connections` open, clients that never
//! read their answers cut off, and requests too large for the HTTP parser
//! answered with problem bodies.

use crate::binary::*;
use crate::helpers::*;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Whether the server has closed `stream` (end of stream or reset), without
/// waiting for it.
fn closed_by_server(stream: &mut TcpStream) -> bool {
    stream.set_nonblocking(true).expect("nonblocking");
    let mut byte = [0u8; 1];
    let closed = match stream.read(&mut byte) {
        Ok(0) => true,
        Ok(_) => panic!("the server sent something unasked"),
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    stream.set_nonblocking(false).expect("blocking");
    closed
}

/// `GET /healthz` on an open connection, which then closes; the answer whole.
fn health_on(mut stream: TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_are_closed_at_once_and_the_open_ones_served() {
    let (dir, data) = dirs();
    let mut cmd = with_secret(command(dir.path(), &data));
    cmd.arg("--max-connections").arg("20");
    let bin = Bin::start(cmd);
    let addr = bin.url.trim_start_matches("http://").to_string();
    let output = tokio::task::spawn_blocking(move || {
        let mut streams: Vec<TcpStream> = (0..40)
            .map(|_| TcpStream::connect(&addr).expect("connect"))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        let closed = loop {
            let closed: Vec<bool> = streams.iter_mut().map(closed_by_server).collect();
            if closed.iter().filter(|c| **c).count() >= 20 || Instant::now() > deadline {
                break closed;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(
            closed.iter().filter(|c| **c).count(),
            20,
            "the 20 past the limit are closed promptly"
        );
        std::thread::sleep(Duration::from_millis(300));
        let mut open: Vec<TcpStream> = streams
            .into_iter()
            .zip(closed)
            .filter_map(|(s, closed)| (!closed).then_some(s))
            .collect();
        assert!(
            open.iter_mut().all(|s| !closed_by_server(s)),
            "the first 20 stay open"
        );
        // Full: one more is closed too.
        let mut extra = TcpStream::connect(&addr).expect("connect");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !closed_by_server(&mut extra) {
            assert!(Instant::now() < deadline, "a 41st connection stays open");
            std::thread::sleep(Duration::from_millis(20));
        }
        // The open ones are still served, and each frees its slot as it closes.
        for stream in open {
            let answer = health_on(stream);
            assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        }
    });
    output.await.expect("the connections behave");
    // Slots are free again for anyone.
    let app = bin.app();
    app.req(reqwest::Method::GET, "/healthz")
        .send()
        .await
        .map(|r| r.status().as_u16())
        .map_or_else(|e| panic!("/healthz: {e}"), |s| assert_eq!(s, 200));
    let log = bin.output();
    assert!(log.contains("max_connections=20"), "{log}");
    let warnings = log.matches("connection limit reached").count();
    assert!(
        (1..=3).contains(&warnings),
        "21 refusals are logged once a second at most, not each: {log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answers_is_cut_off() {
    const STALL: Duration = Duration::from_secs(1);
    const REQUESTS: usize = 400;
    let app = spawn_with(|c| c.write_stall_timeout = STALL).await;
    let addr = app.url.trim_start_matches("http://").parse().expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // A small receive window: the server's writes stall sooner.
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stream = socket.connect(addr).await.expect("connect");
    let request = b"GET /api/openapi.json HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let document = app
        .call(reqwest::Method::GET, "/api/openapi.json", None, None)
        .await
        .expect(200)
        .body
        .len();
    // Far more answers than every buffer between the two ends holds.
    assert!(REQUESTS * document > 16 << 20);
    stream
        .write_all(&request.repeat(REQUESTS))
        .await
        .expect("pipeline the requests");
    // Others are served meanwhile.
    tokio::time::sleep(STALL / 2).await;
    app.call(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
    tokio::time::sleep(STALL * 2).await;
    // Now read: what was in flight arrives, then the end of the connection,
    // well before all the answers.
    let (received, ended) = read_until_closed(stream).await;
    assert!(
        ended,
        "the connection is still open after {received} bytes, {:?} past its stall",
        STALL * 2
    );
    assert!(
        received < REQUESTS * document,
        "every answer came ({received} bytes)"
    );
    app.call(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

#[tokio::test]
async fn request_lines_and_heads_too_large_are_problems() {
    let app = spawn_app().await;
    let u = app.register().await;
    let long_cursor = "a".repeat(100 * 1024);
    let resp = app
        .raw(raw_request(
            "GET",
            &format!("/api/tasks?cursor={long_cursor}"),
            &[format!("Authorization: Bearer {}", u.token)],
            b"",
            None,
        ))
        .await;
    resp.expect(414, Some("uri_too_long"));
    assert!(resp.header("x-request-id").is_some());
    // A head larger than the parser's buffer, and one with too many headers.
    let big = [format!("X-Big: {}", "b".repeat(512 * 1024))];
    let resp = app
        .raw(raw_request("GET", "/healthz", &big, b"", None))
        .await;
    resp.expect(431, Some("headers_too_large"));
    let many: Vec<String> = (0..200).map(|i| format!("X-Many-{i}: 1")).collect();
    let resp = app
        .raw(raw_request("GET", "/healthz", &many, b"", None))
        .await;
    resp.expect(431, Some("headers_too_large"));
    // A request line that is not HTTP at all.
    let resp = app
        .raw(b"G(T /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec())
        .await;
    resp.expect(400, Some("malformed_request"));
    // The server is none the worse.
    app.call(reqwest::Method::GET, "/healthz", None, None)
        .await
        .expect(200);
}

#[test]
fn the_connection_limit_follows_the_open_file_limit() {
    let (dir, data) = dirs();
    // The binary under a hard limit of 128 open files, asking for far more
    // connections than that allows.
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg("ulimit -n 128 && exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_taskserver"));
    for (key, _) in std::env::vars() {
        if key.starts_with("TASKSERVER_") || key == "DATABASE_URL" {
            cmd.env_remove(key);
        }
    }
    cmd.current_dir(dir.path())
        .args(["--listen", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .env("TASKSERVER_MAX_CONNECTIONS", "1000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let bin = Bin::start(with_secret(cmd));
    // stderr is read on its own thread: the lines may trail `listening on`.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !bin.output().contains("max_connections=")
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let log = bin.output();
    assert!(log.contains("open_files=128"), "{log}");
    // 128 less a quarter kept for the server's own files.
    assert!(log.contains("max_connections=96"), "{log}");
    assert!(log.contains("--max-connections is more than"), "{log}");
}
