//! `update_side_by_side` against `Md5::update`, the one-message implementation that
//! `tests/vectors.rs` checks against RFC 1321, hashlib and the md-5 crate: any number of
//! messages, each in pieces of any sizes, some already holding bytes of an incomplete block.

use assetd_md5::{Md5, update_side_by_side};
use proptest::prelude::*;

/// A message: bytes it already holds, then its pieces (sizes from empty to several blocks,
/// so piece ends fall at every offset in a block and the lanes' lengths differ).
fn message() -> impl Strategy<Value = (Vec<u8>, Vec<Vec<u8>>)> {
    let piece = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..70),
        prop::collection::vec(any::<u8>(), 60..1_100),
        prop::collection::vec(any::<u8>(), 16_000..40_000),
    ];
    (
        prop::collection::vec(any::<u8>(), 0..130),
        prop::collection::vec(piece, 0..6),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn digests_equal_one_message_at_a_time(messages in prop::collection::vec(message(), 0..20)) {
        let mut ours: Vec<Md5> = messages
            .iter()
            .map(|(held, _)| {
                let mut md5 = Md5::new();
                md5.update(held);
                md5
            })
            .collect();
        update_side_by_side(
            ours.iter_mut()
                .zip(&messages)
                .map(|(md5, (_, pieces))| (md5, &pieces[..]))
                .collect(),
        );
        for (md5, (held, pieces)) in ours.into_iter().zip(&messages) {
            let whole: Vec<u8> = held.iter().chain(pieces.iter().flatten()).copied().collect();
            prop_assert_eq!(md5.finalize(), Md5::digest(&whole));
        }
    }
}

#[test]
fn eight_long_messages_of_different_lengths() {
    // Every message long enough to keep the lanes busy for many calls, each ending at a
    // different point, so lanes go idle one by one.
    let messages: Vec<Vec<u8>> = (0..11u32)
        .map(|n| {
            (0..(n as usize + 1) * 50_000 + n as usize * 7)
                .map(|i| (i as u32).wrapping_mul(2_654_435_761 ^ n).rotate_left(n) as u8)
                .collect()
        })
        .collect();
    let mut ours = vec![Md5::new(); messages.len()];
    let pieces: Vec<[&[u8]; 1]> = messages.iter().map(|m| [&m[..]]).collect();
    update_side_by_side(
        ours.iter_mut()
            .zip(&pieces)
            .map(|(md5, p)| (md5, &p[..]))
            .collect(),
    );
    for (md5, message) in ours.into_iter().zip(&messages) {
        assert_eq!(
            md5.finalize(),
            Md5::digest(message),
            "{} bytes",
            message.len()
        );
    }
}
