package controllers

import (
	"context"
	"errors"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/audit"
	"github.com/lethe-dev/lethe/internal/rolesync"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// maxBypassingInStatus bounds status.rowSecurity.bypassingRoles (the CRD's
// MaxItems).
const maxBypassingInStatus = 32

// maxBypassingLength bounds each entry of it (the CRD's MaxLength): an
// owner of many tables is cut short.
const maxBypassingLength = 128

// keepRowSecurity brings the tenant's row-level security policies to the
// inventory's scoped entities and the TenantDatabase's rowSecurity. A
// declaration that does not fit the database is an inventory issue, naming
// the table, column, foreign key or role at fault.
func keepRowSecurity(ctx context.Context, q rolesync.Beginner, tdb *privacyv1alpha1.TenantDatabase, inv *privacyv1alpha1.DataInventory,
	cat *tenantdb.Catalog, o *tenantObservation) {
	if o.schemaVersion < rolesync.RowSecuritySchemaVersion {
		return
	}
	res, err := rolesync.EnsureRowSecurity(ctx, q, cat, rolesync.RowSecurityRequest{
		Inventory: &inv.Spec, Spec: tdb.Spec.RowSecurity, Actor: operatorActor,
		Object: audit.Object{Kind: "TenantDatabase", Namespace: tdb.Namespace, Name: tdb.Name, UID: string(tdb.UID)},
	})
	var oe *rolesync.OrganizationError
	switch {
	case errors.As(err, &oe):
		o.inventoryIssues = append(o.inventoryIssues, oe.Problems...)
	case err != nil:
		o.rowSecurityErr = err
	default:
		o.rowSecurity = &res
	}
}

// setTenantRowSecurity reports the tables under Lethe's policies and the
// roles that bypass them.
func setTenantRowSecurity(tdb *privacyv1alpha1.TenantDatabase, o *tenantObservation, fail func(verdict, string, string)) {
	st := &tdb.Status
	switch {
	case o.rowSecurityErr != nil:
		fail(verdictWaiting, privacyv1alpha1.ReasonProgressing, "cannot keep the row-level security policies: "+safeDBError(o.rowSecurityErr))
	case o.rowSecurity == nil:
	case len(o.rowSecurity.Tables) == 0:
		st.RowSecurity = nil
	default:
		bypassing := o.rowSecurity.Bypassing
		if len(bypassing) > maxBypassingInStatus {
			bypassing = bypassing[:maxBypassingInStatus]
		}
		for i, b := range bypassing {
			bypassing[i] = truncateTo(b, maxBypassingLength)
		}
		st.RowSecurity = &privacyv1alpha1.RowSecurityStatus{Tables: clampInt32(int64(len(o.rowSecurity.Tables))), BypassingRoles: bypassing}
	}
}
