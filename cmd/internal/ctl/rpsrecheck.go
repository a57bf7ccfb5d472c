package ctl

import (
	"context"
	"flag"
	"fmt"

	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
)

// rpsRecheckCommand asks each vendor, live, whether the phones meant for
// its redirect service point at their provisioning URL — after a restore,
// instead of pushing every registration again.
func (c *cli) rpsRecheckCommand() *subcmd.Command {
	var fix bool
	return &subcmd.Command{
		Name: "recheck", NArgs: 0,
		Short: "Check, live at each vendor, the registrations of phones with RPS on (after a restore); --fix re-registers only the ones that are wrong.",
		Long: `For every phone with RPS on (its settings, or an RPS status inventory recorded), asks
rps-client's CheckDevice whether the vendor redirects the MAC to the phone's current
provisioning URL. Results: ok, not-disclosed (registered to our account, the vendor
does not show the URL), missing, other-url, other-account, check-failed. With --fix,
missing and other-url phones are registered again (RegisterDevice); nothing else is
sent. The URL is never printed. Exit status 1 when a phone is left wrong.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&fix, "fix", false, "re-register phones whose registration is missing or points elsewhere")
		},
		Run: func(ctx context.Context, _ []string) error {
			return c.callLong(ctx, func(ctx context.Context, cl *Clients) error {
				return c.rpsRecheck(ctx, cl, fix)
			})
		},
	}
}

func (c *cli) rpsRecheck(ctx context.Context, cl *Clients, fix bool) error {
	var phones []*inventoryv1.Phone
	req := &inventoryv1.ListPhonesRequest{PageSize: 500}
	for {
		resp, err := cl.Inventory.ListPhones(ctx, req)
		if err != nil {
			return err
		}
		for _, p := range resp.GetPhones() {
			if p.GetSettings().GetSaveToRps() || p.GetRpsStatus() != nil {
				phones = append(phones, p)
			}
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	tw := table(c.env.Stdout)
	fmt.Fprintln(tw, "MAC\tVENDOR\tRESULT\tDETAIL")
	wrong := 0
	for _, p := range phones {
		result, detail := c.recheckOne(ctx, cl, p, fix)
		switch result {
		case "ok", "not-disclosed", "re-registered":
		default:
			wrong++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", displayMAC(p.GetMac()), p.GetVendor(), result, dash(detail))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if wrong > 0 {
		return fmt.Errorf("%d of %d phones with RPS need attention", wrong, len(phones))
	}
	return nil
}

func (c *cli) recheckOne(ctx context.Context, cl *Clients, p *inventoryv1.Phone, fix bool) (result, detail string) {
	u, err := cl.Inventory.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: p.GetName()})
	if err != nil {
		return "check-failed", status.Convert(err).Message()
	}
	chk, err := cl.Rps.CheckDevice(ctx, &rpsv1.CheckDeviceRequest{Mac: p.GetMac(), Vendor: p.GetVendor(), Tenant: p.GetTenant()})
	if err != nil {
		return "check-failed", status.Convert(err).Message()
	}
	switch {
	case chk.GetRegistered() && !chk.GetOwnedByUs():
		return "other-account", chk.GetOwner() // never taken over from here
	case chk.GetRegistered() && chk.GetUrl() == u.GetUrl():
		return "ok", ""
	case chk.GetRegistered() && chk.GetUrl() == "":
		return "not-disclosed", ""
	case chk.GetRegistered():
		result = "other-url"
	default:
		result = "missing"
	}
	if !fix {
		return result, ""
	}
	r, err := cl.Rps.RegisterDevice(ctx, &rpsv1.RegisterDeviceRequest{Mac: p.GetMac(), Vendor: p.GetVendor(), Tenant: p.GetTenant(), Url: u.GetUrl()})
	if err != nil {
		return result, "register failed: " + status.Convert(err).Message()
	}
	if st := r.GetStatus().GetState(); st == rpsv1.RegistrationState_REGISTRATION_STATE_FAILED {
		return result, "register failed: " + r.GetStatus().GetLastError()
	}
	return "re-registered", ""
}
