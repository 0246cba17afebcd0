// Package k8sctl keeps the Kubernetes side of a cluster of gateways in step
// with its StatefulSet: one Service per gateway ordinal below spec.replicas,
// kept through a scale-down until the removed gateway has drained, and the
// grace-database membership of ordinals that no longer exist removed, so
// that the survivors never wait for them. Plan is the pure decision; Runner
// performs its actions; Controller feeds Plan from informers.
package k8sctl

import (
	"fmt"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// ServiceConfig is the chart's `service:` values: how each gateway's
// Service looks. The chart writes them as they are into the controller's
// ConfigMap, so the field names are the values file's.
type ServiceConfig struct {
	Type                  corev1.ServiceType                  `json:"type"`
	Port                  int32                               `json:"port"`
	ExternalTrafficPolicy corev1.ServiceExternalTrafficPolicy `json:"externalTrafficPolicy"`
	Annotations           map[string]string                   `json:"annotations"`
	Ordinals              map[string]OrdinalConfig            `json:"ordinals"`
}

// OrdinalConfig is what one gateway's Service has of its own.
type OrdinalConfig struct {
	LoadBalancerIP string            `json:"loadBalancerIP"`
	NodePort       int32             `json:"nodePort"`
	ExternalIPs    []string          `json:"externalIPs"`
	Annotations    map[string]string `json:"annotations"`
}

// maxOrdinals bounds the ordinals a configuration names and the replicas
// Plan acts on: a StatefulSet of more gateways than a grace database holds
// members is a mistake, not something to create Services for.
const maxOrdinals = 1024

// ParseServiceConfig reads a ServiceConfig (YAML or JSON), refusing unknown
// fields (a misspelt key would otherwise be a setting silently ignored) and
// filling the chart's defaults.
func ParseServiceConfig(b []byte) (ServiceConfig, error) {
	var c ServiceConfig
	if err := yaml.UnmarshalStrict(b, &c); err != nil {
		return c, fmt.Errorf("service config: %w", err)
	}
	if c.Type == "" {
		c.Type = corev1.ServiceTypeClusterIP
	}
	if c.Port == 0 {
		c.Port = 2049
	}
	if c.ExternalTrafficPolicy == "" {
		c.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	switch c.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeNodePort:
	default:
		return c, fmt.Errorf("service config: type %q: want ClusterIP, LoadBalancer or NodePort", c.Type)
	}
	switch c.ExternalTrafficPolicy {
	case corev1.ServiceExternalTrafficPolicyLocal, corev1.ServiceExternalTrafficPolicyCluster:
	default:
		return c, fmt.Errorf("service config: externalTrafficPolicy %q: want Local or Cluster", c.ExternalTrafficPolicy)
	}
	if c.Port < 1 || c.Port > 65535 {
		return c, fmt.Errorf("service config: port %d out of range", c.Port)
	}
	if len(c.Ordinals) > maxOrdinals {
		return c, fmt.Errorf("service config: %d ordinals, at most %d", len(c.Ordinals), maxOrdinals)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Ordinals)) {
		n, err := strconv.Atoi(k)
		if err != nil || n < 0 || strconv.Itoa(n) != k {
			return c, fmt.Errorf("service config: ordinal %q is not a number", k)
		}
		o := c.Ordinals[k]
		if o.NodePort != 0 && (o.NodePort < 1 || o.NodePort > 65535) {
			return c, fmt.Errorf("service config: ordinal %s: nodePort %d out of range", k, o.NodePort)
		}
		if o.NodePort != 0 && c.Type == corev1.ServiceTypeClusterIP {
			return c, fmt.Errorf("service config: ordinal %s: nodePort needs type NodePort or LoadBalancer", k)
		}
		if o.LoadBalancerIP != "" && c.Type != corev1.ServiceTypeLoadBalancer {
			return c, fmt.Errorf("service config: ordinal %s: loadBalancerIP needs type LoadBalancer", k)
		}
	}
	return c, nil
}

func (c ServiceConfig) ordinal(o int) OrdinalConfig { return c.Ordinals[strconv.Itoa(o)] }
