//! API tokens.

use crate::support::{Fixture, user};
use taskcore::store::NewApiToken;
use taskcore::{ApiTokenId, StoreError, Timestamp, UserId};

fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros(1_800_000_000_000_000 + secs * 1_000_000).expect("in range")
}

fn new_token(user: UserId, n: u8, created: i64, expires: i64) -> NewApiToken {
    NewApiToken {
        id: ApiTokenId::generate(),
        user_id: user,
        name: format!("token {n}"),
        hash: [n; 32],
        created_at: at(created),
        expires_at: at(expires),
    }
}

pub async fn tokens_are_found_touched_listed_and_revoked(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let bob = user(store, "bob").await;
    let ci = store
        .create_api_token(new_token(ada.id, 1, 10, 1_000), 100)
        .await
        .expect("creates");
    assert_eq!((ci.name.as_str(), ci.last_used_at), ("token 1", None));
    let old = store
        .create_api_token(new_token(ada.id, 2, 5, 1_000), 100)
        .await
        .expect("creates");
    let short = store
        .create_api_token(new_token(ada.id, 3, 6, 50), 100)
        .await
        .expect("creates");
    let bobs = store
        .create_api_token(new_token(bob.id, 4, 1, 1_000), 100)
        .await
        .expect("creates");

    let owner = store
        .api_token_owner(&[1; 32], at(20))
        .await
        .expect("ok")
        .expect("live");
    assert_eq!(
        (owner.id, owner.user, owner.last_used_at),
        (ci.id, ada.id, None)
    );
    assert_eq!(
        store.api_token_owner(&[3; 32], at(50)).await.expect("ok"),
        None,
        "expired"
    );
    assert_eq!(
        store.api_token_owner(&[9; 32], at(20)).await.expect("ok"),
        None,
        "unknown"
    );

    store
        .touch_api_token(&[1; 32], at(30))
        .await
        .expect("touches");
    let owner = store
        .api_token_owner(&[1; 32], at(31))
        .await
        .expect("ok")
        .expect("live");
    assert_eq!(owner.last_used_at, Some(at(30)));

    let listed = store.api_tokens(ada.id, at(40)).await.expect("lists");
    let mut touched = ci.clone();
    touched.last_used_at = Some(at(30));
    assert_eq!(listed, vec![old.clone(), short.clone(), touched]);
    let listed = store.api_tokens(ada.id, at(60)).await.expect("lists");
    assert_eq!(
        listed.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![old.id, ci.id]
    );

    assert!(matches!(
        store.revoke_api_token(bob.id, ci.id, at(20)).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store.revoke_api_token(ada.id, short.id, at(60)).await,
        Err(StoreError::NotFound)
    ));
    store
        .revoke_api_token(ada.id, ci.id, at(20))
        .await
        .expect("revokes");
    assert!(matches!(
        store.revoke_api_token(ada.id, ci.id, at(20)).await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.api_token_owner(&[1; 32], at(20)).await.expect("ok"),
        None
    );
    // A touch never brings a revoked token back.
    store
        .touch_api_token(&[1; 32], at(70))
        .await
        .expect("touches");
    assert_eq!(
        store.api_token_owner(&[1; 32], at(71)).await.expect("ok"),
        None
    );
    assert_eq!(
        store.api_tokens(bob.id, at(20)).await.expect("lists"),
        vec![bobs]
    );
    // The expired one is swept.
    assert_eq!(store.prune_expired(at(100)).await.expect("prunes"), 1);
    assert_eq!(
        store.api_tokens(ada.id, at(0)).await.expect("lists"),
        vec![old]
    );
}
