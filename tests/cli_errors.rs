//! The binary's error line: a missing input named once with its cause said once, whichever
//! subcommand reads it (the library's errors spell their cause and also hand it on as their
//! source; the binary prints the chain without saying a cause twice).

mod common;

/// Runs netdiffd; its exit status and standard error.
fn run(args: &[&str]) -> (i32, String) {
    let out = common::netdiffd(args);
    (
        out.status.code().expect("exit status"),
        String::from_utf8(out.stderr).expect("utf-8 output"),
    )
}

#[test]
fn a_missing_input_is_named_and_its_cause_said_once() {
    let dir = std::env::temp_dir().join(format!("netdiffd-test-{}-cli-errors", std::process::id()));
    let missing = dir.join("missing");
    let m = missing.to_str().unwrap();
    let out = dir.join("out");
    let o = out.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["check", m],
        vec!["encode", m, "-o", o],
        vec!["decode", m, "-o", o],
        vec!["repair", m, "-o", o],
        vec!["dataset", m, "-o", o],
        vec!["generate", "--model", m, "--mix", "dns", "-o", o],
        vec!["replay", m, "--iface", "lo"],
    ];
    // The operating system's words for a missing file, as std reports them.
    let os_words = std::fs::File::open(&missing).unwrap_err().to_string();
    for args in cases {
        let (code, stderr) = run(&args);
        let what = args.join(" ");
        assert_eq!(code, 2, "{what}: {stderr}");
        let line = stderr.trim_end();
        assert!(line.starts_with("netdiffd: error: "), "{what}: {line}");
        assert!(line.contains(m), "{what} does not name the input: {line}");
        assert_eq!(
            line.matches(os_words.as_str()).count(),
            1,
            "{what}: the cause said other than once: {line}"
        );
        assert_eq!(line.lines().count(), 1, "{what}: {line}");
        assert!(!out.exists(), "{what} left an output behind");
        assert!(!dir.exists(), "{what} made the output's folder");
    }
}
