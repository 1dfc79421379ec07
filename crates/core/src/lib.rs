//! Core types of refute: tensor encoding, commitments and Merkle proofs, the model
//! format and model id, the scalar reference of every op with the blocks of its
//! reduction, and the checkpoints of one element's fold. No libtorch, no I/O beyond
//! reading model files.

pub mod checkpoint;
pub mod commit;
pub mod hash;
pub mod merkle;
pub mod model;
pub mod ops;
pub mod reference;
pub mod sample;
pub mod spec;
pub mod tensor;

pub use checkpoint::State;
pub use commit::{commit_tensor, ChunkRange, TensorHeader, CHUNK_SIZE};
pub use hash::Hash;
pub use model::{Model, ModelError, Step, StepDef};
pub use spec::{Op, StepInput, StepSpec};
pub use tensor::{DType, Tensor, TensorData, TensorType};
#[cfg(any(test, feature = "test-utils"))]
pub mod testing;
