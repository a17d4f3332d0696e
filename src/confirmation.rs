//! Typed confirmation at the terminal, before a command touches production.

use std::io::{BufRead, IsTerminal, Write};

use crate::error::{Error, Result};

pub enum Answer {
    /// Stdin is not a terminal: nobody to ask.
    NoTerminal,
    Confirmed,
    Refused,
}

/// Prints `prompt` on stderr and reads a line: confirmed only when it is `expected`.
pub fn ask_to_type(prompt: &str, expected: &str) -> Result<Answer> {
    if !std::io::stdin().is_terminal() {
        return Ok(Answer::NoTerminal);
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|err| Error::usage(format!("could not read the answer: {err}")))?;
    Ok(if answer.trim() == expected { Answer::Confirmed } else { Answer::Refused })
}
