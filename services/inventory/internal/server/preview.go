package server

import (
	"context"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	inventoryv1 "github.com/dialtone-voip/dialtone/proto/gen/go/dialtone/inventory/v1"
	"github.com/dialtone-voip/dialtone/services/inventory/internal/store"
)

// masked replaces every secret in a previewed profile.
const masked = "********"

// PreviewProvisioningProfile implements inventoryv1.InventoryServiceServer:
// the profile GetProvisioningProfile would give the phone, composed by the
// same code, with the passwords and the token masked, for the console's
// template preview.
func (s *Server) PreviewProvisioningProfile(ctx context.Context, req *inventoryv1.PreviewProvisioningProfileRequest) (*inventoryv1.PreviewProvisioningProfileResponse, error) {
	c, mac, err := authorizePhone(ctx, req.GetName(), rolesWrite...)
	if err != nil {
		return nil, err
	}
	pr, err := s.visiblePhone(ctx, c, mac)
	if err != nil {
		return nil, err
	}
	op, err := pr.op(store.ExpectAny, s.now())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	refs := make(map[string]store.Record, len(op.Refs))
	for _, ref := range op.Refs {
		k, id, _ := store.ParseRef(ref)
		r, err := s.st.Get(ctx, k, id)
		if err != nil {
			return nil, storeErr(err, k.String()+" "+id)
		}
		refs[ref] = r
	}
	prof, _, err := s.profile(ctx, pr, refs)
	if err != nil {
		return nil, err
	}
	if prof.GetWebPassword() != "" {
		prof.WebPassword = masked
	}
	for _, l := range prof.GetLines() {
		if l.GetPassword() != "" {
			l.Password = masked
		}
	}
	for _, tok := range []string{pr.token, pr.prevToken} {
		if tok != "" {
			prof.ProvisioningUrl = strings.ReplaceAll(prof.GetProvisioningUrl(), tok, masked)
		}
	}
	return &inventoryv1.PreviewProvisioningProfileResponse{Profile: prof}, nil
}
