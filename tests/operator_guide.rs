//! The operator guide's option table (eos-extension/README.md) is generated from
//! `config::KEYS`, the one table of settings; this test fails when the two differ, so a new or
//! changed setting cannot ship undocumented. Regenerate the table with
//! `UPDATE_GOLDEN=1 cargo test --test operator_guide`.

use std::path::Path;

use doublezero_bgpstatus::config::{Apply, KEYS};

const BEGIN: &str =
    "<!-- options: generated from src/config/keys.rs by tests/operator_guide.rs -->\n";
const END: &str = "<!-- options: end -->";

/// One row per setting, in `KEYS` order.
fn options_table() -> String {
    let mut table =
        String::from("| option | default | applies | what it does |\n| --- | --- | --- | --- |\n");
    for key in KEYS {
        let default = match (key.flag, key.default) {
            (true, _) => "`false`".to_string(),
            (false, Some(value)) => format!("`{value}`"),
            (false, None) => "none".to_string(),
        };
        let applies = match key.apply {
            _ if key.exec_only => "exec line only",
            Apply::Live => "live",
            Apply::Restart => "restart",
        };
        table.push_str(&format!(
            "| `{}` | {default} | {applies} | {} |\n",
            key.name,
            key.help.replace('|', "\\|")
        ));
    }
    table
}

#[test]
fn operator_guide_option_table_matches_the_settings_table() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eos-extension/README.md");
    let guide = std::fs::read_to_string(&path).unwrap();
    let start = guide.find(BEGIN).unwrap_or_else(|| {
        panic!(
            "{}: no line {BEGIN:?} before the options table",
            path.display()
        )
    }) + BEGIN.len();
    let end = start
        + guide[start..]
            .find(END)
            .unwrap_or_else(|| panic!("{}: no {END:?} after the options table", path.display()));
    let expected = options_table();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        let updated = format!("{}{expected}{}", &guide[..start], &guide[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    assert_eq!(
        &guide[start..end],
        expected,
        "{}'s option table differs from src/config/keys.rs; regenerate it with \
         UPDATE_GOLDEN=1 cargo test --test operator_guide",
        path.display()
    );
}

#[test]
fn operator_guide_shows_the_packaged_sample_configuration() {
    // The daemon block an operator pastes is the one the RPM ships as a sample.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let guide = std::fs::read_to_string(root.join("eos-extension/README.md")).unwrap();
    let sample = std::fs::read_to_string(root.join("rpm/doublezero-bgpstatus.eos-config")).unwrap();
    let daemon_block: String = sample
        .lines()
        .skip_while(|line| !line.starts_with("daemon "))
        .map(|line| format!("{line}\n"))
        .collect();
    assert_eq!(
        daemon_block.lines().count(),
        5,
        "the daemon block is five lines"
    );
    assert!(
        guide.contains(&daemon_block),
        "eos-extension/README.md does not show the sample's daemon block verbatim:\n{daemon_block}"
    );
}
