package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RequestType is what a data subject asks for.
// +kubebuilder:validation:Enum=Access;Erasure;Rectification;Restriction;Discovery;Pseudonymization
type RequestType string

// The request types.
const (
	RequestAccess        RequestType = "Access"
	RequestErasure       RequestType = "Erasure"
	RequestRectification RequestType = "Rectification"
	RequestRestriction   RequestType = "Restriction"
	RequestDiscovery     RequestType = "Discovery"
	// RequestPseudonymization creates a PseudonymizationJob owned by the
	// request for the subject, and completes with it.
	RequestPseudonymization RequestType = "Pseudonymization"
)

// Regulation sets a request's legal deadline.
// +kubebuilder:validation:Enum=GDPR;CCPA
type Regulation string

// The regulations.
const (
	// RegulationGDPR: one month from receipt, extendable by two further
	// months.
	RegulationGDPR Regulation = "GDPR"
	// RegulationCCPA: 45 days from receipt, extendable by 45 days.
	RegulationCCPA Regulation = "CCPA"
)

// ErasureMethod is how erasure treats the subject's rows.
// +kubebuilder:validation:Enum=Anonymize;Delete
type ErasureMethod string

// The erasure methods.
const (
	// ErasureAnonymize applies the inventory: each entity's onErasure and
	// each column's strategy.
	ErasureAnonymize ErasureMethod = "Anonymize"
	// ErasureDelete deletes the rows in foreign-key order; entities marked
	// Keep are left untouched.
	ErasureDelete ErasureMethod = "Delete"
)

// RequestPhase is where a request stands.
// +kubebuilder:validation:Enum=Pending;AwaitingApproval;InProgress;Completed;Failed
type RequestPhase string

// The phases.
const (
	PhasePending          RequestPhase = "Pending"
	PhaseAwaitingApproval RequestPhase = "AwaitingApproval"
	PhaseInProgress       RequestPhase = "InProgress"
	PhaseCompleted        RequestPhase = "Completed"
	PhaseFailed           RequestPhase = "Failed"
)

// DataSubjectRequestSpec is one person's request. It is immutable once
// created, except approval and extension: create a new request to ask for
// something else.
// +kubebuilder:validation:XValidation:rule="self.type == oldSelf.type && self.subject == oldSelf.subject && self.targets == oldSelf.targets && self.regulation == oldSelf.regulation",message="spec is immutable except approval and extension: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.receivedAt) == has(oldSelf.receivedAt) && (!has(self.receivedAt) || self.receivedAt == oldSelf.receivedAt)",message="spec.receivedAt is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.timeZone) == has(oldSelf.timeZone) && (!has(self.timeZone) || self.timeZone == oldSelf.timeZone)",message="spec.timeZone is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.erasure) == has(oldSelf.erasure) && (!has(self.erasure) || self.erasure == oldSelf.erasure)",message="spec.erasure is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.export) == has(oldSelf.export) && (!has(self.export) || self.export == oldSelf.export)",message="spec.export is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.rectification) == has(oldSelf.rectification) && (!has(self.rectification) || self.rectification == oldSelf.rectification)",message="spec.rectification is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="has(self.restriction) == has(oldSelf.restriction) && (!has(self.restriction) || self.restriction == oldSelf.restriction)",message="spec.restriction is immutable: create a new request instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.extension) || (has(self.extension) && self.extension == oldSelf.extension)",message="spec.extension cannot be changed or withdrawn once given"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approval) || !has(oldSelf.approval.approved) || !oldSelf.approval.approved || (has(self.approval) && has(self.approval.approved) && self.approval.approved)",message="spec.approval.approved cannot be withdrawn once given"
// +kubebuilder:validation:XValidation:rule="has(self.requestedBy) == has(oldSelf.requestedBy) && (!has(self.requestedBy) || self.requestedBy == oldSelf.requestedBy)",message="spec.requestedBy is stamped by Lethe's admission webhook when the request is created and cannot be added, changed or removed afterwards"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approval) || !has(oldSelf.approval.approvedBy) || (has(self.approval) && has(self.approval.approvedBy) && self.approval.approvedBy == oldSelf.approval.approvedBy)",message="spec.approval.approvedBy is stamped by Lethe's admission webhook when the request is approved and cannot be changed or removed afterwards"
// +kubebuilder:validation:XValidation:rule="has(self.retainFor) == has(oldSelf.retainFor) && (!has(self.retainFor) || self.retainFor == oldSelf.retainFor)",message="spec.retainFor is immutable: the request record is kept as long as the law asked when it was received"
// +kubebuilder:validation:XValidation:rule="self.type == 'Erasure' || !has(self.erasure)",message="spec.erasure applies only to type Erasure"
// +kubebuilder:validation:XValidation:rule="self.type == 'Rectification' ? has(self.rectification) : !has(self.rectification)",message="spec.rectification is required for type Rectification and allowed only there"
// +kubebuilder:validation:XValidation:rule="self.type == 'Restriction' || !has(self.restriction)",message="spec.restriction applies only to type Restriction"
// +kubebuilder:validation:XValidation:rule="self.type in ['Access', 'Discovery'] || !has(self.export)",message="spec.export applies only to types Access and Discovery"
// +kubebuilder:validation:XValidation:rule="self.type == 'Pseudonymization' ? has(self.pseudonymization) : !has(self.pseudonymization)",message="spec.pseudonymization is required for type Pseudonymization and allowed only there"
// +kubebuilder:validation:XValidation:rule="has(self.pseudonymization) == has(oldSelf.pseudonymization) && (!has(self.pseudonymization) || self.pseudonymization == oldSelf.pseudonymization)",message="spec.pseudonymization is immutable: create a new request instead"
type DataSubjectRequestSpec struct {
	// type of the request: `Access` (a complete, machine-readable export),
	// `Erasure`, `Rectification`, `Restriction` or `Discovery` (where is this
	// person's data: counts only).
	// +required
	Type RequestType `json:"type"`

	// subject is the person the request is about.
	// +required
	Subject RequestSubject `json:"subject"`

	// targets are the TenantDatabases the request covers.
	// +required
	Targets Targets `json:"targets"`

	// regulation sets the legal deadline: `GDPR` (one month, extendable by
	// two) or `CCPA` (45 days, extendable by 45).
	// +optional
	// +kubebuilder:default=GDPR
	Regulation Regulation `json:"regulation,omitempty"`

	// receivedAt is when the request was received; the default is the
	// object's creation time.
	// +optional
	ReceivedAt *metav1.Time `json:"receivedAt,omitempty"`

	// timeZone is the IANA time zone the deadline is counted in (for
	// example `Europe/Stockholm`); the default is UTC. The day of receipt
	// does not count, and the request is due at the end of its last day
	// there: a GDPR request received on 31 January is due at the end of
	// 28 (or 29) February (Regulation 1182/71).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`
	TimeZone *string `json:"timeZone,omitempty"`

	// extension extends the deadline (GDPR by two months, CCPA by 45 days).
	// It is accepted only before the first deadline.
	// +optional
	Extension *Extension `json:"extension,omitempty"`

	// approval gates the request. Erasure, Rectification and Pseudonymization require approval
	// unless approval.required is false.
	// +optional
	Approval *Approval `json:"approval,omitempty"`

	// erasure options, for type Erasure.
	// +optional
	Erasure *ErasureOptions `json:"erasure,omitempty"`

	// export options, for types Access and Discovery.
	// +optional
	Export *ExportOptions `json:"export,omitempty"`

	// rectification options, for type Rectification.
	// +optional
	Rectification *RectificationOptions `json:"rectification,omitempty"`

	// restriction options, for type Restriction.
	// +optional
	Restriction *RestrictionOptions `json:"restriction,omitempty"`

	// requestedBy is who created the request, as the API server
	// authenticated them. Lethe's admission webhook stamps it at creation
	// (a value sent by hand is refused) and the API server keeps it
	// immutable; the controller reads the requester from here, never from
	// an annotation, and refuses to run an approved request without it.
	// +optional
	RequestedBy *StampedIdentity `json:"requestedBy,omitempty"`

	// retainFor is how long the request object is kept after it completed,
	// a period as in a RetentionPolicy's olderThan (`90d`, `24mo`, `3y`);
	// then the controller deletes it. Its audit records stay in the tenant
	// databases. The default is `24mo` for CCPA (request records are kept
	// 24 months, CCPA regulations §7101) and the manager's
	// --gdpr-request-retention for GDPR (`3y` unless set; empty keeps GDPR
	// requests until deleted by hand).
	// +optional
	// +kubebuilder:validation:MaxLength=16
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[1-9][0-9]{0,4}(d|w|mo|y)$')`,message=`retainFor is a number and a unit, d (days), w (weeks), mo (calendar months) or y (calendar years), for example 90d, 24mo or 3y`
	RetainFor *string `json:"retainFor,omitempty"`

	// pseudonymization options, for type Pseudonymization: the request
	// creates a PseudonymizationJob of its own name, owned by it, for the
	// subject (found in each target by the identifier the inventory maps to
	// its pseudonymization.matchColumn), and completes when the job
	// succeeds.
	// +optional
	Pseudonymization *PseudonymizationOptions `json:"pseudonymization,omitempty"`
}

// PseudonymizationOptions are the options of a Pseudonymization request,
// handed to its PseudonymizationJob.
type PseudonymizationOptions struct {
	// pseudonym says how pseudonyms are made, as in a PseudonymizationJob.
	// +required
	Pseudonym PseudonymSettings `json:"pseudonym"`

	// deactivate also sets the inventory's activeColumn to false.
	// +optional
	Deactivate bool `json:"deactivate,omitempty"`
}

// RequestSubject names the person by a subject type of the inventory and
// identifiers.
// +kubebuilder:validation:XValidation:rule="has(self.identifiersSecretRef) != has(self.identifiers)",message="subject needs exactly one of identifiersSecretRef (recommended: nothing personal in Git) or identifiers"
// +kubebuilder:validation:XValidation:rule="!has(self.deleteIdentifiersOnCompletion) || !self.deleteIdentifiersOnCompletion || has(self.identifiersSecretRef)",message="subject.deleteIdentifiersOnCompletion deletes the Secret of identifiersSecretRef: set identifiersSecretRef, or leave the flag out"
type RequestSubject struct {
	// type is a subject type of the targets' DataInventory (for example
	// `customer`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Type string `json:"type"`

	// identifiersSecretRef names a Secret whose keys are identifier names of
	// the subject type (for example `email`) and whose values identify the
	// person. The recommended way: nothing personal is stored in Git or in
	// the request.
	// +optional
	IdentifiersSecretRef *LocalObjectReference `json:"identifiersSecretRef,omitempty"`

	// identifiers inline, by identifier name. Accepted, with a Warning event:
	// the values are then stored in the request itself.
	// +optional
	// +kubebuilder:validation:MinProperties=1
	// +kubebuilder:validation:MaxProperties=8
	Identifiers map[string]string `json:"identifiers,omitempty"`

	// deleteIdentifiersOnCompletion deletes the Secret of
	// identifiersSecretRef when the request completes, so the identifiers
	// are not kept beyond the request. A Secret that another request of
	// the namespace still names and that has not completed is kept until
	// the last of them completes (one of them with this flag deletes it
	// then); status.identifiersDeletedAt and an event record the deletion.
	// +optional
	DeleteIdentifiersOnCompletion bool `json:"deleteIdentifiersOnCompletion,omitempty"`
}

// Extension extends a deadline.
type Extension struct {
	// reason for the extension, as told to the subject.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

// Approval gates a request.
// +kubebuilder:validation:XValidation:rule="!has(self.approvedBy) || self.approved || (has(self.required) && !self.required)",message="spec.approval.approvedBy is stamped only when the request is approved (approved: true) or its approval waived (required: false)"
type Approval struct {
	// required says whether the request waits for approval. The default is
	// true for Erasure, Rectification and Pseudonymization, false
	// otherwise. Setting it to false on such a request is itself an
	// approval: only a user who may `approve` `datasubjectrequests` may do
	// it, and the webhook stamps them in approvedBy.
	// +optional
	Required *bool `json:"required,omitempty"`

	// approved releases a request that waits for approval. Only a user who
	// may `approve` `datasubjectrequests` and who did not create the request
	// may set it (four eyes); the admission webhook stamps who did in
	// approvedBy and the controller copies it to status.approval.
	// +optional
	Approved bool `json:"approved,omitempty"`

	// approvedBy is who approved the request (or waived its approval), as
	// the API server authenticated them. Lethe's admission webhook stamps it
	// (a value sent by hand is refused) and the API server keeps it
	// immutable. The controller runs a request that needs approval only
	// when approvedBy and spec.requestedBy are both there and name two
	// different users (Approved=False, reason ApprovalUnverified or
	// ApprovedByRequester, otherwise).
	// +optional
	ApprovedBy *StampedIdentity `json:"approvedBy,omitempty"`
}

// StampedIdentity is a user as the API server authenticated them, written
// by Lethe's admission webhook.
type StampedIdentity struct {
	// username as the API server authenticated it (for a service account,
	// system:serviceaccount:<namespace>:<name>).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Username string `json:"username"`

	// uid of the user, when their authenticator gives one.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	UID string `json:"uid,omitempty"`

	// at is when the API server admitted the change.
	// +required
	At metav1.Time `json:"at"`
}

// ErasureOptions say how erasure treats the subject's rows.
type ErasureOptions struct {
	// method: `Anonymize` (default: the inventory's onErasure and strategies)
	// or `Delete` (rows deleted children first; entities marked Keep are left
	// untouched).
	// +optional
	// +kubebuilder:default=Anonymize
	Method ErasureMethod `json:"method,omitempty"`

	// overrides set the method per entity.
	// +optional
	// +listType=map
	// +listMapKey=entity
	// +kubebuilder:validation:MaxItems=48
	Overrides []EntityMethod `json:"overrides,omitempty"`
}

// EntityMethod overrides the erasure method of one entity.
type EntityMethod struct {
	// entity name in the inventory.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`

	// method for this entity.
	// +required
	Method ErasureMethod `json:"method"`
}

// ExportOptions say how long an access export is kept.
type ExportOptions struct {
	// ttl deletes the export this long after it was written (for example
	// `720h`); the default keeps it as long as the request exists.
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// RectificationOptions point at the new values.
type RectificationOptions struct {
	// valuesSecretRef names a Secret whose keys are `entity.column` (personal
	// columns declared in the inventory) and whose values are the new values.
	// +required
	ValuesSecretRef LocalObjectReference `json:"valuesSecretRef"`
}

// RestrictionOptions say whether to restrict or lift.
type RestrictionOptions struct {
	// lift removes an earlier restriction of the subject.
	// +optional
	Lift bool `json:"lift,omitempty"`
}

// EntityResult counts one entity's rows for one target.
type EntityResult struct {
	// entity name.
	// +required
	Entity string `json:"entity"`

	// found is how many of the entity's rows belong to the subject.
	// +optional
	Found int64 `json:"found,omitempty"`

	// changed is how many rows were masked, deleted or rectified.
	// +optional
	Changed int64 `json:"changed,omitempty"`

	// shared is how many rows the subject shares with other subjects (a
	// shared address): exported, never erased.
	// +optional
	Shared int64 `json:"shared,omitempty"`

	// columns, for Discovery, count the rows holding the subject's
	// identifiers per column (counts only, never values).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Columns []ColumnCount `json:"columns,omitempty"`

	// effects, for an erasure that deleted this entity's rows, are the rows
	// other tables lost or had changed through foreign keys meanwhile: what
	// an ON DELETE action of a table the inventory leaves out did,
	// references set to NULL first. The most rows first.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Effects []ForeignKeyEffect `json:"effects,omitempty"`
	// effectsOmitted counts the effects left out of effects (the smallest),
	// which holds 32 at most.
	// +optional
	EffectsOmitted int32 `json:"effectsOmitted,omitempty"`
}

// ColumnCount counts rows for one column.
type ColumnCount struct {
	// column name.
	// +required
	Column string `json:"column"`

	// rows holding the subject's identifiers.
	// +required
	Rows int64 `json:"rows"`
}

// TargetResult is a request's outcome in one TenantDatabase.
type TargetResult struct {
	// name of the TenantDatabase.
	// +required
	Name string `json:"name"`

	// phase of the work in this target.
	// +optional
	Phase RequestPhase `json:"phase,omitempty"`

	// entities with rows of the subject.
	// +optional
	// +kubebuilder:validation:MaxItems=48
	Entities []EntityResult `json:"entities,omitempty"`

	// error is the last error in this target, if any.
	// +optional
	Error string `json:"error,omitempty"`
}

// ExportSecretKey is the key of the access package (a zip) in the export
// Secret.
const ExportSecretKey = "export.zip"

// ExportStatus says where an access export is.
type ExportStatus struct {
	// secretRef names the Secret holding `export.zip`; it is owned by the
	// request, so deleting the request deletes the export.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`

	// size of the zip in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`

	// sha256 of the zip, hex.
	// +optional
	SHA256 string `json:"sha256,omitempty"`

	// expiresAt is when the export is deleted (spec.export.ttl).
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// expired is true once the export was deleted at expiresAt.
	// +optional
	Expired bool `json:"expired,omitempty"`
}

// DataSubjectRequestStatus is the request's progress and outcome.
type DataSubjectRequestStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Approved, Overdue, Verified.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase: Pending, AwaitingApproval, InProgress, Completed or Failed.
	// +optional
	Phase RequestPhase `json:"phase,omitempty"`

	// subjectDigest is a salted SHA-256 of the subject: the only way the
	// subject appears outside the tenant databases.
	// +optional
	SubjectDigest string `json:"subjectDigest,omitempty"`

	// receivedAt is when the request was received.
	// +optional
	ReceivedAt *metav1.Time `json:"receivedAt,omitempty"`

	// dueTime is the legal deadline.
	// +optional
	DueTime *metav1.Time `json:"dueTime,omitempty"`

	// extended is true when an extension was accepted.
	// +optional
	Extended bool `json:"extended,omitempty"`

	// startTime is when work started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the request completed.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// progress is targets done over targets, for example "1/2".
	// +optional
	Progress string `json:"progress,omitempty"`

	// jobName, for type Pseudonymization, is the PseudonymizationJob the
	// request created.
	// +optional
	JobName string `json:"jobName,omitempty"`

	// targets are the per-TenantDatabase outcomes.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Targets []TargetResult `json:"targets,omitempty"`

	// export, for Access (the subject's rows) and Discovery (where they
	// are: table and key of each), says where the export is.
	// +optional
	Export *ExportStatus `json:"export,omitempty"`

	// approval says who approved the request and when, as the admission
	// webhook stamped it in spec.approval.approvedBy.
	// +optional
	Approval *ApprovalStatus `json:"approval,omitempty"`

	// deleteAt is when the controller deletes the completed request:
	// completionTime plus spec.retainFor (or its default).
	// +optional
	DeleteAt *metav1.Time `json:"deleteAt,omitempty"`

	// identifiersDeletedAt is when the controller deleted the identifiers
	// Secret (spec.subject.deleteIdentifiersOnCompletion).
	// +optional
	IdentifiersDeletedAt *metav1.Time `json:"identifiersDeletedAt,omitempty"`
}

// ApprovalStatus is who approved a request.
type ApprovalStatus struct {
	// approvedBy is the user name of the approver, as the API server
	// authenticated them.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ApprovedBy string `json:"approvedBy,omitempty"`

	// approvedByUID is the approver's uid, when their authenticator gives one.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ApprovedByUID string `json:"approvedByUID,omitempty"`

	// approvedAt is when the API server accepted the approval.
	// +optional
	ApprovedAt *metav1.Time `json:"approvedAt,omitempty"`
}

// DataSubjectRequest is one person's access, erasure, rectification,
// restriction or discovery request across the selected tenant databases,
// with its legal deadline.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dsr,categories=privacy
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Due",type=string,JSONPath=`.status.dueTime`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.status.subjectDigest`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DataSubjectRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the request.
	// +required
	Spec DataSubjectRequestSpec `json:"spec"`

	// status is its progress and outcome.
	// +optional
	Status DataSubjectRequestStatus `json:"status,omitempty"`
}

// DataSubjectRequestList is a list of DataSubjectRequests.
// +kubebuilder:object:root=true
type DataSubjectRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DataSubjectRequest `json:"items"`
}

func init() {
	register(&DataSubjectRequest{}, &DataSubjectRequestList{})
}

// ApprovalRequired says whether the request waits for approval: Erasure and
// Rectification do unless spec.approval.required is false, the others only
// when it is true.
func (s *DataSubjectRequestSpec) ApprovalRequired() bool {
	if s.Approval != nil && s.Approval.Required != nil {
		return *s.Approval.Required
	}
	return s.Type.ChangesData()
}

// ChangesData says whether a request of the type changes the subject's
// data (Erasure, Rectification, Pseudonymization): such a request needs a
// second person's approval unless spec.approval.required is false, which
// only a user who may approve can set.
func (t RequestType) ChangesData() bool {
	return t == RequestErasure || t == RequestRectification || t == RequestPseudonymization
}

// Approved says whether spec.approval.approved is true.
func (s *DataSubjectRequestSpec) Approved() bool {
	return s.Approval != nil && s.Approval.Approved
}
