//! HTTP integration tests of the task server: the real server, in process on
//! port 0 (and as the built binary where a test is about the process),
//! spoken to over HTTP. The same files run on PostgreSQL in `api_pg`; which
//! ones run where is listed once, in `modules.rs`.

/// The store behind this binary's in-process servers.
const BACKEND: helpers::Backend = helpers::Backend::Sled;

/// Declares the modules this binary runs, and names every listed file.
macro_rules! api_modules {
    (
        both: [$($both:ident),* $(,)?],
        sled_only: [$($sled:ident),* $(,)?],
        postgres_only: [$($pg:ident),* $(,)?] $(,)?
    ) => {
        $(mod $both;)*
        $(mod $sled;)*

        /// Every file `modules.rs` lists, in any of its lists.
        const LISTED: &[&str] = &[
            $(stringify!($both),)* $(stringify!($sled),)* $(stringify!($pg),)*
        ];
    };
}

include!("modules.rs");

/// A file in tests/api/ that no list names would never run: it must be
/// listed (in `both`, unless it is about one store only).
#[test]
fn every_file_of_the_suite_is_listed_once() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("tests/api")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .filter_map(|path| Some(path.file_stem()?.to_str()?.to_owned()))
        .filter(|name| name != "main" && name != "modules")
        .collect();
    files.sort();
    let mut listed: Vec<String> = LISTED.iter().map(|m| m.to_string()).collect();
    listed.sort();
    let unlisted: Vec<&String> = files.iter().filter(|f| !listed.contains(f)).collect();
    assert!(
        unlisted.is_empty(),
        "tests/api/ files in no list of tests/api/modules.rs (they never run): {unlisted:?}"
    );
    let twice: Vec<&String> = listed
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| &w[0])
        .collect();
    assert!(
        twice.is_empty(),
        "listed more than once in tests/api/modules.rs: {twice:?}"
    );
    let missing: Vec<&String> = listed.iter().filter(|m| !files.contains(m)).collect();
    assert!(
        missing.is_empty(),
        "listed in tests/api/modules.rs without a file: {missing:?}"
    );
}
