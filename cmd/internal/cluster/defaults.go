package cluster

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/platform/auth"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// Dial connects to the cluster's inventory front with the admin token.
func (l Layout) Dial() (*grpc.ClientConn, error) {
	tok, err := os.ReadFile(l.AdminTokenFile())
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(l.InventoryAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithPerRPCCredentials(auth.BearerToken(strings.TrimSpace(string(tok)), false)))
}

// ensureDefaults creates the tenant "default" and its SIP interface
// "default" (pointing at pbxHost), as the one-process dialtone does on its
// first run, so that the README's tour works against the cluster too.
func ensureDefaults(ctx context.Context, l Layout, pbxHost string) error {
	conn, err := l.Dial()
	if err != nil {
		return err
	}
	defer conn.Close()
	inv := inventoryv1.NewInventoryServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = inv.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{TenantId: "default",
		Tenant: &inventoryv1.Tenant{DisplayName: "Default", NtpServer: "pool.ntp.org"}})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create tenant: %w", err)
	}
	_, err = inv.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{Parent: "tenants/default", SipInterfaceId: "default",
		SipInterface: &inventoryv1.SipInterface{DisplayName: "PBX", Host: pbxHost, UdpPort: 5060, TcpPort: 5060, TlsPort: 5061}})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return fmt.Errorf("create SIP interface: %w", err)
	}
	return nil
}
