//! What a successful command hands back for printing: the JSON `result` and the
//! human text. A leaf: errors carry one too (what was found before failing).

use serde::Serialize;
use serde_json::value::RawValue;

/// The result of a successful command, in both forms.
#[derive(Debug, Clone)]
pub struct Report {
    /// The data of the JSON document's `result` field, already written out: a
    /// string is built in one buffer, where a `Value` allocates every key and
    /// value of (say) a thousand applied migrations that a human never sees.
    pub result: Box<RawValue>,
    /// The human text, printed as is on stdout.
    pub human: String,
    /// Non-zero only where a command passes on another program's status (`db psql`, remote runs).
    pub exit_code: u8,
    /// The output already went to stdout (a remote command's, streamed): print nothing more.
    pub streamed: bool,
}

impl Report {
    pub fn new(result: &impl Serialize, human: impl Into<String>) -> Report {
        Report {
            result: serde_json::value::to_raw_value(result).expect("report data serialises"),
            human: human.into(),
            exit_code: 0,
            streamed: false,
        }
    }

    /// Another process printed the result; only its exit code is left to pass on.
    pub fn streamed(exit_code: u8) -> Report {
        let null = RawValue::from_string("null".to_owned()).expect("null is JSON");
        Report { result: null, human: String::new(), exit_code, streamed: true }
    }
}

impl PartialEq for Report {
    fn eq(&self, other: &Report) -> bool {
        self.result.get() == other.result.get()
            && self.human == other.human
            && self.exit_code == other.exit_code
            && self.streamed == other.streamed
    }
}
