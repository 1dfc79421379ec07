//! The dispute game as pure logic: positions, moves, and the solver of each role.
