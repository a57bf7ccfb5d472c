package suite

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// Names of what the first run creates.
const (
	DefaultTenant       = "tenants/default"
	DefaultSipInterface = DefaultTenant + "/sipInterfaces/default"
)

func createDefaults(ctx context.Context, inv inventoryv1.InventoryServiceClient, pbxHost string, logger *slog.Logger) error {
	if _, err := inv.GetTenant(ctx, &inventoryv1.GetTenantRequest{Name: DefaultTenant}); status.Code(err) == codes.NotFound {
		_, err = inv.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{
			TenantId: "default",
			Tenant:   &inventoryv1.Tenant{DisplayName: "Default", NtpServer: "pool.ntp.org"},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create tenant: %w", err)
		}
		logger.Info("created the default tenant", "tenant", DefaultTenant)
	} else if err != nil {
		return fmt.Errorf("get tenant: %w", err)
	}
	if _, err := inv.GetSipInterface(ctx, &inventoryv1.GetSipInterfaceRequest{Name: DefaultSipInterface}); status.Code(err) == codes.NotFound {
		_, err = inv.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{
			Parent:         DefaultTenant,
			SipInterfaceId: "default",
			SipInterface: &inventoryv1.SipInterface{
				DisplayName: "PBX", Host: pbxHost, UdpPort: 5060, TcpPort: 5060, TlsPort: 5061,
			},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return fmt.Errorf("create SIP interface: %w", err)
		}
		logger.Info("created the default SIP interface", "interface", DefaultSipInterface, "host", pbxHost)
	} else if err != nil {
		return fmt.Errorf("get SIP interface: %w", err)
	}
	return nil
}
