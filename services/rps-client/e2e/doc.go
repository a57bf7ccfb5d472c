// Package e2e holds rps-client's end-to-end test: the real inventory
// service and two rps-client replicas on an embedded JetStream and a real
// redis-server, against the vendor fakes. It is a package of its own so
// that the other packages' tests do not depend on inventory's build.
package e2e
