{{/*
The alert groups of the PrometheusRule. They read the scoring pods' metrics
(serving-image/modelserve_scoring/metrics.py, labelled with `namespace` and
`modelserve_endpoint` by the scoring ServiceMonitor) and the operator's
modelserve_resource_condition gauge (operator/modelserve_operator/metrics.py).
Series are aggregated away from `pod`/`instance`, so an operator restart does not reset
an alert's `for` clock.
*/}}
{{- define "modelserve.alertGroups" -}}
{{- $rule := .Values.metrics.prometheusRule -}}
groups:
  - name: modelserve-endpoints
    rules:
      - alert: ModelserveEndpointDegraded
        expr: |-
          max by (namespace, name, reason) (
            modelserve_resource_condition{kind="OnlineEndpoint", condition="Degraded"}
          ) == 1
        for: {{ $rule.endpointDegraded.for }}
        labels:
          severity: {{ $rule.severity }}
        annotations:
          summary: {{ `OnlineEndpoint {{ $labels.namespace }}/{{ $labels.name }} is degraded ({{ $labels.reason }})` | quote }}
          description: {{ `The operator reports Degraded=True with reason {{ $labels.reason }}: the endpoint cannot reach the state its spec asks for without a change. Its status and events say why: kubectl describe onlineendpoint -n {{ $labels.namespace }} {{ $labels.name }}` | quote }}
      - alert: ModelserveEndpointErrorRatioHigh
        expr: |-
          (
            sum by (namespace, modelserve_endpoint, deployment) (
              rate(modelserve_requests_total{status=~"5.."}[5m])
            )
            /
            sum by (namespace, modelserve_endpoint, deployment) (
              rate(modelserve_requests_total[5m])
            )
          ) > {{ $rule.errorRatio.threshold }}
        for: {{ $rule.errorRatio.for }}
        labels:
          severity: {{ $rule.severity }}
        annotations:
          summary: {{ `{{ $value | humanizePercentage }} of requests to {{ $labels.namespace }}/{{ $labels.modelserve_endpoint }} deployment {{ $labels.deployment }} fail with 5xx` | quote }}
          description: {{ printf "More than %v%% of the scoring requests answered by this deployment in the last 5 minutes were server errors (5xx). The scoring pods' logs say why: kubectl logs -n {{ $labels.namespace }} -l modelserve.io/endpoint={{ $labels.modelserve_endpoint }},modelserve.io/deployment={{ $labels.deployment }}" (mulf $rule.errorRatio.threshold 100) | quote }}
      - alert: ModelserveEndpointLatencyP99High
        expr: |-
          histogram_quantile(0.99,
            sum by (namespace, modelserve_endpoint, deployment, le) (
              rate(modelserve_request_duration_seconds_bucket[5m])
            )
          ) > {{ $rule.latencyP99.thresholdSeconds }}
        for: {{ $rule.latencyP99.for }}
        labels:
          severity: {{ $rule.severity }}
        annotations:
          summary: {{ `p99 latency of {{ $labels.namespace }}/{{ $labels.modelserve_endpoint }} deployment {{ $labels.deployment }} is {{ $value | humanizeDuration }}` | quote }}
          description: {{ printf "The 99th percentile of the scoring time over 5 minutes is above %ss. More replicas (instanceCount or autoscale), a larger maxBatchSize, or more CPU per pod bring it down." (toString $rule.latencyP99.thresholdSeconds) | quote }}
  - name: modelserve-batch
    rules:
      - alert: ModelserveBatchRunFailed
        expr: |-
          max by (namespace, name, reason) (
            modelserve_resource_condition{kind="BatchDeployment", condition="Degraded"}
          ) == 1
        for: {{ $rule.batchRunFailed.for }}
        labels:
          severity: {{ $rule.severity }}
        annotations:
          summary: {{ `The last run of BatchDeployment {{ $labels.namespace }}/{{ $labels.name }} failed ({{ $labels.reason }})` | quote }}
          description: {{ `The last run failed (RunFailed) or could not start (e.g. ModelNotResolved). status.runs and the Ready condition name the files and the error: kubectl describe batchdeployment -n {{ $labels.namespace }} {{ $labels.name }}` | quote }}
  - name: modelserve-operator
    rules:
      - alert: ModelserveReconcileErrors
        expr: |-
          sum by (kind, error) (
            increase(modelserve_operator_reconcile_errors_total[10m])
          ) > 0
        for: {{ $rule.reconcileErrors.for }}
        labels:
          severity: {{ $rule.severity }}
        annotations:
          summary: {{ `The modelserve operator keeps failing to reconcile {{ $labels.kind }} objects ({{ $labels.error }})` | quote }}
          description: {{ `Reconciles of {{ $labels.kind }} raised {{ $labels.error }} for a while (http_403: the operator's RBAC is missing a permission). The operator's log names the object.` | quote }}
{{- end -}}
