package ctl

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

func (c *cli) phonesCommand() *subcmd.Command {
	return &subcmd.Command{
		Name:  "phones",
		Short: "List, assign, edit, add, provision and remove phones.",
		Subs: []*subcmd.Command{
			c.phonesList(), c.phonesShow(), c.phonesAssign(), c.phonesSet(), c.phonesAdd(), c.phonesURL(),
			c.phonesUnassign(), c.phonesDelete(), c.phonesReprovision(), c.phonesRotate(), c.phonesImport(),
			c.phonesApprove(), c.phonesDeviceCert(),
		},
	}
}

func parseState(s string) (inventoryv1.PhoneState, error) {
	switch strings.ToLower(s) {
	case "":
		return inventoryv1.PhoneState_PHONE_STATE_UNSPECIFIED, nil
	case "discovered":
		return inventoryv1.PhoneState_PHONE_STATE_DISCOVERED, nil
	case "assigned":
		return inventoryv1.PhoneState_PHONE_STATE_ASSIGNED, nil
	case "fetching":
		return inventoryv1.PhoneState_PHONE_STATE_FETCHING, nil
	case "provisioned":
		return inventoryv1.PhoneState_PHONE_STATE_PROVISIONED, nil
	}
	return 0, subcmd.Usagef("--state %q: want discovered, assigned, fetching or provisioned", s)
}

func (c *cli) phonesList() *subcmd.Command {
	var state, vendor string
	var tenantOnly bool
	return &subcmd.Command{
		Name:  "list",
		Short: "List phones (every tenant's and the unassigned ones).",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&state, "state", "", "only phones in this state: discovered, assigned, fetching or provisioned")
			fs.StringVar(&vendor, "vendor", "", "only this vendor's phones: "+strings.Join(vocab.Vendors, ", "))
			fs.BoolVar(&tenantOnly, "tenant-only", false, "only phones assigned in --tenant")
		},
		Run: func(ctx context.Context, _ []string) error {
			st, err := parseState(state)
			if err != nil {
				return err
			}
			if vendor != "" && !vocab.IsVendor(strings.ToLower(vendor)) {
				return subcmd.Usagef("--vendor %q: want one of %s", vendor, strings.Join(vocab.Vendors, ", "))
			}
			req := &inventoryv1.ListPhonesRequest{PageSize: 1000, State: st, Vendor: strings.ToLower(vendor)}
			if tenantOnly {
				req.Tenant = c.tenantName()
			}
			var phones []*inventoryv1.Phone
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				for {
					resp, err := cl.Inventory.ListPhones(ctx, req)
					if err != nil {
						return err
					}
					for _, p := range resp.GetPhones() {
						phones = append(phones, redact(p))
					}
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
				return printJSONList(c.env.Stdout, phones)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "MAC\tSTATE\tVENDOR\tMODEL\tFAMILY\tMODEL STATUS\tFIRMWARE\tTENANT\tLINES\tLAST SEEN\tADDRESS")
			for _, p := range phones {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", displayMAC(p.GetMac()), stateName(p.GetState()),
					dash(p.GetVendor()), dash(p.GetModel()), dash(p.GetModelFamily()), modelStatusName(p.GetModelStatus()),
					dash(p.GetFirmware()), dash(lastSegment(p.GetTenant())),
					dash(lineList(p)), tableTS(p.GetLastSeenTime()), dash(p.GetLastSeenAddress()))
			}
			return tw.Flush()
		},
	}
}

func (c *cli) getPhone(ctx context.Context, arg string) (*inventoryv1.Phone, error) {
	name, _, err := phoneName(arg)
	if err != nil {
		return nil, err
	}
	var p *inventoryv1.Phone
	err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
		resp, err := cl.Inventory.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: name})
		p = resp.GetPhone()
		return err
	})
	return p, err
}

func (c *cli) phonesShow() *subcmd.Command {
	return &subcmd.Command{
		Name: "show", Args: "MAC", NArgs: 1,
		Short: "Show one phone.",
		Run: func(ctx context.Context, args []string) error {
			p, err := c.getPhone(ctx, args[0])
			if err != nil {
				return err
			}
			return c.printPhone(redact(p))
		},
	}
}

func (c *cli) printPhone(p *inventoryv1.Phone) error {
	if c.g.Output == "json" {
		return printJSON(c.env.Stdout, p)
	}
	tw := table(c.env.Stdout)
	s := p.GetSettings()
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("MAC", displayMAC(p.GetMac()))
	row("State", stateName(p.GetState()))
	row("Origin", originName(p.GetOrigin()))
	row("Vendor", dash(p.GetVendor()))
	row("Model", dash(p.GetModel()))
	row("Family", dash(p.GetModelFamily()))
	row("Model status", modelStatusName(p.GetModelStatus()))
	if w := p.GetModelWarning(); w != "" {
		row("Model warning", w)
	}
	row("Firmware", dash(p.GetFirmware()))
	row("Tenant", dash(lastSegment(p.GetTenant())))
	for _, l := range p.GetLines() {
		row(fmt.Sprintf("Line %d", l.GetIndex()), lastSegment(l.GetExtension()))
	}
	row("Web password", map[bool]string{true: "set", false: "not set"}[s.GetHasWebPassword()])
	row("Language", dash(s.GetLanguage()))
	row("Time zone", dash(s.GetTimeZone()))
	row("SIP interface", dash(lastSegment(s.GetSipInterface())))
	row("Transport", dash(vocab.TransportName(s.GetTransport())))
	row("Codecs", dash(codecNames(s)))
	row("Save to RPS", yesNo(s.GetSaveToRps()))
	row("HTTPS", yesNo(s.GetHttps()))
	if rs := p.GetRpsStatus(); rs != nil {
		st := strings.ToLower(strings.TrimPrefix(rs.GetState().String(), "REGISTRATION_STATE_"))
		if rs.GetMessage() != "" {
			st += ": " + rs.GetMessage()
		}
		row("RPS", st)
	}
	row("Last seen", fmt.Sprintf("%s from %s", tableTS(p.GetLastSeenTime()), dash(p.GetLastSeenAddress())))
	row("User-Agent", dash(p.GetUserAgent()))
	if f := p.GetLastFetch(); f != nil {
		row("Last fetch", fmt.Sprintf("%s %s from %s", tableTS(f.GetTime()), f.GetFileName(), dash(f.GetSourceAddress())))
		proved := dash(proofName(f.GetProof()))
		if f.GetCertificateSha256() != "" {
			proved += " " + shortSHA(f.GetCertificateSha256())
		}
		row("Proved by", proved)
	}
	row("Device cert", dash(deviceCertName(p.GetEffectiveDeviceCert()))+settingSource(s.GetDeviceCert()))
	if lp := p.GetLastLinkProof(); lp != nil {
		v := "verified"
		if !lp.GetVerified() {
			v = "NOT verified"
		}
		row("Link proof", fmt.Sprintf("%s %s from %s via %s at %s", displayMAC(lp.GetLinkAddress()), v,
			dash(lp.GetSourceAddress()), dash(lp.GetListener()), tableTS(lp.GetTime())))
	}
	if r := p.GetSecretRelease(); r != nil {
		row("Secrets released to", releaseText(r))
	}
	if r := p.GetPendingRelease(); r != nil {
		row("Refused (pending)", releaseText(r)+" — "+r.GetReason()+"; 'phones approve' to accept")
	}
	row("Provisioned", tableTS(p.GetProvisionedTime()))
	row("Revision", fmt.Sprint(p.GetRevision()))
	if err := tw.Flush(); err != nil {
		return err
	}
	return c.printRecentFetches(p.GetRecentFetches())
}

// recentFetchLines is how many of Phone.recent_fetches 'phones show' prints:
// a boot's worth; the console shows all of them.
const recentFetchLines = 5

// printRecentFetches prints the newest recorded fetches under the phone.
func (c *cli) printRecentFetches(fs []*inventoryv1.ConfigFetch) error {
	if len(fs) == 0 {
		return nil
	}
	w := c.env.Stdout
	fmt.Fprintf(w, "\nRecent fetches (newest first, %d of %d):\n", min(len(fs), recentFetchLines), len(fs))
	tw := table(w)
	fmt.Fprintln(tw, "  TIME\tFILE\tSOURCE\tPROVED BY\tREVISION\tETAG")
	for _, f := range fs[:min(len(fs), recentFetchLines)] {
		rev := "-"
		if f.GetRevision() != 0 {
			rev = fmt.Sprint(f.GetRevision())
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", tableTS(f.GetTime()), dash(f.GetFileName()), dash(f.GetSourceAddress()),
			dash(proofName(f.GetProof())), rev, dash(f.GetEtag()))
	}
	return tw.Flush()
}

// lineFlags are the extra lines of a multi-line phone.
type lineFlags struct {
	line2, line3, line4, lines string
}

func (l *lineFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&l.line2, "line2", "", "extension NUMBER for line 2")
	fs.StringVar(&l.line3, "line3", "", "extension NUMBER for line 3")
	fs.StringVar(&l.line4, "line4", "", "extension NUMBER for line 4")
	fs.StringVar(&l.lines, "lines", "", "extension NUMBERs for lines 2..n, comma-separated (instead of --line2…)")
}

func (l *lineFlags) numbers() ([]string, error) {
	var out []string
	for _, n := range []string{l.line2, l.line3, l.line4} {
		if n != "" {
			out = append(out, n)
		}
	}
	if l.lines != "" {
		if len(out) > 0 {
			return nil, subcmd.Usagef("give --lines or --line2/--line3/--line4, not both")
		}
		for n := range strings.SplitSeq(l.lines, ",") {
			if n = strings.TrimSpace(n); n != "" {
				out = append(out, n)
			}
		}
	}
	if l.line3 != "" && l.line2 == "" || l.line4 != "" && l.line3 == "" {
		return nil, subcmd.Usagef("lines must be consecutive: --line3 needs --line2, --line4 needs --line3")
	}
	return out, nil
}

// newExtFlags describe an extension to create with the phone.
type newExtFlags struct {
	create                   bool
	name, password, authUser string
}

func (n *newExtFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&n.create, "create-extension", false, "create the extension in the same step")
	fs.StringVar(&n.name, "name", "", "with --create-extension: display name")
	fs.StringVar(&n.password, "password", "", "with --create-extension: SIP password (never printed)")
	fs.StringVar(&n.authUser, "auth-user", "", "with --create-extension: authentication user (default: the number)")
}

func (n *newExtFlags) extension(number string) (*inventoryv1.Extension, error) {
	if !n.create {
		if n.name != "" || n.password != "" || n.authUser != "" {
			return nil, subcmd.Usagef("--name, --password and --auth-user need --create-extension")
		}
		return nil, nil
	}
	if n.password == "" {
		return nil, subcmd.Usagef("--create-extension needs --password")
	}
	return &inventoryv1.Extension{Number: number, DisplayName: n.name, AuthUser: n.authUser, SipPassword: n.password}, nil
}

func (c *cli) phonesAssign() *subcmd.Command {
	var ext string
	var sf settingsFlags
	var lf lineFlags
	var nf newExtFlags
	return &subcmd.Command{
		Name: "assign", Args: "MAC", NArgs: 1,
		Short: "Assign a discovered phone to an extension, with its provisioning settings.",
		Long: `The phone gets a provisioning URL; if pnp-listener saw it, it is sent the URL at
once. Print the URL with 'phones url'.
A phone without settings takes the tenant's defaults for the settings not given.
Re-assigning a phone that has settings (e.g. to change its lines) keeps every
setting not given; to change or clear one setting, use 'phones set'.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&ext, "extension", "", "extension NUMBER for line 1 (required)")
			nf.register(fs)
			sf.register(fs)
			lf.register(fs)
		},
		Run: func(ctx context.Context, args []string) error {
			name, mac, err := phoneName(args[0])
			if err != nil {
				return err
			}
			if ext == "" {
				return subcmd.Usagef("--extension is required")
			}
			settings, err := sf.build(c.g.Tenant)
			if err != nil {
				return err
			}
			more, err := lf.numbers()
			if err != nil {
				return err
			}
			newExt, err := nf.extension(ext)
			if err != nil {
				return err
			}
			req := &inventoryv1.AssignPhoneRequest{Name: name, Settings: settings, Tenant: c.tenantName()}
			if newExt != nil {
				req.CreateExtension = newExt
			} else {
				req.Extension = extensionName(c.g.Tenant, ext)
			}
			for _, n := range more {
				req.AdditionalExtensions = append(req.AdditionalExtensions, extensionName(c.g.Tenant, n))
			}
			var resp *inventoryv1.AssignPhoneResponse
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err = cl.Inventory.AssignPhone(ctx, req)
				return err
			})
			if err != nil {
				return fmt.Errorf("assign %s: %w", macaddr.Colon(mac), err)
			}
			return c.printChanged("assigned", redact(resp.GetPhone()))
		},
	}
}

func (c *cli) phonesSet() *subcmd.Command {
	var se settingsEdit
	return &subcmd.Command{
		Name: "set", Args: "MAC", NArgs: 1,
		Short: "Change some provisioning settings of an assigned phone; the others stay.",
		Long: `Only the settings given change (UpdatePhone with an update mask); --clear resets
one to the tenant default. The phone gets the new configuration: if pnp-listener
saw it, it is sent a check-sync at once.
Example: dialtonectl phones set 00:15:65:aa:bb:cc --transport tls --clear codecs`,
		Flags: se.register,
		Run: func(ctx context.Context, args []string) error {
			name, mac, err := phoneName(args[0])
			if err != nil {
				return err
			}
			var p *inventoryv1.Phone
			var words []string
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				tenant := c.g.Tenant
				if c.set["interface"] && !strings.Contains(se.iface, "/") && !c.set["tenant"] {
					// A bare interface id is one of the phone's tenant.
					cur, err := cl.Inventory.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: name})
					if err != nil {
						return err
					}
					if t := lastSegment(cur.GetPhone().GetTenant()); t != "" {
						tenant = t
					}
				}
				ps, paths, w, err := se.changes(c.set, tenant, "settings.")
				if err != nil {
					return err
				}
				if len(paths) == 0 {
					return subcmd.Usagef("nothing to change: give a setting (--%s) or --clear", strings.Join(settingFlagNames(), ", --"))
				}
				words = w
				resp, err := cl.Inventory.UpdatePhone(ctx, &inventoryv1.UpdatePhoneRequest{
					Phone:      &inventoryv1.Phone{Name: name, Settings: ps},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: paths},
				})
				p = resp.GetPhone()
				return err
			})
			if err != nil {
				if subcmd.IsUsage(err) {
					return err
				}
				return fmt.Errorf("set %s: %w", macaddr.Colon(mac), err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, redact(p))
			}
			_, err = fmt.Fprintf(c.env.Stdout, "updated %s (%s %s): %s; changed %s\n", displayMAC(p.GetMac()),
				dash(p.GetVendor()), dash(p.GetModel()), stateName(p.GetState()), strings.Join(words, ", "))
			return err
		},
	}
}

// printChanged prints a phone after a write: a one-line summary, or JSON;
// the model's warning (a family fallback, another vendor's model) goes to
// stderr as one line.
func (c *cli) printChanged(verb string, p *inventoryv1.Phone) error {
	if w := p.GetModelWarning(); w != "" {
		fmt.Fprintf(c.env.Stderr, "warning: %s: %s\n", displayMAC(p.GetMac()), w)
	}
	if c.g.Output == "json" {
		return printJSON(c.env.Stdout, p)
	}
	lines := lineList(p)
	if lines == "" {
		lines = "no lines"
	} else {
		lines = "line(s) " + lines
	}
	_, err := fmt.Fprintf(c.env.Stdout, "%s %s (%s %s): %s, %s\n", verb, displayMAC(p.GetMac()),
		dash(p.GetVendor()), dash(p.GetModel()), stateName(p.GetState()), lines)
	return err
}

func (c *cli) phonesAdd() *subcmd.Command {
	var mac, model, vendor, ext string
	var sf settingsFlags
	var lf lineFlags
	var nf newExtFlags
	return &subcmd.Command{
		Name: "add", NArgs: 0,
		Short: "Add a phone by MAC (manual flow, for phones not on the LAN).",
		Long: `Creates the phone with its model, line(s) and settings. Then hand it its URL
('phones url MAC'), by hand or through the vendor's redirect service (--rps).`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&mac, "mac", "", "the phone's MAC, any usual spelling (required)")
			fs.StringVar(&model, "model", "", "catalog model id, e.g. VVX450 (required; see 'models list')")
			fs.StringVar(&vendor, "vendor", "", "vendor key (default: the catalog model's vendor, else the MAC's IEEE block)")
			fs.StringVar(&ext, "extension", "", "extension NUMBER for line 1 (required)")
			nf.register(fs)
			sf.register(fs)
			lf.register(fs)
		},
		Run: func(ctx context.Context, _ []string) error {
			if mac == "" || model == "" || ext == "" {
				return subcmd.Usagef("--mac, --model and --extension are required")
			}
			_, canon, err := phoneName(mac)
			if err != nil {
				return err
			}
			if vendor != "" && !vocab.IsVendor(strings.ToLower(vendor)) {
				return subcmd.Usagef("--vendor %q: want one of %s", vendor, strings.Join(vocab.Vendors, ", "))
			}
			settings, err := sf.build(c.g.Tenant)
			if err != nil {
				return err
			}
			more, err := lf.numbers()
			if err != nil {
				return err
			}
			newExt, err := nf.extension(ext)
			if err != nil {
				return err
			}
			phone := &inventoryv1.Phone{Mac: canon, Model: model, Vendor: strings.ToLower(vendor), Tenant: c.tenantName(), Settings: settings}
			for i, n := range append([]string{ext}, more...) {
				phone.Lines = append(phone.Lines, &inventoryv1.PhoneLine{Index: int32(i + 1), Extension: extensionName(c.g.Tenant, n)})
			}
			var created *inventoryv1.Phone
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				if newExt != nil {
					if _, err := cl.Inventory.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{Parent: c.tenantName(), Extension: newExt}); err != nil {
						return fmt.Errorf("create extension %s: %w", ext, err)
					}
				}
				resp, err := cl.Inventory.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: phone})
				created = resp.GetPhone()
				return err
			})
			if err != nil {
				return fmt.Errorf("add %s: %w", macaddr.Colon(canon), err)
			}
			return c.printChanged("added", redact(created))
		},
	}
}

func (c *cli) phonesURL() *subcmd.Command {
	return &subcmd.Command{
		Name: "url", Args: "MAC", NArgs: 1,
		Short: "Print the phone's provisioning URL (it contains the phone's secret token).",
		Run: func(ctx context.Context, args []string) error {
			name, mac, err := phoneName(args[0])
			if err != nil {
				return err
			}
			var resp *inventoryv1.GetProvisioningUrlResponse
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err = cl.Inventory.GetProvisioningUrl(ctx, &inventoryv1.GetProvisioningUrlRequest{Name: name})
				return err
			})
			if err != nil {
				return err
			}
			if resp.GetUrl() == "" {
				return &Error{Msg: fmt.Sprintf("phone %s has no provisioning URL: it is not assigned (and the bootstrap policy is off)", macaddr.Colon(mac))}
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, &inventoryv1.GetProvisioningUrlResponse{Url: resp.GetUrl(), Bootstrap: resp.GetBootstrap()})
			}
			if resp.GetBootstrap() {
				fmt.Fprintf(c.env.Stderr, "note: %s is not assigned; this URL serves a bootstrap file without accounts\n", macaddr.Colon(mac))
			}
			_, err = fmt.Fprintln(c.env.Stdout, resp.GetUrl())
			return err
		},
	}
}

// simplePhone builds a command that calls one RPC on one phone.
func (c *cli) simplePhone(name, short, verb string, flags func(*flag.FlagSet),
	do func(ctx context.Context, cl *Clients, phone string) (*inventoryv1.Phone, error)) *subcmd.Command {
	return &subcmd.Command{
		Name: name, Args: "MAC", NArgs: 1, Short: short, Flags: flags,
		Run: func(ctx context.Context, args []string) error {
			pn, mac, err := phoneName(args[0])
			if err != nil {
				return err
			}
			var p *inventoryv1.Phone
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				p, err = do(ctx, cl, pn)
				return err
			})
			if err != nil {
				return fmt.Errorf("%s %s: %w", name, macaddr.Colon(mac), err)
			}
			if p == nil {
				if c.g.Output == "json" {
					_, err := fmt.Fprintln(c.env.Stdout, "{}")
					return err
				}
				_, err := fmt.Fprintf(c.env.Stdout, "%s %s\n", verb, macaddr.Colon(mac))
				return err
			}
			return c.printChanged(verb, redact(p))
		},
	}
}

func (c *cli) phonesUnassign() *subcmd.Command {
	return c.simplePhone("unassign", "Remove the phone's lines and tenant; it returns to discovered.", "unassigned", nil,
		func(ctx context.Context, cl *Clients, pn string) (*inventoryv1.Phone, error) {
			resp, err := cl.Inventory.UnassignPhone(ctx, &inventoryv1.UnassignPhoneRequest{Name: pn})
			return resp.GetPhone(), err
		})
}

func (c *cli) phonesDelete() *subcmd.Command {
	return c.simplePhone("delete", "Delete the phone from the inventory.", "deleted", nil,
		func(ctx context.Context, cl *Clients, pn string) (*inventoryv1.Phone, error) {
			_, err := cl.Inventory.DeletePhone(ctx, &inventoryv1.DeletePhoneRequest{Name: pn})
			return nil, err
		})
}

func (c *cli) phonesReprovision() *subcmd.Command {
	var reboot bool
	return c.simplePhone("reprovision", "Ask the phone to re-read its configuration (SIP check-sync).", "reprovision requested for",
		func(fs *flag.FlagSet) { fs.BoolVar(&reboot, "reboot", false, "ask the phone to reboot as well") },
		func(ctx context.Context, cl *Clients, pn string) (*inventoryv1.Phone, error) {
			resp, err := cl.Inventory.ReprovisionPhone(ctx, &inventoryv1.ReprovisionPhoneRequest{Name: pn, Reboot: reboot})
			return resp.GetPhone(), err
		})
}

func (c *cli) phonesRotate() *subcmd.Command {
	var grace time.Duration
	return c.simplePhone("rotate-token", "Issue a new provisioning token; the old one keeps working for --grace.", "token rotated for",
		func(fs *flag.FlagSet) {
			fs.DurationVar(&grace, "grace", 0, "how long the old token keeps working (default: the server's, 24h)")
		},
		func(ctx context.Context, cl *Clients, pn string) (*inventoryv1.Phone, error) {
			req := &inventoryv1.RotateProvisioningTokenRequest{Name: pn}
			if grace < 0 {
				return nil, subcmd.Usagef("--grace must not be negative")
			}
			if grace > 0 {
				req.GracePeriod = durationpb.New(grace)
			}
			resp, err := cl.Inventory.RotateProvisioningToken(ctx, req)
			return resp.GetPhone(), err
		})
}

// modelStatusName is the model status as the issue tracker and docs spell it:
// catalog, family_fallback, unknown ("-": not checked).
func modelStatusName(st rendererv1.ModelStatus) string {
	switch st {
	case rendererv1.ModelStatus_MODEL_STATUS_CATALOG:
		return "catalog"
	case rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK:
		return "family_fallback"
	case rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN:
		return "unknown"
	}
	return "-"
}

func (c *cli) phonesApprove() *subcmd.Command {
	return c.simplePhone("approve",
		"Accept the identity a file with secrets was refused to (SecretReleaseRefused); without one, forget the bound identity.",
		"approved", nil,
		func(ctx context.Context, cl *Clients, pn string) (*inventoryv1.Phone, error) {
			resp, err := cl.Inventory.ApprovePhone(ctx, &inventoryv1.ApprovePhoneRequest{Name: pn})
			return resp.GetPhone(), err
		})
}

func (c *cli) phonesDeviceCert() *subcmd.Command {
	return &subcmd.Command{
		Name: "device-cert", Args: "MAC off|prefer|require|inherit", NArgs: 2,
		Short: "Set the phone's device-certificate policy (inherit: the tenant's).",
		Run: func(ctx context.Context, args []string) error {
			pn, mac, err := phoneName(args[0])
			if err != nil {
				return err
			}
			var p inventoryv1.DeviceCertPolicy
			if args[1] != "inherit" {
				if p, err = parseDeviceCert(args[1]); err != nil {
					return err
				}
			}
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				_, err := cl.Inventory.UpdatePhone(ctx, &inventoryv1.UpdatePhoneRequest{
					Phone:      &inventoryv1.Phone{Name: pn, Settings: &inventoryv1.ProvisioningSettings{DeviceCert: p}},
					UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"settings.device_cert"}},
				})
				return err
			})
			if err != nil {
				return fmt.Errorf("device-cert %s: %w", macaddr.Colon(mac), err)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "phone %s: device-cert %s\n", macaddr.Colon(mac), args[1])
			return err
		},
	}
}

// proofName is a FetchProof as the CLI prints it: token, token+ua,
// token+certificate, token+link.
func proofName(p inventoryv1.FetchProof) string {
	switch p {
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN:
		return "token"
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN_UA:
		return "token+ua"
	case inventoryv1.FetchProof_FETCH_PROOF_TOKEN_CERTIFICATE:
		return "token+certificate"
	case inventoryv1.FetchProof_FETCH_PROOF_LINK:
		return "token+link"
	}
	return ""
}

// shortSHA abbreviates a certificate hash for tables.
func shortSHA(h string) string {
	if len(h) > 16 {
		return "sha256:" + h[:16] + "…"
	}
	return "sha256:" + h
}

// releaseText describes a release identity in one line.
func releaseText(r *inventoryv1.ReleaseIdentity) string {
	id := r.GetId()
	if rest, ok := strings.CutPrefix(id, "cert:"); ok {
		id = "cert " + shortSHA(rest)
		if r.GetCertificateSubject() != "" {
			id += " (" + r.GetCertificateSubject() + ")"
		}
	}
	return fmt.Sprintf("%s by %s from %s at %s", id, dash(proofName(r.GetProof())), dash(r.GetSourceAddress()), tableTS(r.GetTime()))
}

func settingSource(own inventoryv1.DeviceCertPolicy) string {
	if own == inventoryv1.DeviceCertPolicy_DEVICE_CERT_POLICY_UNSPECIFIED {
		return " (tenant default)"
	}
	return ""
}
