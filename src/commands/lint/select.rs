//! Which migrations `lint` reviews: the ones named, the ones a branch changes,
//! all of them; less the history up to `[review] baseline`. Pure.

use crate::error::{Error, Result};
use crate::migration_folder::{Migration, MigrationFolder};

/// Where `tag` is in the folder: a whole tag or folder name, or the part before
/// its first `_` (`0002`, `20250101093000`); an ambiguous prefix is refused.
pub fn position(folder: &MigrationFolder, tag: &str) -> Result<usize> {
    let known = || -> Vec<&str> { folder.migrations.iter().map(|migration| migration.tag.as_str()).collect() };
    let whole: Vec<usize> = (0..folder.migrations.len())
        .filter(|&index| [&folder.migrations[index].tag, &folder.migrations[index].name].contains(&&tag.to_owned()))
        .collect();
    let matches: Vec<usize> = if whole.is_empty() {
        (0..folder.migrations.len())
            .filter(|&index| folder.migrations[index].tag.split_once('_').is_some_and(|(prefix, _)| prefix == tag))
            .collect()
    } else {
        whole
    };
    match matches.as_slice() {
        [] => Err(Error::usage(format!("no migration `{tag}` in {}", folder.dir.display()))
            .note("migrations", crate::error::capped_list(&known()))
            .help("give tags as `status` shows them (0002_add_x, or 20250101093000_add_x), or the part before the first `_` (0002)")),
        [one] => Ok(*one),
        several => {
            let names: Vec<&str> = several.iter().map(|&index| folder.migrations[index].tag.as_str()).collect();
            Err(Error::usage(format!("`{tag}` names {} migrations", several.len()))
                .note("they are", names.join(", "))
                .help("give the whole tag"))
        }
    }
}

/// The migrations `tags` name, in folder order.
pub fn named<'f>(folder: &'f MigrationFolder, tags: &[String]) -> Result<Vec<&'f Migration>> {
    let mut chosen = vec![false; folder.migrations.len()];
    for tag in tags {
        chosen[position(folder, tag)?] = true;
    }
    Ok(folder.migrations.iter().zip(chosen).filter(|(_, chosen)| *chosen).map(|(migration, _)| migration).collect())
}

/// `selected` without the migrations up to and including the baseline (at
/// `baseline` in the folder), and how many were left out.
pub fn after_baseline<'f>(
    folder: &'f MigrationFolder,
    selected: Vec<&'f Migration>,
    baseline: usize,
) -> (Vec<&'f Migration>, usize) {
    let history: Vec<&str> = folder.migrations[..=baseline].iter().map(|migration| migration.tag.as_str()).collect();
    let (skipped, kept): (Vec<&Migration>, Vec<&Migration>) =
        selected.into_iter().partition(|migration| history.contains(&migration.tag.as_str()));
    (kept, skipped.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration_folder::tests::folder;

    #[test]
    fn a_tag_names_its_migration_whole_or_by_the_part_before_its_first_underscore() {
        let folder = folder(&[("0000_init", 1, ""), ("0001_add_profile_bio", 2, ""), ("0002_x", 3, "")]).unwrap();
        let tags = |wanted: &[&str]| -> Vec<String> {
            let wanted: Vec<String> = wanted.iter().map(|tag| (*tag).to_owned()).collect();
            if wanted.is_empty() {
                return folder.migrations.iter().map(|migration| migration.tag.clone()).collect();
            }
            named(&folder, &wanted).unwrap().iter().map(|migration| migration.tag.clone()).collect()
        };
        assert_eq!(tags(&["0001"]), ["0001_add_profile_bio"]);
        assert_eq!(tags(&["0002_x", "0000"]), ["0000_init", "0002_x"]);
        assert_eq!(tags(&[]).len(), 3);
        let unknown = named(&folder, &["0009".to_owned()]).unwrap_err().to_string();
        assert!(unknown.contains("no migration `0009`"), "{unknown}");
    }

    #[test]
    fn the_baseline_leaves_out_history_up_to_and_including_it() {
        let folder = folder(&[("0000_a", 1, ""), ("0001_b", 2, ""), ("0002_c", 3, "")]).unwrap();
        let all: Vec<&Migration> = folder.migrations.iter().collect();
        let (kept, skipped) = after_baseline(&folder, all, position(&folder, "0001").unwrap());
        assert_eq!(kept.iter().map(|m| m.tag.as_str()).collect::<Vec<_>>(), ["0002_c"]);
        assert_eq!(skipped, 2);
    }
}
