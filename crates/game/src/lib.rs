//! The dispute game as pure logic (`docs/protocol.md`).
//!
//! - [`position`]: a game's on-chain state and the moves;
//! - [`trace`]: a committed trace with everything needed to open it;
//! - [`solver`]: what the executor and the challenger play from a position;
//! - [`referee`]: the contract's rules in Rust, for testing solvers without a chain.
//!
//! Glossary: a **game** disputes one posted result; its **position** is a phase, a
//! current **node** (of the trace tree, then of one step's data tree, then of one
//! element's checkpoint tree), the node's height and index, whose **turn** it is,
//! and both sides' **clocks**. The executor **reveals** the nodes below the current
//! node; the challenger **picks** one it disagrees with; at the bottom of the data
//! tree the executor reveals one **chunk**, and the challenger proves one element of
//! it wrong with a **one-step proof**. When that element's reduction has more than
//! one **block**, the challenger **names** it, the executor commits to its
//! **checkpoints** (the fold's state after every block), and the same descent finds
//! the first block the challenger disputes, which it proves with a **block proof**.

pub mod position;
pub mod referee;
pub mod solver;
pub mod trace;

pub use position::{BlockProof, Move, OneStepProof, Operands, Phase, Position, Side, Status};
pub use referee::{apply, GameContext, Rejected};
pub use solver::{challenger_move, checkpoints, executor_move, Revealed, SolverError};
pub use trace::{CommittedStep, TraceData};
