//go:build tools

// Package tools pins the Kubernetes commands that hack/cluster builds. The
// kubernetes module cannot be `go install`ed (its go.mod has replace
// directives), so this wrapper module requires it and replaces every staging
// module with the published version of the same release.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
