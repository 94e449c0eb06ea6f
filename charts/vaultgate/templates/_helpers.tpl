{{/* Object name prefix: the release name when it contains the chart name, else <release>-vaultgate. */}}
{{- define "vaultgate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object (as manifests/base's kustomize labels, managed-by the release service). */}}
{{- define "vaultgate.labels" -}}
app.kubernetes.io/name: vaultgate
app.kubernetes.io/part-of: vaultgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* Selector of the webhook pods. */}}
{{- define "vaultgate.selectorLabels" -}}
app.kubernetes.io/name: vaultgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: webhook
{{- end -}}

{{- define "vaultgate.handoverSelectorLabels" -}}
app.kubernetes.io/name: vaultgate
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: handover
{{- end -}}

{{/* The image reference; image.repository is required (no public image is published). */}}
{{- define "vaultgate.image" -}}
{{- $repo := required "image.repository is required: no public vaultgate image is published. Build it from the repository's Dockerfile, push it to a registry you control (README \"Build the image\") and pass --set image.repository=REGISTRY/vaultgate" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{- define "vaultgate.tlsSecretName" -}}
{{- if eq .Values.certs.mode "cert-manager" -}}
{{- printf "%s-tls" (include "vaultgate.fullname" .) -}}
{{- else if eq .Values.certs.mode "existingSecret" -}}
{{- required "certs.existingSecret is required with certs.mode=existingSecret: the kubernetes.io/tls Secret holding tls.crt and tls.key" .Values.certs.existingSecret -}}
{{- else -}}
{{- fail (printf "certs.mode must be cert-manager or existingSecret, not %q" .Values.certs.mode) -}}
{{- end -}}
{{- end -}}

{{- define "vaultgate.policyConfigMapName" -}}
{{- .Values.existingPolicyConfigMap | default (printf "%s-policy" (include "vaultgate.fullname" .)) -}}
{{- end -}}

{{/* Annotations of both webhook configurations: cert-manager's CA injection, and the hooks that
register them last (README "Install with Helm"): after every other object, and with `--wait` only
once the Deployment is available, so a pod that cannot start never leaves a fail-closed webhook
without endpoints. before-hook-creation replaces them on upgrade. */}}
{{- define "vaultgate.webhookAnnotations" -}}
{{- if or .Values.webhook.registerAsHook (eq .Values.certs.mode "cert-manager") }}
annotations:
  {{- if .Values.webhook.registerAsHook }}
  helm.sh/hook: post-install,post-upgrade
  helm.sh/hook-delete-policy: before-hook-creation
  {{- end }}
  {{- if eq .Values.certs.mode "cert-manager" }}
  cert-manager.io/inject-ca-from: {{ .Release.Namespace }}/{{ include "vaultgate.fullname" . }}-serving
  {{- end }}
{{- end }}
{{- end -}}

{{/* What every webhook shares after its rules: manifests/base's fields, from values. Arg: dict root
path, and optionally failurePolicy, matchConditions (the hidden-control-planes webhook's own,
replacing webhook.matchConditions) and extraConditions (appended: the mutating webhook's scope). */}}
{{- define "vaultgate.webhookCommon" -}}
{{- $root := .root -}}
admissionReviewVersions: ["v1"]
sideEffects: None
matchPolicy: Equivalent
timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
failurePolicy: {{ .failurePolicy | default $root.Values.webhook.failurePolicy }}
clientConfig:
  {{- if eq $root.Values.certs.mode "existingSecret" }}
  caBundle: {{ required "certs.caBundle is required with certs.mode=existingSecret: the base64 PEM of the CA that signed the serving certificate (what `vaultgate certs` prints)" $root.Values.certs.caBundle }}
  {{- end }}
  service:
    name: {{ include "vaultgate.fullname" $root }}
    namespace: {{ $root.Release.Namespace }}
    path: {{ .path }}
    port: 443
namespaceSelector:
  matchExpressions:
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ concat $root.Values.webhook.exemptNamespaces (list $root.Release.Namespace) | uniq | toJson }}
    {{- with $root.Values.webhook.extraNamespaceSelectorExpressions }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
{{- with concat ((hasKey . "matchConditions" | ternary .matchConditions $root.Values.webhook.matchConditions) | default list) (.extraConditions | default list) }}
matchConditions:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Where the kubelet probes: the TLS port, or with mTLS the plain-HTTP --probe-listen port
(the kubelet presents no client certificate), as manifests/overlays/mtls. */}}
{{- define "vaultgate.probePort" -}}
{{- if .Values.mtls.enabled -}}
port: probes
scheme: HTTP
{{- else -}}
port: 8443
scheme: HTTPS
{{- end -}}
{{- end -}}
