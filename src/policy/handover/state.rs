//! The handover vocabulary: the state label's values, retirement modes and the controller's
//! settings, each with its parse and display forms.

use std::{fmt, str::FromStr};

/// The `<prefix>handover-state` label. Absent on a declared bootstrap Secret means `pending`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum State {
    Pending,
    Copied,
    Consumed,
    Superseded,
}

impl State {
    pub const ALL: [State; 4] = [
        State::Pending,
        State::Copied,
        State::Consumed,
        State::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Copied => "copied",
            Self::Consumed => "consumed",
            Self::Superseded => "superseded",
        }
    }

    /// Parses the label; `None` (no label) is `pending`.
    pub fn parse(label: Option<&str>) -> Result<Self, String> {
        match label {
            None | Some("pending") => Ok(Self::Pending),
            Some("copied") => Ok(Self::Copied),
            Some("consumed") => Ok(Self::Consumed),
            Some("superseded") => Ok(Self::Superseded),
            Some(other) => Err(format!(
                "unknown handover-state {other:?} (pending, copied, consumed, superseded)"
            )),
        }
    }

    /// Vault is the authority: nothing is ever written to Vault again for this Secret.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Consumed | Self::Superseded)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a handed-over bootstrap Secret is retired (RFC §5.4: deleted, rendered inert or ignored).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retire {
    /// Data emptied; the object stays as a tombstone carrying its provenance annotations.
    Inert,
    /// The object is deleted (GitOps may re-create it from Git: then it is found already copied).
    Delete,
    /// Left intact; the webhook keeps every consumer away from it.
    Retain,
}

impl Retire {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inert => "inert",
            Self::Delete => "delete",
            Self::Retain => "retain",
        }
    }
}

impl FromStr for Retire {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "inert" => Ok(Self::Inert),
            "delete" => Ok(Self::Delete),
            "retain" => Ok(Self::Retain),
            other => Err(format!(
                "unknown retire mode {other:?} (inert, delete, retain)"
            )),
        }
    }
}

impl fmt::Display for Retire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The controller's own settings that shape decisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Used when a Secret has no `<prefix>handover-retire` annotation.
    pub default_retire: Retire,
    /// Prefixes a handover target may use beyond the policy's push prefixes.
    pub extra_prefixes: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            default_retire: Retire::Inert,
            extra_prefixes: Vec::new(),
        }
    }
}
