package draft

import (
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// TestChoosesAStrategyTheColumnTakes checks the strategy chosen for a
// category on columns whose type and constraints rule the first choices
// out, and that masking.Check accepts every one chosen.
func TestChoosesAStrategyTheColumnTakes(t *testing.T) {
	text := func(typ string, notNull, unique bool) tenantdb.Column {
		return tenantdb.Column{Name: "c", Type: typ, Category: 'S', NotNull: notNull, Unique: unique}
	}
	for _, c := range []struct {
		name     string
		category privacyv1alpha1.DataCategory
		column   string
		col      tenantdb.Column
		want     string // Describe() of the choice, "" when none fits
		passed   string // a part of the note on the first choice passed over
	}{
		{"a name", "Name", "full_name", text("text", true, false), `Replace "Anonymized"`, ""},
		{"a short name", "Name", "first_name", text("character varying(5)", true, false), `Replace "Anon"`, "holds at most 5"},
		{"a unique first name", "Name", "first_name", text("text", false, true), "Fake FirstName", "unique"},
		{"a unique short name", "Name", "nick", text("character varying(3)", true, true), "", ""},
		{"an e-mail address", "Email", "email", text("text", true, true), "Fake Email", ""},
		{"a short unique e-mail address", "Email", "email", text("character varying(30)", false, true), "Nullify", "needs at least 40"},
		{"a required phone", "Phone", "phone", text("text", true, false), "Fake Phone", "NOT NULL"},
		{"a phone", "Phone", "phone", text("text", false, false), "Nullify", ""},
		{"a birth date", "BirthDate", "birth_date", tenantdb.Column{Name: "b", Type: "date", Category: 'D'}, "Generalize to the Year", ""},
		{"a unique number", "Identifier", "employee_number", text("text", true, true), `Pseudonym "ANON-{n}"`, ""},
		{"a short number", "Identifier", "code", text("character varying(4)", true, false), `Pseudonym "A{n}"`, "at least 6"},
		{"a unique integer", "Identifier", "badge", tenantdb.Column{Name: "b", Type: "integer", Category: 'N', NotNull: true, Unique: true}, "", ""},
		{"a required picture", "Image", "photo", tenantdb.Column{Name: "p", Type: "bytea", Category: 'U', NotNull: true}, "", ""},
		{"an IP address", "IPAddress", "ip", tenantdb.Column{Name: "i", Type: "inet", Category: 'I'}, "Nullify", ""},
		{"an IBAN", "Financial", "iban", text("text", false, false), "Partial keeping the last 4 characters", ""},
		{"free text", "FreeText", "note", text("text", true, false), "Clear", ""},
		{"a user name", "UserName", "user_name", text("character varying(64)", true, true), `Pseudonym "user-{hex:8}"`, ""},
		{"a password hash", "Other", "password_hash", text("text", true, false), `Replace "Anonymized"`, "NOT NULL"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := classify.Finding{Column: c.column, Category: c.category}
			ch, ok := chooseStrategy(f, c.col)
			switch {
			case c.want == "" && ok:
				t.Fatalf("chose %s, want none to fit", Describe(ch.strategy))
			case c.want == "":
				return
			case !ok:
				t.Fatalf("none fits; want %s (%s)", c.want, ch.passed)
			}
			if got := Describe(ch.strategy); got != c.want {
				t.Errorf("chose %s, want %s (%s)", got, c.want, ch.passed)
			}
			if !strings.Contains(ch.passed, c.passed) || (c.passed == "") != (ch.passed == "") {
				t.Errorf("note %q, want one that says %q", ch.passed, c.passed)
			}
			if why := masking.Check(ch.strategy, c.col); why != "" {
				t.Errorf("masking.Check refuses the choice: %s", why)
			}
			if ch.strategy.Type == privacyv1alpha1.StrategyHash {
				t.Error("chose Hash")
			}
		})
	}
}
