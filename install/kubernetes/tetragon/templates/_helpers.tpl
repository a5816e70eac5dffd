{{/* Names, labels and images shared by the templates. */}}

{{- define "tetragon.name" -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tetragon.operatorName" -}}
{{- printf "%s-operator" (include "tetragon.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "tetragon.commonLabels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/part-of: tetragon
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "tetragon.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tetragon.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tetragon.labels" -}}
{{ include "tetragon.commonLabels" . }}
{{ include "tetragon.selectorLabels" . }}
{{- end -}}

{{- define "tetragon.operatorSelectorLabels" -}}
app.kubernetes.io/name: {{ include "tetragon.operatorName" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tetragon.operatorLabels" -}}
{{ include "tetragon.commonLabels" . }}
{{ include "tetragon.operatorSelectorLabels" . }}
{{- end -}}

{{- define "tetragon.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
{{- .Values.serviceAccount.name | default (include "tetragon.name" .) -}}
{{- else -}}
{{- .Values.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "tetragon.operatorServiceAccount" -}}
{{- if .Values.tetragonOperator.serviceAccount.create -}}
{{- .Values.tetragonOperator.serviceAccount.name | default (printf "%s-service-account" (include "tetragon.operatorName" .)) -}}
{{- else -}}
{{- .Values.tetragonOperator.serviceAccount.name | default "default" -}}
{{- end -}}
{{- end -}}

{{- define "tetragon.configMapName" -}}
{{- printf "%s-config" (include "tetragon.name" .) -}}
{{- end -}}

{{- define "tetragon.operatorConfigMapName" -}}
{{- printf "%s-config" (include "tetragon.operatorName" .) -}}
{{- end -}}

{{/* An image value {override, repository, tag}: override, else repository:tag (tag "" is appVersion). */}}
{{- define "tetragon.image" -}}
{{- if .image.override -}}
{{- .image.override -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (.image.tag | default .chart.AppVersion | toString) -}}
{{- end -}}
{{- end -}}

{{/*
Values this chart cannot honour fail the render, naming the value and the reason: a chart that
accepts them and deploys something else would be a setting accepted and then ignored.
*/}}
{{- define "tetragon.refusals" -}}
{{- if not (has .Values.crds.installMethod (list "operator" "helm" "none")) -}}
{{- fail (printf "crds.installMethod: %q is not one of operator, helm, none" .Values.crds.installMethod) -}}
{{- end -}}
{{- if and (eq .Values.crds.installMethod "operator") (not .Values.tetragonOperator.enabled) -}}
{{- fail "crds.installMethod: \"operator\" needs tetragonOperator.enabled (the operator installs the CRDs); use \"helm\" or \"none\"" -}}
{{- end -}}
{{- if not (has .Values.export.mode (list "stdout" "")) -}}
{{- fail (printf "export.mode: %q is not one of stdout, \"\"" .Values.export.mode) -}}
{{- end -}}
{{- if .Values.rthooks.enabled -}}
{{- fail "rthooks.enabled: tetragon-core ships no tetragon-rthooks image; pods are learnt from the Kubernetes API (tetragon.enableK8sAPI) or CRI instead" -}}
{{- end -}}
{{- if .Values.tetragon.ociHookSetup.enabled -}}
{{- fail "tetragon.ociHookSetup.enabled: tetragon-core ships no tetragon-oci-hook; pods are learnt from the Kubernetes API (tetragon.enableK8sAPI) or CRI instead" -}}
{{- end -}}
{{- if .Values.tetragon.pprof.enabled -}}
{{- fail "tetragon.pprof.enabled: the agent is not a Go program and has no pprof server (its --pprof-address is refused)" -}}
{{- end -}}
{{- if .Values.tetragon.enablePolicyFilterCgroupMap -}}
{{- fail "tetragon.enablePolicyFilterCgroupMap: upstream's cgroup-to-policies map is not built (the policy filter's table is keyed by policy and cgroup id)" -}}
{{- end -}}
{{- if .Values.tetragon.btf -}}
{{- fail "tetragon.btf: loading BTF from a custom file is not built yet (the agent refuses --btf)" -}}
{{- end -}}
{{- if and .Values.tetragonOperator.podInfo.enabled (not .Values.tetragonOperator.enabled) -}}
{{- fail "tetragonOperator.podInfo.enabled: the PodInfo controller runs in the operator; it needs tetragonOperator.enabled" -}}
{{- end -}}
{{- end -}}
