//! Sessions and refresh tokens.

use crate::support::{Fixture, user};
use std::time::Duration;
use taskcore::store::{NewSession, RefreshOutcome, RefreshRequest, TaskStore, TokenHash};
use taskcore::{SessionId, Timestamp, User};

const DAY: Duration = Duration::from_secs(86_400);

fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000).expect("in range")
}

fn hash(n: u8) -> TokenHash {
    [n; 32]
}

async fn login(
    store: &dyn TaskStore,
    user: &User,
    now: Timestamp,
    token: u8,
    max: usize,
) -> SessionId {
    let id = SessionId::generate();
    let session = NewSession {
        id,
        user_id: user.id,
        created_at: now,
        expires_at: now.plus(90 * DAY),
        refresh_hash: hash(token),
        refresh_expires_at: now.plus(30 * DAY),
    };
    store
        .create_session(session, max)
        .await
        .expect("creates the session");
    id
}

fn request(presented: u8, replacement: u8, now: Timestamp) -> RefreshRequest {
    RefreshRequest {
        presented: hash(presented),
        replacement: hash(replacement),
        now,
        refresh_ttl: 30 * DAY,
        reuse_grace: Duration::from_secs(10),
    }
}

async fn live(store: &dyn TaskStore, id: SessionId, now: Timestamp) -> bool {
    store.session(id, now).await.expect("reads").is_some()
}

pub async fn the_cap_ends_the_oldest_and_expired_ones_are_pruned(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let first = login(store, &ada, at(0), 1, 3).await;
    let second = login(store, &ada, at(1), 2, 3).await;
    let third = login(store, &ada, at(2), 3, 3).await;
    let bobs = login(store, &bob, at(2), 20, 3).await;
    let fourth = login(store, &ada, at(3), 4, 3).await;
    assert!(!live(store, first, at(4)).await, "the oldest ended");
    for id in [second, third, fourth, bobs] {
        assert!(live(store, id, at(4)).await);
    }
    // The ended session's refresh token went with it.
    assert_eq!(
        store.refresh(request(1, 9, at(5))).await.expect("ok"),
        RefreshOutcome::Invalid
    );
    assert!(
        store
            .session_of_refresh(&hash(1))
            .await
            .expect("ok")
            .is_none()
    );
    assert_eq!(
        store
            .session_of_refresh(&hash(2))
            .await
            .expect("ok")
            .map(|s| (s.id, s.user_id)),
        Some((second, ada.id))
    );

    // Logging in drops the user's expired sessions; the sweep the rest.
    let later = at(0).plus(91 * DAY);
    let young = login(store, &ada, later, 5, 3).await;
    assert!(!live(store, second, later).await);
    assert!(
        store
            .session_of_refresh(&hash(2))
            .await
            .expect("ok")
            .is_none(),
        "pruned at login"
    );
    let much_later = later.plus(91 * DAY);
    // bob's session and ada's young one.
    assert_eq!(store.prune_expired(much_later).await.expect("prunes"), 2);
    assert!(!live(store, young, later).await);
    assert!(
        store
            .session_of_refresh(&hash(5))
            .await
            .expect("ok")
            .is_none()
    );
    assert_eq!(store.prune_expired(much_later).await.expect("prunes"), 0);

    // Revoking.
    let sid = login(store, &ada, much_later, 6, 3).await;
    assert!(store.revoke_session(sid).await.expect("revokes"));
    assert!(!store.revoke_session(sid).await.expect("revokes"));
    assert!(!live(store, sid, much_later).await);
    assert_eq!(
        store.refresh(request(6, 7, much_later)).await.expect("ok"),
        RefreshOutcome::Invalid
    );
}

pub async fn refresh_rotates_and_detects_reuse(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let sid = login(store, &ada, at(0), 1, 100).await;
    let info = store
        .session(sid, at(1))
        .await
        .expect("reads")
        .expect("live");
    assert_eq!(
        (info.user_id, info.expires_at),
        (ada.id, at(0).plus(90 * DAY))
    );
    assert_eq!(
        store
            .refresh(request(1, 2, at(100)))
            .await
            .expect("refreshes"),
        RefreshOutcome::Rotated {
            user: ada.clone(),
            session: sid,
            refresh_expires_at: at(100).plus(30 * DAY)
        }
    );
    // Within the grace: refused, nothing revoked.
    assert_eq!(
        store.refresh(request(1, 3, at(105))).await.expect("ok"),
        RefreshOutcome::ReusedWithinGrace
    );
    assert!(live(store, sid, at(105)).await);
    assert!(matches!(
        store.refresh(request(2, 4, at(106))).await.expect("ok"),
        RefreshOutcome::Rotated { .. }
    ));
    // After the grace: the whole session goes.
    assert_eq!(
        store.refresh(request(1, 5, at(200))).await.expect("ok"),
        RefreshOutcome::ReusedSessionRevoked
    );
    assert!(!live(store, sid, at(200)).await);
    assert_eq!(
        store.refresh(request(4, 6, at(201))).await.expect("ok"),
        RefreshOutcome::Invalid
    );
    assert!(
        store
            .session_of_refresh(&hash(4))
            .await
            .expect("ok")
            .is_none()
    );
}

pub async fn unknown_and_expired_refresh_tokens_are_invalid(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    assert_eq!(
        store.refresh(request(9, 10, at(0))).await.expect("ok"),
        RefreshOutcome::Invalid
    );
    let sid = login(store, &ada, at(0), 1, 100).await;
    let late = at(0).plus(31 * DAY);
    assert_eq!(
        store.refresh(request(1, 2, late)).await.expect("ok"),
        RefreshOutcome::Invalid
    );
    assert!(
        live(store, sid, late).await,
        "an expired token does not end the session"
    );
    // The replacement's life is capped by the session's end.
    let sid2 = login(store, &ada, at(0), 3, 100).await;
    for (presented, days) in [(3u8, 29u32), (4, 58)] {
        let r = request(presented, presented + 1, at(0).plus(days * DAY));
        assert!(matches!(
            store.refresh(r).await.expect("ok"),
            RefreshOutcome::Rotated { .. }
        ));
    }
    match store
        .refresh(request(5, 6, at(0).plus(87 * DAY)))
        .await
        .expect("ok")
    {
        RefreshOutcome::Rotated {
            refresh_expires_at,
            session,
            ..
        } => {
            assert_eq!((refresh_expires_at, session), (at(0).plus(90 * DAY), sid2));
        }
        other => panic!("unexpected {other:?}"),
    }
    // The replacement leads to the session.
    assert_eq!(
        store
            .session_of_refresh(&hash(6))
            .await
            .expect("ok")
            .map(|s| s.id),
        Some(sid2)
    );
    // Past the session's end: invalid.
    assert_eq!(
        store
            .refresh(request(6, 7, at(0).plus(90 * DAY)))
            .await
            .expect("ok"),
        RefreshOutcome::Invalid
    );
}

pub async fn a_concurrent_double_refresh_rotates_once(f: Fixture) {
    let ada = user(&*f.store, "ada").await;
    let sid = login(&*f.store, &ada, at(0), 1, 100).await;
    // Warm every connection first, then start all refreshes at once, so
    // they overlap rather than queue behind connection setup.
    let warm: Vec<_> = (0..8)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move { store.ping().await })
        })
        .collect();
    for w in warm {
        w.await.expect("joins").expect("answers");
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(8));
    let tries: Vec<_> = (0..8u8)
        .map(|i| {
            let (store, start) = (f.store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.refresh(request(1, 100 + i, at(50))).await
            })
        })
        .collect();
    let mut rotated = 0;
    for t in tries {
        match t.await.expect("joins").expect("refreshes") {
            RefreshOutcome::Rotated { .. } => rotated += 1,
            RefreshOutcome::ReusedWithinGrace => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1);
    assert!(live(&*f.store, sid, at(50)).await);
}
