//! Arming the rollback so that it survives the caller: the SSH session
//! closing, the terminal hanging up, `kill -9` of the applying process.
//!
//! - Where systemd runs (PID 1 is systemd, `/run/systemd/system` exists)
//!   and this process shares PID 1's network namespace: a transient timer
//!   (`systemd-run --on-active=TIMEOUT`) that starts a transient service
//!   running the rollback command. systemd owns it; nothing of the caller's
//!   session is involved.
//! - Otherwise (containers, other inits, a network namespace of its own,
//!   where a systemd service would act on the wrong namespace): a detached
//!   watchdog process. The applying process forks; the child calls
//!   `setsid()` (a new session and process group, no controlling
//!   terminal) and forks again; the grandchild, which is no session leader
//!   and so can never reacquire a terminal, ignores SIGHUP, points its
//!   standard streams at `/dev/null` and a log file, and execs the rollback
//!   command. The intermediate child exits at once, so the watchdog is
//!   re-parented to init (or the nearest subreaper) and lives on whatever
//!   happens to the caller. Only async-signal-safe calls run between fork
//!   and exec; everything they need is prepared before the first fork.
//!
//! The rollback command (`portmatrix apply --fire-rollback ID`) waits for
//! the deadline recorded in the journal, then rolls back unless the apply
//! was confirmed meanwhile (it checks under the journal lock).

use std::ffi::{CString, OsString};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{signal, SigHandler, SigSet, SigmaskHow, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::{dup2_stderr, dup2_stdin, dup2_stdout, execv, fork, pipe2, setsid, ForkResult};

/// How the rollback is armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Systemd,
    Watchdog,
}

/// The command that fires the rollback of one apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

/// Whether a systemd timer can arm the rollback here, and why not.
pub fn systemd_usable() -> Result<(), String> {
    let comm = std::fs::read_to_string("/proc/1/comm").unwrap_or_default();
    if comm.trim() != "systemd" || !Path::new("/run/systemd/system").is_dir() {
        return Err(format!("PID 1 is `{}`, not systemd", comm.trim().escape_debug()));
    }
    let ours = std::fs::read_link("/proc/self/ns/net").map_err(|e| format!("/proc/self/ns/net: {e}"))?;
    let init = std::fs::read_link("/proc/1/ns/net").map_err(|e| format!("/proc/1/ns/net: {e}"))?;
    if ours != init {
        return Err("this process runs in another network namespace than systemd: a systemd service would roll back the wrong one".into());
    }
    if which("systemd-run").is_none() {
        return Err("`systemd-run` is not on PATH".into());
    }
    Ok(())
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).map(|d| d.join(tool)).find(|f| f.is_file()))
}

/// The way to arm: systemd when usable (unless `want` says otherwise), or
/// the watchdog; `Err` when systemd was asked for and cannot be used.
pub fn choose(want: Option<Via>) -> Result<(Via, Option<String>), String> {
    match (want, systemd_usable()) {
        (Some(Via::Watchdog), _) => Ok((Via::Watchdog, None)),
        (_, Ok(())) => Ok((Via::Systemd, None)),
        (Some(Via::Systemd), Err(why)) => Err(format!("--rollback-via systemd: {why}")),
        (None, Err(why)) => Ok((Via::Watchdog, Some(format!("rollback armed as a detached watchdog process: {why}")))),
    }
}

/// The transient unit's name for an apply.
pub fn unit_name(id: &str) -> String {
    format!("portmatrix-rollback-{id}")
}

/// Arms a transient systemd timer that runs `cmd` after `after`.
pub fn arm_systemd(id: &str, after: Duration, cmd: &RollbackCommand) -> Result<String, String> {
    let unit = unit_name(id);
    let mut c = std::process::Command::new("systemd-run");
    c.arg(format!("--unit={unit}"))
        .arg(format!("--description=portmatrix: roll back apply {id} unless it is confirmed"))
        .arg(format!("--on-active={}ms", after.as_millis()))
        .arg("--timer-property=AccuracySec=100ms")
        .arg("--collect")
        .arg("--quiet")
        .arg("--")
        .arg(&cmd.program)
        .args(&cmd.args)
        .stdin(std::process::Stdio::null());
    let out = c.output().map_err(|e| format!("cannot run systemd-run: {e}"))?;
    if !out.status.success() {
        return Err(format!("systemd-run failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(unit)
}

/// Stops the timer of a confirmed apply (best effort: the rollback command
/// checks the journal anyway and does nothing for a confirmed apply).
pub fn disarm_systemd(unit: &str) {
    let _ = std::process::Command::new("systemctl")
        .args(["stop", &format!("{unit}.timer")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Starts `cmd` as a detached watchdog (see the module documentation),
/// with its output appended to `log`. Returns once it has exec'd.
pub fn arm_watchdog(cmd: &RollbackCommand, log: &Path) -> Result<(), String> {
    // Everything the children need, prepared before forking.
    let cstr = |s: &std::ffi::OsStr| CString::new(s.as_bytes()).map_err(|_| "a NUL byte in the rollback command".to_string());
    let program = cstr(cmd.program.as_os_str())?;
    let mut argv = vec![program.clone()];
    for a in &cmd.args {
        argv.push(cstr(a)?);
    }
    let log_file: OwnedFd = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .custom_flags_nofollow()
        .open(log)
        .map_err(|e| format!("{}: {e}", log.display()))?
        .into();
    let devnull: OwnedFd = std::fs::File::open("/dev/null").map_err(|e| format!("/dev/null: {e}"))?.into();
    let root = CString::new("/").expect("no NUL");
    let (rd, wr) = pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;

    // SAFETY: after fork only async-signal-safe functions run in the
    // children (setsid, fork, signal, sigprocmask, dup2, chdir, execv,
    // write, _exit); nothing allocates or takes a lock.
    match unsafe { fork() }.map_err(|e| format!("fork: {e}"))? {
        ForkResult::Parent { child } => {
            drop(wr);
            let _ = waitpid(child, None);
            let mut buf = [0u8; 4];
            let n = nix::unistd::read(&rd, &mut buf).unwrap_or(0);
            if n == 4 {
                let errno = nix::errno::Errno::from_raw(i32::from_ne_bytes(buf));
                return Err(format!("cannot start the watchdog {}: {errno}", cmd.program.display()));
            }
            Ok(())
        }
        ForkResult::Child => {
            let _ = setsid();
            match unsafe { fork() } {
                Ok(ForkResult::Parent { .. }) => unsafe { nix::libc::_exit(0) },
                Ok(ForkResult::Child) => {}
                Err(_) => unsafe { nix::libc::_exit(126) },
            }
            unsafe {
                let _ = signal(Signal::SIGHUP, SigHandler::SigIgn);
                let _ = signal(Signal::SIGINT, SigHandler::SigIgn);
                let _ = signal(Signal::SIGPIPE, SigHandler::SigDfl);
            }
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
            let _ = dup2_stdin(&devnull);
            let _ = dup2_stdout(&log_file);
            let _ = dup2_stderr(&log_file);
            let _ = nix::unistd::chdir(root.as_c_str());
            let err = match execv(&program, &argv) {
                Err(e) => e as i32,
                Ok(never) => match never {},
            };
            let _ = nix::unistd::write(&wr, &err.to_ne_bytes());
            unsafe { nix::libc::_exit(127) }
        }
    }
}

trait NoFollow {
    fn custom_flags_nofollow(&mut self) -> &mut Self;
}

impl NoFollow for std::fs::OpenOptions {
    fn custom_flags_nofollow(&mut self) -> &mut Self {
        use std::os::unix::fs::OpenOptionsExt;
        self.mode(0o600).custom_flags(nix::fcntl::OFlag::O_NOFOLLOW.bits())
    }
}
