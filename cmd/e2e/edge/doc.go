// Package edge holds provision-http's tests that need the real inventory:
// its reaction to the edge's ConfigFetched (phone states), the cache rule
// against its events, the secret-release rule under device-certificate
// policies, approvals and the pnp-listener's link assertion, and the
// idle-connection flood with a phone booting over SIP PnP through the real
// pnp-listener. They run the edge, inventory and config-renderer in process
// (cmd/internal/upstreamtest) on an embedded JetStream. They live in
// cmd/e2e, with the other cross-service tests, so that provision-http does
// not depend on the inventory module; its own tests use
// platform/inventorytest.
package edge
