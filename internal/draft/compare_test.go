package draft

import (
	"reflect"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// TestComparesTableByTable compares two inventories that name entities
// differently.
func TestComparesTableByTable(t *testing.T) {
	a := &privacyv1alpha1.DataInventorySpec{Entities: []privacyv1alpha1.Entity{
		{Name: "customer", Table: "app.customers", PersonalColumns: []privacyv1alpha1.PersonalColumn{
			{Column: "email", Category: "Email", Strategy: fake("Email")},
			{Column: "name", Category: "Name", Strategy: replace("Anonymized")}}},
		{Name: "note", Table: "app.notes", Relations: []privacyv1alpha1.EntityRelation{{Entity: "customer", Direction: "Child", Columns: []string{"customer_id"}}}},
	}}
	b := &privacyv1alpha1.DataInventorySpec{Entities: []privacyv1alpha1.Entity{
		{Name: "client", Table: `APP."customers"`, PersonalColumns: []privacyv1alpha1.PersonalColumn{
			{Column: "email", Category: "Email", Strategy: fake("Email")},
			{Column: "name", Category: "Name", Strategy: nullify()},
			{Column: "phone", Category: "Phone", Strategy: nullify()}}},
		{Name: "order", Table: "app.orders", Relations: []privacyv1alpha1.EntityRelation{{Entity: "client", Direction: "Child", Columns: []string{"client_id"}}}},
	}}
	got := Compare(a, b)
	want := Comparison{
		Tables: []string{"app.customers"}, OnlyA: []string{"app.notes"}, OnlyB: []string{"app.orders"},
		Columns: []string{"app.customers.email", "app.customers.name"}, ColumnsOnlyB: []string{"app.customers.phone"},
		SameStrategy: 1, Differ: []string{`app.customers.name: Name Replace "Anonymized" / Name Nullify`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
