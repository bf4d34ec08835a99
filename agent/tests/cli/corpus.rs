//! The corpus of real bench captures: every one gets the verdict it got when it
//! was added, byte for byte, from `report` and `check --capture`, as text and as
//! JSON. A change to the model that moves any verdict shows here; where the change
//! is meant, `BARWATCH_BLESS=1 cargo test -p barwatch-agent --test cli corpus`
//! writes the new expectations, and the diff of `agent/tests/corpus/expected`
//! shows what moved.

use std::{
    fs,
    path::{Path, PathBuf},
};

use crate::util::barwatch;

/// The captures: the corpus' own, the agent's test capture and the demo's.
fn captures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut captures: Vec<PathBuf> = fs::read_dir(root.join("tests/corpus"))
        .expect("the corpus directory is readable")
        .map(|entry| entry.expect("a corpus entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    captures.push(root.join("testdata/playback-remove-rescan.jsonl"));
    captures.push(root.join("../tui/testdata/demo-capture.jsonl"));
    captures.sort();
    captures
}

/// What one command printed, with its exit status first.
fn run(args: &[&str]) -> String {
    let output = barwatch(args);
    format!(
        "exit: {}\n{}",
        output
            .status
            .code()
            .map_or_else(|| "signal".to_owned(), |c| c.to_string()),
        String::from_utf8_lossy(&output.stdout)
    )
}

/// The first line where `got` and `want` differ, for a readable failure.
fn first_difference(got: &str, want: &str) -> String {
    let line = got
        .lines()
        .zip(want.lines())
        .position(|(g, w)| g != w)
        .unwrap_or_else(|| got.lines().count().min(want.lines().count()));
    format!(
        "line {}: got {:?}, want {:?}",
        line + 1,
        got.lines().nth(line).unwrap_or("(end)"),
        want.lines().nth(line).unwrap_or("(end)")
    )
}

#[test]
fn every_corpus_capture_gets_the_verdict_it_had_byte_for_byte() {
    let bless = std::env::var_os("BARWATCH_BLESS").is_some_and(|v| !v.is_empty());
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/expected");
    let captures = captures();
    assert!(captures.len() >= 14, "the corpus has {}", captures.len());
    let mut moved = Vec::new();
    for capture in &captures {
        let name = capture.file_stem().unwrap().to_string_lossy().into_owned();
        let file = capture.to_str().unwrap();
        let outputs = [
            ("report.txt", run(&["report", file])),
            ("report.json", run(&["report", "--json", file])),
            ("check.txt", run(&["check", "--capture", file])),
            ("check.json", run(&["check", "--json", "--capture", file])),
        ];
        let dir = expected.join(&name);
        for (what, got) in outputs {
            let path = dir.join(what);
            if bless {
                fs::create_dir_all(&dir).unwrap();
                fs::write(&path, &got).unwrap();
                continue;
            }
            let want = fs::read_to_string(&path).unwrap_or_else(|e| {
                panic!(
                    "no expectation {} ({e}): bless the corpus (see this file's doc)",
                    path.display()
                )
            });
            if got != want {
                moved.push(format!("{name} {what}: {}", first_difference(&got, &want)));
            }
        }
    }
    assert!(
        moved.is_empty(),
        "verdicts moved on the corpus:\n{}",
        moved.join("\n")
    );
}
