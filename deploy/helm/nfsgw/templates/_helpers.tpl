{{/* The release's name is every object's name (nfsgw by default). */}}
{{- define "nfsgw.name" -}}{{ .Release.Name }}{{- end -}}

{{- define "nfsgw.selectorLabels" -}}
app.kubernetes.io/name: nfsgw
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "nfsgw.labels" -}}
{{ include "nfsgw.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: nfsgw-{{ .Chart.Version }}
{{- end -}}

{{- define "nfsgw.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}
