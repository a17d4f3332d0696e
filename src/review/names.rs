//! What a release has made so far, statement by statement: the tables it
//! created (followed through renames, forgotten when dropped) and the columns,
//! constraints and types it made (forgotten when removed). Names are compared
//! as written: an unqualified name and a qualified one never match, so a name
//! that resolves elsewhere through the search_path is never taken for the one
//! made. Pure.

use std::collections::HashMap;

use super::target::{Part, Relation, StatementFacts};

#[derive(Debug, Clone, Default)]
pub struct Names {
    /// Tables created earlier in the release, and by which migration.
    created: HashMap<Relation, String>,
    /// A table's name now -> its name in the database before the release.
    renamed: HashMap<Relation, Relation>,
    /// Parts made earlier in the release, and by which migration.
    made: HashMap<Part, String>,
}

impl Names {
    /// Adds what the statements of migration `tag` that end at or before byte `before` did.
    pub fn apply(&mut self, facts: &[StatementFacts], tag: &str, before: usize) {
        for fact in facts.iter().filter(|fact| fact.end <= before) {
            for table in &fact.drops {
                self.created.remove(table);
            }
            if let Some(table) = &fact.creates {
                self.created.insert(table.clone(), tag.to_owned());
            }
            if let Some((from, to)) = &fact.renames {
                if let Some(by) = self.created.remove(from) {
                    self.created.insert(to.clone(), by);
                }
                let original = self.renamed.remove(from).unwrap_or_else(|| from.clone());
                self.renamed.insert(to.clone(), original);
            }
            for part in &fact.removes {
                self.made.remove(part);
            }
            for part in &fact.makes {
                self.made.insert(part.clone(), tag.to_owned());
            }
        }
    }

    /// The migration that created `table` earlier in the release.
    pub fn created_by(&self, table: &Relation) -> Option<&str> {
        self.created.get(table).map(String::as_str)
    }

    /// The migration that made `part` earlier in the release.
    pub fn made_by(&self, part: &Part) -> Option<&str> {
        self.made.get(part).map(String::as_str)
    }

    /// The name `table` had in the database before the release renamed it.
    pub fn in_database(&self, table: &Relation) -> Relation {
        self.renamed.get(table).cloned().unwrap_or_else(|| table.clone())
    }
}

#[cfg(test)]
mod tests {
    use squawk_syntax::SourceFile;

    use super::*;
    use crate::review::target::facts;

    fn table(name: &str) -> Relation {
        Relation { schema: None, name: name.to_owned() }
    }

    #[test]
    fn a_created_table_is_followed_through_a_rename_and_forgotten_when_dropped() {
        let sql = "CREATE TABLE users (id int);\nALTER TABLE users RENAME TO users_draft;\nCREATE TABLE kept (id int);\nDROP TABLE kept;\n";
        let facts = facts(&SourceFile::parse(sql).tree());
        let mut names = Names::default();
        names.apply(&facts, "0001_x", usize::MAX);
        assert_eq!(names.created_by(&table("users")), None, "renamed away: `users` now means another table");
        assert_eq!(names.created_by(&table("users_draft")), Some("0001_x"));
        assert_eq!(names.created_by(&table("kept")), None);
    }

    #[test]
    fn a_part_removed_is_no_longer_made() {
        let sql = "CREATE TYPE \"public\".\"mood\" AS ENUM ('a');\nDROP TYPE \"public\".\"mood\";\nALTER TABLE note ADD COLUMN extra text;\n";
        let facts = facts(&SourceFile::parse(sql).tree());
        let mut names = Names::default();
        names.apply(&facts, "0001_x", usize::MAX);
        let mood = Part::Type(Relation { schema: Some("public".into()), name: "mood".into() });
        assert_eq!(names.made_by(&mood), None);
        assert_eq!(names.made_by(&Part::Column(table("note"), "extra".into())), Some("0001_x"));
    }
}
