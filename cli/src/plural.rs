//! Counting things in sentences: "1 member", "2 members", "1 person", "3 people".

/// `n` and the noun in the right number: `count(1, "member", "members")` is "1 member".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", noun(n, one, many))
}

/// The noun alone in the right number.
pub fn noun<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(0, "member", "members"), "0 members");
        assert_eq!(count(1, "member", "members"), "1 member");
        assert_eq!(count(2, "person", "people"), "2 people");
    }
}
