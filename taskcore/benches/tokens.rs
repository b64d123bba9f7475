//! Micro-benchmarks of the token work on every request's path: issuing and
//! verifying an access token (HS256 JWT), hashing a refresh or API token,
//! sealing and opening a list cursor, and parsing `If-Match` and a list query.
//!
//! `cargo bench -p taskcore --bench tokens` (add `-- --quick` for a short run).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use taskcore::auth::cursor::CursorCodec;
use taskcore::auth::tokens::{self, AccessTokens};
use taskcore::{ListQuery, Position, Precondition, SessionId, SortKey, TaskId, Timestamp, UserId};

const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-bench-secret";

fn access_tokens(c: &mut Criterion) {
    let keys = AccessTokens::new(SECRET);
    let (user, session) = (UserId::generate(), SessionId::generate());
    let ttl = Duration::from_secs(15 * 60);
    let token = keys
        .issue(user, session, Timestamp::now(), ttl)
        .expect("issues");
    let mut group = c.benchmark_group("access_token");
    group.bench_function("issue", |b| {
        b.iter(|| {
            keys.issue(black_box(user), black_box(session), Timestamp::now(), ttl)
                .expect("issues")
        })
    });
    group.bench_function("verify", |b| {
        b.iter(|| keys.verify(black_box(&token)).expect("valid"))
    });
    group.bench_function("verify, bad signature", |b| {
        let mut forged = token.clone();
        forged.pop();
        forged.push(if token.ends_with('A') { 'B' } else { 'A' });
        b.iter(|| keys.verify(black_box(&forged)).expect_err("refused"))
    });
    group.finish();
}

fn token_hash(c: &mut Criterion) {
    let refresh = tokens::new_refresh_token();
    let api = tokens::new_api_token();
    let mut group = c.benchmark_group("token_hash");
    group.bench_function("refresh token", |b| {
        b.iter(|| tokens::token_hash(black_box(&refresh)))
    });
    group.bench_function("api token", |b| {
        b.iter(|| tokens::token_hash(black_box(&api)))
    });
    group.finish();
}

fn cursors(c: &mut Criterion) {
    let codec = CursorCodec::new(SECRET);
    let owner = UserId::generate();
    let fingerprint = ListQuery::parse("sort=title&status=pending")
        .expect("valid")
        .fingerprint();
    let position = Position {
        key: SortKey::Title("buy oat milk and a loaf of bread".into()),
        id: TaskId::generate(),
    };
    let cursor = codec.seal(owner, &fingerprint, &position);
    let mut group = c.benchmark_group("cursor");
    group.bench_function("seal", |b| {
        b.iter(|| codec.seal(black_box(owner), black_box(&fingerprint), &position))
    });
    group.bench_function("open", |b| {
        b.iter(|| {
            codec
                .open(
                    black_box(owner),
                    black_box(&fingerprint),
                    black_box(&cursor),
                )
                .expect("opens")
        })
    });
    group.bench_function("open, another owner", |b| {
        let stranger = UserId::generate();
        b.iter(|| {
            codec.open(
                black_box(stranger),
                black_box(&fingerprint),
                black_box(&cursor),
            )
        })
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let mut group = c.benchmark_group("parse");
    group.bench_function("If-Match one version", |b| {
        b.iter(|| Precondition::from_if_match(black_box(Some("\"12\""))))
    });
    group.bench_function("If-Match list", |b| {
        b.iter(|| Precondition::from_if_match(black_box(Some("\"1\", \"2\", \"3\""))))
    });
    group.bench_function("If-Match *", |b| {
        b.iter(|| Precondition::from_if_match(black_box(Some("*"))))
    });
    group.bench_function("list query", |b| {
        b.iter(|| {
            ListQuery::parse(black_box("status=pending&q=Milk&sort=-due&limit=50")).expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, access_tokens, token_hash, cursors, parsing);
criterion_main!(benches);
