// Package rps holds rps-client's end-to-end test: the real inventory
// service and two rps-client replicas on an embedded JetStream and a real
// redis-server, against the vendor fakes (services/rps-client/fakes). It
// lives in cmd/e2e, with the other cross-service tests, so that rps-client
// does not depend on the inventory module; its own tests use
// platform/inventorytest.
package rps
