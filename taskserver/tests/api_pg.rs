//! The HTTP suite of `tests/api` again, every in-process server on its own
//! PostgreSQL database, plus what only a shared database can show: several
//! server processes behaving as one (`replicas`).
//!
//! Built only when `TASKSERVER_TEST_DATABASE_URL` names a PostgreSQL server
//! (see `build.rs`); each test creates its own database and drops it after.

/// The store behind this binary's in-process servers.
#[cfg(postgres_tests)]
const BACKEND: helpers::Backend = helpers::Backend::Postgres;

#[cfg(postgres_tests)]
#[path = "api/accounts.rs"]
mod accounts;
#[cfg(postgres_tests)]
#[path = "api/auth.rs"]
mod auth;
#[cfg(postgres_tests)]
#[path = "api/binary.rs"]
mod binary;
#[cfg(postgres_tests)]
#[path = "api/errors_http.rs"]
mod errors_http;
#[cfg(postgres_tests)]
#[path = "api/external_idp.rs"]
mod external_idp;
#[cfg(postgres_tests)]
#[path = "api/extremes.rs"]
mod extremes;
#[cfg(postgres_tests)]
#[path = "api/faults_pg.rs"]
mod faults_pg;
#[cfg(postgres_tests)]
#[path = "api/fuzz.rs"]
mod fuzz;
#[cfg(postgres_tests)]
#[path = "api/helpers.rs"]
mod helpers;
#[cfg(postgres_tests)]
#[path = "api/isolation.rs"]
mod isolation;
#[cfg(postgres_tests)]
#[path = "api/model.rs"]
mod model;
#[cfg(postgres_tests)]
#[path = "api/operations.rs"]
mod operations;
#[cfg(postgres_tests)]
#[path = "api/pagination.rs"]
mod pagination;
#[cfg(postgres_tests)]
#[path = "api/ratelimit.rs"]
mod ratelimit;
#[cfg(postgres_tests)]
#[path = "api/replicas.rs"]
mod replicas;
#[cfg(postgres_tests)]
#[path = "api/tasks.rs"]
mod tasks;
#[cfg(postgres_tests)]
#[path = "api/tokens_attacks.rs"]
mod tokens_attacks;
#[cfg(postgres_tests)]
#[path = "api/transfer.rs"]
mod transfer;
#[cfg(postgres_tests)]
#[path = "api/transfer_pg.rs"]
mod transfer_pg;
#[cfg(postgres_tests)]
#[path = "api/validation.rs"]
mod validation;

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
