package v1alpha1

// Condition types of DataSubjectRequests, besides Ready, Reconciling and
// Stalled.
const (
	// ConditionApproved (normal-true) is True when the request may run:
	// approved, or approval not required.
	ConditionApproved = "Approved"

	// ConditionOverdue (abnormal-true) is True when the legal deadline passed
	// before the request completed.
	ConditionOverdue = "Overdue"

	// ConditionReceiptConfirmed (normal-true), on CCPA requests only, is
	// True once the consumer was told the request was received (annotation
	// privacy.lethe.dev/receipt-confirmed-at), or once the request completed
	// before that was due; False until then, saying by when.
	ConditionReceiptConfirmed = "ReceiptConfirmed"

	// ConditionVerified (normal-true) is True when, after erasure, a re-scan
	// found none of the subject's identifiers in any inventory table.
	ConditionVerified = "Verified"
)

// Reasons of DataSubjectRequest conditions and events.
const (
	// ReasonAwaitingApproval: the request waits for spec.approval.approved.
	ReasonAwaitingApproval = "AwaitingApproval"
	// ReasonApproved: the request was approved.
	ReasonApproved = "Approved"
	// ReasonApprovalNotRequired: the request needs no approval.
	ReasonApprovalNotRequired = "ApprovalNotRequired"
	// ReasonApprovalUnverified: spec.approval.approved is set but the
	// identities the admission webhook records (who requested, who
	// approved) are missing: the approval is not trusted.
	ReasonApprovalUnverified = "ApprovalUnverified"
	// ReasonApprovedByRequester: the identity that approved is the one
	// that requested: a second person must approve.
	ReasonApprovedByRequester = "ApprovedByRequester"

	// ReasonConfirmationDue: a CCPA request's receipt is to be confirmed
	// to the consumer, by the date the message gives.
	ReasonConfirmationDue = "ConfirmationDue"
	// ReasonConfirmationOverdue: the 10 business days to confirm receipt
	// passed without a confirmation recorded.
	ReasonConfirmationOverdue = "ConfirmationOverdue"
	// ReasonReceiptConfirmed: the confirmation of receipt is recorded.
	ReasonReceiptConfirmed = "ReceiptConfirmed"
	// ReasonAnsweredBeforeConfirmationDue: the request completed before
	// its receipt had to be confirmed.
	ReasonAnsweredBeforeConfirmationDue = "AnsweredBeforeConfirmationDue"

	// ReasonWithinDeadline: the deadline has not passed.
	ReasonWithinDeadline = "WithinDeadline"
	// ReasonDeadlineApproaching: the deadline is less than seven days away.
	ReasonDeadlineApproaching = "DeadlineApproaching"
	// ReasonDeadlineExceeded: the deadline passed before completion.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonCompletedInTime: the request completed before its deadline.
	ReasonCompletedInTime = "CompletedInTime"
	// ReasonExtensionAccepted: the deadline was extended.
	ReasonExtensionAccepted = "ExtensionAccepted"
	// ReasonExtensionRefused: the extension came after the first deadline.
	ReasonExtensionRefused = "ExtensionRefused"

	// ReasonIdentifiersSecretNotFound: the identifiers Secret does not exist.
	ReasonIdentifiersSecretNotFound = "IdentifiersSecretNotFound" // #nosec G101 -- a condition reason, not a credential
	// ReasonIdentifierKeyMissing: the identifiers Secret has no usable key.
	ReasonIdentifierKeyMissing = "IdentifierKeyMissing"
	// ReasonUnknownIdentifier: an identifier is not declared for the subject
	// type.
	ReasonUnknownIdentifier = "UnknownIdentifier"
	// ReasonInlineIdentifiers: identifiers are stored in the request itself
	// (an event: a Secret keeps them out of Git and of the object).
	ReasonInlineIdentifiers = "InlineIdentifiers"
	// ReasonUnknownSubjectType: a target's inventory declares no such
	// subject type.
	ReasonUnknownSubjectType = "UnknownSubjectType"
	// ReasonRectificationInvalid: the rectification values are unusable.
	ReasonRectificationInvalid = "RectificationInvalid"
	// ReasonTimeZoneInvalid: spec.timeZone is not an IANA time zone.
	ReasonTimeZoneInvalid = "TimeZoneInvalid"
	// ReasonMissingIndex: the plan would scan a large table for lack of an
	// index; the message names the index to create.
	ReasonMissingIndex = "MissingIndex"
	// ReasonHashKeyMissing: a Hash strategy's key Secret is missing.
	ReasonHashKeyMissing = "HashKeyMissing"

	// ReasonNoTargets: the targets select no TenantDatabase.
	ReasonNoTargets = "NoTargets"
	// ReasonTargetNotFound: a named TenantDatabase does not exist.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonTargetNotReady: a target TenantDatabase is not Ready.
	ReasonTargetNotReady = "TargetNotReady"
	// ReasonTargetFailed: the work failed in a target on an error that may
	// heal (a connection lost, a deadlock, a timeout); it is retried with a
	// backoff that doubles up to five minutes.
	ReasonTargetFailed = "TargetFailed"
	// ReasonDeleteBlocked: a foreign key would refuse a delete the work
	// needs (a table outside the DataInventory, or rows that stay, refer to
	// the rows through NOT NULL columns); nothing was changed, and the
	// message names the table, its columns, the constraint and the fixes.
	// Stalled until the spec, the inventory or the TenantDatabase changes.
	ReasonDeleteBlocked = "DeleteBlocked"
	// ReasonDatabaseRefused: the database refused a change with an error
	// that waiting cannot fix (a constraint, a NOT NULL or CHECK, a unique
	// key, a value out of range, a missing table, column or privilege); the
	// message names the table, column or constraint. Stalled until the
	// spec, the inventory or the TenantDatabase changes.
	ReasonDatabaseRefused = "DatabaseRefused"
	// ReasonTargetCompleted: the work finished in one target (an event).
	ReasonTargetCompleted = "TargetCompleted"

	// ReasonReceived: the request was received (an event).
	ReasonReceived = "Received"
	// ReasonStarted: work started (an event).
	ReasonStarted = "Started"
	// ReasonCompleted: the request completed.
	ReasonCompleted = "Completed"
	// ReasonExportTooLarge: the access export does not fit a Secret.
	ReasonExportTooLarge = "ExportTooLarge"
	// ReasonExportExpired: the export was deleted after spec.export.ttl.
	ReasonExportExpired = "ExportExpired"
	// ReasonRequestExpired: the completed request was deleted after
	// spec.retainFor (an event; its audit records stay in the tenant
	// databases).
	ReasonRequestExpired = "RequestExpired"
	// ReasonIdentifiersDeleted: the identifiers Secret was deleted on
	// completion (spec.subject.deleteIdentifiersOnCompletion; an event).
	ReasonIdentifiersDeleted = "IdentifiersDeleted"
	// ReasonIdentifiersKept: the identifiers Secret was not deleted on
	// completion: another request that has not completed names it, or
	// verification found identifiers left (an event).
	ReasonIdentifiersKept = "IdentifiersKept"

	// ReasonVerified: no identifier of the subject remains.
	ReasonVerified = "Verified"
	// ReasonIdentifiersRemain: identifiers remain after erasure, in the
	// columns named.
	ReasonIdentifiersRemain = "IdentifiersRemain"
)
