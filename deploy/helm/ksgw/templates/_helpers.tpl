{{/* Names and labels shared by the templates. */}}

{{- define "ksgw.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name of the chart's own objects: the release name, the
same whether the chart is installed as ksgw or as gateway. */}}
{{- define "ksgw.fullname" -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
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

{{- define "ksgw.controller.labels" -}}
{{ include "ksgw.labels" . }}
app.kubernetes.io/name: ksgw
app.kubernetes.io/component: controller
{{- end -}}
