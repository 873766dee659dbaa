package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PseudonymMode is how pseudonyms are made.
// +kubebuilder:validation:Enum=Keyed;Random
type PseudonymMode string

const (
	// PseudonymKeyed derives each pseudonym from the HMAC-SHA-256 of the
	// person's matching identifier (the inventory's
	// pseudonymization.matchColumn) with a key from a Secret: every system
	// that shares the key writes the same pseudonym for the same person, now
	// and later, and nobody without the key can compute it.
	PseudonymKeyed PseudonymMode = "Keyed"
	// PseudonymRandom derives pseudonyms from a random key the job creates
	// for itself (in the Secret status.keySecretName names, owned by the
	// job): they are random to everyone, consistent across the job's own
	// targets, and unrelated to any other job's.
	PseudonymRandom PseudonymMode = "Random"
)

// PseudonymMapping says what happens to a Random job's link between
// pseudonyms and people.
// +kubebuilder:validation:Enum=Retain;Discard
type PseudonymMapping string

const (
	// MappingRetain keeps the job's key and writes the mapping (each
	// pseudonym with the identifier it replaced) into the job's Secret,
	// before any row changes: the only place the link exists. Deleting the
	// job deletes the Secret.
	MappingRetain PseudonymMapping = "Retain"
	// MappingDiscard deletes the job's key when the job succeeds: nobody can
	// link a pseudonym to a person afterwards.
	MappingDiscard PseudonymMapping = "Discard"
)

// JobPhase is where a PseudonymizationJob is.
type JobPhase string

const (
	// JobPending means the job has not changed a row yet (waiting for its
	// inputs, or stalled).
	JobPending JobPhase = "Pending"
	// JobRunning means batches are under way.
	JobRunning JobPhase = "Running"
	// JobSucceeded means every selected row of every target was pseudonymized
	// (or, in a dry run, counted).
	JobSucceeded JobPhase = "Succeeded"
)

// PseudonymizationJobSpec is what to pseudonymize, where and how.
// +kubebuilder:validation:XValidation:rule="has(self.subject) != has(self.selector)",message="spec needs exactly one of subject (one person) or selector (many)"
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a PseudonymizationJob's spec cannot change; create a new job"
type PseudonymizationJobSpec struct {
	// targets are the TenantDatabases the job pseudonymizes in, for example
	// both the application management and the workforce management
	// databases of one company.
	// +required
	Targets Targets `json:"targets"`

	// subject is one person, by the value of their matching identifier. In
	// each target, every entity of the inventory with a pseudonymization
	// section is pseudonymized where its matchColumn holds that value.
	// +optional
	Subject *PseudonymizationSubject `json:"subject,omitempty"`

	// selector selects many people, as a retention rule does: the rows of
	// one entity older than an age, with optional conditions (for example
	// employees whose last login is older than six months and who are no
	// longer active). Targets whose inventory lacks the entity are skipped.
	// +optional
	Selector *PseudonymizationSelector `json:"selector,omitempty"`

	// pseudonym says how pseudonyms are made. Their formats (`F_{n}`,
	// `L_{n}`, `user-{hex:8}`, `{n}@pseudonymized.invalid`) are the
	// inventory's Pseudonym strategies; {n} and {hex:N} are derived from the
	// key and the matching identifier.
	// +required
	Pseudonym PseudonymSettings `json:"pseudonym"`

	// deactivate also sets the inventory's pseudonymization.activeColumn to
	// false in every pseudonymized row.
	// +optional
	Deactivate bool `json:"deactivate,omitempty"`

	// batchSize is how many rows one transaction changes at most.
	// +optional
	// +kubebuilder:default=500
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	BatchSize int32 `json:"batchSize,omitempty"`

	// dryRun counts the rows the job would change, per target and entity,
	// and changes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// PseudonymizationSubject names one person by their matching identifier.
// +kubebuilder:validation:XValidation:rule="has(self.identifierSecretRef) != has(self.identifier)",message="subject needs exactly one of identifierSecretRef (recommended: nothing personal in Git) or identifier"
type PseudonymizationSubject struct {
	// identifierSecretRef names the Secret key holding the person's matching
	// identifier (for example their employee id). The recommended way:
	// nothing personal is stored in Git or in the job.
	// +optional
	IdentifierSecretRef *SecretKeyReference `json:"identifierSecretRef,omitempty"`

	// identifier inline. Accepted, with a Warning event: the value is then
	// stored in the job itself.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Identifier string `json:"identifier,omitempty"`
}

// PseudonymizationSelector selects the rows of one entity by age and
// conditions.
type PseudonymizationSelector struct {
	// entity of the targets' inventories; it needs a pseudonymization
	// section.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`

	// age selects rows whose column is older than a period, measured from
	// the job's start.
	// +required
	Age RetentionAge `json:"age"`

	// conditions further restrict the rows; all must hold.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Conditions []RetentionCondition `json:"conditions,omitempty"`
}

// PseudonymSettings say how pseudonyms are made.
// +kubebuilder:validation:XValidation:rule="(has(self.mode) && self.mode == 'Random') != has(self.keySecretRef)",message="mode Keyed needs keySecretRef; mode Random makes its own key and takes none"
// +kubebuilder:validation:XValidation:rule="!has(self.mapping) || (has(self.mode) && self.mode == 'Random')",message="mapping applies to mode Random only"
type PseudonymSettings struct {
	// mode is `Keyed` (the HMAC of the matching identifier with the key of
	// keySecretRef, the same in every system and every job that shares the
	// key) or `Random` (the same, with a random key the job creates and
	// keeps or discards as mapping says).
	// +optional
	// +kubebuilder:default=Keyed
	Mode PseudonymMode `json:"mode,omitempty"`

	// keySecretRef, for mode Keyed, names the Secret key holding the HMAC
	// key (at least 16 bytes). Give every target the same key to get the same
	// pseudonyms everywhere; keep it secret: with it and an identifier, a
	// pseudonym can be recomputed.
	// +optional
	KeySecretRef *SecretKeyReference `json:"keySecretRef,omitempty"`

	// mapping, for mode Random: `Retain` keeps the job's key and writes each
	// pseudonym with the identifier it replaced into the job's Secret (key
	// `mapping.json`); `Discard` (the default) deletes the key when the job
	// succeeds.
	// +optional
	Mapping PseudonymMapping `json:"mapping,omitempty"`

	// fields override the inventory's format for personal columns of that
	// name, in every entity that has one (for example `email` with
	// `{n}@pseudonymized.invalid`, where the inventory fakes e-mails).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=column
	Fields []PseudonymField `json:"fields,omitempty"`
}

// PseudonymField is the pseudonym format of one column.
type PseudonymField struct {
	// column name, in every entity whose personalColumns list it.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// format of the pseudonym: literal text with {n} (a number derived from
	// the key and the identifier) and {hex:N} (N hex digits of their HMAC),
	// for example `F_{n}`, `user-{hex:8}` or `{n}@pseudonymized.invalid`.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=128
	Format string `json:"format"`
}

// JobProgress counts subjects: the rows of the entities a job
// pseudonymizes, over every target.
type JobProgress struct {
	// total rows selected when the job started.
	Total int64 `json:"total"`
	// done rows pseudonymized (or counted, in a dry run).
	Done int64 `json:"done"`
	// percent done.
	Percent int32 `json:"percent"`
	// summary is "done/total".
	Summary string `json:"summary"`
}

// PseudonymizationTargetStatus is the job's result in one TenantDatabase.
type PseudonymizationTargetStatus struct {
	// name of the TenantDatabase.
	Name string `json:"name"`
	// entities pseudonymized there.
	// +optional
	// +listType=map
	// +listMapKey=entity
	Entities []PseudonymizedEntity `json:"entities,omitempty"`
	// error is the last error in this target; the job retries from its
	// checkpoint.
	// +optional
	Error string `json:"error,omitempty"`
}

// PseudonymizedEntity counts one entity's rows in one target.
type PseudonymizedEntity struct {
	// entity of the target's inventory.
	Entity string `json:"entity"`
	// found is how many rows were selected when the job started.
	Found int64 `json:"found"`
	// changed is how many rows were pseudonymized.
	Changed int64 `json:"changed"`
	// locked is how many rows stayed locked by other transactions through
	// every retry; a new job takes them.
	// +optional
	Locked int64 `json:"locked,omitempty"`
	// done says the entity is finished in this target.
	Done bool `json:"done"`
}

// PseudonymizationJobStatus is the observed state of a PseudonymizationJob.
type PseudonymizationJobStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the job succeeded), Reconciling (under way) and
	// Stalled (only a change can fix it, for example a missing key Secret).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// phase is Pending, Running or Succeeded.
	// +optional
	Phase JobPhase `json:"phase,omitempty"`

	// keySecretName, for mode Random, is the Secret the job created for its
	// key (and, with mapping Retain, the mapping); it is deleted when a job
	// with mapping Discard succeeds.
	// +optional
	KeySecretName string `json:"keySecretName,omitempty"`

	// subjectDigest names the person of spec.subject: a salted SHA-256 of
	// the identifier.
	// +optional
	SubjectDigest string `json:"subjectDigest,omitempty"`

	// startTime is when the job started; selector ages are measured from it.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`

	// completionTime is when the job succeeded.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`

	// progress counts the rows done over every target.
	// +optional
	Progress *JobProgress `json:"progress,omitempty"`

	// targets are the per-target results.
	// +optional
	// +listType=map
	// +listMapKey=name
	Targets []PseudonymizationTargetStatus `json:"targets,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=pj,categories=privacy
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.pseudonym.mode`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress.summary`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// PseudonymizationJob replaces the identifying columns of one person or of
// many with pseudonyms, the same in every target, in resumable batches, so
// that people become unidentifiable while reports keep working.
type PseudonymizationJob struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PseudonymizationJobSpec `json:"spec"`
	// +optional
	Status PseudonymizationJobStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PseudonymizationJobList is a list of PseudonymizationJobs.
type PseudonymizationJobList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PseudonymizationJob `json:"items"`
}

func init() {
	register(&PseudonymizationJob{}, &PseudonymizationJobList{})
}
