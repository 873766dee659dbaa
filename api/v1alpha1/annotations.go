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
	// (spec.approval.approved: true). The controller copies it into
	// status.approval and the audit log of every target tenant.
	AnnotationApprovedBy = "privacy.lethe.dev/approved-by"
)
