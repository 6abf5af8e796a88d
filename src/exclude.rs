//! Exclusions for reverse views, matched exactly as gocryptfs 2.3 does:
//! each `-exclude` path (anchored at the root) and `-exclude-wildcard`
//! pattern becomes a regular expression by the rules of the
//! sabhiram/go-gitignore version gocryptfs vendors (54b8a0bf510f). Those
//! rules are not git's: `?` is literal, regex metacharacters pass through,
//! `foo/` hides what is inside `foo` but not `foo`. Reproducing them, quirks
//! included, is what makes an export equal the mount.

use regex::bytes::Regex;

/// One compiled line.
struct Rule {
    regex: Regex,
    negate: bool,
}

/// A set of exclusion rules.
#[derive(Default)]
pub struct Excluder {
    rules: Vec<Rule>,
}

/// The regular expression go-gitignore makes of one line (`None` for
/// comments, blank lines, and lines whose expression does not compile,
/// which go-gitignore drops silently).
fn translate(line: &str) -> Option<(String, bool)> {
    let mut line = line.trim_end_matches('\r').to_string();
    if line.starts_with('#') {
        return None;
    }
    line = line.trim_matches(' ').to_string();
    if line.is_empty() {
        return None;
    }
    let mut negate = false;
    if let Some(rest) = line.strip_prefix('!') {
        negate = true;
        line = rest.to_string();
    }
    if line.starts_with('#') || line.starts_with('!') {
        line.remove(0);
    }
    let folder_glob = Regex::new(r"([^/+])/.*\*\.").expect("constant regex");
    if folder_glob.is_match(line.as_bytes()) && !line.starts_with('/') {
        line.insert(0, '/');
    }
    line = line.replace('.', r"\.");
    const MAGIC_STAR: &str = "#$~";
    if line.starts_with("/**/") {
        line.remove(0);
    }
    line = line.replace("/**/", "(/|/.+/)");
    line = line.replace("**/", &format!("(|.{MAGIC_STAR}/)"));
    line = line.replace("/**", &format!("(|/.{MAGIC_STAR})"));
    line = line.replace(r"\*", &format!(r"\{MAGIC_STAR}"));
    line = line.replace('*', "([^/]*)");
    line = line.replace('?', r"\?");
    line = line.replace(MAGIC_STAR, "*");
    let mut expr = if line.ends_with('/') {
        format!("{line}(|.*)$")
    } else {
        format!("{line}(|/.*)$")
    };
    expr = match expr.strip_prefix('/') {
        Some(rest) => format!("^(|/){rest}"),
        None => format!("^(|.*/){expr}"),
    };
    Some((expr, negate))
}

impl Excluder {
    /// `exact` as gocryptfs `-exclude` (each prefixed with `/`), `wildcard`
    /// as `-exclude-wildcard` (used as is).
    pub fn new(exact: &[String], wildcard: &[String]) -> Excluder {
        let lines = exact
            .iter()
            .map(|p| format!("/{p}"))
            .chain(wildcard.iter().cloned());
        let rules = lines
            .filter_map(|l| translate(&l))
            .filter_map(|(expr, negate)| {
                // Bytes, not characters: Go matches paths as byte strings.
                Regex::new(&format!("(?-u){expr}"))
                    .or_else(|_| Regex::new(&expr))
                    .ok()
                    .map(|regex| Rule { regex, negate })
            })
            .collect();
        Excluder { rules }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether the plaintext path (relative, `/`-separated, no leading
    /// slash) is hidden from the view.
    pub fn excludes(&self, path: &[u8]) -> bool {
        let mut matched = false;
        for rule in &self.rules {
            if rule.regex.is_match(path) {
                if !rule.negate {
                    matched = true;
                } else if matched {
                    matched = false;
                }
            }
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(exact: &[&str], wild: &[&str]) -> Excluder {
        Excluder::new(
            &exact.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            &wild.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )
    }

    #[test]
    fn quirks_of_go_gitignore_as_gocryptfs_uses_it() {
        // Each case was compared with a live gocryptfs -reverse mount.
        let e = ex(&[], &["a?c"]);
        assert!(!e.excludes(b"abc"), "? is literal");
        assert!(e.excludes(b"a?c"));
        assert!(
            ex(&[], &["[!a]bc"]).excludes(b"abc"),
            "brackets are a regex class"
        );
        assert!(
            ex(&[], &["a/b"]).excludes(b"x/a/b"),
            "unanchored with a slash too"
        );
        let dir = ex(&[], &["foo/"]);
        assert!(
            !dir.excludes(b"foo") && dir.excludes(b"foo/bar"),
            "foo/ hides the contents, not foo"
        );
        assert!(ex(&[], &["foo/**"]).excludes(b"foo"));
        assert!(
            !ex(&[], &["my file (1).txt"]).excludes(b"my file (1).txt"),
            "parentheses make a group"
        );
        assert!(
            !ex(&["/abc"], &[]).excludes(b"abc"),
            "-exclude /abc becomes //abc"
        );
        assert!(ex(&["abc"], &[]).excludes(b"abc") && !ex(&["abc"], &[]).excludes(b"x/abc"));
        assert!(ex(&[], &[" abc"]).excludes(b"abc"), "spaces are trimmed");
        assert!(ex(&[], &[".*"]).excludes(b".gocryptfs.reverse.conf"));
        assert!(ex(&[], &["*.sh"]).excludes(b"d/run.sh"));
        let neg = ex(&[], &["*.log", "!keep.log"]);
        assert!(neg.excludes(b"a.log") && !neg.excludes(b"keep.log"));
        assert!(ex(&[], &["#comment", ""]).is_empty());
    }
}
