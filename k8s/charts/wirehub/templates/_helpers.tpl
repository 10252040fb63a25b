{{/*
Names and labels shared by every template. Everything here is namespaced
"wirehub." so a parent chart's helpers cannot collide with ours.
*/}}

{{- define "wirehub.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-scoped base name; component suffixes are at most 16 characters, so it stops at 47. */}}
{{- define "wirehub.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 47 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 47 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "wirehub.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "wirehub.labels" -}}
helm.sh/chart: {{ include "wirehub.chart" . }}
{{ include "wirehub.selectorLabels" . }}
app.kubernetes.io/version: {{ include "wirehub.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: wirehub
{{- end }}

{{/* The stable subset used in selectors: never the version or the chart. */}}
{{- define "wirehub.selectorLabels" -}}
app.kubernetes.io/name: {{ include "wirehub.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of one component: (dict "root" $ "component" "edge"). */}}
{{- define "wirehub.componentLabels" -}}
{{ include "wirehub.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "wirehub.componentSelectorLabels" -}}
{{ include "wirehub.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "wirehub.imageTag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{- define "wirehub.image" -}}
{{- printf "%s:%s" .Values.image.repository (include "wirehub.imageTag" .) }}
{{- end }}

{{- define "wirehub.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "wirehub.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Object names. */}}
{{- define "wirehub.controlName" -}}{{ include "wirehub.fullname" . }}-control{{- end }}
{{- define "wirehub.edgeName" -}}{{ include "wirehub.fullname" . }}-edge{{- end }}
{{- define "wirehub.configName" -}}{{ include "wirehub.fullname" . }}-config{{- end }}
{{- define "wirehub.edgeLinkServiceName" -}}{{ include "wirehub.fullname" . }}-control-link{{- end }}

{{/* The Secret holding the HS256 connection-token secret, and its key. */}}
{{- define "wirehub.tokenSecretName" -}}
{{- default (printf "%s-token" (include "wirehub.fullname" .)) .Values.tokenHmacSecret.existingSecret }}
{{- end }}
{{- define "wirehub.tokenSecretKey" -}}
{{- if .Values.tokenHmacSecret.existingSecret }}{{ .Values.tokenHmacSecret.existingSecretKey }}{{ else }}tokenHmacSecret{{ end }}
{{- end }}
{{- define "wirehub.hasTokenSecret" -}}
{{- if or .Values.tokenHmacSecret.existingSecret .Values.tokenHmacSecret.value .Values.tokenHmacSecret.generate }}true{{ end }}
{{- end }}

{{/* The Secret holding api_keys.json (the API key hashes control accepts). */}}
{{- define "wirehub.apiKeysSecretName" -}}
{{- default (printf "%s-api-keys" (include "wirehub.fullname" .)) .Values.apiKeys.existingSecret }}
{{- end }}
{{- define "wirehub.hasApiKeys" -}}
{{- if or .Values.apiKeys.existingSecret .Values.apiKeys.entries .Values.apiKeys.generateTestKey }}true{{ end }}
{{- end }}
{{/* The Secret holding the generated API key (plain) that helm test and NOTES use. */}}
{{- define "wirehub.testApiKeySecretName" -}}{{ include "wirehub.fullname" . }}-test-api-key{{- end }}

{{/* The generated test API key: reused from the cluster on upgrades, new on install. */}}
{{- /* Memoized in .Values (shared by every template of one render) so the key and its hash agree. */}}
{{- define "wirehub.testApiKey" -}}
{{- if not (hasKey .Values.apiKeys "generatedKeyOfThisRender") }}
{{- $key := printf "wh_%s" (randAlphaNum 43) }}
{{- $existing := lookup "v1" "Secret" .Release.Namespace (include "wirehub.testApiKeySecretName" .) }}
{{- if and $existing $existing.data (index $existing.data "apiKey") }}
{{- $key = index $existing.data "apiKey" | b64dec }}
{{- end }}
{{- $_ := set .Values.apiKeys "generatedKeyOfThisRender" $key }}
{{- end }}
{{- index .Values.apiKeys "generatedKeyOfThisRender" }}
{{- end }}

{{/* Redis password Secret. */}}
{{- define "wirehub.redisSecretName" -}}
{{- default (printf "%s-redis" (include "wirehub.fullname" .)) .Values.engine.redis.existingSecret }}
{{- end }}
{{- define "wirehub.redisSecretKey" -}}
{{- if .Values.engine.redis.existingSecret }}{{ .Values.engine.redis.existingSecretKey }}{{ else }}password{{ end }}
{{- end }}
{{- define "wirehub.hasRedisPassword" -}}
{{- if or .Values.engine.redis.existingSecret .Values.engine.redis.password }}true{{ end }}
{{- end }}

{{/* Edge-link TLS Secrets: the control's server certificate and the edges' client certificate. */}}
{{- define "wirehub.edgeLinkServerSecret" -}}
{{- if eq .Values.edgeLink.tls.mode "certManager" }}{{ include "wirehub.fullname" . }}-link-server{{ else }}{{ .Values.edgeLink.tls.existingSecrets.server }}{{ end }}
{{- end }}
{{- define "wirehub.edgeLinkClientSecret" -}}
{{- if eq .Values.edgeLink.tls.mode "certManager" }}{{ include "wirehub.fullname" . }}-link-client{{ else }}{{ .Values.edgeLink.tls.existingSecrets.client }}{{ end }}
{{- end }}
{{- define "wirehub.edgeLinkTls" -}}
{{- if ne .Values.edgeLink.tls.mode "none" }}true{{ end }}
{{- end }}

{{/* The edge's --control: the headless Service resolving to every control pod, unless overridden. */}}
{{- define "wirehub.controlLinkAddress" -}}
{{- if .Values.edge.controlAddress }}
{{- .Values.edge.controlAddress }}
{{- else }}
{{- printf "%s.%s.svc:%d" (include "wirehub.edgeLinkServiceName" .) .Release.Namespace (int .Values.control.edgeLinkPort) }}
{{- end }}
{{- end }}

{{/* The name the edge checks control's edge-link certificate against. */}}
{{- define "wirehub.controlLinkServerName" -}}
{{- printf "%s.%s.svc" (include "wirehub.edgeLinkServiceName" .) .Release.Namespace }}
{{- end }}

{{/* Go duration ("5s", "1m30s") to whole seconds, rounded up. */}}
{{- define "wirehub.seconds" -}}
{{- $d := toString . }}
{{- $total := 0.0 }}
{{- range $part := regexFindAll "[0-9.]+(ms|s|m|h)" $d -1 }}
{{- $n := float64 (regexFind "[0-9.]+" $part) }}
{{- if hasSuffix "ms" $part }}{{ $total = addf $total (divf $n 1000) }}
{{- else if hasSuffix "h" $part }}{{ $total = addf $total (mulf $n 3600) }}
{{- else if hasSuffix "m" $part }}{{ $total = addf $total (mulf $n 60) }}
{{- else }}{{ $total = addf $total $n }}{{ end }}
{{- end }}
{{- ceil $total | int }}
{{- end }}

{{/* Refusals of combinations the schema cannot express. */}}
{{- define "wirehub.validate" -}}
{{- if and (gt (int .Values.control.replicaCount) 1) (ne .Values.engine.type "redis") }}
{{- fail "control.replicaCount > 1: more than one control replica needs the Redis engine (engine.type: redis with engine.redis.address); the memory engine keeps every stream in one process" }}
{{- end }}
{{- if and (eq .Values.engine.type "redis") (not .Values.engine.redis.address) }}
{{- fail "engine.type redis needs engine.redis.address (HOST:PORT)" }}
{{- end }}
{{- if and (not (include "wirehub.hasApiKeys" .)) (not .Values.control.insecureApi) }}
{{- fail "control's API listens beyond loopback and needs API keys: set apiKeys.entries, apiKeys.existingSecret or apiKeys.generateTestKey, or control.insecureApi: true" }}
{{- end }}
{{- if and (not (include "wirehub.hasTokenSecret" .)) (not .Values.tokenKeys.existingSecret) }}
{{- fail "the edge needs a token key: tokenHmacSecret (value, existingSecret or generate) or tokenKeys.existingSecret with config.token_keys / token_jwks_file" }}
{{- end }}
{{- if and (eq .Values.edgeLink.tls.mode "existingSecrets") (or (not .Values.edgeLink.tls.existingSecrets.server) (not .Values.edgeLink.tls.existingSecrets.client)) }}
{{- fail "edgeLink.tls.mode existingSecrets needs edgeLink.tls.existingSecrets.server and .client" }}
{{- end }}
{{- if and (eq .Values.edgeLink.tls.mode "certManager") (not (.Capabilities.APIVersions.Has "cert-manager.io/v1")) }}
{{- fail "edgeLink.tls.mode certManager needs cert-manager's CRDs (cert-manager.io/v1) in the cluster" }}
{{- end }}
{{- if and .Values.edge.tls.enabled (not .Values.edge.tls.existingSecret) }}
{{- fail "edge.tls.enabled needs edge.tls.existingSecret (a kubernetes.io/tls Secret)" }}
{{- end }}
{{- range $key := list "engine" "api_keys" "api_keys_file" "apiKeys" "apiKeysFile" }}
{{- if hasKey $.Values.config $key }}
{{- fail (printf "config.%s: set it through the chart's values (engine, apiKeys), not config" $key) }}
{{- end }}
{{- end }}
{{- end }}

{{/* The configuration file: values.config plus the engine and API-key file the chart manages. */}}
{{- define "wirehub.configJson" -}}
{{- $config := deepCopy .Values.config }}
{{- if eq .Values.engine.type "redis" }}
{{- $redis := dict "address" .Values.engine.redis.address "db" (int .Values.engine.redis.db) "key_prefix" .Values.engine.redis.keyPrefix "connect_timeout" .Values.engine.redis.connectTimeout "command_timeout" .Values.engine.redis.commandTimeout "stream_ttl" .Values.engine.redis.streamTtl "presence_ttl" .Values.engine.redis.presenceTtl }}
{{- if .Values.engine.redis.username }}{{ $_ := set $redis "username" .Values.engine.redis.username }}{{ end }}
{{- if include "wirehub.hasRedisPassword" . }}{{ $_ := set $redis "password" "${WIREHUB_REDIS_PASSWORD}" }}{{ end }}
{{- $_ := set $config "engine" (dict "type" "redis" "redis" $redis) }}
{{- end }}
{{- if include "wirehub.hasApiKeys" . }}
{{- $_ := set $config "api_keys_file" "/etc/wirehub/api-keys/api_keys.json" }}
{{- end }}
{{- toPrettyJson $config }}
{{- end }}

{{/* Pod and container securityContext of Pod Security "restricted". */}}
{{- define "wirehub.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}
{{- define "wirehub.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Spread a component's pods over nodes, then zones, without blocking scheduling. */}}
{{- define "wirehub.defaultSpread" -}}
- maxSkew: 1
  topologyKey: kubernetes.io/hostname
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "wirehub.componentSelectorLabels" . | nindent 6 }}
- maxSkew: 1
  topologyKey: topology.kubernetes.io/zone
  whenUnsatisfiable: ScheduleAnyway
  labelSelector:
    matchLabels:
      {{- include "wirehub.componentSelectorLabels" . | nindent 6 }}
{{- end }}

{{/* The issuer of the edge-link certificates: the values' issuerRef, or the release's own CA. */}}
{{- define "wirehub.linkIssuerRef" -}}
{{- if .Values.edgeLink.tls.certManager.issuerRef }}
{{- toYaml .Values.edgeLink.tls.certManager.issuerRef }}
{{- else }}
name: {{ include "wirehub.fullname" . }}-link-ca
kind: Issuer
group: cert-manager.io
{{- end }}
{{- end }}
