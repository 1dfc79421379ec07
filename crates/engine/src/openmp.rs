//! How long libtorch's OpenMP workers spin between parallel regions.
//!
//! libtorch's CPU kernels run on libgomp. After each parallel region libgomp's
//! workers spin, waiting for the next one, for `GOMP_SPINCOUNT` iterations before
//! they sleep: 300,000 by default, longer than the whole of hashing a batch's
//! commitments after its forward pass. A hashing thread woken then shares a core
//! with a spinning worker, or is put behind the thread that woke it and keeps it
//! waiting. With the spin bounded ([`SPIN_COUNT`], about 50 µs here), the workers
//! sleep soon after the forward pass and the hashing threads have the cores to
//! themselves, while most gaps between the regions of one forward pass are still
//! bridged by spinning. `docs/performance.md` has the figures of the choice: a
//! lower count slows the forward passes of small models at batch size 1 (their
//! workers sleep between regions), a higher one (10,000 was measured) leaves the
//! hashing of about one batch in five a millisecond late.
//!
//! libgomp reads its settings once, when it is loaded, before `main` runs; so
//! [`bound_spinning`] starts the program over with the setting in its environment.

use std::ffi::OsString;

/// The environment variable libgomp reads its spin count from.
pub const SPIN_VAR: &str = "GOMP_SPINCOUNT";

/// The spin count the refute binaries run libgomp with, unless the operator chose.
pub const SPIN_COUNT: &str = "3000";

/// What [`bound_spinning`] found.
#[derive(Debug)]
pub enum Spin {
    /// The environment already says how OpenMP waits (`GOMP_SPINCOUNT` or
    /// `OMP_WAIT_POLICY` is set): it is left as it is.
    Chosen,
    /// The program could not be started over; it goes on with libgomp's default
    /// spin (slower hashing, same results).
    Unbounded(std::io::Error),
}

/// Makes sure this process runs with a bounded OpenMP spin: when neither
/// `GOMP_SPINCOUNT` nor `OMP_WAIT_POLICY` is set, replaces the process (same pid,
/// arguments and environment) with a fresh start of its own executable with
/// `GOMP_SPINCOUNT=`[`SPIN_COUNT`]; that start finds the variable set and returns
/// [`Spin::Chosen`]. Call it first thing in `main`, before any thread starts.
///
/// Returns only when nothing had to be done or the restart failed.
pub fn bound_spinning() -> Spin {
    if std::env::var_os(SPIN_VAR).is_some() || std::env::var_os("OMP_WAIT_POLICY").is_some() {
        return Spin::Chosen;
    }
    restart_with(SPIN_VAR, SPIN_COUNT)
}

/// [`bound_spinning`] for the first line of a program's `main`: a failed restart is
/// reported on stderr (logging is not set up yet) and the program goes on.
pub fn bound_spinning_at_start() {
    if let Spin::Unbounded(e) = bound_spinning() {
        eprintln!("warning: could not restart with {SPIN_VAR}={SPIN_COUNT} ({e}); commitment hashing will be slower");
    }
}

#[cfg(unix)]
fn restart_with(var: &str, value: &str) -> Spin {
    use std::os::unix::process::CommandExt;
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return Spin::Unbounded(e),
    };
    let mut args = std::env::args_os();
    let arg0: OsString = args.next().unwrap_or_else(|| exe.clone().into_os_string());
    // `exec` returns only on failure
    Spin::Unbounded(std::process::Command::new(&exe).arg0(arg0).args(args).env(var, value).exec())
}

#[cfg(not(unix))]
fn restart_with(_var: &str, _value: &str) -> Spin {
    Spin::Unbounded(std::io::Error::new(std::io::ErrorKind::Unsupported, "restarting a process needs exec"))
}
