// Package pnplan holds pnp-listener's end-to-end tests with the real
// inventory: a LAN of network namespaces (platform/testenv/lantest) with the
// listener in a "pbx" namespace, phones (services/pnp-listener/phonetest)
// sending real multicast SUBSCRIBEs from their own namespaces, a real
// JetStream server (platform/testenv/natstest) and inventory over gRPC.
// They need root and iproute2; without them they skip locally and fail when
// CI is set. They live in cmd/e2e, with the other cross-service tests, so
// that pnp-listener does not depend on the inventory module; its own tests
// use platform/inventorytest.
package pnplan
