//! `/proc/kallsyms`: which kernel functions exist (and in which module), and the
//! names of kernel addresses.

use std::{collections::HashMap, fs, io};

use crate::decode::{Symbol as Resolved, Symbols};

/// One text symbol.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Symbol {
    addr: u64,
    name: String,
    module: Option<String>,
}

/// The kernel's symbol table, loaded once and queried by name or address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    /// Text symbols sorted by address.
    by_addr: Vec<Symbol>,
    /// Index into `by_addr` by name (first definition wins).
    by_name: HashMap<String, usize>,
}

impl Kallsyms {
    /// Reads `/proc/kallsyms`. Addresses are zero unless the reader may see them
    /// (root, or kptr_restrict relaxed); names are always listed.
    pub fn load() -> io::Result<Self> {
        Ok(Self::parse(&fs::read_to_string("/proc/kallsyms")?))
    }

    /// Parses kallsyms text, keeping text (function) symbols only.
    pub fn parse(text: &str) -> Self {
        let mut by_addr: Vec<Symbol> = text
            .lines()
            .filter_map(|line| {
                let mut parts = line.split_whitespace();
                let addr = u64::from_str_radix(parts.next()?, 16).ok()?;
                let kind = parts.next()?;
                if !matches!(kind, "t" | "T" | "w" | "W") {
                    return None;
                }
                let name = parts.next()?.to_owned();
                let module = parts
                    .next()
                    .map(|m| m.trim_start_matches('[').trim_end_matches(']').to_owned());
                Some(Symbol { addr, name, module })
            })
            .collect();
        by_addr.sort_by_key(|s| s.addr);
        let mut by_name = HashMap::with_capacity(by_addr.len());
        for (i, s) in by_addr.iter().enumerate() {
            by_name.entry(s.name.clone()).or_insert(i);
        }
        Self { by_addr, by_name }
    }

    /// Whether a function named `name` exists; `Some(module)` says where (`None`
    /// inside the option means vmlinux).
    pub fn find(&self, name: &str) -> Option<Option<&str>> {
        self.by_name
            .get(name)
            .map(|&i| self.by_addr[i].module.as_deref())
    }

    /// The address of function `name` (zero when kptr_restrict hides addresses).
    pub fn address(&self, name: &str) -> Option<u64> {
        self.by_name.get(name).map(|&i| self.by_addr[i].addr)
    }

    /// Whether addresses are visible (not all zero because of kptr_restrict).
    pub fn addresses_visible(&self) -> bool {
        self.by_addr.last().is_some_and(|s| s.addr != 0)
    }
}

impl Symbols for Kallsyms {
    fn symbol(&self, addr: u64) -> Option<Resolved> {
        if addr == 0 || !self.addresses_visible() {
            return None;
        }
        let i = self
            .by_addr
            .partition_point(|s| s.addr <= addr)
            .checked_sub(1)?;
        let s = &self.by_addr[i];
        Some(Resolved {
            name: s.name.clone(),
            offset: addr - s.addr,
            module: s.module.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "\
ffffffff81000000 T _stext
ffffffff81234560 T ioremap
ffffffff81234800 t iounmap
ffffffff81300000 D some_data
ffffffffc0a10000 t azx_stop_chip\t[snd_hda_codec]
ffffffffc0a10100 t azx_interrupt\t[snd_hda_codec]
";

    #[test]
    fn finds_functions_and_their_modules() {
        let k = Kallsyms::parse(TEXT);
        assert_eq!(k.find("ioremap"), Some(None));
        assert_eq!(k.find("azx_stop_chip"), Some(Some("snd_hda_codec")));
        assert_eq!(k.find("some_data"), None, "data symbols are not functions");
        assert_eq!(k.find("azx_free"), None);
    }

    #[test]
    fn names_addresses_with_offsets_and_modules() {
        let k = Kallsyms::parse(TEXT);
        let named = |addr| k.symbol(addr).map(|s| s.to_string());
        assert_eq!(named(0xffffffff81234560).as_deref(), Some("ioremap"));
        assert_eq!(named(0xffffffff81234570).as_deref(), Some("ioremap+0x10"));
        assert_eq!(
            named(0xffffffffc0a10100).as_deref(),
            Some("azx_interrupt [snd_hda_codec]")
        );
        assert_eq!(k.symbol(0x1000), None);
    }

    #[test]
    fn hidden_addresses_name_nothing() {
        let k = Kallsyms::parse("0000000000000000 T ioremap\n");
        assert!(!k.addresses_visible());
        assert_eq!(k.symbol(0xffffffff81234560), None);
        assert_eq!(k.find("ioremap"), Some(None));
    }
}
