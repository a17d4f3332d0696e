//! Just enough of a SQL lexer to split a chunk into top-level statements and read
//! their leading keywords: which statements cannot run inside a transaction, and
//! which try to control the transaction themselves. Pure.

/// One top-level statement of a chunk, as a byte range of that chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlStatement {
    pub start: usize,
    pub end: usize,
    /// The statement's unquoted words, upper-cased, in order (identifiers included).
    pub words: Vec<String>,
}

impl SqlStatement {
    pub fn text<'a>(&self, chunk: &'a str) -> &'a str {
        &chunk[self.start..self.end]
    }
}

/// Why a statement cannot run inside a transaction block, as shown to the user.
pub fn non_transactional_reason(words: &[String]) -> Option<&'static str> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |word: &str| words.iter().any(|candidate| candidate == word);
    match (w(0), w(1)) {
        ("CREATE", "INDEX") | ("CREATE", "UNIQUE") if has("CONCURRENTLY") => Some("CREATE INDEX CONCURRENTLY"),
        ("DROP", "INDEX") if w(2) == "CONCURRENTLY" => Some("DROP INDEX CONCURRENTLY"),
        ("REINDEX", _) if has("CONCURRENTLY") => Some("REINDEX CONCURRENTLY"),
        ("REINDEX", _) if matches!(reindex_target(words), Some("SCHEMA" | "DATABASE" | "SYSTEM")) => {
            Some("REINDEX SCHEMA/DATABASE/SYSTEM")
        }
        ("ALTER", "TABLE") if has("DETACH") && has("CONCURRENTLY") => Some("DETACH PARTITION CONCURRENTLY"),
        ("VACUUM", _) => Some("VACUUM"),
        ("ALTER", "SYSTEM") => Some("ALTER SYSTEM"),
        ("CREATE", "DATABASE") | ("DROP", "DATABASE") => Some("CREATE/DROP DATABASE"),
        ("CREATE", "TABLESPACE") | ("DROP", "TABLESPACE") => Some("CREATE/DROP TABLESPACE"),
        ("CREATE", "SUBSCRIPTION") | ("DROP", "SUBSCRIPTION") => Some("CREATE/DROP SUBSCRIPTION"),
        _ => None,
    }
}

/// What a REINDEX rebuilds: the first of its target keywords, past any options.
fn reindex_target(words: &[String]) -> Option<&str> {
    words[1..]
        .iter()
        .map(String::as_str)
        .find(|word| matches!(*word, "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM"))
}

/// A statement that opens, ends or rolls back the transaction itself: it would
/// break the all-or-nothing release, so migrations may not contain one.
pub fn is_transaction_control(words: &[String]) -> bool {
    let first = words.first().map(String::as_str).unwrap_or("");
    let second = words.get(1).map(String::as_str).unwrap_or("");
    matches!(first, "BEGIN" | "COMMIT" | "END" | "ROLLBACK" | "ABORT")
        || (first == "START" && second == "TRANSACTION")
        || (first == "PREPARE" && second == "TRANSACTION")
}

/// Splits `chunk` on top-level semicolons, skipping comments, strings, quoted
/// identifiers, dollar-quoted bodies and `BEGIN ATOMIC ... END` function bodies.
/// Statements with no words (blank or comments only) are left out.
pub fn split_statements(chunk: &str) -> Vec<SqlStatement> {
    let bytes = chunk.as_bytes();
    let mut statements = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start: Option<usize> = None;
    let mut atomic_depth = 0usize;
    // `CREATE RULE ... DO (a; b)` keeps its semicolons inside parentheses.
    let mut paren_depth = 0usize;
    let mut i = 0;

    let mut finish = |end: usize, start: &mut Option<usize>, words: &mut Vec<String>| {
        if let Some(begin) = start.take()
            && !words.is_empty()
        {
            statements.push(SqlStatement { start: begin, end, words: std::mem::take(words) });
        }
        words.clear();
    };

    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            // PostgreSQL ends a `--` comment at either newline character.
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = chunk[i..].find(['\n', '\r']).map_or(bytes.len(), |offset| i + offset + 1);
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = skip_block_comment(bytes, i);
                continue;
            }
            b';' if atomic_depth == 0 && paren_depth == 0 => {
                finish(i + 1, &mut start, &mut words);
                i += 1;
                continue;
            }
            _ if byte.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
        match byte {
            b'\'' => {
                let escapes =
                    i > 0 && matches!(bytes[i - 1], b'E' | b'e') && !is_word_byte(bytes.get(i.wrapping_sub(2)));
                i = skip_quoted(bytes, i, b'\'', escapes);
            }
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' => match dollar_tag(bytes, i) {
                Some(tag_len) => {
                    let tag = &chunk[i..i + tag_len];
                    i = chunk[i + tag_len..].find(tag).map_or(bytes.len(), |offset| i + tag_len + offset + tag_len);
                }
                None => i += 1,
            },
            _ if is_word_start(byte) => {
                let end = (i..bytes.len()).find(|&j| !is_word_byte(bytes.get(j))).unwrap_or(bytes.len());
                let word = chunk[i..end].to_ascii_uppercase();
                // `E'...'` strings: leave the E to the string branch.
                if !(end - i == 1 && matches!(byte, b'E' | b'e') && bytes.get(end) == Some(&b'\'')) {
                    match word.as_str() {
                        "ATOMIC" if words.last().is_some_and(|last| last == "BEGIN") => atomic_depth += 1,
                        "CASE" if atomic_depth > 0 => atomic_depth += 1,
                        "END" if atomic_depth > 0 => atomic_depth -= 1,
                        _ => {}
                    }
                    words.push(word);
                }
                i = end;
            }
            b'(' => {
                paren_depth += 1;
                i += 1;
            }
            b')' => {
                paren_depth = paren_depth.saturating_sub(1);
                i += 1;
            }
            _ => i += char_len(byte),
        }
    }
    finish(bytes.len(), &mut start, &mut words);
    statements
}

fn is_word_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

fn is_word_byte(byte: Option<&u8>) -> bool {
    byte.is_some_and(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80)
}

fn char_len(byte: u8) -> usize {
    match byte {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

fn skip_block_comment(bytes: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

/// Skips a quoted run starting at `i`; a doubled quote is an escaped quote, and in
/// `E'...'` strings a backslash escapes the next byte.
fn skip_quoted(bytes: &[u8], mut i: usize, quote: u8, backslash_escapes: bool) -> usize {
    i += 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if backslash_escapes => i += 2,
            b if b == quote && bytes.get(i + 1) == Some(&quote) => i += 2,
            b if b == quote => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The length of a `$tag$` opener at `i` (`$$` included), if there is one.
fn dollar_tag(bytes: &[u8], i: usize) -> Option<usize> {
    if i > 0 && is_word_byte(bytes.get(i - 1)) {
        return None; // part of an identifier such as a$b
    }
    let mut j = i + 1;
    while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_' || bytes[j] >= 0x80) {
        j += 1;
    }
    let is_positional = j > i + 1 && bytes[i + 1].is_ascii_digit();
    (bytes.get(j) == Some(&b'$') && !is_positional).then_some(j + 1 - i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words_of(chunk: &str) -> Vec<Vec<String>> {
        split_statements(chunk).into_iter().map(|statement| statement.words).collect()
    }

    fn first_words(chunk: &str) -> Vec<String> {
        split_statements(chunk)
            .into_iter()
            .map(|statement| statement.words[..2.min(statement.words.len())].join(" "))
            .collect()
    }

    #[test]
    fn splits_on_top_level_semicolons_only() {
        let chunk = "CREATE TABLE a (x text DEFAULT ';');\n-- a comment; with a semicolon\nINSERT INTO a VALUES ($$;$$), (E'\\';'), ($body$ ; $body$);\n/* ; /* nested ; */ */ SELECT \"odd;name\" FROM a";
        assert_eq!(first_words(chunk), ["CREATE TABLE", "INSERT INTO", "SELECT FROM"]);
        let statements = split_statements(chunk);
        assert_eq!(statements[0].text(chunk), "CREATE TABLE a (x text DEFAULT ';');");
        assert!(statements[2].text(chunk).starts_with("SELECT"));
    }

    #[test]
    fn function_bodies_stay_whole() {
        let chunk = "CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN NEW.x := 1; RETURN NEW; END; $$ LANGUAGE plpgsql;\n\
                     CREATE FUNCTION g(a int) RETURNS int BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT 2; END;\n\
                     SELECT 3;";
        assert_eq!(first_words(chunk), ["CREATE FUNCTION", "CREATE FUNCTION", "SELECT"]);
    }

    #[test]
    fn a_carriage_return_ends_a_line_comment_as_postgresql_does() {
        assert_eq!(words_of("-- note\rCREATE TABLE d (x int);\n"), [["CREATE", "TABLE", "D", "X", "INT"]]);
        assert_eq!(first_words("-- a\r\nCOMMIT;"), ["COMMIT"]);
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        let chunk = "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (1); NOTIFY t);\nSELECT 2;";
        assert_eq!(first_words(chunk), ["CREATE RULE", "SELECT"]);
    }

    #[test]
    fn comment_only_and_blank_chunks_have_no_statements() {
        assert!(split_statements("\n  -- just a comment\n/* and another */\n").is_empty());
        assert!(split_statements(";;").is_empty());
        assert_eq!(words_of("SELECT 1 -- no semicolon at the end"), [["SELECT"]]);
    }

    #[test]
    fn recognises_statements_that_cannot_run_in_a_transaction() {
        let cases = [
            ("CREATE INDEX CONCURRENTLY i ON t (x)", Some("CREATE INDEX CONCURRENTLY")),
            ("create unique index concurrently if not exists i on t (x)", Some("CREATE INDEX CONCURRENTLY")),
            ("CREATE INDEX i ON t (x)", None),
            ("CREATE INDEX \"concurrently\" ON t (x)", None),
            ("DROP INDEX CONCURRENTLY IF EXISTS i", Some("DROP INDEX CONCURRENTLY")),
            ("DROP INDEX i", None),
            ("REINDEX INDEX CONCURRENTLY i", Some("REINDEX CONCURRENTLY")),
            ("REINDEX (VERBOSE) TABLE CONCURRENTLY t", Some("REINDEX CONCURRENTLY")),
            ("REINDEX TABLE t", None),
            ("REINDEX DATABASE praxia", Some("REINDEX SCHEMA/DATABASE/SYSTEM")),
            ("REINDEX (VERBOSE) DATABASE praxia", Some("REINDEX SCHEMA/DATABASE/SYSTEM")),
            ("REINDEX SCHEMA public", Some("REINDEX SCHEMA/DATABASE/SYSTEM")),
            ("REINDEX TABLE system", None),
            ("VACUUM (ANALYZE) t", Some("VACUUM")),
            ("ALTER SYSTEM SET work_mem = '64MB'", Some("ALTER SYSTEM")),
            ("ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY", Some("DETACH PARTITION CONCURRENTLY")),
            ("ALTER TABLE p DETACH PARTITION p1", None),
            ("CREATE DATABASE x", Some("CREATE/DROP DATABASE")),
            ("-- CREATE INDEX CONCURRENTLY in a comment\nCREATE INDEX i ON t (x)", None),
            ("COMMENT ON TABLE t IS 'run VACUUM later'", None),
        ];
        for (sql, expected) in cases {
            let statements = split_statements(sql);
            assert_eq!(non_transactional_reason(&statements[0].words), expected, "{sql}");
        }
    }

    #[test]
    fn recognises_transaction_control_but_not_plpgsql_blocks() {
        let control = ["BEGIN", "begin transaction", "COMMIT", "END", "ROLLBACK", "START TRANSACTION", "abort"];
        for sql in control {
            assert!(is_transaction_control(&split_statements(sql)[0].words), "{sql}");
        }
        for sql in ["DO $$ BEGIN PERFORM 1; END $$", "CREATE TABLE t (x int)", "SELECT 'COMMIT'"] {
            assert!(!is_transaction_control(&split_statements(sql)[0].words), "{sql}");
        }
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        let chunk = "PREPARE q AS SELECT $1; SELECT 2";
        assert_eq!(first_words(chunk), ["PREPARE Q", "SELECT"]);
    }
}
