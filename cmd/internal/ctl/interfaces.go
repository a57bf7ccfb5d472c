package ctl

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
)

func (c *cli) interfacesCommand() *subcmd.Command {
	return &subcmd.Command{
		Name:  "interfaces",
		Short: "Manage SIP interfaces: the PBX endpoints phones register to.",
		Subs:  []*subcmd.Command{c.interfacesList(), c.interfacesAdd(), c.interfacesDelete()},
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
