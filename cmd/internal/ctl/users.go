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

// userRoles maps the CLI's role words to the API's.
var userRoles = map[string]inventoryv1.UserRole{
	"admin":    inventoryv1.UserRole_USER_ROLE_ADMIN,
	"readonly": inventoryv1.UserRole_USER_ROLE_READONLY,
}

func userRoleWord(r inventoryv1.UserRole) string {
	for w, v := range userRoles {
		if v == r {
			return w
		}
	}
	return "-"
}

func parseUserRole(s string) (inventoryv1.UserRole, error) {
	r, ok := userRoles[strings.ToLower(s)]
	if !ok {
		return 0, subcmd.Usagef("--role: want admin or readonly, not %q", s)
	}
	return r, nil
}

// userFlags are the flags add and update share. The password comes from
// --password or DIALTONE_USER_PASSWORD (which keeps it out of ps and
// shell history).
type userFlags struct {
	display, role, scope, password string
	disabled                       bool
}

func (f *userFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.display, "display-name", "", "display name")
	fs.StringVar(&f.role, "role", "readonly", "admin or readonly")
	fs.StringVar(&f.scope, "scope-tenant", "", "limit the user to this tenant (\"\": every tenant)")
	fs.StringVar(&f.password, "password", "", "password, 8-72 bytes (or DIALTONE_USER_PASSWORD; never printed)")
	fs.BoolVar(&f.disabled, "disabled", false, "refuse the user's logins")
}

func (f *userFlags) user(c *cli, id string) (*inventoryv1.User, error) {
	role, err := parseUserRole(f.role)
	if err != nil {
		return nil, err
	}
	pw := f.password
	if pw == "" && c.env.Getenv != nil {
		pw = c.env.Getenv("DIALTONE_USER_PASSWORD")
	}
	u := &inventoryv1.User{Name: "users/" + id, DisplayName: f.display, Role: role, Password: pw, Disabled: f.disabled}
	if f.scope != "" {
		u.Tenant = "tenants/" + strings.TrimPrefix(f.scope, "tenants/")
	}
	return u, nil
}

func (c *cli) usersCommand() *subcmd.Command {
	var af, uf userFlags
	add := &subcmd.Command{
		Name: "add", Args: "ID", NArgs: 1,
		Short: "Create a console user (admin or readonly, optionally limited to one tenant).",
		Long: `Example: DIALTONE_USER_PASSWORD=… dialtonectl users add alice --role admin
The password is hashed (bcrypt) by inventory and never shown again.`,
		Flags: af.register,
		Run: func(ctx context.Context, args []string) error {
			id := strings.TrimPrefix(args[0], "users/")
			u, err := af.user(c, id)
			if err != nil {
				return err
			}
			if u.GetPassword() == "" {
				return subcmd.Usagef("give --password or DIALTONE_USER_PASSWORD")
			}
			var out *inventoryv1.User
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.CreateUser(ctx, &inventoryv1.CreateUserRequest{UserId: id, User: u})
				out = resp.GetUser()
				return err
			})
			if err != nil {
				return fmt.Errorf("add user %s: %w", id, err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "added user %s (%s)\n", lastSegment(out.GetName()), userRoleWord(out.GetRole()))
			return err
		},
	}
	list := &subcmd.Command{
		Name: "list", NArgs: 0,
		Short: "List console users.",
		Run: func(ctx context.Context, _ []string) error {
			var us []*inventoryv1.User
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				req := &inventoryv1.ListUsersRequest{PageSize: 1000}
				for {
					resp, err := cl.Inventory.ListUsers(ctx, req)
					if err != nil {
						return err
					}
					us = append(us, resp.GetUsers()...)
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
				return printJSONList(c.env.Stdout, us)
			}
			tw := table(c.env.Stdout)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tTENANT\tDISABLED")
			for _, u := range us {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", lastSegment(u.GetName()), dash(u.GetDisplayName()), userRoleWord(u.GetRole()),
					dash(lastSegment(u.GetTenant())), u.GetDisabled())
			}
			return tw.Flush()
		},
	}
	update := &subcmd.Command{
		Name: "update", Args: "ID", NArgs: 1,
		Short: "Change a user's name, role, tenant, password or disabled flag; the rest stays.",
		Flags: uf.register,
		Run: func(ctx context.Context, args []string) error {
			id := strings.TrimPrefix(args[0], "users/")
			u, err := uf.user(c, id)
			if err != nil {
				return err
			}
			var paths []string
			for _, f := range []struct{ flag, field string }{{"display-name", "display_name"}, {"role", "role"},
				{"scope-tenant", "tenant"}, {"password", "password"}, {"disabled", "disabled"}} {
				if c.set[f.flag] {
					paths = append(paths, f.field)
				}
			}
			if !c.set["password"] && u.GetPassword() != "" {
				paths = append(paths, "password") // from DIALTONE_USER_PASSWORD
			}
			if len(paths) == 0 {
				return subcmd.Usagef("nothing to change: give --display-name, --role, --scope-tenant, --password or --disabled")
			}
			var out *inventoryv1.User
			err = c.call(ctx, func(ctx context.Context, cl *Clients) error {
				resp, err := cl.Inventory.UpdateUser(ctx, &inventoryv1.UpdateUserRequest{User: u, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
				out = resp.GetUser()
				return err
			})
			if err != nil {
				return fmt.Errorf("update user %s: %w", id, err)
			}
			if c.g.Output == "json" {
				return printJSON(c.env.Stdout, out)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "updated user %s: changed %s\n", id, strings.Join(paths, ", "))
			return err
		},
	}
	del := &subcmd.Command{
		Name: "delete", Args: "ID", NArgs: 1,
		Short: "Delete a console user.",
		Run: func(ctx context.Context, args []string) error {
			id := strings.TrimPrefix(args[0], "users/")
			err := c.call(ctx, func(ctx context.Context, cl *Clients) error {
				_, err := cl.Inventory.DeleteUser(ctx, &inventoryv1.DeleteUserRequest{Name: "users/" + id})
				return err
			})
			if err != nil {
				return fmt.Errorf("delete user %s: %w", id, err)
			}
			_, err = fmt.Fprintf(c.env.Stdout, "deleted user %s\n", id)
			return err
		},
	}
	return &subcmd.Command{Name: "users", Short: "Manage web console users.", Subs: []*subcmd.Command{list, add, update, del}}
}
