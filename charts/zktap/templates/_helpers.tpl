{{/*
Every helper here takes the zktap chart's own context: inside this chart that
is `.`; from a parent chart that lists zktap as a dependency it is
`.Subcharts.zktap`, which carries zktap's Values, Chart and Release, so object
names and the default image tag agree with what this chart renders.
*/}}

{{- define "zktap.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "zktap.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "zktap.selectorLabels" -}}
app.kubernetes.io/name: {{ include "zktap.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "zktap.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "zktap.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: zookeeper-observer
{{- end }}

{{/*
zktap.port is the TCP port of listenAddress (":9771", "0.0.0.0:9771",
"[::]:9771"). The container port, Service target, monitors and probes all
derive from it, so they cannot drift from the flag zktap actually gets.
*/}}
{{- define "zktap.port" -}}
{{- $addr := required "zktap: listenAddress is required" .Values.listenAddress | toString }}
{{- $port := regexFind ":[0-9]+$" $addr | trimPrefix ":" }}
{{- if not $port }}
{{- fail (printf "zktap: listenAddress %q has no :port" $addr) }}
{{- end }}
{{- $n := atoi $port }}
{{- if or (lt $n 1) (gt $n 65535) }}
{{- fail (printf "zktap: listenAddress %q port out of range" $addr) }}
{{- end }}
{{- $n }}
{{- end }}

{{- define "zktap.scheme" -}}
{{- if .Values.webConfig.tls }}HTTPS{{ else }}HTTP{{ end }}
{{- end }}

{{- define "zktap.image" -}}
{{- $tag := .Values.image.tag | default .Chart.AppVersion | toString }}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{- define "zktap.webConfigVolume" -}}
{{- printf "%s-web-config" (include "zktap.fullname" .) | trunc 48 | trimSuffix "-" }}
{{- end }}

{{/*
zktap.probe renders one probe. HTTP GET /healthz on the metrics port unless
the web config turns on basic auth: kubelet cannot send credentials without
writing them into the pod spec, so that case falls back to a TCP check.
*/}}
{{- define "zktap.probe" -}}
{{- $ctx := index . 0 }}
{{- $p := index . 1 }}
{{- if $ctx.Values.webConfig.basicAuth -}}
tcpSocket:
  port: {{ $ctx.Values.portName }}
{{- else -}}
httpGet:
  path: /healthz
  port: {{ $ctx.Values.portName }}
  scheme: {{ include "zktap.scheme" $ctx }}
{{- end }}
initialDelaySeconds: {{ $p.initialDelaySeconds }}
periodSeconds: {{ $p.periodSeconds }}
timeoutSeconds: {{ $p.timeoutSeconds }}
failureThreshold: {{ $p.failureThreshold }}
{{- end }}

{{/*
zktap.sidecar is the container to add to your ZooKeeper pod:

  containers:
    - name: zookeeper
      ...
    {{- include "zktap.sidecar" .Subcharts.zktap | nindent 4 }}

It renders a single list item. Add "zktap.sidecarVolumes" to the pod's
volumes when webConfig is enabled.
*/}}
{{- define "zktap.sidecar" -}}
{{- $port := include "zktap.port" . }}
{{- if .Values.securityContext.privileged }}
{{- fail "zktap: securityContext.privileged must stay false; zktap needs only NET_RAW" }}
{{- end -}}
- name: {{ .Values.containerName }}
  image: {{ include "zktap.image" . | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  args:
    - serve
    - --iface={{ .Values.iface }}
    - --web.listen-address={{ .Values.listenAddress }}
    - --log.level={{ .Values.logLevel }}
    {{- with .Values.ports.zk }}
    - --zk-ports={{ . }}
    {{- end }}
    {{- with .Values.ports.zab }}
    - --zab-ports={{ . }}
    {{- end }}
    {{- with .Values.ports.fle }}
    - --fle-ports={{ . }}
    {{- end }}
    {{- /* Both default to true in zktap, so always pass them. */}}
    - --web.enable-dump={{ .Values.web.enableDump }}
    - --web.enable-auths={{ .Values.web.enableAuths }}
    {{- with .Values.stats.topClients }}
    - --stats.top-clients={{ . }}
    {{- end }}
    {{- with .Values.stats.topAuths }}
    - --stats.top-auths={{ . }}
    {{- end }}
    {{- with .Values.stats.maxPaths }}
    - --stats.max-paths={{ . }}
    {{- end }}
    {{- with .Values.otlp.endpoint }}
    - --otlp.endpoint={{ . }}
    {{- end }}
    {{- with .Values.otlp.protocol }}
    - --otlp.protocol={{ . }}
    {{- end }}
    {{- if .Values.webConfig.enabled }}
    - --web.config.file=/etc/zktap/web/web-config.yml
    {{- end }}
    {{- with .Values.extraArgs }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  {{- with .Values.env }}
  env:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  ports:
    - name: {{ .Values.portName }}
      containerPort: {{ $port }}
      protocol: TCP
  {{- if .Values.livenessProbe.enabled }}
  livenessProbe:
    {{- include "zktap.probe" (list . .Values.livenessProbe) | nindent 4 }}
  {{- end }}
  {{- if .Values.readinessProbe.enabled }}
  readinessProbe:
    {{- include "zktap.probe" (list . .Values.readinessProbe) | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml .Values.securityContext | nindent 4 }}
  resources:
    {{- toYaml .Values.resources | nindent 4 }}
  {{- if .Values.webConfig.enabled }}
  volumeMounts:
    - name: {{ include "zktap.webConfigVolume" . }}
      mountPath: /etc/zktap/web
      readOnly: true
    {{- with .Values.webConfig.tlsSecret }}
    - name: {{ include "zktap.webConfigVolume" $ }}-tls
      mountPath: /etc/zktap/tls
      readOnly: true
    {{- end }}
  {{- end }}
{{- end }}

{{/*
zktap.sidecarVolumes renders the pod volumes the sidecar mounts (list items),
or nothing when webConfig is off.
*/}}
{{- define "zktap.sidecarVolumes" -}}
{{- if .Values.webConfig.enabled }}
- name: {{ include "zktap.webConfigVolume" . }}
  {{- if .Values.webConfig.existingSecret }}
  secret:
    secretName: {{ .Values.webConfig.existingSecret }}
    items:
      - key: web-config.yml
        path: web-config.yml
  {{- else }}
  configMap:
    name: {{ include "zktap.webConfigVolume" . }}
  {{- end }}
{{- with .Values.webConfig.tlsSecret }}
- name: {{ include "zktap.webConfigVolume" $ }}-tls
  secret:
    secretName: {{ . }}
{{- end }}
{{- end }}
{{- end }}
