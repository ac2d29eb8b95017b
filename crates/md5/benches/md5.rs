//! MD5 throughput over 1 MiB, ours against the RustCrypto md-5 crate with its `asm` feature
//! (md5-asm) measured in the same run. An upload's speed cannot exceed one core's MD5, so this
//! is its ceiling. Then eight messages side by side (`update_side_by_side`), as concurrent
//! uploads are hashed, against the same eight one after another with each implementation.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

/// `len` bytes of a fixed, irregular pattern (the same in every run).
fn pattern(len: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn md5(c: &mut Criterion) {
    let bytes = pattern(1 << 20);
    let mut group = c.benchmark_group("md5_1MiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("assetd-md5", |b| {
        b.iter(|| assetd_md5::Md5::digest(black_box(&bytes)))
    });
    group.bench_function("md-5 asm", |b| {
        use md5::Digest;
        b.iter(|| md5::Md5::digest(black_box(&bytes)))
    });
    group.finish();
}

/// Eight uploads of 1 MiB hashed side by side, against the same eight one after another.
fn side_by_side(c: &mut Criterion) {
    let bytes = pattern(8 << 20);
    let mut group = c.benchmark_group("md5_8x1MiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("side by side", |b| {
        b.iter(|| {
            let mut md5s = vec![assetd_md5::Md5::new(); 8];
            let pieces: Vec<[&[u8]; 1]> = black_box(&bytes).chunks(1 << 20).map(|c| [c]).collect();
            assetd_md5::update_side_by_side(
                md5s.iter_mut()
                    .zip(&pieces)
                    .map(|(m, p)| (m, &p[..]))
                    .collect(),
            );
            md5s.into_iter()
                .map(assetd_md5::Md5::finalize)
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("md-5 asm one after another", |b| {
        use md5::Digest;
        b.iter(|| {
            black_box(&bytes)
                .chunks(1 << 20)
                .map(md5::Md5::digest)
                .collect::<Vec<_>>()
        })
    });
    group.bench_function("one after another", |b| {
        b.iter(|| {
            black_box(&bytes)
                .chunks(1 << 20)
                .map(assetd_md5::Md5::digest)
                .collect::<Vec<_>>()
        })
    });
    group.finish();
}

criterion_group!(benches, md5, side_by_side);
criterion_main!(benches);
