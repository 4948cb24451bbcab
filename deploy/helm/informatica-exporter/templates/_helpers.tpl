{{/* The chart's name. */}}
{{- define "informatica-exporter.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The objects' name: the release's, with the chart's name unless it holds it. */}}
{{- define "informatica-exporter.fullname" -}}
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

{{/* The labels that select the pod. */}}
{{- define "informatica-exporter.selectorLabels" -}}
app.kubernetes.io/name: {{ include "informatica-exporter.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The labels of every object. */}}
{{- define "informatica-exporter.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "informatica-exporter.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The Secret holding config.yml. */}}
{{- define "informatica-exporter.configSecret" -}}
{{- .Values.existingSecret | default (printf "%s-config" (include "informatica-exporter.fullname" .)) }}
{{- end }}

{{/* "true" when the web configuration asks for basic auth: HTTP probes would get 401. */}}
{{- define "informatica-exporter.basicAuth" -}}
{{- if .Values.web.config.basic_auth_users }}true{{ end }}
{{- end }}

{{/* "true" when the web configuration serves HTTPS. */}}
{{- define "informatica-exporter.tls" -}}
{{- if .Values.web.config.tls_server_config }}true{{ end }}
{{- end }}
