{{/* The export-stdout sidecar: prints the agent's JSON export files to its stdout, where the
node's log shipper picks them up. */}}
{{- define "tetragon.container.exportStdout" -}}
- name: export-stdout
  image: {{ include "tetragon.image" (dict "image" .Values.export.stdout.image "chart" .Chart) | quote }}
  imagePullPolicy: {{ .Values.imagePullPolicy }}
  terminationMessagePolicy: FallbackToLogsOnError
  {{- if .Values.export.stdout.enabledCommand }}
  command:
  {{- with .Values.export.stdout.commandOverride }}
    {{- toYaml . | nindent 2 }}
  {{- else }}
  - hubble-export-stdout
  {{- end }}
  {{- end }}
  {{- if .Values.export.stdout.enabledArgs }}
  args:
  {{- with .Values.export.stdout.argsOverride }}
    {{- toYaml . | nindent 2 }}
  {{- else }}
  {{- range .Values.export.filenames }}
  - {{ printf "%s/%s" $.Values.exportDirectory . | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
  {{- with .Values.export.stdout.extraEnv }}
  env:
    {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with .Values.export.securityContext }}
  securityContext:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with .Values.export.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  volumeMounts:
  - name: export-logs
    mountPath: {{ .Values.exportDirectory }}
  {{- with .Values.export.stdout.extraVolumeMounts }}
    {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
