package ctl

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	rpsv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/rps/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// rpsCommand reads rps-client's records of the phones' registrations at
// their vendors' redirect services.
func (c *cli) rpsCommand() *subcmd.Command {
	var vendor, state string
	status := &subcmd.Command{
		Name: "status", Args: "[MAC]", NArgs: -1,
		Short: "Show vendor redirect-service (RPS) registrations: state, failure, objects made at the vendor.",
		Long: `Without a MAC, lists every registration rps-client knows. With one, shows that phone's
record in full, including the vendor-side objects rps-client created for it (Yealink's and
Htek's legacy XML-RPC APIs keep one server object per provisioning URL and cannot delete
them: all but the last may be removed in the vendor's portal). The registered URL holds the
phone's token and is never printed.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&vendor, "vendor", "", "only this vendor's registrations (list)")
			fs.StringVar(&state, "state", "", "only this state (list): pending, registered, deregistered, retrying, failed")
		},
		Run: func(ctx context.Context, args []string) error {
			if len(args) > 1 {
				return subcmd.Usagef("rps status takes at most one MAC")
			}
			if len(args) == 1 {
				mac, err := macaddr.Parse(args[0])
				if err != nil {
					return subcmd.Usagef("MAC %q: %v", args[0], err)
				}
				return c.rpsShow(ctx, mac)
			}
			v := strings.ToLower(vendor)
			if v != "" && !vocab.IsVendor(v) {
				return subcmd.Usagef("--vendor %q: want one of %s", vendor, strings.Join(vocab.Vendors, ", "))
			}
			var st rpsv1.RegistrationState
			if state != "" {
				n, ok := rpsv1.RegistrationState_value["REGISTRATION_STATE_"+strings.ToUpper(state)]
				if !ok || n == 0 {
					return subcmd.Usagef("--state %q: want pending, registered, deregistered, retrying or failed", state)
				}
				st = rpsv1.RegistrationState(n)
			}
			return c.rpsList(ctx, v, st)
		},
	}
	return &subcmd.Command{Name: "rps", Short: "Vendor redirect-service registrations (rps-client).", Subs: []*subcmd.Command{status}}
}

func (c *cli) rpsList(ctx context.Context, vendor string, state rpsv1.RegistrationState) error {
	var all []*rpsv1.DeviceStatus
	err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
		req := &rpsv1.ListDeviceStatusesRequest{Vendor: vendor, State: state, PageSize: 1000}
		for {
			resp, err := cl.Rps.ListDeviceStatuses(ctx, req)
			if err != nil {
				return err
			}
			all = append(all, resp.GetStatuses()...)
			if resp.GetNextPageToken() == "" {
				return nil
			}
			req.PageToken = resp.GetNextPageToken()
		}
	})
	if err != nil {
		return err
	}
	for i, s := range all {
		all[i] = redactRps(s)
	}
	if c.g.Output == "json" {
		return printJSONList(c.env.Stdout, all)
	}
	tw := table(c.env.Stdout)
	fmt.Fprintln(tw, "MAC\tVENDOR\tTENANT\tSTATE\tREASON\tATTEMPTS\tLAST ATTEMPT\tOBJECTS\tLAST ERROR")
	for _, s := range all {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\n", displayMAC(s.GetMac()), s.GetVendor(),
			dash(lastSegment(s.GetTenant())), rpsStateName(s.GetState()), dash(rpsReasonName(s.GetFailureReason())),
			s.GetAttempts(), tableTS(s.GetLastAttemptTime()), len(s.GetVendorObjects()), dash(s.GetLastError()))
	}
	return tw.Flush()
}

func (c *cli) rpsShow(ctx context.Context, mac string) error {
	var s *rpsv1.DeviceStatus
	err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
		resp, err := cl.Rps.GetDeviceStatus(ctx, &rpsv1.GetDeviceStatusRequest{Name: "devices/" + mac})
		s = resp.GetStatus()
		return err
	})
	if err != nil {
		return err
	}
	s = redactRps(s)
	if c.g.Output == "json" {
		return printJSON(c.env.Stdout, s)
	}
	tw := table(c.env.Stdout)
	fmt.Fprintf(tw, "MAC\t%s\n", displayMAC(s.GetMac()))
	fmt.Fprintf(tw, "VENDOR\t%s\n", s.GetVendor())
	fmt.Fprintf(tw, "TENANT\t%s\n", dash(lastSegment(s.GetTenant())))
	fmt.Fprintf(tw, "STATE\t%s\n", rpsStateName(s.GetState()))
	fmt.Fprintf(tw, "REASON\t%s\n", dash(rpsReasonName(s.GetFailureReason())))
	fmt.Fprintf(tw, "LAST ERROR\t%s\n", dash(s.GetLastError()))
	fmt.Fprintf(tw, "ATTEMPTS\t%d\n", s.GetAttempts())
	fmt.Fprintf(tw, "LAST ATTEMPT\t%s\n", tableTS(s.GetLastAttemptTime()))
	fmt.Fprintf(tw, "NEXT ATTEMPT\t%s\n", tableTS(s.GetNextAttemptTime()))
	objs := s.GetVendorObjects()
	if len(objs) == 0 {
		fmt.Fprintf(tw, "VENDOR OBJECTS\t-\n")
	}
	for i, o := range objs {
		label := "VENDOR OBJECTS"
		if i > 0 {
			label = ""
		}
		use := "(left at the vendor: may be removed in its portal)"
		if i == len(objs)-1 {
			use = "(in use)"
		}
		fmt.Fprintf(tw, "%s\t%s %s\n", label, o, use)
	}
	return tw.Flush()
}

// redactRps drops the registered URL: it embeds the phone's token.
func redactRps(s *rpsv1.DeviceStatus) *rpsv1.DeviceStatus {
	if s.GetRegisteredUrl() == "" {
		return s
	}
	c := proto.Clone(s).(*rpsv1.DeviceStatus)
	c.RegisteredUrl = ""
	return c
}

func rpsStateName(s rpsv1.RegistrationState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "REGISTRATION_STATE_"))
}

func rpsReasonName(r rpsv1.FailureReason) string {
	if r == rpsv1.FailureReason_FAILURE_REASON_UNSPECIFIED {
		return ""
	}
	return strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(r.String(), "FAILURE_REASON_")), "_", " ")
}
