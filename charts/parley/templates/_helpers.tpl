{{/* Chart name, truncated to the 63 characters Kubernetes allows in names and labels. */}}
{{- define "parley.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; components append "-gateway", "-persister", "-web", so it leaves room for them. */}}
{{- define "parley.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "parley.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels on every object. */}}
{{- define "parley.labels" -}}
helm.sh/chart: {{ include "parley.chart" . }}
app.kubernetes.io/name: {{ include "parley.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: parley
{{- end }}

{{/* Selector labels of one component: include "parley.selectorLabels" (dict "ctx" $ "component" "gateway") */}}
{{- define "parley.selectorLabels" -}}
app.kubernetes.io/name: {{ include "parley.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component. */}}
{{- define "parley.componentLabels" -}}
{{ include "parley.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* Image reference of one component: include "parley.image" (dict "ctx" $ "image" .Values.gateway.image) */}}
{{- define "parley.image" -}}
{{- $registry := .ctx.Values.image.registry -}}
{{- $tag := .image.tag | default .ctx.Values.image.tag | default .ctx.Chart.AppVersion -}}
{{- if .image.digest -}}
{{- printf "%s%s@%s" (ternary "" (printf "%s/" $registry) (empty $registry)) .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s%s:%s" (ternary "" (printf "%s/" $registry) (empty $registry)) .image.repository $tag -}}
{{- end -}}
{{- end }}

{{/* Name of the Secret holding the credentials (chart-managed, or existingSecret). */}}
{{- define "parley.secretName" -}}
{{- .Values.existingSecret | default (printf "%s-credentials" (include "parley.fullname" .)) }}
{{- end }}

{{/* The service account the pods run as. */}}
{{- define "parley.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- .Values.serviceAccount.name | default (include "parley.fullname" .) }}
{{- else }}
{{- .Values.serviceAccount.name | default "default" }}
{{- end }}
{{- end }}

{{/* Kafka brokers as one comma-separated string. */}}
{{- define "parley.kafkaBrokers" -}}
{{- required "kafka.brokers: list at least one host:port" (join "," .Values.kafka.brokers | default "") }}
{{- end }}

{{/*
Worst-case drain time of one gateway pod, in whole seconds: batches of PARLEY_DRAIN_BATCH connections every
PARLEY_DRAIN_INTERVAL_MS, jittered up to +50 %, for gateway.drain.maxConnectionsPerPod connections.
*/}}
{{- define "parley.gateway.drainSeconds" -}}
{{- $d := .Values.gateway.drain -}}
{{- $batches := div (add $d.maxConnectionsPerPod $d.batch -1) $d.batch -}}
{{- $ms := div (mul $batches $d.intervalMs 3) 2 -}}
{{- div (add $ms 999) 1000 -}}
{{- end }}

{{/* terminationGracePeriodSeconds of the gateway: preStop sleep + drain + flush margin, unless set explicitly. */}}
{{- define "parley.gateway.gracePeriodSeconds" -}}
{{- $g := .Values.gateway -}}
{{- if $g.terminationGracePeriodSeconds -}}
{{- $g.terminationGracePeriodSeconds -}}
{{- else -}}
{{- add $g.preStopSleepSeconds (include "parley.gateway.drainSeconds" . | int) $g.drain.marginSeconds -}}
{{- end -}}
{{- end }}

{{/* Pod-level security context shared by the Parley pods (uid 1000, the node image's "node" user). */}}
{{- define "parley.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid }}
runAsGroup: {{ .uid }}
fsGroup: {{ .uid }}
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Container-level security context: read-only root, no privilege escalation, no capabilities. */}}
{{- define "parley.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
{{- end }}

{{/*
Secret with the S3 access key pair the gateway reads (keys s3-access-key-id and s3-secret-access-key):
files.s3.existingSecret, else the chart's Secret when it stores the pair, else none (empty: the AWS SDK's default
chain finds credentials).
*/}}
{{- define "parley.files.s3SecretName" -}}
{{- $s3 := .Values.files.s3 -}}
{{- if .Values.files.enabled -}}
{{- if $s3.existingSecret -}}
{{- $s3.existingSecret -}}
{{- else if and $s3.accessKeyId $s3.secretAccessKey -}}
{{- include "parley.secretName" . -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
Origin (scheme://host[:port]) of the pre-signed URLs browsers upload to and download from, as the AWS SDK builds them:
files.s3.publicEndpoint, else files.s3.endpoint, else AWS's regional endpoint; the bucket in the host name unless
forcePathStyle, the bucket name has a dot or the host is an IP address (the SDK puts it in the path then).
*/}}
{{- define "parley.files.publicOrigin" -}}
{{- $s3 := .Values.files.s3 -}}
{{- $url := urlParse ($s3.publicEndpoint | default $s3.endpoint | default (printf "https://s3.%s.amazonaws.com" $s3.region)) -}}
{{- $host := lower $url.host -}}
{{- if not (or $s3.forcePathStyle (contains "." $s3.bucket) (regexMatch "^(\\[[0-9a-f:.]+\\]|[0-9.]+)(:[0-9]+)?$" $host)) -}}
{{- $host = printf "%s.%s" $s3.bucket $host -}}
{{- end -}}
{{- printf "%s://%s" $url.scheme $host -}}
{{- end }}

{{/* TCP port the gateways reach S3 on: files.s3.egressPort, else the endpoint's (AWS: 443). */}}
{{- define "parley.files.s3Port" -}}
{{- $s3 := .Values.files.s3 -}}
{{- if $s3.egressPort -}}
{{- $s3.egressPort -}}
{{- else -}}
{{- $url := urlParse ($s3.endpoint | default "https://s3.amazonaws.com") -}}
{{- $port := regexFind ":[0-9]+$" $url.host | trimPrefix ":" -}}
{{- $port | default (ternary "80" "443" (eq $url.scheme "http")) -}}
{{- end -}}
{{- end }}

{{/*
The web client's Content-Security-Policy, as the web image (web/nginx/parley-headers.conf) and the gateway
(gateway/src/static-files.ts) send it, with `.origin` (the S3 origin of attachments) added to img-src and connect-src
when set. charts/test/chart.test.ts checks it against the image's file.
*/}}
{{- define "parley.web.contentSecurityPolicy" -}}
{{- $extra := ternary "" (printf " %s" .origin) (empty .origin) -}}
default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{{ $extra }}; connect-src 'self' ws: wss:{{ $extra }}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'
{{- end }}

{{/* Egress every restricted Parley pod but the web's has: DNS (to any resolver) and networkPolicy.egress.rules. */}}
{{- define "parley.networkPolicy.egressRules" -}}
# DNS, to whichever resolver the pod has (kube-dns, NodeLocal DNSCache).
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
{{- with .Values.networkPolicy.egress.rules }}
{{ toYaml . }}
{{- end }}
{{- end }}
