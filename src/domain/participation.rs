//! An SME's participation in a program and its measured outcomes.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::{Lines, ResourceId, Won, check_text};

/// A measured outcome: a named metric with its value before and after.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub metric: String,
    /// `None` when not measured.
    pub baseline: Option<f64>,
    /// `None` when not measured.
    pub achieved: Option<f64>,
    pub unit: String,
    /// What changed, in words, when no figures are published.
    #[serde(default)]
    pub description: String,
}

impl Outcome {
    pub fn parse(
        metric: &str,
        baseline: Option<f64>,
        achieved: Option<f64>,
        unit: &str,
        description: &str,
    ) -> Result<Self, String> {
        let metric = metric.trim();
        let unit = unit.trim();
        let description = description.trim();
        if description.chars().count() > 1000 {
            return Err("description must be at most 1000 characters".to_owned());
        }
        if metric.is_empty() || metric.chars().count() > 200 {
            return Err("metric must be 1 to 200 characters".to_owned());
        }
        if unit.chars().count() > 50 {
            return Err("unit must be at most 50 characters".to_owned());
        }
        check_text(metric, Lines::Single).map_err(|e| format!("metric {e}"))?;
        check_text(unit, Lines::Single).map_err(|e| format!("unit {e}"))?;
        check_text(description, Lines::Multi).map_err(|e| format!("description {e}"))?;
        if [baseline, achieved]
            .into_iter()
            .flatten()
            .any(|v| !v.is_finite())
        {
            return Err("baseline and achieved must be finite numbers".to_owned());
        }
        Ok(Self {
            metric: metric.to_owned(),
            baseline,
            achieved,
            unit: unit.to_owned(),
            description: description.to_owned(),
        })
    }
}

/// A valid participation, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Participation {
    pub sme: ResourceId,
    pub support_amount_krw: Option<Won>,
    pub joined_date: Option<NaiveDate>,
    pub outcomes: Vec<Outcome>,
}

impl Participation {
    /// Most outcomes one participation may carry.
    pub const MAX_OUTCOMES: usize = 100;

    /// Checks how many outcomes a participation carries.
    pub fn check_outcome_count(count: usize) -> Result<(), String> {
        if count > Self::MAX_OUTCOMES {
            return Err(format!(
                "at most {} outcomes, got {count}",
                Self::MAX_OUTCOMES
            ));
        }
        Ok(())
    }
}
