package ctl

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func (c *cli) interfacesCommand() *subcmd.Command {
	return &subcmd.Command{
		Name:  "interfaces",
		Short: "Manage SIP interfaces: the PBX endpoints phones register to.",
		Subs:  []*subcmd.Command{c.interfacesList(), c.interfacesAdd(), c.interfacesUpdate(), c.interfacesDelete()},
	}
}

func (c *cli) interfacesList() *subcmd.Command {
	return &subcmd.Command{
		Name: "list", NArgs: 0,
		Short: "List the SIP interfaces of --tenant.",
		Run: func(ctx context.Context, _ []string) error {
			var list []*inventoryv1.SipInterface
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				req := &inventoryv1.ListSipInterfacesRequest{Parent: c.tenantName(), PageSize: 1000}
				for {
					resp, err := cl.Inventory.ListSipInterfaces(ctx, req)
					if err != nil {
						return err
					}
					list = append(list, resp.GetSipInterfaces()...)
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
				return printJSONList(c.env.Stdout, list)
			}
			port := func(p int32) string {
				if p == 0 {
					return "-"
				}
				return strconv.Itoa(int(p))
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "NAME\tHOST\tUDP\tTCP\tTLS\tOUTBOUND PROXY\tEXPIRY")
			for _, s := range list {
				exp := "3600s"
				if d := s.GetRegistrationExpiry(); d != nil && d.AsDuration() > 0 {
					exp = d.AsDuration().String()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lastSegment(s.GetName()), s.GetHost(), port(s.GetUdpPort()),
					port(s.GetTcpPort()), port(s.GetTlsPort()), dash(s.GetOutboundProxy()), exp)
			}
			return tw.Flush()
		},
	}
}

func (c *cli) interfacesAdd() *subcmd.Command {
	var host, proxy, display string
	var udp, tcp, tlsPort int
	var expiry time.Duration
	return &subcmd.Command{
		Name: "add", Args: "NAME", NArgs: 1,
		Short: "Create a SIP interface in --tenant.",
		Long:  "NAME is the interface id: 1-63 characters of [a-z0-9-], starting with a letter.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&host, "host", "", "PBX host name or IP address (required)")
			fs.IntVar(&udp, "udp-port", 5060, "UDP port (0: no UDP)")
			fs.IntVar(&tcp, "tcp-port", 0, "TCP port (0: no TCP)")
			fs.IntVar(&tlsPort, "tls-port", 0, "TLS port (0: no TLS)")
			fs.StringVar(&proxy, "outbound-proxy", "", "outbound proxy host or host:port")
			fs.StringVar(&display, "display-name", "", "display name")
			fs.DurationVar(&expiry, "expiry", 0, "registration expiry phones ask for (default 1h)")
		},
		Run: func(ctx context.Context, args []string) error {
			if host == "" {
				return subcmd.Usagef("--host is required")
			}
			for _, p := range []struct {
				name string
				v    int
			}{{"--udp-port", udp}, {"--tcp-port", tcp}, {"--tls-port", tlsPort}} {
				if p.v < 0 || p.v > 65535 {
					return subcmd.Usagef("%s %d out of range", p.name, p.v)
				}
			}
			si := &inventoryv1.SipInterface{DisplayName: display, Host: host, UdpPort: int32(udp), TcpPort: int32(tcp),
				TlsPort: int32(tlsPort), OutboundProxy: proxy}
			if expiry > 0 {
				si.RegistrationExpiry = durationpb.New(expiry)
			}
			var out *inventoryv1.SipInterface
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.CreateSipInterface(ctx, &inventoryv1.CreateSipInterfaceRequest{
					Parent: c.tenantName(), SipInterfaceId: args[0], SipInterface: si,
				})
				out = resp.GetSipInterface()
				return err
			})
			if err != nil {
				return fmt.Errorf("add interface %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "added SIP interface %s (%s) in tenant %s\n", lastSegment(out.GetName()), out.GetHost(), c.g.Tenant)
			return err
		},
	}
}

func (c *cli) interfacesUpdate() *subcmd.Command {
	var host, proxy, display string
	var udp, tcp, tlsPort int
	var expiry time.Duration
	return &subcmd.Command{
		Name: "update", Args: "NAME", NArgs: 1,
		Short: "Change a SIP interface (host, ports, proxy, expiry); the rest stays.",
		Long: `Only the flags given change (UpdateSipInterface with an update mask). Every phone
that registers through the interface gets the new configuration: a check-sync is
sent to those pnp-listener saw. A port 0 removes that transport (refused while a
phone uses it).
Example: dialtonectl interfaces update pbx --host pbx-new.example.com`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&host, "host", "", "PBX host name or IP address")
			fs.IntVar(&udp, "udp-port", 0, "UDP port (0: no UDP)")
			fs.IntVar(&tcp, "tcp-port", 0, "TCP port (0: no TCP)")
			fs.IntVar(&tlsPort, "tls-port", 0, "TLS port (0: no TLS)")
			fs.StringVar(&proxy, "outbound-proxy", "", "outbound proxy host or host:port (\"\": none)")
			fs.StringVar(&display, "display-name", "", "display name")
			fs.DurationVar(&expiry, "expiry", 0, "registration expiry phones ask for (0: the default, 1h)")
		},
		Run: func(ctx context.Context, args []string) error {
			for _, p := range []struct {
				name string
				v    int
			}{{"--udp-port", udp}, {"--tcp-port", tcp}, {"--tls-port", tlsPort}} {
				if p.v < 0 || p.v > 65535 {
					return subcmd.Usagef("%s %d out of range", p.name, p.v)
				}
			}
			if expiry < 0 {
				return subcmd.Usagef("--expiry must not be negative")
			}
			if c.set["host"] && host == "" {
				return subcmd.Usagef("--host must not be empty")
			}
			si := &inventoryv1.SipInterface{Name: interfaceName(c.g.Tenant, args[0]), DisplayName: display, Host: host,
				UdpPort: int32(udp), TcpPort: int32(tcp), TlsPort: int32(tlsPort), OutboundProxy: proxy}
			if expiry > 0 {
				si.RegistrationExpiry = durationpb.New(expiry)
			}
			var paths, words []string
			for _, f := range []struct{ flag, field string }{{"host", "host"}, {"udp-port", "udp_port"}, {"tcp-port", "tcp_port"},
				{"tls-port", "tls_port"}, {"outbound-proxy", "outbound_proxy"}, {"display-name", "display_name"}, {"expiry", "registration_expiry"}} {
				if c.set[f.flag] {
					paths, words = append(paths, f.field), append(words, f.flag)
				}
			}
			if len(paths) == 0 {
				return subcmd.Usagef("nothing to change: give --host, --udp-port, --tcp-port, --tls-port, --outbound-proxy, --display-name or --expiry")
			}
			var out *inventoryv1.SipInterface
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.UpdateSipInterface(ctx, &inventoryv1.UpdateSipInterfaceRequest{
					SipInterface: si, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
				out = resp.GetSipInterface()
				return err
			})
			if err != nil {
				return fmt.Errorf("update interface %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "updated SIP interface %s (%s) in tenant %s: changed %s\n", lastSegment(out.GetName()),
				out.GetHost(), lastSegment(tenantOf(out.GetName())), strings.Join(words, ", "))
			return err
		},
	}
}

func (c *cli) interfacesDelete() *subcmd.Command {
	return &subcmd.Command{
		Name: "delete", Args: "NAME", NArgs: 1,
		Short: "Delete a SIP interface (refused while phones use it).",
		Run: func(ctx context.Context, args []string) error {
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				_, err := cl.Inventory.DeleteSipInterface(ctx, &inventoryv1.DeleteSipInterfaceRequest{Name: interfaceName(c.g.Tenant, args[0])})
				return err
			})
			if err != nil {
				return fmt.Errorf("delete interface %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				_, err = fmt.Fprintln(c.env.Stdout, "{}")
				return err
			}
			_, err = fmt.Fprintf(c.env.Stdout, "deleted SIP interface %s\n", args[0])
			return err
		},
	}
}
