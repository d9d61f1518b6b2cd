{{/* The Secret every role reads its keys and passwords from. */}}
{{- define "switchyard.secret" -}}
{{- default "switchyard-secrets" .Values.existingSecret -}}
{{- end -}}

{{/* Labels of a component. */}}
{{- define "switchyard.labels" -}}
app.kubernetes.io/name: switchyard
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The NATS URL: the bundled cluster's Service, or natsUrl. */}}
{{- define "switchyard.natsUrl" -}}
{{- if .Values.nats.enabled -}}
nats://{{ .Release.Name }}-nats:4222
{{- else -}}
{{- required "nats.enabled is false: set natsUrl to your NATS cluster (nats://host:4222,...)" .Values.natsUrl -}}
{{- end -}}
{{- end -}}

{{/* The env every role shares; `user` is its NATS user, `key` its password's key. */}}
{{- define "switchyard.env" -}}
- name: SWITCHYARD_CONFIG
  value: /etc/switchyard/switchyard.toml
- name: SWITCHYARD_NATS_URL
  value: {{ include "switchyard.natsUrl" .root | quote }}
- name: SWITCHYARD_LOG_FORMAT
  value: json
- name: SWITCHYARD_SERVER_NODE
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: SWITCHYARD_NATS_LOG_PARTITIONS
  value: {{ .root.Values.auditor.partitions | default 1 | quote }}
- name: SWITCHYARD_NATS_USER
  value: {{ .user }}
- name: SWITCHYARD_NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secret" .root }}
      key: {{ .key }}
{{- range $name, $_ := .root.Values.secrets.providers }}
- name: {{ $name }}
  valueFrom:
    secretKeyRef:
      name: {{ include "switchyard.secret" $.root }}
      key: {{ $name }}
{{- end }}
{{- end -}}

{{/* Pod and container hardening shared by every role. */}}
{{- define "switchyard.podSecurity" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
{{- end -}}
{{- define "switchyard.containerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: { drop: ["ALL"] }
{{- end -}}
