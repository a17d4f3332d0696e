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
    fn displays_in_the_same_form() {
        assert_eq!(HumanDuration::from_secs(600).to_string(), "10m");
        assert_eq!(HumanDuration::parse("10m").unwrap(), HumanDuration::from_secs(600));
    }
}
