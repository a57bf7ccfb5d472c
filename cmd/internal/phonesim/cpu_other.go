//go:build !unix

package phonesim

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
