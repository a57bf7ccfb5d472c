package ctl

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func (c *cli) tenantsCommand() *subcmd.Command {
	var display, ntp, deviceCert, listeners string
	add := &subcmd.Command{
		Name: "add", Args: "ID", NArgs: 1,
		Short: "Create a tenant (1-63 characters of [a-z0-9-], starting with a letter).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&display, "display-name", "", "display name")
			fs.StringVar(&ntp, "ntp", "", "NTP server for the tenant's phones")
			fs.StringVar(&deviceCert, "device-cert", "", "default device-certificate policy of the tenant's phones: off, prefer or require")
			fs.StringVar(&listeners, "pnp-listeners", "", pnpListenersUsage)
		},
		Run: func(ctx context.Context, args []string) error {
			var t *inventoryv1.Tenant
			tn := &inventoryv1.Tenant{DisplayName: display, NtpServer: ntp, PnpListeners: splitList(listeners)}
			if deviceCert != "" {
				p, err := parseDeviceCert(deviceCert)
				if err != nil {
					return err
				}
				tn.DefaultSettings = &inventoryv1.ProvisioningSettings{DeviceCert: p}
			}
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.CreateTenant(ctx, &inventoryv1.CreateTenantRequest{TenantId: args[0], Tenant: tn})
				t = resp.GetTenant()
				return err
			})
			if err != nil {
				return fmt.Errorf("add tenant %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, t)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "added tenant %s\n", lastSegment(t.GetName()))
			return err
		},
	}
	list := &subcmd.Command{
		Name: "list", NArgs: 0,
		Short: "List tenants.",
		Run: func(ctx context.Context, _ []string) error {
			var ts []*inventoryv1.Tenant
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				req := &inventoryv1.ListTenantsRequest{PageSize: 1000}
				for {
					resp, err := cl.Inventory.ListTenants(ctx, req)
					if err != nil {
						return err
					}
					ts = append(ts, resp.GetTenants()...)
					if resp.GetNextPageToken() == "" {
						return nil
					}
					req.PageToken = resp.GetNextPageToken()
				}
			})
			if err != nil {
				return err
			}
			if c.g.Output == "json" {
				return printJSONList(c.env.Stdout, ts)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "ID\tNAME\tNTP\tPNP LISTENERS")
			for _, t := range ts {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", lastSegment(t.GetName()), dash(t.GetDisplayName()), dash(t.GetNtpServer()),
					dash(strings.Join(t.GetPnpListeners(), ",")))
			}
			return tw.Flush()
		},
	}
	return &subcmd.Command{Name: "tenants", Short: "Manage tenants (--tenant selects one for the other commands).", Subs: []*subcmd.Command{list, add, c.tenantsUpdate(), c.tenantsDeviceCert()}}
}

// pnpListenersUsage is the help of --pnp-listeners (tenants add and update).
const pnpListenersUsage = "comma-separated pnp-listener ids (their --listener) whose LAN is this tenant's: the phones they discover count against this tenant's --discovered-max; an id belongs to one tenant"

// splitList splits a comma-separated flag value; "" is an empty list.
func splitList(v string) []string {
	var out []string
	for f := range strings.SplitSeq(v, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func (c *cli) tenantsUpdate() *subcmd.Command {
	var display, ntp, listeners string
	var se settingsEdit
	return &subcmd.Command{
		Name: "update", Args: "ID", NArgs: 1,
		Short: "Change a tenant's name, NTP server, PnP listeners or default phone settings; the rest stays.",
		Long: `Only the flags given change (UpdateTenant with an update mask). The settings flags
(--language, --codecs, …) change the defaults of the tenant's phones; --clear
resets one. Phones that get a new configuration are sent a check-sync.
--pnp-listeners replaces the tenant's list ("" releases them all).
Example: dialtonectl tenants update default --ntp ntp.example.com --language de
         dialtonectl tenants update acme --pnp-listeners site-berlin,site-paris`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&display, "display-name", "", "display name")
			fs.StringVar(&ntp, "ntp", "", "NTP server for the tenant's phones (\"\": none)")
			fs.StringVar(&listeners, "pnp-listeners", "", pnpListenersUsage+" (replaces the list; \"\": none)")
			se.register(fs)
		},
		Run: func(ctx context.Context, args []string) error {
			id := strings.TrimPrefix(args[0], "tenants/")
			ps, paths, words, err := se.changes(c.set, id, "default_settings.")
			if err != nil {
				return err
			}
			for _, f := range []struct{ flag, field string }{{"display-name", "display_name"}, {"ntp", "ntp_server"}, {"pnp-listeners", "pnp_listeners"}} {
				if c.set[f.flag] {
					paths, words = append(paths, f.field), append(words, f.flag)
				}
			}
			if len(paths) == 0 {
				return subcmd.Usagef("nothing to change: give --display-name, --ntp, --pnp-listeners, a default setting or --clear")
			}
			t := &inventoryv1.Tenant{Name: "tenants/" + id, DisplayName: display, NtpServer: ntp, DefaultSettings: ps, PnpListeners: splitList(listeners)}
			var out *inventoryv1.Tenant
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.UpdateTenant(ctx, &inventoryv1.UpdateTenantRequest{Tenant: t, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
				out = resp.GetTenant()
				return err
			})
			if err != nil {
				return fmt.Errorf("update tenant %s: %w", id, err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "updated tenant %s: changed %s\n", lastSegment(out.GetName()), strings.Join(words, ", "))
			return err
		},
	}
}

// tenantsDeviceCert sets a tenant's default device_cert policy.
func (c *cli) tenantsDeviceCert() *subcmd.Command {
	return &subcmd.Command{
		Name: "device-cert", Args: "ID off|prefer|require", NArgs: 2,
		Short: "Set the tenant's default device-certificate policy (phones without their own).",
		Run: func(ctx context.Context, args []string) error {
			p, err := parseDeviceCert(args[1])
			if err != nil {
				return err
			}
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				_, err := cl.Inventory.UpdateTenant(ctx, &inventoryv1.UpdateTenantRequest{
					Tenant:     &inventoryv1.Tenant{Name: "tenants/" + args[0], DefaultSettings: &inventoryv1.ProvisioningSettings{DeviceCert: p}},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"default_settings.device_cert"}},
				})
				return err
			})
			if err != nil {
				return fmt.Errorf("tenant %s device-cert: %w", args[0], err)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "tenant %s: device-cert %s\n", args[0], deviceCertName(p))
			return err
		},
	}
}
