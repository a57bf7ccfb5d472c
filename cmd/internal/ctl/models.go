package ctl

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/dialtone-voip/dialtone/cmd/internal/subcmd"
	rendererv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/renderer/v1"
	"github.com/dialtone-voip/dialtone/proto/vocab"
)

func (c *cli) modelsCommand() *subcmd.Command {
	var vendor string
	list := &subcmd.Command{
		Name: "list", NArgs: 0,
		Short: "List the phone models config-renderer knows.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&vendor, "vendor", "", "only this vendor's models: "+strings.Join(vocab.Vendors, ", "))
		},
		Run: func(ctx context.Context, _ []string) error {
			v := strings.ToLower(vendor)
			if v != "" && !vocab.IsVendor(v) {
				return subcmd.Usagef("--vendor %q: want one of %s", vendor, strings.Join(vocab.Vendors, ", "))
			}
			var models []*rendererv1.Model
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				req := &rendererv1.ListModelsRequest{Vendor: v, PageSize: 1000}
				for {
					resp, err := cl.Renderer.ListModels(ctx, req)
					if err != nil {
						return err
					}
					models = append(models, resp.GetModels()...)
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
				return printJSONList(c.env.Stdout, models)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "VENDOR\tMODEL\tFAMILY\tACCOUNTS\tLINE KEYS\tDECT\tNAME")
			for _, m := range models {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%s\t%s\n", m.GetVendor(), m.GetModel(), dash(m.GetFamily()),
					m.GetSipAccounts(), m.GetLineKeys(), yesNo(m.GetDect()), dash(m.GetDisplayName()))
			}
			return tw.Flush()
		},
	}
	return &subcmd.Command{Name: "models", Short: "The model catalog (config-renderer).", Subs: []*subcmd.Command{list}}
}

func (c *cli) templatesCommand() *subcmd.Command {
	show := &subcmd.Command{
		Name: "show", NArgs: 0,
		Short: "Show the template set config-renderer serves: version, override files, load time, last rejected load.",
		Run: func(ctx context.Context, _ []string) error {
			var ts *rendererv1.TemplateSet
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Renderer.GetTemplateSet(ctx, &rendererv1.GetTemplateSetRequest{Name: "templateSet"})
				ts = resp.GetTemplateSet()
				return err
			})
			if err != nil {
				return err
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, ts)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintf(tw, "VERSION\t%s\n", ts.GetVersion())
			fmt.Fprintf(tw, "LOADED\t%s\n", tableTS(ts.GetLoadTime()))
			fmt.Fprintf(tw, "OVERRIDES\t%s\n", dash(strings.Join(ts.GetOverrideFiles(), ", ")))
			fmt.Fprintf(tw, "LOAD ERROR\t%s\n", dash(ts.GetLoadError()))
			return tw.Flush()
		},
	}
	return &subcmd.Command{Name: "templates", Short: "The template set (config-renderer).", Subs: []*subcmd.Command{show}}
}
