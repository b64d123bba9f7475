//! Staying in step with the server: the change feed (`GET /api/changes`)
//! and live changes (`GET /api/events`, Server-Sent Events) that reconnect
//! by themselves.

use crate::client::{Call, Client, error_from, retry_after};
use crate::error::{Error, Result};
use crate::sse::{Block, Parser};
use futures_core::Stream;
use futures_util::stream;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName};
use reqwest::{Method, Response, StatusCode};
use std::collections::VecDeque;
use std::time::Duration;
use taskcore::{Change, ChangesResponse};

/// One change from [`Client::events`], with the cursor that follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveChange {
    /// What changed: a task in its latest state, or a deletion.
    pub change: Change,
    /// The feed cursor just after this change. Keep the last one: passed
    /// as `since` to [`Client::events`] or [`Client::changes`] it continues
    /// from here, with no gap and no duplicate.
    pub cursor: String,
}

/// The header an event stream resumes with.
const LAST_EVENT_ID: HeaderName = HeaderName::from_static("last-event-id");

/// How an event stream waits before it reconnects: from 250 ms, doubling,
/// up to 30 s, with jitter; back to the start after each connection the
/// server accepted. (`max_attempts` does not apply: a stream reconnects
/// until it is dropped.)
const RECONNECT: crate::RetryPolicy = crate::RetryPolicy {
    max_attempts: u32::MAX,
    base_delay: Duration::from_millis(250),
    max_delay: Duration::from_secs(30),
};

/// The server sends a comment at least every 20 s; a connection silent for
/// this long is taken as dead (a cut the network did not report).
const SILENCE_LIMIT: Duration = Duration::from_secs(45);

/// The time limit of one stream connection as a request: long, since the
/// body is the stream (the server ends it when the token expires anyway),
/// but not for ever.
const CONNECTION_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// The change feed and live changes.
impl Client {
    /// One page of the change feed (`GET /api/changes`): without `since` a
    /// full sync (every live task), with it what changed after that cursor,
    /// each task once, in its latest state. At most `limit` changes (1 to
    /// 1000). When `more` is true, call again at once with the page's
    /// `cursor`; [`Client::changes`] does that.
    ///
    /// A cursor older than the server's tombstone retention is
    /// [`Error::CursorExpired`]: sync everything again.
    ///
    /// ```no_run
    /// # async fn run(client: taskclient::Client) -> Result<(), taskclient::Error> {
    /// let page = client.changes_page(None, 100).await?;
    /// println!("{} changes, more: {}, next from {}", page.changes.len(), page.more, page.cursor);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn changes_page(&self, since: Option<&str>, limit: usize) -> Result<ChangesResponse> {
        let mut call = Call::new(Method::GET, "/api/changes");
        if let Some(since) = since {
            call.query.push(("since", since.to_string()));
        }
        call.query.push(("limit", limit.to_string()));
        self.json(call).await
    }

    /// Every page of the change feed from `since` (`None`: a full sync), in
    /// the server's default page size: it calls again while the server
    /// says `more`, and ends after the first page without. That last page's
    /// `cursor` is where the next sync continues; keep it. The stream ends
    /// after the first error.
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use taskclient::Change;
    ///
    /// # async fn run(client: taskclient::Client, saved: Option<String>) -> Result<(), taskclient::Error> {
    /// let mut cursor = saved;
    /// let mut pages = std::pin::pin!(client.changes(cursor.as_deref()));
    /// while let Some(page) = pages.try_next().await? {
    ///     for change in &page.changes {
    ///         match change {
    ///             Change::Task { task } => println!("#{} {}", task.number, task.title),
    ///             Change::TaskDeleted { number, .. } => println!("#{number} deleted"),
    ///         }
    ///     }
    ///     cursor = Some(page.cursor);
    /// }
    /// // Save `cursor` for the next sync.
    /// # Ok(())
    /// # }
    /// ```
    pub fn changes(
        &self,
        since: Option<&str>,
    ) -> impl Stream<Item = Result<ChangesResponse>> + Send + 'static {
        self.changes_with_limit(since, taskcore::CHANGES_LIMIT_DEFAULT)
    }

    /// [`Client::changes`] in pages of at most `limit` changes (1 to 1000).
    pub fn changes_with_limit(
        &self,
        since: Option<&str>,
        limit: usize,
    ) -> impl Stream<Item = Result<ChangesResponse>> + Send + 'static {
        let client = self.clone();
        // `Some(since)` while there is a page to fetch.
        let start: Option<Option<String>> = Some(since.map(str::to_string));
        stream::try_unfold(start, move |next| {
            let client = client.clone();
            async move {
                let Some(since) = next else { return Ok(None) };
                let page = client.changes_page(since.as_deref(), limit).await?;
                let following = page.more.then(|| Some(page.cursor.clone()));
                Ok(Some((page, following)))
            }
        })
    }

    /// The user's changes as they happen (`GET /api/events`, Server-Sent
    /// Events), from the cursor `since` (every change after it first, then
    /// live), or from now with `None`.
    ///
    /// The stream reconnects by itself when the connection fails or the
    /// server ends it (as it does when the access token expires), resuming
    /// with `Last-Event-ID` at the last change it yielded, so nothing is
    /// missed or repeated; the token is refreshed on the way when the
    /// client holds a refresh token. It waits between attempts, from
    /// 250 ms doubling to 30 s, with jitter, and starts over after each
    /// connection the server accepts; the limit on open streams per user
    /// (429, [`Error::TooManyStreams`]) and a server that is down or
    /// overloaded (5xx) are waited out the same way.
    ///
    /// It ends, after yielding the error, on [`Error::CursorExpired`] (the
    /// cursor is older than the server keeps deletions: sync everything
    /// again with [`Client::changes`]), on [`Error::Unauthorized`] once a
    /// refresh did not help, and on any other refusal (a malformed cursor
    /// is a 400). Drop it to stop following.
    ///
    /// Until the first change arrives, a stream started with `None` has no
    /// cursor to resume from; if it has to reconnect then, it starts from
    /// that moment again (unless the server has sent it a position).
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt;
    /// use taskclient::{Change, Error};
    ///
    /// # async fn run(client: taskclient::Client, saved: Option<String>) -> Result<(), Error> {
    /// let mut events = std::pin::pin!(client.events(saved));
    /// loop {
    ///     match events.try_next().await {
    ///         Ok(Some(live)) => {
    ///             match &live.change {
    ///                 Change::Task { task } => println!("#{} {}", task.number, task.title),
    ///                 Change::TaskDeleted { number, .. } => println!("#{number} deleted"),
    ///             }
    ///             // Persist `live.cursor` to resume here after a restart.
    ///         }
    ///         Ok(None) => break,
    ///         Err(Error::CursorExpired) => { /* sync everything with `changes(None)` */ break }
    ///         Err(other) => return Err(other),
    ///     }
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn events(
        &self,
        since: Option<String>,
    ) -> impl Stream<Item = Result<LiveChange>> + Send + 'static {
        let follow = Follow {
            client: self.clone(),
            cursor: since,
            connection: None,
            failures: 0,
            wait: None,
            finished: false,
        };
        stream::unfold(follow, |mut follow| async move {
            let item = follow.next().await?;
            Some((item, follow))
        })
    }
}

/// The state of one [`Client::events`] stream.
struct Follow {
    client: Client,
    /// Where to resume: the last position the server sent.
    cursor: Option<String>,
    connection: Option<Box<Connection>>,
    /// Connections lost or refused in a row, for the backoff.
    failures: u32,
    /// A wait the server asked for (`Retry-After`) before the next attempt.
    wait: Option<Duration>,
    finished: bool,
}

struct Connection {
    response: Response,
    parser: Parser,
    blocks: VecDeque<Block>,
}

/// What became of one attempt to open the stream.
enum Opened {
    Connected(Box<Connection>),
    /// Try again later, after at least the given wait if the server named one.
    Retry(Option<Duration>),
    /// Give up with this error.
    Fatal(Error),
}

impl Follow {
    /// The next change, or the error that ends the stream; `None` after it.
    async fn next(&mut self) -> Option<Result<LiveChange>> {
        loop {
            if self.finished {
                return None;
            }
            let Some(connection) = self.connection.as_mut() else {
                self.pause().await;
                match self.open().await {
                    Opened::Connected(connection) => {
                        self.connection = Some(connection);
                        self.failures = 0;
                    }
                    Opened::Retry(wait) => {
                        self.failures = self.failures.saturating_add(1);
                        self.wait = wait;
                    }
                    Opened::Fatal(error) => return Some(self.fail(error)),
                }
                continue;
            };
            if let Some(block) = connection.blocks.pop_front() {
                if let Some(id) = block.id {
                    self.cursor = Some(id);
                }
                if block.data.is_empty() || !matches!(block.event.as_str(), "task" | "task_deleted")
                {
                    continue; // a position only, or an event this SDK does not know
                }
                let Some(cursor) = self.cursor.clone() else {
                    return Some(self.fail(invalid("an event came without an id")));
                };
                return Some(match serde_json::from_str::<Change>(&block.data) {
                    Ok(change) => Ok(LiveChange { change, cursor }),
                    Err(e) => self.fail(invalid(&format!("an event is not a change ({e})"))),
                });
            }
            match tokio::time::timeout(SILENCE_LIMIT, connection.response.chunk()).await {
                Ok(Ok(Some(bytes))) => match connection.parser.push(&bytes) {
                    Ok(blocks) => connection.blocks.extend(blocks),
                    Err(e) => return Some(self.fail(invalid(&e.to_string()))),
                },
                // The server ended the stream, the connection broke, or it
                // went silent: reconnect from the last cursor.
                Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
                    self.connection = None;
                    self.failures = self.failures.saturating_add(1);
                }
            }
        }
    }

    fn fail(&mut self, error: Error) -> Result<LiveChange> {
        self.finished = true;
        self.connection = None;
        Err(error)
    }

    /// Waits before an attempt that follows a failure or an ended stream.
    async fn pause(&mut self) {
        if self.failures == 0 {
            return;
        }
        let backoff = RECONNECT.backoff(self.failures - 1);
        let delay = match self.wait.take() {
            Some(asked) => asked.max(backoff).min(RECONNECT.max_delay),
            None => backoff,
        };
        tokio::time::sleep(delay).await;
    }

    async fn open(&self) -> Opened {
        let mut call = Call::new(Method::GET, "/api/events")
            .header(ACCEPT, "text/event-stream")
            .timeout(CONNECTION_LIMIT)
            .no_retry();
        if let Some(cursor) = &self.cursor {
            call = call.header(LAST_EVENT_ID, cursor.as_str());
        }
        // The long limit is for the body; the answer itself comes within
        // the client's usual time.
        let answer = tokio::time::timeout(self.client.inner.timeout, self.client.execute(&call));
        let response = match answer.await {
            Err(_elapsed) => return Opened::Retry(None),
            // Also the refresh on the way: its failures count the same.
            Ok(Err(error)) => return Opened::after(error, None),
            Ok(Ok(response)) => response,
        };
        if response.status() == StatusCode::OK {
            let is_sse = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
            if !is_sse {
                return Opened::Fatal(invalid("the answer is not an event stream"));
            }
            return Opened::Connected(Box::new(Connection {
                response,
                parser: Parser::default(),
                blocks: VecDeque::new(),
            }));
        }
        let asked = retry_after(response.headers());
        Opened::after(error_from(response).await, asked)
    }
}

impl Opened {
    /// What to do after `error`: wait out what passes (the network, a
    /// limit, a server that is down or overloaded), give up on the rest.
    fn after(error: Error, asked: Option<Duration>) -> Self {
        match error {
            // A request that could not even be built (a cursor that is not
            // a header value) will not get better.
            Error::Transport(e) if e.is_builder() => Self::Fatal(Error::Transport(e)),
            Error::Transport(_) => Self::Retry(None),
            Error::TooManyStreams { retry_after } | Error::RateLimited { retry_after } => {
                Self::Retry(retry_after.or(asked))
            }
            Error::Other { status, .. } if status.is_server_error() => Self::Retry(asked),
            error => Self::Fatal(error),
        }
    }
}

fn invalid(reason: &str) -> Error {
    Error::InvalidResponse {
        status: StatusCode::OK,
        reason: format!("event stream: {reason}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn other(status: u16) -> Error {
        Error::Other {
            status: StatusCode::from_u16(status).expect("a status"),
            problem: None,
        }
    }

    #[test]
    fn limits_and_server_trouble_are_waited_out_the_rest_ends_the_stream() {
        let five = Some(Duration::from_secs(5));
        let cases = [
            (Error::TooManyStreams { retry_after: five }, Some(five)),
            (Error::RateLimited { retry_after: None }, Some(five)),
            (other(503), Some(five)),
            (other(502), Some(five)),
            (Error::CursorExpired, None),
            (Error::Unauthorized { problem: None }, None),
            (other(400), None),
            (Error::NotFound, None),
        ];
        for (error, expected) in cases {
            let shown = format!("{error:?}");
            match (Opened::after(error, five), expected) {
                (Opened::Retry(wait), Some(expected)) => assert_eq!(wait, expected, "{shown}"),
                (Opened::Fatal(_), None) => {}
                (Opened::Retry(_), None) => panic!("{shown} should end the stream"),
                (Opened::Fatal(_), Some(_)) => panic!("{shown} should be waited out"),
                (Opened::Connected(_), _) => panic!("{shown} cannot connect"),
            }
        }
    }
}
