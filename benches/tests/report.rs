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
    let moves_of = |row: &str| -> usize {
        let line = stdout.lines().find(|l| l.contains(row)).unwrap_or_else(|| panic!("no dispute row `{row}` in\n{stdout}"));
        line.split('|').nth(4).unwrap().trim().parse().unwrap()
    };
    assert!(moves_of("| digits-mlp | output | instant |") >= 3, "a dispute takes moves");
    assert!(moves_of("| mlp-1100x1 | element:1:0 | instant |") >= 3, "a dispute takes moves");
    // a one-element lie in a wide linear step is descended through its reduction
    // to one block: its dispute opens checkpoints and proves a block
    let gas = stdout.split("### Gas on anvil").nth(1).expect("the gas table");
    let header: Vec<&str> = gas.lines().find(|l| l.starts_with("| model | lie |")).expect("its header").split('|').map(str::trim).collect();
    let row: Vec<&str> = gas.lines().find(|l| l.starts_with("| mlp-1100x1 | element:1:0 |")).expect("its row").split('|').map(str::trim).collect();
    for call in ["openCheckpoints", "proveBlock"] {
        let col = header.iter().position(|h| *h == call).unwrap_or_else(|| panic!("no {call} column"));
        assert!(row[col].parse::<u64>().is_ok(), "the wide lie's dispute sent no {call}: {row:?}");
    }
    let watch = stdout.lines().find(|l| l.starts_with("| digits-mlp | 8 |")).unwrap_or_else(|| panic!("no watchtower row in\n{stdout}"));
    assert!(!watch.contains("| 0.0 |"), "{watch}");
}
