{{/*
Chart name, truncated to the 63 characters Kubernetes allows in names and labels.
*/}}
{{- define "lethe.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name: the release name alone when it already contains the
chart name, "<release>-<chart>" otherwise.
*/}}
{{- define "lethe.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Chart name and version, as used by the helm.sh/chart label.
*/}}
{{- define "lethe.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Labels common to every resource of the release.
*/}}
{{- define "lethe.labels" -}}
helm.sh/chart: {{ include "lethe.chart" . }}
{{ include "lethe.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: lethe
{{- end }}

{{/*
Labels selecting the manager Pods.
*/}}
{{- define "lethe.selectorLabels" -}}
app.kubernetes.io/name: {{ include "lethe.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end }}

{{/*
Name of the ServiceAccount the manager runs as.
*/}}
{{- define "lethe.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "lethe.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/*
Container image reference of the manager.
*/}}
{{- define "lethe.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}

{{/*
Names of the webhook Service, certificate Secret and configurations.
*/}}
{{- define "lethe.webhookService" -}}
{{- printf "%s-webhook" (include "lethe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lethe.webhookSecret" -}}
{{- printf "%s-webhook-cert" (include "lethe.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "lethe.webhookConfiguration" -}}
{{- printf "%s-%s-webhooks" (include "lethe.fullname" .root) (.kind | trimSuffix "WebhookConfiguration" | lower) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The manager's rules (files/role.yaml, generated from the controllers' RBAC
markers), split into those on cluster-scoped resources ("cluster") and
those on namespaced ones ("namespaced"), as YAML: a namespaced install
grants the second kind per watched namespace only.
*/}}
{{- define "lethe.managerRules" -}}
{{- $role := .Files.Get "files/role.yaml" | fromYaml }}
{{- if not $role.rules }}
{{- fail "files/role.yaml holds no ClusterRole rules; run 'make manifests'" }}
{{- end }}
{{- $clusterScoped := list "namespaces" "mutatingwebhookconfigurations" "validatingwebhookconfigurations" "subjectaccessreviews" }}
{{- $cluster := list }}
{{- $namespaced := list }}
{{- range $role.rules }}
{{- $isCluster := false }}
{{- range .resources }}
{{- if has . $clusterScoped }}
{{- $isCluster = true }}
{{- end }}
{{- end }}
{{- if $isCluster }}
{{- $cluster = append $cluster . }}
{{- else }}
{{- $namespaced = append $namespaced . }}
{{- end }}
{{- end }}
{{- dict "cluster" $cluster "namespaced" $namespaced | toYaml }}
{{- end }}
