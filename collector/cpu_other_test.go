//go:build !unix

package collector

import "time"

// processCPU is not measured here.
func processCPU() time.Duration { return 0 }
