package suite

import (
	"context"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

// Names of what the first run creates.
const (
	DefaultTenant       = "tenants/default"
	DefaultSipInterface = DefaultTenant + "/sipInterfaces/default"
)

// siteState is what the store holds at start, as the banner reports it.
type siteState struct {
	// pbxHost is the default SIP interface's host, read back from the store.
	pbxHost string
	// previousHost is the host before --pbx-host changed it ("" when
	// nothing changed).
	previousHost string
	// hasExtension: some tenant has an extension (the banner's "Next" hint
	// is for a site without one).
	hasExtension bool
}

// createDefaults creates the tenant "default" and its SIP interface "default"
// on first run. Later runs leave them as the administrator changed them,
// except that a --pbx-host given explicitly (flag or DIALTONE_PBX_HOST)
// becomes the default interface's host: the administrator asked for it, and
// ignoring it while the banner showed it was the trap. The change goes
// through UpdateSipInterface, so every phone on the interface is
// re-rendered and told to re-sync, as with `interfaces update`.
func createDefaults(ctx context.Context, inv inventoryv1.InventoryServiceClient, pbxHost string, explicit bool, logger *slog.Logger) (siteState, error) {
	var st siteState
	if _, err := inv.GetTenant(ctx, &inventoryv1.GetTenantRequest{Name: DefaultTenant}); status.Code(err) == codes.NotFound {
		_, err = inv.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{
			TenantId: "default",
			Tenant:   &inventoryv1.Tenant{DisplayName: "Default", NtpServer: "pool.ntp.org"},
		})
		if err != nil && status.Code(err) != codes.AlreadyExists {
			return st, fmt.Errorf("create tenant: %w", err)
		}
		logger.Info("created the default tenant", "tenant", DefaultTenant)
	} else if err != nil {
		return st, fmt.Errorf("get tenant: %w", err)
	}
	si, err := inv.GetSipInterface(ctx, &inventoryv1.GetSipInterfaceRequest{Name: DefaultSipInterface})
	switch {
	case status.Code(err) == codes.NotFound:
		resp, err := inv.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{
			Parent:         DefaultTenant,
			SipInterfaceId: "default",
			SipInterface: &inventoryv1.SipInterface{
				DisplayName: "PBX", Host: pbxHost, UdpPort: 5060, TcpPort: 5060, TlsPort: 5061,
			},
		})
		if status.Code(err) == codes.AlreadyExists {
			return createDefaults(ctx, inv, pbxHost, explicit, logger) // created concurrently: read it back
		}
		if status.Code(err) == codes.InvalidArgument {
			return st, &startError{err: err, msg: fmt.Sprintf("--pbx-host %q: %s", pbxHost, status.Convert(err).Message())}
		}
		if err != nil {
			return st, fmt.Errorf("create SIP interface: %w", err)
		}
		st.pbxHost = resp.GetSipInterface().GetHost()
		logger.Info("created the default SIP interface", "interface", DefaultSipInterface, "host", st.pbxHost)
	case err != nil:
		return st, fmt.Errorf("get SIP interface: %w", err)
	case explicit && si.GetSipInterface().GetHost() != pbxHost:
		old := si.GetSipInterface().GetHost()
		resp, err := inv.UpdateSipInterface(ctx, &inventoryv1.UpdateSipInterfaceRequest{
			SipInterface: &inventoryv1.SipInterface{Name: DefaultSipInterface, Host: pbxHost, Etag: si.GetSipInterface().GetEtag()},
			UpdateMask:   &fieldmaskpb.FieldMask{Paths: []string{"host"}},
		})
		if status.Code(err) == codes.InvalidArgument {
			return st, &startError{err: err, msg: fmt.Sprintf("--pbx-host %q: %s", pbxHost, status.Convert(err).Message())}
		}
		if err != nil {
			return st, fmt.Errorf("--pbx-host: updating the default SIP interface: %w", err)
		}
		st.pbxHost, st.previousHost = resp.GetSipInterface().GetHost(), old
		logger.Info("--pbx-host changed the default SIP interface; its phones are re-provisioned",
			"interface", DefaultSipInterface, "host", st.pbxHost, "previous_host", old)
	default:
		st.pbxHost = si.GetSipInterface().GetHost()
		if !explicit && st.pbxHost != pbxHost {
			logger.Debug("the default SIP interface keeps its host; --pbx-host changes it", "host", st.pbxHost)
		}
	}
	exts, err := inv.ListExtensions(ctx, &inventoryv1.ListExtensionsRequest{Parent: "tenants/-", PageSize: 1})
	if err != nil {
		return st, fmt.Errorf("list extensions: %w", err)
	}
	st.hasExtension = len(exts.GetExtensions()) > 0
	return st, nil
}
