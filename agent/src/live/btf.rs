//! Struct member offsets from the kernel's BTF, for programs that read kernel
//! structures (Rust BPF has no CO-RE, so userspace resolves and passes them in).

use std::path::Path;

use btf_rs::{Backend, Btf, Type};
use thiserror::Error;

/// Where the running kernel publishes its own BTF.
pub const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Why an offset could not be resolved.
#[derive(Debug, Error)]
pub enum BtfError {
    /// The BTF file could not be parsed.
    #[error("cannot read BTF from {path}: {message}; is CONFIG_DEBUG_INFO_BTF set?")]
    Unreadable {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// No struct of that name.
    #[error("struct {name} is not in this kernel's BTF")]
    NoStruct {
        /// The struct's name.
        name: String,
    },
    /// The struct has no such member.
    #[error("struct {name} has no member `{member}` in this kernel's BTF")]
    NoMember {
        /// The struct's name.
        name: String,
        /// The member's name.
        member: String,
    },
}

/// Parses a BTF file (vmlinux's, self-contained). The file is memory-mapped
/// where the kernel allows it (vmlinux's since Linux 6.16), so its types are
/// read in place instead of being copied and indexed (tens of MiB for
/// vmlinux); where mapping fails it is read and parsed whole.
pub fn load(path: &Path) -> Result<Btf, BtfError> {
    Btf::from_file_with_backend(path, Backend::Mmap)
        .inspect_err(|e| log::debug!("{} cannot be mapped ({e}); reading it", path.display()))
        .or_else(|_| Btf::from_file(path))
        .map_err(|e| BtfError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })
}

/// The byte offset of `member` in `struct name`, looking through anonymous
/// structs and unions.
pub fn member_offset(btf: &Btf, name: &str, member: &str) -> Result<u32, BtfError> {
    let no_struct = || BtfError::NoStruct { name: name.into() };
    let types = btf.resolve_types_by_name(name).map_err(|_| no_struct())?;
    let st = types
        .into_iter()
        .find_map(|t| match t {
            Type::Struct(s) if !s.members.is_empty() => Some(s),
            _ => None,
        })
        .ok_or_else(no_struct)?;
    find_member(btf, &st.members, member)
        .map(|bits| bits / 8)
        .ok_or_else(|| BtfError::NoMember {
            name: name.into(),
            member: member.into(),
        })
}

/// The bit offset of `member` among `members`, descending into anonymous members.
fn find_member(btf: &Btf, members: &[btf_rs::Member], member: &str) -> Option<u32> {
    for m in members {
        let name = btf.resolve_name(m).unwrap_or_default();
        if name == member {
            return Some(m.bit_offset());
        }
        if name.is_empty() {
            let inner = match btf.resolve_chained_type(m).ok()? {
                Type::Struct(s) | Type::Union(s) => s,
                _ => continue,
            };
            if let Some(bits) = find_member(btf, &inner.members, member) {
                return Some(m.bit_offset() + bits);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads the offsets this agent needs from the running kernel's BTF, when present.
    #[test]
    fn resolves_work_struct_func_on_this_kernel() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            crate::test_skip::skip(&format!("{VMLINUX_BTF} does not exist on this kernel"));
            return;
        }
        let btf = load(path).unwrap();
        // work_struct is { atomic_long_t data; struct list_head entry; work_func_t func; }
        assert_eq!(member_offset(&btf, "work_struct", "func").unwrap(), 24);
        assert_eq!(member_offset(&btf, "file", "f_inode").unwrap() % 8, 0);
        assert!(matches!(
            member_offset(&btf, "work_struct", "no_such_member"),
            Err(BtfError::NoMember { .. })
        ));
        assert!(matches!(
            member_offset(&btf, "no_such_struct_xyz", "a"),
            Err(BtfError::NoStruct { .. })
        ));
    }

    /// The mapped BTF answers as the BTF read and parsed whole does.
    #[test]
    fn mapped_and_read_btf_give_the_same_offsets() {
        let path = Path::new(VMLINUX_BTF);
        if !path.exists() {
            crate::test_skip::skip(&format!("{VMLINUX_BTF} does not exist on this kernel"));
            return;
        }
        let mapped = load(path).unwrap();
        let read = Btf::from_file(path).unwrap();
        for (strukt, member) in [
            ("work_struct", "func"),
            ("module", "name"),
            ("irqaction", "handler"),
            ("irqaction", "thread_fn"),
            ("pt_regs", "ip"),
            ("file", "f_inode"),
        ] {
            assert_eq!(
                member_offset(&mapped, strukt, member).ok(),
                member_offset(&read, strukt, member).ok(),
                "{strukt}.{member}"
            );
        }
    }
}

/// vmlinux BTF and modules' split BTF, each parsed once on first use. A module
/// whose BTF could not be read is tried again next time: it may have loaded since.
#[derive(Default)]
pub struct BtfCache {
    vmlinux: Option<Result<Btf, String>>,
    modules: std::collections::HashMap<String, Btf>,
}

impl BtfCache {
    /// vmlinux's BTF, or why it is unavailable.
    fn vmlinux(&mut self) -> Result<&Btf, String> {
        self.vmlinux
            .get_or_insert_with(|| load(Path::new(VMLINUX_BTF)).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// A module's split BTF over vmlinux's, or why it is unavailable.
    fn module(&mut self, module: &str) -> Result<&Btf, String> {
        if !self.modules.contains_key(module) {
            let path = Path::new("/sys/kernel/btf").join(module);
            let base = self.vmlinux()?;
            let loaded = Btf::from_split_file(&path, base).map_err(|e| {
                format!(
                    "cannot read {}: {e}; is {module} loaded, and built with BTF?",
                    path.display()
                )
            })?;
            self.modules.insert(module.to_owned(), loaded);
        }
        Ok(&self.modules[module])
    }

    /// The byte offset of `strukt.member`, looked up in `module`'s split BTF first
    /// (types such as `struct hdac_bus` live only there) and then in vmlinux's.
    pub fn member_offset(
        &mut self,
        module: Option<&str>,
        strukt: &str,
        member: &str,
    ) -> Result<u32, String> {
        let mut reasons = Vec::new();
        if let Some(module) = module {
            match self.module(module) {
                Ok(btf) => match member_offset(btf, strukt, member) {
                    Ok(offset) => return Ok(offset),
                    Err(e) => reasons.push(format!("{e} (BTF of {module})")),
                },
                Err(e) => reasons.push(e),
            }
        }
        match self
            .vmlinux()
            .and_then(|btf| member_offset(btf, strukt, member).map_err(|e| e.to_string()))
        {
            Ok(offset) => Ok(offset),
            Err(e) => {
                reasons.push(e);
                Err(reasons.join("; "))
            }
        }
    }
}
