package controllers

import (
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/rolesync"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// tenantObservation is what one reconciliation found out about a tenant
// database. Every message in it is safe for status and events: no value
// from the Secret and no personal data.
type tenantObservation struct {
	secretName      string
	secrets         string
	missingSecret   string
	secretErr       error
	sslMode         string
	ignoredKeys     []string
	connErr         *tenantdb.ConnectError
	serverVersion   string
	migrateErr      error
	schemaVersion   int64
	inventoryName   string
	inventoryFound  bool
	inventoryGen    int64
	inventoryIssues []string
	keyNotes        []string
	catalogErr      error
	uncovered       []classify.Finding
	sampledAt       *metav1.Time
	samplingNote    string
	draft           *drafted
	draftErr        error
	unmapped        []inventory.UnmappedReference
	unindexed       []inventory.MissingIndex
	auditResult     *audit.Result
	auditErr        error
	rowSecurity     *rolesync.RowSecurityResult
	rowSecurityErr  error
	pool            *pgxpool.Pool
	restore         *restoreObservation
}

// connected says whether the database was reached and its schema migrated.
func (o *tenantObservation) connected() bool {
	return o.missingSecret == "" && o.secretErr == nil && o.connErr == nil && o.migrateErr == nil
}

// maxUncoveredInStatus bounds status.uncoveredColumns, and maxRisksInStatus
// status.unmappedReferences and status.missingIndexes (the CRD's MaxItems).
const (
	maxUncoveredInStatus = 50
	maxRisksInStatus     = 32
)

// applyTenantStatus computes the TenantDatabase's status from an observation,
// one setter per condition, and returns the verdict.
func applyTenantStatus(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, now metav1.Time) verdict {
	st := &tdb.Status
	st.LastCheckTime = &now
	v, reason, message := verdictReady, privacyv1alpha1.ReasonSucceeded, ""

	fail := func(fv verdict, r, m string) {
		if v == verdictReady {
			v, reason, message = fv, r, m
		}
	}

	setTenantConnected(tdb, o, fail)
	setTenantInventoryValid(tdb, o, fail)
	setTenantAuditChainIntact(tdb, o, fail)
	setTenantRestoreDetected(tdb, o, fail)
	setTenantUncovered(tdb, o)
	setTenantUnmappedReferences(tdb, o)
	setTenantMissingIndexes(tdb, o)
	setTenantRowSecurity(tdb, o, fail)

	if v == verdictReady {
		message = fmt.Sprintf("connected to PostgreSQL %s; lethe schema version %d; inventory %s matches the schema; audit chain intact (%d records)",
			o.serverVersion, o.schemaVersion, o.inventoryName, st.AuditRecords)
	}
	setSummary(&st.Conditions, &st.ObservedGeneration, tdb.Generation, v, reason, message)
	return v
}

func setTenantConnected(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, fail func(verdict, string, string)) {
	st, gen := &tdb.Status, tdb.Generation
	set := func(fv verdict, reason, message string) {
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionConnected, metav1.ConditionFalse, reason, message)
		fail(fv, reason, message)
	}
	var keyMissing *tenantdb.KeyMissingError
	var invalid *tenantdb.InvalidSecretError
	switch {
	case o.missingSecret != "" && o.missingSecret != o.secretName:
		set(verdictWaiting, privacyv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("TLS secret %s not found in namespace %s: create it with the key \"ca.crt\" (and \"tls.crt\", \"tls.key\" for a client certificate)",
				o.missingSecret, tdb.Namespace))
	case o.missingSecret != "":
		set(verdictWaiting, privacyv1alpha1.ReasonSecretNotFound,
			fmt.Sprintf("secret %s not found in namespace %s: create it with the key \"uri\", or host, port, dbname, user, password and sslmode", o.secretName, tdb.Namespace))
	case errors.As(o.secretErr, &keyMissing):
		set(verdictStalled, privacyv1alpha1.ReasonSecretKeyMissing, fmt.Sprintf("secret %s %s", o.secretName, keyMissing.Error()))
	case errors.As(o.secretErr, &invalid):
		set(verdictStalled, privacyv1alpha1.ReasonSecretInvalid, fmt.Sprintf("secret %s %s", secretOf(tdb, invalid.In), invalid.Error()))
	case o.secretErr != nil:
		set(verdictWaiting, privacyv1alpha1.ReasonConnectionFailed, fmt.Sprintf("%s: %v", o.secrets, o.secretErr))
	case o.connErr != nil && o.connErr.Kind == tenantdb.FailureTLS:
		// A certificate that does not verify is never worked around: the
		// connection fails closed until the Secrets or the server change.
		set(verdictStalled, privacyv1alpha1.ReasonTLSVerificationFailed,
			fmt.Sprintf("TLS with the database server of %s failed (sslmode %s): %s", o.secrets, o.sslMode, o.connErr.Error()))
	case o.connErr != nil:
		switch o.connErr.Kind {
		case tenantdb.FailureAuthentication:
			set(verdictStalled, privacyv1alpha1.ReasonAuthenticationFailed,
				fmt.Sprintf("%s: check user and password in secret %s", o.connErr.Error(), o.secretName))
		case tenantdb.FailureDatabaseNotFound:
			set(verdictStalled, privacyv1alpha1.ReasonDatabaseNotFound,
				fmt.Sprintf("%s: check dbname in secret %s", o.connErr.Error(), o.secretName))
		case tenantdb.FailureUnreachable:
			set(verdictWaiting, privacyv1alpha1.ReasonUnreachable,
				fmt.Sprintf("cannot reach the database server of secret %s: %s", o.secretName, o.connErr.Error()))
		default:
			set(verdictWaiting, privacyv1alpha1.ReasonConnectionFailed,
				fmt.Sprintf("cannot connect with secret %s: %s", o.secretName, o.connErr.Error()))
		}
	case o.migrateErr != nil:
		set(verdictWaiting, privacyv1alpha1.ReasonSchemaMigrationFailed,
			fmt.Sprintf("cannot create or migrate the lethe schema: %s", safeDBError(o.migrateErr)))
	default:
		st.ServerVersion = o.serverVersion
		st.SchemaVersion = o.schemaVersion
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionConnected, metav1.ConditionTrue, privacyv1alpha1.ReasonConnected,
			fmt.Sprintf("connected to PostgreSQL %s with secret %s", o.serverVersion, o.secretName))
	}
}

func setTenantInventoryValid(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, fail func(verdict, string, string)) {
	st, gen := &tdb.Status, tdb.Generation
	switch {
	case !o.inventoryFound:
		msg := fmt.Sprintf("DataInventory %s not found in namespace %s", o.inventoryName, tdb.Namespace)
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryNotFound, msg)
		fail(verdictWaiting, privacyv1alpha1.ReasonInventoryNotFound, msg)
	case !o.connected():
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionInventoryValid, metav1.ConditionUnknown, privacyv1alpha1.ReasonProgressing,
			"not checked: the database is not connected")
	case o.catalogErr != nil:
		msg := "cannot read the schema catalog: " + safeDBError(o.catalogErr)
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionInventoryValid, metav1.ConditionUnknown, privacyv1alpha1.ReasonProgressing, msg)
		fail(verdictWaiting, privacyv1alpha1.ReasonProgressing, msg)
	case len(o.inventoryIssues) > 0:
		msg := fmt.Sprintf("DataInventory %s does not match the database: %s", o.inventoryName, listUpTo(o.inventoryIssues, 20, "; "))
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionInventoryValid, metav1.ConditionFalse, privacyv1alpha1.ReasonInventoryInvalid, msg)
		fail(verdictStalled, privacyv1alpha1.ReasonInventoryInvalid, msg)
	default:
		st.InventoryGeneration = o.inventoryGen
		msg := fmt.Sprintf("DataInventory %s (generation %d) matches the database", o.inventoryName, o.inventoryGen)
		if len(o.keyNotes) > 0 {
			msg += "; " + listUpTo(o.keyNotes, 10, "; ")
		}
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionInventoryValid, metav1.ConditionTrue, privacyv1alpha1.ReasonInventoryValid, msg)
	}
}

func setTenantAuditChainIntact(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, fail func(verdict, string, string)) {
	st, gen := &tdb.Status, tdb.Generation
	switch {
	case !o.connected():
		if meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionAuditChainIntact) == nil {
			setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionUnknown, privacyv1alpha1.ReasonProgressing,
				"not verified: the database is not connected")
		}
	case o.auditErr != nil:
		msg := "cannot read the audit log: " + safeDBError(o.auditErr)
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionUnknown, privacyv1alpha1.ReasonProgressing, msg)
		fail(verdictWaiting, privacyv1alpha1.ReasonProgressing, msg)
	case !o.auditResult.Intact && !o.auditResult.Behind:
		msg := fmt.Sprintf("audit log lethe.audit_log is not intact: %s", o.auditResult.Problem)
		st.AuditRecords = o.auditResult.Records
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionFalse, privacyv1alpha1.ReasonAuditChainBroken, msg)
		fail(verdictStalled, privacyv1alpha1.ReasonAuditChainBroken, msg)
	default:
		st.AuditRecords = o.auditResult.Records
		if o.auditResult.Head.ID != 0 {
			st.AuditHead = &privacyv1alpha1.AuditHead{ID: o.auditResult.Head.ID, Hash: o.auditResult.Head.Hash}
		}
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionAuditChainIntact, metav1.ConditionTrue, privacyv1alpha1.ReasonAuditChainIntact,
			fmt.Sprintf("%d audit records, each linked to the one before", o.auditResult.Records))
	}
}

func setTenantUncovered(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation) {
	st, gen := &tdb.Status, tdb.Generation
	if !o.connected() || !o.inventoryFound || o.catalogErr != nil {
		return
	}
	if o.sampledAt != nil {
		st.ContentSampledTime = o.sampledAt
	}
	note := ""
	if o.samplingNote != "" {
		note = "; " + o.samplingNote
	}
	st.UncoveredColumns, st.UncoveredColumnsOmitted = nil, 0
	if len(o.uncovered) == 0 {
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionFalse, privacyv1alpha1.ReasonAllColumnsCovered,
			"every column that looks personal is in the inventory"+note)
		return
	}
	names := make([]string, len(o.uncovered))
	for i, f := range o.uncovered {
		names[i] = summary(f)
		if i < maxUncoveredInStatus {
			st.UncoveredColumns = append(st.UncoveredColumns, uncoveredColumn(f))
		}
	}
	st.UncoveredColumnsOmitted = int32(len(o.uncovered) - len(st.UncoveredColumns)) // #nosec G115 -- bounded by the catalog's columns
	setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionUncoveredPersonalData, metav1.ConditionTrue, privacyv1alpha1.ReasonUncoveredColumns,
		fmt.Sprintf("%d columns look personal but are not in DataInventory %s: %s%s", len(o.uncovered), o.inventoryName,
			listUpTo(names, 5, ", "), note))
}

func setTenantUnmappedReferences(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation) {
	st, gen := &tdb.Status, tdb.Generation
	if !o.connected() || !o.inventoryFound || o.catalogErr != nil {
		return
	}
	st.UnmappedReferences, st.UnmappedReferencesOmitted = nil, 0
	if len(o.unmapped) == 0 {
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionFalse, privacyv1alpha1.ReasonNoUnmappedReferences,
			fmt.Sprintf("no table outside DataInventory %s refers to a table it maps", o.inventoryName))
		return
	}
	names := make([]string, len(o.unmapped))
	blocking := 0
	for i, r := range o.unmapped {
		names[i] = r.String()
		if r.Blocks() {
			blocking++
		}
		if i < maxRisksInStatus {
			st.UnmappedReferences = append(st.UnmappedReferences, privacyv1alpha1.UnmappedReference{
				Table: r.Table, Columns: r.Columns, Constraint: r.Constraint, OnDelete: r.OnDelete, Entity: r.Entity})
		}
	}
	st.UnmappedReferencesOmitted = int32(len(o.unmapped) - len(st.UnmappedReferences)) // #nosec G115 -- bounded by the catalog's foreign keys
	msg := fmt.Sprintf("%d foreign keys of tables outside DataInventory %s refer to tables it maps: their rows belong to the same person, "+
		"an access export misses them, and", len(o.unmapped), o.inventoryName)
	if blocking > 0 {
		msg += fmt.Sprintf(" %d of them (NO ACTION or RESTRICT) make deleting the person's rows fail while they exist", blocking)
	} else {
		msg += " deleting the person's rows changes them too"
	}
	msg += "; map each table as an entity related to the one it refers to: " + listUpTo(names, 10, "; ")
	setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionUnmappedReferences, metav1.ConditionTrue, privacyv1alpha1.ReasonTablesReferToSubjects, msg)
}

func setTenantMissingIndexes(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation) {
	st, gen := &tdb.Status, tdb.Generation
	if !o.connected() || !o.inventoryFound || o.catalogErr != nil {
		return
	}
	st.MissingIndexes, st.MissingIndexesOmitted = nil, 0
	if len(o.unindexed) == 0 {
		setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionMissingIndexes, metav1.ConditionFalse, privacyv1alpha1.ReasonAllLookupsIndexed,
			fmt.Sprintf("an index serves every lookup of DataInventory %s's subject graph", o.inventoryName))
		return
	}
	names := make([]string, len(o.unindexed))
	for i, m := range o.unindexed {
		names[i] = fmt.Sprintf("%s (about %d rows)", m, m.Rows)
		if i < maxRisksInStatus {
			st.MissingIndexes = append(st.MissingIndexes, privacyv1alpha1.MissingIndex{Lookup: m.String(), EstimatedRows: m.Rows})
		}
	}
	st.MissingIndexesOmitted = int32(len(o.unindexed) - len(st.MissingIndexes)) // #nosec G115 -- bounded by the inventory's relations
	setCondition(&st.Conditions, gen, privacyv1alpha1.ConditionMissingIndexes, metav1.ConditionTrue, privacyv1alpha1.ReasonUnindexedLookups,
		fmt.Sprintf("%d lookups of DataInventory %s's subject graph have no index, so each scans its table once per subject: "+
			"create an index on %s", len(o.unindexed), o.inventoryName, listUpTo(names, 10, ", ")))
}

// safeDBError keeps the SQLSTATE-bearing part of a database error. PostgreSQL
// error messages name objects, never row values, for the statements the
// operator runs against its own schema and the catalog.
func safeDBError(err error) string {
	if ce := tenantdb.Classify(err); ce != nil && ce.Kind != tenantdb.FailureOther {
		return ce.Error()
	}
	return err.Error()
}
