package draft

import "testing"

func TestNames(t *testing.T) {
	for _, c := range []struct{ table, want string }{
		{"customers", "customer"},
		{"contact_persons", "contactPerson"},
		{"Loyalty Cards", "loyaltyCard"},
		{"addresses", "address"},
		{"categories", "category"},
		{"statuses", "status"},
		{"boxes", "box"},
		{"order_details", "orderDetail"},
		{"people", "person"},
		{"invoice_line", "invoiceLine"},
		{"OrderItems", "orderItem"},
		{"2fa_codes", "table2FaCode"},
		{"Служащие", "table"},
		{"Kunden", "kunden"},
	} {
		if got := entityName(c.table); got != c.want {
			t.Errorf("entityName(%q) = %q, want %q", c.table, got, c.want)
		}
	}
	for _, c := range []struct{ subject, column, want string }{
		{"member", "id", "memberId"},
		{"customer", "customer_number", "customerNumber"},
		{"x", "E-Post", "ePost"},
		{"x", "Card Id", "cardId"},
		{"x", "Prämie", "pramie"},
		{"x", "123", "id123"},
	} {
		if got := identifierName(c.subject, c.column); got != c.want {
			t.Errorf("identifierName(%q, %q) = %q, want %q", c.subject, c.column, got, c.want)
		}
	}
	u := unique{}
	for _, want := range []string{"order", "order2", "order3"} {
		if got := u.take("order"); got != want {
			t.Errorf("take: %q, want %q", got, want)
		}
	}
}
