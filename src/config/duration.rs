//! Durations written the human way in environment files: `"60s"`, `"500ms"`, `"10min"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, de};

/// A duration read from a string such as `"60s"` or `"10min"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub const fn from_secs(secs: u64) -> Self {
        HumanDuration(Duration::from_secs(secs))
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text.trim())
            .map(HumanDuration)
            .map_err(|err| format!("invalid duration `{text}` ({err}): write it like \"60s\", \"500ms\" or \"10min\""))
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl serde::Serialize for HumanDuration {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"60s\" or \"10min\"")
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<HumanDuration, E> {
                HumanDuration::parse(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A PostgreSQL timeout setting (`lock_timeout`, `statement_timeout`): at least
/// 1 ms (0 would turn it off) and at most PostgreSQL's limit of 2147483647 ms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PgTimeout(pub HumanDuration);

impl PgTimeout {
    pub const MAX: Duration = Duration::from_millis(i32::MAX as u64);

    pub fn from_secs(secs: u64) -> Self {
        PgTimeout(HumanDuration::from_secs(secs))
    }

    pub fn millis(self) -> u128 {
        self.0.0.as_millis()
    }

    fn check(duration: HumanDuration) -> Result<Self, String> {
        if duration.0 < Duration::from_millis(1) {
            return Err(format!("`{duration}` would turn the timeout off; use at least \"1ms\""));
        }
        if duration.0 > Self::MAX {
            return Err(format!("`{duration}` is longer than PostgreSQL allows (about 24 days)"));
        }
        Ok(PgTimeout(duration))
    }
}

impl fmt::Display for PgTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for PgTimeout {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        PgTimeout::check(HumanDuration::deserialize(deserializer)?).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        let cases = [
            ("60s", Duration::from_secs(60)),
            ("10min", Duration::from_secs(600)),
            ("500ms", Duration::from_millis(500)),
            ("1h 30min", Duration::from_secs(5400)),
            (" 5s ", Duration::from_secs(5)),
            ("0s", Duration::ZERO),
        ];
        for (text, expected) in cases {
            assert_eq!(HumanDuration::parse(text), Ok(HumanDuration(expected)), "{text}");
        }
    }

    #[test]
    fn refuses_bare_numbers_and_unknown_units_with_an_example() {
        for text in ["60", "5 parsecs", "", "ten seconds"] {
            let err = HumanDuration::parse(text).unwrap_err();
            assert!(err.contains("\"60s\""), "{text}: {err}");
        }
    }

    #[test]
    fn postgres_timeouts_are_never_off_and_never_too_long() {
        let parse =
            |text: &str| toml::from_str::<std::collections::HashMap<String, PgTimeout>>(&format!("t = \"{text}\""));
        assert_eq!(parse("5s").unwrap()["t"].millis(), 5000);
        assert!(parse("0s").unwrap_err().to_string().contains("turn the timeout off"));
        assert!(parse("500us").unwrap_err().to_string().contains("turn the timeout off"));
        assert!(parse("30days").unwrap_err().to_string().contains("longer than PostgreSQL allows"));
    }

    #[test]
    fn displays_in_the_same_form() {
        assert_eq!(HumanDuration::from_secs(600).to_string(), "10m");
        assert_eq!(HumanDuration::parse("10m").unwrap(), HumanDuration::from_secs(600));
    }
}
