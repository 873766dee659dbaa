package masking

import (
	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// fakeLocale is what Fake draws from for one locale: word lists, how an
// address is written, and a phone number range no subscriber can have.
type fakeLocale struct {
	first, last, streets, cities []string
	// numberAfter writes the house number after the street ("Hauptstraße
	// 12") rather than before it ("12 High Street").
	numberAfter bool
	// phonePrefix is followed by phoneDigits digits.
	phonePrefix string
	phoneDigits int
}

// international is the default: names of many countries, British phone
// numbers of Ofcom's drama range.
var international = fakeLocale{first: firstNames, last: lastNames, streets: streets, cities: cities,
	phonePrefix: "+44 7700 900", phoneDigits: 3}

var locales = map[privacyv1alpha1.FakeLocale]fakeLocale{
	"en-GB": {
		first: []string{"Alice", "Amelia", "Arthur", "Ava", "Charlotte", "Daniel", "Edward", "Emily", "George", "Grace",
			"Harry", "Isabella", "Jack", "James", "Jessica", "Lily", "Lucy", "Noah", "Oliver", "Oscar", "Sophie", "Thomas"},
		last: []string{"Baker", "Clarke", "Davies", "Evans", "Green", "Hall", "Harris", "Hughes", "Jackson", "Jones",
			"Lewis", "Roberts", "Smith", "Taylor", "Thomas", "Walker", "White", "Williams", "Wilson", "Wright"},
		streets: []string{"Church Lane", "High Street", "Kings Road", "Mill Lane", "Park Road", "Queens Road",
			"Station Road", "Victoria Road", "London Road", "The Crescent"},
		cities:      []string{"Bath", "Birmingham", "Bristol", "Cambridge", "Leeds", "Liverpool", "Manchester", "Norwich", "Oxford", "York"},
		phonePrefix: "+44 7700 900", phoneDigits: 3,
	},
	"en-US": {
		first: []string{"Abigail", "Benjamin", "Chloe", "Daniel", "Elijah", "Emma", "Ethan", "Harper", "Henry", "Isabella",
			"Jacob", "James", "Liam", "Lucas", "Madison", "Mason", "Mia", "Olivia", "Sophia", "William"},
		last: []string{"Anderson", "Brown", "Davis", "Garcia", "Jackson", "Johnson", "Jones", "Martin", "Martinez",
			"Miller", "Moore", "Rodriguez", "Smith", "Taylor", "Thomas", "Thompson", "White", "Williams", "Wilson"},
		streets: []string{"Broadway", "Cedar Street", "Elm Street", "Lake Avenue", "Main Street", "Maple Avenue",
			"Oak Street", "Park Avenue", "Pine Street", "Washington Street"},
		cities:      []string{"Austin", "Boston", "Chicago", "Denver", "Phoenix", "Portland", "Seattle", "Springfield", "Tampa"},
		phonePrefix: "+1 202 555 01", phoneDigits: 2,
	},
	"de-DE": {
		first: []string{"Anna", "Ben", "Clara", "Elias", "Emilia", "Emma", "Felix", "Finn", "Hanna", "Jonas", "Lea",
			"Leon", "Lina", "Luca", "Marie", "Maximilian", "Mia", "Noah", "Paul", "Sophie"},
		last: []string{"Bauer", "Becker", "Fischer", "Hoffmann", "Koch", "Meyer", "Müller", "Richter", "Schäfer",
			"Schmidt", "Schneider", "Schulz", "Wagner", "Weber", "Wolf", "Zimmermann"},
		streets: []string{"Bahnhofstraße", "Bergstraße", "Birkenweg", "Dorfstraße", "Gartenstraße", "Hauptstraße",
			"Lindenstraße", "Schillerstraße", "Schulstraße", "Waldstraße"},
		cities:      []string{"Berlin", "Bremen", "Dresden", "Freiburg", "Hamburg", "Hannover", "Köln", "Leipzig", "München", "Stuttgart"},
		numberAfter: true,
		// Berlin subscriber numbers never start with 0.
		phonePrefix: "+49 30 00", phoneDigits: 4,
	},
	"fr-FR": {
		first: []string{"Camille", "Chloé", "Emma", "Gabriel", "Hugo", "Inès", "Jade", "Jules", "Léa", "Léo",
			"Louis", "Louise", "Lucas", "Manon", "Nathan", "Raphaël", "Sarah", "Thomas"},
		last: []string{"Bernard", "Bertrand", "Dubois", "Durand", "Fournier", "Girard", "Lambert", "Laurent",
			"Lefebvre", "Leroy", "Martin", "Moreau", "Petit", "Richard", "Robert", "Roux", "Simon", "Thomas"},
		streets: []string{"avenue Victor Hugo", "boulevard Voltaire", "place de la Mairie", "rue de la Gare",
			"rue de la République", "rue des Écoles", "rue du Moulin", "rue Pasteur"},
		cities: []string{"Bordeaux", "Lille", "Lyon", "Marseille", "Montpellier", "Nantes", "Nice", "Rennes", "Strasbourg", "Toulouse"},
		// ARCEP keeps 01 99 00 xx xx for works of fiction.
		phonePrefix: "+33 1 99 00 ", phoneDigits: 4,
	},
	"es-ES": {
		first: []string{"Alejandro", "Álvaro", "Carmen", "Daniel", "Hugo", "Javier", "Julia", "Lucía", "Manuel",
			"María", "Martina", "Pablo", "Paula", "Sofía", "Valeria"},
		last: []string{"Díaz", "Fernández", "García", "Gómez", "González", "Hernández", "López", "Martín", "Martínez",
			"Moreno", "Muñoz", "Pérez", "Rodríguez", "Romero", "Sánchez"},
		streets:     []string{"Avenida de la Constitución", "Calle Mayor", "Calle del Sol", "Calle Real", "Paseo de la Castellana", "Plaza de España"},
		cities:      []string{"Barcelona", "Bilbao", "Granada", "Madrid", "Málaga", "Sevilla", "Valencia", "Valladolid", "Zaragoza"},
		numberAfter: true,
		// Spanish numbers never start with 0.
		phonePrefix: "+34 000 00", phoneDigits: 4,
	},
}

// localeOf is the locale a strategy asks for, or the international default.
func localeOf(s privacyv1alpha1.MaskingStrategy) (fakeLocale, string) {
	if s.Locale != nil {
		if l, ok := locales[*s.Locale]; ok {
			return l, string(*s.Locale)
		}
	}
	return international, ""
}
