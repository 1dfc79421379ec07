//! Chain access: alloy bindings generated from the Foundry artifacts in
//! `contracts/out`, typed contract clients and a log scanner.
