package v1alpha1

// Annotations the admission webhooks write. Their value is the JSON of an
// identity as the API server authenticated it:
//
//	{"username":"alice@example.com","uid":"4b2c…","groups":["platform","system:authenticated"],"at":"2026-11-02T09:00:00Z"}
//
// Only the webhooks set them: a request that sets or changes one by hand is
// refused. A request that leaves one out (a server-side apply from a manifest
// that never had it) keeps the stored value.
const (
	// AnnotationRequestedBy records who created the object. It is on every
	// Lethe object created while the webhooks run.
	AnnotationRequestedBy = "privacy.lethe.dev/requested-by"

	// AnnotationChangedBy records who last changed the object's spec. Role
	// audit records carry it as their actor.
	AnnotationChangedBy = "privacy.lethe.dev/changed-by"

	// AnnotationApprovedBy records who approved a DataSubjectRequest
	// (spec.approval.approved: true; the controller copies it into
	// status.approval and the audit log of every target tenant), or a
	// RetentionPolicy's archive deletions (spec.archive.approved: true).
	AnnotationApprovedBy = "privacy.lethe.dev/approved-by"

	// AnnotationArchiveDeleteRequestedBy records who last changed a
	// RetentionPolicy's spec.archive.delete; the deletions wait for
	// spec.archive.approved set by someone else (AnnotationApprovedBy)
	// after that change.
	AnnotationArchiveDeleteRequestedBy = "privacy.lethe.dev/archive-delete-requested-by"
)

// Annotations a user sets.
const (
	// AnnotationReceiptConfirmedAt, on a CCPA DataSubjectRequest, records
	// when the consumer was told their request was received (RFC 3339), as
	// CCPA regulations ask within 10 business days: the ReceiptConfirmed
	// condition reads it.
	AnnotationReceiptConfirmedAt = "privacy.lethe.dev/receipt-confirmed-at"

	// AnnotationDraftInventory, set to "true" on a TenantDatabase, makes the
	// controller draft a DataInventory of the database's schema into the
	// ConfigMap `<name>-inventory-draft` (key datainventory.yaml), owned by
	// the TenantDatabase and drafted again when the schema changes. Removing
	// the annotation (or any other value) deletes the ConfigMap. It works
	// before the TenantDatabase's DataInventory exists: the draft is named
	// after spec.inventoryRef, ready to review and apply.
	AnnotationDraftInventory = "privacy.lethe.dev/draft-inventory"

	// AnnotationSchemaDigest, on a draft's ConfigMap, identifies the schema
	// (and the drafter's version) the draft was made from; the controller
	// drafts again when it differs.
	AnnotationSchemaDigest = "privacy.lethe.dev/schema-digest"

	// AnnotationRunNow starts a run of a RetentionPolicy at once each time
	// its value changes (for example to the current time).
	AnnotationRunNow = "privacy.lethe.dev/run-now"
)

// The draft ConfigMap's name suffix and key.
const (
	// DraftConfigMapSuffix follows the TenantDatabase's name in the name of
	// its draft's ConfigMap.
	DraftConfigMapSuffix = "-inventory-draft"
	// DraftConfigMapKey is the ConfigMap key that holds the draft's YAML.
	DraftConfigMapKey = "datainventory.yaml"
)
