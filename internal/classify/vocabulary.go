package classify

import (
	"strings"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
)

// The categories of api/v1alpha1 (DataCategory's enum).
const (
	catName       privacyv1alpha1.DataCategory = "Name"
	catEmail      privacyv1alpha1.DataCategory = "Email"
	catPhone      privacyv1alpha1.DataCategory = "Phone"
	catAddress    privacyv1alpha1.DataCategory = "Address"
	catIdentifier privacyv1alpha1.DataCategory = "Identifier"
	catFreeText   privacyv1alpha1.DataCategory = "FreeText"
	catIPAddress  privacyv1alpha1.DataCategory = "IPAddress"
	catImage      privacyv1alpha1.DataCategory = "Image"
	catBirthDate  privacyv1alpha1.DataCategory = "BirthDate"
	catLocation   privacyv1alpha1.DataCategory = "Location"
	catFinancial  privacyv1alpha1.DataCategory = "Financial"
	catUserName   privacyv1alpha1.DataCategory = "UserName"
	catOther      privacyv1alpha1.DataCategory = "Other"
)

// strength is how much a signal says about the table it is in.
type strength int

const (
	// weak: a generic word (name, description, note, picture, state) that
	// is personal only in a table about people or their records.
	weak strength = iota + 1
	// contact: contact and location data (phone, address) that is personal
	// in a table about people, and in a table their records point at
	// unless it is a lookup table.
	contact
	// strong: points at one person (e-mail, a person's name, user name,
	// national id, IP address, credentials, account and card numbers): its
	// table is about people.
	strong
)

// role marks the terms whose meaning depends on the words or table around
// them.
type role int

const (
	plain role = iota
	// selfName is the name of the person the row is about (first name,
	// surname, contact name): its table is a subject table.
	selfName
	// bareName is "name" alone: a person's name in a table of people, a
	// product's in a table of products.
	bareName
	// personNumber is a number an organisation gives a person (customer
	// number, employee id): not reported on a table's own key, nor on a
	// foreign key to it.
	personNumber
	// needsAddress is a part of an address that is something else alone
	// (state, region): reported beside another address column only.
	needsAddress
	// needsPhone is a phone extension: reported beside another phone
	// column only.
	needsPhone
)

// group is a set of phrases that mean the same kind of data, in the five
// languages. A phrase is matched against a column name's words joined
// without separators, accents folded ("e-post" matches e_post, epost and
// EPost; "date of birth" matches DateOfBirth).
type group struct {
	cat        privacyv1alpha1.DataCategory
	str        strength
	role       role
	identifier bool
	types      typeClass
	// compound: the phrases also end longer words (German and Swedish
	// compounds: Privatadresse, kundentelefon).
	compound bool
	phrases  []string
}

// textual are the types a column of text data may have.
const textual = tText | tArray | tJSON

var groups = []group{
	{cat: catName, str: strong, role: selfName, types: textual, phrases: []string{
		"first name", "given name", "forename", "fname", "last name", "lname", "surname", "family name", "full name",
		"middle name", "maiden name", "display name", "nickname", "nick name", "contact name", "contact person", "initials",
		"person name", "förnamn", "efternamn", "tilltalsnamn", "mellannamn", "fullständigt namn", "kontaktperson",
		"prénom", "nom de famille", "nom complet", "nom d'usage", "nom de naissance",
		"vorname", "nachname", "familienname", "vollständiger name", "rufname", "geburtsname", "ansprechpartner",
		"nombre completo", "apellido", "apellidos", "primer apellido", "segundo apellido", "nombre de pila",
		"persona de contacto"}},
	{cat: catName, str: strong, types: textual, phrases: []string{
		"card holder", "cardholder", "account holder", "holder name", "recipient", "recipient name", "beneficiary",
		"kontoinnehavare", "kortinnehavare", "mottagare", "titulaire", "destinataire", "karteninhaber", "kontoinhaber",
		"empfänger", "titular", "destinatario"}},
	{cat: catName, str: weak, role: bareName, types: textual, phrases: []string{"name", "namn", "nom", "nombre"}},

	{cat: catEmail, str: strong, identifier: true, types: textual, compound: true, phrases: []string{
		"email", "e-mail", "email address", "e-mail address", "mail address", "emailadress", "e-post", "e-postadress",
		"courriel", "adresse mail", "adresse email", "adresse électronique", "e-mail-adresse", "emailadresse",
		"correo", "correo electrónico"}},
	{cat: catEmail, str: strong, identifier: true, types: textual, phrases: []string{"mail", "mel"}},

	{cat: catPhone, str: contact, types: textual | tNumber, compound: true, phrases: []string{
		"telefon", "telefonnummer", "mobilnummer", "mobiltelefon", "handynummer", "faxnummer", "rufnummer"}},
	{cat: catPhone, str: contact, types: textual | tNumber, phrases: []string{
		"phone", "phone number", "telephone", "tel", "mobile", "mobile phone", "mobile number", "cell", "cell phone",
		"cellphone", "fax", "fax number", "msisdn", "telnr", "mobil", "mobilnr", "hemtelefon",
		"téléphone", "portable", "numéro de téléphone", "télécopie", "handy",
		"teléfono", "móvil", "celular", "número de teléfono"}},
	{cat: catPhone, str: contact, role: needsPhone, types: textual | tNumber, phrases: []string{
		"extension", "ext", "anknytning", "durchwahl", "poste", "extensión"}},

	{cat: catAddress, str: contact, types: textual, compound: true, phrases: []string{
		"adresse", "adress", "anschrift", "postadress", "gatuadress"}},
	{cat: catAddress, str: contact, types: textual, phrases: []string{
		"address", "addr", "street", "street address", "street name", "address line", "postcode", "post code",
		"postal code", "zip", "zip code", "zipcode", "city", "city name", "town", "house number", "suburb",
		"gata", "postnummer", "postort", "ort", "stad", "bostadsadress", "hemadress", "utdelningsadress",
		"rue", "code postal", "ville", "voie", "adresse postale",
		"strasse", "hausnummer", "plz", "postleitzahl", "wohnort", "stadt",
		"dirección", "domicilio", "calle", "código postal", "ciudad", "localidad", "población"}},
	{cat: catAddress, str: weak, role: needsAddress, types: textual, phrases: []string{
		"state", "region", "province", "county", "district", "département", "région", "arrondissement", "quartier",
		"bundesland", "bezirk", "provincia", "distrito", "barrio", "län", "stadsdel"}},

	{cat: catBirthDate, str: strong, types: tText | tDate | tNumber, compound: true, phrases: []string{
		"geburtsdatum", "födelsedatum"}},
	{cat: catBirthDate, str: strong, types: tText | tDate | tNumber, phrases: []string{
		"birth date", "birthdate", "birthday", "date of birth", "dob", "born", "born on", "birth", "year of birth",
		"birth year", "födelsedag", "född", "födelseår", "date de naissance", "date naissance", "naissance",
		"année de naissance", "geburtstag", "geboren", "geburtsjahr", "fecha de nacimiento", "fecha nacimiento",
		"nacimiento", "cumpleaños", "año de nacimiento"}},
	{cat: catLocation, str: contact, types: textual, phrases: []string{
		"place of birth", "birth place", "birthplace", "födelseort", "lieu de naissance", "geburtsort",
		"lugar de nacimiento"}},

	{cat: catIdentifier, str: strong, identifier: true, types: tText | tNumber, compound: true, phrases: []string{
		"personnummer", "sozialversicherungsnummer", "steueridentifikationsnummer"}},
	{cat: catIdentifier, str: strong, identifier: true, types: tText | tNumber, phrases: []string{
		"ssn", "social security number", "social security no", "social security", "national id",
		"national identifier", "national id number", "national insurance number", "ni number", "nino", "tax id",
		"tax number", "taxpayer id", "passport", "passport number", "passport no", "driver license",
		"drivers license", "driving licence", "driving license", "id card", "identity card", "id number",
		"identity number", "personal id", "personal number",
		"personnr", "samordningsnummer",
		"nir", "numéro de sécurité sociale", "num sécu", "numéro sécu", "sécurité sociale", "insee",
		"steuer-id", "steuerid", "steuernummer", "sv-nummer", "rentenversicherungsnummer", "versicherungsnummer",
		"personalausweisnummer", "ausweisnummer", "reisepassnummer",
		"dni", "nie", "nif", "nuss", "número de seguridad social", "pasaporte", "cédula"}},
	{cat: catIdentifier, str: strong, role: personNumber, identifier: true, types: tText | tNumber, phrases: []string{
		"customer number", "customer no", "customer nr", "customer id", "customer code", "client number", "client id",
		"employee number", "employee no", "employee nr", "employee id", "staff number", "staff id", "member number",
		"member no", "member id", "membership number", "person id", "patient id", "patient number", "student id",
		"student number", "subscriber id", "payroll number", "personnel number", "badge number", "user id",
		"kundnummer", "kundnr", "kund id", "anställningsnummer", "anställningsnr", "medlemsnummer", "medlemsnr",
		"numéro client", "numéro de client", "code client", "matricule", "numéro d'adhérent",
		"kundennummer", "kundennr", "mitarbeiternummer", "personalnummer", "mitgliedsnummer",
		"número de cliente", "número de empleado", "número de socio"}},

	{cat: catFinancial, str: strong, types: tText | tNumber, phrases: []string{
		"iban", "account number", "account no", "bank account", "bank account number", "card number", "credit card",
		"credit card number", "cc number", "cvv", "cvc",
		"kontonummer", "bankkonto", "kortnummer", "kreditkort", "kreditkortsnummer",
		"numéro de compte", "compte bancaire", "rib", "numéro de carte", "carte bancaire", "carte de crédit",
		"bankverbindung", "kreditkarte", "kreditkartennummer", "kartennummer",
		"número de cuenta", "cuenta bancaria", "número de tarjeta", "tarjeta de crédito"}},

	{cat: catIPAddress, str: strong, types: tText | tNet, phrases: []string{
		"ip", "ip address", "ipaddress", "ip addr", "ipv4", "ipv6", "remote addr", "remote address", "ip-adress",
		"ip-adressen", "adresse ip", "ip-adresse", "dirección ip", "mac", "mac address", "mac adress", "mac-adresse"}},

	{cat: catUserName, str: strong, identifier: true, types: textual, phrases: []string{
		"username", "user name", "login", "login name", "user login", "screen name", "screenname",
		"användarnamn", "inloggning", "inloggningsnamn", "identifiant", "nom d'utilisateur", "pseudo",
		"benutzername", "anmeldename", "benutzerkennung", "nombre de usuario", "usuario"}},

	{cat: catOther, str: strong, types: tText | tBinary, compound: true, phrases: []string{
		"password", "passwort", "kennwort", "lösenord"}},
	{cat: catOther, str: strong, types: tText | tBinary, phrases: []string{
		"passwd", "pwd", "password hash", "hashed password", "password digest", "encrypted password", "secret",
		"client secret", "api key", "apikey", "access token", "refresh token", "auth token", "token", "otp secret",
		"totp secret", "mfa secret", "private key", "hemlighet", "mot de passe", "mdp", "geheimnis",
		"contraseña", "secreto"}},
	{cat: catOther, str: weak, types: tText, phrases: []string{
		"user agent", "useragent", "gender", "sex", "kön", "sexe", "geschlecht", "sexo", "nationality",
		"nationalité", "nationalität", "nacionalidad", "nationalitet"}},

	{cat: catImage, str: strong, types: tText | tBinary | tOID, phrases: []string{
		"avatar", "portrait", "headshot", "selfie", "profile picture", "profile photo", "profile image",
		"profilbild", "photo de profil", "foto de perfil"}},
	{cat: catImage, str: weak, types: tText | tBinary | tOID, phrases: []string{
		"photo", "picture", "image", "img", "foto", "bild", "imagen"}},
	{cat: catImage, str: weak, types: tBinary | tOID, phrases: []string{
		"signature", "underskrift", "namnteckning", "unterschrift"}},
	{cat: catOther, str: weak, types: tText, phrases: []string{
		"signature", "underskrift", "namnteckning", "unterschrift"}},
	{cat: catOther, str: weak, types: tBinary | tOID, phrases: []string{
		"attachment", "document", "file", "scan", "cv", "resume", "bilaga", "dokument", "pièce jointe", "fichier",
		"anhang", "datei", "adjunto", "documento", "archivo"}},

	{cat: catFreeText, str: weak, types: textual, phrases: []string{
		"comment", "comments", "note", "notes", "remark", "remarks", "memo", "message", "body", "description",
		"desc", "text", "bio", "biography", "about", "transcript", "feedback", "reason", "label", "free text",
		"kommentar", "kommentarer", "anteckning", "anteckningar", "notering", "noteringar", "meddelande",
		"beskrivning", "fritext", "övrigt", "anledning",
		"commentaire", "commentaires", "remarque", "remarques", "texte", "observation", "observations", "raison",
		"kommentare", "bemerkung", "bemerkungen", "notiz", "notizen", "nachricht", "beschreibung", "anmerkung",
		"anmerkungen", "freitext", "begründung",
		"comentario", "comentarios", "nota", "notas", "mensaje", "descripción", "observaciones", "cuerpo", "texto",
		"motivo"}},

	{cat: catLocation, str: contact, types: tText | tNumber | tGeo, phrases: []string{
		"latitude", "longitude", "lat", "lng", "lon", "geolocation", "geo location", "coordinates", "gps",
		"latitud", "longitud", "breitengrad", "längengrad"}},
}

// modifiers, after the words that matched, say the column is about the
// data rather than the data itself: email_status, address_type,
// phone_verified.
var modifiers = wordSet(
	"type", "types", "kind", "status", "state", "format", "count", "verified", "confirmed", "flag", "flags",
	"enabled", "disabled", "optin", "optout", "opt", "consent", "provider", "template", "domain", "prefix", "policy",
	"hint", "mode", "source", "visibility", "visible", "language", "lang", "locale", "strategy", "category", "level",
	"preference", "preferences", "setting", "settings", "config", "rule", "rules", "pattern", "regex", "version",
	"length", "size", "width", "height", "mime", "encoding", "charset", "checksum", "required", "valid", "validated",
	"expiry", "expires", "attempts", "changed", "updated", "created", "sent", "bounced", "typ", "tipo", "estado",
	"statut", "etat")

// personNouns name people: a table named for them holds people (a bare
// "name" there is a person's), and one beside "name" makes it a person's
// (customer_name, nom_client).
var personNouns = wordSet(
	"customer", "customers", "client", "clients", "employee", "employees", "staff", "user", "users", "member",
	"members", "person", "persons", "people", "contact", "contacts", "patient", "patients", "student", "students",
	"subscriber", "subscribers", "applicant", "applicants", "candidate", "candidates", "author", "authors", "agent",
	"agents", "driver", "drivers", "guest", "guests", "passenger", "passengers", "buyer", "buyers", "consumer",
	"consumers", "visitor", "visitors", "participant", "participants", "attendee", "attendees", "volunteer",
	"volunteers", "worker", "workers", "teacher", "teachers", "parent", "parents", "profile", "profiles",
	"kund", "kunder", "anstalld", "anstallda", "medarbetare", "medlem", "medlemmar", "personer", "anvandare",
	"kontakt", "kontakter", "elev", "elever",
	"employe", "employes", "salarie", "salaries", "utilisateur", "utilisateurs", "membre", "membres", "personne",
	"personnes", "etudiant", "etudiants",
	"kunde", "kunden", "mitarbeiter", "benutzer", "mitglied", "mitglieder", "personen", "kontakte", "patienten",
	"cliente", "clientes", "empleado", "empleados", "usuarios", "miembro", "miembros", "persona", "personas",
	"contacto", "contactos", "paciente", "pacientes", "alumno", "alumnos", "socio", "socios")

// thingNouns name things and organisations: a table named for them, or one
// of them beside "name", is not about a person (company_name, nom_produit,
// countries.name).
var thingNouns = wordSet(
	"company", "companies", "firm", "business", "organisation", "organization", "org", "supplier", "suppliers",
	"vendor", "vendors", "shipper", "shippers", "carrier", "store", "stores", "shop", "product", "products", "item",
	"items", "article", "category", "categories", "genre", "genres", "artist", "artists", "album", "albums",
	"track", "tracks", "song", "playlist", "playlists", "media", "file", "host", "server", "table", "column",
	"schema", "database", "db", "role", "roles", "group", "groups", "team", "teams", "department", "dept", "project",
	"plan", "plans", "brand", "model", "country", "countries", "state", "states", "region", "regions", "territory",
	"territories", "domain", "app", "application", "service", "feature", "event", "events", "tag", "tags", "field",
	"key", "bucket", "queue", "job", "task", "channel", "device", "menu", "page", "template", "class", "type",
	"types", "kind", "status", "unit", "currency", "currencies", "language", "languages", "locale", "timezone",
	"bank", "school", "hotel", "venue", "site", "building", "room", "course", "branch", "office", "warehouse",
	"location", "place", "city", "cities", "street",
	"foretag", "bolag", "produkt", "artikel", "kategori", "leverantor", "land", "fil", "grupp", "avdelning",
	"societe", "entreprise", "produit", "categorie", "fournisseur", "pays", "fichier", "groupe",
	"firma", "unternehmen", "produkte", "kategorie", "lieferant", "datei", "gruppe", "abteilung",
	"empresa", "compania", "producto", "articulo", "categoria", "proveedor", "pais", "archivo", "grupo",
	"departamento")

// keyWords mark a numeric column as a key (customer_id, id_cliente): not
// personal by its name.
var keyWords = wordSet("id", "ids", "fk", "pk")

func wordSet(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// personNoun and thingNoun look a word up in personNouns and thingNouns,
// as written and as the singular of an English plural (cities, addresses).
func personNoun(w string) bool { return nounIn(personNouns, w) }

func thingNoun(w string) bool { return nounIn(thingNouns, w) }

func nounIn(set map[string]bool, w string) bool {
	if set[w] {
		return true
	}
	for _, s := range [][2]string{{"ies", "y"}, {"es", ""}, {"s", ""}} {
		if base, ok := strings.CutSuffix(w, s[0]); ok && base != "" && set[base+s[1]] {
			return true
		}
	}
	return false
}

// headNoun is the last word of a table's name: what its rows are
// (contact_persons: persons).
func headNoun(table string) string {
	w := Words(table)
	if len(w) == 0 {
		return ""
	}
	return w[len(w)-1]
}
