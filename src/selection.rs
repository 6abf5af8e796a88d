//! Which plaintext paths a command works on (`--path P`, repeatable).

use std::path::{Component, Path, PathBuf};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum SelectionError {
    #[error(
        "--path {0:?}: '..' is not allowed; give a path inside the vault, like docs/thesis.pdf"
    )]
    ParentComponent(PathBuf),
    #[error("--path {0:?}: empty path; leave out --path to select the whole vault")]
    Empty(PathBuf),
}

/// How a path relates to the selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// Selected: the path or one of its ancestors was asked for.
    Selected,
    /// A directory on the way to something selected.
    Ancestor,
    /// Not needed.
    No,
}

/// A set of plaintext paths relative to the vault root; empty = everything.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    paths: Vec<PathBuf>,
}

impl Selection {
    pub fn all() -> Selection {
        Selection::default()
    }

    /// Normalises user input: a leading `/` and `.` components are dropped;
    /// `..` is refused.
    pub fn parse(inputs: &[PathBuf]) -> Result<Selection, SelectionError> {
        let mut paths = Vec::with_capacity(inputs.len());
        for input in inputs {
            let mut norm = PathBuf::new();
            for c in input.components() {
                match c {
                    Component::Normal(part) => norm.push(part),
                    Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
                    Component::ParentDir => {
                        return Err(SelectionError::ParentComponent(input.clone()));
                    }
                }
            }
            if norm.as_os_str().is_empty() {
                return Err(SelectionError::Empty(input.clone()));
            }
            paths.push(norm);
        }
        Ok(Selection { paths })
    }

    pub fn is_all(&self) -> bool {
        self.paths.is_empty()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    pub fn wants(&self, path: &Path) -> Want {
        if self.paths.is_empty() || self.paths.iter().any(|p| path.starts_with(p)) {
            Want::Selected
        } else if self.paths.iter().any(|p| p.starts_with(path)) {
            Want::Ancestor
        } else {
            Want::No
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_matches_by_component() {
        let s = Selection::parse(&["/docs//thesis/".into(), "./photos".into()]).unwrap();
        assert_eq!(
            s.paths(),
            [PathBuf::from("docs/thesis"), PathBuf::from("photos")]
        );
        assert_eq!(s.wants(Path::new("docs")), Want::Ancestor);
        assert_eq!(s.wants(Path::new("docs/thesis")), Want::Selected);
        assert_eq!(s.wants(Path::new("docs/thesis/ch1.md")), Want::Selected);
        assert_eq!(s.wants(Path::new("docs/thesis2")), Want::No);
        assert_eq!(s.wants(Path::new("photos/a.jpg")), Want::Selected);
        assert_eq!(s.wants(Path::new("music")), Want::No);
        assert_eq!(Selection::all().wants(Path::new("x")), Want::Selected);
    }

    #[test]
    fn refuses_escapes_and_empty() {
        assert!(matches!(
            Selection::parse(&["a/../../etc".into()]),
            Err(SelectionError::ParentComponent(_))
        ));
        assert!(matches!(
            Selection::parse(&["/".into()]),
            Err(SelectionError::Empty(_))
        ));
    }
}
