//! Differential test of the migration statement splitter
//! (`praxia_deploy::migration_folder::sql::split_statements`) against a real
//! PostgreSQL grammar: Squawk's parser (`squawk-syntax`, a dev-dependency), whose
//! lexer follows PostgreSQL's `scan.l` and whose top-level syntax nodes are the
//! statements of the chunk.
//!
//! Every case is split both ways and the byte ranges are compared, so the next
//! lexer false positive (a `;` taken for a statement end when it is not, or the
//! other way round) is found here. Only cases Squawk parses without errors are
//! compared: for the hand-written corpus that is asserted, for the generated
//! cases nearly all must qualify.
//!
//! Where Squawk (not PostgreSQL) is wrong, the case lives in `SQUAWK_IS_WRONG`
//! with the split PostgreSQL makes, checked against our splitter alone.

use std::fmt::Write as _;
use std::ops::Range;

use praxia_deploy::migration_folder::sql::split_statements;
use squawk_syntax::ast::{AstNode, Stmt};
use squawk_syntax::{SourceFile, SyntaxKind};

/// A byte range of the chunk.
type Span = Range<usize>;

/// Squawk's reading of a chunk: its top-level statements, and the top-level
/// whitespace and comments between them.
struct SquawkSplit {
    statements: Vec<Span>,
    trivia: Vec<Span>,
}

/// Squawk's split of `sql`, or why it cannot serve as the reference.
fn squawk_split(sql: &str) -> Result<SquawkSplit, String> {
    let parse = SourceFile::parse(sql);
    let errors = parse.errors();
    if !errors.is_empty() {
        let errors: Vec<String> =
            errors.iter().map(|error| format!("{:?} {}", error.range(), error.message())).collect();
        return Err(errors.join("; "));
    }
    let mut split = SquawkSplit { statements: Vec::new(), trivia: Vec::new() };
    for child in parse.tree().syntax().children_with_tokens() {
        let range = child.text_range();
        let span = usize::from(range.start())..usize::from(range.end());
        match child.kind() {
            SyntaxKind::WHITESPACE | SyntaxKind::COMMENT => split.trivia.push(span),
            // A lone `;`: our splitter leaves out statements without words.
            SyntaxKind::EMPTY_STMT => {}
            kind if child.as_node().is_some() && Stmt::can_cast(kind) => split.statements.push(span),
            kind => return Err(format!("unexpected top-level {kind:?} at {span:?}")),
        }
    }
    Ok(split)
}

/// Our split of `sql`, as byte ranges.
fn our_split(sql: &str) -> Vec<Span> {
    split_statements(sql).into_iter().map(|statement| statement.start..statement.end).collect()
}

/// Brings both sides' ranges to the same shape before comparing them:
/// - leading and trailing top-level whitespace and comments (as Squawk's tree
///   has them, the same list for both sides) are dropped: our last statement
///   without a `;` runs to the end of the chunk, trailing comments included,
///   while Squawk's node ends at its last token;
/// - then the terminating `;`, which both sides include, and any whitespace
///   before it (a comment before the `;` is inside both sides' ranges and stays).
///
/// The whitespace and comments dropped are only those Squawk puts between
/// statements, so a range that ends inside a string or comment still differs.
fn normalise(sql: &str, span: &Span, trivia: &[Span]) -> Span {
    let (mut start, mut end) = (span.start, span.end);
    loop {
        if let Some(token) = trivia.iter().find(|token| token.start == start && token.end <= end) {
            start = token.end;
        } else if let Some(token) = trivia.iter().find(|token| token.end == end && token.start >= start) {
            end = token.start;
        } else {
            break;
        }
    }
    if sql[start..end].ends_with(';') {
        end -= 1;
    }
    start..start + sql[start..end].trim_end().len()
}

fn describe(sql: &str, spans: &[Span]) -> String {
    let mut out = String::new();
    for span in spans {
        let _ = writeln!(out, "    {span:?} {:?}", &sql[span.clone()]);
    }
    if spans.is_empty() {
        out.push_str("    (no statements)\n");
    }
    out
}

enum Outcome {
    /// Squawk rejects the chunk: nothing to compare with.
    Unparsed(String),
    Same,
    /// The two splits, normalised, as a printable report.
    Different(String),
}

fn compare(sql: &str) -> Outcome {
    let squawk = match squawk_split(sql) {
        Ok(split) => split,
        Err(errors) => return Outcome::Unparsed(errors),
    };
    let ours: Vec<Span> = our_split(sql).iter().map(|span| normalise(sql, span, &squawk.trivia)).collect();
    let theirs: Vec<Span> = squawk.statements.iter().map(|span| normalise(sql, span, &squawk.trivia)).collect();
    if ours == theirs {
        return Outcome::Same;
    }
    Outcome::Different(format!(
        "SQL: {sql:?}\n  ours ({} statements):\n{}  squawk ({} statements):\n{}",
        ours.len(),
        describe(sql, &ours),
        theirs.len(),
        describe(sql, &theirs)
    ))
}

/// Hand-written chunks; every one must parse cleanly in Squawk and split alike.
const CORPUS: &[&str] = &[
    // --- DDL as drizzle-kit writes it ---
    r#"CREATE TABLE IF NOT EXISTS "user" (
	"id" text PRIMARY KEY NOT NULL,
	"email" text NOT NULL,
	"email_verified" boolean DEFAULT false NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "user_email_unique" UNIQUE("email")
);
"#,
    r#"CREATE TABLE "session" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"token" text NOT NULL,
	CONSTRAINT "session_token_unique" UNIQUE("token")
);
--> statement-breakpoint
ALTER TABLE "session" ADD CONSTRAINT "session_user_id_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "session_user_id_idx" ON "session" USING btree ("user_id");"#,
    r#"CREATE TYPE "public"."role" AS ENUM('coach', 'client', 'admin');--> statement-breakpoint
CREATE TABLE "profile" ("id" serial PRIMARY KEY NOT NULL, "role" "role" DEFAULT 'client' NOT NULL);"#,
    r#"DO $$ BEGIN
 ALTER TABLE "session" ADD CONSTRAINT "session_user_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."user"("id") ON DELETE cascade ON UPDATE no action;
EXCEPTION
 WHEN duplicate_object THEN null;
END $$;
"#,
    r#"ALTER TABLE "profile" ALTER COLUMN "bio" SET DATA TYPE text;--> statement-breakpoint
ALTER TABLE "profile" ADD COLUMN "settings" jsonb DEFAULT '{"theme": "dark;light"}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "profile" DROP CONSTRAINT "profile_user_fk";"#,
    r#"CREATE TABLE "counter" (
	"id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "counter_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
	"label" text CHECK ("label" <> ';'),
	"kind" text GENERATED ALWAYS AS (CASE WHEN "label" IS NULL THEN 'none' ELSE 'some' END) STORED
);"#,
    r#"CREATE UNIQUE INDEX "user_email_lower_idx" ON "user" USING btree (lower("email")) WHERE "email" <> '';
DROP TABLE IF EXISTS "old;table" CASCADE;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";"#,
    "COMMENT ON COLUMN \"user\".\"email\" IS 'lower-cased; unique';\nGRANT SELECT ON \"user\" TO praxia_ro;",
    // --- strings ---
    "INSERT INTO t (a) VALUES ('a;b'), (';'), ('--'), ('/*');\nSELECT 2;",
    "SELECT 'it''s; fine', '''', ''''';'; SELECT 'x'",
    "SELECT E'it\\'s; fine'; SELECT 2;",
    "SELECT e'\\\\'; SELECT E'\\\\\\';'; SELECT 3",
    "SELECT E'a''b;\\n'; SELECT 'C:\\'; SELECT 2",
    "SELECT E'it''s \\'; still'; SELECT 2",
    // A word ending in E right before a quote is no E'' prefix.
    "SELECT time'12:00', 'a\\_b' LIKE 'a\\_b' ESCAPE'\\'; SELECT 2",
    "SELECT N'national;', B'1010', X'1F'; SELECT 1",
    "SELECT 'a'\n'b;'; SELECT 2",
    "SELECT '$$'; SELECT '$tag$;'; SELECT 3",
    "SELECT U&'d\\0061t\\+000061;' AS x; SELECT 2",
    "SELECT U&'!0061;' UESCAPE '!'; SELECT U&'\\0441\\043B\\043E\\043D'",
    "SELECT 1 AS U&\"d\\0061t;\"; SELECT 2",
    // --- quoted identifiers ---
    "CREATE TABLE \"a;--b\" (\"c/*;\" int, \"it's\" text);\nSELECT 1;",
    "SELECT \"a\"\"b;\" FROM \"x\"\"--\"; SELECT 2",
    "SELECT \"$$\" FROM t; SELECT '\"'; SELECT 3",
    // --- dollar quotes ---
    "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.x := ';'; RETURN NEW; END; $$;\nSELECT 1;",
    "CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $body$ BEGIN RETURN 1; END; $body$;\nSELECT 2",
    "CREATE FUNCTION h() RETURNS text LANGUAGE plpgsql AS $outer$ BEGIN RETURN $inner$ ; $$ ; $inner$; END $outer$; SELECT 3",
    "SELECT $_1$ ; $_1$, $a$ $A$ ; $a$; SELECT $$a$$",
    "CREATE FUNCTION s(int) RETURNS int LANGUAGE sql AS $$ SELECT $1; $$; SELECT 1 AS a$b; SELECT $$;$$",
    "CREATE FUNCTION q() RETURNS int LANGUAGE sql AS 'select 1; select 2'; SELECT 3",
    "SELECT 1,$$;$$; SELECT $é$ ; $é$",
    // --- comments ---
    "/* a /* b ; */ c ; */ SELECT 1; /* ; */ SELECT 2 /* ; */;",
    "SELECT 1 /* ; /* ; */ ; */ + 2; SELECT /**/ 3; SELECT /*/ ; */ 4",
    "SELECT 1; -- a ; b\rSELECT 2; -- c\r\nSELECT 3",
    "-- leading; comment\r\nSELECT 1;\r\n-- trailing; comment",
    "SELECT 2--1;\n; SELECT 3 */* ; */ 2; SELECT 4 - -1",
    "-- only a comment; here\n/* and ; another */\n",
    "",
    "  \n\t ",
    // --- BEGIN ATOMIC bodies ---
    "CREATE FUNCTION g(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN 1 ELSE 0 END; SELECT 2; END;\nSELECT 3;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS end; SELECT t.case FROM t; END;\nCREATE FUNCTION g() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 2 AS case; END;\nCREATE INDEX CONCURRENTLY i ON t (x);",
    "CREATE FUNCTION n(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN a > 0 THEN CASE a WHEN 1 THEN 1 ELSE 2 END ELSE 0 END AS x FROM \"t;\"; END; SELECT 1",
    "CREATE FUNCTION q(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS \"end\" FROM t; SELECT 2;; END; SELECT 3",
    "CREATE FUNCTION t_end() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT t.end FROM t WHERE t . case > 0; END; SELECT 1",
    "create or replace function lo(a int) returns int language sql begin atomic select case when a > 0 then 1 end as end; end; select 1",
    "CREATE PROCEDURE p(a int) LANGUAGE sql BEGIN ATOMIC INSERT INTO t VALUES (a, ';'); UPDATE t SET x = CASE WHEN x > 0 THEN x END; END; CALL p(1);",
    "CREATE FUNCTION e() RETURNS void LANGUAGE sql BEGIN ATOMIC END; SELECT 1",
    "CREATE FUNCTION r(a int) RETURNS int LANGUAGE sql BEGIN ATOMIC RETURN CASE WHEN a > 0 THEN a END; END; SELECT 2",
    "CREATE FUNCTION inc(a int) RETURNS int LANGUAGE sql RETURN a + 1; SELECT inc(1)",
    "CREATE FUNCTION c() RETURNS int LANGUAGE sql BEGIN /* ; */ ATOMIC SELECT 'END;'; SELECT \"end\" FROM t; -- END;\nEND; SELECT 3",
    "CREATE TABLE k (begin int, atomic int, \"end\" int); SELECT 1 AS begin, 2 AS atomic",
    // --- rules, DO blocks ---
    "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (1); NOTIFY t);\nSELECT 2;",
    "CREATE RULE u AS ON UPDATE TO t DO INSTEAD (UPDATE a SET x = ';'; DELETE FROM b; SELECT 1); CREATE RULE d AS ON DELETE TO t DO INSTEAD NOTHING; CREATE RULE n AS ON INSERT TO t DO ALSO NOTIFY t;",
    "DO $$ BEGIN PERFORM 1; END $$; DO LANGUAGE plpgsql $x$ BEGIN RAISE NOTICE ';'; END $x$;",
    "DO $body$ DECLARE s text := 'a;b'; BEGIN IF s = $$;$$ THEN RETURN; END IF; END $body$;\nSELECT 1",
    // --- COPY, transactions, savepoints ---
    "COPY t (a, b) FROM '/tmp/x;y.csv' WITH (FORMAT csv, DELIMITER ';'); COPY (SELECT ';') TO STDOUT; COPY t FROM STDIN WITH (FORMAT csv);",
    "SAVEPOINT s1; RELEASE SAVEPOINT s1; SAVEPOINT \"s;2\"; ROLLBACK TO SAVEPOINT \"s;2\"; ROLLBACK TO s1",
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET LOCAL lock_timeout = '5s'; SET search_path = \"my;schema\", public;",
    "BEGIN; SELECT 1; COMMIT; START TRANSACTION; ROLLBACK; END",
    "ALTER TYPE \"role\" ADD VALUE IF NOT EXISTS 'admin;x' BEFORE 'coach'; ALTER TYPE mood ADD VALUE 'meh'",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS \"i;x\" ON \"t\" USING btree (\"x\"); CREATE UNIQUE INDEX CONCURRENTLY u ON t (lower(y));",
    "DROP INDEX CONCURRENTLY IF EXISTS i; REINDEX INDEX CONCURRENTLY i; VACUUM (ANALYZE) t",
    // --- positional parameters ---
    "PREPARE q(int, text) AS SELECT $1, $2 WHERE $1 > 0; EXECUTE q(1, 'a;b'); DEALLOCATE q;",
    "PREPARE ins AS INSERT INTO t VALUES ($1, $2);EXECUTE ins(1,'$$');SELECT 1",
    // --- unicode ---
    "CREATE TABLE \"café\" (naïve text, 名前 text DEFAULT '名;前'); SELECT 'ü;' AS größe",
    "SELECT 1 AS ñ; SELECT 'emoji 😀;' AS \"😀;\"; SELECT 3",
    // --- statement boundaries ---
    "SELECT 1; SELECT 2; SELECT 3",
    "SELECT 1\n;\nSELECT 2\n-- no semicolon at the end",
    ";;",
    "; ; ;SELECT 1;; ;SELECT 2;;",
    "SELECT 1;;SELECT 2",
    "WITH x AS (SELECT ';' AS y) SELECT * FROM x; (SELECT 1) UNION (SELECT 2);",
    "UPDATE t SET a = 1 WHERE b = ';' RETURNING *; DELETE FROM t WHERE c IN (SELECT ';'); TRUNCATE t",
    "CREATE VIEW v AS SELECT CASE WHEN a THEN 'x;' END AS end FROM t; SELECT 2",
    "CREATE TRIGGER tr BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f(); SELECT 0x1F, 1_000, 1e3, .5, 1.5",
    "CREATE TRIGGER tn AFTER INSERT ON t REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION f(); SELECT 1",
    "CREATE OR REPLACE FUNCTION tf() RETURNS TABLE (a int, b text) LANGUAGE sql STABLE BEGIN ATOMIC SELECT 1, ';'; END; SELECT 2",
    "CREATE FUNCTION d(a int DEFAULT 1) RETURNS int LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT a; $$; SELECT 1",
    "SELECT CASE WHEN true THEN 1. ELSE 2. END; SELECT 3",
    "SELECT x FROM t WHERE y ~ E'\\\\d;' AND z LIKE 'a\\_b' ESCAPE '\\'; SELECT 2",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET x = ';' WHEN NOT MATCHED THEN INSERT VALUES (s.id); SELECT 1",
    "CREATE RULE m AS ON INSERT TO t DO ALSO (NOTIFY a; NOTIFY b;); DO 'BEGIN PERFORM 1; END'; COMMENT ON FUNCTION f(int) IS $$a;b$$",
    "CREATE POLICY p ON t USING (owner = current_user); ALTER TABLE t ENABLE ROW LEVEL SECURITY",
    "SELECT '{\"a\":1}'::jsonb->>'a', ARRAY[1,2], 1 OPERATOR(pg_catalog.+) 2; SELECT @-1; SELECT date'2020-01-01'",
    // Vertical tab and form feed between statements. (Our splitter starts the
    // second statement at the \v, which the normalisation hides: harmless.)
    "SELECT 1;\x0bSELECT 2;\x0cSELECT 3",
    // Found by this test (the splitter once got them wrong): a label is decided by
    // the token just before it, a number is one token, and only CREATE FUNCTION or
    // PROCEDURE opens an atomic body.
    "CREATE FUNCTION f(x int) RETURNS numeric LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x > 0 THEN 1. ELSE 0. END; END; SELECT 1;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT t./* c */end FROM t; END; SELECT 1;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS \"one\"; END; SELECT 2; CREATE INDEX CONCURRENTLY i ON t (x);",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1 AS \"x\", CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 3;",
    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CAST(1 AS \"numeric\"), CASE WHEN true THEN 1 END; SELECT 2; END; SELECT 3;",
    "SELECT begin atomic FROM t; SELECT 2;",
];

/// Chunks PostgreSQL splits where Squawk is wrong (or rejects them), with the
/// number of statements PostgreSQL sees; checked against our splitter alone.
const SQUAWK_IS_WRONG: &[(&str, usize, &str)] = &[(
    "SET standard_conforming_strings = off; INSERT INTO t VALUES ('it\\'s; fine'); SELECT 2",
    3,
    "Squawk lexes strings as the default `standard_conforming_strings = on` has them; the setting makes \\' an \
     escaped quote (our Lexer follows it, across chunks too)",
)];

#[test]
fn the_corpus_splits_as_squawk_does() {
    assert!(CORPUS.len() >= 60, "the corpus shrank to {} cases", CORPUS.len());
    let mut failures = Vec::new();
    for sql in CORPUS {
        match compare(sql) {
            Outcome::Same => {}
            Outcome::Different(report) => failures.push(report),
            Outcome::Unparsed(errors) => failures.push(format!(
                "SQL: {sql:?}\n  squawk rejects it ({errors}); fix the case, or move it to SQUAWK_IS_WRONG if \
                 PostgreSQL accepts it"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases disagree:\n\n{}",
        failures.len(),
        CORPUS.len(),
        failures.join("\n")
    );
}

#[test]
fn where_squawk_is_wrong_we_split_as_postgresql_does() {
    for (sql, count, why) in SQUAWK_IS_WRONG {
        assert_eq!(our_split(sql).len(), *count, "{sql:?}: {why}");
        assert!(!matches!(compare(sql), Outcome::Same), "squawk now splits {sql:?} right; move it to CORPUS");
    }
}

/// A seeded xorshift64: the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// String constants (PostgreSQL's Sconst: usable where the grammar wants a string).
const STRINGS: &[&str] = &[
    "'a;b'",
    "'it''s; ok'",
    "''",
    "'-- ;'",
    "'/* ; */'",
    "'$$;'",
    "'\"'",
    "'C:\\'",
    "E'it\\'s; --'",
    "e'\\\\'",
    "E'\\\\\\';'",
    "E'a''b;'",
    "E'a''\\';'",
    "U&'d\\0061t;a'",
    "$$;$$",
    "$$'$$",
    "$q$ ; $$ ; $q$",
    "$_x1$;--$_x1$",
];

/// Other constants.
const OTHER_VALUES: &[&str] =
    &["1", "42", "1.5", ".5", "1.", "1e3", "1.5e-3", "0x1F", "1_000", "B'101'", "X'1F'", "N'n;'", "NULL"];

const IDENTIFIERS: &[&str] = &[
    "t",
    "_x1",
    "a$b",
    "\"a;b\"",
    "\"x--y\"",
    "\"q\"\"q;\"",
    "\"/*\"",
    "\"end\"",
    "\"case\"",
    "\"$$\"",
    "\"'\"",
    "ünï",
    "名前",
    "U&\"d\\0061t\"",
    "\"Mixed Case\"",
];

/// What may stand between two tokens.
const GAPS: &[&str] = &[
    " ",
    "  ",
    "\n\t",
    " /* ; */ ",
    " /* a /* ; */ b */ ",
    " -- ; ' \" $$\n",
    " -- x;\r",
    " -- y;\r\n",
    " /*'*/ ",
    " /*\"*/ ",
    " /*$$*/ ",
    "/**/",
];

/// Statement templates: `{s}` a string constant, `{v}` any constant, `{i}` an
/// identifier, `~` a gap. Each may be lower-cased before filling.
const TEMPLATES: &[&str] = &[
    "SELECT~{v}~AS~{i}",
    "SELECT~{v},~{s}~FROM~{i}~WHERE~{i}~=~{v}",
    "INSERT INTO~{i}~({i},~{i})~VALUES~({v},~{s})",
    "CREATE TABLE IF NOT EXISTS~{i}~({i}~text DEFAULT~{s}~NOT NULL,~{i}~integer)",
    "ALTER TABLE~{i}~ADD CONSTRAINT~{i}~FOREIGN KEY~({i})~REFERENCES~{i}({i})~ON DELETE cascade ON UPDATE no action",
    "CREATE INDEX IF NOT EXISTS~{i}~ON~{i}~USING btree~({i})",
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS~{i}~ON~{i}~({i})",
    "COMMENT ON TABLE~{i}~IS~{s}",
    "UPDATE~{i}~SET~{i}~=~{v}~WHERE~{i}~=~{s}",
    "CREATE FUNCTION~{i}(x int)~RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT CASE WHEN x >~{v}~THEN~{v}~ELSE~{v}~END AS end~FROM~{i};~SELECT~{v}~AS case;~END",
    "CREATE FUNCTION~{i}()~RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT~{v}~AS~{i},~CASE WHEN true THEN~{v}~END;~SELECT~{i}.end~FROM~{i};~END",
    "CREATE PROCEDURE~{i}()~LANGUAGE sql BEGIN ATOMIC INSERT INTO~{i}~VALUES~({v});~UPDATE~{i}~SET x = CASE WHEN x > 0 THEN~{s}~END;~END",
    "CREATE FUNCTION~{i}()~RETURNS trigger LANGUAGE plpgsql AS $fn$ BEGIN RAISE NOTICE '%',~{s};~RETURN NEW; END $fn$",
    "DO $do$ BEGIN PERFORM~{v};~END $do$",
    "CREATE RULE~{i}~AS ON INSERT TO~{i}~DO ALSO~(INSERT INTO~{i}~VALUES~({v});~NOTIFY~{i})",
    "SAVEPOINT~{i}",
    "ROLLBACK TO SAVEPOINT~{i}",
    "PREPARE~{i}~(int)~AS SELECT $1 +~{v}",
    "ALTER TYPE~{i}~ADD VALUE IF NOT EXISTS~{s}",
    "SET search_path TO~{i},~public",
    "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
    "COPY~{i}~({i})~FROM~{s}~WITH (FORMAT csv)",
    "CREATE VIEW~{i}~AS SELECT CASE WHEN~{v}~=~{v}~THEN~{s}~END AS end",
];

/// What may end a statement (the last one may also end without `;`).
const SEPARATORS: &[&str] =
    &[";", ";\n", "; ", ";;\n", ";\r\n-- x;\r\n", "; /* ; */\n", ";\n--> statement-breakpoint\n"];

fn fill(rng: &mut Rng, template: &str) -> String {
    let template = if rng.below(3) == 0 { template.to_lowercase() } else { template.to_owned() };
    let mut out = String::new();
    let mut rest = template.as_str();
    while let Some(c) = rest.chars().next() {
        let filler = [("{s}", STRINGS), ("{v}", &[]), ("{i}", IDENTIFIERS), ("~", GAPS)]
            .into_iter()
            .find(|(hole, _)| rest.starts_with(hole));
        match filler {
            Some(("{v}", _)) => {
                let value = if rng.below(2) == 0 { rng.pick(STRINGS) } else { rng.pick(OTHER_VALUES) };
                out.push_str(value);
                rest = &rest[3..];
            }
            Some((hole, items)) => {
                out.push_str(rng.pick(items));
                rest = &rest[hole.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn generate(rng: &mut Rng) -> String {
    let mut sql = String::new();
    if rng.below(4) == 0 {
        sql.push_str(rng.pick(GAPS).trim_start());
    }
    let count = 1 + rng.below(4);
    for n in 0..count {
        let template = rng.pick(TEMPLATES);
        sql.push_str(&fill(rng, template));
        if n + 1 < count || rng.below(2) == 0 {
            sql.push_str(rng.pick(SEPARATORS));
        } else if rng.below(2) == 0 {
            sql.push_str(rng.pick(GAPS));
        }
    }
    sql
}

#[test]
fn generated_chunks_split_as_squawk_does() {
    const CASES: usize = 400;
    let mut rng = Rng(0x5eed_cafe_f00d_d00d);
    let mut failures = Vec::new();
    let mut unparsed = Vec::new();
    for _ in 0..CASES {
        let sql = generate(&mut rng);
        match compare(&sql) {
            Outcome::Same => {}
            Outcome::Different(report) => failures.push(report),
            Outcome::Unparsed(errors) => unparsed.push(format!("{sql:?}: {errors}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {CASES} generated cases disagree:\n\n{}",
        failures.len(),
        failures.iter().take(10).cloned().collect::<Vec<_>>().join("\n")
    );
    // The templates are meant to be valid SQL: if squawk rejects many of them,
    // the comparison above silently tests little.
    assert!(
        unparsed.len() * 20 <= CASES,
        "squawk rejects {} of {CASES} generated cases, e.g.:\n{}",
        unparsed.len(),
        unparsed.iter().take(5).cloned().collect::<Vec<_>>().join("\n")
    );
}
