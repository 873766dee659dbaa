package v1alpha1

// PolicyApproval gates the runs of a RetentionPolicy whose destructive
// rules changed.
type PolicyApproval struct {
	// required turns the gate on.
	// +optional
	Required bool `json:"required,omitempty"`

	// approvedGeneration releases the dry run of that generation, as
	// status.approval.pendingGeneration names it, once its counts were
	// read. Only a user other than the one who changed the rules
	// (changedBy) may approve; the admission webhook stamps who did in
	// approvedBy.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ApprovedGeneration int64 `json:"approvedGeneration,omitempty"`

	// changedBy is who last changed the spec other than approval, as the
	// API server authenticated them. Lethe's admission webhook stamps it (a
	// value sent by hand is refused).
	// +optional
	ChangedBy *StampedIdentity `json:"changedBy,omitempty"`

	// approvedBy is who last set approvedGeneration, stamped by Lethe's
	// admission webhook. The controller runs the approved rules only when
	// changedBy and approvedBy are both there, name two different users,
	// and the approval came after the change.
	// +optional
	ApprovedBy *StampedIdentity `json:"approvedBy,omitempty"`
}

// PolicyApprovalStatus is where a policy's approval stands.
type PolicyApprovalStatus struct {
	// approvedRules are the Delete, Archive and Anonymize rules as last
	// approved (or run with no approval required): what a change is
	// compared with.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	ApprovedRules []ApprovedRule `json:"approvedRules,omitempty"`

	// approvedTargets is a digest of spec.targets as last approved.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ApprovedTargets string `json:"approvedTargets,omitempty"`

	// widened names the rules a change added or widened since the last
	// approval.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	Widened []string `json:"widened,omitempty"`

	// pendingGeneration is the generation whose dry run waits for
	// approval: set spec.approval.approvedGeneration to it.
	// +optional
	PendingGeneration int64 `json:"pendingGeneration,omitempty"`

	// pendingDigest identifies the rules and targets the pending dry run
	// counted; a later change asks for a new dry run.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PendingDigest string `json:"pendingDigest,omitempty"`
}

// ApprovedRule is what a destructive rule selects and does, as approved.
type ApprovedRule struct {
	// name of the rule.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`
	// strength orders actions by what they destroy: 1 Anonymize or Archive
	// then None, 2 Archive then Anonymize, 3 Delete or Archive then Delete.
	// +required
	Strength int32 `json:"strength"`
	// olderThan of the rule.
	// +required
	// +kubebuilder:validation:MaxLength=32
	OlderThan string `json:"olderThan"`
	// selector is a digest of the entity, age column, conditions and field
	// overrides.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Selector string `json:"selector"`
}
