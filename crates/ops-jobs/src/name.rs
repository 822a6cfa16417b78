//! Job names: what is a file name, the same one on every filesystem.

use std::fmt;

use crate::JobError;

/// The longest job name, in bytes.
pub const MAX_NAME: usize = 64;

/// A job's name, valid as the start of its file names: 1 to [`MAX_NAME`] lowercase ASCII
/// letters, digits, `-` and `_`, the first a letter or digit.
///
/// Every file of a job is its name followed by a suffix that starts with a dot (`backup.json`,
/// `backup.run-7.lock`), and a name holds no dot, so two names never share a file. Uppercase is
/// refused because a case-insensitive filesystem (macOS's default) would give `Backup` and
/// `backup` one file; anything else (a path separator, `..`, a control character, a space, a
/// non-ASCII letter that a filesystem may normalise) because it could not map to one file the
/// same way everywhere.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobName(String);

impl JobName {
    /// `name`, if it is a valid job name; else [`JobError::Name`] saying why.
    pub fn new(name: &str) -> Result<Self, JobError> {
        let refuse = |why: &str| JobError::Name {
            name: ops_state::printable(&name.chars().take(MAX_NAME + 16).collect::<String>()).into_owned(),
            why: why.to_owned(),
        };
        if name.is_empty() {
            return Err(refuse("it is empty"));
        }
        if name.len() > MAX_NAME {
            return Err(refuse(&format!("it is longer than {MAX_NAME} bytes")));
        }
        if let Some(c) =
            name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
        {
            let what = match c {
                '/' | '\\' => "a path separator".to_owned(),
                '.' => "a dot".to_owned(),
                c if c.is_ascii_uppercase() => format!("the uppercase letter {c:?} (use lowercase)"),
                c if c.is_control() => "a control character".to_owned(),
                ' ' => "a space".to_owned(),
                c => format!("{:?}", ops_state::printable(&c.to_string())),
            };
            return Err(refuse(&format!("it holds {what}")));
        }
        if name.starts_with(['-', '_']) {
            return Err(refuse("it must start with a letter or digit"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for JobName {
    type Err = JobError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_file_names_the_same_everywhere() {
        for good in ["backup", "db-dump_2", "0", "a".repeat(MAX_NAME).as_str()] {
            assert_eq!(JobName::new(good).unwrap().as_str(), good);
        }
        let why = |name: &str| JobName::new(name).unwrap_err().to_string();
        assert_eq!(why(""), "invalid job name \"\": it is empty");
        assert!(why(&"a".repeat(MAX_NAME + 1)).ends_with("it is longer than 64 bytes"));
        assert!(why("a/b").ends_with("it holds a path separator"), "{}", why("a/b"));
        assert!(why("..").ends_with("it holds a dot"));
        assert!(why("Backup").contains("uppercase letter 'B'"));
        assert!(why("-x").ends_with("must start with a letter or digit"));
        assert!(why("a b").ends_with("it holds a space"));
        // A control character is never shown raw: it could forge a line or drive a terminal.
        let e = why("evil\u{1b}[2J\nname");
        assert!(e.contains("evil\\x1b[2J\\nname") && e.ends_with("a control character"), "{e}");
        assert!(why("caf\u{e9}").contains("\u{e9}"));
        // Every character outside the set, in any position, is refused.
        for c in (0u32..0x250).filter_map(char::from_u32) {
            let ok = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
            assert_eq!(JobName::new(&format!("a{c}")).is_ok(), ok, "{c:?}");
        }
    }
}
