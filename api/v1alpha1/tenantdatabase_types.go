package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Keys a connection Secret may hold: KeyURI, the discrete keys, or both
// (the URI's parts win), as the PostgreSQL operators write them; and the
// TLS keys, here or in the Secret spec.connection.tlsSecretRef names. Other
// keys are ignored with a Warning event (SecretKeysIgnored), so a typo does
// not go unnoticed.
const (
	ConnectionKeyURI      = "uri"
	ConnectionKeyHost     = "host"
	ConnectionKeyPort     = "port"
	ConnectionKeyDBName   = "dbname"
	ConnectionKeyUser     = "user"
	ConnectionKeyUsername = "username"
	ConnectionKeyPassword = "password"
	ConnectionKeySSLMode  = "sslmode"
	ConnectionKeyCACert   = "ca.crt"
	ConnectionKeyTLSCert  = "tls.crt"
	ConnectionKeyTLSKey   = "tls.key"
)

// TenantDatabaseSpec says where one tenant's PostgreSQL database is and which
// DataInventory describes it.
// +kubebuilder:validation:XValidation:rule="self.tenant == oldSelf.tenant",message="spec.tenant is immutable: create a new TenantDatabase for another tenant"
type TenantDatabaseSpec struct {
	// tenant is the tenant's identifier as the application knows it. It is
	// written into every audit record. Immutable.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$`
	Tenant string `json:"tenant"`

	// connection says how to reach the database.
	// +required
	Connection ConnectionSpec `json:"connection"`

	// inventoryRef names the DataInventory, in the same namespace, that maps
	// the personal data of this database's application schema.
	// +required
	InventoryRef LocalObjectReference `json:"inventoryRef"`

	// maxConnections bounds the operator's connection pool to this database.
	// +optional
	// +kubebuilder:default=4
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32
	MaxConnections int32 `json:"maxConnections,omitempty"`

	// rowSecurity tunes the row-level security policies Lethe keeps on the
	// inventory's organization.scopedEntities.
	// +optional
	RowSecurity *RowSecuritySpec `json:"rowSecurity,omitempty"`
}

// RowSecuritySpec tunes the row-level security of a tenant database.
type RowSecuritySpec struct {
	// exemptRoles are database roles that see and write every row of the
	// scoped entities without a user set, for example the application's
	// migration role. Each must exist in the database. The operator's own
	// role is always exempt.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=63
	ExemptRoles []string `json:"exemptRoles,omitempty"`

	// force applies the policies to the tables' owner too (FORCE ROW LEVEL
	// SECURITY). Without it the owner bypasses them.
	// +optional
	Force bool `json:"force,omitempty"`
}

// RowSecurityStatus says what enforces the data scopes in the database and
// who bypasses it.
type RowSecurityStatus struct {
	// tables is the number of tables under Lethe's row-level security
	// policies.
	// +optional
	Tables int32 `json:"tables,omitempty"`

	// bypassingRoles are the login roles that bypass the policies: the
	// scoped tables' owners (unless force is set), superusers and roles with
	// BYPASSRLS, each with why, at most 32, sorted.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	BypassingRoles []string `json:"bypassingRoles,omitempty"`
}

// ConnectionSpec points at the credentials of a tenant database.
// +kubebuilder:validation:XValidation:rule="!has(self.tlsSecretRef) || self.tlsSecretRef.name != self.secretRef.name",message="spec.connection.tlsSecretRef names the connection Secret itself, whose ca.crt, tls.crt and tls.key are read anyway: remove tlsSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.tlsSecretRef) || !has(self.sslMode) || self.sslMode in ['require', 'verify-ca', 'verify-full']",message="spec.connection.sslMode must be require, verify-ca or verify-full with a tlsSecretRef (disable, allow and prefer never check the server's certificate); leave it out for verify-full"
type ConnectionSpec struct {
	// secretRef names a Secret in the same namespace. It holds the key
	// `uri` (a postgres:// URI), or the keys `host`, `port` (default 5432),
	// `dbname`, `user` (or `username`), `password` and `sslmode`, or both
	// (the URI's parts win; the keys fill what it leaves out): the
	// application Secrets of CloudNativePG and Crunchy PGO are used as they
	// are. It may hold `ca.crt`, `tls.crt` and `tls.key` too. Other keys
	// are ignored with a Warning event. The operator watches the Secret:
	// fixing it heals the TenantDatabase.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`

	// tlsSecretRef names a Secret in the same namespace holding `ca.crt`
	// (the CA that issued the server's certificate: with it, sslmode
	// defaults to verify-full) and, for certificate authentication,
	// `tls.crt` and `tls.key`: for example CloudNativePG's
	// `<cluster>-ca`, Crunchy PGO's `<cluster>-cluster-cert`, or a
	// cert-manager Certificate's Secret. Watched like secretRef.
	// +optional
	TLSSecretRef *LocalObjectReference `json:"tlsSecretRef,omitempty"`

	// host overrides the Secret's host: a DNS name or an IP address, for
	// example `acid-main.tenants` for a Zalando postgres-operator cluster,
	// whose Secret holds only `username` and `password`.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9.:]*[A-Za-z0-9])?$')",message="spec.connection.host is a DNS name or an IP address, without scheme, port or path, for example db.tenants.svc"
	Host string `json:"host,omitempty"`

	// port overrides the Secret's port (default 5432).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// database overrides the Secret's dbname.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Database string `json:"database,omitempty"`

	// sslMode overrides the Secret's sslmode: disable, allow, prefer,
	// require, verify-ca or verify-full. Without it and the Secret's,
	// verify-full is used when a CA (ca.crt) is given, require when only a
	// client certificate is, and prefer otherwise.
	// +optional
	// +kubebuilder:validation:Enum=disable;allow;prefer;require;verify-ca;verify-full
	SSLMode string `json:"sslMode,omitempty"`
}

// TenantDatabaseStatus is what the operator last observed of the database.
type TenantDatabaseStatus struct {
	// observedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Connected, InventoryValid,
	// AuditChainIntact, RestoreDetected, and the warnings
	// UncoveredPersonalData, UnmappedReferences and MissingIndexes.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// serverVersion is the PostgreSQL server's version.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	ServerVersion string `json:"serverVersion,omitempty"`

	// schemaVersion is the version of the operator's own `lethe` schema in
	// the database.
	// +optional
	SchemaVersion int64 `json:"schemaVersion,omitempty"`

	// inventoryGeneration is the generation of the DataInventory last checked
	// against the live schema.
	// +optional
	InventoryGeneration int64 `json:"inventoryGeneration,omitempty"`

	// uncoveredColumns lists the columns that look personal but are in no
	// entity of the inventory (condition UncoveredPersonalData), each with
	// the category guessed and the signals behind it (name, type, sampled
	// content with its match ratio), at most 50, sorted by table and column.
	// Names and counts only, never a value.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=50
	UncoveredColumns []UncoveredColumn `json:"uncoveredColumns,omitempty"`

	// uncoveredColumnsOmitted counts the uncovered columns found beyond
	// those listed in uncoveredColumns.
	// +optional
	UncoveredColumnsOmitted int32 `json:"uncoveredColumnsOmitted,omitempty"`

	// contentSampledTime is when the tables' content was last sampled for
	// personal data: at the first check after the manager starts, when the
	// schema changes, and every --sample-interval (default 24h). Checks in
	// between weigh names and types against the last sample.
	// +optional
	ContentSampledTime *metav1.Time `json:"contentSampledTime,omitempty"`

	// unmappedReferences lists the foreign keys from tables the inventory
	// leaves out into tables it maps (condition UnmappedReferences), at most
	// 32, sorted by table.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	UnmappedReferences []UnmappedReference `json:"unmappedReferences,omitempty"`

	// unmappedReferencesOmitted counts the references found beyond those
	// listed in unmappedReferences.
	// +optional
	UnmappedReferencesOmitted int32 `json:"unmappedReferencesOmitted,omitempty"`

	// missingIndexes lists the lookups the inventory's subject graph makes
	// through columns no index leads (condition MissingIndexes), at most 32,
	// sorted by table.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	MissingIndexes []MissingIndex `json:"missingIndexes,omitempty"`

	// missingIndexesOmitted counts the lookups found beyond those listed in
	// missingIndexes.
	// +optional
	MissingIndexesOmitted int32 `json:"missingIndexesOmitted,omitempty"`

	// auditRecords is the number of records in the audit log at the last
	// verification of its chain.
	// +optional
	AuditRecords int64 `json:"auditRecords,omitempty"`

	// auditHead is the last audit record seen by the last verification (its
	// id, the log's sequence, and its chain hash); the next verification
	// must find it unchanged. A log that ends before it, or differs at it,
	// while every record still links to the one before, is a restore from
	// a backup or a failover to a stale replica: condition RestoreDetected.
	// +optional
	AuditHead *AuditHead `json:"auditHead,omitempty"`

	// rowSecurity says which tables Lethe's row-level security policies
	// hold and which roles bypass them.
	// +optional
	RowSecurity *RowSecurityStatus `json:"rowSecurity,omitempty"`

	// lastCheckTime is when the database was last checked.
	// +optional
	LastCheckTime *metav1.Time `json:"lastCheckTime,omitempty"`
}

// UnmappedReference is a foreign key from a table the inventory leaves out
// into a table it maps. The referencing rows belong to the same person: an
// access export misses them, and deleting the person's rows either acts on
// them or fails while they exist.
type UnmappedReference struct {
	// table is the referencing table, `schema.table`, each part quoted where
	// PostgreSQL needs it, as an inventory would name it.
	// +required
	// +kubebuilder:validation:MaxLength=259
	Table string `json:"table"`

	// columns are the foreign-key columns, as PostgreSQL stores them.
	// +required
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	Columns []string `json:"columns"`

	// constraint is the foreign key's name.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Constraint string `json:"constraint"`

	// onDelete is the foreign key's ON DELETE action: `NO ACTION` or
	// `RESTRICT` (deleting the person's rows fails while these rows exist),
	// `CASCADE` (deleting them deletes these too), `SET NULL` or `SET
	// DEFAULT` (these rows stay, unlinked).
	// +required
	// +kubebuilder:validation:MaxLength=16
	OnDelete string `json:"onDelete"`

	// entity is the inventory's entity whose table the key refers to.
	// +required
	// +kubebuilder:validation:MaxLength=63
	Entity string `json:"entity"`
}

// UncoveredColumn is a column that looks personal and that no entity of the
// inventory maps.
type UncoveredColumn struct {
	// column is `schema.table.column`, each part quoted where PostgreSQL
	// needs it.
	// +required
	// +kubebuilder:validation:MaxLength=400
	Column string `json:"column"`

	// category is the kind of personal data the column seems to hold.
	// +required
	Category DataCategory `json:"category"`

	// identifier says the column seems to identify its person (an e-mail
	// address, a user name, a customer number, a national id): a candidate
	// for a subject identifier.
	// +optional
	Identifier bool `json:"identifier,omitempty"`

	// reasons are the signals behind the finding, the deciding one first.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=4
	Reasons []ColumnReason `json:"reasons"`
}

// ColumnReasonKind is the kind of signal that makes a column look personal.
// +kubebuilder:validation:Enum=Name;Type;Content
type ColumnReasonKind string

// The kinds of column reasons.
const (
	// ColumnReasonName: the column's name (read as words in English,
	// Swedish, French, German and Spanish) says so.
	ColumnReasonName ColumnReasonKind = "Name"
	// ColumnReasonType: the column's type says so (inet, bytea, ...).
	ColumnReasonType ColumnReasonKind = "Type"
	// ColumnReasonContent: sampled values match a pattern (e-mail address,
	// phone number, IP address, IBAN, card number, national id).
	ColumnReasonContent ColumnReasonKind = "Content"
)

// ColumnReason is one signal that makes a column look personal.
type ColumnReason struct {
	// kind of the signal: Name, Type or Content.
	// +required
	Kind ColumnReasonKind `json:"kind"`

	// detail says it in words, with names and counts only: `name matches
	// "e-post"`, `type inet holds IP addresses`, `content: 48/50 sampled
	// values are e-mail addresses (96%)`.
	// +required
	// +kubebuilder:validation:MaxLength=256
	Detail string `json:"detail"`

	// matchPercent, for kind Content, is the share of the sampled non-null
	// values that matched, 0 to 100.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	MatchPercent *int32 `json:"matchPercent,omitempty"`
}

// MissingIndex is a lookup of the subject graph that no index serves.
type MissingIndex struct {
	// lookup is the table and the columns it is looked up by,
	// `schema.table(column, ...)`: the index to create.
	// +required
	// +kubebuilder:validation:MaxLength=1024
	Lookup string `json:"lookup"`

	// estimatedRows is PostgreSQL's estimate of the table's rows (0 when
	// it was never analysed).
	// +optional
	EstimatedRows int64 `json:"estimatedRows,omitempty"`
}

// AuditHead identifies an audit record by its position and chain hash.
type AuditHead struct {
	// id of the record.
	// +required
	ID int64 `json:"id"`

	// hash is the record's SHA-256 chain hash, hex-encoded.
	// +required
	// +kubebuilder:validation:MaxLength=64
	Hash string `json:"hash"`
}

// TenantDatabase is one tenant's PostgreSQL database: a Secret with its
// connection and the DataInventory that describes its schema. Policies select
// TenantDatabases by name or by label.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tdb,categories=privacy
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenant`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Server version",type=string,JSONPath=`.status.serverVersion`
// +kubebuilder:printcolumn:name="Inventory",type=string,JSONPath=`.spec.inventoryRef.name`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TenantDatabase struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec says where the database is and what describes it.
	// +required
	Spec TenantDatabaseSpec `json:"spec"`

	// status is what the operator last observed.
	// +optional
	Status TenantDatabaseStatus `json:"status,omitempty"`
}

// TenantDatabaseList is a list of TenantDatabases.
// +kubebuilder:object:root=true
type TenantDatabaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TenantDatabase `json:"items"`
}

func init() {
	register(&TenantDatabase{}, &TenantDatabaseList{})
}
