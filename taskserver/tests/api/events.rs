//! `GET /api/events`: replay then live with no gap and no duplicate at the
//! seam, heartbeats, the end of a stream when its token expires or is
//! revoked or the server stops, the 10-stream limit, and the refusals
//! (bad cursors, tokens in the query string).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Long enough for anything that should happen at once, on a busy machine.
const WAIT: Duration = Duration::from_secs(5);

/// The task id a change is about.
fn change_id(change: &Value) -> String {
    match change["type"].as_str() {
        Some("task") => s(&change["task"]["id"]),
        _ => s(&change["id"]),
    }
}

#[tokio::test]
async fn a_stream_replays_after_its_cursor_then_goes_live() {
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    let a = app.task(&u, "a").await;
    let b = app.task(&u, "b").await;

    let mut events = app.events(&u.token, &format!("since={cursor}"), &[]).await;
    let headers = events.response.headers();
    assert_eq!(headers["cache-control"], "no-cache");
    assert_eq!(headers["x-accel-buffering"], "no");
    assert!(
        matches!(events.next_within(WAIT).await, Some(Frame::Comment(_))),
        "a comment comes first"
    );
    let (after_a, kind, data) = events.event_within(WAIT).await;
    assert_eq!((kind.as_str(), &data), ("task", &json!({"type": "task", "task": a})));
    let (_, _, data) = events.event_within(WAIT).await;
    assert_eq!(data["task"], b);

    // Live: a write after the replay, then a deletion.
    let c = app.task(&u, "c").await;
    let (_, kind, data) = events.event_within(WAIT).await;
    assert_eq!((kind.as_str(), &data["task"]), ("task", &c));
    app.delete(&u, &task_path(&a["id"])).await.expect(204);
    let (after_delete, kind, data) = events.event_within(WAIT).await;
    assert_eq!(kind, "task_deleted");
    assert_eq!((&data["type"], &data["id"]), (&json!("task_deleted"), &a["id"]));

    // Each id is a feed cursor after its change.
    let (changes, _) = app.changes_all(&u, Some(&after_a)).await;
    let ids: Vec<String> = changes.iter().map(change_id).collect();
    assert_eq!(ids, vec![s(&b["id"]), s(&c["id"]), s(&a["id"])]);
    let (changes, _) = app.changes_all(&u, Some(&after_delete)).await;
    assert!(changes.is_empty(), "{changes:?}");
}

#[tokio::test]
async fn last_event_id_wins_over_since_and_no_cursor_means_from_now() {
    let app = spawn_app().await;
    let u = app.register().await;
    let start = app.feed_cursor(&u).await;
    app.task(&u, "a").await;
    let after_a = app.feed_cursor(&u).await;
    let b = app.task(&u, "b").await;

    let mut events = app
        .events(
            &u.token,
            &format!("since={start}"),
            &[("last-event-id", &after_a)],
        )
        .await;
    let (_, _, data) = events.event_within(WAIT).await;
    assert_eq!(data["task"], b, "the replay starts after Last-Event-ID");

    let mut from_now = app.events(&u.token, "", &[]).await;
    let c = app.task(&u, "c").await;
    let (_, _, data) = from_now.event_within(WAIT).await;
    assert_eq!(data["task"], c, "only what comes after the stream opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_during_the_replay_are_each_sent_once_in_feed_order() {
    const BACKLOG: usize = 20;
    const WRITERS: usize = 3;
    const EACH: usize = 15;
    let app = spawn_app().await;
    let u = app.register().await;
    let cursor = app.feed_cursor(&u).await;
    for i in 0..BACKLOG {
        app.task(&u, &format!("backlog {i}")).await;
    }
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (http, url, token) = (app.http.clone(), app.url.clone(), u.token.clone());
            tokio::spawn(async move {
                for i in 0..EACH {
                    let response = http
                        .post(format!("{url}/api/tasks"))
                        .bearer_auth(&token)
                        .json(&json!({"title": format!("writer {w} task {i}")}))
                        .send()
                        .await
                        .expect("answered");
                    assert_eq!(response.status(), 201);
                }
            })
        })
        .collect();
    // Opened while the writers write: its replay and their commits overlap.
    let mut events = app.events(&u.token, &format!("since={cursor}"), &[]).await;
    for writer in writers {
        writer.await.expect("the writer finishes");
    }
    let (feed, _) = app.changes_all(&u, Some(&cursor)).await;
    let expected: Vec<String> = feed.iter().map(change_id).collect();
    assert_eq!(expected.len(), BACKLOG + WRITERS * EACH);
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let (_, _, data) = events.event_within(WAIT).await;
        got.push(change_id(&data));
    }
    assert_eq!(got, expected, "every write once, in the feed's order");
    // Nothing was left over to come twice: the next event is a new write.
    let last = app.task(&u, "last").await;
    let (_, _, data) = events.event_within(WAIT).await;
    assert_eq!(data["task"], last);
}

#[tokio::test]
async fn a_quiet_stream_gets_heartbeats_and_lives_past_the_write_stall_limit() {
    const HEARTBEAT: Duration = Duration::from_millis(100);
    const STALL: Duration = Duration::from_millis(300);
    let app = spawn_with(|c| {
        c.events_heartbeat = HEARTBEAT;
        c.write_stall_timeout = STALL;
    })
    .await;
    let u = app.register().await;
    let mut events = app.events(&u.token, "", &[]).await;
    let opened = tokio::time::Instant::now();
    // Many stall limits long: a client that reads is never cut off.
    while opened.elapsed() < STALL * 4 {
        assert!(
            matches!(events.next_within(WAIT).await, Some(Frame::Comment(_))),
            "comments keep coming"
        );
    }
    let task = app.task(&u, "still there").await;
    let (_, _, data) = events.event_within(WAIT).await;
    assert_eq!(data["task"], task);
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = spawn_with(|c| c.token_ttl = Duration::from_secs(1)).await;
    let u = app.register().await;
    let mut events = app.events(&u.token, "", &[]).await;
    let frames = events.end_within(WAIT).await;
    assert!(
        frames.iter().all(|f| matches!(f, Frame::Comment(_))),
        "{frames:?}"
    );
    app.get(&u, "/api/changes").await.expect(401);
}

#[tokio::test]
async fn a_stream_ends_when_its_session_or_api_token_is_revoked_or_the_account_deleted() {
    let app = spawn_app().await;
    let u = app.register().await;
    let mut events = app.events(&u.token, "", &[]).await;
    app.call(Method::POST, "/api/auth/logout", Some(&u.token), None)
        .await
        .expect(204);
    events.end_within(WAIT).await;

    let v = app.register().await;
    let created = app
        .post(&v, "/api/auth/tokens", json!({"name": "stream"}))
        .await
        .expect(201)
        .json();
    let mut events = app.events(&s(&created["token"]), "", &[]).await;
    app.delete(&v, &format!("/api/auth/tokens/{}", s(&created["id"])))
        .await
        .expect(204);
    events.end_within(WAIT).await;

    // A stream opened with one session ends when the account goes.
    let w = app.register().await;
    let other_session = User::from_session(&app.login(&w.email, PASSWORD).await.expect(200).json());
    let mut events = app.events(&other_session.token, "", &[]).await;
    app.call(
        Method::DELETE,
        "/api/auth/me",
        Some(&w.token),
        Some(&json!({"password": PASSWORD})),
    )
    .await
    .expect(204);
    events.end_within(WAIT).await;
}

#[tokio::test]
async fn the_eleventh_stream_is_429_until_one_closes() {
    let app = spawn_app().await;
    let u = app.register().await;
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(app.events(&u.token, "", &[]).await);
    }
    let refused = app.open_events(&u.token, "", &[]).await;
    let retry_after = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    assert!(retry_after.is_some_and(|s| s >= 1), "Retry-After in seconds");
    read(refused).await.problem(429, "too_many_streams");
    // Another user has places of their own.
    let v = app.register().await;
    app.events(&v.token, "", &[]).await;

    // A stream the client closes gives its place back.
    drop(open.pop());
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = app.open_events(&u.token, "", &[]).await;
        if response.status() == 200 {
            break;
        }
        assert_eq!(response.status(), 429);
        assert!(
            tokio::time::Instant::now() < deadline,
            "the closed stream's place is still taken after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn tokens_in_the_query_string_are_not_accepted() {
    let app = spawn_app().await;
    let u = app.register().await;
    for path in ["/api/events", "/api/changes"] {
        for name in ["access_token", "token", "bearer"] {
            app.call(
                Method::GET,
                &format!("{path}?{name}={}", u.token),
                None,
                None,
            )
            .await
            .unauthorized("missing_token", false);
        }
    }
}

#[tokio::test]
async fn bad_start_cursors_are_400_and_old_ones_410() {
    let app = spawn_with(|c| c.tombstone_retention = Duration::from_secs(1)).await;
    let (u, other) = (app.register().await, app.register().await);
    let others = app.feed_cursor(&other).await;
    for query in ["since=garbage".to_string(), format!("since={others}")] {
        read(app.open_events(&u.token, &query, &[]).await)
            .await
            .problem(400, "invalid_query");
    }
    read(
        app.open_events(&u.token, "", &[("last-event-id", others.as_str())])
            .await,
    )
    .await
    .problem(400, "invalid_query");

    let mine = app.feed_cursor(&u).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    read(
        app.open_events(&u.token, "", &[("last-event-id", mine.as_str())])
            .await,
    )
    .await
    .problem(410, "cursor_expired");
}

#[tokio::test]
async fn stopping_the_server_ends_its_streams() {
    let app = spawn_app().await;
    let u = app.register().await;
    let mut events = app.events(&u.token, "", &[]).await;
    let stopped = tokio::time::timeout(WAIT, app.stop()).await;
    assert!(stopped.is_ok(), "the server stops at once with a stream open");
    events.end_within(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_stream_is_cut_off_and_frees_its_place() {
    use tokio::io::AsyncWriteExt;
    const STALL: Duration = Duration::from_secs(1);
    const WRITES: usize = 1300;
    let app = spawn_with(|c| c.write_stall_timeout = STALL).await;
    let u = app.register().await;
    let addr = app.url.trim_start_matches("http://").parse().expect("addr");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    // A small receive window: the server's writes stall sooner.
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stream = socket.connect(addr).await.expect("connect");
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\nAuthorization: Bearer {}\r\n\r\n",
        u.token
    );
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send the request");
    // More events (about 5.7 MB) than the buffers between the two ends
    // hold (the server's socket takes up to 4 MiB here), by four writers.
    let description = "x".repeat(4000);
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (http, url, token) = (app.http.clone(), app.url.clone(), u.token.clone());
            let description = description.clone();
            tokio::spawn(async move {
                for _ in 0..WRITES / 4 {
                    let response = http
                        .post(format!("{url}/api/tasks"))
                        .bearer_auth(&token)
                        .json(&json!({"title": "big", "description": description}))
                        .send()
                        .await
                        .expect("answered");
                    assert_eq!(response.status(), 201, "writes go on meanwhile");
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.expect("the writer finishes");
    }
    tokio::time::sleep(STALL * 2).await;
    // Now read: what was in flight arrives, then the end of the connection.
    let (received, ended) = read_until_closed(stream).await;
    assert!(
        ended,
        "the stream is still open after {received} bytes, {:?} past its stall",
        STALL * 2
    );
    assert!(
        received < WRITES * description.len(),
        "every event came ({received} bytes)"
    );
    // Its place is free again: ten streams open.
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(app.events(&u.token, "", &[]).await);
    }
}

/// A stream tells its starting cursor at once, as an `id:` without data:
/// a client that loses the stream before any event resumes from there and
/// misses nothing made meanwhile.
#[tokio::test]
async fn a_stream_gives_its_starting_cursor_before_any_event() {
    let app = spawn_app().await;
    let u = app.register().await;
    app.task(&u, "before").await;
    let mut response = app.open_events(&u.token, "", &[]).await;
    let first = response
        .chunk()
        .await
        .expect("the stream opens")
        .expect("a first frame");
    let first = String::from_utf8(first.to_vec()).expect("UTF-8");
    let id = first
        .lines()
        .find_map(|line| line.strip_prefix("id: "))
        .unwrap_or_else(|| panic!("no id in the first frame: {first:?}"))
        .to_string();
    assert!(first.ends_with("\n\n") && !first.contains("data:"), "{first:?}");
    drop(response);
    let missed = app.task(&u, "while away").await;
    let mut resumed = app.events(&u.token, "", &[("last-event-id", &id)]).await;
    let (_, _, data) = resumed.event_within(WAIT).await;
    assert_eq!(data["task"], missed, "the change made while away comes first");
}

/// A replay longer than one store read: every change comes once, in order,
/// and the id of any event, even one in the middle of a read, resumes
/// right after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_replay_gives_each_event_the_cursor_right_after_it() {
    const BACKLOG: usize = 230;
    let app = spawn_app().await;
    let u = app.register().await;
    let start = app.feed_cursor(&u).await;
    let mut titles = Vec::new();
    for i in 0..BACKLOG {
        let title = format!("backlog {i}");
        app.task(&u, &title).await;
        titles.push(title);
    }
    let mut events = app.events(&u.token, &format!("since={start}"), &[]).await;
    let mut ids = Vec::new();
    for title in &titles {
        let (id, _, data) = events.event_within(WAIT).await;
        assert_eq!(&data["task"]["title"], title.as_str());
        ids.push(id);
    }
    drop(events);
    for at in [0, 99, 100, 150, BACKLOG - 2] {
        let mut resumed = app.events(&u.token, "", &[("last-event-id", &ids[at])]).await;
        let (_, _, data) = resumed.event_within(WAIT).await;
        assert_eq!(data["task"]["title"], titles[at + 1].as_str(), "after event {at}");
    }
}
