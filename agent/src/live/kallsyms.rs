//! `/proc/kallsyms`: which kernel functions exist (and in which module), and the
//! names of kernel addresses.
//!
//! A kernel lists some 200 000 functions, and the recorder keeps the table for
//! as long as it runs (and builds a second one when a module loads), so it is
//! stored compactly: every name in one arena, 16 bytes per function, module
//! names once each, and a name index of entry numbers searched by bisection.

use std::{
    collections::HashMap,
    fs::File,
    io::{self, BufRead, BufReader},
};

use crate::decode::{Symbol as Resolved, Symbols};

/// Where the kernel lists its symbols.
const KALLSYMS: &str = "/proc/kallsyms";

/// Ends every name in the arena (kernel symbol names never contain it).
const END: char = '\0';

/// One text symbol: where it starts, and where its name and module are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    /// The function's address (zero when kptr_restrict hides it).
    addr: u64,
    /// Byte offset of the name in the arena.
    name: u32,
    /// 1 + the index of its module in the module table; 0 for vmlinux.
    module: u32,
}

/// The kernel's symbol table, loaded once and queried by name or address.
#[derive(Debug, Default)]
pub struct Kallsyms {
    /// Every name, each followed by [`END`].
    names: String,
    /// Module names, each once, in the order first seen.
    modules: Vec<Box<str>>,
    /// Text symbols sorted by address (in listing order where addresses tie).
    by_addr: Vec<Entry>,
    /// Indices into `by_addr` sorted by name, then by index: the first of
    /// equal names is the definition a lookup finds.
    by_name: Vec<u32>,
}

/// Gathers text symbols line by line, then sorts them into a [`Kallsyms`].
#[derive(Default)]
struct Builder {
    table: Kallsyms,
    /// Module table indices by name, while building.
    module_ids: HashMap<String, u32>,
}

impl Builder {
    /// Adds one line of kallsyms text if it names a text (function) symbol.
    fn line(&mut self, line: &str) {
        let mut parts = line.split_whitespace();
        let Some(addr) = parts.next().and_then(|a| u64::from_str_radix(a, 16).ok()) else {
            return;
        };
        if !matches!(parts.next(), Some("t" | "T" | "w" | "W")) {
            return;
        }
        let Some(name) = parts.next() else {
            return;
        };
        let module = match parts.next() {
            None => 0,
            Some(m) => self.module(m.trim_start_matches('[').trim_end_matches(']')),
        };
        let table = &mut self.table;
        let name_at = u32::try_from(table.names.len()).expect("kallsyms names exceed 4 GiB");
        table.names.push_str(name);
        table.names.push(END);
        table.by_addr.push(Entry {
            addr,
            name: name_at,
            module,
        });
    }

    /// The module id of `name`, added to the table on first sight.
    fn module(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.module_ids.get(name) {
            return id;
        }
        let modules = &mut self.table.modules;
        modules.push(name.into());
        let id = u32::try_from(modules.len()).expect("more than 4 billion modules");
        self.module_ids.insert(name.to_owned(), id);
        id
    }

    /// Sorts the symbols by address and indexes them by name.
    fn finish(self) -> Kallsyms {
        let mut table = self.table;
        table.names.shrink_to_fit();
        table.modules.shrink_to_fit();
        // Stable: functions at one address keep their listing order.
        table.by_addr.sort_by_key(|e| e.addr);
        table.by_addr.shrink_to_fit();
        let count = u32::try_from(table.by_addr.len()).expect("more than 4 billion symbols");
        let mut by_name: Vec<u32> = (0..count).collect();
        by_name.sort_unstable_by(|&a, &b| {
            table.entry_name(a).cmp(table.entry_name(b)).then(a.cmp(&b))
        });
        table.by_name = by_name;
        table
    }
}

impl Kallsyms {
    /// Reads `/proc/kallsyms`. Addresses are zero unless the reader may see them
    /// (root, or kptr_restrict relaxed); names are always listed.
    pub fn load() -> io::Result<Self> {
        Self::read(BufReader::new(File::open(KALLSYMS)?))
    }

    /// Reads kallsyms text from `input` a line at a time, so the whole listing
    /// (data symbols too, several times the table) is never held at once.
    fn read(mut input: impl BufRead) -> io::Result<Self> {
        let mut builder = Builder::default();
        let mut line = String::new();
        while input.read_line(&mut line)? != 0 {
            builder.line(&line);
            line.clear();
        }
        Ok(builder.finish())
    }

    /// Parses kallsyms text, keeping text (function) symbols only.
    pub fn parse(text: &str) -> Self {
        let mut builder = Builder::default();
        text.lines().for_each(|line| builder.line(line));
        builder.finish()
    }

    /// Whether a function named `name` exists; `Some(module)` says where (`None`
    /// inside the option means vmlinux).
    pub fn find(&self, name: &str) -> Option<Option<&str>> {
        self.lookup(name).map(|e| self.module_of(e))
    }

    /// The address of function `name` (zero when kptr_restrict hides addresses).
    pub fn address(&self, name: &str) -> Option<u64> {
        self.lookup(name).map(|e| e.addr)
    }

    /// Whether addresses are visible (not all zero because of kptr_restrict).
    pub fn addresses_visible(&self) -> bool {
        self.by_addr.last().is_some_and(|s| s.addr != 0)
    }

    /// The first definition of `name`.
    fn lookup(&self, name: &str) -> Option<&Entry> {
        let at = self.by_name.partition_point(|&i| self.entry_name(i) < name);
        let &i = self.by_name.get(at)?;
        (self.entry_name(i) == name).then(|| &self.by_addr[i as usize])
    }

    /// The name of entry `i` of `by_addr`.
    fn entry_name(&self, i: u32) -> &str {
        self.name_at(self.by_addr[i as usize].name)
    }

    /// The name starting at byte `at` of the arena.
    fn name_at(&self, at: u32) -> &str {
        let rest = &self.names[at as usize..];
        rest.find(END).map_or(rest, |end| &rest[..end])
    }

    /// The module `entry` is in, `None` for vmlinux.
    fn module_of(&self, entry: &Entry) -> Option<&str> {
        let id = entry.module.checked_sub(1)?;
        Some(&*self.modules[id as usize])
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
            name: self.name_at(s.name).to_owned(),
            offset: addr - s.addr,
            module: self.module_of(s).map(str::to_owned),
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

    #[test]
    fn the_first_of_duplicate_names_wins() {
        // Static functions of one name in several places: the lowest address
        // is the definition found, whatever the listing order.
        let k = Kallsyms::parse(
            "\
ffffffffc0a20000 t cleanup\t[snd_hda_intel]
ffffffff81400000 t cleanup
ffffffffc0a10000 t cleanup\t[snd_hda_codec]
",
        );
        assert_eq!(k.find("cleanup"), Some(None));
        assert_eq!(k.address("cleanup"), Some(0xffffffff81400000));
        // Hidden addresses all tie: the first listed wins.
        let hidden = Kallsyms::parse(
            "\
0000000000000000 t cleanup\t[snd_hda_intel]
0000000000000000 t cleanup
",
        );
        assert_eq!(hidden.find("cleanup"), Some(Some("snd_hda_intel")));
    }

    #[test]
    fn modules_are_named_for_lookups_by_name_and_by_address() {
        let k = Kallsyms::parse(
            "\
ffffffff81000000 T _stext
ffffffffc0a10000 t azx_stop_chip\t[snd_hda_codec]
ffffffffc0b00000 t snd_pcm_open\t[snd_pcm]
ffffffffc0a10100 t azx_interrupt\t[snd_hda_codec]
",
        );
        assert_eq!(k.find("_stext"), Some(None));
        assert_eq!(k.find("azx_stop_chip"), Some(Some("snd_hda_codec")));
        assert_eq!(k.find("azx_interrupt"), Some(Some("snd_hda_codec")));
        assert_eq!(k.find("snd_pcm_open"), Some(Some("snd_pcm")));
        assert_eq!(k.modules.len(), 2, "each module's name is kept once");
        let pcm = k.symbol(0xffffffffc0b00010).unwrap();
        assert_eq!(pcm.module.as_deref(), Some("snd_pcm"));
        assert_eq!(pcm.to_string(), "snd_pcm_open+0x10 [snd_pcm]");
        assert_eq!(k.symbol(0xffffffff81000004).unwrap().module, None);
    }

    #[test]
    fn reading_line_by_line_gives_the_parsed_table() {
        let read = Kallsyms::read(TEXT.as_bytes()).unwrap();
        let parsed = Kallsyms::parse(TEXT);
        assert_eq!(read.by_addr, parsed.by_addr);
        assert_eq!(read.by_name, parsed.by_name);
        assert_eq!(read.names, parsed.names);
        assert_eq!(read.find("azx_interrupt"), Some(Some("snd_hda_codec")));
    }

    #[test]
    fn this_kernels_table_loads_as_its_text_parses() {
        let Ok(text) = std::fs::read_to_string(KALLSYMS) else {
            crate::test_skip::skip(&format!("{KALLSYMS} is not readable"));
            return;
        };
        let loaded = Kallsyms::load().unwrap();
        let parsed = Kallsyms::parse(&text);
        // Modules may load in between: compare what vmlinux lists.
        let vmlinux = |k: &Kallsyms| -> Vec<(u64, String)> {
            k.by_addr
                .iter()
                .filter(|e| e.module == 0)
                .map(|e| (e.addr, k.name_at(e.name).to_owned()))
                .collect()
        };
        assert_eq!(vmlinux(&loaded), vmlinux(&parsed));
        assert!(loaded.find("schedule").is_some());
    }

    #[test]
    fn an_entry_takes_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Entry>(), 16);
    }
}
