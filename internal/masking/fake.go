package masking

import (
	"fmt"
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// The fake kinds of the API.
const (
	fakeName      privacyv1alpha1.FakeKind = "Name"
	fakeFirstName privacyv1alpha1.FakeKind = "FirstName"
	fakeLastName  privacyv1alpha1.FakeKind = "LastName"
	fakeEmail     privacyv1alpha1.FakeKind = "Email"
	fakePhone     privacyv1alpha1.FakeKind = "Phone"
	fakeAddress   privacyv1alpha1.FakeKind = "Address"
	fakeCity      privacyv1alpha1.FakeKind = "City"
	fakeCompany   privacyv1alpha1.FakeKind = "Company"
	fakeUserName  privacyv1alpha1.FakeKind = "UserName"
)

var fakeKinds = map[privacyv1alpha1.FakeKind]bool{
	fakeName: true, fakeFirstName: true, fakeLastName: true, fakeEmail: true, fakePhone: true,
	fakeAddress: true, fakeCity: true, fakeCompany: true, fakeUserName: true,
}

// The word lists Fake picks from. They are ASCII, so e-mail addresses and
// user names made of them are plain ASCII, and international, so the names
// do not all come from one country. Changing a list changes every fake
// produced from then on.
var (
	firstNames = []string{
		"Aaliyah", "Adam", "Aiko", "Alejandro", "Amara", "Amelia", "Anders", "Ana", "Arjun", "Astrid",
		"Beatriz", "Ben", "Carlos", "Chen", "Chloe", "Daniel", "Dara", "David", "Elena", "Elif",
		"Emma", "Erik", "Fatima", "Felix", "Freya", "Gabriel", "Grace", "Hana", "Hugo", "Ines",
		"Isaac", "Ivan", "Jamal", "Jana", "Javier", "Julia", "Kai", "Kenji", "Lara", "Leila",
		"Leon", "Liam", "Lucia", "Lukas", "Maja", "Marco", "Maria", "Mateo", "Maya", "Mei",
		"Mohammed", "Nadia", "Nikolai", "Nina", "Noah", "Nora", "Olivia", "Omar", "Oscar", "Paulo",
		"Priya", "Rafael", "Rania", "Rosa", "Sami", "Sara", "Sofia", "Sven", "Tariq", "Thomas",
		"Wei", "Yara", "Yusuf", "Zara",
	}
	lastNames = []string{
		"Abbott", "Adeyemi", "Alvarez", "Andersson", "Bauer", "Bennett", "Berg", "Castro", "Chen", "Costa",
		"Dahl", "Diaz", "Dubois", "Eriksen", "Evans", "Fischer", "Fontaine", "Garcia", "Gomez", "Hansen",
		"Hartmann", "Hoffmann", "Hughes", "Ibrahim", "Ito", "Jensen", "Johansson", "Kaya", "Keller", "Kim",
		"Kowalski", "Larsen", "Lindqvist", "Lopez", "Martin", "Meyer", "Moreau", "Morris", "Nakamura", "Nguyen",
		"Novak", "Nowak", "Okafor", "Olsen", "Park", "Patel", "Perez", "Petrov", "Ramos", "Reyes",
		"Rossi", "Santos", "Schmidt", "Silva", "Singh", "Sousa", "Suzuki", "Tanaka", "Torres", "Vargas",
		"Weber", "Wagner", "Walsh", "Wright", "Yilmaz", "Young", "Zhang", "Zimmermann",
	}
	streets = []string{
		"Acacia Avenue", "Ash Grove", "Beech Road", "Bridge Street", "Brook Lane", "Castle Street", "Cedar Close",
		"Chapel Lane", "Church Road", "Elm Street", "Garden Row", "Green Lane", "Harbour View", "High Street",
		"Hill Road", "Kings Road", "Lake View", "Linden Way", "Maple Drive", "Market Square", "Meadow Way",
		"Mill Lane", "North Street", "Oak Avenue", "Orchard Way", "Park Lane", "Pine Close", "Queens Road",
		"River Walk", "School Lane", "Spring Gardens", "Station Road", "Victoria Road", "Willow Court",
	}
	cities = []string{
		"Aarhus", "Amsterdam", "Antwerp", "Barcelona", "Bergen", "Bologna", "Bordeaux", "Bristol", "Cork",
		"Dublin", "Edinburgh", "Florence", "Gdansk", "Geneva", "Ghent", "Gothenburg", "Graz", "Hamburg",
		"Helsinki", "Krakow", "Leeds", "Leipzig", "Lisbon", "Lyon", "Malmo", "Marseille", "Munich", "Nantes",
		"Porto", "Prague", "Salzburg", "Seville", "Tallinn", "Turin", "Utrecht", "Valencia", "Vienna", "Zurich",
	}
	companies = []string{
		"Acme Corporation", "Blue Harbor Logistics", "Brightline Analytics", "Cedar & Stone", "Contoso",
		"Fabrikam", "Globex", "Greenfield Foods", "Initech", "Lakeside Media", "Northwind Traders",
		"Orbit Systems", "Pinewood Studios", "Quartz Consulting", "Redwood Partners", "Silverline Health",
		"Stark Industries", "Summit Outdoor", "Tailspin Toys", "Umbrella Works", "Vandelay Industries",
		"Wide World Importers", "Woodgrove Bank", "Zenith Energy",
	}
)

// fakeParts builds the SQL of a Fake value as head ‖ tail, where tail is a
// constant of known length (the e-mail domain) that a row discriminator must
// not be inserted after.
//
// Every choice is an index into a list taken from two bytes of
// h = SHA-256(salt ‖ UTF-8 of the input), so the same input and salt give
// the same fake in every table and tenant: first name from bytes 0-1, last
// name 2-3, the number of e-mails and user names from byte 4 (0 to 99), the
// phone number 5-6 (000 to 999), the house number byte 7 (1 to 199), street
// 8-9, city 10-11 and company 12-13. Phones are in +44 7700 900000-900999, a
// range reserved for drama, and e-mails in the reserved domain
// example.invalid.
func (cp *compiler) fakeParts(kind privacyv1alpha1.FakeKind, loc fakeLocale, name, ref string) (head, tail string, tailLen int) {
	salt := cp.args.addShared("salt:"+string(cp.keys.Salt), nonNil(cp.keys.Salt))
	h := fmt.Sprintf("sha256(%s::bytea || convert_to(%s::text, 'UTF8'))", salt, ref)
	pick := func(list string, words []string, at int) string {
		p := cp.args.addShared(list+":"+name, words)
		return fmt.Sprintf("(%[1]s::text[])[(get_byte(%[2]s, %[3]d) * 256 + get_byte(%[2]s, %[4]d)) %% cardinality(%[1]s::text[]) + 1]",
			p, h, at, at+1)
	}
	first := func() string { return pick("first", loc.first, 0) }
	last := func() string { return pick("last", loc.last, 2) }
	ascii := func(e string) string { return fmt.Sprintf("translate(lower(%s), '%s', '%s')", e, foldFrom, foldTo) }
	number := fmt.Sprintf("(get_byte(%s, 4) %% 100)::text", h)
	switch kind {
	case fakeFirstName:
		return first(), "", 0
	case fakeLastName:
		return last(), "", 0
	case fakeName:
		return first() + " || ' ' || " + last(), "", 0
	case fakeEmail:
		const domain = "@example.invalid"
		return fmt.Sprintf("%s || '.' || %s || %s", ascii(first()), ascii(last()), number), "'" + domain + "'", len(domain)
	case fakeUserName:
		return fmt.Sprintf("left(%s, 1) || %s || %s", ascii(first()), ascii(last()), number), "", 0
	case fakePhone:
		return fmt.Sprintf("%s || lpad(((get_byte(%[2]s, 5) * 256 + get_byte(%[2]s, 6)) %% %[3]d)::text, %[4]d, '0')",
			cp.args.addShared("phone:"+name, loc.phonePrefix)+"::text", h, pow10(loc.phoneDigits), loc.phoneDigits), "", 0
	case fakeAddress:
		house := fmt.Sprintf("(get_byte(%s, 7) %% 199 + 1)::text", h)
		if loc.numberAfter {
			return fmt.Sprintf("%s || ' ' || %s", pick("streets", loc.streets, 8), house), "", 0
		}
		return fmt.Sprintf("%s || ' ' || %s", house, pick("streets", loc.streets, 8)), "", 0
	case fakeCity:
		return pick("cities", loc.cities, 10), "", 0
	default: // fakeCompany; Check refused every other kind
		return pick("companies", companies, 12), "", 0
	}
}

// The letters e-mail addresses and user names fold to ASCII, and what to.
const (
	foldFrom = "àáâäçèéêëíîïñóôöúùûüß"
	foldTo   = "aaaaceeeeiiinooouuuus"
)

// fold is the SQL translate(lower(...)) of the fake e-mails, in Go.
func fold(w string) string {
	from, to := []rune(foldFrom), []rune(foldTo)
	out := []rune(strings.ToLower(w))
	for i, r := range out {
		for j, f := range from {
			if r == f {
				out[i] = to[j]
			}
		}
	}
	return string(out)
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// nonNil makes a nil salt an empty bytea rather than NULL, which would make
// every fake NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
