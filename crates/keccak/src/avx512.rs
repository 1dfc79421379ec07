//! Eight Keccak-f[1600] states in 25 AVX-512 registers: register `i` holds word `i`
//! of every state, one per 64-bit lane, so each step of a round is one instruction
//! for all eight (with `vprolq` for rotations and `vpternlogq` for the three-input
//! xor of θ and the `a ^ (!b & c)` of χ).
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

/// Whether this CPU runs AVX-512F code (checked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
}

/// keccak256 of eight messages of one length into `out[..8]`.
///
/// # Panics
/// If the CPU lacks AVX-512F (callers check [`available`]), the messages differ in
/// length, or `out` is shorter than 8.
pub(crate) fn hash8(msgs: [&[u8]; 8], out: &mut [[u8; 32]]) {
    assert!(available(), "AVX-512F is required");
    assert!(out.len() >= 8, "eight digests");
    assert!(msgs.iter().all(|m| m.len() == msgs[0].len()), "messages of one length");
    // SAFETY: the only requirement of a `#[target_feature]` function is that the CPU
    // has the feature, which `available()` checked at run time.
    unsafe { hash8_avx512(msgs, out) }
}

/// Block `block` of a message after keccak padding (`0x01` after the message,
/// `0x80` in the last byte of the last block), as 17 little-endian words.
#[inline(always)]
fn padded_block(msg: &[u8], block: usize, blocks: usize) -> [u64; RATE / 8] {
    let start = block * RATE;
    let len = msg.len();
    let mut words = [0u64; RATE / 8];
    if start + RATE <= len {
        // a whole block of the message: plain loads
        for (w, chunk) in words.iter_mut().zip(msg[start..start + RATE].chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        }
    } else {
        let mut bytes = [0u8; RATE];
        let tail = len.saturating_sub(start);
        bytes[..tail].copy_from_slice(&msg[start..start + tail]);
        bytes[tail] = 0x01;
        for (w, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
            *w = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        }
    }
    if block + 1 == blocks {
        words[RATE / 8 - 1] |= 0x80 << 56;
    }
    words
}

#[target_feature(enable = "avx512f")]
fn hash8_avx512(msgs: [&[u8]; 8], out: &mut [[u8; 32]]) {
    // pad10*1 always adds at least one byte
    let blocks = msgs[0].len() / RATE + 1;
    let mut a = [_mm512_setzero_si512(); 25];
    for block in 0..blocks {
        let w: [[u64; RATE / 8]; 8] = std::array::from_fn(|i| padded_block(msgs[i], block, blocks));
        for (j, lane) in a.iter_mut().enumerate().take(RATE / 8) {
            let v = _mm512_set_epi64(
                w[7][j] as i64,
                w[6][j] as i64,
                w[5][j] as i64,
                w[4][j] as i64,
                w[3][j] as i64,
                w[2][j] as i64,
                w[1][j] as i64,
                w[0][j] as i64,
            );
            *lane = _mm512_xor_si512(*lane, v);
        }
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
#[target_feature(enable = "avx512f")]
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
