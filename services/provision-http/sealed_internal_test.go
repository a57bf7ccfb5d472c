package provisionhttp

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestIsSealed: inventory's answer for a store whose secrets it cannot
// open (services/inventory TestSecretsAtRest checks the same words) is told
// apart from other outages, wrapped or not.
func TestIsSealed(t *testing.T) {
	sealed := status.Error(codes.Unavailable, "provisioning secrets are sealed at rest and inventory has no --kek-file to open them")
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{sealed, true},
		{fmt.Errorf("lookup: %w", sealed), true},
		{status.Error(codes.Unavailable, "storage unavailable: connection refused"), false},
		{status.Error(codes.Internal, "secrets are sealed at rest"), false},
		{errors.New("secrets are sealed at rest"), false},
	} {
		if got := isSealed(tc.err); got != tc.want {
			t.Errorf("isSealed(%v) = %v", tc.err, got)
		}
	}
}
