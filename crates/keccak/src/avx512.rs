//! Eight Keccak-f[1600] states in 25 AVX-512 registers: register `i` holds word `i`
//! of every state, one per 64-bit lane, so each step of a round is one instruction
//! for all eight (with `vprolq` for rotations and `vpternlogq` for the three-input
//! xor of θ and the `a ^ (!b & c)` of χ).
//!
//! A block goes in without scalar work per word: each message's block is two
//! 64-byte rows and a last word, loaded from the message (masked loads where it
//! ends, the padding or'ed in, a prefix byte shifted in across the lanes), and each
//! row of the eight messages is transposed (8×8 64-bit words, 24 shuffles) into
//! words of the eight states.
#![allow(unsafe_code)]

use core::arch::x86_64::*;
use std::sync::OnceLock;

/// The sponge rate of keccak256 in bytes (1088 bits).
const RATE: usize = 136;

const ROUND_CONSTANTS: [u64; 24] = [
    0x0000_0000_0000_0001,
    0x0000_0000_0000_8082,
    0x8000_0000_0000_808a,
    0x8000_0000_8000_8000,
    0x0000_0000_0000_808b,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8009,
    0x0000_0000_0000_008a,
    0x0000_0000_0000_0088,
    0x0000_0000_8000_8009,
    0x0000_0000_8000_000a,
    0x0000_0000_8000_808b,
    0x8000_0000_0000_008b,
    0x8000_0000_0000_8089,
    0x8000_0000_0000_8003,
    0x8000_0000_0000_8002,
    0x8000_0000_0000_0080,
    0x0000_0000_0000_800a,
    0x8000_0000_8000_000a,
    0x8000_0000_8000_8081,
    0x8000_0000_0000_8080,
    0x0000_0000_8000_0001,
    0x8000_0000_8000_8008,
];

/// Whether this CPU runs AVX-512F and AVX-512BW code (checked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bw"))
}

/// keccak256 of eight messages of one length, each after `prefix` where there is
/// one, into `out[..8]`.
///
/// # Panics
/// If the CPU lacks AVX-512F or AVX-512BW (callers check [`available`]), the
/// messages differ in length, or `out` is shorter than 8.
pub(crate) fn hash8(prefix: Option<u8>, msgs: [&[u8]; 8], out: &mut [[u8; 32]]) {
    assert!(available(), "AVX-512F and AVX-512BW are required");
    assert!(out.len() >= 8, "eight digests");
    assert!(msgs.iter().all(|m| m.len() == msgs[0].len()), "messages of one length");
    // SAFETY: the only requirement of a `#[target_feature]` function is that the CPU
    // has the feature, which `available()` checked at run time.
    unsafe { hash8_avx512(prefix, msgs, out) }
}

/// The 64 bytes of `bytes` in one register, byte `i` in byte `i`.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load64(bytes: &[u8]) -> __m512i {
    let bytes: &[u8; 64] = bytes.try_into().expect("64 bytes");
    // SAFETY: `bytes` is 64 readable bytes, and the unaligned load needs nothing more.
    unsafe { _mm512_loadu_si512(bytes.as_ptr().cast()) }
}

/// Up to 64 bytes of `msg` from `from` on, zero past its end.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn load_upto64(msg: &[u8], from: usize) -> __m512i {
    match msg.get(from..) {
        Some(rest) if rest.len() >= 64 => load64(&rest[..64]),
        Some(rest) if !rest.is_empty() => {
            let mask: __mmask64 = (1u64 << rest.len()) - 1;
            // SAFETY: the mask selects the first `rest.len()` bytes, all inside
            // `rest`; a masked load reads nothing else (and cannot fault there).
            unsafe { _mm512_maskz_loadu_epi8(mask, rest.as_ptr().cast()) }
        }
        _ => _mm512_setzero_si512(),
    }
}

/// Up to eight bytes of `msg` from `from` on as a little-endian word, zero past
/// its end.
#[inline(always)]
fn word_upto(msg: &[u8], from: usize) -> u64 {
    let rest = msg.get(from..).unwrap_or(&[]);
    let mut bytes = [0u8; 8];
    let n = rest.len().min(8);
    bytes[..n].copy_from_slice(&rest[..n]);
    u64::from_le_bytes(bytes)
}

/// Bytes `at` to `at + 63` of `prefix ‖ msg` (before padding) as one register,
/// zero past the end of the message.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn row(prefix: Option<u8>, msg: &[u8], at: usize) -> __m512i {
    match prefix {
        None => load_upto64(msg, at),
        Some(_) if at > 0 => load_upto64(msg, at - 1),
        Some(prefix) => {
            // The prefix is the first byte: the message's first 64 bytes move up one
            // byte, each word taking the top byte of the one before (the prefix for
            // word 0).
            let x = load_upto64(msg, 0);
            let before = _mm512_alignr_epi64::<7>(x, _mm512_set1_epi64((u64::from(prefix) << 56) as i64));
            _mm512_or_si512(_mm512_slli_epi64::<8>(x), _mm512_srli_epi64::<56>(before))
        }
    }
}

/// Block `block` of `prefix ‖ msg` after keccak padding (`0x01` after the message,
/// `0x80` in the last byte of the last block): its words 0–7 and 8–15 (word `k` in
/// lane `k`) and word 16, loaded straight from `msg` (masked loads at its end).
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn block_words(prefix: Option<u8>, msg: &[u8], block: usize, blocks: usize) -> (__m512i, __m512i, u64) {
    let p = usize::from(prefix.is_some());
    let len = p + msg.len();
    let start = block * RATE;
    let (mut low, mut high) = (row(prefix, msg, start), row(prefix, msg, start + 64));
    // word 16: bytes 128 to 135 of the block, never the prefix
    let mut last = word_upto(msg, start + 128 - p);
    if start + RATE > len {
        // the end of the message, then the padding: 0x01 right after it
        let at = len - start;
        match at / 64 {
            0 => low = _mm512_or_si512(low, _mm512_maskz_set1_epi8(1u64 << at, 0x01)),
            1 => high = _mm512_or_si512(high, _mm512_maskz_set1_epi8(1u64 << (at - 64), 0x01)),
            _ => last |= 0x01 << (8 * (at - 128)),
        }
    }
    if block + 1 == blocks {
        last |= 0x80 << 56;
    }
    (low, high, last)
}

/// Transposes eight rows of eight words: lane `i` of result `k` is lane `k` of row
/// `i`. Three rounds of two-source shuffles (pairs of words, pairs of pairs,
/// halves), 24 instructions.
#[target_feature(enable = "avx512f,avx512bw")]
#[inline]
fn transpose(r: [__m512i; 8]) -> [__m512i; 8] {
    // a[2j] = rows 2j and 2j+1 interleaved at even words, a[2j+1] at odd words
    let a: [__m512i; 8] = std::array::from_fn(|i| {
        let (x, y) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm512_unpacklo_epi64(x, y)
        } else {
            _mm512_unpackhi_epi64(x, y)
        }
    });
    // words 0 and 4 (even) or 2 and 6 (odd) of four rows, from two interleaved pairs
    let even = _mm512_set_epi64(13, 12, 5, 4, 9, 8, 1, 0);
    let odd = _mm512_set_epi64(15, 14, 7, 6, 11, 10, 3, 2);
    let b = [
        _mm512_permutex2var_epi64(a[0], even, a[2]),
        _mm512_permutex2var_epi64(a[0], odd, a[2]),
        _mm512_permutex2var_epi64(a[1], even, a[3]),
        _mm512_permutex2var_epi64(a[1], odd, a[3]),
        _mm512_permutex2var_epi64(a[4], even, a[6]),
        _mm512_permutex2var_epi64(a[4], odd, a[6]),
        _mm512_permutex2var_epi64(a[5], even, a[7]),
        _mm512_permutex2var_epi64(a[5], odd, a[7]),
    ];
    // b[0]: words 0, 4; b[1]: 2, 6; b[2]: 1, 5; b[3]: 3, 7 (rows 0–3; b[4..] rows 4–7)
    [
        _mm512_shuffle_i64x2::<0x44>(b[0], b[4]),
        _mm512_shuffle_i64x2::<0x44>(b[2], b[6]),
        _mm512_shuffle_i64x2::<0x44>(b[1], b[5]),
        _mm512_shuffle_i64x2::<0x44>(b[3], b[7]),
        _mm512_shuffle_i64x2::<0xEE>(b[0], b[4]),
        _mm512_shuffle_i64x2::<0xEE>(b[2], b[6]),
        _mm512_shuffle_i64x2::<0xEE>(b[1], b[5]),
        _mm512_shuffle_i64x2::<0xEE>(b[3], b[7]),
    ]
}

#[target_feature(enable = "avx512f,avx512bw")]
fn hash8_avx512(prefix: Option<u8>, msgs: [&[u8]; 8], out: &mut [[u8; 32]]) {
    // pad10*1 always adds at least one byte
    let blocks = (usize::from(prefix.is_some()) + msgs[0].len()) / RATE + 1;
    let mut a = [_mm512_setzero_si512(); 25];
    for block in 0..blocks {
        let words: [(__m512i, __m512i, u64); 8] = std::array::from_fn(|i| block_words(prefix, msgs[i], block, blocks));
        let low = transpose(words.map(|w| w.0));
        let high = transpose(words.map(|w| w.1));
        for k in 0..8 {
            a[k] = _mm512_xor_si512(a[k], low[k]);
            a[8 + k] = _mm512_xor_si512(a[8 + k], high[k]);
        }
        let w = words.map(|w| w.2 as i64);
        a[16] = _mm512_xor_si512(a[16], _mm512_set_epi64(w[7], w[6], w[5], w[4], w[3], w[2], w[1], w[0]));
        permute(&mut a);
    }
    for (w, lane) in a.iter().enumerate().take(4) {
        let lo = _mm512_extracti64x4_epi64::<0>(*lane);
        let hi = _mm512_extracti64x4_epi64::<1>(*lane);
        let words = [
            _mm256_extract_epi64::<0>(lo),
            _mm256_extract_epi64::<1>(lo),
            _mm256_extract_epi64::<2>(lo),
            _mm256_extract_epi64::<3>(lo),
            _mm256_extract_epi64::<0>(hi),
            _mm256_extract_epi64::<1>(hi),
            _mm256_extract_epi64::<2>(hi),
            _mm256_extract_epi64::<3>(hi),
        ];
        for (digest, word) in out.iter_mut().zip(words) {
            digest[8 * w..8 * w + 8].copy_from_slice(&word.to_le_bytes());
        }
    }
}

/// Keccak-f[1600] on eight states at once. Word `x + 5y` is lane (x, y).
#[target_feature(enable = "avx512f,avx512bw")]
fn permute(a: &mut [__m512i; 25]) {
    for rc in ROUND_CONSTANTS {
        // θ: column parities, then each word xors its neighbours' parities
        let mut c = [_mm512_setzero_si512(); 5];
        for (x, cx) in c.iter_mut().enumerate() {
            let t = _mm512_ternarylogic_epi64::<0x96>(a[x], a[x + 5], a[x + 10]);
            *cx = _mm512_ternarylogic_epi64::<0x96>(t, a[x + 15], a[x + 20]);
        }
        let mut d = [_mm512_setzero_si512(); 5];
        for (x, dx) in d.iter_mut().enumerate() {
            *dx = _mm512_xor_si512(c[(x + 4) % 5], _mm512_rol_epi64::<1>(c[(x + 1) % 5]));
        }
        // θ applied, then ρ (rotations) and π (lane (x, y) moves to (y, 2x + 3y))
        let mut b = [_mm512_setzero_si512(); 25];
        b[0] = _mm512_rol_epi64::<0>(_mm512_xor_si512(a[0], d[0]));
        b[10] = _mm512_rol_epi64::<1>(_mm512_xor_si512(a[1], d[1]));
        b[20] = _mm512_rol_epi64::<62>(_mm512_xor_si512(a[2], d[2]));
        b[5] = _mm512_rol_epi64::<28>(_mm512_xor_si512(a[3], d[3]));
        b[15] = _mm512_rol_epi64::<27>(_mm512_xor_si512(a[4], d[4]));
        b[16] = _mm512_rol_epi64::<36>(_mm512_xor_si512(a[5], d[0]));
        b[1] = _mm512_rol_epi64::<44>(_mm512_xor_si512(a[6], d[1]));
        b[11] = _mm512_rol_epi64::<6>(_mm512_xor_si512(a[7], d[2]));
        b[21] = _mm512_rol_epi64::<55>(_mm512_xor_si512(a[8], d[3]));
        b[6] = _mm512_rol_epi64::<20>(_mm512_xor_si512(a[9], d[4]));
        b[7] = _mm512_rol_epi64::<3>(_mm512_xor_si512(a[10], d[0]));
        b[17] = _mm512_rol_epi64::<10>(_mm512_xor_si512(a[11], d[1]));
        b[2] = _mm512_rol_epi64::<43>(_mm512_xor_si512(a[12], d[2]));
        b[12] = _mm512_rol_epi64::<25>(_mm512_xor_si512(a[13], d[3]));
        b[22] = _mm512_rol_epi64::<39>(_mm512_xor_si512(a[14], d[4]));
        b[23] = _mm512_rol_epi64::<41>(_mm512_xor_si512(a[15], d[0]));
        b[8] = _mm512_rol_epi64::<45>(_mm512_xor_si512(a[16], d[1]));
        b[18] = _mm512_rol_epi64::<15>(_mm512_xor_si512(a[17], d[2]));
        b[3] = _mm512_rol_epi64::<21>(_mm512_xor_si512(a[18], d[3]));
        b[13] = _mm512_rol_epi64::<8>(_mm512_xor_si512(a[19], d[4]));
        b[14] = _mm512_rol_epi64::<18>(_mm512_xor_si512(a[20], d[0]));
        b[24] = _mm512_rol_epi64::<2>(_mm512_xor_si512(a[21], d[1]));
        b[9] = _mm512_rol_epi64::<61>(_mm512_xor_si512(a[22], d[2]));
        b[19] = _mm512_rol_epi64::<56>(_mm512_xor_si512(a[23], d[3]));
        b[4] = _mm512_rol_epi64::<14>(_mm512_xor_si512(a[24], d[4]));
        // χ: a = b ^ (!b[x+1] & b[x+2]) along each row
        for y in 0..5 {
            for x in 0..5 {
                a[x + 5 * y] = _mm512_ternarylogic_epi64::<0xD2>(b[x + 5 * y], b[(x + 1) % 5 + 5 * y], b[(x + 2) % 5 + 5 * y]);
            }
        }
        // ι
        a[0] = _mm512_xor_si512(a[0], _mm512_set1_epi64(rc as i64));
    }
}
