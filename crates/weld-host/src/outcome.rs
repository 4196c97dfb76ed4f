//! What became of a call or a policy change: one typed value, written to the
//! audit log as its snake_case name.
//!
//! One enum for every writer of audit records (tool calls, built-in tools,
//! the command line), so a misspelt outcome is a compile error and
//! `weld audit --outcome` can list them all.

use weld_runtime::CallError;

macro_rules! outcomes {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// What became of a tool call or a policy change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Outcome {
            $($(#[$doc])* $variant,)*
        }

        impl Outcome {
            /// Every outcome, in the order the audit documents them.
            pub const ALL: &[Outcome] = &[$(Outcome::$variant,)*];

            /// The name written to the audit log.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Outcome::$variant => $name,)*
                }
            }
        }
    };
}

outcomes! {
    /// The tool ran and returned a result.
    Ok => "ok",
    /// The tool ran and returned its own error.
    ToolError => "tool_error",
    /// The arguments did not fit the tool's schema; nothing ran.
    InvalidArguments => "invalid_arguments",
    /// The client cancelled the call (or closed its connection).
    Cancelled => "cancelled",
    /// The component's concurrency limit refused the call.
    RefusedBusy => "refused_busy",
    /// The call waited its whole time limit for capacity.
    QueueTimeout => "queue_timeout",
    /// The call's memory limit alone exceeds weld's memory budget.
    OverBudget => "over_budget",
    /// The result was larger than the tool's output limit.
    OutputLimit => "output_limit",
    /// No component serves what an MCP request named (a resource URI, a
    /// prompt), or the one asked answered that it does not.
    NotFound => "not_found",
    /// An MCP-world component's answer could not be passed on (text that
    /// is not UTF-8, a failed stream, a malformed result).
    InvalidReply => "invalid_reply",
    /// The call ran past its time limit.
    Deadline => "deadline",
    /// The guest asked for more memory than its limit.
    OutOfMemory => "out_of_memory",
    /// The guest spent its fuel budget.
    OutOfFuel => "out_of_fuel",
    /// The guest overflowed its stack.
    StackOverflow => "stack_overflow",
    /// The guest panicked.
    Panic => "panic",
    /// The guest exited.
    Exit => "exit",
    /// The guest trapped.
    Trap => "trap",
    /// A granted directory was replaced after weld checked it.
    GrantMoved => "grant_moved",
    /// The component could not be instantiated.
    Instantiate => "instantiate",
    /// A policy change was applied with a person's approval (or by the CLI).
    Applied => "applied",
    /// A policy change was applied without asking (`--allow-model-grants`).
    AppliedUnapproved => "applied_unapproved",
    /// A person was asked to approve a policy change.
    ApprovalRequested => "approval_requested",
    /// The person declined the change.
    Declined => "declined",
    /// The change was refused (it cannot be enforced, or is invalid).
    Refused => "refused",
    /// Stands for audit records that could not be written.
    RecordsLost => "records_lost",
}

impl From<&CallError> for Outcome {
    fn from(error: &CallError) -> Self {
        match error {
            CallError::Deadline { .. } => Self::Deadline,
            CallError::OutOfMemory { .. } => Self::OutOfMemory,
            CallError::OutOfFuel { .. } => Self::OutOfFuel,
            CallError::StackOverflow => Self::StackOverflow,
            CallError::Panic { .. } => Self::Panic,
            CallError::Exit { .. } => Self::Exit,
            CallError::Trap { .. } => Self::Trap,
            CallError::GrantMoved { .. } => Self::GrantMoved,
            CallError::Instantiate { .. } => Self::Instantiate,
            CallError::OverBudget { .. } => Self::OverBudget,
            CallError::Busy { .. } => Self::RefusedBusy,
            CallError::QueueTimeout { .. } => Self::QueueTimeout,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Outcome;

    #[test]
    fn every_outcome_has_its_own_snake_case_name() {
        let mut names: Vec<&str> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert!(
            names
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'))
        );
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Outcome::ALL.len());
    }
}
