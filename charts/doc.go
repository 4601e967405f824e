// Package charts holds no code: it is the home of the tests of the zktap
// Helm chart (charts/zktap), its worked example (charts/examples/zookeeper)
// and the Grafana dashboards (charts/dashboards).
//
// # Running the tests
//
// The tests run the real helm binary (helm lint, helm template) and parse
// what it renders. They fail, never skip, when helm is missing: install it
// with charts/install-helm.sh.
//
//	charts/install-helm.sh && go test ./charts/
package charts
