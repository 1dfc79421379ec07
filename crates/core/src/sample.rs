//! Seeded sample data for the demo, the benchmarks and the tests: a small
//! reproducible generator and random inputs of a model's input type. Nothing
//! here is for keys or anything else that must be unpredictable.

use crate::tensor::{DType, Tensor, TensorType};

/// SplitMix64: tiny, seeded, reproducible. Not for anything secret.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % ((hi - lo + 1) as u64)) as i64
    }

    /// True with probability `p_percent` / 100.
    pub fn chance(&mut self, p_percent: u64) -> bool {
        self.next_u64() % 100 < p_percent
    }

    /// A random int8, with extra weight on -128, 127 and 0.
    pub fn i8(&mut self) -> i8 {
        match self.range(0, 19) {
            0 => -128,
            1 => 127,
            2 => 0,
            _ => self.range(-128, 127) as i8,
        }
    }

    /// `n` random int8 values.
    pub fn i8s(&mut self, n: usize) -> Vec<i8> {
        (0..n).map(|_| self.i8()).collect()
    }
}

/// A random tensor of type `ty`: int8 values as [`Rng::i8`] draws them; int32
/// values (token ids) mostly in `[0, 48)`, sometimes negative, `i32::MIN` or
/// `i32::MAX`, so that ids inside and outside a small table both occur.
pub fn random_input(rng: &mut Rng, ty: &TensorType) -> Tensor {
    match ty.dtype {
        DType::I8 => Tensor::from_i8(ty.shape.clone(), rng.i8s(ty.numel())).expect("numel matches"),
        DType::I32 => {
            let ids = (0..ty.numel())
                .map(|_| match rng.range(0, 19) {
                    0 => i32::MIN,
                    1 => i32::MAX,
                    2 => rng.range(-3, -1) as i32,
                    _ => rng.range(0, 47) as i32,
                })
                .collect();
            Tensor::from_i32(ty.shape.clone(), ids).expect("numel matches")
        }
    }
}
