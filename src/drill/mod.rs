//! Recovery drills: prove, with evidence, that the backup on a remote can
//! be restored with the password and with only the master key, and say so
//! in a report a person can follow.

pub mod cross_check;
pub mod history;
pub mod outcome;
pub mod report;
pub mod run;
pub mod sample;
pub mod scratch;
pub mod state;
