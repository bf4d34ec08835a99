//! Behaviour tests: key sequences through the keymap into the state, and snapshots
//! of the screen drawn from a small synthetic capture.

use barwatch::{
    capture::{
        format::{Header, Trailer},
        reader::{Capture, CaptureEnd},
    },
    event::{Event, EventData, Hex},
    probe_table::{Mechanism, Role},
    testkit,
    timeline::State,
};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::{
    Terminal,
    backend::TestBackend,
    style::{Color, Modifier},
};

use crate::{
    action::Action,
    app::{App, LIVE_EVENTS, Mode, Screen},
    keymap::{self, BINDINGS, Key},
    message::Message,
    theme::Theme,
    ui,
};

const T0: u64 = 7_000_000_000;

fn event(
    offset_ns: u64,
    cpu: u32,
    pid: u32,
    tid: u32,
    comm: &str,
    probe: &str,
    data: EventData,
) -> Event {
    Event {
        cpu,
        pid,
        tid,
        comm: comm.into(),
        ..testkit::event(T0 + offset_ns, probe, data)
    }
}

fn events() -> Vec<Event> {
    let ioctl = |fd, cmd, name: &str| EventData::IoctlEnter {
        fd,
        cmd: Hex(cmd),
        cmd_name: name.into(),
        arg: Hex(0x7ffd_1234_5000),
        dev: None,
    };
    let ioctl_exit = |fd, cmd, name: &str, ret| EventData::IoctlExit {
        fd,
        cmd: Hex(cmd),
        cmd_name: name.into(),
        ret,
        dev: None,
    };
    let enter = "syscalls:sys_enter_ioctl";
    let exit = "syscalls:sys_exit_ioctl";
    vec![
        event(
            0,
            2,
            4242,
            4242,
            "aplay",
            enter,
            ioctl(3, 0x8120_4101, "SNDRV_PCM_IOCTL_INFO"),
        ),
        event(
            18_250,
            2,
            4242,
            4242,
            "aplay",
            exit,
            ioctl_exit(3, 0x8120_4101, "SNDRV_PCM_IOCTL_INFO", 0),
        ),
        event(
            1_204_003,
            0,
            0,
            0,
            "swapper/0",
            "irq:irq_handler_entry",
            EventData::IrqHandlerEntry {
                irq: 131,
                handler: Hex(0xffffffffc0a01230),
                handler_name: Some("azx_interrupt".into()),
                thread: None,
            },
        ),
        event(
            1_209_871,
            0,
            0,
            0,
            "swapper/0",
            "irq:irq_handler_exit",
            EventData::IrqHandlerExit {
                irq: 131,
                handler: Hex(0xffffffffc0a01230),
                handler_name: Some("azx_interrupt".into()),
                handled: true,
            },
        ),
        event(
            1_530_000,
            1,
            117,
            117,
            "kworker/1:2",
            "workqueue:workqueue_execute_start",
            EventData::WorkStart {
                work: Hex(0xffff_8881_0a2b_3c40),
                function: Hex(0xffff_ffff_c0a1_2345),
                symbol: Some("azx_probe_work".into()),
            },
        ),
        event(
            2_815_500,
            1,
            117,
            117,
            "kworker/1:2",
            "kprobe:azx_stop_chip",
            EventData::FuncEntry {
                function: "azx_stop_chip".into(),
                module: Some("snd_hda_codec".into()),
                ip: Hex(0xffff_ffff_c0a1_0f00),
                args: [Hex(0xffff_8881_0c00_0000), Hex(0), Hex(0), Hex(0)],
                base: None,
                stack: Vec::new(),
            },
        ),
        event(
            2_990_125,
            1,
            117,
            117,
            "kworker/1:2",
            "kretprobe:azx_stop_chip",
            EventData::FuncExit {
                function: "azx_stop_chip".into(),
                module: Some("snd_hda_codec".into()),
                ip: Hex(0xffff_ffff_c0a1_0f00),
                ret: Hex(0),
                stack: vec!["azx_stop_chip".into(), "azx_remove [snd_hda_intel]".into()],
            },
        ),
        event(
            3_001_000,
            1,
            117,
            117,
            "kworker/1:2",
            "workqueue:workqueue_execute_end",
            EventData::WorkEnd {
                work: Hex(0xffff_8881_0a2b_3c40),
                function: Hex(0xffff_ffff_c0a1_2345),
                symbol: None,
            },
        ),
        event(
            1_234_567_890,
            3,
            4242,
            4250,
            "aplay",
            enter,
            ioctl(3, 0x4142, "SNDRV_PCM_IOCTL_PREPARE"),
        ),
        event(
            1_234_601_000,
            3,
            4242,
            4250,
            "aplay",
            exit,
            ioctl_exit(3, 0x4142, "SNDRV_PCM_IOCTL_PREPARE", -19),
        ),
        event(
            1_240_000_000,
            2,
            0,
            0,
            "swapper/2",
            "irq:irq_handler_entry",
            EventData::IrqHandlerEntry {
                irq: 131,
                handler: Hex(0xffffffffc0a01230),
                handler_name: Some("azx_interrupt".into()),
                thread: None,
            },
        ),
        event(
            1_240_004_500,
            2,
            0,
            0,
            "swapper/2",
            "irq:irq_handler_exit",
            EventData::IrqHandlerExit {
                irq: 131,
                handler: Hex(0xffffffffc0a01230),
                handler_name: Some("azx_interrupt".into()),
                handled: false,
            },
        ),
    ]
}

fn header() -> Header {
    Header {
        version: "1.0".into(),
        started_unix_ns: 1_750_000_000_000_000_000,
        started_monotonic_ns: T0 - 1_000_000,
        ..testkit::header(vec![
            testkit::attached("irq:irq_handler_entry", Role::Irq, Mechanism::RawTracepoint),
            testkit::attached(
                "kprobe:azx_stop_chip",
                Role::QuiesceMarker,
                Mechanism::Kprobe,
            ),
        ])
    }
}

fn capture(end: CaptureEnd) -> Capture {
    Capture {
        header: header(),
        events: events(),
        end,
    }
}

fn trailer() -> CaptureEnd {
    CaptureEnd::Trailer(Trailer {
        ended_unix_ns: 1_750_000_002_000_000_000,
        events: 12,
        lost: 3,
        decode_errors: 0,
        stacks_lost: 0,
        probes: [(
            "kprobe:azx_interrupt".to_owned(),
            barwatch::capture::format::ProbeTotals { events: 2, lost: 3 },
        )]
        .into_iter()
        .collect(),
        final_probes: Vec::new(),
        blind_spans: Vec::new(),
    })
}

fn cut() -> CaptureEnd {
    CaptureEnd::Cut {
        complete_lines: 13,
        partial: None,
    }
}

fn app() -> App {
    let mut app = App::new("captures/hda-rescan.jsonl", capture(trailer()));
    app.update(Action::Resize(5));
    app
}

fn ch(c: char) -> KeyEvent {
    let modifiers = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    KeyEvent::new(KeyCode::Char(c), modifiers)
}

fn code(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

/// Presses each key in turn, as the event loop does.
fn press(app: &mut App, keys: impl IntoIterator<Item = KeyEvent>) {
    for key in keys {
        if let Some(action) = keymap::action_for(app.mode(), &key) {
            app.update(action);
        }
    }
}

/// Types `text` one character at a time.
fn typing(text: &str) -> Vec<KeyEvent> {
    text.chars().map(ch).collect()
}

fn selected_comm_and_text(app: &App) -> (String, String) {
    let (_, event) = app
        .window(usize::MAX)
        .into_iter()
        .find(|(selected, _)| *selected)
        .expect("an event is selected");
    (event.comm.to_string(), event.data.to_string())
}

#[test]
fn slash_types_a_filter_that_enter_applies_case_insensitively() {
    let mut app = app();
    press(&mut app, typing("/IRQ"));
    assert_eq!(app.mode(), Mode::Filter);
    assert_eq!(app.input(), "IRQ");
    assert_eq!(app.matching(), 12, "typing alone does not filter");
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.mode(), Mode::List);
    assert_eq!(app.filter(), "IRQ");
    assert_eq!(app.matching(), 4);
    assert!(
        app.window(usize::MAX)
            .into_iter()
            .all(|(_, e)| e.data.kind().starts_with("irq_"))
    );
}

#[test]
fn the_filter_matches_comm_probe_kind_and_text() {
    for (filter, matching) in [
        ("kworker", 4),
        ("kretprobe:", 1),
        ("func_entry", 1),
        ("\"= -19\"", 1),
        ("not handled", 1),
        ("azx_probe_work", 1),
        ("nothing like this", 0),
    ] {
        let mut app = app();
        press(&mut app, [ch('/')]);
        press(&mut app, typing(filter));
        press(&mut app, [code(KeyCode::Enter)]);
        assert_eq!(app.matching(), matching, "filter {filter:?}");
    }
}

#[test]
fn backspace_edits_and_slash_reopens_with_the_applied_filter() {
    let mut app = app();
    press(&mut app, typing("/aplayx"));
    press(&mut app, [code(KeyCode::Backspace), code(KeyCode::Enter)]);
    assert_eq!(app.filter(), "aplay");
    assert_eq!(app.matching(), 4);
    press(&mut app, [ch('/')]);
    assert_eq!(app.input(), "aplay");
}

#[test]
fn esc_clears_the_filter_before_it_quits() {
    let mut app = app();
    press(&mut app, typing("/irq"));
    press(&mut app, [code(KeyCode::Esc)]);
    assert_eq!(
        (app.mode(), app.filter(), app.input()),
        (Mode::List, "", "")
    );
    assert!(!app.should_quit());

    press(&mut app, typing("/irq"));
    press(&mut app, [code(KeyCode::Enter), code(KeyCode::Esc)]);
    assert_eq!(app.filter(), "");
    assert_eq!(app.matching(), 12);
    assert!(!app.should_quit());

    press(&mut app, [code(KeyCode::Esc)]);
    assert!(app.should_quit());
}

#[test]
fn q_quits_from_the_list_but_is_text_in_the_prompt() {
    let mut app = app();
    press(&mut app, typing("/q"));
    assert!(!app.should_quit());
    assert_eq!(app.input(), "q");
    press(&mut app, [code(KeyCode::Esc), ch('q')]);
    assert!(app.should_quit());
}

#[test]
fn ctrl_c_quits_from_every_mode() {
    for opening in [vec![], vec![ch('/')], vec![ch('?')]] {
        let mut app = app();
        press(&mut app, opening);
        press(&mut app, [ctrl('c')]);
        assert!(app.should_quit(), "in {:?}", app.mode());
    }
}

#[test]
fn moving_clamps_at_both_ends_and_scrolls_the_selection_into_view() {
    let mut app = app();
    press(&mut app, [ch('k'), code(KeyCode::Up)]);
    assert_eq!(app.selected(), Some(0));
    press(&mut app, [ch('j'), code(KeyCode::Down), ch('j')]);
    assert_eq!(app.selected(), Some(3));
    assert_eq!(
        app.window(5).into_iter().next().map(|(_, e)| e.ts_ns),
        Some(T0)
    );

    press(&mut app, [ch('j'), ch('j')]);
    assert_eq!(app.selected(), Some(5));
    let window: Vec<_> = app.window(5).into_iter().collect();
    assert_eq!(window.len(), 5);
    assert!(window[4].0, "the selection is the bottom row");

    press(&mut app, [ch('G')]);
    assert_eq!(app.selected(), Some(11));
    press(&mut app, [ch('j')]);
    assert_eq!(app.selected(), Some(11));
    press(&mut app, [ch('g')]);
    assert_eq!(app.selected(), Some(0));
    press(&mut app, [code(KeyCode::End)]);
    assert_eq!(app.selected(), Some(11));
    press(&mut app, [code(KeyCode::Home)]);
    assert_eq!(app.selected(), Some(0));
}

#[test]
fn pages_move_by_the_rows_on_screen() {
    let mut app = app();
    press(&mut app, [code(KeyCode::PageDown)]);
    assert_eq!(app.selected(), Some(5));
    press(&mut app, [code(KeyCode::PageDown), code(KeyCode::PageDown)]);
    assert_eq!(app.selected(), Some(11));
    press(&mut app, [code(KeyCode::PageUp)]);
    assert_eq!(app.selected(), Some(6));
    assert!(
        app.window(5).into_iter().next().unwrap().0,
        "the selection is the top row"
    );
    app.update(Action::Resize(20));
    press(&mut app, [code(KeyCode::PageUp)]);
    assert_eq!(app.selected(), Some(0));
}

#[test]
fn filtering_keeps_the_selected_event_or_the_next_match() {
    let mut app = app();
    press(&mut app, [ch('G'), ch('k'), ch('k'), ch('k')]);
    assert_eq!(selected_comm_and_text(&app).0, "aplay");
    press(&mut app, typing("/aplay"));
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(
        selected_comm_and_text(&app),
        ("aplay".into(), "ioctl(3, SNDRV_PCM_IOCTL_PREPARE)".into())
    );
    press(&mut app, [ch('j'), code(KeyCode::Esc)]);
    assert_eq!(
        selected_comm_and_text(&app),
        (
            "aplay".into(),
            "ioctl(3, SNDRV_PCM_IOCTL_PREPARE) = -19".into()
        )
    );

    press(&mut app, typing("/swapper/0"));
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.selected(), Some(1), "nothing after: the last match");
}

#[test]
fn a_filter_that_matches_nothing_leaves_no_selection() {
    let mut app = app();
    press(&mut app, typing("/zzz"));
    press(
        &mut app,
        [
            code(KeyCode::Enter),
            ch('j'),
            ch('G'),
            code(KeyCode::PageDown),
        ],
    );
    assert_eq!(app.selected(), None);
    assert_eq!(app.window(5).len(), 0);
}

#[test]
fn help_opens_with_question_mark_and_closes_without_quitting() {
    for close in [ch('?'), code(KeyCode::Esc), ch('q')] {
        let mut app = app();
        press(&mut app, [ch('?')]);
        assert_eq!(app.mode(), Mode::Help);
        press(&mut app, [ch('j'), close]);
        assert_eq!(app.mode(), Mode::List);
        assert_eq!(
            app.selected(),
            Some(0),
            "the list ignores keys under the help"
        );
        assert!(!app.should_quit());
    }
}

#[test]
fn no_key_is_bound_twice_in_one_mode() {
    for mode in [Mode::List, Mode::Filter, Mode::Help] {
        let keys: Vec<Key> = keymap::bindings_in(mode)
            .flat_map(|binding| binding.keys.iter().copied())
            .collect();
        for (i, key) in keys.iter().enumerate() {
            assert!(!keys[i + 1..].contains(key), "{key:?} twice in {mode:?}");
        }
    }
}

fn draw(app: &App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| ui::draw(frame, app, &Theme::colour()))
        .unwrap();
    terminal
}

/// Builds the app for a screen of the given size, as the event loop does.
fn app_for(end: CaptureEnd, width: u16, height: u16) -> App {
    let mut app = App::new("captures/hda-rescan.jsonl", capture(end));
    app.update(Action::Resize(ui::list_rows(ratatui::layout::Rect::new(
        0, 0, width, height,
    ))));
    app
}

#[test]
fn the_help_overlay_lists_every_binding() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, [ch('?')]);
    let screen = draw(&app, 80, 24).backend().to_string();
    for binding in BINDINGS {
        for key in binding.keys {
            assert!(screen.contains(&key.label()), "{key:?} missing:\n{screen}");
        }
        assert!(
            screen.contains(binding.help),
            "{:?} missing:\n{screen}",
            binding.help
        );
    }
}

#[test]
fn screen_80x24() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, [ch('j'), ch('j')]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_120x30_cut_capture() {
    let app = app_for(cut(), 120, 30);
    insta::assert_snapshot!(draw(&app, 120, 30).backend());
}

#[test]
fn screen_80x24_filter_prompt() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, typing("/azx"));
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x24_filter_applied() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, typing("/azx"));
    press(&mut app, [code(KeyCode::Enter), ch('G')]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x24_no_match() {
    let mut app = app_for(cut(), 80, 24);
    press(&mut app, typing("/zzz"));
    press(&mut app, [code(KeyCode::Enter)]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x24_help() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, [ch('?')]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x10_scrolled_to_the_end() {
    let mut app = app_for(trailer(), 80, 10);
    press(&mut app, [ch('G')]);
    insta::assert_snapshot!(draw(&app, 80, 10).backend());
}

#[test]
fn the_selected_row_is_in_reverse_video() {
    let mut app = app_for(trailer(), 80, 24);
    press(&mut app, [ch('j')]);
    let terminal = draw(&app, 80, 24);
    let buffer = terminal.backend().buffer();
    let reversed = |y| buffer[(5, y)].modifier.contains(Modifier::REVERSED);
    // Header, tabs, border and column titles come first: the second event is on
    // row 5.
    assert!(reversed(5));
    assert!(!reversed(4));
    assert!(!reversed(6));
}

#[test]
fn no_color_draws_without_colours() {
    for keys in [vec![], vec![ch('/')], vec![ch('?')]] {
        let mut app = app_for(cut(), 80, 24);
        press(&mut app, keys);
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| ui::draw(frame, &app, &Theme::monochrome()))
            .unwrap();
        let buffer = terminal.backend().buffer();
        assert!(
            buffer
                .content()
                .iter()
                .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset),
            "a colour in {:?} mode",
            app.mode()
        );
    }
}

#[test]
fn a_long_file_name_keeps_its_end() {
    let mut app = App::new(
        "/var/tmp/barwatch/captures/2026-05-01/hda-rescan.jsonl",
        capture(cut()),
    );
    app.update(Action::Resize(5));
    let screen = draw(&app, 80, 24).backend().to_string();
    let first = screen.lines().next().unwrap();
    assert!(first.starts_with("\"…"), "{first}");
    assert!(first.contains("CUT"), "{first}");
}

/// The app on the capture of a real bench run, `cargo xtask demo`'s: aplay plays
/// while the HD-audio controller is removed and rescanned, then the fixture reads
/// its BAR after iounmap. Trimmed to the fixture's events, the PCI and HD-audio
/// markers and the controller's mappings.
fn demo_app(width: u16, height: u16) -> App {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let capture = barwatch::capture::reader::read_capture(std::path::Path::new(path)).unwrap();
    let mut app = App::new("target/demo/capture.jsonl", capture);
    app.update(Action::Resize(ui::list_rows(ratatui::layout::Rect::new(
        0, 0, width, height,
    ))));
    app
}

/// The keys from the event list to the violations screen.
fn to_violations() -> [KeyEvent; 3] {
    [code(KeyCode::Tab); 3]
}

#[test]
fn tab_cycles_events_devices_timeline_and_violations() {
    let mut app = demo_app(80, 24);
    let mut seen = vec![app.screen()];
    for _ in 0..4 {
        press(&mut app, [code(KeyCode::Tab)]);
        seen.push(app.screen());
    }
    assert_eq!(
        seen,
        [
            Screen::Events,
            Screen::Devices,
            Screen::Timeline,
            Screen::Violations,
            Screen::Events
        ]
    );
}

#[test]
fn the_timeline_cursor_moves_and_zooms_within_the_capture() {
    let mut app = demo_app(80, 24);
    let whole = app.view();
    // Time keys mean nothing off the timeline.
    press(&mut app, [ch('l'), ch('+')]);
    assert_eq!((app.view(), app.cursor_ns()), (whole, whole.0));
    press(&mut app, [code(KeyCode::Tab), code(KeyCode::Tab)]);
    press(&mut app, [code(KeyCode::Left)]);
    assert_eq!(app.cursor_ns(), whole.0, "the cursor stops at the start");
    for _ in 0..32 {
        press(&mut app, [ch('l')]);
    }
    let middle = app.cursor_ns();
    assert!(middle > whole.0 && middle < whole.1);
    press(&mut app, [ch('+'), ch('+')]);
    let (start, end) = app.view();
    assert_eq!(end - start, (whole.1 - whole.0) / 4);
    assert!(
        start <= middle && middle <= end,
        "zoom keeps the cursor in view"
    );
    press(&mut app, [ch('-'), ch('-'), ch('-')]);
    assert_eq!(app.view(), whole, "zooming out stops at the whole capture");
}

#[test]
fn enter_opens_the_selected_violations_evidence_and_esc_goes_back() {
    let mut app = demo_app(80, 24);
    // Enter means nothing on the event list.
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.mode(), Mode::List);
    press(&mut app, to_violations());
    assert_eq!(app.violations().len(), 3);
    press(&mut app, [ch('j'), ch('j'), ch('j')]);
    assert_eq!(app.violation_position(), Some(2), "clamped at the last one");
    let (rule, _) = app.selected_violation().unwrap();
    assert_eq!(rule.id, "work-in-window");
    press(&mut app, [ch('g'), code(KeyCode::Enter)]);
    assert_eq!(app.mode(), Mode::Evidence);
    assert_eq!(app.selected_violation().unwrap().0.id, "mmio-after-unmap");
    press(&mut app, [code(KeyCode::Esc)]);
    assert_eq!((app.mode(), app.screen()), (Mode::List, Screen::Violations));
    // Moving on the violations left the event selection where it was.
    press(&mut app, [code(KeyCode::Tab)]);
    assert_eq!(app.selected(), Some(0));
}

#[test]
fn screen_80x24_devices_of_a_real_run() {
    let mut app = demo_app(80, 24);
    press(&mut app, [code(KeyCode::Tab)]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x24_violations_of_a_real_run() {
    let mut app = demo_app(80, 24);
    press(&mut app, to_violations());
    press(&mut app, [ch('j')]);
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_80x24_evidence_of_a_real_violation() {
    let mut app = demo_app(80, 24);
    press(
        &mut app,
        to_violations().into_iter().chain([code(KeyCode::Enter)]),
    );
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_160x40_violations_and_evidence_of_a_real_run() {
    let mut app = demo_app(160, 40);
    press(&mut app, to_violations());
    insta::assert_snapshot!("violations_160x40", draw(&app, 160, 40).backend());
    press(&mut app, [code(KeyCode::Enter)]);
    insta::assert_snapshot!("evidence_160x40", draw(&app, 160, 40).backend());
}

#[test]
fn screen_80x24_timeline_of_a_real_run() {
    let mut app = demo_app(80, 24);
    press(&mut app, [code(KeyCode::Tab), code(KeyCode::Tab)]);
    for _ in 0..48 {
        press(&mut app, [ch('l')]);
    }
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
}

#[test]
fn screen_160x40_timeline_zoomed_on_the_fixtures_unmap() {
    let mut app = demo_app(160, 40);
    press(&mut app, [code(KeyCode::Tab), code(KeyCode::Tab)]);
    for _ in 0..45 {
        press(&mut app, [ch('l')]);
    }
    press(&mut app, [ch('+'), ch('+')]);
    insta::assert_snapshot!(draw(&app, 160, 40).backend());
}

#[test]
fn n_and_brackets_step_the_cursor_through_violations_and_cycles() {
    let mut app = demo_app(80, 24);
    let judgement = app.judgement().clone();
    let cycle_starts: Vec<u64> = judgement
        .devices
        .iter()
        .map(|d| d.cycles[0].steps[0].ts_ns)
        .collect();
    press(&mut app, [ch(']')]);
    assert_eq!(app.cursor_ns(), cycle_starts[0], "the HD-audio remove");
    press(&mut app, [ch(']')]);
    assert_eq!(app.cursor_ns(), cycle_starts[1], "the fixture's remove");
    press(&mut app, [ch('[')]);
    assert_eq!(app.cursor_ns(), cycle_starts[0]);
    press(&mut app, [ch('n')]);
    let first = app.violations().iter().map(|(_, v)| v.ts_ns).min().unwrap();
    assert_eq!(app.cursor_ns(), first);
    // The event list follows the cursor: the selected event is the last before it.
    let (_, event) = app
        .window(usize::MAX)
        .into_iter()
        .find(|(selected, _)| *selected)
        .unwrap();
    assert!(event.ts_ns <= first);
    press(&mut app, [ch('N')]);
    assert_eq!(app.cursor_ns(), first, "no violation before the first");
}

#[test]
fn space_replays_in_capture_time_at_the_chosen_speed_and_stops_at_the_end() {
    let mut app = demo_app(80, 24);
    let (start, end) = app.view();
    press(&mut app, [ch(' ')]);
    assert!(app.playing());
    app.update(Message::Tick(100_000_000));
    assert_eq!(app.cursor_ns(), start + 100_000_000);
    press(&mut app, [ch('>'), ch('>')]);
    assert_eq!(app.speed(), 4);
    app.update(Message::Tick(100_000_000));
    assert_eq!(app.cursor_ns(), start + 500_000_000);
    press(&mut app, [ch(' ')]);
    app.update(Message::Tick(100_000_000));
    assert_eq!(app.cursor_ns(), start + 500_000_000, "paused");
    press(&mut app, [ch(' ')]);
    app.update(Message::Tick(u64::MAX / 8));
    assert_eq!((app.cursor_ns(), app.playing()), (end, false));
}

#[test]
fn the_filter_also_matches_device_and_role() {
    let mut app = demo_app(80, 24);
    press(&mut app, typing("/0000:00:04.0"));
    press(&mut app, [code(KeyCode::Enter)]);
    let hda = app.matching();
    assert!(hda > 0 && (hda as u64) < app.total());
    press(&mut app, [code(KeyCode::Esc)]);
    press(&mut app, typing("/mmio-accessor"));
    press(&mut app, [code(KeyCode::Enter)]);
    assert!(app.matching() > 0);
    assert!(
        app.window(usize::MAX)
            .into_iter()
            .all(|(_, e)| e.probe.contains("barwatch_fixture"))
    );
}

#[test]
fn field_filters_pick_a_devices_work_items_though_they_name_no_device() {
    let mut app = demo_app(80, 24);
    press(&mut app, typing("/dev:05.0 role:work"));
    press(&mut app, [code(KeyCode::Enter)]);
    let work: Vec<Event> = app
        .window(usize::MAX)
        .into_iter()
        .map(|(_, e)| e.clone())
        .collect();
    assert!(!work.is_empty());
    assert!(work.iter().all(|e| e.data.kind().starts_with("work_")));
    assert!(
        work.iter().all(|e| e.device.is_none()),
        "the capture names no device for work items; the model does"
    );
    assert!(
        work.iter()
            .all(|e| app.judgement().device_of(e) == Some("0000:00:05.0"))
    );

    press(&mut app, [code(KeyCode::Esc)]);
    press(&mut app, typing("/dev:05.0 -role:work"));
    press(&mut app, [code(KeyCode::Enter)]);
    let rest = app.matching();
    assert!(rest > 0);
    assert!(
        app.window(usize::MAX)
            .into_iter()
            .all(|(_, e)| !e.data.kind().starts_with("work_"))
    );

    press(&mut app, [code(KeyCode::Esc)]);
    press(&mut app, typing("/dev:05.0"));
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.matching(), rest + work.len());
}

#[test]
fn a_filter_the_prompt_cannot_read_stays_open_and_says_why() {
    let mut app = demo_app(80, 24);
    press(&mut app, typing("/pid:aplay"));
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.mode(), Mode::Filter);
    assert_eq!(app.filter(), "", "the list keeps its filter");
    assert_eq!(
        app.filter_error(),
        Some("pid: needs a number, e.g. pid:1234")
    );
    insta::assert_snapshot!(draw(&app, 80, 24).backend());
    press(&mut app, [code(KeyCode::Backspace)]);
    assert_eq!(app.filter_error(), None, "editing clears the complaint");
}

#[test]
fn an_empty_prompt_suggests_the_fields() {
    let mut app = demo_app(80, 24);
    press(&mut app, [ch('/')]);
    let screen = draw(&app, 80, 24).backend().to_string();
    assert!(
        screen.contains("/  e.g. dev:05.0 role:irq pid:1234"),
        "{screen}"
    );
}

#[test]
fn enter_on_a_device_shows_its_events() {
    let mut app = demo_app(80, 24);
    press(&mut app, [code(KeyCode::Tab)]);
    assert_eq!(app.screen(), Screen::Devices);
    assert_eq!(app.device_position(), Some(0));
    press(&mut app, [ch('j'), ch('j')]);
    assert_eq!(
        app.device_position(),
        Some(1),
        "the cursor stops at the last"
    );
    press(&mut app, [code(KeyCode::Enter)]);
    assert_eq!(app.screen(), Screen::Events);
    assert_eq!(app.filter(), "dev:0000:00:05.0");
    assert!(app.matching() > 0);
    assert!(
        app.window(usize::MAX)
            .into_iter()
            .all(|(_, e)| app.judgement().device_of(&e) == Some("0000:00:05.0"))
    );
}

#[test]
fn p_opens_the_probe_table_and_esc_closes_it() {
    let mut app = demo_app(120, 30);
    press(&mut app, [ch('p')]);
    assert_eq!(app.mode(), Mode::Probes);
    insta::assert_snapshot!(draw(&app, 120, 30).backend());
    press(&mut app, [code(KeyCode::Esc)]);
    assert_eq!(app.mode(), Mode::List);
}

#[test]
fn a_live_recording_fed_in_batches_ends_with_the_verdict_of_its_replay() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let capture = barwatch::capture::reader::read_capture(std::path::Path::new(path)).unwrap();
    let replay = App::new("replay", capture.clone());
    let mut app = App::live("live", capture.header.clone());
    assert!(app.is_live());
    for batch in capture.events.chunks(300) {
        app.update(Message::Batch(batch.to_vec()));
        app.update(Message::Tick(100_000_000));
    }
    assert_eq!(app.total(), replay.total());
    let CaptureEnd::Trailer(trailer) = capture.end else {
        panic!("the demo capture has its trailer")
    };
    app.update(Message::Ended(Some(trailer)));
    assert!(!app.is_live());
    assert_eq!(app.lost(), Some(0));
    assert_eq!(
        serde_json::to_string(&app.judgement().rules).unwrap(),
        serde_json::to_string(&replay.judgement().rules).unwrap()
    );
}

#[test]
fn screens_80x24_live_in_the_middle_of_the_fixtures_cycle() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let capture = barwatch::capture::reader::read_capture(std::path::Path::new(path)).unwrap();
    let unmap = capture
        .events
        .iter()
        .find(|e| {
            e.device.as_deref() == Some("0000:00:05.0")
                && matches!(&e.data, EventData::FuncEntry { function, .. } if function == "iounmap")
        })
        .expect("the fixture's BAR is unmapped in the demo")
        .ts_ns;
    let mut app = App::live("live", capture.header.clone());
    app.update(Action::Resize(ui::list_rows(ratatui::layout::Rect::new(
        0, 0, 80, 24,
    ))));
    // Up to 100 ms into the unmap window, then a second of ticks to judge.
    let so_far: Vec<Event> = capture
        .events
        .iter()
        .filter(|e| e.ts_ns <= unmap + 100_000_000)
        .cloned()
        .collect();
    app.update(Message::Batch(so_far));
    for _ in 0..10 {
        app.update(Message::Tick(100_000_000));
    }
    let fixture = app
        .judgement()
        .devices
        .iter()
        .find(|d| d.bdf == "0000:00:05.0");
    // Removed, and not back yet.
    assert_eq!(fixture.map(|d| d.state), Some(State::Removed));
    assert!(
        app.violation_count() > 0,
        "the touch after the unmap is seen live"
    );
    press(&mut app, [code(KeyCode::Tab)]);
    insta::assert_snapshot!("live_mid_cycle_devices", draw(&app, 80, 24).backend());
    press(&mut app, [code(KeyCode::Tab)]);
    insta::assert_snapshot!("live_mid_cycle_timeline", draw(&app, 80, 24).backend());
}

#[test]
fn a_live_list_keeps_the_most_recent_events_while_the_count_goes_on() {
    let mut app = App::live("live", header());
    let many: Vec<Event> = (0..LIVE_EVENTS as u64 + 10)
        .map(|i| {
            event(
                i * 1_000,
                0,
                1,
                1,
                "kworker/0:1",
                "workqueue:workqueue_execute_start",
                EventData::WorkStart {
                    work: Hex(i),
                    function: Hex(0),
                    symbol: None,
                },
            )
        })
        .collect();
    app.update(Message::Batch(many));
    assert_eq!(app.total(), LIVE_EVENTS as u64 + 10);
    assert_eq!(app.matching(), LIVE_EVENTS);
    // The newest event is selected: the list follows the recording.
    let selected = |app: &App| {
        app.window(usize::MAX)
            .into_iter()
            .find(|(s, _)| *s)
            .unwrap()
            .1
            .ts_ns
    };
    let newest = T0 + (LIVE_EVENTS as u64 + 9) * 1_000;
    assert_eq!(selected(&app), newest);
    // Paused, the list holds still while the count goes on.
    press(&mut app, [ch(' ')]);
    assert!(app.is_paused());
    let later = event(
        (LIVE_EVENTS as u64 + 20) * 1_000,
        0,
        1,
        1,
        "kworker/0:1",
        "workqueue:workqueue_execute_start",
        EventData::WorkStart {
            work: Hex(0),
            function: Hex(0),
            symbol: None,
        },
    );
    app.update(Message::Batch(vec![later]));
    assert_eq!(app.total(), LIVE_EVENTS as u64 + 11);
    // The live rate is the last second's: all of it so far came within one.
    app.update(Message::Tick(1_000_000_000));
    assert_eq!(app.event_rate(), (LIVE_EVENTS + 11) as f64);
    app.update(Message::Tick(1_000_000_000));
    assert_eq!(app.event_rate(), 0.0, "nothing came in the last second");
    assert_eq!(selected(&app), newest, "the selection held still");
    press(&mut app, [ch(' ')]);
    assert!(!app.is_paused());
}

#[test]
fn a_run_that_earned_no_pass_says_why_on_the_violations_screen() {
    // The synthetic capture was cut and shows no quiesce cycle: nothing failed,
    // and still the verdict is not a pass, with each reason on its own line.
    let mut app = app_for(cut(), 120, 30);
    press(&mut app, to_violations());
    let screen = draw(&app, 120, 30).backend().to_string();
    assert!(screen.contains("INCOMPLETE"), "{screen}");
    assert!(
        screen.contains("No violation seen, but this is not a pass:")
            && screen.contains("the capture was cut")
            && screen.contains("nothing was checked"),
        "{screen}"
    );
}

/// The text of the event list's row drawn in reverse video: the selected one
/// (header, tabs, border and column titles take the first four rows).
fn selected_row(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    let area = buffer.area;
    let y = (area.top() + 4..area.bottom())
        .find(|&y| buffer[(5, y)].modifier.contains(Modifier::REVERSED))
        .expect("a row is selected");
    (area.left()..area.right())
        .map(|x| buffer[(x, y)].symbol())
        .collect()
}

#[test]
fn an_event_shows_the_same_time_on_the_events_screen_and_in_its_evidence() {
    let mut app = demo_app(160, 40);
    press(
        &mut app,
        to_violations().into_iter().chain([code(KeyCode::Enter)]),
    );
    let evidence = draw(&app, 160, 40).backend().to_string();
    assert!(
        evidence.contains(
            "+4.229710 s cpu 1 kworker/u4:2 32/32: barwatch_fixture_read(0xffffd33d40600000"
        ),
        "{evidence}"
    );
    // Back on the event list, the first n reaches the work item's violation, the
    // second selects the violating read itself.
    press(
        &mut app,
        [code(KeyCode::Esc), code(KeyCode::Tab), ch('n'), ch('n')],
    );
    assert_eq!(app.screen(), Screen::Events);
    let row = selected_row(&draw(&app, 160, 40));
    assert!(
        row.contains("barwatch_fixture_read(0xffffd33d40600000"),
        "{row}"
    );
    let time = row.trim_start_matches('│').trim_start();
    assert!(time.starts_with("+4.229710 s "), "{row}");
}

#[test]
fn live_judgements_come_with_the_events_at_most_once_a_second() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/demo-capture.jsonl");
    let capture = barwatch::capture::reader::read_capture(std::path::Path::new(path)).unwrap();
    let first_violation = App::new("replay", capture.clone()).violations()[2].1.ts_ns;
    let (before, after): (Vec<Event>, Vec<Event>) = capture
        .events
        .iter()
        .cloned()
        .partition(|e| e.ts_ns < first_violation);
    let mut app = App::live("live", capture.header.clone());
    // The first batch is judged as it arrives.
    app.update(Message::Batch(before));
    let cycles =
        |app: &App| -> usize { app.judgement().devices.iter().map(|d| d.cycles.len()).sum() };
    assert!(cycles(&app) > 0, "the fixture's unmap is judged");
    assert_eq!(app.violation_count(), 0);
    // The next one waits for a second to have passed since.
    app.update(Message::Batch(after));
    app.update(Message::Tick(900_000_000));
    assert_eq!(app.violation_count(), 0, "judged again too soon");
    app.update(Message::Tick(100_000_000));
    assert_eq!(app.violation_count(), 3);
}

/// The demo capture's path.
fn demo_path() -> &'static std::path::Path {
    std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/demo-capture.jsonl"
    ))
}

/// Draws `app` at 100x30 after each of a run of key sequences that visits every
/// screen.
fn every_screen(mut app: App) -> Vec<String> {
    app.update(Action::Resize(ui::list_rows(ratatui::layout::Rect::new(
        0, 0, 100, 30,
    ))));
    let mut screens = Vec::new();
    for keys in [
        vec![],
        vec![code(KeyCode::End)],
        vec![code(KeyCode::Tab)],
        vec![code(KeyCode::Tab), ch('+'), ch('+'), ch('n')],
        vec![code(KeyCode::Tab), code(KeyCode::Enter)],
        vec![code(KeyCode::Esc), code(KeyCode::Tab), ch('/')],
        typing("dev:05.0")
            .into_iter()
            .chain([code(KeyCode::Enter)])
            .collect(),
    ] {
        press(&mut app, keys);
        screens.push(draw(&app, 100, 30).backend().to_string());
    }
    screens
}

#[test]
fn a_capture_streamed_from_its_file_shows_what_it_shows_held_whole() {
    let whole = App::new(
        "target/demo/capture.jsonl",
        barwatch::capture::reader::read_capture(demo_path()).unwrap(),
    );
    let streamed = App::replay("target/demo/capture.jsonl", demo_path()).unwrap();
    assert_eq!(streamed.total(), whole.total());
    let (whole, streamed) = (every_screen(whole), every_screen(streamed));
    for (whole, streamed) in whole.iter().zip(&streamed) {
        assert_eq!(whole, streamed);
    }
}

/// A capture of `copies` copies of the demo's events, each copy later than the
/// last, written to a file.
fn big_capture(copies: u64) -> (tempfile::NamedTempFile, Vec<(u64, String)>) {
    use std::io::Write;
    let text = std::fs::read_to_string(demo_path()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let events: Vec<serde_json::Value> = lines
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|v| v["type"] == "event")
        .collect();
    let first = events[0]["ts_ns"].as_u64().unwrap();
    let last = events.last().unwrap()["ts_ns"].as_u64().unwrap();
    let period = last - first + 1_000_000;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    writeln!(file, "{header}").unwrap();
    let mut times = Vec::new();
    for copy in 0..copies {
        for event in &events {
            let mut event = event.clone();
            let ts = event["ts_ns"].as_u64().unwrap() + copy * period;
            event["ts_ns"] = ts.into();
            times.push((ts, event["probe"].as_str().unwrap().to_owned()));
            writeln!(file, "{event}").unwrap();
        }
    }
    file.flush().unwrap();
    (file, times)
}

#[test]
fn a_big_capture_streamed_from_its_file_scrolls_to_its_end_and_shows_the_right_events() {
    let (file, events) = big_capture(40);
    let times: Vec<u64> = events.iter().map(|(ts, _)| *ts).collect();
    let mut app = App::replay("big.jsonl", file.path()).unwrap();
    app.update(Action::Resize(10));
    assert_eq!(app.total(), times.len() as u64);
    assert!(app.is_cut(), "the copies have no trailer");
    press(&mut app, [code(KeyCode::End)]);
    let shown: Vec<u64> = app.window(10).into_iter().map(|(_, e)| e.ts_ns).collect();
    assert_eq!(shown, times[times.len() - 10..]);
    assert_eq!(app.selected(), Some(times.len() - 1));
    // A page up from the end crosses blocks of the index.
    press(&mut app, [code(KeyCode::PageUp); 7]);
    let top = times.len() - 1 - 70;
    let selected = app.window(10).into_iter().find(|(s, _)| *s).unwrap().1;
    assert_eq!(selected.ts_ns, times[top]);
    // A filter reads the whole file back: every copy's fixture reads match.
    press(&mut app, typing("/probe:barwatch_fixture_read"));
    press(&mut app, [code(KeyCode::Enter)]);
    let reads = events
        .iter()
        .filter(|(_, probe)| probe.contains("barwatch_fixture_read"))
        .count();
    assert!(reads > 40);
    assert_eq!(app.matching(), reads);
    press(&mut app, [code(KeyCode::End)]);
    let (_, last) = app.window(10).into_iter().find(|(s, _)| *s).unwrap();
    let last_read = events
        .iter()
        .rev()
        .find(|(_, probe)| probe.contains("barwatch_fixture_read"))
        .unwrap();
    assert_eq!(
        (last.ts_ns, last.probe.as_str()),
        (last_read.0, last_read.1.as_str())
    );
}
