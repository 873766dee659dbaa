// Package retention carries out RetentionPolicy rules in one tenant
// database: each rule selects an entity's rows by age and conditions and
// anonymizes, pseudonymizes, deletes or archives them in keyset batches over
// the primary key. Each batch is one transaction holding the change, its
// audit record and the rule's checkpoint, so a run stopped anywhere resumes
// after its last batch, and a row already handled is never selected again.
package retention

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Rule is a rule compiled against one tenant's inventory and live schema.
type Rule struct {
	Spec   privacyv1alpha1.RetentionRule
	Entity *privacyv1alpha1.Entity
	table  *tenantdb.Table
	// target is the sanitized schema.table; pk and pkType its key column.
	target, pk, pkType string
	ageKind            string // "timestamptz", "timestamp" or "date"
	// masks are the columns Anonymize and Pseudonymize change.
	masks []masking.Assignment
	// children are the inventory's tables that refer to the entity, parents
	// before children, for Delete.
	children []*child
	// deleteOrder is each entity's position in the delete order.
	deleteOrder map[string]int
	// pseudo, when set, makes the rule a PseudonymizationJob's; active is
	// the sanitized column it deactivates, if any.
	pseudo *Pseudonyms
	active string
}

// Pseudonyms turn a Pseudonymize rule into the work of a
// PseudonymizationJob, which goes through the same batches, checkpoints and
// audit records as a retention rule:
//
//   - pseudonyms are keyed by the subject's cross-system identifier with a
//     key shared by every tenant (masking.Keys.Identifier), so the same
//     person gets the same pseudonym in every system;
//   - a row is done when lethe.pseudonymized_rows lists it (written with the
//     change), since its new values no longer tell whether it was done;
//   - Only limits the rule to one subject's rows; Deactivate sets a column
//     to false with the pseudonyms.
type Pseudonyms struct {
	// Key is the HMAC key of keyed pseudonyms.
	Key []byte
	// Identifier is the entity's column holding the identifier the subject
	// has in every system.
	Identifier string
	// Only, when set, limits the rule to rows whose identifier is one of
	// these values. They are personal: they reach SQL only as parameters.
	Only []string
	// Deactivate, when set, is a boolean column set to false.
	Deactivate string
}

// child is a table whose rows refer to its parent's rows through one column.
type child struct {
	target, pk, pkType string
	column             string // in this table, refers to parent's key
	parent             *child // nil: the rule's own table
	entity             string
}

var period = regexp.MustCompile(`^([1-9][0-9]{0,4})(d|w|mo|y)$`)

// Interval is a period of the API (`30d`, `18mo`) as a PostgreSQL interval.
func Interval(olderThan string) (string, error) {
	m := period.FindStringSubmatch(olderThan)
	if m == nil {
		return "", fmt.Errorf("olderThan %q is not a number followed by d, w, mo or y", olderThan)
	}
	n, _ := strconv.Atoi(m[1])
	unit := map[string]string{"d": "days", "w": "weeks", "mo": "months", "y": "years"}[m[2]]
	return fmt.Sprintf("%d %s", n, unit), nil
}

// Compile checks a rule against the inventory and the live catalog and
// prepares its statements. The error names the rule and what it lacks, for
// the policy's Stalled condition. hashKeys holds the HMAC keys of Hash
// strategies by "secret/key".
func Compile(r privacyv1alpha1.RetentionRule, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, hashKeys map[string][]byte) (*Rule, error) {
	return compileRule(r, inv, cat, hashKeys, nil)
}

// CompileJob compiles a PseudonymizationJob's work on one entity as a
// Pseudonymize rule with pseudonyms p. The rule's age may be empty (a
// column of ""): then every row of the entity (or of Only) is taken.
func CompileJob(r privacyv1alpha1.RetentionRule, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, hashKeys map[string][]byte, p Pseudonyms) (*Rule, error) {
	r.Action = privacyv1alpha1.RetentionPseudonymize
	out, err := compileRule(r, inv, cat, hashKeys, &p)
	if err != nil {
		return nil, err
	}
	if len(p.Key) == 0 {
		return nil, fmt.Errorf("rule %s: keyed pseudonyms need a key", r.Name)
	}
	id := columnOf(out.table, p.Identifier)
	if id == nil {
		return nil, fmt.Errorf("rule %s: column %s.%s of the matching identifier does not exist", r.Name, out.Entity.Table, p.Identifier)
	}
	if p.Deactivate != "" {
		c := columnOf(out.table, p.Deactivate)
		if c == nil || c.Type != "boolean" {
			return nil, fmt.Errorf("rule %s: the active column %s.%s needs to exist and be boolean", r.Name, out.Entity.Table, p.Deactivate)
		}
		out.active = pgx.Identifier{p.Deactivate}.Sanitize()
	}
	out.pseudo = &p
	args := &masking.Args{}
	if _, err := masking.UpdateSetSQL(out.Entity.Table, out.masks, out.table.PrimaryKey, rowKeys(&Run{}, out), args); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	return out, nil
}

func compileRule(r privacyv1alpha1.RetentionRule, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, hashKeys map[string][]byte, p *Pseudonyms) (*Rule, error) {
	fail := func(format string, args ...any) (*Rule, error) {
		return nil, fmt.Errorf("rule %s: "+format, append([]any{r.Name}, args...)...)
	}
	var ent *privacyv1alpha1.Entity
	for i := range inv.Entities {
		if inv.Entities[i].Name == r.Entity {
			ent = &inv.Entities[i]
		}
	}
	if ent == nil {
		return fail("entity %s is not in the DataInventory", r.Entity)
	}
	t := cat.Tables[ent.Table]
	if t == nil {
		return fail("table %s of entity %s does not exist", ent.Table, ent.Name)
	}
	if len(t.PrimaryKey) != 1 {
		return fail("table %s needs a single-column primary key for keyset batches; it has %d columns", ent.Table, len(t.PrimaryKey))
	}
	out := &Rule{Spec: r, Entity: ent, table: t, target: pgx.Identifier{t.Schema, t.Name}.Sanitize(),
		pk: pgx.Identifier{t.PrimaryKey[0]}.Sanitize(), pkType: columnOf(t, t.PrimaryKey[0]).Type}
	if p != nil && r.Age.Column == "" {
		return compileMasks(out, r, ent, t, hashKeys, fail)
	}
	if _, err := Interval(r.Age.OlderThan); err != nil {
		return fail("%v", err)
	}
	age := columnOf(t, r.Age.Column)
	if age == nil {
		return fail("column %s.%s of age does not exist", ent.Table, r.Age.Column)
	}
	switch {
	case age.Type == "date":
		out.ageKind = "date"
	case strings.HasPrefix(age.Type, "timestamp") && strings.HasSuffix(age.Type, "with time zone"):
		out.ageKind = "timestamptz"
	case strings.HasPrefix(age.Type, "timestamp"):
		out.ageKind = "timestamp"
	default:
		return fail("column %s.%s of age is %s; it needs a date or timestamp", ent.Table, r.Age.Column, age.Type)
	}
	for _, c := range r.Conditions {
		if columnOf(t, c.Column) == nil {
			return fail("column %s.%s of a condition does not exist", ent.Table, c.Column)
		}
	}
	action, then := r.Action, privacyv1alpha1.ArchiveThenDelete
	if r.Archive != nil && r.Archive.Then != "" {
		then = r.Archive.Then
	}
	if action == privacyv1alpha1.RetentionDelete || (action == privacyv1alpha1.RetentionArchive && then == privacyv1alpha1.ArchiveThenDelete) {
		children, err := childrenOf(ent, inv, cat)
		if err != nil {
			return fail("%v", err)
		}
		out.children = children
		if out.deleteOrder, err = deleteOrder(inv, cat); err != nil {
			return fail("%v", err)
		}
	}
	if action == privacyv1alpha1.RetentionAnonymize || action == privacyv1alpha1.RetentionPseudonymize ||
		(action == privacyv1alpha1.RetentionArchive && then == privacyv1alpha1.ArchiveThenAnonymize) {
		return compileMasks(out, r, ent, t, hashKeys, fail)
	}
	return out, nil
}

// compileMasks prepares the columns a rule masks.
func compileMasks(out *Rule, r privacyv1alpha1.RetentionRule, ent *privacyv1alpha1.Entity, t *tenantdb.Table, hashKeys map[string][]byte,
	fail func(string, ...any) (*Rule, error)) (*Rule, error) {
	action := r.Action
	masks, err := assignments(r, ent, t, hashKeys, action == privacyv1alpha1.RetentionPseudonymize)
	if err != nil {
		return fail("%v", err)
	}
	if len(masks) == 0 {
		return fail("entity %s has no column to %s: declare personal columns in the inventory or fields in the rule", ent.Name, strings.ToLower(string(action)))
	}
	out.masks = masks
	args := &masking.Args{}
	if _, err := masking.PendingSQL(ent.Table, masks, t.PrimaryKey, masking.Keys{PerRow: true}, args); err != nil {
		return fail("%v", err)
	}
	return out, nil
}

// identifying are the strategies Pseudonymize applies: those that replace a
// value with another that still tells rows apart.
var identifying = map[privacyv1alpha1.StrategyType]bool{
	privacyv1alpha1.StrategyPseudonym: true, privacyv1alpha1.StrategyHash: true, privacyv1alpha1.StrategyFake: true,
}

func assignments(r privacyv1alpha1.RetentionRule, ent *privacyv1alpha1.Entity, t *tenantdb.Table, hashKeys map[string][]byte, onlyIdentifying bool) ([]masking.Assignment, error) {
	override := map[string]privacyv1alpha1.MaskingStrategy{}
	for _, f := range r.Fields {
		override[f.Column] = f.Strategy
	}
	var out []masking.Assignment
	add := func(column string, s privacyv1alpha1.MaskingStrategy) error {
		c := columnOf(t, column)
		if c == nil {
			return fmt.Errorf("column %s.%s does not exist", ent.Table, column)
		}
		a := masking.Assignment{Column: *c, Strategy: s}
		if s.KeySecretRef != nil {
			key := hashKeys[s.KeySecretRef.Name+"/"+s.KeySecretRef.Key]
			if len(key) == 0 {
				return fmt.Errorf("column %s.%s: the Hash key %s/%s was not read", ent.Table, column, s.KeySecretRef.Name, s.KeySecretRef.Key)
			}
			a.HashKey = key
		}
		if why := masking.Check(s, *c); why != "" {
			return fmt.Errorf("column %s.%s (%s) cannot take strategy %s: %s", ent.Table, column, c.Type, s.Type, why)
		}
		out = append(out, a)
		return nil
	}
	for _, pc := range ent.PersonalColumns {
		s, ok := override[pc.Column]
		if !ok {
			s = pc.Strategy
			if onlyIdentifying && !identifying[s.Type] {
				continue
			}
		}
		delete(override, pc.Column)
		if err := add(pc.Column, s); err != nil {
			return nil, err
		}
	}
	for _, f := range r.Fields { // overrides of columns the inventory does not list
		if s, ok := override[f.Column]; ok {
			if err := add(f.Column, s); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// maxChildren bounds the paths Delete follows from one entity.
const maxChildren = 256

// childrenOf walks the live foreign keys from the inventory's tables to the
// entity's table, and on to theirs: the rows a Delete must remove first.
// Every path is followed (a work order refers to a customer and to the
// customer's case), and the result is in delete order: children before the
// rows they refer to.
func childrenOf(ent *privacyv1alpha1.Entity, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) ([]*child, error) {
	entityOf := map[string]*privacyv1alpha1.Entity{}
	for i := range inv.Entities {
		entityOf[inv.Entities[i].Table] = &inv.Entities[i]
	}
	var walk []*child
	type item struct {
		table  string
		parent *child
		path   map[string]bool
	}
	queue := []item{{table: ent.Table, path: map[string]bool{ent.Table: true}}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		for _, fk := range cat.ForeignKeys {
			if fk.RefTable != it.table || it.path[fk.Table] || entityOf[fk.Table] == nil {
				continue
			}
			t := cat.Tables[fk.Table]
			if len(fk.Columns) != 1 || t == nil || len(t.PrimaryKey) != 1 {
				return nil, fmt.Errorf("table %s refers to %s through a composite key, which Delete cannot follow", fk.Table, it.table)
			}
			if len(walk) == maxChildren {
				return nil, fmt.Errorf("more than %d paths of foreign keys lead to table %s; Delete does not follow that many", maxChildren, ent.Table)
			}
			c := &child{target: pgx.Identifier{t.Schema, t.Name}.Sanitize(), pk: pgx.Identifier{t.PrimaryKey[0]}.Sanitize(),
				pkType: columnOf(t, t.PrimaryKey[0]).Type, column: pgx.Identifier{fk.Columns[0]}.Sanitize(),
				parent: it.parent, entity: entityOf[fk.Table].Name}
			walk = append(walk, c)
			path := map[string]bool{fk.Table: true}
			for k := range it.path {
				path[k] = true
			}
			queue = append(queue, item{table: fk.Table, parent: c, path: path})
		}
	}
	return walk, nil
}

// deleteOrder is the position of each entity in the inventory's delete
// order (children first), refined by the live foreign keys.
func deleteOrder(inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog) (map[string]int, error) {
	g, problems := inventory.CheckGraph(inv)
	if len(problems) > 0 {
		return nil, fmt.Errorf("the inventory is invalid: %s", strings.Join(problems, "; "))
	}
	pos := map[string]int{}
	for i, e := range g.DeleteOrder(inv, cat) {
		pos[e] = i
	}
	return pos, nil
}

func columnOf(t *tenantdb.Table, name string) *tenantdb.Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}
