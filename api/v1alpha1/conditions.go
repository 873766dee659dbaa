package v1alpha1

// Condition types. Each is documented with its polarity: "normal-true"
// conditions are True when all is well, "abnormal-true" ones are True when
// something needs attention. Ready, Reconciling and Stalled follow kstatus, so
// Argo CD, Flux and `kubectl wait --for=condition=Ready` understand every kind.
const (
	// ConditionReady (normal-true) summarises the object: True when the last
	// reconciliation of the current generation succeeded.
	ConditionReady = "Ready"

	// ConditionReconciling (abnormal-true) is True while the controller is
	// working towards the current generation.
	ConditionReconciling = "Reconciling"

	// ConditionStalled (abnormal-true) is True when the controller cannot make
	// progress until the spec, or an object it references, is changed.
	ConditionStalled = "Stalled"

	// ConditionConnected (normal-true) is True when the operator reached the
	// tenant database with the credentials of its Secret.
	ConditionConnected = "Connected"

	// ConditionInventoryValid (normal-true) is True when the tenant's
	// DataInventory matches the live schema of the database.
	ConditionInventoryValid = "InventoryValid"

	// ConditionAuditChainIntact (normal-true) is True when every record of the
	// tenant's audit log links to its predecessor by its SHA-256 chain hash.
	ConditionAuditChainIntact = "AuditChainIntact"

	// ConditionUncoveredPersonalData (abnormal-true) is True when the live
	// schema has columns that look personal but are not in the inventory. It
	// is a warning: it does not make the object un-Ready.
	ConditionUncoveredPersonalData = "UncoveredPersonalData"
)

// Condition reasons, also used as event reasons.
const (
	// ReasonSucceeded: the reconciliation finished; the object is Ready.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: work towards the current generation is under way.
	ReasonProgressing = "Progressing"

	// ReasonSecretNotFound: the connection Secret does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: the connection Secret lacks a required key.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonSecretInvalid: the connection Secret has an unknown key or a value
	// that cannot be used.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonAuthenticationFailed: the database refused the credentials.
	ReasonAuthenticationFailed = "AuthenticationFailed"
	// ReasonUnreachable: the database server did not answer.
	ReasonUnreachable = "Unreachable"
	// ReasonDatabaseNotFound: the server has no database of that name.
	ReasonDatabaseNotFound = "DatabaseNotFound"
	// ReasonConnectionFailed: any other connection failure.
	ReasonConnectionFailed = "ConnectionFailed"
	// ReasonConnected: the operator is connected.
	ReasonConnected = "Connected"
	// ReasonSchemaMigrationFailed: the operator's own lethe schema could not be
	// created or migrated.
	ReasonSchemaMigrationFailed = "SchemaMigrationFailed"

	// ReasonInventoryNotFound: the referenced DataInventory does not exist.
	ReasonInventoryNotFound = "InventoryNotFound"
	// ReasonInventoryInvalid: the DataInventory does not match the live schema,
	// or is inconsistent in itself.
	ReasonInventoryInvalid = "InventoryInvalid"
	// ReasonInventoryValid: the DataInventory matches the live schema.
	ReasonInventoryValid = "InventoryValid"

	// ReasonAuditChainIntact: every audit record links to its predecessor.
	ReasonAuditChainIntact = "AuditChainIntact"
	// ReasonAuditChainBroken: an audit record was changed or removed.
	ReasonAuditChainBroken = "AuditChainBroken"

	// ReasonUncoveredColumns: personal-looking columns are missing from the
	// inventory.
	ReasonUncoveredColumns = "UncoveredColumns"
	// ReasonAllColumnsCovered: no personal-looking column is missing.
	ReasonAllColumnsCovered = "AllColumnsCovered"
)
