package ctl

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	"github.com/dialtone-voip/dialtone/platform/vendorid"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

// importColumns are the CSV columns "phones import" understands.
var importColumns = []string{"mac", "model", "vendor", "extension", "name", "password", "web_password",
	"language", "timezone", "interface", "transport", "rps", "https", "codecs"}

// maxImportRows bounds one file.
const maxImportRows = 100000

// importRow is one validated CSV line.
type importRow struct {
	Line      int // 1-based line in the file (the header is line 1)
	MAC       string
	Model     string
	Vendor    string
	Extension string
	Name      string
	password  string // never printed
	Settings  *inventoryv1.ProvisioningSettings
}

// ImportResult is one row of the report.
type ImportResult struct {
	Line      int    `json:"line"`
	MAC       string `json:"mac,omitempty"`
	Extension string `json:"extension,omitempty"`
	Action    string `json:"action,omitempty"`
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
	// Warning is the model's (a family fallback, another vendor's model).
	Warning string `json:"warning,omitempty"`
}

// parseImport reads and validates the whole file. Row problems are
// returned as failed results (the other rows still run); a malformed file
// (no header, unknown column) is an error.
func parseImport(r io.Reader, tenant string) ([]*importRow, []*ImportResult, error) {
	cr := csv.NewReader(r)
	cr.TrimLeadingSpace = true
	cr.FieldsPerRecord = -1
	cr.Comment = '#'
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("the file is empty (want a header row: " + strings.Join(importColumns, ",") + ")")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		h = strings.ReplaceAll(h, "-", "_")
		if h == "time_zone" {
			h = "timezone"
		}
		if !slices.Contains(importColumns, h) {
			return nil, nil, fmt.Errorf("header: unknown column %q (known: %s)", header[i], strings.Join(importColumns, ", "))
		}
		if _, dup := col[h]; dup {
			return nil, nil, fmt.Errorf("header: column %q twice", h)
		}
		col[h] = i
	}
	for _, req := range []string{"mac", "extension"} {
		if _, ok := col[req]; !ok {
			return nil, nil, fmt.Errorf("header: column %q is required", req)
		}
	}
	var rows []*importRow
	var results []*ImportResult
	seenMAC := map[string]int{}
	extNames := map[string]string{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				results = append(results, &ImportResult{Line: pe.Line, Error: pe.Err.Error()})
				continue
			}
			return nil, nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rows)+len(results) >= maxImportRows {
			return nil, nil, fmt.Errorf("more than %d rows", maxImportRows)
		}
		get := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		if strings.Join(rec, "") == "" {
			continue // blank line
		}
		row, err := validateRow(get, tenant)
		res := &ImportResult{Line: line, MAC: get("mac"), Extension: get("extension")}
		if err == nil {
			res.MAC = row.MAC
			if first, dup := seenMAC[row.MAC]; dup {
				err = fmt.Errorf("MAC %s already on line %d", macaddr.Colon(row.MAC), first)
			} else if prev, ok := extNames[row.Extension]; ok && row.Name != "" && prev != "" && prev != row.Name {
				err = fmt.Errorf("extension %s has name %q here but %q on an earlier line", row.Extension, row.Name, prev)
			}
		}
		if err != nil {
			res.Error = err.Error()
			results = append(results, res)
			continue
		}
		seenMAC[row.MAC] = line
		if row.Name != "" && extNames[row.Extension] == "" {
			extNames[row.Extension] = row.Name
		}
		row.Line = line
		rows = append(rows, row)
	}
	return rows, results, nil
}

func parseBoolCell(name, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "", "0", "no", "false", "off", "n":
		return false, nil
	case "1", "yes", "true", "on", "y":
		return true, nil
	}
	return false, fmt.Errorf("%s %q: want yes or no", name, v)
}

func validateRow(get func(string) string, tenant string) (*importRow, error) {
	mac, err := macaddr.Parse(get("mac"))
	if err != nil {
		return nil, fmt.Errorf("mac %q: %w", get("mac"), err)
	}
	row := &importRow{MAC: mac, Model: get("model"), Vendor: strings.ToLower(get("vendor")), Extension: get("extension"),
		Name: get("name"), password: get("password")}
	if row.Extension == "" {
		return nil, errors.New("extension is empty")
	}
	if row.Vendor != "" && !vocab.IsVendor(row.Vendor) {
		return nil, fmt.Errorf("vendor %q: want one of %s", row.Vendor, strings.Join(vocab.Vendors, ", "))
	}
	sf := settingsFlags{webPassword: get("web_password"), language: get("language"), timezone: get("timezone"),
		iface: get("interface"), transport: get("transport"), codecs: strings.NewReplacer(";", ",", "|", ",", " ", ",").Replace(get("codecs"))}
	if sf.rps, err = parseBoolCell("rps", get("rps")); err != nil {
		return nil, err
	}
	if sf.https, err = parseBoolCell("https", get("https")); err != nil {
		return nil, err
	}
	if row.Settings, err = sf.build(tenant); err != nil {
		// Usage errors name flags; in a CSV they are columns.
		return nil, errors.New(strings.NewReplacer("--timezone", "timezone", "--", "").Replace(err.Error()))
	}
	return row, nil
}

func (c *cli) phonesImport() *subcmd.Command {
	var dryRun, offline bool
	var concurrency int
	return &subcmd.Command{
		Name: "import", Args: "FILE.csv", NArgs: 1,
		Short: "Add or assign many phones from a CSV file.",
		Long: `The first row names the columns (any order, unknown ones refused):
  ` + strings.Join(importColumns, ",") + `
mac and extension are required. For each row: the extension is created when it
does not exist (the row must then give name and password); a phone inventory
already knows is assigned to it, an unknown one is added (the row must give its
model). rps and https take yes/no; codecs are separated by ';' (or quote the cell).
"-" reads standard input. Prints one result per row; exit status 1 if any failed.
--dry-run validates every row and, unless --offline, looks up which phones and
extensions exist, without writing anything.`,
		Flags: func(fs *flag.FlagSet) {
			fs.BoolVar(&dryRun, "dry-run", false, "validate and report what would be done; write nothing")
			fs.BoolVar(&offline, "offline", false, "with --dry-run: validate the file only, without asking the server")
			fs.IntVar(&concurrency, "concurrency", 8, "rows processed at the same time")
		},
		Run: func(ctx context.Context, args []string) error {
			if concurrency < 1 || concurrency > 256 {
				return subcmd.Usagef("--concurrency must be between 1 and 256")
			}
			if offline && !dryRun {
				return subcmd.Usagef("--offline needs --dry-run")
			}
			var in io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return &Error{Msg: err.Error(), err: err}
				}
				defer f.Close()
				in = f
			}
			rows, failed, err := parseImport(in, c.g.Tenant)
			if err != nil {
				return &Error{Msg: fmt.Sprintf("%s: %v", args[0], err), err: err}
			}
			results := failed
			if dryRun && offline {
				for _, r := range rows {
					results = append(results, &ImportResult{Line: r.Line, MAC: r.MAC, Extension: r.Extension, Action: "valid", OK: true})
				}
			} else if len(rows) > 0 {
				cl, err := c.clients(ctx)
				if err != nil {
					return err
				}
				defer cl.Close()
				results = append(results, c.runImport(ctx, cl, rows, len(failed), dryRun, concurrency)...)
			}
			return c.printImport(results, dryRun)
		},
	}
}

// extState is what phase 1 learned about one extension number.
type extState struct {
	creator *importRow // the first row that can create it (has a password)
	action  string     // "created extension", "would create extension" or ""
	err     error      // the extension is unusable
}

// runImport processes rows with bounded concurrency: first every extension
// the file names (created once, by the first row that gives a password),
// then the phones. Results come back in row order.
func (c *cli) runImport(ctx context.Context, cl *Clients, rows []*importRow, alreadyFailed int, dryRun bool, concurrency int) []*ImportResult {
	results := make([]*ImportResult, len(rows))
	total := len(rows) + alreadyFailed
	var mu sync.Mutex
	done, bad := alreadyFailed, alreadyFailed
	progress := func() {}
	tty := c.env.IsTTY && c.g.Output == "table"
	if tty {
		progress = func() { fmt.Fprintf(c.env.Stdout, "\r%s", progressBar(done, total, bad)) }
		progress()
	}

	exts := map[string]*extState{}
	var order []string
	for _, r := range rows {
		st, ok := exts[r.Extension]
		if !ok {
			st = &extState{}
			exts[r.Extension] = st
			order = append(order, r.Extension)
		}
		if st.creator == nil && r.password != "" {
			st.creator = r
		}
	}
	parallel(ctx, concurrency, len(order), func(i int) {
		n := order[i]
		exts[n].action, exts[n].err = c.ensureExtension(ctx, cl, n, exts[n].creator, dryRun)
	})

	parallel(ctx, concurrency, len(rows), func(i int) {
		r := rows[i]
		st := exts[r.Extension]
		var res *ImportResult
		if st.err != nil {
			res = &ImportResult{Line: r.Line, MAC: r.MAC, Extension: r.Extension, Error: describe(st.err, c.g).Error()}
		} else {
			res = c.importPhone(ctx, cl, r, dryRun)
			if st.creator == r && st.action != "" && res.OK {
				res.Action = st.action + ", " + res.Action
			}
		}
		mu.Lock()
		results[i] = res
		done++
		if !res.OK {
			bad++
		}
		progress()
		mu.Unlock()
	})
	for i, r := range results {
		if r == nil {
			results[i] = &ImportResult{Line: rows[i].Line, MAC: rows[i].MAC, Extension: rows[i].Extension, Error: "interrupted"}
		}
	}
	if tty {
		fmt.Fprint(c.env.Stdout, "\r\033[K")
	}
	return results
}

// parallel runs fn(0..n-1) on at most workers goroutines, stopping early
// when ctx ends.
func parallel(ctx context.Context, workers, n int, fn func(i int)) {
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, max(n, 1)) {
		wg.Go(func() {
			for i := range jobs {
				fn(i)
			}
		})
	}
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
}

// ensureExtension makes sure extension number exists, creating it from
// creator's row when it does not.
func (c *cli) ensureExtension(ctx context.Context, cl *Clients, number string, creator *importRow, dryRun bool) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.g.Timeout)
	defer cancel()
	_, err := cl.Inventory.GetExtension(ctx, &inventoryv1.GetExtensionRequest{Name: extensionName(c.g.Tenant, number)})
	switch status.Code(err) {
	case codes.OK:
		return "", nil
	case codes.NotFound:
	default:
		return "", fmt.Errorf("look up extension %s: %w", number, err)
	}
	if creator == nil {
		return "", fmt.Errorf("extension %s does not exist and no row gives a password to create it", number)
	}
	if dryRun {
		return "would create extension", nil
	}
	_, err = cl.Inventory.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{Parent: c.tenantName(),
		Extension: &inventoryv1.Extension{Number: number, DisplayName: creator.Name, SipPassword: creator.password}})
	if err != nil && status.Code(err) != codes.AlreadyExists {
		return "", fmt.Errorf("create extension %s: %w", number, err)
	}
	return "created extension", nil
}

func progressBar(done, total, failed int) string {
	const width = 30
	filled := done * width / max(total, 1)
	return fmt.Sprintf("[%s%s] %d/%d rows (%d failed)", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done, total, failed)
}

// importPhone adds or assigns the row's phone (its extension exists).
func (c *cli) importPhone(ctx context.Context, cl *Clients, r *importRow, dryRun bool) *ImportResult {
	res := &ImportResult{Line: r.Line, MAC: r.MAC, Extension: r.Extension}
	ctx, cancel := context.WithTimeout(ctx, c.g.Timeout)
	defer cancel()
	fail := func(err error) *ImportResult {
		res.Error = describe(err, c.g).Error()
		return res
	}
	extName := extensionName(c.g.Tenant, r.Extension)
	name := "phones/" + r.MAC
	_, err := cl.Inventory.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: name})
	switch status.Code(err) {
	case codes.OK:
		res.Action = "would assign"
		if !dryRun {
			if _, err := cl.Inventory.AssignPhone(ctx, &inventoryv1.AssignPhoneRequest{Name: name, Extension: extName,
				Tenant: c.tenantName(), Settings: r.Settings}); err != nil {
				return fail(fmt.Errorf("assign: %w", err))
			}
			res.Action = "assigned"
		}
	case codes.NotFound:
		if r.Model == "" {
			return fail(errors.New("phone not in the inventory and the row gives no model to add it"))
		}
		res.Action = "would add"
		if dryRun {
			// What inventory would decide about the model (it asks the same).
			hint := r.Vendor
			if hint == "" {
				hint = vendorid.Vendor(r.MAC)
			}
			m, err := cl.Renderer.ResolveModel(ctx, &rendererv1.ResolveModelRequest{Vendor: hint, Model: r.Model})
			if err != nil {
				return fail(fmt.Errorf("check model: %w", err))
			}
			switch {
			case m.GetVendor() == "":
				return fail(fmt.Errorf("phone.vendor: neither the model %q nor the MAC's block names a vendor; give the vendor column", r.Model))
			case m.GetNotProvisionableReason() != "":
				return fail(fmt.Errorf("phone.model: %s %q is not provisionable by Dialtone: it %s", m.GetVendor(), r.Model, m.GetNotProvisionableReason()))
			case m.GetStatus() == rendererv1.ModelStatus_MODEL_STATUS_UNKNOWN:
				return fail(fmt.Errorf("phone.model: %q is not a %s model the catalog knows and matches none of its families; see models list --vendor %s",
					r.Model, m.GetVendor(), m.GetVendor()))
			case m.GetStatus() == rendererv1.ModelStatus_MODEL_STATUS_FAMILY_FALLBACK:
				res.Warning = fmt.Sprintf("model %s is not in the catalog: provisioned with the %s family's files", m.GetModel(), m.GetFamily())
			case m.GetOtherVendor() != "":
				res.Warning = fmt.Sprintf("%s is a %s model, not %s's", m.GetModel(), m.GetVendor(), m.GetOtherVendor())
			}
		} else {
			p := &inventoryv1.Phone{Mac: r.MAC, Model: r.Model, Vendor: r.Vendor, Tenant: c.tenantName(), Settings: r.Settings,
				Lines: []*inventoryv1.PhoneLine{{Index: 1, Extension: extName}}}
			resp, err := cl.Inventory.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: p})
			if err != nil {
				return fail(fmt.Errorf("add: %w", err))
			}
			res.Action, res.Warning = "added", resp.GetPhone().GetModelWarning()
		}
	default:
		return fail(fmt.Errorf("look up phone: %w", err))
	}
	res.OK = true
	return res
}

func (c *cli) printImport(results []*ImportResult, dryRun bool) error {
	sortResults(results)
	ok := 0
	for _, r := range results {
		if r.OK {
			ok++
		}
	}
	if c.g.Output == "json" {
		enc := json.NewEncoder(c.env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return err
		}
	} else {
		tw := table(c.env.Stdout)
		fmt.Fprintln(tw, "LINE\tMAC\tEXTENSION\tRESULT")
		for _, r := range results {
			mac := r.MAC
			if m, err := macaddr.Parse(mac); err == nil {
				mac = macaddr.Colon(m)
			}
			outcome := "ok: " + r.Action
			if r.Warning != "" {
				outcome += " (warning: " + r.Warning + ")"
			}
			if !r.OK {
				outcome = "error: " + r.Error
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", strconv.Itoa(r.Line), dash(mac), dash(r.Extension), outcome)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		what := "imported"
		if dryRun {
			what = "valid"
		}
		fmt.Fprintf(c.env.Stdout, "%d row(s): %d %s, %d failed\n", len(results), ok, what, len(results)-ok)
	}
	if failed := len(results) - ok; failed > 0 {
		return &Error{Msg: fmt.Sprintf("%d of %d row(s) failed", failed, len(results))}
	}
	return nil
}

func sortResults(rs []*ImportResult) {
	slices.SortStableFunc(rs, func(a, b *ImportResult) int { return a.Line - b.Line })
}
