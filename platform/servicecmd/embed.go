package servicecmd

import (
	// Every service image is built from an empty base (make images): no
	// /etc/ssl/certs and no /usr/share/zoneinfo. The fallback roots are
	// used only when the system has none, and time/tzdata only when the
	// system's zone files are missing, so on a full host nothing changes.
	_ "time/tzdata"

	_ "golang.org/x/crypto/x509roots/fallback"
)
