// Package e2e tests the suite as a user meets it: the dialtone binary in a
// "pbx" network namespace, simulated phones (phonesim) in a "lan" namespace
// sending real multicast, and dialtonectl as the administrator; and, in
// chaos_test.go, the suite as a cluster of separate processes
// (cmd/internal/cluster) failing during a boot storm. It has no non-test
// code.
package e2e
