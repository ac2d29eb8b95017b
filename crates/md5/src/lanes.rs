//! The MD5 block function over `LANES` independent messages at once, one message per lane.
//!
//! One message cannot be hashed faster than its chain of 64 dependent steps per block allows
//! (see `compress.rs`), and that chain leaves most of a core's execution units idle. Many
//! uploads arriving at once are independent messages, so the same step can run for several of
//! them in the same instructions: each value below is an array of `LANES` words, one per
//! message, and every operation is the same operation on each lane. Written as plain loops over
//! fixed-size arrays, which LLVM turns into SIMD instructions of the target's baseline (SSE2 on
//! x86-64, NEON on aarch64) without `unsafe` or target features.

use crate::Md5;
use crate::compress::{BLOCK, K, WORD};

/// Messages hashed together. Eight 32-bit lanes are two SSE2 registers per value, which leaves
/// room for a block's state and temporaries in the sixteen registers x86-64 has.
pub(crate) const LANES: usize = 8;

type Lane = [u32; LANES];

/// Each round's four shifts (RFC 1321, 3.4).
const SHIFTS: [[u32; 4]; 4] = [
    [7, 12, 17, 22],
    [5, 9, 14, 20],
    [4, 11, 16, 23],
    [6, 10, 15, 21],
];

#[inline(always)]
fn add(x: Lane, y: Lane) -> Lane {
    core::array::from_fn(|i| x[i].wrapping_add(y[i]))
}

#[inline(always)]
fn rotl(x: Lane, shift: u32) -> Lane {
    core::array::from_fn(|i| x[i].rotate_left(shift))
}

#[inline(always)]
fn splat(value: u32) -> Lane {
    [value; LANES]
}

/// One step of round `round` (0–3) on every lane: `b + rotl(a + f(b, c, d) + M + K, shift)`,
/// given `M + K` as `word_plus_k`.
#[inline(always)]
fn step(round: usize, a: Lane, b: Lane, c: Lane, d: Lane, word_plus_k: Lane, shift: u32) -> Lane {
    let f: Lane = core::array::from_fn(|i| {
        let (b, c, d) = (b[i], c[i], d[i]);
        match round {
            0 => ((c ^ d) & b) ^ d,
            1 => (b & d) | (c & !d),
            2 => b ^ c ^ d,
            _ => c ^ (b | !d),
        }
    });
    add(rotl(add(add(a, f), word_plus_k), shift), b)
}

/// Runs the block function over `blocks[lane][n]` for every lane, `n` from 0 up: lane `l`'s
/// state is `states[l]`, and every lane must have the same number of blocks.
pub(crate) fn compress_lanes(states: &mut [[u32; 4]; LANES], blocks: [&[[u8; BLOCK]]; LANES]) {
    let count = blocks[0].len();
    assert!(
        blocks.iter().all(|b| b.len() == count),
        "every lane takes the same number of blocks"
    );
    let mut a: Lane = core::array::from_fn(|l| states[l][0]);
    let mut b: Lane = core::array::from_fn(|l| states[l][1]);
    let mut c: Lane = core::array::from_fn(|l| states[l][2]);
    let mut d: Lane = core::array::from_fn(|l| states[l][3]);
    #[expect(
        clippy::needless_range_loop,
        reason = "`n` picks block `n` of every lane's slice, not of one"
    )]
    for n in 0..count {
        // Word `w` of every lane's block `n`, side by side.
        let words: [Lane; 16] = core::array::from_fn(|w| {
            core::array::from_fn(|l| {
                let block = &blocks[l][n];
                u32::from_le_bytes([
                    block[4 * w],
                    block[4 * w + 1],
                    block[4 * w + 2],
                    block[4 * w + 3],
                ])
            })
        });
        let (a0, b0, c0, d0) = (a, b, c, d);
        // `M[g(i)] + K[i]` of step `i`, on every lane.
        let word_plus_k = |i: usize| add(words[WORD[i]], splat(K[i]));
        for (round, s) in SHIFTS.iter().enumerate() {
            for quad in 0..4 {
                let i = 16 * round + 4 * quad;
                a = step(round, a, b, c, d, word_plus_k(i), s[0]);
                d = step(round, d, a, b, c, word_plus_k(i + 1), s[1]);
                c = step(round, c, d, a, b, word_plus_k(i + 2), s[2]);
                b = step(round, b, c, d, a, word_plus_k(i + 3), s[3]);
            }
        }
        a = add(a, a0);
        b = add(b, b0);
        c = add(c, c0);
        d = add(d, d0);
    }
    for (l, state) in states.iter_mut().enumerate() {
        *state = [a[l], b[l], c[l], d[l]];
    }
}

/// The fewest messages with blocks to hash for which the lanes beat hashing them one after
/// another: a lane runs at about a third of the one-message speed (`cargo bench -p
/// assetd-md5`: eight lanes 2.4× one message at a time, Intel Rocket Lake), so with fewer than
/// four messages the empty lanes would cost more than they save.
const MIN_BUSY_LANES: usize = 4;

/// Blocks each lane hashes per call of the lanes, so a message whose piece ends soon does not
/// hold the others to its length for long.
const BLOCKS_PER_CALL: usize = 256;

/// A message of [`update_side_by_side`]: its MD5, its pieces, and how far into them it is.
struct Message<'a, P> {
    md5: &'a mut Md5,
    pieces: &'a [P],
    piece: usize,
    offset: usize,
}

impl<P: AsRef<[u8]>> Message<'_, P> {
    /// Hashes one by one what the lanes cannot take (the bytes completing a pending block, a
    /// piece's tail under a block, empty pieces) until the message is at a block boundary with
    /// a whole block left in its current piece, or is done. Returns whether it has blocks left.
    fn settle(&mut self) -> bool {
        while let Some(piece) = self.pieces.get(self.piece) {
            let rest = &piece.as_ref()[self.offset..];
            let take = if self.md5.pending_len > 0 {
                (BLOCK - self.md5.pending_len).min(rest.len())
            } else if rest.len() < BLOCK {
                rest.len()
            } else {
                return true;
            };
            self.md5.update(&rest[..take]);
            self.offset += take;
            if self.offset == piece.as_ref().len() {
                self.piece += 1;
                self.offset = 0;
            }
        }
        false
    }

    /// The whole blocks left in the current piece (the message is settled).
    fn blocks(&self) -> &[[u8; BLOCK]] {
        let piece = self.pieces[self.piece].as_ref();
        piece[self.offset..].as_chunks::<BLOCK>().0
    }

    /// Records that the lanes hashed `count` blocks of the current piece into `state`.
    fn advance(&mut self, state: [u32; 4], count: usize) {
        self.md5.state = state;
        self.md5.total = self.md5.total.wrapping_add((count * BLOCK) as u64);
        self.offset += count * BLOCK;
    }
}

/// Adds to each MD5 its pieces, in order: the same as calling [`Md5::update`] on each piece of
/// each message in turn, but while at least four messages have whole blocks left, eight are
/// hashed side by side in the same instructions (see the module's comment). For many
/// independent messages arriving at once, such as concurrent uploads.
pub fn update_side_by_side<P: AsRef<[u8]>>(messages: Vec<(&mut Md5, &[P])>) {
    let mut messages: Vec<Message<'_, P>> = messages
        .into_iter()
        .map(|(md5, pieces)| Message {
            md5,
            pieces,
            piece: 0,
            offset: 0,
        })
        .collect();
    loop {
        messages.retain_mut(Message::settle);
        if messages.len() < MIN_BUSY_LANES {
            break;
        }
        let busy = messages.len().min(LANES);
        let count = messages[..busy]
            .iter()
            .map(|m| m.blocks().len())
            .min()
            .unwrap_or(0)
            .min(BLOCKS_PER_CALL);
        // Idle lanes repeat the first message into a state that is thrown away.
        let source = |lane: usize| &messages[if lane < busy { lane } else { 0 }];
        let mut states: [[u32; 4]; LANES] = core::array::from_fn(|l| source(l).md5.state);
        let blocks: [&[[u8; BLOCK]]; LANES] =
            core::array::from_fn(|l| &source(l).blocks()[..count]);
        compress_lanes(&mut states, blocks);
        for (message, state) in messages[..busy].iter_mut().zip(states) {
            message.advance(state, count);
        }
        // Messages that were left out this time go first next time.
        messages.rotate_left(busy);
    }
    for mut message in messages {
        while let Some(piece) = message.pieces.get(message.piece) {
            message.md5.update(&piece.as_ref()[message.offset..]);
            message.piece += 1;
            message.offset = 0;
        }
    }
}
