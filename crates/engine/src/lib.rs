//! The exact inference engine: runs a refute model with libtorch (`tch`) under
//! the integer semantics of `docs/semantics.md` and returns the output and the
//! layer trace.
