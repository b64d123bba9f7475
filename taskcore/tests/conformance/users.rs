//! Accounts.

use crate::support::{Fixture, user};
use taskcore::{Email, ExternalIdentity, StoreError};

pub async fn local_accounts_and_emails(f: Fixture) {
    let store = &*f.store;
    let ada = user(store, "ada").await;
    let email = Email::parse("ADA@example.com").expect("valid");
    assert!(matches!(
        store.create_user(&email, "other").await,
        Err(StoreError::EmailTaken)
    ));
    let creds = store
        .credentials(&email)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(creds.user, ada);
    assert_eq!(creds.password_hash, "$argon2id$hash-of-ada");
    assert_eq!(store.user(ada.id).await.expect("reads"), Some(ada.clone()));
    let nobody = Email::parse("nobody@example.com").expect("valid");
    assert!(store.credentials(&nobody).await.expect("reads").is_none());
    assert!(
        store
            .user(taskcore::UserId::generate())
            .await
            .expect("reads")
            .is_none()
    );

    // Concurrent registrations of one email: one account.
    let race = Email::parse("race@example.com").expect("valid");
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let (store, race) = (f.store.clone(), race.clone());
            tokio::spawn(async move { store.create_user(&race, "h").await })
        })
        .collect();
    let mut created = 0;
    for attempt in attempts {
        match attempt.await.expect("joins") {
            Ok(_) => created += 1,
            Err(StoreError::EmailTaken) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(created, 1);
}

pub async fn external_users_are_created_once(f: Fixture) {
    let identity = ExternalIdentity {
        issuer: "https://idp.example".into(),
        subject: "u-1".into(),
    };
    let firsts: Vec<_> = (0..16)
        .map(|_| {
            let (store, identity) = (f.store.clone(), identity.clone());
            tokio::spawn(async move {
                store
                    .external_user(&identity, Some("ada@example.com"))
                    .await
            })
        })
        .collect();
    let mut ids = Vec::new();
    for first in firsts {
        ids.push(first.await.expect("joins").expect("finds or creates").id);
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "16 concurrent first calls made {ids:?}");
    let again = f.store.external_user(&identity, None).await.expect("finds");
    assert_eq!(again.id, ids[0]);
    assert_eq!(again.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        f.store.user(again.id).await.expect("reads"),
        Some(again.clone())
    );

    // A local account with the same email is another user; the external
    // user has no password to log in with.
    let email = Email::parse("ada@example.com").expect("valid");
    assert!(f.store.credentials(&email).await.expect("reads").is_none());
    let local = user(&*f.store, "ada").await;
    assert_ne!(local.id, again.id);
    let creds = f
        .store
        .credentials(&email)
        .await
        .expect("reads")
        .expect("exists");
    assert_eq!(creds.user.id, local.id);
    // Same subject at another issuer: another user.
    let other = ExternalIdentity {
        issuer: "https://other.example".into(),
        subject: "u-1".into(),
    };
    let stranger = f.store.external_user(&other, None).await.expect("creates");
    assert_ne!(stranger.id, again.id);
    assert_eq!(stranger.email, None);
}
