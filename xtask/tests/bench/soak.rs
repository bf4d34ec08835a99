//! The soak's CI length: ten cycles of each soak (`cargo xtask soak` runs 50),
//! with barwatch's memory sampled every second cycle, held to the criteria the
//! full soak is held to.

use xtask::soak::{self, Kind, SoakRun};

/// Runs ten cycles of soak `kind` if the bench can run here; prints its table.
fn ten_cycles_of(kind: Kind) -> Option<SoakRun> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        barwatch::test_skip::skip("not root: the bench installs QEMU and builds a guest as root");
        return None;
    }
    let _one_at_a_time = super::BENCH.lock().unwrap_or_else(|p| p.into_inner());
    let run = soak::run(kind, 10, soak::sample_every(10)).expect("the bench runs the soak");
    eprintln!("{}", soak::table::render(std::slice::from_ref(&run)));
    Some(run)
}

#[test]
fn ten_clean_soak_cycles_close_lose_nothing_keep_the_kernel_quiet_and_memory_flat() {
    let Some(run) = ten_cycles_of(Kind::Clean) else {
        return;
    };
    assert_eq!(run.failures(), Vec::<String>::new());
    assert_eq!(run.devices.len(), 1, "the HD-audio controller");
    assert_eq!(run.devices[0].closed(), 10, "{:?}", run.devices);
    assert_eq!((run.outcome.as_str(), run.exit), ("pass", Some(0)));
    assert_eq!(
        run.samples.len(),
        6,
        "a sample at the start and every 2nd cycle"
    );
}

#[test]
fn ten_buggy_soak_cycles_each_fail_never_only_some() {
    let Some(run) = ten_cycles_of(Kind::Buggy) else {
        return;
    };
    assert_eq!(run.failures(), Vec::<String>::new());
    assert_eq!(run.violating_cycles, 10, "a violation in every cycle");
    assert_eq!((run.outcome.as_str(), run.exit), ("violation", Some(1)));
    assert!(
        run.cycles_with_complaints > 0,
        "the reads after iounmap fault under TCG"
    );
}
