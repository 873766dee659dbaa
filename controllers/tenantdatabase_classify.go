package controllers

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/classify"
	"github.com/lethe-dev/lethe/internal/inventory"
	"github.com/lethe-dev/lethe/internal/tenantdb"
)

// Sampling a tenant's tables for personal data reads a bounded sample of
// every table (classify.Classify): a few hundred milliseconds for a small
// schema, seconds for hundreds of tables. The reconciler does it on the
// first check of a database after the manager starts, when the schema
// changes (its catalog digest), and every SampleInterval; the checks in
// between, and an inventory change, reuse the last classification, which
// holds names and counts only.
const (
	// DefaultSampleInterval is how often a schema that did not change is
	// sampled again.
	DefaultSampleInterval = 24 * time.Hour
	// sampleRows and sampleStatementTimeout bound each table's sample;
	// sampleTimeout bounds the whole classification, after which the
	// check goes on with names and types alone.
	sampleRows             = classify.DefaultSampleRows
	sampleStatementTimeout = classify.DefaultStatementTimeout
	sampleTimeout          = 30 * time.Second
)

// classification is what the classifier last found in one tenant database.
type classification struct {
	// digest is the catalog digest it was made for.
	digest string
	// findings are the personal columns found.
	findings []classify.Finding
	// sampleErrors say which tables could not be sampled.
	sampleErrors []string
	// res is the whole result, kept only for a TenantDatabase that asks
	// for a draft (the tables' roles and links are what a draft needs;
	// the others keep the findings alone, so a manager of many tenants
	// holds little per tenant).
	res *classify.Result
	// sampledAt is when the content was sampled; zero when it was not.
	sampledAt time.Time
	// failed says why the content could not be sampled at all (safe for
	// status: no value of a row).
	failed string
	// draftFailed says a draft of this schema failed and was reported:
	// it is tried again when the schema changes.
	draftFailed bool
}

// classifications caches each tenant database's classification.
type classifications struct{ m sync.Map }

func (c *classifications) forget(key string) { c.m.Delete(key) }

// classify returns the classification of the schema cat describes:
// the cached one while the schema is unchanged and younger than interval
// (or than retry, when some table could not be sampled: a lock held by the
// application, a timeout), else a new one with content sampling. A
// classification whose sampling failed altogether (the database went away,
// the time ran out) rests on names and types and is not kept, so the next
// check samples again.
//
// whole asks for the whole result (for a draft); a cached classification
// that kept the findings alone is then made again.
func (c *classifications) classify(ctx context.Context, key string, pool *pgxpool.Pool, cat *tenantdb.Catalog,
	now time.Time, interval, retry time.Duration, whole bool) *classification {
	digest := cat.Digest()
	if v, ok := c.m.Load(key); ok {
		prev := v.(*classification)
		ttl := interval
		if prev.samplingNote() != "" {
			ttl = min(interval, retry)
		}
		if prev.digest == digest && now.Sub(prev.sampledAt) < ttl && (!whole || prev.res != nil) {
			return prev
		}
	}
	sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	res, err := classify.Classify(sctx, pool, cat, classify.Options{SampleRows: sampleRows, StatementTimeout: sampleStatementTimeout})
	if err != nil {
		res = classify.FromCatalog(cat)
		return &classification{digest: digest, findings: res.Findings, res: res, failed: tenantdb.SafeError(err)}
	}
	out := &classification{digest: digest, findings: res.Findings, sampledAt: now}
	for _, t := range res.Tables {
		if t.SampleError != "" {
			out.sampleErrors = append(out.sampleErrors, t.SampleError)
		}
	}
	if whole {
		out.res = res
	}
	c.m.Store(key, out)
	return out
}

// samplingNote says what content was not sampled, for the
// UncoveredPersonalData message; "" when every table was.
func (c *classification) samplingNote() string {
	if c.failed != "" {
		return "content not sampled (" + c.failed + "): columns judged by names and types"
	}
	if len(c.sampleErrors) == 0 {
		return ""
	}
	return fmt.Sprintf("the content of %d tables could not be sampled, their columns judged by names and types: %s",
		len(c.sampleErrors), listUpTo(c.sampleErrors, 3, "; "))
}

// maxReasonDetail is the CRD's bound on a reason's detail.
const maxReasonDetail = 256

// uncoveredColumn renders a finding for status.uncoveredColumns.
func uncoveredColumn(f classify.Finding) privacyv1alpha1.UncoveredColumn {
	out := privacyv1alpha1.UncoveredColumn{Column: inventory.ColumnName(f), Category: f.Category, Identifier: f.Identifier}
	for i, r := range f.Reasons {
		if i == 4 {
			break
		}
		cr := privacyv1alpha1.ColumnReason{Kind: privacyv1alpha1.ColumnReasonKind(r.Kind), Detail: truncateRunes(r.Detail, maxReasonDetail)}
		if r.Kind == classify.ReasonContent {
			p := int32(math.Round(100 * r.Ratio))
			cr.MatchPercent = &p
		}
		out.Reasons = append(out.Reasons, cr)
	}
	return out
}

// summary names a finding for a condition message:
// `app.customers.mobile_phone (Phone: name, content 100%)`.
func summary(f classify.Finding) string {
	s := inventory.ColumnName(f) + " (" + string(f.Category) + ":"
	for i, r := range f.Reasons {
		if i > 0 {
			s += ","
		}
		s += " " + strings.ToLower(string(r.Kind))
		if r.Kind == classify.ReasonContent {
			s += fmt.Sprintf(" %.0f%%", 100*r.Ratio)
		}
	}
	return s + ")"
}

// truncateRunes cuts s to at most n characters, as a CRD's MaxLength
// counts them.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
