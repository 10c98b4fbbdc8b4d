//! Durations in Go's syntax (`300ms`, `10s`, `1h30m`), as the upstream agent's flags take them,
//! so existing `exec` lines and `option` values keep working.

use std::time::Duration;

/// Parses a Go-style duration: one or more `<number><unit>` with units ns, us (or µs), ms, s, m,
/// h; a bare `0` is zero. Fractions are allowed (`1.5h`). Negative durations are refused.
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err("empty duration".into());
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("{text:?}: missing unit (e.g. 10s, 500ms, 6h)"))?;
        let (number, tail) = rest.split_at(number_len);
        let value: f64 = number
            .parse()
            .map_err(|_| format!("{text:?}: {number:?} is not a number"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => {
                return Err(format!(
                    "{text:?}: unknown unit {other:?} (use ns, us, ms, s, m or h)"
                ))
            }
        };
        total += value * seconds;
        rest = tail;
    }
    // Go's own limit (an int64 of nanoseconds, ~292 years): a longer value was never valid for
    // the upstream agent, and keeping far below Duration's range means no `Instant + d` anywhere
    // can overflow.
    if total > MAX_SECONDS {
        return Err(format!("{text:?}: out of range (at most ~292 years)"));
    }
    Duration::try_from_secs_f64(total).map_err(|_| format!("{text:?}: out of range"))
}

const MAX_SECONDS: f64 = i64::MAX as f64 / 1e9;

/// The shortest Go-style rendering, for logs and `check`.
pub fn format(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    if ms.is_multiple_of(3_600_000) {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_beyond_gos_range_are_refused() {
        assert!(parse("2562047h").is_ok(), "just inside Go's range");
        for huge in [
            "2562048h",
            "10000000000000000000s",
            "1e400s",
            "99999999999999999999999h",
        ] {
            assert!(parse(huge).is_err(), "{huge}");
        }
    }

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
        assert_eq!(parse("0s").unwrap(), Duration::ZERO);
    }

    #[test]
    fn bad_durations_say_what_is_wrong() {
        assert!(parse("10").unwrap_err().contains("missing unit"));
        assert!(parse("10d").unwrap_err().contains("unknown unit"));
        assert!(parse("-5s").is_err());
        assert!(parse("").is_err());
        assert!(parse("s").is_err());
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["6h", "5m", "10s", "400ms", "0s"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
