{{/* The agent's container: privileged (BPF, perf events, signals), the host's /proc, bpffs,
cgroups and BTF, the export directory, and the ConfigMap as --config-dir. */}}
{{- define "tetragon.container.agent" -}}
- name: tetragon
  image: {{ include "tetragon.image" (dict "image" .Values.tetragon.image "chart" .Chart) | quote }}
  imagePullPolicy: {{ .Values.imagePullPolicy }}
  terminationMessagePolicy: FallbackToLogsOnError
  securityContext:
    {{- toYaml .Values.tetragon.securityContext | nindent 4 }}
  {{- with .Values.tetragon.commandOverride }}
  command:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  args:
  - --config-dir=/etc/tetragon/tetragon.conf.d/
  {{- with .Values.tetragon.argsOverride }}
    {{- toYaml . | nindent 2 }}
  {{- else }}
  {{- range $key, $value := .Values.tetragon.extraArgs }}
  {{- if $value }}
  - {{ printf "--%s=%v" $key $value | quote }}
  {{- else }}
  - {{ printf "--%s" $key | quote }}
  {{- end }}
  {{- end }}
  {{- end }}
  env:
  - name: NODE_NAME
    valueFrom:
      fieldRef:
        fieldPath: spec.nodeName
  {{- with .Values.tetragon.extraEnv }}
    {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- with .Values.tetragon.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- if .Values.tetragon.prometheus.enabled }}
  ports:
  - name: metrics
    containerPort: {{ .Values.tetragon.prometheus.port }}
    protocol: TCP
  {{- end }}
  {{- if .Values.tetragon.livenessProbe }}
  livenessProbe:
    {{- toYaml .Values.tetragon.livenessProbe | nindent 4 }}
  {{- else if .Values.tetragon.healthGrpc.enabled }}
  livenessProbe:
    failureThreshold: 1
    timeoutSeconds: 60
    grpc:
      port: {{ .Values.tetragon.healthGrpc.port }}
      service: liveness
  {{- end }}
  volumeMounts:
  - name: tetragon-config
    mountPath: /etc/tetragon/tetragon.conf.d/
    readOnly: true
  - name: bpf-maps
    mountPath: /sys/fs/bpf
    mountPropagation: Bidirectional
  - name: cilium-run
    mountPath: /var/run/cilium
  - name: export-logs
    mountPath: {{ .Values.exportDirectory }}
  - name: host-proc
    mountPath: /procRoot
    readOnly: true
  - name: cgroup
    mountPath: /sys/fs/cgroup
    readOnly: true
  - name: btf
    mountPath: /sys/kernel/btf
    readOnly: true
  {{- range .Values.extraHostPathMounts }}
  - name: {{ .name }}
    mountPath: {{ .mountPath }}
    readOnly: {{ .readOnly | default false }}
    {{- with .mountPropagation }}
    mountPropagation: {{ . }}
    {{- end }}
  {{- end }}
  {{- range .Values.extraConfigmapMounts }}
  - name: {{ .name }}
    mountPath: {{ .mountPath }}
    readOnly: {{ .readOnly | default true }}
  {{- end }}
  {{- with .Values.tetragon.extraVolumeMounts }}
    {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}
