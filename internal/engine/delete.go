package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Scope is what a delete plan needs to know of the inventory: which tables
// are mapped, and which foreign keys tie rows to the rows they belong to.
type Scope struct {
	// Entity names the entity of a mapped table (canonical name), or ""
	// for a table the inventory leaves out.
	Entity func(table string) string
	// Owns says that the rows of fk.Table referring through fk belong to
	// the rows they refer to (the inventory declares them a child), so they
	// go with them.
	Owns func(fk tenantdb.ForeignKey) bool
}

// Deletion is what deleting a step's rows takes, planned from the live
// catalog before any row changes: the rows that belong to them (deleted
// first, in the same statement), the references from rows that stay (set
// to NULL first), and the rows PostgreSQL itself deletes or changes through
// ON DELETE actions (counted).
type Deletion struct {
	// Children are the tables whose rows belong to the deleted rows,
	// parents before children.
	Children []*DeleteChild
	// Unlinks are nullable references from rows that stay.
	Unlinks []*Unlink
	// Effects are ON DELETE CASCADE, SET NULL and SET DEFAULT actions.
	Effects []*FKEffect
	// Deferred are the deferrable constraints of cycles between the
	// deleted tables, checked at commit (schema-qualified, quoted).
	Deferred []string
}

// DeleteChild is a table whose rows referring to a parent's deleted rows
// are deleted too.
type DeleteChild struct {
	Target *Target
	Entity string
	FK     tenantdb.ForeignKey
	// Parent is the index in Children of the rows FK refers to; -1 is the
	// step's own table.
	Parent int
}

// Unlink sets a nullable foreign key to NULL in the rows of FK.Table that
// stay and refer to deleted rows.
type Unlink struct {
	From   *Target
	FK     tenantdb.ForeignKey
	Parent int
}

// FKEffect is an ON DELETE action PostgreSQL carries out on FK.Table's
// rows referring to deleted rows; they are counted before.
type FKEffect struct {
	FK     tenantdb.ForeignKey
	Parent int
}

// Blocked is a foreign key that refuses the delete: NO ACTION or RESTRICT
// from a table outside the map, or from rows that stay through NOT NULL
// columns.
type Blocked struct {
	FK tenantdb.ForeignKey
	// Mapped says the referring table is in the map (its rows that stay
	// are another subject's).
	Mapped bool
	Parent int
}

// Message says what blocks the delete and how to fix it.
func (b Blocked) Message(entity string) string {
	cols := strings.Join(b.FK.Columns, ", ")
	if b.Mapped {
		return fmt.Sprintf("rows of %s that this delete keeps, or deletes only after, refer to entity %s through %s(%s) (constraint %s, ON DELETE %s) and the columns cannot be NULL: declare %s a child of %s in the DataInventory, make the columns nullable (two entities that refer to each other through NOT NULL columns are deleted one after the other), or erase %s with Anonymize instead of Delete",
			b.FK.Table, entity, b.FK.Table, cols, b.FK.Name, b.FK.OnDelete, b.FK.Table, entity, entity)
	}
	return fmt.Sprintf("table %s, which the DataInventory leaves out, refers to entity %s through %s(%s) (constraint %s, ON DELETE %s): map %s in the DataInventory (its rows are the person's data too), or erase %s with Keep or Anonymize instead of Delete",
		b.FK.Table, entity, b.FK.Table, cols, b.FK.Name, b.FK.OnDelete, b.FK.Table, entity)
}

// maxDeleteTables bounds the tables one delete plan reaches.
const maxDeleteTables = 64

// PlanDeletion plans deleting rows of target. With children, the rows that
// belong to them (Scope.Owns, followed to any depth) go in the same
// statement; without, the caller deletes them in earlier steps (a request's
// plan lists them). Every foreign key into a table the plan deletes from is
// looked at, mapped or not: it is a child, an unlink, a counted ON DELETE
// action, a deferred check of a cycle, or it blocks (returned, for the
// caller to refuse before any row changes).
func PlanDeletion(cat *tenantdb.Catalog, target *Target, scope Scope, children bool) (*Deletion, []Blocked, error) {
	d := &Deletion{}
	var blocked []Blocked
	type node struct {
		table  string
		parent int
	}
	// path[i] are the tables from the step's own down to child i.
	path := map[int][]string{-1: {target.Name}}
	queue := []node{{table: target.Name, parent: -1}}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		for _, fk := range cat.Referencing(n.table) {
			owned := scope.Owns != nil && scope.Owns(fk)
			onPath := slices.Contains(path[n.parent], fk.Table)
			switch {
			case children && owned && !onPath:
				t, ok := cat.Tables[fk.Table]
				if !ok {
					return nil, nil, fmt.Errorf("table %s of constraint %s is not in the catalog", fk.Table, fk.Name)
				}
				ct, err := NewTarget(t, nil)
				if err != nil {
					return nil, nil, err
				}
				if len(d.Children) == maxDeleteTables {
					return nil, nil, fmt.Errorf("deleting from %s reaches more than %d tables through foreign keys", target.Name, maxDeleteTables)
				}
				d.Children = append(d.Children, &DeleteChild{Target: ct, Entity: scope.Entity(fk.Table), FK: fk, Parent: n.parent})
				i := len(d.Children) - 1
				path[i] = append(slices.Clone(path[n.parent]), fk.Table)
				queue = append(queue, node{table: fk.Table, parent: i})
			case owned && !children:
				// A request deletes the children in earlier steps.
			case !fk.Blocks():
				d.Effects = append(d.Effects, &FKEffect{FK: fk, Parent: n.parent})
			case nullable(cat, fk):
				from, err := NewTarget(cat.Tables[fk.Table], nil)
				if err != nil {
					return nil, nil, err
				}
				d.Unlinks = append(d.Unlinks, &Unlink{From: from, FK: fk, Parent: n.parent})
			case onPath && fk.Deferrable:
				// A cycle between deleted tables whose columns cannot be
				// NULL: checked at commit, when both sides are gone.
				name, err := tenantdb.ParseTableName(fk.Table)
				if err != nil {
					return nil, nil, err
				}
				d.Deferred = append(d.Deferred, pgx.Identifier{name.Schema, fk.Name}.Sanitize())
			default:
				mapped := scope.Entity != nil && scope.Entity(fk.Table) != ""
				blocked = append(blocked, Blocked{FK: fk, Mapped: mapped, Parent: n.parent})
			}
		}
	}
	sort.Strings(d.Deferred)
	d.Deferred = slices.Compact(d.Deferred)
	return d, blocked, nil
}

// nullable says whether every referring column of fk may be NULL.
func nullable(cat *tenantdb.Catalog, fk tenantdb.ForeignKey) bool {
	t, ok := cat.Tables[fk.Table]
	if !ok {
		return false
	}
	for _, c := range fk.Columns {
		col, ok := t.Column(c)
		if !ok || col.NotNull {
			return false
		}
	}
	return true
}

// Effect is what one foreign key did to another table's rows while a step
// deleted or changed its own.
type Effect struct {
	Table      string `json:"table"`
	Constraint string `json:"constraint"`
	// Action is the ON DELETE action (CASCADE, SET NULL, SET DEFAULT),
	// "UNLINK" for a reference set to NULL by the executor, or "DELETE"
	// for rows that belonged to the deleted rows.
	Action string `json:"action"`
	Rows   int64  `json:"rows"`
}

// Effects are the effects of a step, by table and constraint.
type Effects []Effect

// Add merges o into e.
func (e Effects) Add(o Effects) Effects {
	for _, x := range o {
		found := false
		for i := range e {
			if e[i].Table == x.Table && e[i].Constraint == x.Constraint && e[i].Action == x.Action {
				e[i].Rows += x.Rows
				found = true
				break
			}
		}
		if !found && x.Rows > 0 {
			e = append(e, x)
		}
	}
	return e
}

// Total is the rows of every effect.
func (e Effects) Total() int64 {
	var n int64
	for _, x := range e {
		n += x.Rows
	}
	return n
}

// String says the effects in a line, for an audit record or an event.
func (e Effects) String() string {
	parts := make([]string, 0, len(e))
	for _, x := range e {
		parts = append(parts, fmt.Sprintf("%s %s %d rows (%s)", x.Action, x.Table, x.Rows, x.Constraint))
	}
	return strings.Join(parts, "; ")
}

func parseEffects(raw []byte) (Effects, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	var out Effects
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("read a batch's effects: %w", err)
	}
	return Effects{}.Add(out), nil
}

// BlockCheck is a listed delete to check against the foreign keys that
// would refuse it: the rows' keys, and the rows of other tables the same
// run deletes too (they do not block).
type BlockCheck struct {
	Target  *Target
	Entity  string
	Keys    []string
	Blocked []Blocked
	// Deleted returns the rows of a table the run deletes as well, by
	// canonical name.
	Deleted func(table string) (*Target, []string)
}

// CheckBlocked counts, for each check, the rows of each blocking foreign
// key's table that refer to the rows to delete and are not deleted by the
// run themselves, in one round trip, and returns a problem for each key
// with such rows: what blocks, and how to fix it. Nothing changes.
func CheckBlocked(ctx context.Context, q tenantdb.BatchQuerier, cat *tenantdb.Catalog, checks []BlockCheck) ([]string, error) {
	b := &pgx.Batch{}
	var problems []string
	for _, c := range checks {
		for _, bl := range c.Blocked {
			if bl.Parent != -1 {
				continue
			}
			t, ok := cat.Tables[bl.FK.Table]
			if !ok {
				continue
			}
			args := &masking.Args{}
			keys := args.Add(nonNil(c.Keys))
			cond := fmt.Sprintf("%s IN (SELECT %s FROM %s AS lethe_p WHERE %s)", rowOf(Row, bl.FK.Columns), strings.Join(colsOf("lethe_p", bl.FK.RefColumns), ", "),
				c.Target.Ident, c.Target.In("lethe_p", keys))
			if c.Deleted != nil {
				if dt, dk := c.Deleted(bl.FK.Table); dt != nil && len(dk) > 0 {
					cond += " AND NOT " + dt.In(Row, args.Add(dk))
				}
			}
			msg := bl.Message(c.Entity)
			b.Queue(fmt.Sprintf("SELECT count(*) FROM %s AS %s WHERE %s", t.Ident(), Row, cond), args.Values()...). // #nosec G201 -- identifiers sanitized, values are parameters
																QueryRow(func(row pgx.Row) error {
					var n int64
					if err := row.Scan(&n); err != nil {
						return err
					}
					if n > 0 {
						problems = append(problems, fmt.Sprintf("%d rows: %s", n, msg))
					}
					return nil
				})
		}
	}
	if b.Len() == 0 {
		return nil, nil
	}
	if err := q.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return problems, nil
}

func colsOf(alias string, cols []string) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = alias + "." + pgx.Identifier{c}.Sanitize()
	}
	return out
}

func rowOf(alias string, cols []string) string {
	c := colsOf(alias, cols)
	if len(c) == 1 {
		return c[0]
	}
	return "(" + strings.Join(c, ", ") + ")"
}
