//! The MD5 block function (RFC 1321, 3.4), with each step's sums ordered for the CPU.
//!
//! Step `i` computes `b + rotl(a + f(b, c, d) + M[g(i)] + K[i], s[i])`. Only `b` comes from the
//! step just before; `a`, `c` and `d` are older. So the step costs, on its dependency chain,
//! only the operations that need `b`, provided `a + M + K` (and any part of `f` without `b`) is
//! added *first*. Two things keep that order:
//! - the steps read `K` through a reference passed through [`core::hint::black_box`], so its
//!   entries are loads, not constants, when the steps are compiled: LLVM moves a constant to
//!   the end of a sum (`(x + C) + y` becomes `(x + y) + C`), which would put the add of `K`
//!   after `f`, on the chain. (Until 2026-12-04 the 64 sums `M[g(i)] + K[i]` went into an
//!   array before the steps for the same reason; storing and reloading those 256 bytes per
//!   block cost more than the out-of-order window hid: 627 MiB/s against 752 for the loads of
//!   `K`, `cargo bench -p assetd-md5`, same minutes, AMD EPYC Zen 4.) `black_box` only hides
//!   the value from the optimiser; a compiler that ignored it would give the same digests,
//!   only slower;
//! - round 2's `(b & d) | (c & !d)` is written as `(c & !d) + (b & d)`: the two halves share no
//!   bit, so `|` and `+` agree, and `c & !d` joins the early sum. That step's chain is then
//!   and, add, rotate, add.

/// Bytes per block.
pub(crate) const BLOCK: usize = 64;

/// `K[i] = floor(abs(sin(i + 1)) × 2³²)` (RFC 1321, 3.4).
pub(crate) const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// The message word each step reads (RFC 1321, 3.4: rounds 1–4 read them in the orders
/// `i`, `5i + 1`, `3i + 5` and `7i`, mod 16).
pub(crate) const WORD: [usize; 64] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, //
    1, 6, 11, 0, 5, 10, 15, 4, 9, 14, 3, 8, 13, 2, 7, 12, //
    5, 8, 11, 14, 1, 4, 7, 10, 13, 0, 3, 6, 9, 12, 15, 2, //
    0, 7, 14, 5, 12, 3, 10, 1, 8, 15, 6, 13, 4, 11, 2, 9,
];

/// Round 1: `F(b, c, d) = (b & c) | (!b & d)`, as `((c ^ d) & b) ^ d` (`c ^ d` is early).
#[inline(always)]
fn step_f(a: u32, b: u32, c: u32, d: u32, word_plus_k: u32, shift: u32) -> u32 {
    let early = a.wrapping_add(word_plus_k);
    early
        .wrapping_add(((c ^ d) & b) ^ d)
        .rotate_left(shift)
        .wrapping_add(b)
}

/// Round 2: `G(b, c, d) = (b & d) | (c & !d)`, as `(c & !d) + (b & d)` (no common bit).
#[inline(always)]
fn step_g(a: u32, b: u32, c: u32, d: u32, word_plus_k: u32, shift: u32) -> u32 {
    let early = a.wrapping_add(word_plus_k).wrapping_add(c & !d);
    early.wrapping_add(b & d).rotate_left(shift).wrapping_add(b)
}

/// Round 3: `H(b, c, d) = b ^ c ^ d`, with `c ^ d` early.
#[inline(always)]
fn step_h(a: u32, b: u32, c: u32, d: u32, word_plus_k: u32, shift: u32) -> u32 {
    let early = a.wrapping_add(word_plus_k);
    early
        .wrapping_add((c ^ d) ^ b)
        .rotate_left(shift)
        .wrapping_add(b)
}

/// Round 4: `I(b, c, d) = c ^ (b | !d)`, with `!d` early.
#[inline(always)]
fn step_i(a: u32, b: u32, c: u32, d: u32, word_plus_k: u32, shift: u32) -> u32 {
    let early = a.wrapping_add(word_plus_k);
    early
        .wrapping_add((b | !d) ^ c)
        .rotate_left(shift)
        .wrapping_add(b)
}

/// Runs the block function over each block in turn.
pub(crate) fn compress_blocks(state: &mut [u32; 4], blocks: &[[u8; BLOCK]]) {
    let k = core::hint::black_box(&K);
    for block in blocks {
        compress(state, block, k);
    }
}

/// The block function over one block.
#[inline]
fn compress(state: &mut [u32; 4], block: &[u8; BLOCK], k: &[u32; 64]) {
    let (bytes, _) = block.as_chunks::<4>();
    let mut words = [0u32; 16];
    for (word, bytes) in words.iter_mut().zip(bytes) {
        *word = u32::from_le_bytes(*bytes);
    }
    let word_plus_k = |step: usize| words[WORD[step]].wrapping_add(k[step]);
    let [mut a, mut b, mut c, mut d] = *state;
    // Four steps rotate the roles of a, b, c, d; each round has its own four shifts.
    macro_rules! four_steps {
        ($step:ident, $first:expr, $s0:expr, $s1:expr, $s2:expr, $s3:expr) => {
            a = $step(a, b, c, d, word_plus_k($first), $s0);
            d = $step(d, a, b, c, word_plus_k($first + 1), $s1);
            c = $step(c, d, a, b, word_plus_k($first + 2), $s2);
            b = $step(b, c, d, a, word_plus_k($first + 3), $s3);
        };
    }
    four_steps!(step_f, 0, 7, 12, 17, 22);
    four_steps!(step_f, 4, 7, 12, 17, 22);
    four_steps!(step_f, 8, 7, 12, 17, 22);
    four_steps!(step_f, 12, 7, 12, 17, 22);
    four_steps!(step_g, 16, 5, 9, 14, 20);
    four_steps!(step_g, 20, 5, 9, 14, 20);
    four_steps!(step_g, 24, 5, 9, 14, 20);
    four_steps!(step_g, 28, 5, 9, 14, 20);
    four_steps!(step_h, 32, 4, 11, 16, 23);
    four_steps!(step_h, 36, 4, 11, 16, 23);
    four_steps!(step_h, 40, 4, 11, 16, 23);
    four_steps!(step_h, 44, 4, 11, 16, 23);
    four_steps!(step_i, 48, 6, 10, 15, 21);
    four_steps!(step_i, 52, 6, 10, 15, 21);
    four_steps!(step_i, 56, 6, 10, 15, 21);
    four_steps!(step_i, 60, 6, 10, 15, 21);
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}
