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

func (c *cli) extensionsCommand() *subcmd.Command {
	return &subcmd.Command{
		Name:  "extensions",
		Short: "Manage the PBX extensions phones register as.",
		Subs:  []*subcmd.Command{c.extensionsAdd(), c.extensionsList(), c.extensionsUpdate(), c.extensionsDelete()},
	}
}

func (c *cli) extensionsAdd() *subcmd.Command {
	var name, password, authUser string
	return &subcmd.Command{
		Name: "add", Args: "NUMBER", NArgs: 1,
		Short: "Create an extension in --tenant.",
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "display name (required)")
			fs.StringVar(&password, "password", "", "SIP password (required; never printed)")
			fs.StringVar(&authUser, "auth-user", "", "authentication user (default: the number)")
		},
		Run: func(ctx context.Context, args []string) error {
			if name == "" || password == "" {
				return subcmd.Usagef("--name and --password are required")
			}
			var ext *inventoryv1.Extension
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.CreateExtension(ctx, &inventoryv1.CreateExtensionRequest{
					Parent:    c.tenantName(),
					Extension: &inventoryv1.Extension{Number: args[0], DisplayName: name, AuthUser: authUser, SipPassword: password},
				})
				ext = resp.GetExtension()
				return err
			})
			if err != nil {
				return fmt.Errorf("add extension %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, ext)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "added extension %s (%s) in tenant %s\n", ext.GetNumber(), ext.GetDisplayName(), c.g.Tenant)
			return err
		},
	}
}

func (c *cli) extensionsList() *subcmd.Command {
	return &subcmd.Command{
		Name: "list", NArgs: 0,
		Short: "List the extensions of --tenant.",
		Run: func(ctx context.Context, _ []string) error {
			var exts []*inventoryv1.Extension
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				req := &inventoryv1.ListExtensionsRequest{Parent: c.tenantName(), PageSize: 1000}
				for {
					resp, err := cl.Inventory.ListExtensions(ctx, req)
					if err != nil {
						return err
					}
					exts = append(exts, resp.GetExtensions()...)
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
				return printJSONList(c.env.Stdout, exts)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "NUMBER\tNAME\tAUTH USER\tPASSWORD")
			for _, e := range exts {
				auth := e.GetAuthUser()
				if auth == "" {
					auth = e.GetNumber()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.GetNumber(), dash(e.GetDisplayName()), auth,
					map[bool]string{true: "set", false: "not set"}[e.GetHasSipPassword()])
			}
			return tw.Flush()
		},
	}
}

func (c *cli) extensionsUpdate() *subcmd.Command {
	var name, password, authUser string
	return &subcmd.Command{
		Name: "update", Args: "NUMBER", NArgs: 1,
		Short: "Change an extension's name, password or authentication user; the rest stays.",
		Long: `Only the flags given change (UpdateExtension with an update mask). Every phone
with a line on the extension gets the new configuration: a check-sync is sent to
those pnp-listener saw. --auth-user "" goes back to the number.`,
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&name, "name", "", "display name")
			fs.StringVar(&password, "password", "", "SIP password (never printed)")
			fs.StringVar(&authUser, "auth-user", "", "authentication user (\"\": the number)")
		},
		Run: func(ctx context.Context, args []string) error {
			ext := &inventoryv1.Extension{Name: extensionName(c.g.Tenant, args[0]), DisplayName: name, SipPassword: password, AuthUser: authUser}
			var paths, words []string
			for _, f := range []struct{ flag, field string }{{"name", "display_name"}, {"password", "sip_password"}, {"auth-user", "auth_user"}} {
				if c.set[f.flag] {
					paths, words = append(paths, f.field), append(words, f.flag)
				}
			}
			if len(paths) == 0 {
				return subcmd.Usagef("nothing to change: give --name, --password or --auth-user")
			}
			if c.set["password"] && password == "" {
				return subcmd.Usagef("--password must not be empty")
			}
			var out *inventoryv1.Extension
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.UpdateExtension(ctx, &inventoryv1.UpdateExtensionRequest{
					Extension: ext, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
				out = resp.GetExtension()
				return err
			})
			if err != nil {
				return fmt.Errorf("update extension %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "updated extension %s (%s) in tenant %s: changed %s\n", out.GetNumber(),
				dash(out.GetDisplayName()), lastSegment(tenantOf(out.GetName())), strings.Join(words, ", "))
			return err
		},
	}
}

// tenantOf returns "tenants/{t}" of a child resource name.
func tenantOf(name string) string {
	parts := strings.SplitN(name, "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

func (c *cli) extensionsDelete() *subcmd.Command {
	return &subcmd.Command{
		Name: "delete", Args: "NUMBER", NArgs: 1,
		Short: "Delete an extension (refused while a phone line uses it).",
		Run: func(ctx context.Context, args []string) error {
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				_, err := cl.Inventory.DeleteExtension(ctx, &inventoryv1.DeleteExtensionRequest{Name: extensionName(c.g.Tenant, args[0])})
				return err
			})
			if err != nil {
				return fmt.Errorf("delete extension %s: %w", args[0], err)
			}
			if c.g.Output == "json" {
				_, err = fmt.Fprintln(c.env.Stdout, "{}")
				return err
			}
			_, err = fmt.Fprintf(c.env.Stdout, "deleted extension %s\n", args[0])
			return err
		},
	}
}
