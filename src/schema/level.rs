//! Confluent's compatibility levels over a history of schema versions.
//!
//! BACKWARD: the candidate (new) schema reads data written with the previous one (reader =
//! candidate, writer = previous). FORWARD: the previous schema reads data written with the
//! candidate. FULL: both. Non-transitive levels compare with the latest previous version only,
//! `*_TRANSITIVE` with every previous version. NONE checks nothing.

use std::fmt;
use std::str::FromStr;

use apache_avro::Schema;

use super::{check, Incompatibility};

/// Confluent's compatibility levels, spelled as Confluent spells them (`FULL_TRANSITIVE`), also in
/// JSON (the registry's config and state files).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Level {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

/// A level name that is not one of Confluent's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown compatibility level {given:?}: expected one of NONE, BACKWARD, BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE")]
pub struct LevelParseError {
    pub given: String,
}

impl Level {
    pub const ALL: [Level; 7] = [
        Level::None,
        Level::Backward,
        Level::BackwardTransitive,
        Level::Forward,
        Level::ForwardTransitive,
        Level::Full,
        Level::FullTransitive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::None => "NONE",
            Level::Backward => "BACKWARD",
            Level::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Level::Forward => "FORWARD",
            Level::ForwardTransitive => "FORWARD_TRANSITIVE",
            Level::Full => "FULL",
            Level::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    /// Checked against every previous version (else the latest only).
    pub fn is_transitive(self) -> bool {
        matches!(
            self,
            Level::BackwardTransitive | Level::ForwardTransitive | Level::FullTransitive
        )
    }

    /// The candidate must read data written with previous versions.
    pub fn checks_backward(self) -> bool {
        matches!(
            self,
            Level::Backward | Level::BackwardTransitive | Level::Full | Level::FullTransitive
        )
    }

    /// Previous versions must read data written with the candidate.
    pub fn checks_forward(self) -> bool {
        matches!(
            self,
            Level::Forward | Level::ForwardTransitive | Level::Full | Level::FullTransitive
        )
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = LevelParseError;

    /// Case-insensitive, like Confluent's registry; `-` is accepted for `_`.
    fn from_str(text: &str) -> Result<Level, LevelParseError> {
        let wanted = text.trim().replace('-', "_");
        Level::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(&wanted))
            .ok_or_else(|| LevelParseError {
                given: text.to_string(),
            })
    }
}

/// Which way a check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// BACKWARD: the candidate (reader) reads data written with the previous version (writer).
    CandidateReadsPrevious,
    /// FORWARD: the previous version (reader) reads data written with the candidate (writer).
    PreviousReadsCandidate,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::CandidateReadsPrevious => "the candidate cannot read data written with it",
            Direction::PreviousReadsCandidate => "it cannot read data written with the candidate",
        })
    }
}

/// One incompatibility between the candidate and one previous version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelIncompatibility {
    /// Index of the previous version in the history given, oldest first (0 = oldest).
    pub previous: usize,
    pub direction: Direction,
    /// Its `location` points into the reader: the candidate for
    /// [`Direction::CandidateReadsPrevious`], the previous version otherwise.
    pub incompatibility: Incompatibility,
}

impl fmt::Display for LevelIncompatibility {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reader = match self.direction {
            Direction::CandidateReadsPrevious => "in the candidate",
            Direction::PreviousReadsCandidate => "in the previous version",
        };
        write!(
            f,
            "previous version #{} ({}): {} at {} {reader}: {}",
            self.previous + 1,
            self.direction,
            self.incompatibility.kind,
            self.incompatibility.location,
            self.incompatibility.message
        )
    }
}

/// Checks `candidate` against `previous_oldest_first` under `level`, as Confluent's registry does
/// when registering a new version. Problems are grouped by previous version, newest first;
/// within a version the backward problems come before the forward ones. Empty: compatible.
pub fn check_level(
    level: Level,
    candidate: &Schema,
    previous_oldest_first: &[Schema],
) -> Vec<LevelIncompatibility> {
    if level == Level::None || previous_oldest_first.is_empty() {
        return Vec::new();
    }
    let first = if level.is_transitive() {
        0
    } else {
        previous_oldest_first.len() - 1
    };
    let mut found = Vec::new();
    for index in (first..previous_oldest_first.len()).rev() {
        let previous = &previous_oldest_first[index];
        if level.checks_backward() {
            found.extend(
                check(candidate, previous)
                    .into_iter()
                    .map(|incompatibility| LevelIncompatibility {
                        previous: index,
                        direction: Direction::CandidateReadsPrevious,
                        incompatibility,
                    }),
            );
        }
        if level.checks_forward() {
            found.extend(
                check(previous, candidate)
                    .into_iter()
                    .map(|incompatibility| LevelIncompatibility {
                        previous: index,
                        direction: Direction::PreviousReadsCandidate,
                        incompatibility,
                    }),
            );
        }
    }
    found
}
