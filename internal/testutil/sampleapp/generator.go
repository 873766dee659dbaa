package sampleapp

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"time"
)

type customer struct {
	id       int64
	number   string
	first    string
	address  string
	created  time.Time
	end      time.Time
	contacts []int64
	cases    []int64
}

type employee struct {
	id        int64
	first     string
	userName  string
	email     string
	hired     time.Time
	lastLogin time.Time
}

type generator struct {
	r         *rand.Rand
	slug      string
	emails    map[string]bool
	users     map[string]bool
	customers []customer
	// contactFirst holds the first name of each contact person, by id - 1.
	contactFirst []string
	employees    []employee
	columns      map[string][]string
	rows         map[string][][]any
}

func (g *generator) add(table string, columns []string, row ...any) {
	if g.columns[table] == nil {
		g.columns[table] = columns
	}
	g.rows[table] = append(g.rows[table], row)
}

func (g *generator) next(table string) int64 { return int64(len(g.rows[table]) + 1) }

func (g *generator) genCustomers(n int) {
	addrCols := []string{"id", "street", "postal_code", "city", "country"}
	custCols := []string{"id", "customer_number", "name", "email", "phone", "address_id", "status", "created_at", "closed_at", "deleted_at"}
	cpCols := []string{"id", "customer_id", "first_name", "last_name", "email", "phone", "title", "created_at", "last_activity_at"}
	var addrID int64
	shared := false
	var last string
	for i := range n {
		id := int64(i + 1)
		first := pick(g.r, firstNames)
		if i > 0 && !shared && g.r.IntN(10) == 0 {
			// A second member of the previous customer's household.
			shared = true
		} else {
			shared = false
			last = pick(g.r, lastNames)
			addrID = g.next("addresses")
			city := pick(g.r, cities)
			g.add("addresses", addrCols, addrID, g.street(), g.maybe(0.95, g.postalCode()), city.name, city.country)
		}
		addr := g.rows["addresses"][addrID-1]
		c := customer{
			id:      id,
			number:  fmt.Sprintf("CN-%06d", 100000+id),
			first:   first,
			address: siteAddress(addr),
			created: referenceTime.Add(-seconds(30*86400 + g.r.IntN(5*365*86400))),
			end:     referenceTime,
		}
		status, closed, deleted := "active", any(nil), any(nil)
		if g.r.Float64() < 0.2 {
			status = "closed"
			c.end = between(g.r, c.created.Add(days(30)), referenceTime.Add(-days(1)))
			closed = c.end
			if g.r.IntN(6) == 0 {
				deleted = between(g.r, c.end, minTime(c.end.Add(days(60)), referenceTime))
			}
		}
		g.add("customers", custCols, id, c.number, first+" "+last, g.email(first, last, pick(g.r, providers)+"."+g.slug+".example"),
			g.maybe(0.9, g.phone()), addrID, status, c.created, closed, deleted)
		for range 1 + g.r.IntN(3) {
			cpID := g.next("contact_persons")
			cf, cl := pick(g.r, firstNames), pick(g.r, lastNames)
			created := between(g.r, c.created, c.end)
			g.add("contact_persons", cpCols, cpID, id, cf, cl, g.email(cf, cl, pick(g.r, partnerDomains)+"."+g.slug+".example"),
				g.maybe(0.85, g.phone()), g.maybe(0.8, pick(g.r, titles)), created,
				g.maybe(0.9, between(g.r, created, c.end)))
			c.contacts = append(c.contacts, cpID)
			g.contactFirst = append(g.contactFirst, cf)
		}
		g.customers = append(g.customers, c)
	}

	linkCols := []string{"id", "customer_id", "contact_person_id", "customer_number", "role"}
	for _, c := range g.customers {
		for j, cp := range c.contacts {
			role := "primary"
			if j > 0 {
				role = pick(g.r, linkRoles)
			}
			g.add("customer_contacts", linkCols, g.next("customer_contacts"), c.id, cp, c.number, role)
			if len(g.customers) > 1 && g.r.IntN(10) == 0 {
				// The same person also acts for another customer.
				other := g.customers[g.r.IntN(len(g.customers))]
				if other.id != c.id {
					g.add("customer_contacts", linkCols, g.next("customer_contacts"), other.id, cp, other.number, "other")
				}
			}
		}
	}
}

func (g *generator) genEmployees(m int) {
	cols := []string{"id", "employee_id", "first_name", "last_name", "user_name", "email", "phone", "team", "active", "hired_at", "left_at", "last_login_at"}
	for i := range m {
		id := int64(i + 1)
		first, last := pick(g.r, firstNames), pick(g.r, lastNames)
		hired := referenceTime.Add(-days(30 + g.r.IntN(8*365)))
		active, left, lastLogin := true, any(nil), referenceTime.Add(-seconds(g.r.IntN(14*86400)))
		if g.r.IntN(7) == 0 && hired.Before(referenceTime.Add(-days(120))) {
			active = false
			l := between(g.r, hired.Add(days(90)), referenceTime.Add(-days(1)))
			left, lastLogin = l, l.Add(-seconds(g.r.IntN(3*86400)))
		}
		e := employee{id: id, first: first, userName: g.userName(first, last), email: g.email(first, last, g.slug+".example"), hired: hired, lastLogin: lastLogin}
		g.add("employees", cols, id, fmt.Sprintf("E%05d", 10000+id), first, last, e.userName, e.email,
			g.maybe(0.9, g.phone()), pick(g.r, teams), active, dateOf(hired), dateOf(left), lastLogin)
		g.employees = append(g.employees, e)
	}
}

func (g *generator) genCases() {
	caseCols := []string{"id", "customer_id", "contact_person_id", "assigned_employee_id", "subject", "description", "status", "priority", "opened_at", "closed_at", "handle_time_seconds"}
	commentCols := []string{"id", "case_id", "author_employee_id", "body", "created_at"}
	convCols := []string{"id", "case_id", "channel", "transcript", "started_at", "duration_seconds"}
	for ci := range g.customers {
		c := &g.customers[ci]
		for range 1 + g.r.IntN(5) {
			id := g.next("cases")
			opened := between(g.r, c.created, c.end)
			agent := g.employeeAt(opened)
			contact, contactName := any(nil), c.first
			if len(c.contacts) > 0 && g.r.Float64() < 0.7 {
				cp := pick(g.r, c.contacts)
				contact, contactName = cp, g.contactFirst[cp-1]
			}
			end, status, closed := referenceTime, "open", any(nil)
			handle := g.r.IntN(3600)
			if c.end.Before(referenceTime) || opened.Before(referenceTime.Add(-days(30))) || g.r.IntN(3) > 0 {
				end = between(g.r, opened.Add(10*time.Minute), minTime(opened.Add(days(20)), c.end))
				status, closed, handle = "closed", end, 120+g.r.IntN(7200)
			}
			reason := pick(g.r, reasons)
			g.add("cases", caseCols, id, c.id, contact, agent.id, reason.subject,
				g.maybe(0.95, fmt.Sprintf(reason.description, contactName)), status,
				pick(g.r, priorities), opened, closed, handle)
			c.cases = append(c.cases, id)

			for range g.r.IntN(5) {
				author := any(nil)
				if g.r.Float64() < 0.8 {
					author = agent.id
				}
				body := g.text(commentTemplates, contactName)
				g.add("case_comments", commentCols, g.next("case_comments"), id, author, body, between(g.r, opened, end))
			}
			for range g.r.IntN(3) {
				ch := pick(g.r, channels)
				started := between(g.r, opened, end)
				g.add("conversations", convCols, g.next("conversations"), id, string(ch),
					g.transcript(ch, contactName, agent.first), started, ch.duration(g.r))
			}
		}
	}
}

func (g *generator) genWorkOrders() {
	cols := []string{"id", "case_id", "customer_id", "assigned_employee_id", "site_address", "notes", "status", "scheduled_for", "closed_at"}
	for _, c := range g.customers {
		for range g.r.IntN(3) {
			caseID := any(nil)
			if len(c.cases) > 0 && g.r.Float64() < 0.6 {
				caseID = pick(g.r, c.cases)
			}
			status, closed := "done", any(nil)
			scheduled := between(g.r, c.created, c.end)
			switch {
			case c.end.Equal(referenceTime) && g.r.IntN(5) == 0:
				status = "scheduled"
				scheduled = between(g.r, referenceTime.Add(-days(7)), referenceTime.Add(days(30)))
			case g.r.IntN(8) == 0:
				status, closed = "cancelled", scheduled.Add(-seconds(g.r.IntN(3*86400)))
			default:
				closed = scheduled.Add(seconds(1800 + g.r.IntN(4*3600)))
			}
			g.add("work_orders", cols, g.next("work_orders"), caseID, c.id, g.employeeAt(scheduled).id,
				g.maybe(0.95, c.address), g.maybe(0.8, g.text(workOrderNotes, c.first)), status, scheduled, closed)
		}
	}
}

func (g *generator) genLogs(events, logins int) {
	cols := []string{"id", "occurred_at", "employee_id", "action", "ip_address", "email", "user_name"}
	for i, at := range g.times(events, 400) {
		if g.r.IntN(10) == 0 {
			user := pick(g.r, []string{"admin", "test", "support", pick(g.r, g.employees).userName + "1"})
			g.add("event_logs", cols, int64(i+1), at, nil, "login.failed", g.ip(), nil, user)
			continue
		}
		e := g.employeeAt(at)
		g.add("event_logs", cols, int64(i+1), at, e.id, pick(g.r, actions), g.ip(), e.email, e.userName)
	}
	cols = []string{"id", "employee_id", "logged_in_at", "ip_address", "user_agent", "success"}
	for i, at := range g.times(logins, 400) {
		g.add("login_logs", cols, int64(i+1), g.employeeAt(at).id, at, g.ip(), pick(g.r, userAgents), g.r.IntN(20) > 0)
	}
}

// employeeAt picks an employee, preferring one employed at t.
func (g *generator) employeeAt(t time.Time) employee {
	e := pick(g.r, g.employees)
	for range 8 {
		if !t.Before(e.hired) && !t.After(e.lastLogin) {
			break
		}
		e = pick(g.r, g.employees)
	}
	return e
}

// times returns n ascending instants within the last maxDays days.
func (g *generator) times(n, maxDays int) []time.Time {
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = referenceTime.Add(-seconds(1 + g.r.IntN(maxDays*86400)))
	}
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	return ts
}

// maybe returns v with probability p, else nil (NULL).
func (g *generator) maybe(p float64, v any) any {
	if g.r.Float64() < p {
		return v
	}
	return nil
}

// email returns an address unique in the tenant built from a name.
func (g *generator) email(first, last, domain string) string {
	local := strings.ToLower(first + "." + last)
	addr := local + "@" + domain
	for k := 2; g.emails[addr]; k++ {
		addr = fmt.Sprintf("%s%d@%s", local, k, domain)
	}
	g.emails[addr] = true
	return addr
}

// userName returns a login name unique in the tenant built from a name.
func (g *generator) userName(first, last string) string {
	base := strings.ToLower(first[:1] + last)
	name := base
	for k := 2; g.users[name]; k++ {
		name = fmt.Sprintf("%s%d", base, k)
	}
	g.users[name] = true
	return name
}

// phone returns a number in the UK range reserved for drama (07700 900000 to
// 900999), so no generated number reaches anyone.
func (g *generator) phone() string {
	return fmt.Sprintf("+44 7700 900%03d", g.r.IntN(1000))
}

// ip returns an address from the documentation ranges (RFC 5737, RFC 3849).
func (g *generator) ip() netip.Addr {
	if g.r.IntN(10) == 0 {
		var b [16]byte
		copy(b[:], []byte{0x20, 0x01, 0x0d, 0xb8})
		binary.BigEndian.PutUint64(b[8:], g.r.Uint64())
		return netip.AddrFrom16(b)
	}
	nets := [][3]byte{{192, 0, 2}, {198, 51, 100}, {203, 0, 113}}
	p := pick(g.r, nets)
	return netip.AddrFrom4([4]byte{p[0], p[1], p[2], byte(1 + g.r.IntN(254))}) // #nosec G115 -- 1 to 254
}

func (g *generator) street() string {
	return fmt.Sprintf("%d %s %s", 1+g.r.IntN(180), pick(g.r, streetNames), pick(g.r, streetKinds))
}

func (g *generator) postalCode() string { return fmt.Sprintf("%05d", 10000+g.r.IntN(90000)) }

// text fills a template that may mention a (fake) first name and a number.
func (g *generator) text(templates []string, name string) string {
	s := pick(g.r, templates)
	s = strings.ReplaceAll(s, "{name}", name)
	return strings.ReplaceAll(s, "{num}", fmt.Sprint(100+g.r.IntN(9900)))
}

func (g *generator) transcript(ch channel, customer, agent string) string {
	if ch == "email" {
		return fmt.Sprintf("Hello,\n\n%s\n\nBest regards,\n%s", g.text(emailBodies, customer), customer)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Agent: Hello, this is %s from customer service. How can I help?\n", agent)
	for range 2 + g.r.IntN(4) {
		fmt.Fprintf(&b, "Customer: %s\n", g.text(customerLines, customer))
		fmt.Fprintf(&b, "Agent: %s\n", g.text(agentLines, customer))
	}
	fmt.Fprintf(&b, "Agent: Thank you, %s. Have a good day.", customer)
	return b.String()
}

type channel string

func (c channel) duration(r *rand.Rand) int {
	switch c {
	case "phone":
		return 60 + r.IntN(1800)
	case "chat":
		return 120 + r.IntN(2400)
	default:
		return 30 + r.IntN(600)
	}
}

type city struct{ name, country string }

// reason is why a case was opened: a subject kept for reporting and a
// description template that mentions the (fake) person by first name.
type reason struct{ subject, description string }

func pick[T any](r *rand.Rand, s []T) T { return s[r.IntN(len(s))] }

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func seconds(n int) time.Duration { return time.Duration(n) * time.Second }

// between returns a whole second in [a, b), or a when b is not after a.
func between(r *rand.Rand, a, b time.Time) time.Time {
	span := int64(b.Sub(a) / time.Second)
	if span <= 0 {
		return a
	}
	return a.Add(time.Duration(r.Int64N(span)) * time.Second)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// dateOf truncates a time to its day for a date column; nil stays NULL.
func dateOf(v any) any {
	t, ok := v.(time.Time)
	if !ok {
		return nil
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// siteAddress formats an addresses row (id, street, postal_code, city,
// country) on one line.
func siteAddress(row []any) string {
	street, _ := row[1].(string)
	postal, _ := row[2].(string)
	city, _ := row[3].(string)
	if place := strings.TrimSpace(postal + " " + city); place != "" {
		return street + ", " + place
	}
	return street
}

// tenantSlug turns a tenant name into a DNS label for e-mail domains.
func tenantSlug(tenant string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(tenant) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	s := strings.Trim(b.String(), "-")
	if s == "" {
		return "tenant"
	}
	return s
}

var (
	firstNames = []string{
		"Anna", "Ben", "Clara", "David", "Elin", "Farid", "Grace", "Hugo", "Ines", "Jonas",
		"Karin", "Leo", "Maja", "Nils", "Olivia", "Pablo", "Quinn", "Rosa", "Samir", "Tilde",
		"Umar", "Vera", "Wilma", "Xavier", "Yara", "Zoe", "Emil", "Freja", "Oskar", "Linnea",
		"Marco", "Noor", "Sofia", "Tomas", "Aisha", "Lukas", "Hanna", "Ivan", "Julia", "Kenji",
	}
	lastNames = []string{
		"Andersson", "Berg", "Carlsen", "Dahl", "Eriksen", "Fischer", "Garcia", "Hansen", "Ivanova", "Jensen",
		"Kowalski", "Lindqvist", "Moreau", "Nakamura", "Olsen", "Petrov", "Quist", "Rossi", "Svensson", "Tanaka",
		"Underwood", "Virtanen", "Weber", "Yilmaz", "Zimmermann", "Holm", "Lund", "Novak", "Costa", "Brandt",
	}
	streetNames = []string{
		"Maple", "Harbour", "Mill", "Station", "Church", "Birch", "Meadow", "Lake", "Orchard", "Bridge",
		"Willow", "King", "Queen", "Garden", "Forest", "River", "Hill", "Park", "Elm", "Oak",
	}
	streetKinds = []string{"Street", "Road", "Lane", "Avenue", "Way", "Close"}
	cities      = []city{
		{"Northbridge", "SE"}, {"Eastvale", "SE"}, {"Lakeside", "NO"}, {"Millbrook", "DK"}, {"Westfield", "DE"},
		{"Stonehaven", "NL"}, {"Greenford", "FI"}, {"Ashby", "FR"}, {"Riverton", "ES"}, {"Kingsport", "IT"},
	}
	providers      = []string{"mail", "inbox", "post", "webmail"}
	partnerDomains = []string{"company", "consulting", "services", "office"}
	titles         = []string{"Owner", "Office manager", "Accountant", "Purchasing lead", "IT contact", "Assistant", "Site manager"}
	linkRoles      = []string{"billing", "technical", "other"}
	teams          = []string{"Support", "Field Service", "Billing", "Onboarding", "Escalations"}
	priorities     = []string{"low", "normal", "normal", "normal", "high", "urgent"}
	reasons        = []reason{
		{"Device not starting", "%s reports that the device restarts every few minutes since the last update."},
		{"Invoice question", "%s asks why the latest invoice is higher than the previous one."},
		{"Delivery delayed", "The parcel was expected last week; %s has not received a tracking number."},
		{"Change of plan", "%s wants to move to the smaller plan from next month."},
		{"Login problem", "Cannot sign in to the customer portal; %s tried resetting the password twice."},
		{"Installation request", "%s asks for a technician to install the new unit."},
		{"Complaint about service visit", "%s says the technician left without finishing the repair."},
		{"Cancellation", "%s wants to end the contract at the end of the notice period."},
		{"Refund request", "%s returned the unit and asks when the refund arrives."},
	}
	commentTemplates = []string{
		"Called {name} back, the issue is reproducible on the second device.",
		"Sent instructions for resetting the router.",
		"Waiting for {name} to confirm the delivery address.",
		"Escalated to second line: error code E-{num} keeps coming back.",
		"{name} says the invoice amount does not match the order.",
		"Replacement part ordered, expected within five working days.",
		"No reply for 14 days, closing.",
		"{name} asked for a call before noon.",
		"Credit note {num} issued.",
	}
	emailBodies = []string{
		"I still have not received the replacement you promised. Order {num}.",
		"Could you send me a copy of invoice {num}? I cannot find it in the portal.",
		"The technician did not show up yesterday. Please book a new visit.",
		"Thanks for the quick help, everything works again.",
	}
	customerLines = []string{
		"My device shows error {num} when I start it.",
		"I was charged twice this month.",
		"I would like to change my delivery date.",
		"The app says my password is wrong but I just changed it.",
		"Yes, that is the right address.",
		"Can you send it by e-mail instead?",
	}
	agentLines = []string{
		"I see the case here, {name}. Let me check the order.",
		"I have issued a credit of {num} for the double charge.",
		"Could you try restarting it while holding the reset button?",
		"I have booked a technician for next Tuesday.",
		"I will send you a confirmation right away.",
	}
	workOrderNotes = []string{
		"Gate code {num}. Ring twice and ask for {name}.",
		"Bring a ladder, the unit is mounted high.",
		"{name} works from home on Fridays, prefer that day.",
		"Dog on the premises, call {name} before entering.",
		"Replace filter and check pressure, part number {num}.",
	}
	channels   = []channel{"email", "chat", "phone"}
	actions    = []string{"login", "logout", "case.view", "case.update", "customer.view", "customer.update", "customer.export", "report.run", "password.change"}
	userAgents = []string{
		"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
		"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
		"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
		"CustomerServiceDesktop/4.2.1 (Windows 11)",
	}
)
