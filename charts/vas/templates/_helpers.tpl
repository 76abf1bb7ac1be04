{{- define "vas.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "vas.labels" -}}
app.kubernetes.io/name: vas
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "vas.selector" -}}
app.kubernetes.io/name: vas
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "vas.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "vas.secretName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" (include "vas.fullname" .)) }}
{{- end -}}

{{- define "vas.gatewayName" -}}{{ include "vas.fullname" . }}-gateway{{- end -}}

{{- define "vas.redisUrl" -}}
{{- if .Values.redis.enabled -}}redis://{{ include "vas.fullname" . }}-redis:6379/0
{{- else -}}{{ .Values.redis.url }}{{- end -}}
{{- end -}}
