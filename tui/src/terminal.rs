//! Owning the terminal: raw mode and the alternate screen, given back on every exit.
//!
//! [`TerminalGuard`] sets the terminal up and restores it when dropped, on return
//! and on error alike. A panic unwinds past the guard only after the default hook
//! has printed the message, onto the alternate screen where it would vanish, so
//! [`TerminalGuard::enter`] also installs a hook that restores the terminal first.
//! SIGTERM, SIGHUP and SIGINT only raise a flag ([`signalled`]) that the event loop
//! reads every frame, so it leaves through the same door.

use std::{
    io::{self, Stdout},
    panic,
    sync::{
        Once,
        atomic::{AtomicBool, Ordering},
    },
};

use crossterm::{
    cursor::Show,
    execute,
    terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode},
};
use ratatui::{Terminal, backend::CrosstermBackend};

/// Whether a guard currently holds the terminal, so the panic hook only restores
/// what was set up.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The panic hook is chained once per process.
static PANIC_HOOK: Once = Once::new();
/// Set by the signal handler: a signal asked the UI to end.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

/// Whether SIGTERM, SIGHUP or SIGINT arrived since the guard was entered.
pub fn signalled() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// Records a terminating signal; the event loop ends the UI on its next frame.
extern "C" fn on_signal(_: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
}

/// Routes the terminating signals to [`on_signal`].
fn install_signal_handlers() {
    for signal in [libc::SIGTERM, libc::SIGHUP, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(signal, on_signal as *const () as libc::sighandler_t) };
    }
}

/// What waiting on the terminal for input found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Something to read: a key, a paste, a terminal reply.
    Ready,
    /// Nothing within the wait (or a signal cut it short).
    Quiet,
    /// The terminal hung up or its file is no longer readable: no key will
    /// ever come, and reading it would return nothing forever.
    Gone,
}

/// Waits up to `timeout` for input on the terminal barwatch-tui reads
/// (standard input). crossterm's own wait spins without end once the terminal
/// has hung up (each read returns zero bytes), so the UI looks first.
pub fn wait_for_input(timeout: std::time::Duration) -> Input {
    let mut fd = libc::pollfd {
        fd: libc::STDIN_FILENO,
        events: libc::POLLIN,
        revents: 0,
    };
    let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid pollfd, its count 1.
    let ready = unsafe { libc::poll(&mut fd, 1, millis) };
    if ready <= 0 {
        return Input::Quiet;
    }
    if fd.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
        Input::Gone
    } else {
        Input::Ready
    }
}

/// The terminal in raw mode on the alternate screen, for as long as this lives.
pub struct TerminalGuard {
    terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl TerminalGuard {
    /// Switches the terminal to raw mode and the alternate screen.
    pub fn enter() -> io::Result<Self> {
        install_panic_hook();
        install_signal_handlers();
        enable_raw_mode()?;
        ACTIVE.store(true, Ordering::SeqCst);
        let mut stdout = io::stdout();
        if let Err(error) = execute!(stdout, EnterAlternateScreen) {
            restore();
            return Err(error);
        }
        match Terminal::new(CrosstermBackend::new(stdout)) {
            Ok(terminal) => Ok(TerminalGuard { terminal }),
            Err(error) => {
                restore();
                Err(error)
            }
        }
    }

    /// The terminal to draw on.
    pub fn terminal(&mut self) -> &mut Terminal<CrosstermBackend<Stdout>> {
        &mut self.terminal
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Chains a panic hook that gives the terminal back before the panic is printed.
fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}

/// Leaves the alternate screen and raw mode, once, if a guard had entered them.
/// Errors are ignored: this runs on the way out, when nothing better can be done.
fn restore() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
        let _ = disable_raw_mode();
    }
}
