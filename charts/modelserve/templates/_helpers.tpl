{{/* Names, labels and the RBAC rules the operator needs, shared by the templates. */}}

{{- define "modelserve.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "modelserve.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "modelserve.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modelserve.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modelserve.labels" -}}
{{ include "modelserve.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modelserve.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modelserve.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name must name an existing ServiceAccount when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "repository:tag", the tag defaulting to the chart's appVersion. */}}
{{- define "modelserve.image" -}}
{{- printf "%s:%s" .repository (default .appVersion .tag) -}}
{{- end -}}

{{/*
The rules the operator needs in every namespace it watches, derived from the API calls in
operator/modelserve_operator (kube.py callers in reconcilers/ and handlers/) and Kopf's own:
every kind a Kopf handler watches needs list+watch; server-side apply needs patch, and
create when the object does not exist yet. docs/helm.md explains each rule.
*/}}
{{- define "modelserve.namespacedRules" -}}
# The three kinds: read by the reconcilers, watched by Kopf.
- apiGroups: [modelserve.io]
  resources: [batchdeployments]
  verbs: [get, list, watch]
# Monitoring with spec.monitoring.retrain registers the next Model version (created once).
- apiGroups: [modelserve.io]
  resources: [models]
  verbs: [get, list, watch, create]
# OnlineEndpoint has Kopf create/update/resume handlers, whose bookkeeping Kopf keeps in
# the object's annotations (patch); automatic promotion patches spec.deployments/traffic.
- apiGroups: [modelserve.io]
  resources: [onlineendpoints]
  verbs: [get, list, watch, patch]
- apiGroups: [modelserve.io]
  resources: [models/status, onlineendpoints/status, batchdeployments/status]
  verbs: [patch]
# Children carry ownerReferences with blockOwnerDeletion, which clusters enforcing
# OwnerReferencesPermissionEnforcement only allow with update on the owner's finalizers.
- apiGroups: [modelserve.io]
  resources: [models/finalizers, onlineendpoints/finalizers, batchdeployments/finalizers]
  verbs: [update]
# Per deployment and per endpoint: applied, read back, watched; stale ones are pruned.
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [list, watch, create, patch, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [list, watch, create, patch, delete]
# Per endpoint, batch deployment and training Model (networkPolicies.enabled); removed
# again, if ours, when turned off.
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, delete]
# The router's configuration and the endpoint keys; model artifacts are read from ConfigMaps.
- apiGroups: [""]
  resources: [configmaps, secrets]
  verbs: [get, list, watch, create, patch]
# Why a scoring or batch pod fails is read from its status; Kopf watches scoring pods.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Monitoring reads GET /monitoring of one Ready scoring pod through the pod proxy.
- apiGroups: [""]
  resources: [pods/proxy]
  verbs: [get]
# An agreement gate reads GET /shadow of the endpoint's shadow collector through the
# service proxy.
- apiGroups: [""]
  resources: [services/proxy]
  verbs: [get]
# A pvc:// artifact's claim (and a training Job's claims) must exist.
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get]
# Batch runs: an Indexed Job per run and a merge Job, created once; a CronJob when scheduled.
# A trained Model: its training Job, created once and read back by name.
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create]
- apiGroups: [batch]
  resources: [cronjobs]
  verbs: [get, create, patch, delete]
# Events on the custom resources, from the operator and from Kopf.
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* Cluster-wide only: Kopf watches CRDs to notice kinds installed after it started. */}}
{{- define "modelserve.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [list, watch]
{{- end -}}

{{/* Reading its own three CRDs, to compare them with the operator's at start. */}}
{{- define "modelserve.crdReadRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [models.modelserve.io, onlineendpoints.modelserve.io, batchdeployments.modelserve.io]
  verbs: [get]
{{- end -}}

{{/* A map as "k=v,k2=v2", sorted by key: the format of MODELSERVE_NODE_SELECTOR. */}}
{{- define "modelserve.pairs" -}}
{{- $pairs := list -}}
{{- range $key, $value := . -}}
{{- $pairs = append $pairs (printf "%s=%s" $key $value) -}}
{{- end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* The Lease the operator replicas elect their leader with. */}}
{{- define "modelserve.leaseName" -}}
{{- printf "%s-leader" (include "modelserve.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
