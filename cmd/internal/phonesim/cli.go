package phonesim

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	"github.com/dialtone-voip/dialtone/cmd/internal/vendorsim"
	"github.com/dialtone-voip/dialtone/platform/config"
	"github.com/dialtone-voip/dialtone/platform/logging"
)

// Env is what the CLI needs from its process.
type Env struct {
	Getenv func(string) string
	Stdout io.Writer
	Stderr io.Writer
	// IsTTY reports whether Stdout is a terminal (progress display).
	IsTTY bool
}

// phoneFlags are the flags shared by boot and storm.
type phoneFlags struct {
	vendor, model, firmware       string
	iface, localAddr, group       string
	ownLink                       string
	uriHost                       string
	sipPort                       int
	timeout, waitNotify           time.Duration
	waitAccount, linger, httpTime time.Duration
	tlsCA                         string
	tlsInsecure                   bool
	output                        string
	verbose                       bool
}

func (f *phoneFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.vendor, "vendor", "", "vendor: "+strings.Join(vendorsim.Keys(), ", ")+" (required)")
	fs.StringVar(&f.model, "model", "", "catalog model id, e.g. T54W, GRP2614, D785 (default: the vendor's usual model)")
	fs.StringVar(&f.firmware, "firmware", "", "firmware version the phone reports (default: a plausible one for the model)")
	fs.StringVar(&f.iface, "iface", "", "send from this interface's IPv4 address")
	fs.StringVar(&f.localAddr, "local-addr", "", "send from this local IPv4 address (overrides --iface)")
	fs.StringVar(&f.ownLink, "own-link", "", "give the phone a link layer of its own: its SIP leaves --iface through a packet socket with the phone's MAC and this unused IPv4 address of the LAN, and it answers ARP for it (storm: phone i gets this address + i); needs CAP_NET_RAW")
	fs.IntVar(&f.sipPort, "sip-port", 0, "local UDP port of the phone's SIP socket (0: any free port)")
	fs.StringVar(&f.group, "mcast", DefaultGroup.String(), "where the SUBSCRIBE goes: the multicast group, or a unicast ip:port for multicast-free tests")
	fs.StringVar(&f.uriHost, "uri-host", "", "Request-URI host after the MAC (default 224.0.1.75)")
	fs.DurationVar(&f.timeout, "timeout", 30*time.Second, "how long to wait for an answer to the SUBSCRIBE")
	fs.DurationVar(&f.waitNotify, "wait-notify", 60*time.Second, "how long to wait for the NOTIFY after the SUBSCRIBE was answered")
	fs.DurationVar(&f.waitAccount, "wait-account", 0, "keep answering NOTIFYs until a configuration with a SIP account arrives, at most this long (0: stop after the first configuration)")
	fs.DurationVar(&f.linger, "linger", 0, "after booting, keep answering NOTIFYs (new URL, check-sync) this long and re-fetch each time")
	fs.DurationVar(&f.httpTime, "http-timeout", 30*time.Second, "timeout of each HTTP download")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM file of CA certificates to trust for https:// provisioning URLs")
	fs.BoolVar(&f.tlsInsecure, "tls-insecure", false, "do not verify the provisioning server's certificate (like many phones out of the box)")
	fs.BoolVar(&f.verbose, "v", false, "log the exchange to stderr")
}

func (f *phoneFlags) options(env Env, concurrency int) (Options, error) {
	if f.vendor == "" {
		return Options{}, subcmd.Usagef("--vendor is required (one of %s)", strings.Join(vendorsim.Keys(), ", "))
	}
	p, err := vendorsim.NewPhone(f.vendor, f.model, "", f.firmware)
	if err != nil {
		return Options{}, subcmd.Usagef("%v", err)
	}
	o := Options{
		Phone: p, SIPPort: f.sipPort, URIHost: f.uriHost, Timeout: f.timeout, WaitNotify: f.waitNotify,
		WaitAccount: f.waitAccount, Linger: f.linger, Rand: NewRand(),
	}
	if f.sipPort < 0 || f.sipPort > 65535 {
		return Options{}, subcmd.Usagef("--sip-port %d out of range", f.sipPort)
	}
	if o.Group, err = netip.ParseAddrPort(f.group); err != nil || !o.Group.Addr().Is4() {
		return Options{}, subcmd.Usagef("--mcast %q: want an IPv4 ip:port", f.group)
	}
	switch {
	case f.localAddr != "":
		if o.Local, err = netip.ParseAddr(f.localAddr); err != nil || !o.Local.Is4() {
			return Options{}, subcmd.Usagef("--local-addr %q: want an IPv4 address", f.localAddr)
		}
	case f.iface != "":
		if o.Local, err = interfaceAddr(f.iface); err != nil {
			return Options{}, subcmd.Usagef("--iface: %v", err)
		}
	}
	if f.ownLink != "" {
		if f.iface == "" {
			return Options{}, subcmd.Usagef("--own-link needs --iface")
		}
		if o.Local, err = netip.ParseAddr(f.ownLink); err != nil || !o.Local.Is4() {
			return Options{}, subcmd.Usagef("--own-link %q: want an IPv4 address", f.ownLink)
		}
		if o.Link, err = OpenLink(f.iface); err != nil {
			return Options{}, err
		}
	}
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: f.tlsInsecure} //nolint:gosec // a phone simulator, on request
	if f.tlsCA != "" {
		pem, err := os.ReadFile(f.tlsCA)
		if err != nil {
			return Options{}, fmt.Errorf("--tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return Options{}, fmt.Errorf("--tls-ca %s: no PEM certificates", f.tlsCA)
		}
		tlsConf.RootCAs = pool
	}
	o.HTTP = &http.Client{
		Timeout: f.httpTime,
		Transport: &http.Transport{
			Proxy:               nil, // a phone on the LAN talks to its server directly
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			TLSClientConfig:     tlsConf,
			MaxIdleConns:        max(100, concurrency),
			MaxIdleConnsPerHost: max(2, concurrency),
			IdleConnTimeout:     30 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= 5 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	o.Logger = logging.Discard()
	if f.verbose {
		o.Logger = slog.New(slog.NewTextHandler(env.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return o, nil
}

// Run is phonesim's main.
func Run(ctx context.Context, args []string, env Env) error {
	app := &subcmd.App{Name: "phonesim", Stdout: env.Stdout}
	app.Root = &subcmd.Command{
		Name:  "phonesim",
		Short: "Simulated IP phones for Dialtone: PnP SUBSCRIBE, NOTIFY, vendor file downloads, a report of the applied configuration.",
		Subs:  []*subcmd.Command{bootCommand(env), stormCommand(env), macsCommand(env), vendorsCommand(env)},
	}
	return app.Execute(ctx, args)
}

// applyEnv fills flags not given on the command line from PHONESIM_*.
func applyEnv(fs *flag.FlagSet, env Env) error {
	if env.Getenv == nil {
		return nil
	}
	return config.ApplyEnv(fs, "PHONESIM", env.Getenv)
}

func bootCommand(env Env) *subcmd.Command {
	var pf phoneFlags
	var mac, rawURL string
	var values bool
	var fs *flag.FlagSet
	return &subcmd.Command{
		Name:  "boot",
		NArgs: 0,
		Short: "Boot one phone: PnP SUBSCRIBE (or --url), NOTIFY, downloads; print a summary (-o json: the report).",
		Long: `Sends the PnP SUBSCRIBE exactly as the vendor's phones do, by UDP multicast to
224.0.1.75:5060 (TTL 1, from --local-addr/--iface), retransmitting like the phone;
answers the NOTIFY, takes the provisioning URL from it, downloads the vendor's files
in the vendor's order with the vendor's User-Agent, parses them and prints what the
phone would apply. With --url it boots from that URL without SIP (manual flow).

It prints an eight-line summary without secrets; -o json prints the whole report,
which contains plaintext SIP and web passwords (it is a test tool).
Exit status 1 when the phone did not boot (the report says why).`,
		Flags: func(f *flag.FlagSet) {
			fs = f
			pf.register(f)
			f.StringVar(&mac, "mac", "", "the phone's MAC in any usual spelling (default: random under the vendor's OUI)")
			f.StringVar(&rawURL, "url", "", "boot from this provisioning URL (manual flow, no multicast)")
			f.StringVar(&pf.output, "o", "text", "output: text (a summary without secrets) or json (the full report)")
			f.BoolVar(&values, "values", false, "include every setting read, by the vendor's key, in the report")
		},
		Run: func(ctx context.Context, _ []string) error {
			if err := applyEnv(fs, env); err != nil {
				return subcmd.Usagef("%v", err)
			}
			if pf.output != "json" && pf.output != "text" {
				return subcmd.Usagef("-o %q: want json or text", pf.output)
			}
			o, err := pf.options(env, 1)
			if err != nil {
				return err
			}
			if o.Link != nil {
				defer o.Link.Close()
			}
			if mac == "" {
				r := NewRand()
				mac = vendorsim.MACFromOUI(o.Phone.Vendor.OUIs[0], int(r.Uint32()%(1<<24)))
			}
			if o.Phone, err = vendorsim.NewPhone(pf.vendor, pf.model, mac, pf.firmware); err != nil {
				return subcmd.Usagef("%v", err)
			}
			o.URL = rawURL
			rep, bootErr := Boot(ctx, o)
			if err := printReport(env.Stdout, rep, pf.output, values); err != nil {
				return err
			}
			if bootErr != nil {
				return fmt.Errorf("phone %s did not boot: %w", o.Phone.MAC, bootErr)
			}
			return nil
		},
	}
}

// jsonReport adds the raw values when asked.
type jsonReport struct {
	*Report
	Values map[string]string `json:"values,omitempty"`
}

func printReport(w io.Writer, rep *Report, format string, values bool) error {
	if format == "json" {
		out := jsonReport{Report: rep}
		if values && rep.Config != nil {
			out.Values = rep.Config.Values
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	return printSummary(w, rep)
}

// printSummary is boot's default output: about eight lines, no passwords
// and no provisioning URL (it embeds the phone's token); -o json prints
// the whole report, secrets included.
func printSummary(w io.Writer, rep *Report) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fw := rep.Phone.Firmware
	if fw == "" {
		fw = "-"
	}
	fmt.Fprintf(tw, "phone\t%s %s %s, firmware %s\n", rep.Phone.Vendor, rep.Phone.Model, rep.Phone.MAC, fw)
	t := rep.Timings
	if rep.OK {
		fmt.Fprintf(tw, "result\tprovisioned in %.0f ms (%s flow)\n", max(t.ToProvisionedMS, t.TotalMS), rep.Flow)
	} else {
		fmt.Fprintf(tw, "result\tFAILED after %.0f ms: %s\n", t.TotalMS, rep.Error)
	}
	if rep.SIP != nil {
		resp := rep.SIP.Response
		if resp == "" {
			resp = "no response"
		}
		fmt.Fprintf(tw, "sip\t%d SUBSCRIBE(s) to %s, %s from %s, %d NOTIFY(s)\n",
			rep.SIP.SubscribesSent, rep.SIP.Group, resp, dashIfEmpty(rep.SIP.Responder), rep.SIP.Notifies)
	}
	var files []string
	for _, r := range rep.Rounds {
		for _, f := range r.Files {
			files = append(files, fmt.Sprintf("%s %d", f.Name, f.Status))
		}
	}
	fmt.Fprintf(tw, "files\t%d round(s): %s\n", len(rep.Rounds), dashIfEmpty(strings.Join(files, ", ")))
	if c := rep.Config; c != nil {
		var accts []string
		for _, a := range c.Accounts {
			pw := "password set"
			if a.Password == "" {
				pw = "no password"
			}
			accts = append(accts, fmt.Sprintf("line %d %s@%s:%d %s (%s)", a.Line, a.User, a.Server, a.Port, a.Transport, pw))
		}
		fmt.Fprintf(tw, "accounts\t%s\n", dashIfEmpty(strings.Join(accts, "; ")))
		lang := c.LanguageTag
		if lang == "" {
			lang = c.Language
		}
		web := "not set"
		if c.WebPasswordSet {
			web = "set"
		}
		fmt.Fprintf(tw, "settings\tlanguage %s, time zone %s, NTP %s, codecs %s, web password %s\n", dashIfEmpty(lang),
			dashIfEmpty(c.TimeZone), dashIfEmpty(c.NTPServer), dashIfEmpty(strings.Join(c.Codecs, ",")), web)
	}
	fmt.Fprintf(tw, "note\tpasswords and the provisioning URL are hidden; -o json prints the full report\n")
	return tw.Flush()
}

func dashIfEmpty(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func stormCommand(env Env) *subcmd.Command {
	var pf phoneFlags
	var count, concurrency, startIdx int
	var oui string
	var perPhone bool
	var cpuProfile string
	var fs *flag.FlagSet
	return &subcmd.Command{
		Name:  "storm",
		NArgs: 0,
		Short: "Boot many phones with distinct MACs at once and print timing percentiles.",
		Long: `Boots --count phones of one model, each from its own UDP socket and port, at most
--concurrency at a time. MACs are --mac-prefix (default: the vendor's first OUI)
followed by the 24-bit number --mac-start+i, so a bench can assign the same MACs
beforehand (e.g. 001565000000, 001565000001, …).
Prints successes, failures by reason, and per-phone percentiles from the first
SUBSCRIBE to the last file fetched. Exit status 1 when any phone failed.`,
		Flags: func(f *flag.FlagSet) {
			fs = f
			pf.register(f)
			f.IntVar(&count, "count", 0, "number of phones (required)")
			f.IntVar(&concurrency, "concurrency", 50, "phones booting at the same time")
			f.StringVar(&oui, "mac-prefix", "", "MAC OUI, 6 hex digits (default: the vendor's first OUI)")
			f.IntVar(&startIdx, "mac-start", 0, "number of the first MAC under the prefix")
			f.StringVar(&pf.output, "o", "text", "output: text or json")
			f.BoolVar(&perPhone, "per-phone", false, "with -o json, include every phone's report")
			f.StringVar(&cpuProfile, "cpuprofile", "", "write phonesim's own CPU profile of the storm to this file (pprof)")
		},
		Run: func(ctx context.Context, _ []string) error {
			if err := applyEnv(fs, env); err != nil {
				return subcmd.Usagef("%v", err)
			}
			if count <= 0 {
				return subcmd.Usagef("--count must be positive")
			}
			if concurrency <= 0 {
				return subcmd.Usagef("--concurrency must be positive")
			}
			if pf.output != "json" && pf.output != "text" {
				return subcmd.Usagef("-o %q: want text or json", pf.output)
			}
			o, err := pf.options(env, concurrency)
			if err != nil {
				return err
			}
			if o.Link != nil {
				defer o.Link.Close()
			}
			if oui != "" {
				if len(oui) != 6 || strings.Trim(strings.ToLower(oui), "0123456789abcdef") != "" {
					return subcmd.Usagef("--mac-prefix %q: want 6 hex digits", oui)
				}
			}
			so := StormOptions{Template: o, Count: count, Concurrency: concurrency, OUI: oui, Start: startIdx, KeepReports: perPhone}
			var progressMu sync.Mutex
			if env.IsTTY && pf.output == "text" {
				so.Progress = func(done, failed int) {
					progressMu.Lock()
					defer progressMu.Unlock()
					fmt.Fprintf(env.Stdout, "\r%s", progressBar(done, count, failed))
				}
			}
			if cpuProfile != "" {
				pf, err := os.Create(cpuProfile)
				if err != nil {
					return err
				}
				defer pf.Close()
				if err := pprof.StartCPUProfile(pf); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := Storm(ctx, so)
			if so.Progress != nil {
				fmt.Fprint(env.Stdout, "\r\033[K")
			}
			if rep == nil {
				return err
			}
			if perr := printStorm(env.Stdout, rep, pf.output); perr != nil {
				return perr
			}
			if err != nil {
				return err
			}
			if rep.Failed > 0 {
				return fmt.Errorf("%d of %d phones failed", rep.Failed, rep.Count)
			}
			return nil
		},
	}
}

func progressBar(done, total, failed int) string {
	const width = 30
	filled := done * width / max(total, 1)
	return fmt.Sprintf("[%s%s] %d/%d (%d failed)", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, failed)
}

func printStorm(w io.Writer, rep *StormReport, format string) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "phones\t%d × %s %s (%s … %s), concurrency %d\n", rep.Count, rep.Vendor, rep.Model, rep.FirstMAC, rep.LastMAC, rep.Concurrency)
	fmt.Fprintf(tw, "result\t%d ok, %d failed, %.0f ms wall, %.1f phones/s\n", rep.OK, rep.Failed, rep.WallMS, rep.PhonesPerS)
	pr := func(name string, p Percentiles) {
		fmt.Fprintf(tw, "%s\tp50 %.1f ms\tp90 %.1f ms\tp99 %.1f ms\tmax %.1f ms\n", name, p.P50, p.P90, p.P99, p.Max)
	}
	pr("SUBSCRIBE → provisioned", rep.Provisioned)
	pr("SUBSCRIBE → response", rep.Response)
	pr("SUBSCRIBE → NOTIFY", rep.Notify)
	for reason, n := range rep.Failures {
		fmt.Fprintf(tw, "failed\t%d × %s\te.g. %s\n", n, reason, rep.Examples[reason])
	}
	return tw.Flush()
}

func macsCommand(env Env) *subcmd.Command {
	var vendor, model, oui, pwPrefix string
	var count, start, extStart int
	var asCSV bool
	return &subcmd.Command{
		Name:  "macs",
		NArgs: 0,
		Short: "Print the MACs a storm uses, or a CSV for 'dialtonectl phones import'.",
		Long: `Prints --count MACs under --mac-prefix from --mac-start, exactly as 'storm' numbers
its phones. With --csv it prints a 'dialtonectl phones import' file instead: one
phone per MAC on its own extension (--extension-start, +1 each) with password
<--password-prefix><extension>, so a bench can assign the phones before the storm.`,
		Flags: func(f *flag.FlagSet) {
			f.StringVar(&vendor, "vendor", "", "vendor (required)")
			f.StringVar(&model, "model", "", "model for the CSV (default: the vendor's usual model)")
			f.IntVar(&count, "count", 0, "number of MACs (required)")
			f.StringVar(&oui, "mac-prefix", "", "MAC OUI, 6 hex digits (default: the vendor's first OUI)")
			f.IntVar(&start, "mac-start", 0, "number of the first MAC under the prefix")
			f.BoolVar(&asCSV, "csv", false, "print a phones-import CSV")
			f.IntVar(&extStart, "extension-start", 10000, "with --csv: the first extension number")
			f.StringVar(&pwPrefix, "password-prefix", "pw-", "with --csv: SIP password prefix (the extension number follows)")
		},
		Run: func(_ context.Context, _ []string) error {
			p, err := vendorsim.NewPhone(vendor, model, "", "")
			if err != nil {
				return subcmd.Usagef("%v", err)
			}
			if count <= 0 || start < 0 || start+count > 1<<24 {
				return subcmd.Usagef("--count must be positive and --mac-start+--count at most 2^24")
			}
			if oui == "" {
				oui = p.Vendor.OUIs[0]
			}
			if len(oui) != 6 || strings.Trim(strings.ToLower(oui), "0123456789abcdef") != "" {
				return subcmd.Usagef("--mac-prefix %q: want 6 hex digits", oui)
			}
			w := bufio.NewWriter(env.Stdout)
			if asCSV {
				fmt.Fprintln(w, "mac,model,vendor,extension,name,password")
			}
			for i := range count {
				mac := vendorsim.MACFromOUI(oui, start+i)
				if asCSV {
					ext := strconv.Itoa(extStart + i)
					fmt.Fprintf(w, "%s,%s,%s,%s,Phone %s,%s%s\n", mac, p.Model, p.Vendor.Key, ext, ext, pwPrefix, ext)
				} else {
					fmt.Fprintln(w, mac)
				}
			}
			return w.Flush()
		},
	}
}

func vendorsCommand(env Env) *subcmd.Command {
	return &subcmd.Command{
		Name:  "vendors",
		NArgs: 0,
		Short: "List the vendors phonesim can simulate.",
		Run: func(context.Context, []string) error {
			tw := tabwriter.NewWriter(env.Stdout, 2, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "VENDOR\tPNP\tPROVISIONED BY DIALTONE\tDEFAULT MODEL\tOUI")
			for _, k := range vendorsim.Keys() {
				v, _ := vendorsim.Lookup(k)
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", v.Key, yesNo(v.PnP), yesNo(v.Provisionable), v.DefaultModel, v.OUIs[0])
			}
			return tw.Flush()
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// ExitCode maps Run's error to the process exit status.
func ExitCode(err error) int {
	switch {
	case err == nil:
		return 0
	case subcmd.IsUsage(err):
		return 2
	}
	return 1
}
