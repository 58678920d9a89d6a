//go:build tools

// Package tools pins kube-router, the test node's NetworkPolicy engine. The
// node runs only its firewall (--run-firewall, no router, no service proxy):
// it turns decco's NetworkPolicies into iptables and ipset rules.
package tools

import _ "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router"
