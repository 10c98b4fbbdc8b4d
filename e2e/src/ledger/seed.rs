//! Building a ledger from a seed file or a demo.
