//! The `refute` command line.
fn main() {}
