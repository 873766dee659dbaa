package classify

import (
	"strings"
	"testing"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// col is a column of a type as format_type prints it, with its
// typcategory.
func col(name, typ string) tenantdb.Column {
	cat := map[string]byte{"text": 'S', "character varying(40)": 'S', "date": 'D', "timestamp with time zone": 'D',
		"integer": 'N', "bigint": 'N', "numeric(12,2)": 'N', "boolean": 'B', "inet": 'I', "cidr": 'I', "bytea": 'U',
		"macaddr": 'U', "uuid": 'U', "jsonb": 'U', "text[]": 'A', "point": 'G', "oid": 'N'}[typ]
	return tenantdb.Column{Name: name, Type: typ, Category: cat}
}

func TestColumnReadsNamesInFiveLanguages(t *testing.T) {
	tests := []struct {
		lang, name, typ string
		want            privacyv1alpha1.DataCategory // "" for nothing personal
	}{
		{"en", "first_name", "text", catName},
		{"en", "lastName", "text", catName},
		{"en", "FullName", "character varying(40)", catName},
		{"en", "email_address", "text", catEmail},
		{"en", "EmailAddress", "text", catEmail},
		{"en", "e_mail", "text", catEmail},
		{"en", "phone_number", "text", catPhone},
		{"en", "mobile", "text", catPhone},
		{"en", "fax", "text", catPhone},
		{"en", "street_address", "text", catAddress},
		{"en", "zip_code", "text", catAddress},
		{"en", "postcode", "text", catAddress},
		{"en", "city", "text", catAddress},
		{"en", "date_of_birth", "date", catBirthDate},
		{"en", "dob", "date", catBirthDate},
		{"en", "birth_date", "timestamp with time zone", catBirthDate},
		{"en", "ssn", "text", catIdentifier},
		{"en", "social_security_number", "text", catIdentifier},
		{"en", "passport_number", "text", catIdentifier},
		{"en", "iban", "text", catFinancial},
		{"en", "card_number", "text", catFinancial},
		{"en", "bank_account_number", "text", catFinancial},
		{"en", "ip_address", "text", catIPAddress},
		{"en", "lastLoginIp", "text", catIPAddress},
		{"en", "username", "text", catUserName},
		{"en", "login", "text", catUserName},
		{"en", "password", "text", catOther},
		{"en", "password_hash", "bytea", catOther},
		{"en", "api_key", "text", catOther},
		{"en", "refresh_token", "text", catOther},
		{"en", "avatar", "bytea", catImage},
		{"en", "profile_picture", "text", catImage},
		{"en", "photo", "oid", catImage},
		{"en", "signature", "bytea", catImage},
		{"en", "comment", "text", catFreeText},
		{"en", "notes", "text", catFreeText},
		{"en", "message_body", "text", catFreeText},
		{"en", "description", "text", catFreeText},
		{"en", "customer_number", "text", catIdentifier},
		{"en", "user_agent", "text", catOther},
		{"en", "latitude", "numeric(12,2)", catLocation},

		{"sv", "förnamn", "text", catName},
		{"sv", "efternamn", "text", catName},
		{"sv", "e_post", "text", catEmail},
		{"sv", "EPostAdress", "text", catEmail},
		{"sv", "telefonnummer", "text", catPhone},
		{"sv", "mobilnummer", "text", catPhone},
		{"sv", "gatuadress", "text", catAddress},
		{"sv", "postnummer", "text", catAddress},
		{"sv", "ort", "text", catAddress},
		{"sv", "födelsedatum", "date", catBirthDate},
		{"sv", "personnummer", "text", catIdentifier},
		{"sv", "kontonummer", "text", catFinancial},
		{"sv", "ip_adress", "text", catIPAddress},
		{"sv", "användarnamn", "text", catUserName},
		{"sv", "lösenord", "text", catOther},
		{"sv", "kommentar", "text", catFreeText},
		{"sv", "anteckningar", "text", catFreeText},
		{"sv", "bild", "bytea", catImage},
		{"sv", "kundnummer", "text", catIdentifier},

		{"fr", "prénom", "text", catName},
		{"fr", "nom_de_famille", "text", catName},
		{"fr", "nom_client", "text", catName},
		{"fr", "courriel", "text", catEmail},
		{"fr", "adresse_email", "text", catEmail},
		{"fr", "téléphone", "text", catPhone},
		{"fr", "portable", "text", catPhone},
		{"fr", "adresse", "text", catAddress},
		{"fr", "code_postal", "text", catAddress},
		{"fr", "ville", "text", catAddress},
		{"fr", "date_de_naissance", "date", catBirthDate},
		{"fr", "numéro_de_sécurité_sociale", "text", catIdentifier},
		{"fr", "NIR", "text", catIdentifier},
		{"fr", "numéro_de_carte", "text", catFinancial},
		{"fr", "adresse_ip", "text", catIPAddress},
		{"fr", "nom_d'utilisateur", "text", catUserName},
		{"fr", "mot_de_passe", "text", catOther},
		{"fr", "commentaire", "text", catFreeText},
		{"fr", "photo", "bytea", catImage},

		{"de", "Vorname", "text", catName},
		{"de", "Nachname", "text", catName},
		{"de", "E-Mail", "text", catEmail},
		{"de", "E-Mail-Adresse", "text", catEmail},
		{"de", "Telefonnummer", "text", catPhone},
		{"de", "Handynummer", "text", catPhone},
		{"de", "Kundentelefon", "text", catPhone},
		{"de", "Straße", "text", catAddress},
		{"de", "PLZ", "text", catAddress},
		{"de", "Wohnort", "text", catAddress},
		{"de", "Privatadresse", "text", catAddress},
		{"de", "Geburtsdatum", "date", catBirthDate},
		{"de", "Steuer-ID", "text", catIdentifier},
		{"de", "Sozialversicherungsnummer", "text", catIdentifier},
		{"de", "Kreditkartennummer", "text", catFinancial},
		{"de", "IP-Adresse", "text", catIPAddress},
		{"de", "Benutzername", "text", catUserName},
		{"de", "Passwort", "text", catOther},
		{"de", "Kennwort", "text", catOther},
		{"de", "Bemerkung", "text", catFreeText},
		{"de", "Unterschrift", "bytea", catImage},
		{"de", "Kundennummer", "text", catIdentifier},

		{"es", "nombre", "text", catName},
		{"es", "apellidos", "text", catName},
		{"es", "correo_electrónico", "text", catEmail},
		{"es", "teléfono", "text", catPhone},
		{"es", "móvil", "text", catPhone},
		{"es", "dirección", "text", catAddress},
		{"es", "código_postal", "text", catAddress},
		{"es", "ciudad", "text", catAddress},
		{"es", "fecha_de_nacimiento", "date", catBirthDate},
		{"es", "DNI", "text", catIdentifier},
		{"es", "NIE", "text", catIdentifier},
		{"es", "número_de_seguridad_social", "text", catIdentifier},
		{"es", "número_de_cuenta", "text", catFinancial},
		{"es", "dirección_ip", "text", catIPAddress},
		{"es", "nombre_de_usuario", "text", catUserName},
		{"es", "contraseña", "text", catOther},
		{"es", "observaciones", "text", catFreeText},
		{"es", "foto", "bytea", catImage},
		{"es", "número_de_cliente", "text", catIdentifier},

		// Not personal by name.
		{"en", "customer_id", "integer", ""},
		{"en", "employee_id", "bigint", ""},
		{"es", "id_cliente", "integer", ""},
		{"en", "email_verified", "boolean", ""},
		{"en", "last_login_at", "timestamp with time zone", ""},
		{"en", "email_status", "text", ""},
		{"en", "address_type", "text", ""},
		{"en", "phone_verified_at", "timestamp with time zone", ""},
		{"en", "company_name", "text", ""},
		{"en", "product_name", "text", ""},
		{"en", "file_name", "text", ""},
		{"fr", "nom_produit", "text", ""},
		{"de", "Firma", "text", ""},
		{"en", "created_at", "timestamp with time zone", ""},
		{"en", "amount", "numeric(12,2)", ""},
		{"en", "title", "text", ""},
		{"en", "country", "text", ""},
		{"en", "status", "text", ""},
		{"en", "settings", "jsonb", ""},
		{"en", "user_uuid", "uuid", ""},
	}
	for _, tt := range tests {
		t.Run(tt.lang+"/"+tt.name, func(t *testing.T) {
			m, ok := Column(col(tt.name, tt.typ))
			switch {
			case tt.want == "" && ok:
				t.Errorf("Column(%q %s) = %s (%v), want nothing personal", tt.name, tt.typ, m.Category, m.Reasons)
			case tt.want != "" && !ok:
				t.Errorf("Column(%q %s): nothing found, want %s", tt.name, tt.typ, tt.want)
			case ok && m.Category != tt.want:
				t.Errorf("Column(%q %s) = %s (%v), want %s", tt.name, tt.typ, m.Category, m.Reasons, tt.want)
			case ok && (len(m.Reasons) == 0 || m.Reasons[0].Kind != ReasonName):
				t.Errorf("Column(%q %s): reasons %v, want a name reason first", tt.name, tt.typ, m.Reasons)
			}
		})
	}
}

func TestColumnReadsTypes(t *testing.T) {
	tests := []struct {
		name, typ string
		want      privacyv1alpha1.DataCategory
		detail    string
	}{
		{"seen_from", "inet", catIPAddress, "type inet holds IP addresses"},
		{"network", "cidr", catIPAddress, "type cidr holds IP addresses"},
		{"hw", "macaddr", catIPAddress, "type macaddr holds hardware (MAC) addresses"},
		{"data", "bytea", catOther, "type bytea holds binary data (a picture or a document)"},
		{"spot", "point", catLocation, "type point holds a location"},
	}
	for _, tt := range tests {
		m, ok := Column(col(tt.name, tt.typ))
		if !ok || m.Category != tt.want || len(m.Reasons) != 1 || m.Reasons[0] != (Reason{Kind: ReasonType, Detail: tt.detail}) {
			t.Errorf("Column(%q %s) = %+v, %v; want %s with the reason %q", tt.name, tt.typ, m, ok, tt.want, tt.detail)
		}
	}
	// A name and a type that agree give both reasons; a birth date's type
	// says it is a date.
	m, _ := Column(col("avatar", "bytea"))
	if len(m.Reasons) != 2 || m.Reasons[1].Kind != ReasonType {
		t.Errorf("avatar bytea: reasons %v, want the name and the type", m.Reasons)
	}
	m, _ = Column(col("birth_date", "date"))
	if len(m.Reasons) != 2 || m.Reasons[1].Detail != "type date holds a date" {
		t.Errorf("birth_date date: reasons %v, want the name and the type", m.Reasons)
	}
	// Without a typcategory, the type is read from its name.
	if m, ok := Column(tenantdb.Column{Name: "email", Type: "character varying(60)"}); !ok || m.Category != catEmail {
		t.Errorf("email character varying without a category = %+v, %v", m, ok)
	}
	if _, ok := Column(tenantdb.Column{Name: "customer_id", Type: "integer"}); ok {
		t.Error("customer_id integer without a category is a key, not personal")
	}
}

func TestColumnSaysWhatIdentifiesAPerson(t *testing.T) {
	for name, want := range map[string]bool{
		"email": true, "user_name": true, "customer_number": true, "personnummer": true,
		"phone": false, "first_name": false, "iban": false, "password": false,
	} {
		if m, ok := Column(col(name, "text")); !ok || m.Identifier != want {
			t.Errorf("Column(%q).Identifier = %v (found %v), want %v", name, m.Identifier, ok, want)
		}
	}
}

func TestColumnReasonNamesTheMatchedPhrase(t *testing.T) {
	for name, want := range map[string]string{
		"e_post":            `name matches "e-post"`,
		"DateOfBirth":       `name matches "date of birth"`,
		"Privatadresse":     `name ends in "adresse"`,
		"customer_name":     `name matches "customer name"`,
		"nom_d_utilisateur": `name matches "nom d'utilisateur"`,
	} {
		m, ok := Column(col(name, "text"))
		if !ok || m.Reasons[0].Detail != want {
			t.Errorf("Column(%q): reasons %v, want %q", name, m.Reasons, want)
		}
	}
}

func TestWords(t *testing.T) {
	for in, want := range map[string]string{
		"first_name": "first name", "firstName": "first name", "IPAddress": "ip address", "user-agent": "user agent",
		"Email": "email", "E-Post_Adresse": "e post adresse", "Straße": "strasse", "address2": "address 2",
		"ipv4": "ipv 4", "lastLoginIP": "last login ip", "HTTPServer": "http server",
		"numéro de sécurité sociale": "numero de securite sociale", "Order Items": "order items",
	} {
		if got := strings.Join(Words(in), " "); got != want {
			t.Errorf("Words(%q) = %q, want %q", in, got, want)
		}
	}
}
