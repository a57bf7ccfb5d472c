package server

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/dialtone-voip/dialtone/platform/auth"
	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// Console users. The stored value is the User message whose password field
// holds the bcrypt hash (never the password); outUser clears it.

const (
	minUserPassword = 8
	maxUserPassword = 72 // bcrypt reads at most 72 bytes; longer would be silently cut
)

// BcryptCost is the bcrypt work factor of new password hashes when
// Config.PasswordCost is 0. This package's tests lower it.
var BcryptCost = bcrypt.DefaultCost

var (
	rolesUserAuth = []auth.Role{auth.RoleAdmin, auth.RoleService}
	userUpdatable = []string{"display_name", "role", "tenant", "password", "disabled"}
)

// passwordCost is the work factor of new password hashes.
func (s *Server) passwordCost() int {
	if s.cfg.PasswordCost != 0 {
		return s.cfg.PasswordCost
	}
	return BcryptCost
}

// newDummyHash makes the hash compared against when a user does not exist,
// so an unknown name costs as much time as a wrong password.
func newDummyHash(s *Server) func() []byte {
	return sync.OnceValue(func() []byte {
		h, _ := bcrypt.GenerateFromPassword([]byte("dialtone-no-such-user"), s.passwordCost())
		return h
	})
}

func userName(id string) string { return "users/" + id }

// userID accepts "users/{id}" (and the bare id where allowFlat).
func userID(field, name string, allowFlat bool) (string, error) {
	id, ok := strings.CutPrefix(name, "users/")
	if !ok && allowFlat {
		id, ok = name, true
	}
	if !ok || !validID(id) {
		return "", invalid(field, "want users/{user}; the id is 1-63 characters of [a-z0-9-], starting with a letter")
	}
	return id, nil
}

func decodeUser(r store.Record) (*inventoryv1.User, error) {
	u := &inventoryv1.User{}
	if err := proto.Unmarshal(r.Value, u); err != nil {
		return nil, fmt.Errorf("decode user %s: %w", r.ID, err)
	}
	u.Name, u.Etag = userName(r.ID), etagOf(r.Rev)
	return u, nil
}

// outUser strips the hash.
func outUser(u *inventoryv1.User) *inventoryv1.User {
	o := proto.Clone(u).(*inventoryv1.User)
	o.HasPassword = o.GetPassword() != ""
	o.Password = ""
	return o
}

func userOp(id string, u *inventoryv1.User, expect int64) (store.Op, error) {
	v := proto.Clone(u).(*inventoryv1.User)
	v.Name, v.Etag, v.HasPassword = "", "", false
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(v)
	if err != nil {
		return store.Op{}, err
	}
	op := store.Op{Kind: store.KindUser, ID: id, Expect: expect, Value: b}
	if t := tenantID(u.GetTenant()); t != "" {
		op.Terms = []string{"t=" + t}
		op.Refs = []string{store.Ref(store.KindTenant, t)}
	}
	return op, nil
}

// checkUser validates u; a non-empty password is replaced by its hash.
func (s *Server) checkUser(c caller, u *inventoryv1.User, newPassword bool) error {
	if err := checkText("user.display_name", u.GetDisplayName(), maxDisplayName); err != nil {
		return err
	}
	switch u.GetRole() {
	case inventoryv1.UserRole_USER_ROLE_ADMIN, inventoryv1.UserRole_USER_ROLE_READONLY:
	default:
		return invalid("user.role", "want admin or readonly")
	}
	if t := u.GetTenant(); t != "" && tenantID(t) == "" {
		return invalid("user.tenant", "want tenants/{tenant}")
	}
	if c.Tenant != "" && tenantID(u.GetTenant()) != c.Tenant {
		return status.Errorf(codes.PermissionDenied, "principal %q may only manage users of tenant %q", c.Name, c.Tenant)
	}
	if !newPassword {
		return nil
	}
	pw := u.GetPassword()
	if err := checkSecret("user.password", pw); err != nil {
		return err
	}
	if len(pw) < minUserPassword || len(pw) > maxUserPassword {
		return invalid("user.password", "want %d-%d bytes", minUserPassword, maxUserPassword)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(pw), s.passwordCost())
	if err != nil {
		return status.Error(codes.Internal, "hashing the password failed")
	}
	u.Password = string(h)
	return nil
}

func (s *Server) getUser(ctx context.Context, c caller, id string) (*inventoryv1.User, int64, error) {
	r, err := s.st.Get(ctx, store.KindUser, id)
	if err != nil {
		return nil, 0, storeErr(err, fmt.Sprintf("user %q", id))
	}
	u, err := decodeUser(r)
	if err != nil {
		return nil, 0, status.Error(codes.Internal, err.Error())
	}
	if !c.seesTenant(tenantID(u.GetTenant())) {
		// Indistinguishable from a missing user.
		return nil, 0, status.Errorf(codes.NotFound, "user %q not found", id)
	}
	return u, r.Rev, nil
}

// CreateUser implements inventoryv1.InventoryServiceServer.
func (s *Server) CreateUser(ctx context.Context, req *inventoryv1.CreateUserRequest) (*inventoryv1.CreateUserResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id, err := userID("user_id", req.GetUserId(), true)
	if err != nil {
		return nil, err
	}
	u := proto.Clone(req.GetUser()).(*inventoryv1.User)
	if u == nil {
		u = &inventoryv1.User{}
	}
	if u.GetPassword() == "" {
		return nil, invalid("user.password", "required")
	}
	if err := s.checkUser(c, u, true); err != nil {
		return nil, err
	}
	now := timestamppb.New(s.now())
	u.CreateTime, u.UpdateTime = now, now
	op, err := userOp(id, u, store.ExpectAbsent)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	rev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", id))
	}
	u.Name, u.Etag = userName(id), etagOf(rev)
	s.log.Info("user created", "user", id, "role", u.GetRole().String(), "principal", c.Name)
	return &inventoryv1.CreateUserResponse{User: outUser(u)}, nil
}

// GetUser implements inventoryv1.InventoryServiceServer.
func (s *Server) GetUser(ctx context.Context, req *inventoryv1.GetUserRequest) (*inventoryv1.GetUserResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id, err := userID("name", req.GetName(), false)
	if err != nil {
		return nil, err
	}
	u, _, err := s.getUser(ctx, c, id)
	if err != nil {
		return nil, err
	}
	return &inventoryv1.GetUserResponse{User: outUser(u)}, nil
}

// ListUsers implements inventoryv1.InventoryServiceServer.
func (s *Server) ListUsers(ctx context.Context, req *inventoryv1.ListUsersRequest) (*inventoryv1.ListUsersResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	var terms []string
	if c.Tenant != "" {
		terms = []string{"t=" + c.Tenant}
	}
	users, next, err := listOut(ctx, s, store.KindUser, terms, req.GetPageSize(), req.GetPageToken(),
		func(r store.Record) (*inventoryv1.User, error) {
			u, err := decodeUser(r)
			if err != nil {
				return nil, err
			}
			return outUser(u), nil
		})
	if err != nil {
		return nil, err
	}
	return &inventoryv1.ListUsersResponse{Users: users, NextPageToken: next}, nil
}

// UpdateUser implements inventoryv1.InventoryServiceServer.
func (s *Server) UpdateUser(ctx context.Context, req *inventoryv1.UpdateUserRequest) (*inventoryv1.UpdateUserResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id, err := userID("user.name", req.GetUser().GetName(), false)
	if err != nil {
		return nil, err
	}
	var out *inventoryv1.User
	err = retry(ctx, func() error {
		u, rev, err := s.getUser(ctx, c, id)
		if err != nil {
			return err
		}
		if err := checkEtag(req.GetUser().GetEtag(), rev, "user"); err != nil {
			return err
		}
		oldHash, created := u.GetPassword(), u.GetCreateTime()
		paths, err := applyMask(u, req.GetUser(), req.GetUpdateMask(), userUpdatable)
		if err != nil {
			return err
		}
		// The password is write-only: a full update without one keeps it;
		// a mask naming it needs a new one.
		newPw := touched(paths, "password") && u.GetPassword() != ""
		if touched(paths, "password") && u.GetPassword() == "" {
			if len(req.GetUpdateMask().GetPaths()) != 0 {
				return invalid("user.password", "required when the update mask names it")
			}
			u.Password = oldHash
		}
		if !touched(paths, "password") {
			u.Password = oldHash
		}
		if err := s.checkUser(c, u, newPw); err != nil {
			return err
		}
		u.CreateTime, u.UpdateTime = created, timestamppb.New(s.now())
		op, err := userOp(id, u, rev)
		if err != nil {
			return err
		}
		nrev, err := s.st.Apply(ctx, func(int64) (store.Batch, error) { return store.Batch{Ops: []store.Op{op}}, nil })
		if err != nil {
			return err
		}
		u.Etag = etagOf(nrev)
		out = u
		return nil
	})
	if err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", id))
	}
	s.log.Info("user updated", "user", id, "principal", c.Name)
	return &inventoryv1.UpdateUserResponse{User: outUser(out)}, nil
}

// DeleteUser implements inventoryv1.InventoryServiceServer.
func (s *Server) DeleteUser(ctx context.Context, req *inventoryv1.DeleteUserRequest) (*inventoryv1.DeleteUserResponse, error) {
	c, err := authorize(ctx, rolesWrite...)
	if err != nil {
		return nil, err
	}
	id, err := userID("name", req.GetName(), false)
	if err != nil {
		return nil, err
	}
	if _, _, err := s.getUser(ctx, c, id); err != nil {
		return nil, err
	}
	if err := s.deleteRecord(ctx, store.KindUser, id, req.GetEtag()); err != nil {
		return nil, storeErr(err, fmt.Sprintf("user %q", id))
	}
	s.log.Info("user deleted", "user", id, "principal", c.Name)
	return &inventoryv1.DeleteUserResponse{}, nil
}

// errBadLogin is the one answer to an unknown user, a wrong password and a
// disabled user, so a caller learns nothing about which.
var errBadLogin = status.Error(codes.Unauthenticated, "unknown user or wrong password")

// AuthenticateUser implements inventoryv1.InventoryServiceServer.
func (s *Server) AuthenticateUser(ctx context.Context, req *inventoryv1.AuthenticateUserRequest) (*inventoryv1.AuthenticateUserResponse, error) {
	c, err := authorize(ctx, rolesUserAuth...)
	if err != nil {
		return nil, err
	}
	pw := req.GetPassword()
	if len(pw) > maxUserPassword {
		return nil, invalid("password", "longer than %d bytes", maxUserPassword)
	}
	id, err := userID("user", req.GetUser(), true)
	if err != nil {
		return nil, err
	}
	u, _, err := s.getUser(ctx, c, id)
	if status.Code(err) == codes.NotFound {
		_ = bcrypt.CompareHashAndPassword(s.dummyHash(), []byte(pw))
		s.log.Info("console login refused", "user", id, "reason", "unknown user")
		return nil, errBadLogin
	}
	if err != nil {
		return nil, err
	}
	ok := bcrypt.CompareHashAndPassword([]byte(u.GetPassword()), []byte(pw)) == nil
	if !ok || u.GetDisabled() {
		reason := "wrong password"
		if ok {
			reason = "disabled"
		}
		s.log.Info("console login refused", "user", id, "reason", reason)
		return nil, errBadLogin
	}
	return &inventoryv1.AuthenticateUserResponse{User: outUser(u)}, nil
}
