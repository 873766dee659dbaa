package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DataInventorySpec is the personal-data map of one application schema, shared
// by every tenant database that runs that application.
//
// +kubebuilder:validation:XValidation:rule="self.entities.all(e, self.entities.exists_one(f, f.table == e.table))",message="spec.entities: each table may be described by one entity only"
// +kubebuilder:validation:XValidation:rule="self.entities.all(e, !has(e.subject) || self.subjects.exists(s, s.name == e.subject.type))",message="spec.entities[].subject.type must name a subject type declared in spec.subjects"
// +kubebuilder:validation:XValidation:rule="self.entities.all(e, !has(e.subject) || e.subject.identifiers.all(i, self.subjects.exists(s, s.name == e.subject.type && i.name in s.identifiers)))",message="spec.entities[].subject.identifiers[].name must be one of the identifiers its subject type declares in spec.subjects"
// +kubebuilder:validation:XValidation:rule="self.entities.all(e, !has(e.relations) || e.relations.all(r, self.entities.exists(f, f.name == r.entity)))",message="spec.entities[].relations[].entity must name an entity declared in spec.entities"
// +kubebuilder:validation:XValidation:rule="self.subjects.all(s, self.entities.exists(e, has(e.subject) && e.subject.type == s.name))",message="every subject type in spec.subjects needs a root entity: an entity whose subject.type names it"
// +kubebuilder:validation:XValidation:rule="!has(self.organization) || !has(self.organization.scopedEntities) || self.organization.scopedEntities.all(o, self.entities.exists(e, e.name == o.entity))",message="spec.organization.scopedEntities[].entity must name an entity declared in spec.entities"
type DataInventorySpec struct {
	// subjects are the kinds of people the application stores data about
	// (customer, contactPerson, employee, ...) and the identifiers a request
	// may name them by.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Subjects []SubjectType `json:"subjects"`

	// entities are the tables that hold personal data: roots, whose rows are
	// subjects, and entities related to a root through foreign keys.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=48
	// +listType=map
	// +listMapKey=name
	Entities []Entity `json:"entities"`

	// organization says where the application keeps its users' teams and
	// groups, for the data scopes of Roles.
	// +optional
	Organization *Organization `json:"organization,omitempty"`
}

// SubjectType is a kind of person and the identifiers that find one.
type SubjectType struct {
	// name of the subject type, as requests name it (for example `customer`).
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
	Name string `json:"name"`

	// identifiers a request may use to find a subject of this type (for
	// example `email`, `customerNumber`).
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:validation:items:Pattern=`^[a-z][a-zA-Z0-9]*$`
	// +listType=set
	Identifiers []string `json:"identifiers"`
}

// EntityErasure is what erasing a subject does to an entity's rows.
// +kubebuilder:validation:Enum=Mask;DeleteRow;Keep
type EntityErasure string

const (
	// ErasureMask applies each personal column's masking strategy.
	ErasureMask EntityErasure = "Mask"
	// ErasureDeleteRow deletes the rows, children first in foreign-key order.
	ErasureDeleteRow EntityErasure = "DeleteRow"
	// ErasureKeep leaves the rows as they are (for example rows a retention
	// policy owns).
	ErasureKeep EntityErasure = "Keep"
)

// Entity is one table that holds personal data.
// +kubebuilder:validation:XValidation:rule="has(self.subject) || (has(self.relations) && size(self.relations) > 0)",message="an entity needs subject (its rows are subjects) or relations (its rows belong to another entity's rows), or both"
// +kubebuilder:validation:XValidation:rule="!has(self.personalColumns) || !has(self.reportingColumns) || self.reportingColumns.all(r, !self.personalColumns.exists(c, c.column == r))",message="reportingColumns must not repeat a personal column: a column kept for reporting is not masked"
type Entity struct {
	// name of the entity (for example `customer`, `caseComment`); rules and
	// requests refer to it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
	Name string `json:"name"`

	// table is the schema-qualified table, `schema.table`, in any schema:
	// each part a plain identifier (`app.customers`, folded to lower case as
	// PostgreSQL folds it) or double-quoted where it holds capitals, spaces,
	// dots or other letters (`public."Order Items"`), at most 63 bytes each.
	// Partitioned tables are allowed (their partitions are not listed
	// separately); views are not: map the table a view reads from.
	// +required
	// +kubebuilder:validation:MaxLength=259
	// +kubebuilder:validation:XValidation:rule=`self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$')`,message=`table is schema.table, each part a plain identifier or double-quoted where it holds capitals, spaces, dots or other letters: app.customers, public."Order Items"`
	// +kubebuilder:validation:XValidation:rule=`!self.matches('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")\\.([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")$') || [self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")'), self.substring(size(self.find('^([A-Za-z_][A-Za-z0-9_$]*|"([^"\\x00-\\x1f\\x7f]|"")+")')) + 1)].all(p, size(bytes(p.startsWith('\"') ? p.substring(1, size(p) - 1).replace('\"\"', '\"') : p)) <= 63)`,message=`each part of table holds at most 63 bytes (PostgreSQL's limit), not counting its quotes`
	Table string `json:"table"`

	// primaryKey lists the columns that tell the table's rows apart. The
	// default is the live table's own: its primary key, or, for a table
	// without one, its smallest unique index over NOT NULL columns (the
	// TenantDatabase says which it uses). Partitioned tables are keyed as
	// PostgreSQL keys them, partition key included. Every column name in an
	// inventory is written as PostgreSQL stores it, without quotes
	// (`customer_id`, `Order Id`, `Prämie`): 1 to 63 bytes, no control
	// characters.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	// +kubebuilder:validation:items:MaxLength=63
	PrimaryKey []string `json:"primaryKey,omitempty"`

	// subject makes this entity a root: each row is a subject of this type,
	// found by the identifier columns listed.
	// +optional
	Subject *EntitySubject `json:"subject,omitempty"`

	// relations tie this entity's rows to another entity's rows through
	// foreign-key columns, in either direction. Following relations from any
	// entity must reach a root.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	Relations []EntityRelation `json:"relations,omitempty"`

	// personalColumns are the columns that hold personal data, each with its
	// category and masking strategy.
	// +optional
	// +kubebuilder:validation:MaxItems=48
	// +listType=map
	// +listMapKey=column
	PersonalColumns []PersonalColumn `json:"personalColumns,omitempty"`

	// reportingColumns are columns kept as they are for reporting (status,
	// dates, durations); listing them documents that they were considered.
	// +optional
	// +kubebuilder:validation:MaxItems=48
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	// +kubebuilder:validation:items:MaxLength=63
	// +listType=set
	ReportingColumns []string `json:"reportingColumns,omitempty"`

	// onErasure is what erasing a subject does to this entity's rows: `Mask`
	// (default: apply each personal column's strategy), `DeleteRow` (children
	// first, in foreign-key order) or `Keep`.
	// +optional
	// +kubebuilder:default=Mask
	OnErasure EntityErasure `json:"onErasure,omitempty"`

	// pseudonymization marks the entity as one a PseudonymizationJob
	// pseudonymizes: its column holding the identifier shared across
	// systems, and the column that says whether the person is active.
	// +optional
	Pseudonymization *EntityPseudonymization `json:"pseudonymization,omitempty"`
}

// EntityPseudonymization says how a PseudonymizationJob recognises a person
// in this entity's rows. One person often lives in several systems (for
// example application management and workforce management, each with its
// own inventory) under one identifier such as the employee id: each
// inventory maps that identifier to its own column, and keyed pseudonyms
// derived from it are then the same in every system.
// +kubebuilder:validation:XValidation:rule="!has(self.activeColumn) || self.activeColumn != self.matchColumn",message="activeColumn and matchColumn must be different columns"
type EntityPseudonymization struct {
	// matchColumn holds the identifier the person has in every system (for
	// example `employee_id`). A job for one person finds the rows by it, and
	// keyed pseudonyms are the HMAC of its value, so the column may itself
	// be pseudonymized.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	MatchColumn string `json:"matchColumn"`

	// activeColumn is a boolean column that a job with spec.deactivate sets
	// to false in the same transaction as the pseudonyms (for example
	// `active`), so a pseudonymized person can no longer log in or be
	// scheduled.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	ActiveColumn string `json:"activeColumn,omitempty"`
}

// EntitySubject maps identifier names of a subject type to columns.
type EntitySubject struct {
	// type is a subject type of spec.subjects.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Type string `json:"type"`

	// identifiers map each identifier the root can be found by to its column.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=map
	// +listMapKey=name
	Identifiers []IdentifierColumn `json:"identifiers"`

	// restrictedColumn is a boolean column the operator sets to true on the
	// subject's root rows while a Restriction request holds (and back to
	// false when it is lifted), in the same transaction as its own record,
	// so the application can honour the restriction too (for example
	// `processing_restricted`).
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	RestrictedColumn string `json:"restrictedColumn,omitempty"`
}

// IdentifierColumn maps one identifier name to a column.
type IdentifierColumn struct {
	// name of the identifier, one of the subject type's identifiers.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// column that holds it.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`
}

// RelationDirection says which of two related tables holds the foreign key.
// +kubebuilder:validation:Enum=Child;Referenced
type RelationDirection string

const (
	// RelationChild means this entity's rows hold a foreign key to the related
	// entity's rows (a case's comments point to the case).
	RelationChild RelationDirection = "Child"
	// RelationReferenced means the related entity's rows hold a foreign key to this
	// entity's rows (the address row a customer points to).
	RelationReferenced RelationDirection = "Referenced"
)

// EntityRelation ties an entity to another, closer to a subject's root.
// +kubebuilder:validation:XValidation:rule="!has(self.references) || (has(self.columns) && size(self.references) == size(self.columns))",message="references must list as many columns as columns, which it needs"
// +kubebuilder:validation:XValidation:rule="self.direction == 'Referenced' || !has(self.exclusive)",message="exclusive applies only to direction Referenced"
type EntityRelation struct {
	// entity is the related entity's name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`

	// direction: `Child` when this entity's table holds the foreign key
	// (columns are in this table, references in the related one), `Referenced`
	// when the related entity's table holds it (columns are in the related
	// table, references in this one).
	// +required
	Direction RelationDirection `json:"direction"`

	// columns are the foreign-key columns, in the table that holds the key,
	// one or several (a multi-column foreign key). The default is the
	// columns of the live database's one foreign key between the two
	// tables in this direction; without exactly one, name them.
	// +optional
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	// +kubebuilder:validation:items:MaxLength=63
	Columns []string `json:"columns,omitempty"`

	// references are the referenced columns in the other table: its primary
	// key by default, or any unique key (an e-mail column, a code). With
	// columns omitted, they come from the live foreign key too.
	// +optional
	// +kubebuilder:validation:MaxItems=4
	// +kubebuilder:validation:items:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	// +kubebuilder:validation:items:MaxLength=63
	References []string `json:"references,omitempty"`

	// exclusive, for direction `Referenced`, says whether a referenced row
	// belongs to one subject only. A row that is not exclusive (a shared
	// address) is exported but never erased.
	// +optional
	Exclusive *bool `json:"exclusive,omitempty"`
}

// DataCategory is the kind of personal data a column holds.
// +kubebuilder:validation:Enum=Name;Email;Phone;Address;Identifier;FreeText;IPAddress;Image;BirthDate;Location;Financial;UserName;Other
type DataCategory string

// PersonalColumn is a column that holds personal data.
type PersonalColumn struct {
	// column name, as PostgreSQL stores it (no quotes).
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule=`self.matches('^[^\\x00-\\x1f\\x7f]+$') && size(bytes(self)) <= 63`,message=`a column is named as PostgreSQL stores it, without quotes (customer_id, Order Id, Prämie): 1 to 63 bytes, no control characters`
	Column string `json:"column"`

	// category of the data: Name, Email, Phone, Address, Identifier, FreeText,
	// IPAddress, Image, BirthDate, Location, Financial, UserName or Other.
	// +required
	Category DataCategory `json:"category"`

	// strategy masks the column when a subject is erased or a record ages out.
	// +required
	Strategy MaskingStrategy `json:"strategy"`
}

// StrategyType names a masking strategy.
// +kubebuilder:validation:Enum=Nullify;Replace;Hash;Pseudonym;Fake;Partial;Generalize;Clear
type StrategyType string

// The masking strategies.
const (
	StrategyNullify    StrategyType = "Nullify"
	StrategyReplace    StrategyType = "Replace"
	StrategyHash       StrategyType = "Hash"
	StrategyPseudonym  StrategyType = "Pseudonym"
	StrategyFake       StrategyType = "Fake"
	StrategyPartial    StrategyType = "Partial"
	StrategyGeneralize StrategyType = "Generalize"
	StrategyClear      StrategyType = "Clear"
)

// FakeKind is the kind of realistic value the Fake strategy produces.
// +kubebuilder:validation:Enum=Name;FirstName;LastName;Email;Phone;Address;City;Company;UserName
type FakeKind string

// FakeLocale is the country Fake values look like they come from.
// +kubebuilder:validation:Enum=en-GB;en-US;de-DE;fr-FR;es-ES
type FakeLocale string

// Precision is the granularity Generalize keeps of a date.
// +kubebuilder:validation:Enum=Month;Year
type Precision string

// MaskingStrategy says how a column is masked, with the parameters its type
// needs.
// +kubebuilder:validation:XValidation:rule="self.type == 'Replace' ? has(self.value) : !has(self.value)",message="value is required for strategy Replace and allowed only there"
// +kubebuilder:validation:XValidation:rule="self.type == 'Pseudonym' ? has(self.format) : !has(self.format)",message="format is required for strategy Pseudonym and allowed only there"
// +kubebuilder:validation:XValidation:rule="!has(self.format) || self.format.matches('[{](n|hex:[0-9]+)[}]')",message="format must contain a placeholder {n} or {hex:N}, for example L_{n}"
// +kubebuilder:validation:XValidation:rule="self.type == 'Fake' ? has(self.fake) : !has(self.fake)",message="fake is required for strategy Fake and allowed only there"
// +kubebuilder:validation:XValidation:rule="self.type == 'Partial' ? (has(self.keepPrefix) || has(self.keepSuffix)) : !(has(self.keepPrefix) || has(self.keepSuffix) || has(self.maskChar))",message="keepPrefix or keepSuffix is required for strategy Partial, and they and maskChar are allowed only there"
// +kubebuilder:validation:XValidation:rule="self.type == 'Generalize' ? (has(self.precision) != has(self.bucket)) : !(has(self.precision) || has(self.bucket))",message="strategy Generalize needs exactly one of precision (dates) or bucket (numbers), and they are allowed only there"
// +kubebuilder:validation:XValidation:rule="self.type == 'Hash' ? has(self.keySecretRef) : !has(self.keySecretRef)",message="keySecretRef is required for strategy Hash and allowed only there"
type MaskingStrategy struct {
	// type of the strategy: `Nullify` (set NULL), `Replace` (a constant),
	// `Hash` (keyed HMAC-SHA-256), `Pseudonym` (a format, consistent per
	// subject), `Fake` (realistic, deterministic per input), `Partial` (keep a
	// prefix or suffix, mask the rest), `Generalize` (dates to month or year,
	// numbers to a bucket) or `Clear` (free text emptied).
	// +required
	Type StrategyType `json:"type"`

	// value, for Replace, is the constant written (for example "Anonymized"
	// or "0").
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Value *string `json:"value,omitempty"`

	// format, for Pseudonym, is a template with a placeholder: `{n}` (a
	// number, consistent per subject) or `{hex:N}` (N hex digits), for example
	// `L_{n}` or `user-{hex:8}`.
	// +optional
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=128
	Format *string `json:"format,omitempty"`

	// fake, for Fake, is the kind of value produced.
	// +optional
	Fake *FakeKind `json:"fake,omitempty"`

	// locale, for Fake, makes names, streets, cities and phone numbers look
	// like those of one country: `en-GB`, `en-US`, `de-DE`, `fr-FR` or
	// `es-ES`. Phone numbers stay in ranges no subscriber can have (kept for
	// fiction where the country keeps one). The default mixes names of many
	// countries, with British phone numbers for fiction.
	// +optional
	Locale *FakeLocale `json:"locale,omitempty"`

	// keepPrefix, for Partial, is how many leading characters are kept.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=64
	KeepPrefix *int32 `json:"keepPrefix,omitempty"`

	// keepSuffix, for Partial, is how many trailing characters are kept.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=64
	KeepSuffix *int32 `json:"keepSuffix,omitempty"`

	// maskChar, for Partial, replaces each masked character (default `*`).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1
	MaskChar *string `json:"maskChar,omitempty"`

	// precision, for Generalize on a date or timestamp, is what is kept:
	// `Month` or `Year`.
	// +optional
	Precision *Precision `json:"precision,omitempty"`

	// bucket, for Generalize on a number, is the bucket width: values are
	// rounded down to a multiple of it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Bucket *int64 `json:"bucket,omitempty"`

	// keySecretRef, for Hash, names the Secret key that holds the HMAC key.
	// +optional
	KeySecretRef *SecretKeyReference `json:"keySecretRef,omitempty"`
}

// DataInventoryStatus reports the inventory's own consistency.
type DataInventoryStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// subjects is the number of subject types.
	// +optional
	Subjects int32 `json:"subjects,omitempty"`

	// entities is the number of entities.
	// +optional
	Entities int32 `json:"entities,omitempty"`

	// deleteOrder lists the entities in the order their rows are deleted:
	// children before the rows they point to.
	// +optional
	// +kubebuilder:validation:MaxItems=48
	// +kubebuilder:validation:items:MaxLength=63
	DeleteOrder []string `json:"deleteOrder,omitempty"`
}

// DataInventory is the personal-data map of an application schema, shared by
// every tenant that runs that application: subject types and identifiers,
// tables, personal columns with their category and masking strategy, relations
// to the subject, and columns kept for reporting.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=dinv,categories=privacy
// +kubebuilder:printcolumn:name="Subjects",type=integer,JSONPath=`.status.subjects`
// +kubebuilder:printcolumn:name="Entities",type=integer,JSONPath=`.status.entities`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DataInventory struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the map.
	// +required
	Spec DataInventorySpec `json:"spec"`

	// status reports the map's own consistency.
	// +optional
	Status DataInventoryStatus `json:"status,omitempty"`
}

// DataInventoryList is a list of DataInventories.
// +kubebuilder:object:root=true
type DataInventoryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []DataInventory `json:"items"`
}

func init() {
	register(&DataInventory{}, &DataInventoryList{})
}
