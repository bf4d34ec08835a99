//! The live adapter: privileges, kernel facts, loading and attaching the BPF
//! programs, and the recording loop. Everything here needs a kernel and root;
//! everything it produces is the model's plain data.

pub mod armed;
pub mod attach;
pub mod btf;
pub mod carriers;
pub mod catalogue;
pub mod cost;
pub mod kallsyms;
pub mod loader;
pub mod privileges;
pub mod record;
pub mod syscall;
pub mod tracefs;
