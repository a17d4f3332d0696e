//! Passwords out of text: a database URL's, wherever it appears.

pub const REDACTED: &str = "***";

/// The URL with its password (userinfo or `password=` query parameter) replaced.
/// Fails closed: userinfo passwords are masked in the text before parsing, so a
/// string the URL parser reads differently (`x:postgres://u:pw@h`) leaks nothing,
/// and text that does not parse as a URL is not shown at all.
pub fn redact(text: &str) -> String {
    let masked = mask_userinfo_passwords(text);
    let Ok(mut url) = url::Url::parse(&masked) else {
        return "<not a valid URL; not shown>".to_owned();
    };
    if url.password().is_some() {
        let _ = url.set_password(Some(REDACTED));
    }
    let has_secret_param = url.query_pairs().any(|(key, _)| is_secret_parameter(&key));
    if has_secret_param {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(key, value)| {
                let value = if is_secret_parameter(&key) { REDACTED.to_owned() } else { value.into_owned() };
                (key.into_owned(), value)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Replaces the password of every `scheme://user:password@host` in `text`.
fn mask_userinfo_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("://") {
        let (before, after) = rest.split_at(start + 3);
        out.push_str(before);
        let authority_end = after.find(['/', '?', '#', ' ']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        match authority.rfind('@').and_then(|at| authority[..at].find(':').map(|colon| (colon, at))) {
            Some((colon, at)) => {
                out.push_str(&authority[..=colon]);
                out.push_str(REDACTED);
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[authority_end..];
    }
    out.push_str(rest);
    out
}

/// Redacts every URL found in free text (a driver's error message, say).
pub fn redact_in(text: &str) -> String {
    text.split(' ')
        .map(
            |word| {
                if word.contains("://") {
                    redact(word.trim_matches(|c| c == '"' || c == '\''))
                } else {
                    word.to_owned()
                }
            },
        )
        .collect::<Vec<_>>()
        .join(" ")
}

fn is_secret_parameter(key: &str) -> bool {
    matches!(key.to_ascii_lowercase().as_str(), "password" | "sslpassword")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_form_of_password() {
        let cases = [
            ("postgres://app:s3cret@db:5432/praxia", "postgres://app:***@db:5432/praxia"),
            ("postgres://app@db/praxia", "postgres://app@db/praxia"),
            ("postgresql://db/praxia?user=app&password=s3cret", "postgresql://db/praxia?user=app&password=***"),
            (
                "postgres://a:b@h/d?sslpassword=x&sslmode=require",
                "postgres://a:***@h/d?sslpassword=***&sslmode=require",
            ),
            ("not a url s3cret", "<not a valid URL; not shown>"),
            ("x:postgres://u:s3cret@h/d", "x:postgres://u:***@h/d"),
            ("jdbc:postgresql://u:s3cret@h/d", "jdbc:postgresql://u:***@h/d"),
            ("postgres://u:p@ss:w@h/d", "postgres://u:***@h/d"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact(input), expected, "{input}");
        }
    }

    #[test]
    fn urls_inside_messages_are_redacted() {
        assert_eq!(
            redact_in("error connecting to postgres://u:pw@h/d: refused"),
            "error connecting to postgres://u:***@h/d: refused"
        );
        assert_eq!(redact_in("connect postgres://u:pw@h/d now"), "connect postgres://u:***@h/d now");
        assert_eq!(redact_in("bad at:postgres://u:pw@h/d"), "bad at:postgres://u:***@h/d");
    }
}
