//! Reading this daemon's `option KEY value VALUE` lines from the EOS running-config, as
//! `show running-config section daemon NAME` renders it in JSON (eos.md §4.1, §4.3):
//! `{"cmds": {"daemon NAME": {"cmds": {"option K value V": null, "exec …": null, …}}}}`.
//!
//! `show running-config` is privileged: the request starts with `enable`, as every Arista client
//! sends it (eos.md §9 item 2). Whether `section` is honoured in JSON mode is not established,
//! so a reply without the block (an error, an empty or an unfiltered rendering) is followed by
//! the whole `show running-config`, and the block is picked from that.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::eapi::{self, Command, EapiError};

/// The options of daemon `name` as the running-config holds them. No `daemon NAME` block is no
/// options (the agent may run outside EOS configuration).
pub async fn read(eapi: &eapi::Client, name: &str) -> Result<BTreeMap<String, String>, EapiError> {
    let section = format!("show running-config section daemon {name}");
    match eapi
        .run(&[Command::new(section.clone()).privileged()])
        .await
    {
        Ok(values) => match values.first().map(|config| daemon_options(config, name)) {
            Some(Ok(Some(options))) => return Ok(options),
            found => tracing::debug!(
                ?found,
                "no daemon block in the section reply; reading the whole running-config"
            ),
        },
        Err(error @ EapiError::Command { .. }) => {
            tracing::debug!(%error, "`section` refused; reading the whole running-config")
        }
        Err(error) => return Err(error),
    }
    let whole = "show running-config";
    let values = eapi.run(&[Command::new(whole).privileged()]).await?;
    let config = values.into_iter().next().unwrap_or_default();
    daemon_options(&config, name)
        .map(Option::unwrap_or_default)
        .map_err(|reason| eapi::model_error(whole, reason))
}

/// The options of daemon `name` in a running-config rendering; `None` when it has no such
/// block, an error naming what was found when the rendering has the wrong shape.
pub fn daemon_options(
    config: &Value,
    name: &str,
) -> Result<Option<BTreeMap<String, String>>, String> {
    let Some(cmds) = config.get("cmds") else {
        return Err("running-config reply has no \"cmds\"".into());
    };
    let Some(block) = cmds.get(format!("daemon {name}")) else {
        return Ok(None);
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
    Ok(Some(options))
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
        let options = daemon_options(&config, "doublezero-bgpstatus")
            .unwrap()
            .unwrap();
        assert_eq!(options.len(), 2);
        assert_eq!(options["bgp-status-interval"], "5s");
        assert_eq!(options["note"], "two words");
    }

    #[test]
    fn an_absent_block_is_no_options_and_a_malformed_one_an_error() {
        assert_eq!(daemon_options(&json!({"cmds": {}}), "x"), Ok(None));
        assert!(daemon_options(&json!({"cmds": {"daemon x": 3}}), "x").is_err());
        assert!(daemon_options(&json!([]), "x").is_err());
    }
}
