package v1alpha1

// LocalObjectReference names another object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`

	// key in the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// ForeignKeyEffect is what a foreign key did to another table's rows while
// Lethe deleted rows it refers to: rows deleted with them (they belonged to
// them), rows the table's own ON DELETE action deleted or changed, or
// references Lethe set to NULL in rows that stay.
type ForeignKeyEffect struct {
	// table is the other table, schema.table.
	// +required
	// +kubebuilder:validation:MaxLength=300
	Table string `json:"table"`
	// constraint is the foreign key's name (several, comma-separated, when
	// the rows were reached through more than one).
	// +required
	// +kubebuilder:validation:MaxLength=512
	Constraint string `json:"constraint"`
	// action is `DELETE` (rows that belonged to the deleted rows),
	// `CASCADE`, `SET NULL` or `SET DEFAULT` (the table's own ON DELETE
	// action), or `UNLINK` (a reference Lethe set to NULL first).
	// +required
	// +kubebuilder:validation:MaxLength=16
	Action string `json:"action"`
	// rows is how many rows it took or changed.
	// +required
	Rows int64 `json:"rows"`
}
