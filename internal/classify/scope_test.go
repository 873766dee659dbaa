package classify

import (
	"reflect"
	"sort"
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// schema builds a catalog from tables written as "name rows: col type,
// col type" and foreign keys written as "table(col) -> table(col)"; a
// column type may end in " pk" or " unique".
func schema(t *testing.T, tables []string, fks ...string) *tenantdb.Catalog {
	t.Helper()
	cat := &tenantdb.Catalog{Tables: map[string]*tenantdb.Table{}}
	for _, spec := range tables {
		head, cols, _ := strings.Cut(spec, ":")
		fields := strings.Fields(head)
		name := fields[0]
		tbl := &tenantdb.Table{Schema: "app", Name: name}
		if len(fields) > 1 {
			var rows int64
			for _, r := range fields[1] {
				rows = rows*10 + int64(r-'0')
			}
			tbl.Rows = rows
		}
		for _, c := range strings.Split(cols, ",") {
			f := strings.Fields(c)
			typ := strings.Join(f[1:], " ")
			pk := strings.HasSuffix(typ, " pk")
			unique := strings.HasSuffix(typ, " unique")
			typ = strings.TrimSuffix(strings.TrimSuffix(typ, " pk"), " unique")
			column := col(f[0], typ)
			column.Unique = pk || unique
			if pk {
				tbl.PrimaryKey = append(tbl.PrimaryKey, f[0])
			}
			tbl.Columns = append(tbl.Columns, column)
		}
		cat.Tables["app."+name] = tbl
	}
	for _, spec := range fks {
		from, to, _ := strings.Cut(spec, " -> ")
		ft, fc, _ := strings.Cut(strings.TrimSuffix(from, ")"), "(")
		tt, tc, _ := strings.Cut(strings.TrimSuffix(to, ")"), "(")
		cat.ForeignKeys = append(cat.ForeignKeys, tenantdb.ForeignKey{Name: ft + "_" + fc + "_fkey", Table: "app." + ft,
			Columns: []string{fc}, RefTable: "app." + tt, RefColumns: []string{tc}})
	}
	return cat
}

// found lists a result's findings as "table.column Category".
func found(res *Result) []string {
	var out []string
	for _, f := range res.Findings {
		out = append(out, strings.TrimPrefix(f.Table, "app.")+"."+f.Column+" "+string(f.Category))
	}
	sort.Strings(out)
	return out
}

func tableOf(t *testing.T, res *Result, name string) Table {
	t.Helper()
	for _, tbl := range res.Tables {
		if tbl.Name == "app."+name {
			return tbl
		}
	}
	t.Fatalf("no table %s in the result", name)
	return Table{}
}

func TestFromCatalogReportsSubjectsTheirRecordsAndTheirAddressesOnly(t *testing.T) {
	cat := schema(t, []string{
		"customers 1000: id bigint pk, name text, email text unique, phone text, address_id bigint, country_id integer, status text",
		"addresses 900: id bigint pk, street text, city text, state text, postal_code text",
		"countries 20: id integer pk, name text, code text",
		"cases 3000: id bigint pk, customer_id bigint, subject text, description text",
		"case_comments 9000: id bigint pk, case_id bigint, body text",
		"products 50: id integer pk, name text, description text, picture bytea",
		"order_lines 20000: id bigint pk, case_id bigint, product_id integer, quantity integer",
		"widgets 10: id integer pk, name text, notes text",
	},
		"customers(address_id) -> addresses(id)",
		"customers(country_id) -> countries(id)",
		"cases(customer_id) -> customers(id)",
		"case_comments(case_id) -> cases(id)",
		"order_lines(case_id) -> cases(id)",
		"order_lines(product_id) -> products(id)",
	)
	res := FromCatalog(cat)
	want := []string{
		"addresses.city Address", "addresses.postal_code Address", "addresses.state Address", "addresses.street Address",
		"case_comments.body FreeText", "cases.description FreeText",
		"customers.email Email", "customers.name Name", "customers.phone Phone",
	}
	if got := found(res); !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %v\nwant %v", got, want)
	}
	for name, role := range map[string]TableRole{
		"customers": RoleSubject, "addresses": RoleRelated, "cases": RoleRelated, "case_comments": RoleRelated,
		"order_lines": RoleRelated, "countries": RoleLookup, "products": RoleLookup, "widgets": RoleUnrelated,
	} {
		if got := tableOf(t, res, name).Role; got != role {
			t.Errorf("%s: role %s, want %s", name, got, role)
		}
	}
	if via := tableOf(t, res, "case_comments").Via; via == nil || via.Name != "case_comments_case_id_fkey" {
		t.Errorf("case_comments reached via %+v, want its foreign key to cases", via)
	}
	if via := tableOf(t, res, "addresses").Via; via == nil || via.Name != "customers_address_id_fkey" || via.RefTable != "app.addresses" {
		t.Errorf("addresses reached via %+v, want the customers' foreign key to it", via)
	}
	if ids := tableOf(t, res, "customers").Identifiers; !reflect.DeepEqual(ids, []string{"email"}) {
		t.Errorf("customers' identifiers %v, want [email]", ids)
	}
}

func TestFromCatalogLeavesOutLookupsAndThingsThatSubjectsPointAt(t *testing.T) {
	tables := func(members, addresses string) []string {
		return []string{
			"members " + members + ": id bigint pk, email text, address_id bigint, city_id integer, shipper_id integer",
			"addresses " + addresses + ": id bigint pk, street text, phone text",
			"cities 900: id integer pk, city text, zip text",
			"shippers 3: id integer pk, company_name text, phone text",
		}
	}
	fks := []string{"members(address_id) -> addresses(id)", "members(city_id) -> cities(id)", "members(shipper_id) -> shippers(id)"}

	// Addresses one to one with members are theirs; a gazetteer of cities
	// and a table of shippers are not, whatever their sizes.
	res := FromCatalog(schema(t, tables("1000", "950"), fks...))
	want := []string{"addresses.phone Phone", "addresses.street Address", "members.email Email"}
	if got := found(res); !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %v\nwant %v", got, want)
	}
	// Addresses that many members share (each row referred to by ten)
	// are a lookup table.
	res = FromCatalog(schema(t, tables("1000", "100"), fks...))
	if got := found(res); !reflect.DeepEqual(got, []string{"members.email Email"}) {
		t.Errorf("findings with shared addresses: %v, want members.email only", got)
	}
	if r := tableOf(t, res, "addresses").Role; r != RoleLookup {
		t.Errorf("shared addresses: role %s, want Lookup", r)
	}
	// Never analysed (no row estimates): an addresses table is reported.
	res = FromCatalog(schema(t, tables("0", "0"), fks...))
	if got := found(res); len(got) != 3 {
		t.Errorf("findings without estimates: %v, want the addresses too", got)
	}
}

func TestFromCatalogWeighsGenericWordsAgainstTheirTable(t *testing.T) {
	res := FromCatalog(schema(t, []string{
		"kunden 10: id integer pk, name text, email text",
		"genres 10: id integer pk, name text",
		"people_lists 10: id integer pk, name text, phone text, state text, extension text",
		"offices 10: id integer pk, address text, state text, phone text, extension text, email text",
	}))
	want := []string{
		"kunden.email Email", "kunden.name Name",
		"offices.address Address", "offices.email Email", "offices.extension Phone", "offices.phone Phone",
		"offices.state Address",
	}
	if got := found(res); !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %v\nwant %v", got, want)
	}
	for _, f := range res.Findings {
		if f.Table == "app.kunden" && f.Column == "name" && !strings.Contains(f.Reasons[0].Detail, "in table kunden (people)") {
			t.Errorf("kunden.name: reason %q, want it to say the table holds people", f.Reasons[0].Detail)
		}
	}
	if r := tableOf(t, res, "kunden").Role; r != RoleSubject {
		t.Errorf("kunden: role %s, want Subject (a person's name)", r)
	}
}

func TestFromCatalogKeysAreLinksUnlessTheyReferToPersonalData(t *testing.T) {
	res := FromCatalog(schema(t, []string{
		"members 100: id uuid pk, email text unique, country_code text",
		"countries 5: code text pk, name text",
		"subscriptions 300: id bigint pk, member_email text, topic text",
		"mailings 300: id bigint pk, sent_to text",
		"customers 100: customer_id text pk, contact_name text",
		"orders 900: id bigint pk, customer_id text",
		"employees 50: id bigint pk, employee_id text unique, first_name text",
	},
		"members(country_code) -> countries(code)",
		"subscriptions(member_email) -> members(email)",
		"mailings(sent_to) -> members(email)",
		"orders(customer_id) -> customers(customer_id)",
	))
	want := []string{
		"customers.contact_name Name",
		"employees.employee_id Identifier", "employees.first_name Name",
		"mailings.sent_to Email",
		"members.email Email",
		"subscriptions.member_email Email",
	}
	if got := found(res); !reflect.DeepEqual(got, want) {
		t.Errorf("findings:\n got %v\nwant %v", got, want)
	}
	for _, f := range res.Findings {
		if f.Column == "sent_to" && f.Reasons[0].Detail != "a foreign key to app.members.email, which holds Email" {
			t.Errorf("sent_to: reason %q", f.Reasons[0].Detail)
		}
	}
}

func TestFromCatalogTellsSubjectsFromTheirRecords(t *testing.T) {
	res := FromCatalog(schema(t, []string{
		"employees 50: id bigint pk, user_name text unique, first_name text",
		"event_logs 5000: id bigint pk, employee_id bigint, email text, user_name text, ip inet",
		"signups 400: id bigint pk, email text",
		"payments 900: id bigint pk, card_holder text, payer_ip inet",
	},
		"event_logs(employee_id) -> employees(id)",
	))
	for name, role := range map[string]TableRole{
		"employees": RoleSubject, "event_logs": RoleRelated, "signups": RoleSubject, "payments": RoleRelated,
	} {
		if got := tableOf(t, res, name).Role; got != role {
			t.Errorf("%s: role %s, want %s", name, got, role)
		}
	}
	if via := tableOf(t, res, "event_logs").Via; via == nil || via.RefTable != "app.employees" {
		t.Errorf("event_logs reached via %+v, want its foreign key to employees", via)
	}
	var identifiers []string
	for _, f := range res.Findings {
		if f.Identifier {
			identifiers = append(identifiers, strings.TrimPrefix(f.Table, "app.")+"."+f.Column)
		}
	}
	sort.Strings(identifiers)
	want := []string{"employees.user_name", "event_logs.email", "event_logs.user_name", "signups.email"}
	if !reflect.DeepEqual(identifiers, want) {
		t.Errorf("identifiers %v, want %v", identifiers, want)
	}
	cats := map[string]privacyv1alpha1.DataCategory{}
	for _, f := range res.Findings {
		cats[f.Table+"."+f.Column] = f.Category
	}
	if cats["app.payments.card_holder"] != catName || cats["app.event_logs.ip"] != catIPAddress {
		t.Errorf("categories %v", cats)
	}
}
