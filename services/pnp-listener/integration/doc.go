// Package integration holds pnp-listener's end-to-end tests: a LAN of
// network namespaces (platform/testenv/lantest) with the listener in a
// "pbx" namespace, phones sending real multicast SUBSCRIBEs from their own
// namespaces, a real JetStream server (platform/testenv/natstest) and the
// real inventory service over gRPC. They need root and iproute2; without
// them they skip locally and fail when CI is set.
//
// They live in their own package so that the listener's unit tests do not
// depend on the inventory module.
package integration
