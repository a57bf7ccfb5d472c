// Package streams names the NATS JetStream streams and subjects that carry
// Dialtone's events (dialtone.events.v1). Publishers and consumers use these
// constants, so a subject is spelled in exactly one place.
package streams

import "strings"

// Stream names.
const (
	Discovery    = "DIALTONE_DISCOVERY"
	Phones       = "DIALTONE_PHONES"
	Provisioning = "DIALTONE_PROVISIONING"
	RPS          = "DIALTONE_RPS"
)

// Subject prefixes; the canonical MAC is appended (see the Subject functions).
const (
	PhoneDiscoveredPrefix      = "dialtone.discovery.phone."
	PhoneChangedPrefix         = "dialtone.phones.changed."
	ReprovisionRequestedPrefix = "dialtone.phones.reprovision."
	SecretReleaseRefusedPrefix = "dialtone.phones.release-refused."
	ConfigFetchedPrefix        = "dialtone.provisioning.fetched."
	RpsResultPrefix            = "dialtone.rps.result."
)

// Wildcards matching every subject of one event type.
const (
	PhoneDiscoveredAll      = PhoneDiscoveredPrefix + "*"
	PhoneChangedAll         = PhoneChangedPrefix + "*"
	ReprovisionRequestedAll = ReprovisionRequestedPrefix + "*"
	SecretReleaseRefusedAll = SecretReleaseRefusedPrefix + "*"
	ConfigFetchedAll        = ConfigFetchedPrefix + "*"
	RpsResultAll            = RpsResultPrefix + "*"
)

// Definition is a stream's name and the subjects it captures.
type Definition struct {
	Name     string
	Subjects []string
}

// All lists every stream of the suite. Whoever publishes ensures them at start.
func All() []Definition {
	return []Definition{
		{Name: Discovery, Subjects: []string{"dialtone.discovery.>"}},
		{Name: Phones, Subjects: []string{"dialtone.phones.>"}},
		{Name: Provisioning, Subjects: []string{"dialtone.provisioning.>"}},
		{Name: RPS, Subjects: []string{"dialtone.rps.>"}},
	}
}

// Subject returns prefix+token, with token reduced to characters that are safe
// in a NATS subject token (a canonical MAC always is).
func Subject(prefix, token string) string {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return -1
	}, token)
	if clean == "" {
		clean = "_"
	}
	return prefix + clean
}
