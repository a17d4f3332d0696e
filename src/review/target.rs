//! What each statement acts on, read from Squawk's syntax tree: the tables it
//! alters, indexes or drops, the indexes it drops, the table it creates or
//! renames, and the columns, constraints, indexes and types it makes or removes.
//! Pure.

use serde::{Serialize, Serializer};
use squawk_syntax::SourceFile;
use squawk_syntax::ast::{self, AstNode};

/// A table or index as a statement names it. Unqualified names stay
/// unqualified: the database resolves them through its search_path, as the
/// migration itself will.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Relation {
    pub schema: Option<String>,
    pub name: String,
}

impl Relation {
    /// As `to_regclass` reads it: each part quoted.
    pub fn sql_name(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{}.{}", quote(schema), quote(&self.name)),
            None => quote(&self.name),
        }
    }

    fn in_schema(&self, schema: String) -> Relation {
        Relation { schema: Some(schema), name: self.name.clone() }
    }

    fn renamed(&self, name: String) -> Relation {
        Relation { schema: self.schema.clone(), name }
    }
}

/// `public` goes without saying, as drizzle-kit writes it.
impl std::fmt::Display for Relation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.schema.as_deref() {
            Some(schema) if schema != "public" => write!(f, "{schema}.{}", self.name),
            _ => f.write_str(&self.name),
        }
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
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StatementFacts {
    /// Byte range in the file.
    pub start: usize,
    pub end: usize,
    pub targets: Vec<Target>,
    /// The table it creates: a new, permanent one (not `IF NOT EXISTS`, which
    /// may find the live table there, nor a temporary one).
    pub creates: Option<Relation>,
    /// A table it renames or moves to another schema: (from, to).
    pub renames: Option<(Relation, Relation)>,
    /// The tables it drops.
    pub drops: Vec<Relation>,
    /// It creates a schema (which may come first in the search_path: `"$user"`).
    pub creates_schema: bool,
    /// The table an index is built on without CONCURRENTLY (its writes wait).
    pub locks_for_index: Option<Relation>,
    /// What it makes for sure (not `IF NOT EXISTS`, which may find one there).
    pub makes: Vec<Part>,
    /// What it drops or renames away, and nothing else: empty for a `CASCADE`,
    /// which reaches whatever depends on it.
    pub removes: Vec<Part>,
    /// The constraints it adds `NOT VALID`, and those it validates.
    pub adds_not_valid: Vec<Part>,
    pub validates: Vec<Part>,
}

/// A part of a table, or a type, that a statement makes or removes. (Not an
/// index: an unqualified index name resolves through the search_path, while
/// the index is made in its table's schema.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Part {
    Column(Relation, String),
    Constraint(Relation, String),
    Type(Relation),
}

impl Relation {
    /// In `schema` when unqualified: where PostgreSQL puts and finds it when
    /// `schema` is the session's `current_schema()` and no schema is made ahead of it.
    pub fn qualified(&self, schema: &str) -> Relation {
        Relation { schema: Some(self.schema.clone().unwrap_or_else(|| schema.to_owned())), name: self.name.clone() }
    }
}

impl Part {
    pub fn qualified(&self, schema: &str) -> Part {
        match self {
            Part::Column(table, column) => Part::Column(table.qualified(schema), column.clone()),
            Part::Constraint(table, name) => Part::Constraint(table.qualified(schema), name.clone()),
            Part::Type(name) => Part::Type(name.qualified(schema)),
        }
    }
}

impl StatementFacts {
    pub fn qualified(&self, schema: &str) -> StatementFacts {
        StatementFacts {
            creates: self.creates.as_ref().map(|table| table.qualified(schema)),
            renames: self.renames.as_ref().map(|(from, to)| (from.qualified(schema), to.qualified(schema))),
            drops: self.drops.iter().map(|table| table.qualified(schema)).collect(),
            makes: self.makes.iter().map(|part| part.qualified(schema)).collect(),
            removes: self.removes.iter().map(|part| part.qualified(schema)).collect(),
            adds_not_valid: self.adds_not_valid.iter().map(|part| part.qualified(schema)).collect(),
            validates: self.validates.iter().map(|part| part.qualified(schema)).collect(),
            ..self.clone()
        }
    }
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Column(table, column) => write!(f, "column {table}.{column}"),
            Part::Constraint(table, name) => write!(f, "constraint {name} of {table}"),
            Part::Type(name) => write!(f, "type {name}"),
        }
    }
}

/// The facts of every statement, in file order.
pub fn facts(file: &SourceFile) -> Vec<StatementFacts> {
    file.stmts()
        .map(|statement| {
            let range = statement.syntax().text_range();
            let mut facts =
                StatementFacts { start: range.start().into(), end: range.end().into(), ..StatementFacts::default() };
            match &statement {
                ast::Stmt::AlterTable(alter) => {
                    let table = alter.table_relation_name().and_then(table_ref);
                    if let Some(table) = &table {
                        for action in alter.actions() {
                            parts_of_action(table, &action, &mut facts);
                        }
                        facts.renames = alter.actions().find_map(|action| match action {
                            ast::AlterTableAction::TableRenameTo(rename) => rename
                                .table_name()
                                .and_then(|name| name.path())
                                .and_then(|path| path.segment())
                                .map(|segment| (table.clone(), table.renamed(segment.text()))),
                            ast::AlterTableAction::SetSchema(set) => set.schema_ref().map(|schema| {
                                (table.clone(), table.in_schema(identifier(&schema.syntax().text().to_string())))
                            }),
                            _ => None,
                        });
                    }
                    facts.targets.extend(table.map(Target::Table));
                }
                ast::Stmt::CreateIndex(create) => {
                    let table = create.table_relation_name().and_then(table_ref);
                    if create.concurrently_token().is_none() {
                        facts.locks_for_index = table.clone();
                    }
                    facts.targets.extend(table.map(Target::Table));
                }
                ast::Stmt::CreateSchema(_) => facts.creates_schema = true,
                ast::Stmt::Truncate(truncate) => {
                    let names = truncate.table_list().into_iter().flat_map(|list| list.table_relation_names());
                    facts.targets.extend(names.filter_map(table_ref).map(Target::Table));
                }
                ast::Stmt::Lock(lock) => {
                    let names = lock.relation_list().into_iter().flat_map(|list| list.relation_names());
                    facts.targets.extend(names.filter_map(relation_ref).map(Target::Table));
                }
                ast::Stmt::Update(update) => {
                    facts.targets.extend(update.relation_name().and_then(relation_ref).map(Target::Table));
                }
                ast::Stmt::Delete(delete) => {
                    facts.targets.extend(delete.relation_name().and_then(relation_ref).map(Target::Table));
                }
                ast::Stmt::Cluster(cluster) => {
                    let name = cluster.table_name_ref().and_then(|table| table.path_ref()).map(path_ref);
                    facts.targets.extend(name.map(Target::Table));
                }
                ast::Stmt::Vacuum(vacuum) => {
                    let names = vacuum.table_and_columns_list().into_iter().flat_map(|list| list.table_and_columnss());
                    facts.targets.extend(
                        names.filter_map(|table| table.table_relation_name()).filter_map(table_ref).map(Target::Table),
                    );
                }
                ast::Stmt::Refresh(refresh) => {
                    let name = refresh.view_ref().and_then(|view| view.path_ref()).map(path_ref);
                    facts.targets.extend(name.map(Target::Table));
                }
                ast::Stmt::CreateType(create) => {
                    facts.makes.extend(create.type_name().and_then(|name| name.path()).and_then(path).map(Part::Type));
                }
                ast::Stmt::DropType(drop) => {
                    let names = drop.type_name_refs().filter_map(|name| name.path_ref()).map(path_ref);
                    facts.removes.extend(names.map(Part::Type));
                }
                ast::Stmt::DropTable(drop) => {
                    let names: Vec<Relation> =
                        drop.table_name_refs().filter_map(|table| table.path_ref()).map(path_ref).collect();
                    facts.drops.extend(names.iter().cloned());
                    facts.targets.extend(names.into_iter().map(Target::Table));
                }
                ast::Stmt::DropIndex(drop) => {
                    let names = drop.index_refs().filter_map(|index| index.path_ref()).map(path_ref);
                    facts.targets.extend(names.map(Target::Index));
                }
                ast::Stmt::CreateTable(create) => {
                    let created = create.table_name().and_then(|table| table.path()).and_then(path);
                    let temporary = matches!(create.persistence(), Some(ast::Persistence::Temp(_)));
                    if !temporary && create.if_not_exists().is_none() {
                        facts.creates = created.clone();
                    }
                    facts.targets.extend(created.map(Target::Table));
                }
                _ => {}
            }
            if statement.syntax().descendants().any(|node| ast::Cascade::can_cast(node.kind())) {
                facts.removes.clear();
            }
            facts
        })
        .collect()
}

/// The columns and constraints one `ALTER TABLE` action makes or removes.
fn parts_of_action(table: &Relation, action: &ast::AlterTableAction, facts: &mut StatementFacts) {
    let name_of = |node: &squawk_syntax::SyntaxNode| {
        node.descendants().find_map(ast::AnyName::cast).map(|name| ast::NameLike::text(&name))
    };
    match action {
        ast::AlterTableAction::AddColumn(add) if add.if_not_exists().is_none() => {
            if let Some(column) = add.column_name() {
                facts.makes.push(Part::Column(table.clone(), column.text()));
            }
        }
        ast::AlterTableAction::AddConstraint(add) => {
            let named = add.constraint().and_then(|constraint| {
                constraint
                    .syntax()
                    .descendants()
                    .find_map(ast::ConstraintName::cast)
                    .and_then(|name| name_of(name.syntax()))
            });
            if add.constraint().is_some_and(|constraint| constraint.is_not_valid()) {
                facts.adds_not_valid.extend(named.clone().map(|name| Part::Constraint(table.clone(), name)));
            }
            facts.makes.extend(named.map(|name| Part::Constraint(table.clone(), name)));
        }
        ast::AlterTableAction::ValidateConstraint(validate) => {
            if let Some(name) = validate.constraint_name_ref().and_then(|name| name_of(name.syntax())) {
                facts.validates.push(Part::Constraint(table.clone(), name));
            }
        }
        ast::AlterTableAction::DropColumn(drop) => {
            if let Some(column) = drop.column_name_ref().and_then(|name| name_of(name.syntax())) {
                facts.removes.push(Part::Column(table.clone(), column));
            }
        }
        ast::AlterTableAction::DropConstraint(drop) => {
            if let Some(name) = drop.constraint_name_ref().and_then(|name| name_of(name.syntax())) {
                facts.removes.push(Part::Constraint(table.clone(), name));
            }
        }
        ast::AlterTableAction::RenameColumn(rename) => {
            if let Some(column) = rename.column_name_ref().and_then(|name| name_of(name.syntax())) {
                facts.removes.push(Part::Column(table.clone(), column));
            }
        }
        _ => {}
    }
}

fn relation_ref(relation: ast::RelationName) -> Option<Relation> {
    relation.relation_name_ref()?.path_ref().map(path_ref)
}

fn table_ref(relation: ast::TableRelationName) -> Option<Relation> {
    relation.table_name_ref()?.path_ref().map(path_ref)
}

fn path_ref(path: ast::PathRef) -> Relation {
    let name = path.segment().map(|segment| segment.text()).unwrap_or_default();
    let schema = path.qualifier().and_then(|qualifier| qualifier.segment()).map(|segment| segment.text());
    Relation { schema, name }
}

fn path(path: ast::Path) -> Option<Relation> {
    let name = path.segment()?.text();
    let schema = path.qualifier().and_then(|qualifier| qualifier.segment()).map(|segment| segment.text());
    Some(Relation { schema, name })
}

/// An identifier as PostgreSQL folds it: quoted kept (`""` is `"`), else lower-cased.
fn identifier(text: &str) -> String {
    let text = text.trim();
    match text.strip_prefix('"').and_then(|inner| inner.strip_suffix('"')) {
        Some(inner) => inner.replace("\"\"", "\""),
        None => text.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(sql: &str) -> Vec<StatementFacts> {
        facts(&SourceFile::parse(sql).tree())
    }

    fn table(schema: Option<&str>, name: &str) -> Relation {
        Relation { schema: schema.map(str::to_owned), name: name.to_owned() }
    }

    #[test]
    fn each_statement_names_what_it_works_on_as_postgresql_would() {
        let found: Vec<Vec<Target>> = of("ALTER TABLE \"note\" ADD COLUMN \"status\" text NOT NULL;\n\
             CREATE INDEX IF NOT EXISTS \"note_body_idx\" ON \"public\".\"Note\" USING btree (\"body\");\n\
             alter table Ops.Jobs drop column x;\n\
             DROP INDEX \"a_idx\", b_idx;\n\
             DROP TABLE IF EXISTS old, older;\n\
             ALTER TYPE \"public\".\"role\" ADD VALUE 'coach';\n")
        .into_iter()
        .map(|facts| facts.targets)
        .collect();
        assert_eq!(
            found,
            vec![
                vec![Target::Table(table(None, "note"))],
                vec![Target::Table(table(Some("public"), "Note"))],
                vec![Target::Table(table(Some("ops"), "jobs"))],
                vec![Target::Index(table(None, "a_idx")), Target::Index(table(None, "b_idx"))],
                vec![Target::Table(table(None, "old")), Target::Table(table(None, "older"))],
                vec![],
            ]
        );
    }

    #[test]
    fn only_a_new_permanent_table_counts_as_created() {
        let creates: Vec<Option<Relation>> = of("CREATE TABLE \"fresh\" (id int);\n\
             CREATE TABLE IF NOT EXISTS \"note\" (id int);\n\
             CREATE TEMP TABLE \"note\" (id int);\n\
             CREATE UNLOGGED TABLE \"cache\" (id int);\n")
        .into_iter()
        .map(|facts| facts.creates)
        .collect();
        assert_eq!(creates, vec![Some(table(None, "fresh")), None, None, Some(table(None, "cache"))]);
    }

    #[test]
    fn renames_and_schema_moves_are_followed() {
        let renames: Vec<Option<(Relation, Relation)>> =
            of("ALTER TABLE \"note\" RENAME TO \"note_old\";\nALTER TABLE ops.jobs SET SCHEMA \"Archive\";\n")
                .into_iter()
                .map(|facts| facts.renames)
                .collect();
        assert_eq!(
            renames,
            vec![
                Some((table(None, "note"), table(None, "note_old"))),
                Some((table(Some("ops"), "jobs"), table(Some("Archive"), "jobs"))),
            ]
        );
    }

    #[test]
    fn columns_constraints_and_types_made_and_removed_are_named_as_postgresql_folds_them() {
        let found: Vec<(Vec<Part>, Vec<Part>)> =
            of("ALTER TABLE \"note\" ADD COLUMN \"Extra\" text, ADD CONSTRAINT note_x CHECK (true);\n\
             ALTER TABLE note ADD COLUMN IF NOT EXISTS maybe int;\n\
             CREATE TYPE \"public\".\"role\" AS ENUM ('a');\n\
             ALTER TABLE note DROP COLUMN \"Extra\", DROP CONSTRAINT IF EXISTS NOTE_X;\n\
             ALTER TABLE note RENAME COLUMN body TO text;\n\
             DROP TYPE \"public\".\"role\";\n\
             DROP TYPE \"public\".\"role\" CASCADE;\n")
            .into_iter()
            .map(|facts| (facts.makes, facts.removes))
            .collect();
        let note = || table(None, "note");
        assert_eq!(
            found,
            vec![
                (vec![Part::Column(note(), "Extra".into()), Part::Constraint(note(), "note_x".into())], vec![]),
                (vec![], vec![]),
                (vec![Part::Type(table(Some("public"), "role"))], vec![]),
                (vec![], vec![Part::Column(note(), "Extra".into()), Part::Constraint(note(), "note_x".into())]),
                (vec![], vec![Part::Column(note(), "body".into())]),
                (vec![], vec![Part::Type(table(Some("public"), "role"))]),
                // CASCADE reaches what depends on it: nothing is only removed.
                (vec![], vec![]),
            ]
        );
    }

    #[test]
    fn constraints_added_not_valid_and_validated_are_named() {
        let found: Vec<(Vec<Part>, Vec<Part>)> =
            of("ALTER TABLE note ADD CONSTRAINT \"Pos\" CHECK (x > 0) NOT VALID, \
             ADD CONSTRAINT other CHECK (x < 9);\n\
             ALTER TABLE ops.note VALIDATE CONSTRAINT \"Pos\";\n")
            .into_iter()
            .map(|facts| (facts.adds_not_valid, facts.validates))
            .collect();
        assert_eq!(
            found,
            vec![
                (vec![Part::Constraint(table(None, "note"), "Pos".into())], vec![]),
                (vec![], vec![Part::Constraint(table(Some("ops"), "note"), "Pos".into())]),
            ]
        );
    }

    #[test]
    fn names_are_quoted_for_the_catalog() {
        assert_eq!(table(Some("public"), "we\"ird").sql_name(), "\"public\".\"we\"\"ird\"");
        assert_eq!(table(None, "note").sql_name(), "\"note\"");
        assert_eq!(table(Some("ops"), "jobs").to_string(), "ops.jobs");
    }
}
