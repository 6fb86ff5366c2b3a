{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "pasture.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Fully qualified name: <release>-pasture, or the release name when it contains the chart name. */}}
{{- define "pasture.fullname" -}}
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

{{- define "pasture.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "pasture.labels" -}}
helm.sh/chart: {{ include "pasture.chart" . }}
{{ include "pasture.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pasture
{{- end -}}

{{/* The operator pods' immutable selector. */}}
{{- define "pasture.selectorLabels" -}}
app.kubernetes.io/name: {{ include "pasture.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "pasture.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "pasture.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "pasture.operatorImage" -}}
{{- printf "%s:%s" .Values.operator.image.repository (default .Chart.AppVersion .Values.operator.image.tag) -}}
{{- end -}}

{{- define "pasture.runtimeImage" -}}
{{- printf "%s:%s" .Values.runtime.image.repository (default .Chart.AppVersion .Values.runtime.image.tag) -}}
{{- end -}}

{{/* Literal names in watchNamespaces (globs cannot carry a Role). */}}
{{- define "pasture.namespacesAreLiteral" -}}
{{- range .Values.operator.watchNamespaces -}}
{{- if regexMatch "[*?\\[!]" . -}}
{{- fail (printf "operator.watchNamespaces: %q is a pattern; list namespaces by name (each gets a Role)" .) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* The gateway's objects: its own component, so no operator selector picks its pods. */}}
{{- define "pasture.gatewayName" -}}
{{- printf "%s-gateway" (include "pasture.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The gateway's Service: named after the release (`kubectl port-forward svc/<release> 11434`). */}}
{{- define "pasture.gatewayServiceName" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "pasture.gatewaySelectorLabels" -}}
app.kubernetes.io/name: {{ include "pasture.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{/* part-of: pasture + component: gateway is what the runtimes' NetworkPolicies admit. */}}
{{- define "pasture.gatewayLabels" -}}
helm.sh/chart: {{ include "pasture.chart" . }}
{{ include "pasture.gatewaySelectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: pasture
{{- end -}}

{{- define "pasture.gatewayServiceAccountName" -}}
{{- if .Values.gateway.serviceAccount.create -}}
{{- default (include "pasture.gatewayName" .) .Values.gateway.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.gateway.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Namespaces the gateway serves: its own list, else the operator's (empty: all). */}}
{{- define "pasture.gatewayNamespaces" -}}
{{- join "," (default .Values.operator.watchNamespaces .Values.gateway.namespaces) -}}
{{- end -}}

{{/*
The release's catalog file: catalog.extraEntries and the default token Secret
of gated entries (templates/catalog.yaml; its checksum rolls the operator).
*/}}
{{- define "pasture.catalogExtra" -}}
{{- $doc := dict "entries" (.Values.catalog.extraEntries | default dict) -}}
{{- with .Values.catalog.hfTokenSecret -}}
{{- if .name -}}
{{- $_ := set $doc "tokenSecret" (dict "name" .name "key" (.key | default "token")) -}}
{{- end -}}
{{- end -}}
{{- toYaml $doc -}}
{{- end -}}

{{/* The gateway's key Secret: the one named, else the one the chart makes from
gateway.apiKeys.entries (empty: no keys). */}}
{{- define "pasture.gatewayKeysSecret" -}}
{{- if .Values.gateway.apiKeys.secretName -}}
{{- .Values.gateway.apiKeys.secretName -}}
{{- else if .Values.gateway.apiKeys.entries -}}
{{- printf "%s-keys" (include "pasture.gatewayName" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
