{{/* Names and labels. */}}
{{- define "cryptoscope.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cryptoscope.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "cryptoscope.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "cryptoscope.selectorLabels" -}}
app.kubernetes.io/name: {{ include "cryptoscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: agent
{{- end -}}

{{- define "cryptoscope.labels" -}}
helm.sh/chart: {{ include "cryptoscope.chart" . }}
{{ include "cryptoscope.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cryptoscope
{{- end -}}

{{/* Labels of the resources that are not the agent (RBAC, ConfigMaps). */}}
{{- define "cryptoscope.commonLabels" -}}
helm.sh/chart: {{ include "cryptoscope.chart" . }}
app.kubernetes.io/name: {{ include "cryptoscope.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: cryptoscope
{{- end -}}

{{- define "cryptoscope.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "cryptoscope.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "cryptoscope.image" -}}
{{- $repository := .Values.image.repository -}}
{{- if .Values.image.registry -}}
{{- $repository = printf "%s/%s" (trimSuffix "/" .Values.image.registry) .Values.image.repository -}}
{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* The port of agent.listen ("0.0.0.0:9443", "[::]:9443" -> 9443). */}}
{{- define "cryptoscope.port" -}}
{{- regexReplaceAll "^.*:" .Values.agent.listen "" -}}
{{- end -}}

{{- define "cryptoscope.priorityClassName" -}}
{{- if .Values.priorityClassName -}}
{{- .Values.priorityClassName -}}
{{- else if .Values.priorityClass.create -}}
{{- include "cryptoscope.fullname" . -}}
{{- end -}}
{{- end -}}

{{- define "cryptoscope.caConfigMapName" -}}
{{- default (printf "%s-ca" (include "cryptoscope.fullname" .)) .Values.caBundle.existingConfigMap -}}
{{- end -}}

{{- define "cryptoscope.hasCaBundle" -}}
{{- if or .Values.caBundle.existingConfigMap .Values.caBundle.pem -}}true{{- end -}}
{{- end -}}

{{/* Paths inside the container for the files the chart mounts. */}}
{{- define "cryptoscope.caDir" -}}/etc/cryptoscope/ca{{- end -}}
{{- define "cryptoscope.tlsDir" -}}/etc/cryptoscope/tls{{- end -}}

{{/*
The agent's environment. Names come from agent/config.py (SETTINGS): each key
of .Values.agent is a setting's name in camelCase and becomes CRYPTOSCOPE_ and
the name in upper snake case; the downward-API settings keep the names the
table gives them (NODE_NAME, POD_NAME, POD_NAMESPACE). tests/chart checks every
name rendered here against the table. Argument: dict "root" $ "mode" <mode>.
*/}}
{{- define "cryptoscope.env" -}}
{{- $root := .root -}}
- name: CRYPTOSCOPE_MODE
  value: {{ .mode | quote }}
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- range $key, $value := $root.Values.agent }}
{{- $text := toString $value }}
{{- if kindIs "slice" $value }}
{{- $text = join "," $value }}
{{- else if and (kindIs "float64" $value) (eq (float64 (int64 $value)) $value) }}
{{- /* YAML numbers arrive as float64: print whole ones as integers, never 1e+06. */}}
{{- $text = int64 $value | toString }}
{{- end }}
- name: {{ printf "CRYPTOSCOPE_%s" (snakecase $key | upper) }}
  value: {{ $text | quote }}
{{- end }}
{{- if include "cryptoscope.hasCaBundle" $root }}
- name: CRYPTOSCOPE_CA_FILE
  value: {{ printf "%s/%s" (include "cryptoscope.caDir" $root) $root.Values.caBundle.key | quote }}
{{- end }}
{{- if $root.Values.tls.existingSecret }}
- name: CRYPTOSCOPE_TLS_CERT_FILE
  value: {{ printf "%s/tls.crt" (include "cryptoscope.tlsDir" $root) | quote }}
- name: CRYPTOSCOPE_TLS_KEY_FILE
  value: {{ printf "%s/tls.key" (include "cryptoscope.tlsDir" $root) | quote }}
{{- end }}
{{- end -}}

{{/*
The agent container, shared by the DaemonSet, the Deployment and the sidecar
snippet. Argument: dict "root" $ "mode" <mode>.
*/}}
{{- define "cryptoscope.container" -}}
{{- $root := .root -}}
{{- $p := default "" .prefix -}}
- name: cryptoscope
  image: {{ include "cryptoscope.image" $root | quote }}
  imagePullPolicy: {{ $root.Values.image.pullPolicy }}
  env:
    {{- include "cryptoscope.env" . | nindent 4 }}
  ports:
    - name: https
      containerPort: {{ include "cryptoscope.port" $root }}
      protocol: TCP
  livenessProbe:
    httpGet:
      path: /healthz
      port: https
      scheme: HTTPS
    {{- toYaml $root.Values.probes.liveness | nindent 4 }}
  readinessProbe:
    httpGet:
      path: /readyz
      port: https
      scheme: HTTPS
    {{- toYaml $root.Values.probes.readiness | nindent 4 }}
  resources:
    {{- toYaml $root.Values.resources | nindent 4 }}
  securityContext:
    {{- if eq .mode "sidecar" }}
    {{- /* In a workload's pod the pod-level identity is the workload's: set ours on the container. */}}
    {{- $identity := pick $root.Values.podSecurityContext "runAsNonRoot" "runAsUser" "runAsGroup" }}
    {{- toYaml (merge (deepCopy $root.Values.securityContext) $identity) | nindent 4 }}
    {{- else }}
    {{- toYaml $root.Values.securityContext | nindent 4 }}
    {{- end }}
  volumeMounts:
    - name: {{ $p }}data
      mountPath: {{ dir $root.Values.agent.db }}
    - name: {{ $p }}tmp
      mountPath: /tmp
    {{- if eq .mode "daemonset" }}
    - name: kubelet-pods
      mountPath: {{ $root.Values.agent.kubeletPodsDir }}
      readOnly: true
      mountPropagation: HostToContainer
    {{- end }}
    {{- if include "cryptoscope.hasCaBundle" $root }}
    - name: {{ $p }}ca-bundle
      mountPath: {{ include "cryptoscope.caDir" $root }}
      readOnly: true
    {{- end }}
    {{- if $root.Values.tls.existingSecret }}
    - name: {{ $p }}tls
      mountPath: {{ include "cryptoscope.tlsDir" $root }}
      readOnly: true
    {{- end }}
{{- end -}}

{{/* The agent's volumes (a sidecar always keeps its database in an emptyDir). */}}
{{- define "cryptoscope.volumes" -}}
{{- $root := .root -}}
{{- $p := default "" .prefix -}}
- name: {{ $p }}data
  {{- if and (eq $root.Values.storage.type "hostPath") (ne .mode "sidecar") }}
  hostPath:
    path: {{ $root.Values.storage.hostPath.path }}
    type: DirectoryOrCreate
  {{- else }}
  emptyDir:
    {{- with $root.Values.storage.emptyDir.medium }}
    medium: {{ . }}
    {{- end }}
    sizeLimit: {{ $root.Values.storage.emptyDir.sizeLimit }}
  {{- end }}
- name: {{ $p }}tmp
  emptyDir:
    sizeLimit: {{ $root.Values.storage.tmpSizeLimit }}
{{- if eq .mode "daemonset" }}
- name: kubelet-pods
  hostPath:
    path: {{ $root.Values.agent.kubeletPodsDir }}
    type: Directory
{{- end }}
{{- if include "cryptoscope.hasCaBundle" $root }}
- name: {{ $p }}ca-bundle
  configMap:
    name: {{ include "cryptoscope.caConfigMapName" $root }}
    items:
      - key: {{ $root.Values.caBundle.key }}
        path: {{ $root.Values.caBundle.key }}
{{- end }}
{{- if $root.Values.tls.existingSecret }}
- name: {{ $p }}tls
  secret:
    secretName: {{ $root.Values.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{/* The agent pod spec (daemonset and cluster modes). Argument: dict "root" $ "mode" <mode>. */}}
{{- define "cryptoscope.podSpec" -}}
{{- $root := .root -}}
serviceAccountName: {{ include "cryptoscope.serviceAccountName" $root }}
automountServiceAccountToken: true
{{- with $root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (include "cryptoscope.priorityClassName" $root) }}
priorityClassName: {{ . }}
{{- end }}
terminationGracePeriodSeconds: {{ $root.Values.terminationGracePeriodSeconds }}
securityContext:
  {{- toYaml $root.Values.podSecurityContext | nindent 2 }}
{{- if and (eq $root.Values.storage.type "hostPath") $root.Values.storage.hostPath.fixOwnership }}
initContainers:
  - name: storage-ownership
    image: {{ include "cryptoscope.image" $root | quote }}
    imagePullPolicy: {{ $root.Values.image.pullPolicy }}
    command:
      - chown
      - {{ printf "%v:%v" (int $root.Values.podSecurityContext.runAsUser) (int $root.Values.podSecurityContext.runAsGroup) | quote }}
      - {{ dir $root.Values.agent.db | quote }}
    securityContext:
      runAsNonRoot: false
      runAsUser: 0
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      privileged: false
      capabilities:
        drop: ["ALL"]
        add: ["CHOWN"]
      seccompProfile:
        type: RuntimeDefault
    resources:
      requests:
        cpu: 10m
        memory: 16Mi
      limits:
        cpu: 100m
        memory: 32Mi
    volumeMounts:
      - name: data
        mountPath: {{ dir $root.Values.agent.db }}
{{- end }}
containers:
  {{- include "cryptoscope.container" . | nindent 2 }}
volumes:
  {{- include "cryptoscope.volumes" . | nindent 2 }}
{{- with $root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Pod template metadata (labels include the workload identity label). */}}
{{- define "cryptoscope.podMetadata" -}}
labels:
  {{- include "cryptoscope.selectorLabels" . | nindent 2 }}
  {{- with .Values.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
  {{- if .Values.serviceAccount.workloadIdentity.clientId }}
  azure.workload.identity/use: "true"
  {{- end }}
annotations:
  checksum/ca: {{ .Values.caBundle | toJson | sha256sum }}
  {{- with .Values.podAnnotations }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- end -}}

{{/* The release notes (NOTES.txt), a named template so that tests can render them. */}}
{{- define "cryptoscope.notes" -}}
{{- $fullname := include "cryptoscope.fullname" . -}}
{{- $ns := .Release.Namespace -}}
cryptoscope {{ .Chart.AppVersion }} is installed in namespace {{ $ns }} (mode: {{ .Values.mode }}).
{{- if eq .Values.mode "daemonset" }}

One agent runs on every node and scans the pods on it every {{ .Values.agent.scanInterval }} s.
It mounts hostPath volumes: the namespace must allow them, e.g.
  kubectl label namespace {{ $ns }} pod-security.kubernetes.io/enforce=privileged
Check the agents:
  kubectl get pods -n {{ $ns }} -l app.kubernetes.io/instance={{ .Release.Name }} -o wide
{{- else if eq .Values.mode "cluster" }}

One agent (Deployment {{ $fullname }}) scans every pod in the cluster every {{ .Values.agent.scanInterval }} s.
Check it:
  kubectl get pods -n {{ $ns }} -l app.kubernetes.io/instance={{ .Release.Name }}
{{- else }}

Sidecar mode: no agent runs yet. Paste the container and volumes into your workload's pod spec:
  kubectl get configmap {{ $fullname }}-sidecar -n {{ $ns }} -o jsonpath='{.data.container\.yaml}'
  kubectl get configmap {{ $fullname }}-sidecar -n {{ $ns }} -o jsonpath='{.data.volumes\.yaml}'
{{- end }}
{{- if and .Values.agent.keyvaultEnabled (not .Values.serviceAccount.workloadIdentity.clientId) (ne .Values.mode "sidecar") }}

Key Vault comparison is on but no workload identity is set: give
serviceAccount.workloadIdentity.clientId (a managed identity with "Key Vault Reader"
on each vault and a federated credential for
system:serviceaccount:{{ $ns }}:{{ include "cryptoscope.serviceAccountName" . }}).
{{- end }}

{{- $agentNs := $ns }}
{{- $selector := printf "app.kubernetes.io/instance=%s" .Release.Name }}
{{- if eq .Values.mode "sidecar" }}
{{- $agentNs = "<workload-namespace>" }}
{{- with .Values.sidecar.serviceAccounts }}{{ $agentNs = (first .).namespace }}{{ end }}
{{- $selector = "<your-workload-pod-labels>" }}
{{- end }}

Next: gather every agent's evidence into one database on your machine, then look at it.
Your user needs the ClusterRole {{ $fullname }}-evidence-reader in namespace {{ $agentNs }}
{{- if .Values.evidenceReaders.subjects }} (bound for the subjects in evidenceReaders){{ else }}:
  kubectl create rolebinding cryptoscope-evidence -n {{ $agentNs }} \
    --clusterrole={{ $fullname }}-evidence-reader --user=<you>{{ end }}

  cryptoscope collect --namespace {{ $agentNs }} --selector {{ $selector }} --db cryptoscope.db
  cryptoscope tui cryptoscope.db
{{- end -}}
