//! The change feed over HTTP: `GET /api/changes`, and the feed cursors it
//! shares with the live stream (`GET /api/events`, in [`super::events`]).
//!
//! A feed cursor seals a [`FeedPosition`] with the time from which the
//! reader is known to have every deletion (`as_of`). Deletions older than
//! `--tombstone-retention` leave the feed, so a cursor whose `as_of` is
//! older than that could skip one: it is refused with 410 and the client
//! syncs in full again.

use super::Request;
use super::problem::ApiError;
use crate::state::Shared;
use bytes::Bytes;
use http::{Response, StatusCode};
use serde::{Deserialize, Serialize};
use taskcore::auth::cursor::Purpose;
use taskcore::{
    CHANGES_LIMIT_DEFAULT, CHANGES_LIMIT_MAX, ChangesResponse, FeedPosition, Timestamp, UserId,
    parse_decimal,
};

/// What a feed cursor seals (short field names: it travels in every event id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct FeedCursor {
    /// Where the reader stands.
    #[serde(rename = "p")]
    pub position: FeedPosition,
    /// Seconds since the epoch: every deletion after the position made
    /// since then is still in the feed. The time of the read that reached
    /// the end of the feed; while a reader pages (`more`), the time of the
    /// read that started the walk, since the pages it has not read yet may
    /// hold older deletions.
    #[serde(rename = "t")]
    pub as_of: i64,
}

impl FeedCursor {
    /// The cursor after a read that started at `started` (seconds) from
    /// `from` and reached `position`, with `more` changes left or not.
    pub fn after_read(
        from: Option<&FeedCursor>,
        started: i64,
        position: FeedPosition,
        more: bool,
    ) -> Self {
        let as_of = match from {
            Some(from) if more => from.as_of,
            _ => started,
        };
        Self { position, as_of }
    }

    /// The opaque text, for `owner` only.
    pub fn seal(&self, state: &Shared, owner: UserId) -> String {
        state.cursors.seal_for(Purpose::Feed, owner, "", self)
    }

    /// The cursor in `text`: 400 `invalid_query` unless this server sealed
    /// it as a feed cursor for `owner`, 410 `cursor_expired` when it is
    /// older than the tombstone retention.
    pub fn open(state: &Shared, owner: UserId, text: &str) -> Result<Self, ApiError> {
        let cursor: Self = state
            .cursors
            .open_for(Purpose::Feed, owner, "", text)
            .ok_or_else(|| {
                ApiError::InvalidQuery(
                    "The change-feed cursor is invalid or was not issued to you.".into(),
                )
            })?;
        let retention =
            i64::try_from(state.config.tombstone_retention.as_secs()).unwrap_or(i64::MAX);
        if cursor.as_of.saturating_add(retention) < now_secs() {
            return Err(ApiError::CursorExpired);
        }
        Ok(cursor)
    }
}

/// Seconds since the epoch, as cursors count them.
pub(super) fn now_secs() -> i64 {
    Timestamp::now().as_secs()
}

/// The query of the feed's endpoints: `since` (a cursor) and, for
/// `GET /api/changes`, `limit`. Other parameters are ignored, as for lists;
/// a repeated one is 400.
#[derive(Debug, Default)]
pub(super) struct FeedQuery {
    /// The cursor to read after; `None` (or empty) for a full sync, or a
    /// live stream from now.
    pub since: Option<String>,
    /// The most changes in one answer.
    pub limit: usize,
}

impl FeedQuery {
    /// Parses a raw query string; `limit` is read only when `with_limit`.
    pub fn parse(raw: &str, with_limit: bool) -> Result<Self, ApiError> {
        let mut query = Self {
            since: None,
            limit: CHANGES_LIMIT_DEFAULT,
        };
        let mut seen = [false; 2];
        for (key, value) in form_urlencoded::parse(raw.as_bytes()) {
            let slot = match key.as_ref() {
                "since" => 0,
                "limit" if with_limit => 1,
                _ => continue,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return Err(ApiError::InvalidQuery(format!(
                    "the parameter `{key}` is given more than once"
                )));
            }
            if slot == 0 {
                query.since = (!value.is_empty()).then(|| value.into_owned());
            } else {
                query.limit = parse_decimal(&value)
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|n| (1..=CHANGES_LIMIT_MAX).contains(n))
                    .ok_or_else(|| {
                        ApiError::InvalidQuery(format!(
                            "`limit` must be a whole number from 1 to {CHANGES_LIMIT_MAX}"
                        ))
                    })?;
            }
        }
        Ok(query)
    }
}

/// `GET /api/changes`: a page of the caller's change feed.
pub(super) async fn changes(req: &Request<'_>, user: UserId) -> Result<Response<Bytes>, ApiError> {
    let query = FeedQuery::parse(req.query, true)?;
    let state: &Shared = req.state;
    let from = query
        .since
        .as_deref()
        .map(|text| FeedCursor::open(state, user, text))
        .transpose()?;
    // Before the read: whatever the read finds was made by then or later.
    let started = now_secs();
    let page = state
        .store
        .tasks_of(user)
        .changes(from.map(|c| c.position), query.limit)
        .await?;
    let cursor = FeedCursor::after_read(from.as_ref(), started, page.next, page.more);
    let body = ChangesResponse {
        changes: page.changes,
        cursor: cursor.seal(state, user),
        more: page.more,
    };
    Ok(super::handlers::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_parse_like_the_lists() {
        let q = FeedQuery::parse("", true).expect("empty");
        assert_eq!((q.since, q.limit), (None, CHANGES_LIMIT_DEFAULT));
        let q = FeedQuery::parse("since=abc&limit=1000&other=1", true).expect("valid");
        assert_eq!((q.since.as_deref(), q.limit), (Some("abc"), 1000));
        assert!(
            FeedQuery::parse("since=", true)
                .expect("empty since")
                .since
                .is_none()
        );
        for bad in [
            "limit=0",
            "limit=1001",
            "limit=abc",
            "limit=05",
            "limit=",
            "since=a&since=b",
            "limit=5&limit=5",
        ] {
            let error = FeedQuery::parse(bad, true).expect_err(bad);
            assert!(matches!(error, ApiError::InvalidQuery(_)), "{bad}");
        }
        // The stream takes no limit: one there is ignored like any other.
        assert!(FeedQuery::parse("limit=abc", false).is_ok());
    }

    #[test]
    fn a_cursor_vouches_from_the_start_of_its_walk() {
        let position = FeedPosition::after(7);
        let first = FeedCursor::after_read(None, 100, position, true);
        assert_eq!(first.as_of, 100);
        let second = FeedCursor::after_read(Some(&first), 200, position, true);
        assert_eq!(second.as_of, 100, "still paging: the walk's start");
        let last = FeedCursor::after_read(Some(&second), 300, position, false);
        assert_eq!(last.as_of, 300, "at the end: this read's start");
    }
}
