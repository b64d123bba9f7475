//! Fixtures: a fresh store of each kind, users in one line.

use std::sync::Arc;
use taskcore::{Email, SledConfig, SledStore, TaskStore, User};

/// Which backend a fixture runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sled,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
}

/// What keeps a store's data alive (dropped after the store).
#[allow(dead_code)]
enum Guard {
    Dir(tempfile::TempDir),
    #[cfg(feature = "postgres")]
    Database(taskcore::store::postgres::testing::TestDatabase),
}

/// A fresh, empty store.
pub struct Fixture {
    pub store: Arc<dyn TaskStore>,
    pub kind: Kind,
    #[cfg(feature = "postgres")]
    pub pg: Option<taskcore::PgStore>,
    #[cfg(feature = "postgres")]
    pub pg_url: Option<String>,
    _guard: Guard,
}

impl Fixture {
    pub fn sled() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(SledConfig::new(dir.path().join("data"))).expect("opens");
        Fixture {
            store: Arc::new(store),
            kind: Kind::Sled,
            #[cfg(feature = "postgres")]
            pg: None,
            #[cfg(feature = "postgres")]
            pg_url: None,
            _guard: Guard::Dir(dir),
        }
    }

    /// A store in a new database, or `None` (with a note, once) when no
    /// server is configured.
    pub async fn postgres() -> Option<Fixture> {
        #[cfg(feature = "postgres")]
        {
            use taskcore::store::postgres::testing::{TestDatabase, test_database_url};
            let Some(base) = test_database_url() else {
                skip_note();
                return None;
            };
            let database = TestDatabase::create(&base)
                .await
                .expect("creates a database");
            let store = taskcore::PgStore::connect(taskcore::PgConfig::new(&database.url))
                .await
                .expect("connects");
            Some(Fixture {
                store: Arc::new(store.clone()),
                kind: Kind::Postgres,
                pg: Some(store),
                pg_url: Some(database.url.clone()),
                _guard: Guard::Database(database),
            })
        }
        #[cfg(not(feature = "postgres"))]
        {
            skip_note();
            None
        }
    }

    /// Another empty store of the same kind.
    pub async fn fresh(&self) -> Fixture {
        match self.kind {
            Kind::Sled => Fixture::sled(),
            Kind::Postgres => Fixture::postgres().await.expect("a server"),
        }
    }
}

fn skip_note() {
    assert!(
        std::env::var_os("TASKSERVER_TEST_REQUIRE_POSTGRES").is_none(),
        "TASKSERVER_TEST_REQUIRE_POSTGRES is set, but the PostgreSQL conformance tests cannot run \
         (set TASKSERVER_TEST_DATABASE_URL and build with the `postgres` feature)"
    );
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(feature = "postgres")]
        let note = "skipping PostgreSQL conformance: TASKSERVER_TEST_DATABASE_URL is not set\n";
        #[cfg(not(feature = "postgres"))]
        let note = "skipping PostgreSQL conformance: the `postgres` feature is off\n";
        // Straight to the process's stderr: the test harness captures `eprintln!`.
        use std::io::Write;
        let _ = std::io::stderr().write_all(note.as_bytes());
    });
}

/// A new local user `<name>@example.com`.
pub async fn user(store: &dyn TaskStore, name: &str) -> User {
    let email = Email::parse(&format!("{name}@example.com")).expect("valid email");
    store
        .create_user(&email, &format!("$argon2id$hash-of-{name}"))
        .await
        .expect("creates the user")
}
