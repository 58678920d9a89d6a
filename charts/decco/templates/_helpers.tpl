{{/*
Names. The full name is the release name when it already says decco, so
`helm install decco` gives objects named decco, not decco-decco.
*/}}
{{- define "decco.fullname" -}}
{{- if contains "decco" .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-decco" .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "decco.serviceAccountName" -}}
{{- default (include "decco.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "decco.webhookServiceName" -}}
{{- printf "%s-webhook" (include "decco.fullname" .) -}}
{{- end -}}

{{/* Where the manager reads the webhook's serving certificate from. */}}
{{- define "decco.webhookCertDir" -}}
/var/run/decco/webhook-tls
{{- end -}}

{{/* Secret holding the webhook's serving certificate, mounted by the manager. */}}
{{- define "decco.webhookTLSSecret" -}}
{{- printf "%s-webhook-tls" (include "decco.fullname" .) -}}
{{- end -}}

{{/*
Labels every object carries. app.kubernetes.io/managed-by says Helm here:
decco's own managed-by=decco marks what the reconciler creates and
cleans up, and the chart's objects are not that.
*/}}
{{- define "decco.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: decco
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector of the manager's pods: stable across upgrades. */}}
{{- define "decco.selectorLabels" -}}
app.kubernetes.io/name: decco
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: manager
{{- end -}}

{{- define "decco.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "decco.sidecarImage" -}}
{{- printf "%s:%s" .Values.sidecar.image.repository (default .Chart.AppVersion .Values.sidecar.image.tag) -}}
{{- end -}}

{{/* Namespace of the shared Gateway (or of the proxies serving the spaces'
Gateways), or of the ingress controllers. */}}
{{- define "decco.routeNamespace" -}}
{{- if ne .Values.routing.mode "ingress" -}}
{{- default .Release.Namespace .Values.routing.gateway.namespace -}}
{{- else -}}
{{- default .Release.Namespace .Values.routing.ingress.namespace -}}
{{- end -}}
{{- end -}}

{{/*
The manager's command line. Every flag here is one of manager.Options'
flags (manager.Options.BindFlags is their one definition); the chart's
tests parse these args with that flag set, so a renamed or removed flag
fails them. Numbers go through int64: Helm reads YAML numbers as floats,
which would print 2097152 as 2.097152e+06.
*/}}
{{- define "decco.args" -}}
{{- $v := .Values -}}
{{- $args := list
  (printf "--enable-webhook=%t" $v.webhook.enabled)
  (printf "--enable-reconciler=%t" $v.reconciler.enabled)
  (printf "--system-namespace=%s" .Release.Namespace)
  (printf "--webhook-port=%d" ($v.webhook.port | int64))
  (printf "--webhook-cert-dir=%s" (include "decco.webhookCertDir" .))
  (printf "--max-request-bytes=%d" ($v.webhook.maxRequestBytes | int64))
  (printf "--health-probe-bind-address=:%d" ($v.healthProbePort | int64))
  (printf "--shutdown-delay=%s" $v.shutdownDelay)
  (printf "--kube-api-qps=%d" ($v.kubeAPI.qps | int64))
  (printf "--kube-api-burst=%d" ($v.kubeAPI.burst | int64))
  (ternary (printf "--metrics-bind-address=:%d" ($v.metrics.port | int64)) "--metrics-bind-address=0" $v.metrics.enabled)
  (printf "--leader-elect=%t" $v.reconciler.leaderElection.enabled)
  (printf "--leader-election-lease-duration=%s" $v.reconciler.leaderElection.leaseDuration)
  (printf "--sidecar-image=%s" (include "decco.sidecarImage" .))
  (printf "--sidecar-cpu-request=%v" $v.sidecar.resources.requests.cpu)
  (printf "--sidecar-memory-request=%v" $v.sidecar.resources.requests.memory)
  (printf "--sidecar-memory-limit=%v" $v.sidecar.resources.limits.memory)
  (printf "--sidecar-uid=%d" ($v.sidecar.uid | int64))
  (printf "--native-sidecar=%s" $v.sidecar.native)
  (printf "--interception=%s" $v.dataPlane.interception)
  (printf "--reconciler-workers=%d" ($v.reconciler.workers | int64))
  (printf "--cluster-domain=%s" $v.reconciler.clusterDomain)
  (printf "--workload-cert-duration=%s" $v.reconciler.workloadCertDuration)
  (printf "--egress-dns=%s" $v.reconciler.egressDNS)
  (printf "--verify-byo-secrets=%t" $v.reconciler.verifyBYOSecrets)
  (printf "--pod-security-level=%s" $v.tenancy.podSecurityLevel)
  (printf "--space-max-services=%d" ($v.reconciler.limits.services | int64))
  (printf "--space-max-hostnames=%d" ($v.reconciler.limits.hostnames | int64))
  (printf "--space-max-dns-records=%d" ($v.reconciler.limits.dnsRecords | int64))
  (printf "--default-issuer=%s" $v.defaultIssuer)
  (printf "--http-issuer=%s" $v.httpIssuer)
  (printf "--route-mode=%s" $v.routing.mode)
-}}
{{- if eq $v.dataPlane.interception "cni" -}}
{{- $args = append $args (printf "--pod-cidrs=%s" (join "," $v.dataPlane.podCIDRs)) -}}
{{- $args = append $args (printf "--service-cidrs=%s" (join "," $v.dataPlane.serviceCIDRs)) -}}
{{- with $v.dataPlane.excludeCIDRs }}{{ $args = append $args (printf "--interception-exclude-cidrs=%s" (join "," .)) }}{{ end -}}
{{- end -}}
{{- if eq $v.routing.mode "gateway" -}}
{{- $args = concat $args (list
  (printf "--gateway=%s/%s" (include "decco.routeNamespace" .) $v.routing.gateway.name)
  (printf "--gateway-port=%d" ($v.routing.gateway.port | int64))) -}}
{{- else if eq $v.routing.mode "gateway-per-space" -}}
{{- $args = concat $args (list
  (printf "--gateway=%s/" (include "decco.routeNamespace" .))
  (printf "--gateway-class=%s" $v.routing.gateway.className)
  (printf "--gateway-port=%d" ($v.routing.gateway.port | int64))) -}}
{{- else -}}
{{- $args = concat $args (list
  (printf "--gateway=%s/" (include "decco.routeNamespace" .))
  (printf "--ingress-class=%s" $v.routing.ingress.className)
  (printf "--sni-ingress-class=%s" $v.routing.ingress.sniClassName)) -}}
{{- end -}}
{{- $podPort := ternary $v.routing.ingress.podPort $v.routing.gateway.podPort (eq $v.routing.mode "ingress") -}}
{{- with $podPort -}}
{{- $args = append $args (printf "--gateway-pod-port=%d" (. | int64)) -}}
{{- end -}}
{{- $args = append $args (printf "--dns-provider=%s" $v.dns.provider) -}}
{{- range $v.dns.targets -}}
{{- $args = append $args (printf "--dns-target=%s" .) -}}
{{- end -}}
{{- $args = append $args (printf "--dns-ttl=%d" ($v.dns.ttl | int64)) -}}
{{- with $v.dns.ownerID -}}
{{- $args = append $args (printf "--dns-owner-id=%s" .) -}}
{{- end -}}
{{- if eq $v.dns.provider "rfc2136" -}}
{{- $args = concat $args (list
  (printf "--dns-rfc2136-server=%s" $v.dns.rfc2136.server)
  (printf "--dns-rfc2136-tsig-secret=%s/%s" .Release.Namespace $v.dns.rfc2136.tsigSecret)
  (printf "--dns-rfc2136-timeout=%s" $v.dns.rfc2136.timeout)) -}}
{{- range $v.dns.rfc2136.zones -}}
{{- $args = append $args (printf "--dns-rfc2136-zone=%s" .) -}}
{{- end -}}
{{- end -}}
{{- concat $args $v.extraArgs | toYaml -}}
{{- end -}}

{{/*
What every decco webhook shares (webhook/configuration.go): fail closed,
2 s timeout, no side effects, and only space namespaces, never the
system ones or decco's own, even if someone labels them. Takes a dict
with svc, ns, path, caBundle and systemNamespaces.
*/}}
{{- define "decco.webhookCommon" -}}
clientConfig:
  service:
    namespace: {{ .ns }}
    name: {{ .svc }}
    path: {{ .path }}
    port: 443
  {{- with .caBundle }}
  caBundle: {{ . }}
  {{- end }}
failurePolicy: Fail
matchPolicy: Equivalent
sideEffects: None
timeoutSeconds: 2
admissionReviewVersions: ["v1"]
namespaceSelector:
  matchExpressions:
    - key: decco.io/space
      operator: {{ if .outside }}DoesNotExist{{ else }}Exists{{ end }}
    - key: kubernetes.io/metadata.name
      operator: NotIn
      values: {{ toJson .systemNamespaces }}
{{- end -}}
