//! Core types of refute: tensor encoding, commitments and Merkle proofs, the model
//! format and model id, and the scalar reference of every op. No libtorch, no I/O
//! beyond reading model files.

pub mod commit;
pub mod hash;
pub mod merkle;
pub mod model;
pub mod reference;
pub mod spec;
pub mod tensor;

pub use commit::{commit_tensor, TensorHeader, CHUNK_SIZE};
pub use hash::Hash;
pub use model::{Model, ModelError, Step, StepDef};
pub use spec::{Op, StepInput, StepSpec};
pub use tensor::{DType, Tensor, TensorData, TensorType};
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
