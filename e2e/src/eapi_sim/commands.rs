//! The CLI commands the simulator understands, parsed token by token the way EOS reports a bad
//! one: error 1002 with `Invalid input (at token N: 'word')`, N counted from 0 as in the vEOS
//! sample (`show bogus` → token 1). BGP commands on a switch without `router bgp` fail with
//! 1000 "BGP inactive" (eos.md §1.5). `show running-config` is privileged: without a preceding
//! `enable` in the same request it fails as it does on EOS (eos.md §9 item 2).

use serde_json::{json, Value};

use super::switch::{Family, Switch, VrfFilter};

/// What one command produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A model rendered by the simulator.
    Json(Value),
    /// Recorded JSON text, served byte for byte (`--replay`).
    Raw(String),
}

/// A failed command: the JSON-RPC code and the CLI errors EOS lists for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandError {
    pub code: i64,
    pub errors: Vec<String>,
}

impl CommandError {
    /// The reason EOS puts after "CLI command N of M '…' failed: ".
    pub fn reason(&self) -> &'static str {
        match self.code {
            1000 => "could not run command",
            1002 => "invalid command",
            1003 => "no JSON model",
            1005 => "unauthorized",
            _ => "command failed",
        }
    }
}

/// Recorded summary results, by family, that replace the simulated ones.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub ipv4: Option<String>,
    pub ipv6: Option<String>,
}

/// The privilege level of one request's CLI session: every request starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Unprivileged,
    Privileged,
}

/// Runs one command against the switch in the request's `mode` (which `enable` raises).
pub fn run(
    text: &str,
    switch: &Switch,
    replay: &Replay,
    now: f64,
    mode: &mut Mode,
) -> Result<Output, CommandError> {
    let mut words = Words::new(text);
    if words.keyword("enable") {
        words.end()?;
        *mode = Mode::Privileged;
        return Ok(Output::Json(json!({})));
    }
    words.expect("show")?;
    if words.keyword("version") {
        words.end()?;
        return Ok(Output::Json(switch.version(now)));
    }
    if words.keyword("running-config") {
        if *mode != Mode::Privileged {
            return Err(CommandError {
                code: 1002,
                errors: vec!["Invalid input (privileged mode required)".into()],
            });
        }
        if words.keyword("section") {
            let pattern = words.rest()?;
            return match switch.running_config_section(&pattern) {
                Some(config) => Ok(Output::Json(config)),
                None => {
                    words.position -= 1 + pattern.split_whitespace().count();
                    Err(words.invalid())
                }
            };
        }
        words.end()?;
        return Ok(Output::Json(switch.running_config()));
    }
    let family = if words.keyword("ip") {
        if words.keyword("interface") {
            let brief = words.keyword("brief");
            words.end()?;
            return Ok(Output::Json(if brief {
                switch.ip_interface_brief()
            } else {
                switch.ip_interface()
            }));
        }
        Family::Ipv4
    } else if words.keyword("ipv6") {
        Family::Ipv6
    } else {
        return Err(words.invalid());
    };
    words.expect("bgp")?;
    let detail = match family {
        Family::Ipv4 => "neighbors",
        Family::Ipv6 => "peers",
    };
    if words.keyword("summary") {
        let vrf = words.vrf()?;
        bgp_active(switch)?;
        let recorded = match family {
            Family::Ipv4 => &replay.ipv4,
            Family::Ipv6 => &replay.ipv6,
        };
        return Ok(match recorded {
            Some(text) if vrf == VrfFilter::All => Output::Raw(text.clone()),
            _ => Output::Json(switch.summary(family, &vrf, now)),
        });
    }
    if words.keyword(detail) {
        let address = words.address(family)?;
        let vrf = words.vrf()?;
        bgp_active(switch)?;
        return Ok(Output::Json(switch.neighbors(
            family,
            address.as_deref(),
            &vrf,
            now,
        )));
    }
    Err(words.invalid())
}

fn bgp_active(switch: &Switch) -> Result<(), CommandError> {
    if switch.bgp {
        Ok(())
    } else {
        Err(CommandError {
            code: 1000,
            errors: vec!["BGP inactive".into()],
        })
    }
}

/// The command's words and how far parsing got.
struct Words<'a> {
    words: Vec<&'a str>,
    position: usize,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        Words {
            words: text.split_whitespace().collect(),
            position: 0,
        }
    }

    /// Consumes `keyword` if it is next (EOS keywords are case-insensitive).
    fn keyword(&mut self, keyword: &str) -> bool {
        let matched = self
            .words
            .get(self.position)
            .is_some_and(|word| word.eq_ignore_ascii_case(keyword));
        self.position += usize::from(matched);
        matched
    }

    fn expect(&mut self, keyword: &str) -> Result<(), CommandError> {
        if self.keyword(keyword) {
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    fn end(&self) -> Result<(), CommandError> {
        if self.position == self.words.len() {
            Ok(())
        } else {
            Err(self.invalid())
        }
    }

    /// Everything left, as one argument (a `section` pattern).
    fn rest(&mut self) -> Result<String, CommandError> {
        if self.position == self.words.len() {
            return Err(self.invalid());
        }
        let rest = self.words[self.position..].join(" ");
        self.position = self.words.len();
        Ok(rest)
    }

    /// An optional peer address of the family (a link-local one may carry `%scope`).
    fn address(&mut self, family: Family) -> Result<Option<String>, CommandError> {
        let Some(word) = self.words.get(self.position).copied() else {
            return Ok(None);
        };
        if word.eq_ignore_ascii_case("vrf") {
            return Ok(None);
        }
        let fits = match super::switch::peer_ip(word) {
            Ok(ip) => ip.is_ipv4() == (family == Family::Ipv4),
            Err(_) => false,
        };
        if !fits {
            return Err(self.invalid());
        }
        self.position += 1;
        Ok(Some(word.to_owned()))
    }

    /// `[vrf <all|NAME>]` and the end of the command; without it EOS shows the default VRF.
    fn vrf(&mut self) -> Result<VrfFilter, CommandError> {
        let filter = if self.keyword("vrf") {
            if self.keyword("all") {
                VrfFilter::All
            } else {
                let name = self
                    .words
                    .get(self.position)
                    .ok_or_else(|| self.invalid())?;
                self.position += 1;
                VrfFilter::Named((*name).to_owned())
            }
        } else {
            VrfFilter::Named("default".into())
        };
        self.end()?;
        Ok(filter)
    }

    fn invalid(&self) -> CommandError {
        let error = match self.words.get(self.position) {
            Some(word) => format!("Invalid input (at token {}: '{word}')", self.position),
            None => "Incomplete command".to_owned(),
        };
        CommandError {
            code: 1002,
            errors: vec![error],
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    fn switch() -> Switch {
        Switch::new("65000".into(), Ipv4Addr::new(192, 0, 2, 1), 0.0)
    }

    fn run_on(switch: &Switch, text: &str) -> Result<Output, CommandError> {
        run(
            text,
            switch,
            &Replay::default(),
            1.0,
            &mut Mode::Unprivileged,
        )
    }

    #[test]
    fn running_config_needs_enable_first_like_eos() {
        let switch = switch();
        let err = run_on(&switch, "show running-config section daemon x").unwrap_err();
        assert_eq!(
            (err.code, err.errors),
            (
                1002,
                vec!["Invalid input (privileged mode required)".to_owned()]
            )
        );
        let mut mode = Mode::Unprivileged;
        let replay = Replay::default();
        assert!(run("enable", &switch, &replay, 1.0, &mut mode).is_ok());
        assert_eq!(mode, Mode::Privileged);
        assert!(run("show running-config", &switch, &replay, 1.0, &mut mode).is_ok());
    }

    #[test]
    fn a_refused_section_filter_is_invalid_input_at_its_token() {
        let mut switch = switch();
        switch.section_json = super::super::switch::SectionJson::Refused;
        let err = run(
            "show running-config section daemon x",
            &switch,
            &Replay::default(),
            1.0,
            &mut Mode::Privileged,
        )
        .unwrap_err();
        assert_eq!(err.errors, ["Invalid input (at token 2: 'section')"]);
    }

    #[test]
    fn unknown_command_is_1002_naming_the_token_like_the_veos_sample() {
        let err = run_on(&switch(), "show bogus").unwrap_err();
        assert_eq!(err.code, 1002);
        assert_eq!(err.errors, ["Invalid input (at token 1: 'bogus')"]);
        assert_eq!(
            run_on(&switch(), "show ip bgp").unwrap_err().errors,
            ["Incomplete command"]
        );
        assert_eq!(
            run_on(&switch(), "show version extra").unwrap_err().code,
            1002
        );
    }

    #[test]
    fn bgp_commands_on_a_switch_without_bgp_are_1000_bgp_inactive() {
        let mut switch = switch();
        switch.bgp = false;
        for text in [
            "show ip bgp summary vrf all",
            "show ipv6 bgp peers fe80::1%Et1 vrf all",
        ] {
            let err = run_on(&switch, text).unwrap_err();
            assert_eq!(
                (err.code, err.errors),
                (1000, vec!["BGP inactive".to_owned()])
            );
        }
        assert!(run_on(&switch, "show ip interface brief").is_ok());
    }

    #[test]
    fn neighbour_command_of_the_wrong_family_is_invalid_input() {
        let err = run_on(&switch(), "show ip bgp neighbors 2001:db8::1 vrf all").unwrap_err();
        assert_eq!(err.errors, ["Invalid input (at token 4: '2001:db8::1')"]);
    }

    #[test]
    fn replay_serves_recorded_text_for_the_all_vrf_summary_only() {
        let replay = Replay {
            ipv4: Some("{\"vrfs\": {}}\n".into()),
            ipv6: None,
        };
        let switch = switch();
        let mut mode = Mode::Unprivileged;
        let all = run(
            "show ip bgp summary vrf all",
            &switch,
            &replay,
            1.0,
            &mut mode,
        )
        .unwrap();
        assert_eq!(all, Output::Raw("{\"vrfs\": {}}\n".into()));
        let v6 = run(
            "show ipv6 bgp summary vrf all",
            &switch,
            &replay,
            1.0,
            &mut mode,
        )
        .unwrap();
        assert!(matches!(v6, Output::Json(_)));
    }
}
