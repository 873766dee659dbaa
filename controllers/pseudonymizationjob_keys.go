package controllers

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	privacyv1alpha1 "github.com/lethe-dev/lethe/api/v1alpha1"
	"github.com/lethe-dev/lethe/internal/masking"
	"github.com/lethe-dev/lethe/internal/retention"
)

// key reads the HMAC key of keyed pseudonyms. A Secret not created yet
// makes the job wait for it (Reconciling; the job goes on when it appears);
// a Secret without the key, or with a key too short, stalls it until the
// Secret or the spec changes. Each names what to create or fix.
func (r *PseudonymizationJobReconciler) key(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) ([]byte, error) {
	if j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom {
		return r.randomKey(ctx, j)
	}
	ref := j.Spec.Pseudonym.KeySecretRef
	if ref == nil {
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound, "mode Keyed needs spec.pseudonym.keySecretRef")
	}
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, waiting(privacyv1alpha1.ReasonKeySecretNotFound,
				"pseudonym key secret %s not found in namespace %s: create it with key %q holding at least %d random bytes, the same for every job whose pseudonyms must agree; the job starts when it appears",
				ref.Name, j.Namespace, ref.Key, minKeyBytes)
		}
		return nil, err
	}
	key, ok := secret.Data[ref.Key]
	if !ok {
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound, "pseudonym key secret %s has no key %q: add it, holding at least %d random bytes", ref.Name, ref.Key, minKeyBytes)
	}
	if len(key) < minKeyBytes {
		return nil, stalled(privacyv1alpha1.ReasonKeyTooShort, "pseudonym key %s/%s has %d bytes; it needs at least %d", ref.Name, ref.Key, len(key), minKeyBytes)
	}
	return key, nil
}

// keySecretName is the Secret a Random job keeps its key in.
func keySecretName(j *privacyv1alpha1.PseudonymizationJob) string {
	if len(j.Name) <= 242 {
		return j.Name + "-pseudonyms"
	}
	return "pseudonyms-" + string(j.UID)
}

// randomKey reads a Random job's key, creating it (32 random bytes, in a
// Secret the job owns) before the first row changes. A key lost while the
// job runs stalls it: the rows left would get pseudonyms unrelated to
// those already written.
func (r *PseudonymizationJobReconciler) randomKey(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) ([]byte, error) {
	name := keySecretName(j)
	var s corev1.Secret
	err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: name}, &s)
	switch {
	case err == nil:
		if !metav1.IsControlledBy(&s, j) {
			return nil, stalled(privacyv1alpha1.ReasonKeySecretConflict, "secret %s exists and does not belong to this job; delete it or rename the job", name)
		}
		j.Status.KeySecretName = name
		return s.Data["key"], nil
	case !apierrors.IsNotFound(err):
		return nil, err
	case j.Status.Phase == privacyv1alpha1.JobRunning:
		return nil, stalled(privacyv1alpha1.ReasonKeySecretNotFound,
			"the job's key secret %s was deleted while the job ran; the rows left cannot get matching pseudonyms: delete this job and create a new one", name)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	s = corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: j.Namespace, Name: name,
		Labels: map[string]string{"app.kubernetes.io/managed-by": "lethe"}}, Data: map[string][]byte{"key": key}}
	if err := controllerutil.SetControllerReference(j, &s, r.Scheme()); err != nil {
		return nil, err
	}
	if err := r.Create(ctx, &s); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return r.randomKey(ctx, j)
		}
		return nil, err
	}
	j.Status.KeySecretName = name
	r.Recorder.Eventf(j, nil, corev1.EventTypeNormal, privacyv1alpha1.ReasonKeyCreated, "Start",
		"created secret %s holding the job's random key", name)
	return key, nil
}

func retainsMapping(j *privacyv1alpha1.PseudonymizationJob) bool {
	return j.Spec.Pseudonym.Mode == privacyv1alpha1.PseudonymRandom && j.Spec.Pseudonym.Mapping == privacyv1alpha1.MappingRetain && !j.Spec.DryRun
}

// mappingKey is the key of the mapping in a Random job's Secret.
const mappingKey = "mapping.json"

// maxMapping keeps the mapping within a Secret's 1 MiB.
const maxMapping = 900 << 10

// recordMapping writes, before an entity's rows change, each pseudonym the
// job will give them (of the matching identifier's column, or its 64-digit
// token when that column is not pseudonymized) with the identifier it
// replaces into the job's Secret: a JSON object from pseudonym to
// identifier, merged across targets and entities. Recording it first means
// no change is ever made whose link is not kept. A unique column may add
// "_" and the row's key to a value that was taken; the mapping holds the
// value without it.
func (r *PseudonymizationJobReconciler) recordMapping(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob, w jobWork, rule *retention.Rule, run *ruleRun) error {
	ids, err := retention.Identifiers(ctx, w.pool, run.env, rule)
	if err != nil || len(ids) == 0 {
		return err
	}
	format := matchFormat(j, rule.Entity)
	var s corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: j.Status.KeySecretName}, &s); err != nil {
		return err
	}
	if !metav1.IsControlledBy(&s, j) {
		return stalled(privacyv1alpha1.ReasonKeySecretConflict, "secret %s does not belong to this job; delete it or rename the job", s.Name)
	}
	m := map[string]string{}
	if raw := s.Data[mappingKey]; len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return fmt.Errorf("secret %s: key %s is not a JSON object", s.Name, mappingKey)
		}
	}
	for _, id := range ids {
		p, err := masking.KeyedPseudonym(format, w.key, id)
		if err != nil {
			return err
		}
		m[p] = id
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if len(raw) > maxMapping {
		return stalled(privacyv1alpha1.ReasonMappingTooLarge, "the mapping of %d people would outgrow secret %s; select fewer people per job", len(m), s.Name)
	}
	if s.Data == nil {
		s.Data = map[string][]byte{}
	}
	s.Data[mappingKey] = raw
	return r.Update(ctx, &s)
}

// matchFormat is the pseudonym format of an entity's matching identifier
// column: the job's field, the inventory's Pseudonym, or the full token.
func matchFormat(j *privacyv1alpha1.PseudonymizationJob, ent *privacyv1alpha1.Entity) string {
	col := ent.Pseudonymization.MatchColumn
	for _, f := range j.Spec.Pseudonym.Fields {
		if f.Column == col {
			return f.Format
		}
	}
	for _, pc := range ent.PersonalColumns {
		if pc.Column == col && pc.Strategy.Type == privacyv1alpha1.StrategyPseudonym && pc.Strategy.Format != nil {
			return *pc.Strategy.Format
		}
	}
	return "{hex:64}"
}

// identifier reads the subject's matching identifier from its Secret or the
// spec.
func (r *PseudonymizationJobReconciler) identifier(ctx context.Context, j *privacyv1alpha1.PseudonymizationJob) (string, error) {
	s := j.Spec.Subject
	if s.IdentifierSecretRef == nil {
		if j.Status.SubjectDigest == "" {
			r.Recorder.Eventf(j, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonInlineIdentifiers, "Check",
				"the subject's identifier is stored in the job itself; prefer spec.subject.identifierSecretRef")
		}
		return s.Identifier, nil
	}
	ref := s.IdentifierSecretRef
	var secret corev1.Secret
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: j.Namespace, Name: ref.Name}, &secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", waiting(privacyv1alpha1.ReasonIdentifiersSecretNotFound, "identifier secret %s not found in namespace %s", ref.Name, j.Namespace)
		}
		return "", err
	}
	v := secret.Data[ref.Key]
	if len(v) == 0 {
		return "", stalled(privacyv1alpha1.ReasonIdentifierKeyMissing, "identifier secret %s has no key %q", ref.Name, ref.Key)
	}
	return string(v), nil
}
