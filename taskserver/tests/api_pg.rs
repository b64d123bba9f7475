//! The HTTP suite of `tests/api` again, every in-process server on its own
//! PostgreSQL database, plus what only a shared database can show: several
//! server processes behaving as one (`replicas`). The files it runs are
//! listed once, in `tests/api/modules.rs`, for both binaries.
//!
//! Built only when `TASKSERVER_TEST_DATABASE_URL` names a PostgreSQL server
//! (see `build.rs`); each test creates its own database and drops it after.

/// The store behind this binary's in-process servers.
#[cfg(postgres_tests)]
const BACKEND: api::helpers::Backend = api::helpers::Backend::Postgres;

/// The files of `tests/api/` (the `path` makes `mod x;` load `api/x.rs`).
#[cfg(postgres_tests)]
#[path = "api"]
mod api {
    /// Declares the modules this binary runs, visible from the crate root
    /// where the suite's files look for them (`crate::helpers`).
    macro_rules! api_modules {
        (
            both: [$($both:ident),* $(,)?],
            sled_only: [$($sled:ident),* $(,)?],
            postgres_only: [$($pg:ident),* $(,)?] $(,)?
        ) => {
            $(pub(crate) mod $both;)*
            $(pub(crate) mod $pg;)*
        };
    }

    include!("api/modules.rs");
}
#[cfg(postgres_tests)]
use api::*;

#[cfg(not(postgres_tests))]
#[test]
fn postgresql_suite_skipped_without_a_database() {
    eprintln!(
        "skipping the HTTP suite on PostgreSQL: TASKSERVER_TEST_DATABASE_URL is not set \
         (set it, e.g. to postgres://postgres@127.0.0.1:5432/test, and run the tests again)"
    );
    assert!(
        std::env::var_os("TASKSERVER_TEST_REQUIRE_POSTGRES").is_none(),
        "TASKSERVER_TEST_REQUIRE_POSTGRES is set, but this suite was built without TASKSERVER_TEST_DATABASE_URL"
    );
}
