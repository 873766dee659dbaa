// Package retention compiles RetentionPolicy rules, and the work of
// PseudonymizationJobs, into steps of the one executor (internal/engine):
// each rule selects an entity's rows by age and conditions and anonymizes,
// pseudonymizes, deletes or archives them in keyset batches over the
// table's key, whatever its shape. The executor's batches, checkpoints,
// lock rule and audit path are the same as a request's; this package says
// only which rows and what change.
package retention

import (
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/calendar"
	"github.com/lethe-dev/lethe/internal/dsr"
	"github.com/lethe-dev/lethe/internal/engine"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Rule is a rule compiled against one tenant's inventory and live schema.
type Rule struct {
	Spec   privacyv1alpha1.RetentionRule
	Entity *privacyv1alpha1.Entity
	target *engine.Target
	// ageKind is how the age column compares: "timestamptz", "timestamp"
	// or "date"; empty takes rows of any age.
	ageKind string
	// masks are the columns Anonymize and Pseudonymize change.
	masks []masking.Assignment
	// deletion is what deleting the rows takes, for Delete and
	// Archive-then-Delete.
	deletion *engine.Deletion
	// pseudo, when set, makes the rule a PseudonymizationJob's; active is
	// the sanitized column it deactivates, if any.
	pseudo *Pseudonyms
	active string
	// graph, for scope Subject, is the erasure of the subjects of the
	// rule's root rows, applied with each batch of them.
	graph *dsr.SubjectGraph
	// subject says whose rows an archive holds (nil: nobody's).
	subject *engine.ArchiveSubject
}

// Pseudonyms turn a Pseudonymize rule into the work of a
// PseudonymizationJob, which goes through the same batches, checkpoints and
// audit records as a retention rule:
//
//   - pseudonyms are keyed by the subject's cross-system identifier with a
//     key shared by every tenant (masking.Keys.Identifier), so the same
//     person gets the same pseudonym in every system;
//   - a row is done when lethe.pseudonymized_rows lists it (written with the
//     change), since its new values no longer tell whether it was done, or
//     when lethe.erased_rows does (an erasure request masked it);
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

// Interval is a period of the API (`30d`, `18mo`) as a PostgreSQL interval.
func Interval(olderThan string) (string, error) {
	p, err := calendar.ParsePeriod("olderThan", olderThan)
	if err != nil {
		return "", err
	}
	return p.Interval(), nil
}

// Compile checks a rule against the inventory and the live catalog and
// prepares its step. The error names the rule and what it lacks, for the
// policy's Stalled condition: what the plan cannot do is known before any
// row changes. hashKeys holds the HMAC keys of Hash strategies by
// "secret/key".
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
	if _, ok := out.target.Table.Column(p.Identifier); !ok {
		return nil, fmt.Errorf("rule %s: column %s.%s of the matching identifier does not exist", r.Name, out.Entity.Table, p.Identifier)
	}
	if p.Deactivate != "" {
		c, ok := out.target.Table.Column(p.Deactivate)
		if !ok || c.Type != "boolean" {
			return nil, fmt.Errorf("rule %s: the active column %s.%s needs to exist and be boolean", r.Name, out.Entity.Table, p.Deactivate)
		}
		out.active = pgx.Identifier{p.Deactivate}.Sanitize()
	}
	out.pseudo = &p
	if _, err := out.setSQL(Env{}, &masking.Args{}, "true"); err != nil {
		return nil, fmt.Errorf("rule %s: %w", r.Name, err)
	}
	return out, nil
}

func compileRule(r privacyv1alpha1.RetentionRule, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, hashKeys map[string][]byte, p *Pseudonyms) (*Rule, error) {
	fail := func(format string, args ...any) (*Rule, error) {
		return nil, fmt.Errorf("rule %s: "+format, append([]any{r.Name}, args...)...)
	}
	inv, problems := inventory.Resolve(inv, cat)
	var ent *privacyv1alpha1.Entity
	for i := range inv.Entities {
		if inv.Entities[i].Name == r.Entity {
			ent = &inv.Entities[i]
		}
	}
	if ent == nil {
		return fail("entity %s is not in the DataInventory", r.Entity)
	}
	if len(problems) > 0 {
		return fail("the inventory cannot be planned: %s", strings.Join(problems, "; "))
	}
	t, ok := cat.Table(ent.Table)
	if !ok {
		return fail("table %s of entity %s does not exist", ent.Table, ent.Name)
	}
	target, err := engine.NewTarget(t, ent.PrimaryKey)
	if err != nil {
		return fail("entity %s: %v", ent.Name, err)
	}
	out := &Rule{Spec: r, Entity: ent, target: target}
	if r.Action == privacyv1alpha1.RetentionArchive {
		out.subject = archiveSubject(inv, cat, ent)
	}
	if p != nil && r.Age.Column == "" {
		return compileMasks(out, r, ent, t, hashKeys, fail)
	}
	if _, err := Interval(r.Age.OlderThan); err != nil {
		return fail("%v", err)
	}
	age, ok := t.Column(r.Age.Column)
	if !ok {
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
		if _, ok := t.Column(c.Column); !ok {
			return fail("column %s.%s of a condition does not exist", ent.Table, c.Column)
		}
	}
	action, then := r.Action, archiveThen(r)
	if action == privacyv1alpha1.RetentionDelete || (action == privacyv1alpha1.RetentionArchive && then == privacyv1alpha1.ArchiveThenDelete) {
		entityOf, owns := inventory.Ownership(inv)
		d, blocked, err := engine.PlanDeletion(cat, target, engine.Scope{Entity: entityOf, Owns: owns}, true)
		if err != nil {
			return fail("%v", err)
		}
		if len(blocked) > 0 {
			msgs := make([]string, len(blocked))
			for i, b := range blocked {
				msgs[i] = b.Message(ent.Name)
			}
			return fail("deleting rows of entity %s would be refused: %s", ent.Name, strings.Join(msgs, "; "))
		}
		out.deletion = d
	}
	if out.graph, err = subjectGraph(r, inv, cat, ent, hashKeys); err != nil {
		return fail("%v", err)
	}
	if action == privacyv1alpha1.RetentionAnonymize || action == privacyv1alpha1.RetentionPseudonymize ||
		(action == privacyv1alpha1.RetentionArchive && then == privacyv1alpha1.ArchiveThenAnonymize) {
		return compileMasks(out, r, ent, t, hashKeys, fail)
	}
	return out, nil
}

// Scope is the rule's scope: the one it sets, else Subject for an
// Anonymize or Delete rule whose entity is a subject's root, else Row.
func Scope(r privacyv1alpha1.RetentionRule, ent *privacyv1alpha1.Entity) privacyv1alpha1.RetentionScope {
	if r.Scope != "" {
		return r.Scope
	}
	if ent.Subject != nil && (r.Action == privacyv1alpha1.RetentionAnonymize || r.Action == privacyv1alpha1.RetentionDelete) {
		return privacyv1alpha1.RetentionScopeSubject
	}
	return privacyv1alpha1.RetentionScopeRow
}

// subjectGraph prepares, for a rule of scope Subject, the erasure of its
// subjects: by Anonymize for an Anonymize rule, by Delete for a Delete
// rule; nil for scope Row.
func subjectGraph(r privacyv1alpha1.RetentionRule, inv *privacyv1alpha1.DataInventorySpec, cat *tenantdb.Catalog, ent *privacyv1alpha1.Entity,
	hashKeys map[string][]byte) (*dsr.SubjectGraph, error) {
	if Scope(r, ent) != privacyv1alpha1.RetentionScopeSubject {
		return nil, nil
	}
	if ent.Subject == nil {
		return nil, fmt.Errorf("scope Subject needs a subject's root entity, and entity %s is none (it has no subject): use scope Row, or name the root entity of its subjects", ent.Name)
	}
	er := dsr.Erasure{Method: privacyv1alpha1.ErasureAnonymize, HashKeys: hashKeys}
	switch r.Action {
	case privacyv1alpha1.RetentionAnonymize:
	case privacyv1alpha1.RetentionDelete:
		er.Method = privacyv1alpha1.ErasureDelete
	default:
		return nil, fmt.Errorf("scope Subject applies to actions Anonymize and Delete, not %s: use scope Row", r.Action)
	}
	g, err := dsr.NewSubjectGraph(inv, cat, ent.Name, er)
	if err != nil || !g.Related() {
		// With nothing tied to the root, the subjects are their root rows:
		// the rule's own batches change them, as with scope Row.
		return nil, err
	}
	return g, nil
}

func archiveThen(r privacyv1alpha1.RetentionRule) privacyv1alpha1.ArchiveFollowUp {
	if r.Archive != nil && r.Archive.Then != "" {
		return r.Archive.Then
	}
	return privacyv1alpha1.ArchiveThenDelete
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
	if _, err := masking.PendingSQL(ent.Table, masks, out.keyNames(), masking.Keys{PerRow: true}, &masking.Args{}); err != nil {
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
		c, ok := t.Column(column)
		if !ok {
			return fmt.Errorf("column %s.%s does not exist", ent.Table, column)
		}
		a := masking.Assignment{Column: c, Strategy: s}
		if s.KeySecretRef != nil {
			key := hashKeys[s.KeySecretRef.Name+"/"+s.KeySecretRef.Key]
			if len(key) == 0 {
				return fmt.Errorf("column %s.%s: the Hash key %s/%s was not read", ent.Table, column, s.KeySecretRef.Name, s.KeySecretRef.Key)
			}
			a.HashKey = key
		}
		if why := masking.Check(s, c); why != "" {
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
