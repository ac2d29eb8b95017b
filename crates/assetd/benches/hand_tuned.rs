//! assetd's hand-written hot paths against the plain versions they replace, side by side in one
//! group each, so one run gives both (issue 28: a hand-written piece stays only while it wins by
//! a margin worth its code):
//! - `create_json`: Upload Asset's answer written by hand (`AssetUpload::to_json`) and by
//!   serde_json from the derived `Serialize`;
//! - `delivery_cache` and `grant_cache`: the hand-written caches against `moka::sync::Cache`
//!   with the same time to live (and byte budget), on the hot path (a hit) and on an insert;
//! - `hash_combiner`: eight concurrent uploads' batches hashed side by side by the
//!   `HashCombiner` against each upload hashing its own on its own thread.
//!
//! `cargo bench -p assetd --bench hand_tuned -- --warm-up-time 1 --measurement-time 3 --noplot`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use assetd::delivery_cache::{CachedObject, DeliveryCache};
use assetd::grant_cache::GrantCache;
use assetd::http::create_asset::AssetUpload;
use assetd::ids::ObjectId;
use assetd::meta::TokenGrant;
use assetd::scopes::Scopes;
use assetd::storage::hash_combiner::HashCombiner;
use assetd::tokens::TokenHash;
use assetd_md5::Md5;
use axum::http::{HeaderMap, HeaderValue};
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// CPU time of the whole process (every thread) so far, for figures where the work is spread
/// over threads and wall time on a shared 2-vCPU machine would hide it.
#[cfg(target_os = "linux")]
fn process_cpu() -> Duration {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// What `run` costs `iters` times, in the process's CPU time.
#[cfg(target_os = "linux")]
fn cpu_of<R>(iters: u64, mut run: impl FnMut() -> R) -> Duration {
    let start = process_cpu();
    for _ in 0..iters {
        black_box(run());
    }
    process_cpu() - start
}

fn create_json(c: &mut Criterion) {
    let answer = AssetUpload::example("photo.png", Some(ObjectId::generate(chrono::Utc::now())));
    assert_eq!(
        answer.to_json(),
        serde_json::to_string(&answer).expect("serializes")
    );
    let mut group = c.benchmark_group("create_json");
    group.throughput(Throughput::Bytes(answer.to_json().len() as u64));
    group.bench_function("hand-written", |b| b.iter(|| black_box(&answer).to_json()));
    group.bench_function("serde_json", |b| {
        b.iter(|| serde_json::to_string(black_box(&answer)).expect("serializes"))
    });
    // serde_json at its best: into a buffer already as large as the hand-written one's.
    group.bench_function("serde_json preallocated", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(4096);
            serde_json::to_writer(&mut out, black_box(&answer)).expect("serializes");
            out
        })
    });
    group.finish();
}

/// Entries in the caches while they are read: a site's hot set.
const ENTRIES: usize = 1000;
/// Longer than the run, so every read is a hit (the hit path is the same whatever the TTL).
const TTL: Duration = Duration::from_secs(3600);
const BUDGET: usize = 64 << 20;

fn object(i: usize) -> Arc<CachedObject> {
    let mut headers = HeaderMap::new();
    headers.insert(
        "etag",
        HeaderValue::from_static("\"0123456789abcdef0123456789abcdef\""),
    );
    Arc::new(CachedObject {
        key: format!("6b11aa00aa00aa00aa00aa00/6b12bb00bb00bb00bb{i:06}_photo.png"),
        content_type: Some(HeaderValue::from_static("image/png")),
        headers,
        size: 10 * 1024,
        modified: SystemTime::UNIX_EPOCH,
        body: Some(Bytes::from(vec![7; 10 * 1024])),
    })
}

/// What `DeliveryCache` counts an entry against its budget.
fn cost(object: &CachedObject) -> u32 {
    (256 + object.key.len() + object.body.as_ref().map_or(0, Bytes::len)) as u32
}

fn moka_delivery() -> moka::sync::Cache<String, Arc<CachedObject>> {
    moka::sync::Cache::builder()
        .time_to_live(TTL)
        .max_capacity(BUDGET as u64)
        .weigher(|_, object: &Arc<CachedObject>| cost(object))
        .build()
}

fn delivery_cache(c: &mut Criterion) {
    let objects: Vec<_> = (0..ENTRIES).map(object).collect();
    let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    let hand = DeliveryCache::new(TTL, BUDGET);
    let moka = moka_delivery();
    let now = Instant::now();
    for o in &objects {
        hand.insert(Arc::clone(o), now);
        moka.insert(o.key.clone(), Arc::clone(o));
    }
    let mut group = c.benchmark_group("delivery_cache_hit");
    let mut i = 0;
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            i = (i + 1) % ENTRIES;
            hand.get(black_box(&keys[i]), Instant::now())
                .expect("cached")
        })
    });
    group.bench_function("moka", |b| {
        b.iter(|| {
            i = (i + 1) % ENTRIES;
            moka.get(black_box(keys[i].as_str())).expect("cached")
        })
    });
    group.finish();
    // Both vCPUs reading at once: the hand-written cache takes one lock per read.
    let mut group = c.benchmark_group("delivery_cache_hit_2_threads");
    group.bench_function("hand-written", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |i| {
                hand.get(&keys[i % ENTRIES], Instant::now())
                    .expect("cached")
            })
        })
    });
    group.bench_function("moka", |b| {
        b.iter_custom(|iters| {
            on_two_threads(iters, |i| {
                moka.get(keys[i % ENTRIES].as_str()).expect("cached")
            })
        })
    });
    group.finish();
    // Inserting into a cache holding the hot set (as a miss does after its store read).
    let mut group = c.benchmark_group("delivery_cache_insert");
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            i = (i + 1) % ENTRIES;
            hand.insert(Arc::clone(&objects[i]), Instant::now());
        })
    });
    group.bench_function("moka", |b| {
        b.iter(|| {
            i = (i + 1) % ENTRIES;
            moka.insert(keys[i].clone(), Arc::clone(&objects[i]));
        })
    });
    group.finish();
}

/// Wall time of two threads each running `read` `iters` times (on its own range of indices).
fn on_two_threads<R>(iters: u64, read: impl Fn(usize) -> R + Sync) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for t in 0..2 {
            let read = &read;
            scope.spawn(move || {
                for i in 0..iters as usize {
                    black_box(read(t * 500 + i));
                }
            });
        }
    });
    start.elapsed()
}

fn grant_cache(c: &mut Criterion) {
    let grant = Arc::new(TokenGrant {
        token_id: ObjectId::generate(chrono::Utc::now()),
        scopes: Scopes::ALL,
        sites: vec![ObjectId::generate(chrono::Utc::now())],
        expires_at: None,
    });
    let hashes: Vec<TokenHash> = (0..100)
        .map(|i| TokenHash::of(&format!("token{i}")))
        .collect();
    let hand = GrantCache::new(TTL);
    let moka: moka::sync::Cache<TokenHash, Arc<TokenGrant>> =
        moka::sync::Cache::builder().time_to_live(TTL).build();
    let now = Instant::now();
    for hash in &hashes {
        hand.put(*hash, Arc::clone(&grant), now);
        moka.insert(*hash, Arc::clone(&grant));
    }
    let mut group = c.benchmark_group("grant_cache_hit");
    let mut i = 0;
    group.bench_function("hand-written", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            hand.get(black_box(&hashes[i]), Instant::now())
                .expect("cached")
        })
    });
    group.bench_function("moka", |b| {
        b.iter(|| {
            i = (i + 1) % hashes.len();
            moka.get(black_box(&hashes[i])).expect("cached")
        })
    });
    group.finish();
}

/// Uploads hashed at once, and each one's batches (64 KiB, as `disk_write.rs` gathers them, of
/// 16 KiB chunks as they come off a socket).
const UPLOADS: usize = 8;
const BATCHES: usize = 16;

fn uploads() -> Vec<Vec<Vec<Bytes>>> {
    (0..UPLOADS)
        .map(|u| {
            (0..BATCHES)
                .map(|n| {
                    (0..4)
                        .map(|k| Bytes::from(vec![(u * 31 + n * 7 + k) as u8; 16 * 1024]))
                        .collect()
                })
                .collect()
        })
        .collect()
}

/// Hashes every upload on a thread of its own, each batch through `hash`; returns the digests.
fn hash_uploads(
    uploads: &[Vec<Vec<Bytes>>],
    hash: impl Fn(&mut Md5, &[Bytes]) + Sync,
) -> Vec<[u8; 16]> {
    std::thread::scope(|scope| {
        let threads: Vec<_> = uploads
            .iter()
            .map(|batches| {
                let hash = &hash;
                scope.spawn(move || {
                    let mut md5 = Md5::new();
                    for batch in batches {
                        hash(&mut md5, batch);
                    }
                    md5.finalize()
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("no panic"))
            .collect()
    })
}

fn hash_combiner(c: &mut Criterion) {
    let uploads = uploads();
    let combiner = HashCombiner::new();
    let own = |md5: &mut Md5, batch: &[Bytes]| batch.iter().for_each(|chunk| md5.update(chunk));
    assert_eq!(
        hash_uploads(&uploads, |md5, batch| combiner.update(md5, batch)),
        hash_uploads(&uploads, own)
    );
    let mut group = c.benchmark_group("hash_combiner_8x1MiB");
    group.throughput(Throughput::Bytes((UPLOADS * BATCHES * 64 * 1024) as u64));
    group.bench_function("combiner", |b| {
        b.iter(|| hash_uploads(&uploads, |md5, batch| combiner.update(md5, batch)))
    });
    group.bench_function("own thread", |b| b.iter(|| hash_uploads(&uploads, own)));
    group.finish();
    // The same work in CPU time: what the hashing leaves of two cores for receiving and writing.
    #[cfg(target_os = "linux")]
    {
        let mut group = c.benchmark_group("hash_combiner_8x1MiB_cpu");
        group.throughput(Throughput::Bytes((UPLOADS * BATCHES * 64 * 1024) as u64));
        group.bench_function("combiner", |b| {
            b.iter_custom(|iters| {
                cpu_of(iters, || {
                    hash_uploads(&uploads, |md5, batch| combiner.update(md5, batch))
                })
            })
        });
        group.bench_function("own thread", |b| {
            b.iter_custom(|iters| cpu_of(iters, || hash_uploads(&uploads, own)))
        });
        group.finish();
    }
}

criterion_group!(
    benches,
    create_json,
    delivery_cache,
    grant_cache,
    hash_combiner
);
criterion_main!(benches);
