//! The one time vocabulary: every time and duration barwatch prints, and the one
//! origin times are told from.
//!
//! A capture's times are CLOCK_MONOTONIC nanoseconds. They are shown as offsets from
//! the capture's start (its header's `started_monotonic_ns`), on every screen and in
//! every report, so the same event shows the same time wherever it appears.
//!
//! Two time spellings exist for the same reason: the CLI rounds to the
//! millisecond ([`since_start`]), the TUI, whose event list must tell apart
//! events microseconds apart, shows microseconds on every screen
//! ([`since_start_micros`]).
//!
//! Two duration spellings exist because the CLI prints two different quantities
//! and its output is kept byte for byte: a rule's reason rounds to what a person
//! reads ([`human_duration`], `19.9 ms`), a report's table keeps three decimals of
//! the largest unit ([`precise_duration`], `19.912 ms`).

/// A time as an offset from the capture's start, to the millisecond (rounded):
/// `+4.230 s`; an event from before the start shows at it. What reports and
/// verdicts show.
pub fn since_start(ts_ns: u64, started_monotonic_ns: u64) -> String {
    let offset = ts_ns.saturating_sub(started_monotonic_ns);
    format!("+{:.3} s", offset as f64 / 1e9)
}

/// A time as an offset from the capture's start, to the microsecond (truncated):
/// `+4.229710 s`, or `-0.670541 s` for an event the ring held from before the
/// start. What every screen of the TUI shows, where events microseconds apart
/// must read apart.
pub fn since_start_micros(ts_ns: u64, started_monotonic_ns: u64) -> String {
    match ts_ns.checked_sub(started_monotonic_ns) {
        Some(after) => format!("+{} s", seconds_micros(after)),
        None => format!("-{} s", seconds_micros(started_monotonic_ns - ts_ns)),
    }
}

/// A CLOCK_MONOTONIC timestamp in seconds with microseconds, as ftrace prints it:
/// `12.345678`.
pub fn monotonic_seconds(ts_ns: u64) -> String {
    seconds_micros(ts_ns)
}

/// A duration as people read it, to about three figures: `850 µs`, `12.3 ms`,
/// `2.41 s`. What rules write in their reasons.
pub fn human_duration(ns: u64) -> String {
    match ns {
        0..1_000_000 => format!("{} µs", ns / 1_000),
        1_000_000..1_000_000_000 => format!("{:.1} ms", ns as f64 / 1e6),
        _ => format!("{:.2} s", ns as f64 / 1e9),
    }
}

/// A duration in the largest unit that keeps it at least 1, to three decimals
/// (truncated): `999 ns`, `2.100 µs`, `1.234 ms`. What report tables show.
pub fn precise_duration(ns: u64) -> String {
    let (divisor, unit) = match ns {
        0..1_000 => return format!("{ns} ns"),
        1_000..1_000_000 => (1_000, "µs"),
        1_000_000..1_000_000_000 => (1_000_000, "ms"),
        _ => (1_000_000_000, "s"),
    };
    let thousandths = (ns % divisor) / (divisor / 1_000);
    format!("{}.{thousandths:03} {unit}", ns / divisor)
}

/// Nanoseconds as seconds with six decimals, truncated.
fn seconds_micros(ns: u64) -> String {
    format!("{}.{:06}", ns / 1_000_000_000, ns % 1_000_000_000 / 1_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_000_000_000;

    #[test]
    fn times_are_told_from_the_captures_start() {
        assert_eq!(since_start(START + 4_230_118_000, START), "+4.230 s");
        assert_eq!(
            since_start_micros(START + 4_230_118_000, START),
            "+4.230118 s"
        );
        assert_eq!(since_start(START, START), "+0.000 s");
    }

    #[test]
    fn an_event_from_before_the_start_shows_at_the_start_or_before_it() {
        assert_eq!(since_start(START - 5_000, START), "+0.000 s");
        assert_eq!(
            since_start_micros(START - 670_541_000, START),
            "-0.670541 s"
        );
    }

    #[test]
    fn the_millisecond_spelling_rounds_and_the_microsecond_one_truncates() {
        let ts = START + 12_345_678_901;
        assert_eq!(since_start(ts, START), "+12.346 s");
        assert_eq!(since_start_micros(ts, START), "+12.345678 s");
    }

    #[test]
    fn monotonic_seconds_print_as_ftrace_does() {
        assert_eq!(monotonic_seconds(2_000_015_999), "2.000015");
        assert_eq!(monotonic_seconds(0), "0.000000");
    }

    #[test]
    fn human_durations_round_to_about_three_figures() {
        assert_eq!(human_duration(850_999), "850 µs");
        assert_eq!(human_duration(19_912_000), "19.9 ms");
        assert_eq!(human_duration(2_414_000_000), "2.41 s");
    }

    #[test]
    fn precise_durations_keep_three_decimals_of_the_largest_unit() {
        assert_eq!(precise_duration(0), "0 ns");
        assert_eq!(precise_duration(999), "999 ns");
        assert_eq!(precise_duration(2_100), "2.100 µs");
        assert_eq!(precise_duration(1_234_567), "1.234 ms");
        assert_eq!(precise_duration(61_000_000_000), "61.000 s");
    }
}
