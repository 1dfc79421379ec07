//! The report in its quick mode, as CI runs it: every table comes out, and the
//! dispute and watchtower rows hold what the protocol must do (a dispute ends in a
//! slashing after moves, the watchtower checks every honest result). The figures of
//! a quick run are not meaningful and nothing here looks at timings.

use std::process::Command;

#[test]
fn the_quick_report_writes_every_table() {
    let out = Command::new(env!("CARGO_BIN_EXE_report")).arg("--quick").output().expect("report runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "report failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for section in ["### Inference", "### Commitment hashing", "### Disputes on anvil", "### Gas on anvil", "### The watchtower"] {
        assert!(stdout.contains(section), "no `{section}` in\n{stdout}");
    }
    let dispute = stdout.lines().find(|l| l.starts_with("| digits-mlp | instant |")).unwrap_or_else(|| panic!("no dispute row in\n{stdout}"));
    let moves: usize = dispute.split('|').nth(3).unwrap().trim().parse().unwrap();
    assert!(moves >= 3, "a dispute takes moves: {dispute}");
    let watch = stdout.lines().find(|l| l.starts_with("| digits-mlp | 8 |")).unwrap_or_else(|| panic!("no watchtower row in\n{stdout}"));
    assert!(!watch.contains("| 0.0 |"), "{watch}");
}
