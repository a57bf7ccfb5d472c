package server_test

import (
	"io"
	"testing"

	"google.golang.org/grpc/codes"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// TestKeysAndBackupsNeedSiteAdmin: a backup holds every tenant, so an
// admin bound to one tenant may neither export, import nor rotate keys.
func TestKeysAndBackupsNeedSiteAdmin(t *testing.T) {
	e := newEnv(t)
	e.seed("acme")
	c := e.c("acme-admin")
	_, err := c.RotateKeys(ctx(), &inventoryv1.RotateKeysRequest{})
	wantCode(t, err, codes.PermissionDenied, "")
	s, err := c.ExportBackup(ctx(), &inventoryv1.ExportBackupRequest{})
	if err == nil {
		_, err = s.Recv()
	}
	if err == io.EOF {
		t.Fatal("tenant admin exported a backup")
	}
	wantCode(t, err, codes.PermissionDenied, "")
	is, err := c.ImportBackup(ctx())
	if err == nil {
		_, err = is.CloseAndRecv()
	}
	wantCode(t, err, codes.PermissionDenied, "")
	// Without --kek-file there is nothing to rotate.
	_, err = e.admin().RotateKeys(ctx(), &inventoryv1.RotateKeysRequest{})
	wantCode(t, err, codes.FailedPrecondition, "")
}
