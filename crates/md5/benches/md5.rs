//! MD5 throughput over 1 MiB, ours against the RustCrypto md-5 crate measured in the same run.
//! An upload's speed cannot exceed one core's MD5, so this is its ceiling.

use criterion::{Criterion, Throughput, black_box, criterion_group, criterion_main};

fn md5(c: &mut Criterion) {
    let bytes: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut group = c.benchmark_group("md5_1MiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("assetd-md5", |b| {
        b.iter(|| assetd_md5::Md5::digest(black_box(&bytes)))
    });
    group.bench_function("md-5", |b| {
        use md5::Digest;
        b.iter(|| md5::Md5::digest(black_box(&bytes)))
    });
    group.finish();
}

criterion_group!(benches, md5);
criterion_main!(benches);
