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

{{/* The gateway pods' labels as a label selector string: exactly the StatefulSet's selector,
so the operator and the facade find this release's gateway pods and no others. */}}
{{- define "vas.gatewaySelector" -}}
app.kubernetes.io/name=vas,app.kubernetes.io/instance={{ .Release.Name }},app.kubernetes.io/component=gateway
{{- end -}}

{{- define "vas.redisSecretName" -}}
{{ .Values.redis.existingSecret | default (printf "%s-redis" (include "vas.fullname" .)) }}
{{- end -}}

{{/* The Redis URL the operator and the facade get: the password is not in it, but in
REDIS_PASSWORD (from the Secret), which the kubelet expands into $(REDIS_PASSWORD) because
vas.redisEnv puts it first. */}}
{{- define "vas.redisUrl" -}}
{{- if .Values.redis.enabled -}}redis://:$(REDIS_PASSWORD)@{{ include "vas.fullname" . }}-redis:6379/0
{{- else -}}{{ .Values.redis.url }}{{- end -}}
{{- end -}}

{{/* Env entries for a Redis client: REDIS_PASSWORD, then the URL variable named by .name. */}}
{{- define "vas.redisEnv" -}}
{{- $ := .root -}}
{{- if or $.Values.redis.enabled $.Values.redis.existingSecret -}}
- name: REDIS_PASSWORD
  valueFrom: {secretKeyRef: {name: {{ include "vas.redisSecretName" $ }}, key: password}}
{{ end -}}
- {name: {{ .name }}, value: {{ include "vas.redisUrl" $ | quote }}}
{{- end -}}

{{/* Networks camera sources may never be in: values plus the cluster's ranges. */}}
{{- define "vas.sourceDenied" -}}
{{- $denied := list -}}
{{- range .Values.operator.sourcePolicy.deniedCIDRs }}{{ $denied = append $denied . }}{{ end -}}
{{- range list .Values.cluster.serviceCIDR .Values.cluster.podCIDR -}}
{{- range splitList "," . }}{{ if trim . }}{{ $denied = append $denied (trim .) }}{{ end }}{{ end -}}
{{- end -}}
{{- $denied | uniq | toJson -}}
{{- end -}}

{{/* Refuses values that would expose cameras by accident (the schema says so too; this
holds with --skip-schema-validation), and an autoscaling range no pool can satisfy (which a
JSON schema cannot express). */}}
{{- define "vas.validate" -}}
{{- with .Values.gateway.autoscaling -}}
{{- if and .enabled (gt (int .minReplicas) (int .maxReplicas)) -}}
{{- fail (printf "gateway.autoscaling.minReplicas (%v) is above gateway.autoscaling.maxReplicas (%v)." .minReplicas .maxReplicas) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.facade.enabled (eq .Values.facade.auth "none") -}}
{{- if not .Values.facade.iUnderstandAuthNoneExposesEveryCamera -}}
{{- fail "facade.auth=none shows every camera of every namespace to anyone who reaches the facade; it is for development only. Set facade.iUnderstandAuthNoneExposesEveryCamera=true (and keep facade.service.type=ClusterIP) if that is what you want." -}}
{{- end -}}
{{- if ne .Values.facade.service.type "ClusterIP" -}}
{{- fail (printf "facade.auth=none with facade.service.type=%s would publish every camera outside the cluster; auth=none is only allowed with a ClusterIP Service." .Values.facade.service.type) -}}
{{- end -}}
{{- end -}}
{{- end -}}
