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

	// ConditionUnmappedReferences (abnormal-true) is True when tables the
	// inventory leaves out have a foreign key into a table it maps: their
	// rows belong to the same person, an access export misses them, and
	// deleting the person's rows fails while they exist (ON DELETE NO ACTION
	// or RESTRICT) or changes them unannounced (CASCADE, SET NULL, SET
	// DEFAULT). status.unmappedReferences lists them. It is a warning: it
	// does not make the object un-Ready.
	ConditionUnmappedReferences = "UnmappedReferences"

	// ConditionMissingIndexes (abnormal-true) is True when the inventory's
	// subject graph looks rows up by columns no index leads (a relation's
	// foreign-key or referenced columns, or a root's identifiers): each such
	// lookup scans its table once per subject. status.missingIndexes lists
	// them. It is a warning: it does not make the object un-Ready.
	ConditionMissingIndexes = "MissingIndexes"

	// ConditionRestoreDetected (abnormal-true) is True on a TenantDatabase
	// whose database lost what Lethe saw in it: its audit log ends before,
	// or differs at, the head recorded in status.auditHead, or it lacks
	// erasure tombstones the manager keeps in the TenantDatabase's
	// tombstone Secret (a restore from a backup, a failover to a stale
	// replica). While True, Lethe re-applies every tombstoned erasure the
	// database lacks, then sets it False (ErasuresReapplied).
	ConditionRestoreDetected = "RestoreDetected"
)

// Condition reasons, also used as event reasons.
const (
	// ReasonSucceeded: the reconciliation finished; the object is Ready.
	ReasonSucceeded = "Succeeded"
	// ReasonProgressing: work towards the current generation is under way.
	ReasonProgressing = "Progressing"

	// ReasonSecretNotFound: the connection Secret, or the TLS Secret, does
	// not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonSecretKeyMissing: the connection Secret lacks a required key.
	ReasonSecretKeyMissing = "SecretKeyMissing"
	// ReasonSecretInvalid: the connection Secret or the TLS Secret has a
	// value that cannot be used, or settings that contradict each other.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonSecretKeysIgnored (event, Warning): the connection Secret or the
	// TLS Secret has keys Lethe does not read; they are ignored.
	ReasonSecretKeysIgnored = "SecretKeysIgnored" // #nosec G101 -- an event reason, not a credential
	// ReasonTLSVerificationFailed: the TLS handshake failed: the server's
	// certificate did not verify against the CA given (or its name did not
	// match, or it expired), or the server does not speak TLS. The
	// connection fails closed.
	ReasonTLSVerificationFailed = "TLSVerificationFailed"
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

	// ReasonTablesReferToSubjects: tables outside the inventory refer to
	// tables it maps (UnmappedReferences).
	ReasonTablesReferToSubjects = "TablesReferToSubjects"
	// ReasonNoUnmappedReferences: no table outside the inventory refers to
	// a table it maps.
	ReasonNoUnmappedReferences = "NoUnmappedReferences"
	// ReasonUnindexedLookups: lookups of the subject graph have no index
	// (MissingIndexes).
	ReasonUnindexedLookups = "UnindexedLookups"
	// ReasonInventoryDrafted (event): a DataInventory was drafted into the
	// TenantDatabase's draft ConfigMap (annotation
	// privacy.lethe.dev/draft-inventory).
	ReasonInventoryDrafted = "InventoryDrafted"
	// ReasonDraftFailed (event): the draft could not be made or written.
	ReasonDraftFailed = "DraftFailed"
	// ReasonAllLookupsIndexed: every lookup of the subject graph has an
	// index.
	ReasonAllLookupsIndexed = "AllLookupsIndexed"
	// ReasonAuditHeadBehind (RestoreDetected True, also a Warning event):
	// the audit log ends before, or differs at, the record status.auditHead
	// names.
	ReasonAuditHeadBehind = "AuditHeadBehind"
	// ReasonTombstonesMissing (RestoreDetected True, also a Warning
	// event): the database lacks erasure tombstones the manager keeps.
	ReasonTombstonesMissing = "TombstonesMissing"
	// ReasonReapplyFailed (RestoreDetected True): re-applying an erasure
	// failed; it is tried again.
	ReasonReapplyFailed = "ReapplyFailed"
	// ReasonErasuresReapplied (RestoreDetected False, also a Warning
	// event): every tombstoned erasure the database lacked was applied
	// again.
	ReasonErasuresReapplied = "ErasuresReapplied"
	// ReasonNoRestoreDetected (RestoreDetected False): the database holds
	// everything Lethe saw in it.
	ReasonNoRestoreDetected = "NoRestoreDetected"
)

// ---- PermissionCatalog and Role ----

// ConditionDeletionRefused (abnormal-true) is True on a Role whose deletion
// the operator refuses (a default role of its catalog): its finalizer keeps
// it, and the message says why and what to do instead.
const ConditionDeletionRefused = "DeletionRefused"

// Condition reasons of PermissionCatalogs and Roles, also used as event
// reasons.
const (
	// ReasonCatalogInvalid: the catalog names an unknown permission, area or
	// license, or its required permissions form a cycle.
	ReasonCatalogInvalid = "CatalogInvalid"
	// ReasonDefaultRoleConflict: a Role with a default role's name exists but
	// is not that default role.
	ReasonDefaultRoleConflict = "DefaultRoleConflict"
	// ReasonCatalogNotFound: the Role's PermissionCatalog does not exist.
	ReasonCatalogNotFound = "CatalogNotFound"

	// ReasonUnknownPermission: the Role names a permission its catalog lacks.
	ReasonUnknownPermission = "UnknownPermission"
	// ReasonUnknownLicense: the Role names a license its catalog lacks.
	ReasonUnknownLicense = "UnknownLicense"
	// ReasonUnknownArea: the Role sets a scope for an area its catalog lacks.
	ReasonUnknownArea = "UnknownArea"
	// ReasonUnknownDefaultRole: spec.default names no default role of the
	// catalog.
	ReasonUnknownDefaultRole = "UnknownDefaultRole"
	// ReasonFeatureNotScoped: a feature scope is set for a permission that
	// carries no scope of its own, or that the role does not hold.
	ReasonFeatureNotScoped = "FeatureNotScoped"
	// ReasonLicenseMissingForPermission: an effective permission is granted by
	// none of the role's licenses.
	ReasonLicenseMissingForPermission = "LicenseMissingForPermission"
	// ReasonSocialScopeSelf: an area that cannot be Self (Social) would be.
	ReasonSocialScopeSelf = "SocialScopeSelf"
	// ReasonScopeNotAllowed: a scope the area does not allow.
	ReasonScopeNotAllowed = "ScopeNotAllowed"
	// ReasonSpecificGroupsEmpty: a SpecificGroups scope is left with no
	// group (an area's groups share none with the default scope's).
	ReasonSpecificGroupsEmpty = "SpecificGroupsEmpty"
	// ReasonRequiredPermissionRemoved: a default role lacks a permission the
	// catalog requires it to keep.
	ReasonRequiredPermissionRemoved = "RequiredPermissionRemoved"
	// ReasonTooManyTargets: the targets select more TenantDatabases than a
	// Role's status can track (256).
	ReasonTooManyTargets = "TooManyTargets"
	// ReasonTargetSelectorInvalid: spec.targets.selector cannot be parsed.
	ReasonTargetSelectorInvalid = "TargetSelectorInvalid"

	// ReasonSeatsExceeded: in a tenant, the change would use more seats of a
	// license than the catalog gives; the tenant keeps its previous state.
	ReasonSeatsExceeded = "SeatsExceeded"
	// ReasonLastRoleManager: in a tenant, the change would leave no active
	// user holding the permission to manage roles or users; the tenant keeps
	// its previous state.
	ReasonLastRoleManager = "LastRoleManager"
	// ReasonOrganizationInvalid: the inventory's organization names a table
	// or column the tenant database lacks, or a column of the wrong type.
	ReasonOrganizationInvalid = "OrganizationInvalid"
	// ReasonTenantDatabaseNotFound: a target TenantDatabase does not exist.
	ReasonTenantDatabaseNotFound = "TenantDatabaseNotFound"
	// ReasonTenantDatabaseNotReady: a target TenantDatabase is not Ready yet
	// (not connected, or its lethe schema not migrated).
	ReasonTenantDatabaseNotReady = "TenantDatabaseNotReady"
	// ReasonRoleSyncFailed: writing the role into a tenant failed; retried.
	ReasonRoleSyncFailed = "RoleSyncFailed"

	// ReasonDefaultRole: a default role cannot be deleted (DeletionRefused).
	ReasonDefaultRole = "DefaultRole"

	// ReasonRoleSynced (event): a tenant's rows were changed to match the role.
	ReasonRoleSynced = "RoleSynced"
	// ReasonDriftRepaired (event): rows changed by hand in a tenant were put
	// back.
	ReasonDriftRepaired = "DriftRepaired"
	// ReasonRoleRemoved (event): the role was removed from a tenant.
	ReasonRoleRemoved = "RoleRemoved"
	// ReasonDefaultRoleCreated (event): the catalog's default role was
	// created as a Role.
	ReasonDefaultRoleCreated = "DefaultRoleCreated"
)

// Retention policy reasons.
const (
	// ReasonScheduleInvalid: spec.schedule or spec.timeZone cannot be parsed.
	ReasonScheduleInvalid = "ScheduleInvalid"
	// ReasonRuleInvalid: a rule names an entity, column or strategy the
	// inventory or the live schema cannot satisfy.
	ReasonRuleInvalid = "RuleInvalid"
	// ReasonSuspended: the policy is suspended; no run starts.
	ReasonSuspended = "Suspended"
	// ReasonRunStarted (event): a run started.
	ReasonRunStarted = "RunStarted"
	// ReasonRunCompleted (event): a run finished in every target.
	ReasonRunCompleted = "RunCompleted"
	// ReasonRunFailed: a run failed in a target; it is retried from its
	// checkpoint.
	ReasonRunFailed = "RunFailed"
	// ReasonRowsLocked (event): rows stayed locked by the application through
	// every retry; the next run takes them.
	ReasonRowsLocked = "RowsLocked"
	// ReasonArchiveExpired (event): an archive passed its rule's
	// archive.retainFor; its rows were deleted.
	ReasonArchiveExpired = "ArchiveExpired"
	// ReasonArchiveDeleted (event): an archive listed in spec.archive.delete
	// was deleted.
	ReasonArchiveDeleted = "ArchiveDeleted"
	// ReasonArchiveDeletionUnapproved (event): spec.archive.delete lists
	// archives, but no second identity approved the list as it is.
	ReasonArchiveDeletionUnapproved = "ArchiveDeletionUnapproved"
)

// PseudonymizationJob reasons.
const (
	// ReasonKeySecretNotFound: the Secret or key of
	// spec.pseudonym.keySecretRef does not exist. A job waits for a Secret
	// not created yet (Reconciling) and goes on when it appears; a Secret
	// without the key stalls it until the Secret is fixed. A Random job
	// whose own key Secret was deleted while it ran stalls for good.
	ReasonKeySecretNotFound = "KeySecretNotFound" // #nosec G101 -- a condition reason, not a credential
	// ReasonKeyTooShort: the pseudonym key has fewer than 16 bytes.
	ReasonKeyTooShort = "KeyTooShort"
	// ReasonKeySecretConflict: a Random job's key Secret exists and belongs
	// to something else.
	ReasonKeySecretConflict = "KeySecretConflict" // #nosec G101 -- a condition reason, not a credential
	// ReasonMappingTooLarge: a Random job's mapping would outgrow a Secret.
	ReasonMappingTooLarge = "MappingTooLarge"
	// ReasonKeyCreated (event): a Random job created its key Secret.
	ReasonKeyCreated = "KeyCreated"
	// ReasonKeyDiscarded (event): a Random job with mapping Discard deleted
	// its key Secret.
	ReasonKeyDiscarded = "KeyDiscarded"
	// ReasonNothingToPseudonymize: no target's inventory has the selected
	// entity, or an entity with a pseudonymization section.
	ReasonNothingToPseudonymize = "NothingToPseudonymize"
	// ReasonJobStarted (event): the job started changing rows.
	ReasonJobStarted = "JobStarted"
	// ReasonJobFailed: a batch failed in a target; it is retried from its
	// checkpoint.
	ReasonJobFailed = "JobFailed"
	// ReasonJobSucceeded (event and Ready reason): every selected row was
	// pseudonymized (or counted, in a dry run).
	ReasonJobSucceeded = "JobSucceeded"
)
