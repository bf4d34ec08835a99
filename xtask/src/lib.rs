//! barwatch's project tasks as a library, so the bench's end-to-end tests can run
//! scenarios and assert on their results.

pub mod bench;
pub mod fuzz;
pub mod setup;
pub mod shell;
pub mod soak;
pub mod tasks;
pub mod vm;
