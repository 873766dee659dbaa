package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/masking"
)

// Step is the work on one table: which rows, and what to do to them.
type Step struct {
	// Name is unique within the run (an entity's name for a request, a
	// rule's name for a policy); it keys the checkpoints and the ledger.
	Name string
	// Entity is the inventory entity the rows belong to.
	Entity string
	Target *Target
	// Action names the change in the ledger and the audit log ("Mask",
	// "Delete", "Rectify", "Anonymize", "Archive", "Unlink", ...).
	Action string
	// Detail, when set, goes into every audit record of the step (for
	// example "rule closed-customers").
	Detail string

	// Keys lists the rows of a listed step (a request's plan).
	Keys []string
	// Where selects the rows of a keyset step: a condition on Row whose
	// parameters are added to args, given the step's cut-off (nil without
	// Cutoff). Its rows are taken in key order.
	Where func(args *masking.Args, cutoff *time.Time) (string, error)
	// Cutoff, when set, is an SQL expression of a point in time the
	// database computes once, when the step's checkpoints are first
	// written, and Where receives on every batch after, so a resumed run
	// selects by the same ages.
	Cutoff *Statement

	// Set, when set, is the head of the UPDATE that changes each row,
	// `UPDATE <target> AS lethe_row SET ...`, with its parameters added to
	// args; several is an SQL boolean that is true when the statement
	// changes more than one row (masking.SetSQL).
	Set func(args *masking.Args, several string) (string, error)
	// Delete, when set, deletes the rows as it plans (children, unlinks,
	// counted ON DELETE actions). A step with neither Set nor Delete
	// changes nothing but still records its rows (an archive kept).
	Delete *Deletion
	// Archive, when set, writes the rows as CSV before they change.
	Archive *Archive
	// Marks record the keys of the rows changed in tables of their own, in
	// the batch's transaction (rows pseudonymized by a job, rows archived
	// and kept).
	Marks []Mark
	// Graph, when set on a keyset step, plans inside each batch's
	// transaction what goes with the batch's rows (a retention rule's
	// subjects: every other row an erasure of them would change), given
	// their keys once locked. Its steps list their rows (Keys) and are
	// named apart from this one; each runs as one batch, numbered as this
	// step's, with its ledger row and audit record, before this step's own
	// change (before) or after it (after). A run stopped anywhere redoes
	// the whole batch or none of it.
	Graph func(ctx context.Context, tx pgx.Tx, keys []string) (before, after []Step, err error)
	// OneRowOnConflict, when a batch's rows collide with each other in a
	// unique column (keyed pseudonyms), redoes the batch one row per
	// statement: each row then sees what the earlier ones wrote.
	OneRowOnConflict bool
}

// Mark inserts the keys of the rows a batch changed into a table of the
// lethe schema: Insert is `INSERT INTO lethe.t (cols..., key)` and Values
// the values of the columns before the key.
type Mark struct {
	Insert string
	Values []any
}

// Archive is where a step's CSV goes: lethe.retention_archives under the
// run and the archive's name, the header first, and each row, with its
// key, its line and the subject it belongs to, in lethe.archived_rows.
type Archive struct {
	Name    string
	Columns []string
	// Subject, when set, names the subject each archived row belongs to.
	Subject *ArchiveSubject
}

// ArchiveSubject reaches, from an archived row, the row of the subject's
// root it belongs to: the root itself, or the root its foreign keys lead
// to. Its identifiers become the archived row's subject digest and blind
// index, computed by the database with the namespace's salt, so no
// identifier leaves it.
type ArchiveSubject struct {
	// Type is the subject type.
	Type string
	// Joins are LEFT JOINs from Row to the root's row, aliased Root; empty
	// when the archived entity is the root.
	Joins string
	// Root is the alias of the root's row (Row when Joins is empty).
	Root string
	// Identifiers are the root's identifiers, by name, and their columns.
	Identifiers []ArchiveIdentifier
	// Salt keys the digest and the blind index (the namespace's salt).
	Salt []byte
}

// ArchiveIdentifier is one identifier of a subject's root.
type ArchiveIdentifier struct {
	Name   string
	Column string
}

func (s *Step) name() string {
	if s.Name == "" {
		return s.Entity
	}
	return s.Name
}

func (s *Step) check() error {
	if s.Target == nil {
		return fmt.Errorf("step %s has no table", s.name())
	}
	if s.Set != nil && s.Delete != nil {
		return fmt.Errorf("step %s both updates and deletes", s.name())
	}
	return nil
}
