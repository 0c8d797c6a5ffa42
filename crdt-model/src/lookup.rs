//! Finding what people type: a member, a skill, a person in a relationship map. Names match
//! whatever their case, accents and spacing ([`text::fold`]: "siobhan" finds "Siobhán"), so
//! people can type what they remember; a unique prefix is enough, and when a key matches
//! several things the caller lists them rather than guessing.

use crate::text;

/// What a key matched.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a, T> {
    One(&'a T),
    None,
    /// Several matched equally well; the caller names them and asks for more.
    Many(Vec<&'a T>),
}

/// Shortest id prefix accepted: shorter ones would match by accident.
pub const MIN_ID_PREFIX: usize = 4;

/// Finds `key` among `items` by exact id, then by a unique id prefix (at least
/// [`MIN_ID_PREFIX`] characters) or exact name, then by name prefix; names compare folded.
pub fn find<'a, T>(
    items: impl IntoIterator<Item = &'a T> + Clone,
    key: &str,
    id: impl Fn(&T) -> &str,
    name: impl Fn(&T) -> &str,
) -> Found<'a, T> {
    let key = key.trim();
    if key.is_empty() {
        return Found::None;
    }
    if let Some(exact) = items.clone().into_iter().find(|i| id(i) == key) {
        return Found::One(exact);
    }
    let folded = text::fold(key);
    let mut found: Vec<&T> = items
        .clone()
        .into_iter()
        .filter(|i| {
            (key.len() >= MIN_ID_PREFIX && id(i).starts_with(key)) || text::fold(name(i)) == folded
        })
        .collect();
    if found.is_empty() {
        // "grace" finds "Grace Hopper" when nobody else's name starts that way.
        found = items
            .into_iter()
            .filter(|i| text::fold(name(i)).starts_with(&folded))
            .collect();
    }
    match found.len() {
        0 => Found::None,
        1 => Found::One(found[0]),
        _ => Found::Many(found),
    }
}

/// The names closest to a key that matched nothing, best first (at most three): names that
/// contain it as a word ("research" -> "User research"), or are spelled almost like it
/// ("Discovry" -> "Discovery").
pub fn did_you_mean<'a>(key: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let folded = text::fold(key);
    if folded.is_empty() {
        return Vec::new();
    }
    let mut scored: Vec<(f64, &str)> = names
        .into_iter()
        .filter_map(|name| {
            let candidate = text::fold(name);
            let contains_word = candidate
                .split(' ')
                .any(|word| word.starts_with(&folded) && folded.len() >= 3);
            let similarity = strsim::jaro_winkler(&folded, &candidate);
            let score = if contains_word { 1.0 } else { similarity };
            (score >= 0.85).then_some((score, name))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(3)
        .map(|(_, n)| n.to_owned())
        .collect()
}

/// "A, B or C" for suggestions, "A, B and C" for lists.
pub fn join_names(names: &[String], last: &str) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., end] => format!("{} {last} {end}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Thing(&'static str, &'static str);

    fn things() -> Vec<Thing> {
        vec![
            Thing("a1b2c3", "Siobhán Murphy"),
            Thing("d4e5f6", "Grace Hopper"),
            Thing("g7h8i9", "Grace Kelly"),
            Thing("j0k1l2", "Zoë"),
        ]
    }

    fn find_name(key: &str) -> Result<&'static str, usize> {
        let items = things();
        match find(&items, key, |t| t.0, |t| t.1) {
            Found::One(t) => Ok(t.1),
            Found::None => Err(0),
            Found::Many(m) => Err(m.len()),
        }
    }

    #[test]
    fn names_match_ignoring_case_accents_and_spacing() {
        assert_eq!(find_name("siobhan"), Ok("Siobhán Murphy"));
        assert_eq!(find_name("SIOBHAN  murphy"), Ok("Siobhán Murphy"));
        assert_eq!(find_name("zoe"), Ok("Zoë"));
        assert_eq!(find_name("a1b2"), Ok("Siobhán Murphy"));
        assert_eq!(find_name("a1b"), Err(0), "too short for an id prefix");
        assert_eq!(find_name("grace"), Err(2), "ambiguous prefix");
        assert_eq!(find_name("grace h"), Ok("Grace Hopper"));
        assert_eq!(find_name("nobody"), Err(0));
        assert_eq!(find_name("  "), Err(0));
    }

    #[test]
    fn suggestions_for_a_near_miss() {
        let names = ["Discovery", "User research", "User focus", "Roadmapping"];
        assert_eq!(did_you_mean("Discovry", names), ["Discovery"]);
        assert_eq!(did_you_mean("research", names), ["User research"]);
        assert_eq!(did_you_mean("roadmaping", names), ["Roadmapping"]);
        assert!(did_you_mean("juggling", names).is_empty());
        assert_eq!(
            join_names(&["A".into(), "B".into(), "C".into()], "or"),
            "A, B or C"
        );
    }
}
