//! What each statement acts on, read from Squawk's syntax tree: the table it
//! alters, indexes or drops, the index it drops, the table it creates. Pure.

use serde::{Serialize, Serializer};
use squawk_syntax::SourceFile;
use squawk_syntax::ast::{self, AstNode};

/// A table or index as a statement names it. Unqualified names are taken to be
/// in `public`, where drizzle-kit puts them and migrations run.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relation {
    pub schema: String,
    pub name: String,
}

impl Relation {
    fn new(qualifier: Option<String>, name: String) -> Relation {
        Relation { schema: qualifier.unwrap_or_else(|| "public".to_owned()), name }
    }

    /// As `to_regclass` reads it: each part quoted.
    pub fn sql_name(&self) -> String {
        format!("{}.{}", quote(&self.schema), quote(&self.name))
    }
}

impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.schema == "public" { f.write_str(&self.name) } else { write!(f, "{}.{}", self.schema, self.name) }
    }
}

impl Serialize for Relation {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// What a statement works on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Target {
    Table(Relation),
    /// An index: its table is looked up in the database.
    Index(Relation),
}

impl Target {
    pub fn relation(&self) -> &Relation {
        match self {
            Target::Table(relation) | Target::Index(relation) => relation,
        }
    }
}

/// One statement of the file as Squawk parsed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFacts {
    /// Byte range in the file.
    pub start: usize,
    pub end: usize,
    pub target: Option<Target>,
    /// The table it creates.
    pub creates: Option<Relation>,
}

/// The facts of every statement, in file order.
pub fn facts(file: &SourceFile) -> Vec<StatementFacts> {
    file.stmts()
        .map(|statement| {
            let range = statement.syntax().text_range();
            let (target, creates) = match &statement {
                ast::Stmt::AlterTable(alter) => {
                    (alter.table_relation_name().and_then(table_ref).map(Target::Table), None)
                }
                ast::Stmt::CreateIndex(create) => {
                    (create.table_relation_name().and_then(table_ref).map(Target::Table), None)
                }
                ast::Stmt::DropTable(drop) => (
                    drop.table_name_refs().next().and_then(|table| table.path_ref()).map(path_ref).map(Target::Table),
                    None,
                ),
                ast::Stmt::DropIndex(drop) => {
                    (drop.index_refs().next().and_then(|index| index.path_ref()).map(path_ref).map(Target::Index), None)
                }
                ast::Stmt::CreateTable(create) => {
                    let created = create.table_name().and_then(|table| table.path()).and_then(path);
                    (created.clone().map(Target::Table), created)
                }
                _ => (None, None),
            };
            StatementFacts { start: range.start().into(), end: range.end().into(), target, creates }
        })
        .collect()
}

fn table_ref(relation: ast::TableRelationName) -> Option<Relation> {
    relation.table_name_ref()?.path_ref().map(path_ref)
}

fn path_ref(path: ast::PathRef) -> Relation {
    let name = path.segment().map(|segment| segment.text()).unwrap_or_default();
    let qualifier = path.qualifier().and_then(|qualifier| qualifier.segment()).map(|segment| segment.text());
    Relation::new(qualifier, name)
}

fn path(path: ast::Path) -> Option<Relation> {
    let name = path.segment()?.text();
    let qualifier = path.qualifier().and_then(|qualifier| qualifier.segment()).map(|segment| segment.text());
    Some(Relation::new(qualifier, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(sql: &str) -> Vec<(Option<Target>, Option<Relation>)> {
        facts(&SourceFile::parse(sql).tree()).into_iter().map(|facts| (facts.target, facts.creates)).collect()
    }

    fn table(schema: &str, name: &str) -> Relation {
        Relation { schema: schema.to_owned(), name: name.to_owned() }
    }

    #[test]
    fn each_statement_names_what_it_works_on_as_postgresql_would() {
        let found = targets(
            "ALTER TABLE \"note\" ADD COLUMN \"status\" text NOT NULL;\n\
             CREATE INDEX IF NOT EXISTS \"note_body_idx\" ON \"public\".\"Note\" USING btree (\"body\");\n\
             alter table Ops.Jobs drop column x;\n\
             DROP INDEX \"note_body_idx\";\n\
             DROP TABLE IF EXISTS old, older;\n\
             CREATE TABLE \"fresh\" (id int);\n\
             ALTER TYPE \"public\".\"role\" ADD VALUE 'coach';\n",
        );
        assert_eq!(
            found,
            vec![
                (Some(Target::Table(table("public", "note"))), None),
                (Some(Target::Table(table("public", "Note"))), None),
                (Some(Target::Table(table("ops", "jobs"))), None),
                (Some(Target::Index(table("public", "note_body_idx"))), None),
                (Some(Target::Table(table("public", "old"))), None),
                (Some(Target::Table(table("public", "fresh"))), Some(table("public", "fresh"))),
                (None, None),
            ]
        );
    }

    #[test]
    fn names_are_quoted_for_the_catalog() {
        assert_eq!(table("public", "we\"ird").sql_name(), "\"public\".\"we\"\"ird\"");
        assert_eq!(table("public", "note").to_string(), "note");
        assert_eq!(table("ops", "jobs").to_string(), "ops.jobs");
    }
}
