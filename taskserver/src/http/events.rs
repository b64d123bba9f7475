//! `GET /api/events`: the caller's change feed as Server-Sent Events.
//!
//! Each stream is one small task that waits on the user's store signals
//! ([`Signals`](taskcore::store::Signals)), a heartbeat timer and its
//! token's expiry, and reads the feed from its own cursor when woken: an
//! idle stream polls nothing and holds a few KiB. It subscribes before its
//! first read, so a change that commits while it replays still wakes it,
//! and its cursor advances with every event it sends, so nothing is sent
//! twice. Events go to the response body through a small bounded channel:
//! a client that stops reading fills it, and the stream ends once a send
//! has waited longer than the write-stall limit (the connection's own
//! write deadline ends it too).

use super::Request;
use super::feed::{FeedCursor, FeedQuery, now_secs};
use super::problem::{ApiError, Chain};
use crate::state::AppState;
use bytes::Bytes;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use taskcore::auth::{AuthError, Principal};
use taskcore::store::Subscription;
use taskcore::{Change, FeedPosition, UserId};
use tokio::sync::{mpsc, watch};
use warp::Reply;

/// Most streams one user may have open at once; the next is 429.
pub const MAX_STREAMS_PER_USER: usize = 10;

/// Events (or comments) waiting for the client between the stream's task
/// and the response body: enough to ride out a slow read, small enough
/// that a client that never reads costs little.
const BUFFERED_EVENTS: usize = 8;

/// Changes per feed read while a stream replays: each change comes with
/// its number, so each event still gets the exact cursor after it.
const CHANGES_PER_READ: usize = 100;

/// The open streams: how many each user has, and the switch that ends them
/// all when the server shuts down.
#[derive(Debug)]
pub struct Streams {
    open: Mutex<HashMap<UserId, usize>>,
    closing: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            open: Mutex::default(),
            closing: watch::Sender::new(false),
        }
    }
}

impl Streams {
    /// A place for one more stream of `user`, or `None` at the limit.
    fn take_slot(self: &Arc<Self>, user: UserId) -> Option<Slot> {
        let mut open = self.lock();
        let count = open.entry(user).or_insert(0);
        if *count >= MAX_STREAMS_PER_USER {
            return None;
        }
        *count += 1;
        Some(Slot {
            streams: Arc::clone(self),
            user,
        })
    }

    /// Ends every open stream (at shutdown: the connections can then close).
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<UserId, usize>> {
        // A count is valid whatever panicked while it was held.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open stream's place in its user's count, given back on drop: however
/// the stream ends, its place frees.
struct Slot {
    streams: Arc<Streams>,
    user: UserId,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.streams.lock();
        if let Some(count) = open.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user);
            }
        }
    }
}

/// Why a stream ended, for the log.
#[derive(Debug)]
enum Closed {
    /// The client went away.
    ClientGone,
    /// The client read nothing for the write-stall limit.
    Stalled,
    /// The token reached its expiry.
    TokenExpired,
    /// The session or API token was revoked, or the user deleted.
    CredentialEnded,
    /// The store failed; the client reconnects with its last event id.
    Store(String),
    /// The server is shutting down.
    Shutdown,
}

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClientGone => f.write_str("the client closed it"),
            Self::Stalled => f.write_str("the client stopped reading"),
            Self::TokenExpired => f.write_str("the token expired"),
            Self::CredentialEnded => f.write_str("the token was revoked or the user deleted"),
            Self::Store(cause) => write!(f, "the store failed: {cause}"),
            Self::Shutdown => f.write_str("the server is shutting down"),
        }
    }
}

/// `GET /api/events`: checks the start cursor (400, 410) and the stream
/// limit (429), then answers 200 with a body that the stream's task feeds.
pub(super) async fn open(
    req: &Request<'_>,
    principal: &Principal,
) -> Result<warp::reply::Response, ApiError> {
    let state = req.state;
    let user = principal.user;
    let query = FeedQuery::parse(req.query, false)?;
    // An EventSource that reconnects sends the id of the last event it got
    // and repeats the URL it was opened with: the header is the newer one.
    let last_event_id = match req.headers.get("last-event-id") {
        Some(value) => Some(value.to_str().map_err(|_| {
            ApiError::InvalidQuery("Last-Event-ID is not a change-feed cursor.".into())
        })?),
        None => None,
    }
    .filter(|id| !id.is_empty());
    let start = last_event_id
        .or(query.since.as_deref())
        .map(|text| FeedCursor::open(state, user, text))
        .transpose()?;
    let slot = state
        .streams
        .take_slot(user)
        .ok_or(ApiError::TooManyStreams)?;
    let token = super::bearer_token(req.headers)
        .ok_or(ApiError::MissingToken)?
        .to_owned();
    // Before the first read: a change committed from here on wakes it.
    let subscription = state.store.signals().subscribe(user);
    let cursor = match start {
        Some(cursor) => cursor,
        None => {
            let started = now_secs();
            let latest = state.store.tasks_of(user).latest_change().await?;
            FeedCursor {
                position: FeedPosition::after(latest),
                as_of: started,
            }
        }
    };
    let (sender, mut receiver) = mpsc::channel::<Bytes>(BUFFERED_EVENTS);
    let stream = Stream {
        state: state.clone(),
        principal: *principal,
        token,
        cursor,
        subscription,
        sender,
        _slot: slot,
    };
    tracing::debug!(%user, "event stream opened");
    tokio::spawn(stream.run());

    let body = futures_util::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|event| event.map(Ok::<_, Infallible>))
    });
    let mut response = warp::reply::stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // nginx and its kind would hold events back to fill their buffers.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream: what its task owns.
struct Stream {
    state: AppState,
    principal: Principal,
    /// The bearer token it was opened with, checked again on every wake-up.
    token: String,
    /// The position after the last change sent.
    cursor: FeedCursor,
    subscription: Subscription,
    sender: mpsc::Sender<Bytes>,
    _slot: Slot,
}

impl Stream {
    async fn run(mut self) {
        let user = self.principal.user;
        let closed = self.serve().await;
        tracing::info!(%user, reason = %closed, "event stream closed");
    }

    /// Sends events until the stream ends, and says why it did.
    async fn serve(&mut self) -> Closed {
        let heartbeat = self.state.config.events_heartbeat;
        let mut beats =
            tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
        beats.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let expiry = expiry(self.principal.expires_at);
        tokio::pin!(expiry);
        let mut closing = self.state.streams.closing.subscribe();
        // At once: a comment, so the client sees the stream is open, and
        // the cursor it starts from, so a client that must reconnect before
        // the first event resumes from here (an `id` without `data`
        // dispatches nothing, but sets the client's Last-Event-ID).
        let id = self.cursor.seal(&self.state, self.principal.user);
        if let Err(closed) = self
            .send(Bytes::from(format!(": open\nid: {id}\n\n")))
            .await
        {
            return closed;
        }
        let mut behind = true;
        loop {
            if behind && let Err(closed) = self.catch_up().await {
                return closed;
            }
            let woken = tokio::select! {
                () = self.subscription.changed() => true,
                _ = beats.tick() => false,
                () = &mut expiry => return Closed::TokenExpired,
                () = self.sender.closed() => return Closed::ClientGone,
                _ = closing.wait_for(|closing| *closing) => return Closed::Shutdown,
            };
            if let Err(closed) = self.check_credential().await {
                return closed;
            }
            behind = woken;
            if !woken && let Err(closed) = self.send(Bytes::from_static(b": heartbeat\n\n")).await {
                return closed;
            }
        }
    }

    /// Sends every change after the cursor, one event each, each with the
    /// cursor right after it.
    async fn catch_up(&mut self) -> Result<(), Closed> {
        let tasks = self.state.store.tasks_of(self.principal.user);
        loop {
            let started = now_secs();
            let page = tasks
                .changes(Some(self.cursor.position), CHANGES_PER_READ)
                .await
                .map_err(|e| Closed::Store(Chain(&e).to_string()))?;
            let end = FeedCursor::after_read(Some(&self.cursor), started, page.next, page.more);
            let last = page.changes.len().saturating_sub(1);
            for (i, (change, number)) in page.changes.iter().zip(&page.numbers).enumerate() {
                // Inside a page, a cursor vouches for deletions from when
                // the walk began; the page's end, from this read.
                let after = if i == last {
                    end
                } else {
                    FeedCursor {
                        position: FeedPosition::after(*number),
                        as_of: self.cursor.as_of,
                    }
                };
                self.send(self.event(change, &after)).await?;
            }
            self.cursor = end;
            if !page.more {
                return Ok(());
            }
        }
    }

    /// `id: <cursor>`, `event: task|task_deleted`, `data: <change as JSON>`.
    fn event(&self, change: &Change, after: &FeedCursor) -> Bytes {
        let id = after.seal(&self.state, self.principal.user);
        // JSON on one line: serde_json escapes every newline in strings.
        let data = serde_json::to_string(change).unwrap_or_default();
        Bytes::from(format!(
            "id: {id}\nevent: {}\ndata: {data}\n\n",
            change.kind()
        ))
    }

    /// Queues one event for the client; a client that has not made room
    /// for it within the write-stall limit is cut off.
    async fn send(&self, event: Bytes) -> Result<(), Closed> {
        let limit = self.state.config.write_stall_timeout;
        match tokio::time::timeout(limit, self.sender.send(event)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(Closed::ClientGone),
            Err(_) => Err(Closed::Stalled),
        }
    }

    /// Whether the token still holds: not revoked, its user not deleted
    /// (the stores signal both), not expired (API tokens' expiry is seen here).
    async fn check_credential(&self) -> Result<(), Closed> {
        match self.state.accounts.authenticate(&self.token).await {
            Ok(now) if now.user == self.principal.user => Ok(()),
            Ok(_) => Err(Closed::CredentialEnded),
            Err(AuthError::Store(e)) => Err(Closed::Store(Chain(&e).to_string())),
            Err(_) => Err(Closed::CredentialEnded),
        }
    }
}

/// Resolves when a token that expires at `expires_at` (seconds since the
/// epoch) no longer holds; never for a token without an expiry of its own.
async fn expiry(expires_at: Option<i64>) {
    let Some(expires_at) = expires_at else {
        return std::future::pending().await;
    };
    // A token is valid through its `exp` second.
    let until_micros = expires_at
        .saturating_add(1)
        .saturating_mul(1_000_000)
        .saturating_sub(taskcore::Timestamp::now().as_micros());
    let wait = Duration::from_micros(u64::try_from(until_micros).unwrap_or(0));
    tokio::time::sleep(wait).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_per_user_and_freed_on_drop() {
        let streams = Arc::new(Streams::default());
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut held: Vec<Slot> = (0..MAX_STREAMS_PER_USER)
            .map(|_| streams.take_slot(alice).expect("a slot"))
            .collect();
        assert!(streams.take_slot(alice).is_none(), "the 11th is refused");
        let bobs = streams.take_slot(bob).expect("another user has their own");
        assert_eq!(streams.lock()[&alice], MAX_STREAMS_PER_USER);
        held.pop();
        assert!(
            streams.take_slot(alice).is_some(),
            "a closed stream frees its slot"
        );
        drop((held, bobs));
        assert!(streams.lock().is_empty(), "no entry is left behind");
    }
}
