//! [`Signals`]: how a store wakes the live streams of a user when their
//! tasks change, or when a session or token of theirs ends, without any
//! stream polling.
//!
//! A signal carries no data: a woken stream reads the change feed from its
//! own cursor (and checks its credentials), so a signal that arrives twice,
//! or for a change the stream has already read, costs one read and shows
//! nothing twice. A store raises the signal after the write is durable;
//! on PostgreSQL the signal also reaches the other replicas (`NOTIFY`).

use crate::domain::UserId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// The users with live streams, each with a channel their streams wait on.
/// Users nobody waits for take no memory: the last subscription of a
/// user removes their entry.
#[derive(Debug, Default)]
pub struct Signals {
    users: Mutex<HashMap<UserId, Arc<watch::Sender<u64>>>>,
}

impl Signals {
    /// Wakes every subscription of `user` (if there is none, nothing happens).
    pub fn notify(&self, user: UserId) {
        // Under the lock, so a subscription's drop sees the true count.
        if let Some(sender) = super::lock(&self.users).get(&user) {
            sender.send_modify(|count| *count = count.wrapping_add(1));
        }
    }

    /// Wakes every subscription of every user: for when signals may have
    /// been missed (a PostgreSQL listener that lost its connection).
    pub fn notify_all(&self) {
        for sender in super::lock(&self.users).values() {
            sender.send_modify(|count| *count = count.wrapping_add(1));
        }
    }

    /// A subscription to `user`'s signals. Only signals raised after this
    /// call wake it, so subscribe first, then read the feed.
    pub fn subscribe(self: &Arc<Self>, user: UserId) -> Subscription {
        let sender = super::lock(&self.users)
            .entry(user)
            .or_insert_with(|| Arc::new(watch::Sender::new(0)))
            .clone();
        let receiver = sender.subscribe();
        Subscription {
            signals: Arc::clone(self),
            user,
            sender: Some(sender),
            receiver,
        }
    }

    /// How many users have at least one subscription (for `/metrics`).
    pub fn users_watched(&self) -> usize {
        super::lock(&self.users).len()
    }
}

/// One stream's subscription to a user's signals; see [`Signals::subscribe`].
#[derive(Debug)]
pub struct Subscription {
    signals: Arc<Signals>,
    user: UserId,
    sender: Option<Arc<watch::Sender<u64>>>,
    receiver: watch::Receiver<u64>,
}

impl Subscription {
    /// Waits for the next signal (returns at once if one came since the
    /// last wait). Signals that came meanwhile are merged into one.
    pub async fn changed(&mut self) {
        // The sender lives as long as this subscription, so this cannot fail.
        let _ = self.receiver.changed().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut users = super::lock(&self.signals.users);
        if let Some(sender) = self.sender.take() {
            // Ours and the map's: nobody else waits for this user.
            if Arc::strong_count(&sender) == 2 {
                users.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_signal_wakes_the_users_subscriptions_only() {
        let signals = Arc::new(Signals::default());
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let mut first = signals.subscribe(alice);
        let mut second = signals.subscribe(alice);
        let mut other = signals.subscribe(bob);
        signals.notify(alice);
        tokio::time::timeout(Duration::from_secs(1), first.changed())
            .await
            .expect("the first subscription wakes");
        tokio::time::timeout(Duration::from_secs(1), second.changed())
            .await
            .expect("the second subscription wakes");
        assert!(
            tokio::time::timeout(Duration::from_millis(50), other.changed())
                .await
                .is_err(),
            "another user's subscription sleeps on"
        );
        assert_eq!(signals.users_watched(), 2);
        drop((first, second));
        assert_eq!(
            signals.users_watched(),
            1,
            "alice's entry goes with her last subscription"
        );
        drop(other);
        assert_eq!(signals.users_watched(), 0);
    }
}
