//! Replays the checked-in corpus and every regression input through the fuzz
//! targets' bodies, so what libFuzzer once found stays fixed without libFuzzer.

use std::path::{Path, PathBuf};

use barwatch_fuzz::targets::TARGETS;

/// The files directly in `dir`, sorted; none when it does not exist.
fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_runs_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in TARGETS {
        let corpus = files(&root.join("corpus").join(target.name));
        assert!(
            !corpus.is_empty(),
            "target {} has no seed corpus; run `cargo run -p barwatch-fuzz --bin seed-corpus`",
            target.name
        );
        let regressions = files(&root.join("regressions").join(target.name));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("a readable corpus file");
            let outcome = std::panic::catch_unwind(|| (target.run)(&data));
            assert!(
                outcome.is_ok(),
                "{} panicked on {}",
                target.name,
                path.display()
            );
        }
    }
}

#[test]
fn every_target_has_a_libfuzzer_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for target in TARGETS {
        let binary = root
            .join("fuzz_targets")
            .join(format!("{}.rs", target.name));
        assert!(binary.is_file(), "{} is missing", binary.display());
    }
}
