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
        // CLUSTER without a table reclusters every table, one transaction each.
        ("CLUSTER", next) if matches!(next, "" | "VERBOSE") && words.len() <= 2 => Some("CLUSTER without a table"),
        ("DISCARD", "ALL") => Some("DISCARD ALL"),
        _ => None,
    }
}

/// A statement that does not block the app's reads and writes while it waits
/// or works (it takes at most SHARE UPDATE EXCLUSIVE on its table): named, it
/// gets the environment's `concurrent_*` limits instead of the `lock_timeout`
/// that protects the app from a queue behind an ACCESS EXCLUSIVE lock. An index
/// build waits for every older transaction of the database; cutting that wait
/// at 5 s fails the build on any busy database. Only what the words prove is
/// named: a doubt keeps the short `lock_timeout`. `DETACH PARTITION
/// CONCURRENTLY` is not one: its second transaction asks for ACCESS EXCLUSIVE
/// on the partition, and every query of the partition queues behind it. Pure.
pub fn waits_without_blocking(words: &[String]) -> Option<&'static str> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match (w(0), w(1)) {
        // `CREATE [UNIQUE] INDEX CONCURRENTLY`: the keyword has no other place.
        ("CREATE", "INDEX") if w(2) == "CONCURRENTLY" => Some("CREATE INDEX CONCURRENTLY"),
        ("CREATE", "UNIQUE") if w(2) == "INDEX" && w(3) == "CONCURRENTLY" => Some("CREATE INDEX CONCURRENTLY"),
        ("DROP", "INDEX") if w(2) == "CONCURRENTLY" => Some("DROP INDEX CONCURRENTLY"),
        ("REINDEX", _) if reindexes_concurrently(words) => Some("REINDEX CONCURRENTLY"),
        ("ALTER", "TABLE") if validates_only(words) => Some("VALIDATE CONSTRAINT"),
        _ => None,
    }
}

/// `REINDEX [(...)] TARGET CONCURRENTLY name`, or the option `CONCURRENTLY
/// TRUE|ON`: a bare `(CONCURRENTLY ...)` may be followed by a `0` or a `'false'`
/// the words do not show (then the table is locked SHARE).
fn reindexes_concurrently(words: &[String]) -> bool {
    let target = words[1..]
        .iter()
        .position(|word| matches!(word.as_str(), "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM"))
        .map(|position| position + 1);
    let after = |i: usize| words.get(i + 1).map(String::as_str);
    target.is_some_and(|target| after(target) == Some("CONCURRENTLY"))
        || words[1..target.unwrap_or(words.len())]
            .iter()
            .enumerate()
            .any(|(i, word)| word == "CONCURRENTLY" && matches!(after(i + 1), Some("TRUE" | "ON")))
}

/// `ALTER TABLE [IF EXISTS] [ONLY] t VALIDATE CONSTRAINT c` and nothing else:
/// another action in the same statement may take a stronger lock. A quoted
/// name is not a word, so no action word may follow `CONSTRAINT` either
/// (`VALIDATE CONSTRAINT "c", DROP "y"`).
fn validates_only(words: &[String]) -> bool {
    const ACTIONS: [&str; 19] = [
        "ADD", "DROP", "ALTER", "SET", "RESET", "RENAME", "OWNER", "ENABLE", "DISABLE", "INHERIT", "NO", "CLUSTER",
        "REPLICA", "OF", "NOT", "ATTACH", "DETACH", "FORCE", "VALIDATE",
    ];
    let Some(at) = words.iter().position(|word| word == "VALIDATE") else {
        return false;
    };
    words.get(at + 1).is_some_and(|word| word == "CONSTRAINT")
        && words.len() <= at + 3
        && !words[2..at].iter().chain(&words[at + 2..]).any(|word| ACTIONS.contains(&word.as_str()))
}

/// Why a statement needs a transaction of its own: it may run in one, but not
/// batched with other migrations.
pub fn own_transaction_reason(words: &[String]) -> Option<&'static str> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match (w(0), w(1)) {
        // The new value cannot be used until the transaction that added it commits.
        ("ALTER", "TYPE") if words.windows(2).any(|pair| pair[0] == "ADD" && pair[1] == "VALUE") => {
            Some("ALTER TYPE ... ADD VALUE")
        }
        // Must be the first statement of its transaction.
        ("SET", "TRANSACTION") => Some("SET TRANSACTION"),
        _ => None,
    }
}

/// The index a `CREATE [UNIQUE] INDEX CONCURRENTLY [IF NOT EXISTS] name ON ...`
/// builds, as `pg_class.relname` has it (unquoted names folded to lower case);
/// None for other statements and for unnamed indexes.
pub fn built_index_name(statement: &str) -> Option<String> {
    let tokens = name_tokens(statement, 9);
    let upper = |i: usize| tokens.get(i).map(|token| token.to_ascii_uppercase()).unwrap_or_default();
    let mut i = 1;
    if upper(0) != "CREATE" {
        return None;
    }
    if upper(i) == "UNIQUE" {
        i += 1;
    }
    if upper(i) != "INDEX" || upper(i + 1) != "CONCURRENTLY" {
        return None;
    }
    i += 2;
    if upper(i) == "IF" && upper(i + 1) == "NOT" && upper(i + 2) == "EXISTS" {
        i += 3;
    }
    let name = tokens.get(i)?;
    if name.eq_ignore_ascii_case("ON") {
        return None;
    }
    let last = last_name_part(name);
    Some(match last.strip_prefix('"').and_then(|rest| rest.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => last.to_ascii_lowercase(),
    })
}

/// The table a `CREATE [UNIQUE] INDEX CONCURRENTLY` builds on, as written
/// (`s."T"`, for `to_regclass`), past `ON [ONLY]`; `None` when the statement
/// does not read plainly so (a comment between its words, a long name list).
pub fn built_index_table(statement: &str) -> Option<String> {
    built_index_name(statement)?;
    let tokens = name_tokens(statement, 12);
    let on = tokens.iter().position(|token| token.eq_ignore_ascii_case("ON"))?;
    let mut table = tokens.get(on + 1)?;
    if table.eq_ignore_ascii_case("ONLY") {
        table = tokens.get(on + 2)?;
    }
    let mut quoted = false;
    let end = table
        .char_indices()
        .find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            !quoted && c == '('
        })
        .map_or(table.len(), |(i, _)| i);
    let table = &table[..end];
    (!table.is_empty() && !table.contains("/*") && !table.contains("--")).then(|| table.to_owned())
}

/// `c` of `a.b.c`, where a quoted part may hold dots.
fn last_name_part(name: &str) -> &str {
    let mut quoted = false;
    let mut start = 0;
    for (i, c) in name.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => start = i + 1,
            _ => {}
        }
    }
    &name[start..]
}

/// The first `count` whitespace-separated tokens, a double-quoted identifier
/// (with dots, as in `s."i x"`) kept whole.
fn name_tokens(statement: &str, count: usize) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in statement.trim_start().chars() {
        match c {
            '"' => {
                quoted = !quoted;
                current.push(c);
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                    if tokens.len() == count {
                        return tokens;
                    }
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// A statement the server would answer by waiting for the client (COPY FROM
/// STDIN) or by streaming to it (COPY TO STDOUT): the runner sends no data and
/// reads no copy stream, so a release would hang or fail.
pub fn talks_to_client(words: &[String]) -> Option<&'static str> {
    if words.first().map(String::as_str) != Some("COPY") {
        return None;
    }
    let pair = |a: &str, b: &str| words.windows(2).any(|pair| pair[0] == a && pair[1] == b);
    if pair("FROM", "STDIN") {
        Some("COPY ... FROM STDIN")
    } else if pair("TO", "STDOUT") {
        Some("COPY ... TO STDOUT")
    } else {
        None
    }
}

/// Why a statement may reach beyond its database (roles and memberships, other
/// databases, tablespaces, the server's settings, files, processes or
/// replication, another server): replaying it on a shared server could change
/// that server. What cannot be seen through counts too: dynamic SQL (`EXECUTE`)
/// in a `DO` block or a routine, a routine body in plain quotes, a routine in a
/// language other than SQL or PL/pgSQL. Routine bodies are read (they run when
/// called, by a trigger or a later statement). Conservative by design: a
/// statement named here is refused on a shared server, never judged harmless.
pub fn cluster_wide_reason(statement: &str, words: &[String]) -> Option<&'static str> {
    if let Some(reason) = cluster_wide_words(words).or_else(|| server_function(statement)) {
        return Some(reason);
    }
    let first = words.first().map(String::as_str);
    let routine = first == Some("CREATE") && words.iter().any(|word| word == "FUNCTION" || word == "PROCEDURE");
    if first != Some("DO") && !routine {
        return None;
    }
    if let Some(position) = words.iter().position(|word| word == "LANGUAGE") {
        let language = words.get(position + 1).map(String::as_str).unwrap_or("");
        if !matches!(language, "SQL" | "PLPGSQL") {
            return Some("a routine in a language other than SQL or PL/pgSQL (its body is not read)");
        }
    }
    let bodies = dollar_quoted_bodies(statement);
    let atomic = words.iter().any(|word| word == "ATOMIC") || (routine && !words.iter().any(|word| word == "AS"));
    if bodies.is_empty() && !atomic {
        return Some("a routine or DO body in plain quotes (not read)");
    }
    for body in bodies {
        let inner: Vec<String> = split_statements(body).into_iter().flat_map(|statement| statement.words).collect();
        for start in 0..inner.len() {
            if let Some(reason) = cluster_wide_words(&inner[start..]) {
                return Some(reason);
            }
        }
        if let Some(reason) = server_function(body) {
            return Some(reason);
        }
        if inner.iter().any(|word| word == "EXECUTE") {
            return Some("dynamic SQL (EXECUTE) in a DO block or routine, which cannot be read");
        }
    }
    None
}

/// The statement starting at `words[0]`, by its leading words.
fn cluster_wide_words(words: &[String]) -> Option<&'static str> {
    let w = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    let has = |word: &str| words.iter().any(|candidate| candidate == word);
    let on_shared = |i: usize| matches!(w(i), "ROLE" | "DATABASE" | "TABLESPACE" | "PARAMETER");
    let shared_grant = (1..words.len()).any(|i| w(i) == "ON" && on_shared(i + 1));
    Some(match (w(0), w(1)) {
        ("CREATE" | "ALTER" | "DROP", "ROLE" | "USER" | "GROUP") if w(2) != "MAPPING" => {
            "a role (CREATE/ALTER/DROP ROLE)"
        }
        ("GRANT" | "REVOKE", _) if !has("ON") => "a role membership (GRANT/REVOKE role)",
        ("GRANT" | "REVOKE", _) if shared_grant => "a database, tablespace or parameter's privileges",
        ("DROP" | "REASSIGN", "OWNED") => "what a role owns in every database (DROP/REASSIGN OWNED)",
        ("CREATE" | "ALTER" | "DROP", "DATABASE") => "a database (CREATE/ALTER/DROP DATABASE)",
        ("CREATE" | "ALTER" | "DROP", "TABLESPACE") => "a tablespace",
        ("ALTER", "SYSTEM") => "the server's settings (ALTER SYSTEM)",
        ("LOAD" | "CHECKPOINT", _) => "the server (LOAD, CHECKPOINT)",
        ("CREATE" | "ALTER" | "DROP", "SUBSCRIPTION") => "a subscription (it connects to another server)",
        ("CREATE" | "ALTER", "SERVER") | ("IMPORT", "FOREIGN") => "another server (foreign data)",
        ("CREATE" | "ALTER", "USER") if w(2) == "MAPPING" => "another server (foreign data)",
        ("CREATE", "EXTENSION") if ["DBLINK", "POSTGRES_FDW", "FILE_FDW", "ADMINPACK"].iter().any(|name| has(name)) => {
            "an extension that reaches other servers or the server's files"
        }
        ("COMMENT", "ON") if on_shared(2) => "a role, database or tablespace's comment",
        ("SECURITY", "LABEL") if shared_grant => "a role, database or tablespace's security label",
        // COPY to or from the client is refused in migrations: any other is the server's files or programs.
        ("COPY", _) => "the server's files or programs (COPY)",
        _ => return None,
    })
}

/// A call of a function that acts on the server, its files, its processes, its
/// replication or another server, named bare or quoted, outside strings.
fn server_function(text: &str) -> Option<&'static str> {
    const EXACT: [&str; 16] = [
        "lo_import",
        "lo_export",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_file_write",
        "pg_file_unlink",
    ];
    const PREFIXES: [&str; 5] = [
        "dblink",
        "pg_create_physical_replication_slot",
        "pg_create_logical_replication_slot",
        "pg_drop_replication_slot",
        "pg_stat_reset",
    ];
    // Another escape character for U& names is not read: it counts.
    if text.to_ascii_uppercase().contains("UESCAPE") {
        return Some("a name written with UESCAPE, which is not read");
    }
    identifiers(text)
        .iter()
        .any(|name| EXACT.contains(&name.as_str()) || PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || name.starts_with("pg_replication_origin"))
        .then_some("the server's files, processes or replication, or another server (a function such as lo_export, pg_terminate_backend or dblink)")
}

/// A `U&"..."` name with its `\XXXX` and `\+XXXXXX` escapes decoded.
fn unicode_escapes(name: &str) -> String {
    let mut decoded = String::new();
    let mut rest = name;
    while let Some(at) = rest.find('\\') {
        decoded.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (digits, skip) = match after.strip_prefix('+') {
            Some(six) => (six.get(..6), 7),
            None => (after.get(..4), 4),
        };
        match digits.and_then(|hex| u32::from_str_radix(hex, 16).ok()).and_then(char::from_u32) {
            Some(c) => {
                decoded.push(c);
                rest = &after[skip..];
            }
            None => {
                decoded.push('\\');
                rest = after.strip_prefix('\\').unwrap_or(after);
            }
        }
    }
    decoded.push_str(rest);
    decoded
}

/// The identifiers of `text`, bare ones lower-cased and quoted ones as written,
/// outside strings, comments and dollar-quoted bodies.
pub fn identifiers(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = string_end(bytes, i, false),
            b'"' => {
                let end = skip_quoted(bytes, i, b'"', false);
                let name = text[i + 1..end.saturating_sub(1).max(i + 1)].replace("\"\"", "\"");
                let unicode = i >= 2 && bytes[i - 1] == b'&' && matches!(bytes[i - 2], b'U' | b'u');
                found.push(if unicode { unicode_escapes(&name) } else { name });
                i = end;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = text[i..].find('\n').map_or(bytes.len(), |end| i + end),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = text[i..].find("*/").map_or(bytes.len(), |end| i + end + 2),
            b'$' => i = dollar_quote(text, i).map_or(i + 1, |(_, _, end)| end),
            byte if is_word_start(byte) => {
                let end = (i..bytes.len()).find(|&j| !is_word_byte(bytes.get(j))).unwrap_or(bytes.len());
                found.push(text[i..end].to_ascii_lowercase());
                i = end;
            }
            _ => i += 1,
        }
    }
    found
}

/// The dollar-quoted strings of a statement, inside their quotes.
fn dollar_quoted_bodies(statement: &str) -> Vec<&str> {
    let bytes = statement.as_bytes();
    let mut bodies = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => i = skip_quoted(bytes, i, b'\'', false),
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' if i == 0 || !is_word_byte(bytes.get(i - 1)) => match dollar_quote(statement, i) {
                Some((body, body_end, end)) => {
                    if body_end < statement.len() {
                        bodies.push(&statement[body..body_end]);
                    }
                    i = end;
                }
                None => i += 1,
            },
            _ => i += 1,
        }
    }
    bodies
}

/// drizzle-kit before 0.30 writes each foreign key (and enum, and schema) as
/// `DO $$ BEGIN <statement>; EXCEPTION WHEN duplicate_object THEN null; END $$`:
/// the statement, skipped when its object already exists. When `statement` is
/// exactly that, the byte range of the inner statement in it (without its `;`).
pub fn drizzle_guarded_statement(statement: &str) -> Option<std::ops::Range<usize>> {
    let words = split_statements(statement).into_iter().next()?.words;
    if words.first().map(String::as_str) != Some("DO") {
        return None;
    }
    let open = statement.find('$')?;
    if !statement[..open].trim().eq_ignore_ascii_case("DO") {
        return None; // DO LANGUAGE ..., or a plain-quoted body
    }
    let (body_start, body_end, end) = dollar_quote(statement, open)?;
    if body_end == statement.len() || !statement[end..].trim().trim_end_matches(';').trim().is_empty() {
        return None;
    }
    let body = &statement[body_start..body_end];
    let parts = split_statements(body);
    let [inner, handler, last] = parts.as_slice() else {
        return None;
    };
    let starts_with_begin = inner.words.first().map(String::as_str) == Some("BEGIN")
        && body[..inner.start].trim().is_empty()
        && body[inner.start..].get(..5).is_some_and(|word| word.eq_ignore_ascii_case("BEGIN"));
    let handler_words: Vec<&str> = handler.words.iter().map(String::as_str).collect();
    if !starts_with_begin
        || handler_words != ["EXCEPTION", "WHEN", "DUPLICATE_OBJECT", "THEN", "NULL"]
        || last.words != ["END"]
        || !body[last.end..].trim().trim_start_matches(';').trim().is_empty()
    {
        return None;
    }
    // The inner statement starts after BEGIN; what is between them is blank.
    let after_begin = inner.start + 5;
    let inner_text = &body[after_begin..inner.end];
    let lead = inner_text.len() - inner_text.trim_start().len();
    let text = inner_text.trim().trim_end_matches(';').trim_end();
    if text.is_empty() || split_statements(text).len() != 1 {
        return None;
    }
    let start = body_start + after_begin + lead;
    Some(start..start + text.len())
}

/// What a REINDEX rebuilds: the first of its target keywords, past any options.
fn reindex_target(words: &[String]) -> Option<&str> {
    words[1..]
        .iter()
        .map(String::as_str)
        .find(|word| matches!(*word, "INDEX" | "TABLE" | "SCHEMA" | "DATABASE" | "SYSTEM"))
}

/// A statement that opens, ends or undoes the transaction itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionControl {
    /// `BEGIN`, `START TRANSACTION`: inside drizzle's transaction the server only warns.
    Begin,
    /// `COMMIT`, `END`: ends drizzle's transaction; what follows commits statement by statement.
    Commit,
    /// `ROLLBACK`, `ABORT`, `PREPARE TRANSACTION`, `COMMIT`/`ROLLBACK PREPARED`:
    /// drizzle would silently undo the run's earlier migrations, or hand the
    /// transaction to a coordinator that never comes.
    Undo(&'static str),
}

pub fn transaction_control(words: &[String]) -> Option<TransactionControl> {
    let first = words.first().map(String::as_str).unwrap_or("");
    let second = words.get(1).map(String::as_str).unwrap_or("");
    match (first, second) {
        ("COMMIT", "PREPARED") => Some(TransactionControl::Undo("COMMIT PREPARED")),
        ("ROLLBACK", "PREPARED") => Some(TransactionControl::Undo("ROLLBACK PREPARED")),
        ("PREPARE", "TRANSACTION") => Some(TransactionControl::Undo("PREPARE TRANSACTION")),
        // ROLLBACK TO SAVEPOINT stays inside the transaction: harmless.
        ("ROLLBACK", "TO") => None,
        ("ROLLBACK", _) => Some(TransactionControl::Undo("ROLLBACK")),
        ("ABORT", _) => Some(TransactionControl::Undo("ABORT")),
        ("BEGIN", _) | ("START", "TRANSACTION") => Some(TransactionControl::Begin),
        ("COMMIT" | "END", _) => Some(TransactionControl::Commit),
        _ => None,
    }
}

/// Splits `chunk` on top-level semicolons, skipping comments, strings, quoted
/// identifiers, dollar-quoted bodies and `BEGIN ATOMIC ... END` function bodies.
/// Statements with no words (blank or comments only) are left out.
pub fn split_statements(chunk: &str) -> Vec<SqlStatement> {
    Lexer::default().split(chunk)
}

/// The lexer's state across the chunks of one file: whether plain '...' strings
/// take backslash escapes (after `SET standard_conforming_strings = off`).
#[derive(Debug, Clone, Default)]
pub struct Lexer {
    backslash_strings: bool,
}

impl Lexer {
    pub fn split(&mut self, chunk: &str) -> Vec<SqlStatement> {
        split_with(chunk, &mut self.backslash_strings, &mut Vec::new())
    }

    /// The statements, and the byte ranges of the chunk's comments (`--` to the
    /// end of its line, `/* ... */` nested), as PostgreSQL reads them: never a
    /// `--` inside a string, a quoted name or a dollar-quoted body.
    pub fn split_with_comments(&mut self, chunk: &str) -> (Vec<SqlStatement>, Vec<std::ops::Range<usize>>) {
        let mut comments = Vec::new();
        let statements = split_with(chunk, &mut self.backslash_strings, &mut comments);
        (statements, comments)
    }
}

/// `SET [SESSION | LOCAL] standard_conforming_strings TO/= on|off`: the value set.
fn standard_conforming_strings(words: &[String], text: &str) -> Option<bool> {
    let position = words.iter().position(|word| word == "STANDARD_CONFORMING_STRINGS")?;
    if words.first().map(String::as_str) != Some("SET") || position > 2 {
        return None;
    }
    let value = text.to_ascii_lowercase();
    let value = value.rsplit(|c: char| c.is_whitespace() || c == '=').find(|piece| !piece.is_empty())?;
    match value.trim_matches(|c| c == '\'' || c == ';') {
        "off" | "false" | "0" => Some(false),
        "on" | "true" | "1" => Some(true),
        _ => None,
    }
}

fn split_with(
    chunk: &str,
    backslash_strings: &mut bool,
    comments: &mut Vec<std::ops::Range<usize>>,
) -> Vec<SqlStatement> {
    let bytes = chunk.as_bytes();
    let mut statements = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut start: Option<usize> = None;
    let mut atomic_depth = 0usize;
    // `CREATE RULE ... DO (a; b)` keeps its semicolons inside parentheses.
    let mut paren_depth = 0usize;
    // The token before this one (comments and whitespace are not tokens): it tells
    // a label (`AS end`, `t.case`) from the keyword, and `BEGIN ATOMIC` from a column.
    let mut previous = Previous::Other;
    let mut i = 0;

    // Ends the statement begun at `start`; a `SET standard_conforming_strings`
    // changes how the strings after it are read.
    let mut finish = |end: usize, start: &mut Option<usize>, words: &mut Vec<String>, backslash: &mut bool| {
        if let Some(begin) = start.take()
            && !words.is_empty()
        {
            let statement = SqlStatement { start: begin, end, words: std::mem::take(words) };
            if let Some(on) = standard_conforming_strings(&statement.words, statement.text(chunk)) {
                *backslash = !on;
            }
            statements.push(statement);
        }
        words.clear();
    };

    while i < bytes.len() {
        let byte = bytes[i];
        match byte {
            // PostgreSQL ends a `--` comment at either newline character.
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                let end = chunk[i..].find(['\n', '\r']).map_or(bytes.len(), |offset| i + offset);
                comments.push(i..end);
                i = (end + 1).min(bytes.len());
                continue;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let end = skip_block_comment(bytes, i);
                comments.push(i..end);
                i = end;
                continue;
            }
            b';' if atomic_depth == 0 && paren_depth == 0 => {
                finish(i + 1, &mut start, &mut words, backslash_strings);
                previous = Previous::Other;
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
        let mut token = Previous::Other;
        match byte {
            b'\'' => i = string_end(bytes, i, *backslash_strings),
            b'"' => i = skip_quoted(bytes, i, b'"', false),
            b'$' => i = dollar_quote(chunk, i).map_or(i + 1, |(_, _, end)| end),
            _ if is_word_start(byte) => {
                let end = (i..bytes.len()).find(|&j| !is_word_byte(bytes.get(j))).unwrap_or(bytes.len());
                let word = chunk[i..end].to_ascii_uppercase();
                // `E'...'` strings: leave the E to the string branch.
                if !(end - i == 1 && matches!(byte, b'E' | b'e') && bytes.get(end) == Some(&b'\'')) {
                    // `AS end`, `t.case`: a label, not the keyword.
                    let label = matches!(previous, Previous::As | Previous::Dot);
                    match word.as_str() {
                        // A body of `CREATE [OR REPLACE] FUNCTION|PROCEDURE`, outside any parentheses
                        // (a column named `begin` of type `atomic` is not one).
                        "ATOMIC" if previous == Previous::Begin && paren_depth == 0 && is_routine(&words) => {
                            atomic_depth += 1;
                        }
                        "CASE" if atomic_depth > 0 && !label => atomic_depth += 1,
                        "END" if atomic_depth > 0 && !label => atomic_depth -= 1,
                        _ => {}
                    }
                    token = match word.as_str() {
                        _ if label => Previous::Other,
                        "AS" => Previous::As,
                        "BEGIN" => Previous::Begin,
                        _ => Previous::Other,
                    };
                    words.push(word);
                }
                i = end;
            }
            // A number is one token: the `.` of `1.` is not a qualifier's.
            _ if byte.is_ascii_digit() || (byte == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                i = skip_number(bytes, i);
            }
            b'.' => {
                token = Previous::Dot;
                i += 1;
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
        previous = token;
    }
    finish(bytes.len(), &mut start, &mut words, backslash_strings);
    statements
}

/// What the token before the current one was, as far as the splitter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Previous {
    As,
    Begin,
    Dot,
    Other,
}

/// Past a numeric literal at `i`: digits (and `_`), a fraction, an exponent.
fn is_routine(words: &[String]) -> bool {
    let first: Vec<&str> = words.iter().take(4).map(String::as_str).collect();
    matches!(
        first.as_slice(),
        ["CREATE", "FUNCTION" | "PROCEDURE", ..] | ["CREATE", "OR", "REPLACE", "FUNCTION" | "PROCEDURE", ..]
    )
}

fn skip_number(bytes: &[u8], mut i: usize) -> usize {
    let digits = |i: &mut usize| {
        while bytes.get(*i).is_some_and(|b| b.is_ascii_digit() || *b == b'_') {
            *i += 1;
        }
    };
    digits(&mut i);
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        digits(&mut i);
    }
    if bytes.get(i).is_some_and(|b| matches!(b, b'e' | b'E')) {
        let mut j = i + 1;
        if bytes.get(j).is_some_and(|b| matches!(b, b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            digits(&mut i);
        }
    }
    i
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

/// A dollar-quoted string starting at `i` (`$tag$ ... $tag$`): where its body
/// starts, where it ends, and where the string ends (the text's end when it is
/// not closed). None when `$` starts no quote there.
fn dollar_quote(text: &str, i: usize) -> Option<(usize, usize, usize)> {
    let tag_len = dollar_tag(text.as_bytes(), i)?;
    let tag = &text[i..i + tag_len];
    let body = i + tag_len;
    Some(match text[body..].find(tag) {
        Some(offset) => (body, body + offset, body + offset + tag_len),
        None => (body, text.len(), text.len()),
    })
}

/// Where a single-quoted string starting at `i` ends: backslash escapes are
/// read in an `E'...'` string (an `E` that is a word of its own) and wherever
/// `standard_conforming_strings` is off.
fn string_end(bytes: &[u8], i: usize, backslash_strings: bool) -> usize {
    let escapes = backslash_strings
        || (i > 0 && matches!(bytes[i - 1], b'E' | b'e') && !is_word_byte(bytes.get(i.wrapping_sub(2))));
    skip_quoted(bytes, i, b'\'', escapes)
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
    fn statements_that_reach_beyond_their_database_are_named() {
        let reason = |sql: &str| {
            let statement = &split_statements(sql)[0];
            cluster_wide_reason(statement.text(sql), &statement.words)
        };
        for sql in [
            "ALTER ROLE analytics WITH LOGIN",
            "CREATE USER app PASSWORD 'x'",
            "DROP GROUP g",
            "GRANT analytics TO app",
            "REVOKE admin FROM app",
            "ALTER DATABASE app SET timezone TO 'UTC'",
            "CREATE TABLESPACE fast LOCATION '/ssd'",
            "ALTER SYSTEM SET work_mem = '1GB'",
            "CREATE SUBSCRIPTION s CONNECTION 'host=x' PUBLICATION p",
            "COMMENT ON ROLE app IS 'x'",
            "COPY t TO '/tmp/t.csv'",
            "COPY t FROM PROGRAM 'curl x'",
            "SELECT lo_export(1, '/tmp/x')",
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
            "DO $$ BEGIN CREATE ROLE r; EXCEPTION WHEN duplicate_object THEN null; END $$",
            "DO $body$ BEGIN EXECUTE 'CREATE TABLE ' || 't'; END $body$",
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN ALTER ROLE r NOLOGIN; END $$",
            // What an attack review found getting through a first version:
            "CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$BEGIN EXECUTE 'ALTER ROLE r ' || 'LOGIN'; END$$",
            "CREATE PROCEDURE p() LANGUAGE plpgsql AS $o$ BEGIN EXECUTE $x$ALTER ROLE r CONNECTION LIMIT 9$x$; END $o$",
            "CREATE FUNCTION f_b() RETURNS void LANGUAGE plpgsql AS 'BEGIN ALTER ROLE r CONNECTION LIMIT 7; END'",
            "DO 'BEGIN EXECUTE ''COMMENT ON ROLE r IS x''; END'",
            "SELECT \"pg_terminate_backend\"(pid) FROM pg_stat_activity",
            "COPY (SELECT 1 AS stdout) TO '/tmp/x.txt'",
            "GRANT CONNECT ON DATABASE other TO r",
            "GRANT SET ON PARAMETER work_mem TO r",
            "DROP OWNED BY r",
            "REASSIGN OWNED BY r TO s",
            "SELECT pg_create_physical_replication_slot('s')",
            "CREATE SERVER s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (dbname 'x')",
            "CREATE USER MAPPING FOR r SERVER s",
            "CREATE EXTENSION \"dblink\"",
            "SELECT dblink_connect_u('c', 'dbname=x')",
            "CREATE FUNCTION py() RETURNS int LANGUAGE plpython3u AS $$ return 1 $$",
            "LOAD 'auto_explain'",
            // `name'...'` is a typed literal, not an E-string: its backslash ends nothing.
            "SELECT name'x\\', pg_terminate_backend(pid) FROM pg_stat_activity WHERE 'a' = 'a'",
            "SELECT U&\"pg_terminate\\005fbackend\"(pid) FROM pg_stat_activity",
            "SELECT U&\"lo_e!0078port\" UESCAPE '!' (1, '/tmp/x')",
        ] {
            assert!(reason(sql).is_some(), "{sql}");
        }
        for sql in [
            "CREATE TABLE role (id int)",
            "GRANT SELECT ON t TO app",
            "REVOKE ALL ON t FROM public",
            "ALTER TABLE t OWNER TO app",
            "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE RETURN a + b",
            "CREATE FUNCTION one() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END",
            "SELECT 'pg_terminate_backend' AS name",
            "COMMENT ON TABLE t IS 'role'",
            "DO $$ BEGIN ALTER TABLE a ADD CONSTRAINT f FOREIGN KEY (b) REFERENCES b(id); EXCEPTION WHEN duplicate_object THEN null; END $$",
            "CREATE POLICY p ON t TO app USING (true)",
        ] {
            assert_eq!(reason(sql), None, "{sql}");
        }
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
    fn statements_that_wait_without_blocking_the_app_are_named() {
        let named = |sql: &str| waits_without_blocking(&split_statements(sql)[0].words);
        assert_eq!(named("CREATE INDEX CONCURRENTLY t_x ON t (x)"), Some("CREATE INDEX CONCURRENTLY"));
        assert_eq!(
            named("create unique index concurrently if not exists k on t (x)"),
            Some("CREATE INDEX CONCURRENTLY")
        );
        assert_eq!(named("DROP INDEX CONCURRENTLY IF EXISTS t_x"), Some("DROP INDEX CONCURRENTLY"));
        assert_eq!(named("REINDEX INDEX CONCURRENTLY t_x"), Some("REINDEX CONCURRENTLY"));
        assert_eq!(
            named("ALTER TABLE \"session\" VALIDATE CONSTRAINT \"session_user_id_fk\""),
            Some("VALIDATE CONSTRAINT")
        );
        assert_eq!(named("ALTER TABLE IF EXISTS ONLY public.t VALIDATE CONSTRAINT c"), Some("VALIDATE CONSTRAINT"));
        for blocking in [
            "CREATE INDEX t_x ON t (x)",
            "DROP INDEX t_x",
            "REINDEX INDEX t_x",
            "ALTER TABLE t VALIDATE CONSTRAINT c, ALTER COLUMN x SET NOT NULL",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (x > 0) NOT VALID",
            "ALTER TABLE t DROP CONSTRAINT c",
            // Quoted names are not words: the action after a quoted constraint takes ACCESS EXCLUSIVE.
            "ALTER TABLE \"t\" VALIDATE CONSTRAINT \"c\", DROP \"y\"",
            "ALTER TABLE \"t\" VALIDATE CONSTRAINT \"c\", ADD \"z\" \"int4\"",
            "ALTER TABLE ONLY \"t\" VALIDATE CONSTRAINT \"c\", INHERIT \"r\"",
            // CONCURRENTLY off (SHARE on the table), or a value the words do not show (`0`, `'false'`).
            "REINDEX (CONCURRENTLY false) TABLE t",
            "REINDEX (CONCURRENTLY 0) TABLE t",
            "REINDEX (CONCURRENTLY 'off', VERBOSE) INDEX t_x",
            // Not CONCURRENTLY's place: a function of that name in the index's expression.
            "CREATE INDEX t_x ON t (concurrently(x))",
            // Its second transaction takes ACCESS EXCLUSIVE on the partition, queued behind
            // every reader of it; FINALIZE the same.
            "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
            "ALTER TABLE p DETACH PARTITION p1 FINALIZE",
        ] {
            assert_eq!(named(blocking), None, "{blocking}");
        }
        assert_eq!(named("REINDEX TABLE CONCURRENTLY t"), Some("REINDEX CONCURRENTLY"));
        assert_eq!(named("REINDEX (VERBOSE) INDEX CONCURRENTLY public.t_x"), Some("REINDEX CONCURRENTLY"));
        assert_eq!(named("REINDEX (CONCURRENTLY true) TABLE t"), Some("REINDEX CONCURRENTLY"));
        assert_eq!(named("REINDEX (CONCURRENTLY ON, VERBOSE) TABLE t"), Some("REINDEX CONCURRENTLY"));
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
    fn drizzle_kits_guarded_statement_is_read_and_nothing_else_is() {
        let idiom = "DO $$ BEGIN\n ALTER TABLE \"note\" ADD CONSTRAINT \"note_user_fk\" FOREIGN KEY (\"user_id\") REFERENCES \"public\".\"user\"(\"id\") ON DELETE cascade ON UPDATE no action;\nEXCEPTION\n WHEN duplicate_object THEN null;\nEND $$;";
        let range = drizzle_guarded_statement(idiom).expect("the idiom");
        assert_eq!(
            &idiom[range],
            "ALTER TABLE \"note\" ADD CONSTRAINT \"note_user_fk\" FOREIGN KEY (\"user_id\") REFERENCES \"public\".\"user\"(\"id\") ON DELETE cascade ON UPDATE no action"
        );
        let enum_idiom = "do $body$ begin create type \"public\".\"role\" as enum('a', 'b'); exception when duplicate_object then null; end $body$";
        assert_eq!(
            &enum_idiom[drizzle_guarded_statement(enum_idiom).unwrap()],
            "create type \"public\".\"role\" as enum('a', 'b')"
        );
        for other in [
            // Another handler, a second statement, a condition, a language: not the idiom.
            "DO $$ BEGIN ALTER TABLE t DROP COLUMN c; EXCEPTION WHEN others THEN null; END $$;",
            "DO $$ BEGIN ALTER TABLE t ADD c int; DROP TABLE u; EXCEPTION WHEN duplicate_object THEN null; END $$;",
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1) THEN ALTER TABLE t ADD c int; END IF; EXCEPTION WHEN duplicate_object THEN null; END $$;",
            "DO LANGUAGE plpgsql $$ BEGIN ALTER TABLE t ADD c int; EXCEPTION WHEN duplicate_object THEN null; END $$;",
            "DO $$ BEGIN ALTER TABLE t ADD c int; EXCEPTION WHEN duplicate_object THEN null; END $$; DROP TABLE t",
            "DO $$ BEGIN ALTER TABLE t ADD c int; EXCEPTION WHEN duplicate_object THEN DROP TABLE t; END $$;",
            "DO $$ BEGIN EXCEPTION WHEN duplicate_object THEN null; END $$;",
            "DO $$ DECLARE x int; BEGIN ALTER TABLE t ADD c int; EXCEPTION WHEN duplicate_object THEN null; END $$;",
        ] {
            assert_eq!(drizzle_guarded_statement(other), None, "{other}");
        }
    }

    #[test]
    fn recognises_transaction_control_but_not_plpgsql_blocks() {
        use TransactionControl::{Begin, Commit, Undo};
        let control = [
            ("BEGIN", Begin),
            ("begin transaction", Begin),
            ("START TRANSACTION", Begin),
            ("COMMIT", Commit),
            ("END", Commit),
            ("commit and chain", Commit),
            ("ROLLBACK", Undo("ROLLBACK")),
            ("abort", Undo("ABORT")),
            ("PREPARE TRANSACTION 'x'", Undo("PREPARE TRANSACTION")),
            ("COMMIT PREPARED 'x'", Undo("COMMIT PREPARED")),
            ("rollback prepared 'x'", Undo("ROLLBACK PREPARED")),
        ];
        for (sql, expected) in control {
            assert_eq!(transaction_control(&split_statements(sql)[0].words), Some(expected), "{sql}");
        }
        for sql in ["DO $$ BEGIN PERFORM 1; END $$", "CREATE TABLE t (x int)", "SELECT 'COMMIT'"] {
            assert_eq!(transaction_control(&split_statements(sql)[0].words), None, "{sql}");
        }
    }

    #[test]
    fn begin_atomic_opens_a_body_only_in_a_routine_outside_parentheses() {
        // A column `begin` of type `atomic` in a table with a column `function`.
        let chunk = "CREATE TABLE \"t9\" (function int, begin atomic); ROLLBACK; SELECT 1;";
        assert_eq!(first_words(chunk), ["CREATE TABLE", "ROLLBACK", "SELECT"]);
        let chunk = "CREATE OR REPLACE PROCEDURE p() BEGIN ATOMIC SELECT 1; END; SELECT 2;";
        assert_eq!(first_words(chunk), ["CREATE OR", "SELECT"]);
    }

    #[test]
    fn labels_named_end_or_case_do_not_close_or_open_an_atomic_body() {
        let chunk = "CREATE FUNCTION f() RETURNS int BEGIN ATOMIC SELECT 1 AS end; SELECT t.case FROM t; END;\n\
                     CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT 2 AS case; END;\n\
                     CREATE INDEX CONCURRENTLY i ON t (x);";
        let statements = split_statements(chunk);
        assert_eq!(first_words(chunk), ["CREATE FUNCTION", "CREATE FUNCTION", "CREATE INDEX"]);
        assert!(statements.iter().all(|statement| transaction_control(&statement.words).is_none()));
        assert_eq!(non_transactional_reason(&statements[2].words), Some("CREATE INDEX CONCURRENTLY"));
    }

    #[test]
    fn backslash_escapes_follow_standard_conforming_strings() {
        let mut lexer = Lexer::default();
        let first = "SET standard_conforming_strings = off;\nINSERT INTO t VALUES ('it\\'s; fine');\nSELECT 2;";
        assert_eq!(lexer.split(first).len(), 3);
        // The setting carries to the next chunk of the file, and can be turned back.
        assert_eq!(
            lexer
                .split(
                    "INSERT INTO t VALUES ('a\\'; b'); SET standard_conforming_strings TO 'on'; SELECT 'c\\'; SELECT 3"
                )
                .len(),
            4
        );
        assert_eq!(split_statements("INSERT INTO t VALUES ('a\\'); SELECT 2").len(), 2, "on by default");
    }

    #[test]
    fn savepoints_are_harmless_and_copy_through_the_client_is_caught() {
        for sql in ["SAVEPOINT a", "ROLLBACK TO SAVEPOINT a", "rollback to a", "RELEASE SAVEPOINT a"] {
            assert_eq!(transaction_control(&split_statements(sql)[0].words), None, "{sql}");
        }
        let cases = [
            ("COPY t FROM STDIN", Some("COPY ... FROM STDIN")),
            ("copy t (a, b) from stdin with (format csv)", Some("COPY ... FROM STDIN")),
            ("COPY (SELECT 1) TO STDOUT", Some("COPY ... TO STDOUT")),
            ("COPY t FROM '/srv/data.csv'", None),
            ("COPY t TO PROGRAM 'gzip > /tmp/x'", None),
            ("SELECT 'COPY t FROM STDIN'", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(talks_to_client(&split_statements(sql)[0].words), expected, "{sql}");
        }
    }

    #[test]
    fn statements_that_need_their_own_transaction_or_none() {
        let own = [
            ("ALTER TYPE mood ADD VALUE 'meh'", Some("ALTER TYPE ... ADD VALUE")),
            ("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh' BEFORE 'ok'", Some("ALTER TYPE ... ADD VALUE")),
            ("ALTER TYPE mood RENAME VALUE 'a' TO 'b'", None),
            ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", Some("SET TRANSACTION")),
            ("SET lock_timeout = '1s'", None),
        ];
        for (sql, expected) in own {
            assert_eq!(own_transaction_reason(&split_statements(sql)[0].words), expected, "{sql}");
        }
        let none = [
            ("CLUSTER", Some("CLUSTER without a table")),
            ("CLUSTER VERBOSE", Some("CLUSTER without a table")),
            ("CLUSTER t USING t_pkey", None),
            ("DISCARD ALL", Some("DISCARD ALL")),
            ("DISCARD PLANS", None),
        ];
        for (sql, expected) in none {
            assert_eq!(non_transactional_reason(&split_statements(sql)[0].words), expected, "{sql}");
        }
    }

    #[test]
    fn the_index_a_concurrent_build_makes_is_named_as_pg_class_has_it() {
        let cases = [
            ("CREATE INDEX CONCURRENTLY IF NOT EXISTS Profile_Role_Idx ON profile (role)", Some("profile_role_idx")),
            ("create unique index concurrently \"Mixed Case\" on t (x)", Some("Mixed Case")),
            ("CREATE INDEX CONCURRENTLY public.t_x ON t (x)", Some("t_x")),
            ("CREATE INDEX CONCURRENTLY \"my.schema\".\"a.b\" ON t (x)", Some("a.b")),
            ("CREATE INDEX CONCURRENTLY ON t (x)", None),
            ("CREATE INDEX t_x ON t (x)", None),
            ("DROP INDEX CONCURRENTLY t_x", None),
        ];
        for (sql, expected) in cases {
            assert_eq!(built_index_name(sql).as_deref(), expected, "{sql}");
        }
    }

    #[test]
    fn the_table_an_index_build_is_on() {
        for (sql, expected) in [
            ("CREATE INDEX CONCURRENTLY t_x ON t (x)", Some("t")),
            ("create unique index concurrently if not exists k on only public.\"T\"(x)", Some("public.\"T\"")),
            ("CREATE INDEX CONCURRENTLY \"i on\" ON \"s\".\"a (b\" USING btree (x)", Some("\"s\".\"a (b\"")),
            ("CREATE INDEX t_x ON t (x)", None),
            ("CREATE INDEX CONCURRENTLY ON t (x)", None),
        ] {
            assert_eq!(built_index_table(sql).as_deref(), expected, "{sql}");
        }
    }

    #[test]
    fn positional_parameters_are_not_dollar_quotes() {
        let chunk = "PREPARE q AS SELECT $1; SELECT 2";
        assert_eq!(first_words(chunk), ["PREPARE Q", "SELECT"]);
    }
}
