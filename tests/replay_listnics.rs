//! `netdiffd replay --listnics`: lists the interfaces one can replay onto and exits, without a
//! FILE, without --iface and without anything that needs root (it opens no socket to send on).

use std::process::Command;

fn replay(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_netdiffd"))
        .arg("replay")
        .args(args)
        .output()
        .expect("run netdiffd replay")
}

#[test]
fn listnics_lists_lo_and_exits() {
    let out = replay(&["--listnics"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}: {}{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lo = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some("lo"))
        .unwrap_or_else(|| panic!("no line for lo in:\n{text}"));
    let fields: Vec<&str> = lo.split_whitespace().collect();
    let after = |key: &str| {
        let at = fields.iter().position(|f| *f == key);
        at.and_then(|i| fields.get(i + 1)).copied().unwrap_or("")
    };
    assert!(after("index").parse::<u32>().unwrap() > 0, "{lo}");
    assert_eq!(after("mac"), "00:00:00:00:00:00", "{lo}");
    assert!(after("state").contains("loopback"), "{lo}");
    if after("state").starts_with("up") {
        assert!(after("mtu").parse::<u32>().unwrap() > 0, "{lo}");
        assert!(after("addrs").contains("127.0.0.1/8"), "{lo}");
    }
    for line in text.lines().skip(1) {
        assert!(
            line.contains(" index ") && line.contains(" state "),
            "{line}"
        );
    }
    // Nothing was sent: no statistics are printed.
    assert!(!text.contains("Actual:"), "{text}");
}

/// Run as root (as CI runs), the same listing is made again as nobody with every capability
/// dropped (util-linux's setpriv); elsewhere the first test already ran without root.
#[test]
fn listnics_needs_no_privileges() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        println!("not root: listnics_lists_lo_and_exits ran without privileges already");
        return;
    }
    // nobody may not reach the build tree (a checkout under /root): run a copy of the binary
    // from a fresh folder in the temporary directory.
    let dir = std::env::temp_dir().join(format!("netdiffd-listnics-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bin = dir.join("netdiffd");
    let _ = std::fs::remove_file(&bin);
    std::fs::copy(env!("CARGO_BIN_EXE_netdiffd"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .args(["--inh-caps=-all", "--bounding-set=-all", "--"])
        .arg(&bin)
        .args(["replay", "--listnics"])
        .current_dir(&dir)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match run {
        Ok(out) => out,
        Err(e) => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "setpriv (util-linux) is needed under CI: {e}"
            );
            println!("skipped: cannot run setpriv: {e}");
            return;
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "as nobody: exit {:?}: {}{text}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("lo ") && l.contains("loopback")),
        "{text}"
    );
}

#[test]
fn listnics_stands_alone_and_replay_still_needs_its_arguments() {
    let both = replay(&["--listnics", "--iface", "lo"]);
    assert_eq!(both.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&both.stderr).contains("--listnics"));
    let no_iface = replay(&["x.pcap"]);
    assert_eq!(no_iface.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_iface.stderr).contains("--iface"));
    let no_file = replay(&["--iface", "lo"]);
    assert_eq!(no_file.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_file.stderr).contains("FILE"));
}
