//! Job control on a terminal (tini's TTY test, dumb-init's `bash -m` test): with runwarden in
//! between, an interactive shell still owns the terminal, Ctrl-Z stops its foreground job and gives
//! the prompt back, and Ctrl-C interrupts a foreground program.
//! Run with `cargo test --workspace`.

mod common;

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;

/// A pseudo-terminal whose slave side is the controlling terminal of the process started on it.
struct Pty {
    master: std::fs::File,
    output: Arc<Mutex<String>>,
    seen: usize,
}

fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: the two out-pointers are live locals; name, termios and winsize may be NULL.
    let rc = unsafe {
        libc::openpty(&mut master, &mut slave, std::ptr::null_mut(), std::ptr::null(), std::ptr::null())
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: openpty succeeded: both descriptors are open and owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) }
}

impl Pty {
    /// Starts `cmd` in a new session with the pty as its controlling terminal and stdio.
    fn spawn(mut cmd: Command) -> (Pty, std::process::Child) {
        let (master, slave) = openpty();
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave));
        // SAFETY: setsid and ioctl are async-signal-safe and touch no memory of the parent; fd 0 is
        // the pty slave, set up by Command before this runs.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn on a pty");
        drop(cmd); // it holds copies of the slave; the reader must see EIO once the session ends
        let master = std::fs::File::from(master);
        let mut reader = master.try_clone().unwrap();
        let output = Arc::new(Mutex::new(String::new()));
        let out = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave descriptor is closed.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                out.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        (Pty { master, output, seen: 0 }, child)
    }

    fn send(&mut self, text: &str) {
        self.master.write_all(text.as_bytes()).unwrap();
    }

    /// Waits until `want` appears in the output after what earlier expects consumed.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + LINE_TIMEOUT;
        loop {
            {
                let out = self.output.lock().unwrap();
                if let Some(i) = out[self.seen..].find(want) {
                    self.seen += i + want.len();
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "terminal never showed {want:?}; it shows:\n{}",
                &self.output.lock().unwrap()[self.seen..]
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn wait_exit(child: &mut std::process::Child, pty: &Pty) -> Option<i32> {
    let pid = child.id() as i32;
    let status = wait_for(TIMEOUT, || child.try_wait().unwrap());
    match status {
        Some(s) => s.code(),
        None => {
            kill_tree(pid);
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "runwarden did not exit on the terminal within {TIMEOUT:?}; the terminal shows:\n{}",
                pty.output.lock().unwrap()
            );
        }
    }
}

fn interactive_shell() -> Vec<&'static str> {
    if std::path::Path::new("/bin/bash").exists() {
        vec!["/bin/bash", "--norc", "--noprofile", "-i"]
    } else {
        assert!(std::path::Path::new("/bin/dash").exists(), "neither bash nor dash is installed");
        vec!["/bin/dash", "-i"]
    }
}

#[test]
fn tini_ctrl_z_stops_the_foreground_job_of_an_interactive_shell() {
    let mut cmd = rw_run(&interactive_shell());
    cmd.env("PS1", "rw-prompt$ ").env("TERM", "dumb");
    let (mut pty, mut child) = Pty::spawn(cmd);
    let rw_pid = child.id() as i32;
    pty.expect("rw-prompt$ ");
    pty.send("sleep 100\n");
    let sleep = wait_for(LINE_TIMEOUT, || {
        descendants(rw_pid).into_iter().find(|p| comm(*p).as_deref() == Some("sleep"))
    })
    .expect("sleep never started");
    pty.send("\x1a");
    pty.expect("Stopped");
    pty.expect("rw-prompt$ ");
    assert!(matches!(state(sleep), Some('T' | 't')), "the job is not stopped: {:?}", state(sleep));
    // The shell has the terminal back: it runs commands and exits with the code it is given.
    pty.send("echo back-in-$((40+2))\n");
    pty.expect("back-in-42");
    pty.send("kill -KILL %1\n");
    pty.expect("rw-prompt$ ");
    // bash does not always notice the death of a stopped job while idle at the prompt, nor on `jobs`
    // (bash 5.2 alone on a pty, no runwarden: the killed job was still a zombie 10 s later in 16 of 300
    // runs beside two CPU hogs); it does when it next waits for a child of its own. So an external
    // command and `jobs` until it reports the job killed; then it is reaped and gone from /proc (with
    // a stopped job still in its table, `exit` would refuse: "There are stopped jobs").
    let deadline = Instant::now() + LINE_TIMEOUT;
    loop {
        pty.send("/bin/true; jobs\n");
        std::thread::sleep(Duration::from_millis(100));
        if pty.output.lock().unwrap()[pty.seen..].contains("Killed") {
            break;
        }
        assert!(Instant::now() < deadline, "bash never reported the job killed: {:?}", state(sleep));
    }
    pty.expect("Killed");
    wait_for(LINE_TIMEOUT, || comm(sleep).is_none().then_some(()))
        .expect("the stopped job survived SIGKILL or was never reaped");
    pty.send("exit 7\n");
    assert_eq!(wait_exit(&mut child, &pty), Some(7));
}

#[test]
fn tini_ctrl_c_interrupts_the_foreground_program() {
    let (mut pty, mut child) = Pty::spawn(rw_run(&["sh", "-c", "echo started; exec sleep 100"]));
    pty.expect("started");
    let rw_pid = child.id() as i32;
    wait_for(LINE_TIMEOUT, || descendants(rw_pid).into_iter().find(|p| comm(*p).as_deref() == Some("sleep")))
        .expect("sleep never started");
    pty.send("\x03");
    assert_eq!(wait_exit(&mut child, &pty), Some(128 + libc::SIGINT));
}
