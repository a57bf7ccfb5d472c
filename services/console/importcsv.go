package console

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/proto/macaddr"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

func fieldMask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// timeZones lists the IANA zones for the searchable time-zone field, from
// the system's zone1970.tab (Debian's tzdata); with no such file the field
// still takes any name and inventory checks it.
var timeZones = sync.OnceValue(func() []string {
	zones := []string{"UTC"}
	f, err := os.Open("/usr/share/zoneinfo/zone1970.tab")
	if err != nil {
		return zones
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		if fs := strings.Split(line, "\t"); len(fs) >= 3 {
			zones = append(zones, fs[2])
		}
	}
	slices.Sort(zones)
	return slices.Compact(zones)
})

// CSV import: the columns of `dialtonectl phones import` that the manual
// flow needs. A dry run checks every row and changes nothing.
var importColumns = []string{"mac", "model", "vendor", "extension", "language", "timezone"}

const maxImportRows = 5000

type importResult struct {
	Line      int
	MAC       string
	Extension string
	Action    string
	Error     string
}

type importData struct {
	Columns []string
	DryRun  bool
	Results []importResult
	OK, Bad int
}

func (c *Console) importPage(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Import", "import")
	p.Data = importData{Columns: importColumns, DryRun: true}
	c.views.render(w, http.StatusOK, "import", p)
}

func (c *Console) importCSV(w http.ResponseWriter, r *http.Request, ss *session) {
	p := c.newPage(r, ss, "Import", "import")
	d := importData{Columns: importColumns, DryRun: r.PostFormValue("dry_run") == "on"}
	p.Data = &d
	f, _, err := r.FormFile("file")
	if err != nil {
		p.Fields["file"], p.Error = "choose a CSV file", "Please correct the field marked below."
		c.views.render(w, http.StatusUnprocessableEntity, "import", p)
		return
	}
	defer f.Close()
	rows, err := readImport(f)
	if err != nil {
		p.Fields["file"], p.Error = err.Error(), "Please correct the field marked below."
		c.views.render(w, http.StatusUnprocessableEntity, "import", p)
		return
	}
	tenant := "tenants/" + c.tenantOf(ss)
	ctx, cancel := c.ctx(r)
	defer cancel()
	for _, row := range rows {
		res := importResult{Line: row.line, MAC: row.mac, Extension: row.ext}
		switch {
		case row.err != "":
			res.Error = row.err
		case d.DryRun:
			res.Action = "would add"
			if _, err := c.d.Inventory.GetPhone(ctx, &inventoryv1.GetPhoneRequest{Name: "phones/" + row.mac}); err == nil {
				res.Error = "phone already exists"
			} else if row.ext != "" {
				if _, err := c.d.Inventory.GetExtension(ctx, &inventoryv1.GetExtensionRequest{Name: tenant + "/extensions/" + row.ext}); err != nil {
					res.Error = "extension " + row.ext + ": " + status.Convert(err).Message()
				}
			}
		default:
			ph := &inventoryv1.Phone{Mac: row.mac, Vendor: row.vendor, Model: row.model,
				Settings: &inventoryv1.ProvisioningSettings{Language: row.language, TimeZone: row.tz}}
			if row.ext != "" {
				ph.Tenant = tenant
				ph.Lines = []*inventoryv1.PhoneLine{{Index: 1, Extension: tenant + "/extensions/" + row.ext}}
			}
			if _, err := c.d.Inventory.CreatePhone(ctx, &inventoryv1.CreatePhoneRequest{Phone: ph}); err != nil {
				res.Error = status.Convert(err).Message()
			} else {
				res.Action = "added"
			}
		}
		if res.Error != "" {
			d.Bad++
		} else {
			d.OK++
		}
		d.Results = append(d.Results, res)
	}
	c.log.Info("console: CSV import", "user", ss.user, "dry_run", d.DryRun, "ok", d.OK, "failed", d.Bad)
	c.views.render(w, http.StatusOK, "import", p)
}

type importRow struct {
	line                                  int
	mac, model, vendor, ext, language, tz string
	err                                   string
}

// readImport parses the CSV: a header naming known columns, then rows.
// Row problems are reported per row; a malformed file is an error.
func readImport(in io.Reader) ([]importRow, error) {
	cr := csv.NewReader(io.LimitReader(in, 8<<20))
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errNoRows
	}
	if err != nil {
		return nil, fmt.Errorf("not CSV: %w", err)
	}
	col := map[string]int{}
	for i, h := range head {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if !slices.Contains(importColumns, h) {
			return nil, fmt.Errorf("unknown column %q (known: %s)", h, strings.Join(importColumns, ", "))
		}
		col[h] = i
	}
	if _, ok := col["mac"]; !ok {
		return nil, errors.New("the header needs a mac column")
	}
	var rows []importRow
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if len(rows) >= maxImportRows {
			return nil, fmt.Errorf("more than %d rows", maxImportRows)
		}
		get := func(k string) string {
			if i, ok := col[k]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		row := importRow{line: line, model: get("model"), vendor: strings.ToLower(get("vendor")), ext: get("extension"), tz: get("timezone")}
		mac, err := macaddr.Parse(get("mac"))
		if err != nil {
			row.mac, row.err = get("mac"), "mac: not a MAC address"
		} else {
			row.mac = mac
		}
		if l := get("language"); l != "" && row.err == "" {
			if tag, err := vocab.ParseLanguage(l); err != nil {
				row.err = "language: " + err.Error()
			} else {
				row.language = tag
			}
		}
		if row.vendor != "" && !vocab.IsVendor(row.vendor) && row.err == "" {
			row.err = "vendor: unknown vendor " + row.vendor
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errNoRows
	}
	return rows, nil
}
