{{/* Names and labels shared by the templates. */}}

{{- define "ksgw.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name: the release name when it already contains the
chart's name (kubesphere-gateway for chart gateway), else release-chart. */}}
{{- define "ksgw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ksgw.controller.name" -}}
{{- printf "%s-controller" (include "ksgw.fullname" .) -}}
{{- end -}}

{{- define "ksgw.image" -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}

{{- define "ksgw.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: ksgw
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector of the controller pods. The name/component pair is also what
the proxies' NetworkPolicy admits egress to (internal/infra). */}}
{{- define "ksgw.controller.selectorLabels" -}}
app.kubernetes.io/name: ksgw
app.kubernetes.io/component: controller
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Name of the default Gateway's proxy objects: internal/infra.ObjectName
for names that need no shortening (the schema limits gateway.name). */}}
{{- define "ksgw.proxy.name" -}}
{{- printf "ksgw-%s" (.Values.gateway.name | replace "." "-") -}}
{{- end -}}
