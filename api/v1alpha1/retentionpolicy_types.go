package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetentionAction is what a rule does to the rows it selects.
// +kubebuilder:validation:Enum=Anonymize;Pseudonymize;Delete;Archive
type RetentionAction string

// The retention actions.
const (
	// RetentionAnonymize applies every personal column's masking strategy
	// (or the rule's override). A Pseudonym column gets a pseudonym derived
	// from the row's primary key: stable and unique, but unrelated to the
	// person.
	RetentionAnonymize RetentionAction = "Anonymize"
	// RetentionPseudonymize replaces only the identifying columns: those
	// whose strategy is Pseudonym, Hash or Fake, and the rule's overrides.
	// Other columns (free text, dates, amounts) keep their values.
	RetentionPseudonymize RetentionAction = "Pseudonymize"
	// RetentionDelete deletes the rows, and first every row of the
	// inventory's tables that refers to them (children before parents).
	RetentionDelete RetentionAction = "Delete"
	// RetentionArchive writes the rows as CSV into the archive (the table
	// lethe.retention_archives of the tenant database, each row also in
	// lethe.archived_rows with the subject it belongs to, in the same
	// transaction), then does archive.then. Access requests export a
	// subject's archived rows, erasures remove them, verification scans
	// them.
	RetentionArchive RetentionAction = "Archive"
)

// ArchiveFollowUp is what happens to archived rows.
// +kubebuilder:validation:Enum=Delete;Anonymize;None
type ArchiveFollowUp string

// The archive follow-ups.
const (
	ArchiveThenDelete    ArchiveFollowUp = "Delete"
	ArchiveThenAnonymize ArchiveFollowUp = "Anonymize"
	ArchiveThenNone      ArchiveFollowUp = "None"
)

// RetentionScope is how far a rule's change reaches.
// +kubebuilder:validation:Enum=Subject;Row
type RetentionScope string

// The retention scopes.
const (
	// RetentionScopeSubject applies, per row of a subject's root entity the
	// rule selects, what an erasure of that subject would: every entity of
	// the subject's graph, with the inventory's strategies and onErasure
	// (Anonymize: by Anonymize; Delete: by Delete), in the batch's
	// transaction.
	RetentionScopeSubject RetentionScope = "Subject"
	// RetentionScopeRow changes the selected rows of the rule's entity
	// only (and, for Delete, the rows that must go before them).
	RetentionScopeRow RetentionScope = "Row"
)

// RetentionPolicySpec is when and how records are anonymized, pseudonymized,
// deleted or archived once they are old enough.
type RetentionPolicySpec struct {
	// targets are the TenantDatabases the policy runs in. Each target's
	// DataInventory must declare every rule's entity.
	// +required
	Targets Targets `json:"targets"`

	// schedule is a cron expression with five fields (minute hour
	// day-of-month month day-of-week) or a descriptor such as `@daily`.
	// The annotation `privacy.lethe.dev/run-now` with a new value (for
	// example the current time) starts a run at once.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	Schedule string `json:"schedule"`

	// timeZone is the IANA time zone of the schedule and of calendar ages
	// (`18mo` is 18 calendar months in this zone). The default is UTC.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+/-]*$`
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops new runs and pauses a run under way at its next batch; it
	// resumes where it stopped when suspend is cleared.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// dryRun makes each run count, per rule, the rows it would change, and
	// change nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// batchSize is how many rows one transaction changes at most. Larger
	// batches are faster; smaller ones hold row locks for less time.
	// +optional
	// +kubebuilder:default=1000
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50000
	BatchSize int32 `json:"batchSize,omitempty"`

	// approval, with required: true, makes a second person approve what a
	// change would destroy: after any change that adds or widens a Delete,
	// Archive or Anonymize rule (a new rule, a shorter olderThan, a
	// stronger action, a changed selector, entity, age column or field
	// override, or changed targets), the next run is a dry run whose counts
	// wait in status.targets for approval, and nothing changes until then.
	// +optional
	Approval *PolicyApproval `json:"approval,omitempty"`

	// rules are carried out in order in each target.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	Rules []RetentionRule `json:"rules"`

	// archive administers the archives the policy's runs wrote.
	// +optional
	Archive *ArchiveAdministration `json:"archive,omitempty"`
}

// ArchiveAdministration acts on archives the policy's runs wrote.
type ArchiveAdministration struct {
	// delete lists archives to delete, each named by its run and rule as
	// status.archives shows them, in every target that holds it: its rows
	// and CSV are deleted, with an audit record, and status.archives shows
	// it Deleted. Deleting cannot be undone, so it waits for approved; an
	// entry that names no active archive does nothing.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Delete []ArchiveReference `json:"delete,omitempty"`

	// approved, set to true by someone other than who last changed delete,
	// and after that change, lets the deletions proceed. Lethe's admission
	// webhook records both identities (annotations
	// privacy.lethe.dev/archive-delete-requested-by and
	// privacy.lethe.dev/approved-by); the controller checks them and
	// deletes nothing while they are missing, equal, or the list changed
	// since the approval (set approved to false, then true again).
	// +optional
	Approved bool `json:"approved,omitempty"`
}

// ArchiveReference names one archive.
type ArchiveReference struct {
	// run is the id of the run that wrote the archive
	// (status.archives[].run).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][-A-Za-z0-9_.]*$`
	Run string `json:"run"`

	// rule is the name of the rule that wrote it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Rule string `json:"rule"`
}

// RetentionRule selects one entity's rows by age and conditions and says
// what to do with them.
// +kubebuilder:validation:XValidation:rule="self.action == 'Archive' || !has(self.archive)",message="archive applies only to action Archive"
// +kubebuilder:validation:XValidation:rule="self.action != 'Delete' || !has(self.fields)",message="fields do not apply to action Delete: deleted rows keep no values"
// +kubebuilder:validation:XValidation:rule="!has(self.scope) || self.scope == 'Row' || self.action in ['Anonymize', 'Delete']",message="scope Subject applies to actions Anonymize and Delete; Pseudonymize and Archive rules change the rule's entity only (scope Row)"
type RetentionRule struct {
	// name identifies the rule in status, events and the audit log.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// entity is an entity of the targets' DataInventory.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`

	// age selects rows whose timestamp column is older than a period.
	// +required
	Age RetentionAge `json:"age"`

	// conditions further narrow the rows; all must hold.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	Conditions []RetentionCondition `json:"conditions,omitempty"`

	// action is what happens to the selected rows.
	// +required
	Action RetentionAction `json:"action"`

	// fields override the inventory's masking strategy of named columns, for
	// Anonymize and Pseudonymize (and an archive followed by Anonymize).
	// +optional
	// +kubebuilder:validation:MaxItems=48
	// +listType=map
	// +listMapKey=column
	Fields []FieldOverride `json:"fields,omitempty"`

	// archive says what follows the archive, for action Archive.
	// +optional
	Archive *ArchiveOptions `json:"archive,omitempty"`

	// scope is how far the change reaches. `Subject` (the default for an
	// Anonymize or Delete rule whose entity is a subject's root) applies,
	// per selected root row, what an erasure of that subject would: every
	// entity of its graph, with the inventory's strategies and onErasure, in
	// the same batch. `Row` (the default otherwise, and the only scope of
	// Pseudonymize and Archive) changes the entity's selected rows only.
	// Subject on an entity that is no subject's root stalls the policy.
	// +optional
	Scope RetentionScope `json:"scope,omitempty"`
}

// RetentionAge is a timestamp column and how old it must be.
type RetentionAge struct {
	// column is a date or timestamp column of the entity's table (for example
	// `closed_at`, `last_active_at`). Rows where it is NULL are never
	// selected.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// olderThan is a period: a number from 1 to 99999 and a unit, `d`
	// (days), `w` (weeks), `mo` (calendar months) or `y` (calendar years),
	// with no space, for example `30d`, `3mo`, `18mo`, `1y`. The database
	// computes the cut-off, so months have their calendar lengths.
	// +required
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[1-9][0-9]{0,4}(d|w|mo|y)$')`,message=`olderThan is a number and a unit, d (days), w (weeks), mo (calendar months) or y (calendar years), for example 90d, 18mo or 1y`,messageExpression=`'"' + self + '" is not a period: write a number from 1 to 99999 and a unit with no space, d (days), w (weeks), mo (calendar months) or y (calendar years), for example 90d, 18mo or 1y' + (!self.matches('^ *[1-9][0-9]{0,4} *[A-Za-z]+ *$') ? '' : self.matches('^ *[0-9]+ *(m|M|mon|mons|month|months|Month|Months) *$') ? ' (for months write ' + self.find('[0-9]+') + 'mo)' : self.matches('^ *[0-9]+ *(D|day|days|Day|Days) *$') ? ' (write ' + self.find('[0-9]+') + 'd)' : self.matches('^ *[0-9]+ *(W|wk|wks|week|weeks|Week|Weeks) *$') ? ' (write ' + self.find('[0-9]+') + 'w)' : self.matches('^ *[0-9]+ *(Y|yr|yrs|year|years|Year|Years) *$') ? ' (write ' + self.find('[0-9]+') + 'y)' : '')`
	OlderThan string `json:"olderThan"`
}

// RetentionCondition is one structured condition on a column. Exactly one
// of in, notIn, isNull and isNotNull is set.
// +kubebuilder:validation:XValidation:rule="[has(self.__in__), has(self.notIn), has(self.isNull) && self.isNull, has(self.isNotNull) && self.isNotNull].filter(x, x).size() == 1",message="a condition sets exactly one of in, notIn, isNull: true and isNotNull: true"
type RetentionCondition struct {
	// column of the entity's table.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// in selects rows whose value, as text, is one of these.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	In []string `json:"in,omitempty"`

	// notIn selects rows whose value, as text, is none of these (NULL is
	// not selected).
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=256
	NotIn []string `json:"notIn,omitempty"`

	// isNull selects rows where the column is NULL.
	// +optional
	IsNull bool `json:"isNull,omitempty"`

	// isNotNull selects rows where the column is not NULL.
	// +optional
	IsNotNull bool `json:"isNotNull,omitempty"`
}

// FieldOverride replaces one column's masking strategy for a rule.
type FieldOverride struct {
	// column of the entity's table; it need not be a personal column of the
	// inventory.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// strategy for the column.
	// +required
	Strategy MaskingStrategy `json:"strategy"`
}

// ArchiveOptions are what follows an archive.
type ArchiveOptions struct {
	// then is done to the archived rows in the same transaction: `Delete`
	// (default), `Anonymize`, or `None` (the rows stay as they are and are
	// not archived again).
	// +optional
	// +kubebuilder:default=Delete
	Then ArchiveFollowUp `json:"then,omitempty"`

	// retainFor expires each archive the rule writes once it is older than
	// this period, written like age.olderThan (`90d`, `18mo`, `5y`): the
	// archive's rows and CSV are deleted, with an audit record per archive,
	// and status.archives shows it Expired. Archives are expired whenever
	// the policy is reconciled (at each run, at least). Without it, archives
	// are kept until deleted (spec.archive.delete).
	// +optional
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[1-9][0-9]{0,4}(d|w|mo|y)$')`,message=`retainFor is a number and a unit, d (days), w (weeks), mo (calendar months) or y (calendar years), for example 90d, 18mo or 1y`,messageExpression=`'"' + self + '" is not a period: write a number from 1 to 99999 and a unit with no space, d (days), w (weeks), mo (calendar months) or y (calendar years), for example 90d, 18mo or 1y' + (!self.matches('^ *[1-9][0-9]{0,4} *[A-Za-z]+ *$') ? '' : self.matches('^ *[0-9]+ *(m|M|mon|mons|month|months|Month|Months) *$') ? ' (for months write ' + self.find('[0-9]+') + 'mo)' : self.matches('^ *[0-9]+ *(D|day|days|Day|Days) *$') ? ' (write ' + self.find('[0-9]+') + 'd)' : self.matches('^ *[0-9]+ *(W|wk|wks|week|weeks|Week|Weeks) *$') ? ' (write ' + self.find('[0-9]+') + 'w)' : self.matches('^ *[0-9]+ *(Y|yr|yrs|year|years|Year|Years) *$') ? ' (write ' + self.find('[0-9]+') + 'y)' : '')`
	RetainFor string `json:"retainFor,omitempty"`
}

// ArchiveState is where an archive stands.
// +kubebuilder:validation:Enum=Active;Expired;Deleted
type ArchiveState string

// The archive states.
const (
	// ArchiveActive holds its rows.
	ArchiveActive ArchiveState = "Active"
	// ArchiveExpired passed its rule's archive.retainFor; its rows are gone.
	ArchiveExpired ArchiveState = "Expired"
	// ArchiveDeleted was listed in spec.archive.delete; its rows are gone.
	ArchiveDeleted ArchiveState = "Deleted"
)

// ArchiveStatus is one archive in one target.
type ArchiveStatus struct {
	// tenant is the TenantDatabase that holds the archive.
	// +required
	Tenant string `json:"tenant"`
	// run is the id of the run that wrote it.
	// +required
	Run string `json:"run"`
	// rule is the rule that wrote it.
	// +required
	Rule string `json:"rule"`
	// entity is the entity of the archived rows.
	// +optional
	Entity string `json:"entity,omitempty"`
	// rows is how many rows it holds (held, once expired or deleted); an
	// erasure removes its subject's rows from it.
	// +optional
	Rows int64 `json:"rows,omitempty"`
	// createdAt is when its first rows were written.
	// +required
	CreatedAt metav1.Time `json:"createdAt"`
	// state is Active, Expired or Deleted.
	// +required
	State ArchiveState `json:"state"`
	// endedAt is when it expired or was deleted.
	// +optional
	EndedAt *metav1.Time `json:"endedAt,omitempty"`
	// sha256 is the SHA-256 of its CSV as its run wrote it.
	// +optional
	SHA256 string `json:"sha256,omitempty"`
}

// RetentionPolicyStatus is what the policy did.
type RetentionPolicyStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling (a run is under way), Approved (with
	// spec.approval.required) and Stalled (a rule
	// the inventory or schema cannot satisfy, named).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastScheduleTime is when the last run was scheduled to start.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// lastCompletionTime is when the last run finished.
	// +optional
	LastCompletionTime *metav1.Time `json:"lastCompletionTime,omitempty"`

	// nextScheduleTime is when the next run is due.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// run is the run under way, or the last one.
	// +optional
	Run *RetentionRun `json:"run,omitempty"`

	// progress is the run's rules done over rules to do, over every target,
	// for `kubectl get`.
	// +optional
	Progress string `json:"progress,omitempty"`

	// targets are the per-target results of the run.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Targets []RetentionTargetStatus `json:"targets,omitempty"`

	// lastError is the last run's error, if any, without personal data.
	// +optional
	LastError string `json:"lastError,omitempty"`

	// lastRunNow is the value of the run-now annotation that started the
	// last run, so each new value starts one run.
	// +optional
	LastRunNow string `json:"lastRunNow,omitempty"`

	// archives lists the archives the policy's runs wrote in its targets
	// (lethe.archives of each tenant database), newest first, with their
	// state. It holds 100 at most: older ones are left out and counted in
	// archivesOmitted; they stay in the tenant databases, where they can
	// still be deleted by run and rule.
	// +optional
	// +kubebuilder:validation:MaxItems=100
	// +listType=atomic
	Archives []ArchiveStatus `json:"archives,omitempty"`

	// archivesOmitted counts the archives left out of archives.
	// +optional
	ArchivesOmitted int32 `json:"archivesOmitted,omitempty"`

	// approval, with spec.approval.required, is what was approved and what
	// waits for approval.
	// +optional
	Approval *PolicyApprovalStatus `json:"approval,omitempty"`
}

// RetentionRun identifies one run.
type RetentionRun struct {
	// id is unique per run and keys its checkpoints in each tenant database.
	ID string `json:"id"`
	// scheduledTime is when the run was due.
	ScheduledTime metav1.Time `json:"scheduledTime"`
	// dryRun tells whether the run changed nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
	// completed tells whether the run finished.
	// +optional
	Completed bool `json:"completed,omitempty"`
}

// RetentionTargetStatus is one target's results.
type RetentionTargetStatus struct {
	// name of the TenantDatabase.
	Name string `json:"name"`
	// rules are the per-rule results of the run in this target.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Rules []RetentionRuleStatus `json:"rules,omitempty"`
	// error is why the run failed in this target, without personal data.
	// +optional
	Error string `json:"error,omitempty"`
}

// RetentionRuleStatus counts one rule's rows in one target.
type RetentionRuleStatus struct {
	// name of the rule.
	Name string `json:"name"`
	// matched is how many rows the rule selected (in a dry run: would
	// change).
	Matched int64 `json:"matched"`
	// changed is how many rows of the rule's entity it changed or deleted.
	Changed int64 `json:"changed"`
	// effects are the rows other tables lost or had changed through
	// foreign keys while the rule deleted rows: the rows that belonged to
	// them, what an ON DELETE action of another table did, references set
	// to NULL.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	Effects []ForeignKeyEffect `json:"effects,omitempty"`
	// effectsOmitted counts the effects left out of effects (the smallest),
	// which holds 32 at most.
	// +optional
	EffectsOmitted int32 `json:"effectsOmitted,omitempty"`
	// subjectRows counts, per entity and action, the rows of the selected
	// subjects' other entities a rule of scope Subject changed (`Mask`) or
	// deleted (`Delete`).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	SubjectRows []RetentionEntityRows `json:"subjectRows,omitempty"`
	// locked is how many selected rows stayed locked by another transaction
	// through every retry; the next run takes them.
	// +optional
	Locked int64 `json:"locked,omitempty"`
	// archiveSHA256 is the SHA-256 of the rule's CSV archive, for action
	// Archive.
	// +optional
	ArchiveSHA256 string `json:"archiveSHA256,omitempty"`
	// done tells whether the rule finished in this target.
	// +optional
	Done bool `json:"done,omitempty"`
}

// RetentionEntityRows counts one entity's rows a rule changed.
type RetentionEntityRows struct {
	// entity of the inventory.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`
	// action is `Mask` or `Delete`, as for an erasure.
	// +required
	// +kubebuilder:validation:MaxLength=16
	Action string `json:"action"`
	// rows is how many rows it changed or deleted.
	// +required
	Rows int64 `json:"rows"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=privacy
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last run",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Next run",type=string,JSONPath=`.status.nextScheduleTime`
// +kubebuilder:printcolumn:name="Progress",type=string,JSONPath=`.status.progress`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// RetentionPolicy anonymizes, pseudonymizes, deletes or archives records of
// the selected tenant databases once they are old enough, on a schedule, in
// resumable batches.
type RetentionPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RetentionPolicySpec `json:"spec"`
	// +optional
	Status RetentionPolicyStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RetentionPolicyList is a list of RetentionPolicies.
type RetentionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RetentionPolicy `json:"items"`
}

func init() {
	register(&RetentionPolicy{}, &RetentionPolicyList{})
}
