//! Reading this daemon's `option KEY value VALUE` lines from the EOS running-config, as
//! `show running-config section daemon NAME` renders it in JSON (eos.md §4.1, §4.3):
//! `{"cmds": {"daemon NAME": {"cmds": {"option K value V": null, "exec …": null, …}}}}`.

use std::collections::BTreeMap;

use serde_json::Value;

/// The options of daemon `name`. A missing block is no options (the agent may run outside EOS
/// configuration); a block of the wrong shape is an error naming what was found.
pub fn daemon_options(config: &Value, name: &str) -> Result<BTreeMap<String, String>, String> {
    let Some(cmds) = config.get("cmds") else {
        return Err("running-config reply has no \"cmds\"".into());
    };
    let Some(block) = cmds.get(format!("daemon {name}")) else {
        return Ok(BTreeMap::new());
    };
    let lines = block
        .get("cmds")
        .and_then(Value::as_object)
        .ok_or_else(|| format!("the \"daemon {name}\" block has no \"cmds\" object"))?;
    let mut options = BTreeMap::new();
    for line in lines.keys() {
        let Some(rest) = line.strip_prefix("option ") else {
            continue;
        };
        // VALUE may itself contain spaces: split at the first " value " only.
        let (key, value) = match rest.split_once(" value ") {
            Some((key, value)) => (key.trim(), value.to_string()),
            None => (rest.trim(), String::new()),
        };
        options.insert(key.to_string(), value);
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn option_lines_of_the_named_daemon_are_read_with_spaces_kept() {
        let config = json!({"cmds": {
            "daemon doublezero-bgpstatus": {"comments": [], "cmds": {
                "exec /usr/bin/doublezero-bgpstatus run --keypair /k.json": null,
                "option bgp-status-interval value 5s": null,
                "option note value two words": null,
                "no shutdown": null,
            }},
            "daemon other": {"cmds": {"option verbose value true": null}},
        }});
        let options = daemon_options(&config, "doublezero-bgpstatus").unwrap();
        assert_eq!(options.len(), 2);
        assert_eq!(options["bgp-status-interval"], "5s");
        assert_eq!(options["note"], "two words");
    }

    #[test]
    fn an_absent_block_is_no_options_and_a_malformed_one_an_error() {
        assert!(daemon_options(&json!({"cmds": {}}), "x")
            .unwrap()
            .is_empty());
        assert!(daemon_options(&json!({"cmds": {"daemon x": 3}}), "x").is_err());
        assert!(daemon_options(&json!([]), "x").is_err());
    }
}
