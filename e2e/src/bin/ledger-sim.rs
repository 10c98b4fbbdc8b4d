//! The `ledger-sim` binary.
fn main() {}
