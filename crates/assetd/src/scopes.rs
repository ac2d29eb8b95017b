//! OAuth-style scopes a token can carry: the two of the Assets API, and assetd's own
//! `assets:import`, which lets a token choose the id of a new asset or folder (so `assetd
//! import` keeps the ids that CMS items store). Choosing ids is kept out of `assets:write` so a
//! token handed to a web page or a script cannot squat ids; only an operator grants it.

use std::fmt;
use std::str::FromStr;

/// One scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Read assets and folders (the GET routes).
    AssetsRead,
    /// Create, update and delete assets and folders.
    AssetsWrite,
    /// Choose the id of a new asset or folder (the `id` field of the two create bodies).
    AssetsImport,
}

impl Scope {
    /// The wire name, e.g. `assets:write`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AssetsRead => "assets:read",
            Self::AssetsWrite => "assets:write",
            Self::AssetsImport => "assets:import",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::AssetsRead => 1,
            Self::AssetsWrite => 2,
            Self::AssetsImport => 4,
        }
    }

    /// Every scope, in the order they are printed.
    const EVERY: [Self; 3] = [Self::AssetsRead, Self::AssetsWrite, Self::AssetsImport];
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Scopes(u8);

impl Scopes {
    /// The scopes of the Webflow API (what a first-run or ephemeral token gets; `assets:import`
    /// is granted only on purpose).
    pub const ALL: Self = Self(Scope::AssetsRead.bit() | Scope::AssetsWrite.bit());

    /// Whether `scope` is in the set.
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The set with `scope` added.
    pub fn with(self, scope: Scope) -> Self {
        Self(self.0 | scope.bit())
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// A scope name assetd does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope {0:?} (known: assets:read, assets:write, assets:import)")]
pub struct UnknownScope(pub String);

impl FromStr for Scopes {
    type Err = UnknownScope;

    /// Parses a comma- or space-separated list such as `assets:read,assets:write`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split([',', ' '])
            .filter(|part| !part.is_empty())
            .try_fold(Self::default(), |set, part| match part {
                "assets:read" => Ok(set.with(Scope::AssetsRead)),
                "assets:write" => Ok(set.with(Scope::AssetsWrite)),
                "assets:import" => Ok(set.with(Scope::AssetsImport)),
                other => Err(UnknownScope(other.to_owned())),
            })
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Scope::EVERY
            .into_iter()
            .filter(|s| self.contains(*s))
            .map(Scope::as_str)
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_scope_lists() {
        let both: Scopes = "assets:read,assets:write".parse().expect("valid");
        assert_eq!(both, Scopes::ALL);
        assert_eq!(both.to_string(), "assets:read,assets:write");
        let read: Scopes = "assets:read".parse().expect("valid");
        assert!(read.contains(Scope::AssetsRead) && !read.contains(Scope::AssetsWrite));
        assert!("assets:read,sites:write".parse::<Scopes>().is_err());
        assert!("".parse::<Scopes>().expect("empty list").is_empty());
        let import: Scopes = "assets:write assets:import".parse().expect("valid");
        assert!(import.contains(Scope::AssetsImport) && !Scopes::ALL.contains(Scope::AssetsImport));
        assert_eq!(import.to_string(), "assets:write,assets:import");
    }
}
